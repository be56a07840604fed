//! When a task fires: cron expressions, aliases and `@every`, in an IANA time zone.
//!
//! Cron matching is `croner`'s (standard semantics: 5 fields or 6 with leading seconds,
//! weekday 0–7 with Sunday as 0 and 7, day-of-month OR day-of-week when both are
//! restricted). Daylight-saving transitions follow the RunWisp model; see [`Schedule`].

use std::collections::VecDeque;

use chrono::{DateTime, LocalResult, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::duration::{DurationError, format_duration, parse_duration};

/// `ticks_in` stops counting here, so a tiny interval over a long outage stays cheap.
pub const TICK_COUNT_CAP: u64 = 1_000_000;

/// A schedule with no occurrence this far ahead of its anchor is treated as never firing
/// (`0 0 30 2 *`): a typo, not a plan.
const NEVER_FIRES_HORIZON_DAYS: i64 = 5 * 366;

/// Shortest `@every` interval.
const MIN_EVERY_SECS: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "empty schedule; expected a cron expression, an alias like @daily, or @every <duration>"
    )]
    Empty,
    #[error(
        "@reboot is not supported: a cluster has no boot for a task to follow; trigger a manual run instead"
    )]
    Reboot,
    #[error(
        "unknown alias {0:?}; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, \
         @hourly or @every <duration>"
    )]
    UnknownAlias(String),
    #[error("expected 5 cron fields (or 6 with leading seconds), found {0}")]
    FieldCount(usize),
    #[error("invalid cron expression: {0}")]
    InvalidCron(String),
    #[error("invalid @every interval: {0}")]
    InvalidEvery(DurationError),
    #[error("@every interval {0} is shorter than the 1s minimum")]
    EveryTooShort(String),
    #[error("@every interval {0} is not a whole number of seconds")]
    EveryNotWholeSeconds(String),
    #[error("schedule never fires (no occurrence within 5 years)")]
    NeverFires,
    #[error("unknown time zone {0:?}; expected an IANA name such as Europe/Berlin or UTC")]
    UnknownTimezone(String),
}

impl ScheduleError {
    /// Stable snake_case name for metrics and condition reasons.
    pub fn label(&self) -> &'static str {
        match self {
            ScheduleError::Empty => "empty",
            ScheduleError::Reboot => "reboot_unsupported",
            ScheduleError::UnknownAlias(_) => "unknown_alias",
            ScheduleError::FieldCount(_) => "field_count",
            ScheduleError::InvalidCron(_) => "invalid_cron",
            ScheduleError::InvalidEvery(_) => "invalid_every",
            ScheduleError::EveryTooShort(_) => "every_too_short",
            ScheduleError::EveryNotWholeSeconds(_) => "every_not_whole_seconds",
            ScheduleError::NeverFires => "never_fires",
            ScheduleError::UnknownTimezone(_) => "unknown_timezone",
        }
    }
}

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`), case-sensitively as the database spells it.
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimezone(name.to_string()))
}

/// The latest ticks of a span and how many there were in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickSpan {
    /// The latest `limit` ticks of the span, ascending.
    pub ticks: Vec<DateTime<Utc>>,
    /// How many ticks the span held, saturating at [`TICK_COUNT_CAP`].
    pub total: u64,
}

/// When a task fires.
///
/// Every tick is a whole second.
///
/// Daylight-saving transitions (RunWisp model):
/// - *Wall-clock jobs* — no `*` or `/` in the minute and hour fields, e.g. `30 2 * * *`,
///   `0 2,14 * * 1-5`, `@daily`: a local time that is repeated when clocks go back fires
///   once, at its first occurrence; a local time skipped when clocks go forward fires once,
///   at the first instant after the jump (03:00 for a 02:30 job in Europe/Berlin). Several
///   skipped times of one jump collapse into that one firing.
/// - *Interval jobs* — `*` or a step in the minute or hour field, e.g. `0 * * * *`,
///   `*/15 * * * *`, `@hourly`: they follow real time, firing for every real hour (or
///   minute) that matches. When clocks go back the repeated hour fires twice (it is two
///   real hours); when clocks go forward the skipped hour's matches do not fire.
///
/// `croner` alone treats only single-valued second/minute/hour patterns as wall-clock jobs,
/// so `0 2,14 * * *` would lose its 02:00 firing on the spring-forward day and `30 1,13 * * *`
/// would fire twice at 01:30 in the autumn; wall-clock jobs are therefore matched against
/// the naive local clock here and mapped to instants by the rule above.
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    expr: String,
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    /// `@every`: anchor + k·period, k ≥ 1.
    Every {
        anchor: DateTime<Utc>,
        period_secs: i64,
    },
    // Boxed: a parsed pattern is several hundred bytes, `Every` a few words.
    Cron {
        cron: Box<Cron>,
        tz: Tz,
        wall_clock: bool,
    },
}

/// Compact: the parsed pattern's bit fields would swamp logs and proptest reports.
impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Every {
                anchor,
                period_secs,
            } => f
                .debug_struct("Schedule")
                .field("expr", &self.expr)
                .field("anchor", anchor)
                .field("period_secs", period_secs)
                .finish(),
            Kind::Cron { tz, wall_clock, .. } => f
                .debug_struct("Schedule")
                .field("expr", &self.expr)
                .field("tz", tz)
                .field("wall_clock", wall_clock)
                .finish(),
        }
    }
}

impl Schedule {
    /// Parses a task's `cron` string. `tz` applies to cron expressions and aliases; `anchor`
    /// (the task's creation time) anchors `@every` ticks and the never-fires check.
    pub fn parse(expr: &str, tz: Tz, anchor: DateTime<Utc>) -> Result<Schedule, ScheduleError> {
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let cron_expr = if let Some(alias) = trimmed.strip_prefix('@') {
            let (name, arg) = match alias.split_once(char::is_whitespace) {
                Some((name, arg)) => (name.to_ascii_lowercase(), arg.trim()),
                None => (alias.to_ascii_lowercase(), ""),
            };
            if name == "every" {
                let kind = parse_every(arg, anchor)?;
                return Ok(Schedule {
                    expr: trimmed.to_string(),
                    kind,
                });
            }
            let expansion = match name.as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                "reboot" => return Err(ScheduleError::Reboot),
                _ => return Err(ScheduleError::UnknownAlias(trimmed.to_string())),
            };
            if !arg.is_empty() {
                return Err(ScheduleError::UnknownAlias(trimmed.to_string()));
            }
            expansion.to_string()
        } else {
            trimmed.to_string()
        };

        let fields: Vec<&str> = cron_expr.split_whitespace().collect();
        let (minute, hour) = match fields.len() {
            5 => (fields[0], fields[1]),
            6 => (fields[1], fields[2]),
            n => return Err(ScheduleError::FieldCount(n)),
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .alternative_weekdays(false)
            .sloppy_ranges(false)
            .build()
            .parse(&cron_expr)
            .map_err(|e| ScheduleError::InvalidCron(e.to_string()))?;
        let is_interval_field = |f: &str| f.contains('*') || f.contains('/');
        let wall_clock = !is_interval_field(minute) && !is_interval_field(hour);

        let schedule = Schedule {
            expr: trimmed.to_string(),
            kind: Kind::Cron {
                cron: Box::new(cron),
                tz,
                wall_clock,
            },
        };
        let horizon = anchor
            .checked_add_signed(chrono::Duration::days(NEVER_FIRES_HORIZON_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        match schedule.next_after(anchor) {
            Some(next) if next <= horizon => Ok(schedule),
            _ => Err(ScheduleError::NeverFires),
        }
    }

    /// The expression as written (trimmed).
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether ticks can fall on a non-zero second (6-field cron with seconds, or an `@every`
    /// whose anchor or period is not whole minutes); run names then need seconds.
    pub fn has_seconds(&self) -> bool {
        match &self.kind {
            Kind::Every {
                anchor,
                period_secs,
            } => anchor.timestamp().rem_euclid(60) != 0 || period_secs % 60 != 0,
            Kind::Cron { cron, .. } => {
                (1..60).any(|s| cron.pattern.second_match(s).unwrap_or(false))
            }
        }
    }

    /// The first tick strictly after `t`, or `None` past the end of representable time.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.ticks_after(t).next()
    }

    /// The latest `limit` ticks in `(after, until]`, ascending, and how many there were in
    /// all (saturating at [`TICK_COUNT_CAP`]). Arithmetic for `@every`; for cron, the walk
    /// stops at the cap.
    pub fn ticks_in(&self, after: DateTime<Utc>, until: DateTime<Utc>, limit: usize) -> TickSpan {
        self.ticks_in_capped(after, until, limit, TICK_COUNT_CAP)
    }

    fn ticks_in_capped(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
        cap: u64,
    ) -> TickSpan {
        let empty = TickSpan {
            ticks: Vec::new(),
            total: 0,
        };
        if until <= after {
            return empty;
        }
        let limit = limit.min(usize::try_from(cap).unwrap_or(usize::MAX));
        if let Kind::Every {
            anchor,
            period_secs,
        } = &self.kind
        {
            let a = anchor.timestamp();
            let p = *period_secs;
            // Ticks are whole seconds, so comparing against floored bounds is exact.
            let k_lo = first_k_after(a, p, after.timestamp());
            let k_hi = (until.timestamp() - a).div_euclid(p);
            if k_hi < k_lo {
                return empty;
            }
            let count = k_hi - k_lo + 1;
            let total = u64::try_from(count).unwrap_or(u64::MAX).min(cap);
            let first_listed = (k_hi - i64::try_from(limit).unwrap_or(i64::MAX) + 1).max(k_lo);
            let ticks = (first_listed..=k_hi)
                .filter_map(|k| DateTime::from_timestamp(a.checked_add(k.checked_mul(p)?)?, 0))
                .collect();
            return TickSpan { ticks, total };
        }

        let mut ring = VecDeque::new();
        let mut total = 0u64;
        let mut last_counted = after;
        for tick in self.ticks_after(after) {
            if tick > until {
                break;
            }
            total += 1;
            last_counted = tick;
            push_ring(&mut ring, tick, limit);
            if total >= cap {
                break;
            }
        }
        if total < cap || limit == 0 {
            return TickSpan {
                ticks: ring.into(),
                total,
            };
        }
        // Counting stopped early, so the ring holds the earliest ticks. Find the latest by
        // walking a window back from `until`, sized from the density seen so far and
        // doubled until it holds `limit` ticks.
        let density_span = (last_counted - after).num_seconds().max(1);
        let mut window_secs =
            (density_span.saturating_mul(i64::try_from(limit).unwrap_or(i64::MAX)) / cap as i64)
                .saturating_mul(2)
                .max(1);
        loop {
            let start = until
                .checked_sub_signed(chrono::Duration::seconds(window_secs))
                .unwrap_or(after)
                .max(after);
            ring.clear();
            for tick in self.ticks_after(start) {
                if tick > until {
                    break;
                }
                push_ring(&mut ring, tick, limit);
            }
            if ring.len() >= limit || start == after {
                return TickSpan {
                    ticks: ring.into(),
                    total,
                };
            }
            window_secs = window_secs.saturating_mul(2);
        }
    }

    /// Ticks strictly after `t`, ascending.
    fn ticks_after(&self, t: DateTime<Utc>) -> TicksAfter<'_> {
        // Ticks are whole seconds: a tick is after `t` iff it is after `t` floored.
        let t = t.trunc_subsecs(0);
        match &self.kind {
            Kind::Every {
                anchor,
                period_secs,
            } => TicksAfter::Every {
                anchor: anchor.timestamp(),
                period: *period_secs,
                k: first_k_after(anchor.timestamp(), *period_secs, t.timestamp()),
            },
            Kind::Cron {
                cron,
                tz,
                wall_clock: false,
            } => TicksAfter::Interval {
                cron,
                cursor: t.with_timezone(tz),
            },
            Kind::Cron {
                cron,
                tz,
                wall_clock: true,
            } => TicksAfter::WallClock {
                cron,
                tz: *tz,
                cursor: t.with_timezone(tz).naive_local(),
                last: t,
            },
        }
    }
}

fn push_ring(ring: &mut VecDeque<DateTime<Utc>>, tick: DateTime<Utc>, limit: usize) {
    if limit == 0 {
        return;
    }
    if ring.len() == limit {
        ring.pop_front();
    }
    ring.push_back(tick);
}

/// The smallest k ≥ 1 with `anchor + k·period > t` (all in whole seconds).
fn first_k_after(anchor: i64, period: i64, t: i64) -> i64 {
    if t < anchor {
        1
    } else {
        (t - anchor) / period + 1
    }
}

fn parse_every(arg: &str, anchor: DateTime<Utc>) -> Result<Kind, ScheduleError> {
    let d = parse_duration(arg).map_err(ScheduleError::InvalidEvery)?;
    if d.subsec_nanos() != 0 {
        return Err(ScheduleError::EveryNotWholeSeconds(format_duration(d)));
    }
    // At most 10 years (checked by parse_duration), so it fits an i64.
    let period_secs = i64::try_from(d.as_secs())
        .map_err(|_| ScheduleError::InvalidEvery(DurationError::TooLarge))?;
    if period_secs < MIN_EVERY_SECS {
        return Err(ScheduleError::EveryTooShort(format_duration(d)));
    }
    // Creation timestamps have whole seconds; truncating keeps every tick on one.
    Ok(Kind::Every {
        anchor: anchor.trunc_subsecs(0),
        period_secs,
    })
}

enum TicksAfter<'a> {
    Every {
        anchor: i64,
        period: i64,
        k: i64,
    },
    /// croner's own zone-aware walk: real-time semantics.
    Interval {
        cron: &'a Cron,
        cursor: DateTime<Tz>,
    },
    /// Matches on the naive local clock, each match mapped to an instant by
    /// [`wall_clock_instant`]. That map never decreases, so skipping results not after
    /// `last` yields each instant once, in order.
    WallClock {
        cron: &'a Cron,
        tz: Tz,
        cursor: NaiveDateTime,
        last: DateTime<Utc>,
    },
}

impl Iterator for TicksAfter<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        match self {
            TicksAfter::Every { anchor, period, k } => {
                let secs = anchor.checked_add(k.checked_mul(*period)?)?;
                *k = k.checked_add(1)?;
                DateTime::from_timestamp(secs, 0)
            }
            TicksAfter::Interval { cron, cursor } => {
                // croner gives up (an error) past year 5000, which ends the iteration.
                let found = cron.find_next_occurrence(cursor, false).ok()?;
                *cursor = found;
                Some(found.to_utc())
            }
            TicksAfter::WallClock {
                cron,
                tz,
                cursor,
                last,
            } => loop {
                let found = cron.find_next_occurrence(cursor, false).ok()?;
                *cursor = found;
                let instant = wall_clock_instant(*tz, found)?;
                // Skipped: the first half of a repeated hour seen from its second half, or
                // a second skipped time collapsing onto the same post-gap instant.
                if instant > *last {
                    *last = instant;
                    return Some(instant);
                }
            },
        }
    }
}

/// The instant a wall-clock job scheduled at local time `local` fires: the time itself, its
/// first occurrence if repeated, or the first instant after the jump if skipped.
fn wall_clock_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => Some(dt.to_utc()),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.to_utc()),
        LocalResult::None => first_instant_reaching(tz, local),
    }
}

/// The first whole-second instant whose local time is at or past `local`, searched within
/// a day of it (UTC offsets stay within ±26 h, so the answer lies in that window).
fn first_instant_reaching(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let reaches = |secs: i64| {
        DateTime::from_timestamp(secs, 0).map(|t| t.with_timezone(&tz).naive_local() >= local)
    };
    let center = local.and_utc().timestamp();
    let (mut lo, mut hi) = (center - 26 * 3600, center + 26 * 3600);
    if reaches(lo)? || !reaches(hi)? {
        return None;
    }
    // Invariant: reaches(lo) is false, reaches(hi) is true.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn anchor() -> DateTime<Utc> {
        utc("2026-01-01T00:00:00Z")
    }

    fn sched(expr: &str) -> Schedule {
        Schedule::parse(expr, chrono_tz::UTC, anchor()).unwrap()
    }

    fn sched_in(expr: &str, tz: Tz) -> Schedule {
        Schedule::parse(expr, tz, anchor()).unwrap()
    }

    fn all_ticks(s: &Schedule, after: &str, until: &str) -> Vec<DateTime<Utc>> {
        s.ticks_in(utc(after), utc(until), 10_000).ticks
    }

    fn utcs(v: &[&str]) -> Vec<DateTime<Utc>> {
        v.iter().map(|s| utc(s)).collect()
    }

    // --- cron syntax and semantics ---

    #[test]
    fn five_fields_fire_at_second_zero() {
        let s = sched("* * * * *");
        assert_eq!(
            s.next_after(utc("2026-04-01T12:00:30Z")),
            Some(utc("2026-04-01T12:01:00Z"))
        );
        assert!(!s.has_seconds());
    }

    #[test]
    fn six_fields_have_a_leading_seconds_field() {
        let s = sched("*/10 * * * * *");
        assert_eq!(
            s.next_after(utc("2026-04-01T12:00:05Z")),
            Some(utc("2026-04-01T12:00:10Z"))
        );
        assert!(s.has_seconds());
    }

    #[test]
    fn six_fields_with_seconds_zero_have_no_seconds() {
        assert!(!sched("0 */5 * * * *").has_seconds());
    }

    #[test]
    fn seven_fields_are_rejected() {
        assert_eq!(
            Schedule::parse("0 0 0 * * * 2027", chrono_tz::UTC, anchor()),
            Err(ScheduleError::FieldCount(7))
        );
    }

    #[test]
    fn four_fields_are_rejected() {
        assert_eq!(
            Schedule::parse("0 0 * *", chrono_tz::UTC, anchor()),
            Err(ScheduleError::FieldCount(4))
        );
    }

    #[test]
    fn weekday_seven_is_sunday() {
        // 2026-04-01 is a Wednesday; the next Sunday is 2026-04-05.
        let s = sched("0 0 * * 7");
        assert_eq!(
            s.next_after(utc("2026-04-01T00:00:00Z")),
            Some(utc("2026-04-05T00:00:00Z"))
        );
    }

    #[test]
    fn weekday_zero_is_sunday() {
        let s = sched("0 0 * * 0");
        assert_eq!(
            s.next_after(utc("2026-04-01T00:00:00Z")),
            Some(utc("2026-04-05T00:00:00Z"))
        );
    }

    #[test]
    fn weekday_one_is_monday() {
        let s = sched("0 0 * * 1");
        assert_eq!(
            s.next_after(utc("2026-04-01T00:00:00Z")),
            Some(utc("2026-04-06T00:00:00Z"))
        );
    }

    #[test]
    fn weekday_names_are_accepted() {
        assert_eq!(
            sched("0 0 * * sun").next_after(utc("2026-04-01T00:00:00Z")),
            Some(utc("2026-04-05T00:00:00Z"))
        );
    }

    #[test]
    fn restricted_day_of_month_and_weekday_fire_on_either() {
        // April 2026: Fridays are the 3rd, 10th, 17th, 24th; the 13th is a Monday.
        let s = sched("0 0 13 * 5");
        assert_eq!(
            all_ticks(&s, "2026-04-01T00:00:00Z", "2026-04-30T00:00:00Z"),
            utcs(&[
                "2026-04-03T00:00:00Z",
                "2026-04-10T00:00:00Z",
                "2026-04-13T00:00:00Z",
                "2026-04-17T00:00:00Z",
                "2026-04-24T00:00:00Z",
            ])
        );
    }

    #[test]
    fn restricted_day_of_month_alone_fires_only_on_that_day() {
        let s = sched("0 0 13 * *");
        assert_eq!(
            all_ticks(&s, "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"),
            utcs(&["2026-04-13T00:00:00Z", "2026-05-13T00:00:00Z"])
        );
    }

    #[test]
    fn sloppy_step_ranges_are_rejected() {
        assert!(matches!(
            Schedule::parse("0/10 * * * *", chrono_tz::UTC, anchor()),
            Err(ScheduleError::InvalidCron(_))
        ));
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(matches!(
            Schedule::parse("0 24 * * *", chrono_tz::UTC, anchor()),
            Err(ScheduleError::InvalidCron(_))
        ));
    }

    #[test]
    fn empty_expression_is_rejected() {
        assert_eq!(
            Schedule::parse("  ", chrono_tz::UTC, anchor()),
            Err(ScheduleError::Empty)
        );
    }

    #[test]
    fn reboot_is_rejected() {
        assert_eq!(
            Schedule::parse("@reboot", chrono_tz::UTC, anchor()),
            Err(ScheduleError::Reboot)
        );
    }

    #[test]
    fn unknown_alias_is_rejected_by_name() {
        assert_eq!(
            Schedule::parse("@fortnightly", chrono_tz::UTC, anchor()),
            Err(ScheduleError::UnknownAlias("@fortnightly".into()))
        );
    }

    #[test]
    fn alias_with_trailing_words_is_rejected() {
        assert!(matches!(
            Schedule::parse("@daily 5", chrono_tz::UTC, anchor()),
            Err(ScheduleError::UnknownAlias(_))
        ));
    }

    #[test]
    fn february_thirtieth_never_fires() {
        assert_eq!(
            Schedule::parse("0 0 30 2 *", chrono_tz::UTC, anchor()),
            Err(ScheduleError::NeverFires)
        );
    }

    #[test]
    fn april_thirty_first_never_fires() {
        assert_eq!(
            Schedule::parse("0 0 31 4 *", chrono_tz::UTC, anchor()),
            Err(ScheduleError::NeverFires)
        );
    }

    #[test]
    fn leap_day_is_a_valid_schedule() {
        assert_eq!(
            sched("0 0 29 2 *").next_after(anchor()),
            Some(utc("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn aliases_expand_to_their_standard_expressions() {
        // From Wednesday 2026-04-01 10:20.
        let from = utc("2026-04-01T10:20:00Z");
        let cases = [
            ("@yearly", "2027-01-01T00:00:00Z"),
            ("@annually", "2027-01-01T00:00:00Z"),
            ("@monthly", "2026-05-01T00:00:00Z"),
            ("@weekly", "2026-04-05T00:00:00Z"),
            ("@daily", "2026-04-02T00:00:00Z"),
            ("@midnight", "2026-04-02T00:00:00Z"),
            ("@hourly", "2026-04-01T11:00:00Z"),
            ("@HOURLY", "2026-04-01T11:00:00Z"),
        ];
        for (expr, next) in cases {
            assert_eq!(sched(expr).next_after(from), Some(utc(next)), "{expr}");
        }
    }

    #[test]
    fn cron_runs_in_the_schedule_time_zone() {
        // 09:00 in Berlin (CEST, UTC+2) is 07:00Z.
        let s = sched_in("0 9 * * *", Berlin);
        assert_eq!(
            s.next_after(utc("2026-06-01T00:00:00Z")),
            Some(utc("2026-06-01T07:00:00Z"))
        );
    }

    #[test]
    fn next_after_is_strictly_after() {
        let s = sched("0 * * * *");
        assert_eq!(
            s.next_after(utc("2026-04-01T10:00:00Z")),
            Some(utc("2026-04-01T11:00:00Z"))
        );
    }

    #[test]
    fn next_after_ignores_subseconds_of_the_tick_itself() {
        let s = sched("0 * * * *");
        let t = utc("2026-04-01T10:00:00.250Z");
        assert_eq!(s.next_after(t), Some(utc("2026-04-01T11:00:00Z")));
        assert_eq!(
            s.next_after(utc("2026-04-01T09:59:59.750Z")),
            Some(utc("2026-04-01T10:00:00Z"))
        );
    }

    // --- @every ---

    #[test]
    fn every_ticks_are_anchored_at_creation() {
        let created = utc("2026-04-01T10:07:00Z");
        let s = Schedule::parse("@every 1h30m", chrono_tz::UTC, created).unwrap();
        assert_eq!(s.next_after(created), Some(utc("2026-04-01T11:37:00Z")));
        assert_eq!(
            s.next_after(utc("2026-04-01T11:37:00Z")),
            Some(utc("2026-04-01T13:07:00Z"))
        );
    }

    #[test]
    fn every_first_tick_is_one_period_after_the_anchor_even_from_before_it() {
        let created = utc("2026-04-01T10:00:00Z");
        let s = Schedule::parse("@every 10m", chrono_tz::UTC, created).unwrap();
        assert_eq!(
            s.next_after(utc("2020-01-01T00:00:00Z")),
            Some(utc("2026-04-01T10:10:00Z"))
        );
    }

    #[test]
    fn every_ignores_the_time_zone() {
        let created = utc("2026-03-29T00:30:00Z");
        let s = Schedule::parse("@every 1h", Berlin, created).unwrap();
        assert_eq!(
            s.ticks_in(created, utc("2026-03-29T03:30:00Z"), 10).ticks,
            utcs(&[
                "2026-03-29T01:30:00Z",
                "2026-03-29T02:30:00Z",
                "2026-03-29T03:30:00Z"
            ])
        );
    }

    #[test]
    fn every_anchor_subseconds_are_dropped() {
        let s =
            Schedule::parse("@every 1m", chrono_tz::UTC, utc("2026-04-01T10:00:00.900Z")).unwrap();
        assert_eq!(
            s.next_after(utc("2026-04-01T10:00:00Z")),
            Some(utc("2026-04-01T10:01:00Z"))
        );
    }

    #[test]
    fn every_has_seconds_when_period_or_anchor_is_off_the_minute() {
        let on_minute = utc("2026-04-01T10:00:00Z");
        let off_minute = utc("2026-04-01T10:00:07Z");
        let has = |e: &str, a| Schedule::parse(e, chrono_tz::UTC, a).unwrap().has_seconds();
        assert!(!has("@every 5m", on_minute));
        assert!(has("@every 90s", on_minute));
        assert!(has("@every 5m", off_minute));
    }

    #[test]
    fn every_below_one_second_is_rejected() {
        assert_eq!(
            Schedule::parse("@every 500ms", chrono_tz::UTC, anchor()),
            Err(ScheduleError::EveryNotWholeSeconds("500ms".into()))
        );
        assert_eq!(
            Schedule::parse("@every 0s", chrono_tz::UTC, anchor()),
            Err(ScheduleError::EveryTooShort("0s".into()))
        );
    }

    #[test]
    fn every_with_fractional_seconds_is_rejected() {
        assert_eq!(
            Schedule::parse("@every 1500ms", chrono_tz::UTC, anchor()),
            Err(ScheduleError::EveryNotWholeSeconds("1s500ms".into()))
        );
    }

    #[test]
    fn every_duration_follows_the_duration_grammar_so_no_spaces() {
        assert_eq!(
            Schedule::parse("@every 1h 30m", chrono_tz::UTC, anchor()),
            Err(ScheduleError::InvalidEvery(DurationError::Malformed))
        );
    }

    #[test]
    fn every_with_a_bad_duration_reports_the_duration_error() {
        assert_eq!(
            Schedule::parse("@every 5x", chrono_tz::UTC, anchor()),
            Err(ScheduleError::InvalidEvery(DurationError::UnknownUnit {
                unit: "x".into()
            }))
        );
        assert_eq!(
            Schedule::parse("@every", chrono_tz::UTC, anchor()),
            Err(ScheduleError::InvalidEvery(DurationError::Empty))
        );
    }

    #[test]
    fn every_ticks_in_counts_arithmetically_over_a_month_of_seconds() {
        let s = Schedule::parse("@every 1s", chrono_tz::UTC, anchor()).unwrap();
        let span = s.ticks_in(utc("2026-02-01T00:00:00Z"), utc("2026-02-11T00:00:00Z"), 3);
        assert_eq!(span.total, 10 * 86_400);
        assert_eq!(
            span.ticks,
            utcs(&[
                "2026-02-10T23:59:58Z",
                "2026-02-10T23:59:59Z",
                "2026-02-11T00:00:00Z"
            ])
        );
    }

    #[test]
    fn every_total_saturates_at_the_cap() {
        let s = Schedule::parse("@every 1s", chrono_tz::UTC, anchor()).unwrap();
        let span = s.ticks_in(utc("2026-02-01T00:00:00Z"), utc("2026-03-31T00:00:00Z"), 1);
        assert_eq!(span.total, TICK_COUNT_CAP);
        assert_eq!(span.ticks, utcs(&["2026-03-31T00:00:00Z"]));
    }

    // --- ticks_in ---

    #[test]
    fn ticks_in_excludes_after_and_includes_until() {
        let s = sched("0 * * * *");
        assert_eq!(
            all_ticks(&s, "2026-04-01T10:00:00Z", "2026-04-01T12:00:00Z"),
            utcs(&["2026-04-01T11:00:00Z", "2026-04-01T12:00:00Z"])
        );
    }

    #[test]
    fn ticks_in_keeps_the_latest_ticks_and_counts_all() {
        let s = sched("0 * * * *");
        let span = s.ticks_in(utc("2026-04-01T00:00:00Z"), utc("2026-04-01T10:00:00Z"), 2);
        assert_eq!(span.total, 10);
        assert_eq!(
            span.ticks,
            utcs(&["2026-04-01T09:00:00Z", "2026-04-01T10:00:00Z"])
        );
    }

    #[test]
    fn ticks_in_with_limit_zero_only_counts() {
        let span = sched("0 * * * *").ticks_in(
            utc("2026-04-01T00:00:00Z"),
            utc("2026-04-01T10:00:00Z"),
            0,
        );
        assert_eq!(
            span,
            TickSpan {
                ticks: vec![],
                total: 10
            }
        );
    }

    #[test]
    fn ticks_in_an_empty_or_inverted_range_is_empty() {
        let s = sched("* * * * *");
        let t = utc("2026-04-01T00:00:00Z");
        assert_eq!(
            s.ticks_in(t, t, 5),
            TickSpan {
                ticks: vec![],
                total: 0
            }
        );
        assert_eq!(s.ticks_in(t, t - chrono::Duration::hours(1), 5).total, 0);
    }

    #[test]
    fn per_minute_cron_over_thirty_days_counts_every_tick() {
        let s = sched("* * * * *");
        let span = s.ticks_in(utc("2026-04-01T00:00:00Z"), utc("2026-05-01T00:00:00Z"), 1);
        assert_eq!(span.total, 30 * 1_440);
        assert_eq!(span.ticks, utcs(&["2026-05-01T00:00:00Z"]));
    }

    #[test]
    fn capped_cron_count_still_returns_the_latest_ticks() {
        let s = sched("* * * * *");
        let span = s.ticks_in_capped(
            utc("2026-04-01T00:00:00Z"),
            utc("2026-05-01T00:00:00Z"),
            3,
            100,
        );
        assert_eq!(span.total, 100);
        assert_eq!(
            span.ticks,
            utcs(&[
                "2026-04-30T23:58:00Z",
                "2026-04-30T23:59:00Z",
                "2026-05-01T00:00:00Z"
            ])
        );
    }

    // --- time zones ---

    #[test]
    fn known_timezone_parses() {
        assert_eq!(parse_timezone("Europe/Berlin"), Ok(Berlin));
        assert_eq!(parse_timezone("UTC"), Ok(chrono_tz::UTC));
    }

    #[test]
    fn unknown_timezone_is_named_in_the_error() {
        let e = parse_timezone("Mars/Olympus_Mons").unwrap_err();
        assert_eq!(
            e,
            ScheduleError::UnknownTimezone("Mars/Olympus_Mons".into())
        );
        assert!(e.to_string().contains("Mars/Olympus_Mons"));
    }

    // --- daylight saving ---

    #[test]
    fn berlin_spring_forward_skipped_time_fires_once_at_three() {
        // 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist; fire at 03:00 CEST = 01:00Z.
        let s = sched_in("30 2 * * *", Berlin);
        assert_eq!(
            all_ticks(&s, "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z"),
            utcs(&[
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z"
            ])
        );
    }

    #[test]
    fn berlin_fall_back_repeated_time_fires_once() {
        // 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens at 00:30Z and 01:30Z; fire at the first.
        let s = sched_in("30 2 * * *", Berlin);
        assert_eq!(
            all_ticks(&s, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
            utcs(&["2026-10-25T00:30:00Z"])
        );
    }

    #[test]
    fn new_york_spring_forward_skipped_time_fires_once_at_three() {
        // 2026-03-08 02:00 EST -> 03:00 EDT: fire at 03:00 EDT = 07:00Z.
        let s = sched_in("30 2 * * *", New_York);
        assert_eq!(
            all_ticks(&s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
            utcs(&["2026-03-08T07:00:00Z"])
        );
    }

    #[test]
    fn new_york_fall_back_repeated_time_fires_once() {
        // 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 EDT = 05:30Z, 01:30 EST = 06:30Z.
        let s = sched_in("30 1 * * *", New_York);
        assert_eq!(
            all_ticks(&s, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            utcs(&["2026-11-01T05:30:00Z"])
        );
    }

    #[test]
    fn fixed_job_does_not_fire_again_from_inside_the_repeated_hour() {
        // At 01:10 EST (06:10Z) the 01:30 job already ran at 01:30 EDT; next is tomorrow.
        let s = sched_in("30 1 * * *", New_York);
        assert_eq!(
            s.next_after(utc("2026-11-01T06:10:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
    }

    #[test]
    fn listed_hours_are_wall_clock_times_across_fall_back() {
        let s = sched_in("30 1,13 * * *", New_York);
        assert_eq!(
            all_ticks(&s, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            utcs(&["2026-11-01T05:30:00Z", "2026-11-01T18:30:00Z"])
        );
    }

    #[test]
    fn listed_hours_are_wall_clock_times_across_spring_forward() {
        // 02:00 Berlin does not exist on 2026-03-29: fire at 03:00 CEST (01:00Z), then 14:00 (12:00Z).
        let s = sched_in("0 2,14 * * *", Berlin);
        assert_eq!(
            all_ticks(&s, "2026-03-28T23:00:00Z", "2026-03-29T23:00:00Z"),
            utcs(&["2026-03-29T01:00:00Z", "2026-03-29T12:00:00Z"])
        );
    }

    #[test]
    fn several_skipped_times_collapse_into_one_firing() {
        // 02:00:00, 02:00:30, 02:30:00, 02:30:30 (6 fields) all fall in Berlin's gap.
        let s = sched_in("0,30 0,30 2 * * *", Berlin);
        let ticks = all_ticks(&s, "2026-03-28T23:00:00Z", "2026-03-29T23:00:00Z");
        assert_eq!(ticks, utcs(&["2026-03-29T01:00:00Z"]));
    }

    #[test]
    fn croner_alone_drops_a_listed_hour_in_the_gap() {
        // Canary for the wall-clock workaround: if croner starts treating listed hours as
        // fixed times, the workaround may be removable.
        let cron = CronParser::builder().build().parse("0 2,14 * * *").unwrap();
        let from = utc("2026-03-28T23:00:00Z").with_timezone(&Berlin);
        let next = cron.find_next_occurrence(&from, false).unwrap();
        assert_eq!(next.to_utc(), utc("2026-03-29T12:00:00Z"));
    }

    /// Interval jobs follow real time: the repeated hour is two real hours, both fire.
    #[test]
    fn hourly_job_fires_every_real_hour_across_fall_back() {
        let s = sched_in("0 * * * *", New_York);
        assert_eq!(
            all_ticks(&s, "2026-11-01T03:30:00Z", "2026-11-01T08:00:00Z"),
            utcs(&[
                "2026-11-01T04:00:00Z", // 00:00 EDT
                "2026-11-01T05:00:00Z", // 01:00 EDT
                "2026-11-01T06:00:00Z", // 01:00 EST
                "2026-11-01T07:00:00Z", // 02:00 EST
                "2026-11-01T08:00:00Z",
            ])
        );
    }

    #[test]
    fn hourly_job_fires_every_real_hour_across_spring_forward() {
        // Berlin 2026-03-29: 01:00 CET = 00:00Z, then 03:00 CEST = 01:00Z.
        let s = sched_in("0 * * * *", Berlin);
        assert_eq!(
            all_ticks(&s, "2026-03-28T23:30:00Z", "2026-03-29T02:00:00Z"),
            utcs(&[
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ])
        );
    }

    #[test]
    fn quarter_hour_job_skips_the_missing_hour() {
        // New York 2026-03-08: 01:45 EST = 06:45Z, then 03:00 EDT = 07:00Z.
        let s = sched_in("*/15 * * * *", New_York);
        assert_eq!(
            all_ticks(&s, "2026-03-08T06:40:00Z", "2026-03-08T07:15:00Z"),
            utcs(&[
                "2026-03-08T06:45:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T07:15:00Z"
            ])
        );
    }

    #[test]
    fn daily_job_keeps_local_time_across_a_transition() {
        let s = sched_in("@daily", New_York);
        // Midnight EST is 05:00Z; after 2026-03-08 02:00 it is EDT, midnight = 04:00Z.
        assert_eq!(
            all_ticks(&s, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
            utcs(&[
                "2026-03-07T05:00:00Z",
                "2026-03-08T05:00:00Z",
                "2026-03-09T04:00:00Z"
            ])
        );
    }

    #[test]
    fn error_labels_are_snake_case_and_distinct() {
        let errors = [
            ScheduleError::Empty,
            ScheduleError::Reboot,
            ScheduleError::UnknownAlias(String::new()),
            ScheduleError::FieldCount(0),
            ScheduleError::InvalidCron(String::new()),
            ScheduleError::InvalidEvery(DurationError::Empty),
            ScheduleError::EveryTooShort(String::new()),
            ScheduleError::EveryNotWholeSeconds(String::new()),
            ScheduleError::NeverFires,
            ScheduleError::UnknownTimezone(String::new()),
        ];
        let labels: std::collections::BTreeSet<_> = errors.iter().map(|e| e.label()).collect();
        assert_eq!(labels.len(), errors.len());
        for l in labels {
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
        }
    }

    fn dst_schedule() -> impl proptest::strategy::Strategy<Value = Schedule> {
        use proptest::prelude::*;
        let exprs = prop::sample::select(vec![
            "30 2 * * *",
            "30 1 * * *",
            "0 2,14 * * *",
            "0,30 0,30 2 * * *",
            "0 * * * *",
            "*/15 * * * *",
            "*/20 * * * * *",
            "@every 7m",
        ]);
        let zones = prop::sample::select(vec![chrono_tz::UTC, Berlin, New_York]);
        (exprs, zones).prop_map(|(e, tz)| sched_in(e, tz))
    }

    proptest::proptest! {
        /// Around DST transitions, `ticks_in` lists exactly what repeated `next_after` walks
        /// through, and the capped path's latest ticks are the walk's last ones.
        #[test]
        fn ticks_in_agrees_with_repeated_next_after(
            schedule in dst_schedule(),
            base in proptest::sample::select(vec!["2026-03-07T18:00:00Z", "2026-03-28T18:00:00Z", "2026-10-24T18:00:00Z", "2026-10-31T18:00:00Z"]),
            start_ms in 0i64..86_400_000,
            len_ms in 0i64..86_400_000,
        ) {
            let after = utc(base) + chrono::Duration::milliseconds(start_ms);
            let until = after + chrono::Duration::milliseconds(len_ms);
            let mut walked = Vec::new();
            let mut t = after;
            while let Some(next) = schedule.next_after(t) {
                if next > until {
                    break;
                }
                proptest::prop_assert!(next > t);
                walked.push(next);
                t = next;
            }
            let span = schedule.ticks_in(after, until, usize::MAX);
            proptest::prop_assert_eq!(span.total, walked.len() as u64);
            proptest::prop_assert_eq!(&span.ticks, &walked);
            if walked.len() >= 20 {
                let capped = schedule.ticks_in_capped(after, until, 3, 20);
                proptest::prop_assert_eq!(capped.total, 20);
                proptest::prop_assert_eq!(&capped.ticks[..], &walked[walked.len() - 3..]);
            }
        }
    }
}
