/* The site-matching page: demand form → /api/v1/match/sites → ranked list and map.
 *
 * The form is turned into the JSON demand document (docs/matching.md) and sent to
 * the same endpoints other systems use; a 422 answer's `errors` ({field: [messages]},
 * "near[i]" for a proximity row, "__all__" for the whole) are shown next to the
 * fields. Clicking a result shows why it qualified, highlights it on the map and
 * loads the POIs around it (/api/v1/{parcels|buildings}/{code}/surroundings).
 *
 * Test hook: window.investmapMatch (state, map, run(), select(rank), setDemand(),
 * readDemand(), idle()).
 */
(function () {
  "use strict";

  const IM = window.IM;
  const cfg = IM.cfg;
  const t = IM.t;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const form = $("#demand-form");
  const nearRows = $("#near-rows");
  const nearTemplate = $("#near-row-template");
  const resultsEl = $("#match-results");
  const summaryText = $("#summary-text");
  const kindCounts = $("#kind-counts");
  const progress = $("#match-progress");
  const formSpinner = $("#form-spinner");
  const submitBtn = $("#match-submit");
  const actionError = $("#action-error");
  const saveConfirm = $("#save-confirm");
  const surroundLegend = $("#surround-legend");
  const saveDialog = $("#save-dialog");

  const NUMBER_FIELDS = {
    land: ["area_mu_min", "area_mu_max", "max_price_wan", "plot_ratio_min", "investment_wan_per_mu", "tax_wan_per_mu"],
    floor: ["floor_m2_min", "floor_m2_max", "floor_load_min_kn_m2", "clear_height_min_m", "max_rent_yuan_m2_day"],
  };
  const PLACE_FIELDS = ["towns", "parks", "exclude_towns", "exclude_parks"];
  // Everything the form edits; anything else in a loaded demand is kept and sent as is.
  const FORM_KEYS = new Set([
    ...NUMBER_FIELDS.land,
    ...NUMBER_FIELDS.floor,
    ...PLACE_FIELDS,
    "land_use",
    "status",
    "building_type",
    "near",
    "allow_combine",
    "max_parcels",
    "limit",
  ]);
  const DEFAULT_STATUSES = (cfg.defaultDemand && cfg.defaultDemand.status) || ["available", "idle", "low_efficiency"];

  const state = {
    running: false,
    answer: null,
    demand: null, // the demand of the results shown (exports and saving send it again)
    extra: {}, // fields of a loaded demand the form has no input for
    selected: null,
    surroundLoading: false,
    surroundings: null,
    runs: 0,
  };

  const csrf = () => {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  };

  function postJSON(url, body, opts) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: (opts && opts.accept) || "application/json",
        "X-CSRFToken": csrf(),
        "X-Requested-With": "XMLHttpRequest",
      },
      body: JSON.stringify(body),
      signal: opts && opts.signal,
    });
  }

  async function errorBody(r) {
    try {
      return await r.json();
    } catch (_e) {
      return { code: "error", message: `HTTP ${r.status}` };
    }
  }

  const kindOf = (k) => (cfg.kinds && cfg.kinds[k]) || { label: k, color: "#1d5fb4" };

  function metres(m) {
    if (m === null || m === undefined) return "—";
    return m >= 1000 ? t("%(km)s km", { km: IM.num(m / 1000, 1) }) : t("%(m)s m", { m: IM.num(m) });
  }

  /* ---- the form ------------------------------------------------------------ */

  const field = (name) => form.elements.namedItem(name);

  function setChecks(name, values) {
    const set = new Set(values || []);
    $$(`input[type=checkbox][name="${name}"]`, form).forEach((b) => (b.checked = set.has(b.value)));
  }
  const checkedValues = (name) => $$(`input[type=checkbox][name="${name}"]`, form).filter((b) => b.checked).map((b) => b.value);

  function setSelect(name, values) {
    const set = new Set((values || []).map(String));
    Array.from(field(name).options).forEach((o) => (o.selected = set.has(o.value)));
  }
  const selectValues = (name) => Array.from(field(name).selectedOptions).map((o) => o.value);

  function syncSections() {
    $("#mf-land").hidden = !$("#want-land").checked;
    $("#mf-floor").hidden = !$("#want-floor").checked;
    field("max_parcels").disabled = !field("allow_combine").checked;
  }

  function syncNearRow(row) {
    const preferred = row.querySelector('[data-near="mode"]').value === "preferred";
    row.classList.toggle("preferred", preferred);
    row.querySelector(".near-weight").hidden = !preferred;
  }

  function addNearRow(item) {
    const row = nearTemplate.content.firstElementChild.cloneNode(true);
    item = item || { category: "metro_station", within_m: 3000 };
    row.querySelector('[data-near="category"]').value = item.category || "metro_station";
    row.querySelector('[data-near="mode"]').value = item.weight == null ? "hard" : "preferred";
    row.querySelector('[data-near="within_m"]').value = item.within_m == null ? "" : item.within_m;
    row.querySelector('[data-near="weight"]').value = item.weight == null ? "" : item.weight;
    nearRows.appendChild(row);
    syncNearRow(row);
    return row;
  }

  /** Fill the form from a demand document (missing fields take the form's defaults). */
  function setDemand(d) {
    d = d || {};
    const land = d.area_mu_min != null || d.area_mu_max != null;
    const floor = d.floor_m2_min != null || d.floor_m2_max != null;
    $("#want-land").checked = land || !floor;
    $("#want-floor").checked = floor;
    for (const name of [...NUMBER_FIELDS.land, ...NUMBER_FIELDS.floor]) field(name).value = d[name] == null ? "" : d[name];
    setChecks("land_use", d.land_use);
    setChecks("status", d.status || DEFAULT_STATUSES);
    setChecks("building_type", d.building_type);
    PLACE_FIELDS.forEach((name) => setSelect(name, d[name]));
    field("allow_combine").checked = d.allow_combine !== false;
    field("max_parcels").value = String(d.max_parcels || 3);
    field("limit").value = d.limit == null ? 20 : d.limit;
    nearRows.innerHTML = "";
    (Array.isArray(d.near) ? d.near : []).forEach((n) => addNearRow(n));
    state.extra = {};
    for (const [k, v] of Object.entries(d)) if (!FORM_KEYS.has(k)) state.extra[k] = v;
    $("#mf-standard").open = d.investment_wan_per_mu != null || d.tax_wan_per_mu != null;
    $("#mf-exclude").open = !!((d.exclude_towns && d.exclude_towns.length) || (d.exclude_parks && d.exclude_parks.length));
    syncSections();
    clearErrors();
  }

  /** The demand document of the form: {demand, local} (local: errors found before sending). */
  function readDemand() {
    const d = {};
    const local = {};
    const num = (name) => {
      const input = field(name);
      if (input.validity && input.validity.badInput) {
        local[name] = [t("not a number")];
        return;
      }
      if (input.value.trim() !== "") d[name] = Number(input.value);
    };
    if ($("#want-land").checked) {
      NUMBER_FIELDS.land.forEach(num);
      const uses = checkedValues("land_use");
      if (uses.length) d.land_use = uses;
      d.status = checkedValues("status");
      d.allow_combine = field("allow_combine").checked;
      if (d.allow_combine) d.max_parcels = Number(field("max_parcels").value);
    }
    if ($("#want-floor").checked) {
      NUMBER_FIELDS.floor.forEach(num);
      const types = checkedValues("building_type");
      if (types.length) d.building_type = types;
    }
    PLACE_FIELDS.forEach((name) => {
      const v = selectValues(name);
      if (v.length) d[name] = v;
    });
    const near = [];
    $$("[data-near-row]", nearRows).forEach((row) => {
      const get = (k) => row.querySelector(`[data-near="${k}"]`);
      const item = { category: get("category").value };
      const within = get("within_m").value.trim();
      if (within !== "") item.within_m = Number(within);
      if (get("mode").value === "preferred") {
        const w = get("weight").value.trim();
        item.weight = w === "" ? 1 : Number(w);
      }
      near.push(item);
    });
    if (near.length) d.near = near;
    num("limit");
    return { demand: Object.assign({}, state.extra, d), local };
  }

  function clearErrors() {
    $$("[data-error-for]", form).forEach((el) => {
      el.textContent = "";
      if (el.classList.contains("form-error")) el.hidden = true;
    });
    $$("[data-near-error]", form).forEach((el) => (el.textContent = ""));
    $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
    $$(".has-error", form).forEach((el) => el.classList.remove("has-error"));
  }

  function showErrors(errors) {
    clearErrors();
    const general = [];
    const rows = $$("[data-near-row]", nearRows);
    let first = null;
    for (const [key, msgs] of Object.entries(errors || {})) {
      const text = (Array.isArray(msgs) ? msgs : [msgs]).join(" ");
      const m = key.match(/^near\[(\d+)\]$/);
      let target = null;
      if (m && rows[Number(m[1])]) {
        target = rows[Number(m[1])].querySelector("[data-near-error]");
        rows[Number(m[1])].classList.add("has-error");
      } else if (key !== "__all__") {
        target = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
      }
      if (target && !target.closest("[hidden]")) {
        target.textContent = text;
        const input = field(key);
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
        const box = target.closest(".mf-field");
        if (box) box.classList.add("has-error");
        first = first || target;
      } else {
        general.push(key === "__all__" ? text : `${key}: ${text}`);
      }
    }
    const box = form.querySelector('[data-error-for="__all__"]');
    if (general.length) {
      box.innerHTML = general.map((g) => `<div>${IM.esc(g)}</div>`).join("");
      box.hidden = false;
      first = box;
    }
    if (first) first.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  form.addEventListener("change", (e) => {
    if (e.target.matches("[data-want], #f-allow_combine")) syncSections();
    const row = e.target.closest("[data-near-row]");
    if (row && e.target.matches('[data-near="mode"]')) syncNearRow(row);
  });
  nearRows.addEventListener("click", (e) => {
    const btn = e.target.closest("[data-near-remove]");
    if (btn) btn.closest("[data-near-row]").remove();
  });
  $("#near-add").addEventListener("click", () => {
    const used = new Set($$('[data-near="category"]', nearRows).map((s) => s.value));
    const next = Object.keys(cfg.poiCategories || {}).find((c) => !used.has(c)) || "metro_station";
    addNearRow({ category: next, weight: 1 }).querySelector("select").focus();
  });
  $("#match-reset").addEventListener("click", () => {
    setDemand(cfg.defaultDemand);
    clearResults();
    history.replaceState(null, "", window.location.pathname);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });

  /* ---- running a match ------------------------------------------------------ */

  let runCtrl = null;

  function setBusy(on) {
    state.running = on;
    progress.hidden = !on;
    formSpinner.hidden = !on;
    submitBtn.disabled = on;
    resultsEl.setAttribute("aria-busy", on ? "true" : "false");
    resultsEl.classList.toggle("is-loading", on);
  }

  function setActions(enabled) {
    $$("#export-xlsx, #export-pdf, #save-open").forEach((b) => (b.disabled = !enabled));
  }

  async function run() {
    const { demand, local } = readDemand();
    actionError.hidden = true;
    saveConfirm.hidden = true;
    if (Object.keys(local).length) {
      showErrors(local);
      summaryText.textContent = t("The demand is not valid; see the marked fields.");
      return;
    }
    clearErrors();
    if (runCtrl) runCtrl.abort();
    const ctrl = (runCtrl = new AbortController());
    setBusy(true);
    try {
      const r = await postJSON(`${cfg.api}match/sites`, demand, { signal: ctrl.signal });
      if (ctrl !== runCtrl) return;
      if (r.status === 422) {
        const body = await errorBody(r);
        resultsEl.classList.add("stale");
        showErrors(body.errors || { __all__: [body.message] });
        summaryText.textContent = body.message || t("The demand is not valid; see the marked fields.");
        summaryText.className = "error-text";
        return;
      }
      if (!r.ok) {
        const body = await errorBody(r);
        summaryText.textContent = `${t("Could not run the match.")} ${body.message || ""}`;
        summaryText.className = "error-text";
        return;
      }
      const answer = await r.json();
      resultsEl.classList.remove("stale");
      state.answer = answer;
      state.demand = demand;
      state.runs += 1;
      render(answer);
      const url = new URL(window.location.href);
      url.search = "";
      url.searchParams.set("demand", JSON.stringify(demand));
      history.replaceState(null, "", url);
    } catch (err) {
      if (err.name === "AbortError") return;
      summaryText.textContent = t("Could not run the match.");
      summaryText.className = "error-text";
    } finally {
      if (ctrl === runCtrl) {
        runCtrl = null;
        setBusy(false);
      }
    }
  }

  /* ---- results --------------------------------------------------------------- */

  function chip(label, color, extra) {
    return `<span class="chip" style="--chip:${IM.esc(color)}"><span class="dot"></span>${IM.esc(label)}${extra ? ` <b>${extra}</b>` : ""}</span>`;
  }

  function siteTitle(r) {
    if (r.kind === "floor_space") {
      const url = IM.detailUrl("buildings", r.building);
      const code = url ? `<a href="${url}" class="mono" data-record>${IM.esc(r.building)}</a>` : IM.esc(r.building);
      return `${IM.esc(r.name || "")} ${code}`;
    }
    return r.parcels
      .map((c) => {
        const url = IM.detailUrl("parcels", c);
        return url ? `<a href="${url}" class="mono" data-record>${IM.esc(c)}</a>` : IM.esc(c);
      })
      .join(" + ");
  }

  function place(r) {
    const town = (cfg.townNames || {})[r.town] || r.town || "";
    const park = r.park ? (cfg.parkNames || {})[r.park] || r.park : "";
    return [town, park].filter(Boolean).map(IM.esc).join(" · ");
  }

  function figures(r, demand) {
    const out = [];
    if (r.kind === "floor_space") {
      out.push(`<span><span class="fig-label">${IM.esc(t("Floor area"))}</span> <b>${IM.num(r.floor_m2)}</b> ${IM.esc(t("m²"))}</span>`);
    } else {
      out.push(`<span><span class="fig-label">${IM.esc(t("Area"))}</span> <b>${IM.num(r.area_mu, 1)}</b> ${IM.esc(t("mu"))}</span>`);
      if (r.price_wan != null) out.push(`<span><span class="fig-label">${IM.esc(t("Price"))}</span> <b>${IM.num(r.price_wan)}</b> ${IM.esc(t("10k yuan"))}</span>`);
    }
    const cats = Array.from(new Set((demand.near || []).map((n) => n.category)));
    for (const c of cats) {
      const info = (cfg.poiCategories || {})[c] || { label: c };
      const d = r.distances ? r.distances[c] : null;
      out.push(`<span title="${IM.esc(t("nearest %(what)s", { what: info.label }))}"><span class="dot" style="background:${IM.esc(info.color || "#999")}"></span>${IM.esc(info.label)} <b>${metres(d)}</b></span>`);
    }
    return out.join("");
  }

  function tags(r) {
    const out = [];
    const uniq = (xs) => Array.from(new Set(xs || []));
    for (const u of uniq(r.land_use)) {
      const info = (cfg.landUses || {})[u] || { label: u, color: "#999" };
      out.push(chip(info.label, info.color));
    }
    for (const s of uniq(r.status)) {
      const info = (cfg.statuses || {})[s] || { label: s, color: "#999" };
      out.push(chip(info.label, info.color));
    }
    return out.join("");
  }

  function reasonsHtml(r) {
    const scored = new Set(["area", "floor_area", "price", "rent"]);
    const items = r.reasons.map((x) => {
      const counts = scored.has(x.criterion) || (x.criterion === "near" && x.hard === false);
      const added = counts ? `<span class="reason-added" title="${IM.esc(t("added to the score"))}">+${Number(x.added || 0).toFixed(2)}</span>` : "";
      const mark = x.met ? "✓" : "✗";
      return `<li class="reason ${x.met ? "met" : "unmet"}" data-criterion="${IM.esc(x.criterion)}"><span class="reason-mark" aria-label="${IM.esc(x.met ? t("met") : t("not met"))}">${mark}</span><span class="reason-text">${IM.esc(x.text)}</span>${added}</li>`;
    });
    return `<h4>${IM.esc(t("Why this site"))}</h4><ul class="reasons">${items.join("")}</ul>`;
  }

  function clearResults() {
    state.answer = null;
    state.demand = null;
    state.selected = null;
    resultsEl.innerHTML = "";
    kindCounts.innerHTML = "";
    summaryText.className = "muted";
    summaryText.textContent = t("Fill in the demand and press “Find sites”.");
    setActions(false);
    drawResults([]);
    clearSurroundings();
  }

  function render(answer) {
    state.selected = null;
    clearSurroundings();
    const shown = answer.results.length;
    const MARK = "\u0001";
    let text = t("%(total)s candidate sites", { total: MARK });
    if (answer.total > shown) text += ` · ${t("showing the first %(n)s", { n: IM.num(shown) })}`;
    text += ` · ${t("in %(ms)s ms", { ms: IM.num(answer.took_ms, 0) })}`;
    summaryText.className = "";
    summaryText.innerHTML = IM.esc(text).replace(MARK, `<strong id="match-total">${IM.num(answer.total)}</strong>`);
    summaryText.dataset.total = answer.total;
    kindCounts.innerHTML = Object.entries(answer.counts || {})
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `<span data-kind-count="${IM.esc(k)}">${chip(kindOf(k).label, kindOf(k).color, IM.num(n))}</span>`)
      .join("");
    if (answer.truncated) kindCounts.insertAdjacentHTML("beforeend", `<div class="warn-text">${IM.esc(t("The search for combinations stopped early (too many connected parcels); narrow the demand to see all."))}</div>`);
    setActions(true);
    if (!shown) {
      resultsEl.innerHTML = `<li class="empty">${IM.esc(t("No site meets this demand. Widen the area range, the land uses or the distances."))}</li>`;
      drawResults([]);
      return;
    }
    const demand = answer.demand || {};
    resultsEl.innerHTML = answer.results
      .map((r) => {
        const k = kindOf(r.kind);
        const pct = Math.max(0, Math.min(100, Math.round((r.score || 0) * 100)));
        return `<li class="match-result" data-rank="${r.rank}" data-kind="${IM.esc(r.kind)}" style="--kind:${IM.esc(k.color)}">
          <div class="mr-head" role="button" tabindex="0" aria-expanded="false">
            <span class="mr-rank">${r.rank}</span>
            <div class="mr-title">
              <div class="mr-name">${siteTitle(r)} <span class="chip solid" style="--chip:${IM.esc(k.color)}">${IM.esc(k.label)}</span></div>
              <div class="mr-place">${place(r)}</div>
            </div>
            <div class="mr-score" title="${IM.esc(t("Score"))}"><b>${Number(r.score).toFixed(2)}</b><span class="bar"><i style="width:${pct}%"></i></span></div>
          </div>
          <div class="mr-figs">${figures(r, demand)}</div>
          <div class="mr-tags">${tags(r)}</div>
          <div class="mr-detail" hidden>${reasonsHtml(r)}<div class="mr-surround" data-surround></div></div>
        </li>`;
      })
      .join("");
    drawResults(answer.results);
  }

  function toggleFromEvent(e) {
    if (e.target.closest("a[data-record]")) return; // the record link opens the record
    const head = e.target.closest(".mr-head");
    if (!head) return;
    const li = head.closest(".match-result");
    const rank = Number(li.dataset.rank);
    if (state.selected === rank) deselect();
    else select(rank, { fit: true });
  }
  resultsEl.addEventListener("click", toggleFromEvent);
  resultsEl.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target.classList.contains("mr-head")) {
      e.preventDefault();
      toggleFromEvent(e);
    }
  });

  /* ---- the map ----------------------------------------------------------------- */

  const mapEl = $("#match-map");
  const map = IM.createMap(mapEl, { zoomControl: true });
  const FIT = { paddingTopLeft: [30, 30], paddingBottomRight: [230, 30], maxZoom: 17 };
  const units = new IM.UnitsLayer(map, { labels: true });
  const resultsLayer = L.featureGroup().addTo(map);
  const highlight = L.layerGroup().addTo(map);
  const surroundLayer = L.layerGroup().addTo(map);
  const resultShapes = {}; // rank → Leaflet layer

  function resultStyle(r, selected) {
    const color = kindOf(r.kind).color;
    return { renderer: map.imRenderers.data, color, weight: selected ? 2.5 : 1.6, opacity: 0.95, fillColor: color, fillOpacity: selected ? 0.5 : 0.32 };
  }

  function drawResults(results) {
    resultsLayer.clearLayers();
    highlight.clearLayers();
    for (const k of Object.keys(resultShapes)) delete resultShapes[k];
    // Lowest rank on top: draw from the end of the list.
    for (const r of results.slice().reverse()) {
      if (!r.geometry) continue;
      const layer = L.geoJSON(r.geometry, { style: () => resultStyle(r, false) });
      const name = r.kind === "floor_space" ? `${r.name || ""} ${r.building}` : r.parcels.join(" + ");
      layer.bindTooltip(`<b>${r.rank}</b> · ${IM.esc(name)} · ${IM.esc(kindOf(r.kind).label)}`, { sticky: true, direction: "top", opacity: 0.95 });
      layer.on("click", (e) => {
        L.DomEvent.stop(e);
        select(r.rank, { scroll: true, fit: false });
      });
      resultsLayer.addLayer(layer);
      resultShapes[r.rank] = layer;
      if (r.rank <= 30) {
        const c = layer.getBounds().getCenter();
        L.marker(c, {
          icon: L.divIcon({ className: "rank-pin", html: `<span style="background:${IM.esc(kindOf(r.kind).color)}">${r.rank}</span>`, iconSize: [20, 20], iconAnchor: [10, 10] }),
          keyboard: false,
          interactive: false,
        }).addTo(resultsLayer);
      }
    }
    if (results.length && resultsLayer.getLayers().length) {
      map.imUserMoved = false;
      map.fitBounds(resultsLayer.getBounds(), FIT);
    }
  }

  function resultByRank(rank) {
    return state.answer ? state.answer.results.find((r) => r.rank === rank) : null;
  }

  function deselect() {
    state.selected = null;
    highlight.clearLayers();
    clearSurroundings();
    $$(".match-result", resultsEl).forEach((li) => {
      li.classList.remove("selected");
      li.querySelector(".mr-head").setAttribute("aria-expanded", "false");
      li.querySelector(".mr-detail").hidden = true;
    });
  }

  function select(rank, opts) {
    opts = Object.assign({ fit: true, scroll: false }, opts || {});
    const r = resultByRank(rank);
    if (!r) return;
    deselect();
    state.selected = rank;
    const li = resultsEl.querySelector(`.match-result[data-rank="${rank}"]`);
    li.classList.add("selected");
    li.querySelector(".mr-head").setAttribute("aria-expanded", "true");
    li.querySelector(".mr-detail").hidden = false;
    if (opts.scroll) li.scrollIntoView({ block: "nearest", behavior: "smooth" });
    if (r.geometry) {
      highlight.addLayer(
        L.geoJSON(r.geometry, { renderer: map.imRenderers.highlight, interactive: false, style: { color: "#ffb300", weight: 4, opacity: 1, fill: false } })
      );
    }
    loadSurroundings(r, li.querySelector("[data-surround]"), opts.fit);
  }

  /* ---- surroundings ---------------------------------------------------------------- */

  function radiusFor(demand) {
    const within = (demand.near || []).map((n) => Number(n.within_m)).filter((v) => isFinite(v) && v > 0);
    return within.length ? Math.max(...within) : cfg.defaultRadius || 3000;
  }

  function clearSurroundings() {
    surroundLayer.clearLayers();
    surroundLegend.hidden = true;
    surroundLegend.innerHTML = "";
    state.surroundings = null;
  }

  /** POIs around one site; a combination asks for each of its parcels and keeps the nearest. */
  async function fetchSurroundings(r, radius) {
    const paths = r.kind === "floor_space" ? [`buildings/${encodeURIComponent(r.building)}`] : r.parcels.map((c) => `parcels/${encodeURIComponent(c)}`);
    const answers = await Promise.all(paths.map((p) => IM.getJSON(`${cfg.api}${p}/surroundings?radius_m=${radius}`)));
    const byCode = new Map();
    const cats = {};
    let truncated = false;
    for (const a of answers) {
      truncated = truncated || a.truncated;
      a.counts.forEach((c) => (cats[c.category] = { label: c.label, color: c.color }));
      for (const p of a.pois) {
        const old = byCode.get(p.code);
        if (!old || p.distance_m < old.distance_m) byCode.set(p.code, p);
      }
    }
    const pois = Array.from(byCode.values()).sort((a, b) => a.distance_m - b.distance_m);
    const counts = {};
    pois.forEach((p) => (counts[p.category] = (counts[p.category] || 0) + 1));
    const order = Object.keys(cfg.poiCategories || {});
    const byCat = Object.entries(counts)
      .map(([category, count]) => Object.assign({ category, count }, cats[category] || (cfg.poiCategories || {})[category] || { label: category, color: "#888" }))
      .sort((a, b) => order.indexOf(a.category) - order.indexOf(b.category));
    return { radius, total: answers.length === 1 ? answers[0].total : pois.length, pois, counts: byCat, truncated };
  }

  async function loadSurroundings(r, box, fit) {
    const radius = radiusFor(state.answer.demand || {});
    const token = (state.surroundToken = {});
    state.surroundLoading = true;
    box.innerHTML = `<div class="muted"><span class="spinner"></span> ${IM.esc(t("Loading the surroundings…"))}</div>`;
    const shape = resultShapes[r.rank];
    const siteBounds = shape ? shape.getBounds() : null;
    const center = siteBounds ? siteBounds.getCenter() : null;
    if (siteBounds && fit) {
      // Not animated: a second fit (below) during a zoom animation would be dropped.
      map.fitBounds(siteBounds, Object.assign({}, FIT, { maxZoom: 16, animate: false }));
      map.imUserMoved = false;
    }
    try {
      const s = await fetchSurroundings(r, radius);
      if (token !== state.surroundToken || state.selected !== r.rank) return;
      state.surroundings = s;
      drawSurroundings(s, center);
      // The site and its nearest few POIs in view (the radius circle may reach beyond).
      if (siteBounds && fit && !map.imUserMoved) {
        const view = L.latLngBounds(siteBounds.getSouthWest(), siteBounds.getNorthEast());
        s.pois.slice(0, 6).forEach((p) => p.lat != null && view.extend([p.lat, p.lon]));
        map.fitBounds(view, Object.assign({}, FIT, { maxZoom: 16, animate: false }));
      }
      const head = `<h4>${IM.esc(t("Within %(r)s of the site", { r: metres(radius) }))} <span class="muted">${IM.esc(t("%(n)s POIs", { n: IM.num(s.total) }))}</span></h4>`;
      const list = s.counts.length
        ? `<ul class="surround-counts">${s.counts.map((c) => `<li data-category="${IM.esc(c.category)}"><span class="dot" style="background:${IM.esc(c.color)}"></span>${IM.esc(c.label)}<b>${IM.num(c.count)}</b></li>`).join("")}</ul>`
        : `<p class="muted">${IM.esc(t("No POIs within %(r)s.", { r: metres(radius) }))}</p>`;
      const nearest = s.pois
        .slice(0, 5)
        .map((p) => `<li><span class="dot" style="background:${IM.esc(((cfg.poiCategories || {})[p.category] || {}).color || "#888")}"></span>${IM.esc(p.name)}<span class="distance">${metres(p.distance_m)}</span></li>`)
        .join("");
      box.innerHTML = head + list + (nearest ? `<ul class="surround-nearest">${nearest}</ul>` : "");
    } catch (_err) {
      if (token !== state.surroundToken) return;
      box.innerHTML = `<p class="error-text">${IM.esc(t("Could not load the surroundings."))}</p>`;
    } finally {
      if (token === state.surroundToken) state.surroundLoading = false;
    }
  }

  function drawSurroundings(s, center) {
    surroundLayer.clearLayers();
    if (center) {
      L.circle(center, { radius: s.radius, renderer: map.imRenderers.highlight, interactive: false, color: "#1d5fb4", weight: 1.5, dashArray: "6 5", fill: false }).addTo(surroundLayer);
    }
    for (const p of s.pois) {
      if (p.lat == null || p.lon == null) continue;
      const color = ((cfg.poiCategories || {})[p.category] || {}).color || "#888";
      L.circleMarker([p.lat, p.lon], { renderer: map.imRenderers.data, radius: p.category === "metro_station" ? 7 : 5.5, color: "#ffffff", weight: 1.4, fillColor: color, fillOpacity: 0.95 })
        .bindTooltip(`${IM.esc(p.name)} · ${IM.esc(p.category_label)} · ${metres(p.distance_m)}`, { direction: "top" })
        .addTo(surroundLayer);
    }
    surroundLegend.innerHTML = s.counts.length
      ? `<div class="legend-title">${IM.esc(t("Within %(r)s of the site", { r: metres(s.radius) }))}</div><div class="legend-items">${s.counts
          .map((c) => `<span><span class="dot" style="background:${IM.esc(c.color)}"></span>${IM.esc(c.label)} ${IM.num(c.count)}</span>`)
          .join("")}</div>`
      : "";
    surroundLegend.hidden = !s.counts.length;
  }

  /* ---- exports and saving ---------------------------------------------------------- */

  function filenameOf(r, fallback) {
    const cd = r.headers.get("Content-Disposition") || "";
    const star = cd.match(/filename\*=UTF-8''([^;]+)/i);
    if (star) return decodeURIComponent(star[1]);
    const plain = cd.match(/filename="?([^";]+)"?/i);
    return plain ? plain[1] : fallback;
  }

  async function exportAs(fmt, btn) {
    if (!state.demand) return;
    actionError.hidden = true;
    btn.disabled = true;
    btn.classList.add("busy");
    try {
      const r = await postJSON(`${cfg.api}match/sites/export.${fmt}`, state.demand, { accept: "*/*" });
      if (!r.ok) {
        const body = await errorBody(r);
        throw new Error(body.message || `HTTP ${r.status}`);
      }
      const blob = await r.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = filenameOf(r, `candidate-sites.${fmt}`);
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30_000);
    } catch (err) {
      actionError.textContent = `${t("Could not export.")} ${err.message || ""}`;
      actionError.hidden = false;
    } finally {
      btn.disabled = false;
      btn.classList.remove("busy");
    }
  }
  $$("[data-export]").forEach((btn) => btn.addEventListener("click", () => exportAs(btn.dataset.export, btn)));

  const saveName = $("#save-name");
  const saveError = saveDialog.querySelector("[data-save-error]");
  $("#save-open").addEventListener("click", () => {
    saveError.textContent = "";
    saveDialog.showModal();
    saveName.focus();
    saveName.select();
  });
  $("#save-cancel").addEventListener("click", () => saveDialog.close());
  $("#save-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!state.demand) return;
    const btn = $("#save-submit");
    btn.disabled = true;
    saveError.textContent = "";
    try {
      const r = await postJSON(`${cfg.api}match/candidate-lists`, { name: saveName.value, demand: state.demand });
      const body = r.ok ? await r.json() : await errorBody(r);
      if (!r.ok) {
        const errs = body.errors && typeof body.errors === "object" && !Array.isArray(body.errors) ? Object.values(body.errors).flat() : [];
        saveError.textContent = [body.message, ...errs].filter(Boolean).join(" ") || t("Could not save the list.");
        return;
      }
      saveDialog.close();
      const link = `${window.location.pathname}?list=${body.id}`;
      saveConfirm.innerHTML = `${IM.esc(t("Saved “%(name)s” with %(n)s candidate sites.", { name: body.name, n: IM.num(body.count) }))} <a href="${IM.esc(link)}" id="saved-link">${IM.esc(t("Open the saved list"))}</a>`;
      saveConfirm.hidden = false;
      addSaved(body);
    } catch (_err) {
      saveError.textContent = t("Could not save the list.");
    } finally {
      btn.disabled = false;
    }
  });

  /* ---- saved candidate lists --------------------------------------------------------- */

  const savedItems = $("#saved-list-items");
  const savedData = {};
  try {
    JSON.parse($("#saved-lists-data").textContent).forEach((s) => (savedData[s.id] = s));
  } catch (_e) {
    /* none */
  }

  function addSaved(s) {
    savedData[s.id] = s;
    const li = document.createElement("li");
    li.dataset.listId = s.id;
    li.innerHTML = `<a href="${window.location.pathname}?list=${s.id}" data-load-list="${s.id}" class="saved-name">${IM.esc(s.name)}</a>
      <span class="saved-meta">${IM.esc(t("%(n)s sites", { n: IM.num(s.count) }))} · ${IM.esc(s.created_by || "—")} · <time datetime="${IM.esc(s.created_at)}">${IM.esc(String(s.created_at).slice(0, 10))}</time></span>`;
    savedItems.prepend(li);
    $("#saved-empty").hidden = true;
  }

  savedItems.addEventListener("click", async (e) => {
    const a = e.target.closest("[data-load-list]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    const id = a.dataset.loadList;
    $$("li", savedItems).forEach((li) => li.classList.toggle("current", li.dataset.listId === String(id)));
    let s = savedData[id];
    try {
      if (!s || !s.demand) s = await IM.getJSON(`${cfg.api}match/candidate-lists/${encodeURIComponent(id)}`);
    } catch (_err) {
      window.location.href = a.href;
      return;
    }
    setDemand(s.demand);
    form.scrollTop = 0;
    run();
  });

  /* ---- start ---------------------------------------------------------------------- */

  setDemand(cfg.demand || cfg.defaultDemand);
  units
    .load()
    .then(() => {
      if (!resultsLayer.getLayers().length) {
        const b = units.bounds();
        if (b) map.fitBounds(b, FIT);
        else map.setView([31.2, 121.4], 11);
      }
    })
    .catch(() => map.setView([31.2, 121.4], 11));
  if (cfg.autorun) run();

  window.investmapMatch = {
    map,
    state,
    run,
    select,
    deselect,
    setDemand,
    readDemand,
    /** Result outlines drawn on the map, highlighted outlines, POI markers around the selection. */
    drawn() {
      let pois = 0;
      surroundLayer.eachLayer((l) => l instanceof L.CircleMarker && !(l instanceof L.Circle) && pois++);
      return { results: Object.keys(resultShapes).length, highlight: highlight.getLayers().length, pois };
    },
    idle() {
      return !state.running && !state.surroundLoading;
    },
  };
})();
