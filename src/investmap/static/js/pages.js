/* Small maps of the list, record and town/park pages, and the htmx glue of the lists.
 *
 * A map element declares what it shows with data attributes:
 *   data-im-map="list"   data-layer, data-query, data-bbox      (the current results)
 *   data-im-map="record" data-src (json_script id of the record's geometry and layer)
 *   data-im-map="place"  data-src (json_script id with level, code, bbox)
 * Test hook: window.investmapMaps (one entry per map element, by id).
 */
(function () {
  "use strict";

  const IM = window.IM;
  const t = IM.t;
  const maps = (window.investmapMaps = {});

  const LAYER_STYLE = {
    parcels: {
      style: (f) => ({ color: "#ffffff", weight: 0.8, fillColor: f.properties.color, fillOpacity: 0.75 }),
      legendGroup: "parcel_status",
      cells: "grid",
    },
    buildings: {
      style: (f) => ({ color: "#37474f", weight: 0.8, fillColor: f.properties.color, fillOpacity: 0.85 }),
      legendGroup: "building_type",
      cells: "grid",
    },
    pois: {
      pointStyle: (f) => ({ radius: 5, color: "#ffffff", weight: 1.2, fillColor: f.properties.color, fillOpacity: 0.95 }),
      legendGroup: "poi_category",
    },
    enterprises: {
      pointStyle: (f) => ({ radius: 5, color: "#ffffff", weight: 1.2, fillColor: f.properties.color, fillOpacity: 0.95 }),
      legendGroup: "enterprise_scale",
    },
  };

  function code(layerName, f) {
    return layerName === "enterprises" ? f.properties.credit_code || f.properties.code : f.properties.code;
  }

  function openDetail(layerName, f) {
    const url = IM.detailUrl(layerName, code(layerName, f));
    if (url) window.location.href = url;
  }

  function makeLayer(map, name, extra) {
    const s = LAYER_STYLE[name] || {};
    let legend = null;
    IM.legend().then((lg) => (legend = lg)).catch(() => {});
    return new IM.ApiLayer(
      map,
      name,
      Object.assign(
        {
          style: s.style,
          pointStyle: s.pointStyle,
          cells: s.cells,
          valueColor: (v) => (legend && legend[s.legendGroup] && legend[s.legendGroup].by[v] ? legend[s.legendGroup].by[v].color : null),
          valueOrder: () => (legend && legend[s.legendGroup] ? legend[s.legendGroup].items.map((i) => i.value) : null),
          tooltip: (f) => IM.esc(f.properties.name || f.properties.code || ""),
          cellTooltip: (p) => IM.cellBreakdown(p, legend && s.legendGroup ? legend[s.legendGroup] : null),
          onFeatureClick: (layerName, f, _l, e) => {
            L.DomEvent.stop(e);
            openDetail(layerName, f);
          },
        },
        extra || {}
      )
    );
  }

  function legendStrip(el, group) {
    if (!el || !group) return;
    IM.legend()
      .then((lg) => {
        const g = lg[group];
        if (!g) return;
        el.innerHTML = g.items
          .map((i) => `<span><span class="dot" style="background:${IM.esc(i.color)}"></span>${IM.esc(i.label)}</span>`)
          .join("");
      })
      .catch(() => {});
  }

  /* ---- list pages ------------------------------------------------------ */

  function listMap(el) {
    const map = IM.createMap(el, { scrollWheelZoom: false });
    const units = new IM.UnitsLayer(map, { labels: true, parkLabelsFromZoom: 13 });
    const note = document.getElementById(el.id + "-note");
    const entry = { map, units, query: el.dataset.query || "", layer: null };
    const layer = makeLayer(map, el.dataset.layer, {
      enabled: true,
      query: () => entry.query,
      onState: (l) => {
        if (!note) return;
        const s = l.state;
        if (s.loading) note.textContent = t("Loading…");
        else if (s.error) note.textContent = t("Could not load the map data.");
        else if (s.aggregated) note.textContent = t("Features on the map: %(n)s", { n: IM.num(s.total) }) + " · " + t("Zoomed out, features are grouped by area: squares show the mix, circles the count. Zoom in to see them one by one.");
        else if (s.truncated) note.textContent = t("Showing the first %(n)s of %(total)s features; zoom in to see all.", { n: IM.num(s.drawn), total: IM.num(s.total) });
        else note.textContent = t("Features on the map: %(n)s", { n: IM.num(s.total) });
      },
    });
    entry.layer = layer;
    map.on("moveend", IM.debounce(() => layer.load(), 250));
    // Fitting is immediate (no animation): the layer then asks for the final viewport.
    const fit = (bboxText) => {
      if (!IM.fitBBox(map, bboxText, { maxZoom: 16, animate: false })) {
        const b = units.bounds();
        if (b) map.fitBounds(b, { animate: false });
        else map.setView([31.2, 121.4], 11, { animate: false });
      }
    };
    entry.update = (query, bboxText) => {
      entry.query = query || "";
      entry.bbox = bboxText;
      map.imUserMoved = false;
      fit(bboxText);
      layer.load();
    };
    const hasView = IM.fitBBox(map, el.dataset.bbox, { maxZoom: 16 });
    entry.bbox = el.dataset.bbox;
    map.imRefit = () => fit(entry.bbox);
    units.load().finally(() => hasView || fit(null));
    legendStrip(document.getElementById(el.id + "-legend"), (LAYER_STYLE[el.dataset.layer] || {}).legendGroup);
    maps[el.id] = entry;
  }

  // htmx: drop empty parameters so addresses stay readable, and follow the results on the map.
  document.body.addEventListener("htmx:configRequest", (e) => {
    const params = e.detail.parameters;
    const fd = e.detail.formData;
    const empty = [];
    if (fd && typeof fd.entries === "function") {
      for (const [k, v] of fd.entries()) if (v === "") empty.push(k);
      empty.forEach((k) => fd.delete(k));
    } else if (params) {
      for (const k of Object.keys(params)) if (params[k] === "") delete params[k];
    }
  });

  document.body.addEventListener("htmx:afterSettle", (e) => {
    const results = document.getElementById("results");
    if (!results) return;
    const mapEl = document.querySelector('[data-im-map="list"]');
    if (mapEl && maps[mapEl.id]) maps[mapEl.id].update(results.dataset.query, results.dataset.bbox);
  });

  /* ---- record pages ---------------------------------------------------- */

  function recordMap(el) {
    const data = JSON.parse(document.getElementById(el.dataset.src).textContent);
    const map = IM.createMap(el, { scrollWheelZoom: false });
    const units = new IM.UnitsLayer(map, { labels: true, parkLabelsFromZoom: 13 });
    const entry = { map, units, data, layers: {} };
    maps[el.id] = entry;
    const geometry = data.geometry;
    const center = data.lat != null && data.lon != null ? L.latLng(data.lat, data.lon) : null;
    // Context: parcels around (status colours), buildings, and the POIs nearby.
    const context = ["parcels", "buildings", "pois"];
    context.forEach((name, i) => {
      entry.layers[name] = makeLayer(map, name, { rank: i, enabled: true, onRender: keepOrder });
    });
    function keepOrder() {
      context.forEach((name) => entry.layers[name].bringToFront());
    }
    // The view first: paths can only be added to a map that has one.
    let own = null;
    if (geometry) own = L.geoJSON(geometry);
    const ownBounds = own ? own.getBounds() : null;
    map.imRefit = () => {
      if (center && data.nearbyRadius) map.fitBounds(center.toBounds(data.nearbyRadius * 2.1));
      else if (ownBounds) map.fitBounds(ownBounds, { maxZoom: 17, padding: [30, 30] });
      else map.setView([31.2, 121.4], 11);
    };
    map.imRefit();
    if (geometry) {
      own = L.geoJSON(geometry, {
        renderer: map.imRenderers.highlight,
        interactive: false,
        style: { color: "#0d47a1", weight: 3.5, fillColor: "#ffeb3b", fillOpacity: 0.35 },
        pointToLayer: (_f, ll) => L.circleMarker(ll, { renderer: map.imRenderers.highlight, radius: 11, color: "#0d47a1", weight: 4, fillColor: "#ffeb3b", fillOpacity: 1 }),
      }).addTo(map);
    }
    if (center && data.nearbyRadius) {
      L.circle(center, { radius: data.nearbyRadius, renderer: map.imRenderers.highlight, interactive: false, color: "#1d5fb4", weight: 1.5, dashArray: "6 5", fill: false }).addTo(map);
    }
    map.on("moveend", IM.debounce(() => context.forEach((n) => entry.layers[n].load()), 250));
    context.forEach((n) => entry.layers[n].load());
    units.load().catch(() => {});
  }

  /* ---- town / park pages ----------------------------------------------- */

  function placeMap(el) {
    const data = JSON.parse(document.getElementById(el.dataset.src).textContent);
    const map = IM.createMap(el, { scrollWheelZoom: false });
    const units = new IM.UnitsLayer(map, { labels: true, parkLabelsFromZoom: 11 });
    const entry = { map, units, data, layers: {} };
    maps[el.id] = entry;
    const names = ["parcels"];
    names.forEach((name, i) => {
      entry.layers[name] = makeLayer(map, name, {
        rank: i,
        enabled: true,
        onRender: () => names.forEach((n) => entry.layers[n].bringToFront()),
      });
    });
    map.imRefit = () => IM.fitBBox(map, data.bbox, { padding: [12, 12] }) || map.setView([31.2, 121.4], 11);
    map.imRefit();
    map.on("moveend", IM.debounce(() => names.forEach((n) => entry.layers[n].load()), 250));
    names.forEach((n) => entry.layers[n].load());
    units
      .load()
      .then(() => units.highlight(data.level, data.code))
      .catch(() => {});
    legendStrip(document.getElementById(el.id + "-legend"), "parcel_status");
  }

  document.querySelectorAll("[data-im-map]").forEach((el) => {
    const kind = el.dataset.imMap;
    try {
      if (kind === "list") listMap(el);
      else if (kind === "record") recordMap(el);
      else if (kind === "place") placeMap(el);
    } catch (err) {
      el.textContent = t("Could not load the map data.");
      throw err;
    }
  });
})();
