//! What may go into an email header: the one rule ([`breaks_header`]) that
//! input is checked against where a user sets a value that reaches a header
//! (a name, a subject: [`check_header_field`]) and that every header value
//! passes through when an email is written ([`header_text`]).

use crate::error::{Error, Result};

/// Whether a character must never reach an email header: control
/// characters (CR, LF, NUL, tab, DEL and the C1 set, NEL included) and the
/// Unicode line and paragraph separators, any of which can end a header line
/// or start a new one in some mail software.
pub fn breaks_header(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Refuse a user-settable `field` that reaches an email header (a subject,
/// a name) when it holds a character that [`breaks_header`]: a 400 naming
/// the field.
pub fn check_header_field(field: &str, value: &str) -> Result<()> {
    if value.chars().any(breaks_header) {
        return Err(Error::bad(
            "invalid_field",
            format!("{field} must be one line of text without control characters"),
        ));
    }
    Ok(())
}

/// `s` as it may go into an email header, whatever was stored: every
/// character that [`breaks_header`] becomes a space (defence in depth;
/// input is refused before it gets here).
pub fn header_text(s: &str) -> String {
    if !s.chars().any(breaks_header) {
        return s.to_string();
    }
    s.chars()
        .map(|c| if breaks_header(c) { ' ' } else { c })
        .collect()
}
