//! The attempt Pod: the task's script in a container named `main`, laid over the task's
//! partial pod template.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Map, Value, json};

use crate::api::{RunWispTaskSpec, keys};
use crate::names;
use crate::taskdef::TaskDef;

pub const MAIN_CONTAINER: &str = "main";

/// Everything a Pod needs besides the task definition.
pub struct PodInput<'a> {
    pub namespace: &'a str,
    pub task: &'a str,
    pub run: &'a str,
    pub run_uid: &'a str,
    pub attempt: u32,
    pub default_image: &'a str,
    pub default_shell: &'a str,
}

/// Rejects pod templates that cannot be merged (checked when the task is validated).
pub fn check_template(template: &Value) -> Result<(), String> {
    let obj = template
        .as_object()
        .ok_or_else(|| "must be an object (a partial PodTemplateSpec)".to_string())?;
    for key in obj.keys() {
        if key != "metadata" && key != "spec" {
            return Err(format!(
                "unknown key {key:?}: expected `metadata` and/or `spec`"
            ));
        }
    }
    if let Some(spec) = obj.get("spec") {
        let spec = spec
            .as_object()
            .ok_or_else(|| "spec must be an object".to_string())?;
        if let Some(c) = spec.get("containers") {
            let list = c
                .as_array()
                .ok_or_else(|| "spec.containers must be a list".to_string())?;
            for (i, c) in list.iter().enumerate() {
                if c.get("name").and_then(Value::as_str).is_none() {
                    return Err(format!("spec.containers[{i}] has no name"));
                }
            }
        }
        for owned in ["restartPolicy", "activeDeadlineSeconds"] {
            if spec.contains_key(owned) {
                return Err(format!(
                    "spec.{owned} is set by the operator (use the task's timeout and retries)"
                ));
            }
        }
    }
    // A template that does not deserialize as a Pod would fail every attempt: say so now.
    let probe = json!({"apiVersion": "v1", "kind": "Pod", "metadata": obj.get("metadata").cloned().unwrap_or(json!({})), "spec": obj.get("spec").cloned().unwrap_or(json!({"containers": []}))});
    let mut probe = probe;
    if probe["spec"].get("containers").is_none() {
        probe["spec"]["containers"] = json!([]);
    }
    serde_json::from_value::<Pod>(probe)
        .map_err(|e| format!("is not a valid pod template: {e}"))?;
    Ok(())
}

/// Builds the Pod for one attempt.
pub fn build(spec: &RunWispTaskSpec, def: &TaskDef, input: &PodInput<'_>) -> Result<Pod, String> {
    let template = spec.pod_template.clone().unwrap_or_else(|| json!({}));
    let mut meta = template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut pod_spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    let pod_name = names::pod_name(input.run, input.attempt);

    // Metadata: the template's labels and annotations, then ours (ours win).
    let meta_obj = object(&mut meta);
    meta_obj.retain(|k, _| k == "labels" || k == "annotations");
    let labels = object(meta_obj.entry("labels").or_insert_with(|| json!({})));
    labels.insert(keys::MANAGED_BY_LABEL.into(), json!(keys::MANAGED_BY));
    labels.insert(
        keys::TASK_LABEL.into(),
        json!(names::label_value(input.task)),
    );
    labels.insert(keys::RUN_LABEL.into(), json!(names::label_value(input.run)));
    labels.insert(keys::ATTEMPT_LABEL.into(), json!(input.attempt.to_string()));
    let annotations = object(meta_obj.entry("annotations").or_insert_with(|| json!({})));
    annotations.insert(keys::TASK_ANNOTATION.into(), json!(input.task));
    annotations.insert(keys::RUN_ANNOTATION.into(), json!(input.run));
    meta_obj.insert("name".into(), json!(pod_name));
    meta_obj.insert("namespace".into(), json!(input.namespace));
    let owner = OwnerReference {
        api_version: format!("{}/{}", crate::api::GROUP, crate::api::VERSION),
        kind: "RunWispRun".into(),
        name: input.run.to_string(),
        uid: input.run_uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    meta_obj.insert("ownerReferences".into(), json!([owner]));

    // Spec: operator-owned fields over the template.
    let spec_obj = object(&mut pod_spec);
    spec_obj.insert("restartPolicy".into(), json!("Never"));
    if let Some(t) = def.timeout {
        // Ceil to whole seconds: a 1.5s timeout must not kill at 1s.
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        spec_obj.insert("activeDeadlineSeconds".into(), json!(secs.max(1)));
    }
    spec_obj.insert(
        "terminationGracePeriodSeconds".into(),
        json!(def.graceful_stop.as_secs()),
    );

    let shell = spec.shell.as_deref().unwrap_or(input.default_shell);
    let image = spec.image.as_deref().unwrap_or(input.default_image);
    let containers = spec_obj.entry("containers").or_insert_with(|| json!([]));
    if !containers.is_array() {
        *containers = json!([]);
    }
    let list = containers
        .as_array_mut()
        .ok_or("containers is not a list")?;
    let idx = match list
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(MAIN_CONTAINER))
    {
        Some(i) => i,
        None => {
            list.insert(0, json!({"name": MAIN_CONTAINER}));
            0
        }
    };
    let main = object(&mut list[idx]);
    main.insert("image".into(), json!(image));
    main.entry("imagePullPolicy")
        .or_insert_with(|| json!("IfNotPresent"));
    main.insert(
        "command".into(),
        json!([shell, "-e", "-c", spec.run.as_str()]),
    );
    main.remove("args");
    if let Some(wd) = &spec.working_dir {
        main.insert("workingDir".into(), json!(wd));
    }
    if !spec.env.is_empty() {
        // The task's env wins over the template's for the same name.
        let mut env: Vec<Value> = main
            .get("env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for var in &spec.env {
            env.retain(|e| e.get("name").and_then(Value::as_str) != Some(var.name.as_str()));
            env.push(serde_json::to_value(var).map_err(|e| e.to_string())?);
        }
        main.insert("env".into(), Value::Array(env));
    }

    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec});
    serde_json::from_value(pod).map_err(|e| format!("pod template does not make a valid Pod: {e}"))
}

/// The object inside `v`, replacing anything that is not an object.
fn object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use chrono::Utc;

    fn spec(yaml: &str) -> RunWispTaskSpec {
        serde_yaml::from_str(yaml).expect("test spec parses")
    }

    fn pod_for(s: &RunWispTaskSpec) -> Pod {
        let def = crate::taskdef::validate(s, Utc::now(), &Config::default()).expect("valid");
        build(
            s,
            &def,
            &PodInput {
                namespace: "ns",
                task: "backup",
                run: "backup-20260101-0230",
                run_uid: "uid-1",
                attempt: 2,
                default_image: "busybox:1.36",
                default_shell: "/bin/sh",
            },
        )
        .expect("pod builds")
    }

    fn main_container(p: &Pod) -> &k8s_openapi::api::core::v1::Container {
        let spec = p.spec.as_ref().expect("spec");
        spec.containers
            .iter()
            .find(|c| c.name == MAIN_CONTAINER)
            .expect("main container")
    }

    #[test]
    fn the_script_runs_as_shell_dash_e_dash_c() {
        let p = pod_for(&spec("run: echo hi\nshell: /bin/bash\n"));
        assert_eq!(
            main_container(&p).command.as_deref(),
            Some(
                &[
                    "/bin/bash".to_string(),
                    "-e".into(),
                    "-c".into(),
                    "echo hi".into()
                ][..]
            )
        );
    }

    #[test]
    fn timeout_becomes_active_deadline_seconds_rounded_up() {
        let p = pod_for(&spec("run: x\ntimeout: 1500ms\n"));
        assert_eq!(
            p.spec.as_ref().and_then(|s| s.active_deadline_seconds),
            Some(2)
        );
    }

    #[test]
    fn graceful_stop_becomes_termination_grace_period() {
        let p = pod_for(&spec("run: x\ngracefulStop: 30s\n"));
        assert_eq!(
            p.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds),
            Some(30)
        );
    }

    #[test]
    fn the_pod_never_restarts_and_is_owned_by_its_run() {
        let p = pod_for(&spec("run: x\n"));
        assert_eq!(
            p.spec.as_ref().and_then(|s| s.restart_policy.as_deref()),
            Some("Never")
        );
        let owner = &p.metadata.owner_references.as_ref().expect("owners")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("RunWispRun", "backup-20260101-0230", Some(true))
        );
    }

    #[test]
    fn pods_carry_task_run_and_attempt_labels() {
        let p = pod_for(&spec("run: x\n"));
        let labels = p.metadata.labels.as_ref().expect("labels");
        assert_eq!(
            labels.get(keys::TASK_LABEL).map(String::as_str),
            Some("backup")
        );
        assert_eq!(
            labels.get(keys::RUN_LABEL).map(String::as_str),
            Some("backup-20260101-0230")
        );
        assert_eq!(
            labels.get(keys::ATTEMPT_LABEL).map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn the_template_is_merged_underneath() {
        let s = spec(
            r#"
run: x
env:
- name: A
  value: task
podTemplate:
  metadata:
    labels: {team: db}
  spec:
    serviceAccountName: backup
    volumes: [{name: dumps, persistentVolumeClaim: {claimName: backups}}]
    containers:
    - name: main
      volumeMounts: [{name: dumps, mountPath: /srv/backups}]
      env: [{name: A, value: template}, {name: B, value: template}]
"#,
        );
        let p = pod_for(&s);
        let ps = p.spec.as_ref().expect("spec");
        assert_eq!(ps.service_account_name.as_deref(), Some("backup"));
        assert_eq!(ps.volumes.as_ref().map(Vec::len), Some(1));
        let main = main_container(&p);
        assert_eq!(main.volume_mounts.as_ref().map(Vec::len), Some(1));
        let env: Vec<(String, Option<String>)> = main
            .env
            .as_ref()
            .expect("env")
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            env,
            vec![
                ("B".into(), Some("template".into())),
                ("A".into(), Some("task".into()))
            ]
        );
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("team"))
                .map(String::as_str),
            Some("db")
        );
    }

    #[test]
    fn secret_key_refs_pass_through_to_the_container() {
        let s = spec(
            "run: x\nenv:\n- name: PW\n  valueFrom:\n    secretKeyRef: {name: db, key: password}\n",
        );
        let p = pod_for(&s);
        let env = &main_container(&p).env.as_ref().expect("env")[0];
        let sk = env
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .expect("secretKeyRef");
        assert_eq!((sk.name.as_str(), sk.key.as_str()), ("db", "password"));
    }

    #[test]
    fn a_template_setting_restart_policy_is_refused() {
        assert!(check_template(&json!({"spec": {"restartPolicy": "Always"}})).is_err());
    }

    #[test]
    fn a_template_that_is_not_an_object_is_refused() {
        assert!(check_template(&json!([1, 2])).is_err());
    }

    #[test]
    fn a_template_with_wrongly_typed_fields_is_refused() {
        assert!(check_template(&json!({"spec": {"nodeSelector": "not-a-map"}})).is_err());
    }
}
