/* Review queue: a = accept the suggestion, k = keep, s = skip (when the review queue is on screen and no
   text field has the focus). The buttons carry their key in data-key. */
(function () {
  "use strict";
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.repeat) return;
    var key = (ev.key || "").toLowerCase();
    if (key !== "a" && key !== "k" && key !== "s") return;
    var card = document.querySelector(".review-card");
    if (!card || card.offsetParent === null) return;
    var btn = card.querySelector('button[data-key="' + key + '"]');
    if (btn && !btn.disabled) { btn.click(); ev.preventDefault(); }
  });
})();
