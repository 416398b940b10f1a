// Polling that costs next to nothing when nothing changed (issue 19,
// contract 5), for the console and the dashboard:
//
// - `getIfChanged(path)`: a GET of the JSON API that sends the ETag of the
//   path's last answer as If-None-Match (set by hand, with `cache:
//   "no-store"`, so the browser's cache neither answers nor adds its own);
//   a 304 is `null`: nothing to do. Without ETags from the server every poll
//   is a 200, which the pages compare with what they show (costlier, same
//   result). Like every GET of `api`, it gives up after READ_TIMEOUT_MS
//   (an error, so the loop backs off and tries again).
// - `every(ms, task)`: runs `task` every `ms` while the page is visible,
//   at once when it becomes visible again, never twice at the same time,
//   doubling the wait after each failure up to a minute and back to `ms` on
//   the next success.
// - `signedOut()`: the session is over (a 401 from any loop, or from a
//   request of the page): every loop stops for good, the drafts go, and the
//   notices say so with a link to sign in.

import { request, drafts, el } from "/api.js";

/** The longest wait between two polls, however many failed. */
export const MAX_BACKOFF_MS = 60000;

// Path → ETag of its last 200. Small: a page polls a handful of paths.
const tags = new Map();
const MAX_TAGS = 32;

export async function getIfChanged(path) {
  const headers = {};
  const tag = tags.get(path);
  if (tag) headers["if-none-match"] = tag;
  const r = await request("GET", path, { headers, cache: "no-store" });
  if (r.status === 304) return null;
  tags.delete(path);
  const etag = r.headers.get("etag");
  if (etag) {
    tags.set(path, etag);
    if (tags.size > MAX_TAGS) tags.delete(tags.keys().next().value);
  }
  return r.data;
}

// Forget the ETag of `path`, so its next poll gets the whole answer (after
// the page threw away what it showed).
export function forget(path) {
  tags.delete(path);
}

// The loops running, and the notices that speak for them: `signedOut`
// stops the one and fills the other.
const loops = new Set();
const notices = new Set();
let ended = false;

// Run `task` every `ms` milliseconds while the page is visible. `onError(e,
// waitMs)` hears of each failure and the wait before the next try,
// `onRecover()` of the first success after failures; a 401 is no failure
// to retry: it ends every loop (`signedOut`). Returns `{ now, stop }`:
// `now()` polls at once (after a change the page made itself; if a poll is
// running, one more follows it), `stop()` ends it.
export function every(ms, task, { onError = () => {}, onRecover = () => {}, immediate = false } = {}) {
  let timer = null;
  let running = false;
  let again = false;
  let failures = 0;
  let stopped = ended;

  const schedule = (delay) => {
    clearTimeout(timer);
    timer = stopped || document.hidden ? null : setTimeout(run, delay);
  };

  async function run() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.hidden) return;
    if (running) { again = true; return; }
    running = true;
    try {
      await task();
      if (failures > 0) { failures = 0; onRecover(); }
    } catch (e) {
      if (e?.status === 401) {
        signedOut();
      } else if (!stopped) {
        failures += 1;
        onError(e, Math.min(ms * 2 ** failures, MAX_BACKOFF_MS));
      }
    } finally {
      running = false;
    }
    if (again && failures === 0) { again = false; return run(); }
    again = false;
    schedule(failures > 0 ? Math.min(ms * 2 ** failures, MAX_BACKOFF_MS) : ms);
  }

  const onVisibility = () => {
    if (document.hidden) { clearTimeout(timer); timer = null; } else run();
  };
  const loop = {
    now: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = null;
      document.removeEventListener("visibilitychange", onVisibility);
      loops.delete(loop);
    },
  };
  if (!stopped) {
    loops.add(loop);
    document.addEventListener("visibilitychange", onVisibility);
    schedule(immediate ? 0 : ms);
  }
  return loop;
}

// The session is over (signed out in another tab, expired, revoked): stop
// every loop for good (nothing can be shown without signing in again),
// remove the drafts from this browser (what is typed stays on screen),
// and say so, with a link to sign in, in every notice. Once per page.
export function signedOut() {
  if (ended) return;
  ended = true;
  for (const loop of [...loops]) loop.stop();
  drafts.end();
  for (const target of notices) {
    target.replaceChildren("You are signed out, so this page no longer updates. ",
      el("a", { href: "/login", id: "sign-in-again" }, "Sign in again"),
      " to see new activity.");
    target.hidden = false;
  }
}

// The line that says the page stopped updating, and why; cleared when
// polling works again. `target` is a `role=status` element.
export function connectionNotice(target) {
  notices.add(target);
  return {
    onError(e, wait) {
      if (ended) return;
      target.hidden = false;
      target.textContent = `Not updating (${e.message ?? "network error"}); trying again in ${Math.round(wait / 1000)} s.`;
    },
    onRecover() {
      if (ended) return;
      target.hidden = true;
      target.textContent = "";
    },
  };
}
