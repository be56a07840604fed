//! `trigger <task> [--wait]`: a person's manual run, created the way the design says a person
//! creates one (a RunWispRun with only `spec.taskRef`), so the operator treats it exactly like
//! `kubectl create` would.

use std::process::ExitCode;

use futures::StreamExt;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use super::CliError;
use super::kube::{KubeArgs, connect};
use crate::api::{RunPhase, RunWispRun, RunWispRunSpec, RunWispRunStatus, RunWispTask, TaskRef};
use crate::retry::EndReason;

#[derive(clap::Args, Debug)]
pub struct TriggerArgs {
    /// The task to run.
    pub task: String,
    /// Follow the run to its end, printing phase changes on stderr, and exit with the exit
    /// code of its last attempt (1 when it ended without one: timeout, crashed, rejected...).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub async fn main(args: &TriggerArgs) -> Result<ExitCode, CliError> {
    let k = connect(&args.kube).await?;
    let tasks: Api<RunWispTask> = Api::namespaced(k.client.clone(), &k.namespace);
    // Checked here so a typo or a disabled task fails at once instead of leaving a Rejected run.
    let task = tasks
        .get_opt(&args.task)
        .await?
        .ok_or_else(|| CliError::NotFound {
            kind: "task",
            name: args.task.clone(),
            namespace: k.namespace.clone(),
        })?;
    if !task.spec.manual_trigger {
        return Err(CliError::ManualTriggerDisabled {
            task: args.task.clone(),
        });
    }
    let runs: Api<RunWispRun> = Api::namespaced(k.client.clone(), &k.namespace);
    let run = runs
        .create(&PostParams::default(), &manual_run(&args.task))
        .await?;
    let name = run.name_any();
    println!("{name}");
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let (finished, shown) = follow(&runs, &name).await?;
    let outcome = outcome(finished.status.as_ref());
    // The last progress line usually says it already.
    if let Some(message) = outcome.message.filter(|m| *m != shown) {
        eprintln!("{name}: {message}");
    }
    Ok(ExitCode::from(outcome.code))
}

/// The RunWispRun a person creates: `generateName: <task>-manual-` and only `spec.taskRef`.
pub fn manual_run(task: &str) -> RunWispRun {
    let mut run = RunWispRun::new(
        "",
        RunWispRunSpec {
            task_ref: TaskRef {
                name: task.to_string(),
            },
            ..Default::default()
        },
    );
    let meta = run.meta_mut();
    meta.name = None;
    meta.generate_name = Some(format!("{task}-manual-"));
    run
}

/// Watches the run until it finishes, printing each new [`progress`] line on stderr.
/// Returns the finished run and the last line printed.
async fn follow(runs: &Api<RunWispRun>, name: &str) -> Result<(RunWispRun, String), CliError> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(runs.clone(), config).default_backoff().boxed();
    let mut shown = String::new();
    let mut seen_since_init = false;
    while let Some(event) = events.next().await {
        let run = match event {
            Ok(watcher::Event::Apply(run) | watcher::Event::InitApply(run)) => run,
            Ok(watcher::Event::Delete(_)) => return Err(CliError::RunDeleted(name.to_string())),
            Ok(watcher::Event::Init) => {
                seen_since_init = false;
                continue;
            }
            // A re-list after a broken watch reports a deletion only by the run's absence.
            Ok(watcher::Event::InitDone) if !seen_since_init => {
                return Err(CliError::RunDeleted(name.to_string()));
            }
            Ok(watcher::Event::InitDone) => continue,
            Err(e) => {
                // The watcher retries with backoff; say so rather than look stuck.
                eprintln!("warning: watching run {name}: {e}; retrying");
                continue;
            }
        };
        seen_since_init = true;
        let line = progress(run.status.as_ref());
        if shown != line {
            eprintln!("{name}: {line}");
            shown = line;
        }
        if run.status.as_ref().is_some_and(|s| s.phase.is_finished()) {
            return Ok((run, shown));
        }
    }
    Err(CliError::WatchEnded(name.to_string()))
}

/// One line describing where the run is, e.g. `Running (attempt 1)`,
/// `Retrying (attempt 1 ended: failed, exit 3)`, `Failed: timeout`.
pub fn progress(status: Option<&RunWispRunStatus>) -> String {
    let Some(st) = status else {
        return RunPhase::Pending.as_str().to_string();
    };
    let phase = st.phase.as_str();
    let with_message = |s: String| match &st.message {
        Some(m) if !m.is_empty() => format!("{s}: {m}"),
        _ => s,
    };
    match st.phase {
        RunPhase::Pending | RunPhase::Queued => with_message(phase.to_string()),
        RunPhase::Running | RunPhase::Stopping => {
            format!("{phase} (attempt {})", st.attempt_count.max(1))
        }
        RunPhase::Retrying => match st.attempts.last() {
            Some(a) => format!(
                "{phase} (attempt {} ended: {})",
                a.number,
                reason_and_exit(a.end_reason, a.exit_code)
            ),
            None => phase.to_string(),
        },
        RunPhase::Succeeded
        | RunPhase::Failed
        | RunPhase::Skipped
        | RunPhase::Stopped
        | RunPhase::Rejected => with_message(format!(
            "{phase} ({})",
            reason_and_exit(st.end_reason, last_exit_code(st))
        )),
    }
}

fn reason_and_exit(reason: Option<EndReason>, exit: Option<i32>) -> String {
    let reason = reason.map(|r| r.as_str()).unwrap_or("no end reason");
    match exit {
        Some(code) => format!("{reason}, exit {code}"),
        None => reason.to_string(),
    }
}

/// The last attempt's exit code (the run's own field mirrors it; either may lag the other).
fn last_exit_code(st: &RunWispRunStatus) -> Option<i32> {
    st.attempts
        .last()
        .and_then(|a| a.exit_code)
        .or(st.exit_code)
}

/// How `trigger --wait` exits.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    /// Said on stderr when the run did not succeed.
    pub message: Option<String>,
}

/// 0 on success; the last attempt's exit code when the script failed with one (codes that
/// do not fit a process exit status become 1); 1 for every other end (timeout, crashed,
/// skipped, stopped, rejected, ...), whose reason is the message.
pub fn outcome(status: Option<&RunWispRunStatus>) -> Outcome {
    let Some(st) = status else {
        return Outcome {
            code: 1,
            message: Some("the run has no status".into()),
        };
    };
    if st.phase == RunPhase::Succeeded {
        return Outcome {
            code: 0,
            message: None,
        };
    }
    let exit = last_exit_code(st);
    let code = match (st.end_reason, exit) {
        (Some(EndReason::Failed), Some(c)) => u8::try_from(c).ok().filter(|c| *c != 0).unwrap_or(1),
        _ => 1,
    };
    Outcome {
        code,
        message: Some(progress(Some(st))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Attempt;

    fn finished(phase: RunPhase, end: EndReason, exit: Option<i32>) -> RunWispRunStatus {
        RunWispRunStatus {
            phase,
            end_reason: Some(end),
            exit_code: exit,
            attempt_count: 1,
            attempts: vec![Attempt {
                number: 1,
                pod_name: "p".into(),
                exit_code: exit,
                end_reason: Some(end),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_manual_run_has_only_a_task_ref_and_a_generated_name() {
        let json = serde_json::to_value(manual_run("backup")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "runwisp.dev/v1alpha1",
                "kind": "RunWispRun",
                "metadata": {"generateName": "backup-manual-"},
                "spec": {"taskRef": {"name": "backup"}},
            })
        );
    }

    #[test]
    fn success_exits_0_quietly() {
        let st = finished(RunPhase::Succeeded, EndReason::Success, Some(0));
        assert_eq!(
            outcome(Some(&st)),
            Outcome {
                code: 0,
                message: None
            }
        );
    }

    #[test]
    fn a_failed_script_exits_with_its_own_code() {
        let st = finished(RunPhase::Failed, EndReason::Failed, Some(3));
        let o = outcome(Some(&st));
        assert_eq!(o.code, 3);
        assert_eq!(o.message.as_deref(), Some("Failed (failed, exit 3)"));
    }

    #[test]
    fn the_last_attempts_code_counts_after_retries() {
        let mut st = finished(RunPhase::Failed, EndReason::Failed, Some(3));
        st.attempts.push(Attempt {
            number: 2,
            pod_name: "p2".into(),
            exit_code: Some(4),
            end_reason: Some(EndReason::Failed),
            ..Default::default()
        });
        assert_eq!(outcome(Some(&st)).code, 4);
    }

    #[test]
    fn ends_without_an_exit_code_exit_1_with_the_reason() {
        for (phase, end) in [
            (RunPhase::Failed, EndReason::Timeout),
            (RunPhase::Failed, EndReason::Crashed),
            (RunPhase::Failed, EndReason::StartFailed),
            (RunPhase::Skipped, EndReason::Skipped),
            (RunPhase::Stopped, EndReason::Stopped),
        ] {
            let o = outcome(Some(&finished(phase, end, None)));
            assert_eq!(o.code, 1, "{end:?}");
            assert!(
                o.message
                    .as_deref()
                    .unwrap_or_default()
                    .contains(end.as_str())
            );
        }
    }

    #[test]
    fn a_timeout_with_a_kill_code_still_exits_1() {
        let o = outcome(Some(&finished(
            RunPhase::Failed,
            EndReason::Timeout,
            Some(137),
        )));
        assert_eq!(o.code, 1);
    }

    #[test]
    fn exit_codes_that_do_not_fit_a_process_status_become_1() {
        for c in [256, -1] {
            let o = outcome(Some(&finished(
                RunPhase::Failed,
                EndReason::Failed,
                Some(c),
            )));
            assert_eq!(o.code, 1, "{c}");
        }
    }

    #[test]
    fn a_rejected_run_says_why() {
        let st = RunWispRunStatus {
            phase: RunPhase::Rejected,
            message: Some("manual runs are disabled".into()),
            ..Default::default()
        };
        let o = outcome(Some(&st));
        assert_eq!(o.code, 1);
        assert_eq!(
            o.message.as_deref(),
            Some("Rejected (no end reason): manual runs are disabled")
        );
    }

    #[test]
    fn progress_names_the_attempt() {
        let running = RunWispRunStatus {
            phase: RunPhase::Running,
            attempt_count: 2,
            ..Default::default()
        };
        assert_eq!(progress(Some(&running)), "Running (attempt 2)");
        let mut retrying = finished(RunPhase::Retrying, EndReason::Failed, Some(3));
        retrying.end_reason = None;
        assert_eq!(
            progress(Some(&retrying)),
            "Retrying (attempt 1 ended: failed, exit 3)"
        );
        assert_eq!(progress(None), "Pending");
    }
}
