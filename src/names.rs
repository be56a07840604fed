//! Deterministic Kubernetes names for runs and attempt Pods.
//!
//! A run's name is a function of its task and scheduled time, so creating it is idempotent:
//! a restarted operator or a second replica gets `AlreadyExists` instead of firing a tick
//! twice. Changing any output here renames future runs, so golden tests pin the format.
//!
//! Names that do not fit are truncated and get an 8-hex-digit sha256 of the full input, so
//! long inputs differing only at the end still map to different names. Inputs that are not
//! valid names (never the case for names read from the API server) are sanitized the same
//! way, so every function here is total.

use chrono::{DateTime, Datelike, Timelike, Utc};
use sha2::{Digest, Sha256};

/// Longest DNS-1123 subdomain (object names such as runs).
pub const MAX_SUBDOMAIN_LEN: usize = 253;
/// Longest DNS-1123 label (pod names, which become hostnames) and label value.
pub const MAX_LABEL_LEN: usize = 63;

/// Hex digits of sha256 appended to shortened names.
const HASH_LEN: usize = 8;

/// The name of the run for `task`'s tick at `scheduled` (UTC):
/// `<task>-<yyyymmdd>-<hhmm>`, or `…-<hhmmss>` when the cron has seconds.
pub fn run_name(task: &str, scheduled: DateTime<Utc>, with_seconds: bool) -> String {
    fit_subdomain(task, &format!("-{}", stamp(scheduled, with_seconds)))
}

/// The name of the run recording missed ticks up to `last_missed`:
/// `<task>-<yyyymmdd>-<hhmm>-missed`. A run name always ends in a digit and this never
/// does, so the two can never collide, whatever the task names.
pub fn missed_run_name(task: &str, last_missed: DateTime<Utc>, with_seconds: bool) -> String {
    fit_subdomain(
        task,
        &format!("-{}-missed", stamp(last_missed, with_seconds)),
    )
}

/// The name of attempt `attempt` of `run`: `<run>-a<attempt>`, kept a DNS-1123 label
/// (≤ 63 chars, no dots) because a pod's name becomes its hostname.
pub fn pod_name(run: &str, attempt: u32) -> String {
    let suffix = format!("-a{attempt}");
    let plain = format!("{run}{suffix}");
    if is_dns1123_label(&plain) {
        return plain;
    }
    let room = MAX_LABEL_LEN.saturating_sub(suffix.len() + HASH_LEN + 1);
    let sanitized = sanitize_label(run);
    let prefix = truncate_trim(&sanitized, room, |c| c == '-');
    join_hashed(prefix, run, &suffix)
}

/// `name` as a label value (≤ 63 chars): itself when valid, else shortened with a hash.
pub fn label_value(name: &str) -> String {
    if is_label_value(name) {
        return name.to_owned();
    }
    let sanitized: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let sanitized = sanitized.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let room = MAX_LABEL_LEN - HASH_LEN - 1;
    let prefix = truncate_trim(sanitized, room, |c| !c.is_ascii_alphanumeric());
    join_hashed(prefix, name, "")
}

/// A valid DNS-1123 subdomain: ≤ 253 chars of dot-separated labels of lowercase
/// alphanumerics and '-', each starting and ending alphanumeric.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN_LEN && s.split('.').all(is_label_shape)
}

/// A valid DNS-1123 label: ≤ 63 lowercase alphanumerics and '-', starting and ending
/// alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= MAX_LABEL_LEN && is_label_shape(s)
}

/// A valid label value: empty, or ≤ 63 chars of alphanumerics, '-', '_' and '.', starting
/// and ending alphanumeric.
pub fn is_label_value(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let bytes = s.as_bytes();
    s.len() <= MAX_LABEL_LEN
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Lowercase alphanumerics and '-', non-empty, alphanumeric at both ends (no length limit).
fn is_label_shape(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// `yyyymmdd-hhmm[ss]` in UTC. Years outside 0..=9999 (not produced by any cron) print
/// their digits without a sign so the name stays valid.
fn stamp(t: DateTime<Utc>, with_seconds: bool) -> String {
    let date = format!(
        "{:04}{:02}{:02}-{:02}{:02}",
        t.year().unsigned_abs(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    );
    if with_seconds {
        format!("{date}{:02}", t.second())
    } else {
        date
    }
}

/// `base + suffix` when that is a valid subdomain, else a truncated, sanitized `base`,
/// a hash of the full `base`, then `suffix`. `suffix` must start with '-' and end
/// alphanumeric.
fn fit_subdomain(base: &str, suffix: &str) -> String {
    let plain = format!("{base}{suffix}");
    if is_dns1123_subdomain(base) && plain.len() <= MAX_SUBDOMAIN_LEN {
        return plain;
    }
    let room = MAX_SUBDOMAIN_LEN.saturating_sub(suffix.len() + HASH_LEN + 1);
    let sanitized = sanitize_subdomain(base);
    let prefix = truncate_trim(&sanitized, room, |c| c == '-' || c == '.');
    join_hashed(prefix, base, suffix)
}

/// `<prefix>-<hash of full>-<suffix…>`, or `<hash><suffix>` when nothing of the prefix is
/// left; the hash starts with a hex digit, so the result starts alphanumeric either way.
fn join_hashed(prefix: &str, full: &str, suffix: &str) -> String {
    let hash = short_hash(full);
    if prefix.is_empty() {
        format!("{hash}{suffix}")
    } else {
        format!("{prefix}-{hash}{suffix}")
    }
}

fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(HASH_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lowercase, anything else → '-', then each dot-separated part trimmed of '-' and empty
/// parts dropped: the result is empty or a valid subdomain shape (length aside).
fn sanitize_subdomain(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .split('.')
        .map(|part| part.trim_matches('-'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// Lowercase, anything else (dots included) → '-', leading '-' dropped.
fn sanitize_label(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped.trim_start_matches('-').to_owned()
}

/// At most `max` bytes of the ASCII `s`, with trailing separators removed so the cut
/// ends alphanumeric.
fn truncate_trim(s: &str, max: usize, separator: impl Fn(char) -> bool) -> &str {
    // Sanitized input is ASCII, but never slice inside a character regardless.
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].trim_end_matches(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("test time")
    }

    fn tick() -> DateTime<Utc> {
        at(2024, 1, 2, 3, 4, 5)
    }

    #[test]
    fn run_name_is_task_date_and_minute_in_utc() {
        assert_eq!(
            run_name("nightly-backup", tick(), false),
            "nightly-backup-20240102-0304"
        );
    }

    #[test]
    fn run_name_with_seconds_adds_the_seconds() {
        assert_eq!(
            run_name("nightly-backup", tick(), true),
            "nightly-backup-20240102-030405"
        );
    }

    #[test]
    fn run_name_is_deterministic() {
        let long = "x".repeat(300);
        assert_eq!(
            run_name(&long, tick(), false),
            run_name(&long, tick(), false)
        );
        assert_eq!(run_name("a", tick(), true), run_name("a", tick(), true));
    }

    #[test]
    fn run_name_differs_between_minutes() {
        assert_ne!(
            run_name("t", at(2024, 1, 2, 3, 4, 0), false),
            run_name("t", at(2024, 1, 2, 3, 5, 0), false)
        );
    }

    #[test]
    fn too_long_task_is_truncated_with_a_hash_of_the_full_name() {
        // Pinned: changing this renames runs and could refire ticks across an upgrade.
        let task = "a".repeat(250);
        let expected = format!("{}-3f3e35e0-20240102-0304", "a".repeat(230));
        assert_eq!(run_name(&task, tick(), false), expected);
        assert_eq!(expected.len(), MAX_SUBDOMAIN_LEN);
    }

    #[test]
    fn long_tasks_differing_only_at_the_end_get_different_run_names() {
        let a = format!("{}a", "t".repeat(249));
        let b = format!("{}b", "t".repeat(249));
        assert_ne!(run_name(&a, tick(), false), run_name(&b, tick(), false));
        assert_ne!(
            missed_run_name(&a, tick(), false),
            missed_run_name(&b, tick(), false)
        );
    }

    #[test]
    fn task_that_just_fits_is_not_hashed() {
        let task = "t".repeat(MAX_SUBDOMAIN_LEN - "-20240102-0304".len());
        assert_eq!(
            run_name(&task, tick(), false),
            format!("{task}-20240102-0304")
        );
    }

    #[test]
    fn truncation_never_leaves_a_dot_or_dash_before_the_hash() {
        let task = format!("{}.{}", "a".repeat(229), "b".repeat(20));
        let name = run_name(&task, tick(), false);
        assert!(name.starts_with(&format!("{}-", "a".repeat(229))));
        assert!(is_dns1123_subdomain(&name), "{name}");
    }

    #[test]
    fn missed_run_name_is_marked_missed() {
        assert_eq!(
            missed_run_name("nightly-backup", tick(), false),
            "nightly-backup-20240102-0304-missed"
        );
    }

    #[test]
    fn missed_run_name_never_equals_a_run_name_of_another_task() {
        // The classic trap: a task whose name ends in "-missed".
        assert_ne!(
            missed_run_name("foo", tick(), false),
            run_name("foo-missed", tick(), false)
        );
        assert_ne!(
            missed_run_name("foo-20240102-0304", tick(), false),
            run_name("foo", tick(), false)
        );
    }

    #[test]
    fn invalid_task_name_is_sanitized_and_hashed() {
        let name = run_name("Nightly_Backup", tick(), false);
        assert!(name.starts_with("nightly-backup-"), "{name}");
        assert!(is_dns1123_subdomain(&name), "{name}");
        assert_ne!(name, run_name("nightly-backup", tick(), false));
    }

    #[test]
    fn extreme_years_still_give_valid_names() {
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let name = run_name("t", t, true);
            assert!(is_dns1123_subdomain(&name), "{name}");
        }
    }

    #[test]
    fn pod_name_is_run_and_attempt() {
        assert_eq!(
            pod_name("nightly-backup-20240102-0304", 1),
            "nightly-backup-20240102-0304-a1"
        );
    }

    #[test]
    fn long_pod_name_is_truncated_to_63_with_a_hash() {
        // Pinned, like run names.
        let run = "nightly-backup-database-primary-cluster-eu-west-1-20240102-0304";
        assert_eq!(
            pod_name(run, 1),
            "nightly-backup-database-primary-cluster-eu-west-1-2-9c70e079-a1"
        );
    }

    #[test]
    fn long_runs_differing_only_at_the_end_get_different_pod_names() {
        let base = "t".repeat(100);
        assert_ne!(
            pod_name(&format!("{base}-20240102-0304"), 1),
            pod_name(&format!("{base}-20240102-0305"), 1)
        );
    }

    #[test]
    fn pod_name_replaces_dots_and_stays_distinct() {
        let dotted = pod_name("a.b-20240102-0304", 1);
        assert!(is_dns1123_label(&dotted), "{dotted}");
        assert_ne!(dotted, pod_name("a-b-20240102-0304", 1));
    }

    #[test]
    fn largest_attempt_number_fits() {
        let name = pod_name(&"r".repeat(253), u32::MAX);
        assert!(name.ends_with("-a4294967295"));
        assert!(is_dns1123_label(&name), "{name}");
    }

    #[test]
    fn label_value_is_identity_when_it_fits() {
        assert_eq!(
            label_value("nightly-backup-20240102-0304"),
            "nightly-backup-20240102-0304"
        );
        assert_eq!(label_value(""), "");
    }

    #[test]
    fn long_label_value_is_truncated_with_a_hash() {
        let long = "l".repeat(100);
        let value = label_value(&long);
        assert_eq!(value.len(), MAX_LABEL_LEN);
        assert!(value.starts_with(&"l".repeat(54)));
        assert_ne!(value, label_value(&format!("{}m", "l".repeat(99))));
    }

    fn valid_subdomain() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-z0-9]([-a-z0-9]{0,100}[a-z0-9])?", 1..5).prop_map(|parts| {
            let joined = parts.join(".");
            let cut = &joined[..joined.len().min(MAX_SUBDOMAIN_LEN)];
            cut.trim_end_matches(['-', '.']).to_owned()
        })
    }

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        // 1970 through 9999.
        (0i64..=253_402_300_799).prop_map(|secs| {
            DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        })
    }

    proptest! {
        #[test]
        fn generated_names_are_valid_subdomains(task in valid_subdomain()) {
            prop_assert!(is_dns1123_subdomain(&task), "{}", task);
        }

        #[test]
        fn run_names_of_valid_tasks_are_valid_subdomains(
            task in valid_subdomain(), t in any_time(), secs in any::<bool>()
        ) {
            let name = run_name(&task, t, secs);
            prop_assert!(is_dns1123_subdomain(&name), "{}", name);
            let missed = missed_run_name(&task, t, secs);
            prop_assert!(is_dns1123_subdomain(&missed), "{}", missed);
            prop_assert_ne!(name, missed);
        }

        #[test]
        fn run_names_of_any_string_are_valid_subdomains(
            task in ".{0,300}", t in any_time(), secs in any::<bool>()
        ) {
            let name = run_name(&task, t, secs);
            prop_assert!(is_dns1123_subdomain(&name), "{}", name);
        }

        #[test]
        fn run_name_keeps_the_task_when_it_fits(task in valid_subdomain(), t in any_time()) {
            let name = run_name(&task, t, false);
            if task.len() + "-yyyymmdd-hhmm".len() <= MAX_SUBDOMAIN_LEN {
                prop_assert!(name.starts_with(&format!("{task}-")), "{}", name);
            }
        }

        #[test]
        fn pod_names_are_valid_labels(run in valid_subdomain(), attempt in any::<u32>()) {
            let name = pod_name(&run, attempt);
            prop_assert!(is_dns1123_label(&name), "{}", name);
            let expected_suffix = format!("-a{attempt}");
            prop_assert!(name.ends_with(&expected_suffix));
        }

        #[test]
        fn pod_names_of_any_string_are_valid_labels(run in ".{0,300}", attempt in any::<u32>()) {
            let name = pod_name(&run, attempt);
            prop_assert!(is_dns1123_label(&name), "{}", name);
        }

        #[test]
        fn label_values_are_valid(name in ".{0,300}") {
            let value = label_value(&name);
            prop_assert!(is_label_value(&value), "{}", value);
        }

        #[test]
        fn label_value_of_a_valid_name_is_valid_and_identity_when_short(name in valid_subdomain()) {
            let value = label_value(&name);
            prop_assert!(is_label_value(&value), "{}", value);
            if name.len() <= MAX_LABEL_LEN {
                prop_assert_eq!(value, name);
            }
        }
    }
}
