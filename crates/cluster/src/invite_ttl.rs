//! How long an invite link works: the one parser of `--ttl`, `POST /api/v1/invites` and the
//! bot's `/invite [ttl]`.

use std::time::Duration;

/// Longest invite: a link is a credential, it should not live for weeks.
pub const MAX_INVITE_TTL: Duration = Duration::from_secs(7 * 86_400);
/// An invite's lifetime when none is given.
pub const DEFAULT_INVITE_TTL: Duration = Duration::from_secs(15 * 60);
/// The accepted forms, for messages about a bad one.
pub const TTL_FORMS: &str = "30s, 15m, 2h or 1d (at most 7d)";

/// `30s`, `15m`, `2h`, `1d` (a bare number is minutes) → a duration of 1 s to 7 d.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 15m, 2h or 1d"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" | "" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("`{text}`: unknown unit `{unit}`; use s, m, h or d")),
    };
    let ttl = secs.map(Duration::from_secs);
    match ttl {
        Some(ttl) if !ttl.is_zero() && ttl <= MAX_INVITE_TTL => Ok(ttl),
        _ => Err(format!("`{text}` is out of range: between 1s and 7d")),
    }
}

/// A lifetime as the largest whole unit that fits it exactly: `900 s` → `15m`.
pub fn format_ttl(ttl: Duration) -> String {
    let s = ttl.as_secs();
    match s {
        0 => "0s".into(),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_and_bad_ones_say_why() {
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("15").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_ttl("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_ttl("30s").unwrap(), Duration::from_secs(30));
        assert!(parse_ttl("8d").unwrap_err().contains("out of range"));
        assert!(parse_ttl("0s").unwrap_err().contains("out of range"));
        assert!(parse_ttl("99999999999999999d")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_ttl("5y").unwrap_err().contains("unknown unit"));
        assert!(parse_ttl("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn ttls_format_in_the_largest_exact_unit() {
        for (secs, text) in [(900, "15m"), (7200, "2h"), (86_400, "1d"), (90, "90s")] {
            assert_eq!(format_ttl(Duration::from_secs(secs)), text);
            assert_eq!(parse_ttl(text).unwrap().as_secs(), secs);
        }
    }
}
