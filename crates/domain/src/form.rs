//! Forms: decoding of `application/x-www-form-urlencoded` text (form
//! bodies, query strings, Mailgun's inbound posts), and [`Form`], the one
//! reading of a submitted form with files (the pages' reply forms and
//! `multipart/form-data` replies to the API).

use crate::attachments::{Upload, parse_multipart_ref};
use crate::error::{Error, Result};

/// A submitted form: its text fields in the order sent, and its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// Text fields (name, value), in the order sent.
    pub fields: Vec<(String, String)>,
    /// Files, in the order sent.
    pub files: Vec<Upload>,
}

impl Form {
    /// Whether a `Content-Type` says `multipart/form-data`.
    pub fn is_multipart(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
    }

    /// Read a form body by its `Content-Type`: `multipart/form-data` (text
    /// fields must be UTF-8; a part with a file name is a file and must
    /// come under `files_field`; the part an empty file input sends, with
    /// no file name and no bytes, is skipped) or
    /// `application/x-www-form-urlencoded` (text fields only); anything
    /// else is 415. A malformed body is 400 `invalid_form`, a file under
    /// another name 400 `unknown_field`.
    pub fn parse(content_type: &str, body: &[u8], files_field: &str) -> Result<Form> {
        if Self::is_multipart(content_type) {
            let mut form = Form::default();
            for p in parse_multipart_ref(content_type, body)? {
                match p.filename {
                    Some(name) if name.is_empty() && p.data.is_empty() => {}
                    Some(_) if p.name != files_field => {
                        return Err(Error::bad(
                            "unknown_field",
                            format!("files are sent as {files_field:?}, not {:?}", p.name),
                        ));
                    }
                    Some(name) => form.files.push(Upload {
                        name,
                        bytes: p.data.to_vec(),
                    }),
                    None => form.fields.push((
                        p.name,
                        std::str::from_utf8(p.data)
                            .map_err(|_| Error::bad("invalid_form", "form fields must be UTF-8"))?
                            .to_string(),
                    )),
                }
            }
            return Ok(form);
        }
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Ok(Form {
                fields: pairs(body),
                files: Vec::new(),
            });
        }
        Err(Error::UnsupportedMediaType)
    }

    /// A text field's value (its first occurrence).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The (name, value) pairs of a urlencoded body, decoded, in one pass over
/// the body (never a rescan per field).
pub fn pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decode `%XX` escapes and `+` (form encoding).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_read_by_their_content_type() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nHi\r\n--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"\"\r\n\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nfile\r\n--B--\r\n";
        let f = Form::parse("Multipart/Form-Data; boundary=B", body, "files").unwrap();
        assert_eq!(f.get("body"), Some("Hi"));
        assert_eq!(f.files.len(), 1, "the empty file input is skipped");
        assert_eq!(
            (f.files[0].name.as_str(), &f.files[0].bytes[..]),
            ("a.txt", &b"file"[..])
        );
        let f = Form::parse(
            "application/x-www-form-urlencoded",
            b"body=a+b%21&x=1&body=2",
            "files",
        )
        .unwrap();
        assert_eq!(
            (f.get("body"), f.get("x"), f.get("y")),
            (Some("a b!"), Some("1"), None)
        );
        assert!(f.files.is_empty());
        assert_eq!(
            Form::parse("text/plain", b"x", "files").unwrap_err(),
            Error::UnsupportedMediaType
        );
        let bad = b"--B\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n\xff\r\n--B--";
        assert_eq!(
            Form::parse("multipart/form-data; boundary=B", bad, "files")
                .unwrap_err()
                .code(),
            "invalid_form"
        );
        let elsewhere = String::from_utf8_lossy(body)
            .replace("name=\"files\"; filename=\"a", "name=\"doc\"; filename=\"a");
        let e = Form::parse(
            "multipart/form-data; boundary=B",
            elsewhere.as_bytes(),
            "files",
        )
        .unwrap_err();
        assert_eq!(e.code(), "unknown_field");
    }
}
