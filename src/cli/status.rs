//! `status [task] [-A]`: the tasks of a namespace as a table; with a task name, also its
//! conditions and recent runs. Rendering is pure (objects and `now` in, text out).

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::kube::{KubeArgs, connect};
use super::{CliError, ago, relative, table};
use crate::api::{RunPhase, RunWispRun, RunWispTask};

/// Runs shown under a single task, newest first.
pub const RECENT_RUNS: usize = 10;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Show this task in detail: its row, its conditions and its recent runs.
    #[arg(conflicts_with = "all_namespaces")]
    pub task: Option<String>,
    /// Tasks of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub async fn main(args: &StatusArgs) -> Result<ExitCode, CliError> {
    let k = connect(&args.kube).await?;
    let now = Utc::now();
    let (tasks, runs): (Api<RunWispTask>, Api<RunWispRun>) = if args.all_namespaces {
        (Api::all(k.client.clone()), Api::all(k.client.clone()))
    } else {
        (
            Api::namespaced(k.client.clone(), &k.namespace),
            Api::namespaced(k.client.clone(), &k.namespace),
        )
    };
    if let Some(name) = &args.task {
        let task = tasks
            .get_opt(name)
            .await?
            .ok_or_else(|| CliError::NotFound {
                kind: "task",
                name: name.clone(),
                namespace: k.namespace.clone(),
            })?;
        let runs = runs.list(&ListParams::default()).await?.items;
        print!("{}", render_task(&task, &runs, now));
        return Ok(ExitCode::SUCCESS);
    }
    let mut tasks = tasks.list(&ListParams::default()).await?.items;
    if tasks.is_empty() {
        match args.all_namespaces {
            true => eprintln!("No tasks found."),
            false => eprintln!("No tasks found in namespace {}.", k.namespace),
        }
        return Ok(ExitCode::SUCCESS);
    }
    tasks.sort_by_key(|t| (t.namespace(), t.name_any()));
    let runs = runs.list(&ListParams::default()).await?.items;
    print!("{}", render_tasks(&tasks, &runs, now, args.all_namespaces));
    Ok(ExitCode::SUCCESS)
}

pub const TASK_HEADERS: [&str; 6] = [
    "TASK", "SCHEDULE", "NEXT RUN", "LAST RUN", "ACTIVE", "QUEUED",
];

/// The task table; a NAMESPACE column first when listing every namespace.
pub fn render_tasks(
    tasks: &[RunWispTask],
    runs: &[RunWispRun],
    now: DateTime<Utc>,
    with_namespace: bool,
) -> String {
    let mut headers: Vec<&str> = Vec::new();
    if with_namespace {
        headers.push("NAMESPACE");
    }
    headers.extend(TASK_HEADERS);
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut row = Vec::new();
            if with_namespace {
                row.push(t.namespace().unwrap_or_default());
            }
            row.extend(task_row(t, runs, now));
            row
        })
        .collect();
    table(&headers, &rows)
}

/// One task's row (without namespace).
/// ACTIVE and QUEUED are counted from the runs: the task's own counts may be up to
/// `statuswrite::MAX_DEFER` behind a firing.
pub fn task_row(task: &RunWispTask, runs: &[RunWispRun], now: DateTime<Utc>) -> Vec<String> {
    let phases =
        || runs_of(task, runs).map(|r| r.status.as_ref().map(|s| s.phase).unwrap_or_default());
    vec![
        task.name_any(),
        schedule(task),
        next_run(task, runs, now),
        last_run(task, runs, now),
        phases().filter(|p| p.is_active()).count().to_string(),
        phases()
            .filter(|p| *p == RunPhase::Queued)
            .count()
            .to_string(),
    ]
}

fn runs_of<'a>(
    task: &'a RunWispTask,
    runs: &'a [RunWispRun],
) -> impl Iterator<Item = &'a RunWispRun> + 'a {
    runs.iter().filter(move |r| {
        r.spec.task_ref.name == task.name_any() && r.namespace() == task.namespace()
    })
}

/// `30 2 * * * (Europe/Berlin)`; no zone means the operator's default; `manual` without cron.
pub fn schedule(task: &RunWispTask) -> String {
    match (&task.spec.cron, &task.spec.timezone) {
        (None, _) => "manual".into(),
        (Some(cron), Some(zone)) => format!("{cron} ({zone})"),
        (Some(cron), None) => cron.clone(),
    }
}

/// When it fires next, relative to `now`; or why it will not.
pub fn next_run(task: &RunWispTask, runs: &[RunWispRun], now: DateTime<Utc>) -> String {
    if task.spec.cron.is_none() {
        return "-".into();
    }
    if task.spec.suspend {
        return "suspended".into();
    }
    let st = task.status.as_ref();
    let not_ready = st
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "False");
    if not_ready {
        return "not ready (see conditions)".into();
    }
    match st.and_then(|s| s.next_schedule_time) {
        // That tick has its run: the next time is recorded shortly after a firing.
        Some(t) if t < now && runs_of(task, runs).any(|r| r.spec.scheduled_time == Some(t)) => {
            format!("fired {} ago", super::human_duration(now - t))
        }
        // A time in the past means the operator is behind or down: say so, not "5m ago".
        Some(t) if t < now => format!("overdue {}", super::human_duration(now - t)),
        Some(t) => relative(t, now),
        None => "-".into(),
    }
}

/// `success 5m ago`: the last finished run's end reason and how long ago it finished.
pub fn last_run(task: &RunWispTask, runs: &[RunWispRun], now: DateTime<Utc>) -> String {
    let Some(st) = &task.status else {
        return "-".into();
    };
    let Some(reason) = st.last_end_reason else {
        return "-".into();
    };
    let finished = st
        .last_run
        .as_ref()
        .and_then(|name| {
            runs.iter()
                .find(|r| r.name_any() == *name && r.namespace() == task.namespace())
        })
        .and_then(|r| r.status.as_ref()?.completion_time);
    match finished {
        Some(t) => format!("{} {}", reason.as_str(), ago(t, now)),
        None => reason.as_str().to_string(),
    }
}

/// The task's row, then its conditions and its newest runs.
pub fn render_task(task: &RunWispTask, runs: &[RunWispRun], now: DateTime<Utc>) -> String {
    let mut out = table(&TASK_HEADERS, &[task_row(task, runs, now)]);

    out.push_str("\nConditions:\n");
    let conditions = task
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    if conditions.is_empty() {
        out.push_str("  none yet (has the operator seen this task?)\n");
    } else {
        let rows: Vec<Vec<String>> = conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    ago(c.last_transition_time, now),
                    c.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
            &rows,
        ));
    }

    let mut mine: Vec<&RunWispRun> = runs
        .iter()
        .filter(|r| r.spec.task_ref.name == task.name_any() && r.namespace() == task.namespace())
        .collect();
    mine.sort_by_key(|r| std::cmp::Reverse((created(r), r.name_any())));
    out.push_str("\nRecent runs:\n");
    if mine.is_empty() {
        out.push_str("  none\n");
        return out;
    }
    let rows: Vec<Vec<String>> = mine
        .iter()
        .take(RECENT_RUNS)
        .map(|r| run_row(r, now))
        .collect();
    out.push_str(&table(
        &[
            "NAME",
            "TRIGGER",
            "PHASE",
            "END REASON",
            "ATTEMPTS",
            "EXIT",
            "AGE",
        ],
        &rows,
    ));
    if mine.len() > RECENT_RUNS {
        out.push_str(&format!(
            "  ... and {} older (kubectl get rwrun -n {})\n",
            mine.len() - RECENT_RUNS,
            task.namespace().unwrap_or_default()
        ));
    }
    out
}

fn created(r: &RunWispRun) -> Option<DateTime<Utc>> {
    r.creation_timestamp().map(|t| crate::time::from_jiff(t.0))
}

pub fn run_row(r: &RunWispRun, now: DateTime<Utc>) -> Vec<String> {
    let st = r.status.clone().unwrap_or_default();
    let dash = || "-".to_string();
    vec![
        r.name_any(),
        r.spec
            .trigger
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(dash),
        st.phase.as_str().to_string(),
        st.end_reason
            .map(|e| e.as_str().to_string())
            .unwrap_or_else(dash),
        st.attempt_count.to_string(),
        st.attempts
            .last()
            .and_then(|a| a.exit_code)
            .or(st.exit_code)
            .map(|c| c.to_string())
            .unwrap_or_else(dash),
        created(r)
            .map(|t| super::human_duration(now - t))
            .unwrap_or_else(dash),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Condition, RunPhase, RunTrigger, RunWispRunStatus, RunWispTaskStatus};
    use crate::retry::EndReason;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
            .single()
            .expect("t")
    }

    fn mins(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }

    fn task(yaml: &str) -> RunWispTask {
        serde_yaml::from_str(yaml).expect("task yaml")
    }

    fn backup() -> RunWispTask {
        let mut t = task(
            "apiVersion: runwisp.dev/v1alpha1\nkind: RunWispTask\n\
             metadata: {name: backup, namespace: ops}\n\
             spec: {cron: '30 2 * * *', timezone: Europe/Berlin, run: 'true'}\n",
        );
        t.status = Some(RunWispTaskStatus {
            next_schedule_time: Some(now() + mins(90)),
            last_run: Some("backup-1".into()),
            last_end_reason: Some(EndReason::Success),
            active_count: 1,
            queued_count: 2,
            ..Default::default()
        });
        t
    }

    fn run(name: &str, created_ago: i64, status: RunWispRunStatus) -> RunWispRun {
        let mut r: RunWispRun = serde_yaml::from_str(&format!(
            "apiVersion: runwisp.dev/v1alpha1\nkind: RunWispRun\n\
             metadata: {{name: {name}, namespace: ops}}\nspec: {{taskRef: {{name: backup}}}}\n"
        ))
        .expect("run yaml");
        r.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            crate::time::to_jiff(now() - mins(created_ago)),
        ));
        r.spec.trigger = Some(RunTrigger::Cron);
        r.status = Some(status);
        r
    }

    fn done(completed_ago: i64) -> RunWispRunStatus {
        RunWispRunStatus {
            phase: RunPhase::Succeeded,
            end_reason: Some(EndReason::Success),
            exit_code: Some(0),
            attempt_count: 1,
            completion_time: Some(now() - mins(completed_ago)),
            ..Default::default()
        }
    }

    #[test]
    fn a_task_row_shows_schedule_zone_next_and_last_run() {
        let runs = [run("backup-1", 10, done(5))];
        assert_eq!(
            task_row(&backup(), &runs, now()),
            [
                "backup",
                "30 2 * * * (Europe/Berlin)",
                "in 90m",
                "success 5m ago",
                "0",
                "0"
            ]
        );
    }

    #[test]
    fn a_last_run_that_was_pruned_still_shows_its_end_reason() {
        assert_eq!(last_run(&backup(), &[], now()), "success");
    }

    #[test]
    fn manual_suspended_and_broken_tasks_say_so_instead_of_a_time() {
        let mut t = backup();
        t.spec.suspend = true;
        assert_eq!(next_run(&t, &[], now()), "suspended");
        t.spec.suspend = false;
        t.spec.cron = None;
        assert_eq!(
            (schedule(&t), next_run(&t, &[], now())),
            ("manual".into(), "-".into())
        );
        let mut t = backup();
        if let Some(st) = t.status.as_mut() {
            st.conditions.push(Condition {
                type_: "Ready".into(),
                status: "False".into(),
                observed_generation: None,
                last_transition_time: now(),
                reason: "InvalidSpec".into(),
                message: "spec.cron: bad".into(),
            });
        }
        assert_eq!(next_run(&t, &[], now()), "not ready (see conditions)");
    }

    #[test]
    fn a_next_run_in_the_past_is_overdue() {
        let mut t = backup();
        if let Some(st) = t.status.as_mut() {
            st.next_schedule_time = Some(now() - mins(3));
        }
        assert_eq!(next_run(&t, &[], now()), "overdue 3m");
    }

    #[test]
    fn a_next_run_in_the_past_that_has_its_run_just_fired() {
        let mut t = backup();
        let tick = now() - mins(1);
        if let Some(st) = t.status.as_mut() {
            st.next_schedule_time = Some(tick);
        }
        let mut r = run("backup-3", 1, RunWispRunStatus::default());
        r.spec.scheduled_time = Some(tick);
        assert_eq!(next_run(&t, &[r], now()), "fired 60s ago");
    }

    #[test]
    fn active_and_queued_are_counted_from_the_runs() {
        let running = RunWispRunStatus {
            phase: RunPhase::Running,
            ..Default::default()
        };
        let queued = RunWispRunStatus {
            phase: RunPhase::Queued,
            ..Default::default()
        };
        let runs = [
            run("backup-1", 10, done(5)),
            run("backup-2", 3, running),
            run("backup-3", 2, queued.clone()),
            run("backup-4", 1, queued),
        ];
        let row = task_row(&backup(), &runs, now());
        assert_eq!((row[4].as_str(), row[5].as_str()), ("1", "2"));
    }

    #[test]
    fn all_namespaces_adds_a_namespace_column() {
        let out = render_tasks(&[backup()], &[], now(), true);
        assert!(out.starts_with("NAMESPACE   TASK"), "{out}");
        assert!(out.lines().nth(1).unwrap_or_default().starts_with("ops"));
    }

    #[test]
    fn the_detail_lists_conditions_and_runs_newest_first() {
        let mut failed = done(1);
        failed.phase = RunPhase::Failed;
        failed.end_reason = Some(EndReason::Failed);
        failed.exit_code = Some(3);
        let runs = [run("backup-1", 60, done(55)), run("backup-2", 2, failed)];
        let mut t = backup();
        if let Some(st) = t.status.as_mut() {
            st.conditions.push(Condition {
                type_: "Ready".into(),
                status: "True".into(),
                observed_generation: Some(1),
                last_transition_time: now() - mins(60),
                reason: "Scheduled".into(),
                message: "schedule \"30 2 * * *\" in Europe/Berlin".into(),
            });
        }
        let out = render_task(&t, &runs, now());
        let lines: Vec<&str> = out.lines().collect();
        let runs_at = lines
            .iter()
            .position(|l| *l == "Recent runs:")
            .expect("runs section");
        assert!(lines[runs_at + 1].starts_with("NAME"));
        assert!(lines[runs_at + 2].starts_with("backup-2"), "{out}");
        assert!(lines[runs_at + 2].contains("Failed"));
        assert!(lines[runs_at + 2].contains(" 3 "), "{out}");
        assert!(out.contains("Ready   True"), "{out}");
    }
}
