// The preview page (templates/files/_preview_body.html): PDF.js draws a PDF page by
// page on a canvas. No inline script (CSP); PDF.js is vendored (static/vendor/pdfjs)
// and parses the PDF in a module worker, the one worker the preview page's CSP allows.
// No eval, no WebAssembly, no PDF scripting, no annotation layer: only pixels.
"use strict";

const holder = document.getElementById("pdf-preview");

async function showPdf() {
  const pdfjs = await import(holder.dataset.library);
  pdfjs.GlobalWorkerOptions.workerSrc = holder.dataset.worker;
  const canvas = document.getElementById("pdf-canvas");
  const status = document.getElementById("pdf-status");
  const previous = document.getElementById("pdf-previous");
  const next = document.getElementById("pdf-next");
  const task = pdfjs.getDocument({
    url: holder.dataset.src,
    withCredentials: true,
    // One request for the whole file: one "viewed" event in the audit log.
    disableRange: true,
    disableStream: true,
    isEvalSupported: false,
    enableXfa: false,
    useWasm: false,
    standardFontDataUrl: holder.dataset.fonts,
  });
  const pdf = await task.promise;
  let current = 1;
  let rendering = null;

  async function draw(number) {
    if (rendering) await rendering.promise.catch(() => {});
    const page = await pdf.getPage(number);
    const width = holder.clientWidth || 800;
    const unscaled = page.getViewport({ scale: 1 });
    const ratio = window.devicePixelRatio || 1;
    const viewport = page.getViewport({ scale: (width / unscaled.width) * ratio });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    canvas.style.width = `${Math.floor(viewport.width / ratio)}px`;
    rendering = page.render({ canvas, canvasContext: canvas.getContext("2d"), viewport });
    await rendering.promise;
    current = number;
    status.textContent = holder.dataset.pageOf
      .replace("%(page)s", String(number))
      .replace("%(pages)s", String(pdf.numPages));
    previous.disabled = number <= 1;
    next.disabled = number >= pdf.numPages;
    holder.dataset.rendered = String(number);
  }

  previous.addEventListener("click", () => current > 1 && draw(current - 1));
  next.addEventListener("click", () => current < pdf.numPages && draw(current + 1));
  await draw(1);
}

if (holder) {
  showPdf().catch(() => {
    const failed = document.getElementById("pdf-failed");
    if (failed) failed.hidden = false;
    holder.hidden = true;
  });
}
