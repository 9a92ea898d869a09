/* A static file, not an inline script: the Content-Security-Policy allows scripts from 'self' only. */
/* Progressive enhancement: show every <time> in the viewer's own time zone. Without it, times stay in UTC.
 * The Pacific time beside it (<span class="pacific" data-zone="…">) is hidden when it reads the same as the
 * viewer's own time (a viewer on Pacific time), so one time is not shown twice. */
(function () {
  if (!window.Intl || !Intl.DateTimeFormat) return;
  var format = new Intl.DateTimeFormat(undefined, {weekday: "short", day: "numeric", month: "short", year: "numeric",
                                                  hour: "2-digit", minute: "2-digit", timeZoneName: "short"});
  var wall = {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23"};
  var here = new Intl.DateTimeFormat("en-US", wall);

  function sameWallTime(moment, zone) {
    try {
      var there = new Intl.DateTimeFormat("en-US", Object.assign({timeZone: zone}, wall));
      return here.format(moment) === there.format(moment);
    } catch (e) { return false; }  // an unknown zone: keep both
  }

  var shown = 0, hidden = 0;
  var times = document.querySelectorAll("time[data-local]");
  for (var i = 0; i < times.length; i++) {
    var moment = new Date(times[i].getAttribute("datetime"));
    if (isNaN(moment.getTime())) { continue; }
    times[i].title = times[i].textContent;
    times[i].textContent = format.format(moment);
    var pacific = times[i].nextElementSibling;
    if (pacific && pacific.classList.contains("pacific") && pacific.dataset.zone) {
      if (sameWallTime(moment, pacific.dataset.zone)) { pacific.hidden = true; hidden++; } else { shown++; }
    }
  }
  var zone = document.getElementById("viewer-zone");
  var viewer = "";
  try { viewer = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) {}
  if (zone && viewer) { zone.textContent = "your time zone (" + viewer + ")"; }
  var note = document.getElementById("pacific-note");
  if (note && (hidden ? !shown : viewer === note.dataset.zone)) { note.hidden = true; }
})();
