// The sign-in page. A login link carries its token in the URL fragment
// (#...), which browsers never send to a server or put in a Referer; the
// token is only used when the person presses Continue (a POST), so link
// scanners that merely open the URL consume nothing.

const status = document.getElementById("status");
let link = "";

function say(text) {
  status.textContent = text;
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await r.json(); } catch { /* empty body */ }
  return { ok: r.ok, status: r.status, data };
}

// Take a link from the URL fragment (on load, or when another link is
// followed in the same tab) and drop it from the address bar and history.
function takeLink() {
  const found = decodeURIComponent(location.hash.slice(1));
  if (!found) return;
  link = found;
  history.replaceState(null, "", location.pathname);
  document.getElementById("with-link").hidden = false;
  document.getElementById("by-email").hidden = true;
  say("");
}

takeLink();
window.addEventListener("hashchange", takeLink);

document.getElementById("continue").addEventListener("click", async () => {
  if (!link) return;
  say("Signing in…");
    const r = await post("/api/v1/auth/login", { link });
    if (r.ok) {
      say(`Signed in as ${r.data.user.name}.`);
      location.assign(r.data.user.role === "customer" ? "/my" : "/console");
    } else {
      say("This sign-in link is not valid any more. Ask for a new one below.");
      document.getElementById("by-email").hidden = false;
    }
});

document.getElementById("email-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const r = await post("/api/v1/auth/email-login", {
    workspace: form.get("workspace"),
    email: form.get("email"),
  });
  say(r.ok ? "If that address has an account, a sign-in link is on its way." : (r.data?.error?.message ?? "Something went wrong."));
});
