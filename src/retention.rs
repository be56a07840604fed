//! Retention: which finished runs to delete.
//!
//! Callers pass only finished runs (never active or queued ones), so nothing here can
//! delete a run that is still in flight.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;

/// A finished run: its name and when it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinishedRun<'a> {
    pub name: &'a str,
    pub finished: Timestamp,
}

/// Oldest first; equal finish times fall back to the name so the result never depends on
/// the order the API server listed the runs in.
fn oldest_first(a: &FinishedRun<'_>, b: &FinishedRun<'_>) -> Ordering {
    a.finished.cmp(&b.finished).then_with(|| a.name.cmp(b.name))
}

fn sorted<'a>(runs: &[FinishedRun<'a>]) -> Vec<FinishedRun<'a>> {
    let mut runs = runs.to_vec();
    runs.sort_by(oldest_first);
    // A name listed twice is one run; count (and delete) it once.
    let mut seen = HashSet::new();
    runs.retain(|r| seen.insert(r.name));
    runs
}

/// How many of the oldest runs to drop so at most `keep` remain.
fn excess(len: usize, keep: Option<u32>) -> usize {
    match keep {
        // A cap larger than usize cannot be exceeded.
        Some(keep) => len.saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX)),
        None => 0,
    }
}

/// The names of a task's finished runs to delete, oldest first.
///
/// `keep_runs` keeps the N newest (0 keeps none); `keep_for` deletes runs that finished
/// longer ago than that. With both, whichever trims more wins: a run goes when either
/// rule says so. Runs finished "in the future" (clock skew) are never too old.
pub fn select_for_deletion<'a>(
    finished: &[FinishedRun<'a>],
    keep_runs: Option<u32>,
    keep_for: Option<Duration>,
    now: Timestamp,
) -> Vec<&'a str> {
    let runs = sorted(finished);
    let by_count = excess(runs.len(), keep_runs);
    // Both rules delete a prefix of the oldest-first list, so their union is the longer one.
    let by_age = match keep_for.and_then(|age| now.checked_sub(age).ok()) {
        Some(cutoff) => runs.iter().take_while(|r| r.finished < cutoff).count(),
        // No limit, or one reaching before the representable past: nothing is too old.
        None => 0,
    };
    runs.iter()
        .take(by_count.max(by_age))
        .map(|r| r.name)
        .collect()
}

/// The operator-wide cap: names of a namespace's finished runs beyond `cap`, oldest first.
pub fn select_namespace_cap<'a>(
    finished_in_namespace: &[FinishedRun<'a>],
    cap: Option<u32>,
) -> Vec<&'a str> {
    let runs = sorted(finished_in_namespace);
    let n = excess(runs.len(), cap);
    runs.iter().take(n).map(|r| r.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn run(name: &'static str, finished: &str) -> FinishedRun<'static> {
        FinishedRun {
            name,
            finished: ts(finished),
        }
    }

    /// Five runs finished hourly from 01:00 to 05:00, listed out of order.
    fn five_runs() -> Vec<FinishedRun<'static>> {
        vec![
            run("r3", "2024-01-01T03:00:00Z"),
            run("r1", "2024-01-01T01:00:00Z"),
            run("r5", "2024-01-01T05:00:00Z"),
            run("r2", "2024-01-01T02:00:00Z"),
            run("r4", "2024-01-01T04:00:00Z"),
        ]
    }

    fn now() -> Timestamp {
        ts("2024-01-01T05:30:00Z")
    }

    #[test]
    fn no_limits_delete_nothing() {
        assert!(select_for_deletion(&five_runs(), None, None, now()).is_empty());
    }

    #[test]
    fn keep_runs_keeps_the_newest_and_deletes_oldest_first() {
        assert_eq!(
            select_for_deletion(&five_runs(), Some(2), None, now()),
            ["r1", "r2", "r3"]
        );
    }

    #[test]
    fn keep_runs_above_the_count_deletes_nothing() {
        assert!(select_for_deletion(&five_runs(), Some(10), None, now()).is_empty());
    }

    #[test]
    fn keep_runs_zero_deletes_every_finished_run() {
        assert_eq!(
            select_for_deletion(&five_runs(), Some(0), None, now()),
            ["r1", "r2", "r3", "r4", "r5"]
        );
    }

    #[test]
    fn keep_for_deletes_runs_finished_longer_ago() {
        // Cutoff 02:30: r1 and r2 are older.
        assert_eq!(
            select_for_deletion(&five_runs(), None, Some(3 * HOUR), now()),
            ["r1", "r2"]
        );
    }

    #[test]
    fn run_exactly_at_the_age_limit_is_kept() {
        // Cutoff 02:00: r2 finished exactly then.
        assert_eq!(
            select_for_deletion(&five_runs(), None, Some(HOUR * 7 / 2), now()),
            ["r1"]
        );
    }

    #[test]
    fn with_both_limits_the_age_limit_wins_when_it_trims_more() {
        assert_eq!(
            select_for_deletion(&five_runs(), Some(4), Some(3 * HOUR), now()),
            ["r1", "r2"]
        );
    }

    #[test]
    fn with_both_limits_the_count_limit_wins_when_it_trims_more() {
        assert_eq!(
            select_for_deletion(&five_runs(), Some(1), Some(3 * HOUR), now()),
            ["r1", "r2", "r3", "r4"]
        );
    }

    #[test]
    fn equal_finish_times_are_ordered_by_name() {
        let runs = [
            run("b", "2024-01-01T01:00:00Z"),
            run("c", "2024-01-01T01:00:00Z"),
            run("a", "2024-01-01T01:00:00Z"),
        ];
        assert_eq!(select_for_deletion(&runs, Some(1), None, now()), ["a", "b"]);
    }

    #[test]
    fn result_does_not_depend_on_input_order() {
        let mut reversed = five_runs();
        reversed.reverse();
        assert_eq!(
            select_for_deletion(&reversed, Some(2), Some(3 * HOUR), now()),
            select_for_deletion(&five_runs(), Some(2), Some(3 * HOUR), now())
        );
    }

    #[test]
    fn runs_finished_in_the_future_are_not_too_old() {
        let runs = [run("skewed", "2024-01-02T00:00:00Z")];
        assert!(select_for_deletion(&runs, None, Some(Duration::ZERO), now()).is_empty());
    }

    #[test]
    fn age_limit_beyond_the_representable_past_deletes_nothing() {
        assert!(select_for_deletion(&five_runs(), None, Some(Duration::MAX), now()).is_empty());
    }

    #[test]
    fn duplicate_names_are_deleted_once() {
        let runs = [
            run("r1", "2024-01-01T01:00:00Z"),
            run("r1", "2024-01-01T01:00:00Z"),
            run("r2", "2024-01-01T02:00:00Z"),
        ];
        assert_eq!(
            select_for_deletion(&runs, Some(0), None, now()),
            ["r1", "r2"]
        );
    }

    #[test]
    fn namespace_cap_deletes_the_oldest_beyond_the_cap() {
        assert_eq!(select_namespace_cap(&five_runs(), Some(3)), ["r1", "r2"]);
    }

    #[test]
    fn no_namespace_cap_deletes_nothing() {
        assert!(select_namespace_cap(&five_runs(), None).is_empty());
    }
}
