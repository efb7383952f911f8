// Copy buttons for a link shown once (sharing/links/item.html). No inline script: CSP.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-copy-target]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copyTarget);
      if (!field) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        // Clipboard API refused (no permission, plain HTTP): the text stays selected.
        return;
      }
      const label = button.querySelector("span");
      if (label && button.dataset.copiedText) label.textContent = button.dataset.copiedText;
      button.classList.replace("btn-outline-primary", "btn-success");
    });
  }
});
