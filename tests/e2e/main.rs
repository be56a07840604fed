//! End-to-end behaviour on a real cluster (kube-apiserver, etcd, scheduler, kubelet, containerd).
//! Run through `./test.sh` (or `e2e/with-bed.sh cargo test --features e2e --test e2e`).

mod cli;
mod harness;
mod notify;
mod receiver;
mod reliability;

use std::time::Duration;

use harness::Bed;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams};
use runwisp_operator::api::{RunPhase, RunTrigger};
use runwisp_operator::retry::EndReason;

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_manual_run_succeeds_and_keeps_its_output() {
    let bed = Bed::new("manual-success").await;
    bed.task("hello", "run: echo hello from runwisp\n").await;
    bed.trigger("hello", "hello-manual-1").await;
    let run = bed.wait_run_finished("hello-manual-1", MIN).await;
    let st = run.status.expect("status");
    assert_eq!(
        (st.phase, st.end_reason, st.exit_code),
        (RunPhase::Succeeded, Some(EndReason::Success), Some(0))
    );
    assert_eq!(run.spec.trigger, Some(RunTrigger::Manual));
    assert_eq!(st.attempts.len(), 1);
    assert!(
        st.attempts[0]
            .log_tail
            .as_deref()
            .unwrap_or_default()
            .contains("hello from runwisp"),
        "{:?}",
        st.attempts[0]
    );
    let pod = bed
        .pods()
        .get(&st.attempts[0].pod_name)
        .await
        .expect("attempt pod");
    assert_eq!(pod.owner_references()[0].name, "hello-manual-1");
}

#[tokio::test]
async fn a_cron_task_fires_runs_named_after_their_ticks() {
    let bed = Bed::new("cron-fires").await;
    bed.task("tick", "cron: '*/3 * * * * *'\nrun: 'true'\n")
        .await;
    let runs = bed
        .wait_for("two succeeded cron runs", MIN, || async {
            let runs = bed.runs_of("tick").await;
            let ok: Vec<_> = runs
                .into_iter()
                .filter(|r| {
                    r.status
                        .as_ref()
                        .is_some_and(|s| s.phase == RunPhase::Succeeded)
                })
                .collect();
            (ok.len() >= 2).then_some(ok)
        })
        .await;
    for r in &runs {
        let t = r.spec.scheduled_time.expect("scheduled time");
        assert_eq!(r.spec.trigger, Some(RunTrigger::Cron));
        assert_eq!(
            r.name_any(),
            runwisp_operator::names::run_name("tick", t, true)
        );
        assert_eq!(chrono::Timelike::second(&t) % 3, 0);
    }
    let task = bed.tasks().get("tick").await.expect("task");
    let st = task.status.expect("task status");
    assert!(
        st.next_schedule_time.is_some() && st.last_successful_time.is_some(),
        "{st:?}"
    );
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
}

#[tokio::test]
async fn a_failing_run_retries_after_its_delay_and_ends_failed_with_its_exit_code() {
    let bed = Bed::new("retry-fail").await;
    bed.task(
        "flaky",
        "run: 'echo boom >&2; exit 3'\nretryAttempts: 1\nretryDelay: 4s\n",
    )
    .await;
    bed.trigger("flaky", "flaky-1").await;
    let run = bed.wait_run_finished("flaky-1", 2 * MIN).await;
    let st = run.status.expect("status");
    assert_eq!(
        (st.phase, st.end_reason, st.exit_code),
        (RunPhase::Failed, Some(EndReason::Failed), Some(3))
    );
    assert_eq!(st.attempts.len(), 2);
    let first_end = st.attempts[0].finish_time.expect("attempt 1 end");
    let second_start = st.attempts[1].start_time.expect("attempt 2 start");
    assert!(
        second_start - first_end >= chrono::Duration::seconds(4),
        "retry came {:?} after the failure",
        second_start - first_end
    );
    assert!(
        st.attempts
            .iter()
            .all(|a| a.exit_code == Some(3) && a.end_reason == Some(EndReason::Failed))
    );
    assert!(
        st.attempts[1]
            .log_tail
            .as_deref()
            .unwrap_or_default()
            .contains("boom")
    );
    let events = bed.task_events("flaky").await;
    assert!(
        events.iter().any(|e| e.starts_with("RetryScheduled")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("RunFailed")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_timeout_ends_the_attempt_as_timeout_through_the_kubelet() {
    let bed = Bed::new("timeout").await;
    bed.task("slow", "run: sleep 120\ntimeout: 3s\ngracefulStop: 1s\n")
        .await;
    bed.trigger("slow", "slow-1").await;
    let run = bed.wait_run_finished("slow-1", 2 * MIN).await;
    let st = run.status.expect("status");
    assert_eq!(
        (st.phase, st.end_reason),
        (RunPhase::Failed, Some(EndReason::Timeout))
    );
    let pod = bed.pods().get(&st.attempts[0].pod_name).await.expect("pod");
    assert_eq!(
        pod.status.and_then(|s| s.reason).as_deref(),
        Some("DeadlineExceeded")
    );
}

#[tokio::test]
async fn skip_records_skipped_runs_while_the_task_is_busy() {
    let bed = Bed::new("overlap-skip").await;
    bed.task(
        "busy",
        "cron: '*/2 * * * * *'\nonOverlap: skip\nrun: sleep 7\ngracefulStop: 1s\n",
    )
    .await;
    let runs = bed
        .wait_for("a skipped run", MIN, || async {
            let runs = bed.runs_of("busy").await;
            runs.iter()
                .any(|r| {
                    r.status
                        .as_ref()
                        .is_some_and(|s| s.phase == RunPhase::Skipped)
                })
                .then_some(runs)
        })
        .await;
    let skipped = runs
        .iter()
        .find(|r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.phase == RunPhase::Skipped)
        })
        .expect("skipped");
    let st = skipped.status.as_ref().expect("status");
    assert_eq!(st.end_reason, Some(EndReason::Skipped));
    assert!(st.attempts.is_empty(), "a skipped run never starts a pod");
    let active = runs
        .iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_active()))
        .count();
    assert!(active <= 1, "maxConcurrent 1 but {active} active");
}

#[tokio::test]
async fn queue_runs_overlapping_runs_one_after_another_in_fifo_order() {
    let bed = Bed::new("overlap-queue").await;
    bed.task("serial", "run: sleep 2\n").await;
    for i in 1..=3 {
        bed.trigger("serial", &format!("serial-{i}")).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let queued = bed.wait_run_phase("serial-3", RunPhase::Queued, MIN).await;
    assert!(queued.status.expect("status").attempts.is_empty());
    let mut starts = Vec::new();
    for i in 1..=3 {
        let run = bed.wait_run_finished(&format!("serial-{i}"), 2 * MIN).await;
        let st = run.status.expect("status");
        assert_eq!(st.phase, RunPhase::Succeeded);
        starts.push((
            st.attempts[0].start_time.expect("start"),
            st.completion_time.expect("end"),
        ));
    }
    for w in starts.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "run started before its predecessor finished: {starts:?}"
        );
    }
}

#[tokio::test]
async fn kill_stops_the_running_run_before_starting_the_new_one() {
    let bed = Bed::new("overlap-kill").await;
    bed.task(
        "latest",
        "run: sleep 120\nonOverlap: kill\ngracefulStop: 1s\n",
    )
    .await;
    bed.trigger("latest", "latest-1").await;
    bed.wait_run_phase("latest-1", RunPhase::Running, MIN).await;
    bed.trigger("latest", "latest-2").await;
    let old = bed.wait_run_finished("latest-1", MIN).await;
    assert_eq!(
        old.status.expect("status").end_reason,
        Some(EndReason::Stopped)
    );
    bed.wait_run_phase("latest-2", RunPhase::Running, MIN).await;
}

#[tokio::test]
async fn a_manual_run_is_refused_when_manual_trigger_is_false() {
    let bed = Bed::new("manual-refused").await;
    bed.task("locked", "run: 'true'\nmanualTrigger: false\n")
        .await;
    bed.trigger("locked", "locked-1").await;
    let run = bed
        .wait_run_phase("locked-1", RunPhase::Rejected, MIN)
        .await;
    let st = run.status.expect("status");
    assert!(
        st.message
            .unwrap_or_default()
            .contains("manualTrigger: false")
    );
    assert!(st.attempts.is_empty());
}

#[tokio::test]
async fn a_run_for_a_missing_task_is_rejected() {
    let bed = Bed::new("orphan").await;
    bed.trigger("nope", "nope-1").await;
    let run = bed.wait_run_phase("nope-1", RunPhase::Rejected, MIN).await;
    assert!(
        run.status
            .expect("status")
            .message
            .unwrap_or_default()
            .contains("does not exist")
    );
}

#[tokio::test]
async fn a_pod_deleted_under_a_run_ends_the_attempt_crashed_and_retries() {
    let bed = Bed::new("pod-deleted").await;
    bed.task(
        "victim",
        "run: sleep 120\nretryAttempts: 1\nretryDelay: 1s\ngracefulStop: 1s\n",
    )
    .await;
    bed.trigger("victim", "victim-1").await;
    let run = bed.wait_run_phase("victim-1", RunPhase::Running, MIN).await;
    let pod = run.status.expect("status").attempts[0].pod_name.clone();
    bed.wait_for("the attempt pod to run", MIN, || async {
        let p = bed.pods().get_opt(&pod).await.ok().flatten()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    bed.pods()
        .delete(&pod, &DeleteParams::default())
        .await
        .expect("delete pod");
    let run = bed
        .wait_for("a second attempt", MIN, || async {
            let r = bed.runs().get("victim-1").await.ok()?;
            (r.status.as_ref()?.attempts.len() == 2).then_some(r)
        })
        .await;
    let st = run.status.expect("status");
    assert_eq!(st.attempts[0].end_reason, Some(EndReason::Crashed));
    assert_eq!(st.phase, RunPhase::Running);
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_other_tasks_keep_firing() {
    let bed = Bed::new("invalid-spec").await;
    bed.task("broken", "cron: '0 0 30 2 *'\nrun: 'true'\n")
        .await;
    bed.task(
        "zone",
        "cron: '* * * * *'\ntimezone: Mars/Olympus_Mons\nrun: 'true'\n",
    )
    .await;
    bed.task("fine", "cron: '*/2 * * * * *'\nrun: 'true'\n")
        .await;
    for name in ["broken", "zone"] {
        let task = bed
            .wait_for("an InvalidSpec condition", MIN, || async {
                let t = bed.tasks().get(name).await.ok()?;
                let st = t.status.clone()?;
                st.conditions
                    .iter()
                    .any(|c| c.reason == "InvalidSpec")
                    .then_some(t)
            })
            .await;
        let cond = task
            .status
            .expect("status")
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        assert_eq!(cond.status, "False");
        assert_eq!(cond.observed_generation, task.metadata.generation);
        let events = bed.task_events(name).await;
        assert!(
            events.iter().any(|e| e.starts_with("InvalidSpec")),
            "{events:?}"
        );
    }
    bed.wait_for("the valid task to fire", MIN, || async {
        bed.runs_of("fine")
            .await
            .iter()
            .any(|r| {
                r.status
                    .as_ref()
                    .is_some_and(|s| s.phase == RunPhase::Succeeded)
            })
            .then_some(())
    })
    .await;
    assert!(bed.runs_of("broken").await.is_empty());
}

#[tokio::test]
async fn a_restarted_operator_adopts_the_running_pod_and_fires_no_tick_twice() {
    let mut bed = Bed::new("restart-adopt").await;
    bed.task(
        "long",
        "cron: '*/5 * * * * *'\nrun: sleep 6\nonOverlap: skip\ngracefulStop: 1s\n",
    )
    .await;
    let first = bed
        .wait_for("a running cron run", MIN, || async {
            bed.runs_of("long").await.into_iter().find(|r| {
                r.status
                    .as_ref()
                    .is_some_and(|s| s.phase == RunPhase::Running)
            })
        })
        .await;
    bed.kill_operator().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    bed.start_operator().await;
    let done = bed.wait_run_finished(&first.name_any(), MIN).await;
    let st = done.status.expect("status");
    assert_eq!(st.phase, RunPhase::Succeeded, "{st:?}");
    assert_eq!(
        st.attempts.len(),
        1,
        "the running pod was adopted, not restarted"
    );
    // Let a few more ticks pass, then check that every tick has at most one run.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let runs = bed.runs_of("long").await;
    let mut ticks: Vec<_> = runs
        .iter()
        .filter(|r| r.spec.trigger == Some(RunTrigger::Cron))
        .filter_map(|r| r.spec.scheduled_time)
        .collect();
    let n = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), n, "a tick fired twice");
    let pods = bed
        .pods()
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items;
    let mut pod_names: Vec<_> = pods.iter().map(|p| p.name_any()).collect();
    pod_names.dedup();
    assert_eq!(pod_names.len(), pods.len());
}

#[tokio::test]
async fn downtime_across_ticks_records_a_missed_run_and_catches_up() {
    let mut bed = Bed::with_args("catch-up", &["--on-time-grace", "2s"]).await;
    bed.task(
        "nightly",
        "cron: '*/3 * * * * *'\nrun: 'true'\ncatchUp: latest\n",
    )
    .await;
    bed.wait_for("a first run", MIN, || async {
        (!bed.runs_of("nightly").await.is_empty()).then_some(())
    })
    .await;
    bed.kill_operator().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    bed.start_operator().await;
    let missed = bed
        .wait_for("a missed record", MIN, || async {
            bed.runs_of("nightly").await.into_iter().find(|r| {
                r.status
                    .as_ref()
                    .is_some_and(|s| s.end_reason == Some(EndReason::Missed))
            })
        })
        .await;
    let st = missed.status.expect("status");
    assert!(st.missed_count.unwrap_or(0) >= 2, "{st:?}");
    // The gap of the outage (a later hiccup on a loaded machine could record another one).
    let (first, last) = (
        st.first_missed_time.expect("first missed"),
        missed.spec.scheduled_time.expect("last missed"),
    );
    let catch_up: Vec<_> = bed
        .runs_of("nightly")
        .await
        .into_iter()
        .filter(|r| r.spec.trigger == Some(RunTrigger::CatchUp))
        .filter_map(|r| r.spec.scheduled_time)
        .filter(|t| *t >= first && *t <= last)
        .collect();
    assert_eq!(
        catch_up,
        vec![last],
        "catchUp: latest fires exactly one catch-up run, for the newest missed tick"
    );
    let events = bed.task_events("nightly").await;
    assert!(
        events.iter().any(|e| e.starts_with("MissedRuns")),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_schema_rejects_obvious_mistakes_at_apply_time() {
    let bed = Bed::new("schema").await;
    let cases = [
        ("run: x\nonOverlap: sometimes", "onOverlap"),
        ("run: x\nmaxConcurrent: 0", "maxConcurrent"),
        ("run: x\ntimeout: 5 minutes", "timeout"),
        ("run: x\nretryAttempts: 101", "retryAttempts"),
        ("run: x\ncatchUp: never", "catchUp"),
        ("run: x\nnotifyOnFailure: [Not_A_Name]", "notifyOnFailure"),
        ("cron: '* * * * *'", "run"),
        ("run: ''", "run"),
    ];
    for (i, (yaml, field)) in cases.iter().enumerate() {
        match bed.try_task(&format!("bad-{i}"), yaml).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{yaml}: {s:?}");
                assert!(
                    s.message.contains(field),
                    "{yaml}: the rejection names {field}: {}",
                    s.message
                );
            }
            other => panic!("{yaml} was accepted: {other:?}"),
        }
    }
    assert!(
        bed.try_task("good", "run: 'true'\ntimeout: 1h30m")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_suspended_task_fires_nothing_and_resumes_without_backfill() {
    let bed = Bed::new("suspend").await;
    bed.task(
        "paused",
        "cron: '*/2 * * * * *'\nsuspend: true\nrun: 'true'\n",
    )
    .await;
    let rv = bed
        .wait_for("the task to be marked suspended", MIN, || async {
            let t = bed.tasks().get("paused").await.ok()?;
            let suspended = t
                .status
                .as_ref()?
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Suspended");
            suspended.then(|| t.resource_version())
        })
        .await;
    // Three ticks pass while suspended: no run, and no status write per reconcile.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(bed.runs_of("paused").await.is_empty());
    let task = bed.tasks().get("paused").await.expect("task");
    assert_eq!(task.resource_version(), rv, "the status kept changing");

    let resumed_at = chrono::Utc::now();
    let patch = serde_json::json!({"spec": {"suspend": false}});
    bed.tasks()
        .patch(
            "paused",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("resume");
    let runs = bed
        .wait_for("a run after the resume", MIN, || async {
            let runs = bed.runs_of("paused").await;
            runs.iter()
                .any(|r| {
                    r.status
                        .as_ref()
                        .is_some_and(|s| s.phase == RunPhase::Succeeded)
                })
                .then_some(runs)
        })
        .await;
    for r in &runs {
        let st = r.status.clone().unwrap_or_default();
        assert_ne!(st.end_reason, Some(EndReason::Missed), "{}", r.name_any());
        let t = r.spec.scheduled_time.expect("scheduled time");
        // a tick of the suspended time would be before the resume (one second of slack)
        assert!(
            t >= resumed_at - chrono::Duration::seconds(1),
            "{} fired a tick from the suspended time ({t})",
            r.name_any()
        );
    }
}
