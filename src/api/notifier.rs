// kube-derive repeats `type_ = ...` across printcolumn(...) groups, which clippy reads as a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema;
use super::task::Condition;

/// Where alerts go. The URL always comes from a Secret, never from the spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "runwisp.dev",
    version = "v1alpha1",
    kind = "RunWispNotifier",
    namespaced,
    status = "RunWispNotifierStatus",
    shortname = "rwnotifier",
    category = "runwisp",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RunWispNotifierSpec {
    #[serde(rename = "type")]
    pub type_: NotifierType,
    /// The Secret key holding the webhook URL (Slack incoming webhook, or any HTTPS endpoint).
    pub webhook_url_secret_ref: SecretKeyRef,
    /// Which events go here. Empty: only tasks that name this notifier in
    /// `notifyOnFailure`/`notifyOnSuccess` send to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Repeated failures of one task and event kind within this window are coalesced: the
    /// first is sent at once, the rest in one summary at the window's end. Duration, e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d|w))+$"))]
    pub coalesce_window: Option<String>,
    /// Base URL for a "View run" button (e.g. a dashboard); omitted when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub run_url_base: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NotifierType {
    #[default]
    Slack,
    Webhook,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Event kinds, e.g. `run.failed`; empty means every kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// Glob over task names (`backup-*`); absent means every task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub tasks: Option<String>,
    /// Only events at or above this severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum EventKind {
    #[serde(rename = "run.started")]
    RunStarted,
    #[serde(rename = "run.succeeded")]
    RunSucceeded,
    #[serde(rename = "run.failed")]
    RunFailed,
    #[serde(rename = "run.timeout")]
    RunTimeout,
    #[serde(rename = "run.stopped")]
    RunStopped,
    #[serde(rename = "run.crashed")]
    RunCrashed,
    #[serde(rename = "run.missed")]
    RunMissed,
    #[serde(rename = "notify.delivery_failed")]
    DeliveryFailed,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunWispNotifierStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
}
