//! The public API: group `runwisp.dev`, version `v1alpha1`. CRD types only; `crds/` is generated
//! from them by `runwisp-operator crd`, and a test fails when it is stale.

mod notifier;
mod run;
mod task;

pub use notifier::*;
pub use run::*;
pub use task::*;

use kube::CustomResourceExt;

pub const GROUP: &str = "runwisp.dev";
pub const VERSION: &str = "v1alpha1";

/// Label and annotation keys. Label values are length-limited (see `names::label_value`); the
/// annotations carry the full names.
pub mod keys {
    pub const TASK_LABEL: &str = "runwisp.dev/task";
    pub const RUN_LABEL: &str = "runwisp.dev/run";
    pub const ATTEMPT_LABEL: &str = "runwisp.dev/attempt";
    pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY: &str = "runwisp-operator";
    pub const TASK_ANNOTATION: &str = "runwisp.dev/task";
    pub const RUN_ANNOTATION: &str = "runwisp.dev/run";
}

/// All CRDs, in a stable order, as one multi-document YAML stream.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in [
        RunWispTask::crd(),
        RunWispRun::crd(),
        RunWispNotifier::crd(),
    ] {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}

/// Schema helpers shared by the CRD types.
pub(crate) mod schema {
    use schemars::Schema;
    use schemars::json_schema;

    /// An object Kubernetes stores as given (a partial pod template is validated when a run
    /// starts, not by the apiserver, because a partial `PodSpec` lacks required fields).
    pub fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }

    /// `EnvVar` list without pulling the full k8s schema tree into every CRD.
    pub fn env_list(_: &mut schemars::SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "value": {"type": "string"},
                    "valueFrom": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            }
        })
    }

    pub fn conditions(_: &mut schemars::SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
            "items": {
                "type": "object",
                "required": ["type", "status", "lastTransitionTime", "reason", "message"],
                "properties": {
                    "type": {"type": "string"},
                    "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                    "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                    "reason": {"type": "string"},
                    "message": {"type": "string"}
                }
            }
        })
    }
}
