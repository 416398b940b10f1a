// The outbox: the emails the app would have sent (recipient, subject,
// rendered body, delivery state). Bodies are shown in a sandboxed frame
// with no scripts and no network (srcdoc + CSP of this page).
import { api, el, when, adminListPage } from "/api.js";

let cursor = null;

// The links of an email, clickable (the rendered body is sandboxed and
// cannot navigate), so the whole flow can be followed locally.
function links(text) {
  const found = [...new Set(text.match(/https?:\/\/[^\s<>"]+/g) ?? [])];
  if (found.length === 0) return null;
  return el("p", { class: "meta" }, "Links: ", ...found.map((u) => el("a", { href: u, rel: "noreferrer" }, u)));
}

async function load(more = false) {
  const q = more && cursor ? `&cursor=${cursor}` : "";
  const page = await api("GET", `/outbox?limit=20${q}`);
  cursor = page.next_cursor;
  document.getElementById("more").hidden = !cursor;
  const list = document.getElementById("emails");
  if (!more) list.replaceChildren();
  if (page.emails.length === 0 && !more) {
    list.append(el("li", { class: "empty" }, "No emails yet."));
  }
  for (const m of page.emails) {
    const frame = el("iframe", { sandbox: "", title: `Body of “${m.subject}”`, class: "email-frame" });
    frame.srcdoc = m.html;
    list.append(el("li", { class: "email" },
      el("h2", {}, m.subject),
      el("p", { class: "meta" }, "To ", el("strong", {}, m.to), " · ", when(m.created_at), " · ",
        el("span", { class: `badge delivery-${m.state}` }, m.state)),
      links(m.text),
      el("details", {}, el("summary", {}, "Show the email"), frame, el("pre", { class: "text-body" }, m.text))));
  }
}

adminListPage("emails", "Only admins can read the outbox.", load);
