// The staff console: views Pending / Working on / Resolved with counts, the
// ticket list, and the ticket view with the whole thread and a reply box for
// public replies and internal notes. It keeps itself up to date (live.js):
// the view and its counts every 8 s, the open ticket's thread every 4 s and
// who else has it open every 10 s, while the page is visible.
import { api, request, READ_TIMEOUT_MS, el, timeEl, when, requireUser, logout, wholeThread, showError, STATUS_LABELS, keepTimesFresh } from "/api.js";
import { every, getIfChanged, forget, connectionNotice } from "/live.js";
import { shortcuts } from "/keys.js";
import { threadView, replyBox } from "/thread.js";

/** Poll intervals (issue 19, contract 5). */
const INBOX_MS = 8000;
const THREAD_MS = 4000;
const PRESENCE_MS = 10000;
const VIEWS = ["pending", "working", "resolved"];
const VIEW_LABELS = { pending: "Pending", working: "Working on", resolved: "Resolved" };

const state = { me: null, view: "pending", tickets: [], cursor: null, counts: {}, names: new Map(), searching: null, open: null, shown: "" };
let inboxPoll = null;
const $ = (id) => document.getElementById(id);

// Say something to screen readers (the one live region of the lists).
function announce(text) {
  $("announce").textContent = "";
  setTimeout(() => { $("announce").textContent = text; }, 50);
}

async function customerName(id) {
  if (!state.names.has(id)) {
    state.names.set(id, api("GET", `/users/${id}`).then((r) => r.user.name).catch(() => id));
  }
  return state.names.get(id);
}

// The most rows one poll asks for (the server's largest page).
const POLL_ROWS = 100;

// The first page of the current view, as polled: the rows shown, up to
// POLL_ROWS.
const inboxPath = () => `/inbox?view=${state.view}&limit=${Math.min(POLL_ROWS, Math.max(50, state.tickets.length))}`;

// The rows to show after a poll brought `page` (the view's first page),
// when more rows were shown (`shown`, loaded with "Load more") than a poll
// covers. The rows of `shown` up to the last one the page also has (the
// end of the range the page covers) are the page's business: they are
// replaced by the page's rows, and those it no longer has left the view.
// The rows after it (the tail) are kept as they were, less those now on
// the page: rows pushed down out of the page (Working on and Resolved
// take new rows on top) stay, and "Load more" goes on from the cursor it
// had. A tail row that changed or left the view shows so once the view is
// loaded again (a tab, a cleared search). A page with none of the shown
// rows is the view from the start.
function mergeFirstPage(shown, page) {
  const inPage = new Set(page.map((t) => t.number));
  const last = page.findLast((t) => shown.some((s) => s.number === t.number));
  if (!last) return null;
  const end = shown.findIndex((s) => s.number === last.number);
  return page.concat(shown.slice(end + 1).filter((t) => !inPage.has(t.number)));
}

// One poll of the current view (Pending of my queues, oldest waiting first;
// Working on, mine; Resolved, newest first) with the counts of all three.
// While searching, only the counts are taken.
async function pollInbox() {
  const view = state.view;
  const page = await getIfChanged(inboxPath());
  if (!page || view !== state.view) return;
  const before = state.counts.pending;
  state.counts = page.counts;
  if (before !== undefined && page.counts.pending > before) {
    announce(`${page.counts.pending - before} new in Pending`);
  }
  if (!state.searching) {
    const merged = state.tickets.length > POLL_ROWS ? mergeFirstPage(state.tickets, page.tickets) : null;
    state.tickets = merged ?? page.tickets;
    // "Load more" goes on after the tail, or (the view from the start, or
    // a tail that was the view's end and the view grew) after the page:
    // it skips the rows already shown.
    if (!merged || (!state.cursor && (page.counts[view] ?? 0) > merged.length)) state.cursor = page.next_cursor;
    $("more").hidden = !state.cursor;
  }
  await render();
  const open = state.open;
  if (open && !state.searching) {
    const row = state.tickets.find((t) => t.number === open.ticket.number);
    const left = open.seenIn === view && !row;
    open.seenIn = row ? view : null;
    if (left || (row && row.version !== open.ticket.version)) await open.refresh();
  }
}

// The view from the start (a new tab, a cleared search), or one more page.
async function loadTickets(more = false) {
  if (!more) {
    if (state.searching) return runSearch(state.searching);
    forget(inboxPath());
    return inboxPoll ? inboxPoll.now() : pollInbox();
  }
  const page = await api("GET", `/inbox?view=${state.view}&limit=50&cursor=${encodeURIComponent(state.cursor)}`);
  const shown = new Set(state.tickets.map((t) => t.number));
  state.tickets = state.tickets.concat(page.tickets.filter((t) => !shown.has(t.number)));
  state.cursor = page.next_cursor;
  $("more").hidden = !state.cursor;
  await render();
}

// Search: #22 opens ticket 22; words search subjects, customers and
// messages; the results replace the list until cleared.
async function runSearch(q, navigate = false) {
  if (!q.trim()) { state.searching = null; await loadTickets(); return; }
  const r = await api("GET", `/search?q=${encodeURIComponent(q)}&limit=50`);
  if (navigate && r.by_number && r.tickets.length === 1) {
    location.hash = `#${r.tickets[0].number}`;
  }
  state.searching = q;
  state.tickets = r.tickets;
  state.cursor = null;
  $("more").hidden = true;
  await render();
}

function selectTab(view, focus = false) {
  for (const v of VIEWS) {
    const tab = $(`tab-${v}`);
    tab.setAttribute("aria-selected", String(v === view));
    tab.tabIndex = v === view ? 0 : -1;
  }
  $("inbox-panel").setAttribute("aria-labelledby", `tab-${view}`);
  if (focus) $(`tab-${view}`).focus();
  if (view === state.view && !state.searching) return;
  state.view = view;
  state.searching = null;
  state.tickets = [];
  $("search").value = "";
  loadTickets().catch((e) => showError($("ticket"), e));
}

// Counts, unread markers (in the tabs and the window title) and the rows,
// changed only where something changed: focus stays on the row it was on.
let rendering = 0;
async function render() {
  const unread = state.searching ? 0 : state.tickets.filter((t) => t.unread).length;
  for (const v of VIEWS) {
    $(`count-${v}`).textContent = state.counts[v] ?? 0;
    const badge = $(`unread-${v}`);
    badge.hidden = v !== state.view || unread === 0;
    badge.title = `${unread} unread`;
    badge.replaceChildren(String(unread), el("span", { class: "sr-only" }, " unread"));
  }
  document.title = `${unread ? `(${unread}) ` : ""}Console · Ticketshare`;
  const openNo = state.open?.ticket.number ?? null;
  const shown = JSON.stringify([state.view, state.searching, state.tickets, openNo]);
  if (shown === state.shown) return;
  const mine = ++rendering;
  const list = $("ticket-list");
  const banner = state.searching ? el("li", { class: "search-banner" },
    `Results for “${state.searching}” `,
    el("button", { type: "button", class: "link-dark", id: "search-clear", onclick: () => { $("search").value = ""; runSearch(""); } }, "Clear")) : null;
  const items = state.tickets.length === 0
    ? [el("li", { class: "empty" }, state.searching ? "No ticket matches." : "No tickets here.")]
    : await Promise.all(state.tickets.map(async (t) => el("li", {},
      el("a", { href: `#${t.number}`, class: `ticket-row${t.unread ? " unread" : ""}`, "data-number": t.number, "aria-current": t.number === openNo ? "true" : null },
        el("span", { class: "num" }, t.ref),
        el("span", { class: "subject" }, t.subject),
        el("span", { class: "customer" }, await customerName(t.customer_id), t.assignee_name && state.view !== "working" ? ` · ${t.assignee_name}` : ""),
        el("span", { class: `status status-${t.status}` }, STATUS_LABELS[t.status] ?? t.status),
        timeEl(t.updated_at),
        t.unread ? el("span", { class: "unread-dot" }, el("span", { "aria-hidden": "true" }, "●"), el("span", { class: "sr-only" }, "unread")) : null))));
  if (mine !== rendering) return;
  const focused = document.activeElement?.closest?.(".ticket-row")?.dataset.number;
  list.replaceChildren(...[banner, ...items].filter(Boolean));
  state.shown = shown;
  if (focused) list.querySelector(`.ticket-row[data-number="${focused}"]`)?.focus();
}

// Transfer: to a staff member (searched by name) and/or another queue, with
// a hand-off note shown in the thread as an internal event.
function transferDialog(ticket, bar, done, cancel) {
  const search = el("input", { id: "transfer-search", type: "search", placeholder: "Search staff by name", autocomplete: "off" });
  const people = el("select", { id: "transfer-to" }, el("option", { value: "" }, "(nobody: the queue's Pending)"));
  const queue = el("input", { id: "transfer-queue", value: ticket.queue, list: "queue-names", maxlength: "40" });
  const names = el("datalist", { id: "queue-names" });
  const note = el("input", { id: "transfer-note", maxlength: "500", placeholder: "Hand-off note (optional)" });
  const status = el("p", { role: "status", class: "muted" });
  const find = async () => {
    const r = await api("GET", `/staff?q=${encodeURIComponent(search.value)}`);
    people.replaceChildren(el("option", { value: "" }, "(nobody: the queue's Pending)"),
      ...r.staff.filter((u) => u.id !== ticket.assignee_id).map((u) => el("option", { value: u.id }, `${u.name}${u.queues.length ? ` (${u.queues.join(", ")})` : ""}`)));
    names.replaceChildren(...r.queues.map((q) => el("option", { value: q })));
  };
  search.addEventListener("input", () => find().catch((e) => { status.textContent = e.message; }));
  find().catch((e) => { status.textContent = e.message; });
  bar.dataset.mode = "transfer";
  bar.replaceChildren(el("div", { class: "transfer", role: "group", "aria-label": `Transfer ${ticket.ref}` },
    el("label", { for: "transfer-search" }, "Find a staff member"), search,
    el("label", { for: "transfer-to" }, "Transfer to"), people,
    el("label", { for: "transfer-queue" }, "Queue"), queue, names,
    el("label", { for: "transfer-note" }, "Note"), note,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary", id: "confirm-transfer", onclick: () => {
        const body = { if_version: ticket.version };
        if (people.value) body.to = people.value;
        if (queue.value && queue.value !== ticket.queue) body.queue = queue.value;
        if (note.value.trim()) body.note = note.value;
        if (!body.to && !body.queue) { status.textContent = "Pick a person or another queue."; return; }
        done(body, status);
      } }, "Transfer"),
      el("button", { type: "button", class: "secondary", onclick: cancel }, "Cancel")),
    status));
  search.focus();
}

// "Manage delegates": list with status, invite by email, resend, revoke.
async function delegatesView(number) {
  const box = el("section", { class: "delegates", "aria-labelledby": "delegates-title" });
  const render = async () => {
    let list = [];
    try { list = (await api("GET", `/tickets/${number}/delegates`)).delegates; } catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    const email = el("input", { id: "delegate-email", type: "email", name: "email", required: true, autocomplete: "off" });
    const canReply = el("input", { id: "delegate-can-reply", type: "checkbox", checked: true });
    const status = el("p", { role: "status", class: "muted" });
    const act = async (fn) => { try { await fn(); await render(); } catch (e) { status.textContent = e.message; } };
    box.replaceChildren(
      el("h3", { id: "delegates-title" }, "Delegates"),
      list.length === 0 ? el("p", { class: "muted" }, "No delegates yet.") :
        el("ul", { class: "delegate-list" }, ...list.map((d) => el("li", {},
          el("span", {}, `${d.name} <${d.email}>`), " ",
          el("span", { class: `badge delegate-${d.status}` }, d.status === "invited" ? "Invited" : d.status === "accepted" ? "Accepted" : "Revoked"),
          d.can_reply ? null : el("span", { class: "badge" }, "View only"),
          d.status !== "accepted" ? el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/tickets/${number}/delegates/${d.user_id}/resend`)) }, "Resend") : null,
          d.status !== "revoked" ? el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/tickets/${number}/delegates/${d.user_id}/revoke`)) }, "Revoke") : null))),
      el("form", { class: "invite", onsubmit: (e) => { e.preventDefault(); act(async () => { await api("POST", `/tickets/${number}/delegates`, { email: email.value, can_reply: canReply.checked }); status.textContent = `Invitation sent to ${email.value}.`; }); } },
        el("label", { for: "delegate-email" }, "Invite a delegate (customer email)"),
        email,
        el("label", { class: "inline" }, canReply, " Can reply"),
        el("button", { type: "submit", class: "secondary", id: "invite-delegate" }, "Send invitation")),
      status);
  };
  await render();
  return box;
}

// Participants: list, add by any email (customer or guest), remove.
async function participantsView(number) {
  const box = el("section", { class: "delegates", "aria-labelledby": "participants-title" });
  const render = async () => {
    let list = [];
    try { list = (await api("GET", `/tickets/${number}/participants`)).participants; } catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    const email = el("input", { id: "participant-email", type: "email", name: "email", required: true, autocomplete: "off" });
    const status = el("p", { role: "status", class: "muted" });
    const act = async (fn) => { try { await fn(); await render(); } catch (e) { status.textContent = e.message; } };
    box.replaceChildren(
      el("h3", { id: "participants-title" }, "Participants"),
      list.length === 0 ? el("p", { class: "muted" }, "No participants.") :
        el("ul", { class: "delegate-list" }, ...list.map((p) => el("li", {},
          el("span", {}, `${p.name} <${p.email}>`), " ",
          el("span", { class: "badge" }, p.guest ? "Guest" : "Customer"),
          p.can_reply ? null : el("span", { class: "badge" }, "View only"),
          el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/tickets/${number}/participants/${p.id}/remove`)) }, "Remove")))),
      el("form", { class: "invite", onsubmit: (e) => { e.preventDefault(); act(async () => { await api("POST", `/tickets/${number}/participants`, { email: email.value }); status.textContent = `Added ${email.value}; their personal link is on its way.`; }); } },
        el("label", { for: "participant-email" }, "Add a participant (any email)"),
        email,
        el("button", { type: "submit", class: "secondary", id: "add-participant" }, "Add participant")),
      status);
  };
  await render();
  return box;
}

const SHARE_STATES = {
  awaiting_verification: "Awaiting verification",
  active: "Active",
  locked: "Locked (too many wrong codes)",
  expired: "Expired",
  cancelled: "Cancelled",
};

function mayShare() {
  return state.me.role === "admin" || (state.me.permissions ?? []).includes("external_share");
}

// External shares: the share form (email, subject, note, details off,
// can reply on) and every share of the ticket with Cancel, Re-share, Extend.
async function sharesView(ticket) {
  const number = ticket.number;
  const box = el("section", { class: "delegates shares", id: "shares", "aria-labelledby": "shares-title" });
  const render = async (message = "") => {
    let list = [];
    try { list = (await api("GET", `/tickets/${number}/shares`)).shares; } catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    const email = el("input", { id: "share-email", type: "email", name: "email", required: true, autocomplete: "off" });
    const subject = el("input", { id: "share-subject", name: "subject", required: true, maxlength: "200", value: `${ticket.ref} ${ticket.subject}` });
    const note = el("textarea", { id: "share-note", name: "note", rows: "3", maxlength: "5000" });
    const details = el("input", { id: "share-details", type: "checkbox" });
    const canReply = el("input", { id: "share-can-reply", type: "checkbox", checked: true });
    const status = el("p", { role: "status", class: "muted" }, message);
    const act = async (fn, done) => {
      for (const b of box.querySelectorAll("button")) b.disabled = true;
      try { await fn(); await render(done); } catch (e) { status.textContent = e.message; for (const b of box.querySelectorAll("button")) b.disabled = false; }
    };
    const live = (s) => s.state === "active" || s.state === "awaiting_verification";
    box.replaceChildren(
      el("h3", { id: "shares-title" }, "External shares"),
      list.length === 0 ? el("p", { class: "muted" }, "Not shared outside the team.") :
        el("ul", { class: "delegate-list share-list" }, ...list.map((s) => el("li", { "data-share": s.id },
          el("span", {}, s.email), " ",
          el("span", { class: `badge share-${s.state}` }, SHARE_STATES[s.state] ?? s.state),
          s.can_reply ? null : el("span", { class: "badge" }, "View only"),
          s.include_details ? el("span", { class: "badge" }, "With details") : null,
          el("span", { class: "muted small" }, ` by ${s.created_by_name}, ${when(s.created_at)}; expires ${when(s.expires_at)}; ${s.last_opened_at ? `last opened ${when(s.last_opened_at)}` : "not opened yet"}`),
          live(s) ? el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/tickets/${number}/shares/${s.id}/cancel`), `Cancelled the link of ${s.email}.`) }, "Cancel") : null,
          live(s) ? el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/tickets/${number}/shares/${s.id}/extend`), `Extended the link of ${s.email}.`) }, "Extend") : null,
          s.state !== "cancelled" || !list.some((o) => o.email === s.email && live(o))
            ? el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/tickets/${number}/shares/${s.id}/reshare`), `A new link is on its way to ${s.email}.`) }, "Re-share") : null))),
      el("form", { class: "invite", id: "share-form", onsubmit: (e) => { e.preventDefault(); act(() => api("POST", `/tickets/${number}/shares`, { email: email.value, subject: subject.value, note: note.value, include_details: details.checked, can_reply: canReply.checked }), `Shared with ${email.value}: the link is on its way.`); } },
        el("label", { for: "share-email" }, "Share with (collaborator email)"), email,
        el("label", { for: "share-subject" }, "Subject"), subject,
        el("label", { for: "share-note" }, "Note for the collaborator (never shown to the customer)"), note,
        el("label", { class: "inline" }, details, " Include customer and order details"),
        el("label", { class: "inline" }, canReply, " Collaborator can reply"),
        el("button", { type: "submit", class: "secondary", id: "share-send" }, "Share ticket")),
      status);
  };
  await render();
  return box;
}

// Staff with the external share permission turn a collaborator's external
// note into a public reply (once); others see the note without the button.
function promoteButton(number, m, messages) {
  if (m.visibility !== "external" || !mayShare()) return null;
  if (messages.some((o) => o.promoted_from === m.seq)) return el("p", { class: "muted small" }, "Promoted to a public reply.");
  return el("button", { type: "button", class: "link-dark promote", onclick: async (e) => {
    e.target.disabled = true;
    try { await api("POST", `/tickets/${number}/messages/${m.seq}/promote`); await state.open?.poll.now(); } catch (err) { e.target.disabled = false; e.target.textContent = err.message; }
  } }, "Promote to public reply");
}

// Accept / Return / Transfer, Resolve / Reopen, Mark unread, and Delete
// behind an inline confirmation (deleting revokes every delegate and
// participant link of the ticket). `bar.dataset.mode` is "buttons" unless a
// confirmation or the transfer form is open (Esc goes back to the buttons);
// `changed()` runs after an action succeeded.
function ticketActions(ticket, changed, deleted) {
  const number = ticket.number;
  const status = el("p", { role: "status", class: "muted" });
  const bar = el("div", { class: "actions ticket-actions", id: "ticket-actions" });
  // One request at a time: the bar's buttons are disabled while it runs.
  const act = async (what, done, body, shown = status) => {
    for (const b of bar.querySelectorAll("button")) b.disabled = true;
    try {
      await api("POST", `/tickets/${number}/${what}`, body);
      inboxPoll?.now();
      await done();
    } catch (e) {
      shown.textContent = e.message;
      for (const b of bar.querySelectorAll("button")) b.disabled = false;
    }
  };
  const open = ticket.status !== "resolved";
  const buttons = () => {
    bar.dataset.mode = "buttons";
    bar.replaceChildren(...[
      open && !ticket.assignee_id ? el("button", { type: "button", id: "accept", class: "primary", onclick: () => act("accept", changed) }, "Accept") : null,
      open && ticket.assignee_id ? el("button", { type: "button", id: "return", class: "secondary", onclick: confirmReturn }, "Return") : null,
      open ? el("button", { type: "button", id: "transfer", class: "secondary", onclick: () => transferDialog(ticket, bar, (body, shown) => act("transfer", changed, body, shown), cancel) }, "Transfer") : null,
      ticket.status === "resolved"
        ? el("button", { type: "button", id: "reopen", class: "secondary", onclick: () => act("reopen", changed) }, "Reopen")
        : el("button", { type: "button", id: "resolve", class: "secondary", onclick: () => act("resolve", changed) }, "Resolve"),
      el("button", { type: "button", id: "mark-unread", class: "link-dark", onclick: () => act("unread", () => { status.textContent = `${ticket.ref} is unread again.`; }) }, "Mark unread"),
      el("button", { type: "button", id: "delete", class: "link-dark", onclick: confirmDelete }, "Delete"),
      status].filter(Boolean));
  };
  const cancel = () => {
    const from = bar.dataset.mode;
    buttons();
    bar.querySelector(`#${from === "confirm-delete" ? "delete" : from}`)?.focus();
  };
  bar.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && bar.dataset.mode !== "buttons") { e.preventDefault(); cancel(); }
  });
  // Return to Pending, with an optional reason for the next person.
  const confirmReturn = () => {
    const reason = el("input", { id: "return-reason", maxlength: "500", placeholder: "Reason (optional)" });
    const shown = el("p", { role: "status", class: "muted" });
    bar.dataset.mode = "return";
    bar.replaceChildren(
      el("label", { for: "return-reason" }, "Return to Pending"), reason,
      el("button", { type: "button", id: "confirm-return", class: "secondary", onclick: () => act("return", changed, reason.value.trim() ? { reason: reason.value } : undefined, shown) }, "Return"),
      el("button", { type: "button", class: "link-dark", onclick: cancel }, "Cancel"),
      shown);
    reason.focus();
  };
  const confirmDelete = () => {
    bar.dataset.mode = "confirm-delete";
    bar.replaceChildren(
      el("span", {}, `Delete ${ticket.ref}? It disappears from every view and every delegate, participant and external share link stops working.`),
      el("button", { type: "button", id: "confirm-delete", class: "danger", onclick: () => act("delete", deleted) }, "Yes, delete"),
      el("button", { type: "button", class: "secondary", onclick: cancel }, "Cancel"),
      status);
    bar.querySelector("#confirm-delete").focus();
  };
  buttons();
  return bar;
}

// Who else has the open ticket (presence, contract 2), in one line.
function presenceText(viewers) {
  const typing = viewers.filter((v) => v.composing).map((v) => v.name);
  const looking = viewers.filter((v) => !v.composing).map((v) => v.name);
  const names = (list) => (list.length <= 2 ? list.join(" and ") : `${list.slice(0, -1).join(", ")} and ${list.at(-1)}`);
  const parts = [];
  if (typing.length) parts.push(`${names(typing)} ${typing.length === 1 ? "is" : "are"} typing…`);
  if (looking.length) parts.push(`${names(looking)} ${looking.length === 1 ? "is" : "are"} viewing`);
  return parts.join("; ");
}

// The ticket's heading, state line and staff who replied.
async function ticketHead(ticket, messages) {
  const repliers = [...new Set(messages.filter((m) => m.author.kind === "staff").map((m) => m.author.name))];
  const assignee = ticket.assignee_id ? await customerName(ticket.assignee_id) : null;
  return [
    el("h2", {}, `${ticket.ref} ${ticket.subject}`),
    el("p", { class: "meta" },
      el("span", { class: `status status-${ticket.status}` }, STATUS_LABELS[ticket.status]),
      " · customer ", await customerName(ticket.customer_id), " · queue ", ticket.queue,
      " · ", el("span", { id: "assignee" }, assignee ? `with ${assignee}` : "unassigned"),
      " · updated ", timeEl(ticket.updated_at)),
    repliers.length ? el("p", { class: "meta", id: "repliers" }, `Staff who replied: ${repliers.join(", ")}`) : null,
  ].filter(Boolean);
}

// Stop following the open ticket.
function closeOpen() {
  const o = state.open;
  if (!o) return;
  o.closed = true;
  o.poll.stop();
  o.presence.stop();
  state.open = null;
}

// The latest ticket asked for: an older one still loading is dropped.
let opening = 0;

async function openTicket(number) {
  const pane = $("ticket");
  const mine = ++opening;
  closeOpen();
  let ticket;
  let messages;
  try {
    [{ ticket }, messages] = await Promise.all([api("GET", `/tickets/${number}`), wholeThread(number)]);
  } catch (e) {
    if (mine === opening) showError(pane, e);
    return;
  }
  const o = { ticket, closed: false, seenIn: state.tickets.some((t) => t.number === ticket.number) ? state.view : null, typedAt: 0, sentComposing: false };
  const head = el("div", { id: "ticket-head" }, ...await ticketHead(ticket, messages));
  const presence = el("p", { id: "presence", class: "presence", "aria-live": "polite" });
  const collision = el("div", { id: "collision", class: "collision", role: "alert" });
  const actionsBox = el("div", { id: "actions-box" });
  const thread = threadView(number, messages, (m, all) => promoteButton(number, m, all));
  const composing = () => o.reply.hasDraft() && Date.now() - o.typedAt < 15000;
  o.thread = thread;
  o.reply = replyBox({
    number,
    me: state.me,
    label: "Reply",
    sends: [
      { id: "send-public", text: "Send public reply", primary: true, visibility: "public" },
      { id: "send-internal", text: "Add internal note", visibility: "internal", shift: true },
    ],
    onInput() {
      o.typedAt = Date.now();
      if (composing() !== o.sentComposing) o.presence.now();
    },
    onSent(answer) {
      thread.append([answer.message], { mine: true });
      collision.replaceChildren();
      o.typedAt = 0;
      o.presence.now();
      o.showTicket(answer.ticket);
      markRead();
    },
  });
  // The state line and the action bar from a fresh ticket (the bar only
  // while it shows its buttons: an open form is left alone).
  o.showTicket = async (t) => {
    if (!t) return;
    const changed = JSON.stringify(t) !== JSON.stringify(o.ticket);
    o.ticket = t;
    if (!changed || o.closed) return;
    head.replaceChildren(...await ticketHead(t, thread.messages));
    const bar = actionsBox.firstElementChild;
    if (!bar || bar.dataset.mode === "buttons") {
      const hadFocus = bar?.contains(document.activeElement) ? document.activeElement.id : null;
      actionsBox.replaceChildren(ticketActions(t, () => o.refresh(true), deleted));
      if (hadFocus) (actionsBox.querySelector(`#${hadFocus}`) ?? actionsBox.querySelector("button"))?.focus();
    }
  };
  o.refresh = async (force = false) => {
    if (force) forget(`/tickets/${number}`);
    try {
      const r = await getIfChanged(`/tickets/${number}`);
      if (r) await o.showTicket(r.ticket);
    } catch (e) {
      if (e.status === 404) gone(`${ticket.ref} is no longer available here: it was deleted, or moved out of your queues.`); else throw e;
    }
    if (force) await o.poll.now();
  };
  // What is shown is read: the ticket's unread marker goes, in the list too.
  const markRead = () => api("POST", `/tickets/${number}/read`).then(() => inboxPoll?.now()).catch(() => {});
  // The ticket went away: deleted here, or (found by a poll) elsewhere.
  const gone = (text) => {
    closeOpen();
    history.replaceState(null, "", "/console");
    pane.replaceChildren(el("p", { class: "muted", role: "status" }, text));
    render();
  };
  const deleted = () => gone(`${ticket.ref} was deleted.`);
  // New messages since the last one shown, then the ticket (its state
  // may have changed with them, or without: the thread's ETag covers both).
  const pollThread = async () => {
    const fresh = o.closed ? null : await thread.poll().catch((e) => (e.status === 404 ? o.refresh().then(() => null) : Promise.reject(e)));
    if (fresh === null || o.closed) return;
    if (fresh.length) {
      announce(fresh.length === 1 ? `New message from ${fresh[0].author.name}` : `${fresh.length} new messages`);
      // Someone else's post (this person's own may come back from a poll
      // that crossed its sending) while a reply is being written.
      const others = fresh.filter((m) => !(m.author.kind === "staff" && m.author.name === state.me.name));
      if (o.reply.hasDraft() && others.length) {
        const m = others.at(-1);
        collision.replaceChildren(el("p", {},
          el("strong", {}, `${m.author.name} ${m.visibility === "public" ? "replied" : "added a note"} while you were writing`), " — review before sending. ",
          el("button", { type: "button", class: "link-dark", onclick: () => { document.querySelector(`#thread [data-seq="${m.seq}"]`)?.scrollIntoView({ block: "nearest" }); } }, "Show"),
          el("button", { type: "button", class: "link-dark", onclick: () => { collision.replaceChildren(); o.reply.focus(); } }, "Dismiss")));
      }
      if (fresh.some((m) => m.promoted_from)) {
        for (const m of fresh.filter((x) => x.promoted_from)) {
          document.querySelector(`#thread [data-seq="${m.promoted_from}"] .promote`)?.replaceWith(el("p", { class: "muted small" }, "Promoted to a public reply."));
        }
      }
      markRead();
    }
    await o.refresh();
  };
  o.number = number;
  actionsBox.replaceChildren(ticketActions(ticket, () => o.refresh(true), deleted));
  const order = ticket.order ? el("dl", { class: "order" },
    el("dt", {}, "Order"), el("dd", {}, ticket.order.number),
    ticket.order.total ? [el("dt", {}, "Total"), el("dd", {}, ticket.order.total)] : null) : null;
  o.reply.node.querySelector(".actions").append(...(mayShare() ? [el("button", { type: "button", id: "share-open", class: "secondary", onclick: () => { $("shares")?.scrollIntoView(); $("share-email")?.focus(); } }, "Share externally")] : []));
  const side = await Promise.all([mayShare() ? sharesView(ticket) : null, delegatesView(number), participantsView(number)]);
  if (mine !== opening) return;
  const notice = connectionNotice($("live-status"));
  o.poll = every(THREAD_MS, pollThread, notice);
  // Presence: this person has the ticket open (and whether they are
  // writing); the answer lists the other staff who have it open.
  o.presence = every(PRESENCE_MS, async () => {
    const now = composing();
    o.sentComposing = now; // asked once per change, even if this try fails
    // No Idempotency-Key: a repeated beat is harmless, and a key would
    // make the server keep a record of every beat.
    const { data } = await request("POST", `/tickets/${number}/presence`, {
      body: { composing: now }, cache: "no-store", timeout: READ_TIMEOUT_MS, idempotencyKey: null,
    });
    if (o.closed) return;
    const text = presenceText(data.viewers ?? []);
    if (presence.textContent !== text) presence.textContent = text;
  }, { immediate: true });
  state.open = o;
  pane.replaceChildren(...[head, actionsBox, order, thread.node, presence, collision, o.reply.node, ...side].filter(Boolean));
  thread.toBottom();
  markRead();
  render();
}

async function main() {
  state.me = await requireUser();
  if (state.me.role === "customer") { location.assign("/my"); return; }
  keepTimesFresh();
  $("who").textContent = `${state.me.name} (${state.me.role})`;
  $("outbox-link").hidden = state.me.role !== "admin";
  $("settings-link").hidden = state.me.role !== "admin";
  $("links-link").hidden = state.me.role !== "admin";
  $("webhooks-link").hidden = state.me.role !== "admin";
  $("logout").addEventListener("click", logout);
  $("more").addEventListener("click", () => loadTickets(true).catch((e) => showError($("ticket"), e)));
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runSearch($("search").value, true).catch((err) => showError($("ticket"), err));
  });
  // Tabs: click, or Left/Right/Home/End on the focused tab (roving
  // tabindex: only the selected tab is in the Tab order).
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => selectTab(tab.dataset.view));
  }
  document.querySelector("[role=tablist]").addEventListener("keydown", (e) => {
    const at = VIEWS.indexOf(e.target.dataset?.view);
    if (at < 0) return;
    const to = { ArrowRight: (at + 1) % VIEWS.length, ArrowLeft: (at + VIEWS.length - 1) % VIEWS.length, Home: 0, End: VIEWS.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    selectTab(VIEWS[to], true);
  });
  shortcuts({
    rows: () => [...document.querySelectorAll("#ticket-list .ticket-row")],
    reply: () => $("reply-body"),
    search: () => $("search"),
    helpButtonTarget: $("help-slot"),
    sends: [
      [["Ctrl+Enter", "⌘+Enter"], "Send the public reply"],
      [["Ctrl+Shift+Enter", "⌘+Shift+Enter"], "Add the internal note"],
    ],
    more: [[["←", "→", "Home", "End"], "Move between the views (on the tabs)"]],
  });
  window.addEventListener("hashchange", () => { if (location.hash.length > 1) openTicket(location.hash.slice(1)); });
  inboxPoll = every(INBOX_MS, pollInbox, connectionNotice($("live-status")));
  await inboxPoll.now();
  if (location.hash.length > 1) openTicket(location.hash.slice(1));
}

main().catch((e) => showError($("ticket"), e));
