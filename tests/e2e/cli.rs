//! The person-facing commands (`trigger`, `status`, `logs`, `convert`) run as processes
//! against the bed, the way a person runs them: KUBECONFIG inherited, `-n <namespace>`.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use kube::api::DeleteParams;
use runwisp_operator::api::RunPhase;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::harness::Bed;

const MIN: Duration = Duration::from_secs(60);
/// Longest a CLI process may take (a `--wait` or `-f` includes the run itself).
const CLI_TIMEOUT: Duration = Duration::from_secs(180);

fn operator_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runwisp-operator"));
    cmd.kill_on_drop(true);
    cmd
}

async fn finish(mut cmd: Command) -> Output {
    tokio::time::timeout(CLI_TIMEOUT, cmd.output())
        .await
        .expect("the CLI finished in time")
        .expect("run the CLI")
}

/// `runwisp-operator <args> -n <bed namespace>`.
async fn cli(bed: &Bed, args: &[&str]) -> Output {
    let mut cmd = operator_bin();
    cmd.args(args).args(["-n", &bed.ns]);
    finish(cmd).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn trigger_wait_exits_with_the_scripts_exit_code() {
    let bed = Bed::new("cli-trigger-fail").await;
    bed.task("fails", "run: 'echo about to fail; exit 3'\n")
        .await;
    let out = cli(&bed, &["trigger", "fails", "--wait"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    let name = text(&out.stdout).trim().to_string();
    assert!(name.starts_with("fails-manual-"), "{name:?}");
    assert!(stderr.contains("Failed (failed, exit 3)"), "{stderr}");
    let run = bed.runs().get(&name).await.expect("the printed run exists");
    assert_eq!(run.status.map(|s| s.phase), Some(RunPhase::Failed));
}

#[tokio::test]
async fn trigger_wait_on_a_succeeding_task_exits_0_and_prints_the_run_name() {
    let bed = Bed::new("cli-trigger-ok").await;
    bed.task("hello", "run: 'echo hello'\n").await;
    let out = cli(&bed, &["trigger", "hello", "--wait"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let name = text(&out.stdout).trim().to_string();
    assert!(name.starts_with("hello-manual-"), "{name:?}");
    let run = bed.runs().get(&name).await.expect("run");
    assert_eq!(run.spec.task_ref.name, "hello");
    assert_eq!(run.status.map(|s| s.phase), Some(RunPhase::Succeeded));
}

#[tokio::test]
async fn kubectl_runwisp_runs_the_plugin_binary() {
    let bed = Bed::new("cli-plugin").await;
    bed.task("hello", "run: 'echo hello'\n").await;
    let plugin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-runwisp"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        plugin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("/usr/bin/kubectl");
    cmd.args(["runwisp", "trigger", "hello", "--wait", "-n", &bed.ns])
        .env("PATH", path)
        .kill_on_drop(true);
    let out = finish(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim().starts_with("hello-manual-"));
}

#[tokio::test]
async fn trigger_refuses_a_task_that_does_not_exist() {
    let bed = Bed::new("cli-trigger-missing").await;
    let out = cli(&bed, &["trigger", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("task \"nope\" not found"),
        "{}",
        text(&out.stderr)
    );
    assert!(bed.runs_of("nope").await.is_empty());
}

#[tokio::test]
async fn status_shows_the_task_row_with_its_schedule_and_next_run() {
    let bed = Bed::new("cli-status").await;
    bed.task(
        "nightly",
        "cron: '30 2 * * *'\ntimezone: Europe/Berlin\nrun: 'true'\n",
    )
    .await;
    bed.wait_for("the task's next schedule time", MIN, || async {
        let t = bed.tasks().get("nightly").await.ok()?;
        t.status?.next_schedule_time
    })
    .await;
    let out = cli(&bed, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or_default();
    for column in [
        "TASK", "SCHEDULE", "NEXT RUN", "LAST RUN", "ACTIVE", "QUEUED",
    ] {
        assert!(header.contains(column), "{stdout}");
    }
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with("nightly "), "{stdout}");
    assert!(row.contains("30 2 * * * (Europe/Berlin)"), "{stdout}");
    assert!(row.contains(" in "), "next run is ahead: {stdout}");

    let out = cli(&bed, &["status", "nightly"]).await;
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Conditions:") && stdout.contains("Ready"),
        "{stdout}"
    );
    assert!(stdout.contains("Recent runs:"), "{stdout}");
}

#[tokio::test]
async fn logs_follow_streams_a_live_run() {
    let bed = Bed::new("cli-logs-live").await;
    bed.task(
        "counter",
        "run: 'for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done'\n",
    )
    .await;
    bed.trigger("counter", "counter-live").await;
    bed.wait_run_phase("counter-live", RunPhase::Running, MIN)
        .await;
    let out = cli(&bed, &["logs", "counter", "-f"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let want: String = (1..=6).map(|i| format!("line {i}\n")).collect();
    assert_eq!(stdout, want);
    assert!(
        !text(&out.stderr).contains("stored tail"),
        "streamed from the pod, not the stored tail"
    );
}

#[tokio::test]
async fn logs_of_a_run_whose_pod_is_gone_print_the_stored_tail() {
    let bed = Bed::new("cli-logs-tail").await;
    bed.task("marker", "run: 'echo stored-tail-marker'\n").await;
    bed.trigger("marker", "marker-1").await;
    let run = bed.wait_run_finished("marker-1", MIN).await;
    let attempt = run
        .status
        .and_then(|s| s.attempts.into_iter().next())
        .expect("one attempt");
    assert!(
        attempt
            .log_tail
            .as_deref()
            .unwrap_or_default()
            .contains("stored-tail-marker")
    );
    let pods = bed.pods();
    pods.delete(
        &attempt.pod_name,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .expect("delete the attempt pod");
    bed.wait_for("the pod to be gone", MIN, || async {
        match pods.get_opt(&attempt.pod_name).await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await;

    let out = cli(&bed, &["logs", "marker-1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "stored-tail-marker\n");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("note: pod "), "{stderr}");
    assert!(stderr.contains("logTail"), "{stderr}");
}

#[tokio::test]
async fn the_converted_seed_recipe_is_accepted_by_the_apiserver() {
    let bed = Bed::new("cli-convert-seed").await;
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/convert/seed-nightly-backup.toml"
    );
    let mut convert = operator_bin();
    convert.args(["convert", seed, "--namespace", &bed.ns]);
    let converted = finish(convert).await;
    assert_eq!(converted.status.code(), Some(0));

    let mut apply = Command::new("/usr/bin/kubectl");
    apply
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = apply.spawn().expect("spawn kubectl");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&converted.stdout)
        .await
        .expect("write YAML");
    drop(stdin);
    let out = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
        .await
        .expect("kubectl finished in time")
        .expect("kubectl");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for object in [
        "secret/slack-ops-webhook",
        "runwispnotifier.runwisp.dev/slack-ops",
        "runwisptask.runwisp.dev/backup-postgres",
        "runwisptask.runwisp.dev/backup-restore-test",
    ] {
        assert!(stdout.contains(object), "{object} missing from: {stdout}");
    }
}
