// A disclosure folded for phones (<details data-open-when-wide>: the audit explorer's
// filters, whose form was 480 px tall at 390 px above the results, and the questions'
// dates) opens on a screen wide enough to show its content beside the rest. Without JavaScript it stays
// folded everywhere and its summary still names what is in force: one tap opens it.
//
// Included right after the element, not deferred, so it opens before the page is first
// drawn and nothing below it jumps down. No inline script: CSP.
"use strict";
(() => {
  if (!window.matchMedia("(min-width: 768px)").matches) return;
  for (const details of document.querySelectorAll("details[data-open-when-wide]")) {
    details.open = true;
  }
})();
