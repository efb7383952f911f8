// Browser uploads through tus (docs/uploads.md): drop or choose files and whole folders;
// each file gets a row with a progress bar, speed, time left and pause/resume.
// tus-js-client (vendored, pinned) speaks the protocol and resumes after network drops
// (retryDelays); the drop zone and tus options are shared with file_request.js
// (dropzone.js). No inline script or style: the page's CSP forbids both.
(function () {
  "use strict";

  var zone = document.getElementById("upload-zone");
  var shared = window.SecureDriveUploads;
  if (!zone || !window.tus || !shared) {
    return;
  }
  var sizeText = shared.sizeText;
  var list = document.getElementById("upload-list");
  var rowTemplate = document.getElementById("upload-row");
  var labels = zone.dataset;
  var refreshTimer = null;


  function durationText(seconds) {
    if (!isFinite(seconds)) {
      return "…";
    }
    seconds = Math.round(seconds);
    var minutes = Math.floor(seconds / 60);
    return minutes ? minutes + " min " + (seconds % 60) + " s" : seconds + " s";
  }

  // The listing (and its scan badges, which then poll by themselves) after a file lands.
  function listingRefresh() {
    if (refreshTimer) {
      clearTimeout(refreshTimer);
    }
    refreshTimer = setTimeout(function () {
      if (window.htmx) {
        window.htmx.ajax("GET", labels.listing, {
          target: "#folder-listing",
          select: "#folder-listing",
          swap: "outerHTML",
        });
        // The space's usage, in the side column, counts the new file too.
        if (document.getElementById("space-usage")) {
          window.htmx.ajax("GET", labels.listing, {
            target: "#space-usage",
            select: "#space-usage",
            swap: "outerHTML",
          });
        }
      }
    }, 300);
  }

  // The server's scan limits (data-scan-max-bytes, data-scan-policy: docs/scanning.md).
  // A ZIP is scanned file by file, so only its members count: not judged here.
  var scanMaxBytes = Number(labels.scanMaxBytes) || 0;
  var scanPolicy = labels.scanPolicy || "block";

  function scanWarning(file) {
    if (!scanMaxBytes || file.size <= scanMaxBytes || /\.zip$/i.test(file.name)) {
      return null;
    }
    if (scanPolicy === "windowed") {
      return { block: false, text: labels.labelScanWindowed };
    }
    if (scanPolicy === "allow") {
      return { block: false, text: labels.labelScanAllowed };
    }
    return { block: true, text: labels.labelScanBlocked + " " + sizeText(scanMaxBytes) + "." };
  }

  function start(file, relativePath) {
    var row = rowTemplate.content.firstElementChild.cloneNode(true);
    var progress = row.querySelector(".upload-progress");
    var status = row.querySelector(".upload-status");
    var toggle = row.querySelector(".upload-toggle");
    row.querySelector(".upload-name").textContent = relativePath || file.name;
    toggle.textContent = labels.labelPause;
    list.appendChild(row);

    var warning = scanWarning(file);
    if (warning) {
      var note = document.createElement("div");
      note.className = "small upload-scan-warning " +
        (warning.block ? "text-danger fw-semibold" : "text-warning-emphasis");
      note.setAttribute("role", warning.block ? "alert" : "status");
      note.textContent = warning.text;
      row.appendChild(note);
      if (warning.block) {
        // Before sending a byte: the server would block it after the upload.
        row.classList.add("list-group-item-danger", "upload-refused");
        progress.remove();
        toggle.remove();
        return;
      }
    }

    if (labels.labelOpenToOutsiders) {
      // External links reach this folder: said on the row of each file as it is sent,
      // where the person looks, not only in the banner that may be scrolled away.
      var outsiders = document.createElement("div");
      outsiders.className = "small text-warning-emphasis upload-open-to-outsiders";
      outsiders.textContent = labels.labelOpenToOutsiders;
      row.appendChild(outsiders);
    }

    var samples = [];
    var paused = false;
    var metadata = { filename: file.name, folder: labels.folder };
    if (relativePath && relativePath !== file.name) {
      metadata.relativePath = relativePath;
    }
    var upload = shared.tusUpload(file, {
      endpoint: labels.endpoint,
      // A bounded PATCH: an interrupted one costs at most this much to send again.
      chunkSize: Number(labels.chunkSize) || shared.CHUNK_SIZE,
      headers: { "X-CSRFToken": labels.csrf },
      metadata: metadata,
      onShouldRetry: function (error) {
        if (!shared.retryWorthwhile(error)) {
          return false; // a refusal (a name, a quota, an account): onError says why
        }
        status.textContent = labels.labelRetrying;
        return true;
      },
      onProgress: function (sent, total) {
        var now = Date.now();
        samples.push([now, sent]);
        while (samples.length > 2 && now - samples[0][0] > 5000) {
          samples.shift();
        }
        var first = samples[0];
        var elapsed = (now - first[0]) / 1000;
        var speed = elapsed > 0 ? (sent - first[1]) / elapsed : 0;
        progress.value = total ? (sent / total) * 100 : 100;
        status.textContent =
          sizeText(sent) + " / " + sizeText(total) +
          (speed > 0 ? " · " + sizeText(speed) + "/s · " +
            durationText((total - sent) / speed) + " " + labels.labelLeft : "");
      },
      onSuccess: function () {
        progress.value = 100;
        status.textContent = labels.labelDone;
        toggle.remove();
        row.classList.add("upload-done");
        listingRefresh();
      },
      onError: function (error) {
        if (!navigator.onLine && !paused) {
          // The retries ran out while the network was down: go on once it is back,
          // from the offset the server committed (tus HEAD).
          status.textContent = labels.labelRetrying;
          window.addEventListener("online", function () {
            upload.start();
          }, { once: true });
          return;
        }
        var detail = shared.errorDetail(error);
        // The reason inside a translated sentence: French puts a no-break space before ":".
        status.textContent = detail
          ? labels.labelFailedBecause.replace("{reason}", detail)
          : labels.labelFailed;
        row.classList.add("list-group-item-danger");
        toggle.remove();
      },
    });
    toggle.addEventListener("click", function () {
      paused = !paused;
      if (paused) {
        upload.abort();
        toggle.textContent = labels.labelResume;
        status.textContent = labels.labelPaused;
      } else {
        toggle.textContent = labels.labelPause;
        samples = [];
        upload.start();
      }
    });
    shared.tusStart(upload);
  }

  function startAll(files) {
    for (var index = 0; index < files.length; index += 1) {
      start(files[index], files[index].webkitRelativePath || "");
    }
  }

  shared.dropZone(zone, { onFiles: startAll, onFile: start });
  // The whole list takes drops too (data-drop-area: a wrapper htmx never replaces).
  var dropArea = labels.dropArea && document.getElementById(labels.dropArea);
  if (dropArea) {
    shared.dropZone(dropArea, { onFiles: startAll, onFile: start });
  }
  ["upload-files", "upload-folder"].forEach(function (id) {
    shared.fileInput(document.getElementById(id), startAll);
  });
})();
