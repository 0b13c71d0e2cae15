// SPDX-License-Identifier: GPL-2.0

//! Sizes with K/M/G/T suffixes, and UTC timestamps, without any crate.

/// Parses "4096", "64K", "20G", "1T" (binary multiples; an optional "iB"
/// or "B" after the suffix is accepted).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, suffix) = s.split_at(digits);
    if num.is_empty() {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let shift = match suffix {
        "" | "B" => 0,
        "K" | "k" | "KiB" | "KB" => 10,
        "M" | "MiB" | "MB" => 20,
        "G" | "GiB" | "GB" => 30,
        "T" | "TiB" | "TB" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// Formats bytes as the largest exact binary unit, or with one decimal.
pub fn fmt_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];
    for (u, shift) in UNITS {
        let unit = 1u64 << shift;
        if bytes >= unit {
            if bytes.is_multiple_of(unit) {
                return format!("{}{}", bytes >> shift, u);
            }
            let tenths = bytes.saturating_mul(10) / unit;
            return format!("{}.{}{}", tenths / 10, tenths % 10, u);
        }
    }
    format!("{}B", bytes)
}

/// Formats seconds since the epoch as "YYYY-MM-DD HH:MM:SS" UTC.
pub fn fmt_time(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        y,
        m,
        d,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size("20G"), Some(20 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("1X"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999T"), None);
        assert_eq!(fmt_size(20 << 30), "20G");
        assert_eq!(fmt_size(1536), "1.5K");
        assert_eq!(fmt_size(12), "12B");
    }

    #[test]
    fn times() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00:00");
    }
}
