//! Operator-wide settings (flags of `runwisp-operator run`, Helm values).

use std::time::Duration;

use chrono_tz::Tz;

#[derive(Clone, Debug)]
pub struct Config {
    /// Zone for tasks without `timezone`.
    pub default_timezone: Tz,
    /// Image for tasks without `image`.
    pub default_image: String,
    /// Shell for tasks without `shell`.
    pub default_shell: String,
    /// A tick reconciled later than this after its time counts as missed (operator downtime).
    pub on_time_grace: Duration,
    /// How long an attempt Pod may stay unschedulable or without its image before `start_failed`.
    pub start_timeout: Duration,
    /// Bytes of output kept in a run's status per attempt.
    pub log_tail_bytes: usize,
    /// Lines of output asked of the kubelet for the tail.
    pub log_tail_lines: i64,
    /// Operator-wide cap on finished runs per namespace (RunWisp's `[storage]`).
    pub max_finished_runs_per_namespace: Option<u32>,
    /// Tasks reconciled at once (each reconcile of one task is serialized).
    pub concurrency: u16,
    /// Watch only this namespace (None: every namespace).
    pub watch_namespace: Option<String>,
    /// Name used as the field manager, event reporter and Lease holder prefix.
    pub manager: String,
}

pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(5);

impl Default for Config {
    fn default() -> Self {
        Config {
            default_timezone: Tz::UTC,
            default_image: "busybox:1.36".into(),
            default_shell: "/bin/sh".into(),
            on_time_grace: Duration::from_secs(60),
            start_timeout: Duration::from_secs(300),
            log_tail_bytes: 4096,
            log_tail_lines: 100,
            max_finished_runs_per_namespace: None,
            watch_namespace: None,
            concurrency: 128,
            manager: "runwisp-operator".into(),
        }
    }
}
