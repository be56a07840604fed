//! Coalescing repeated events: a task failing every minute should not post every minute.
//!
//! Per (namespace, task, kind, notifier), the first event opens a window and is sent at
//! once; events inside the window are folded; when the window ends, one summary counts the
//! folded events (none if nothing was folded). The next event after the window opens a new
//! one, so a persistent failure yields one message plus one summary per window.
//!
//! The state is in memory. After a restart the controller can rebuild it by replaying the
//! recorded notifications (`RunWispRun.status.notifications`) through [`Coalescer::offer`]
//! in time order; a summary that was already sent before the restart may then be sent
//! again (at least once, never lost).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::event::severity;
use crate::api::{EventKind, RunWispNotifierSpec, Severity};
use crate::duration::{DurationError, parse_duration};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoalesceKey {
    pub namespace: String,
    pub task: String,
    pub kind: EventKind,
    pub notifier: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Send the event now (record it `Pending`, then `Delivered`/`Failed`).
    SendNow,
    /// Do not send; record it `Coalesced`. A summary will count it.
    Fold,
}

/// `count` events of `key` were folded; the first at `first`, the last at `last`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub key: CoalesceKey,
    pub count: u32,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct Window {
    ends: DateTime<Utc>,
    folded: Option<Folded>,
}

#[derive(Clone, Debug)]
struct Folded {
    count: u32,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct Coalescer {
    windows: BTreeMap<CoalesceKey, Window>,
    /// Summaries of windows closed by a later `offer` before `due_summaries` collected
    /// them, with when they fell due.
    ready: Vec<(DateTime<Utc>, Summary)>,
}

impl Coalescer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to send an event of `key` that happened at `now`, with the notifier's
    /// window. No window (or zero) sends everything.
    pub fn offer(
        &mut self,
        key: CoalesceKey,
        now: DateTime<Utc>,
        window: Option<Duration>,
    ) -> Offer {
        let Some(window) = window.filter(|w| !w.is_zero()) else {
            return Offer::SendNow;
        };
        if let Some(w) = self.windows.get_mut(&key) {
            if now < w.ends {
                let f = w.folded.get_or_insert(Folded {
                    count: 0,
                    first: now,
                    last: now,
                });
                f.count = f.count.saturating_add(1);
                f.last = now;
                return Offer::Fold;
            }
        }
        if let Some(old) = self.windows.remove(&key) {
            self.close(key.clone(), old);
        }
        let ends = TimeDelta::from_std(window)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.windows.insert(key, Window { ends, folded: None });
        Offer::SendNow
    }

    /// Summaries of the windows that ended by `now`, ordered by key then time; each is
    /// returned once. Also forgets ended windows with nothing folded.
    pub fn due_summaries(&mut self, now: DateTime<Utc>) -> Vec<Summary> {
        let ended: Vec<CoalesceKey> = self
            .windows
            .iter()
            .filter(|(_, w)| w.ends <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ended {
            if let Some(w) = self.windows.remove(&key) {
                self.close(key, w);
            }
        }
        let mut out: Vec<Summary> = std::mem::take(&mut self.ready)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        out.sort_by(|a, b| (&a.key, a.first).cmp(&(&b.key, b.first)));
        out
    }

    /// When [`Self::due_summaries`] next has something to return: requeue then.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let open = self
            .windows
            .values()
            .filter(|w| w.folded.is_some())
            .map(|w| w.ends);
        let ready = self.ready.iter().map(|(due, _)| *due);
        open.chain(ready).min()
    }

    fn close(&mut self, key: CoalesceKey, w: Window) {
        if let Some(f) = w.folded {
            let summary = Summary {
                key,
                count: f.count,
                first: f.first,
                last: f.last,
            };
            self.ready.push((w.ends, summary));
        }
    }
}

/// Kinds worth coalescing: the error-level ones (repeated failures). Successes and stops
/// are sent one by one.
pub fn coalescible(kind: EventKind) -> bool {
    severity(kind) == Severity::Error
}

/// The notifier's `coalesceWindow`; `None` when unset or zero.
pub fn window_of(spec: &RunWispNotifierSpec) -> Result<Option<Duration>, DurationError> {
    match spec.coalesce_window.as_deref() {
        None => Ok(None),
        Some(s) => Ok(Some(parse_duration(s)?).filter(|d| !d.is_zero())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key(task: &str) -> CoalesceKey {
        CoalesceKey {
            namespace: "prod".into(),
            task: task.into(),
            kind: EventKind::RunFailed,
            notifier: "slack-ops".into(),
        }
    }

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 9, 2, 0, 0)
            .single()
            .expect("valid time")
            + TimeDelta::minutes(min)
    }

    const TEN_MIN: Option<Duration> = Some(Duration::from_secs(600));

    #[test]
    fn without_a_window_everything_is_sent() {
        let mut c = Coalescer::new();
        for m in 0..3 {
            assert_eq!(c.offer(key("a"), t(m), None), Offer::SendNow);
        }
        assert_eq!(c.next_due(), None);
    }

    #[test]
    fn a_zero_window_sends_everything() {
        let mut c = Coalescer::new();
        assert_eq!(
            c.offer(key("a"), t(0), Some(Duration::ZERO)),
            Offer::SendNow
        );
        assert_eq!(
            c.offer(key("a"), t(0), Some(Duration::ZERO)),
            Offer::SendNow
        );
    }

    #[test]
    fn the_first_event_is_sent_and_later_ones_in_the_window_are_folded() {
        let mut c = Coalescer::new();
        assert_eq!(c.offer(key("a"), t(0), TEN_MIN), Offer::SendNow);
        assert_eq!(c.offer(key("a"), t(1), TEN_MIN), Offer::Fold);
        assert_eq!(c.offer(key("a"), t(9), TEN_MIN), Offer::Fold);
    }

    #[test]
    fn windows_are_per_key() {
        let mut c = Coalescer::new();
        assert_eq!(c.offer(key("a"), t(0), TEN_MIN), Offer::SendNow);
        assert_eq!(c.offer(key("b"), t(1), TEN_MIN), Offer::SendNow);
        let mut other_notifier = key("a");
        other_notifier.notifier = "pager".into();
        assert_eq!(c.offer(other_notifier, t(2), TEN_MIN), Offer::SendNow);
    }

    #[test]
    fn the_summary_is_due_at_the_window_end_and_counts_the_folded() {
        let mut c = Coalescer::new();
        c.offer(key("a"), t(0), TEN_MIN);
        c.offer(key("a"), t(2), TEN_MIN);
        c.offer(key("a"), t(3), TEN_MIN);
        c.offer(key("a"), t(7), TEN_MIN);
        assert_eq!(c.next_due(), Some(t(10)));
        assert!(c.due_summaries(t(9)).is_empty());
        assert_eq!(
            c.due_summaries(t(10)),
            vec![Summary {
                key: key("a"),
                count: 3,
                first: t(2),
                last: t(7)
            }]
        );
    }

    #[test]
    fn a_summary_is_returned_once() {
        let mut c = Coalescer::new();
        c.offer(key("a"), t(0), TEN_MIN);
        c.offer(key("a"), t(1), TEN_MIN);
        assert_eq!(c.due_summaries(t(10)).len(), 1);
        assert!(c.due_summaries(t(11)).is_empty());
        assert_eq!(c.next_due(), None);
    }

    #[test]
    fn a_window_with_nothing_folded_needs_no_wakeup_and_sends_no_summary() {
        let mut c = Coalescer::new();
        c.offer(key("a"), t(0), TEN_MIN);
        assert_eq!(c.next_due(), None);
        assert!(c.due_summaries(t(10)).is_empty());
    }

    #[test]
    fn the_first_event_after_the_window_is_sent_and_opens_a_new_one() {
        let mut c = Coalescer::new();
        c.offer(key("a"), t(0), TEN_MIN);
        assert_eq!(c.offer(key("a"), t(10), TEN_MIN), Offer::SendNow);
        assert_eq!(c.offer(key("a"), t(15), TEN_MIN), Offer::Fold);
        assert_eq!(c.next_due(), Some(t(20)));
    }

    #[test]
    fn a_summary_not_yet_collected_survives_a_new_window() {
        let mut c = Coalescer::new();
        c.offer(key("a"), t(0), TEN_MIN);
        c.offer(key("a"), t(5), TEN_MIN);
        // The controller was late: the next failure arrives before it asked for summaries.
        assert_eq!(c.offer(key("a"), t(12), TEN_MIN), Offer::SendNow);
        assert_eq!(c.next_due(), Some(t(10)));
        assert_eq!(
            c.due_summaries(t(12)),
            vec![Summary {
                key: key("a"),
                count: 1,
                first: t(5),
                last: t(5)
            }]
        );
    }

    #[test]
    fn next_due_is_the_earliest_window_with_folded_events() {
        let mut c = Coalescer::new();
        c.offer(key("a"), t(0), TEN_MIN);
        c.offer(key("b"), t(3), TEN_MIN);
        c.offer(key("b"), t(4), TEN_MIN);
        c.offer(key("a"), t(5), TEN_MIN);
        assert_eq!(c.next_due(), Some(t(10)));
    }

    #[test]
    fn due_summaries_are_ordered_by_key() {
        let mut c = Coalescer::new();
        for k in ["b", "a"] {
            c.offer(key(k), t(0), TEN_MIN);
            c.offer(key(k), t(1), TEN_MIN);
        }
        let tasks: Vec<String> = c
            .due_summaries(t(10))
            .into_iter()
            .map(|s| s.key.task)
            .collect();
        assert_eq!(tasks, ["a", "b"]);
    }

    #[test]
    fn a_huge_window_does_not_overflow() {
        let mut c = Coalescer::new();
        assert_eq!(c.offer(key("a"), t(0), Some(Duration::MAX)), Offer::SendNow);
        assert_eq!(c.offer(key("a"), t(1), Some(Duration::MAX)), Offer::Fold);
    }

    #[test]
    fn only_error_level_kinds_are_coalesced() {
        assert!(coalescible(EventKind::RunFailed));
        assert!(coalescible(EventKind::RunMissed));
        assert!(!coalescible(EventKind::RunSucceeded));
        assert!(!coalescible(EventKind::RunStopped));
    }

    #[test]
    fn window_of_parses_the_spec_and_treats_zero_as_none() {
        let mut spec = RunWispNotifierSpec::default();
        assert_eq!(window_of(&spec), Ok(None));
        spec.coalesce_window = Some("10m".into());
        assert_eq!(window_of(&spec), Ok(Some(Duration::from_secs(600))));
        spec.coalesce_window = Some("0s".into());
        assert_eq!(window_of(&spec), Ok(None));
        spec.coalesce_window = Some("ten minutes".into());
        assert!(window_of(&spec).is_err());
    }
}
