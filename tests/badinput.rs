//! The bad-input corpus without a cluster: every case in `tests/badinput/tasks.yaml` goes through
//! the CRD schema (as the apiserver checks it), serde (as the operator reads it) and
//! `taskdef::validate`, and must be refused where the corpus says, naming its field — never a
//! panic. The TOML corpus (`tests/badinput/toml/`) goes through `convert`. The e2e suite applies
//! the same corpus to a real apiserver and operator (`reliability::bad_input_corpus_...`).
//!
//! Two invariants hold for every case, whatever its stage:
//! - nothing panics (schema check, serde, validation, pod building, naming);
//! - what the schema accepts, the operator can deserialize: otherwise one such object breaks the
//!   operator's list/watch for every task in its scope (see `known_bugs_are_fixed`).

#[path = "badinput/corpus.rs"]
mod corpus;

use chrono::{DateTime, TimeZone, Utc};
use corpus::{Case, Stage, TomlExpect};
use runwisp_operator::api::{RunWispTask, RunWispTaskSpec};
use runwisp_operator::cli::convert::{ConvertError, ConvertOptions, convert};
use runwisp_operator::config::Config;
use runwisp_operator::duration::{DurationError, parse_duration};
use runwisp_operator::names;
use runwisp_operator::podspec::{self, PodInput};
use runwisp_operator::schedule::{Schedule, ScheduleError, parse_timezone};
use runwisp_operator::taskdef;
use serde_json::json;

fn created() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 17, 0, 0)
        .single()
        .expect("time")
}

/// What each layer says about one case.
struct Verdicts {
    /// The CRD schema's problems (empty: the apiserver accepts it).
    schema: Vec<String>,
    /// serde's error when the operator reads the accepted object.
    serde: Option<String>,
    /// `taskdef::validate`'s problems, when serde read it.
    operator: Option<Result<taskdef::TaskDef, Vec<taskdef::SpecProblem>>>,
}

fn judge(case: &Case) -> Verdicts {
    let schema = corpus::schema_problems(
        &corpus::crd_schema("RunWispTask"),
        &json!({"spec": case.spec}),
    );
    let task = json!({
        "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask",
        "metadata": {"name": "t", "namespace": "ns"}, "spec": case.spec,
    });
    match serde_json::from_value::<RunWispTask>(task) {
        Err(e) => Verdicts {
            schema,
            serde: Some(e.to_string()),
            operator: None,
        },
        Ok(task) => {
            let res = taskdef::validate(&task.spec, created(), &Config::default());
            Verdicts {
                schema,
                serde: None,
                operator: Some(res),
            }
        }
    }
}

fn operator_fields(v: &Verdicts) -> Vec<&'static str> {
    match &v.operator {
        Some(Err(problems)) => problems.iter().map(|p| p.field).collect(),
        _ => Vec::new(),
    }
}

/// The failure of `case` against its stage, if any.
fn check_case(case: &Case) -> Option<String> {
    let v = judge(case);
    let field = case.field.as_str();
    let schema_refuses = !v.schema.is_empty();
    let schema_names = corpus::names_field(&v.schema, field);
    let op = operator_fields(&v);
    let op_names = |f: &str| op.contains(&f);
    let why = |what: &str| {
        Some(format!(
            "{} ({:?}, field {field}): {what}\n  schema: {:?}\n  serde: {:?}\n  operator: {:?}",
            case.name,
            case.stage,
            v.schema,
            v.serde,
            v.operator.as_ref().map(|r| r
                .as_ref()
                .map(|_| "valid")
                .map_err(|p| taskdef::describe(p)))
        ))
    };
    if !schema_refuses && v.serde.is_some() {
        return why(
            "the schema accepts it but the operator cannot read it (one such object stops the operator's watch)",
        );
    }
    match case.stage {
        Stage::Schema if !schema_names => why("the schema must refuse it, naming the field"),
        Stage::Both if !schema_names => why("the schema must refuse it, naming the field"),
        Stage::Both if v.serde.is_none() && !op_names(field) => {
            why("the operator must refuse it too (serde or validation)")
        }
        Stage::Operator | Stage::Notifier | Stage::Run if schema_refuses => {
            why("the schema must accept it (the corpus says a later stage refuses it)")
        }
        Stage::Operator if !op_names(field) => why("validation must name the field"),
        Stage::Operator if case.also.iter().any(|f| !op_names(f)) => {
            why("validation must name every field in `also`")
        }
        Stage::Notifier | Stage::Run if !matches!(v.operator, Some(Ok(_))) => {
            why("the spec must be valid (its problem shows at run time)")
        }
        Stage::Refused if !(schema_names || op_names(field)) => {
            why("neither the schema nor the operator refuses it")
        }
        _ => None,
    }
}

#[test]
fn the_task_corpus_has_at_least_40_distinct_cases() {
    let cases = corpus::task_cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "case names must be unique");
    for c in &cases {
        assert_eq!(
            c.bug.is_some(),
            c.stage == Stage::Refused,
            "{}: known bugs, and only they, use stage `refused`",
            c.name
        );
    }
}

#[test]
fn every_corpus_case_is_refused_where_the_corpus_says_naming_its_field() {
    let failures: Vec<String> = corpus::task_cases()
        .iter()
        .filter(|c| c.bug.is_none())
        .filter_map(check_case)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The cases that pin operator bugs: each fails until its bug is fixed (then move it to its
/// real stage).
#[test]
fn known_bugs_are_fixed() {
    let failures: Vec<String> = corpus::task_cases()
        .iter()
        .filter(|c| c.bug.is_some())
        .filter_map(|c| {
            check_case(c).map(|f| format!("{f}\n  bug: {}", c.bug.as_deref().unwrap_or_default()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn operator_problems_read_as_spec_field_then_a_message() {
    for case in corpus::task_cases() {
        let v = judge(&case);
        if let Some(Err(problems)) = v.operator {
            let text = taskdef::describe(&problems);
            for p in &problems {
                let shown = p.to_string();
                assert!(shown.starts_with(&format!("spec.{}: ", p.field)), "{shown}");
                assert!(
                    p.message.trim().len() >= 8,
                    "{}: a message people can act on: {shown}",
                    case.name
                );
                assert!(text.contains(&shown));
            }
            // A condition message and an Event note stay readable.
            assert!(text.len() < 4096, "{}: {} bytes", case.name, text.len());
        }
    }
}

#[test]
fn cron_and_zone_problems_quote_what_was_written() {
    for case in corpus::task_cases() {
        let v = judge(&case);
        let Some(Err(problems)) = v.operator else {
            continue;
        };
        for p in problems
            .iter()
            .filter(|p| p.field == "cron" || p.field == "timezone")
        {
            let written = case.spec[p.field].as_str().unwrap_or_default().trim();
            if written.is_empty() {
                continue;
            }
            assert!(
                p.message.contains(written) || p.message.contains(&format!("{written:?}")),
                "{}: {p} does not quote {written:?}",
                case.name
            );
        }
    }
}

/// Valid specs of the corpus (notifier and run stages) become Pods without panicking, and the
/// Pods carry names Kubernetes accepts.
#[test]
fn valid_corpus_specs_build_pods() {
    for case in corpus::task_cases() {
        if !matches!(case.stage, Stage::Notifier | Stage::Run) {
            continue;
        }
        let spec: RunWispTaskSpec = serde_json::from_value(case.spec.clone()).expect("spec");
        let def = taskdef::validate(&spec, created(), &Config::default()).expect("valid");
        let pod = podspec::build(
            &spec,
            &def,
            &PodInput {
                namespace: "ns",
                task: &case.name,
                run: &names::run_name(&case.name, created(), false),
                run_uid: "uid",
                attempt: 1,
                default_image: "busybox:1.36",
                default_shell: "/bin/sh",
            },
        )
        .expect("pod");
        let name = pod.metadata.name.unwrap_or_default();
        assert!(names::is_dns1123_label(&name), "{name}");
    }
}

// ---- cron, zones and durations directly -----------------------------------------------------------

/// Expressions that must be refused, with the error label each gets.
const BAD_CRONS: &[(&str, &str)] = &[
    ("", "empty"),
    ("   ", "empty"),
    ("@reboot", "reboot_unsupported"),
    ("@REBOOT", "reboot_unsupported"),
    ("@fortnightly", "unknown_alias"),
    ("@", "unknown_alias"),
    ("@daily 5", "unknown_alias"),
    ("@every", "invalid_every"),
    ("@every 0s", "every_too_short"),
    ("@every 999ms", "every_not_whole_seconds"),
    ("@every 1500ms", "every_not_whole_seconds"),
    ("@every 5", "invalid_every"),
    ("@every -5m", "invalid_every"),
    ("@every 1y", "invalid_every"),
    ("@every 99999999999999999999w", "invalid_every"),
    ("@every 3654d", "invalid_every"),
    ("* * * *", "field_count"),
    ("*", "field_count"),
    ("* * * * * * *", "field_count"),
    ("0 0 0 1 1 * 2030", "field_count"),
    ("0 0 30 2 *", "never_fires"),
    ("0 0 31 4 *", "never_fires"),
    ("0 0 31 6 *", "never_fires"),
    ("0 0 31 9 *", "never_fires"),
    ("0 0 31 11 *", "never_fires"),
    ("0 0 0 30 2 *", "never_fires"),
    ("0 0 31 2,4,6,9,11 *", "never_fires"),
    ("60 * * * *", "invalid_cron"),
    ("0 24 * * *", "invalid_cron"),
    ("0 0 32 * *", "invalid_cron"),
    ("0 0 0 * *", "invalid_cron"),
    ("0 0 1 13 *", "invalid_cron"),
    ("0 0 1 0 *", "invalid_cron"),
    ("0 0 * * 8", "invalid_cron"),
    ("60 * * * * *", "invalid_cron"),
    ("*/0 * * * *", "invalid_cron"),
    ("30-10 * * * *", "invalid_cron"),
    ("-5 * * * *", "invalid_cron"),
    ("99999999999999999999 * * * *", "invalid_cron"),
    ("0 9 * * MON-XYZ", "invalid_cron"),
    ("0 9 * JANUARY *", "invalid_cron"),
    ("＊ * * * *", "invalid_cron"),
    ("⏰ * * * *", "invalid_cron"),
    ("a b c d e", "invalid_cron"),
    ("*/ * * * *", "invalid_cron"),
    ("1-2-3 * * * *", "invalid_cron"),
];

#[test]
fn bad_cron_expressions_are_refused_with_their_error() {
    let mut wrong = Vec::new();
    for (expr, label) in BAD_CRONS {
        match Schedule::parse(expr, chrono_tz::UTC, created()) {
            Ok(s) => wrong.push(format!("{expr:?} was accepted: {s:?}")),
            Err(e) if e.label() != *label => {
                wrong.push(format!("{expr:?}: {} ({e}), expected {label}", e.label()))
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Edge dates that do come: they are valid, and fire when they should.
#[test]
fn rare_but_real_dates_are_accepted() {
    for (expr, first) in [
        ("0 0 29 2 *", "2028-02-29T00:00:00Z"),
        ("0 0 31 12 *", "2026-12-31T00:00:00Z"),
        ("0 0 29 2 1", "2027-02-01T00:00:00Z"),
        ("0 0 13 * 5", "2026-11-27T00:00:00Z"),
        ("59 23 31 12 *", "2026-12-31T23:59:00Z"),
        ("@yearly", "2027-01-01T00:00:00Z"),
    ] {
        let s = Schedule::parse(expr, chrono_tz::UTC, created())
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        let anchor: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().expect("time");
        assert_eq!(
            s.next_after(anchor).map(|t| t.to_rfc3339()),
            Some(first.replace('Z', "+00:00")),
            "{expr}"
        );
    }
}

#[test]
fn unknown_zones_are_refused_by_name() {
    for zone in [
        "",
        "Mars/Olympus_Mons",
        "europe/berlin",
        "EUROPE/BERLIN",
        "UTC+2",
        "GMT+25",
        "Europe/Berlín",
        "Europe/ Berlin",
        "Europe/Berlin\0",
        "../../etc/passwd",
        "Local",
    ] {
        match parse_timezone(zone) {
            Ok(tz) => panic!("{zone:?} was accepted as {tz}"),
            Err(ScheduleError::UnknownTimezone(z)) => assert_eq!(z, zone),
            Err(e) => panic!("{zone:?}: {e}"),
        }
    }
}

#[test]
fn bad_durations_are_refused_with_their_error() {
    for (s, want) in [
        ("", DurationError::Empty),
        ("5", DurationError::Malformed),
        ("5 m", DurationError::Malformed),
        ("1h 30m", DurationError::Malformed),
        ("-5m", DurationError::Malformed),
        ("+5m", DurationError::Malformed),
        ("1.5h", DurationError::Malformed),
        ("m5", DurationError::Malformed),
        ("٥s", DurationError::Malformed),
        ("５s", DurationError::Malformed),
        ("5é", DurationError::Malformed),
        ("5M", DurationError::UnknownUnit { unit: "M".into() }),
        ("5min", DurationError::UnknownUnit { unit: "min".into() }),
        ("5y", DurationError::UnknownUnit { unit: "y".into() }),
        ("3654d", DurationError::TooLarge),
        ("522w", DurationError::TooLarge),
        ("87673h", DurationError::TooLarge),
        ("99999999999999999999999s", DurationError::TooLarge),
        ("18446744073709551616ms", DurationError::TooLarge),
        (
            "9999999999999999999w9999999999999999999w",
            DurationError::TooLarge,
        ),
    ] {
        assert_eq!(parse_duration(s), Err(want), "{s:?}");
    }
}

// ---- names past Kubernetes' limits ---------------------------------------------------------------

#[test]
fn names_derived_from_the_longest_task_names_fit_kubernetes() {
    let t: DateTime<Utc> = "2026-02-28T23:59:58Z".parse().expect("time");
    let long_dotted = format!("{}.{}", "a".repeat(126), "b".repeat(126));
    let tasks = [
        "x".repeat(253),
        long_dotted,
        "a".repeat(63),
        "a".repeat(64),
        format!("{}-", "a".repeat(240))
            .trim_end_matches('-')
            .to_string(),
        "nightly-backup".into(),
        "0".repeat(253),
    ];
    for task in &tasks {
        assert!(names::is_dns1123_subdomain(task), "test input {task}");
        for secs in [false, true] {
            let run = names::run_name(task, t, secs);
            assert!(names::is_dns1123_subdomain(&run), "{run}");
            let missed = names::missed_run_name(task, t, secs);
            assert!(names::is_dns1123_subdomain(&missed), "{missed}");
            assert_ne!(run, missed);
            for attempt in [1, 2, 101, u32::MAX] {
                let pod = names::pod_name(&run, attempt);
                assert!(names::is_dns1123_label(&pod), "{pod}");
                assert!(pod.ends_with(&format!("-a{attempt}")), "{pod}");
            }
            assert!(names::is_label_value(&names::label_value(&run)));
        }
        assert!(names::is_label_value(&names::label_value(task)));
    }
    // Two long tasks that differ only past the cut never share a run or a pod.
    let a = format!("{}a", "t".repeat(252));
    let b = format!("{}b", "t".repeat(252));
    assert_ne!(names::run_name(&a, t, false), names::run_name(&b, t, false));
    assert_ne!(
        names::pod_name(&names::run_name(&a, t, false), 1),
        names::pod_name(&names::run_name(&b, t, false), 1)
    );
}

#[test]
fn unicode_and_odd_names_still_give_valid_names() {
    let t: DateTime<Utc> = "2026-02-28T23:59:58Z".parse().expect("time");
    for task in [
        "sauvegarde-nuitée",
        "💾",
        "",
        "-",
        ".",
        "a..b",
        "UPPER",
        "名前",
        "\u{0}",
    ] {
        let run = names::run_name(task, t, true);
        assert!(names::is_dns1123_subdomain(&run), "{task:?} -> {run}");
        let pod = names::pod_name(&run, 1);
        assert!(names::is_dns1123_label(&pod), "{task:?} -> {pod}");
        assert!(names::is_label_value(&names::label_value(task)));
    }
}

// ---- malformed TOML for `convert` -----------------------------------------------------------------

fn convert_opts() -> ConvertOptions {
    ConvertOptions {
        namespace: None,
        image: None,
        now: created(),
    }
}

#[test]
fn the_toml_corpus_errors_at_the_right_line_or_warns_about_the_field() {
    let cases = corpus::toml_cases();
    assert!(cases.len() >= 25, "only {} TOML cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let got = convert(&case.text, &convert_opts());
        match (&case.expect, &got) {
            (TomlExpect::Error { line }, Err(e @ ConvertError::InvalidToml { line: l, .. })) => {
                if l != line {
                    wrong.push(format!(
                        "{}: error at line {l}, expected {line}: {e}",
                        case.name
                    ));
                }
                let snippet = e.snippet();
                assert!(snippet.contains('^'), "{}: {snippet}", case.name);
            }
            (TomlExpect::Warning { field }, Ok(c)) => {
                if !c
                    .warnings
                    .iter()
                    .any(|w| w.field.starts_with(field.as_str()))
                {
                    wrong.push(format!(
                        "{}: no warning about {field}: {:#?}",
                        case.name, c.warnings
                    ));
                }
            }
            (want, got) => wrong.push(format!("{}: expected {want:?}, got {got:?}", case.name)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `convert` never copies a secret value it was given, whatever shape the file has.
#[test]
fn convert_never_copies_inline_secrets() {
    let src = r#"
[tasks.backup]
run = "true"
secrets = { DB_PASSWORD = "hunter2-s3cr3t" }
[[notifier]]
id = "slack-ops"
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/s3cr3t-token"
"#;
    let c = convert(src, &convert_opts()).expect("valid TOML");
    let out = runwisp_operator::cli::convert::to_yaml_stream(&c.objects).expect("yaml");
    let warnings: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    for needle in ["hunter2", "s3cr3t"] {
        assert!(!out.contains(needle), "{needle} in the output:\n{out}");
        assert!(
            !warnings.iter().any(|w| w.contains(needle)),
            "{needle} in a warning: {warnings:?}"
        );
    }
}

/// `runwisp-operator convert` on a file that is not UTF-8, not TOML, or empty: an error message
/// and a non-zero exit, or warnings and exit 0 — never a panic.
#[test]
fn the_convert_command_survives_garbage_files() {
    let dir = std::env::temp_dir().join(format!("rw-badinput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("latin1.toml", b"[tasks.a]\nrun = \"caf\xe9\"\n".to_vec()),
        ("empty.toml", Vec::new()),
        ("binary.toml", (0u8..=255).collect()),
        ("nul.toml", b"[tasks.a]\nrun = \"a\0b\"\n".to_vec()),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runwisp-operator"))
            .arg("convert")
            .arg(&path)
            .output()
            .expect("run convert");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            out.status.code().is_some(),
            "{name}: killed by a signal: {:?}",
            out.status
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- what a failing node reports ------------------------------------------------------------------

/// The attempt Pod's status after its node died under it and came back (measured on the 1.20
/// bed: `e2e/cluster.sh kill node`, then `start node`): the kubelet finds the container gone and
/// reports it terminated with reason `Unknown` and exit code 255. The process did not fail; its
/// host died: RunWisp calls that `crashed`, and so must the operator (and alert `run.crashed`,
/// not `run.failed` with a made-up exit code).
#[test]
fn a_container_lost_with_its_node_is_crashed_not_failed() {
    use runwisp_operator::outcome::{PodOutcome, classify};
    use runwisp_operator::retry::EndReason;
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "victim-1-a1", "namespace": "ns"},
        "status": {
            "phase": "Failed",
            "hostIP": "192.0.2.2",
            "startTime": "2026-11-27T17:22:00Z",
            "containerStatuses": [{
                "name": "main", "ready": false, "restartCount": 0, "started": false,
                "image": "localhost/busybox:1.35", "imageID": "sha256:8bb7",
                "containerID": "containerd://b311",
                "lastState": {},
                "state": {"terminated": {
                    "containerID": "containerd://b311", "exitCode": 255, "reason": "Unknown",
                    "startedAt": "2026-11-27T17:22:00Z", "finishedAt": "2026-11-27T17:22:53Z"
                }}
            }]
        }
    }))
    .expect("pod");
    match classify(&pod, "main") {
        PodOutcome::Finished { end, .. } => assert_eq!(
            end,
            EndReason::Crashed,
            "a container the kubelet lost with its node (terminated reason Unknown, exit 255)"
        ),
        other => panic!("{other:?}"),
    }
}
