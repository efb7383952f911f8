// Tables read as a list on a phone (class "table-stack-sm", securedrive.css): below
// 576 px each row is a card and each cell shows its column's name above its value, so
// a 390 px screen needs no sideways scrolling and a row's buttons stay in view.
//
// Two things are done here for every such table of the page (again, harmlessly, after
// htmx swapped part of the page):
// - each cell gets its column's name as data-label, read from the header (one source
//   for the words, already translated); a cell that has one keeps it, and a column whose
//   header has no visible words (the actions) gets none;
// - the table's parts get their table roles explicitly: WebKit (Safari, iOS VoiceOver)
//   drops the table semantics of elements whose CSS display changes, so without them a
//   screen reader on a phone would hear a run of text instead of a table.
// No inline script: CSP.
"use strict";
(() => {
  const visibleWords = (header) => {
    const copy = header.cloneNode(true);
    for (const hidden of copy.querySelectorAll(".visually-hidden")) hidden.remove();
    return copy.textContent.replace(/\s+/g, " ").trim();
  };

  const columnNames = (table) => {
    const names = [];
    const row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!row) return names;
    for (const header of row.cells) {
      for (let span = 0; span < (header.colSpan || 1); span += 1) {
        names.push(visibleWords(header));
      }
    }
    return names;
  };

  const stack = (table) => {
    const names = columnNames(table);
    table.setAttribute("role", "table");
    // Its name stays its caption once the caption is a block.
    const caption = table.caption;
    if (caption && !table.hasAttribute("aria-label") && !table.hasAttribute("aria-labelledby")) {
      if (!caption.id) caption.id = `${table.id || "table"}-caption`;
      table.setAttribute("aria-labelledby", caption.id);
    }
    for (const group of table.querySelectorAll(":scope > thead, :scope > tbody, :scope > tfoot")) {
      group.setAttribute("role", "rowgroup");
    }
    for (const row of table.rows) {
      row.setAttribute("role", "row");
      let column = 0;
      for (const cell of row.cells) {
        if (cell.tagName === "TH") {
          cell.setAttribute("role", cell.scope === "row" ? "rowheader" : "columnheader");
        } else {
          cell.setAttribute("role", "cell");
        }
        const inBody = row.parentElement !== table.tHead;
        if (inBody && !cell.hasAttribute("data-label") && names[column] && cell.colSpan < 2) {
          cell.dataset.label = names[column];
        }
        column += cell.colSpan || 1;
      }
    }
  };

  const stackAll = (root) => {
    for (const table of root.querySelectorAll("table.table-stack-sm")) stack(table);
  };

  document.addEventListener("DOMContentLoaded", () => stackAll(document));
  // Rows swapped in by htmx (a page of a list) are labelled too.
  document.addEventListener("htmx:afterSettle", () => stackAll(document));
})();
