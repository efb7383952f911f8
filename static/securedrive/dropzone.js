// What the two upload pages share (upload.js: a folder of one's files; file_request.js:
// a file request's public page): the drop zone, the tus options, resuming, sizes and
// the server's error detail. Loaded before either page script (both `defer`, so in
// order). No inline script or style: the pages' CSP forbids both.
(function () {
  "use strict";

  // An interrupted PATCH costs at most one chunk to send again.
  var CHUNK_SIZE = 64 * 1024 * 1024;
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];

  // Sizes in decimal SI units, one decimal from kB up, like the list beside it
  // (core/sizes.py, filter ``filesize``): the same bytes read the same on both, in the
  // page's language ("314.6 MB", French "314,6 Mo").
  var SIZE_WORDS = {
    en: { units: ["kB", "MB", "GB", "TB", "PB"], byte: "byte", bytes: "bytes", point: "." },
    fr: { units: ["ko", "Mo", "Go", "To", "Po"], byte: "octet", bytes: "octets", point: "," },
  };

  // Number and unit joined by a no-break space (U+00A0), as core/sizes.py: never "6" at
  // the end of a line and "octets" on the next.
  function sizeText(bytes) {
    var lang = (document.documentElement.lang || "en").slice(0, 2).toLowerCase();
    var words = SIZE_WORDS[lang] || SIZE_WORDS.en;
    var count = Math.floor(Number(bytes) || 0);
    if (count < 1000) {
      // French takes the singular for 0 and 1, English for 1 only (as gettext does).
      var one = lang === "fr" ? count <= 1 : count === 1;
      return count + "\u00a0" + (one ? words.byte : words.bytes);
    }
    // Tenths, halves rounded up, as core/sizes.py does in integers.
    var unit = 1;
    while (count >= Math.pow(1000, unit + 1) && unit < words.units.length) {
      unit += 1;
    }
    var tenths = Math.round((count * 10) / Math.pow(1000, unit));
    if (tenths >= 10000 && unit < words.units.length) {
      unit += 1;
      tenths = Math.round((count * 10) / Math.pow(1000, unit));
    }
    return Math.floor(tenths / 10) + words.point + (tenths % 10) + "\u00a0" + words.units[unit - 1];
  }

  // The "detail" of a JSON refusal from the server, or "".
  function errorDetail(error) {
    var response = error && error.originalResponse;
    if (!response) {
      return "";
    }
    try {
      return JSON.parse(response.getBody()).detail || "";
    } catch (ignored) {
      return "";
    }
  }

  // Whether trying again may help: the network, a server error, or a refusal that passes
  // with time (409 offset moved on, 423 locked, 429 too many requests). Any other 4xx
  // (a name refused, a limit, a request closed, an account deactivated) is given again
  // to the same request: the row says why at once, instead of "connection lost,
  // retrying" through two minutes of retries.
  function retryWorthwhile(error) {
    var response = error && error.originalResponse;
    var code = response ? response.getStatus() : 0;
    return code < 400 || code >= 500 || code === 409 || code === 423 || code === 429;
  }

  // A tus upload with the shared options; ``options`` adds or overrides.
  function tusUpload(file, options) {
    var settings = {
      chunkSize: CHUNK_SIZE,
      retryDelays: RETRY_DELAYS,
      removeFingerprintOnSuccess: true,
    };
    Object.keys(options).forEach(function (key) {
      settings[key] = options[key];
    });
    return new window.tus.Upload(file, settings);
  }

  // Go on from where an earlier attempt of this browser stopped (tus fingerprint).
  function tusStart(upload) {
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
      }
      upload.start();
    });
  }

  // Folders dropped: walk the entries (DataTransferItem.webkitGetAsEntry).
  function walk(entry, path, onFile) {
    if (entry.isFile) {
      entry.file(function (file) {
        onFile(file, path + file.name);
      });
    } else if (entry.isDirectory) {
      var reader = entry.createReader();
      var readBatch = function () {
        reader.readEntries(function (entries) {
          if (!entries.length) {
            return;
          }
          entries.forEach(function (child) {
            walk(child, path + entry.name + "/", onFile);
          });
          readBatch(); // readEntries returns at most 100 entries per call
        });
      };
      readBatch();
    }
  }

  // Highlight ``zone`` while something is dragged over it; on a drop, call
  // ``onFiles(files)`` with the dropped files, or, with ``onFile``, walk dropped
  // folders and call ``onFile(file, relativePath)`` for each file in them.
  function dropZone(zone, handlers) {
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("bg-primary-subtle");
      });
    });
    zone.addEventListener("dragleave", function () {
      zone.classList.remove("bg-primary-subtle");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("bg-primary-subtle");
      var items = event.dataTransfer.items;
      if (handlers.onFile && items && items.length && items[0].webkitGetAsEntry) {
        for (var index = 0; index < items.length; index += 1) {
          var entry = items[index].webkitGetAsEntry();
          if (entry) {
            walk(entry, "", handlers.onFile);
          }
        }
      } else {
        handlers.onFiles(event.dataTransfer.files);
      }
    });
  }

  // Files chosen with an <input type="file">: hand them over, then clear the input so
  // the same file can be chosen again.
  function fileInput(input, onFiles) {
    input.addEventListener("change", function () {
      onFiles(input.files);
      input.value = "";
    });
  }

  window.SecureDriveUploads = {
    CHUNK_SIZE: CHUNK_SIZE,
    sizeText: sizeText,
    errorDetail: errorDetail,
    retryWorthwhile: retryWorthwhile,
    tusUpload: tusUpload,
    tusStart: tusStart,
    dropZone: dropZone,
    fileInput: fileInput,
  };
})();
