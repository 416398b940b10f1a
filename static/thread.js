// The open ticket's thread and reply box, shared by the console and the
// dashboard. New messages are appended in place: a reader at the bottom
// stays at the bottom, one who scrolled up gets a "N new" button instead;
// the reply box keeps a per-ticket draft in this browser until it is sent,
// and sends files with the reply (multipart: `body`, `visibility`, `files`).

import { api, el, humanSize, messageView, drafts } from "/api.js";
import { isSend } from "/keys.js";
import { getIfChanged, signedOut } from "/live.js";

// The server's limits on a reply's files (domain::attachments), shown next
// to the file picker; the server checks them.
const MAX_FILES = 5;
const MAX_FILE_MIB = 10;
const MAX_TOTAL_MIB = 12;

// `messages` oldest first; `extra(m, all)` adds nodes to a message (actions).
export function threadView(number, messages, extra = () => null) {
  const all = [...messages];
  const seen = new Set(all.map((m) => m.seq));
  const box = el("div", { class: "thread", id: "thread", tabindex: "0", role: "region", "aria-label": "Conversation" },
    ...all.map((m) => messageView(m, number, extra(m, all))));
  const pill = el("button", { type: "button", class: "new-pill", id: "new-pill", hidden: true, onclick: () => toBottom() });
  const node = el("div", { class: "thread-wrap" }, box, pill);
  let unseen = 0;
  const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 32;
  const toBottom = () => {
    box.scrollTop = box.scrollHeight;
    unseen = 0;
    pill.hidden = true;
  };
  box.addEventListener("scroll", () => { if (!pill.hidden && atBottom()) toBottom(); });
  return {
    node,
    toBottom,
    messages: all,
    // The highest message number shown (the next poll's cursor).
    lastSeq: () => all.reduce((n, m) => Math.max(n, m.seq), 0),
    // One poll of the thread: the messages after the last one shown (every
    // page of them), appended. `null` when nothing changed (304); else the
    // messages new to the page, possibly none (the ticket changed without
    // a message, or the server sends no ETags).
    async poll() {
      let path = `/tickets/${number}/thread?limit=100&cursor=${this.lastSeq()}`;
      let page = await getIfChanged(path);
      if (!page) return null;
      const got = [...page.messages];
      const asked = new Set([path]);
      while (page.next_cursor != null) {
        path = `/tickets/${number}/thread?limit=100&cursor=${page.next_cursor}`;
        if (asked.has(path)) break;
        asked.add(path);
        page = await api("GET", path);
        got.push(...page.messages);
      }
      return this.append(got);
    },
    // Append the messages not shown yet, in order; returns them. `mine`:
    // the reader's own post, which always scrolls to it.
    append(list, { mine = false } = {}) {
      const fresh = list.filter((m) => !seen.has(m.seq)).sort((a, b) => a.seq - b.seq);
      if (fresh.length === 0) return [];
      const follow = mine || atBottom();
      for (const m of fresh) {
        seen.add(m.seq);
        all.push(m);
        box.append(messageView(m, number, extra(m, all)));
      }
      if (follow) {
        toBottom();
      } else {
        unseen += fresh.length;
        pill.textContent = `${unseen} new ↓`;
        pill.setAttribute("aria-label", `${unseen} new ${unseen === 1 ? "message" : "messages"}: show`);
        pill.hidden = false;
      }
      return fresh;
    },
  };
}

// POST a reply: JSON without files, multipart with them (contract 3), with
// the Idempotency-Key `key` (the server answers a repeat of a post it made
// with that post, instead of making it twice). No time limit: an upload
// may take long.
async function postReply(number, body, visibility, files, key) {
  const path = `/tickets/${number}/replies`;
  if (files.length === 0) {
    return api("POST", path, visibility ? { body, visibility } : { body }, { idempotencyKey: key });
  }
  const form = new FormData();
  form.append("body", body);
  if (visibility) form.append("visibility", visibility);
  for (const f of files) form.append("files", f, f.name);
  return api("POST", path, form, { idempotencyKey: key });
}

// What a refused upload means, for the person who chose the files: the
// server's reason, with the limits when it is about size or number.
function uploadError(e) {
  const limits = ["file_too_large", "too_many_files", "payload_too_large"].includes(e.code) || e.status === 413;
  return `Not sent: ${e.message}${limits ? ` (at most ${MAX_FILES} files, ${MAX_FILE_MIB} MiB each, ${MAX_TOTAL_MIB} MiB together)` : ""}. Your text and files are still here.`;
}

// The reply box: `label` its heading, `sends` its buttons as
// `{ id, text, primary, visibility, shift }` (the first sends on
// Ctrl+Enter; one with `shift` on Ctrl+Shift+Enter), `onSent(answer)` after
// a post, `onInput()` on every edit.
export function replyBox({ number, me, label, sends, onSent, onInput = () => {} }) {
  const text = el("textarea", { id: "reply-body", name: "body", rows: "5", "aria-describedby": "reply-hint" });
  text.value = drafts.get(me.id, number);
  const chosen = [];
  const picker = el("input", { id: "reply-files", name: "files", type: "file", multiple: true });
  const fileList = el("ul", { class: "files chosen", id: "reply-file-list", "aria-label": "Files to send" });
  const status = el("p", { role: "status", class: "muted", id: "reply-status" });
  // One Idempotency-Key per attempt to send the draft: made when it is
  // first sent, used again when the same text and files go again the same
  // way (after an error: the first try may have been posted with its answer
  // lost, and the server then answers with that post instead of making a
  // second), dropped once sent or as soon as the text or files change.
  let attempt = null;
  const attemptFor = (visibility) => {
    const same = attempt && attempt.text === text.value && attempt.visibility === visibility
      && attempt.files.length === chosen.length && attempt.files.every((f, i) => f === chosen[i]);
    if (!same) attempt = { key: crypto.randomUUID(), text: text.value, visibility, files: [...chosen] };
    return attempt.key;
  };
  const showFiles = () => {
    fileList.replaceChildren(...chosen.map((f, i) => el("li", {},
      el("span", {}, f.name), " ", el("span", { class: "muted" }, `${humanSize(f.size)}${f.type ? `, ${f.type}` : ""}`),
      el("button", { type: "button", class: "link-dark", "aria-label": `Remove ${f.name}`, onclick: () => { chosen.splice(i, 1); attempt = null; showFiles(); } }, "Remove"))));
    fileList.hidden = chosen.length === 0;
  };
  picker.addEventListener("change", () => {
    chosen.push(...picker.files);
    attempt = null;
    picker.value = "";
    showFiles();
    status.textContent = chosen.length > MAX_FILES ? `At most ${MAX_FILES} files per reply.` : "";
  });
  text.addEventListener("input", () => { attempt = null; drafts.set(me.id, number, text.value); onInput(); });
  const buttons = sends.map((s) => el("button", { type: "button", id: s.id, class: s.primary ? "primary" : "secondary", onclick: () => send(s) }, s.text));
  let sending = false;
  async function send(s) {
    if (sending) return;
    if (!text.value.trim() && chosen.length === 0) { status.textContent = "Write something first."; text.focus(); return; }
    sending = true;
    for (const b of buttons) b.disabled = true;
    status.className = "muted";
    status.textContent = chosen.length ? "Sending with files…" : "Sending…";
    try {
      const answer = await postReply(number, text.value, s.visibility, chosen, attemptFor(s.visibility ?? null));
      attempt = null;
      text.value = "";
      chosen.length = 0;
      showFiles();
      drafts.set(me.id, number, "");
      status.textContent = "Sent.";
      onInput();
      onSent(answer);
    } catch (e) {
      if (e.status === 401) signedOut();
      status.className = "error";
      status.textContent = chosen.length ? uploadError(e) : e.message;
      status.scrollIntoView({ block: "nearest" });
    } finally {
      sending = false;
      for (const b of buttons) b.disabled = false;
    }
  }
  text.addEventListener("keydown", (e) => {
    const s = sends.find((x, i) => (x.shift ? isSend(e, true) : i === 0 && isSend(e)));
    if (s) { e.preventDefault(); send(s); }
  });
  const keys = sends.map((s, i) => (s.shift ? `Ctrl+Shift+Enter: ${s.text.toLowerCase()}` : i === 0 ? `Ctrl+Enter: ${s.text.toLowerCase()}` : null)).filter(Boolean);
  showFiles();
  const node = el("form", { class: "reply", onsubmit: (e) => e.preventDefault() },
    el("label", { for: "reply-body" }, label),
    text,
    el("p", { class: "muted small", id: "reply-hint" }, `${keys.join("; ")}. Your draft is kept in this browser until you send it.`),
    el("label", { for: "reply-files" }, `Attach files (up to ${MAX_FILES}, ${MAX_FILE_MIB} MiB each: images, PDF, text, CSV, ZIP or Office)`),
    picker,
    fileList,
    el("div", { class: "actions" }, ...buttons),
    status);
  return {
    node,
    text,
    hasDraft: () => text.value.trim() !== "",
    focus: () => text.focus(),
  };
}
