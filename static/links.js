// Admins: every live delegate, participant and external share link of the
// workspace, with revoke (delegates), remove (participants) and cancel (shares).
import { api, el, adminListPage } from "/api.js";

let cursor = null;

async function load(more = false) {
  const q = more && cursor ? `&cursor=${cursor}` : "";
  const page = await api("GET", `/links?limit=50${q}`);
  cursor = page.next_cursor;
  document.getElementById("more").hidden = !cursor;
  const body = document.getElementById("links");
  if (!more) body.replaceChildren();
  if (page.links.length === 0 && !more) {
    body.append(el("tr", {}, el("td", { colspan: "5", class: "empty" }, "No live links.")));
  }
  for (const l of page.links) {
    const path = l.kind === "delegate"
      ? `/tickets/${l.ticket}/delegates/${l.id}/revoke`
      : l.kind === "share" ? `/tickets/${l.ticket}/shares/${l.id}/cancel`
      : `/tickets/${l.ticket}/participants/${l.id}/remove`;
    const kinds = { delegate: ["Delegate", "Revoke"], participant: ["Participant", "Remove"], share: ["External share", "Cancel"] };
    body.append(el("tr", {},
      el("td", {}, el("a", { href: `/console#${l.ticket}` }, `#${l.ticket}`)),
      el("td", {}, `${l.name} <${l.email}>`),
      el("td", {}, kinds[l.kind][0]),
      el("td", {}, l.state, l.can_reply ? "" : " · view only"),
      el("td", {}, el("button", { type: "button", class: "link-dark", onclick: async () => {
        try {
          await api("POST", path);
          document.getElementById("status").textContent = `${l.email} can no longer open ticket #${l.ticket}.`;
          await load();
        } catch (e) { document.getElementById("status").textContent = e.message; }
      } }, kinds[l.kind][1]))));
  }
}

adminListPage("status", "Only admins can review every live link.", load);
