//! Wall-clock helpers: unix seconds now, IA's `YYYY-mm-dd hh:mm:ss` (UTC) date format and S3's,
//! computed without a date crate (civil-from-days, Howard Hinnant's algorithm).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYY-mm-dd hh:mm:ss` in UTC, as IA writes `addeddate` and `publicdate`.
pub fn ia_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// `YYYY-mm-ddThh:mm:ss.000Z`, as S3 XML writes `LastModified` and `Initiated`.
pub fn s3_date(unix: u64) -> String {
    ia_date(unix).replace(' ', "T") + ".000Z"
}

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
    fn formats_like_ia() {
        assert_eq!(ia_date(0), "1970-01-01 00:00:00");
        assert_eq!(ia_date(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(ia_date(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(s3_date(1_700_000_000), "2023-11-14T22:13:20.000Z");
    }
}
