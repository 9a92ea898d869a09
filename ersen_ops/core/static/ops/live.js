/* Live feedback in the admin, without a framework:
 *  - countdowns: <span class="ops-countdown" data-due="ISO" data-urgency="[…]">…</span> tick every second and
 *    take the colour class of the time left;
 *  - notification tables: <table data-live-deliveries="URL"> rows <tr data-delivery="ID" data-status="…">
 *    are polled while any is queued or sending, so "queued → sent" shows without a reload.
 */
(function () {
  "use strict";

  function two(n) { return (n < 10 ? "0" : "") + n; }
  // The server's one duration wording (ersen_ops/core/wording.py: "19 h 12 min", "24 h", "2 d 3 h"); in the last
  // hour the seconds tick too ("12 min 05 s").
  function span(seconds) {
    seconds = Math.floor(Math.abs(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (d >= 2) { return d + " d" + (h ? " " + h + " h" : ""); }
    if (d || h) { return (d * 24 + h) + " h" + (m ? " " + m + " min" : ""); }
    return m + " min " + two(s) + " s";
  }

  // The colour class for the time left, from the server's steps (ops.urgency_class): [[limit s, class], …, [null, class]].
  function urgency(el, left) {
    var steps;
    try { steps = JSON.parse(el.dataset.urgency || "[]"); } catch (e) { return; }
    var chosen = null;
    steps.forEach(function (step) {
      if (chosen === null && (step[0] === null || left < step[0])) { chosen = step[1]; }
    });
    steps.forEach(function (step) { if (step[1] !== chosen) { el.classList.remove(step[1]); } });
    if (chosen) { el.classList.add(chosen); }
  }

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll(".ops-countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.due);
      if (isNaN(due)) { return; }
      var left = (due - now) / 1000;
      el.textContent = left >= 0 ? (el.dataset.prefix || "due in ") + span(left) : "overdue by " + span(-left);
      urgency(el, left);
    });
  }

  var FINAL = {sent: 1, failed: 1, skipped: 1};

  function badge(status, label, colour) {
    var b = document.createElement("span");
    b.className = "badge badge-" + status;
    b.style.cssText = "background:" + colour + ";color:#fff;padding:1px 6px;border-radius:8px;font-size:11px;white-space:nowrap";
    b.textContent = label;
    return b;
  }

  function watchDeliveries(table) {
    var url = table.dataset.liveDeliveries;
    var started = Date.now();
    function pending() {
      return Array.prototype.filter.call(table.querySelectorAll("tr[data-delivery]"), function (tr) {
        return !FINAL[tr.dataset.status];
      });
    }
    function poll() {
      var rows = pending();
      if (!rows.length || Date.now() - started > 15 * 60 * 1000) { return; }
      var ids = rows.map(function (tr) { return tr.dataset.delivery; }).join(",");
      fetch(url + "?ids=" + encodeURIComponent(ids), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (data) {
          data.deliveries.forEach(function (d) {
            var tr = table.querySelector('tr[data-delivery="' + d.id + '"]');
            if (!tr || tr.dataset.status === d.status) { return; }
            tr.dataset.status = d.status;
            var cell = tr.querySelector(".delivery-status");
            if (cell) { cell.replaceChildren(badge(d.status, d.label, d.colour)); }
            var sent = tr.querySelector(".delivery-sent");
            if (sent && d.sent) { sent.textContent = d.sent; }
            var attempts = tr.querySelector(".delivery-attempts");
            if (attempts) { attempts.textContent = d.attempts; }
            var response = tr.querySelector(".delivery-response");
            if (response) { response.textContent = d.response + (d.error ? " — " + d.error : ""); }
          });
          window.setTimeout(poll, 2000);
        })
        .catch(function () { window.setTimeout(poll, 10000); });
    }
    window.setTimeout(poll, 1500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector(".ops-countdown[data-due]")) {
      tickCountdowns();
      window.setInterval(tickCountdowns, 1000);
    }
    document.querySelectorAll("table[data-live-deliveries]").forEach(watchDeliveries);
  });
})();
