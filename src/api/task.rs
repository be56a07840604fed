// kube-derive repeats `type_ = ...` across printcolumn(...) groups, which clippy reads as a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::EnvVar;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema;
use crate::firing::CatchUp;
use crate::retry::{Backoff, EndReason};

/// What to run and when: one RunWisp task.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "runwisp.dev",
    version = "v1alpha1",
    kind = "RunWispTask",
    namespaced,
    status = "RunWispTaskStatus",
    shortname = "rwtask",
    category = "runwisp",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.cron"),
    printcolumn(
        name = "Zone",
        type_ = "string",
        json_path = ".spec.timezone",
        priority = "1"
    ),
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(
        name = "Last Run",
        type_ = "date",
        json_path = ".status.lastScheduleTime"
    ),
    printcolumn(
        name = "End Reason",
        type_ = "string",
        json_path = ".status.lastEndReason"
    ),
    printcolumn(
        name = "Next Run",
        type_ = "string",
        format = "date-time",
        json_path = ".status.nextScheduleTime"
    ),
    printcolumn(
        name = "Active",
        type_ = "integer",
        json_path = ".status.activeCount",
        priority = "1"
    ),
    printcolumn(
        name = "Queued",
        type_ = "integer",
        json_path = ".status.queuedCount",
        priority = "1"
    ),
    printcolumn(
        name = "Group",
        type_ = "string",
        json_path = ".spec.group",
        priority = "1"
    ),
    printcolumn(
        name = "Description",
        type_ = "string",
        json_path = ".spec.description",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RunWispTaskSpec {
    /// Label for people and UIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// 5 fields, or 6 with leading seconds; `@hourly`-style aliases; `@every 90m`. Absent: manual-only.
    /// Standard cron semantics: weekday 0-7 (0 and 7 are Sunday); day-of-month OR day-of-week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub cron: Option<String>,
    /// IANA time zone for `cron` (e.g. `Europe/Berlin`); the operator's `--default-timezone` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_+\-/]+$"))]
    pub timezone: Option<String>,
    /// Stop firing (cron and catch-up); history and manual runs are kept.
    #[serde(default)]
    pub suspend: bool,

    /// What a firing does when `maxConcurrent` runs are active.
    #[serde(default)]
    pub on_overlap: OnOverlap,
    #[serde(default = "default_max_concurrent")]
    #[schemars(range(min = 1, max = 1024))]
    pub max_concurrent: u32,
    #[serde(default = "default_max_queued")]
    #[schemars(range(min = 0, max = 10000))]
    pub max_queued: u32,

    /// Per attempt; becomes the attempt Pod's `activeDeadlineSeconds`. Duration such as `45m`, `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d|w))+$"))]
    pub timeout: Option<String>,
    /// Grace before the hard kill; becomes `terminationGracePeriodSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d|w))+$"))]
    pub graceful_stop: Option<String>,

    /// Extra attempts after the first (after `failed`, `timeout` or `crashed`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub retry_attempts: u32,
    /// Wait before a retry (default 5s); each wait is capped at 5 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d|w))+$"))]
    pub retry_delay: Option<String>,
    #[serde(default)]
    pub retry_backoff: Backoff,

    /// Keep the N newest finished runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub keep_runs: Option<u32>,
    /// Delete finished runs older than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d|w))+$"))]
    pub keep_for: Option<String>,

    /// Missed firings after operator downtime.
    #[serde(default)]
    pub catch_up: CatchUp,
    #[serde(default = "default_max_catch_up_runs")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_catch_up_runs: u32,

    /// RunWispNotifier names in this namespace for `run.failed`, `run.timeout`, `run.crashed`, `run.missed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(
            length(min = 1, max = 253),
            regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
        )
    )]
    pub notify_on_failure: Vec<String>,
    /// RunWispNotifier names in this namespace for `run.succeeded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(
            length(min = 1, max = 253),
            regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
        )
    )]
    pub notify_on_success: Vec<String>,

    /// `false` refuses RunWispRuns created by people.
    #[serde(default = "default_true")]
    pub manual_trigger: bool,

    /// The script, run as `<shell> -e -c <run>`. Linux limits one argument to 128 KiB.
    #[schemars(length(min = 1, max = 131071))]
    pub run: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub shell: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub working_dir: Option<String>,
    /// Kubernetes `EnvVar`s, so `valueFrom.secretKeyRef` works. The full EnvVar schema: a
    /// malformed `valueFrom` must be refused by the apiserver, since an object the operator
    /// cannot decode would break its watch of every task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Container image; the operator's `--default-image` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// A partial PodTemplateSpec merged under the generated one (volumes, resources,
    /// serviceAccountName, nodeSelector, tolerations, securityContext, envFrom, imagePullSecrets).
    /// A container named `main` in it is merged into the task's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::preserve_unknown_object")]
    pub pod_template: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnOverlap {
    /// FIFO across cron and manual runs, up to `maxQueued`.
    #[default]
    Queue,
    /// Record a Skipped run; no retry, no failure alert.
    Skip,
    /// Stop the oldest active run (recorded `stopped`), then start.
    Kill,
}

fn default_max_concurrent() -> u32 {
    1
}
fn default_max_queued() -> u32 {
    100
}
fn default_max_catch_up_runs() -> u32 {
    100
}
fn default_true() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunWispTaskStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The newest tick that fired a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<DateTime<Utc>>,
    /// Every tick up to here is handled (fired, caught up, recorded missed, or passed while
    /// suspended): the watermark catch-up measures gaps from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_through: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<DateTime<Utc>>,
    /// Names of active runs (Running, Retrying, Stopping), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// Names of queued runs, in the order they will start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<String>,
    #[serde(default)]
    pub active_count: u32,
    #[serde(default)]
    pub queued_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_end_reason: Option<EndReason>,
}

/// A status condition (the shape of `metav1.Condition`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    pub last_transition_time: DateTime<Utc>,
    pub reason: String,
    pub message: String,
}

impl Condition {
    /// Replace or insert `new` in `list`, keeping `lastTransitionTime` when the status is unchanged.
    pub fn upsert(list: &mut Vec<Condition>, mut new: Condition) {
        if let Some(old) = list.iter_mut().find(|c| c.type_ == new.type_) {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time;
            }
            *old = new;
        } else {
            list.push(new);
        }
    }
}
