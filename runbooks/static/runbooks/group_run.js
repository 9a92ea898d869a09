/* The page of a run on a host group, live: polls its matrix.json every 2 seconds until the run is final, and
 * redraws the host × step matrix and the page's own fields (Status, Batch, Outcome, Started, Finished).
 * Loaded with defer (no inline script: the CSP allows only our static files).
 */
(function () {
  "use strict";
  var box = document.getElementById("group-run-live");
  if (!box || box.dataset.final === "1") { return; }
  var url = box.dataset.matrixUrl;
  var body = document.getElementById("group-run-rows");
  var state = document.getElementById("group-run-live-state");
  var light = {waiting: 1, not_run: 1};

  function badge(label, colour) {
    var b = document.createElement("span");
    b.className = "badge";
    b.style.cssText = "background:" + (colour || "#616161") + ";color:#fff;padding:1px 6px;border-radius:8px;font-size:11px";
    b.textContent = label;
    return b;
  }
  function link(href, text) { var a = document.createElement("a"); a.href = href; a.textContent = text; return a; }
  function setField(name, html) {
    var el = document.querySelector(".field-" + name + " .readonly");
    if (el && html != null && el.innerHTML !== html) { el.innerHTML = html; }
  }
  function render(data) {
    state.textContent = "— batch " + data.current_batch + " of " + data.batches_total + (data.final ? "" : " (live)");
    Object.keys(data.fields || {}).forEach(function (name) { setField(name, data.fields[name]); });
    var rows = document.createDocumentFragment();
    data.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.execution = r.execution;
      var host = document.createElement("td"); host.appendChild(link(r.url, r.host)); tr.appendChild(host);
      var batch = document.createElement("td"); batch.textContent = r.batch; tr.appendChild(batch);
      var ex = document.createElement("td");
      ex.appendChild(badge(r.status_label, r.colour)); ex.appendChild(document.createTextNode(" "));
      ex.appendChild(link(r.url, "#" + r.execution));
      if (r.error) {
        var small = document.createElement("small"); small.textContent = r.error.slice(0, 200);
        ex.appendChild(document.createElement("br")); ex.appendChild(small);
      }
      tr.appendChild(ex);
      r.cells.forEach(function (c) {
        var td = document.createElement("td");
        td.className = "cell-" + c.status;
        td.style.background = c.colour;
        td.style.textAlign = "center";
        if (!(c.status in light)) { td.style.color = "#fff"; }
        td.textContent = c.status + (c.attempts > 1 ? " ×" + c.attempts : "");
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        render(data);
        if (data.final) { window.location.reload(); } else { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
