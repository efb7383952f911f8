// The selection bar of a folder's list (templates/files/includes/selection_bar.html):
// says how many rows are ticked, ticks or unticks the whole page. The buttons post the
// form without any help from here. No inline script or style: the page's CSP forbids both.
(function () {
  "use strict";

  var form = document.getElementById("selection-form");
  var count = document.getElementById("selection-count");
  if (!form || !count) {
    return;
  }

  function boxes() {
    return Array.prototype.slice.call(
      document.querySelectorAll('input[type="checkbox"][form="selection-form"]')
    );
  }

  function update() {
    var ticked = boxes().filter(function (box) {
      return box.checked;
    }).length;
    var labels = count.dataset;
    count.textContent = ticked === 0 ? labels.none
      : ticked === 1 ? labels.one : labels.many.replace("%(count)s", String(ticked));
    form.classList.toggle("border-primary", ticked > 0);
    var all = document.getElementById("select-all");
    if (all) {
      var total = boxes().length;
      all.checked = total > 0 && ticked === total;
      all.indeterminate = ticked > 0 && ticked < total;
    }
  }

  // Delegated: htmx replaces the list after an upload, with new checkboxes in it.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-all") {
      boxes().forEach(function (box) {
        box.checked = target.checked;
      });
    }
    if (target.id === "select-all" || target.getAttribute("form") === "selection-form") {
      update();
    }
  });
  document.addEventListener("htmx:afterSwap", update);
  update();
})();
