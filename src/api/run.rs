// kube-derive repeats `type_ = ...` across printcolumn(...) groups, which clippy reads as a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::RunWispTaskSpec;
use crate::retry::EndReason;

/// One firing of a task. The operator creates one per tick with a name derived from the task
/// and the scheduled time; a person triggers a run by creating one with only `spec.taskRef`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "runwisp.dev",
    version = "v1alpha1",
    kind = "RunWispRun",
    namespaced,
    status = "RunWispRunStatus",
    shortname = "rwrun",
    category = "runwisp",
    printcolumn(name = "Task", type_ = "string", json_path = ".spec.taskRef.name"),
    printcolumn(name = "Trigger", type_ = "string", json_path = ".spec.trigger"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "End Reason", type_ = "string", json_path = ".status.endReason"),
    printcolumn(
        name = "Attempts",
        type_ = "integer",
        json_path = ".status.attemptCount"
    ),
    printcolumn(name = "Exit", type_ = "integer", json_path = ".status.exitCode"),
    printcolumn(
        name = "Scheduled",
        type_ = "date",
        json_path = ".spec.scheduledTime",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RunWispRunSpec {
    pub task_ref: TaskRef,
    /// Set by the operator: `cron`, `manual` or `catchUp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<RunTrigger>,
    /// The tick this run is for (cron, catch-up), or when it was requested (manual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<DateTime<Utc>>,
    /// The task's definition when the run was fired; a run keeps the definition it started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Box<RunWispTaskSpec>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TaskRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RunTrigger {
    Cron,
    Manual,
    CatchUp,
}

impl RunTrigger {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunTrigger::Cron => "cron",
            RunTrigger::Manual => "manual",
            RunTrigger::CatchUp => "catchUp",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RunPhase {
    /// Created, not yet admitted by the operator.
    #[default]
    Pending,
    /// Waiting for a slot (`onOverlap: queue`).
    Queued,
    Running,
    /// Waiting `retryDelay` before the next attempt.
    Retrying,
    /// Its Pod is being stopped (`onOverlap: kill`); becomes `Stopped`.
    Stopping,
    Succeeded,
    Failed,
    Skipped,
    Stopped,
    /// Refused: manual runs disabled for the task, or the task does not exist.
    Rejected,
}

impl RunPhase {
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            RunPhase::Succeeded
                | RunPhase::Failed
                | RunPhase::Skipped
                | RunPhase::Stopped
                | RunPhase::Rejected
        )
    }

    /// Holds one of the task's `maxConcurrent` slots.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunPhase::Running | RunPhase::Retrying | RunPhase::Stopping
        )
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            RunPhase::Pending => "Pending",
            RunPhase::Queued => "Queued",
            RunPhase::Running => "Running",
            RunPhase::Retrying => "Retrying",
            RunPhase::Stopping => "Stopping",
            RunPhase::Succeeded => "Succeeded",
            RunPhase::Failed => "Failed",
            RunPhase::Skipped => "Skipped",
            RunPhase::Stopped => "Stopped",
            RunPhase::Rejected => "Rejected",
        }
    }

    /// The final phase for an end reason.
    pub fn for_end(end: EndReason) -> RunPhase {
        match end {
            EndReason::Success => RunPhase::Succeeded,
            EndReason::Skipped => RunPhase::Skipped,
            EndReason::Stopped => RunPhase::Stopped,
            _ => RunPhase::Failed,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunWispRunStatus {
    #[serde(default)]
    pub phase: RunPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// Why the run is in this phase, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the run was admitted (first attempt's Pod created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<DateTime<Utc>>,
    /// When the next attempt starts (phase `Retrying`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub attempt_count: u32,
    /// The last attempt's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// For `missed` records: how many ticks were missed, and the first of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_missed_time: Option<DateTime<Utc>>,
    /// Alerts for this run and whether they were delivered (at-least-once across restarts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationRecord>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    pub pod_name: String,
    /// When the Pod was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last lines of the attempt's output (at most 4 KiB), kept after the Pod is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
    /// Folded into a coalesced summary.
    Coalesced,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    pub notifier: String,
    /// Event kind, e.g. `run.failed`.
    pub event: String,
    pub state: DeliveryState,
    /// When the event happened (the delivery budget counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tries: u32,
    /// When the next try is due (state `Pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_try_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_time: Option<DateTime<Utc>>,
    /// Last error, with secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
