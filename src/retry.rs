//! Retries and end reasons: how long to wait before retry N, and whether an attempt that
//! ended a given way earns another one.
//!
//! Mirrors RunWisp: `retry_attempts` extra attempts after the first; waits are `constant` d,
//! `linear` d×N or `exponential` d×2^(N−1), each capped at five minutes; only `failed`,
//! `timeout` and `crashed` are retried.

use std::fmt;
use std::time::Duration;

/// How the wait between attempts grows. Reused by the CRD (`retryBackoff`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Backoff {
    /// Every retry waits `delay`.
    #[default]
    Constant,
    /// Retry N waits `delay × N`.
    Linear,
    /// Retry N waits `delay × 2^(N−1)`.
    Exponential,
}

/// No single wait between attempts is longer than this, whatever the backoff.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5 * 60);

/// RunWisp caps `retry_attempts` at 100; the CRD schema rejects more, and [`next_step`]
/// clamps as well so a hand-edited object cannot retry forever.
pub const MAX_RETRY_ATTEMPTS: u32 = 100;

/// The wait before retry `retry_number` (1 = the first retry, i.e. the second attempt).
///
/// `retry_number` 0 is treated as 1. Saturates instead of overflowing, then caps at
/// [`MAX_RETRY_WAIT`].
pub fn retry_wait(delay: Duration, backoff: Backoff, retry_number: u32) -> Duration {
    let n = retry_number.max(1);
    let wait = match backoff {
        Backoff::Constant => delay,
        Backoff::Linear => delay.saturating_mul(n),
        Backoff::Exponential => {
            if delay.is_zero() {
                Duration::ZERO
            } else {
                // Doubling stops at the cap, so this loops at most ~40 times (1 ns → 5 min)
                // however large N is, and never overflows.
                let mut wait = delay;
                for _ in 1..n {
                    if wait >= MAX_RETRY_WAIT {
                        break;
                    }
                    wait = wait.saturating_mul(2);
                }
                wait
            }
        }
    };
    wait.min(MAX_RETRY_WAIT)
}

/// Why a run (or one attempt of it) ended. Serialized as in RunWisp (`queue_full`, …).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The script exited 0.
    Success,
    /// The script exited non-zero.
    Failed,
    /// The attempt ran past its timeout (`activeDeadlineSeconds`).
    Timeout,
    /// The process or its node died under it: OOM kill, eviction, deletion, node loss.
    Crashed,
    /// A firing dropped by `onOverlap: skip`.
    Skipped,
    /// Stopped on purpose (`onOverlap: kill`, or by a person).
    Stopped,
    /// Ticks missed while the operator was down.
    Missed,
    /// A firing dropped because the queue was at `maxQueued`.
    QueueFull,
    /// The attempt could never start (unschedulable, image cannot be pulled, bad config).
    StartFailed,
}

impl EndReason {
    /// Every end reason, in declaration order.
    pub const ALL: [EndReason; 9] = [
        EndReason::Success,
        EndReason::Failed,
        EndReason::Timeout,
        EndReason::Crashed,
        EndReason::Skipped,
        EndReason::Stopped,
        EndReason::Missed,
        EndReason::QueueFull,
        EndReason::StartFailed,
    ];

    /// The serialized (snake_case) name.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndReason::Success => "success",
            EndReason::Failed => "failed",
            EndReason::Timeout => "timeout",
            EndReason::Crashed => "crashed",
            EndReason::Skipped => "skipped",
            EndReason::Stopped => "stopped",
            EndReason::Missed => "missed",
            EndReason::QueueFull => "queue_full",
            EndReason::StartFailed => "start_failed",
        }
    }

    /// Whether an attempt that ended this way may be retried. `start_failed` is not: the
    /// bound already waited long, and a fresh pod would hit the same wall.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            EndReason::Failed | EndReason::Timeout | EndReason::Crashed
        )
    }

    /// Whether a run that ended this way counts as a failure (alerts, status).
    /// A skip or a deliberate stop is not.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            EndReason::Failed
                | EndReason::Timeout
                | EndReason::Crashed
                | EndReason::Missed
                | EndReason::QueueFull
                | EndReason::StartFailed
        )
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do after an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryStep {
    /// Start another attempt after this wait.
    RetryAfter(Duration),
    /// The run is over; its end reason is the last attempt's.
    Finish,
}

/// Decide whether to retry after `attempts_made` attempts (including the one that just
/// ended with `end`) when the task allows `retry_attempts` extra attempts.
pub fn next_step(
    end: EndReason,
    attempts_made: u32,
    retry_attempts: u32,
    delay: Duration,
    backoff: Backoff,
) -> RetryStep {
    let allowed = retry_attempts.min(MAX_RETRY_ATTEMPTS).saturating_add(1);
    if end.is_retryable() && attempts_made < allowed {
        // After k attempts the next one is retry number k.
        RetryStep::RetryAfter(retry_wait(delay, backoff, attempts_made))
    } else {
        RetryStep::Finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn constant_wait_is_the_delay_for_every_retry() {
        for n in [1, 2, 7, 100] {
            assert_eq!(retry_wait(5 * S, Backoff::Constant, n), 5 * S);
        }
    }

    #[test]
    fn linear_wait_is_delay_times_retry_number() {
        assert_eq!(retry_wait(5 * S, Backoff::Linear, 1), 5 * S);
        assert_eq!(retry_wait(5 * S, Backoff::Linear, 2), 10 * S);
        assert_eq!(retry_wait(5 * S, Backoff::Linear, 3), 15 * S);
    }

    #[test]
    fn exponential_wait_doubles_from_the_delay() {
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 1), 5 * S);
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 2), 10 * S);
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 3), 20 * S);
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 4), 40 * S);
    }

    #[test]
    fn exponential_wait_is_capped_at_five_minutes() {
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 7), MAX_RETRY_WAIT);
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 100), MAX_RETRY_WAIT);
    }

    #[test]
    fn linear_wait_is_capped_at_five_minutes() {
        assert_eq!(retry_wait(60 * S, Backoff::Linear, 6), MAX_RETRY_WAIT);
    }

    #[test]
    fn constant_wait_longer_than_the_cap_is_capped() {
        assert_eq!(retry_wait(3600 * S, Backoff::Constant, 1), MAX_RETRY_WAIT);
    }

    #[test]
    fn huge_delay_and_retry_number_saturate_without_overflow() {
        for backoff in [Backoff::Constant, Backoff::Linear, Backoff::Exponential] {
            assert_eq!(retry_wait(Duration::MAX, backoff, u32::MAX), MAX_RETRY_WAIT);
        }
    }

    #[test]
    fn tiny_exponential_delay_reaches_the_cap_for_huge_retry_numbers() {
        assert_eq!(
            retry_wait(Duration::from_nanos(1), Backoff::Exponential, u32::MAX),
            MAX_RETRY_WAIT
        );
    }

    #[test]
    fn zero_delay_waits_zero_for_every_backoff() {
        for backoff in [Backoff::Constant, Backoff::Linear, Backoff::Exponential] {
            assert_eq!(
                retry_wait(Duration::ZERO, backoff, u32::MAX),
                Duration::ZERO
            );
        }
    }

    #[test]
    fn retry_number_zero_is_treated_as_the_first_retry() {
        assert_eq!(retry_wait(5 * S, Backoff::Linear, 0), 5 * S);
        assert_eq!(retry_wait(5 * S, Backoff::Exponential, 0), 5 * S);
    }

    #[test]
    fn backoff_serializes_in_camel_case_and_defaults_to_constant() {
        assert_eq!(Backoff::default(), Backoff::Constant);
        assert_eq!(
            serde_json::to_value(Backoff::Exponential).ok(),
            Some(serde_json::json!("exponential"))
        );
    }

    #[test]
    fn end_reason_serializes_as_its_snake_case_name() {
        for reason in EndReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(serde_json::json!(reason.as_str()))
            );
        }
        assert_eq!(EndReason::QueueFull.as_str(), "queue_full");
        assert_eq!(EndReason::StartFailed.to_string(), "start_failed");
    }

    #[test]
    fn only_failed_timeout_and_crashed_are_retryable() {
        let retryable: Vec<_> = EndReason::ALL
            .into_iter()
            .filter(EndReason::is_retryable)
            .collect();
        assert_eq!(
            retryable,
            [EndReason::Failed, EndReason::Timeout, EndReason::Crashed]
        );
    }

    #[test]
    fn skipped_stopped_and_success_are_not_failures() {
        let not_failures: Vec<_> = EndReason::ALL
            .into_iter()
            .filter(|r| !r.is_failure())
            .collect();
        assert_eq!(
            not_failures,
            [EndReason::Success, EndReason::Skipped, EndReason::Stopped]
        );
    }

    #[test]
    fn failed_attempt_is_retried_while_attempts_remain() {
        assert_eq!(
            next_step(EndReason::Failed, 1, 2, 5 * S, Backoff::Linear),
            RetryStep::RetryAfter(5 * S)
        );
        assert_eq!(
            next_step(EndReason::Timeout, 2, 2, 5 * S, Backoff::Linear),
            RetryStep::RetryAfter(10 * S)
        );
    }

    #[test]
    fn run_finishes_when_retry_attempts_are_used_up() {
        assert_eq!(
            next_step(EndReason::Crashed, 3, 2, 5 * S, Backoff::Constant),
            RetryStep::Finish
        );
    }

    #[test]
    fn zero_retry_attempts_means_a_single_attempt() {
        assert_eq!(
            next_step(EndReason::Failed, 1, 0, 5 * S, Backoff::Constant),
            RetryStep::Finish
        );
    }

    #[test]
    fn non_retryable_end_finishes_even_with_attempts_left() {
        for end in [
            EndReason::Success,
            EndReason::Stopped,
            EndReason::Skipped,
            EndReason::StartFailed,
        ] {
            assert_eq!(
                next_step(end, 1, 5, 5 * S, Backoff::Constant),
                RetryStep::Finish
            );
        }
    }

    #[test]
    fn retry_attempts_above_the_cap_are_clamped_to_one_hundred() {
        assert_eq!(
            next_step(EndReason::Failed, 101, u32::MAX, S, Backoff::Constant),
            RetryStep::Finish
        );
        assert_eq!(
            next_step(EndReason::Failed, 100, u32::MAX, S, Backoff::Constant),
            RetryStep::RetryAfter(S)
        );
    }
}
