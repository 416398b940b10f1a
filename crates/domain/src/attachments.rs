//! Files attached to messages: the type allow-list (decided by sniffing the
//! bytes, never by what the client claims), safe file names, storage in
//! chunks well inside the store's value limit, and the `multipart/form-data`
//! parser the pages behind links post their reply forms with.
//!
//! Chunks are written before the message that refers to them, so a message
//! never points at a missing file; a crash in between leaves unreferenced
//! chunks, never a broken message.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ids::{AttachmentId, TicketNo, WorkspaceId};
use crate::keys;
use crate::store::Kv;

/// Largest single file.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most files on one message.
pub const MAX_FILES: usize = 5;
/// Largest sum of the files of one message.
pub const MAX_TOTAL_BYTES: usize = 12 * 1024 * 1024;
/// Bytes per stored chunk (the store takes values up to 1 MiB).
pub const CHUNK_BYTES: usize = 512 * 1024;
/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// A file on a message (the bytes live in chunks of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Id.
    pub id: AttachmentId,
    /// Safe file name for download, its extension matching the sniffed
    /// type (see [`stored_name`]).
    pub name: String,
    /// Content type from the sniffed bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u32,
    /// SHA-256 of the whole file, hex (checked when it is read back).
    pub sha256: String,
}

/// The file types accepted, by their bytes: images, PDF, plain text and CSV,
/// and ZIP containers (`.zip`, `.docx`, `.xlsx`).
pub fn sniff(name: &str, bytes: &[u8]) -> Result<&'static str> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let t = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if bytes.starts_with(b"%PDF-") {
        "application/pdf"
    } else if bytes.starts_with(b"PK\x03\x04") {
        match ext.as_str() {
            "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            _ => "application/zip",
        }
    } else if !bytes.is_empty() && !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
        if ext == "csv" {
            "text/csv"
        } else {
            "text/plain"
        }
    } else {
        return Err(Error::bad(
            "unsupported_file_type",
            format!(
                "{name:?}: only images (PNG, JPEG, GIF, WebP), PDF, text, CSV and ZIP/Office files may be attached"
            ),
        ));
    };
    Ok(t)
}

/// A file name safe to show and to put in `Content-Disposition`: the last
/// path segment, without control, quote or bidi characters, shortened.
pub fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '"' | '\'' | ';' | '<' | '>' | '`')
                && !matches!(*c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    }
}

/// The file-name extensions that may go with a sniffed type, the first
/// being the one given to a name that has none of them.
fn extensions(content_type: &str) -> &'static [&'static str] {
    match content_type {
        "image/png" => &["png"],
        "image/jpeg" => &["jpg", "jpeg"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "application/pdf" => &["pdf"],
        "application/zip" => &["zip"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => &["docx"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => &["xlsx"],
        "text/csv" => &["csv"],
        _ => &["txt", "text", "log"],
    }
}

/// The name a file is saved under: `name` (already [`safe_name`]) whose
/// extension matches the sniffed `content_type`. A name whose extension says
/// otherwise (`invoice.html`, `logo.svg`, `update.bat` holding text) gets the
/// type's own extension in place of its last one (`invoice.txt`), so the
/// downloaded file opens as what it was served as; a name without an
/// extension gets one. Stays within [`MAX_NAME_CHARS`].
pub fn stored_name(name: &str, content_type: &str) -> String {
    let allowed = extensions(content_type);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    };
    if ext.is_some_and(|e| allowed.iter().any(|a| a.eq_ignore_ascii_case(e))) {
        return name.to_string();
    }
    let own = allowed[0];
    let stem: String = stem.chars().take(MAX_NAME_CHARS - own.len() - 1).collect();
    let stem = stem.trim_end_matches(['.', ' ']);
    let stem = if stem.is_empty() { "file" } else { stem };
    format!("{stem}.{own}")
}

/// A file waiting to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Name as sent.
    pub name: String,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// Check a message's files against the limits and the type allow-list,
/// before anything is written.
pub fn check(files: &[Upload]) -> Result<()> {
    if files.len() > MAX_FILES {
        return Err(Error::bad(
            "too_many_files",
            format!("at most {MAX_FILES} files per message"),
        ));
    }
    let mut total = 0;
    for f in files {
        if f.bytes.is_empty() {
            return Err(Error::bad(
                "invalid_file",
                format!("{:?} is empty", safe_name(&f.name)),
            ));
        }
        if f.bytes.len() > MAX_FILE_BYTES {
            return Err(Error::bad(
                "file_too_large",
                format!(
                    "{:?} is larger than {} MiB",
                    safe_name(&f.name),
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            ));
        }
        total += f.bytes.len();
        sniff(&safe_name(&f.name), &f.bytes)?;
    }
    if total > MAX_TOTAL_BYTES {
        return Err(Error::bad(
            "file_too_large",
            format!(
                "the files are larger than {} MiB together",
                MAX_TOTAL_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    crate::token::hex(&bytes)
}

/// Store checked files in chunks under fresh ids (`random`: 16 fresh bytes
/// per file). Returns the references to put on the message.
pub fn store(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    files: &[Upload],
    random: &mut dyn FnMut() -> [u8; 16],
) -> Result<Vec<Attachment>> {
    check(files)?;
    let mut out = Vec::new();
    for f in files {
        let name = safe_name(&f.name);
        let content_type = sniff(&name, &f.bytes)?;
        let name = stored_name(&name, content_type);
        let id = AttachmentId::new(random());
        let mut chunks = 0u32;
        for (i, chunk) in f.bytes.chunks(CHUNK_BYTES).enumerate() {
            // Fresh random id: nobody else writes these keys.
            kv.set(&keys::attachment_chunk(ws, no, &id, i as u32), chunk)?;
            chunks += 1;
        }
        out.push(Attachment {
            id,
            name,
            content_type: content_type.to_string(),
            size: f.bytes.len() as u64,
            chunks,
            sha256: hex(&Sha256::digest(&f.bytes)),
        });
    }
    Ok(out)
}

/// Read a stored file back whole, checking its size and hash.
pub fn load(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, a: &Attachment) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(a.size as usize);
    for i in 0..a.chunks {
        let chunk = kv
            .get(&keys::attachment_chunk(ws, no, &a.id, i))?
            .ok_or_else(|| {
                Error::Store(crate::store::StoreError(format!(
                    "chunk {i} of {} is missing",
                    a.id
                )))
            })?;
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() as u64 != a.size || hex(&Sha256::digest(&bytes)) != a.sha256 {
        return Err(Error::Store(crate::store::StoreError(format!(
            "attachment {} does not match its record",
            a.id
        ))));
    }
    Ok(bytes)
}

/// Delete the chunks of stored files no message refers to (a post that
/// was refused after its files were stored). Files a partial
/// [`store`] wrote before failing are not known here; they stay, unreferenced.
pub fn discard(kv: &dyn Kv, ws: &WorkspaceId, no: TicketNo, files: &[Attachment]) -> Result<()> {
    for a in files {
        for i in 0..a.chunks {
            kv.delete(&keys::attachment_chunk(ws, no, &a.id, i))?;
        }
    }
    Ok(())
}

/// The files stored for a post, once the post has run (`posted`: the files
/// its message names, or why it failed): files the message does not name
/// are deleted, those of a refused post, and those of a retry that found
/// its message written by an earlier attempt (which names that attempt's
/// files); a store failure deletes nothing, since its message may have
/// landed unseen and name them. Best effort: what is left is unreferenced
/// chunks, never a message pointing at a missing file.
pub fn settle(
    kv: &dyn Kv,
    ws: &WorkspaceId,
    no: TicketNo,
    stored: &[Attachment],
    posted: std::result::Result<&[Attachment], &Error>,
) -> Result<()> {
    let unused: Vec<Attachment> = match posted {
        Err(Error::Store(_)) => Vec::new(),
        Err(_) => stored.to_vec(),
        Ok(named) => stored
            .iter()
            .filter(|a| !named.iter().any(|n| n.id == a.id))
            .cloned()
            .collect(),
    };
    discard(kv, ws, no, &unused)
}

/// `Content-Disposition` for a download: always `attachment`, with an ASCII
/// fallback name and the exact name percent-encoded (RFC 6266 / 8187).
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The file name, for file fields.
    pub filename: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

/// Most parts a form may have.
const MAX_PARTS: usize = 32;

/// One part of a `multipart/form-data` body, its bytes borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef<'a> {
    /// The form field's name.
    pub name: String,
    /// The file name, for file fields.
    pub filename: Option<String>,
    /// The part's bytes, in the body.
    pub data: &'a [u8],
}

/// Parse a `multipart/form-data` body (RFC 7578). `content_type` is the
/// request's header, which carries the boundary.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>> {
    Ok(parse_multipart_ref(content_type, body)?
        .into_iter()
        .map(|p| Part {
            name: p.name,
            filename: p.filename,
            data: p.data.to_vec(),
        })
        .collect())
}

/// [`parse_multipart`] without copying the parts' bytes.
pub fn parse_multipart_ref<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<PartRef<'a>>> {
    let bad = |m: &str| Error::bad("invalid_form", m.to_string());
    let mut params = content_type.split(';');
    if !params
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
    {
        return Err(Error::UnsupportedMediaType);
    }
    let boundary = params
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| bad("multipart body without a boundary"))?;
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, &delim, 0).ok_or_else(|| bad("multipart boundary not found"))?;
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad("malformed multipart boundary line"));
        }
        pos += 2;
        let head_end =
            find(body, b"\r\n\r\n", pos).ok_or_else(|| bad("multipart part without headers"))?;
        let head = std::str::from_utf8(&body[pos..head_end])
            .map_err(|_| bad("multipart headers are not UTF-8"))?;
        let mut next_delim = b"\r\n".to_vec();
        next_delim.extend_from_slice(&delim);
        let data_end = find(body, &next_delim, head_end + 4)
            .ok_or_else(|| bad("multipart part not terminated"))?;
        let mut name = None;
        let mut filename = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for p in v.split(';').skip(1) {
                if let Some((pk, pv)) = p.trim().split_once('=') {
                    let pv = pv.trim().trim_matches('"').to_string();
                    match pk.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(pv),
                        "filename" => filename = Some(pv),
                        _ => {}
                    }
                }
            }
        }
        let name = name.ok_or_else(|| bad("multipart part without a name"))?;
        parts.push(PartRef {
            name,
            filename,
            data: &body[head_end + 4..data_end],
        });
        if parts.len() > MAX_PARTS {
            return Err(bad("too many form fields"));
        }
        pos = data_end + 2;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() || needle.is_empty() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn types_are_sniffed_and_names_made_safe() {
        assert_eq!(
            sniff("a.png", b"\x89PNG\r\n\x1a\nrest").unwrap(),
            "image/png"
        );
        assert_eq!(sniff("x.pdf", b"%PDF-1.7").unwrap(), "application/pdf");
        assert_eq!(sniff("notes.csv", b"a,b\n1,2").unwrap(), "text/csv");
        assert_eq!(
            sniff("evil.html", b"<script>x</script>").unwrap(),
            "text/plain"
        );
        assert!(sniff("a.exe", b"MZ\x90\x00\x03\x00").is_err());
        assert_eq!(safe_name("../../etc/pa\"ss;wd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\x\\.hidden"), "hidden");
        assert_eq!(safe_name("\u{202E}gnp.exe"), "gnp.exe");
        assert_eq!(safe_name(""), "file");
        assert_eq!(
            content_disposition("réçu 1.pdf"),
            "attachment; filename=\"r__u 1.pdf\"; filename*=UTF-8''r%C3%A9%C3%A7u%201.pdf"
        );
    }

    #[test]
    fn saved_names_carry_the_extension_of_the_sniffed_type() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let mut r = 0u8;
        let mut rand = || {
            r += 1;
            [r; 16]
        };
        let text = b"<script>alert(1)</script>".to_vec();
        let files: Vec<Upload> = [
            ("invoice.html", text.clone()),
            ("logo.svg", b"<svg onload=alert(1)/>".to_vec()),
            ("update.bat", b"del /q *".to_vec()),
            ("README", b"read me".to_vec()),
            ("notes.TXT", b"kept".to_vec()),
        ]
        .into_iter()
        .map(|(name, bytes)| Upload {
            name: name.into(),
            bytes,
        })
        .collect();
        let stored = store(&kv, &ws, TicketNo(1), &files, &mut rand).unwrap();
        let names: Vec<&str> = stored.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "invoice.txt",
                "logo.txt",
                "update.txt",
                "README.txt",
                "notes.TXT"
            ]
        );
        assert!(stored.iter().all(|a| a.content_type == "text/plain"));
        // Binary types too: a PNG named .exe is saved as .png; the right
        // extension (any case, either spelling) is kept.
        for (name, bytes, saved) in [
            ("photo.exe", &b"\x89PNG\r\n\x1a\nrest"[..], "photo.png"),
            ("scan.JPEG", &[0xFF, 0xD8, 0xFF, 0][..], "scan.JPEG"),
            ("scan.html", &[0xFF, 0xD8, 0xFF, 0][..], "scan.jpg"),
            ("doc.pdf.js", &b"%PDF-1.7"[..], "doc.pdf.pdf"),
            ("data.csv", &b"a,b"[..], "data.csv"),
            ("sheet.zip", &b"PK\x03\x04x"[..], "sheet.zip"),
        ] {
            let ct = sniff(name, bytes).unwrap();
            assert_eq!(stored_name(name, ct), saved, "{name}");
        }
        // Long names stay within the limit with the new extension.
        let long = format!("{}.html", "a".repeat(MAX_NAME_CHARS));
        let saved = stored_name(&safe_name(&long), "text/plain");
        assert!(saved.ends_with(".txt") && saved.chars().count() <= MAX_NAME_CHARS);
        assert_eq!(stored_name("..html", "text/plain"), "file.txt");
    }

    #[test]
    fn files_round_trip_in_chunks_within_the_value_limit() {
        let kv = MemKv::new();
        let ws = WorkspaceId::parse("acme").unwrap();
        let big: Vec<u8> = (0..(CHUNK_BYTES * 2 + 10))
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let mut r = 0u8;
        let mut rand = || {
            r += 1;
            [r; 16]
        };
        let files = [Upload {
            name: "log.txt".into(),
            bytes: big.clone(),
        }];
        let stored = store(&kv, &ws, TicketNo(1), &files, &mut rand).unwrap();
        assert_eq!(stored[0].chunks, 3);
        assert_eq!(stored[0].content_type, "text/plain");
        assert_eq!(load(&kv, &ws, TicketNo(1), &stored[0]).unwrap(), big);
        // Limits are checked before anything is written.
        let before = kv.len();
        let too_many: Vec<Upload> = (0..=MAX_FILES)
            .map(|i| Upload {
                name: format!("{i}.txt"),
                bytes: b"x".to_vec(),
            })
            .collect();
        assert!(store(&kv, &ws, TicketNo(1), &too_many, &mut rand).is_err());
        let huge = [Upload {
            name: "h.txt".into(),
            bytes: vec![b'a'; MAX_FILE_BYTES + 1],
        }];
        assert!(store(&kv, &ws, TicketNo(1), &huge, &mut rand).is_err());
        let exe = [
            Upload {
                name: "ok.txt".into(),
                bytes: b"x".to_vec(),
            },
            Upload {
                name: "a.exe".into(),
                bytes: vec![0x4D, 0x5A, 0],
            },
        ];
        assert!(store(&kv, &ws, TicketNo(1), &exe, &mut rand).is_err());
        assert_eq!(kv.len(), before);
    }

    #[test]
    fn multipart_forms_parse() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nHello\r\nthere\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n--bytes\r\n--XyZ--\r\n";
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "body");
        assert_eq!(parts[0].data, b"Hello\r\nthere");
        assert_eq!(parts[1].filename.as_deref(), Some("a.txt"));
        assert_eq!(parts[1].data, b"file\r\n--bytes");
        for (ct, b) in [
            ("multipart/form-data", &body[..]),
            ("multipart/form-data; boundary=Other", &body[..]),
            ("multipart/form-data; boundary=XyZ", b"--XyZ\r\nno headers"),
            (
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
            ),
        ] {
            assert!(parse_multipart(ct, b).is_err(), "{ct}");
        }
        assert_eq!(
            parse_multipart("text/plain", body).unwrap_err(),
            Error::UnsupportedMediaType
        );
    }
}
