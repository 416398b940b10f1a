// The customer dashboard: my tickets (and my company's), the public thread of
// one, a reply box, and a form to open a new ticket. It keeps itself up to
// date (live.js): the list every 10 s, the open ticket's thread every 4 s,
// while the page is visible.
import { api, el, timeEl, requireUser, logout, wholeThread, showError, STATUS_LABELS, keepTimesFresh } from "/api.js";
import { every, getIfChanged, forget, connectionNotice } from "/live.js";
import { shortcuts } from "/keys.js";
import { threadView, replyBox } from "/thread.js";

/** Poll intervals (issue 19, contract 5). */
const LIST_MS = 10000;
const THREAD_MS = 4000;

const state = { me: null, tickets: [], cursor: null, company: false, shared: [], known: new Map(), fresh: new Set(), open: null, shown: "" };
let listPoll = null;
const $ = (id) => document.getElementById(id);

function announce(text) {
  $("announce").textContent = "";
  setTimeout(() => { $("announce").textContent = text; }, 50);
}

const listPath = () => `/tickets?limit=${Math.min(100, Math.max(50, state.tickets.length))}${state.company ? "&scope=company" : ""}`;
const SHARED_PATH = "/tickets?scope=delegated&limit=50";

// A ticket whose `updated_at` moved while it was not open is marked new
// until opened (in the list, and counted in the window title).
function noteChanges(tickets) {
  for (const t of tickets) {
    const before = state.known.get(t.number);
    if (before !== undefined && before !== t.updated_at && t.number !== state.open?.number) state.fresh.add(t.number);
    state.known.set(t.number, t.updated_at);
  }
}

// One poll of my tickets (and, when there are any, those shared with me).
async function pollList() {
  const company = state.company;
  const page = await getIfChanged(listPath());
  if (page && company === state.company) {
    noteChanges(page.tickets);
    state.tickets = page.tickets;
    state.cursor = page.next_cursor;
    $("more").hidden = !state.cursor;
  }
  if (state.shared.length > 0) {
    const shared = await getIfChanged(SHARED_PATH);
    if (shared) { noteChanges(shared.tickets); state.shared = shared.tickets; }
  }
  render();
  const open = state.open;
  const listed = open && [...state.tickets, ...state.shared].find((t) => t.number === open.number);
  if (listed && listed.updated_at !== open.ticket.updated_at) await open.refresh();
}

async function loadTickets(more = false) {
  if (!more) {
    forget(listPath());
    return listPoll ? listPoll.now() : pollList();
  }
  const page = await api("GET", `/tickets?limit=50${state.company ? "&scope=company" : ""}&cursor=${encodeURIComponent(state.cursor)}`);
  noteChanges(page.tickets);
  state.tickets = state.tickets.concat(page.tickets);
  state.cursor = page.next_cursor;
  $("more").hidden = !state.cursor;
  render();
}

const row = (t, badge) => el("li", {},
  el("a", { href: `#${t.number}`, class: `ticket-row${state.fresh.has(t.number) ? " unread" : ""}`, "data-number": t.number, "aria-current": t.number === state.open?.number ? "true" : null },
    el("span", { class: "num" }, t.ref),
    el("span", { class: "subject" }, t.subject),
    badge,
    el("span", { class: `status status-${t.status}` }, STATUS_LABELS[t.status] ?? t.status),
    timeEl(t.updated_at),
    state.fresh.has(t.number) ? el("span", { class: "unread-dot" }, el("span", { "aria-hidden": "true" }, "●"), el("span", { class: "sr-only" }, "new activity")) : null));

// The lists, rebuilt only when something in them changed (focus stays on
// the row it was on), and the count of tickets with news in the title.
function render() {
  const news = state.fresh.size;
  document.title = `${news ? `(${news}) ` : ""}${state.me.ticket_scope !== null ? "Your invitation" : "My tickets"} · Ticketshare`;
  const shown = JSON.stringify([state.tickets, state.shared, [...state.fresh], state.open?.number ?? null]);
  if (shown === state.shown) return;
  state.shown = shown;
  const focused = document.activeElement?.closest?.(".ticket-row")?.dataset.number;
  if (state.me.ticket_scope === null) {
    $("ticket-list").replaceChildren(...(state.tickets.length === 0
      ? [el("li", { class: "empty" }, "You have no tickets yet. Open one below.")]
      : state.tickets.map((t) => row(t, t.customer_id !== state.me.id ? el("span", { class: "badge shared" }, "Company") : null))));
  }
  $("shared").hidden = state.shared.length === 0;
  $("shared-list").replaceChildren(...state.shared.map((t) => row(t, el("span", { class: "badge shared" }, "Shared with you"))));
  if (focused) document.querySelector(`.ticket-row[data-number="${focused}"]`)?.focus();
}

function closeOpen() {
  if (!state.open) return;
  state.open.closed = true;
  state.open.poll.stop();
  state.open = null;
}

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
  if (mine !== opening) return;
  if (state.me.ticket_scope !== null) state.shared = [ticket];
  const o = { number: ticket.number, ticket, closed: false };
  const meta = el("p", { class: "meta", id: "ticket-meta" });
  const showMeta = (t) => meta.replaceChildren(el("span", { class: `status status-${t.status}` }, STATUS_LABELS[t.status]), " · updated ", timeEl(t.updated_at));
  showMeta(ticket);
  const thread = threadView(number, messages);
  const reply = replyBox({
    number,
    me: state.me,
    label: "Your reply",
    sends: [{ id: "send-reply", text: "Send reply", primary: true }],
    onSent(answer) {
      thread.append([answer.message], { mine: true });
      o.show(answer.ticket);
      if (state.me.ticket_scope === null) listPoll?.now();
    },
  });
  // The ticket's state line (and, for a session from an invitation, its
  // row: the one ticket it lists) from a fresh ticket.
  o.show = (t) => {
    if (!t || o.closed) return;
    o.ticket = t;
    showMeta(t);
    if (state.me.ticket_scope !== null) { state.shared = [t]; render(); }
  };
  o.refresh = async () => {
    try {
      const r = await getIfChanged(`/tickets/${number}`);
      if (r) o.show(r.ticket);
    } catch (e) {
      if (e.status !== 404) throw e;
      closeOpen();
      pane.replaceChildren(el("p", { class: "muted", role: "status" }, "This ticket is no longer available."));
    }
  };
  // New public messages since the last one shown, then the ticket's state:
  // after every 200 of the thread (a 304 is nothing new). The customer
  // side's thread tag moves with what they see of the ticket (its status
  // too), so a resolve or reopen shows here even for a session from an
  // invitation, which has no list poll to notice it.
  o.poll = every(THREAD_MS, async () => {
    const fresh = o.closed ? null : await thread.poll().catch((e) => (e.status === 404 ? o.refresh().then(() => null) : Promise.reject(e)));
    if (fresh === null || o.closed) return;
    if (fresh.length) announce(fresh.length === 1 ? `New reply from ${fresh[0].author.name}` : `${fresh.length} new replies`);
    await o.refresh();
  }, connectionNotice($("live-status")));
  state.open = o;
  state.fresh.delete(o.number);
  pane.replaceChildren(el("h2", {}, `${ticket.ref} ${ticket.subject}`), meta, thread.node, reply.node);
  thread.toBottom();
  render();
}

async function main() {
  state.me = await requireUser();
  if (state.me.role !== "customer") { location.assign("/console"); return; }
  keepTimesFresh();
  $("who").textContent = state.me.name;
  $("logout").addEventListener("click", logout);
  shortcuts({
    rows: () => [...document.querySelectorAll(".ticket-list .ticket-row")],
    reply: () => $("reply-body"),
    helpButtonTarget: $("help-slot"),
    sends: [[["Ctrl+Enter", "⌘+Enter"], "Send the reply"]],
  });
  window.addEventListener("hashchange", () => { if (location.hash.length > 1) openTicket(location.hash.slice(1)); });
  if (state.me.ticket_scope !== null) { await invitedView(state.me.ticket_scope); return; }
  $("more").addEventListener("click", () => loadTickets(true).catch((e) => showError($("ticket"), e)));
  if (state.me.company) {
    $("company-toggle").hidden = false;
    $("company").addEventListener("change", (e) => {
      state.company = e.target.checked;
      state.tickets = [];
      loadTickets().catch((err) => showError($("ticket"), err));
    });
  }
  $("new-ticket").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const status = $("new-status");
    try {
      const r = await api("POST", "/tickets", { subject: form.get("subject"), body: form.get("body") });
      e.target.reset();
      status.textContent = `Opened ${r.ticket.ref}.`;
      await loadTickets();
      location.hash = `#${r.ticket.number}`;
    } catch (err) { status.textContent = err.message; }
  });
  state.shared = (await api("GET", SHARED_PATH)).tickets;
  noteChanges(state.shared);
  listPoll = every(LIST_MS, pollList, connectionNotice($("live-status")));
  await listPoll.now();
  if (location.hash.length > 1) openTicket(location.hash.slice(1));
}

// Signed in from an invitation: that one ticket, nothing else of the account
// (a login link opens the rest).
async function invitedView(number) {
  $("mine-title").textContent = "Your invitation";
  $("ticket-list").replaceChildren(el("li", { class: "empty", id: "invited-note" },
    "You opened this ticket from an invitation. Sign in with a login link to see your other tickets."));
  $("company-toggle").remove();
  document.querySelector(".new-ticket").remove();
  await openTicket(number);
}

main().catch((e) => showError($("ticket"), e));
