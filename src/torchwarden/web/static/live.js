// Live pages: the server sends the page's tables as JSON over server-sent events; each is
// rendered again with textContent only, so no text from a run is ever parsed as markup.
"use strict";

function renderCell(cell) {
  const td = document.createElement("td");
  if (cell.cls) td.className = cell.cls;
  if (cell.href && cell.href.startsWith("/") && !cell.href.startsWith("//")) {
    const a = document.createElement("a");
    a.href = cell.href;
    a.textContent = cell.text;
    td.appendChild(a);
  } else {
    td.textContent = cell.text;
  }
  return td;
}

function renderTable(el, table) {
  const body = document.createElement("tbody");
  for (const row of table.rows) {
    const tr = document.createElement("tr");
    for (const cell of row) tr.appendChild(renderCell(cell));
    body.appendChild(tr);
  }
  if (!table.rows.length) {
    const td = document.createElement("td");
    td.className = "empty";
    td.colSpan = table.columns.length;
    td.textContent = table.empty;
    body.appendChild(document.createElement("tr")).appendChild(td);
  }
  el.replaceChild(body, el.tBodies[0]);
}

function apply(message) {
  const parts = Object.assign({}, message, message.tables || {});
  for (const [key, value] of Object.entries(parts)) {
    if (value && Array.isArray(value.columns)) {
      const el = document.querySelector(`table[data-table="${key}"]`);
      if (el) renderTable(el, value);
    } else if (typeof value === "string" || typeof value === "number") {
      for (const el of document.querySelectorAll(`[data-field="${key}"]`)) {
        el.textContent = String(value);
      }
    }
  }
  if (Array.isArray(message.points)) {
    document.dispatchEvent(new CustomEvent("tw-points", { detail: message.points }));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const url = document.body.dataset.live;
  const badge = document.querySelector("[data-conn]");
  if (!url) {
    if (badge) badge.hidden = true;
    return;
  }
  const source = new EventSource(url);
  source.onopen = () => { badge.textContent = "live"; badge.className = "conn live"; };
  source.onerror = () => { badge.textContent = "reconnecting"; badge.className = "conn warn"; };
  source.onmessage = (e) => {
    apply(JSON.parse(e.data));
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  };
});
