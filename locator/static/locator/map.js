/* Live floor map: Leaflet in floor metres (L.CRS.Simple: lat = y north, lng = x east).
 *
 * One canvas renderer draws the room tints and every equipment marker (thousands stay smooth):
 * markers are CircleMarkers with their own drawing (shape + colour by status, letter by category).
 * Websocket messages are applied in one requestAnimationFrame batch; the socket reconnects with
 * backoff and asks for a fresh snapshot by itself. Protocol: docs/web.md.
 * No framework, no build step; Leaflet is vendored under vendor/leaflet/.
 */
(function () {
  "use strict";

  var cfgNode = document.getElementById("map-config");
  if (!cfgNode || !window.L) { return; }
  var cfg = JSON.parse(cfgNode.textContent);
  var assetMode = cfg.mode === "asset";
  var clockSkew = cfg.server_time - Date.now() / 1000; // server minus browser clock, seconds

  // ------------------------------------------------------------------ helpers
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function now() { return Date.now() / 1000 + clockSkew; }
  function ago(t) {
    if (t == null) { return "fixed in place"; }
    var s = Math.max(0, now() - t);
    if (s < 15) { return "just now"; }
    if (s < 60) { return Math.round(s) + " s ago"; }
    if (s < 3600) { return Math.round(s / 60) + " min ago"; }
    if (s < 86400) { var h = Math.floor(s / 3600), m = Math.round((s % 3600) / 60); return h + " h" + (m ? " " + m + " min" : "") + " ago"; }
    return new Date(t * 1000).toLocaleString();
  }
  function ll(x, y) { return L.latLng(y, x); }
  var statusByCode = {};
  cfg.statuses.forEach(function (s) { statusByCode[s.code] = s; });
  var roomById = {};
  cfg.rooms.forEach(function (r) { roomById[r.id] = r; });
  function roomText(id) {
    var r = roomById[id];
    return r ? (r.number + (r.name ? " " + r.name : "")) : "between rooms";
  }
  function typeOf(m) { return cfg.types[String(m.type)] || {name: "Equipment", letter: "?", category: ""}; }
  function assetUrl(id) { return cfg.asset_url.replace("{id}", id); }

  // ------------------------------------------------------------------ panel toggle (tablets): before the map
  // is created, so the map measures its final size.
  var toggle = document.getElementById("panel-toggle"), panel = document.getElementById("mappanel");
  var mapRef = null;
  function setPanel(open) {
    panel.classList.toggle("closed", !open);
    panel.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (mapRef) { setTimeout(function () { mapRef.invalidateSize(); }, 50); }
  }
  if (toggle && panel) {
    toggle.addEventListener("click", function () { setPanel(!panel.classList.contains("open")); });
    setPanel(!window.matchMedia("(max-width: 900px)").matches);
  }

  // ------------------------------------------------------------------ the map
  var map = L.map("map", {
    crs: L.CRS.Simple, zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 90, minZoom: -2, maxZoom: 7,
    attributionControl: false, keyboard: true, keyboardPanDelta: 120, preferCanvas: true, zoomControl: true,
  });
  mapRef = map;
  map.createPane("plan").style.zIndex = 250;
  map.createPane("trail").style.zIndex = 420;
  map.createPane("selection").style.zIndex = 450;
  map.getPane("selection").style.pointerEvents = "none";
  var renderer = L.canvas({padding: 0.3, tolerance: window.matchMedia("(pointer: coarse)").matches ? 8 : 3});
  renderer.addTo(map);
  var overlayRenderer = L.svg({pane: "selection"});
  var trailRenderer = L.svg({pane: "trail"});

  var extent = L.latLngBounds(cfg.floor.extent);
  if (cfg.floor.plan_url && cfg.floor.plan_bounds) {
    L.imageOverlay(cfg.floor.plan_url, cfg.floor.plan_bounds, {pane: "plan", alt: "Floor plan of " + cfg.floor.name,
      interactive: false}).addTo(map);
  }
  map.fitBounds(extent, {padding: [16, 16]});
  map.setMinZoom(Math.floor(map.getZoom()) - 1);
  if (!assetMode) { map.setMaxBounds(extent.pad(0.6)); }

  // ------------------------------------------------------------------ room tints
  function makePattern(base, line, kind) {
    var c = document.createElement("canvas");
    c.width = c.height = 10;
    var x = c.getContext("2d");
    x.fillStyle = base; x.fillRect(0, 0, 10, 10);
    x.strokeStyle = line; x.fillStyle = line; x.lineWidth = 2;
    if (kind === "stripes") { x.beginPath(); x.moveTo(-2, 12); x.lineTo(12, -2); x.moveTo(-2, 2); x.lineTo(2, -2); x.moveTo(8, 12); x.lineTo(12, 8); x.stroke(); }
    if (kind === "dots") { x.beginPath(); x.arc(5, 5, 1.6, 0, 7); x.fill(); }
    if (kind === "cross") { x.lineWidth = 1; x.beginPath(); x.moveTo(0, 0); x.lineTo(10, 10); x.moveTo(10, 0); x.lineTo(0, 10); x.stroke(); }
    return renderer._ctx.createPattern(c, "repeat");
  }
  var ROOM_STYLE = {
    alarm: {fillColor: makePattern("rgba(217,45,32,.22)", "rgba(217,45,32,.7)", "stripes"), color: "#b42318", weight: 3, fillOpacity: 1},
    warning: {fillColor: makePattern("rgba(247,144,9,.2)", "rgba(181,71,8,.75)", "dots"), color: "#b54708", weight: 2.5, fillOpacity: 1},
    normal: {fillColor: "rgba(18,183,106,.14)", color: "#12b76a", weight: 1.2, fillOpacity: 1},
    no_data: {fillColor: makePattern("rgba(152,162,179,.16)", "rgba(102,112,133,.35)", "cross"), color: "#98a2b3", weight: 1.2, fillOpacity: 1},
    none: {fillColor: "#000", color: "#000", weight: 0, fillOpacity: 0},
  };
  var roomStates = cfg.room_states || {};
  var roomLayers = {};
  cfg.rooms.forEach(function (r) {
    var poly = L.polygon(r.polygon.map(function (p) { return ll(p[0], p[1]); }),
      L.extend({renderer: renderer, fill: true, stroke: true, opacity: 1, interactive: true, bubblingMouseEvents: false},
        ROOM_STYLE[roomStates[r.id] || "none"]));
    poly.room = r;
    poly.on("mouseover", function (e) { showTip(e.latlng, roomTip(r)); });
    poly.on("mousemove", function (e) { hoverTip.setLatLng(e.latlng); });
    poly.on("mouseout", hideTip);
    poly.on("click", function (e) { openRoom(r, e.latlng); });
    poly.addTo(map);
    roomLayers[r.id] = poly;
  });
  function stateLabel(id) {
    var s = roomStates[id];
    return s ? cfg.room_state_labels[s] : "Not monitored";
  }
  function roomTip(r) {
    var s = roomStates[r.id];
    return "<strong>" + esc(r.number) + "</strong> " + esc(r.name) +
      (s ? '<br><span class="rs rs-' + s + '"></span>Environment: ' + esc(cfg.room_state_labels[s]) : "");
  }
  function applyRoomStates(states) {
    roomStates = states || {};
    Object.keys(roomLayers).forEach(function (id) {
      roomLayers[id].setStyle(ROOM_STYLE[roomStates[id] || "none"]);
    });
    updateRoomLegend();
  }

  // ------------------------------------------------------------------ equipment markers
  var STYLE = {
    available: {fill: "#1a7f37", stroke: "#0b3d1a", text: "#fff"},
    in_use: {fill: "#0b5cad", stroke: "#052b52", text: "#fff"},
    needs_cleaning: {fill: "#f5a524", stroke: "#7a4100", text: "#1b1f24"},
    in_maintenance: {fill: "#5b6572", stroke: "#1f242b", text: "#fff"},
    out_of_service: {fill: "#b42318", stroke: "#4d0e09", text: "#fff"},
    missing: {fill: "#ffffff", stroke: "#6d28d9", text: "#6d28d9", dash: [3, 2]},
  };
  var SHAPES = {
    circle: function (c, x, y, r) { c.arc(x, y, r * 0.95, 0, Math.PI * 2); },
    ring: function (c, x, y, r) { c.arc(x, y, r * 0.9, 0, Math.PI * 2); },
    square: function (c, x, y, r) { var h = r * 0.82; c.rect(x - h, y - h, 2 * h, 2 * h); },
    triangle: function (c, x, y, r) { c.moveTo(x, y - r * 1.15); c.lineTo(x + r * 1.1, y + r * 0.8); c.lineTo(x - r * 1.1, y + r * 0.8); c.closePath(); },
    diamond: function (c, x, y, r) { var d = r * 1.12; c.moveTo(x, y - d); c.lineTo(x + d, y); c.lineTo(x, y + d); c.lineTo(x - d, y); c.closePath(); },
    octagon: function (c, x, y, r) {
      for (var i = 0; i < 8; i++) { var a = Math.PI / 8 + i * Math.PI / 4; c[i ? "lineTo" : "moveTo"](x + r * Math.cos(a), y + r * Math.sin(a)); }
      c.closePath();
    },
  };
  var RADIUS = window.matchMedia("(pointer: coarse)").matches ? 10 : 9;
  // Zoomed far out a busy floor is a carpet of markers: draw them smaller (and without letters).
  function radiusAt(zoom) {
    var pxPerMetre = Math.pow(2, zoom);
    return pxPerMetre < 7 ? 5 : pxPerMetre < 11 ? 7 : RADIUS;
  }

  var EquipmentMarker = L.CircleMarker.extend({
    _project: function () {
      this._radius = radiusAt(this._map.getZoom());
      L.CircleMarker.prototype._project.call(this);
    },
    _updateBounds: function () {
      var p = this._radius + 8 + this._clickTolerance();
      this._pxBounds = new L.Bounds(this._point.subtract([p, p]), this._point.add([p, p]));
    },
    _containsPoint: function (p) {
      return !this.rec.hidden && p.distanceTo(this._point) <= this._radius + this._clickTolerance();
    },
    _updatePath: function () {
      var R = this._renderer;
      if (!R._drawing || this._empty() || this.rec.hidden) { return; }
      var rec = this.rec, ctx = R._ctx, p = this._point, r = this._radius;
      var st = STYLE[rec.status] || STYLE.missing;
      var shape = (statusByCode[rec.status] || {}).shape || "circle";
      ctx.globalAlpha = rec.stale ? 0.45 : 1;
      if (rec.highlight) {
        ctx.beginPath(); ctx.arc(p.x, p.y, r + 6, 0, Math.PI * 2);
        ctx.setLineDash([]); ctx.lineWidth = 3.5; ctx.strokeStyle = "#ff7a00"; ctx.stroke();
      }
      ctx.beginPath(); SHAPES[shape](ctx, p.x, p.y, r);
      ctx.fillStyle = st.fill; ctx.fill();
      ctx.setLineDash(st.dash || []); ctx.lineWidth = st.dash ? 2 : 1.4; ctx.strokeStyle = st.stroke; ctx.stroke();
      ctx.setLineDash([]);
      if (rec.selected) {
        ctx.beginPath(); ctx.arc(p.x, p.y, r + 3.5, 0, Math.PI * 2);
        ctx.lineWidth = 2.5; ctx.strokeStyle = "#101828"; ctx.stroke();
      }
      if (r >= 7) {
        ctx.fillStyle = st.text;
        ctx.font = "700 " + (r + 1) + "px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
        ctx.textAlign = "center"; ctx.textBaseline = "middle";
        ctx.fillText(typeOf(rec).letter, p.x, p.y + (shape === "triangle" ? r * 0.22 : 0.5));
      }
      ctx.globalAlpha = 1;
    },
  });

  var markers = new Map();   // asset id -> record {asset, tag, x, y, ..., layer}
  var tagIndex = new Map();  // tag id -> asset id
  var ignoredTags = new Set();
  var selectedId = null;
  var focus = new Set(cfg.focus || []);
  var group = L.featureGroup().addTo(map);

  function isStale(rec) { return !rec.fixed && rec.seen != null && now() - rec.seen > cfg.stale_after_s; }

  function upsert(m) {
    var rec = markers.get(m.asset);
    if (rec && rec.t != null && m.t != null && m.t < rec.t) { // older than what we show: keep ours, take details
      ["status", "type", "make", "model", "dept", "due", "number"].forEach(function (k) { rec[k] = m[k]; });
      rec.layer.redraw();
      return rec;
    }
    if (!rec) {
      rec = {asset: m.asset};
      markers.set(m.asset, rec);
    }
    if (rec.tag != null && rec.tag !== m.tag) { tagIndex.delete(rec.tag); }
    L.extend(rec, m);
    if (m.tag != null) { tagIndex.set(m.tag, m.asset); ignoredTags.delete(m.tag); }
    rec.stale = isStale(rec);
    rec.highlight = focus.has(rec.asset);
    rec.selected = rec.asset === selectedId;
    rec.hidden = !passes(rec);
    if (!rec.layer) {
      rec.layer = new EquipmentMarker(ll(rec.x, rec.y), {renderer: renderer, radius: RADIUS, weight: 2, interactive: true});
      rec.layer.rec = rec;
      group.addLayer(rec.layer);
    } else {
      rec.layer.setLatLng(ll(rec.x, rec.y));
    }
    return rec;
  }
  function removeMarker(id) {
    var rec = markers.get(id);
    if (!rec) { return; }
    group.removeLayer(rec.layer);
    if (rec.tag != null) { tagIndex.delete(rec.tag); }
    markers.delete(id);
    if (selectedId === id) { deselect(); }
  }

  // ------------------------------------------------------------------ hover, popup, selection
  var hoverTip = L.tooltip({direction: "top", offset: [0, -12], opacity: 0.96, className: "maptip"});
  function showTip(latlng, html) { hoverTip.setLatLng(latlng).setContent(html); if (!map.hasLayer(hoverTip)) { hoverTip.addTo(map); } }
  function hideTip() { if (map.hasLayer(hoverTip)) { map.removeLayer(hoverTip); } }
  function markerTip(rec) {
    var s = statusByCode[rec.status] || {label: rec.status};
    return "<strong>" + esc(rec.number) + "</strong> " + esc(typeOf(rec).name) + "<br>" +
      glyph(rec.status) + esc(s.label) + " · " + esc(roomText(rec.room)) + (rec.fixed ? "" : " · " + esc(ago(rec.seen)));
  }
  function glyph(status) {
    var s = statusByCode[status] || {shape: "circle"};
    return '<i class="glyph ' + s.shape + " s-" + esc(status) + '" aria-hidden="true"></i>';
  }
  group.on("mouseover", function (e) { showTip(e.layer.getLatLng(), markerTip(e.layer.rec)); });
  group.on("mouseout", hideTip);
  group.on("click", function (e) { L.DomEvent.stop(e); select(e.layer.rec.asset, {pan: false}); });

  var popup = L.popup({maxWidth: 340, minWidth: 240, autoPanPadding: [30, 30], className: "mappopup"});
  var accuracy = null;

  function popupHtml(rec) {
    var s = statusByCode[rec.status] || {label: rec.status};
    var dept = cfg.departments[String(rec.dept)];
    var rows = [
      ["Status", glyph(rec.status) + "<strong>" + esc(s.label) + "</strong>"],
      ["Make, model", esc([rec.make, rec.model].filter(Boolean).join(" "))],
      ["Room", esc(roomText(rec.room))],
      ["Last seen", rec.fixed ? "Fixed equipment (installed here)" : esc(ago(rec.seen)) + (rec.accuracy_m ? " · within " + rec.accuracy_m.toFixed(1) + " m" : "")],
    ];
    if (dept) { rows.push(["Department", esc(dept)]); }
    if (rec.due) { rows.push(["Maintenance due", esc(rec.due)]); }
    return '<div class="pp"><div class="pp-title"><span class="pp-num">' + esc(rec.number) + "</span> " +
      esc(typeOf(rec).name) + '</div><dl class="pp-facts">' + rows.map(function (r) {
        return "<dt>" + r[0] + "</dt><dd>" + r[1] + "</dd>";
      }).join("") + '</dl><a class="pp-link" href="' + esc(assetUrl(rec.asset)) + '">Open asset page →</a></div>';
  }

  function select(id, opts) {
    opts = opts || {};
    var rec = markers.get(id);
    if (!rec) { return false; }
    if (selectedId !== null && selectedId !== id) {
      var old = markers.get(selectedId);
      if (old) { old.selected = false; old.layer.redraw(); }
    }
    selectedId = id;
    rec.selected = true;
    rec.layer.redraw();
    drawAccuracy(rec);
    if (opts.pan !== false) {
      map.setView(ll(rec.x, rec.y), Math.max(map.getZoom(), opts.zoom || 3.5), {animate: !opts.instant});
    }
    if (opts.popup !== false) { popup.setLatLng(ll(rec.x, rec.y)).setContent(popupHtml(rec)).openOn(map); }
    highlightListRow();
    return true;
  }
  function deselect() {
    var rec = markers.get(selectedId);
    if (rec) { rec.selected = false; rec.layer.redraw(); }
    selectedId = null;
    if (accuracy) { map.removeLayer(accuracy); accuracy = null; }
    highlightListRow();
  }
  function drawAccuracy(rec) {
    if (accuracy) { map.removeLayer(accuracy); accuracy = null; }
    if (!rec.fixed && rec.accuracy_m > 0) {
      accuracy = L.circle(ll(rec.x, rec.y), {radius: rec.accuracy_m, renderer: overlayRenderer, pane: "selection",
        color: "#0b5cad", weight: 1.5, fillColor: "#2e90fa", fillOpacity: 0.14, dashArray: "4 3", interactive: false}).addTo(map);
    }
  }
  map.on("popupclose", function (e) { if (e.popup === popup) { deselect(); } });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && (popup.isOpen() || selectedId !== null)) { map.closePopup(); deselect(); }
  });

  function openRoom(r, latlng) {
    var here = [];
    markers.forEach(function (rec) { if (rec.room === r.id && !rec.hidden) { here.push(rec); } });
    here.sort(function (a, b) { return a.number < b.number ? -1 : 1; });
    var s = roomStates[r.id];
    var html = '<div class="pp"><div class="pp-title"><span class="pp-num">' + esc(r.number) + "</span> " + esc(r.name) +
      '</div><dl class="pp-facts"><dt>Type</dt><dd>' + esc(r.type) + "</dd>" +
      (r.department ? "<dt>Department</dt><dd>" + esc(r.department) + "</dd>" : "") +
      "<dt>Environment</dt><dd>" + (s ? '<span class="rs rs-' + s + '"></span>' : "") + esc(stateLabel(r.id)) + "</dd></dl>" +
      (here.length ? '<p class="pp-sub">' + here.length + " device" + (here.length === 1 ? "" : "s") + ' here</p><ul class="pp-list">' +
        here.slice(0, 12).map(function (rec) {
          return '<li>' + glyph(rec.status) + '<a href="' + esc(assetUrl(rec.asset)) + '">' + esc(rec.number) + "</a> " + esc(typeOf(rec).name) + "</li>";
        }).join("") + (here.length > 12 ? "<li>and " + (here.length - 12) + " more</li>" : "") + "</ul>"
        : '<p class="pp-sub">No equipment shown in this room.</p>') + "</div>";
    popup.setLatLng(latlng).setContent(html).openOn(map);
  }

  // ------------------------------------------------------------------ filters and the list (keyboard access)
  var $ = function (id) { return document.getElementById(id); };
  var filterText = $("f-text"), filterType = $("f-type"), filterDept = $("f-dept");
  var statusBoxes = Array.prototype.slice.call(document.querySelectorAll("[data-status-filter]"));
  var listEl = $("equipment-list"), listCount = $("list-count"), listMore = $("list-more");
  var STORE_KEY = "hospitalMapFilters";

  function currentFilters() {
    var statuses = {};
    statusBoxes.forEach(function (b) { statuses[b.value] = b.checked; });
    return {text: filterText ? filterText.value.trim().toLowerCase() : "", type: filterType ? filterType.value : "",
      dept: filterDept ? filterDept.value : "", statuses: statuses};
  }
  var filters = {text: "", type: "", dept: "", statuses: {}};
  function passes(rec) {
    if (assetMode) { return focus.has(rec.asset); }
    if (filters.statuses[rec.status] === false) { return false; }
    if (filters.type && String(rec.type) !== filters.type) { return false; }
    if (filters.dept && String(rec.dept) !== filters.dept) { return false; }
    if (filters.text) {
      var hay = (rec.number + " " + typeOf(rec).name + " " + (rec.make || "") + " " + (rec.model || "")).toLowerCase();
      if (hay.indexOf(filters.text) < 0) { return false; }
    }
    return true;
  }
  function refilter() {
    filters = currentFilters();
    try { sessionStorage.setItem(STORE_KEY, JSON.stringify(filters)); } catch (e) { /* private mode */ }
    markers.forEach(function (rec) { rec.hidden = !passes(rec); });
    fullRedraw();
    renderList();
  }
  (function restoreFilters() {
    if (assetMode) { return; }
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null"); } catch (e) { saved = null; }
    if (saved) {
      if (filterText) { filterText.value = saved.text || ""; }
      if (filterType) { filterType.value = saved.type || ""; }
      if (filterDept) { filterDept.value = saved.dept || ""; }
      statusBoxes.forEach(function (b) { if (saved.statuses && saved.statuses[b.value] === false) { b.checked = false; } });
    }
    filters = currentFilters();
  })();
  var refilterTimer = null;
  function refilterSoon() { clearTimeout(refilterTimer); refilterTimer = setTimeout(refilter, 120); }
  [filterText, filterType, filterDept].concat(statusBoxes).forEach(function (el) {
    if (el) { el.addEventListener("input", refilterSoon); el.addEventListener("change", refilterSoon); }
  });
  var reset = $("f-reset");
  if (reset) {
    reset.addEventListener("click", function () {
      if (filterText) { filterText.value = ""; }
      if (filterType) { filterType.value = ""; }
      if (filterDept) { filterDept.value = ""; }
      statusBoxes.forEach(function (b) { b.checked = true; });
      refilter();
    });
  }

  var LIST_LIMIT = 150;
  function renderList() {
    if (!listEl) { return; }
    var shown = [], counts = {};
    markers.forEach(function (rec) {
      counts[rec.status] = (counts[rec.status] || 0) + 1;
      if (!rec.hidden) { shown.push(rec); }
    });
    document.querySelectorAll("[data-count]").forEach(function (el) { el.textContent = counts[el.getAttribute("data-count")] || 0; });
    shown.sort(function (a, b) {
      var fa = focus.has(a.asset) ? 0 : 1, fb = focus.has(b.asset) ? 0 : 1;
      if (fa !== fb) { return fa - fb; }
      var ta = typeOf(a).name, tb = typeOf(b).name;
      return ta < tb ? -1 : ta > tb ? 1 : (a.number < b.number ? -1 : 1);
    });
    listCount.textContent = shown.length + " shown";
    var frag = document.createDocumentFragment();
    shown.slice(0, LIST_LIMIT).forEach(function (rec) {
      var li = document.createElement("li");
      var s = statusByCode[rec.status] || {label: rec.status};
      li.innerHTML = '<button type="button" class="eq" data-asset="' + rec.asset + '"' + (rec.asset === selectedId ? ' aria-current="true"' : "") + ">" +
        glyph(rec.status) + '<span class="eq-main"><span class="eq-num">' + esc(rec.number) + "</span> " + esc(typeOf(rec).name) +
        '</span><span class="eq-sub">' + esc(s.label) + " · " + esc(roomById[rec.room] ? roomById[rec.room].number : "between rooms") +
        (rec.stale ? " · not heard " + esc(ago(rec.seen)) : "") + "</span></button>";
      frag.appendChild(li);
    });
    listEl.replaceChildren(frag);
    if (!shown.length) {
      listMore.textContent = markers.size ? "Nothing matches these filters. Choose \u201cShow everything\u201d to clear them." :
        "No tracked equipment on this floor right now. Tagged devices appear here as soon as a gateway hears them.";
    } else {
      listMore.textContent = shown.length > LIST_LIMIT ? "The first " + LIST_LIMIT + " are listed: narrow the filters to see the rest." : "";
    }
    listDirty = false;
  }
  function highlightListRow() {
    if (!listEl) { return; }
    listEl.querySelectorAll("button[aria-current]").forEach(function (b) { b.removeAttribute("aria-current"); });
    if (selectedId !== null) {
      var b = listEl.querySelector('button[data-asset="' + selectedId + '"]');
      if (b) { b.setAttribute("aria-current", "true"); }
    }
  }
  if (listEl) {
    listEl.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-asset]");
      if (b) { select(Number(b.getAttribute("data-asset")), {zoom: 4}); }
    });
    listEl.addEventListener("keydown", function (e) {  // arrow keys walk the list
      if (e.key !== "ArrowDown" && e.key !== "ArrowUp") { return; }
      var li = e.target.closest("li");
      var next = li && (e.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling);
      if (next) { e.preventDefault(); next.querySelector("button").focus(); }
    });
  }
  var listDirty = false;
  setInterval(function () { if (listDirty) { renderList(); } }, 2000);

  // ------------------------------------------------------------------ legend (room states counts)
  function updateRoomLegend() {
    var counts = {};
    Object.keys(roomStates).forEach(function (k) { counts[roomStates[k]] = (counts[roomStates[k]] || 0) + 1; });
    document.querySelectorAll("[data-room-count]").forEach(function (el) { el.textContent = counts[el.getAttribute("data-room-count")] || 0; });
  }
  updateRoomLegend();

  // ------------------------------------------------------------------ batching updates into animation frames
  var pending = new Map();
  var frameRequested = false;
  var redrawAll = false;
  function fullRedraw() { redrawAll = true; requestFrame(); }
  function requestFrame() {
    if (!frameRequested) { frameRequested = true; requestAnimationFrame(flush); }
  }
  function flush() {
    frameRequested = false;
    var started = performance.now();
    var moved = 0;
    pending.forEach(function (m, assetId) {
      var rec = markers.get(assetId);
      if (!rec || (rec.t != null && m.t < rec.t)) { return; }
      rec.x = m.x; rec.y = m.y; rec.accuracy_m = m.accuracy_m; rec.t = m.t;
      if (rec.room !== m.room) { listDirty = true; }
      rec.room = m.room;
      rec.seen = Math.max(rec.seen || 0, m.t);
      rec.stale = false;
      rec.layer.setLatLng(ll(m.x, m.y));
      if (assetId === selectedId) {
        drawAccuracy(rec);
        if (popup.isOpen()) { popup.setLatLng(ll(rec.x, rec.y)).setContent(popupHtml(rec)); }
      }
      moved++;
    });
    pending.clear();
    // Draw in this frame rather than the next: cancel Leaflet's own request and redraw now (the union
    // of the moved markers' old and new boxes, or everything after a filter change or a snapshot).
    if (moved || redrawAll) {
      if (renderer._redrawRequest) { L.Util.cancelAnimFrame(renderer._redrawRequest); renderer._redrawRequest = null; }
      if (redrawAll) { renderer._redrawBounds = null; }
      redrawAll = false;
      renderer._redraw();
    }
    state.moves += moved;
    if (moved) { state.lastFlushMs = performance.now() - started; state.lastFlushCount = moved; }
  }

  // ------------------------------------------------------------------ websocket: snapshot, deltas, reconnect
  var live = $("live-status");
  function setLive(kind, text) {
    if (!live) { return; }
    live.className = "live live-" + kind;
    live.querySelector(".text").innerHTML = text;
  }
  var ws = null, attempt = 0, retryTimer = null, pingTimer = null, pongDue = null, describeTimer = null;
  var unknownTags = new Set();
  var state = {ready: false, snapshots: 0, deltas: 0, moves: 0, connected: false, lastMessageAt: 0, lastFlushMs: 0,
    lastFlushCount: 0, lastSnapshotMs: 0};

  function send(obj) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); } }
  function connect() {
    clearTimeout(retryTimer);
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + cfg.ws_url;
    setLive("connecting", "Connecting\u2026");
    try { ws = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    ws.onopen = function () { attempt = 0; state.connected = true; setLive("ok", "Live"); startPing(); };
    ws.onmessage = function (e) {
      state.lastMessageAt = Date.now();
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      handle(msg);
    };
    ws.onclose = function (e) {
      state.connected = false;
      stopPing();
      if (e.code === 4401) {
        setLive("bad", 'Signed out. <a href="/accounts/login/?next=' + encodeURIComponent(location.pathname + location.search) + '">Log in again</a>');
        return;
      }
      if (e.code === 4403 || e.code === 4404) { setLive("bad", "This map is not available to you."); return; }
      scheduleReconnect();
    };
  }
  function scheduleReconnect() {
    var delay = Math.min(30, Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    attempt = Math.min(attempt + 1, 6);
    setLive("retry", "Connection lost \u2013 reconnecting in " + Math.max(1, Math.round(delay)) + " s (positions may be out of date)");
    retryTimer = setTimeout(connect, delay * 1000);
  }
  function startPing() {
    stopPing();
    pingTimer = setInterval(function () {
      if (pongDue && Date.now() > pongDue) { ws.close(); return; } // half-open connection: start again
      pongDue = Date.now() + 10000;
      send({type: "floor.ping"});
    }, 25000);
  }
  function stopPing() { clearInterval(pingTimer); pingTimer = null; pongDue = null; }
  function askDescribe() {
    clearTimeout(describeTimer);
    describeTimer = setTimeout(function () {
      if (!unknownTags.size) { return; }
      var tags = Array.from(unknownTags).slice(0, 500);
      tags.forEach(function (t) { unknownTags.delete(t); ignoredTags.add(t); }); // until described
      send({type: "floor.describe", tags: tags});
    }, 250);
  }

  function handle(msg) {
    switch (msg.type) {
    case "floor.snapshot": {
      var t0 = performance.now();
      var seen = new Set();
      msg.markers.forEach(function (m) { seen.add(m.asset); upsert(m); });
      Array.from(markers.keys()).forEach(function (id) { if (!seen.has(id)) { removeMarker(id); } });
      ignoredTags.clear();
      applyRoomStates(msg.rooms);
      state.snapshots++;
      redrawAll = true;
      flush();
      renderList();
      state.lastSnapshotMs = performance.now() - t0;
      if (!state.ready) { state.ready = true; onFirstSnapshot(); }
      else if (selectedId !== null && markers.has(selectedId) && popup.isOpen()) { popup.setContent(popupHtml(markers.get(selectedId))); }
      break;
    }
    case "floor.markers": {
      state.deltas++;
      msg.markers.forEach(function (m) {
        var assetId = tagIndex.get(m.tag);
        if (assetId === undefined) {
          if (!ignoredTags.has(m.tag) && !assetMode) { unknownTags.add(m.tag); }
          return;
        }
        var prev = pending.get(assetId);
        if (!prev || prev.t <= m.t) { pending.set(assetId, m); }
      });
      (msg.gone || []).forEach(function (tag) {
        var id = tagIndex.get(tag);
        if (id !== undefined) { pending.delete(id); removeMarker(id); listDirty = true; }
      });
      if (unknownTags.size) { askDescribe(); }
      requestFrame();
      if (assetMode) { checkLeftFloor(msg.gone || []); }
      break;
    }
    case "floor.assets": {
      msg.markers.forEach(function (m) { if (!assetMode || focus.has(m.asset)) { upsert(m); } });
      if (selectedId !== null && popup.isOpen() && markers.has(selectedId)) { popup.setContent(popupHtml(markers.get(selectedId))); }
      listDirty = true;
      break;
    }
    case "floor.rooms":
      applyRoomStates(msg.rooms);
      break;
    case "floor.pong":
      pongDue = null;
      break;
    }
  }

  function onFirstSnapshot() {
    var first = (cfg.focus || []).find(function (id) { return markers.has(id); });
    if (first !== undefined) {
      select(first, {zoom: assetMode ? 3.5 : 4, instant: true, popup: !assetMode});
    } else if (assetMode && trailLine) {
      map.fitBounds(trailLine.getBounds().pad(0.3), {maxZoom: 4});
    }
  }

  function checkLeftFloor(goneTags) {
    var note = $("moved-note");
    cfg.focus.forEach(function (id) {
      var rec = markers.get(id);
      if (!rec && note) { note.hidden = false; }
    });
    return goneTags;
  }

  // Periodic resynchronisation: room tints every minute, a full snapshot every five minutes (clears any
  // marker whose floor change was missed), and stale markers faded every 30 s.
  setInterval(function () { send({type: "floor.rooms"}); }, 60000);
  setInterval(function () { send({type: "floor.snapshot"}); }, 300000);
  setInterval(function () {
    var changed = false;
    markers.forEach(function (rec) { var s = isStale(rec); if (s !== rec.stale) { rec.stale = s; changed = true; } });
    if (changed) { fullRedraw(); listDirty = true; }
  }, 30000);
  var hiddenSince = null;
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { hiddenSince = Date.now(); return; }
    if (hiddenSince && Date.now() - hiddenSince > 30000) { send({type: "floor.snapshot"}); }
    hiddenSince = null;
  });

  // ------------------------------------------------------------------ asset page: the trail
  var trailLine = null;
  if (assetMode && cfg.trail && cfg.trail.length) {
    var pts = cfg.trail.map(function (p) { return ll(p.x, p.y); });
    trailLine = L.polyline(pts, {renderer: trailRenderer, pane: "trail", color: "#6941c6", weight: 3, opacity: 0.85,
      dashArray: "6 4", interactive: false}).addTo(map);
    cfg.trail.forEach(function (p, i) {
      var last = i === cfg.trail.length - 1;
      L.circleMarker(ll(p.x, p.y), {renderer: trailRenderer, pane: "trail", radius: i === 0 || last ? 5 : 3.5,
        color: "#fff", weight: 1.5, fillColor: i === 0 ? "#101828" : "#6941c6", fillOpacity: 1})
        .bindTooltip(esc(new Date(p.t * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})) + " \u00b7 " + esc(p.room || "between rooms") +
          (i === 0 ? " (start of trail)" : ""), {direction: "top"})
        .addTo(map);
    });
  }

  // For people and for the browser tests: the live state of the map.
  window.hospitalMap = {
    map: map, state: state, markers: markers,
    position: function (assetId) {
      var r = markers.get(assetId);
      return r ? {x: r.x, y: r.y, room: r.room, status: r.status, hidden: !!r.hidden, t: r.t} : null;
    },
    select: select,
    resync: function () { send({type: "floor.snapshot"}); },
    drop: function () { if (ws) { ws.close(); } },  // as if the network dropped: reconnects by itself
    redrawMs: function () { var t = performance.now(); renderer._redrawBounds = null; renderer._redraw(); return performance.now() - t; },
  };
  connect();
})();
