// Uploads through a file request (/r/<token>/): the person outside chooses or drops
// files; each one goes through tus to this request's own endpoint, which knows the
// request by the token in its URL. The uploader's name and e-mail travel as tus
// metadata. The drop zone and tus options are shared with upload.js (dropzone.js).
// No inline script or style: the page's CSP forbids both.
(function () {
  "use strict";

  var zone = document.getElementById("request-zone");
  var shared = window.SecureDriveUploads;
  if (!zone || !window.tus || !shared) {
    return;
  }
  var sizeText = shared.sizeText;
  var labels = zone.dataset;
  var list = document.getElementById("request-list");
  var rowTemplate = document.getElementById("request-row");
  var input = document.getElementById("request-files");
  var nameInput = document.getElementById("uploader-name");
  var emailInput = document.getElementById("uploader-email");
  var errorBox = document.getElementById("request-error");


  function showError(message) {
    errorBox.textContent = message;
    errorBox.classList.toggle("d-none", !message);
  }

  function uploader() {
    var email = emailInput.value.trim();
    if (email && !emailInput.checkValidity()) {
      showError(labels.labelBadEmail);
      return null;
    }
    showError("");
    return { uploader_name: nameInput.value.trim(), uploader_email: email };
  }

  function start(file, who) {
    var row = rowTemplate.content.firstElementChild.cloneNode(true);
    var progress = row.querySelector(".request-progress");
    var status = row.querySelector(".request-status");
    row.querySelector(".request-name").textContent = file.name;
    list.appendChild(row);
    var upload = shared.tusUpload(file, {
      endpoint: labels.endpoint,
      metadata: {
        filename: file.name,
        uploader_name: who.uploader_name,
        uploader_email: who.uploader_email,
      },
      onShouldRetry: function (error) {
        if (!shared.retryWorthwhile(error)) {
          return false; // a refusal (limits, closed request): onError says why
        }
        status.textContent = labels.labelRetrying;
        return true;
      },
      onProgress: function (sent, total) {
        progress.value = total ? (sent / total) * 100 : 100;
        status.textContent = sizeText(sent) + " / " + sizeText(total);
      },
      onSuccess: function () {
        progress.value = 100;
        status.textContent = labels.labelDone;
        row.classList.add("list-group-item-success", "request-done");
      },
      onError: function (error) {
        var detail = shared.errorDetail(error);
        // The reason inside a translated sentence: French puts a no-break space before ":".
        status.textContent = detail
          ? labels.labelFailedBecause.replace("{reason}", detail)
          : labels.labelFailed;
        row.classList.add("list-group-item-danger", "request-failed");
      },
    });
    shared.tusStart(upload);
  }

  function startAll(files) {
    var who = uploader();
    if (!who) {
      return;
    }
    for (var index = 0; index < files.length; index += 1) {
      start(files[index], who);
    }
  }

  shared.dropZone(zone, { onFiles: startAll });
  shared.fileInput(input, startAll);
})();
