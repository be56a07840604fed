//! Overlap policy: which of a task's new and queued runs start now, wait, or end at once.

use crate::api::{OnOverlap, RunPhase};

/// What admission needs to know of one run, in the task's FIFO order (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot<'a> {
    pub name: &'a str,
    pub phase: RunPhase,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Start the run's first attempt.
    Start(String),
    /// A new run waits for a slot.
    Queue(String),
    /// `onOverlap: skip`: recorded as skipped, never retried, no failure alert.
    Skip(String),
    /// The queue is at `maxQueued`: recorded as `queue_full`.
    QueueFull(String),
    /// `onOverlap: kill`: stop this active run; the new run waits in the queue until it is gone.
    Stop(String),
}

/// Decides admissions for one task. `runs` must be in FIFO order (creation time, then name);
/// it may include finished runs, which are ignored.
pub fn admit(
    runs: &[Slot<'_>],
    policy: OnOverlap,
    max_concurrent: u32,
    max_queued: u32,
) -> Vec<Admit> {
    let mut out = Vec::new();
    let active: Vec<&Slot> = runs.iter().filter(|r| r.phase.is_active()).collect();
    let mut free = (max_concurrent as usize).saturating_sub(active.len());
    let mut queued: usize = 0;

    // The queue is served first, in order: a new run never overtakes a queued one.
    for r in runs.iter().filter(|r| r.phase == RunPhase::Queued) {
        if free > 0 {
            out.push(Admit::Start(r.name.to_string()));
            free -= 1;
        } else {
            queued += 1;
        }
    }

    // Victims for `kill`: oldest running first, never one already stopping.
    let mut victims = active
        .iter()
        .filter(|r| r.phase != RunPhase::Stopping)
        .map(|r| r.name);

    for r in runs.iter().filter(|r| r.phase == RunPhase::Pending) {
        if free > 0 && queued == 0 {
            out.push(Admit::Start(r.name.to_string()));
            free -= 1;
            continue;
        }
        match policy {
            OnOverlap::Queue => {
                if queued < max_queued as usize {
                    out.push(Admit::Queue(r.name.to_string()));
                    queued += 1;
                } else {
                    out.push(Admit::QueueFull(r.name.to_string()));
                }
            }
            OnOverlap::Skip => out.push(Admit::Skip(r.name.to_string())),
            OnOverlap::Kill => {
                if let Some(victim) = victims.next() {
                    out.push(Admit::Stop(victim.to_string()));
                }
                out.push(Admit::Queue(r.name.to_string()));
                queued += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunPhase::*;

    fn slots<'a>(v: &'a [(&'a str, RunPhase)]) -> Vec<Slot<'a>> {
        v.iter().map(|(n, p)| Slot { name: n, phase: *p }).collect()
    }

    #[test]
    fn a_new_run_starts_when_a_slot_is_free() {
        let runs = slots(&[("a", Succeeded), ("b", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 100),
            vec![Admit::Start("b".into())]
        );
    }

    #[test]
    fn queue_policy_queues_a_run_while_the_task_is_at_max_concurrent() {
        let runs = slots(&[("a", Running), ("b", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 100),
            vec![Admit::Queue("b".into())]
        );
    }

    #[test]
    fn queued_runs_start_in_fifo_order_when_slots_free_up() {
        let runs = slots(&[("a", Succeeded), ("b", Queued), ("c", Queued)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 100),
            vec![Admit::Start("b".into())]
        );
    }

    #[test]
    fn a_new_run_never_overtakes_the_queue() {
        let runs = slots(&[("b", Queued), ("c", Queued), ("d", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 100),
            vec![Admit::Start("b".into()), Admit::Queue("d".into())]
        );
    }

    #[test]
    fn runs_past_max_queued_end_as_queue_full() {
        let runs = slots(&[("a", Running), ("b", Queued), ("c", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 1),
            vec![Admit::QueueFull("c".into())]
        );
    }

    #[test]
    fn max_queued_zero_refuses_every_overlapping_run() {
        let runs = slots(&[("a", Running), ("b", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 0),
            vec![Admit::QueueFull("b".into())]
        );
    }

    #[test]
    fn skip_policy_skips_a_run_while_the_task_is_busy() {
        let runs = slots(&[("a", Retrying), ("b", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Skip, 1, 100),
            vec![Admit::Skip("b".into())]
        );
    }

    #[test]
    fn kill_policy_stops_the_oldest_active_run_and_queues_the_new_one() {
        let runs = slots(&[("a", Running), ("b", Running), ("c", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Kill, 2, 100),
            vec![Admit::Stop("a".into()), Admit::Queue("c".into())]
        );
    }

    #[test]
    fn kill_policy_does_not_stop_a_run_twice() {
        let runs = slots(&[("a", Stopping), ("c", Queued)]);
        assert_eq!(admit(&runs, OnOverlap::Kill, 1, 100), vec![]);
    }

    #[test]
    fn several_slots_admit_several_runs_at_once() {
        let runs = slots(&[("a", Pending), ("b", Pending), ("c", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 2, 100),
            vec![
                Admit::Start("a".into()),
                Admit::Start("b".into()),
                Admit::Queue("c".into())
            ]
        );
    }

    #[test]
    fn stopping_runs_still_hold_their_slot() {
        let runs = slots(&[("a", Stopping), ("b", Pending)]);
        assert_eq!(
            admit(&runs, OnOverlap::Queue, 1, 100),
            vec![Admit::Queue("b".into())]
        );
    }
}
