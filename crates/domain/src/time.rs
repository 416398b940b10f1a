//! Time as the domain sees it: milliseconds since the Unix epoch, passed in by
//! the caller, and its RFC 3339 text form for JSON.

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// One hour in milliseconds.
pub const HOUR: Millis = 3_600_000;

/// Format as RFC 3339 UTC with milliseconds, e.g. `2026-11-22T03:25:15.123Z`.
pub fn rfc3339(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        );
    }
    // The common case by hand: this runs for every date on every page.
    fn push(out: &mut String, v: i64, width: u32) {
        for p in (0..width).rev() {
            out.push(char::from(b'0' + (v / 10_i64.pow(p) % 10) as u8));
        }
    }
    let mut out = String::with_capacity(24);
    push(&mut out, y, 4);
    for (sep, v, width) in [
        ('-', i64::from(m), 2),
        ('-', i64::from(d), 2),
        ('T', rem / 3600, 2),
        (':', (rem % 3600) / 60, 2),
        (':', rem % 60, 2),
        ('.', milli, 3),
    ] {
        out.push(sep);
        push(&mut out, v, width);
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_318_515_123), "2026-11-22T03:35:15.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn the_hand_written_form_matches_the_formatted_one() {
        let by_format = |ms: Millis| {
            let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
            let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
            let (y, m, d) = civil_from_days(days);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
                rem / 3600,
                (rem % 3600) / 60,
                rem % 60
            )
        };
        let mut ms: Millis = -62_000_000_000_000;
        while ms < 253_402_300_799_999 {
            assert_eq!(rfc3339(ms), by_format(ms), "{ms}");
            ms += 7_777_777_777 + ms.rem_euclid(997);
        }
        assert_eq!(rfc3339(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
    }
}
