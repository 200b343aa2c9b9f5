/* Keyboard shortcuts of the whole page (not while typing in a text field):
   ? shows / hides the help overlay, Esc or a click on its background closes it, / focuses the find box,
   Ctrl+Z undoes your latest batch, Ctrl+Shift+Z (or Ctrl+Y) redoes it. The buttons do the work, so the
   shortcuts go through exactly the same path as a click. A click on a thumbnail tile puts its patch in focus. */
(function () {
  "use strict";
  function typing(t) { return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable); }
  function click(id) { var b = document.getElementById(id); if (b && !b.disabled) { b.click(); return true; } return false; }
  function curateButton(op) {  // Dash writes a dict id as JSON with sorted keys
    return document.getElementById(JSON.stringify({op: op, target: "log", type: "curate-action"}));
  }
  document.addEventListener("keydown", function (ev) {
    var overlay = document.getElementById("help-overlay");
    if (ev.key === "Escape" && overlay && !overlay.hidden) { click("help-close"); ev.preventDefault(); return; }
    if (typing(ev.target)) return;
    var mod = ev.ctrlKey || ev.metaKey;
    if (mod && !ev.altKey && (ev.key === "z" || ev.key === "Z" || ev.key === "y")) {
      var redo = ev.key === "y" || ev.shiftKey;
      var b = curateButton(redo ? "redo" : "undo");
      if (b && !b.disabled && b.offsetParent !== null) { b.click(); ev.preventDefault(); }
      return;
    }
    if (mod || ev.altKey) return;
    if (ev.key === "?") { click("help-button"); ev.preventDefault(); }
    else if (ev.key === "/") {
      var f = document.getElementById("find-input");
      if (f) { f.focus(); f.select(); ev.preventDefault(); }
    }
  });
  document.addEventListener("click", function (ev) {
    if (ev.target && ev.target.id === "help-overlay") { click("help-close"); return; }
    // a thumbnail tile (grid, neighbours) puts its patch in focus: one listener for every tile, instead of one
    // pattern-matching callback input per tile
    var tile = ev.target && ev.target.closest && ev.target.closest("button.thumb[data-patch]");
    if (tile && window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("selected-store", {data: tile.getAttribute("data-patch")});
    }
  });
})();
