// Keyboard shortcuts of the files pages, listed in the dialog of
// templates/files/includes/shortcuts.html: "/" search, "u" upload, Delete move the
// ticked rows to the trash (the same button, so the same "Undo" after it), "?" this
// help. Ignored while typing in a field or with Ctrl/Alt/Meta held, so the browser's
// and screen readers' own keys keep working. No inline script (CSP).
(function () {
  "use strict";

  var help = document.getElementById("shortcuts-help");

  // Typing text, that is: a ticked checkbox keeps focus, and Delete must still work.
  var NOT_TEXT = ["checkbox", "radio", "button", "submit", "reset", "file"];

  function typing(target) {
    var tag = target && target.tagName;
    if (tag === "INPUT") {
      return NOT_TEXT.indexOf((target.type || "").toLowerCase()) === -1;
    }
    return tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function click(id) {
    var element = document.getElementById(id);
    if (element) {
      element.click();
      return true;
    }
    return false;
  }

  function ticked() {
    return document.querySelectorAll('input[type="checkbox"][form="selection-form"]:checked').length;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) {
      return;
    }
    var done = false;
    if (event.key === "/") {
      var search = document.getElementById("files-search-q");
      if (search) {
        search.focus();
        search.select();
        done = true;
      }
    } else if (event.key === "u" || event.key === "U") {
      done = click("upload-files");
    } else if (event.key === "Delete" && ticked() > 0) {
      done = click("selection-trash");
    } else if (event.key === "?" && help && help.showModal) {
      help.showModal();
      done = true;
    }
    if (done) {
      event.preventDefault();
    }
  });

  var opener = document.getElementById("shortcuts-open");
  if (opener && help && help.showModal) {
    opener.addEventListener("click", function () {
      help.showModal();
    });
  }
  var closer = document.getElementById("shortcuts-close");
  if (closer && help) {
    closer.addEventListener("click", function () {
      help.close();
    });
  }
})();
