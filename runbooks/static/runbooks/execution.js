/* The runbook execution page, live: polls the execution's output.json every second until the run is final.
 *  - the steps table (status badges, exit codes, durations, output) is redrawn from the JSON;
 *  - the running step's stdout is open and follows the tail, unless the operator scrolled up to read;
 *  - the page's own fields (Status, Started, Finished, Duration, Heartbeat, Worker) follow the live state.
 * Loaded with defer, so the whole page (including the fields below the table) exists when it runs.
 */
(function () {
  "use strict";
  var box = document.getElementById("execution-live");
  if (!box || box.dataset.final === "1") { return; }
  var url = box.dataset.outputUrl;
  var body = document.getElementById("execution-steps");
  var state = document.getElementById("execution-live-state");
  var errorBox = document.getElementById("execution-error");
  var liveBadge = document.getElementById("execution-live-badge");
  // Per step (by order): does its output follow the tail? Yes until the operator scrolls up; and is it open?
  var following = {};
  var openState = {};

  function cell(text) { var td = document.createElement("td"); td.textContent = text == null ? "" : String(text); return td; }
  function pre(kind, order, summary, text, open) {
    var key = kind + order;
    var d = document.createElement("details");
    d.className = "step-" + kind;
    d.open = key in openState ? openState[key] : open;
    d.addEventListener("toggle", function () { openState[key] = d.open; });
    var s = document.createElement("summary"); s.textContent = summary; d.appendChild(s);
    var p = document.createElement("pre"); p.className = "step-output"; p.style.maxHeight = "30em"; p.style.overflow = "auto";
    p.textContent = text;
    p.dataset.key = key;
    p.addEventListener("scroll", function () {
      following[key] = p.scrollTop + p.clientHeight >= p.scrollHeight - 8;
    });
    d.appendChild(p);
    return d;
  }
  function badge(value, label, colour) {
    var b = document.createElement("span");
    b.className = "badge badge-" + value;
    b.style.cssText = "background:" + (colour || "#616161") + ";color:#fff;padding:1px 6px;border-radius:8px;font-size:11px;white-space:nowrap";
    b.textContent = label;
    return b;
  }
  function setField(name, html) {
    // The server formats each field (Pacific, UTC and the operator's zone, escaped): same text as on a reload.
    var el = document.querySelector(".field-" + name + " .readonly");
    if (el && html != null && el.innerHTML !== html) { el.innerHTML = html; }
  }
  function render(data) {
    state.textContent = "— " + data.status_label + (data.waiting ? " (" + data.waiting + ")" : "") +
      (data.cancel_requested && !data.final ? " (cancel requested)" : "");
    liveBadge.replaceChildren(badge(data.status, data.status_label, data.colour));
    Object.keys(data.fields || {}).forEach(function (name) { setField(name, data.fields[name]); });
    if (data.error) { errorBox.style.display = ""; errorBox.textContent = data.error; }
    var rows = document.createDocumentFragment();
    var tails = [];
    data.steps.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.dataset.order = s.order;
      tr.dataset.status = s.status;
      tr.appendChild(cell(s.order));
      var label = cell(s.label); var small = document.createElement("small");
      small.textContent = s.kind + " · " + s.task; label.appendChild(document.createElement("br")); label.appendChild(small);
      tr.appendChild(label);
      var st = document.createElement("td"); st.appendChild(badge(s.status, s.status_label, s.colour)); tr.appendChild(st);
      tr.appendChild(cell(s.exit_code));
      tr.appendChild(cell(s.duration_seconds == null ? (s.status === "running" ? "running…" : "") : s.duration_seconds.toFixed(2) + " s"));
      var out = document.createElement("td");
      if (s.command) { var c = document.createElement("code"); c.style.whiteSpace = "pre-wrap"; c.textContent = s.command; out.appendChild(c); }
      if (s.error) { var e = document.createElement("div"); e.className = "errornote"; e.textContent = s.error; out.appendChild(e); }
      var running = s.status === "running";
      if (s.stdout || running) {
        var d = pre("stdout", s.order, "stdout (" + (s.stdout_bytes || 0) + " bytes" + (s.stdout_dropped ? ", " + s.stdout_dropped + " dropped" : "") +
          (s.stdout_truncated_for_display ? ", last 32 KiB shown" : "") + (running ? ", live" : "") + ")", s.stdout || "", running);
        out.appendChild(d);
        if (running) { tails.push(d.querySelector("pre")); }
      }
      if (s.stderr) { out.appendChild(pre("stderr", s.order, "stderr (" + s.stderr_bytes + " bytes)", s.stderr, true)); }
      tr.appendChild(out);
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    tails.forEach(function (p) {
      if (following[p.dataset.key] !== false) { p.scrollTop = p.scrollHeight; }
    });
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        render(data);
        if (data.final) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 500);
})();
