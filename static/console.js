// The staff console: views Pending / Working on / Resolved with counts, the
// ticket list, and the ticket view with the whole thread and a reply box for
// public replies and internal notes.
import { api, el, when, requireUser, logout, messageView, wholeThread, showError, STATUS_LABELS } from "/api.js";

const state = { me: null, view: "pending", tickets: [], cursor: null, counts: {}, names: new Map() };

async function customerName(id) {
  if (!state.names.has(id)) {
    state.names.set(id, api("GET", `/users/${id}`).then((r) => r.user.name).catch(() => id));
  }
  return state.names.get(id);
}

// One page of the current view (kept by the server: Pending of my queues,
// oldest waiting first; Working on, mine; Resolved, newest first).
async function loadTickets(more = false) {
  if (state.searching && !more) return runSearch(state.searching);
  const q = more && state.cursor ? `&cursor=${encodeURIComponent(state.cursor)}` : "";
  const page = await api("GET", `/inbox?view=${state.view}&limit=50${q}`);
  state.tickets = more ? state.tickets.concat(page.tickets) : page.tickets;
  state.cursor = page.next_cursor;
  state.counts = page.counts;
  document.getElementById("more").hidden = !state.cursor;
  render();
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
  document.getElementById("more").hidden = true;
  render();
}

async function render() {
  for (const v of ["pending", "working", "resolved"]) {
    document.getElementById(`count-${v}`).textContent = state.counts[v] ?? 0;
    document.getElementById(`tab-${v}`).setAttribute("aria-selected", String(v === state.view));
  }
  const list = document.getElementById("ticket-list");
  const banner = state.searching ? el("li", { class: "search-banner" },
    `Results for “${state.searching}” `,
    el("button", { type: "button", class: "link-dark", id: "search-clear", onclick: () => { document.getElementById("search").value = ""; runSearch(""); } }, "Clear")) : null;
  if (state.tickets.length === 0) {
    list.replaceChildren(...[banner, el("li", { class: "empty" }, state.searching ? "No ticket matches." : "No tickets here.")].filter(Boolean));
    return;
  }
  const items = await Promise.all(state.tickets.map(async (t) => el("li", {},
    el("a", { href: `#${t.number}`, class: `ticket-row${t.unread ? " unread" : ""}`, "data-number": t.number },
      el("span", { class: "num" }, t.ref),
      el("span", { class: "subject" }, t.subject),
      el("span", { class: "customer" }, await customerName(t.customer_id), t.assignee_name && state.view !== "working" ? ` · ${t.assignee_name}` : ""),
      el("span", { class: `status status-${t.status}` }, STATUS_LABELS[t.status] ?? t.status),
      el("time", { datetime: t.updated_at }, when(t.updated_at)),
      t.unread ? el("span", { class: "unread-dot", "aria-label": "unread" }, "●") : null))));
  list.replaceChildren(...[banner, ...items].filter(Boolean));
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
  bar.replaceChildren(el("div", { class: "transfer" },
    el("label", { for: "transfer-search" }, "Transfer to"), search, people,
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
    try { await api("POST", `/tickets/${number}/messages/${m.seq}/promote`); await openTicket(number); } catch (err) { e.target.disabled = false; e.target.textContent = err.message; }
  } }, "Promote to public reply");
}

// Resolve / Reopen, and Delete behind an inline confirmation (deleting
// revokes every delegate and participant link of the ticket).
function ticketActions(ticket) {
  const number = ticket.number;
  const status = el("p", { role: "status", class: "muted" });
  const bar = el("div", { class: "actions ticket-actions" });
  // One request at a time: the bar's buttons are disabled while it runs.
  const act = async (what, done, body, shown = status) => {
    for (const b of bar.querySelectorAll("button")) b.disabled = true;
    try {
      await api("POST", `/tickets/${number}/${what}`, body);
      await loadTickets();
      done();
    } catch (e) {
      shown.textContent = e.message;
      for (const b of bar.querySelectorAll("button")) b.disabled = false;
    }
  };
  const open = ticket.status !== "resolved";
  const buttons = () => bar.replaceChildren(
    open && !ticket.assignee_id ? el("button", { type: "button", id: "accept", class: "primary", onclick: () => act("accept", () => openTicket(number)) }, "Accept") : null,
    open && ticket.assignee_id ? el("button", { type: "button", id: "return", class: "secondary", onclick: confirmReturn }, "Return") : null,
    open ? el("button", { type: "button", id: "transfer", class: "secondary", onclick: () => transferDialog(ticket, bar, (body, shown) => act("transfer", () => openTicket(number), body, shown), buttons) }, "Transfer") : null,
    ticket.status === "resolved"
      ? el("button", { type: "button", id: "reopen", class: "secondary", onclick: () => act("reopen", () => openTicket(number)) }, "Reopen")
      : el("button", { type: "button", id: "resolve", class: "secondary", onclick: () => act("resolve", () => openTicket(number)) }, "Resolve"),
    el("button", { type: "button", id: "mark-unread", class: "link-dark", onclick: () => act("unread", () => {}) }, "Mark unread"),
    el("button", { type: "button", id: "delete", class: "link-dark", onclick: confirmDelete }, "Delete"),
    status);
  // Return to Pending, with an optional reason for the next person.
  const confirmReturn = () => {
    const reason = el("input", { id: "return-reason", maxlength: "500", placeholder: "Reason (optional)" });
    const shown = el("p", { role: "status", class: "muted" });
    bar.replaceChildren(
      el("label", { for: "return-reason" }, "Return to Pending"), reason,
      el("button", { type: "button", id: "confirm-return", class: "secondary", onclick: () => act("return", () => openTicket(number), reason.value.trim() ? { reason: reason.value } : undefined, shown) }, "Return"),
      el("button", { type: "button", class: "link-dark", onclick: buttons }, "Cancel"),
      shown);
    reason.focus();
  };
  const confirmDelete = () => bar.replaceChildren(
    el("span", {}, `Delete ${ticket.ref}? It disappears from every view and every delegate, participant and external share link stops working.`),
    el("button", { type: "button", id: "confirm-delete", class: "danger", onclick: () => act("delete", () => {
      history.replaceState(null, "", "/console");
      document.getElementById("ticket").replaceChildren(el("p", { class: "muted", role: "status" }, `${ticket.ref} was deleted.`));
    }) }, "Yes, delete"),
    el("button", { type: "button", class: "secondary", onclick: buttons }, "Cancel"),
    status);
  buttons();
  return bar;
}

async function openTicket(number) {
  const pane = document.getElementById("ticket");
  try {
    const [{ ticket }, messages] = await Promise.all([api("GET", `/tickets/${number}`), wholeThread(number)]);
    const text = el("textarea", { id: "reply-body", name: "body", rows: "5", required: true });
    const status = el("p", { role: "status", class: "muted" });
    const send = async (visibility) => {
      if (!text.value.trim()) { status.textContent = "Write something first."; return; }
      try {
        await api("POST", `/tickets/${number}/replies`, { body: text.value, visibility });
        await openTicket(number);
        await loadTickets();
      } catch (e) { status.textContent = e.message; }
    };
    const order = ticket.order ? el("dl", { class: "order" },
      el("dt", {}, "Order"), el("dd", {}, ticket.order.number),
      ticket.order.total ? [el("dt", {}, "Total"), el("dd", {}, ticket.order.total)] : null) : null;
    const repliers = [...new Set(messages.filter((m) => m.author.kind === "staff").map((m) => m.author.name))];
    const assignee = ticket.assignee_id ? await customerName(ticket.assignee_id) : null;
    api("POST", `/tickets/${number}/read`).then(() => loadTickets()).catch(() => {});
    pane.replaceChildren(...[
      el("h2", {}, `${ticket.ref} ${ticket.subject}`),
      el("p", { class: "meta" },
        el("span", { class: `status status-${ticket.status}` }, STATUS_LABELS[ticket.status]),
        " · customer ", await customerName(ticket.customer_id), " · queue ", ticket.queue,
        " · ", el("span", { id: "assignee" }, assignee ? `with ${assignee}` : "unassigned")),
      repliers.length ? el("p", { class: "meta", id: "repliers" }, `Staff who replied: ${repliers.join(", ")}`) : null,
      ticketActions(ticket),
      order,
      el("div", { class: "thread", id: "thread" }, ...messages.map((m) => messageView(m, number, promoteButton(number, m, messages)))),
      el("form", { class: "reply", onsubmit: (e) => e.preventDefault() },
        el("label", { for: "reply-body" }, "Reply"),
        text,
        el("div", { class: "actions" },
          el("button", { type: "button", id: "send-public", class: "primary", onclick: () => send("public") }, "Send public reply"),
          el("button", { type: "button", id: "send-internal", class: "secondary", onclick: () => send("internal") }, "Add internal note"),
          mayShare() ? el("button", { type: "button", id: "share-open", class: "secondary", onclick: () => { document.getElementById("shares")?.scrollIntoView(); document.getElementById("share-email")?.focus(); } }, "Share externally") : null),
        status),
      mayShare() ? await sharesView(ticket) : null,
      await delegatesView(number),
      await participantsView(number)].filter(Boolean));
  } catch (e) {
    showError(pane, e);
  }
}

async function main() {
  state.me = await requireUser();
  if (state.me.role === "customer") { location.assign("/my"); return; }
  document.getElementById("who").textContent = `${state.me.name} (${state.me.role})`;
  document.getElementById("outbox-link").hidden = state.me.role !== "admin";
  document.getElementById("settings-link").hidden = state.me.role !== "admin";
  document.getElementById("links-link").hidden = state.me.role !== "admin";
  document.getElementById("webhooks-link").hidden = state.me.role !== "admin";
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("more").addEventListener("click", () => loadTickets(true));
  document.getElementById("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runSearch(document.getElementById("search").value, true).catch((err) => showError(document.getElementById("ticket"), err));
  });
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => { state.view = tab.dataset.view; state.searching = null; loadTickets().catch((e) => showError(document.getElementById("ticket"), e)); });
  }
  window.addEventListener("hashchange", () => openTicket(location.hash.slice(1)));
  await loadTickets();
  if (location.hash.length > 1) openTicket(location.hash.slice(1));
}

main().catch((e) => showError(document.getElementById("ticket"), e));
