//! The public API: group `runwisp.dev`, version `v1alpha1`. CRD types only; `crds/` is generated
//! from them by `runwisp-operator crd`, and a test fails when it is stale.

mod notifier;
mod run;
mod task;

pub use notifier::*;
pub use run::*;
pub use task::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
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

/// All CRDs, in a stable order, ready to apply.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        RunWispTask::crd(),
        RunWispRun::crd(),
        RunWispNotifier::crd(),
    ]
    .into_iter()
    .map(|mut crd| {
        for v in crd.spec.versions.iter_mut() {
            if let Some(schema) = v
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                tidy(schema);
            }
        }
        crd
    })
    .collect()
}

/// schemars writes an optional enum as `enum: [..., null]`; apiservers reject a null enum
/// value, so it becomes `nullable: true` instead.
fn tidy(schema: &mut JSONSchemaProps) {
    if let Some(values) = schema.enum_.as_mut() {
        let before = values.len();
        values.retain(|v| !v.0.is_null());
        if values.len() != before {
            schema.nullable = Some(true);
        }
    }
    // k8s-openapi's EnvVar schema lets `name: ""` through; the apiserver would refuse the Pod
    // at every firing instead of the task at apply time.
    if let Some(env_name) = schema
        .properties
        .as_mut()
        .and_then(|p| p.get_mut("env"))
        .and_then(|env| env.items.as_mut())
        .and_then(|items| match items {
            JSONSchemaPropsOrArray::Schema(item) => item.properties.as_mut(),
            _ => None,
        })
        .and_then(|p| p.get_mut("name"))
    {
        env_name.min_length = Some(1);
    }
    for child in schema.properties.iter_mut().flat_map(|m| m.values_mut()) {
        tidy(child);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        tidy(items);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        tidy(extra);
    }
    for list in [&mut schema.any_of, &mut schema.one_of, &mut schema.all_of] {
        for s in list.iter_mut().flatten() {
            tidy(s);
        }
    }
}

/// All CRDs, in a stable order, as one multi-document YAML stream.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `crds/` is what users `kubectl apply`; it must be exactly what the code generates.
    #[test]
    fn crds_directory_matches_the_generated_crds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/runwisp.dev.yaml");
        let generated = crds_yaml().expect("CRDs serialize");
        if std::env::var("UPDATE_GOLDEN").is_ok() {
            std::fs::write(path, &generated).expect("write crds");
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "crds/runwisp.dev.yaml is stale: run `cargo run -- crd > crds/runwisp.dev.yaml` (or UPDATE_GOLDEN=1 cargo test)"
        );
    }

    #[test]
    fn no_enum_in_the_crds_lists_null() {
        assert!(!crds_yaml().expect("yaml").contains("- null"));
    }

    #[test]
    fn every_crd_has_a_status_subresource_and_a_short_name() {
        for crd in crds() {
            let v = &crd.spec.versions[0];
            assert!(
                v.subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref())
                    .is_some(),
                "{}",
                crd.spec.names.kind
            );
            assert!(
                crd.spec
                    .names
                    .short_names
                    .as_ref()
                    .is_some_and(|s| !s.is_empty())
            );
        }
    }
}
