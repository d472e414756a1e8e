//! Sizes as operators type them (`vpnkeeper plan add --quota`, the bot's plan draft).

/// Why a typed size was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with an optional unit.
    NotASize,
    /// More bytes than fit in the stored (i64) field.
    TooLarge,
}

/// Bytes from `0` / `unlimited` (both 0: no quota), plain bytes, or a number with K, M, G
/// or T (powers of 1024, an optional `B`/`iB`, any case): `50G`, `1.5GiB`, `500MB`.
pub fn parse_size(text: &str) -> Result<i64, SizeError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("unlimited") {
        return Ok(0);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(SizeError::NotASize),
    };
    let value: f64 = digits.parse().map_err(|_| SizeError::NotASize)?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(SizeError::TooLarge);
    }
    Ok(bytes.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary_and_nonsense_is_refused() {
        assert_eq!(parse_size(" unlimited "), Ok(0));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("500 mb"), Ok(500 << 20));
        assert_eq!(parse_size("-5G"), Err(SizeError::NotASize));
        assert_eq!(parse_size("1.2.3G"), Err(SizeError::NotASize));
        assert_eq!(parse_size("99999999T"), Err(SizeError::TooLarge));
    }
}
