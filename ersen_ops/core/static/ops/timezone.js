/* A static file, not an inline script: the Content-Security-Policy allows scripts from 'self' only. */
// Report the operator's zone so the admin shows times in it (Pacific is always shown beside).
(function () {
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("ops_tz=" + tz) === -1) {
      document.cookie = "ops_tz=" + tz + ";path=/;max-age=31536000;SameSite=Lax";
    }
  } catch (e) {}
})();
