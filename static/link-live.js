// The live pages behind links (a participant's /p/ page, a collaborator's
// /s/ thread): while the page is visible, ask for it again every 5 s with
// If-None-Match; a 304 changes nothing, a 200 replaces only the thread
// (parsed with DOMParser, its nodes imported: no HTML built from strings),
// keeping the reader's place on the page and whatever they are typing, and
// marking and announcing new messages. One request at a time; doubling
// waits (up to 60 s) after errors; paused while the page is hidden; stopped
// for good when the link no longer works (the page then says so).
'use strict';

(() => {
  const thread = document.getElementById('thread');
  if (!thread || !thread.hasAttribute('data-live')) return;
  const status = document.getElementById('live-status');
  const INTERVAL = 5000;
  const MAX_WAIT = 60000;
  const TIMEOUT = 20000;
  let etag = thread.dataset.etag || '';
  let wait = INTERVAL;
  let timer = null;
  let busy = false;
  let stopped = false;

  // This script keeps the reader's place itself (below); the browser's own
  // scroll anchoring would move the page a second time.
  document.documentElement.style.overflowAnchor = 'none';

  const seqOf = (el) => el.getAttribute('data-seq') || '';
  const messages = (root) => Array.from(root.querySelectorAll('article[data-seq]'));

  function announce(text) {
    if (status) status.textContent = text;
  }

  const onScreen = (box) => box.bottom > 0 && box.top < window.innerHeight;

  // What stays where it is on screen while the thread changes: the reply
  // being written, when it is in view (or the reader is at the bottom of
  // the page); otherwise the first message still in view.
  function anchor() {
    const form = document.querySelector('form.reply');
    const typing = form && form.contains(document.activeElement) ? document.activeElement : null;
    const atBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2;
    for (const el of [typing, atBottom ? form : null]) {
      if (el && onScreen(el.getBoundingClientRect())) {
        return { el, seq: null, top: el.getBoundingClientRect().top };
      }
    }
    for (const el of [...messages(thread), form]) {
      if (!el) continue;
      const box = el.getBoundingClientRect();
      if (box.bottom > 0) return { el, seq: el.matches('article') ? seqOf(el) : null, top: box.top };
    }
    return null;
  }

  function find(place) {
    if (!place) return null;
    if (place.seq === null) return place.el.isConnected ? place.el : null;
    return messages(thread).find((m) => seqOf(m) === place.seq) || null;
  }

  function replaceThread(fresh) {
    const before = new Set(messages(thread).map(seqOf));
    const place = anchor();
    const nodes = Array.from(fresh.childNodes, (n) => document.importNode(n, true));
    thread.replaceChildren(...nodes);
    let added = 0;
    for (const m of messages(thread)) {
      if (before.has(seqOf(m))) continue;
      added += 1;
      m.classList.add('msg-new');
      const head = m.querySelector('.msg-head');
      if (head) {
        const badge = document.createElement('span');
        badge.className = 'badge badge-new';
        badge.textContent = 'New';
        head.append(' ', badge);
      }
    }
    const same = find(place);
    if (same) {
      const moved = same.getBoundingClientRect().top - place.top;
      if (moved !== 0) window.scrollBy(0, moved);
    }
    if (added > 0) announce(added === 1 ? '1 new reply' : `${added} new replies`);
  }

  // The link no longer works (or the page is no longer this thread): say
  // what the server's page says, and stop.
  function stop(doc) {
    stopped = true;
    clearTimeout(timer);
    const said = doc && doc.querySelector('main h1, main p');
    const text = said && said.textContent.trim()
      ? said.textContent.trim()
      : 'This page is no longer up to date. Reload it to continue.';
    const note = document.createElement('p');
    note.className = 'error';
    note.id = 'live-stopped';
    note.setAttribute('role', 'alert');
    note.textContent = text;
    thread.before(note);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (!stopped && !busy && document.visibilityState === 'visible') {
      timer = setTimeout(poll, ms);
    }
  }

  async function poll() {
    timer = null;
    if (busy || stopped || document.visibilityState !== 'visible') return;
    busy = true;
    const abort = new AbortController();
    const limit = setTimeout(() => abort.abort(), TIMEOUT);
    try {
      const r = await fetch(location.pathname + location.search, {
        headers: { 'If-None-Match': etag },
        credentials: 'same-origin',
        cache: 'no-store',
        signal: abort.signal,
      });
      if (r.status === 304) {
        wait = INTERVAL;
      } else if (r.status === 200) {
        const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
        const fresh = doc.getElementById('thread');
        if (!fresh || !fresh.hasAttribute('data-live')) {
          stop(doc);
        } else {
          etag = r.headers.get('ETag') || fresh.dataset.etag || '';
          thread.dataset.etag = etag;
          replaceThread(fresh);
          wait = INTERVAL;
        }
      } else if (r.status === 404 || r.status === 401 || r.status === 403 || r.status === 410) {
        stop(new DOMParser().parseFromString(await r.text(), 'text/html'));
      } else {
        wait = Math.min(wait * 2, MAX_WAIT);
      }
    } catch (_) {
      wait = Math.min(wait * 2, MAX_WAIT);
    } finally {
      clearTimeout(limit);
      busy = false;
    }
    schedule(wait);
  }

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      schedule(0);
    } else {
      clearTimeout(timer);
      timer = null;
    }
  });
  // Sending the form leaves the page: no poll races it, and its button is
  // disabled so that a second click (a double click) does not post the
  // reply and its files twice; a second submit while the first is on its
  // way is refused too. The answer is a new page (with the refusal, if
  // any, and the button enabled). A page brought back from the
  // back/forward cache gets its button and its polling back.
  for (const form of document.querySelectorAll('form.reply')) {
    form.addEventListener('submit', (e) => {
      if (form.dataset.sending) {
        e.preventDefault();
        return;
      }
      form.dataset.sending = 'true';
      stopped = true;
      clearTimeout(timer);
      for (const b of form.querySelectorAll('button[type=submit], button:not([type])')) b.disabled = true;
    });
  }
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return;
    for (const form of document.querySelectorAll('form.reply')) {
      delete form.dataset.sending;
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
    if (!document.getElementById('live-stopped')) {
      stopped = false;
      schedule(0);
    }
  });
  schedule(INTERVAL);
})();
