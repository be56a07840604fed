//! RunWisp durations: `45s`, `90m`, `1h30m`, `2d`, `1w`, `250ms`.
//!
//! The grammar is deliberately narrower than `humantime`'s (no spaces, no long unit names,
//! no months or years) so that the CRD schema can check it with one regex
//! ([`DURATION_PATTERN`]) and the operator and the API server agree on what is valid.
//! The grammar is checked first; `humantime` then does the arithmetic.

use std::time::Duration;

/// The units RunWisp accepts, in the spelling the grammar uses.
/// `ms` must be tried before `m` when matching greedily; the check below reads the whole
/// run of letters, so order does not matter there.
pub const UNITS: [&str; 6] = ["ms", "s", "m", "h", "d", "w"];

/// The duration grammar as a JSON-schema (ECMA-262) regex, for the CRD schema.
/// Kept in step with [`UNITS`] by a test.
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h|d|w))+$";

/// Longest accepted duration: 10 years (3653 days). Anything longer is almost certainly a
/// typo, and capping it keeps `chrono` date arithmetic far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(3653 * 86_400);

/// Messages do not repeat the input: callers quote it with the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; expected e.g. 30s, 5m, 1h30m")]
    Empty,
    #[error(
        "invalid duration: expected digits followed by a unit (ms, s, m, h, d, w), \
         repeated, without spaces, signs or decimals, e.g. 1h30m"
    )]
    Malformed,
    #[error("invalid duration: unknown unit {unit:?} (use ms, s, m, h, d or w)")]
    UnknownUnit { unit: String },
    #[error("duration must be greater than zero")]
    Zero,
    #[error("duration is longer than the 10-year maximum")]
    TooLarge,
}

impl DurationError {
    /// Stable snake_case name for metrics and condition reasons.
    pub fn label(&self) -> &'static str {
        match self {
            DurationError::Empty => "empty",
            DurationError::Malformed => "malformed",
            DurationError::UnknownUnit { .. } => "unknown_unit",
            DurationError::Zero => "zero",
            DurationError::TooLarge => "too_large",
        }
    }
}

/// Parses a RunWisp duration. Zero (`0s`) is accepted; use [`parse_positive_duration`]
/// where zero makes no sense.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    check_grammar(s)?;
    let d = humantime::parse_duration(s).map_err(|e| match e {
        // The grammar has already been checked, so the only way humantime can still
        // fail is a number too big for it.
        humantime::DurationError::NumberOverflow => DurationError::TooLarge,
        _ => DurationError::Malformed,
    })?;
    if d > MAX_DURATION {
        return Err(DurationError::TooLarge);
    }
    Ok(d)
}

/// Like [`parse_duration`], but zero is an error (`DurationError::Zero`).
pub fn parse_positive_duration(s: &str) -> Result<Duration, DurationError> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(d)
}

/// Formats a duration compactly in the same grammar (`1h30m`, `45s`, `250ms`, `0s`), so the
/// output parses back. Precision below a millisecond is dropped.
pub fn format_duration(d: Duration) -> String {
    const PARTS: [(&str, u128); 6] = [
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = d.as_millis();
    if rest == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in PARTS {
        let n = rest / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest -= n * size;
        }
    }
    out
}

/// Checks `^([0-9]+(ms|s|m|h|d|w))+$` by hand: one or more groups of digits then a unit.
fn check_grammar(s: &str) -> Result<(), DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let digits_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            return Err(DurationError::Malformed);
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i == unit_start {
            // Digits with no unit, or digits followed by `.`, `-`, a space, ...
            return Err(DurationError::Malformed);
        }
        let unit = &s[unit_start..i];
        if !UNITS.contains(&unit) {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn each_unit_has_its_runwisp_value() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("45s"), Ok(secs(45)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("2h"), Ok(secs(7_200)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(secs(604_800)));
    }

    #[test]
    fn units_mix_without_spaces() {
        assert_eq!(parse_duration("1h30m"), Ok(secs(5_400)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::from_millis(93_784_005))
        );
    }

    #[test]
    fn m_followed_by_s_is_milliseconds_not_minutes_then_seconds() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
    }

    #[test]
    fn repeated_units_add_up() {
        assert_eq!(parse_duration("30m30m"), Ok(secs(3_600)));
    }

    #[test]
    fn empty_is_rejected() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
    }

    #[test]
    fn bare_number_is_rejected() {
        assert!(matches!(
            parse_duration("30"),
            Err(DurationError::Malformed)
        ));
    }

    #[test]
    fn signs_decimals_and_spaces_are_rejected() {
        for s in ["-5m", "+5m", "1.5h", "1h 30m", " 5m", "5m ", "h", "5m-"] {
            assert!(
                matches!(parse_duration(s), Err(DurationError::Malformed)),
                "{s}"
            );
        }
    }

    #[test]
    fn unknown_units_are_rejected_by_name() {
        for (s, unit) in [
            ("5y", "y"),
            ("1M", "M"),
            ("5min", "min"),
            ("3H", "H"),
            ("5mss", "mss"),
        ] {
            assert_eq!(
                parse_duration(s),
                Err(DurationError::UnknownUnit { unit: unit.into() }),
                "{s}"
            );
        }
    }

    #[test]
    fn zero_is_allowed_unless_the_caller_needs_a_positive_duration() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_positive_duration("0s"), Err(DurationError::Zero));
        assert_eq!(parse_positive_duration("0h0m"), Err(DurationError::Zero));
        assert_eq!(parse_positive_duration("1s"), Ok(secs(1)));
    }

    #[test]
    fn ten_years_is_the_maximum() {
        assert_eq!(parse_duration("3653d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("3654d"), Err(DurationError::TooLarge));
    }

    #[test]
    fn numbers_too_big_for_any_duration_are_too_large_not_malformed() {
        let s = "99999999999999999999999w";
        assert_eq!(parse_duration(s), Err(DurationError::TooLarge));
    }

    #[test]
    fn error_labels_are_snake_case_and_distinct() {
        let errors = [
            DurationError::Empty,
            DurationError::Malformed,
            DurationError::UnknownUnit {
                unit: String::new(),
            },
            DurationError::Zero,
            DurationError::TooLarge,
        ];
        let labels: std::collections::BTreeSet<_> = errors.iter().map(|e| e.label()).collect();
        assert_eq!(labels.len(), errors.len());
        for l in labels {
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
        }
    }

    #[test]
    fn pattern_lists_exactly_the_parser_units() {
        assert_eq!(
            DURATION_PATTERN,
            format!("^([0-9]+({}))+$", UNITS.join("|"))
        );
    }

    /// The same samples, judged by the regex's meaning: a sample matches iff it is one or
    /// more `digits unit` groups. Parser and pattern must agree on every one.
    #[test]
    fn parser_and_pattern_agree_on_samples() {
        let accepted = [
            "0s", "1s", "10m", "1h30m", "250ms", "1w2d", "007h", "1m1ms1s",
        ];
        let rejected = [
            "", "1", "s", "1 h", "1h ", "-1s", "1.5s", "1S", "1sec", "1y", "h1", "1h1",
        ];
        for s in accepted {
            assert!(parse_duration(s).is_ok(), "parser should accept {s:?}");
        }
        for s in rejected {
            assert!(parse_duration(s).is_err(), "parser should reject {s:?}");
        }
    }

    #[test]
    fn format_uses_the_largest_units_first() {
        assert_eq!(format_duration(secs(5_400)), "1h30m");
        assert_eq!(format_duration(secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(secs(8 * 86_400 + 1)), "1w1d1s");
    }

    #[test]
    fn format_of_zero_is_zero_seconds() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn format_drops_sub_millisecond_precision() {
        assert_eq!(format_duration(Duration::from_micros(1_500)), "1ms");
    }

    proptest! {
        #[test]
        fn format_output_parses_back_to_the_same_duration(ms in 0u64..MAX_DURATION.as_millis() as u64) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn accepted_strings_are_digit_unit_groups(s in "[0-9mshdwyM .+-]{0,8}") {
            if parse_duration(&s).is_ok() {
                // Every byte is a digit or a lowercase unit letter, starting with a digit
                // and ending with a letter: the shape the regex demands.
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || b"mshdw".contains(&b)));
                prop_assert!(s.as_bytes()[0].is_ascii_digit());
                prop_assert!(s.as_bytes()[s.len() - 1].is_ascii_alphabetic());
            }
        }
    }
}
