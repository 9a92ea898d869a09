/* A static file, not an inline script: the Content-Security-Policy allows scripts from 'self' only. */
/* Progressive enhancement: show every <time> in the viewer's own time zone. Without it, times stay in UTC. */
(function () {
  if (!window.Intl || !Intl.DateTimeFormat) return;
  var format = new Intl.DateTimeFormat(undefined, {weekday: "short", day: "numeric", month: "short", year: "numeric",
                                                  hour: "2-digit", minute: "2-digit", timeZoneName: "short"});
  var times = document.querySelectorAll("time[data-local]");
  for (var i = 0; i < times.length; i++) {
    var moment = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(moment.getTime())) { times[i].title = times[i].textContent; times[i].textContent = format.format(moment); }
  }
  var zone = document.getElementById("viewer-zone");
  try { if (zone) zone.textContent = "your time zone (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")"; } catch (e) {}
})();
