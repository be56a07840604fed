//! A person's commands: `convert`, `trigger`, `status`, `logs`.
//!
//! Shared by `runwisp-operator <command>` and the kubectl plugin `kubectl-runwisp <command>`
//! (`kubectl runwisp <command>`): both parse the same [`Command`] and call [`run`], so the two
//! spellings behave identically whatever name the binary was started under.
//!
//! Each command keeps its decisions (formatting, exit codes, which run or attempt) in pure
//! functions next to it, tested without a cluster; the API calls are a thin layer around them.

pub mod convert;
pub mod kube;
pub mod logs;
pub mod status;
pub mod trigger;

use std::process::ExitCode;

use chrono::{DateTime, Utc};

/// The person-facing subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Convert a RunWisp TOML file into RunWispTask, RunWispNotifier and Secret-template YAML.
    Convert(convert::ConvertArgs),
    /// Start a manual run of a task; with --wait, follow it and exit with its exit code.
    Trigger(trigger::TriggerArgs),
    /// Show tasks: schedule, next run, last run, active and queued runs.
    Status(status::StatusArgs),
    /// Print the output of a run's attempt (a task means its newest run).
    Logs(logs::LogsArgs),
}

/// The kubectl plugin's command line (`kubectl runwisp ...`).
#[derive(clap::Parser, Debug)]
#[command(
    name = "kubectl-runwisp",
    bin_name = "kubectl runwisp",
    version,
    about = "RunWisp-style scheduled tasks on Kubernetes: convert, trigger, status, logs"
)]
pub struct Plugin {
    #[command(subcommand)]
    pub command: Command,
}

/// Entry of the `kubectl-runwisp` binary.
pub async fn plugin_main() -> ExitCode {
    let cli = <Plugin as clap::Parser>::parse();
    run(cli.command).await
}

/// Runs one command; errors go to stderr as `error: ...` with [`CliError::exit_code`].
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Convert(args) => convert::main(&args),
        Command::Trigger(args) => trigger::main(&args).await,
        Command::Status(args) => status::main(&args).await,
        Command::Logs(args) => logs::main(&args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{file}:{error}\n{}", error.snippet())]
    InvalidToml {
        file: String,
        error: convert::ConvertError,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("cannot load the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] ::kube::Error),
    #[error("{kind} {name:?} not found in namespace {namespace}")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
    },
    #[error("task {task:?} does not allow manual runs (spec.manualTrigger is false)")]
    ManualTriggerDisabled { task: String },
    #[error("run {run} has no attempt {attempt} (it has {count})")]
    NoSuchAttempt {
        run: String,
        attempt: u32,
        count: usize,
    },
    #[error("{0}")]
    NoLogs(String),
    #[error("run {0} was deleted while waiting for it")]
    RunDeleted(String),
    #[error("the watch on run {0} ended before the run did")]
    WatchEnded(String),
}

impl CliError {
    /// Stable snake_case name of the variant.
    pub fn label(&self) -> &'static str {
        match self {
            CliError::InvalidToml { .. } => "invalid_toml",
            CliError::Read { .. } => "read",
            CliError::Write { .. } => "write",
            CliError::Yaml(_) => "yaml",
            CliError::Kubeconfig(_) => "kubeconfig",
            CliError::Kube(_) => "kube_api",
            CliError::NotFound { .. } => "not_found",
            CliError::ManualTriggerDisabled { .. } => "manual_trigger_disabled",
            CliError::NoSuchAttempt { .. } => "no_such_attempt",
            CliError::NoLogs(_) => "no_logs",
            CliError::RunDeleted(_) => "run_deleted",
            CliError::WatchEnded(_) => "watch_ended",
        }
    }

    /// 2 for input that is not valid (like clap's usage errors), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::InvalidToml { .. } => 2,
            _ => 1,
        }
    }
}

/// A span of time for people, kubectl-style: `45s`, `5m30s`, `45m`, `3h12m`, `15h`, `2d3h`, `45d`.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (m, h, days) = (s / 60, s / 3600, s / 86_400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => match s % 60 {
            0 => format!("{m}m"),
            rest => format!("{m}m{rest}s"),
        },
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => match m % 60 {
            0 => format!("{h}h"),
            rest => format!("{h}h{rest}m"),
        },
        _ if h < 48 => format!("{h}h"),
        _ if days < 8 => match h % 24 {
            0 => format!("{days}d"),
            rest => format!("{days}d{rest}h"),
        },
        _ => format!("{days}d"),
    }
}

/// `5m ago`, or `in 5m` for a time ahead of `now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t > now {
        format!("in {}", human_duration(t - now))
    } else {
        format!("{} ago", human_duration(now - t))
    }
}

/// `5m ago` for a time in the past; a time slightly ahead (clock skew) reads `0s ago`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", human_duration(now - t))
}

/// Left-aligned columns separated by three spaces, like `kubectl get`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secs(s: i64) -> chrono::Duration {
        chrono::Duration::seconds(s)
    }

    #[test]
    fn durations_read_like_kubectl_ages() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (45 * 60, "45m"),
            (3 * 3600 + 12 * 60, "3h12m"),
            (15 * 3600, "15h"),
            (2 * 86_400 + 3 * 3600, "2d3h"),
            (45 * 86_400, "45d"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(secs(s)), want, "{s}s");
        }
    }

    #[test]
    fn negative_durations_read_as_zero() {
        assert_eq!(human_duration(secs(-5)), "0s");
    }

    #[test]
    fn relative_times_say_ago_or_in() {
        let now = Utc
            .with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
            .single()
            .expect("t");
        assert_eq!(relative(now - secs(300), now), "5m ago");
        assert_eq!(relative(now + secs(300), now), "in 5m");
        assert_eq!(ago(now + secs(2), now), "0s ago");
    }

    #[test]
    fn table_columns_line_up_and_lines_have_no_trailing_spaces() {
        let out = table(
            &["A", "BB"],
            &[
                vec!["long-value".into(), "x".into()],
                vec!["y".into(), "".into()],
            ],
        );
        assert_eq!(out, "A            BB\nlong-value   x\ny\n");
    }

    #[test]
    fn only_invalid_input_exits_2() {
        let e = CliError::InvalidToml {
            file: "f.toml".into(),
            error: convert::ConvertError::InvalidToml {
                line: 1,
                column: 2,
                message: "m".into(),
                source_line: "x".into(),
            },
        };
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("f.toml:1:2: invalid TOML: m\n"));
        assert_eq!(CliError::NoLogs("x".into()).exit_code(), 1);
    }
}
