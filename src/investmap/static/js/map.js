/* The district map page: base map of towns and parks, data layers for the
 * viewport, legend, and the drill-down side panel (district → town/park →
 * parcel or enterprise).
 *
 * Test hook: window.investmapMap (counts(), drill(), select(), layers, map).
 */
(function () {
  "use strict";

  const IM = window.IM;
  const cfg = IM.cfg;
  const t = IM.t;

  const el = document.getElementById("map");
  const panel = document.getElementById("panel-body");
  const layerPanel = document.getElementById("layer-panel");
  const legendBody = document.getElementById("legend-body");
  const hint = document.getElementById("zoom-hint");
  const busy = document.getElementById("map-busy");

  const map = IM.createMap(el, { zoomControl: true });
  // Fit subjects clear of the side overlays (layers and legend on the right).
  const FIT = { paddingTopLeft: [24, 24], paddingBottomRight: [300, 24] };
  const units = new IM.UnitsLayer(map, { labels: true });
  const highlight = L.layerGroup().addTo(map);

  const state = {
    parcelMode: "status",
    legend: null,
    level: null,
    code: null,
    selected: null,
    panelLoads: 0,
    pendingReload: false,
  };

  const checked = (name) => {
    const box = layerPanel.querySelector(`input[data-layer="${name}"]`);
    return box ? box.checked : false;
  };

  const poiCategories = () =>
    Array.from(layerPanel.querySelectorAll("input[data-poi-category]"))
      .filter((b) => b.checked)
      .map((b) => b.value);

  function legendColor(group, value) {
    const g = state.legend && state.legend[group];
    return g && g.by[value] ? g.by[value].color : "#9e9e9e";
  }

  /* ---- data layers ----------------------------------------------------- */

  const layerOpts = {
    parcels: {
      rank: 1,
      cells: "grid",
      style: (f) => ({
        color: "#ffffff",
        weight: map.getZoom() >= 16 ? 1 : 0.6,
        opacity: 0.9,
        fillColor: state.parcelMode === "land_use" ? legendColor("land_use", f.properties.land_use) : f.properties.color,
        fillOpacity: 0.72,
      }),
      tooltip: (f) => IM.esc(f.properties.name || f.properties.code),
      legendGroup: () => (state.parcelMode === "land_use" ? "land_use" : "parcel_status"),
      // Grid cells count parcels by status, whatever the colour mode.
      valueColor: (v) => legendColor("parcel_status", v),
      valueOrder: () => (state.legend ? state.legend.parcel_status.items.map((i) => i.value) : null),
      cellLegendGroup: "parcel_status",
    },
    buildings: {
      rank: 2,
      cells: "grid",
      style: (f) => ({ color: "#37474f", weight: 0.8, fillColor: f.properties.color, fillOpacity: 0.85 }),
      tooltip: (f) => IM.esc(f.properties.name || f.properties.code),
      legendGroup: () => "building_type",
      valueColor: (v) => legendColor("building_type", v),
      valueOrder: () => (state.legend ? state.legend.building_type.items.map((i) => i.value) : null),
      cellLegendGroup: "building_type",
    },
    "metro-lines": {
      rank: 3,
      style: (f) => ({ color: f.properties.color || "#d32f2f", weight: 4.5, opacity: 0.85, lineCap: "round", lineJoin: "round" }),
      tooltip: (f) => IM.esc(f.properties.name),
    },
    enterprises: {
      rank: 4,
      pointStyle: (f) => ({ radius: 4.5, color: "#ffffff", weight: 1, fillColor: f.properties.color, fillOpacity: 0.95 }),
      tooltip: (f) => IM.esc(f.properties.name),
      legendGroup: () => "enterprise_scale",
    },
    pois: {
      rank: 5,
      pointStyle: (f) => ({ radius: f.properties.category === "metro_station" ? 6.5 : 5, color: "#ffffff", weight: 1.3, fillColor: f.properties.color, fillOpacity: 0.95 }),
      tooltip: (f) => IM.esc(f.properties.name),
      legendGroup: () => "poi_category",
      query: () => {
        const all = layerPanel.querySelectorAll("input[data-poi-category]").length;
        const cats = poiCategories();
        if (!cats.length) return null; // nothing to ask for
        return cats.length === all ? "" : "category=" + encodeURIComponent(cats.join(","));
      },
    },
  };

  const layers = {};
  for (const [name, opts] of Object.entries(layerOpts)) {
    layers[name] = new IM.ApiLayer(
      map,
      name,
      Object.assign({}, opts, {
        enabled: checked(name),
        onFeatureClick: onFeatureClick,
        onRender: keepOrder,
        onState: onLayerState,
        cellTooltip: (p) => {
          const group = opts.cellLegendGroup || (opts.legendGroup && opts.legendGroup());
          return IM.cellBreakdown(p, group && state.legend ? state.legend[group] : null);
        },
      })
    );
  }

  /* One canvas draws every layer in insertion order: after a layer reloads,
   * bring the layers ranked above it back on top. */
  function keepOrder(layer) {
    Object.values(layers)
      .filter((l) => l.enabled && l.opts.rank > layer.opts.rank)
      .sort((a, b) => a.opts.rank - b.opts.rank)
      .forEach((l) => l.bringToFront());
    highlight.eachLayer((l) => l.bringToFront && l.bringToFront());
  }

  function onLayerState(layer) {
    const out = layerPanel.querySelector(`[data-count="${layer.name}"]`);
    if (out) {
      const s = layer.state;
      out.textContent = !layer.enabled ? "" : s.loading ? "…" : s.error ? "!" : IM.num(s.total);
      out.title = s.error || "";
    }
    const loading = Object.values(layers).some((l) => l.state.loading);
    busy.hidden = !loading;
    const aggregated = Object.values(layers).filter((l) => l.enabled && l.state.aggregated && !l.state.loading);
    const truncated = Object.values(layers).find((l) => l.enabled && l.state.truncated);
    const errored = Object.values(layers).find((l) => l.enabled && l.state.error);
    let text = "";
    if (errored) text = t("Could not load the map data.");
    else if (truncated) text = t("Showing the first %(n)s of %(total)s features; zoom in to see all.", { n: IM.num(truncated.state.drawn), total: IM.num(truncated.state.total) });
    else if (aggregated.length) text = t("Zoomed out, features are grouped by area: squares show the mix, circles the count. Zoom in to see them one by one.");
    hint.textContent = text;
    hint.hidden = !text;
    if (!layer.state.loading) renderLegend();
  }

  const reloadNow = IM.debounce(() => {
    state.pendingReload = false;
    Object.values(layers).forEach((l) => l.enabled && l.load());
  }, 250);
  map.on("moveend", () => {
    state.pendingReload = true;
    reloadNow();
  });

  /* ---- layer switches and legend ---------------------------------------- */

  layerPanel.addEventListener("change", (e) => {
    const box = e.target;
    if (box.dataset.layer) {
      layers[box.dataset.layer].setEnabled(box.checked);
      const sub = layerPanel.querySelector(`[data-sub-of="${box.dataset.layer}"]`);
      if (sub) sub.hidden = !box.checked;
      renderLegend();
    } else if (box.dataset.poiCategory !== undefined) {
      poiReload();
      renderLegend();
    } else if (box.dataset.units !== undefined) {
      el.classList.toggle("hide-town-labels-forced", !box.checked);
      el.classList.toggle("hide-park-labels-forced", !box.checked);
    }
  });
  const poiReload = IM.debounce(() => layers.pois.load(), 150);

  layerPanel.addEventListener("click", (e) => {
    const btn = e.target.closest("[data-parcel-mode]");
    if (btn) {
      state.parcelMode = btn.dataset.parcelMode;
      layerPanel.querySelectorAll("[data-parcel-mode]").forEach((b) => b.classList.toggle("on", b === btn));
      layers.parcels.restyle();
      renderLegend();
    }
    const all = e.target.closest("[data-poi-all]");
    if (all) {
      const on = all.dataset.poiAll === "1";
      layerPanel.querySelectorAll("input[data-poi-category]").forEach((b) => (b.checked = on));
      poiReload();
      renderLegend();
    }
  });

  function legendSection(title, items, shape) {
    if (!items || !items.length) return "";
    const marks = items
      .map((i) => {
        const mark = shape === "dot" ? `<span class="dot" style="background:${IM.esc(i.color)}"></span>` : `<span class="swatch" style="background:${IM.esc(i.color)}"></span>`;
        return `<span title="${IM.esc(i.label)}">${mark}${IM.esc(i.label)}</span>`;
      })
      .join("");
    return `<div class="legend-section"><div class="legend-title">${IM.esc(title)}</div><div class="legend-items">${marks}</div></div>`;
  }

  function renderLegend() {
    const lg = state.legend;
    if (!lg) return;
    let html = "";
    if (checked("parcels")) {
      // Grid cells always count by status, so the status legend goes with them.
      html += state.parcelMode === "land_use" && !layers.parcels.state.aggregated
        ? legendSection(t("Planned land use"), lg.land_use.items, "swatch")
        : legendSection(t("Parcel status"), lg.parcel_status.items, "swatch");
    }
    if (checked("buildings")) html += legendSection(t("Building type"), lg.building_type.items, "swatch");
    if (checked("pois")) {
      const cats = new Set(poiCategories());
      html += legendSection(t("POI category"), lg.poi_category.items.filter((i) => cats.has(i.value)), "dot");
    }
    if (checked("enterprises")) html += legendSection(t("Enterprise scale"), lg.enterprise_scale.items, "dot");
    const metro = layers["metro-lines"].last;
    if (checked("metro-lines") && metro && metro.features.length) {
      html += legendSection(t("Metro lines"), metro.features.map((f) => ({ label: f.properties.name, color: f.properties.color })), "swatch");
    }
    html += `<div class="legend-section"><div class="legend-items">
      <span><span class="swatch" style="background:#fbfcfe;border:2px solid #4a6f9c"></span>${IM.esc(t("Town boundary"))}</span>
      <span><span class="swatch" style="background:#f3e5f5;border:2px dashed #7b1fa2"></span>${IM.esc(t("Park boundary"))}</span>
    </div></div>`;
    legendBody.innerHTML = html;
  }

  /* ---- side panel (drill-down) ----------------------------------------- */

  let panelCtrl = null;

  async function loadPanel(url, opts) {
    opts = opts || {};
    if (panelCtrl) panelCtrl.abort();
    const ctrl = (panelCtrl = new AbortController());
    panel.setAttribute("aria-busy", "true");
    panel.classList.add("is-loading");
    try {
      const html = await IM.getHTML(url, { signal: ctrl.signal });
      if (ctrl !== panelCtrl) return null;
      panel.innerHTML = html;
      panel.scrollTop = 0;
      IM.initCharts(panel);
      state.panelLoads += 1;
      return panel.firstElementChild;
    } catch (err) {
      if (err.name === "AbortError") return null;
      panel.innerHTML = `<div class="panel-loading">${IM.esc(t("Could not load this panel."))}</div>`;
      return null;
    } finally {
      if (ctrl === panelCtrl) {
        panelCtrl = null;
        panel.removeAttribute("aria-busy");
        panel.classList.remove("is-loading");
      }
    }
  }

  async function drill(level, code, opts) {
    opts = Object.assign({ fit: true }, opts || {});
    const q = new URLSearchParams({ level });
    if (code) q.set("code", code);
    map.closePopup();
    highlight.clearLayers();
    state.selected = null;
    const root = await loadPanel(`${cfg.panelUrl}?${q}`);
    if (!root) return;
    state.level = root.dataset.level || level;
    state.code = root.dataset.code || code || "";
    units.highlight(state.level, state.code);
    if (opts.fit) {
      const fit = () => {
        if (state.level === "district" && units.bounds()) map.fitBounds(units.bounds(), FIT);
        else IM.fitBBox(map, root.dataset.bbox, FIT);
      };
      // Leaflet drops a new view asked for while a zoom animation runs (a quick second
      // click during the previous drill-down): fit once that animation has ended.
      if (map._animatingZoom) map.once("zoomend", fit);
      else fit();
    }
    const url = new URL(window.location.href);
    if (state.level === "district") {
      url.searchParams.delete("level");
      url.searchParams.delete("code");
    } else {
      url.searchParams.set("level", state.level);
      url.searchParams.set("code", state.code);
    }
    window.history.replaceState(null, "", url);
  }

  panel.addEventListener("click", (e) => {
    const a = e.target.closest("[data-drill]");
    if (a) {
      e.preventDefault();
      drill(a.dataset.drill, a.dataset.code || "");
      return;
    }
    const z = e.target.closest("[data-zoom-to]");
    if (z) {
      e.preventDefault();
      const bbox = IM.parseBBox(z.dataset.zoomTo);
      if (bbox) IM.fitBBox(map, bbox, { maxZoom: 17 });
    }
  });

  /* ---- selecting a feature --------------------------------------------- */

  const SELECTABLE = { parcels: "parcels", buildings: "buildings", enterprises: "enterprises", pois: "pois" };

  function featureCode(layerName, f) {
    return layerName === "enterprises" ? f.properties.credit_code || f.properties.code : f.properties.code;
  }

  function onFeatureClick(layerName, f, layer, e) {
    const kind = SELECTABLE[layerName];
    if (!kind) return;
    L.DomEvent.stop(e);
    select(kind, featureCode(layerName, f), e.latlng, f);
  }

  async function select(kind, code, latlng, feature) {
    state.selected = { kind, code };
    highlight.clearLayers();
    if (feature) {
      const g = L.geoJSON(feature, {
        renderer: map.imRenderers.highlight,
        interactive: false,
        style: { color: "#ffeb3b", weight: 4, opacity: 1, fill: false },
        pointToLayer: (_f, ll) => L.circleMarker(ll, { renderer: map.imRenderers.highlight, radius: 10, color: "#ffeb3b", weight: 4, fill: false, interactive: false }),
      });
      highlight.addLayer(g);
    }
    const popup = L.popup({ maxWidth: 320, minWidth: 240, autoPanPadding: [40, 40] })
      .setLatLng(latlng)
      .setContent(`<div class="popup"><span class="spinner"></span> ${IM.esc(t("Loading…"))}</div>`)
      .openOn(map);
    const panelUrl = IM.featurePanelUrl(kind, code);
    const [popupHtml] = await Promise.all([
      IM.getHTML(panelUrl + "?compact=1").catch(() => `<div class="popup">${IM.esc(t("Could not load this panel."))}</div>`),
      loadPanel(panelUrl),
    ]);
    if (state.selected && state.selected.code === code && popup.isOpen()) popup.setContent(popupHtml);
  }

  /** Open a record from its code (a link from a record page): pan to it, popup and panel. */
  async function showFeature(kind, code) {
    const root = await loadPanel(IM.featurePanelUrl(kind, code));
    if (!root || root.dataset.lat === undefined) return;
    const latlng = L.latLng(Number(root.dataset.lat), Number(root.dataset.lon));
    map.setView(latlng, Math.max(map.getZoom(), 16));
    state.selected = { kind, code };
    const html = await IM.getHTML(IM.featurePanelUrl(kind, code) + "?compact=1");
    L.popup({ maxWidth: 320, minWidth: 240 }).setLatLng(latlng).setContent(html).openOn(map);
  }

  map.on("click", (e) => {
    // A click that hit no feature drills into the park or town under it.
    const place = units.locate(e.latlng);
    if (place) {
      if (place.level !== state.level || place.code !== state.code || state.selected) drill(place.level, place.code, { fit: place.level !== state.level || place.code !== state.code });
    } else if (state.level !== "district") {
      drill("district", "");
    }
  });

  /* ---- start ----------------------------------------------------------- */

  const start = cfg.start || { level: "district", code: "" };
  IM.legend()
    .then((lg) => {
      state.legend = lg;
      renderLegend();
      layers.parcels.restyle();
    })
    .catch(() => (legendBody.textContent = t("Could not load the map data.")));

  layers["metro-lines"].opts.onRender = (layer) => {
    keepOrder(layer);
    renderLegend();
  };

  units
    .load()
    .then(() => {
      const b = units.bounds();
      if (b) map.fitBounds(b, FIT);
      else map.setView([31.2, 121.4], 11);
      return drill(start.level || "district", start.code || "", { fit: (start.level || "district") !== "district" });
    })
    .then(() => start.feature && showFeature(start.feature.kind, start.feature.code))
    .catch(() => {
      map.setView([31.2, 121.4], 11);
      panel.innerHTML = `<div class="panel-loading">${IM.esc(t("Could not load the map data."))}</div>`;
    });

  window.investmapMap = {
    map,
    layers,
    units,
    state,
    drill,
    select,
    showFeature,
    /** {layer: {enabled, drawn, total, aggregated, truncated, loading, error}} */
    counts() {
      const out = {};
      for (const [name, l] of Object.entries(layers)) out[name] = Object.assign({ enabled: l.enabled }, l.state);
      out.towns = units.towns ? units.towns.getLayers().length : 0;
      out.parks = units.parks ? units.parks.getLayers().length : 0;
      return out;
    },
    idle() {
      return !state.pendingReload && !Object.values(layers).some((l) => l.state.loading) && !panelCtrl;
    },
  };
})();
