/* The embedding scatter and the map talk to the server through two stores, written here, straight from plotly's
   events: a zoom, a pan or a reset writes the figure's relayout store; a lasso or a box writes the selection
   store. Doing it here, rather than through dcc.Graph's relayoutData / selectedData props and a callback, saves
   one round of Dash's renderer (about 100 ms at 549,488 points) before the server is asked to draw. Relayouts
   that do not move the view (plotly's first autosize, drawing a selection, a drag-mode switch) are not sent:
   each would cost a render. The plot area's size in device pixels goes to a size store, so the server draws one
   image pixel per screen pixel (a 1366x768 laptop gets a quarter of the pixels of a fixed 960x640 raster). */
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
    "map-graph": function (ev) {  // Mercator y back to latitude
      if (!ev.range) return null;
      return {kind: "map", range: [ev.range.x.map(Number).sort(num).map(r7),
                                   ev.range.y.map(Number).map(lat).sort(num).map(r7)]};
    },
  };
  var RELAYOUT = {"scatter-graph": "scatter-relayout-store", "map-graph": "map-relayout-store"};
  var SIZE = {"scatter-graph": "scatter-size-store", "map-graph": "map-size-store"};
  var sized = {};
  function report(id) {  // the graph's box in device pixels, in steps of 8 (a tiny resize redraws nothing)
    var el = document.getElementById(id);
    if (!el) return;
    var r = el.getBoundingClientRect();
    if (!r.width || !r.height) return;  // hidden (no layout or no coordinates): nothing to draw
    var dpr = Math.min(window.devicePixelRatio || 1, 2);
    var w = Math.round(r.width * dpr / 8) * 8, h = Math.round(r.height * dpr / 8) * 8;
    if (sized[id] && sized[id].w === w && sized[id].h === h) return;
    sized[id] = {w: w, h: h};
    set(SIZE[id], {w: w, h: h, dpr: dpr});
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
  function hook() {
    Object.keys(RELAYOUT).forEach(function (id) {
      var gd = document.querySelector("#" + id + " .js-plotly-plot");
      if (!gd || !gd.on || gd._eomineHooked) return;
      gd._eomineHooked = true;
      gd.on("plotly_relayout", function (r) { if (moved(r)) set(RELAYOUT[id], r); });
      gd.on("plotly_selected", function (ev) {
        var sel = ev ? SELECT[id](ev) : null;
        if (sel) set("selection-store", sel);
      });
    });
  }
  new MutationObserver(function () { watchSize(); hook(); })
    .observe(document.documentElement, {childList: true, subtree: true});
})();
