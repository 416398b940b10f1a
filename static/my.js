// The customer dashboard: my tickets (and my company's), the public thread of
// one, a reply box, and a form to open a new ticket.
import { api, el, when, requireUser, logout, messageView, wholeThread, showError, STATUS_LABELS } from "/api.js";

const state = { me: null, tickets: [], cursor: null, company: false };

async function loadTickets(more = false) {
  const scope = state.company ? "&scope=company" : "";
  const q = more && state.cursor ? `&cursor=${state.cursor}` : "";
  const page = await api("GET", `/tickets?limit=50${scope}${q}`);
  state.tickets = more ? state.tickets.concat(page.tickets) : page.tickets;
  state.cursor = page.next_cursor;
  document.getElementById("more").hidden = !state.cursor;
  const list = document.getElementById("ticket-list");
  if (state.tickets.length === 0) {
    list.replaceChildren(el("li", { class: "empty" }, "You have no tickets yet. Open one below."));
    return;
  }
  list.replaceChildren(...state.tickets.map((t) => el("li", {},
    el("a", { href: `#${t.number}`, class: "ticket-row", "data-number": t.number },
      el("span", { class: "num" }, t.ref),
      el("span", { class: "subject" }, t.subject),
      t.customer_id !== state.me.id ? el("span", { class: "badge shared" }, "Company") : null,
      el("span", { class: `status status-${t.status}` }, STATUS_LABELS[t.status] ?? t.status),
      el("time", { datetime: t.updated_at }, when(t.updated_at))))));
}

async function loadShared() {
  const page = await api("GET", "/tickets?scope=delegated&limit=50");
  showShared(page.tickets);
}

function showShared(tickets) {
  const section = document.getElementById("shared");
  section.hidden = tickets.length === 0;
  document.getElementById("shared-list").replaceChildren(...tickets.map((t) => el("li", {},
    el("a", { href: `#${t.number}`, class: "ticket-row", "data-number": t.number },
      el("span", { class: "num" }, t.ref),
      el("span", { class: "subject" }, t.subject),
      el("span", { class: "badge shared" }, "Shared with you"),
      el("span", { class: `status status-${t.status}` }, STATUS_LABELS[t.status] ?? t.status),
      el("time", { datetime: t.updated_at }, when(t.updated_at))))));
}

async function openTicket(number) {
  const pane = document.getElementById("ticket");
  try {
    const [{ ticket }, messages] = await Promise.all([api("GET", `/tickets/${number}`), wholeThread(number)]);
    if (state.me.ticket_scope !== null) showShared([ticket]);
    const text = el("textarea", { id: "reply-body", name: "body", rows: "5", required: true });
    const status = el("p", { role: "status", class: "muted" });
    pane.replaceChildren(
      el("h2", {}, `${ticket.ref} ${ticket.subject}`),
      el("p", { class: "meta" }, el("span", { class: `status status-${ticket.status}` }, STATUS_LABELS[ticket.status])),
      el("div", { class: "thread", id: "thread" }, ...messages.map((m) => messageView(m, number))),
      el("form", { class: "reply", onsubmit: async (e) => {
        e.preventDefault();
        if (!text.value.trim()) { status.textContent = "Write something first."; return; }
        try {
          await api("POST", `/tickets/${number}/replies`, { body: text.value });
          await openTicket(number);
          if (state.me.ticket_scope === null) await loadTickets();
        } catch (err) { status.textContent = err.message; }
      } },
        el("label", { for: "reply-body" }, "Your reply"),
        text,
        el("div", { class: "actions" }, el("button", { type: "submit", id: "send-reply", class: "primary" }, "Send reply")),
        status));
  } catch (e) {
    showError(pane, e);
  }
}

async function main() {
  state.me = await requireUser();
  if (state.me.role !== "customer") { location.assign("/console"); return; }
  document.getElementById("who").textContent = state.me.name;
  document.getElementById("logout").addEventListener("click", logout);
  if (state.me.ticket_scope !== null) { await invitedView(state.me.ticket_scope); return; }
  document.getElementById("more").addEventListener("click", () => loadTickets(true));
  if (state.me.company) {
    document.getElementById("company-toggle").hidden = false;
    document.getElementById("company").addEventListener("change", (e) => { state.company = e.target.checked; loadTickets(); });
  }
  document.getElementById("new-ticket").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const status = document.getElementById("new-status");
    try {
      const r = await api("POST", "/tickets", { subject: form.get("subject"), body: form.get("body") });
      e.target.reset();
      status.textContent = `Opened ${r.ticket.ref}.`;
      await loadTickets();
      location.hash = `#${r.ticket.number}`;
    } catch (err) { status.textContent = err.message; }
  });
  window.addEventListener("hashchange", () => openTicket(location.hash.slice(1)));
  await loadTickets();
  await loadShared();
  if (location.hash.length > 1) openTicket(location.hash.slice(1));
}

// Signed in from an invitation: that one ticket, nothing else of the account
// (a login link opens the rest).
async function invitedView(number) {
  document.getElementById("mine-title").textContent = "Your invitation";
  document.getElementById("ticket-list").replaceChildren(el("li", { class: "empty", id: "invited-note" },
    "You opened this ticket from an invitation. Sign in with a login link to see your other tickets."));
  // Removed, not hidden: `.inline` in app.css overrides the hidden attribute.
  document.getElementById("company-toggle").remove();
  document.querySelector(".new-ticket").remove();
  await openTicket(number);
}

main().catch((e) => showError(document.getElementById("ticket"), e));
