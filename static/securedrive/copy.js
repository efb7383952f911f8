// Copy buttons next to a link shown on a page (templates/includes/copy_field.html): the
// address of a new share link, of a new file request. The Clipboard API where the
// browser allows it; otherwise the text is selected, for Ctrl+C. The field's live region
// says what happened ("Copied", "Copié") to those who see it and to screen readers.
// No inline script: CSP.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const copy = async (field) => {
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      return true;
    } catch {
      // No Clipboard API here (plain HTTP, permission refused): the older way, which
      // copies the selection; where it fails too, the selection stays for the keyboard.
      try {
        return document.execCommand("copy");
      } catch {
        return false;
      }
    }
  };

  for (const button of document.querySelectorAll("[data-copy-target]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copyTarget);
      const status = document.getElementById(button.dataset.copyStatus);
      if (!field) return;
      const done = await copy(field);
      if (done) {
        button.classList.replace("btn-outline-primary", "btn-success");
        button.querySelector(".bi")?.classList.replace("bi-clipboard", "bi-clipboard-check");
      }
      if (status) {
        // Emptied first, so that copying twice is announced twice.
        status.textContent = "";
        window.setTimeout(() => {
          status.textContent = done ? button.dataset.copiedText : button.dataset.selectedText;
        }, 100);
      }
    });
  }
});
