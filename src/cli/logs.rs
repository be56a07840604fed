//! `logs <task|run> [--attempt N] [-f]`: an attempt's output, from its Pod while the Pod
//! exists, else from the tail the operator stored in the run's status (Pods go away when
//! runs are pruned or deleted, or a node dies; the stored tail outlives them).

use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use kube::{ResourceExt, api::ObjectMeta};

use super::CliError;
use super::kube::{KubeArgs, connect};
use crate::api::{RunWispRun, RunWispTask};
use crate::podspec::MAIN_CONTAINER;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// A task (meaning its newest run) or a run.
    pub target: String,
    /// Which attempt, counting from 1 (default: the latest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// Keep streaming until the attempt ends (waiting for its Pod to start if need be).
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

const POLL: Duration = Duration::from_millis(500);

pub async fn main(args: &LogsArgs) -> Result<ExitCode, CliError> {
    let k = connect(&args.kube).await?;
    let tasks: Api<RunWispTask> = Api::namespaced(k.client.clone(), &k.namespace);
    let runs: Api<RunWispRun> = Api::namespaced(k.client.clone(), &k.namespace);
    let pods: Api<Pod> = Api::namespaced(k.client.clone(), &k.namespace);

    let mut run = if tasks.get_opt(&args.target).await?.is_some() {
        let all = runs.list(&ListParams::default()).await?.items;
        newest_run(&all, &args.target)
            .cloned()
            .ok_or_else(|| CliError::NoLogs(format!("task {} has no runs yet", args.target)))?
    } else {
        runs.get_opt(&args.target)
            .await?
            .ok_or_else(|| CliError::NotFound {
                kind: "task or run",
                name: args.target.clone(),
                namespace: k.namespace.clone(),
            })?
    };
    let run_name = run.name_any();

    // A queued or pending run has no attempt yet; following means waiting for one.
    let attempt = loop {
        match pick_attempt(&run, args.attempt)? {
            Some(a) => break a,
            None if args.follow => {
                tokio::time::sleep(POLL).await;
                run = runs
                    .get_opt(&run_name)
                    .await?
                    .ok_or_else(|| CliError::RunDeleted(run_name.clone()))?;
            }
            None => {
                return Err(CliError::NoLogs(format!(
                    "run {run_name} has not started an attempt yet (use -f to wait for it)"
                )));
            }
        }
    };

    let mut said_waiting = false;
    loop {
        let Some(pod) = pods.get_opt(&attempt.pod_name).await? else {
            return print_stored_tail(&run_name, &attempt);
        };
        match waiting_reason(&pod) {
            None => break,
            Some(reason) if args.follow => {
                if !said_waiting {
                    eprintln!("waiting for pod {} to start ({reason})", attempt.pod_name);
                    said_waiting = true;
                }
                tokio::time::sleep(POLL).await;
            }
            Some(reason) => {
                return Err(CliError::NoLogs(format!(
                    "pod {} of run {run_name} has not started yet ({reason}); use -f to wait",
                    attempt.pod_name
                )));
            }
        }
    }

    let params = LogParams {
        container: Some(MAIN_CONTAINER.to_string()),
        follow: args.follow,
        ..LogParams::default()
    };
    let stream = match pods.log_stream(&attempt.pod_name, &params).await {
        Ok(s) => s,
        // Deleted between the check and the request.
        Err(kube::Error::Api(s)) if s.is_not_found() => {
            return print_stored_tail(&run_name, &attempt);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = futures::io::AllowStdIo::new(std::io::stdout());
    futures::io::copy(stream, &mut out)
        .await
        .map_err(|source| CliError::Write {
            path: "stdout".into(),
            source,
        })?;
    Ok(ExitCode::SUCCESS)
}

fn print_stored_tail(run: &str, attempt: &Chosen) -> Result<ExitCode, CliError> {
    let Some(tail) = &attempt.log_tail else {
        return Err(CliError::NoLogs(format!(
            "pod {} of run {run} is gone and the run stored no output for attempt {}",
            attempt.pod_name, attempt.number
        )));
    };
    eprintln!(
        "note: pod {} is gone; showing the tail of attempt {}'s output stored in run {run} \
         (status.attempts[{}].logTail)",
        attempt.pod_name,
        attempt.number,
        attempt.number - 1
    );
    print!("{}", with_final_newline(tail));
    Ok(ExitCode::SUCCESS)
}

fn with_final_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// The task's newest run: latest creation time, then name (same-second runs of one task
/// have names that sort by their tick).
pub fn newest_run<'r>(runs: &'r [RunWispRun], task: &str) -> Option<&'r RunWispRun> {
    runs.iter()
        .filter(|r| r.spec.task_ref.name == task)
        .max_by_key(|r| (created(&r.metadata), r.name_any()))
}

fn created(meta: &ObjectMeta) -> Option<i64> {
    meta.creation_timestamp.as_ref().map(|t| t.0.as_second())
}

/// The attempt whose output to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub number: u32,
    pub pod_name: String,
    pub log_tail: Option<String>,
}

/// `requested` (1-based) or the latest attempt. `Ok(None)`: none yet, but the run may still
/// start one; an error when it never will or `requested` does not exist.
pub fn pick_attempt(run: &RunWispRun, requested: Option<u32>) -> Result<Option<Chosen>, CliError> {
    let name = run.name_any();
    let st = run.status.clone().unwrap_or_default();
    let chosen = match requested {
        Some(n) => st.attempts.iter().find(|a| a.number == n).or_else(|| {
            // Numbers are 1.. in order; fall back to the position if a status lacks them.
            st.attempts.get((n as usize).saturating_sub(1))
        }),
        None => st.attempts.last(),
    };
    match chosen {
        Some(a) => Ok(Some(Chosen {
            number: a.number.max(1),
            pod_name: a.pod_name.clone(),
            log_tail: a.log_tail.clone(),
        })),
        None if st.phase.is_finished() && st.attempts.is_empty() => Err(CliError::NoLogs(format!(
            "run {name} ended without running anything ({}{})",
            st.phase.as_str(),
            st.end_reason
                .map(|e| format!(": {}", e.as_str()))
                .unwrap_or_default()
        ))),
        None => match requested {
            Some(n) if st.phase.is_finished() || !st.attempts.is_empty() => {
                Err(CliError::NoSuchAttempt {
                    run: name,
                    attempt: n,
                    count: st.attempts.len(),
                })
            }
            _ => Ok(None),
        },
    }
}

/// Why the attempt's container has no output to stream yet (`None`: it has started).
pub fn waiting_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref();
    let main = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == MAIN_CONTAINER));
    let state = main.and_then(|c| c.state.as_ref());
    if state.is_some_and(|s| s.running.is_some() || s.terminated.is_some()) {
        return None;
    }
    // A pod that ended without its container ever running (evicted, deadline) has nothing
    // to wait for; the log request will say what there is.
    if matches!(
        status.and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    ) {
        return None;
    }
    Some(
        state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
            .or_else(|| status.and_then(|s| s.phase.clone()))
            .unwrap_or_else(|| "Pending".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Attempt, RunPhase, RunWispRunStatus};
    use crate::retry::EndReason;

    fn run(name: &str, task: &str, created: i64, status: Option<RunWispRunStatus>) -> RunWispRun {
        let mut r: RunWispRun = serde_json::from_value(serde_json::json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispRun",
            "metadata": {"name": name},
            "spec": {"taskRef": {"name": task}},
        }))
        .expect("run");
        r.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::from_second(created).expect("ts"),
        ));
        r.status = status;
        r
    }

    fn attempts(n: u32) -> RunWispRunStatus {
        RunWispRunStatus {
            phase: RunPhase::Running,
            attempt_count: n,
            attempts: (1..=n)
                .map(|i| Attempt {
                    number: i,
                    pod_name: format!("r-a{i}"),
                    log_tail: Some(format!("tail {i}")),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_task_resolves_to_its_newest_run() {
        let runs = [
            run("a-1", "a", 100, None),
            run("a-3", "a", 300, None),
            run("b-9", "b", 900, None),
            run("a-2", "a", 200, None),
        ];
        assert_eq!(
            newest_run(&runs, "a").map(|r| r.name_any()),
            Some("a-3".into())
        );
        assert!(newest_run(&runs, "c").is_none());
    }

    #[test]
    fn the_latest_attempt_is_the_default() {
        let r = run("r", "t", 0, Some(attempts(3)));
        let a = pick_attempt(&r, None).expect("ok").expect("some");
        assert_eq!((a.number, a.pod_name.as_str()), (3, "r-a3"));
    }

    #[test]
    fn an_attempt_can_be_chosen_by_number() {
        let r = run("r", "t", 0, Some(attempts(3)));
        let a = pick_attempt(&r, Some(1)).expect("ok").expect("some");
        assert_eq!(a.log_tail.as_deref(), Some("tail 1"));
    }

    #[test]
    fn a_missing_attempt_number_is_an_error() {
        let r = run("r", "t", 0, Some(attempts(2)));
        assert!(matches!(
            pick_attempt(&r, Some(5)),
            Err(CliError::NoSuchAttempt { count: 2, .. })
        ));
    }

    #[test]
    fn a_queued_run_has_no_attempt_yet() {
        let st = RunWispRunStatus {
            phase: RunPhase::Queued,
            ..Default::default()
        };
        let r = run("r", "t", 0, Some(st));
        assert_eq!(pick_attempt(&r, None).expect("ok"), None);
        assert_eq!(
            pick_attempt(&run("r", "t", 0, None), None).expect("ok"),
            None
        );
    }

    #[test]
    fn a_skipped_run_has_no_output_ever() {
        let st = RunWispRunStatus {
            phase: RunPhase::Skipped,
            end_reason: Some(EndReason::Skipped),
            ..Default::default()
        };
        let err = pick_attempt(&run("r", "t", 0, Some(st)), None).expect_err("no attempts");
        assert_eq!(err.label(), "no_logs");
        assert!(err.to_string().contains("Skipped: skipped"), "{err}");
    }

    #[test]
    fn a_creating_container_is_waited_for_and_a_running_one_is_not() {
        let pod = |status: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
                .expect("pod")
        };
        let creating = pod(
            serde_json::json!({"phase": "Pending", "containerStatuses": [
            {"name": "main", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
             "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(
            waiting_reason(&creating).as_deref(),
            Some("ContainerCreating")
        );
        let running = pod(
            serde_json::json!({"phase": "Running", "containerStatuses": [
            {"name": "main", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
             "state": {"running": {}}}]}),
        );
        assert_eq!(waiting_reason(&running), None);
        assert_eq!(
            waiting_reason(&pod(serde_json::json!({"phase": "Failed"}))),
            None
        );
        assert_eq!(
            waiting_reason(&pod(serde_json::json!({}))).as_deref(),
            Some("Pending")
        );
    }

    #[test]
    fn a_stored_tail_prints_as_whole_lines() {
        assert_eq!(with_final_newline("a\nb"), "a\nb\n");
        assert_eq!(with_final_newline("a\n"), "a\n");
        assert_eq!(with_final_newline(""), "");
    }
}
