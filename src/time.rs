//! Timestamps are unix milliseconds inside the program and RFC 3339 with milliseconds outside.

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `2026-01-15T09:00:00.000Z`, the format of the API documents.
pub fn format_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => String::new(),
    }
}

/// `2026-01-15`: the UTC day of a timestamp.
pub fn date(ms: i64) -> String {
    format_ms(ms).get(..10).unwrap_or("").to_owned()
}

/// The time an admin's duration (`parse_duration_ms`) after `now` is, when one is given.
pub fn in_from(duration: Option<&str>, now: i64) -> Result<Option<i64>, String> {
    duration.map(|d| parse_duration_ms(d).map(|ms| now + ms)).transpose()
}

/// Parses an admin's duration: a whole number and a unit (`90s`, `15m`, `12h`, `30d`, `2w`).
pub fn parse_duration_ms(input: &str) -> Result<i64, String> {
    let input = input.trim();
    let split = input.find(|c: char| !c.is_ascii_digit()).unwrap_or(input.len());
    let (digits, unit) = input.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad_duration(input))?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return Err(bad_duration(input)),
    };
    match n.checked_mul(unit_ms) {
        Some(ms) if n > 0 && ms < 100 * 365 * 86_400_000 => Ok(ms),
        _ => Err(format!("duration {input:?} must be positive and under 100 years")),
    }
}

fn bad_duration(input: &str) -> String {
    format!("invalid duration {input:?}: use a number and a unit, like 90s, 15m, 12h, 30d or 2w")
}

/// Milliseconds since `started`, for reports.
pub fn elapsed_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(format_ms(1_768_467_600_000), "2026-01-15T09:00:00.000Z");
        assert_eq!(format_ms(1_768_467_600_123), "2026-01-15T09:00:00.123Z");
        assert_eq!(parse_duration_ms("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        for bad in ["", "d", "30", "30x", "-1d", "0d", "99999999999w"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
