//! `convert`: RunWisp TOML in; RunWispTask, RunWispNotifier and Secret-template YAML out.
//!
//! A migration path for GitOps repos. [`convert`] is a pure function from the file's text to
//! objects plus warnings: every key in the file either lands in an object or produces a
//! warning naming it and its line, so nothing is dropped silently. Secret values (task
//! `secrets`, webhook URLs) are never copied into the output, even when the TOML has them
//! inline: the Secrets come out as templates holding [`PLACEHOLDER`].
//!
//! Mapping rules:
//! - `[defaults]` is applied to every task; a task's own key replaces the default, except
//!   `env` and `secrets`, which are merged variable by variable (the task wins).
//! - Names become Kubernetes names (`backup_postgres` → `backup-postgres`), with a warning.
//! - Values with the right type but an invalid content (a bad cron, `45x`) are kept as
//!   written and warned about: the apiserver or the operator will refuse them visibly,
//!   which is better than a valid-looking task that silently differs from the source.
//!   Values of the wrong type (or an unknown enum word) cannot be carried and are left out,
//!   with a warning.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use serde_yaml::{Mapping, Value as Yaml};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::CliError;
use crate::api::{
    EventKind, NotifierType, OnOverlap, Route, RunWispNotifierSpec, RunWispTaskSpec, SecretKeyRef,
    Severity,
};
use crate::config::Config;
use crate::duration::parse_positive_duration;
use crate::firing::CatchUp;
use crate::retry::Backoff;

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The RunWisp TOML file (`-` reads standard input).
    pub file: PathBuf,
    /// Put every object in this namespace (default: none, so `kubectl apply -n` decides).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Container image for every task (default: the operator's --default-image).
    #[arg(long, value_name = "IMG")]
    pub image: Option<String>,
    /// Write one file per object into DIR (`<kind>-<name>.yaml`) instead of a stream on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `convert`: warnings on stderr, YAML on stdout (or files). Exit 0 even with warnings.
pub fn main(args: &ConvertArgs) -> Result<ExitCode, CliError> {
    let stdin = args.file.as_os_str() == "-";
    let label = if stdin {
        "<stdin>".to_string()
    } else {
        args.file.display().to_string()
    };
    let read_error = |source| CliError::Read {
        path: label.clone(),
        source,
    };
    let src = if stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(read_error)?;
        s
    } else {
        std::fs::read_to_string(&args.file).map_err(read_error)?
    };
    let opts = ConvertOptions {
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        now: Utc::now(),
    };
    let converted = convert(&src, &opts).map_err(|error| CliError::InvalidToml {
        file: label.clone(),
        error,
    })?;
    for w in &converted.warnings {
        eprintln!("{}", w.render(&label));
    }
    if converted.objects.is_empty() {
        eprintln!("warning: {label}: no tasks or notifiers to convert");
    }
    match &args.out {
        None => print!("{}", to_yaml_stream(&converted.objects)?),
        Some(dir) => {
            let write_error = |path: &std::path::Path| {
                let path = path.display().to_string();
                move |source| CliError::Write { path, source }
            };
            std::fs::create_dir_all(dir).map_err(write_error(dir))?;
            for o in &converted.objects {
                let path = dir.join(o.file_name());
                let yaml = serde_yaml::to_string(&o.doc)?;
                std::fs::write(&path, yaml).map_err(write_error(&path))?;
                println!("{}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The value every generated Secret template holds until a person fills it in.
pub const PLACEHOLDER: &str = "REPLACE_ME";
/// Key of the webhook URL in a notifier's Secret.
pub const WEBHOOK_URL_KEY: &str = "url";

#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// `metadata.namespace` of every object; omitted when `None` (so `kubectl apply -n` decides).
    pub namespace: Option<String>,
    /// `spec.image` of every task; omitted when `None` (the operator's default image).
    pub image: Option<String>,
    /// Anchors the never-fires check of cron validation.
    pub now: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Secret,
    RunWispNotifier,
    RunWispTask,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Secret => "Secret",
            Kind::RunWispNotifier => "RunWispNotifier",
            Kind::RunWispTask => "RunWispTask",
        }
    }

    fn api_version(&self) -> &'static str {
        match self {
            Kind::Secret => "v1",
            Kind::RunWispNotifier | Kind::RunWispTask => "runwisp.dev/v1alpha1",
        }
    }
}

/// One Kubernetes object of the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub kind: Kind,
    pub name: String,
    /// The whole manifest, keys in the order they are written.
    pub doc: Yaml,
}

impl Object {
    /// File name under `--out DIR`: `<kind>-<name>.yaml`, unique because names are unique per kind.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.yaml",
            self.kind.as_str().to_ascii_lowercase(),
            self.name
        )
    }
}

/// Something in the file that did not carry over as written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Warning {
    /// 1-based line of the key (or table header) the warning is about.
    pub line: usize,
    /// TOML path, e.g. `tasks.backup.stop_signal` or `notifier[0].url`.
    pub field: String,
    /// Continues the field into a sentence: `is not supported: ...`.
    pub message: String,
}

impl Warning {
    /// The stderr line: `warning: <file>:<line>: <field> <message>`.
    pub fn render(&self, file: &str) -> String {
        format!("warning: {file}:{self}")
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.line, self.field, self.message)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("{line}:{column}: invalid TOML: {message}")]
    InvalidToml {
        line: usize,
        column: usize,
        message: String,
        /// The offending line, for a caret display.
        source_line: String,
    },
}

impl ConvertError {
    pub fn label(&self) -> &'static str {
        match self {
            ConvertError::InvalidToml { .. } => "invalid_toml",
        }
    }

    /// The offending line with a caret under the column, rustc-style.
    pub fn snippet(&self) -> String {
        match self {
            ConvertError::InvalidToml {
                line,
                column,
                source_line,
                ..
            } => {
                let gutter = line.to_string().len();
                format!(
                    "{:gutter$} |\n{line} | {source_line}\n{:gutter$} | {:>column$}",
                    "", "", "^"
                )
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Converted {
    /// Notifiers (each after its Secret template), then tasks (likewise), in file order.
    pub objects: Vec<Object>,
    /// By line (stable), each once.
    pub warnings: Vec<Warning>,
}

/// Converts a RunWisp TOML document. Fails only when the text is not TOML.
pub fn convert(src: &str, opts: &ConvertOptions) -> Result<Converted, ConvertError> {
    let lines = LineIndex::new(src);
    let doc = DeTable::parse(src).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = lines.line_col(src, offset);
        ConvertError::InvalidToml {
            line,
            column,
            message: e.message().trim().to_string(),
            source_line: lines.text(src, line).to_string(),
        }
    })?;
    let mut cx = Cx {
        lines,
        opts,
        warnings: Vec::new(),
        objects: Vec::new(),
    };
    cx.document(doc.get_ref());
    // A problem in [defaults] is found once per task; say it once. Then file order.
    let mut seen = BTreeSet::new();
    let mut warnings: Vec<Warning> = cx
        .warnings
        .into_iter()
        .filter(|w| seen.insert(w.clone()))
        .collect();
    warnings.sort_by_key(|w| w.line);
    Ok(Converted {
        objects: cx.objects,
        warnings,
    })
}

/// A multi-document YAML stream, each document starting with `---`.
pub fn to_yaml_stream(objects: &[Object]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&o.doc)?);
    }
    Ok(out)
}

/// A Kubernetes object name (DNS-1123 subdomain) for a TOML key: lowercase; anything but
/// letters, digits, '-' and '.' becomes '-'; each dot-separated part trimmed of '-'; at
/// most 253 characters. Empty when nothing usable is left.
pub fn k8s_name(key: &str) -> String {
    let mapped: String = key
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let joined = mapped
        .split('.')
        .map(|p| p.trim_matches('-'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    fit(&joined, crate::names::MAX_SUBDOMAIN_LEN)
}

/// `base` cut to `max` bytes (ASCII) and trimmed so it still ends alphanumeric.
fn fit(base: &str, max: usize) -> String {
    let cut = &base[..base.len().min(max)];
    cut.trim_end_matches(['-', '.']).to_string()
}

/// The Secret a task's `secrets` become: `<task>-secrets`.
pub fn task_secret_name(task: &str) -> String {
    let suffix = "-secrets";
    format!(
        "{}{suffix}",
        fit(task, crate::names::MAX_SUBDOMAIN_LEN - suffix.len())
    )
}

/// The Secret a notifier's webhook URL lives in: `<notifier>-webhook`.
pub fn webhook_secret_name(notifier: &str) -> String {
    let suffix = "-webhook";
    format!(
        "{}{suffix}",
        fit(notifier, crate::names::MAX_SUBDOMAIN_LEN - suffix.len())
    )
}

// ---------------------------------------------------------------------------------------------
// Why each RunWisp key without a Kubernetes meaning is left out. Stable wording: users grep it.

const WHY_STOP_SIGNAL: &str = "Kubernetes stops a container with SIGTERM (or the image's STOPSIGNAL), \
     then SIGKILL after gracefulStop; bake another signal into the image with STOPSIGNAL";
const WHY_EXIT_CODES: &str = "only exit 0 counts as success on Kubernetes; map other codes in the \
     script itself (e.g. `cmd || [ $? -eq 3 ]`)";
const WHY_PARAMS: &str = "parameterised runs have no equivalent: a manual RunWispRun carries only \
     spec.taskRef; make one task per parameter set";
const WHY_LOGS: &str = "container logs belong to the kubelet (its log rotation settings); a run \
     keeps the last 4 KiB of each attempt in status.attempts[].logTail";
const WHY_SERVICES: &str = "long-running services are not scheduled tasks: run them as \
     Deployments and Services";
const WHY_COMPOSE: &str =
    "Compose projects have no equivalent here: use Deployments, Helm or kompose";
const WHY_STORAGE: &str = "the operator-wide cap on finished runs is the operator's \
     --max-finished-runs-per-namespace flag (Helm value); per-task keep_runs/keep_for are converted";
const WHY_SERVER: &str = "the RunWisp web UI and API have no equivalent: use `kubectl runwisp \
     status` and `logs`, Kubernetes Events and the operator's /metrics";
const WHY_ZONE: &str = "the scheduler-wide zone is the operator's --default-timezone flag (Helm \
     value); set timezone on a task to pin it";
const WHY_USER: &str = "set spec.podTemplate.spec.securityContext.runAsUser on the task instead";
const WHY_UNKNOWN_TASK_KEY: &str = "not a RunWisp task field this converter knows; not converted";
const WHY_UNKNOWN_TOP: &str = "not a RunWisp section this converter knows; not converted";
const WHY_UNKNOWN_NOTIFIER_KEY: &str = "RunWispNotifier carries only type, the webhook URL (from a \
     Secret), routes (events, tasks, min_severity), coalesce_window and run_url_base";

const KEPT: &str = "(kept as written; fix it before applying)";

/// RunWisp task keys this converter maps onto `RunWispTaskSpec`.
pub const TASK_KEYS: [&str; 24] = [
    "run",
    "description",
    "group",
    "cron",
    "timezone",
    "on_overlap",
    "max_concurrent",
    "max_queued",
    "timeout",
    "graceful_stop",
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
];

/// Why a task key (known to RunWisp or not) cannot be carried; `None` for [`TASK_KEYS`].
fn unsupported_task_key(key: &str) -> Option<&'static str> {
    if TASK_KEYS.contains(&key) {
        return None;
    }
    Some(match key {
        "stop_signal" => WHY_STOP_SIGNAL,
        "failures" | "successes" | "success_exit_codes" | "failure_exit_codes"
        | "success_codes" | "failure_codes" | "exit_codes" => WHY_EXIT_CODES,
        "params" | "parameters" => WHY_PARAMS,
        "services" | "service" | "depends_on" | "requires" => WHY_SERVICES,
        "compose" => WHY_COMPOSE,
        "user" | "run_as" | "uid" => WHY_USER,
        k if k.starts_with("log") || k.starts_with("max_log") => WHY_LOGS,
        _ => WHY_UNKNOWN_TASK_KEY,
    })
}

fn unsupported_top_key(key: &str) -> &'static str {
    match key {
        "services" | "service" => WHY_SERVICES,
        "compose" => WHY_COMPOSE,
        "params" | "parameters" => WHY_PARAMS,
        "storage" => WHY_STORAGE,
        "server" | "ui" | "web" | "http" | "auth" | "api" => WHY_SERVER,
        "timezone" | "scheduler" => WHY_ZONE,
        k if k.starts_with("log") => WHY_LOGS,
        _ => WHY_UNKNOWN_TOP,
    }
}

// ---------------------------------------------------------------------------------------------

type Val<'d> = Spanned<DeValue<'d>>;

/// A table entry with its key's span (the line warnings point at).
#[derive(Clone)]
struct Entry<'d> {
    key: &'d str,
    span: Range<usize>,
    value: &'d Val<'d>,
}

/// Entries in file order (the parser's map is sorted by key).
fn entries<'d>(t: &'d DeTable<'d>) -> Vec<Entry<'d>> {
    let mut v: Vec<Entry<'d>> = t
        .iter()
        .map(|(k, value)| Entry {
            key: k.get_ref().as_ref(),
            span: k.span(),
            value,
        })
        .collect();
    v.sort_by_key(|e| e.span.start);
    v
}

/// A task field after `[defaults]` were applied: where it came from and its value.
#[derive(Clone)]
struct Field<'d> {
    path: String,
    span: Range<usize>,
    value: &'d Val<'d>,
}

/// One task's fields, `[defaults]` first, the task's own on top.
#[derive(Clone, Default)]
struct TaskFields<'d> {
    /// Keyed by TOML key; file order of first appearance.
    scalars: Vec<(&'d str, Field<'d>)>,
    /// One per variable, merged across defaults and task.
    env: Vec<(String, Field<'d>)>,
    secrets: Vec<(String, Field<'d>)>,
    /// The `secrets` key itself (for the template warning's line).
    secrets_key: Option<Field<'d>>,
}

fn upsert<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, value: V) {
    if let Some(slot) = list.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else {
        list.push((key, value));
    }
}

/// Where a `notify_on_*` id points after conversion.
struct NotifierRef {
    name: String,
    converted: bool,
}

struct Cx<'o> {
    lines: LineIndex,
    opts: &'o ConvertOptions,
    warnings: Vec<Warning>,
    objects: Vec<Object>,
}

impl Cx<'_> {
    fn warn(&mut self, span: &Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            line: self.lines.line(span.start),
            field: field.into(),
            message: message.into(),
        });
    }

    fn wrong_type(&mut self, f: &Field<'_>, expected: &str) {
        let found = f.value.get_ref().type_str();
        self.warn(
            &f.span,
            &f.path,
            format!("is not converted: expected {expected}, found {found}"),
        );
    }

    fn document<'d>(&mut self, doc: &'d DeTable<'d>) {
        let mut tasks = None;
        let mut defaults = None;
        let mut notifier_sources = Vec::new();
        for e in entries(doc) {
            match e.key {
                "tasks" => match e.value.get_ref() {
                    DeValue::Table(t) => tasks = Some(t),
                    other => self.warn(
                        &e.span,
                        "tasks",
                        format!(
                            "is not converted: expected a table, found {}",
                            other.type_str()
                        ),
                    ),
                },
                "defaults" => match e.value.get_ref() {
                    DeValue::Table(t) => defaults = Some((t, e.span.clone())),
                    other => self.warn(
                        &e.span,
                        "defaults",
                        format!(
                            "is not converted: expected a table, found {}",
                            other.type_str()
                        ),
                    ),
                },
                "notifier" => self.collect_notifier_array(&e, &mut notifier_sources),
                "notifiers" => self.collect_notifier_tables(&e, &mut notifier_sources),
                key => {
                    let why = unsupported_top_key(key);
                    self.warn(&e.span, quote_key(key), format!("is not supported: {why}"));
                }
            }
        }

        notifier_sources.sort_by_key(|n: &NotifierSource<'_>| n.span.start);
        let mut refs: HashMap<String, NotifierRef> = HashMap::new();
        let mut names = BTreeSet::new();
        for n in notifier_sources {
            self.notifier(n, &mut names, &mut refs);
        }

        let base = match defaults {
            Some((t, _)) => self.collect_task_fields(t, "defaults", TaskFields::default()),
            None => TaskFields::default(),
        };
        let mut names = BTreeSet::new();
        for e in tasks.map(entries).unwrap_or_default() {
            self.task(&e, &base, &mut names, &refs);
        }
    }

    // -- tasks ---------------------------------------------------------------------------------

    fn collect_task_fields<'d>(
        &mut self,
        table: &'d DeTable<'d>,
        prefix: &str,
        mut fields: TaskFields<'d>,
    ) -> TaskFields<'d> {
        for e in entries(table) {
            let f = Field {
                path: join(prefix, e.key),
                span: e.span.clone(),
                value: e.value,
            };
            if let Some(why) = unsupported_task_key(e.key) {
                self.warn(&f.span, &f.path, format!("is not supported: {why}"));
                continue;
            }
            match e.key {
                "env" => match e.value.get_ref() {
                    DeValue::Table(vars) => {
                        for v in entries(vars) {
                            let field = Field {
                                path: join(&f.path, v.key),
                                span: v.span.clone(),
                                value: v.value,
                            };
                            upsert(&mut fields.env, v.key.to_string(), field);
                        }
                    }
                    _ => self.wrong_type(&f, "a table of variables"),
                },
                "secrets" => self.collect_secrets(&f, &mut fields),
                key => upsert(&mut fields.scalars, key, f),
            }
        }
        fields
    }

    /// `secrets = ["A", "B"]` or `secrets = { A = "...", B = "..." }`: names only, values never.
    fn collect_secrets<'d>(&mut self, f: &Field<'d>, fields: &mut TaskFields<'d>) {
        match f.value.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = Field {
                        path: format!("{}[{i}]", f.path),
                        span: item.span(),
                        value: item,
                    };
                    match item.get_ref().as_str() {
                        Some(name) => upsert(&mut fields.secrets, name.to_string(), field),
                        None => self.wrong_type(&field, "a secret name (string)"),
                    }
                }
            }
            DeValue::Table(t) => {
                for e in entries(t) {
                    let field = Field {
                        path: join(&f.path, e.key),
                        span: e.span.clone(),
                        value: e.value,
                    };
                    if e.value.get_ref().as_str().is_some_and(|s| !s.is_empty()) {
                        self.warn(
                            &field.span,
                            &field.path,
                            "has an inline value, which is NOT copied: put it in the task's Secret",
                        );
                    }
                    upsert(&mut fields.secrets, e.key.to_string(), field);
                }
            }
            _ => {
                self.wrong_type(f, "a list of secret names or a table");
                return;
            }
        }
        fields.secrets_key = Some(f.clone());
    }

    fn task<'d>(
        &mut self,
        e: &Entry<'d>,
        base: &TaskFields<'d>,
        names: &mut BTreeSet<String>,
        refs: &HashMap<String, NotifierRef>,
    ) {
        let path = join("tasks", e.key);
        let DeValue::Table(table) = e.value.get_ref() else {
            let found = e.value.get_ref().type_str();
            self.warn(
                &e.span,
                &path,
                format!("is not converted: expected a table, found {found}"),
            );
            return;
        };
        let fields = self.collect_task_fields(table, &path, base.clone());
        let Some(mut spec_fields) = self.task_spec(&path, &e.span, &fields, refs) else {
            return;
        };
        // Named only once it converts, so a skipped task does not take a name.
        let Some(name) = self.object_name(e.key, &e.span, &path, names) else {
            return;
        };
        let (spec, set) = &mut spec_fields;

        if !fields.secrets.is_empty() {
            let secret = task_secret_name(&name);
            let keys: Vec<&str> = fields.secrets.iter().map(|(k, _)| k.as_str()).collect();
            for (key, f) in &fields.secrets {
                if !is_secret_key(key) {
                    self.warn(
                        &f.span,
                        &f.path,
                        format!(
                            "is invalid: {key:?} is not a valid Secret key (letters, digits, '-', '_', '.') {KEPT}"
                        ),
                    );
                }
            }
            if let Some(k) = &fields.secrets_key {
                self.warn(
                    &k.span,
                    &k.path,
                    format!(
                        "become env from Secret {secret} (keys {}): a template with the placeholder \
                         {PLACEHOLDER} is included; put the real values in it before applying",
                        keys.join(", ")
                    ),
                );
            }
            let plain: BTreeSet<&str> = spec.env.iter().map(|v| v.name.as_str()).collect();
            for (key, f) in &fields.secrets {
                if plain.contains(key.as_str()) {
                    self.warn(
                        &f.span,
                        &f.path,
                        format!("is also set in env; the secret wins and env.{key} is dropped"),
                    );
                }
            }
            spec.env
                .retain(|v| !fields.secrets.iter().any(|(k, _)| *k == v.name));
            spec.env.extend(fields.secrets.iter().map(|(k, _)| EnvVar {
                name: k.clone(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.clone(),
                        key: k.clone(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            }));
            set.insert("env");
            let data = fields
                .secrets
                .iter()
                .map(|(k, _)| (k.clone(), PLACEHOLDER.to_string()))
                .collect();
            self.push_secret(&secret, data);
        }

        let mut doc = self.header(Kind::RunWispTask, &name);
        let spec_value = match serde_yaml::to_value(&*spec) {
            Ok(Yaml::Mapping(m)) => m,
            _ => Mapping::new(),
        };
        // Only what the file said: a minimal manifest reads like its source and keeps
        // operator-side defaults (and their future changes) in force.
        let filtered: Mapping = spec_value
            .into_iter()
            .filter(|(k, _)| k.as_str().is_some_and(|k| set.contains(k)))
            .collect();
        doc.insert("spec".into(), Yaml::Mapping(filtered));
        self.objects.push(Object {
            kind: Kind::RunWispTask,
            name,
            doc: Yaml::Mapping(doc),
        });
    }

    /// The spec and the camelCase fields the file set. `None` when the task has no script.
    fn task_spec(
        &mut self,
        path: &str,
        task_span: &Range<usize>,
        fields: &TaskFields<'_>,
        refs: &HashMap<String, NotifierRef>,
    ) -> Option<(RunWispTaskSpec, BTreeSet<&'static str>)> {
        // serde's defaults, so validation judges the task the apiserver will store.
        let mut spec = RunWispTaskSpec {
            max_concurrent: 1,
            max_queued: 100,
            max_catch_up_runs: 100,
            manual_trigger: true,
            ..Default::default()
        };
        let mut set = BTreeSet::new();
        let mut has_run = false;
        for (key, f) in &fields.scalars {
            match *key {
                "run" => {
                    if let Some(s) = self.string(f) {
                        spec.run = s;
                        has_run = true;
                        set.insert("run");
                    }
                }
                "description" => {
                    spec.description = self.string(f);
                    set.insert("description");
                }
                "group" => {
                    spec.group = self.string(f);
                    set.insert("group");
                }
                "cron" => {
                    spec.cron = self.string(f);
                    set.insert("cron");
                }
                "timezone" => {
                    spec.timezone = self.string(f);
                    set.insert("timezone");
                }
                "timeout" => {
                    spec.timeout = self.string(f);
                    set.insert("timeout");
                }
                "graceful_stop" => {
                    spec.graceful_stop = self.string(f);
                    set.insert("gracefulStop");
                }
                "retry_delay" => {
                    spec.retry_delay = self.string(f);
                    set.insert("retryDelay");
                }
                "keep_for" => {
                    spec.keep_for = self.string(f);
                    set.insert("keepFor");
                }
                "working_dir" => {
                    spec.working_dir = self.string(f);
                    set.insert("workingDir");
                }
                "shell" => {
                    spec.shell = self.string(f);
                    set.insert("shell");
                }
                "on_overlap" => {
                    if let Some(v) = self.on_overlap(f) {
                        spec.on_overlap = v;
                        set.insert("onOverlap");
                    }
                }
                "retry_backoff" => {
                    if let Some(v) = self.word(f, &["constant", "linear", "exponential"]) {
                        spec.retry_backoff = match v {
                            "linear" => Backoff::Linear,
                            "exponential" => Backoff::Exponential,
                            _ => Backoff::Constant,
                        };
                        set.insert("retryBackoff");
                    }
                }
                "catch_up" => {
                    if let Some(v) = self.word(f, &["latest", "all", "skip"]) {
                        spec.catch_up = match v {
                            "all" => CatchUp::All,
                            "skip" => CatchUp::Skip,
                            _ => CatchUp::Latest,
                        };
                        set.insert("catchUp");
                    }
                }
                "max_concurrent" => {
                    if let Some(n) = self.int(f, 1, 1024) {
                        spec.max_concurrent = n;
                        set.insert("maxConcurrent");
                    }
                }
                "max_queued" => {
                    if let Some(n) = self.int(f, 0, 10_000) {
                        spec.max_queued = n;
                        set.insert("maxQueued");
                    }
                }
                "retry_attempts" => {
                    if let Some(n) = self.int(f, 0, 100) {
                        spec.retry_attempts = n;
                        set.insert("retryAttempts");
                    }
                }
                "keep_runs" => {
                    if let Some(n) = self.int(f, 0, 100_000) {
                        spec.keep_runs = Some(n);
                        set.insert("keepRuns");
                    }
                }
                "max_catch_up_runs" => {
                    if let Some(n) = self.int(f, 0, 1000) {
                        spec.max_catch_up_runs = n;
                        set.insert("maxCatchUpRuns");
                    }
                }
                "manual_trigger" => match f.value.get_ref().as_bool() {
                    Some(b) => {
                        spec.manual_trigger = b;
                        set.insert("manualTrigger");
                    }
                    None => self.wrong_type(f, "true or false"),
                },
                "notify_on_failure" => {
                    spec.notify_on_failure = self.notifier_list(f, refs);
                    set.insert("notifyOnFailure");
                }
                "notify_on_success" => {
                    spec.notify_on_success = self.notifier_list(f, refs);
                    set.insert("notifyOnSuccess");
                }
                // Only TASK_KEYS reach here, and env/secrets are collected apart.
                _ => {}
            }
        }
        if !has_run {
            self.warn(
                task_span,
                path,
                "is not converted: it has no `run` script (in the task or [defaults])",
            );
            return None;
        }

        for (name, f) in &fields.env {
            if !is_env_name(name) {
                self.warn(
                    &f.span,
                    &f.path,
                    format!("is invalid: {name:?} is not a valid environment variable name {KEPT}"),
                );
            }
            if let Some(value) = self.env_value(f) {
                spec.env.push(EnvVar {
                    name: name.clone(),
                    value: Some(value),
                    value_from: None,
                });
                set.insert("env");
            }
        }
        if let Some(image) = &self.opts.image {
            spec.image = Some(image.clone());
            set.insert("image");
        }

        // The operator's own checks (cron, zone, durations, ranges), so the warnings say what
        // the task's Ready condition would say, pointing at the TOML line instead.
        if let Err(problems) = crate::taskdef::validate(&spec, self.opts.now, &Config::default()) {
            for p in problems {
                let key = snake_case(p.field);
                let (span, field) = fields
                    .scalars
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, f)| (f.span.clone(), f.path.clone()))
                    .unwrap_or_else(|| (task_span.clone(), join(path, &key)));
                // The type and range checks above may have said it already, in other words.
                let line = self.lines.line(span.start);
                if self
                    .warnings
                    .iter()
                    .any(|w| w.line == line && w.field == field)
                {
                    continue;
                }
                self.warn(&span, field, format!("is invalid: {} {KEPT}", p.message));
            }
        }
        Some((spec, set))
    }

    fn string(&mut self, f: &Field<'_>) -> Option<String> {
        match f.value.get_ref().as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.wrong_type(f, "a string");
                None
            }
        }
    }

    /// One of `allowed`, or a warning.
    fn word<'w>(&mut self, f: &Field<'_>, allowed: &[&'w str]) -> Option<&'w str> {
        let s = self.string(f)?;
        match allowed.iter().find(|a| **a == s) {
            Some(w) => Some(*w),
            None => {
                self.warn(
                    &f.span,
                    &f.path,
                    format!(
                        "is not converted: {s:?} is not one of {}",
                        allowed.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn on_overlap(&mut self, f: &Field<'_>) -> Option<OnOverlap> {
        if f.value.get_ref().as_str() == Some("terminate") {
            self.warn(
                &f.span,
                &f.path,
                "\"terminate\" is RunWisp's older name for \"kill\"; converted to onOverlap: kill",
            );
            return Some(OnOverlap::Kill);
        }
        Some(match self.word(f, &["queue", "skip", "kill"])? {
            "skip" => OnOverlap::Skip,
            "kill" => OnOverlap::Kill,
            _ => OnOverlap::Queue,
        })
    }

    /// An integer; outside `min..=max` it is kept (the apiserver will refuse it) when it fits
    /// a u32, else left out.
    fn int(&mut self, f: &Field<'_>, min: i64, max: i64) -> Option<u32> {
        let DeValue::Integer(i) = f.value.get_ref() else {
            self.wrong_type(f, "an integer");
            return None;
        };
        let Ok(n) = i64::from_str_radix(i.as_str(), i.radix()) else {
            self.warn(
                &f.span,
                &f.path,
                "is not converted: the integer is too large",
            );
            return None;
        };
        let fits = u32::try_from(n).ok();
        if n < min || n > max {
            let what = if fits.is_some() {
                KEPT
            } else {
                "(not converted)"
            };
            self.warn(
                &f.span,
                &f.path,
                format!("is invalid: {n} is outside {min}..={max} {what}"),
            );
        }
        fits
    }

    fn env_value(&mut self, f: &Field<'_>) -> Option<String> {
        match f.value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n.to_string()),
                Err(_) => Some(i.to_string()),
            },
            DeValue::Float(x) => Some(x.as_str().to_string()),
            DeValue::Boolean(b) => Some(b.to_string()),
            DeValue::Datetime(d) => Some(d.to_string()),
            DeValue::Array(_) | DeValue::Table(_) => {
                self.wrong_type(f, "a string, number or boolean");
                None
            }
        }
    }

    /// `notify_on_*`: notifier ids, as the names their RunWispNotifiers got.
    fn notifier_list(&mut self, f: &Field<'_>, refs: &HashMap<String, NotifierRef>) -> Vec<String> {
        let items: Vec<(String, Range<usize>)> = match f.value.get_ref() {
            DeValue::String(s) => vec![(s.to_string(), f.value.span())],
            DeValue::Array(a) => {
                let mut v = Vec::new();
                for (i, item) in a.iter().enumerate() {
                    match item.get_ref().as_str() {
                        Some(s) => v.push((s.to_string(), item.span())),
                        None => self.wrong_type(
                            &Field {
                                path: format!("{}[{i}]", f.path),
                                span: item.span(),
                                value: item,
                            },
                            "a notifier id (string)",
                        ),
                    }
                }
                v
            }
            _ => {
                self.wrong_type(f, "a list of notifier ids");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (id, _) in items {
            match refs.get(&id) {
                Some(r) => {
                    if !r.converted {
                        self.warn(
                            &f.span,
                            &f.path,
                            format!(
                                "names notifier {id:?}, which was not converted (see its warning); \
                                 create a RunWispNotifier named {:?} by hand",
                                r.name
                            ),
                        );
                    }
                    out.push(r.name.clone());
                }
                None => {
                    let name = k8s_name(&id);
                    if name.is_empty() {
                        self.warn(
                            &f.span,
                            &f.path,
                            format!("is not converted: {id:?} has no usable Kubernetes name"),
                        );
                        continue;
                    }
                    self.warn(
                        &f.span,
                        &f.path,
                        format!(
                            "names notifier {id:?}, which this file does not define; a \
                             RunWispNotifier named {name:?} must exist in the namespace"
                        ),
                    );
                    out.push(name);
                }
            }
        }
        out
    }

    // -- notifiers -----------------------------------------------------------------------------

    fn collect_notifier_array<'d>(&mut self, e: &Entry<'d>, out: &mut Vec<NotifierSource<'d>>) {
        match e.value.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("notifier[{i}]");
                    match item.get_ref() {
                        DeValue::Table(t) => out.push(NotifierSource {
                            path,
                            span: item.span(),
                            table_id: None,
                            index: i,
                            table: t,
                        }),
                        other => self.warn(
                            &item.span(),
                            path,
                            format!(
                                "is not converted: expected a table, found {}",
                                other.type_str()
                            ),
                        ),
                    }
                }
            }
            // `[notifier]` written once as a plain table.
            DeValue::Table(t) => out.push(NotifierSource {
                path: "notifier".into(),
                span: e.span.clone(),
                table_id: None,
                index: 0,
                table: t,
            }),
            other => self.warn(
                &e.span,
                "notifier",
                format!(
                    "is not converted: expected [[notifier]] tables, found {}",
                    other.type_str()
                ),
            ),
        }
    }

    fn collect_notifier_tables<'d>(&mut self, e: &Entry<'d>, out: &mut Vec<NotifierSource<'d>>) {
        let DeValue::Table(t) = e.value.get_ref() else {
            let found = e.value.get_ref().type_str();
            self.warn(
                &e.span,
                "notifiers",
                format!("is not converted: expected a table of notifiers, found {found}"),
            );
            return;
        };
        for (i, n) in entries(t).into_iter().enumerate() {
            let path = join("notifiers", n.key);
            match n.value.get_ref() {
                DeValue::Table(table) => out.push(NotifierSource {
                    path,
                    span: n.span.clone(),
                    table_id: Some(n.key.to_string()),
                    index: i,
                    table,
                }),
                other => self.warn(
                    &n.span,
                    path,
                    format!(
                        "is not converted: expected a table, found {}",
                        other.type_str()
                    ),
                ),
            }
        }
    }

    fn notifier(
        &mut self,
        n: NotifierSource<'_>,
        names: &mut BTreeSet<String>,
        refs: &mut HashMap<String, NotifierRef>,
    ) {
        let fields: Vec<(&str, Field<'_>)> = entries(n.table)
            .into_iter()
            .map(|e| {
                let f = Field {
                    path: join(&n.path, e.key),
                    span: e.span.clone(),
                    value: e.value,
                };
                (e.key, f)
            })
            .collect();
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, f)| f);

        let inline_id = get("id").and_then(|f| f.value.get_ref().as_str().map(str::to_string));
        if let Some(f) = get("id") {
            if inline_id.is_none() {
                self.wrong_type(f, "a string");
            }
        }
        let id = match (&n.table_id, inline_id) {
            (Some(key), Some(inline)) if *key != inline => {
                if let Some(f) = get("id") {
                    self.warn(
                        &f.span,
                        &f.path,
                        format!(
                            "{inline:?} differs from the table name; the table name {key:?} is used"
                        ),
                    );
                }
                key.clone()
            }
            (Some(key), _) => key.clone(),
            (None, Some(inline)) => inline,
            (None, None) => {
                let generated = format!("notifier-{}", n.index + 1);
                self.warn(
                    &n.span,
                    &n.path,
                    format!("has no id; it is named {generated:?}"),
                );
                generated
            }
        };
        let Some(name) = self.object_name(&id, &n.span, &n.path, names) else {
            return;
        };

        let type_ = match get("type") {
            None => {
                self.warn(&n.span, &n.path, "has no type; converted as type slack");
                Some(NotifierType::Slack)
            }
            Some(f) => match f.value.get_ref().as_str() {
                Some("slack") => Some(NotifierType::Slack),
                Some("webhook") => Some(NotifierType::Webhook),
                Some(other) => {
                    self.warn(
                        &f.span,
                        &f.path,
                        format!(
                            "is not supported: notifier type {other:?} (only slack and webhook); \
                             the notifier is not converted"
                        ),
                    );
                    None
                }
                None => {
                    self.wrong_type(f, "slack or webhook");
                    None
                }
            },
        };
        let Some(type_) = type_ else {
            refs.insert(
                id,
                NotifierRef {
                    name,
                    converted: false,
                },
            );
            return;
        };

        let secret = webhook_secret_name(&name);
        let mut spec = RunWispNotifierSpec {
            type_,
            webhook_url_secret_ref: SecretKeyRef {
                name: secret.clone(),
                key: WEBHOOK_URL_KEY.into(),
            },
            ..Default::default()
        };
        let mut events = Vec::new();
        let mut globs: Vec<String> = Vec::new();
        let mut min_severity = None;
        let mut routed = false;
        let mut url_said = false;
        for (key, f) in &fields {
            match *key {
                "id" | "type" => {}
                "url" => {
                    url_said = true;
                    self.warn(
                        &f.span,
                        &f.path,
                        format!(
                            "holds the webhook URL inline, which is NOT copied: put it in Secret \
                             {secret} (key {WEBHOOK_URL_KEY}) and remove it from the file"
                        ),
                    );
                }
                "url_env" => {
                    url_said = true;
                    let var = f.value.get_ref().as_str().unwrap_or("URL");
                    self.warn(
                        &f.span,
                        &f.path,
                        format!(
                            "is not read by the operator: put the URL in Secret {secret} (key \
                             {WEBHOOK_URL_KEY}), e.g. kubectl create secret generic {secret} \
                             --from-literal={WEBHOOK_URL_KEY}=\"${var}\""
                        ),
                    );
                }
                "events" => {
                    routed = true;
                    events = self.events(f);
                }
                "tasks" => {
                    routed = true;
                    globs = self.task_globs(f);
                }
                "min_severity" => {
                    routed = true;
                    min_severity = match f.value.get_ref().as_str() {
                        Some("info") => Some(Severity::Info),
                        Some("warn" | "warning") => Some(Severity::Warn),
                        Some("error") => Some(Severity::Error),
                        Some(other) => {
                            self.warn(
                                &f.span,
                                &f.path,
                                format!(
                                    "is not converted: {other:?} is not one of info, warn, error"
                                ),
                            );
                            None
                        }
                        None => {
                            self.wrong_type(f, "info, warn or error");
                            None
                        }
                    };
                }
                "coalesce_window" => {
                    if let Some(s) = self.string(f) {
                        if let Err(e) = parse_positive_duration(&s) {
                            self.warn(&f.span, &f.path, format!("is invalid: {s:?}: {e} {KEPT}"));
                        }
                        spec.coalesce_window = Some(s);
                    }
                }
                "run_url_base" => spec.run_url_base = self.string(f),
                _ => {
                    self.warn(
                        &f.span,
                        &f.path,
                        format!("is not supported: {WHY_UNKNOWN_NOTIFIER_KEY}"),
                    );
                }
            }
        }
        if routed {
            let route = |tasks: Option<String>| Route {
                events: events.clone(),
                tasks,
                min_severity,
            };
            spec.routes = if globs.is_empty() {
                vec![route(None)]
            } else {
                globs.into_iter().map(|g| route(Some(g))).collect()
            };
        }
        if !url_said {
            self.warn(
                &n.span,
                &n.path,
                format!(
                    "needs its webhook URL in Secret {secret} (key {WEBHOOK_URL_KEY}): a template \
                     with the placeholder {PLACEHOLDER} is included; put the URL in it before applying"
                ),
            );
        }

        let data = BTreeMap::from([(WEBHOOK_URL_KEY.to_string(), PLACEHOLDER.to_string())]);
        self.push_secret(&secret, data);
        let mut doc = self.header(Kind::RunWispNotifier, &name);
        doc.insert(
            "spec".into(),
            serde_yaml::to_value(&spec).unwrap_or(Yaml::Null),
        );
        self.objects.push(Object {
            kind: Kind::RunWispNotifier,
            name: name.clone(),
            doc: Yaml::Mapping(doc),
        });
        refs.insert(
            id,
            NotifierRef {
                name,
                converted: true,
            },
        );
    }

    fn events(&mut self, f: &Field<'_>) -> Vec<EventKind> {
        let Some(items) = f.value.get_ref().as_array() else {
            self.wrong_type(f, "a list of event kinds");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = Field {
                path: format!("{}[{i}]", f.path),
                span: item.span(),
                value: item,
            };
            let Some(s) = item.get_ref().as_str() else {
                self.wrong_type(&field, "an event kind (string)");
                continue;
            };
            match serde_json::from_value::<EventKind>(serde_json::Value::String(s.to_string())) {
                Ok(kind) if !out.contains(&kind) => out.push(kind),
                Ok(_) => {}
                Err(_) => self.warn(
                    &field.span,
                    &field.path,
                    format!(
                        "is not converted: unknown event kind {s:?} (run.started, run.succeeded, \
                         run.failed, run.timeout, run.stopped, run.crashed, run.missed, \
                         notify.delivery_failed)"
                    ),
                ),
            }
        }
        out
    }

    /// Task-name globs, rewritten the way task names were (`backup_*` → `backup-*`).
    fn task_globs(&mut self, f: &Field<'_>) -> Vec<String> {
        let raw: Vec<(String, Range<usize>, String)> = match f.value.get_ref() {
            DeValue::String(s) => vec![(s.to_string(), f.span.clone(), f.path.clone())],
            DeValue::Array(a) => {
                let mut v = Vec::new();
                for (i, item) in a.iter().enumerate() {
                    let field = Field {
                        path: format!("{}[{i}]", f.path),
                        span: item.span(),
                        value: item,
                    };
                    match item.get_ref().as_str() {
                        Some(s) => v.push((s.to_string(), field.span, field.path)),
                        None => self.wrong_type(&field, "a task-name glob (string)"),
                    }
                }
                v
            }
            _ => {
                self.wrong_type(f, "a task-name glob or a list of them");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (glob, span, path) in raw {
            let rewritten = glob.to_ascii_lowercase().replace('_', "-");
            if rewritten != glob {
                self.warn(
                    &span,
                    &path,
                    format!("{glob:?} is rewritten to {rewritten:?} to match the renamed tasks"),
                );
            }
            if let Err(e) = glob::Pattern::new(&rewritten) {
                self.warn(&span, &path, format!("is invalid: {glob:?}: {e} {KEPT}"));
            }
            if !out.contains(&rewritten) {
                out.push(rewritten);
            }
        }
        out
    }

    // -- shared --------------------------------------------------------------------------------

    /// A unique Kubernetes name for `key`, with a warning when it differs from the key.
    fn object_name(
        &mut self,
        key: &str,
        span: &Range<usize>,
        path: &str,
        taken: &mut BTreeSet<String>,
    ) -> Option<String> {
        let base = k8s_name(key);
        if base.is_empty() {
            self.warn(
                span,
                path,
                format!("is not converted: {key:?} has no usable Kubernetes name"),
            );
            return None;
        }
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            let suffix = format!("-{n}");
            name = format!(
                "{}{suffix}",
                fit(&base, crate::names::MAX_SUBDOMAIN_LEN - suffix.len())
            );
            n += 1;
        }
        if name != key {
            let why = if name == base {
                "Kubernetes names allow only lowercase letters, digits, '-' and '.'"
            } else {
                "another object already has that name"
            };
            self.warn(span, path, format!("is renamed to {name:?}: {why}"));
        }
        taken.insert(name.clone());
        Some(name)
    }

    fn header(&self, kind: Kind, name: &str) -> Mapping {
        let mut meta = Mapping::new();
        meta.insert("name".into(), name.into());
        if let Some(ns) = &self.opts.namespace {
            meta.insert("namespace".into(), ns.as_str().into());
        }
        let mut doc = Mapping::new();
        doc.insert("apiVersion".into(), kind.api_version().into());
        doc.insert("kind".into(), kind.as_str().into());
        doc.insert("metadata".into(), Yaml::Mapping(meta));
        doc
    }

    fn push_secret(&mut self, name: &str, data: BTreeMap<String, String>) {
        let mut doc = self.header(Kind::Secret, name);
        doc.insert("type".into(), "Opaque".into());
        let string_data: Mapping = data
            .into_iter()
            .map(|(k, v)| (Yaml::from(k), Yaml::from(v)))
            .collect();
        doc.insert("stringData".into(), Yaml::Mapping(string_data));
        self.objects.push(Object {
            kind: Kind::Secret,
            name: name.to_string(),
            doc: Yaml::Mapping(doc),
        });
    }
}

struct NotifierSource<'d> {
    /// `notifier[0]` or `notifiers.<id>`.
    path: String,
    span: Range<usize>,
    /// The `<id>` of `[notifiers.<id>]`.
    table_id: Option<String>,
    /// Position among its kind, for a generated name.
    index: usize,
    table: &'d DeTable<'d>,
}

/// A TOML key as written in a dotted path: bare when it can be, quoted otherwise.
fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// `prefix.key`, quoting the key when TOML would.
fn join(prefix: &str, key: &str) -> String {
    format!("{prefix}.{}", quote_key(key))
}

/// `gracefulStop` → `graceful_stop`: spec field names back to TOML keys.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What the apiserver accepts as an env var name: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_'))
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// What the apiserver accepts as a Secret key: `[-._a-zA-Z0-9]+`, at most 253.
fn is_secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Byte offset → 1-based line (and column, in characters).
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(src: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|s| *s <= offset).max(1)
    }

    fn line_col(&self, src: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts[line - 1];
        let end = offset.min(src.len());
        let column = src.get(start..end).map(|s| s.chars().count()).unwrap_or(0) + 1;
        (line, column)
    }

    fn text<'s>(&self, src: &'s str, line: usize) -> &'s str {
        let start = self.starts.get(line - 1).copied().unwrap_or(src.len());
        let end = self
            .starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(src.len())
            .max(start);
        src.get(start..end).unwrap_or("").trim_end_matches('\r')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    fn run(src: &str) -> Converted {
        convert(src, &opts()).expect("valid TOML")
    }

    fn spec_of(c: &Converted, name: &str) -> serde_yaml::Value {
        c.objects
            .iter()
            .find(|o| o.kind == Kind::RunWispTask && o.name == name)
            .map(|o| o.doc["spec"].clone())
            .unwrap_or_else(|| panic!("no task {name}: {:?}", c.objects))
    }

    fn fields(c: &Converted) -> Vec<String> {
        c.warnings.iter().map(|w| w.field.clone()).collect()
    }

    #[test]
    fn a_task_key_with_underscores_becomes_a_kubernetes_name_with_a_warning() {
        let c = run("[tasks.backup_postgres]\nrun = 'true'\n");
        assert_eq!(c.objects[0].name, "backup-postgres");
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(c.warnings[0].line, 1);
        assert!(
            c.warnings[0]
                .message
                .starts_with("is renamed to \"backup-postgres\"")
        );
    }

    #[test]
    fn names_are_lowercased_trimmed_and_cut_to_253() {
        assert_eq!(k8s_name("Backup_PG"), "backup-pg");
        assert_eq!(k8s_name("_x_"), "x");
        assert_eq!(k8s_name("a..b"), "a.b");
        assert_eq!(k8s_name("ü"), "");
        assert_eq!(k8s_name(&"a".repeat(300)).len(), 253);
        assert!(crate::names::is_dns1123_subdomain(&k8s_name("-A_b.-c-.d_")));
    }

    #[test]
    fn names_that_collide_get_a_numbered_suffix() {
        let c = run("[tasks.a_b]\nrun = 'x'\n[tasks.a-b]\nrun = 'y'\n");
        let names: Vec<_> = c.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a-b", "a-b-2"]);
    }

    #[test]
    fn defaults_apply_and_a_task_field_wins() {
        let c = run("[defaults]\ntimeout = '5m'\nretry_attempts = 2\n\
             [tasks.a]\nrun = 'x'\n[tasks.b]\nrun = 'y'\ntimeout = '1h'\n");
        assert_eq!(spec_of(&c, "a")["timeout"], "5m");
        assert_eq!(spec_of(&c, "a")["retryAttempts"], 2);
        assert_eq!(spec_of(&c, "b")["timeout"], "1h");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn env_merges_across_defaults_and_task_with_the_task_winning() {
        let c = run(
            "[defaults.env]\nA = '1'\nB = '2'\n[tasks.t]\nrun = 'x'\nenv = { B = 3, C = true }\n",
        );
        let env = &spec_of(&c, "t")["env"];
        let pairs: Vec<(String, String)> = env
            .as_sequence()
            .expect("env list")
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or_default().to_string(),
                    v["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [("A", "1"), ("B", "3"), ("C", "true")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn secrets_become_secret_key_refs_and_a_template_without_values() {
        let c = run("[tasks.t]\nrun = 'x'\nsecrets = { DB_PASSWORD = 'hunter2' }\n");
        let secret = &c.objects[0];
        assert_eq!(
            (secret.kind, secret.name.as_str()),
            (Kind::Secret, "t-secrets")
        );
        assert_eq!(secret.doc["stringData"]["DB_PASSWORD"], PLACEHOLDER);
        let yaml = to_yaml_stream(&c.objects).expect("yaml");
        assert!(!yaml.contains("hunter2"));
        let env = &spec_of(&c, "t")["env"][0];
        assert_eq!(env["valueFrom"]["secretKeyRef"]["name"], "t-secrets");
        assert_eq!(env["valueFrom"]["secretKeyRef"]["key"], "DB_PASSWORD");
        assert!(fields(&c).contains(&"tasks.t.secrets.DB_PASSWORD".to_string()));
    }

    #[test]
    fn an_inline_webhook_url_is_never_copied() {
        let c = run(
            "[[notifier]]\nid = 'ops'\ntype = 'slack'\nurl = 'https://hooks.slack.com/services/T/B/secret'\n",
        );
        let yaml = to_yaml_stream(&c.objects).expect("yaml");
        assert!(!yaml.contains("hooks.slack.com"), "{yaml}");
        assert_eq!(
            fields(&c),
            ["notifier[0].url"],
            "one warning, about the URL: {:?}",
            c.warnings
        );
    }

    #[test]
    fn terminate_is_converted_to_kill_with_a_warning() {
        let c = run("[tasks.t]\nrun = 'x'\non_overlap = 'terminate'\n");
        assert_eq!(spec_of(&c, "t")["onOverlap"], "kill");
        assert_eq!(fields(&c), ["tasks.t.on_overlap"]);
    }

    #[test]
    fn an_unsupported_field_is_named_with_its_line() {
        let c = run("[tasks.backup]\nrun = 'x'\nstop_signal = 'SIGINT'\n");
        let w = &c.warnings[0];
        assert_eq!(
            w.render("f.toml")
                .split(": Kubernetes")
                .next()
                .unwrap_or_default(),
            "warning: f.toml:3: tasks.backup.stop_signal is not supported"
        );
    }

    #[test]
    fn a_bad_cron_is_kept_and_warned_on_its_line() {
        let c = run("[tasks.t]\nrun = 'x'\ncron = '61 * * * *'\n");
        assert_eq!(spec_of(&c, "t")["cron"], "61 * * * *");
        assert_eq!(c.warnings[0].line, 3);
        assert!(c.warnings[0].message.starts_with("is invalid:"));
    }

    #[test]
    fn a_bad_default_is_reported_once_not_per_task() {
        let c = run("[defaults]\ntimeout = '5x'\n[tasks.a]\nrun='x'\n[tasks.b]\nrun='y'\n");
        assert_eq!(fields(&c), ["defaults.timeout"]);
    }

    #[test]
    fn a_task_without_a_script_is_reported_not_converted() {
        let c = run("[tasks.t]\ncron = '@daily'\n");
        assert!(c.objects.is_empty());
        assert_eq!(fields(&c), ["tasks.t"]);
    }

    #[test]
    fn invalid_toml_fails_with_line_and_column() {
        let e = convert("[tasks.t]\nrun = 'x'\ncron = \n", &opts()).expect_err("invalid");
        let ConvertError::InvalidToml { line, column, .. } = &e;
        assert_eq!((*line, *column), (3, 8));
        assert!(e.to_string().starts_with("3:8: invalid TOML: "), "{e}");
        assert!(e.snippet().contains("3 | cron = "), "{}", e.snippet());
    }

    #[test]
    fn namespace_and_image_options_fill_every_object() {
        let o = ConvertOptions {
            namespace: Some("ops".into()),
            image: Some("postgres:16".into()),
            ..opts()
        };
        let c = convert("[tasks.t]\nrun = 'x'\nsecrets = ['A']\n", &o).expect("valid");
        for obj in &c.objects {
            assert_eq!(obj.doc["metadata"]["namespace"], "ops");
        }
        assert_eq!(spec_of(&c, "t")["image"], "postgres:16");
    }

    #[test]
    fn notify_ids_follow_their_renamed_notifiers() {
        let c = run("[notifiers.slack_ops]\ntype = 'slack'\nurl_env = 'U'\n\
             [tasks.t]\nrun = 'x'\nnotify_on_failure = ['slack_ops']\n");
        assert_eq!(spec_of(&c, "t")["notifyOnFailure"][0], "slack-ops");
        assert!(
            !fields(&c).contains(&"tasks.t.notify_on_failure".to_string()),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn an_undefined_notifier_reference_is_kept_and_warned() {
        let c = run("[tasks.t]\nrun = 'x'\nnotify_on_failure = ['pager']\n");
        assert_eq!(spec_of(&c, "t")["notifyOnFailure"][0], "pager");
        assert_eq!(fields(&c), ["tasks.t.notify_on_failure"]);
    }

    #[test]
    fn every_object_parses_as_its_typed_kind() {
        let c = run(
            "[[notifier]]\nid = 'n'\ntype = 'webhook'\nevents = ['run.failed']\n\
             tasks = ['a*', 'b*']\nmin_severity = 'warn'\n\
             [tasks.a]\nrun = 'x'\ncron = '@daily'\nsecrets = ['S']\nenv = { E = 1 }\n",
        );
        for o in &c.objects {
            match o.kind {
                Kind::RunWispTask => {
                    serde_yaml::from_value::<crate::api::RunWispTask>(o.doc.clone()).expect("task");
                }
                Kind::RunWispNotifier => {
                    let n = serde_yaml::from_value::<crate::api::RunWispNotifier>(o.doc.clone())
                        .expect("notifier");
                    assert_eq!(n.spec.routes.len(), 2);
                }
                Kind::Secret => {
                    serde_yaml::from_value::<k8s_openapi::api::core::v1::Secret>(o.doc.clone())
                        .expect("secret");
                }
            }
        }
    }

    #[test]
    fn file_names_carry_the_kind_and_the_name() {
        let c = run("[tasks.t]\nrun = 'x'\n");
        assert_eq!(c.objects[0].file_name(), "runwisptask-t.yaml");
    }

    #[test]
    fn spec_field_names_map_back_to_toml_keys() {
        assert_eq!(snake_case("gracefulStop"), "graceful_stop");
        assert_eq!(snake_case("cron"), "cron");
        assert_eq!(snake_case("maxCatchUpRuns"), "max_catch_up_runs");
    }
}
