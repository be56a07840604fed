//! Property fuzzing of everything that reads user input: cron expressions (`Schedule::parse`),
//! durations (`parse_duration`), RunWisp TOML (`convert`), and whole resources as the apiserver
//! stores them (what the CRD schema accepts, the operator must be able to read). Random strings
//! and structured near-valid inputs; nothing may panic.
//!
//! `PROPTEST_CASES` sets the number of cases per property (default 256 here). A failure is
//! shrunk and saved under `proptest-regressions/fuzz.txt`, which is replayed first on every
//! run: commit it. Inputs worth keeping for good go into the explicit `regression_*` tests at
//! the end of this file (or into the corpus, `tests/badinput/`).

#[path = "badinput/corpus.rs"]
mod corpus;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::Config as PropConfig;
use runwisp_operator::api::{RunWispNotifier, RunWispRun, RunWispTask, RunWispTaskSpec};
use runwisp_operator::cli::convert::{ConvertOptions, Kind, convert, to_yaml_stream};
use runwisp_operator::duration::{MAX_DURATION, format_duration, parse_duration};
use runwisp_operator::schedule::Schedule;
use serde_json::{Value, json};

fn config() -> PropConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    PropConfig {
        cases,
        ..PropConfig::default()
    }
}

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 17, 0, 0)
        .single()
        .expect("time")
}

// ---- strategies -----------------------------------------------------------------------------------

/// One cron field: the shapes cron allows, plus the ones it does not.
fn cron_field() -> impl Strategy<Value = String> {
    let num = prop_oneof![
        8 => 0u64..62,
        1 => Just(99999999999999999u64),
        1 => any::<u64>(),
    ];
    let atom = prop_oneof![
        num.clone().prop_map(|n| n.to_string()),
        Just("*".to_string()),
        Just("?".to_string()),
        Just("L".to_string()),
        Just("LW".to_string()),
        Just("15W".to_string()),
        Just("5#3".to_string()),
        Just("5L".to_string()),
        prop::sample::select(vec![
            "MON", "sun", "Fri", "JAN", "dec", "XYZ", "", "-", ",", "/", "＊", "⏰", "-1", "1.5",
        ])
        .prop_map(String::from),
        (num.clone(), num.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
        (num.clone(), num.clone()).prop_map(|(a, b)| format!("*/{}", a % 70 + b % 2)),
        (num.clone(), num.clone(), num.clone()).prop_map(|(a, b, c)| format!("{a}-{b}/{c}")),
    ];
    prop::collection::vec(atom, 1..4).prop_map(|v| v.join(","))
}

/// Near-valid schedules: 4–7 fields, aliases, `@every` with odd durations.
fn near_valid_cron() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(cron_field(), 4..8).prop_map(|f| f.join(" ")),
        1 => prop::sample::select(vec![
            "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
            "@reboot", "@DAILY", "@", "@every", "@daily 1",
        ]).prop_map(String::from),
        2 => near_valid_duration().prop_map(|d| format!("@every {d}")),
    ]
}

fn near_valid_duration() -> impl Strategy<Value = String> {
    let digits = prop_oneof![
        6 => (0u64..100_000).prop_map(|n| n.to_string()),
        1 => "[0-9]{15,30}",
        1 => Just(String::new()),
        1 => Just("-1".to_string()),
        1 => Just("1.5".to_string()),
        1 => Just("٥".to_string()),
    ];
    let unit = prop::sample::select(vec![
        "ms", "s", "m", "h", "d", "w", "", "M", "min", "y", " ", "mss", "é",
    ]);
    prop::collection::vec((digits, unit), 1..5)
        .prop_map(|parts| parts.into_iter().map(|(d, u)| format!("{d}{u}")).collect())
}

fn any_zone() -> impl Strategy<Value = chrono_tz::Tz> {
    prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec())
}

// ---- cron -----------------------------------------------------------------------------------------

fn check_schedule(expr: &str, tz: chrono_tz::Tz, window_secs: i64) -> Result<(), TestCaseError> {
    let Ok(s) = Schedule::parse(expr, tz, anchor()) else {
        return Ok(());
    };
    // A parsed schedule fires within the 5-year horizon, and its ticks are ordered and whole.
    let first = s.next_after(anchor());
    prop_assert!(first.is_some_and(|t| t > anchor()), "{expr}: {first:?}");
    let _ = s.has_seconds();
    let after = anchor() + chrono::Duration::days(17);
    let until = after + chrono::Duration::seconds(window_secs);
    let span = s.ticks_in(after, until, 5);
    prop_assert!(span.ticks.len() as u64 <= span.total);
    prop_assert!(span.ticks.len() <= 5);
    for w in span.ticks.windows(2) {
        prop_assert!(w[0] < w[1], "{expr}: {:?}", span.ticks);
    }
    for t in &span.ticks {
        prop_assert!(
            *t > after && *t <= until,
            "{expr}: {t} outside ({after}, {until}]"
        );
        prop_assert_eq!(t.timestamp_subsec_nanos(), 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cron_parse_never_panics_on_any_string(expr in ".{0,80}", tz in any_zone()) {
        check_schedule(&expr, tz, 3600)?;
    }

    #[test]
    fn cron_parse_never_panics_on_near_valid_expressions(
        expr in near_valid_cron(), tz in any_zone(), window in 1i64..7200
    ) {
        check_schedule(&expr, tz, window)?;
    }

    // ---- durations --------------------------------------------------------------------------------

    #[test]
    fn durations_never_panic_and_round_trip(s in ".{0,40}") {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d <= MAX_DURATION);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn near_valid_durations_never_panic_and_round_trip(s in near_valid_duration()) {
        match parse_duration(&s) {
            Ok(d) => {
                prop_assert!(d <= MAX_DURATION);
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty() && !e.label().is_empty()),
        }
    }

    #[test]
    fn formatted_durations_parse_back(ms in 0u64..=MAX_DURATION.as_millis() as u64) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
}

// ---- convert (RunWisp TOML) -----------------------------------------------------------------------

fn convert_opts() -> ConvertOptions {
    ConvertOptions {
        namespace: Some("ns".into()),
        image: None,
        now: anchor(),
    }
}

/// A TOML value of any type, rendered.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}".prop_map(|s| format!("{:?}", s.replace('\\', "/"))),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        (-1e12f64..1e12).prop_map(|f| format!("{f:.3}")),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("[]".to_string()),
        Just("[1, \"a\"]".to_string()),
        Just("{}".to_string()),
        Just("{ a = 1 }".to_string()),
        near_valid_cron().prop_map(|c| format!("{c:?}")),
        near_valid_duration().prop_map(|d| format!("{d:?}")),
    ]
}

const TASK_KEYS: &[&str] = &[
    "run",
    "cron",
    "timezone",
    "description",
    "group",
    "on_overlap",
    "max_concurrent",
    "max_queued",
    "timeout",
    "graceful_stop",
    "stop_signal",
    "retry_attempts",
    "retry_delay",
    "retry_backoff",
    "keep_runs",
    "keep_for",
    "notify_on_failure",
    "notify_on_success",
    "catch_up",
    "max_catch_up_runs",
    "manual_trigger",
    "env",
    "secrets",
    "working_dir",
    "shell",
    "success_exit_codes",
    "failures",
    "user",
    "params",
    "colour",
];

/// A RunWisp file of random tasks, defaults and notifiers, every key with a random value.
fn runwisp_toml() -> impl Strategy<Value = String> {
    let table = || {
        prop::collection::vec(
            (prop::sample::select(TASK_KEYS.to_vec()), toml_value()),
            0..8,
        )
    };
    let name = prop_oneof![
        "[a-z_]{1,12}",
        Just("\"___\"".to_string()),
        Just("\"sauvegarde-nuitée\"".to_string()),
        "[A-Z0-9.-]{1,8}".prop_map(|s| format!("{s:?}")),
    ];
    let tasks = prop::collection::vec((name, table()), 0..4);
    let notifier = prop::collection::vec(
        (
            prop::sample::select(vec![
                "id",
                "type",
                "url",
                "url_env",
                "events",
                "tasks",
                "min_severity",
                "coalesce_window",
                "run_url_base",
                "channel",
            ]),
            toml_value(),
        ),
        0..6,
    );
    let notifiers = prop::collection::vec(notifier, 0..3);
    (prop::option::of(table()), tasks, notifiers).prop_map(|(defaults, tasks, notifiers)| {
        let mut out = String::new();
        let render = |out: &mut String, kv: &Vec<(&'static str, String)>| {
            let mut seen = std::collections::HashSet::new();
            for (k, v) in kv {
                if seen.insert(*k) {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
        };
        if let Some(d) = defaults {
            out.push_str("[defaults]\n");
            render(&mut out, &d);
        }
        let mut names = std::collections::HashSet::new();
        for (name, kv) in &tasks {
            if names.insert(name.clone()) {
                out.push_str(&format!("[tasks.{name}]\n"));
                render(&mut out, kv);
            }
        }
        for kv in &notifiers {
            out.push_str("[[notifier]]\n");
            render(&mut out, kv);
        }
        out
    })
}

fn check_convert(src: &str) -> Result<(), TestCaseError> {
    let Ok(c) = convert(src, &convert_opts()) else {
        return Ok(());
    };
    let yaml = to_yaml_stream(&c.objects);
    prop_assert!(yaml.is_ok(), "{src}");
    for o in &c.objects {
        // Wrong types are left out, so what comes out has the right shape for the operator.
        let doc = serde_json::to_value(&o.doc).expect("YAML to JSON");
        match o.kind {
            Kind::RunWispTask => {
                let spec = serde_json::from_value::<RunWispTaskSpec>(doc["spec"].clone());
                prop_assert!(spec.is_ok(), "{src}\n{doc:#}\n{spec:?}");
            }
            Kind::RunWispNotifier => {
                let n = serde_json::from_value::<RunWispNotifier>(doc.clone());
                prop_assert!(n.is_ok(), "{src}\n{doc:#}\n{n:?}");
            }
            Kind::Secret => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn convert_never_panics_on_any_text(src in "(?s).{0,300}") {
        check_convert(&src)?;
    }

    #[test]
    fn convert_never_panics_on_toml_like_text(
        lines in prop::collection::vec(
            prop_oneof![
                "\\[[a-z._\"]{0,12}\\]?",
                "\\[\\[notifier\\]\\]",
                "[a-z_]{1,10} ?= ?[\"\\[{]?[ -~]{0,16}",
                "#[ -~]{0,20}",
                Just(String::new()),
            ],
            0..20,
        )
    ) {
        check_convert(&lines.join("\n"))?;
    }

    #[test]
    fn converted_objects_have_the_types_the_operator_reads(src in runwisp_toml()) {
        check_convert(&src)?;
    }
}

// ---- whole resources: what the schema accepts, the operator reads ---------------------------------

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An `EnvVarSource`-like value: the real shapes, near misses, and junk.
fn value_from() -> impl Strategy<Value = Value> {
    let selector = prop_oneof![
        Just(json!({"name": "s", "key": "k"})),
        Just(json!({"name": "s", "key": "k", "optional": true})),
        Just(json!({"name": "s"})),
        Just(json!({"key": 5})),
        Just(json!("just-a-string")),
        Just(json!(["a"])),
        any_json(),
    ];
    let key = prop::sample::select(vec![
        "secretKeyRef",
        "configMapKeyRef",
        "fieldRef",
        "resourceFieldRef",
        "other",
    ]);
    prop::collection::btree_map(key, selector, 0..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// Mostly `plausible`, sometimes any JSON at all.
fn or_junk(plausible: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![9 => plausible, 1 => any_json()].boxed()
}

fn s(v: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::sample::select(v.to_vec()).prop_map(|s| json!(s))
}

/// A task spec: each field absent, plausible (valid or a near miss), or any JSON at all.
fn task_spec() -> impl Strategy<Value = Value> {
    let dur = || prop_oneof![3 => s(&["5m", "1h30m", "45s"]), 1 => near_valid_duration().prop_map(Value::String)];
    let fields: Vec<(&'static str, BoxedStrategy<Value>)> = vec![
        ("run", or_junk(s(&["true", "echo hi", ""]))),
        ("cron", or_junk(near_valid_cron().prop_map(Value::String))),
        (
            "timezone",
            or_junk(s(&["Europe/Berlin", "UTC", "Mars/Olympus_Mons", ""])),
        ),
        ("timeout", or_junk(dur())),
        ("gracefulStop", or_junk(dur())),
        ("retryDelay", or_junk(dur())),
        ("keepFor", or_junk(dur())),
        (
            "maxConcurrent",
            or_junk((-2i64..2000).prop_map(|n| json!(n))),
        ),
        ("maxQueued", or_junk((-2i64..20000).prop_map(|n| json!(n)))),
        (
            "retryAttempts",
            or_junk((-2i64..200).prop_map(|n| json!(n))),
        ),
        (
            "keepRuns",
            or_junk(prop_oneof![
                (0i64..200_000).prop_map(|n| json!(n)),
                any::<u64>().prop_map(|n| json!(n))
            ]),
        ),
        (
            "maxCatchUpRuns",
            or_junk((-2i64..2000).prop_map(|n| json!(n))),
        ),
        (
            "onOverlap",
            or_junk(s(&["queue", "skip", "kill", "terminate", ""])),
        ),
        ("catchUp", or_junk(s(&["latest", "all", "skip", "none"]))),
        (
            "retryBackoff",
            or_junk(s(&["constant", "linear", "exponential", "x"])),
        ),
        ("suspend", or_junk(any::<bool>().prop_map(Value::Bool))),
        (
            "manualTrigger",
            or_junk(any::<bool>().prop_map(Value::Bool)),
        ),
        (
            "notifyOnFailure",
            or_junk(s(&["slack-ops", "Not_A_Name"]).prop_map(|v| json!([v]))),
        ),
        ("notifyOnSuccess", or_junk(Just(json!([])))),
        (
            "env",
            or_junk(
                prop::collection::vec(
                    prop_oneof![
                        1 => Just(json!({"name": "A", "value": "1"})),
                        3 => value_from().prop_map(|vf| json!({"name": "B", "valueFrom": vf})),
                        1 => any_json(),
                    ],
                    0..3,
                )
                .prop_map(Value::Array),
            ),
        ),
        ("podTemplate", any_json().boxed()),
        ("image", or_junk(s(&["busybox", "UPPER::bad", ""]))),
        ("shell", or_junk(s(&["/bin/sh", ""]))),
        ("workingDir", or_junk(s(&["/tmp", "relative"]))),
        ("group", or_junk(s(&["Backups", "é"]))),
        ("description", or_junk(s(&["nightly", "🌙"]))),
    ];
    let picks: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = fields
        .into_iter()
        .map(|(k, s)| prop::option::weighted(0.25, s.prop_map(move |v| (k, v))).boxed())
        .collect();
    picks.prop_map(|kvs| {
        let mut m = serde_json::Map::new();
        m.insert("run".into(), json!("true"));
        for (k, v) in kvs.into_iter().flatten() {
            m.insert(k.into(), v);
        }
        Value::Object(m)
    })
}

fn readable_if_accepted<K: serde::de::DeserializeOwned>(
    kind: &str,
    obj: Value,
) -> Result<(), TestCaseError> {
    let schema = corpus::crd_schema(kind);
    let problems = corpus::schema_problems(&schema, &json!({"spec": obj["spec"]}));
    if problems.is_empty() {
        let read = serde_json::from_value::<K>(obj.clone());
        prop_assert!(
            read.is_ok(),
            "the apiserver accepts this {kind}, but the operator cannot read it (its list/watch \
             would fail for every object): {:?}\n{obj:#}",
            read.err()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// One object the operator cannot decode breaks its whole list/watch: every task in its
    /// scope stops. So whatever the CRD schema lets through must deserialize.
    #[test]
    fn every_task_the_schema_accepts_the_operator_can_read(spec in task_spec()) {
        let obj = json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask",
            "metadata": {"name": "t", "namespace": "ns"}, "spec": spec,
        });
        readable_if_accepted::<RunWispTask>("RunWispTask", obj)?;
    }

    /// The same for runs a person creates (their `spec.template` is a task spec).
    #[test]
    fn every_run_the_schema_accepts_the_operator_can_read(
        template in prop::option::of(task_spec()),
        trigger in prop::option::of(prop::sample::select(vec!["cron", "manual", "catchUp", "x"])),
        scheduled in prop::option::of(prop_oneof![
            Just("2026-11-27T17:00:00Z".to_string()), "[ -~]{0,20}"
        ]),
    ) {
        let mut spec = json!({"taskRef": {"name": "t"}});
        if let Some(t) = template { spec["template"] = t; }
        if let Some(t) = trigger { spec["trigger"] = json!(t); }
        if let Some(s) = scheduled {
            // The apiserver checks format: date-time; keep only what it would accept.
            if chrono::DateTime::parse_from_rfc3339(&s).is_ok() { spec["scheduledTime"] = json!(s); }
        }
        let obj = json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispRun",
            "metadata": {"name": "r", "namespace": "ns"}, "spec": spec,
        });
        readable_if_accepted::<RunWispRun>("RunWispRun", obj)?;
    }

    #[test]
    fn every_notifier_the_schema_accepts_the_operator_can_read(
        type_ in prop_oneof![Just(json!("slack")), Just(json!("webhook")), any_json()],
        secret in prop_oneof![Just(json!({"name": "s", "key": "url"})), any_json()],
        routes in prop_oneof![
            Just(json!([{"events": ["run.failed"], "tasks": "backup-*", "minSeverity": "warn"}])),
            prop::collection::vec(any_json(), 0..3).prop_map(Value::Array),
        ],
        window in prop::option::of(near_valid_duration()),
    ) {
        let mut spec = json!({"type": type_, "webhookUrlSecretRef": secret, "routes": routes});
        if let Some(w) = window { spec["coalesceWindow"] = json!(w); }
        let obj = json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispNotifier",
            "metadata": {"name": "n", "namespace": "ns"}, "spec": spec,
        });
        readable_if_accepted::<RunWispNotifier>("RunWispNotifier", obj)?;
    }
}

// ---- regressions: inputs found by fuzzing or by hand, kept for good ---------------------------------

/// Deeply nested TOML must be an error (or a warning), not a stack overflow that kills the
/// process: run on an 8 MiB stack, like the CLI's main thread.
#[test]
fn regression_deeply_nested_toml_does_not_overflow_the_stack() {
    for depth in [64usize, 1_000, 100_000] {
        let arrays = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let tables = format!("a = {}{}\n", "{ b = ".repeat(depth), "}".repeat(depth));
        for src in [arrays, tables] {
            let handle = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || convert(&src, &convert_opts()).map(|c| c.objects.len()))
                .expect("thread");
            let res = handle.join();
            assert!(res.is_ok(), "convert panicked at depth {depth}");
        }
    }
}

#[test]
fn regression_inputs_that_once_mattered() {
    // Cron expressions whose parsing walks far or hits croner's edges.
    for expr in [
        "0 0 29 2 *",
        "0 0 29 2 1",
        "* * * * * *",
        "0 0 31 2 *",
        "59 59 23 31 12 *",
        "0 0 1 1 * ",
        "0 2 * * 0,7",
        "@every 3653d",
        "@every 1s",
        "L * * * *",
        "0 0 L * *",
        "0 0 5#3 * *",
        "0 0 * * 5#5",
        "0 0 * * 5L",
        "0 0 15W * *",
        "0 0 LW * *",
        "0 0 ? * *",
    ] {
        for tz in [
            chrono_tz::UTC,
            chrono_tz::Europe::Berlin,
            chrono_tz::Pacific::Apia,
            chrono_tz::Australia::Lord_Howe,
        ] {
            let _ = check_schedule(expr, tz, 3600);
        }
    }
    for d in [
        "18446744073709551615ms",
        "1ms1ms1ms",
        "0w0d0h0m0s0ms",
        "3653d",
        "521w6d",
    ] {
        let _ = parse_duration(d);
    }
    for src in [
        "[tasks.a]\nrun = \"true\"\nenv = { \"\" = 1 }\n",
        "[tasks.\"\"]\nrun = \"true\"\n",
        "[[notifier]]\n[[notifier]]\n",
        "tasks = []\n",
        "[defaults]\nsecrets = { A = 1 }\n[tasks.a]\nrun = 1\n",
    ] {
        check_convert(src).expect("convert");
    }
}
