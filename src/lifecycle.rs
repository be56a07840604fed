//! One run's attempts as a state machine: given the run's status, what its current Pod shows
//! and `now`, what happens next. Pure; the controller applies the steps.

use chrono::{DateTime, Utc};

use crate::api::{Attempt, RunPhase, RunWispRunStatus};
use crate::outcome::{PodOutcome, start_failed};
use crate::retry::{EndReason, RetryStep, next_step};
use crate::taskdef::TaskDef;
use crate::time::{from_jiff, to_jiff};

/// Past `timeout + gracefulStop`, the kubelet should have ended the Pod; this much more and the
/// operator ends the attempt itself (a lost node would otherwise hold the run forever).
pub const WATCHDOG_MARGIN: chrono::Duration = chrono::Duration::seconds(120);

/// How long a just-created Pod may be missing from the watch cache before the operator asks.
pub const CACHE_LAG: chrono::Duration = chrono::Duration::seconds(10);

/// What the operator sees of the current attempt's Pod.
#[derive(Clone, Debug)]
pub enum PodSeen {
    /// Not in the watch cache: maybe not seen yet, maybe deleted. Confirm with a GET.
    NotInCache,
    /// Confirmed absent.
    Gone,
    Present {
        outcome: PodOutcome,
        deleting: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttemptEnd {
    pub end: EndReason,
    pub exit_code: Option<i32>,
    pub finished_at: DateTime<Utc>,
    pub message: String,
    /// Whether the Pod is still there to read its output from.
    pub pod_present: bool,
    /// The operator ended the attempt itself, so the Pod may still be running: delete it.
    pub stop_pod: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Nothing {
        requeue_at: Option<DateTime<Utc>>,
    },
    /// Create the Pod for attempt `number`, then record it with `start_attempt`.
    StartAttempt {
        number: u32,
    },
    /// GET the Pod and decide again with `Gone` or `Present`.
    ConfirmGone,
    /// Read the output tail, then `record_end`.
    EndAttempt(AttemptEnd),
    /// Delete the Pod (with the task's grace period); the run stays `Stopping`.
    StopPod,
    /// The stopped run's Pod is gone: record `stopped`.
    Stopped,
}

pub fn decide(
    status: &RunWispRunStatus,
    pod: &PodSeen,
    def: &TaskDef,
    now: DateTime<Utc>,
    start_bound: std::time::Duration,
) -> Step {
    match status.phase {
        RunPhase::Running => decide_running(status, pod, def, now, start_bound),
        RunPhase::Retrying => match status.next_attempt_time {
            Some(t) if t > now => Step::Nothing {
                requeue_at: Some(t),
            },
            _ => Step::StartAttempt {
                number: status.attempts.len() as u32 + 1,
            },
        },
        RunPhase::Stopping => match pod {
            PodSeen::NotInCache => Step::ConfirmGone,
            PodSeen::Gone => Step::Stopped,
            PodSeen::Present {
                outcome: PodOutcome::Finished { .. },
                ..
            } => Step::Stopped,
            PodSeen::Present { deleting: true, .. } => Step::Nothing {
                requeue_at: Some(
                    now + chrono::Duration::seconds(def.graceful_stop.as_secs() as i64 + 5),
                ),
            },
            PodSeen::Present { .. } => Step::StopPod,
        },
        _ => Step::Nothing { requeue_at: None },
    }
}

fn decide_running(
    status: &RunWispRunStatus,
    pod: &PodSeen,
    def: &TaskDef,
    now: DateTime<Utc>,
    start_bound: std::time::Duration,
) -> Step {
    let Some(attempt) = status.attempts.last() else {
        return Step::StartAttempt { number: 1 };
    };
    match pod {
        // A Pod created moments ago may not have reached the watch cache yet; its watch event
        // wakes the task. Asking the apiserver would cost a GET per firing.
        PodSeen::NotInCache if attempt.start_time.is_some_and(|t| now - t < CACHE_LAG) => {
            Step::Nothing {
                requeue_at: attempt.start_time.map(|t| t + CACHE_LAG),
            }
        }
        PodSeen::NotInCache => Step::ConfirmGone,
        PodSeen::Gone => Step::EndAttempt(AttemptEnd {
            end: EndReason::Crashed,
            exit_code: None,
            finished_at: now,
            message: format!(
                "pod {} disappeared (deleted, evicted or its node was lost)",
                attempt.pod_name
            ),
            pod_present: false,
            stop_pod: false,
        }),
        PodSeen::Present { outcome, .. } => match outcome {
            PodOutcome::Finished {
                end,
                exit_code,
                finished_at,
                message,
            } => Step::EndAttempt(AttemptEnd {
                end: *end,
                exit_code: *exit_code,
                finished_at: finished_at.map(from_jiff).unwrap_or(now),
                message: message.clone(),
                pod_present: true,
                stop_pod: false,
            }),
            PodOutcome::Pending { since, problem } => {
                if start_failed(outcome, to_jiff(now), start_bound) {
                    let why = problem
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "pod never started".into());
                    return Step::EndAttempt(AttemptEnd {
                        end: EndReason::StartFailed,
                        exit_code: None,
                        finished_at: now,
                        message: why,
                        pod_present: true,
                        stop_pod: true,
                    });
                }
                let since = since.map(from_jiff).or(attempt.start_time).unwrap_or(now);
                let bound =
                    chrono::Duration::from_std(start_bound).unwrap_or(chrono::Duration::MAX);
                let mut at = since + bound;
                if let Some(w) = watchdog(attempt, def) {
                    at = at.min(w);
                }
                Step::Nothing {
                    requeue_at: Some(at.max(now + chrono::Duration::seconds(1))),
                }
            }
            PodOutcome::Running => match watchdog(attempt, def) {
                Some(w) if w <= now => Step::EndAttempt(AttemptEnd {
                    end: EndReason::Timeout,
                    exit_code: None,
                    finished_at: now,
                    message:
                        "the pod outlived its deadline (node unresponsive); stopped by the operator"
                            .into(),
                    pod_present: true,
                    stop_pod: true,
                }),
                w => Step::Nothing { requeue_at: w },
            },
        },
    }
}

/// When the operator gives up waiting for the kubelet to enforce the timeout.
fn watchdog(attempt: &Attempt, def: &TaskDef) -> Option<DateTime<Utc>> {
    let timeout = chrono::Duration::from_std(def.timeout?).ok()?;
    let grace = chrono::Duration::from_std(def.graceful_stop).ok()?;
    Some(attempt.start_time? + timeout + grace + WATCHDOG_MARGIN)
}

/// Records that attempt `number`'s Pod was created.
pub fn start_attempt(
    status: &mut RunWispRunStatus,
    number: u32,
    pod_name: String,
    now: DateTime<Utc>,
) {
    status.phase = RunPhase::Running;
    status.next_attempt_time = None;
    status.start_time.get_or_insert(now);
    status.attempts.retain(|a| a.number < number);
    status.attempts.push(Attempt {
        number,
        pod_name,
        start_time: Some(now),
        ..Attempt::default()
    });
    status.attempt_count = number;
    status.message = None;
}

/// Records an attempt's end and decides between a retry and the run's end.
pub fn record_end(
    status: &mut RunWispRunStatus,
    end: &AttemptEnd,
    log_tail: Option<String>,
    def: &TaskDef,
    now: DateTime<Utc>,
) {
    let made = status.attempts.len() as u32;
    if let Some(a) = status.attempts.last_mut() {
        a.finish_time = Some(end.finished_at);
        a.exit_code = end.exit_code;
        a.end_reason = Some(end.end);
        a.message = Some(end.message.clone());
        a.log_tail = log_tail;
    }
    status.exit_code = end.exit_code;
    match next_step(
        end.end,
        made,
        def.retry_attempts,
        def.retry_delay,
        def.retry_backoff,
    ) {
        RetryStep::RetryAfter(wait) => {
            let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(5));
            status.phase = RunPhase::Retrying;
            // From the attempt's end, not from now: a late reconcile must not stretch the wait.
            status.next_attempt_time = Some((end.finished_at + wait).max(end.finished_at));
            status.message = Some(format!(
                "attempt {made} ended {}; retry {} of {} at {}",
                end.end.as_str(),
                made,
                def.retry_attempts,
                (end.finished_at + wait).to_rfc3339()
            ));
        }
        RetryStep::Finish => finish(status, end.end, Some(end.message.clone()), now),
    }
}

/// Ends a run.
pub fn finish(
    status: &mut RunWispRunStatus,
    end: EndReason,
    message: Option<String>,
    now: DateTime<Utc>,
) {
    status.phase = RunPhase::for_end(end);
    status.end_reason = Some(end);
    status.next_attempt_time = None;
    status.completion_time = Some(now);
    status.message = message;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::outcome::StartProblem;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .expect("valid time")
    }

    fn def(yaml: &str) -> TaskDef {
        let spec: crate::api::RunWispTaskSpec = serde_yaml::from_str(yaml).expect("spec");
        crate::taskdef::validate(&spec, t(0), &Config::default()).expect("valid")
    }

    fn running(started: i64) -> RunWispRunStatus {
        let mut s = RunWispRunStatus::default();
        start_attempt(&mut s, 1, "r-a1".into(), t(started));
        s
    }

    fn finished(end: EndReason, code: Option<i32>) -> PodSeen {
        PodSeen::Present {
            outcome: PodOutcome::Finished {
                end,
                exit_code: code,
                finished_at: Some(to_jiff(t(10))),
                message: String::new(),
            },
            deleting: false,
        }
    }

    const BOUND: std::time::Duration = std::time::Duration::from_secs(300);

    #[test]
    fn a_just_created_pod_missing_from_the_cache_is_waited_for_not_fetched() {
        let d = def("run: x");
        assert_eq!(
            decide(&running(0), &PodSeen::NotInCache, &d, t(3), BOUND),
            Step::Nothing {
                requeue_at: Some(t(10))
            }
        );
    }

    #[test]
    fn a_pod_missing_from_the_cache_is_confirmed_before_anything_is_concluded() {
        let d = def("run: x");
        assert_eq!(
            decide(&running(0), &PodSeen::NotInCache, &d, t(15), BOUND),
            Step::ConfirmGone
        );
    }

    #[test]
    fn a_confirmed_missing_pod_ends_the_attempt_crashed() {
        let d = def("run: x");
        let step = decide(&running(0), &PodSeen::Gone, &d, t(5), BOUND);
        assert!(matches!(
            step,
            Step::EndAttempt(AttemptEnd {
                end: EndReason::Crashed,
                ..
            })
        ));
    }

    #[test]
    fn a_failed_attempt_with_retries_left_waits_its_delay_from_the_pods_end() {
        let d = def("run: x\nretryAttempts: 1\nretryDelay: 7s");
        let mut s = running(0);
        let Step::EndAttempt(end) =
            decide(&s, &finished(EndReason::Failed, Some(3)), &d, t(30), BOUND)
        else {
            panic!("expected the attempt to end")
        };
        record_end(&mut s, &end, None, &d, t(30));
        assert_eq!(
            (s.phase, s.next_attempt_time),
            (RunPhase::Retrying, Some(t(17)))
        );
    }

    #[test]
    fn the_last_failed_attempt_ends_the_run_failed_with_its_exit_code() {
        let d = def("run: x\nretryAttempts: 0");
        let mut s = running(0);
        let Step::EndAttempt(end) =
            decide(&s, &finished(EndReason::Failed, Some(3)), &d, t(30), BOUND)
        else {
            panic!("expected the attempt to end")
        };
        record_end(&mut s, &end, Some("boom\n".into()), &d, t(30));
        assert_eq!(
            (s.phase, s.end_reason, s.exit_code),
            (RunPhase::Failed, Some(EndReason::Failed), Some(3))
        );
        assert_eq!(s.attempts[0].log_tail.as_deref(), Some("boom\n"));
    }

    #[test]
    fn success_is_never_retried() {
        let d = def("run: x\nretryAttempts: 3");
        let mut s = running(0);
        let Step::EndAttempt(end) =
            decide(&s, &finished(EndReason::Success, Some(0)), &d, t(30), BOUND)
        else {
            panic!("expected the attempt to end")
        };
        record_end(&mut s, &end, None, &d, t(30));
        assert_eq!(s.phase, RunPhase::Succeeded);
    }

    #[test]
    fn a_retrying_run_starts_the_next_attempt_when_its_delay_has_passed() {
        let d = def("run: x\nretryAttempts: 2");
        let mut s = running(0);
        s.phase = RunPhase::Retrying;
        s.next_attempt_time = Some(t(20));
        assert_eq!(
            decide(&s, &PodSeen::Gone, &d, t(19), BOUND),
            Step::Nothing {
                requeue_at: Some(t(20))
            }
        );
        assert_eq!(
            decide(&s, &PodSeen::Gone, &d, t(20), BOUND),
            Step::StartAttempt { number: 2 }
        );
    }

    #[test]
    fn each_attempt_gets_a_fresh_timeout_clock() {
        let d = def("run: x\ntimeout: 60s\nretryAttempts: 1");
        let mut s = running(0);
        start_attempt(&mut s, 2, "r-a2".into(), t(500));
        let running_pod = PodSeen::Present {
            outcome: PodOutcome::Running,
            deleting: false,
        };
        // attempt 2 started at 500: its watchdog is 500 + 60 + 5 + 120, not counted from attempt 1.
        assert_eq!(
            decide(&s, &running_pod, &d, t(600), BOUND),
            Step::Nothing {
                requeue_at: Some(t(685))
            }
        );
    }

    #[test]
    fn a_pod_outliving_its_deadline_by_the_margin_is_ended_as_timeout() {
        let d = def("run: x\ntimeout: 60s");
        let running_pod = PodSeen::Present {
            outcome: PodOutcome::Running,
            deleting: false,
        };
        let step = decide(&running(0), &running_pod, &d, t(185), BOUND);
        assert!(matches!(
            step,
            Step::EndAttempt(AttemptEnd {
                end: EndReason::Timeout,
                ..
            })
        ));
    }

    #[test]
    fn a_pod_that_cannot_start_within_the_bound_ends_start_failed() {
        let d = def("run: x");
        let pending = PodSeen::Present {
            outcome: PodOutcome::Pending {
                since: Some(to_jiff(t(0))),
                problem: Some(StartProblem::Unschedulable("0/1 nodes".into())),
            },
            deleting: false,
        };
        assert!(matches!(
            decide(&running(0), &pending, &d, t(100), BOUND),
            Step::Nothing { .. }
        ));
        assert!(matches!(
            decide(&running(0), &pending, &d, t(301), BOUND),
            Step::EndAttempt(AttemptEnd {
                end: EndReason::StartFailed,
                ..
            })
        ));
    }

    #[test]
    fn start_failed_is_not_retried() {
        let d = def("run: x\nretryAttempts: 3");
        let mut s = running(0);
        let end = AttemptEnd {
            end: EndReason::StartFailed,
            exit_code: None,
            finished_at: t(301),
            message: "x".into(),
            pod_present: true,
            stop_pod: true,
        };
        record_end(&mut s, &end, None, &d, t(301));
        assert_eq!(
            (s.phase, s.end_reason),
            (RunPhase::Failed, Some(EndReason::StartFailed))
        );
    }

    #[test]
    fn a_stopping_run_deletes_its_pod_then_ends_stopped_when_it_is_gone() {
        let d = def("run: x");
        let mut s = running(0);
        s.phase = RunPhase::Stopping;
        let live = PodSeen::Present {
            outcome: PodOutcome::Running,
            deleting: false,
        };
        assert_eq!(decide(&s, &live, &d, t(5), BOUND), Step::StopPod);
        let terminating = PodSeen::Present {
            outcome: PodOutcome::Running,
            deleting: true,
        };
        assert!(matches!(
            decide(&s, &terminating, &d, t(6), BOUND),
            Step::Nothing { .. }
        ));
        assert_eq!(decide(&s, &PodSeen::Gone, &d, t(9), BOUND), Step::Stopped);
    }
}
