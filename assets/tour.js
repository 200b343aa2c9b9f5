/* Tours: keyboard arrows step through the tour (when its player is on screen), Esc leaves the presentation
   view, and the Present button also asks the browser for real full screen (ignored where not allowed). */
(function () {
  "use strict";
  function visible(el) { return !!el && el.getClientRects().length > 0; }  // offsetParent is null when fixed
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var player = document.getElementById("tour-player");
    if (!visible(player)) return;
    var id = ev.key === "ArrowRight" ? "tour-next" : ev.key === "ArrowLeft" ? "tour-prev" : null;
    if (ev.key === "Escape" && player.classList.contains("tour-presenting")) id = "tour-leave";
    if (!id) return;
    var btn = document.getElementById(id);
    if (btn) { btn.click(); ev.preventDefault(); }
  });
  // Esc in real full screen is taken by the browser (no keydown): leaving full screen leaves the presentation
  document.addEventListener("fullscreenchange", function () {
    var player = document.getElementById("tour-player");
    if (!document.fullscreenElement && player && player.classList.contains("tour-presenting")) {
      var btn = document.getElementById("tour-leave");  // idempotent: Esc may also have sent a keydown
      if (btn) btn.click();
    }
  });
  document.addEventListener("click", function (ev) {
    var btn = ev.target && ev.target.closest && ev.target.closest("#tour-present");
    if (!btn) return;
    var player = document.getElementById("tour-player");
    var entering = player && !player.classList.contains("tour-presenting");
    try {
      if (entering && !document.fullscreenElement && document.documentElement.requestFullscreen) {
        document.documentElement.requestFullscreen().catch(function () {});
      } else if (!entering && document.fullscreenElement && document.exitFullscreen) {
        document.exitFullscreen().catch(function () {});
      }
    } catch (err) { /* the presentation layout applies anyway */ }
  });
})();
