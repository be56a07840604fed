//! A task's spec checked and parsed once: the definition every decision works from.
//! Invalid specs produce every problem at once, so one status message lists them all.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::api::{OnOverlap, RunWispTaskSpec};
use crate::config::{Config, DEFAULT_GRACEFUL_STOP, DEFAULT_RETRY_DELAY};
use crate::duration::parse_duration;
use crate::firing::CatchUp;
use crate::retry::Backoff;
use crate::schedule::{Schedule, parse_timezone};

/// Longest timeout an attempt Pod can carry (`activeDeadlineSeconds` is an int64 of seconds;
/// anything past a year is a typo, not a plan).
const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);
/// Linux's MAX_ARG_STRLEN (32 pages), including the terminating NUL.
const MAX_SCRIPT_BYTES: usize = 128 * 1024;
/// `terminationGracePeriodSeconds` above an hour would hold a node slot for no good reason.
const MAX_GRACEFUL_STOP: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct TaskDef {
    pub schedule: Option<Schedule>,
    pub timezone: Tz,
    pub suspend: bool,
    pub on_overlap: OnOverlap,
    pub max_concurrent: u32,
    pub max_queued: u32,
    pub timeout: Option<Duration>,
    pub graceful_stop: Duration,
    pub retry_attempts: u32,
    pub retry_delay: Duration,
    pub retry_backoff: Backoff,
    pub keep_runs: Option<u32>,
    pub keep_for: Option<Duration>,
    pub catch_up: CatchUp,
    pub max_catch_up_runs: u32,
    pub manual_trigger: bool,
}

/// One problem with a spec, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spec.{}: {}", self.field, self.message)
    }
}

/// Joins problems into one line for a condition message or an Event note.
pub fn describe(problems: &[SpecProblem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn duration_field(
    problems: &mut Vec<SpecProblem>,
    field: &'static str,
    value: Option<&str>,
    max: Duration,
) -> Option<Duration> {
    let raw = value?;
    match parse_duration(raw) {
        Ok(d) if d > max => {
            problems.push(SpecProblem {
                field,
                message: format!(
                    "{raw:?} is longer than the maximum {}",
                    crate::duration::format_duration(max)
                ),
            });
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(SpecProblem {
                field,
                message: format!("{raw:?}: {e}"),
            });
            None
        }
    }
}

/// Checks a spec; `created` anchors `@every` schedules.
pub fn validate(
    spec: &RunWispTaskSpec,
    created: DateTime<Utc>,
    cfg: &Config,
) -> Result<TaskDef, Vec<SpecProblem>> {
    let mut problems = Vec::new();

    let timezone = match spec.timezone.as_deref() {
        None => cfg.default_timezone,
        Some(name) => match parse_timezone(name) {
            Ok(tz) => tz,
            Err(e) => {
                problems.push(SpecProblem {
                    field: "timezone",
                    message: e.to_string(),
                });
                cfg.default_timezone
            }
        },
    };
    let schedule = match spec.cron.as_deref() {
        None => None,
        Some(expr) => match Schedule::parse(expr, timezone, created) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(SpecProblem {
                    field: "cron",
                    message: format!("{expr:?}: {e}"),
                });
                None
            }
        },
    };
    let timeout = duration_field(
        &mut problems,
        "timeout",
        spec.timeout.as_deref(),
        MAX_TIMEOUT,
    );
    if timeout.is_some_and(|t| t < Duration::from_secs(1)) {
        problems.push(SpecProblem {
            field: "timeout",
            message: "must be at least 1s (Pods count activeDeadlineSeconds in whole seconds)"
                .into(),
        });
    }
    let graceful_stop = duration_field(
        &mut problems,
        "gracefulStop",
        spec.graceful_stop.as_deref(),
        MAX_GRACEFUL_STOP,
    )
    .unwrap_or(DEFAULT_GRACEFUL_STOP);
    let retry_delay = duration_field(
        &mut problems,
        "retryDelay",
        spec.retry_delay.as_deref(),
        crate::retry::MAX_RETRY_WAIT,
    )
    .unwrap_or(DEFAULT_RETRY_DELAY);
    let keep_for = duration_field(
        &mut problems,
        "keepFor",
        spec.keep_for.as_deref(),
        Duration::from_secs(10 * 366 * 24 * 3600),
    );
    // The script is one argv string: Linux refuses a single argument of 128 KiB or more
    // (MAX_ARG_STRLEN), and the schema counts characters, not bytes.
    if spec.run.len() >= MAX_SCRIPT_BYTES {
        problems.push(SpecProblem {
            field: "run",
            message: format!(
                "the script is {} bytes; Linux limits one argument to {} bytes (put a long script in a ConfigMap and run that file)",
                spec.run.len(),
                MAX_SCRIPT_BYTES - 1
            ),
        });
    }
    if spec.run.trim().is_empty() {
        problems.push(SpecProblem {
            field: "run",
            message: "the script is empty".into(),
        });
    }
    if spec.max_concurrent == 0 || spec.max_concurrent > 1024 {
        problems.push(SpecProblem {
            field: "maxConcurrent",
            message: format!("{} is outside 1..=1024", spec.max_concurrent),
        });
    }
    if spec.retry_attempts > 100 {
        problems.push(SpecProblem {
            field: "retryAttempts",
            message: format!("{} is above the cap of 100", spec.retry_attempts),
        });
    }
    if let Some(pt) = &spec.pod_template {
        if let Err(e) = crate::podspec::check_template(pt) {
            problems.push(SpecProblem {
                field: "podTemplate",
                message: e,
            });
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(TaskDef {
        schedule,
        timezone,
        suspend: spec.suspend,
        on_overlap: spec.on_overlap,
        max_concurrent: spec.max_concurrent.clamp(1, 1024),
        max_queued: spec.max_queued,
        timeout,
        graceful_stop,
        retry_attempts: spec.retry_attempts.min(100),
        retry_delay,
        retry_backoff: spec.retry_backoff,
        keep_runs: spec.keep_runs,
        keep_for,
        catch_up: spec.catch_up,
        max_catch_up_runs: spec.max_catch_up_runs,
        manual_trigger: spec.manual_trigger,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(yaml: &str) -> Result<TaskDef, Vec<SpecProblem>> {
        let spec: RunWispTaskSpec = serde_yaml::from_str(yaml).expect("spec");
        let created = Utc
            .with_ymd_and_hms(2026, 11, 27, 17, 0, 0)
            .single()
            .expect("time");
        validate(&spec, created, &Config::default())
    }

    #[test]
    fn an_unknown_zone_is_a_problem_of_the_timezone_field() {
        let problems = check("cron: '* * * * *'\ntimezone: Mars/Olympus_Mons\nrun: 'true'")
            .expect_err("invalid");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "timezone");
        assert!(problems[0].message.contains("Mars/Olympus_Mons"));
    }

    #[test]
    fn a_date_that_never_comes_is_a_problem_of_the_cron_field() {
        let problems = check("cron: '0 0 30 2 *'\nrun: 'true'").expect_err("invalid");
        assert_eq!(problems[0].field, "cron");
    }
}
