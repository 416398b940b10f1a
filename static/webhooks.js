// Admins: outbound webhook endpoints (add, rotate, enable, delete; the
// secret is shown once), their deliveries (redeliver, retry what is due),
// and the inbound email set-up (Postmark credentials, Mailgun signing key).
import { api, el, when, adminListPage } from "/api.js";

const status = () => document.getElementById("status");
let cursor = null;
let endpointsById = new Map();

function showSecret(text) {
  const box = document.getElementById("secret");
  box.hidden = false;
  box.replaceChildren(el("strong", {}, "Copy it now, it is not shown again: "), el("code", { id: "secret-value" }, text));
}

async function act(fn, done) {
  try { await fn(); status().textContent = done; await load(); } catch (e) { status().textContent = e.message; }
}

async function loadEndpoints() {
  const data = await api("GET", "/webhooks");
  endpointsById = new Map(data.endpoints.map((e) => [e.id, e]));
  const list = document.getElementById("endpoints");
  list.replaceChildren(...(data.endpoints.length === 0 ? [el("li", { class: "empty" }, "No endpoints yet.")] :
    data.endpoints.map((e) => el("li", { "data-endpoint": e.id },
      el("code", {}, e.url), " ",
      el("span", { class: `badge ${e.disabled ? "share-cancelled" : "share-active"}` }, e.disabled ? `Disabled: ${e.disabled}` : "Active"),
      el("span", { class: "muted small" }, ` ${e.event_types.length ? e.event_types.join(", ") : "every event"}; ${e.secrets.length} signing secret(s)`),
      el("button", { type: "button", class: "link-dark", onclick: () => act(async () => showSecret((await api("POST", `/webhooks/${e.id}/rotate`)).secret), "New secret issued; the old one signs for 24 hours too.") }, "Rotate secret"),
      e.disabled ? el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/webhooks/${e.id}/enable`), "Endpoint enabled.") }, "Enable") : null,
      el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/webhooks/${e.id}/delete`), "Endpoint deleted.") }, "Delete")))));
  const types = document.getElementById("event-types");
  if (!types.childElementCount) {
    types.replaceChildren(...data.event_types.map((t) => el("label", { class: "inline" }, el("input", { type: "checkbox", name: "event_types", value: t }), ` ${t}`)));
  }
}

async function loadDeliveries(more = false) {
  const q = more && cursor ? `&cursor=${cursor}` : "";
  const page = await api("GET", `/webhooks/deliveries?limit=25${q}`);
  cursor = page.next_cursor;
  document.getElementById("more").hidden = !cursor;
  const body = document.getElementById("deliveries");
  if (!more) body.replaceChildren();
  if (page.deliveries.length === 0 && !more) body.append(el("tr", {}, el("td", { colspan: "7", class: "empty" }, "No deliveries yet.")));
  for (const d of page.deliveries) {
    body.append(el("tr", { class: `delivery delivery-${d.state}` },
      el("td", {}, String(d.n)),
      el("td", {}, d.type),
      el("td", {}, endpointsById.get(d.endpoint_id)?.url ?? d.endpoint_id),
      el("td", {}, el("span", { class: `badge delivery-${d.state}` }, d.state), d.next_attempt_at ? ` next ${when(d.next_attempt_at)}` : ""),
      el("td", {}, String(d.attempts)),
      el("td", {}, d.last_status ? String(d.last_status) : "", d.last_error ? ` ${d.last_error}` : ""),
      el("td", {}, el("button", { type: "button", class: "link-dark", onclick: () => act(() => api("POST", `/webhooks/deliveries/${d.n}/redeliver`), `Delivery ${d.n} sent again.`) }, "Redeliver"))));
  }
}

async function loadInbound() {
  const s = await api("GET", "/webhooks/inbound");
  const key = el("input", { id: "mailgun-key", type: "password", autocomplete: "off" });
  document.getElementById("inbound").replaceChildren(
    el("p", {}, "Every ticket has a reply address ", el("code", {}, `reply+…@${s.reply_domain}`), "; point that domain's inbound mail at one of these hooks."),
    el("p", {}, el("strong", {}, "Postmark: "), s.postmark.configured ? "configured. " : "not configured. ",
      el("button", { type: "button", class: "link-dark", id: "postmark-setup", onclick: () => act(async () => showSecret((await api("POST", "/webhooks/inbound/postmark")).url), "Use this URL (with its credentials) as Postmark's inbound webhook.") }, s.postmark.configured ? "New credentials" : "Create credentials")),
    el("form", { class: "invite", onsubmit: (e) => { e.preventDefault(); act(() => api("PUT", "/webhooks/inbound/mailgun", { signing_key: key.value }), `Mailgun key saved; its webhook URL is ${s.mailgun.url}`); } },
      el("label", { for: "mailgun-key" }, `Mailgun webhook signing key (${s.mailgun.configured ? "configured" : "not configured"}; hook ${s.mailgun.url})`), key,
      el("button", { type: "submit", class: "secondary" }, "Save Mailgun key")));
}

async function load(more = false) {
  if (!more) {
    await loadEndpoints();
    await loadInbound();
  }
  await loadDeliveries(more);
}

document.getElementById("add-endpoint").addEventListener("submit", (e) => {
  e.preventDefault();
  const url = document.getElementById("endpoint-url").value;
  const types = [...document.querySelectorAll("input[name=event_types]:checked")].map((c) => c.value);
  act(async () => showSecret((await api("POST", "/webhooks", { url, event_types: types })).secret), `Endpoint added: ${url}`);
});
document.getElementById("flush").addEventListener("click", () =>
  act(async () => { const r = await api("POST", "/webhooks/flush"); status().textContent = `${r.attempting} due.`; }, "Retrying what was due."));

adminListPage("status", "Only admins manage webhooks.", load);
