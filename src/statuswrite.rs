//! When a task's status is written. Every firing changes the task's bookkeeping (the watermark,
//! the last and next schedule time, the active and queued lists). Writing that at once would put
//! a fourth write on the hot path of every firing, competing with the Pods of the other tasks
//! firing in the same second. So a change to bookkeeping alone waits, at most [`MAX_DEFER`], and
//! goes out with the next change that matters (a run ending, a condition, a new generation):
//! a run shorter than that costs one task status write instead of two. Nothing depends on the
//! stored bookkeeping being fresh: the operator keeps the deferred status in memory, and after a
//! restart the watermark is recovered from the runs themselves.

use chrono::{DateTime, Duration, Utc};

use crate::api::RunWispTaskStatus;

/// The longest a bookkeeping-only change waits.
pub const MAX_DEFER: Duration = Duration::seconds(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWrite {
    /// Nothing new to write.
    Unchanged,
    /// Write now.
    Now,
    /// Bookkeeping only: write at this time, unless something that matters comes first.
    Later(DateTime<Utc>),
}

/// `written`: the status as stored; `new`: as it should be; `deferred_since`: when the oldest
/// change not yet written was first put off.
pub fn decide(
    written: &RunWispTaskStatus,
    new: &RunWispTaskStatus,
    deferred_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StatusWrite {
    if written == new {
        return StatusWrite::Unchanged;
    }
    if without_bookkeeping(written) != without_bookkeeping(new) {
        return StatusWrite::Now;
    }
    let due = deferred_since.unwrap_or(now) + MAX_DEFER;
    if now >= due {
        StatusWrite::Now
    } else {
        StatusWrite::Later(due)
    }
}

/// The status without the fields every firing moves.
fn without_bookkeeping(s: &RunWispTaskStatus) -> RunWispTaskStatus {
    RunWispTaskStatus {
        last_schedule_time: None,
        scheduled_through: None,
        next_schedule_time: None,
        active: Vec::new(),
        queued: Vec::new(),
        active_count: 0,
        queued_count: 0,
        ..s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Condition;
    use crate::retry::EndReason;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("a valid time")
    }

    fn ready() -> RunWispTaskStatus {
        RunWispTaskStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: "True".into(),
                observed_generation: Some(1),
                last_transition_time: t(0),
                reason: "Valid".into(),
                message: "fires every minute".into(),
            }],
            observed_generation: Some(1),
            scheduled_through: Some(t(0)),
            next_schedule_time: Some(t(60)),
            ..Default::default()
        }
    }

    fn fired(mut s: RunWispTaskStatus) -> RunWispTaskStatus {
        s.last_schedule_time = Some(t(60));
        s.scheduled_through = Some(t(60));
        s.next_schedule_time = Some(t(120));
        s.active = vec!["tick-1".into()];
        s.active_count = 1;
        s
    }

    #[test]
    fn the_same_status_is_not_written() {
        assert_eq!(
            decide(&ready(), &ready(), None, t(61)),
            StatusWrite::Unchanged
        );
    }

    #[test]
    fn a_firing_alone_waits() {
        let d = decide(&ready(), &fired(ready()), None, t(61));
        assert_eq!(d, StatusWrite::Later(t(91)));
    }

    #[test]
    fn a_put_off_change_is_written_when_its_wait_is_over() {
        assert_eq!(
            decide(&ready(), &fired(ready()), Some(t(61)), t(91)),
            StatusWrite::Now
        );
    }

    #[test]
    fn a_later_firing_does_not_extend_the_wait_of_an_earlier_one() {
        let d = decide(&ready(), &fired(ready()), Some(t(61)), t(80));
        assert_eq!(d, StatusWrite::Later(t(91)));
    }

    #[test]
    fn a_run_ending_is_written_at_once_with_the_bookkeeping() {
        let mut new = fired(ready());
        new.last_run = Some("tick-1".into());
        new.last_end_reason = Some(EndReason::Failed);
        assert_eq!(decide(&ready(), &new, Some(t(61)), t(65)), StatusWrite::Now);
    }

    #[test]
    fn a_condition_change_is_written_at_once() {
        let mut new = ready();
        new.conditions[0].status = "False".into();
        new.conditions[0].reason = "InvalidSpec".into();
        assert_eq!(decide(&ready(), &new, None, t(61)), StatusWrite::Now);
    }

    #[test]
    fn a_new_generation_is_written_at_once() {
        let mut new = fired(ready());
        new.observed_generation = Some(2);
        assert_eq!(decide(&ready(), &new, None, t(61)), StatusWrite::Now);
    }
}
