//! User-supplied text → safe HTML. A Markdown subset rendered by pulldown-cmark;
//! raw HTML in the source is shown as text, never passed through; links and
//! images keep only `http`, `https` and `mailto` URLs and open with
//! `rel="noopener noreferrer nofollow"`; images become links (no remote loads
//! from a page behind a link).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The renderer's version: raise it with any change to what `markdown`
/// produces, and HTML kept with messages is rendered again.
pub const VERSION: u32 = 1;

/// Render Markdown source to sanitised HTML.
pub fn markdown(source: &str) -> String {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TABLES);
    let mut link_open: Vec<bool> = Vec::new();
    let events = Parser::new_ext(source, opts).filter_map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
            if safe_url(&dest_url) {
                link_open.push(true);
                Some(Event::InlineHtml(CowStr::from(format!(
                    "<a href=\"{}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">",
                    escape_attr(&dest_url)
                ))))
            } else {
                link_open.push(false);
                None
            }
        }
        Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
            if link_open.pop().unwrap_or(false) {
                Some(Event::InlineHtml(CowStr::from("</a>")))
            } else {
                None
            }
        }
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises() {
        let cases = [
            (
                "**bold** and _it_",
                "<p><strong>bold</strong> and <em>it</em></p>\n",
            ),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("[x](javascript:alert(1))", "<p>x</p>\n"),
            (
                "[x](https://e.com/?a=\"b\")",
                "<p><a href=\"https://e.com/?a=&quot;b&quot;\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">x</a></p>\n",
            ),
            (
                "![img](https://e.com/i.png)",
                "<a href=\"https://e.com/i.png\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">img</a>",
            ),
            (
                "a <img src=x onerror=alert(1)> b",
                "a &lt;img src=x onerror=alert(1)&gt; b",
            ),
        ];
        for (src, want) in cases {
            let got = markdown(src);
            assert!(got.contains(want), "{src:?} -> {got:?}");
            assert!(!got.contains("<script") && !got.contains("<img"), "{got}");
        }
    }
}
