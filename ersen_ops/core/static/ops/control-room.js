/* A static file, not an inline script: the Content-Security-Policy allows scripts from 'self' only. */
// Auto-refresh while the page is visible, unless the operator is selecting text.
(function () {
  var box = document.getElementById("control-room");
  var seconds = parseInt(box.dataset.refreshSeconds, 10) || 60;
  window.setInterval(function () {
    if (document.visibilityState === "visible" && !String(window.getSelection() || "")) { window.location.reload(); }
  }, seconds * 1000);
})();
