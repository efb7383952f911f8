// The expiry choice (sharing/forms/expiry.py): the date input is shown only while
// "until a date" is chosen. Without this script both stay visible and work. No inline
// script: CSP.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const group of document.querySelectorAll("[data-expiry]:not([data-expiry-ready])")) {
    group.dataset.expiryReady = "";
    const dateChoice = group.querySelector("[data-expiry-date-choice]");
    const dateBox = group.querySelector("[data-expiry-date]");
    if (!dateChoice || !dateBox) continue;
    const update = () => {
      dateBox.hidden = !dateChoice.checked;
    };
    for (const radio of group.querySelectorAll('input[type="radio"]')) {
      radio.addEventListener("change", () => {
        update();
        if (dateChoice.checked) dateBox.querySelector("input")?.focus();
      });
    }
    update();
  }
});
