// The study page's viewer (docs/imaging.md): dwv, fed by /imaging/instances/<id>/, which
// decrypts on the fly under the same access check as a download. No inline script: the
// series' image addresses come from data attributes.
import { App, AppOptions, ToolConfig, ViewConfig } from "../vendor/dwv/dwv.min.js";

const root = document.getElementById("imaging-viewer");
const status = document.getElementById("imaging-viewer-status");
const app = new App();
const options = new AppOptions({ "*": [new ViewConfig("imaging-layer-group")] });
options.tools = {
  Scroll: new ToolConfig(),
  WindowLevel: new ToolConfig(),
  ZoomAndPan: new ToolConfig(),
  Draw: new ToolConfig(["Ruler"]),
};
app.init(options);

function say(text) {
  status.textContent = text;
}

app.addEventListener("loadstart", () => {
  root.dataset.loaded = "false";
  say(root.dataset.loadingText);
});
app.addEventListener("loadend", () => {
  root.dataset.loaded = "true";
  say("");
  app.setTool("Scroll");
});
app.addEventListener("error", () => say(root.dataset.errorText));
app.addEventListener("loaderror", () => say(root.dataset.errorText));

function seriesShow(button) {
  for (const other of document.querySelectorAll("[data-series-urls]")) {
    other.setAttribute("aria-pressed", other === button ? "true" : "false");
  }
  app.reset();
  app.loadURLs(button.dataset.seriesUrls.trim().split(/\s+/));
}

for (const button of document.querySelectorAll("[data-series-urls]")) {
  button.addEventListener("click", () => seriesShow(button));
}
for (const button of document.querySelectorAll("[data-viewer-tool]")) {
  button.addEventListener("click", () => {
    const tool = button.dataset.viewerTool;
    if (tool === "Reset") {
      app.resetDisplay();
      return;
    }
    app.setTool(tool);
    if (tool === "Draw") {
      app.setToolFeatures({ shapeName: "Ruler" });
    }
    // The chosen tool is told by more than colour: aria-pressed (WCAG 1.3.1, 4.1.2).
    for (const other of document.querySelectorAll("[data-viewer-tool][aria-pressed]")) {
      other.classList.toggle("active", other === button);
      other.setAttribute("aria-pressed", other === button ? "true" : "false");
    }
  });
}
window.addEventListener("resize", () => app.onResize());

const first = document.querySelector("[data-series-urls]");
if (first) {
  seriesShow(first);
}
