/* The land-use efficiency pages (templates/efficiency/): charts, the efficiency map,
 * running an evaluation and feeding the land findings into parcel status.
 *
 * Everything is read from and sent to the REST API the other systems use
 * (/api/v1/efficiency/…): summary and trend for the charts, POST evaluations,
 * the map layer, POST land-status (a dry run first, applied only on confirmation).
 * The page is named by the config's `page` (overview, enterprise, map, land).
 *
 * Test hook: window.investmapEfficiency (charts, map, idle(), lastRun, lastPreview).
 */
(function () {
  "use strict";

  const IM = window.IM;
  const cfg = IM.cfg;
  const t = IM.t;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const hook = (window.investmapEfficiency = {
    charts: {},
    pending: 0,
    idle: () => hook.pending === 0,
  });

  const FONT = '-apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif';
  const GRADES = (cfg.legend && cfg.legend.grade) || [];
  const gradeBy = Object.fromEntries(GRADES.map((g) => [g.value, g]));
  const NO_DATA_COLOR = "#cfd4dc";

  function track(promise) {
    hook.pending++;
    return promise.finally(() => hook.pending--);
  }

  function csrf() {
    const input = $("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  /** POST a JSON body; {ok, status, body} whatever the answer. */
  async function postJSON(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrf(),
        "X-Requested-With": "XMLHttpRequest",
      },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await r.json();
    } catch (_e) {
      data = { code: "error", message: `HTTP ${r.status}` };
    }
    return { ok: r.ok, status: r.status, body: data };
  }

  /** The message of an API error body, with its per-field errors. */
  function errorText(body, fallback) {
    if (!body) return fallback;
    const parts = [body.message || fallback];
    if (body.errors && typeof body.errors === "object") {
      for (const [field, msgs] of Object.entries(body.errors)) {
        const list = Array.isArray(msgs) ? msgs : [msgs];
        parts.push(`${field}: ${list.join("; ")}`);
      }
    }
    return parts.filter(Boolean).join(" — ");
  }

  const query = (params) =>
    Object.entries(params)
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join("&");

  /* ---- charts -------------------------------------------------------------- */

  const charts = new Set();
  window.addEventListener(
    "resize",
    IM.debounce(() => charts.forEach((c) => (c.isDisposed() ? charts.delete(c) : c.resize())), 150)
  );

  function chartOn(el) {
    const old = echarts.getInstanceByDom(el);
    if (old) old.dispose();
    const chart = echarts.init(el, null, { renderer: "canvas" });
    charts.add(chart);
    return chart;
  }

  function showChartMessage(el, text) {
    const old = echarts.getInstanceByDom(el);
    if (old) old.dispose();
    el.innerHTML = `<div class="empty">${IM.esc(text)}</div>`;
    el.dataset.rendered = "0";
  }

  /** Stacked bars of grade counts (and the ungraded) per town, park, industry or population. */
  function distributionChart(el, answer, by) {
    const groups = answer.groups || [];
    if (!groups.length) return showChartMessage(el, t("No results to chart."));
    const labelOf = (g) => {
      if (by === "industry") {
        const name = cfg.industryNames && cfg.industryNames[g.key];
        return g.key ? `${g.key} ${name || ""}`.trim() : "—";
      }
      if (by === "population") return (cfg.populationLabels && cfg.populationLabels[g.key]) || g.label;
      return g.label;
    };
    el.style.height = `${Math.max(240, groups.length * 30 + 80)}px`;
    const chart = chartOn(el);
    const series = GRADES.map((g) => ({
      name: g.label,
      type: "bar",
      stack: "n",
      barMaxWidth: 20,
      emphasis: { focus: "series" },
      itemStyle: { color: g.color },
      data: groups.map((x) => (x.grades && x.grades[g.value]) || 0),
    }));
    series.push({
      name: t("Insufficient data"),
      type: "bar",
      stack: "n",
      barMaxWidth: 20,
      emphasis: { focus: "series" },
      itemStyle: { color: NO_DATA_COLOR, borderRadius: [0, 3, 3, 0] },
      data: groups.map((x) => x.insufficient_data || 0),
    });
    chart.setOption({
      textStyle: { fontFamily: FONT },
      legend: { top: 0, left: 0, itemWidth: 12, itemHeight: 10, textStyle: { fontSize: 12 } },
      grid: { left: 8, right: 24, top: 52, bottom: 4, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (items) => {
          const g = groups[items[0].dataIndex];
          const rows = items
            .filter((i) => i.value > 0)
            .map((i) => `${i.marker}${IM.esc(i.seriesName)} <b style="float:right;margin-left:14px">${IM.num(i.value)}</b>`)
            .join("<br>");
          const mean = g.mean_score == null ? "—" : IM.num(g.mean_score, 1);
          return `<b>${IM.esc(labelOf(g))}</b><br>${rows}<br>${IM.esc(t("Mean score"))}: <b>${mean}</b>`;
        },
      },
      xAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: 11 }, splitLine: { lineStyle: { color: "#eef0f3" } } },
      yAxis: {
        type: "category",
        inverse: true,
        data: groups.map(labelOf),
        axisTick: { show: false },
        axisLabel: { fontSize: 12, width: 170, overflow: "truncate" },
      },
      series,
      animation: false,
    });
    el.dataset.rendered = String(groups.length);
    el.dataset.by = by;
    return chart;
  }

  function gradePie(el, grades) {
    const data = GRADES.map((g) => ({ name: g.label, value: grades[g.value] || 0, color: g.color }));
    if (!data.some((d) => d.value > 0)) return showChartMessage(el, t("No results to chart."));
    return IM.pieChart(el, { data, unit: t("Enterprises") });
  }

  /** Grade counts per evaluated year (stacked) and the mean score (line, right axis). */
  function trendChart(el, answer) {
    const years = answer.years || [];
    if (!years.length) return showChartMessage(el, t("No results to chart."));
    const chart = chartOn(el);
    const series = GRADES.map((g) => ({
      name: g.label,
      type: "bar",
      stack: "g",
      barMaxWidth: 46,
      itemStyle: { color: g.color },
      data: years.map((y) => y.grades[g.value] || 0),
    }));
    series.push({
      name: t("Mean score"),
      type: "line",
      yAxisIndex: 1,
      symbolSize: 8,
      lineStyle: { width: 2.5, color: "#15325c" },
      itemStyle: { color: "#15325c" },
      label: { show: true, position: "top", fontSize: 11, formatter: (p) => IM.num(p.value, 1) },
      data: years.map((y) => y.mean_score),
    });
    chart.setOption({
      textStyle: { fontFamily: FONT },
      legend: { top: 0, itemWidth: 12, itemHeight: 10, textStyle: { fontSize: 12 } },
      grid: { left: 8, right: 8, top: 56, bottom: 4, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => (v == null ? "—" : IM.num(v, 1)) },
      xAxis: {
        type: "category",
        data: years.map((y) => String(y.year)),
        axisTick: { alignWithLabel: true },
        axisLabel: {
          fontWeight: "normal",
          formatter: (v) => (String(cfg.year) === v ? `{cur|${v}}` : v),
          rich: { cur: { fontWeight: 700, color: "#1d5fb4" } },
        },
      },
      yAxis: [
        { type: "value", name: t("Enterprises"), minInterval: 1, splitLine: { lineStyle: { color: "#eef0f3" } } },
        { type: "value", name: t("Mean score"), splitLine: { show: false } },
      ],
      series,
      animation: false,
    });
    el.dataset.rendered = String(years.length);
    return chart;
  }

  /* ---- overview page --------------------------------------------------------- */

  function initPicker() {
    const picker = $("#eff-picker");
    if (!picker) return;
    const year = $("#eff-year", picker);
    const ruleset = $("#eff-ruleset", picker);
    if (year) year.addEventListener("change", () => picker.submit());
    if (ruleset)
      ruleset.addEventListener("change", () => {
        // Another ruleset has other years: let the page pick its latest.
        if (year) year.disabled = true;
        picker.submit();
      });
  }

  function initOverview() {
    const dist = $("#chart-dist");
    const note = $("#chart-dist-note");
    const pie = $("#chart-grades");
    const trend = $("#chart-trend");
    let pieDrawn = false;

    function loadDistribution(by) {
      $$(".eff-switch button").forEach((b) => {
        const on = b.dataset.by === by;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
      if (note) note.textContent = t("Loading…");
      const url = `${cfg.api}efficiency/summary?${query({ year: cfg.year, ruleset: cfg.ruleset, by })}`;
      return track(
        IM.getJSON(url)
          .then((answer) => {
            hook.charts.dist = distributionChart(dist, answer, by);
            if (note) note.textContent = "";
            if (!pieDrawn && pie) {
              hook.charts.grades = gradePie(pie, answer.grades || {});
              pieDrawn = true;
            }
          })
          .catch(() => {
            if (note) note.textContent = t("Could not load the chart data.");
          })
      );
    }

    if (dist && cfg.year) {
      $$(".eff-switch button").forEach((b) => b.addEventListener("click", () => loadDistribution(b.dataset.by)));
      loadDistribution("town");
      hook.showBy = loadDistribution;
    }
    if (trend && cfg.year) {
      track(
        IM.getJSON(`${cfg.api}efficiency/trend?${query({ ruleset: cfg.ruleset })}`)
          .then((answer) => (hook.charts.trend = trendChart(trend, answer)))
          .catch(() => showChartMessage(trend, t("Could not load the chart data.")))
      );
    }
    initRunForm();
  }

  function initRunForm() {
    const form = $("#eff-run-form");
    if (!form) return;
    const submit = $("#eff-run-submit", form);
    const progress = $("#eff-run-progress", form);
    const result = $("#eff-run-result", form);
    const error = $("#eff-run-error", form);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (submit.disabled) return;
      const year = Number(form.elements.namedItem("year").value);
      const ruleset = form.elements.namedItem("ruleset").value;
      submit.disabled = true;
      progress.hidden = false;
      result.hidden = true;
      error.hidden = true;
      track(
        postJSON(`${cfg.api}efficiency/evaluations`, { year: Number.isFinite(year) && year ? year : null, ruleset })
          .then(({ ok, body }) => {
            hook.lastRun = body;
            if (!ok) {
              error.textContent = errorText(body, t("Could not run the evaluation."));
              error.hidden = false;
              return;
            }
            const ev = body.evaluation || {};
            const head = body.created
              ? t("Stored a new evaluation of %(year)s: %(n)s enterprises in %(ms)s ms.", { year: ev.year, n: IM.num(body.count), ms: IM.num(ev.took_ms) })
              : t("These inputs were already evaluated with this ruleset version; the stored results are shown.");
            const counts = {};
            for (const pop of Object.values((ev.summary && ev.summary.populations) || {})) {
              for (const g of GRADES) counts[g.value] = (counts[g.value] || 0) + (pop[`grade_${g.value}`] || 0);
            }
            const chips = GRADES.map(
              (g) => `<span class="chip" style="--chip:${IM.esc(g.color)}"><span class="dot"></span>${IM.esc(g.value)} ${IM.num(counts[g.value] || 0)}</span>`
            ).join(" ");
            const href = `${cfg.overviewUrl}?${query({ year: ev.year, ruleset: ev.ruleset })}`;
            result.innerHTML = `<div data-run-created="${body.created ? "1" : "0"}">${IM.esc(head)}</div><div class="checks" style="margin:6px 0">${chips}</div><a class="btn btn-sm btn-primary" id="eff-run-show" href="${IM.esc(href)}">${IM.esc(t("Show the results"))} ›</a>`;
            result.hidden = false;
          })
          .catch(() => {
            error.textContent = t("Could not run the evaluation.");
            error.hidden = false;
          })
          .finally(() => {
            submit.disabled = false;
            progress.hidden = true;
          })
      );
    });
  }

  // htmx: drop empty parameters, so the address (and the export link) stays readable.
  document.body.addEventListener("htmx:configRequest", (e) => {
    const fd = e.detail.formData;
    const params = e.detail.parameters;
    if (fd && typeof fd.entries === "function") {
      const empty = [];
      for (const [k, v] of fd.entries()) if (v === "") empty.push(k);
      empty.forEach((k) => fd.delete(k));
    } else if (params) {
      for (const k of Object.keys(params)) if (params[k] === "") delete params[k];
    }
  });

  /* ---- enterprise page --------------------------------------------------------- */

  function jsonData(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function indicatorChart(el, spec) {
    const inds = spec.indicators || [];
    if (!inds.length) return showChartMessage(el, t("No results to chart."));
    el.style.height = `${Math.max(220, inds.length * 46 + 70)}px`;
    const chart = chartOn(el);
    chart.setOption({
      textStyle: { fontFamily: FONT },
      legend: { top: 0, itemWidth: 12, itemHeight: 10, textStyle: { fontSize: 12 } },
      grid: { left: 8, right: 40, top: 32, bottom: 4, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (items) => {
          const i = inds[items[0].dataIndex];
          const unit = i.unit ? ` ${IM.esc(i.unit)}` : "";
          const lines = [
            `<b>${IM.esc(i.label)}</b>`,
            `${IM.esc(t("Value"))}: <b>${IM.num(i.value, 4)}</b>${unit}`,
            `${IM.esc(t("Benchmark"))}: ${i.benchmark == null ? "—" : IM.num(i.benchmark, 4) + unit}`,
            `${IM.esc(t("Share of the benchmark"))}: ${i.ratio == null ? "—" : IM.num(100 * i.ratio, 1) + "%"}`,
            `${IM.esc(t("Score"))}: <b>${IM.num(i.score, 2)}</b> / ${IM.num(i.weight, 2)}`,
          ];
          return lines.join("<br>");
        },
      },
      xAxis: { type: "value", splitLine: { lineStyle: { color: "#eef0f3" } } },
      yAxis: { type: "category", inverse: true, data: inds.map((i) => i.label), axisTick: { show: false }, axisLabel: { fontSize: 12, width: 150, overflow: "truncate" } },
      series: [
        { name: t("Weight"), type: "bar", barGap: "-100%", barMaxWidth: 22, itemStyle: { color: "#e3e8ef", borderRadius: [0, 3, 3, 0] }, data: inds.map((i) => i.weight), z: 1 },
        {
          name: t("Score"),
          type: "bar",
          barMaxWidth: 12,
          z: 2,
          itemStyle: { borderRadius: [0, 3, 3, 0] },
          label: { show: true, position: "right", fontSize: 11, formatter: (p) => (p.value == null ? "—" : IM.num(p.value, 1)) },
          data: inds.map((i) => ({ value: i.score, itemStyle: { color: i.score != null && i.score >= i.weight ? "#2e7d32" : "#1d5fb4" } })),
        },
      ],
      animation: false,
    });
    el.dataset.rendered = String(inds.length);
    return chart;
  }

  function historyChart(el, spec) {
    const years = spec.years || [];
    if (!years.length) return showChartMessage(el, t("No results to chart."));
    const chart = chartOn(el);
    chart.setOption({
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 16, top: 30, bottom: 4, containLabel: true },
      tooltip: {
        trigger: "axis",
        formatter: (items) => {
          const i = items[0].dataIndex;
          const g = gradeBy[spec.grades[i]];
          const rank = spec.ranks[i] ? `${spec.ranks[i][0]} / ${spec.ranks[i][1]}` : "—";
          return `<b>${years[i]}</b><br>${IM.esc(t("Score"))}: <b>${IM.num(spec.scores[i], 2)}</b><br>${IM.esc(t("Grade"))}: ${g ? IM.esc(g.label) : "—"}<br>${IM.esc(t("Rank"))}: ${rank}`;
        },
      },
      xAxis: { type: "category", data: years.map(String), boundaryGap: true, axisTick: { alignWithLabel: true } },
      yAxis: { type: "value", name: t("Score"), splitLine: { lineStyle: { color: "#eef0f3" } } },
      series: [
        {
          name: t("Score"),
          type: "line",
          connectNulls: false,
          symbol: "circle",
          symbolSize: 24,
          lineStyle: { width: 2.5, color: "#8aa4c8" },
          label: { show: true, position: "inside", color: "#fff", fontWeight: 700, fontSize: 12, formatter: (p) => spec.grades[p.dataIndex] || "" },
          data: spec.scores.map((v, i) => ({ value: v, itemStyle: { color: (gradeBy[spec.grades[i]] || {}).color || "#9e9e9e" } })),
        },
      ],
      animation: false,
    });
    el.dataset.rendered = String(years.length);
    return chart;
  }

  function initEnterprise() {
    const ind = $("#chart-indicators");
    const spec = jsonData("eff-indicator-data");
    if (ind && spec) hook.charts.indicators = indicatorChart(ind, spec);
    const hist = $("#chart-history");
    const hspec = jsonData("eff-history-data");
    if (hist && hspec) hook.charts.history = historyChart(hist, hspec);
  }

  /* ---- map page ---------------------------------------------------------------- */

  function popupHtml(p) {
    const g = gradeBy[p.grade];
    const status = cfg.statuses && cfg.statuses[p.status];
    const rows = [
      [t("Name"), IM.esc(p.name || "—")],
      [t("Area"), `${IM.num(p.area_mu, 2)} ${IM.esc(t("mu"))}`],
      [t("Grade"), g ? `<span class="eff-grade sm" style="--grade:${IM.esc(g.color)}">${IM.esc(g.value)}</span> ${IM.esc(g.label)}` : IM.esc(t("not graded"))],
    ];
    if (status) rows.push([t("Parcel status"), `<span class="chip" style="--chip:${IM.esc(status.color)}"><span class="dot"></span>${IM.esc(status.label)}</span>`]);
    if (p.idle) {
      rows.push([t("Idle"), IM.esc(p.idle_label || p.idle)]);
      rows.push([t("Idle since"), IM.esc(p.idle_since || "—")]);
    }
    const url = IM.detailUrl("parcels", p.code);
    return `<div class="eff-popup" data-code="${IM.esc(p.code)}"><h4><span class="mono">${IM.esc(p.code)}</span>${g ? ` <span class="eff-grade sm" style="--grade:${IM.esc(g.color)}">${IM.esc(g.value)}</span>` : ""}</h4><dl>${rows
      .map(([k, v]) => `<dt>${IM.esc(k)}</dt><dd>${v}</dd>`)
      .join("")}</dl>${url ? `<div class="popup-actions"><a href="${IM.esc(url)}">${IM.esc(t("Open the record"))} ›</a></div>` : ""}</div>`;
  }

  function renderLegend(el, legend) {
    if (!el) return;
    const grades = legend.filter((i) => gradeBy[i.value]);
    const idle = legend.filter((i) => !gradeBy[i.value]);
    const item = (i) => `<span class="item" data-legend="${IM.esc(i.value)}"><span class="swatch" style="background:${IM.esc(i.color)}"></span>${IM.esc(i.label)}</span>`;
    el.innerHTML =
      `<div class="eff-legend-title">${IM.esc(t("Grade"))}</div>${grades.map(item).join("")}` +
      (idle.length ? `<div class="eff-legend-title">${IM.esc(t("Idle"))}</div>${idle.map(item).join("")}` : "");
  }

  function initMap() {
    const el = $("#eff-map");
    if (!el) return;
    const note = $("#eff-map-note");
    const map = IM.createMap(el, { zoomControl: true });
    const units = new IM.UnitsLayer(map, { labels: true, parkLabelsFromZoom: 13 });
    const renderer = L.svg({ pane: "data", padding: 0.3 });
    const state = { loading: false, drawn: 0, total: 0, truncated: false, error: null, loads: 0 };
    const layer = L.geoJSON(null, {
      renderer,
      style: (f) => ({ renderer, color: "#ffffff", weight: 1, opacity: 0.95, fillColor: f.properties.color || "#9e9e9e", fillOpacity: 0.82 }),
      onEachFeature: (f, l) => {
        l.bindPopup(() => popupHtml(f.properties), { maxWidth: 320 });
        l.bindTooltip(IM.esc(f.properties.name || f.properties.code), { sticky: true, direction: "top", opacity: 0.95 });
      },
    }).addTo(map);
    layer.on("popupopen", (e) => (state.openCode = e.layer.feature.properties.code));
    layer.on("popupclose", (e) => {
      if (state.openCode === e.layer.feature.properties.code) state.openCode = null;
    });
    hook.map = { map, layer, state };
    let ctrl = null;

    function load() {
      if (ctrl) ctrl.abort();
      const c = (ctrl = new AbortController());
      state.loading = true;
      if (note) note.textContent = t("Loading…");
      const url = `${cfg.api}efficiency/map?${query({ year: cfg.year, ruleset: cfg.ruleset, as_of: cfg.asOf, bbox: IM.bboxParam(map) })}`;
      return track(
        IM.getJSON(url, { signal: c.signal })
          .then((fc) => {
            if (c !== ctrl) return;
            // Keep an open popup across the reload (opening one may pan the map).
            const open = state.openCode;
            layer.clearLayers();
            layer.addData(fc);
            if (open) {
              const again = layer.getLayers().find((l) => l.feature.properties.code === open);
              if (again) again.openPopup();
            }
            Object.assign(state, { drawn: fc.features.length, total: fc.total, truncated: !!fc.truncated, error: null, loads: state.loads + 1 });
            renderLegend($("#eff-map-legend"), fc.legend || []);
            const ev = fc.evaluation;
            const evEl = $("#eff-map-eval");
            if (evEl) evEl.textContent = ev ? `${ev.year} · ${ev.ruleset} v${ev.version}` : "—";
            const asof = $("#eff-map-asof");
            if (asof) asof.textContent = fc.as_of || "—";
            const count = $("#eff-map-count");
            if (count) count.textContent = IM.num(fc.total);
            if (note) {
              if (!fc.total) note.textContent = t("No graded or idle parcels in this view.");
              else if (fc.truncated) note.textContent = t("Showing the first %(n)s of %(total)s parcels; zoom in to see all.", { n: IM.num(fc.features.length), total: IM.num(fc.total) });
              else note.textContent = t("Parcels on the map: %(n)s", { n: IM.num(fc.total) });
            }
          })
          .catch((err) => {
            if (err.name === "AbortError") return;
            state.error = String(err.message || err);
            if (note) note.textContent = t("Could not load the map data.");
          })
          .finally(() => {
            if (c === ctrl) {
              state.loading = false;
              ctrl = null;
            }
          })
      );
    }
    hook.map.load = load;

    map.imRefit = () => {
      const b = units.bounds();
      if (b) map.fitBounds(b, { animate: false, padding: [12, 12] });
      else map.setView([31.2, 121.4], 11, { animate: false });
    };
    map.on("moveend", IM.debounce(load, 250));
    track(
      units
        .load()
        .catch(() => null)
        .then(() => {
          map.imRefit();
          return load();
        })
    );
  }

  /* ---- land page ----------------------------------------------------------------- */

  function initLand() {
    const box = $("#eff-apply");
    if (!box) return;
    const previewBtn = $("#eff-preview", box);
    const confirmBtn = $("#eff-apply-confirm", box);
    const cancelBtn = $("#eff-apply-cancel", box);
    const preview = $("#eff-apply-preview", box);
    const summary = $("#eff-apply-summary", box);
    const tbody = $("#eff-apply-table tbody", box);
    const progress = $("#eff-apply-progress", box);
    const progressText = $("#eff-apply-progress-text", box);
    const done = $("#eff-apply-done", box);
    const error = $("#eff-apply-error", box);

    const statusChip = (v) => {
      const s = cfg.statuses && cfg.statuses[v];
      return s ? `<span class="chip" style="--chip:${IM.esc(s.color)}"><span class="dot"></span>${IM.esc(s.label)}</span>` : IM.esc(v);
    };
    const reasonText = (codes) =>
      codes && codes.length
        ? codes.map((c) => IM.esc((cfg.reasons && cfg.reasons[c] && cfg.reasons[c].label) || c)).join("<br>")
        : `<span class="muted">${IM.esc(t("finding ended"))}</span>`;

    function busy(text) {
      progressText.textContent = text;
      progress.hidden = !text;
      previewBtn.disabled = !!text;
      confirmBtn.disabled = !!text;
    }

    previewBtn.addEventListener("click", () => {
      done.hidden = true;
      error.hidden = true;
      busy(t("Checking the parcels…"));
      track(
        postJSON(`${cfg.api}efficiency/land-status`, { as_of: cfg.asOf, dry_run: true })
          .then(({ ok, body }) => {
            hook.lastPreview = body;
            if (!ok) {
              error.textContent = errorText(body, t("Could not compute the changes."));
              error.hidden = false;
              return;
            }
            const rows = [...body.changed.map((c) => ({ ...c, kind: "change" })), ...body.reverted.map((c) => ({ ...c, kind: "revert" }))];
            tbody.innerHTML = rows
              .map(
                (c) =>
                  `<tr data-parcel="${IM.esc(c.parcel)}" data-kind="${c.kind}"><td class="code">${IM.esc(c.parcel)}</td><td>${statusChip(c.from)}</td><td>${statusChip(c.to)}</td><td class="text">${reasonText(c.reasons)}</td></tr>`
              )
              .join("");
            const parts = [];
            if (!rows.length) parts.push(t("No parcel status would change."));
            if (body.changed.length) parts.push(t("%(n)s parcels would change status. Nothing has been saved yet.", { n: IM.num(body.changed.length) }));
            if (body.reverted.length) parts.push(t("%(n)s parcels would go back to their earlier status.", { n: IM.num(body.reverted.length) }));
            summary.textContent = parts.join(" ");
            confirmBtn.hidden = !rows.length;
            $("#eff-apply-table", box).hidden = !rows.length;
            preview.hidden = false;
          })
          .catch(() => {
            error.textContent = t("Could not compute the changes.");
            error.hidden = false;
          })
          .finally(() => busy(""))
      );
    });

    cancelBtn.addEventListener("click", () => {
      preview.hidden = true;
      tbody.innerHTML = "";
    });

    confirmBtn.addEventListener("click", () => {
      error.hidden = true;
      busy(t("Applying…"));
      track(
        postJSON(`${cfg.api}efficiency/land-status`, { as_of: cfg.asOf, dry_run: false })
          .then(({ ok, body }) => {
            hook.lastApply = body;
            if (!ok) {
              error.textContent = errorText(body, t("Could not apply the changes."));
              error.hidden = false;
              return;
            }
            preview.hidden = true;
            done.textContent = t("Applied: %(changed)s parcels changed, %(reverted)s went back.", {
              changed: IM.num(body.changed.length),
              reverted: IM.num(body.reverted.length),
            });
            done.hidden = false;
          })
          .catch(() => {
            error.textContent = t("Could not apply the changes.");
            error.hidden = false;
          })
          .finally(() => busy(""))
      );
    });
  }

  /* ---- start ------------------------------------------------------------------------ */

  initPicker();
  if (cfg.page === "overview") initOverview();
  else if (cfg.page === "enterprise") initEnterprise();
  else if (cfg.page === "map") initMap();
  else if (cfg.page === "land") initLand();
})();
