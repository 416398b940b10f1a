// Staff: inbound email held for review, with Approve (post it to its
// ticket as its sender) and Discard.
import { api, el, when, requireUser, showError } from "/api.js";

let cursor = null;
const status = () => document.getElementById("status");

async function load(more = false) {
  const q = more && cursor ? `&cursor=${cursor}` : "";
  const page = await api("GET", `/quarantine?limit=25${q}`);
  cursor = page.next_cursor;
  document.getElementById("more").hidden = !cursor;
  const list = document.getElementById("held");
  if (!more) list.replaceChildren();
  if (page.held.length === 0 && !more) list.append(el("li", { class: "empty" }, "Nothing is held."));
  for (const h of page.held) {
    const decide = (what) => async () => {
      try {
        await api("POST", `/quarantine/${h.n}/${what}`);
        status().textContent = what === "approve" ? `Posted to ticket #${h.ticket}.` : "Discarded.";
        await load();
      } catch (e) { status().textContent = e.message; }
    };
    list.append(el("li", { class: "email held", "data-held": h.n },
      el("h2", {}, h.subject || "(no subject)"),
      el("p", { class: "meta" }, "From ", el("strong", {}, h.from_name ? `${h.from_name} <${h.from}>` : h.from), " · ", when(h.received_at), " · ",
        h.ticket ? el("a", { href: `/console#${h.ticket}` }, `ticket #${h.ticket}`) : "no ticket", " · ", h.reason, " · ",
        el("span", { class: `badge held-${h.state}` }, h.state)),
      el("pre", { class: "text-body" }, h.text),
      h.state === "held" ? el("div", { class: "actions" },
        h.ticket ? el("button", { type: "button", class: "primary approve", onclick: decide("approve") }, "Approve and post") : null,
        el("button", { type: "button", class: "secondary discard", onclick: decide("discard") }, "Discard")) : null));
  }
}

(async () => {
  const me = await requireUser();
  if (me.role === "customer") { showError(status(), new Error("Only staff review held email.")); return; }
  document.getElementById("more").addEventListener("click", () => load(true));
  await load();
})().catch((e) => showError(status(), e));
