// Admin settings: branding with a live preview of the colour, name and
// (uploaded) logo, and the feature toggles.
import { api, requireUser, showError } from "/api.js";

const $ = (id) => document.getElementById(id);
const TOGGLES = ["participants_enabled", "copy_participants", "auto_add_senders", "customers_may_invite", "sign_replies", "revoke_on_resolve"];
let workspaceId = null;

function preview() {
  const colour = $("brand_colour").value;
  $("colour-text").textContent = colour;
  $("preview-button").style.backgroundColor = colour; // CSSOM: allowed by the CSP
  $("preview-name").textContent = $("company_name").value || "Support";
}

// The uploaded logo, when there is one (`logo` of the workspace, or of the
// upload's answer): never asked for blindly, since a workspace without one
// answers 404 and the browser reports that as an error.
function showLogo(logo) {
  const img = $("preview-logo");
  img.hidden = !logo;
  if (logo) img.src = `/api/v1/workspaces/${workspaceId}/logo?v=${encodeURIComponent(logo.etag)}`;
}

async function main() {
  const me = await requireUser();
  if (me.role !== "admin") {
    $("denied").textContent = "Only admins can change the workspace settings.";
    $("denied").hidden = false;
    return;
  }
  const w = await api("GET", "/workspace");
  workspaceId = w.id;
  const s = w.settings;
  $("company_name").value = s.branding.company_name;
  $("brand_colour").value = s.branding.brand_colour;
  $("logo_url").value = s.branding.logo_url;
  $("logo_link").value = s.branding.logo_link;
  for (const t of TOGGLES) $(t).checked = s[t];
  $("share_link_hours").value = s.share_link_hours;
  $("settings").hidden = false;
  for (const id of ["brand_colour", "company_name"]) $(id).addEventListener("input", preview);
  preview();
  showLogo(w.logo);

  $("logo_file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const r = await fetch("/api/v1/workspace/logo", { method: "PUT", credentials: "same-origin", headers: { "content-type": file.type }, body: file });
    const data = await r.json().catch(() => null);
    $("status").textContent = r.ok ? "Logo uploaded." : (data?.error?.message ?? "Upload failed.");
    if (r.ok) showLogo(data.logo);
  });

  $("settings").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      branding: {
        company_name: $("company_name").value,
        brand_colour: $("brand_colour").value,
        logo_url: $("logo_url").value,
        logo_link: $("logo_link").value,
      },
      share_link_hours: Number($("share_link_hours").value),
    };
    for (const t of TOGGLES) body[t] = $(t).checked;
    try {
      await api("PUT", "/workspace/settings", body);
      $("status").textContent = "Settings saved.";
    } catch (err) {
      $("status").textContent = err.message;
    }
  });
}

main().catch((e) => showError($("denied"), e));
