/* InvestMap page scripts, shared part: config, formatting, API access, map layers, charts.
 *
 * Plain ES2020, no build step. Needs Leaflet (L) for the map helpers and ECharts
 * (echarts) for the chart helpers; each page loads only what it uses. The page's
 * configuration (language, API root, translated strings) is a JSON script
 * element with id "im-config" rendered by the Django view.
 */
(function () {
  "use strict";

  const IM = (window.IM = window.IM || {});
  const cfgEl = document.getElementById("im-config");
  const cfg = (IM.cfg = cfgEl ? JSON.parse(cfgEl.textContent) : { strings: {}, api: "/api/v1/", lang: "zh-hans" });
  const locale = (cfg.lang || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  IM.locale = locale;

  /* ---- text and numbers ---------------------------------------------- */

  IM.t = function (msgid, params) {
    let s = (cfg.strings && cfg.strings[msgid]) || msgid;
    if (params) s = s.replace(/%\((\w+)\)s/g, (_m, k) => (params[k] == null ? "" : params[k]));
    return s;
  };

  IM.num = function (v, digits) {
    if (v === null || v === undefined || v === "" || isNaN(Number(v))) return "—";
    return Number(v).toLocaleString(locale, { maximumFractionDigits: digits == null ? 0 : digits });
  };

  const compactFmt = new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 });
  IM.compact = (v) => compactFmt.format(v);

  IM.esc = (s) =>
    String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  IM.debounce = function (fn, ms) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), ms);
    };
  };

  /* ---- server access --------------------------------------------------- */

  async function request(url, opts, accept) {
    const r = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: accept, "X-Requested-With": "XMLHttpRequest" },
      signal: opts && opts.signal,
    });
    if (!r.ok) {
      const err = new Error(`HTTP ${r.status} for ${url}`);
      err.status = r.status;
      throw err;
    }
    return r;
  }
  IM.getJSON = async (url, opts) => (await request(url, opts, "application/json")).json();
  IM.getHTML = async (url, opts) => (await request(url, opts, "text/html")).text();

  let legendPromise = null;
  /** The enums' labels and colours from /api/v1/meta/legend: {key: {items: [...], by: {value: item}}}. */
  IM.legend = function () {
    if (!legendPromise) {
      legendPromise = IM.getJSON(cfg.api + "meta/legend").then((raw) => {
        const out = {};
        for (const [key, items] of Object.entries(raw)) {
          out[key] = { items, by: Object.fromEntries(items.map((i) => [i.value, i])) };
        }
        return out;
      });
      legendPromise.catch(() => (legendPromise = null));
    }
    return legendPromise;
  };

  IM.detailUrl = (kind, code) =>
    cfg.detailUrls && cfg.detailUrls[kind] ? cfg.detailUrls[kind].replace("__code__", encodeURIComponent(code)) : null;
  IM.featurePanelUrl = (kind, code) =>
    cfg.featurePanelUrl.replace("__kind__", encodeURIComponent(kind)).replace("__code__", encodeURIComponent(code));

  /* ---- maps ------------------------------------------------------------ */

  // Panes, bottom to top. Units (town/park polygons) are the base map; every
  // interactive feature shares one canvas ("data") so clicks reach the right
  // feature whatever layer it is in; the highlight draws above, click-through.
  const PANES = { units: 250, data: 420, outlines: 440, highlight: 460, cells: 620 };

  IM.createMap = function (el, options) {
    const map = L.map(el, Object.assign({ preferCanvas: true, minZoom: 3, maxZoom: 19, zoomSnap: 0.5, zoomDelta: 0.5, wheelPxPerZoomLevel: 90 }, options || {}));
    for (const [name, z] of Object.entries(PANES)) {
      const pane = map.createPane(name);
      pane.style.zIndex = z;
    }
    map.imRenderers = {
      units: L.canvas({ pane: "units", padding: 0.5 }),
      outlines: L.canvas({ pane: "outlines", padding: 0.5 }),
      data: L.canvas({ pane: "data", padding: 0.5, tolerance: 3 }),
      highlight: L.canvas({ pane: "highlight", padding: 0.5 }),
    };
    if (cfg.tileUrl) {
      L.tileLayer(cfg.tileUrl, { attribution: cfg.tileAttribution || "", maxZoom: 19 }).addTo(map);
    }
    // Until the user pans or zooms, a page map may re-fit its subject when it is resized.
    map.imUserMoved = false;
    const moved = () => (map.imUserMoved = true);
    map.on("dragstart", moved);
    el.addEventListener("wheel", moved, { passive: true });
    el.addEventListener("click", (e) => e.target.closest && e.target.closest(".leaflet-control-zoom") && moved());
    map.attributionControl.setPrefix('<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>');
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    // Layout settles after the map is created (fonts, scrollbars, grids): keep Leaflet's size right.
    if (window.ResizeObserver) {
      let last = [el.clientWidth, el.clientHeight];
      new ResizeObserver(() => {
        const now = [el.clientWidth, el.clientHeight];
        if (now[0] !== last[0] || now[1] !== last[1]) {
          last = now;
          map.invalidateSize({ animate: false });
          if (map.imRefit && !map.imUserMoved) map.imRefit();
        }
      }).observe(el);
    }
    return map;
  };

  IM.bboxParam = function (map) {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map((v) => v.toFixed(6))
      .join(",");
  };

  IM.parseBBox = function (text) {
    if (!text) return null;
    const parts = (Array.isArray(text) ? text : String(text).split(",")).map(Number);
    return parts.length === 4 && parts.every((v) => isFinite(v)) ? parts : null;
  };

  IM.fitBBox = function (map, bbox, opts) {
    bbox = IM.parseBBox(bbox);
    if (!bbox) return false;
    const sw = [bbox[1], bbox[0]];
    const ne = [bbox[3], bbox[2]];
    if (sw[0] === ne[0] && sw[1] === ne[1]) map.setView(sw, 16, opts);
    else map.fitBounds([sw, ne], Object.assign({ padding: [24, 24], maxZoom: 17 }, opts || {}));
    return true;
  };

  /* point-in-polygon for the base map's drill-down clicks (few polygons) */
  function ringContains(ring, x, y) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  IM.geometryContains = function (geom, lon, lat) {
    if (!geom) return false;
    const polys = geom.type === "Polygon" ? [geom.coordinates] : geom.type === "MultiPolygon" ? geom.coordinates : [];
    return polys.some((rings) => ringContains(rings[0], lon, lat) && !rings.slice(1).some((h) => ringContains(h, lon, lat)));
  };

  /** Towns and parks as the base map: light polygons with name labels. */
  IM.UnitsLayer = class {
    constructor(map, opts) {
      this.map = map;
      this.opts = Object.assign({ labels: true, parkLabelsFromZoom: 12 }, opts || {});
      this.towns = null;
      this.parks = null;
      this.features = { town: {}, park: {} };
      this.highlighted = null;
    }

    async load() {
      const [towns, parks] = await Promise.all(
        ["towns", "parks"].map((layer) => IM.getJSON(`${cfg.api}map/${layer}?zoom=12`))
      );
      const renderer = this.map.imRenderers.units;
      this.towns = L.geoJSON(towns, {
        renderer,
        interactive: false,
        style: () => IM.UnitsLayer.townStyle(false),
        onEachFeature: (f, layer) => {
          this.features.town[f.properties.code] = { feature: f, layer };
          if (this.opts.labels) {
            layer.bindTooltip(IM.esc(f.properties.name), { permanent: true, direction: "center", className: "unit-label town-label", interactive: false });
          }
        },
      }).addTo(this.map);
      this.parks = L.geoJSON(parks, {
        renderer,
        interactive: false,
        style: () => IM.UnitsLayer.parkStyle(false),
        onEachFeature: (f, layer) => {
          this.features.park[f.properties.code] = { feature: f, layer };
          if (this.opts.labels) {
            layer.bindTooltip(IM.esc(f.properties.name), { permanent: true, direction: "center", className: "unit-label park-label", interactive: false });
          }
        },
      }).addTo(this.map);
      // Boundaries again above the data (no fill, click-through), so grid cells and
      // parcels never hide where a town or park ends.
      const outline = (style) => Object.assign({}, style, { fill: false, renderer: this.map.imRenderers.outlines, interactive: false });
      this.townOutlines = L.geoJSON(towns, { renderer: this.map.imRenderers.outlines, interactive: false, style: () => outline(IM.UnitsLayer.townStyle(false)) }).addTo(this.map);
      this.parkOutlines = L.geoJSON(parks, { renderer: this.map.imRenderers.outlines, interactive: false, style: () => outline(IM.UnitsLayer.parkStyle(false)) }).addTo(this.map);
      this.townOutlines.eachLayer((l) => (this.features.town[l.feature.properties.code].outline = l));
      this.parkOutlines.eachLayer((l) => (this.features.park[l.feature.properties.code].outline = l));
      if (this.opts.labels) {
        const toggle = () => {
          const show = this.map.getZoom() >= this.opts.parkLabelsFromZoom;
          this.map.getContainer().classList.toggle("hide-park-labels", !show);
          this.map.getContainer().classList.toggle("hide-town-labels", this.map.getZoom() >= 15);
        };
        this.map.on("zoomend", toggle);
        toggle();
      }
      return this;
    }

    bounds() {
      return this.towns && this.towns.getLayers().length ? this.towns.getBounds() : null;
    }

    /** The park (first) or town containing a point: {level, code, name} or null. */
    locate(latlng) {
      for (const level of ["park", "town"]) {
        for (const [code, item] of Object.entries(this.features[level])) {
          if (IM.geometryContains(item.feature.geometry, latlng.lng, latlng.lat)) {
            return { level, code, name: item.feature.properties.name };
          }
        }
      }
      return null;
    }

    highlight(level, code) {
      const apply = (lvl, item, on) => {
        const style = lvl === "park" ? IM.UnitsLayer.parkStyle(on) : IM.UnitsLayer.townStyle(on);
        item.layer.setStyle(style);
        if (item.outline) item.outline.setStyle(Object.assign({}, style, { fill: false }));
      };
      if (this.highlighted) {
        apply(this.highlighted.level, this.highlighted.item, false);
        this.highlighted = null;
      }
      const item = this.features[level] && this.features[level][code];
      if (item) {
        apply(level, item, true);
        this.highlighted = { level, item };
      }
    }

    static townStyle(on) {
      return { color: on ? "#0d47a1" : "#4a6f9c", weight: on ? 3 : 1.4, fillColor: on ? "#e3eefc" : "#fbfcfe", fillOpacity: 0.9, opacity: 0.95 };
    }

    static parkStyle(on) {
      return { color: "#7b1fa2", weight: on ? 3 : 1.5, dashArray: on ? null : "6 4", fillColor: "#f3e5f5", fillOpacity: on ? 0.6 : 0.45, opacity: 0.9 };
    }
  };

  /** A layer of /api/v1/map/<name> features for the viewport; grid cells when aggregated. */
  IM.ApiLayer = class {
    constructor(map, name, opts) {
      this.map = map;
      this.name = name;
      this.opts = Object.assign({ rank: 0, enabled: true }, opts || {});
      this.enabled = this.opts.enabled;
      this.features = L.layerGroup();
      this.cells = L.layerGroup();
      this.ctrl = null;
      this.state = { drawn: 0, total: 0, aggregated: false, truncated: false, loading: false, error: null };
      this.last = null;
      if (this.enabled) this.addTo();
    }

    addTo() {
      this.features.addTo(this.map);
      this.cells.addTo(this.map);
    }

    setEnabled(on) {
      this.enabled = on;
      if (on) {
        this.addTo();
        return this.load();
      }
      if (this.ctrl) this.ctrl.abort();
      this.ctrl = null;
      this.features.clearLayers();
      this.cells.clearLayers();
      this.features.remove();
      this.cells.remove();
      Object.assign(this.state, { drawn: 0, total: 0, aggregated: false, truncated: false, loading: false, error: null });
      this.emit();
      return Promise.resolve();
    }

    /** The request for the current viewport; null when the filters leave nothing to show. */
    url() {
      const zoom = Math.max(0, Math.min(22, Math.round(this.map.getZoom())));
      const q = this.opts.query ? this.opts.query() : "";
      if (q === null) return null;
      return `${cfg.api}map/${this.name}?bbox=${IM.bboxParam(this.map)}&zoom=${zoom}${q ? "&" + q : ""}`;
    }

    async load() {
      if (!this.enabled) return;
      if (this.ctrl) this.ctrl.abort(); // the previous viewport's answer is no longer wanted
      const url = this.url();
      if (url === null) {
        this.ctrl = null;
        this.render({ type: "FeatureCollection", features: [], total: 0 });
        Object.assign(this.state, { drawn: 0, total: 0, aggregated: false, truncated: false, loading: false, error: null });
        this.emit();
        return;
      }
      const ctrl = (this.ctrl = new AbortController());
      this.state.loading = true;
      this.emit();
      try {
        const fc = await IM.getJSON(url, { signal: ctrl.signal });
        if (ctrl !== this.ctrl || !this.enabled) return;
        this.last = fc;
        this.render(fc);
        Object.assign(this.state, {
          drawn: fc.features.length,
          total: fc.total == null ? fc.features.length : fc.total,
          aggregated: !!fc.aggregated,
          truncated: !!fc.truncated,
          loading: false,
          error: null,
        });
      } catch (err) {
        if (err.name === "AbortError") return;
        Object.assign(this.state, { loading: false, error: String(err.message || err) });
      } finally {
        if (ctrl === this.ctrl) {
          this.ctrl = null;
          this.emit();
        }
      }
    }

    render(fc) {
      this.features.clearLayers();
      this.cells.clearLayers();
      if (fc.aggregated) {
        // Squares share the features' canvas (below the points); circles are markers.
        const target = this.opts.cells === "grid" ? this.features : this.cells;
        const maxCount = fc.features.reduce((m, f) => Math.max(m, f.properties.count || 0), 1);
        for (const f of fc.features) target.addLayer(this.cellMarker(f, maxCount));
      } else {
        const opts = this.opts;
        const geo = L.geoJSON(fc, {
          renderer: this.map.imRenderers.data,
          style: (f) => Object.assign({ renderer: this.map.imRenderers.data }, opts.style ? opts.style(f) : {}),
          pointToLayer: (f, latlng) =>
            L.circleMarker(latlng, Object.assign({ renderer: this.map.imRenderers.data, radius: 5 }, opts.pointStyle ? opts.pointStyle(f) : {})),
          onEachFeature: (f, layer) => {
            if (opts.tooltip) {
              const text = opts.tooltip(f);
              if (text) layer.bindTooltip(text, { sticky: true, direction: "top", opacity: 0.95 });
            }
            if (opts.onFeatureClick) layer.on("click", (e) => opts.onFeatureClick(this.name, f, layer, e));
          },
        });
        this.features.addLayer(geo);
      }
      if (this.opts.onRender) this.opts.onRender(this);
    }

    restyle() {
      if (!this.opts.style) return;
      this.features.eachLayer((g) => g.eachLayer && g.eachLayer((l) => l.feature && l.setStyle && l.setStyle(this.opts.style(l.feature))));
    }

    /** Bring every drawn feature above layers drawn before it (shared canvas keeps draw order). */
    bringToFront() {
      this.features.eachLayer((g) => {
        if (g.eachLayer) g.eachLayer((l) => l.bringToFront && l.bringToFront());
        else if (g.bringToFront) g.bringToFront();
      });
    }

    /** An aggregated grid cell: a tinted square for polygon layers, a sized circle with the count for points. */
    cellMarker(f, maxCount = 1) {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      const zoomIn = () => {
        if (p.cell) this.map.fitBounds([[p.cell[1], p.cell[0]], [p.cell[3], p.cell[2]]], { maxZoom: this.map.getZoom() + 3 });
        else this.map.setView([lat, lon], this.map.getZoom() + 2);
      };
      let layer;
      if (this.opts.cells === "grid" && p.cell) {
        // A mosaic: the cell split west → east into one slice per value, as wide as
        // its share, so idle or planned land shows where it clusters. The square's
        // side grows with the cell's count (relative to the fullest cell in view),
        // so a cell holding one parcel does not look like a cell holding a hundred.
        layer = L.featureGroup();
        const [x0, y0, x1, y1] = p.cell;
        const scale = 0.3 + 0.62 * Math.sqrt(Math.min(1, (p.count || 0) / maxCount));
        const insetX = ((x1 - x0) * (1 - scale)) / 2, insetY = ((y1 - y0) * (1 - scale)) / 2;
        const left = x0 + insetX, right = x1 - insetX, bottom = y0 + insetY, top = y1 - insetY;
        const order = this.opts.valueOrder ? this.opts.valueOrder() : null;
        const entries = Object.entries(p.by || {}).filter(([, n]) => n > 0);
        if (order) entries.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
        const total = entries.reduce((sum, [, n]) => sum + n, 0) || 1;
        let x = left;
        for (const [value, n] of entries) {
          const w = ((right - left) * n) / total;
          const color = this.opts.valueColor ? this.opts.valueColor(value) : p.color;
          L.rectangle([[bottom, x], [top, x + w]], {
            renderer: this.map.imRenderers.data,
            stroke: false,
            fillColor: color || p.color || "#1d5fb4",
            fillOpacity: 0.78,
          }).addTo(layer);
          x += w;
        }
        if (this.opts.cellTooltip) layer.bindTooltip(() => this.opts.cellTooltip(p), { sticky: true, direction: "top" });
      } else {
        const size = Math.round(Math.min(44, 18 + 7 * Math.log10(Math.max(1, p.count))));
        const icon = L.divIcon({
          className: "",
          html: `<div class="agg-icon" style="width:${size}px;height:${size}px;background:${IM.esc(p.color || "#1d5fb4")}">${IM.esc(IM.compact(p.count))}</div>`,
          iconSize: [size, size],
          iconAnchor: [size / 2, size / 2],
        });
        layer = L.marker([lat, lon], { icon, pane: "cells", keyboard: false, riseOnHover: true });
        if (this.opts.cellTooltip) layer.bindTooltip(() => this.opts.cellTooltip(p), { direction: "top", offset: [0, -size / 2] });
      }
      layer.on("click", zoomIn);
      return layer;
    }

    emit() {
      if (this.opts.onState) this.opts.onState(this);
    }
  };

  /** Tooltip of an aggregated cell: the count per value with the legend's labels. */
  IM.cellBreakdown = function (props, legendGroup) {
    const rows = Object.entries(props.by || {})
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([value, n]) => {
        const item = legendGroup && legendGroup.by[value];
        const color = item ? item.color : "#999";
        const label = item ? item.label : value;
        return `<div style="display:flex;gap:6px;align-items:center"><span class="dot" style="background:${IM.esc(color)}"></span>${IM.esc(label)}<b style="margin-left:auto;padding-left:10px">${IM.num(n)}</b></div>`;
      })
      .join("");
    return `<div><b>${IM.esc(IM.t("%(n)s in this area", { n: IM.num(props.count) }))}</b>${rows}</div>`;
  };

  /* ---- charts ---------------------------------------------------------- */

  const charts = new Set();
  window.addEventListener(
    "resize",
    IM.debounce(() => charts.forEach((c) => (c.isDisposed() ? charts.delete(c) : c.resize())), 150)
  );

  function baseChart(el) {
    const old = echarts.getInstanceByDom(el);
    if (old) old.dispose();
    const chart = echarts.init(el, null, { renderer: "canvas" });
    charts.add(chart);
    return chart;
  }

  const FONT = '-apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif';

  IM.pieChart = function (el, spec) {
    const chart = baseChart(el);
    const data = spec.data.filter((d) => d.value > 0);
    const total = data.reduce((s, d) => s + d.value, 0);
    chart.setOption({
      textStyle: { fontFamily: FONT },
      tooltip: {
        trigger: "item",
        formatter: (p) => `${IM.esc(p.name)}<br><b>${IM.num(p.value, 1)}</b> ${IM.esc(spec.unit || "")} (${p.percent}%)`,
      },
      legend: { orient: "vertical", right: 0, top: "middle", itemWidth: 10, itemHeight: 10, textStyle: { fontSize: 12 },
        formatter: (name) => {
          const d = data.find((x) => x.name === name);
          return d ? `${name}  ${IM.num(d.value, 0)}` : name;
        } },
      title: total ? { text: IM.num(total, 0), subtext: spec.unit || "", left: "29%", top: "40%", textAlign: "center",
        textStyle: { fontSize: 16, fontWeight: 700, color: "#15325c" }, subtextStyle: { fontSize: 11, color: "#6b7280" }, itemGap: 2 } : undefined,
      series: [{
        type: "pie",
        radius: ["48%", "74%"],
        center: ["30%", "50%"],
        avoidLabelOverlap: true,
        label: { show: false },
        labelLine: { show: false },
        itemStyle: { borderColor: "#fff", borderWidth: 1.5 },
        data: data.map((d) => ({ name: d.name, value: d.value, itemStyle: { color: d.color } })),
      }],
      animation: false,
    });
    el.dataset.rendered = String(data.length);
    return chart;
  };

  IM.barChart = function (el, spec) {
    const data = spec.data.filter((d) => d.value > 0);
    el.style.height = `${Math.max(110, data.length * 30 + 40)}px`;
    const chart = baseChart(el);
    chart.setOption({
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "item", formatter: (p) => `${IM.esc(p.name)}<br><b>${IM.num(p.value, 1)}</b> ${IM.esc(spec.unit || "")}` },
      xAxis: { type: "value", axisLabel: { formatter: (v) => IM.compact(v), fontSize: 11 }, splitLine: { lineStyle: { color: "#eef0f3" } } },
      yAxis: { type: "category", inverse: true, data: data.map((d) => d.name), axisLabel: { fontSize: 11.5, width: 150, overflow: "truncate" }, axisTick: { show: false } },
      series: [{
        type: "bar",
        barMaxWidth: 16,
        data: data.map((d) => ({ value: d.value, itemStyle: { color: d.color, borderRadius: [0, 3, 3, 0] } })),
        label: { show: true, position: "right", fontSize: 11, formatter: (p) => IM.num(p.value, 0) },
      }],
      animation: false,
    });
    el.dataset.rendered = String(data.length);
    return chart;
  };

  IM.indicatorChart = function (el, spec) {
    const chart = baseChart(el);
    const palette = { output_wan: "#1d5fb4", revenue_wan: "#26a69a", tax_wan: "#f9a825", employees: "#8e24aa" };
    const series = spec.series.map((s) =>
      s.key === "employees"
        ? { name: s.name, type: "line", yAxisIndex: 1, data: s.data, symbolSize: 7, smooth: false, itemStyle: { color: palette[s.key] }, lineStyle: { width: 2.5 }, connectNulls: false }
        : { name: s.name, type: "bar", data: s.data, barMaxWidth: 26, itemStyle: { color: palette[s.key] || "#607d8b", borderRadius: [3, 3, 0, 0] } }
    );
    chart.setOption({
      textStyle: { fontFamily: FONT },
      legend: { top: 0, textStyle: { fontSize: 12 } },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "—" : IM.num(v, 1)) },
      xAxis: { type: "category", data: spec.years.map(String), axisTick: { alignWithLabel: true } },
      yAxis: [
        { type: "value", name: IM.t("10k yuan"), axisLabel: { formatter: (v) => IM.compact(v) }, splitLine: { lineStyle: { color: "#eef0f3" } } },
        { type: "value", name: IM.t("Employees"), axisLabel: { formatter: (v) => IM.compact(v) }, splitLine: { show: false } },
      ],
      series,
      animation: false,
    });
    el.dataset.rendered = String(spec.years.length);
    return chart;
  };

  /** Draw every chart in `root`: elements with data-chart-src (a json_script id) and data-chart-type. */
  IM.initCharts = function (root) {
    if (typeof echarts === "undefined") return;
    (root || document).querySelectorAll("[data-chart-src]").forEach((el) => {
      const src = document.getElementById(el.dataset.chartSrc);
      if (!src) return;
      const spec = JSON.parse(src.textContent);
      const type = el.dataset.chartType || spec.type;
      if (type === "pie") IM.pieChart(el, spec);
      else if (type === "bar") IM.barChart(el, spec);
      else if (type === "indicators") IM.indicatorChart(el, spec);
    });
  };

  document.addEventListener("DOMContentLoaded", () => IM.initCharts(document));
})();
