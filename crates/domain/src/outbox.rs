//! The email outbox. Every email the app sends is stored here first, one per
//! recipient (never a shared To/CC list), then delivered by the configured
//! provider; with the default `outbox` provider nothing leaves and admins read
//! the emails through the API. Templates carry the workspace branding; the
//! HTML bodies are `maud` templates, which escape every value they are
//! given, the plain-text bodies are not HTML (nothing to escape), and the
//! header fields pass through [`header_text`].
//!
//! Bodies carry personal links, so they are stored sealed ([`crate::seal`]):
//! the store holds no usable link in clear. Once a real provider has taken an
//! email, the stored copy keeps its text with every link token redacted.

use maud::{DOCTYPE, html};
use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::error::Result;
use crate::header::header_text;
use crate::ids::WorkspaceId;
use crate::keys;
use crate::record::{read, read_counter, write_fresh};
use crate::seal::SealKey;
use crate::store::Kv;
use crate::time::Millis;
use crate::workspace::Branding;

/// Delivery state of an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Stored in the outbox; the `outbox` provider sends nothing.
    Stored,
    /// Handed to the provider.
    Sent,
    /// The provider refused it.
    Failed,
}

/// One email to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Position in the outbox.
    pub n: u64,
    /// The one recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// HTML body (empty in the store while the body is sealed).
    #[serde(default)]
    pub html: String,
    /// Plain-text body (empty in the store while the body is sealed).
    #[serde(default)]
    pub text: String,
    /// The sealed `{html, text}` (stored form only; never sent to clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// The body was sealed with another key (the deployment secret changed)
    /// and cannot be shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
    /// What kind of email (`login_link`, …).
    pub kind: String,
    /// Delivery state.
    pub state: Delivery,
    /// When it was stored.
    pub created_at: Millis,
    /// What the provider said (message id or error), if anything.
    #[serde(default)]
    pub provider_response: Option<String>,
    /// Where replies go, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Our Message-ID, if we set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// CAS guard for delivery-state changes.
    #[serde(default)]
    pub version: u64,
}

#[derive(Serialize, Deserialize)]
struct Body {
    html: String,
    text: String,
}

/// Open a stored email's sealed body in place.
fn unseal(mut e: Email, key: &SealKey) -> Email {
    if let Some(sealed) = e.sealed.take() {
        match crate::seal::open(key, &sealed).and_then(|b| serde_json::from_slice::<Body>(&b).ok())
        {
            Some(b) => {
                e.html = b.html;
                e.text = b.text;
            }
            None => e.unreadable = true,
        }
    }
    e
}

/// Read one stored email, its body opened.
pub fn get(kv: &dyn Kv, ws: &WorkspaceId, n: u64, key: &SealKey) -> Result<Email> {
    let e: Email = read(kv, &keys::mail(ws, n))?.ok_or(crate::error::Error::NotFound)?;
    Ok(unseal(e, key))
}

/// Record what the provider did with an email.
///
/// Once the provider has it, the stored copy keeps the text with every link
/// token redacted: the outbox keeps what was sent, not a usable credential.
pub fn mark(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    n: u64,
    state: Delivery,
    provider_response: &str,
    key: &SealKey,
) -> Result<Email> {
    crate::record::update(kv, &keys::mail(ws, n), |e: &mut Email| {
        if state == Delivery::Sent {
            // Sealed or (stored before sealing) in clear: keep only a copy
            // with every link token redacted.
            let open = unseal(e.clone(), key);
            e.sealed = None;
            e.html = redact_links(&open.html);
            e.text = redact_links(&open.text);
        }
        e.state = state;
        e.provider_response = Some(provider_response.chars().take(500).collect());
        Ok(())
    })
}

/// Replace the token after every `login#`, `/i/`, `/p/` and `/s/` with
/// `[redacted]`.
pub fn redact_links(s: &str) -> String {
    let s = redact_after(s, "login#");
    let s = redact_after(&s, "/p/");
    let s = redact_after(&s, "/s/");
    redact_after(&s, "/i/")
}

fn redact_after(s: &str, marker: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        let after = &rest[i + marker.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'))
            .unwrap_or(after.len());
        out.push_str("[redacted]");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The JSON body of Postmark's `POST /email` for one stored email; every
/// header value passes through [`header_text`].
pub fn postmark_body(e: &Email, from: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "From": header_text(from),
        "To": header_text(&e.to),
        "Subject": header_text(&e.subject),
        "HtmlBody": e.html,
        "TextBody": e.text,
        "MessageStream": "outbound",
        "Tag": header_text(&e.kind),
    });
    if let Some(r) = &e.reply_to {
        v["ReplyTo"] = serde_json::json!(header_text(r));
    }
    if let Some(id) = &e.message_id {
        v["Headers"] =
            serde_json::json!([{"Name": "Message-ID", "Value": format!("<{}>", header_text(id))}]);
    }
    v
}

/// The content of an email before it is stored.
pub struct Draft {
    /// Subject.
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text body.
    pub text: String,
    /// Kind.
    pub kind: &'static str,
    /// Where replies go (a ticket's reply address), if anywhere.
    pub reply_to: Option<String>,
    /// Our Message-ID for it (replies' `In-Reply-To` finds the ticket).
    pub message_id: Option<String>,
}

/// Store an email for one recipient (in `ctx`'s store and workspace, at
/// its time), its body sealed with `key` (`random`:
/// fresh bytes for the nonce). Returns the stored record (body sealed). The
/// header fields (recipient, subject, Reply-To, Message-ID) are stored
/// through [`header_text`], so no line break reaches a header.
pub fn enqueue(
    ctx: &Ctx,
    to: &str,
    draft: Draft,
    key: &SealKey,
    random: [u8; 32],
) -> Result<Email> {
    let (kv, ws, now) = (ctx.kv, ctx.ws, ctx.now);
    let body = serde_json::to_vec(&Body {
        html: draft.html,
        text: draft.text,
    })
    .map_err(|e| crate::error::Error::Store(crate::store::StoreError(e.to_string())))?;
    let n = kv.increment(&keys::mail_counter(ws), 1)? as u64;
    let e = Email {
        n,
        to: header_text(to),
        subject: header_text(&draft.subject),
        html: String::new(),
        text: String::new(),
        sealed: Some(crate::seal::seal(key, random, &body)),
        unreadable: false,
        kind: draft.kind.to_string(),
        state: Delivery::Stored,
        created_at: now,
        provider_response: None,
        reply_to: draft.reply_to.as_deref().map(header_text),
        message_id: draft.message_id.as_deref().map(header_text),
        version: 0,
    };
    // A lost answer is settled by one read: an error here is retried by
    // the client (a second email at another number), a success is not.
    write_fresh(kv, &keys::mail(ws, n), &e)?;
    Ok(e)
}

/// A page of the outbox, newest first, bodies opened; the cursor is the last
/// position seen.
pub fn page(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    cursor: Option<u64>,
    limit: usize,
    key: &SealKey,
) -> Result<(Vec<Email>, Option<u64>)> {
    let top = read_counter(kv, &keys::mail_counter(ws))?;
    let mut pos = cursor.map_or(top, |c| c.saturating_sub(1).min(top));
    let mut out = Vec::new();
    while pos >= 1 && out.len() < limit {
        if let Some(e) = read::<Email>(kv, &keys::mail(ws, pos))? {
            out.push(unseal(e, key));
        }
        pos -= 1;
    }
    Ok((out, (pos >= 1).then_some(pos + 1)))
}

/// Wrap content in the branded email layout (logo, logo link, company name,
/// brand colour on the button). `branding` was validated when saved; every
/// value is escaped all the same (the template escapes whatever it is given).
pub fn branded(
    branding: &Branding,
    heading: &str,
    paragraphs: &[String],
    button: Option<(&str, &str)>,
) -> String {
    let company = if branding.company_name.is_empty() {
        "Support"
    } else {
        &branding.company_name
    };
    let logo = html! { img src=(branding.logo_url) alt=(company) height="40"; };
    html! {
        (DOCTYPE)
        html {
            body style="font-family:sans-serif;color:#1b1f24" {
                div {
                    @if branding.logo_url.is_empty() {
                        strong style="font-size:18px" { (company) }
                    } @else if branding.logo_link.is_empty() {
                        (logo)
                    } @else {
                        a href=(branding.logo_link) { (logo) }
                    }
                }
                h1 style="font-size:20px" { (heading) }
                @for p in paragraphs {
                    p { (p) }
                }
                @if let Some((label, url)) = button {
                    p {
                        a href=(url) style={
                            "display:inline-block;padding:10px 18px;border-radius:6px;background:"
                            (branding.brand_colour) ";color:#ffffff;text-decoration:none"
                        } { (label) }
                    }
                }
                p style="color:#5b6470;font-size:12px" { (company) }
            }
        }
    }
    .into_string()
}

/// The sign-in email.
pub fn login_link(branding: &Branding, name: &str, url: &str) -> Draft {
    let company = if branding.company_name.is_empty() {
        "Ticketshare"
    } else {
        &branding.company_name
    };
    let lines = vec![
        format!("Hello {name},"),
        "Use the button below to sign in. The link works once and expires in 15 minutes."
            .to_string(),
        "If you did not ask to sign in, you can ignore this email.".to_string(),
    ];
    Draft {
        subject: format!("Sign in to {company}"),
        html: branded(
            branding,
            "Your sign-in link",
            &lines,
            Some(("Sign in", url)),
        ),
        text: format!(
            "{}\n\n{}\n\n{}\n\nSign in: {url}\n",
            lines[0], lines[1], lines[2]
        ),
        kind: "login_link",
        reply_to: None,
        message_id: None,
    }
}

/// An email to a participant with their personal ticket link.
pub fn participant(branding: &Branding, name: &str, subject: &str, line: &str, url: &str) -> Draft {
    let lines = vec![
        format!("Hello {name},"),
        line.to_string(),
        "This link is personal: it opens this ticket only.".to_string(),
    ];
    Draft {
        subject: subject.to_string(),
        html: branded(branding, subject, &lines, Some(("Open the ticket", url))),
        text: format!(
            "{}\n\n{}\n\n{}\n\nOpen: {url}\n",
            lines[0], lines[1], lines[2]
        ),
        kind: "participant_link",
        reply_to: None,
        message_id: None,
    }
}

/// The delegate invite email.
pub fn invite(
    branding: &Branding,
    name: &str,
    inviter: &str,
    ticket_ref: &str,
    subject: &str,
    url: &str,
) -> Draft {
    let lines = vec![
        format!("Hello {name},"),
        format!(
            "{inviter} invited you to follow and reply to ticket {ticket_ref} \u{201c}{subject}\u{201d}."
        ),
        "The link is personal and works once; it expires in 7 days.".to_string(),
    ];
    Draft {
        subject: format!("You are invited to ticket {ticket_ref}: {subject}"),
        html: branded(
            branding,
            "You are invited to a ticket",
            &lines,
            Some(("View the invitation", url)),
        ),
        text: format!(
            "{}\n\n{}\n\n{}\n\nOpen: {url}\n",
            lines[0], lines[1], lines[2]
        ),
        kind: "delegate_invite",
        reply_to: None,
        message_id: None,
    }
}

/// The share email: the agent's subject and note, and the personal link.
pub fn share(
    branding: &Branding,
    sharer: &str,
    subject: &str,
    note: &str,
    url: &str,
    expires: &str,
) -> Draft {
    let mut lines = vec![format!(
        "{sharer} shared a support ticket with you and would like your help."
    )];
    if !note.is_empty() {
        lines.push(note.to_string());
    }
    lines.push(format!(
        "The link is personal and works until {expires}. When you open it we email you a code to confirm this address."
    ));
    let text = lines.join("\n\n");
    Draft {
        subject: subject.to_string(),
        html: branded(
            branding,
            subject,
            &lines,
            Some(("Open the shared ticket", url)),
        ),
        text: format!("{text}\n\nOpen: {url}\n"),
        kind: "share_link",
        reply_to: None,
        message_id: None,
    }
}

/// The one-time code that confirms a collaborator's address.
pub fn share_code(branding: &Branding, code: &str) -> Draft {
    let lines = vec![
        format!("Your code is {code}"),
        "Enter it on the page you opened. It works once, for 10 minutes.".to_string(),
        "If you did not open a shared ticket, you can ignore this email.".to_string(),
    ];
    Draft {
        subject: format!("Your code: {code}"),
        html: branded(branding, "Confirm your email", &lines, None),
        text: format!("{}\n\n{}\n\n{}\n", lines[0], lines[1], lines[2]),
        kind: "share_code",
        reply_to: None,
        message_id: None,
    }
}

crate::versioned!(Email);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{breaks_header, check_header_field};
    use crate::store::{Fault, Faulty, MemKv, Op};

    #[test]
    fn no_line_break_reaches_a_header() {
        for bad in [
            "a\rb",
            "a\nb",
            "a\0b",
            "a\tb",
            "a\u{85}b",
            "a\u{2028}b",
            "a\u{2029}b",
        ] {
            assert_eq!(header_text(bad), "a b", "{bad:?}");
            let e = check_header_field("branding.company_name", bad).unwrap_err();
            assert!(matches!(e, crate::error::Error::BadRequest { .. }), "{e}");
            assert!(e.message().contains("branding.company_name"), "{e}");
        }
        assert!(check_header_field("name", "Zoë \u{201c}Ltd\u{201d}").is_ok());
        // Whatever was stored, the email and the provider call carry one line.
        let kv = MemKv::new();
        let key = SealKey::derive("deployment secret");
        let ws = WorkspaceId::parse("acme").unwrap();
        let b = Branding {
            company_name: "Acme\r\nBcc: victim@x.test".into(),
            ..Default::default()
        };
        let mut draft = login_link(&b, "Ann", "https://app.example/login#acme.T");
        draft.reply_to = Some("r@x.test\nBcc: y@x.test".into());
        draft.message_id = Some("id@x.test\u{2028}X: y".into());
        let e = enqueue(
            &crate::ctx::test_ctx!(&kv, &ws, 1),
            "a@x.com\r\nCc: z@x.test",
            draft,
            &key,
            [1; 32],
        )
        .unwrap();
        let v = postmark_body(&e, "Support <s@x.test>\r\nBcc: w@x.test");
        for h in ["From", "To", "Subject", "ReplyTo"] {
            let s = v[h].as_str().unwrap();
            assert!(!s.chars().any(breaks_header), "{h}: {s:?}");
        }
        assert_eq!(v["Subject"], "Sign in to Acme  Bcc: victim@x.test");
        let id = v["Headers"][0]["Value"].as_str().unwrap();
        assert!(!id.chars().any(breaks_header), "{id:?}");
    }

    #[test]
    fn outbox_stores_one_email_per_recipient_newest_first() {
        let kv = MemKv::new();
        let key = SealKey::derive("deployment secret");
        let ws = WorkspaceId::parse("acme").unwrap();
        let b = Branding {
            company_name: "Acme <Shop>".into(),
            brand_colour: "#112233".into(),
            ..Default::default()
        };
        for to in ["a@x.com", "b@x.com", "c@x.com"] {
            enqueue(
                &crate::ctx::test_ctx!(&kv, &ws, 1),
                to,
                login_link(&b, "Ann", "https://app.example/login#acme.SECRETTOKEN"),
                &key,
                [to.len() as u8; 32],
            )
            .unwrap();
        }
        // The store holds no link in clear; the reader opens the bodies.
        for (k, v) in kv.dump() {
            assert!(
                !String::from_utf8_lossy(&v).contains("SECRETTOKEN"),
                "{k} holds a link in clear"
            );
        }
        let (page1, next) = page(&kv, &ws, None, 2, &key).unwrap();
        assert!(page1[0].text.contains("login#acme.SECRETTOKEN"));
        assert!(page1[0].sealed.is_none() && !page1[0].unreadable);
        let (other, _) = page(&kv, &ws, None, 1, &SealKey::derive("rotated")).unwrap();
        assert!(other[0].unreadable && other[0].text.is_empty());
        assert_eq!(
            page1.iter().map(|e| e.to.as_str()).collect::<Vec<_>>(),
            ["c@x.com", "b@x.com"]
        );
        let (page2, next2) = page(&kv, &ws, next, 2, &key).unwrap();
        assert_eq!((page2.len(), next2), (1, None));
        let html = &page1[0].html;
        assert!(
            html.contains("Acme &lt;Shop&gt;") && !html.contains("<Shop>"),
            "{html}"
        );
        assert!(html.contains("background:#112233"));
        assert_eq!(page1[0].subject, "Sign in to Acme <Shop>");
        let sent = mark(&kv, &ws, 3, Delivery::Sent, "ok", &key).unwrap();
        assert!(sent.sealed.is_none());
        assert!(
            sent.text.contains("login#[redacted]") && !sent.text.contains("SECRETTOKEN"),
            "{}",
            sent.text
        );
        assert_eq!(
            redact_links("a https://x/login#acme.AbC-_9 b"),
            "a https://x/login#[redacted] b"
        );
    }

    /// An email to `to`, retried (as a client retries an error) up to
    /// three times.
    fn send_retrying(kv: &dyn Kv, ws: &WorkspaceId, to: &str, key: &SealKey) {
        let b = Branding::default();
        for _ in 0..3 {
            let draft = login_link(&b, "Ann", "https://app.example/login#acme.T");
            if enqueue(&crate::ctx::test_ctx!(kv, ws, 1), to, draft, key, [7; 32]).is_ok() {
                return;
            }
        }
    }

    fn listed(kv: &dyn Kv, ws: &WorkspaceId, key: &SealKey) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = page(kv, ws, cursor, 1, key).unwrap();
            out.extend(page.into_iter().map(|e| e.to));
            match next {
                Some(n) => cursor = Some(n),
                None => return out,
            }
        }
    }

    /// Numbers whose email was never written (the counter's answer lost,
    /// or the write failed) are skipped; an email whose write landed but
    /// whose answer was lost is stored once, not again by the retry.
    #[test]
    fn the_outbox_skips_gaps_and_a_lost_answer_is_not_a_second_email() {
        let key = SealKey::derive("deployment secret");
        let ws = WorkspaceId::parse("acme").unwrap();
        // The second email's write lands, its answer is lost; the fourth's
        // counter counts (from 3), its answer is lost.
        let kv = Faulty::new(MemKv::new(), |inner, key, op| match op {
            Op::Set(_) if key.ends_with("/mail/i/000000000002") => Fault::After,
            Op::Increment if crate::record::read_counter(inner, key).unwrap() == 3 => Fault::After,
            _ => Fault::Pass,
        });
        for to in ["a@x.com", "b@x.com", "c@x.com", "d@x.com"] {
            send_retrying(&kv, &ws, to, &key);
        }
        assert_eq!(
            listed(&kv, &ws, &key),
            ["d@x.com", "c@x.com", "b@x.com", "a@x.com"]
        );
        assert_eq!(read_counter(&kv, &keys::mail_counter(&ws)).unwrap(), 5);
    }
}
