//! Which ticks a reconcile fires: on-time ticks, and missed ticks per the catch-up policy.
//!
//! A tick is *due* once it is in `(last_handled, now]`. A due tick within `on_time_grace` of
//! `now` is on time and fires as a normal cron firing; an older one was missed (the
//! operator was down or slow) and is subject to [`CatchUp`].

use chrono::{DateTime, Utc};

use crate::schedule::{Schedule, TickSpan};

/// Only the newest due tick fires on time (as a cron scheduler would); older due ticks,
/// even inside the grace window, were not fired when they came and count as missed, so an
/// outage of a sub-minute task is one gap (and its catch-up), not a burst of "on-time" runs.
pub const ON_TIME_LIMIT: usize = 1;

/// What to do with ticks missed while the operator was down.
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
pub enum CatchUp {
    /// One catch-up run, for the newest missed tick.
    #[default]
    Latest,
    /// One catch-up run per missed tick, newest first, up to `maxCatchUpRuns`.
    All,
    /// No catch-up runs; the gap is still recorded.
    Skip,
}

/// Why a firing happens (manual runs are decided elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Cron,
    CatchUp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firing {
    pub scheduled: DateTime<Utc>,
    pub trigger: Trigger,
}

/// Ticks that were due but not on time. Recorded whatever the catch-up policy says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub first_missed: DateTime<Utc>,
    pub last_missed: DateTime<Utc>,
    /// Saturates at [`crate::schedule::TICK_COUNT_CAP`].
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiringPlan {
    /// Ascending by `scheduled`, no tick twice.
    pub fire: Vec<Firing>,
    pub gap: Option<Gap>,
    /// The newest tick now handled (fired, caught up or given up on); `None` if no tick was due.
    pub last_schedule: Option<DateTime<Utc>>,
    /// The next tick that can fire: strictly after `now` (and after `last_handled`, should a
    /// skewed clock put that in the future).
    pub next: Option<DateTime<Utc>>,
}

/// Decides what to fire at `now`.
///
/// - `last_handled`: the newest tick already handled (`None`: the task is seen for the first
///   time; ticks since `created` are considered, and missed ones are skipped silently — no
///   backfill, no gap).
/// - `on_time_grace`: how late a tick may be handled and still count as on time (negative
///   is treated as zero).
/// - `max_catch_up_runs`: cap for [`CatchUp::All`].
pub fn plan(
    schedule: &Schedule,
    last_handled: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
    catch_up: CatchUp,
    max_catch_up_runs: u32,
    on_time_grace: chrono::Duration,
) -> FiringPlan {
    let first_seen = last_handled.is_none();
    let lower = last_handled.unwrap_or(created);
    let next = schedule.next_after(now.max(lower));
    let nothing = FiringPlan {
        fire: Vec::new(),
        gap: None,
        last_schedule: None,
        next,
    };
    if now <= lower {
        // Nothing can be due; a `last_handled` in the future (clock skew) lands here too.
        return nothing;
    }

    let grace = on_time_grace.max(chrono::Duration::zero());
    let grace_start = now
        .checked_sub_signed(grace)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // On time means tick >= grace_start; ticks_in takes a half-open (after, until], and
    // ticks are whole seconds, so one nanosecond earlier is exact.
    let on_time_after = lower.max(
        grace_start
            .checked_sub_signed(chrono::Duration::nanoseconds(1))
            .unwrap_or(grace_start),
    );
    let on_time = schedule.ticks_in(on_time_after, now, ON_TIME_LIMIT);

    // Due ticks older than the on-time ones are missed: those before the grace window, and
    // any on-time ticks that did not fit under ON_TIME_LIMIT.
    let on_time_overflowed = on_time.total > on_time.ticks.len() as u64;
    let missed_until = match on_time.ticks.first() {
        Some(oldest) if on_time_overflowed => oldest
            .checked_sub_signed(chrono::Duration::nanoseconds(1))
            .unwrap_or(*oldest),
        _ => on_time_after,
    };
    let missed = if missed_until > lower {
        let keep = usize::try_from(max_catch_up_runs)
            .unwrap_or(usize::MAX)
            .max(1);
        schedule.ticks_in(lower, missed_until, keep)
    } else {
        TickSpan {
            ticks: Vec::new(),
            total: 0,
        }
    };

    let last_schedule = on_time.ticks.last().or(missed.ticks.last()).copied();
    let Some(last_schedule) = last_schedule else {
        return nothing;
    };

    let mut fire = Vec::new();
    let mut gap = None;
    // A task seen for the first time gets no backfill and no gap.
    let missed_ticks: &[DateTime<Utc>] = if first_seen { &[] } else { &missed.ticks };
    if let (Some(&oldest_kept), Some(&last_missed)) = (missed_ticks.first(), missed_ticks.last()) {
        // The span kept only the newest missed ticks; the oldest is one search away.
        let first_missed = schedule
            .next_after(lower)
            .filter(|t| *t <= last_missed)
            .unwrap_or(oldest_kept);
        gap = Some(Gap {
            first_missed,
            last_missed,
            count: missed.total,
        });
        let runs = match catch_up {
            CatchUp::Latest => 1,
            CatchUp::All => usize::try_from(max_catch_up_runs).unwrap_or(usize::MAX),
            CatchUp::Skip => 0,
        };
        let caught_up = &missed_ticks[missed_ticks.len().saturating_sub(runs)..];
        fire.extend(caught_up.iter().map(|&scheduled| Firing {
            scheduled,
            trigger: Trigger::CatchUp,
        }));
    }
    fire.extend(on_time.ticks.iter().map(|&scheduled| Firing {
        scheduled,
        trigger: Trigger::Cron,
    }));

    FiringPlan {
        fire,
        gap,
        last_schedule: Some(last_schedule),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::TICK_COUNT_CAP;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn created() -> DateTime<Utc> {
        utc("2026-01-01T00:00:00Z")
    }

    fn sched(expr: &str) -> Schedule {
        Schedule::parse(expr, chrono_tz::UTC, created()).unwrap()
    }

    fn grace() -> chrono::Duration {
        chrono::Duration::seconds(60)
    }

    fn cron_at(s: &str) -> Firing {
        Firing {
            scheduled: utc(s),
            trigger: Trigger::Cron,
        }
    }

    fn catch_up_at(s: &str) -> Firing {
        Firing {
            scheduled: utc(s),
            trigger: Trigger::CatchUp,
        }
    }

    /// An hourly task last handled at 09:00, reconciled at `now`.
    fn hourly_at(now: &str, catch_up: CatchUp, max: u32) -> FiringPlan {
        plan(
            &sched("0 * * * *"),
            Some(utc("2026-04-01T09:00:00Z")),
            created(),
            utc(now),
            catch_up,
            max,
            grace(),
        )
    }

    #[test]
    fn on_time_tick_fires_as_cron() {
        let p = hourly_at("2026-04-01T10:00:00.300Z", CatchUp::Latest, 100);
        assert_eq!(p.fire, vec![cron_at("2026-04-01T10:00:00Z")]);
        assert_eq!(p.gap, None);
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T10:00:00Z")));
        assert_eq!(p.next, Some(utc("2026-04-01T11:00:00Z")));
    }

    #[test]
    fn nothing_due_fires_nothing() {
        let p = hourly_at("2026-04-01T09:30:00Z", CatchUp::Latest, 100);
        assert_eq!(
            p,
            FiringPlan {
                fire: vec![],
                gap: None,
                last_schedule: None,
                next: Some(utc("2026-04-01T10:00:00Z"))
            }
        );
    }

    #[test]
    fn the_last_handled_tick_does_not_fire_again() {
        let p = hourly_at("2026-04-01T09:00:10Z", CatchUp::All, 100);
        assert_eq!(p.fire, vec![]);
        assert_eq!(p.last_schedule, None);
    }

    #[test]
    fn tick_exactly_grace_late_is_on_time() {
        let p = hourly_at("2026-04-01T10:01:00Z", CatchUp::Skip, 100);
        assert_eq!(p.fire, vec![cron_at("2026-04-01T10:00:00Z")]);
        assert_eq!(p.gap, None);
    }

    #[test]
    fn tick_later_than_grace_is_missed_and_caught_up() {
        let p = hourly_at("2026-04-01T10:01:00.001Z", CatchUp::Latest, 100);
        assert_eq!(p.fire, vec![catch_up_at("2026-04-01T10:00:00Z")]);
        assert_eq!(
            p.gap,
            Some(Gap {
                first_missed: utc("2026-04-01T10:00:00Z"),
                last_missed: utc("2026-04-01T10:00:00Z"),
                count: 1
            })
        );
    }

    #[test]
    fn first_seen_does_not_backfill() {
        let created = utc("2026-04-01T00:00:00Z");
        let p = plan(
            &sched("0 * * * *"),
            None,
            created,
            utc("2026-04-01T05:30:00Z"),
            CatchUp::All,
            100,
            grace(),
        );
        assert_eq!(p.fire, vec![]);
        assert_eq!(p.gap, None);
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T05:00:00Z")));
    }

    #[test]
    fn first_seen_tick_just_after_creation_fires() {
        let p = plan(
            &sched("* * * * *"),
            None,
            utc("2026-04-01T12:00:59.990Z"),
            utc("2026-04-01T12:01:00.200Z"),
            CatchUp::Latest,
            100,
            grace(),
        );
        assert_eq!(p.fire, vec![cron_at("2026-04-01T12:01:00Z")]);
        assert_eq!(p.gap, None);
    }

    #[test]
    fn first_seen_ignores_ticks_before_creation() {
        let p = plan(
            &sched("* * * * *"),
            None,
            utc("2026-04-01T12:01:00.500Z"),
            utc("2026-04-01T12:01:00.600Z"),
            CatchUp::Latest,
            100,
            grace(),
        );
        assert_eq!(p.fire, vec![]);
        assert_eq!(p.last_schedule, None);
    }

    #[test]
    fn first_seen_fires_only_the_newest_on_time_tick_and_skips_older_ones_silently() {
        let p = plan(
            &sched("*/10 * * * * *"),
            None,
            utc("2026-04-01T12:00:00Z"),
            utc("2026-04-01T12:05:05Z"),
            CatchUp::All,
            100,
            chrono::Duration::seconds(20),
        );
        assert_eq!(p.fire, vec![cron_at("2026-04-01T12:05:00Z")]);
        assert_eq!(p.gap, None);
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T12:05:00Z")));
    }

    #[test]
    fn gap_with_latest_fires_the_newest_missed_tick_once() {
        let p = hourly_at("2026-04-01T14:30:00Z", CatchUp::Latest, 100);
        assert_eq!(p.fire, vec![catch_up_at("2026-04-01T14:00:00Z")]);
        assert_eq!(
            p.gap,
            Some(Gap {
                first_missed: utc("2026-04-01T10:00:00Z"),
                last_missed: utc("2026-04-01T14:00:00Z"),
                count: 5
            })
        );
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T14:00:00Z")));
        assert_eq!(p.next, Some(utc("2026-04-01T15:00:00Z")));
    }

    #[test]
    fn gap_with_all_fires_every_missed_tick_in_order() {
        let p = hourly_at("2026-04-01T12:30:00Z", CatchUp::All, 100);
        assert_eq!(
            p.fire,
            vec![
                catch_up_at("2026-04-01T10:00:00Z"),
                catch_up_at("2026-04-01T11:00:00Z"),
                catch_up_at("2026-04-01T12:00:00Z"),
            ]
        );
    }

    #[test]
    fn gap_with_all_is_capped_at_max_catch_up_runs_keeping_the_newest() {
        let p = hourly_at("2026-04-01T14:30:00Z", CatchUp::All, 2);
        assert_eq!(
            p.fire,
            vec![
                catch_up_at("2026-04-01T13:00:00Z"),
                catch_up_at("2026-04-01T14:00:00Z")
            ]
        );
        assert_eq!(p.gap.map(|g| g.count), Some(5));
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T14:00:00Z")));
    }

    #[test]
    fn gap_with_all_and_max_zero_fires_nothing() {
        let p = hourly_at("2026-04-01T14:30:00Z", CatchUp::All, 0);
        assert_eq!(p.fire, vec![]);
        assert_eq!(p.gap.map(|g| g.count), Some(5));
    }

    #[test]
    fn gap_with_skip_fires_nothing_but_records_the_gap() {
        let p = hourly_at("2026-04-01T14:30:00Z", CatchUp::Skip, 100);
        assert_eq!(p.fire, vec![]);
        assert_eq!(
            p.gap,
            Some(Gap {
                first_missed: utc("2026-04-01T10:00:00Z"),
                last_missed: utc("2026-04-01T14:00:00Z"),
                count: 5
            })
        );
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T14:00:00Z")));
    }

    #[test]
    fn on_time_tick_fires_after_the_catch_up_of_missed_ones() {
        let p = hourly_at("2026-04-01T12:00:30Z", CatchUp::Latest, 100);
        assert_eq!(
            p.fire,
            vec![
                catch_up_at("2026-04-01T11:00:00Z"),
                cron_at("2026-04-01T12:00:00Z")
            ]
        );
        assert_eq!(
            p.gap,
            Some(Gap {
                first_missed: utc("2026-04-01T10:00:00Z"),
                last_missed: utc("2026-04-01T11:00:00Z"),
                count: 2
            })
        );
        assert_eq!(p.last_schedule, Some(utc("2026-04-01T12:00:00Z")));
    }

    #[test]
    fn thirty_day_outage_of_a_per_minute_task_is_counted() {
        let p = plan(
            &sched("* * * * *"),
            Some(utc("2026-04-01T00:00:00Z")),
            created(),
            utc("2026-05-01T00:00:30Z"),
            CatchUp::All,
            3,
            grace(),
        );
        // 43 200 minutes; the one at 2026-05-01 00:00 is on time.
        assert_eq!(
            p.gap,
            Some(Gap {
                first_missed: utc("2026-04-01T00:01:00Z"),
                last_missed: utc("2026-04-30T23:59:00Z"),
                count: 43_199
            })
        );
        assert_eq!(
            p.fire,
            vec![
                catch_up_at("2026-04-30T23:57:00Z"),
                catch_up_at("2026-04-30T23:58:00Z"),
                catch_up_at("2026-04-30T23:59:00Z"),
                cron_at("2026-05-01T00:00:00Z"),
            ]
        );
    }

    #[test]
    fn huge_gap_count_saturates_at_the_cap() {
        let p = plan(
            &sched("@every 1s"),
            Some(utc("2026-02-01T00:00:00Z")),
            created(),
            utc("2026-04-01T00:00:00Z"),
            CatchUp::Latest,
            100,
            chrono::Duration::zero(),
        );
        let gap = p.gap.unwrap();
        assert_eq!(gap.count, TICK_COUNT_CAP);
        assert_eq!(gap.first_missed, utc("2026-02-01T00:00:01Z"));
        assert_eq!(
            p.fire,
            vec![
                catch_up_at("2026-03-31T23:59:59Z"),
                cron_at("2026-04-01T00:00:00Z")
            ]
        );
    }

    #[test]
    fn older_ticks_inside_the_grace_window_are_a_gap_not_a_burst() {
        let p = plan(
            &sched("@every 1s"),
            Some(utc("2026-04-01T12:00:00Z")),
            created(),
            utc("2026-04-01T12:00:03.500Z"),
            CatchUp::Latest,
            100,
            grace(),
        );
        assert_eq!(
            p.fire,
            vec![
                catch_up_at("2026-04-01T12:00:02Z"),
                cron_at("2026-04-01T12:00:03Z")
            ]
        );
        assert_eq!(
            p.gap.map(|g| (g.first_missed, g.count)),
            Some((utc("2026-04-01T12:00:01Z"), 2))
        );
    }

    #[test]
    fn on_time_ticks_past_the_limit_count_as_missed() {
        // 2 000 one-second ticks inside a one-hour grace: the newest fires on time, the
        // older ones form the gap.
        let p = plan(
            &sched("@every 1s"),
            Some(utc("2026-04-01T12:00:00Z")),
            created(),
            utc("2026-04-01T12:33:20Z"),
            CatchUp::Latest,
            100,
            chrono::Duration::hours(1),
        );
        let cron_count = p.fire.iter().filter(|f| f.trigger == Trigger::Cron).count();
        assert_eq!(cron_count, ON_TIME_LIMIT);
        assert_eq!(p.fire[1].scheduled, utc("2026-04-01T12:33:20Z"));
        assert_eq!(p.fire[0], catch_up_at("2026-04-01T12:33:19Z"));
        assert_eq!(p.gap.map(|g| g.count), Some(1_999));
    }

    #[test]
    fn last_handled_in_the_future_fires_nothing_and_does_not_panic() {
        let p = plan(
            &sched("0 * * * *"),
            Some(utc("2026-04-01T15:00:00Z")),
            created(),
            utc("2026-04-01T12:30:00Z"),
            CatchUp::All,
            100,
            grace(),
        );
        assert_eq!(p.fire, vec![]);
        assert_eq!(p.gap, None);
        assert_eq!(p.last_schedule, None);
        assert_eq!(p.next, Some(utc("2026-04-01T16:00:00Z")));
    }

    #[test]
    fn negative_grace_counts_as_zero() {
        let p = plan(
            &sched("0 * * * *"),
            Some(utc("2026-04-01T09:00:00Z")),
            created(),
            utc("2026-04-01T10:00:00Z"),
            CatchUp::Skip,
            100,
            chrono::Duration::seconds(-30),
        );
        assert_eq!(p.fire, vec![cron_at("2026-04-01T10:00:00Z")]);
    }

    #[test]
    fn catch_up_serializes_in_camel_case_and_defaults_to_latest() {
        assert_eq!(
            serde_json::to_string(&CatchUp::Latest).unwrap(),
            "\"latest\""
        );
        assert_eq!(serde_json::to_string(&CatchUp::All).unwrap(), "\"all\"");
        assert_eq!(
            serde_json::from_str::<CatchUp>("\"skip\"").unwrap(),
            CatchUp::Skip
        );
        assert_eq!(CatchUp::default(), CatchUp::Latest);
    }

    fn schedule_strategy() -> impl Strategy<Value = Schedule> {
        let exprs = prop::sample::select(vec![
            "* * * * *",
            "*/5 * * * *",
            "0 * * * *",
            "30 2 * * *",
            "30 1 * * *",
            "0 2,14 * * *",
            "*/20 * * * * *",
            "0 0 13 * 5",
            "@every 1s",
            "@every 7m",
            "@every 1h30m",
        ]);
        let zones = prop::sample::select(vec![
            chrono_tz::UTC,
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
        ]);
        (exprs, zones)
            .prop_map(|(e, tz)| Schedule::parse(e, tz, utc("2026-03-01T00:00:07Z")).unwrap())
    }

    /// A base instant, some near DST transitions; a case's instants lie within two days of it.
    fn base() -> impl Strategy<Value = DateTime<Utc>> {
        prop::sample::select(vec![
            "2026-03-07T12:00:00Z",
            "2026-03-28T12:00:00Z",
            "2026-06-15T00:00:00Z",
            "2026-10-24T12:00:00Z",
            "2026-10-31T12:00:00Z",
        ])
        .prop_map(utc)
    }

    fn offset() -> impl Strategy<Value = chrono::Duration> {
        (0i64..2 * 86_400_000).prop_map(chrono::Duration::milliseconds)
    }

    fn catch_up_strategy() -> impl Strategy<Value = CatchUp> {
        prop::sample::select(vec![CatchUp::Latest, CatchUp::All, CatchUp::Skip])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn plan_fires_each_due_tick_at_most_once(
            schedule in schedule_strategy(),
            base in base(),
            last_handled in prop::option::of(offset()),
            created in offset(),
            now in offset(),
            catch_up in catch_up_strategy(),
            max in 0u32..20,
            grace_s in 0i64..600,
        ) {
            let (last_handled, created, now) = (last_handled.map(|o| base + o), base + created, base + now);
            let grace = chrono::Duration::seconds(grace_s);
            let p = plan(&schedule, last_handled, created, now, catch_up, max, grace);
            let lower = last_handled.unwrap_or(created);
            for f in &p.fire {
                prop_assert!(f.scheduled > lower, "fired {} not after {}", f.scheduled, lower);
                prop_assert!(f.scheduled <= now);
            }
            for w in p.fire.windows(2) {
                prop_assert!(w[0].scheduled < w[1].scheduled, "not strictly ascending: {:?}", p.fire);
            }
            if let Some(last) = p.fire.last() {
                prop_assert!(p.last_schedule.is_some_and(|l| l >= last.scheduled));
            }
            if let Some(next) = p.next {
                prop_assert!(next > now);
            }
            if let Some(handled) = p.last_schedule {
                let again = plan(&schedule, Some(handled), created, now, catch_up, max, grace);
                prop_assert_eq!(again.fire, vec![]);
                prop_assert_eq!(again.gap, None);
            }
        }
    }
}
