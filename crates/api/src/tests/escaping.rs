//! Every value a page behind a link or an email's HTML interpolates comes
//! out escaped: a world whose names, emails, subjects, company, order
//! details and file names all hold markup, both quotes and an ampersand
//! renders every page and email, and none of those characters reaches the
//! HTML raw.
use super::prelude::*;
use crate::accept::accept;
use crate::pages::{PageRequest, thread_page, thread_page_before, verify_page};
use domain::after::Effects;
use domain::attachments::{self, Upload};
use domain::ctx::Ctx;
use domain::model::{AuthorKind, Delegates, OrderDetails, OrderItem, Participants, Visibility};
use domain::outbox::{self, Draft};
use domain::shares::{self, NewShare, Share, Sharer};
use domain::store::MemKv;
use domain::thread::{Author, Extras};
use domain::time::HOUR;
use domain::workspace::{Branding, Role, User, UserInput, Workspace};

const NOW: Millis = 1_000_000;

/// A hostile value for `field`: markup, both quotes and an ampersand.
fn hostile(field: &str) -> String {
    format!("<script>{field}</script>\"'&")
}

/// How [`hostile`] must come out in HTML text and (double-quoted)
/// attributes: `'` needs no escape there, since every attribute value is
/// written between double quotes.
fn escaped(field: &str) -> String {
    format!("&lt;script&gt;{field}&lt;/script&gt;&quot;'&amp;")
}

/// The links into a world: a share, a participant's and a delegate's.
struct Links {
    ws: WorkspaceId,
    share: Share,
    share_link: String,
    participant_link: String,
    invite_link: String,
}

/// A workspace with a ticket, a delegate's invitation, a participant, a
/// share with a collaborator's note and its file; every displayed text
/// is `v(field)`, written straight into the records (whatever the rules
/// would have accepted), so the pages meet exactly these values.
fn world(kv: &MemKv, v: &dyn Fn(&str) -> String) -> Links {
    let ws = WorkspaceId::parse("acme").unwrap();
    let after = Effects::default();
    let at = |now| Ctx {
        kv,
        ws: &ws,
        now,
        actor: "test",
        request_id: "test",
        after: &after,
    };
    workspace::create_workspace(kv, &ws, "Acme", NOW).unwrap();
    update(kv, &keys::workspace(&ws), |w: &mut Workspace| {
        w.name = v("workspace");
        w.settings.branding.company_name = v("company");
        w.settings.participants_enabled = true;
        Ok(())
    })
    .unwrap();
    workspace::set_logo(kv, &ws, "image/png", b"\x89PNG\r\n\x1a\nlogo").unwrap();
    let user = |email: &str, role| UserInput {
        email: email.into(),
        name: "Someone".into(),
        role,
        company: None,
        queues: Vec::new(),
        permissions: Vec::new(),
    };
    let (cus, _) =
        workspace::upsert_user(kv, &ws, user("cus@x.test", Role::Customer), NOW, [1; 16]).unwrap();
    workspace::upsert_user(kv, &ws, user("dee@y.test", Role::Customer), NOW, [2; 16]).unwrap();
    let by_cus = Author {
        id: Some(cus.id.to_string()),
        name: "Someone".into(),
        kind: AuthorKind::Customer,
        signed: true,
    };
    let (t, _, _) =
        thread::create_ticket(&at(NOW), "Late", &cus, "", &by_cus, "where is it").unwrap();
    let (_, invite_link) =
        domain::delegates::invite(&at(NOW), t.no, "Sam", "dee@y.test", true, [3; 32]).unwrap();
    let p = domain::participants::add(
        &at(NOW),
        t.no,
        "staff",
        domain::participants::NewParticipant {
            email: "pat@z.test",
            name: Some("Pat"),
            can_reply: true,
        },
        [4; 16],
    )
    .unwrap();
    let participant_link =
        domain::participants::issue_link(kv, &ws, t.no, &p, NOW, [5; 32]).unwrap();
    let staff = Author {
        id: Some("staff-1".into()),
        name: v("staff"),
        kind: AuthorKind::Staff,
        signed: true,
    };
    thread::post(
        &at(NOW + 1),
        t.no,
        &staff,
        Visibility::Public,
        "on its way",
        None,
    )
    .unwrap();
    let sharer = Sharer {
        id: "staff-1".into(),
        name: "Sam".into(),
    };
    let input = NewShare {
        email: "dock@carrier.test".into(),
        subject: "Please help".into(),
        note: "Please check **depot B**".into(),
        include_details: true,
        can_reply: true,
    };
    let (share, share_link) = shares::create(
        &at(NOW),
        t.no,
        &sharer,
        &input,
        domain::shares::NewLink {
            lifetime: 24 * HOUR,
            random_token: [6; 32],
            random_id: [7; 16],
        },
    )
    .unwrap();
    let upload = Upload {
        name: "note.txt".into(),
        bytes: b"hello".to_vec(),
    };
    let mut n = 8u8;
    let mut random16 = || {
        n += 1;
        [n; 16]
    };
    let files = attachments::store(kv, &ws, t.no, &[upload], &mut random16).unwrap();
    let by_collaborator = Author {
        id: Some(share.id.to_string()),
        name: share.email.clone(),
        kind: AuthorKind::Collaborator,
        signed: true,
    };
    let extras = Extras {
        share: Some(share.id.to_string()),
        attachments: files,
        ..Extras::default()
    };
    let (mut note, _) = thread::post_with(
        &at(NOW + 2),
        t.no,
        &by_collaborator,
        Visibility::External,
        "found it",
        extras,
    )
    .unwrap();
    // Every displayed value, as hostile as the test wants it.
    note.author_name = v("collaborator");
    note.attachments[0].name = v("file name");
    domain::record::write(kv, &keys::message(&ws, t.no, note.seq), &note).unwrap();
    update(
        kv,
        &keys::ticket(&ws, t.no),
        |t: &mut domain::model::Ticket| {
            t.subject = v("subject");
            t.order = Some(OrderDetails {
                number: v("order"),
                items: vec![OrderItem {
                    name: v("item"),
                    quantity: 2,
                    amount: Some(v("amount")),
                }],
                total: Some(v("total")),
                shipping_address: vec![v("street"), v("city")],
                fields: [(v("field key"), v("field value"))].into(),
            });
            Ok(())
        },
    )
    .unwrap();
    update(kv, &keys::user(&ws, &cus.id), |u: &mut User| {
        u.name = v("customer");
        u.email = v("customer email");
        u.company = Some(v("customer company"));
        Ok(())
    })
    .unwrap();
    update(kv, &keys::share(&ws, &share.id), |s: &mut Share| {
        s.email = format!("d@{}", v("share email"));
        s.subject = v("share subject");
        s.created_by_name = v("sharer");
        Ok(())
    })
    .unwrap();
    update(
        kv,
        &keys::participants(&ws, t.no),
        |ps: &mut Participants| {
            ps.list[0].name = v("participant");
            ps.list[0].email = v("participant email");
            Ok(())
        },
    )
    .unwrap();
    update(kv, &keys::delegates(&ws, t.no), |ds: &mut Delegates| {
        ds.list[0].name = v("delegate");
        ds.list[0].email = v("delegate email");
        ds.list[0].invited_by = v("inviter");
        Ok(())
    })
    .unwrap();
    let share = shares::get(kv, &ws, &share.id).unwrap();
    Links {
        ws,
        share,
        share_link,
        participant_link,
        invite_link,
    }
}

fn get(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        ..Default::default()
    }
}

/// Every page behind a link of the world made with `v`, by name.
fn pages(v: &dyn Fn(&str) -> String) -> Vec<(&'static str, Response)> {
    let kv = MemKv::new();
    let l = world(&kv, v);
    let mut n = 100u8;
    let mut random = || {
        n = n.wrapping_add(1);
        [n; 32]
    };
    let after = Effects::default();
    let mut env = env(&kv, NOW + 10, &mut random, &after);
    let (ws, link) = (&l.ws, l.share_link.as_str());
    let notice = v("notice");
    let mut out = vec![
        (
            "verify",
            verify_page(&mut env, ws, &l.share, &notice, 200).unwrap(),
        ),
        (
            "verify refused",
            verify_page(&mut env, ws, &l.share, &notice, 400).unwrap(),
        ),
        (
            "share thread",
            thread_page(&mut env, link, ws, &l.share, &notice, 400).unwrap(),
        ),
        (
            "share thread before",
            thread_page_before(
                &mut env,
                link,
                ws,
                &l.share,
                PageRequest {
                    notice: "",
                    status: 200,
                    before: Some(3),
                    ticket: None,
                    if_none_match: None,
                },
            )
            .unwrap(),
        ),
        (
            "participant",
            accept(&mut env, &get(&format!("/p/{}", l.participant_link))).unwrap(),
        ),
        (
            "invitation",
            accept(&mut env, &get(&format!("/i/{}", l.invite_link))).unwrap(),
        ),
    ];
    let mut view_only = l.share.clone();
    view_only.can_reply = false;
    view_only.include_details = false;
    view_only.note.clear();
    view_only.verified_at = Some(NOW);
    out.push((
        "share view only",
        thread_page(&mut env, link, ws, &view_only, "", 200).unwrap(),
    ));
    out.push((
        "verify again",
        verify_page(&mut env, ws, &view_only, "", 200).unwrap(),
    ));
    update(&kv, &keys::workspace(ws), |w: &mut Workspace| {
        w.settings.branding.company_name.clear();
        Ok(())
    })
    .unwrap();
    out.push((
        "verify unbranded",
        verify_page(&mut env, ws, &l.share, "", 200).unwrap(),
    ));
    out
}

/// Every email's draft, with branding `b` and every value `v(field)`.
fn drafts(b: &Branding, v: &dyn Fn(&str) -> String) -> Vec<(&'static str, Draft)> {
    vec![
        ("login", outbox::login_link(b, &v("name"), &v("url"))),
        (
            "participant",
            outbox::participant(b, &v("name"), &v("mail subject"), &v("line"), &v("url")),
        ),
        (
            "invite",
            outbox::invite(
                b,
                &v("name"),
                &v("inviter"),
                &v("ticket ref"),
                &v("subject"),
                &v("url"),
            ),
        ),
        (
            "share",
            outbox::share(
                b,
                &v("sharer"),
                &v("subject"),
                &v("note"),
                &v("url"),
                &v("expires"),
            ),
        ),
        ("share code", outbox::share_code(b, &v("code"))),
    ]
}

/// The brandings an email may carry: a logo with and without a link, and
/// none.
fn brandings(v: &dyn Fn(&str) -> String) -> Vec<Branding> {
    let full = Branding {
        company_name: v("company"),
        logo_url: v("logo url"),
        logo_link: v("logo link"),
        brand_colour: v("colour"),
    };
    let unlinked = Branding {
        logo_link: String::new(),
        ..full.clone()
    };
    let plain = Branding {
        logo_url: String::new(),
        logo_link: String::new(),
        ..full.clone()
    };
    vec![full, unlinked, plain]
}

/// `html` holds each of `fields` escaped, and nothing hostile is left once
/// the escaped values are taken out.
#[track_caller]
fn assert_escaped(what: &str, html: &str, fields: &[&str]) {
    for f in fields {
        assert!(
            html.contains(&escaped(f)),
            "{what}: {f:?} not shown escaped in {html}"
        );
    }
    // The live pages' one script element, our own file: nothing a value
    // put there.
    let live = format!(
        "<script src=\"{}\" defer></script>",
        crate::pages::LIVE_SCRIPT
    );
    let mut rest = html.replacen(&live, "", 1);
    for f in fields {
        rest = rest.replace(&escaped(f), "");
    }
    for raw in ["<script", "</script", "\"'&", "'&\""] {
        assert!(!rest.contains(raw), "{what}: {raw:?} left raw in {rest}");
    }
    assert_double_quoted(what, html);
}

/// Every attribute value in `html` stands between double quotes, so a `'`
/// left as it is ends nothing.
#[track_caller]
fn assert_double_quoted(what: &str, html: &str) {
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("a closed tag");
        let tag = &rest[start..end];
        let mut quoted = false;
        for (i, c) in tag.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '=' if !quoted => assert!(
                    tag[i + 1..].starts_with('"'),
                    "{what}: an attribute not double-quoted in {tag}"
                ),
                _ => {}
            }
        }
        assert!(!quoted, "{what}: an unclosed quote in {tag}");
        rest = &rest[end..];
    }
}

#[test]
fn every_page_behind_a_link_escapes_every_value() {
    let company = ["company"];
    let share_head = ["share subject", "sharer", "company"];
    let thread = ["staff", "collaborator", "file name"];
    let details = [
        "customer",
        "customer email",
        "customer company",
        "order",
        "item",
        "amount",
        "total",
        "street",
        "city",
        "field key",
        "field value",
    ];
    for (name, r) in pages(&hostile) {
        let html = String::from_utf8(r.body).unwrap();
        let mut fields: Vec<&str> = company.to_vec();
        match name {
            "verify" | "verify refused" => {
                fields.extend(share_head);
                fields.extend(["share email", "notice"]);
            }
            "verify again" => {
                fields.extend(share_head);
                fields.push("share email");
            }
            "share thread" => {
                fields.extend(share_head);
                fields.extend(thread);
                fields.extend(details);
                fields.extend(["share email", "notice"]);
            }
            "share thread before" | "share view only" => {
                fields.extend(share_head);
                fields.push("share email");
            }
            "participant" => {
                fields.extend(["subject", "participant", "participant email", "staff"]);
            }
            "invitation" => {
                fields.extend(["subject", "delegate", "delegate email", "inviter"]);
            }
            "verify unbranded" => {}
            _ => unreachable!("{name}"),
        }
        if name == "participant" {
            // No team name on it: the staff member signed their reply.
            fields.retain(|f| *f != "company");
        }
        if name == "verify unbranded" {
            // No company name: the workspace's own.
            fields = vec!["workspace", "share subject", "sharer", "share email"];
        }
        assert_escaped(name, &html, &fields);
        assert!(html.starts_with("<!"), "{name}: {html}");
    }
}

#[test]
fn every_email_escapes_every_value_in_its_html() {
    for b in brandings(&hostile) {
        for (name, d) in drafts(&b, &hostile) {
            let mut fields = vec!["company", "colour"];
            match name {
                "login" => fields.extend(["name", "url"]),
                "participant" => fields.extend(["name", "mail subject", "line", "url"]),
                "invite" => fields.extend(["name", "inviter", "ticket ref", "subject", "url"]),
                "share" => fields.extend(["sharer", "subject", "note", "url", "expires"]),
                "share code" => fields.push("code"),
                _ => unreachable!("{name}"),
            }
            if name == "share code" {
                // No button, so no brand colour.
                fields.retain(|f| *f != "colour");
            }
            if !b.logo_url.is_empty() {
                fields.push("logo url");
            }
            if !b.logo_link.is_empty() {
                fields.push("logo link");
            }
            assert_escaped(name, &d.html, &fields);
            // The plain text and the subject are not HTML: as written.
            assert!(!d.text.contains("&lt;") && !d.subject.contains("&lt;"));
        }
    }
}
