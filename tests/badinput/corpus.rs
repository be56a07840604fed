//! The bad-input corpus (`tests/badinput/tasks.yaml`, `tests/badinput/toml/*.toml`) and a small
//! checker for the CRD's structural schema, shared by `tests/badinput.rs`, `tests/fuzz.rs` and the
//! e2e reliability tests (`#[path]`-included, so each test crate compiles its own copy).
//!
//! The schema checker implements the part of OpenAPI v3 the apiserver enforces for our CRDs:
//! type, enum, pattern, min/max length (in characters, as Go counts runes), minimum/maximum,
//! min/max items, required, properties, `nullable` and `x-kubernetes-preserve-unknown-fields`.
//! Unknown fields are pruned by the apiserver, not refused, and so are they here. The e2e corpus
//! test checks it against the real apiserver, case by case.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/badinput")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The CRD schema refuses it at apply time.
    Schema,
    /// The schema refuses it, and the operator's validation would too.
    Both,
    /// Accepted; the operator reports `Ready=False`/`InvalidSpec` naming the field.
    Operator,
    /// Accepted and valid; `NotifiersReady=False` naming the notifier.
    Notifier,
    /// Accepted and valid; a run ends `start_failed` with `expect` in its message.
    Run,
    /// The schema or the operator refuses it; a known bug (`bug`) keeps it from being so today.
    Refused,
}

#[derive(Clone, Debug, serde::Deserialize)]
struct RawCase {
    case: String,
    stage: Stage,
    field: String,
    #[serde(default)]
    also: Vec<String>,
    spec: Value,
    #[serde(default)]
    run_bytes: Option<usize>,
    #[serde(default)]
    no_run: bool,
    #[serde(default)]
    expect: Option<String>,
    #[serde(default)]
    bug: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub stage: Stage,
    /// The spec field the refusal names (`cron`, `timeout`, ...).
    pub field: String,
    /// Further fields the same refusal must name.
    pub also: Vec<String>,
    /// The task's spec as applied (a `run` is filled in unless the case is about it).
    pub spec: Value,
    /// For `Stage::Run`: text the run's message must hold.
    pub expect: Option<String>,
    /// A known operator bug this case pins.
    pub bug: Option<String>,
}

/// A shell script of exactly `n` bytes (n ≥ 24) that prints two lines.
pub fn script_of(n: usize) -> String {
    let head = "echo start\n";
    let tail = "echo done\n";
    let mut s = String::with_capacity(n);
    s.push_str(head);
    while s.len() + 100 + tail.len() <= n {
        s.push_str("# ");
        s.push_str(&"x".repeat(97));
        s.push('\n');
    }
    let pad = n - s.len() - tail.len();
    if pad > 0 {
        s.push('#');
        s.push_str(&"y".repeat(pad.saturating_sub(2)));
        if pad >= 2 {
            s.push('\n');
        }
    }
    s.push_str(tail);
    assert_eq!(s.len(), n, "script_of({n})");
    s
}

pub fn task_cases() -> Vec<Case> {
    let path = dir().join("tasks.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw: Vec<RawCase> =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    raw.into_iter()
        .map(|r| {
            let mut spec = r.spec;
            if !spec.is_object() {
                spec = Value::Object(Default::default());
            }
            if let Some(n) = r.run_bytes {
                spec["run"] = Value::String(script_of(n));
            } else if !r.no_run && spec.get("run").is_none() {
                spec["run"] = Value::String("true".into());
            }
            Case {
                name: r.case,
                stage: r.stage,
                field: r.field,
                also: r.also,
                spec,
                expect: r.expect,
                bug: r.bug,
            }
        })
        .collect()
}

/// What a TOML corpus file expects of `convert`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TomlExpect {
    /// Not TOML: an `InvalidToml` error at this line.
    Error { line: usize },
    /// TOML, but a value that cannot be carried: a warning whose field starts with this.
    Warning { field: String },
}

pub struct TomlCase {
    pub name: String,
    pub text: String,
    pub expect: TomlExpect,
}

/// `tests/badinput/toml/*.toml`, each starting with `# expect: error line=N` or
/// `# expect: warning <field>`.
pub fn toml_cases() -> Vec<TomlCase> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir().join("toml"))
        .expect("tests/badinput/toml")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read corpus file");
            let text = String::from_utf8(bytes).expect("corpus files are UTF-8");
            let first = text.lines().next().unwrap_or_default();
            let rule = first
                .strip_prefix("# expect: ")
                .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", p.display()));
            let expect = if let Some(rest) = rule.strip_prefix("error line=") {
                TomlExpect::Error {
                    line: rest.trim().parse().expect("line number"),
                }
            } else if let Some(field) = rule.strip_prefix("warning ") {
                TomlExpect::Warning {
                    field: field.trim().to_string(),
                }
            } else {
                panic!("{}: unknown expectation {rule:?}", p.display())
            };
            TomlCase {
                name: p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                text,
                expect,
            }
        })
        .collect()
}

// -------------------------------------------------------------------------------------------------
// The CRD's structural schema, checked like the apiserver does.

/// The `openAPIV3Schema` of the CRD of `kind` (from the code, as the e2e suite installs it).
pub fn crd_schema(kind: &str) -> Value {
    let crd = runwisp_operator::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"));
    let v = serde_json::to_value(&crd.spec.versions[0]).expect("version as JSON");
    v["schema"]["openAPIV3Schema"].clone()
}

/// The problems the apiserver would report for `obj` (a whole object: `{spec: ...}`), as
/// `path: what` with paths like `spec.env[0].valueFrom`. Empty when it would be accepted.
pub fn schema_problems(schema: &Value, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, obj, "", &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if v.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) && schema.get("type").is_some() {
            out.push(format!("{path}: must not be null"));
        }
        return;
    }
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            other => panic!("schema type {other} at {path}: teach the checker"),
        };
        if !ok {
            out.push(format!("{path}: must be of type {t}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            out.push(format!("{path}: Unsupported value: {v}"));
        }
    }
    if let Some(s) = v.as_str() {
        let chars = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if chars < min {
                out.push(format!("{path}: should be at least {min} chars long"));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if chars > max {
                out.push(format!("{path}: may not be longer than {max}"));
            }
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            if !matches_pattern(p, s) {
                out.push(format!("{path}: should match '{p}'"));
            }
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                out.push(format!("{path}: should be greater than or equal to {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                out.push(format!("{path}: should be less than or equal to {max}"));
            }
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if items.len() as u64 > max {
                out.push(format!("{path}: must have at most {max} items"));
            }
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                out.push(format!("{path}: must have at least {min} items"));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{i}]"), out);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                // A defaulted field is filled in before validation.
                let defaulted = props
                    .and_then(|p| p.get(r))
                    .is_some_and(|s| s.get("default").is_some());
                if !obj.contains_key(r) && !defaulted {
                    out.push(format!("{}: Required value", join(path, r)));
                }
            }
        }
        for (k, child) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, child, &join(path, k), out),
                // Unknown fields are pruned (or kept as-is under preserve-unknown-fields).
                None => {
                    let _ = preserve;
                }
            }
        }
        if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            for (k, child) in obj {
                if props.is_none_or(|p| !p.contains_key(k)) {
                    check(additional, child, &join(path, k), out);
                }
            }
        }
    }
}

/// The handful of patterns our schemas use, matched by hand (Go's RE2 semantics: ASCII classes).
pub fn matches_pattern(pattern: &str, s: &str) -> bool {
    match pattern {
        "^([0-9]+(ms|s|m|h|d|w))+$" => duration_shape(s),
        "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" => {
            let b = s.as_bytes();
            let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && b.first().is_some_and(edge)
                && b.last().is_some_and(edge)
                && b.iter().all(|c| edge(c) || *c == b'-' || *c == b'.')
        }
        r"^[A-Za-z0-9_+\-/]+$" => {
            !s.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-' | b'/'))
        }
        other => panic!("schema pattern {other:?}: teach the checker to match it"),
    }
}

fn duration_shape(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        let rest = &s[i..];
        // After a unit only digits may follow, so trying `ms` before `m` is exact.
        match ["ms", "s", "m", "h", "d", "w"]
            .iter()
            .find(|u| rest.starts_with(*u))
        {
            Some(u) => i += u.len(),
            None => return false,
        }
    }
    true
}

/// Whether `problems` name `spec.<field>` (or a path below it).
pub fn names_field(problems: &[String], field: &str) -> bool {
    let p = format!("spec.{field}");
    problems.iter().any(|m| {
        m.starts_with(&format!("{p}:"))
            || m.starts_with(&format!("{p}["))
            || m.starts_with(&format!("{p}."))
    })
}
