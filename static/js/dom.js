// Small DOM helpers: build elements without innerHTML, format values for people.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function formatDate(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// Server messages become sentences: a capital is theirs to choose, the closing stop is ours.
export function sentence(text) {
  const trimmed = (text || "").trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

export const STATUS_LABELS = {
  NOT_STARTED: "Not started",
  IN_PROGRESS: "In progress",
  COMPLETED: "Completed",
  PASSED: "Passed",
  FAILED: "Failed",
};

export const EMAIL_LABELS = { NOT_SENT: "Not sent", QUEUED: "Queued", SENT: "Sent", FAILED: "Failed" };

export const KIND_LABELS = { INTERNAL: "Internal", EXTERNAL: "External" };

export function progressBar(value, label) {
  const percent = Math.round((value || 0) * 100);
  return h(
    "span",
    { class: "progress" },
    h("progress", { max: 100, value: percent, "aria-label": label || "Progress" }),
    h("span", { class: "progress-text" }, `${percent}%`),
  );
}

// A status line that screen readers announce; kind is "ok", "error" or "info".
export function notice(kind, text) {
  return h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// Ask before a destructive step, in a real modal dialog (Esc cancels, focus is trapped).
export function confirmDialog({ title, text, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "confirm-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", {}, text),
        h(
          "div",
          { class: "actions" },
          h("button", { value: "cancel", class: "button secondary" }, "Cancel"),
          h("button", { value: "ok", class: danger ? "button danger" : "button" }, confirmLabel),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
}
