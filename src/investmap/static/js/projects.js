/* The project library's pages (templates/projects/): the stage-move form, the map of
 * a project's site, the overview charts.
 *
 * The pages work without this script (plain forms, server-rendered tables); it adds
 * the charts, hides the milestone inputs a chosen move does not need and draws
 * the site. The figures of the charts are the ones the server rendered into the
 * page config (stats.stats / funnel, the functions /api/v1/projects/stats calls).
 *
 * Test hook: window.investmapProjects (charts, map, idle()).
 */
(function () {
  "use strict";

  const IM = window.IM;
  const cfg = IM.cfg;
  const t = IM.t;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const hook = (window.investmapProjects = { charts: {}, map: null, pending: 0, idle: () => hook.pending === 0 });
  const FONT = '-apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif';

  /* ---- list: the "new project" button opens its form ----------------------- */

  const newOpen = $("#pj-new-open");
  if (newOpen) {
    newOpen.addEventListener("click", (e) => {
      const box = document.getElementById(newOpen.dataset.open);
      if (!box) return;
      e.preventDefault();
      box.open = true;
      box.scrollIntoView({ behavior: "smooth", block: "start" });
      const first = $("input[name=name]", box);
      if (first) first.focus({ preventScroll: true });
    });
  }

  /* ---- project file: the move form shows the dates the target needs -------- */

  const moveForm = $("#pj-move-form");
  if (moveForm) {
    const select = $("select[name=to]", moveForm);
    const dates = $$(".pj-date", moveForm);
    const fieldset = $(".pj-dates", moveForm);
    const sync = () => {
      const opt = select.selectedOptions[0];
      const needs = new Set(((opt && opt.dataset.needs) || "").split(" ").filter(Boolean));
      dates.forEach((el) => {
        const needed = needs.has(el.dataset.stage);
        el.hidden = !needed;
        $("input", el).disabled = !needed;
      });
      if (fieldset) fieldset.hidden = needs.size === 0;
      const reason = $("#m-reason", moveForm);
      if (reason) reason.required = !!opt && opt.dataset.kind === "drop";
    };
    select.addEventListener("change", sync);
    sync();
  }

  /* ---- project file: the chosen site on a small map ------------------------ */

  const siteEl = $("#pj-site-map");
  if (siteEl && typeof L !== "undefined") {
    try {
      const data = JSON.parse(document.getElementById(siteEl.dataset.src).textContent);
      const map = IM.createMap(siteEl, { scrollWheelZoom: false });
      const layer = L.geoJSON(data, {
        style: (f) => ({
          color: f.properties.kind === "building" ? "#00897b" : "#0d47a1",
          weight: 2.5,
          fillColor: f.properties.kind === "building" ? "#4db6ac" : "#ffeb3b",
          fillOpacity: 0.4,
        }),
        onEachFeature: (f, l) =>
          l.bindTooltip(`${IM.esc(t(f.properties.kind === "building" ? "Building" : "Parcel"))} ${IM.esc(f.properties.code)}`),
      }).addTo(map);
      const bounds = layer.getBounds();
      map.imRefit = () => bounds.isValid() && map.fitBounds(bounds, { maxZoom: 17, padding: [20, 20] });
      map.imRefit();
      siteEl.dataset.features = String(data.features.length);
      hook.map = map;
    } catch (err) {
      siteEl.textContent = t("Could not load the map data.");
      throw err;
    }
  }

  /* ---- overview charts ------------------------------------------------------ */

  if (cfg.page !== "overview" || typeof echarts === "undefined") return;

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
  function empty(el, text) {
    const old = echarts.getInstanceByDom(el);
    if (old) old.dispose();
    el.innerHTML = `<div class="empty">${IM.esc(text)}</div>`;
    el.dataset.rendered = "0";
  }

  /** Total and signed investment per group (bars); the number of projects in each label. */
  function groupChart(el, rows, by) {
    if (!rows.length) return empty(el, t("No data to chart."));
    el.style.height = `${Math.max(240, rows.length * 44 + 70)}px`;
    const chart = chartOn(el);
    const unit = t("10k yuan");
    const labelOf = (r) => `${r.label}  ${IM.num(r.projects)}`;
    chart.setOption({
      textStyle: { fontFamily: FONT },
      legend: { top: 0, left: 0, itemWidth: 12, itemHeight: 10, textStyle: { fontSize: 12 } },
      grid: { left: 8, right: 56, top: 34, bottom: 4, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (items) => {
          const r = rows[items[0].dataIndex];
          const lines = items.map(
            (i) => `${i.marker}${IM.esc(i.seriesName)} <b style="float:right;margin-left:14px">${i.value == null ? "—" : IM.num(i.value, 2)}</b>`
          );
          return `<b>${IM.esc(r.label)}</b><br>${IM.esc(t("Projects"))}: <b>${IM.num(r.projects)}</b><br>${lines.join("<br>")}`;
        },
      },
      xAxis: {
        type: "value",
        name: unit,
        nameGap: 6,
        axisLabel: { fontSize: 11, formatter: (v) => IM.compact(v) },
        splitLine: { lineStyle: { color: "#eef0f3" } },
      },
      yAxis: {
        type: "category",
        inverse: true,
        data: rows.map(labelOf),
        axisTick: { show: false },
        axisLabel: {
          fontSize: 12,
          width: 170,
          overflow: "truncate",
        },
      },
      series: [
        {
          name: t("Total investment"),
          type: "bar",
          barMaxWidth: 14,
          barGap: "20%",
          itemStyle: { color: "#546e7a" },
          data: rows.map((r) => ({ value: r.investment, itemStyle: { color: r.color, borderRadius: [0, 3, 3, 0] } })),
          label: { show: true, position: "right", fontSize: 11, formatter: (p) => (p.value == null ? "" : IM.compact(p.value)) },
        },
        {
          name: t("Signed investment"),
          type: "bar",
          barMaxWidth: 14,
          itemStyle: { color: "#1e88e5", opacity: 0.55, borderRadius: [0, 3, 3, 0] },
          data: rows.map((r) => r.signed),
        },
      ],
      animation: false,
    });
    el.dataset.rendered = String(rows.length);
    el.dataset.by = by;
    return chart;
  }

  /** Projects that reached each stage, with the conversion to the next and median days. */
  function funnelChart(el, stages) {
    if (!stages.some((s) => s.reached > 0)) return empty(el, t("No data to chart."));
    const chart = chartOn(el);
    chart.setOption({
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 16, top: 16, bottom: 4, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (items) => {
          const s = stages[items[0].dataIndex];
          const conv = s.conversion == null ? "—" : `${IM.num(100 * s.conversion, 1)}%`;
          const days = s.median == null ? "—" : `${IM.num(s.median, 1)} ${t("days")}`;
          return `<b>${IM.esc(s.label)}</b><br>${IM.esc(t("Reached"))}: <b>${IM.num(s.reached)}</b><br>${IM.esc(t("Conversion"))}: <b>${conv}</b><br>${IM.esc(t("Median days"))}: <b>${days}</b>`;
        },
      },
      xAxis: { type: "category", data: stages.map((s) => s.label), axisTick: { show: false }, axisLabel: { fontSize: 11, interval: 0, width: 64, overflow: "break" } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: 11 }, splitLine: { lineStyle: { color: "#eef0f3" } } },
      series: [
        {
          type: "bar",
          barMaxWidth: 40,
          data: stages.map((s) => ({ value: s.reached, itemStyle: { color: s.color, borderRadius: [3, 3, 0, 0] } })),
          label: {
            show: true,
            position: "top",
            fontSize: 11,
            formatter: (p) => {
              const s = stages[p.dataIndex];
              return s.conversion == null ? `${p.value}` : `${p.value}  → ${IM.num(100 * s.conversion, 0)}%`;
            },
          },
        },
      ],
      animation: false,
    });
    el.dataset.rendered = String(stages.length);
    return chart;
  }

  const groupsEl = $("#chart-groups");
  const funnelEl = $("#chart-funnel");
  const data = cfg.charts || {};
  function showGroup(by) {
    $$(".pj-switch button[data-by]").forEach((b) => {
      b.classList.toggle("on", b.dataset.by === by);
      b.setAttribute("aria-pressed", String(b.dataset.by === by));
    });
    $$(".pj-group-table").forEach((el) => (el.hidden = el.dataset.by !== by));
    if (groupsEl) hook.charts.groups = groupChart(groupsEl, data[by] || [], by);
  }
  $$(".pj-switch button[data-by]").forEach((b) => b.addEventListener("click", () => showGroup(b.dataset.by)));
  $$(".pj-switch button[data-rank]").forEach((b) =>
    b.addEventListener("click", () => {
      $$(".pj-switch button[data-rank]").forEach((o) => {
        o.classList.toggle("on", o === b);
        o.setAttribute("aria-pressed", String(o === b));
      });
      $$(".pj-rank-table").forEach((el) => (el.hidden = el.dataset.rank !== b.dataset.rank));
    })
  );
  showGroup("stage");
  if (funnelEl) hook.charts.funnel = funnelChart(funnelEl, data.funnel || []);
})();
