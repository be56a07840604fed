//! What happened to a run, as one notification-ready value, and how serious it is.

use chrono::{DateTime, Utc};

use crate::api::{EventKind, Severity};
use crate::retry::EndReason;

/// Every event kind, in declaration order.
pub const ALL_KINDS: [EventKind; 8] = [
    EventKind::RunStarted,
    EventKind::RunSucceeded,
    EventKind::RunFailed,
    EventKind::RunTimeout,
    EventKind::RunStopped,
    EventKind::RunCrashed,
    EventKind::RunMissed,
    EventKind::DeliveryFailed,
];

/// One event about one run, built by the controller from the run's status.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEvent {
    pub kind: EventKind,
    pub namespace: String,
    pub task: String,
    pub run: String,
    /// `cron`, `manual` or `catchUp` (`RunTrigger::as_str`).
    pub trigger: String,
    pub scheduled_time: Option<DateTime<Utc>>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// 1 for the first attempt; 0 when no attempt ran (`run.missed`).
    pub attempt: u32,
    /// `retryAttempts + 1`; 0 when unknown.
    pub max_attempts: u32,
    pub exit_code: Option<i32>,
    /// `EndReason::as_str`, e.g. `timeout`.
    pub end_reason: Option<String>,
    /// Why it ended, for people (e.g. "OOMKilled").
    pub message: Option<String>,
    /// The last lines of the last attempt's output.
    pub output_tail: Option<String>,
    /// For `run.missed`: how many ticks were missed.
    pub missed_count: Option<u64>,
    /// For `notify.delivery_failed`: the notifier that could not be reached. Routing never
    /// sends the event back to it.
    pub failed_notifier: Option<String>,
}

/// The wire name of a kind, e.g. `run.failed` (the CRD's spelling).
pub fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::RunStarted => "run.started",
        EventKind::RunSucceeded => "run.succeeded",
        EventKind::RunFailed => "run.failed",
        EventKind::RunTimeout => "run.timeout",
        EventKind::RunStopped => "run.stopped",
        EventKind::RunCrashed => "run.crashed",
        EventKind::RunMissed => "run.missed",
        EventKind::DeliveryFailed => "notify.delivery_failed",
    }
}

/// The wire name of a severity: `info`, `warn`, `error`.
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warn => "warn",
        Severity::Error => "error",
    }
}

/// How serious a kind is, for `minSeverity`:
/// - `error`: the work did not get done, or nobody heard about it — `run.failed`,
///   `run.timeout`, `run.crashed`, `run.missed` (failure-level in RunWisp even though no
///   attempt ran) and `notify.delivery_failed` (an alert was lost);
/// - `warn`: `run.stopped` — deliberate (`onOverlap: kill`, a person), but the run's work
///   was cut short;
/// - `info`: `run.started`, `run.succeeded`.
pub fn severity(kind: EventKind) -> Severity {
    match kind {
        EventKind::RunStarted | EventKind::RunSucceeded => Severity::Info,
        EventKind::RunStopped => Severity::Warn,
        EventKind::RunFailed
        | EventKind::RunTimeout
        | EventKind::RunCrashed
        | EventKind::RunMissed
        | EventKind::DeliveryFailed => Severity::Error,
    }
}

/// The event a finished run raises, if any. `skipped` raises none (a skip is not a failure
/// and RunWisp does not alert on it). `queue_full` and `start_failed` have no kind of their
/// own and count as failures, so they raise `run.failed`; the event's `end_reason` tells
/// them apart.
pub fn event_for_end(end: EndReason) -> Option<EventKind> {
    match end {
        EndReason::Success => Some(EventKind::RunSucceeded),
        EndReason::Failed | EndReason::QueueFull | EndReason::StartFailed => {
            Some(EventKind::RunFailed)
        }
        EndReason::Timeout => Some(EventKind::RunTimeout),
        EndReason::Crashed => Some(EventKind::RunCrashed),
        EndReason::Stopped => Some(EventKind::RunStopped),
        EndReason::Missed => Some(EventKind::RunMissed),
        EndReason::Skipped => None,
    }
}

/// Whether failing to deliver an event of this kind raises `notify.delivery_failed`.
/// A lost `notify.delivery_failed` does not raise another: two broken notifiers would
/// otherwise report each other forever.
pub fn raises_delivery_failed(kind: EventKind) -> bool {
    kind != EventKind::DeliveryFailed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_the_crd_serialization() {
        for kind in ALL_KINDS {
            let json = serde_json::to_value(kind).expect("serializes");
            assert_eq!(json, serde_json::Value::from(kind_name(kind)));
        }
    }

    #[test]
    fn severity_names_match_the_crd_serialization() {
        for s in [Severity::Info, Severity::Warn, Severity::Error] {
            let json = serde_json::to_value(s).expect("serializes");
            assert_eq!(json, serde_json::Value::from(severity_name(s)));
        }
    }

    #[test]
    fn failures_are_errors_stops_warn_and_the_rest_is_info() {
        use EventKind::*;
        for k in [RunFailed, RunTimeout, RunCrashed, RunMissed, DeliveryFailed] {
            assert_eq!(severity(k), Severity::Error, "{k:?}");
        }
        assert_eq!(severity(RunStopped), Severity::Warn);
        assert_eq!(severity(RunStarted), Severity::Info);
        assert_eq!(severity(RunSucceeded), Severity::Info);
    }

    #[test]
    fn severities_order_info_below_warn_below_error() {
        assert!(Severity::Info < Severity::Warn && Severity::Warn < Severity::Error);
    }

    #[test]
    fn every_failing_end_reason_raises_an_error_level_event() {
        for end in EndReason::ALL {
            let kind = event_for_end(end);
            if end.is_failure() {
                assert_eq!(kind.map(severity), Some(Severity::Error), "{end}");
            }
        }
    }

    #[test]
    fn a_skip_raises_no_event() {
        assert_eq!(event_for_end(EndReason::Skipped), None);
    }

    #[test]
    fn a_lost_delivery_failed_raises_nothing_further() {
        assert!(!raises_delivery_failed(EventKind::DeliveryFailed));
        assert!(raises_delivery_failed(EventKind::RunFailed));
    }
}
