// Keyboard shortcuts of the console and the dashboard, and the `?` dialog
// that lists them. Single keys are ignored while typing in a field; the
// reply box handles Ctrl+Enter (Cmd+Enter) itself, and Esc closes dialogs
// (the browser's own, for a modal <dialog>).

import { el } from "/api.js";

const typing = (t) => t instanceof HTMLElement
  && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));

// The help dialog: a modal <dialog> (the rest of the page inert while it is
// open, so focus stays inside), labelled by its heading; Esc or Close
// closes it and focus goes back to where it was.
function helpDialog(keys) {
  const dialog = el("dialog", { id: "help", class: "help", "aria-labelledby": "help-title" },
    el("h2", { id: "help-title" }, "Keyboard shortcuts"),
    el("dl", { class: "keys" }, ...keys.map(([k, what]) => [el("dt", {}, ...k.map((x, i) => [i ? " or " : "", el("kbd", {}, x)])), el("dd", {}, what)])),
    el("p", { class: "muted small" }, "Single keys do nothing while you type in a field."),
    el("form", { method: "dialog" }, el("button", { type: "submit", class: "secondary", id: "help-close", autofocus: true }, "Close")));
  let back = null;
  dialog.addEventListener("close", () => { back?.focus(); back = null; });
  document.body.append(dialog);
  return {
    dialog,
    open() {
      if (dialog.open) return;
      back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      dialog.showModal();
    },
  };
}

// Install the shortcuts: `rows()` the list's row links in order, `reply()`
// and `search()` (when the page has one) the fields or null, `sends` the
// help lines of the reply box's keys, `more` the page's own. A
// "Shortcuts" button in `helpButtonTarget` opens the dialog too.
export function shortcuts({ rows, reply, search, sends, more = [], helpButtonTarget }) {
  const help = helpDialog([
    [["j"], "Next ticket in the list"],
    [["k"], "Previous ticket in the list"],
    [["Enter"], "Open the ticket"],
    [["r"], "Write a reply to the open ticket"],
    ...(search ? [[["/"], "Search"]] : []),
    ...sends,
    ...more,
    [["Esc"], "Close this dialog, or a confirmation"],
    [["?"], "Show these shortcuts"],
  ]);
  if (helpButtonTarget) {
    helpButtonTarget.append(el("button", { type: "button", class: "link", id: "help-open", "aria-keyshortcuts": "?", onclick: help.open }, "Shortcuts"));
  }
  const move = (by) => {
    const list = rows();
    if (list.length === 0) return;
    const at = list.indexOf(document.activeElement);
    const current = at >= 0 ? at : list.findIndex((r) => r.getAttribute("aria-current") === "true");
    const next = current < 0 ? (by > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, current + by));
    list[next].focus();
    list[next].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (typing(e.target) || document.querySelector("dialog[open]")) return;
    const field = (f) => { if (f) { e.preventDefault(); f.focus(); } };
    switch (e.key) {
      case "j": e.preventDefault(); move(1); break;
      case "k": e.preventDefault(); move(-1); break;
      case "r": field(reply()); break;
      case "/": field(search?.()); break;
      case "?": e.preventDefault(); help.open(); break;
      default: break;
    }
  });
  return help;
}

// Ctrl+Enter or Cmd+Enter (with Shift when `shift`).
export const isSend = (e, shift = false) => e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.shiftKey === shift && !e.altKey;
