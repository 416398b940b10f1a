// Shared helpers for the pages: JSON API calls with the session cookie, and
// safe DOM building (text is always set as text; only the server's sanitised
// body_html is inserted as HTML).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** How long a read of the API may take, its body included, before it
 * counts as failed: a request that never ends would otherwise stop a poll
 * loop (which never runs two at once) for good. */
export const READ_TIMEOUT_MS = 20000;

// One call of the JSON API: `{ status, headers, data }` (`data` the JSON
// body, null without one; a 304 is an answer, not an error). `body` is sent
// as JSON, or as it is when it is a FormData (multipart). A POST carries
// `idempotencyKey`, or a fresh one (the server replays a retried request's
// success; `null`: no key, for a POST that is not worth remembering). After `timeout` ms (GETs: READ_TIMEOUT_MS; 0: none, for uploads
// that may take long) the request is aborted and fails with status 0, code
// "timeout".
export async function request(method, path, { body, headers = {}, idempotencyKey, timeout = method === "GET" ? READ_TIMEOUT_MS : 0, cache } = {}) {
  const init = { method, credentials: "same-origin", headers: { ...headers } };
  if (cache) init.cache = cache;
  if (method === "POST" && idempotencyKey !== null) init.headers["idempotency-key"] = idempotencyKey ?? crypto.randomUUID();
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const abort = timeout > 0 ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), timeout) : null;
  if (abort) init.signal = abort.signal;
  try {
    const r = await fetch(`/api/v1${path}`, init);
    const data = r.status === 304 ? null : await r.json().catch(() => null);
    if (abort?.signal.aborted) throw abort.signal.reason;
    if (!r.ok && r.status !== 304) {
      throw new ApiError(r.status, data?.error?.code ?? "error", data?.error?.message ?? `request failed (${r.status})`);
    }
    return { status: r.status, headers: r.headers, data };
  } catch (e) {
    if (abort?.signal.aborted) throw new ApiError(0, "timeout", `no answer within ${Math.round(timeout / 1000)} s`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

// A call of the JSON API: its JSON answer, or an ApiError. `options` as
// for `request`.
export async function api(method, path, body, options = {}) {
  return (await request(method, path, { ...options, body })).data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function when(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// "just now", "3 min ago", "in 2 h", "yesterday", "5 days ago", then the
// date: how far `iso` is from `now` (milliseconds since the epoch).
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.round((now - t) / 1000);
  const a = Math.abs(s);
  const say = (n, unit) => (s >= 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`);
  if (a < 45) return "just now";
  if (a < 3600) return say(Math.max(1, Math.round(a / 60)), "min");
  if (a < 86400) return say(Math.round(a / 3600), "h");
  if (a < 2 * 86400) return s >= 0 ? "yesterday" : "tomorrow";
  if (a < 7 * 86400) return say(Math.round(a / 86400), "days");
  return new Date(t).toLocaleDateString(undefined, { dateStyle: "medium" });
}

// A `<time>` showing how long ago `iso` was, kept up to date by
// `refreshTimes`, with the exact time on hover (and in `datetime`).
export function timeEl(iso) {
  const exact = new Date(iso).toLocaleString(undefined, { dateStyle: "full", timeStyle: "long" });
  return el("time", { datetime: iso, title: exact, "data-relative": "" }, ago(iso));
}

// Rewrite every relative time of the page that changed.
export function refreshTimes() {
  const now = Date.now();
  for (const t of document.querySelectorAll("time[data-relative]")) {
    const text = ago(t.dateTime, now);
    if (t.textContent !== text) t.textContent = text;
  }
}

// Relative times move on by themselves: every 20 s, and at once when the
// page is shown again.
export function keepTimesFresh() {
  setInterval(refreshTimes, 20000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshTimes(); });
}

// Drafts, per signed-in person and ticket, in this browser until sent (or
// until the session ends: signing out, or the API answering 401, removes
// every draft, and the page keeps no new one). In localStorage, also for a
// session from an invitation (one ticket): it lasts as long as an account's
// session and outlives the tab, so a draft in sessionStorage would be lost
// with a tab the person can reopen and still send from; its end clears it
// like any other.
const DRAFT_PREFIX = "ticketshare:draft:";
let keepDrafts = true;

export const drafts = {
  key: (userId, number) => `${DRAFT_PREFIX}${userId}:${number}`,
  get(userId, number) {
    try { return localStorage.getItem(drafts.key(userId, number)) ?? ""; } catch { return ""; }
  },
  set(userId, number, text) {
    try {
      if (keepDrafts && text.trim()) localStorage.setItem(drafts.key(userId, number), text);
      else localStorage.removeItem(drafts.key(userId, number));
    } catch { /* storage full or disabled: the draft lives in the page only */ }
  },
  clearAll() {
    try {
      for (const k of Object.keys(localStorage)) if (k.startsWith(DRAFT_PREFIX)) localStorage.removeItem(k);
    } catch { /* storage disabled */ }
  },
  // The session ended: every draft goes, and this page keeps none from now
  // on (what is typed stays on screen only).
  end() {
    keepDrafts = false;
    drafts.clearAll();
  },
};

export const STATUS_LABELS = {
  pending: "Pending",
  open: "Open",
  client_replied: "Client replied",
  awaiting_customer: "Awaiting customer",
  resolved: "Resolved",
};

export const KIND_LABELS = {
  staff: "Staff",
  customer: "Customer",
  delegate: "Delegate",
  participant: "Participant",
  collaborator: "Collaborator",
  system: "System",
};

export const VISIBILITY_LABELS = {
  public: "Public reply",
  internal: "Internal note",
  external: "External note",
};

// The signed-in person, or a redirect to the sign-in page. `ticket_scope` is
// the one ticket a session from an invitation reaches (null: the account).
export async function requireUser() {
  try {
    const me = await api("GET", "/me");
    return { ...me.user, ticket_scope: me.ticket_scope ?? null };
  } catch (e) {
    if (e.status === 401) location.assign("/login");
    throw e;
  }
}

export async function logout() {
  drafts.end();
  await api("POST", "/auth/logout").catch(() => {});
  location.assign("/login");
}

export function humanSize(n) {
  if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} bytes`;
}

// One message of a thread, labelled by author kind and visibility, with its
// files (downloads of ticket `number`) and any `extra` nodes (e.g. actions).
export function messageView(m, number, extra) {
  const body = el("div", { class: "msg-body" });
  body.innerHTML = m.body_html; // sanitised by the server (Markdown subset, no raw HTML)
  const files = (m.attachments ?? []).length === 0 || number === undefined ? null :
    el("ul", { class: "files" }, ...m.attachments.map((a) => el("li", {},
      el("a", { href: `/api/v1/tickets/${number}/messages/${m.seq}/attachments/${a.id}`, download: a.name }, a.name), " ",
      el("span", { class: "muted" }, humanSize(a.size)))));
  return el("article", { class: `msg msg-${m.visibility} msg-by-${m.author.kind}`, "data-seq": m.seq, "aria-label": `${VISIBILITY_LABELS[m.visibility]} by ${m.author.name}` },
    el("header", { class: "msg-head" },
      el("span", { class: "msg-author" }, m.author.name),
      el("span", { class: `badge kind-${m.author.kind}` }, KIND_LABELS[m.author.kind] ?? m.author.kind),
      el("span", { class: `badge vis-${m.visibility}` }, VISIBILITY_LABELS[m.visibility] ?? m.visibility),
      m.promoted_from ? el("span", { class: "badge" }, `Promoted from note #${m.promoted_from}`) : null,
      timeEl(m.created_at)),
    body, files, extra ?? null);
}

// Every message of a ticket's thread, oldest first. Stops on a cursor it
// has asked with already (the server always advances, but a loader that
// trusted it blindly would ask for the same page forever if it did not).
export async function wholeThread(number) {
  const all = [];
  const asked = new Set();
  let cursor = null;
  do {
    asked.add(cursor);
    const q = cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api("GET", `/tickets/${number}/thread?limit=100${q}`);
    all.push(...page.messages);
    cursor = page.next_cursor ?? null;
  } while (cursor !== null && !asked.has(cursor));
  return all;
}

export function showError(target, e) {
  target.replaceChildren(el("p", { class: "error", role: "alert" }, e.message ?? String(e)));
}

// An admin-only page with a "Load more" button: checks the role, wires the
// button, loads the first page; errors land in `errorTarget`.
export function adminListPage(errorTarget, deniedMessage, load) {
  const target = document.getElementById(errorTarget);
  (async () => {
    const me = await requireUser();
    if (me.role !== "admin") {
      showError(target, new Error(deniedMessage));
      return;
    }
    document.getElementById("more").addEventListener("click", () => load(true));
    await load();
  })().catch((e) => showError(target, e));
}
