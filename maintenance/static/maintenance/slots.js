/* A draft's "Use this slot" buttons: fill the planned start and end (in the operator's zone) from the slot,
 * then say to Save. Loaded with defer from the window's page. */
(function () {
  "use strict";
  document.querySelectorAll("button.use-slot").forEach(function (b) {
    b.addEventListener("click", function () {
      var set = function (id, v) { var el = document.getElementById(id); if (el) { el.value = v; el.dispatchEvent(new Event("change")); } };
      set("id_planned_start_0", b.dataset.startDate); set("id_planned_start_1", b.dataset.startTime);
      set("id_planned_end_0", b.dataset.endDate); set("id_planned_end_1", b.dataset.endTime);
      document.getElementById("slot-picked").hidden = false;
      document.getElementById("id_planned_start_0").scrollIntoView({block: "center"});
    });
  });
})();
