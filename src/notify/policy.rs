//! The retry policy for one delivery, as a pure function of what the last POST returned.
//!
//! Exponential backoff from 1 s, doubling, each wait capped at 60 s, and no wait that would
//! take the delivery past about 5 minutes in all. `Retry-After` is honoured on 429 (and on
//! 503, where HTTP defines it too). 2xx is delivered; 408, 429, 5xx, timeouts and network
//! errors are retried; any other status is permanent (a revoked Slack webhook answers 404
//! or 410, a malformed payload 400: retrying cannot help).

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

pub const FIRST_WAIT: Duration = Duration::from_secs(1);
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The whole delivery, from the first POST, gives up rather than wait past this.
pub const MAX_ELAPSED: Duration = Duration::from_secs(300);
/// `Retry-After` is clamped into this range: at least a second apart, at most the cap.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Slack allows about one message per second per webhook: the spacing between POSTs to
/// the same URL.
pub const MIN_SPACING: Duration = Duration::from_secs(1);

/// What one POST returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// An HTTP response: status and the `Retry-After` header, if any.
    Status(u16, Option<String>),
    /// No response within the request timeout.
    Timeout,
    /// The request could not be sent or answered (DNS, refused, reset, TLS). The text is
    /// already redacted.
    Network(String),
    /// The request could not even be built (the URL is not an http(s) URL): permanent.
    /// The text is already redacted.
    Invalid(String),
}

/// What to do after a POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    RetryAfter(Duration),
    /// Stop: the reason, without secrets, for `NotificationRecord.error`.
    GiveUp(String),
}

/// The decision after `tries_so_far` POSTs (counting the one that produced `outcome`),
/// `elapsed` after the first began, with the default 5-minute budget.
pub fn judge(
    outcome: &AttemptOutcome,
    tries_so_far: u32,
    elapsed: Duration,
    now: DateTime<Utc>,
) -> Verdict {
    judge_within(outcome, tries_so_far, elapsed, now, MAX_ELAPSED)
}

/// [`judge`] with a budget other than [`MAX_ELAPSED`].
pub fn judge_within(
    outcome: &AttemptOutcome,
    tries_so_far: u32,
    elapsed: Duration,
    now: DateTime<Utc>,
    max_elapsed: Duration,
) -> Verdict {
    let problem = match outcome {
        AttemptOutcome::Status(code, _) if (200..300).contains(code) => return Verdict::Delivered,
        _ if is_permanent(outcome) => return Verdict::GiveUp(describe(outcome)),
        other => describe(other),
    };
    let wait = match outcome {
        AttemptOutcome::Status(429 | 503, Some(value)) => {
            retry_after(value, now).unwrap_or_else(|| backoff(tries_so_far))
        }
        _ => backoff(tries_so_far),
    };
    if elapsed.saturating_add(wait) > max_elapsed {
        let tries = tries_so_far.max(1);
        let noun = if tries == 1 { "try" } else { "tries" };
        return Verdict::GiveUp(format!(
            "{problem}; gave up after {tries} {noun} in {}",
            crate::duration::format_duration(Duration::from_secs(elapsed.as_secs()))
        ));
    }
    Verdict::RetryAfter(wait)
}

/// Whether retrying after this outcome cannot help.
pub fn is_permanent(outcome: &AttemptOutcome) -> bool {
    match outcome {
        AttemptOutcome::Status(code, _) => {
            !((200..300).contains(code)
                || *code == 408
                || *code == 429
                || (500..600).contains(code))
        }
        AttemptOutcome::Timeout | AttemptOutcome::Network(_) => false,
        AttemptOutcome::Invalid(_) => true,
    }
}

/// The wait after the `tries_so_far`-th failed POST: 1 s, 2 s, 4 s, … capped at 60 s.
pub fn backoff(tries_so_far: u32) -> Duration {
    let doublings = tries_so_far.saturating_sub(1).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

/// A `Retry-After` value — delay-seconds or an HTTP-date — as a wait from `now`, clamped to
/// [1 s, 60 s]. `None` if it is neither.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = http_date(value)?;
        // A date in the past means "now": the clamp below turns it into the minimum.
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.clamp(MIN_RETRY_AFTER, MAX_WAIT))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
/// The obsolete RFC 850 form is not accepted; such a header falls back to backoff.
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(value) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y")
        .ok()
        .map(|t| t.and_utc())
}

/// How long to hold a POST to a webhook that was last posted to at `last_post`, to stay
/// within Slack's one message per second.
pub fn spacing_wait(last_post: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    let Some(last) = last_post else {
        return Duration::ZERO;
    };
    let since = (now - last).to_std().unwrap_or(Duration::ZERO);
    MIN_SPACING.saturating_sub(since)
}

fn describe(outcome: &AttemptOutcome) -> String {
    match outcome {
        AttemptOutcome::Status(code, _) => {
            let reason = reqwest::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason());
            match reason {
                Some(r) => format!("HTTP {code} ({r})"),
                None => format!("HTTP {code}"),
            }
        }
        AttemptOutcome::Timeout => "no response before the request timeout".to_string(),
        AttemptOutcome::Network(msg) => format!("network error: {msg}"),
        AttemptOutcome::Invalid(msg) => msg.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0)
            .single()
            .expect("valid time")
    }

    fn status(code: u16) -> AttemptOutcome {
        AttemptOutcome::Status(code, None)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn any_2xx_is_delivered() {
        for code in [200, 201, 204, 299] {
            assert_eq!(judge(&status(code), 1, secs(0), now()), Verdict::Delivered);
        }
    }

    #[test]
    fn server_errors_request_timeouts_and_network_errors_are_retried() {
        for o in [
            status(500),
            status(502),
            status(503),
            status(408),
            AttemptOutcome::Timeout,
            AttemptOutcome::Network("connection refused".into()),
        ] {
            assert_eq!(
                judge(&o, 1, secs(0), now()),
                Verdict::RetryAfter(secs(1)),
                "{o:?}"
            );
        }
    }

    #[test]
    fn other_4xx_are_permanent_at_the_first_try() {
        for code in [400, 401, 403, 404, 410] {
            assert!(
                matches!(judge(&status(code), 1, secs(0), now()), Verdict::GiveUp(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn redirects_are_permanent() {
        assert!(matches!(
            judge(&status(301), 1, secs(0), now()),
            Verdict::GiveUp(_)
        ));
    }

    #[test]
    fn an_invalid_request_is_permanent() {
        let o = AttemptOutcome::Invalid("not an http(s) URL".into());
        assert_eq!(
            judge(&o, 1, secs(0), now()),
            Verdict::GiveUp("not an http(s) URL".into())
        );
    }

    #[test]
    fn permanent_failure_reason_names_the_status() {
        assert_eq!(
            judge(&status(404), 1, secs(0), now()),
            Verdict::GiveUp("HTTP 404 (Not Found)".into())
        );
    }

    #[test]
    fn backoff_doubles_from_one_second() {
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60]);
    }

    #[test]
    fn backoff_stays_capped_for_huge_try_counts() {
        assert_eq!(backoff(u32::MAX), MAX_WAIT);
    }

    #[test]
    fn gives_up_when_the_next_wait_would_pass_five_minutes() {
        assert_eq!(
            judge(&status(500), 9, secs(240), now()),
            Verdict::RetryAfter(secs(60))
        );
        let v = judge(&status(500), 10, secs(241), now());
        assert_eq!(
            v,
            Verdict::GiveUp(
                "HTTP 500 (Internal Server Error); gave up after 10 tries in 4m1s".into()
            )
        );
    }

    #[test]
    fn a_delivery_that_always_fails_takes_about_five_minutes() {
        let mut elapsed = Duration::ZERO;
        let mut tries = 0;
        loop {
            tries += 1;
            match judge(&status(503), tries, elapsed, now()) {
                Verdict::RetryAfter(w) => elapsed += w,
                Verdict::GiveUp(_) => break,
                Verdict::Delivered => unreachable!(),
            }
        }
        assert!(
            elapsed >= secs(240) && elapsed <= MAX_ELAPSED,
            "{elapsed:?}"
        );
        assert_eq!(tries, 10);
    }

    #[test]
    fn too_many_requests_honours_retry_after_seconds() {
        let o = AttemptOutcome::Status(429, Some("2".into()));
        assert_eq!(judge(&o, 1, secs(0), now()), Verdict::RetryAfter(secs(2)));
    }

    #[test]
    fn too_many_requests_honours_retry_after_http_date() {
        let o = AttemptOutcome::Status(429, Some("Wed, 21 Oct 2015 07:28:30 GMT".into()));
        assert_eq!(judge(&o, 1, secs(0), now()), Verdict::RetryAfter(secs(30)));
    }

    #[test]
    fn retry_after_accepts_asctime_dates() {
        assert_eq!(
            retry_after("Wed Oct 21 07:28:05 2015", now()),
            Some(secs(5))
        );
    }

    #[test]
    fn retry_after_is_clamped_to_one_to_sixty_seconds() {
        assert_eq!(retry_after("0", now()), Some(secs(1)));
        assert_eq!(retry_after("3600", now()), Some(secs(60)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(secs(1))
        );
    }

    #[test]
    fn garbage_retry_after_falls_back_to_backoff() {
        assert_eq!(retry_after("soon", now()), None);
        let o = AttemptOutcome::Status(429, Some("-5".into()));
        assert_eq!(judge(&o, 3, secs(10), now()), Verdict::RetryAfter(secs(4)));
    }

    #[test]
    fn retry_after_still_respects_the_total_budget() {
        let o = AttemptOutcome::Status(429, Some("60".into()));
        assert!(matches!(judge(&o, 5, secs(250), now()), Verdict::GiveUp(_)));
    }

    #[test]
    fn spacing_holds_a_post_until_a_second_after_the_last() {
        let last = now();
        assert_eq!(spacing_wait(None, now()), Duration::ZERO);
        assert_eq!(
            spacing_wait(Some(last), last + chrono::TimeDelta::milliseconds(300)),
            Duration::from_millis(700)
        );
        assert_eq!(
            spacing_wait(Some(last), last + chrono::TimeDelta::seconds(5)),
            Duration::ZERO
        );
    }
}
