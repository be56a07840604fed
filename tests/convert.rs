//! `convert` against golden files: every `tests/golden/convert/<name>.toml` has the expected
//! `<name>.yaml` and `<name>.warnings` (or `<name>.error` when the TOML is invalid).
//! `UPDATE_GOLDEN=1 cargo test --test convert` rewrites them; review the diff.
//! The last tests run the two binaries, so the command line (exit codes, stdout/stderr split,
//! `--out`) is pinned too. No cluster needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{TimeZone, Utc};
use runwisp_operator::api::{RunWispNotifier, RunWispTask};
use runwisp_operator::cli::convert::{ConvertOptions, Kind, convert, to_yaml_stream};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/convert")
}

fn opts() -> ConvertOptions {
    ConvertOptions {
        namespace: None,
        image: None,
        now: Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("time"),
    }
}

fn inputs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What `convert` prints on stderr for `path`, as the golden `.warnings` holds it.
fn rendered_warnings(path: &Path) -> String {
    let c = convert(&read(path), &opts()).expect("valid TOML");
    c.warnings
        .iter()
        .map(|w| format!("{}\n", w.render(&file_name(path))))
        .collect()
}

fn compare(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{} is stale (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn every_golden_input_converts_to_its_expected_yaml_and_warnings() {
    let mut failures = Vec::new();
    let all = inputs();
    assert!(all.len() >= 7, "golden inputs missing: {all:?}");
    for input in all {
        let src = read(&input);
        match convert(&src, &opts()) {
            Ok(c) => {
                let yaml = to_yaml_stream(&c.objects).expect("yaml");
                compare(&input.with_extension("yaml"), &yaml, &mut failures);
                compare(
                    &input.with_extension("warnings"),
                    &rendered_warnings(&input),
                    &mut failures,
                );
                assert!(!input.with_extension("error").exists(), "{input:?}");
            }
            Err(e) => {
                let text = format!("error: {}:{e}\n{}\n", file_name(&input), e.snippet());
                compare(&input.with_extension("error"), &text, &mut failures);
                assert!(!input.with_extension("yaml").exists(), "{input:?}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_converted_object_parses_as_its_kubernetes_type() {
    for input in inputs() {
        let Ok(c) = convert(&read(&input), &opts()) else {
            continue;
        };
        for o in c.objects {
            let ok = match o.kind {
                Kind::RunWispTask => serde_yaml::from_value::<RunWispTask>(o.doc).is_ok(),
                Kind::RunWispNotifier => serde_yaml::from_value::<RunWispNotifier>(o.doc).is_ok(),
                Kind::Secret => {
                    serde_yaml::from_value::<k8s_openapi::api::core::v1::Secret>(o.doc).is_ok()
                }
            };
            assert!(ok, "{input:?}: {} {}", o.kind.as_str(), o.name);
        }
    }
}

#[test]
fn the_seed_recipe_converts_to_its_two_tasks_and_the_slack_ops_notifier() {
    let c = convert(
        &read(&golden_dir().join("seed-nightly-backup.toml")),
        &opts(),
    )
    .expect("valid");
    let objects: Vec<(Kind, &str)> = c
        .objects
        .iter()
        .map(|o| (o.kind, o.name.as_str()))
        .collect();
    assert_eq!(
        objects,
        [
            (Kind::Secret, "slack-ops-webhook"),
            (Kind::RunWispNotifier, "slack-ops"),
            (Kind::RunWispTask, "backup-postgres"),
            (Kind::RunWispTask, "backup-restore-test"),
        ]
    );
    let task: RunWispTask = serde_yaml::from_value(c.objects[2].doc.clone()).expect("backup task");
    let s = &task.spec;
    assert_eq!(s.cron.as_deref(), Some("30 2 * * *"));
    assert_eq!(s.on_overlap, runwisp_operator::api::OnOverlap::Skip);
    assert_eq!(
        (
            s.timeout.as_deref(),
            s.retry_attempts,
            s.retry_delay.as_deref()
        ),
        (Some("45m"), 1, Some("5m"))
    );
    assert_eq!(
        (s.keep_runs, s.keep_for.as_deref()),
        (Some(30), Some("60d"))
    );
    assert_eq!(s.notify_on_failure, ["slack-ops"]);
    assert!(
        s.run.contains("pg_dump \\\n--host=db.internal"),
        "{}",
        s.run
    );
    // The only things to tell the user: where the webhook URL must go.
    let fields: Vec<&str> = c.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["notifier[0].url_env"]);
}

#[test]
fn no_output_ever_contains_a_secret_value_from_the_toml() {
    for input in inputs() {
        let Ok(c) = convert(&read(&input), &opts()) else {
            continue;
        };
        let yaml = to_yaml_stream(&c.objects).expect("yaml");
        for secret in ["hooks.slack.com", "XXXXXXXX"] {
            assert!(!yaml.contains(secret), "{input:?} leaks {secret}");
        }
    }
}

fn bin(name: &str) -> Command {
    let path = match name {
        "runwisp-operator" => env!("CARGO_BIN_EXE_runwisp-operator"),
        _ => env!("CARGO_BIN_EXE_kubectl-runwisp"),
    };
    let mut cmd = Command::new(path);
    cmd.current_dir(golden_dir());
    cmd
}

#[test]
fn the_cli_prints_yaml_on_stdout_and_warnings_on_stderr_and_exits_0() {
    let input = golden_dir().join("seed-nightly-backup.toml");
    for binary in ["runwisp-operator", "kubectl-runwisp"] {
        let out = bin(binary)
            .args(["convert", "seed-nightly-backup.toml"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{binary}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            read(&input.with_extension("yaml"))
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            rendered_warnings(&input)
        );
    }
}

#[test]
fn invalid_toml_exits_2_naming_line_and_column() {
    let out = bin("kubectl-runwisp")
        .args(["convert", "invalid.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: invalid.toml:3:"), "{stderr}");
}

#[test]
fn a_missing_file_exits_1() {
    let out = bin("runwisp-operator")
        .args(["convert", "no-such-file.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read no-such-file.toml")
    );
}

#[test]
fn out_dir_gets_one_file_per_object_with_namespace_and_image_applied() {
    let dir = std::env::temp_dir().join(format!("runwisp-convert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = bin("runwisp-operator")
        .args(["convert", "seed-nightly-backup.toml", "--namespace", "ops"])
        .args(["--image", "postgres:16", "--out"])
        .arg(&dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "runwispnotifier-slack-ops.yaml",
            "runwisptask-backup-postgres.yaml",
            "runwisptask-backup-restore-test.yaml",
            "secret-slack-ops-webhook.yaml",
        ]
    );
    let task: RunWispTask =
        serde_yaml::from_str(&read(&dir.join("runwisptask-backup-postgres.yaml")))
            .expect("task file");
    assert_eq!(task.metadata.namespace.as_deref(), Some("ops"));
    assert_eq!(task.spec.image.as_deref(), Some("postgres:16"));
    // stdout lists what was written, for scripts.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dash_reads_the_toml_from_stdin() {
    use std::io::Write;
    let mut child = bin("kubectl-runwisp")
        .args(["convert", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"[tasks.hello]\nrun = 'echo hi'\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let task: RunWispTask =
        serde_yaml::from_str(&String::from_utf8_lossy(&out.stdout).replace("---\n", ""))
            .expect("one task");
    assert_eq!(task.spec.run, "echo hi");
}
