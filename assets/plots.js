/* The embedding scatter and the map talk to the server through two stores, written here, straight from plotly's
   events: a zoom, a pan or a reset writes the figure's relayout store; a lasso or a box writes the selection
   store. Doing it here, rather than through dcc.Graph's relayoutData / selectedData props and a callback, saves
   one round of Dash's renderer (about 100 ms at 549,488 points) before the server is asked to draw. Relayouts
   that do not move the view (plotly's first autosize, drawing a selection, a drag-mode switch) are not sent:
   each would cost a render. The plot area's size in device pixels goes to a size store, so the server draws one
   image pixel per screen pixel (a 1366x768 laptop gets a quarter of the pixels of a fixed 960x640 raster).
   A zoom or a pan of the scatter skips Dash altogether: the new view, with the colouring, filters and selection
   of the last render (the figure's layout.meta, set by the server), is posted to /eomine/render/scatter, and
   the image and hover grid it answers are swapped in with one Plotly.update; the view store is written after,
   for the URL, hover and clicks. One request at a time per graph: views that arrive meanwhile are coalesced
   into the latest. When a render of Dash lands with an image that no longer matches the axes (the user zoomed
   while it was on its way), the image is redrawn for the axes the same way. Anything that fails falls back to
   the relayout store, i.e. to the Dash callback.
   The mouse wheel over a plot area zooms here, not in plotly: plotly waits 50 ms after the last notch before it
   says the range changed (and lays the axes out twice); this applies the same zoom (plotly's factor per notch,
   around the pointer) once per animation frame with one Plotly.relayout, whose event starts the render. */
(function () {
  "use strict";
  function set(id, data) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, {data: data});
    }
  }
  function moved(r) {
    return Object.keys(r || {}).some(function (k) {
      return k.indexOf("xaxis.range") === 0 || k.indexOf("yaxis.range") === 0 || /autorange$/.test(k);
    });
  }
  function lat(y) { return Math.atan(Math.sinh(y * Math.PI / 180)) * 180 / Math.PI; }
  function r7(v) { return Math.round(v * 1e7) / 1e7; }
  function num(a, b) { return a - b; }
  var SELECT = {
    "scatter-graph": function (ev) {
      if (ev.lassoPoints) {
        var x = ev.lassoPoints.x, y = ev.lassoPoints.y;
        return {kind: "lasso", points: x.map(function (v, i) { return [Number(v), Number(y[i])]; })};
      }
      if (ev.range) { return {kind: "box", range: [ev.range.x.map(Number), ev.range.y.map(Number)]}; }
      return null;
    },
    "map-graph": function (ev, gd) {  // Mercator y back to latitude
      if (!ev.range) return null;
      var sel = {kind: "map", range: [ev.range.x.map(Number).sort(num).map(r7),
                                      ev.range.y.map(Number).map(lat).sort(num).map(r7)]};
      // the scene view of a multiscale workspace shows one scale: the box selects that scale's patches
      var scale = gd.layout && gd.layout.meta && gd.layout.meta.scene_scale;
      if (scale) sel.scale = Number(scale);
      return sel;
    },
  };
  var RELAYOUT = {"scatter-graph": "scatter-relayout-store", "map-graph": "map-relayout-store"};
  var SIZE = {"scatter-graph": "scatter-size-store", "map-graph": "map-size-store"};
  var sized = {};
  var RENDER = {"scatter-graph": {route: "/eomine/render/scatter", view: "scatter-view-store", info: "scatter-info"}};
  var busy = {}, queued = {};
  function axesView(gd) {
    var fl = gd._fullLayout;
    if (!fl || !fl.xaxis || !fl.yaxis) return null;
    var x = fl.xaxis.range.map(Number), y = fl.yaxis.range.map(Number);
    if (!(x[0] < x[1]) || !(y[0] < y[1])) return null;
    return {x: x, y: y};
  }
  function imageMatches(gd, v) {  // the layout image covers the view v (to a millionth of its span)
    var im = (gd.layout.images || [])[0];
    if (!im || !im.source) return true;  // nothing drawn yet: the first render is Dash's
    var tx = 1e-6 * (v.x[1] - v.x[0]), ty = 1e-6 * (v.y[1] - v.y[0]);
    return Math.abs(im.x - v.x[0]) <= tx && Math.abs(im.x + im.sizex - v.x[1]) <= tx &&
           Math.abs(im.y - v.y[1]) <= ty && Math.abs(im.y - im.sizey - v.y[0]) <= ty;
  }
  function fallback(id, v) {
    set(RELAYOUT[id], {"xaxis.range[0]": v.x[0], "xaxis.range[1]": v.x[1],
                       "yaxis.range[0]": v.y[0], "yaxis.range[1]": v.y[1]});
  }
  function render(id, gd, v) {  // draw view v through the render route; true when it was taken
    var r = RENDER[id], meta = gd.layout && gd.layout.meta;
    if (!r || !meta || !window.fetch || !window.Plotly) return false;
    if (busy[id]) { queued[id] = v; return true; }
    busy[id] = true;
    var body = {view: v, color: meta.color, filters: meta.filters, sel: meta.sel, size: sized[id] || null};
    fetch(r.route, {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify(body)})
      .then(function (resp) { return resp.ok ? resp.json() : Promise.reject(resp.status); })
      .then(function (res) {
        if (queued[id]) return;  // the axes moved on: only the latest view is drawn
        return window.Plotly.update(gd, {x: [res.hover.x], y: [res.hover.y]}, {images: [res.image]},
                                    [res.hover_trace]).then(function () {
          set(r.view, res.view);
          if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props(r.info, {children: res.text});
          }
        });
      })
      .catch(function () { fallback(id, v); })
      .then(function () {
        busy[id] = false;
        var next = queued[id];
        queued[id] = null;
        if (next) render(id, gd, next);
      });
    return true;
  }
  function report(id) {  // the graph's box in device pixels, in steps of 8 (a tiny resize redraws nothing)
    var el = document.getElementById(id);
    if (!el) return;
    var r = el.getBoundingClientRect();
    if (!r.width || !r.height) return;  // hidden (no layout or no coordinates): nothing to draw
    var dpr = Math.min(window.devicePixelRatio || 1, 2);
    var w = Math.round(r.width * dpr / 8) * 8, h = Math.round(r.height * dpr / 8) * 8;
    if (sized[id] && sized[id].w === w && sized[id].h === h) return;
    sized[id] = {w: w, h: h, dpr: dpr};
    set(SIZE[id], sized[id]);
  }
  var observed = {};
  function watchSize() {  // as soon as the graph's box is laid out, before plotly has drawn anything
    Object.keys(SIZE).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || observed[id] === el) return;
      observed[id] = el;
      report(id);
      if (window.ResizeObserver) {
        var t = null;
        new ResizeObserver(function () { clearTimeout(t); t = setTimeout(function () { report(id); }, 150); })
          .observe(el);
      }
    });
  }
  function wheelZoom(gd) {  // plotly's wheel zoom, without its redraw delay
    var pending = null;
    gd.addEventListener("wheel", function (e) {
      var drag = e.target;
      if (!drag.classList || !drag.classList.contains("nsewdrag") || !window.Plotly) return;  // plotly's own
      e.preventDefault();
      e.stopPropagation();
      var dy = e.deltaY * (e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1);
      var zoom = Math.exp(Math.min(Math.max(dy, -20), 20) / 200);
      var b = drag.getBoundingClientRect();
      var fx = (e.clientX - b.left) / b.width, fy = (b.bottom - e.clientY) / b.height;
      if (pending) { pending.zoom *= zoom; pending.fx = fx; pending.fy = fy; return; }
      pending = {zoom: zoom, fx: fx, fy: fy};
      window.requestAnimationFrame(function () {
        var p = pending, fl = gd._fullLayout;
        pending = null;
        if (!fl || !fl.xaxis || !fl.yaxis) return;
        function z(r, f) {
          r = r.map(Number);
          var c = r[0] + (r[1] - r[0]) * f;
          return [c + (r[0] - c) * p.zoom, c + (r[1] - c) * p.zoom];
        }
        window.Plotly.relayout(gd, {"xaxis.range": z(fl.xaxis.range, p.fx), "yaxis.range": z(fl.yaxis.range, p.fy)});
      });
    }, {capture: true, passive: false});
  }
  function hook() {
    Object.keys(RELAYOUT).forEach(function (id) {
      var gd = document.querySelector("#" + id + " .js-plotly-plot");
      if (!gd || !gd.on || gd._eomineHooked) return;
      gd._eomineHooked = true;
      wheelZoom(gd);
      gd.on("plotly_relayout", function (r) {
        if (!moved(r)) return;
        var ranged = Object.keys(r).some(function (k) { return /^[xy]axis\.range/.test(k); }) &&
                     !Object.keys(r).some(function (k) { return /autorange$/.test(k); });
        var v = ranged ? axesView(gd) : null;
        if (!(v && render(id, gd, v))) set(RELAYOUT[id], r);  // autorange, the map, or no meta yet: Dash draws
      });
      if (RENDER[id]) {
        gd.on("plotly_afterplot", function () {  // a render of Dash for a view the axes have left since
          if (busy[id]) return;
          var v = axesView(gd);
          if (v && gd.layout.meta && !imageMatches(gd, v)) render(id, gd, v);
        });
      }
      gd.on("plotly_selected", function (ev) {
        var sel = ev ? SELECT[id](ev, gd) : null;
        if (sel) set("selection-store", sel);
      });
    });
  }
  new MutationObserver(function () { watchSize(); hook(); })
    .observe(document.documentElement, {childList: true, subtree: true});
})();
