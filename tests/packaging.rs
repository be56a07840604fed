//! Packaging checks that need no cluster: the Helm chart (CRDs, lint, values schema, least-privilege
//! RBAC, Deployment shape), `config/` (generated from the chart by `e2e/render-config.sh`), the
//! samples (faithful to the nightly-backup recipe) and the Dockerfile.
//!
//! helm comes from `$RUNWISP_HELM` or `e2e/build-k8s.sh helm-path`; these tests fail, not skip,
//! when it is missing (`e2e/build-k8s.sh helm` provisions it). The in-cluster half is `e2e/packaging.sh`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const CHART: &str = "charts/runwisp-operator";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn helm() -> PathBuf {
    let path = match std::env::var("RUNWISP_HELM") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let out = Command::new(root().join("e2e/build-k8s.sh"))
                .arg("helm-path")
                .output()
                .expect("run e2e/build-k8s.sh helm-path");
            assert!(out.status.success(), "e2e/build-k8s.sh helm-path failed");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    assert!(
        path.is_file(),
        "helm not found at {}: provision it with `e2e/build-k8s.sh helm` (or set RUNWISP_HELM)",
        path.display()
    );
    path
}

/// `helm <args>` in the repository root: (success, stdout, stderr).
fn run_helm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(helm())
        .args(args)
        .current_dir(root())
        .output()
        .expect("run helm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The chart rendered as release `runwisp-operator` in `runwisp-system` with `--set`s.
fn render(sets: &[&str]) -> Vec<Yaml> {
    let mut args = vec![
        "template",
        "runwisp-operator",
        CHART,
        "--namespace",
        "runwisp-system",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, stdout, stderr) = run_helm(&args);
    assert!(ok, "helm template {sets:?} failed: {stderr}");
    docs(&stdout)
}

fn render_err(sets: &[&str]) -> String {
    let mut args = vec!["template", "x", CHART];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, _, stderr) = run_helm(&args);
    assert!(!ok, "helm template {sets:?} should fail");
    stderr
}

fn docs(yaml: &str) -> Vec<Yaml> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Yaml::deserialize(d).expect("valid YAML"))
        .filter(|d| !d.is_null())
        .collect()
}

fn find<'a>(objs: &'a [Yaml], kind: &str, name: &str) -> Option<&'a Yaml> {
    objs.iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
}

fn get<'a>(objs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    find(objs, kind, name).unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn strs(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// (apiGroup, resource, verb) triples of a Role/ClusterRole (resourceNames noted after `#`).
fn grants(role: &Yaml) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_sequence().expect("rules") {
        let names = strs(&rule["resourceNames"]);
        for g in strs(&rule["apiGroups"]) {
            for r in strs(&rule["resources"]) {
                for v in strs(&rule["verbs"]) {
                    let mut t = format!("{g}/{r}:{v}");
                    if !names.is_empty() {
                        t.push_str(&format!("#{}", names.join(",")));
                    }
                    out.insert(t);
                }
            }
        }
    }
    out
}

/// Exactly what the operator calls (see the task brief / src): nothing more.
fn expected_operator_grants() -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    let mut add = |g: &str, r: &str, verbs: &[&str]| {
        for v in verbs {
            s.insert(format!("{g}/{r}:{v}"));
        }
    };
    add("runwisp.dev", "runwisptasks", &["get", "list", "watch"]);
    add("runwisp.dev", "runwisptasks/status", &["patch"]);
    add(
        "runwisp.dev",
        "runwispruns",
        &["get", "list", "watch", "create", "patch", "delete"],
    );
    add("runwisp.dev", "runwispruns/status", &["update"]);
    add("runwisp.dev", "runwispnotifiers", &["get", "list", "watch"]);
    add("", "pods", &["get", "list", "watch", "create", "delete"]);
    add("", "pods/log", &["get"]);
    add("", "secrets", &["get"]);
    add("events.k8s.io", "events", &["create", "patch"]);
    add("", "events", &["create", "patch"]);
    s
}

fn container(deploy: &Yaml) -> &Yaml {
    &deploy["spec"]["template"]["spec"]["containers"][0]
}

fn env_names(c: &Yaml) -> Vec<String> {
    c["env"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|e| e["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn chart_and_config_crds_are_the_generated_crds() {
    let crds = read("crds/runwisp.dev.yaml");
    assert!(
        read(&format!("{CHART}/crds/runwisp.dev.yaml")) == crds,
        "{CHART}/crds/runwisp.dev.yaml differs from crds/runwisp.dev.yaml: run e2e/render-config.sh"
    );
    assert!(
        read("config/crds/runwisp.dev.yaml") == crds,
        "config/crds/runwisp.dev.yaml differs from crds/runwisp.dev.yaml: run e2e/render-config.sh"
    );
}

#[test]
fn chart_versions_follow_the_crate() {
    let chart: Yaml = serde_yaml::from_str(&read(&format!("{CHART}/Chart.yaml"))).unwrap();
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(chart["name"].as_str(), Some("runwisp-operator"));
    // the default image tag is the appVersion, which e2e/build-image.sh also defaults to
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "bump appVersion (and version) in {CHART}/Chart.yaml with the crate version"
    );
}

#[test]
fn config_is_rendered_from_the_chart() {
    let out = Command::new(root().join("e2e/render-config.sh"))
        .arg("--check")
        .env("RUNWISP_HELM", helm())
        .current_dir(root())
        .output()
        .expect("run e2e/render-config.sh --check");
    assert!(
        out.status.success(),
        "config/ is stale against the chart (run e2e/render-config.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn helm_lint_strict_passes_for_every_mode() {
    for sets in [
        vec![],
        vec!["watchNamespaces={team-a}"],
        vec![
            "replicas=2",
            "hostNetwork=true",
            "admin.port=0",
            "kubernetesService.host=127.0.0.1",
            "kubernetesService.port=7443",
        ],
        vec!["metrics.serviceMonitor.enabled=true", "logFormat=json"],
        vec![
            "serviceAccount.create=false",
            "serviceAccount.name=existing",
            "rbac.create=false",
        ],
    ] {
        let mut args = vec!["lint", "--strict", CHART];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let (ok, stdout, stderr) = run_helm(&args);
        assert!(
            ok,
            "helm lint --strict {sets:?} failed:\n{stdout}\n{stderr}"
        );
    }
}

/// Every key of values.yaml is described by values.schema.json and the reverse; free-form maps
/// (resources, nodeSelector, ...) are covered as a whole.
#[test]
fn values_and_schema_cover_each_other() {
    let values: Yaml = serde_yaml::from_str(&read(&format!("{CHART}/values.yaml"))).unwrap();
    let schema: Json = serde_json::from_str(&read(&format!("{CHART}/values.schema.json"))).unwrap();
    assert_eq!(
        schema["additionalProperties"],
        Json::Bool(false),
        "top level must reject unknown keys"
    );

    fn walk(path: &str, v: &Yaml, s: &Json, missing: &mut Vec<String>) {
        let (Some(map), Some(props)) = (v.as_mapping(), s["properties"].as_object()) else {
            return;
        };
        for (k, child) in map {
            let k = k.as_str().unwrap_or_default();
            let p = format!("{path}.{k}");
            match props.get(k) {
                None => missing.push(p),
                Some(cs) => {
                    assert!(
                        cs.get("description").is_some() || cs.get("$ref").is_some(),
                        "schema of {p} has no description"
                    );
                    walk(&p, child, cs, missing)
                }
            }
        }
    }
    let mut missing = Vec::new();
    walk("", &values, &schema, &mut missing);
    assert!(
        missing.is_empty(),
        "values.yaml keys without a schema: {missing:?}"
    );

    fn unset(path: &str, v: &Yaml, s: &Json, out: &mut Vec<String>) {
        let Some(props) = s["properties"].as_object() else {
            return;
        };
        for (k, cs) in props {
            let p = format!("{path}.{k}");
            match v.as_mapping().and_then(|m| m.get(k.as_str())) {
                // optional by nature: Helm's globals; rollingUpdate only exists with RollingUpdate
                None if p == ".global" || p == ".updateStrategy.rollingUpdate" => {}
                None => out.push(p),
                Some(child) => unset(&p, child, cs, out),
            }
        }
    }
    let mut undocumented = Vec::new();
    unset("", &values, &schema, &mut undocumented);
    assert!(
        undocumented.is_empty(),
        "schema properties without a default in values.yaml: {undocumented:?}"
    );
}

#[test]
fn chart_refuses_what_the_operator_cannot_do() {
    let e = render_err(&["watchNamespaces={a,b}"]);
    assert!(
        e.contains("one release per namespace"),
        "unhelpful error: {e}"
    );
    let e = render_err(&["replicas=2", "leaderElection.enabled=false"]);
    assert!(e.contains("leaderElection.enabled"), "unhelpful error: {e}");
    let e = render_err(&["admin.port=0", "metrics.serviceMonitor.enabled=true"]);
    assert!(e.contains("admin.port"), "unhelpful error: {e}");
    let e = render_err(&["kubernetesService.host=127.0.0.1"]);
    assert!(e.contains("kubernetesService"), "unhelpful error: {e}");
    // the schema rejects typos and bad values
    assert!(render_err(&["replica=2"]).contains("additional properties"));
    assert!(render_err(&["logFormat=yaml"]).contains("logFormat"));
    assert!(render_err(&["leaderElection.leaseDuration=fifteen"]).contains("leaseDuration"));
}

#[test]
fn rbac_is_least_privilege_cluster_wide() {
    let objs = render(&[]);
    let role = get(&objs, "ClusterRole", "runwisp-operator");
    assert_eq!(grants(role), expected_operator_grants());
    let binding = get(&objs, "ClusterRoleBinding", "runwisp-operator");
    assert_eq!(
        binding["subjects"][0]["name"].as_str(),
        Some("runwisp-operator")
    );
    assert_eq!(
        binding["subjects"][0]["namespace"].as_str(),
        Some("runwisp-system")
    );
    // leases only in the release namespace, renewing only the operator's own lease
    let lease = get(&objs, "Role", "runwisp-operator-leader-election");
    assert_eq!(
        lease["metadata"]["namespace"].as_str(),
        Some("runwisp-system")
    );
    let expected: BTreeSet<String> = [
        "coordination.k8s.io/leases:create",
        "coordination.k8s.io/leases:get#runwisp-operator",
        "coordination.k8s.io/leases:update#runwisp-operator",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(grants(lease), expected);
    // no Role or ClusterRole of the release grants a wildcard, or lists/watches Secrets
    for o in &objs {
        if !matches!(o["kind"].as_str(), Some("Role" | "ClusterRole")) {
            continue;
        }
        for g in grants(o) {
            assert!(!g.contains('*'), "wildcard grant {g}");
            assert!(
                !g.starts_with("/secrets:") || g == "/secrets:get",
                "secrets grant {g}"
            );
        }
    }
}

#[test]
fn rbac_is_namespaced_with_one_watched_namespace() {
    let objs = render(&["watchNamespaces={team-a}"]);
    assert!(
        find(&objs, "ClusterRole", "runwisp-operator").is_none(),
        "a namespaced install must not create the operator's ClusterRole"
    );
    assert!(find(&objs, "ClusterRoleBinding", "runwisp-operator").is_none());
    let role = get(&objs, "Role", "runwisp-operator");
    assert_eq!(role["metadata"]["namespace"].as_str(), Some("team-a"));
    assert_eq!(grants(role), expected_operator_grants());
    let binding = get(&objs, "RoleBinding", "runwisp-operator");
    assert_eq!(binding["metadata"]["namespace"].as_str(), Some("team-a"));
    assert_eq!(
        binding["subjects"][0]["namespace"].as_str(),
        Some("runwisp-system")
    );
    let args = strs(&container(get(&objs, "Deployment", "runwisp-operator"))["args"]);
    assert!(args.contains(&"--namespace=team-a".to_string()), "{args:?}");
}

#[test]
fn deployment_is_hardened_and_wired() {
    let objs = render(&[]);
    let d = get(&objs, "Deployment", "runwisp-operator");
    assert_eq!(d["spec"]["replicas"].as_u64(), Some(1));
    assert_eq!(d["spec"]["strategy"]["type"].as_str(), Some("Recreate"));
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert!(pod["hostNetwork"].is_null());
    let c = container(d);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strs(&sc["capabilities"]["drop"]), vec!["ALL"]);
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(8080));
    assert!(c["resources"]["requests"]["memory"].is_string());
    let env = env_names(c);
    for e in ["POD_NAME", "POD_NAMESPACE", "RUST_LOG"] {
        assert!(env.contains(&e.to_string()), "missing env {e}: {env:?}");
    }
    let args = strs(&c["args"]);
    assert_eq!(args[0], "run");
    for a in [
        "--admin-addr=0.0.0.0:8080",
        "--leader-elect",
        "--lease-name=runwisp-operator",
        "--default-image=busybox:1.36",
        "--default-timezone=UTC",
        "--max-finished-runs-per-namespace=0",
        "--log-format=text",
    ] {
        assert!(args.contains(&a.to_string()), "missing arg {a}: {args:?}");
    }
    let svc = get(&objs, "Service", "runwisp-operator-metrics");
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"].as_str(),
        Some("admin")
    );
    assert!(
        find(&objs, "ServiceMonitor", "runwisp-operator").is_none(),
        "ServiceMonitor must be off by default"
    );

    let objs = render(&[
        "metrics.serviceMonitor.enabled=true",
        "defaultImage=localhost/busybox:1.35",
        "defaultTimezone=Europe/Berlin",
        "maxFinishedRunsPerNamespace=5000",
        "extraEnv[0].name=FOO",
        "extraEnv[0].value=bar",
    ]);
    let sm = get(&objs, "ServiceMonitor", "runwisp-operator");
    assert_eq!(sm["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
    assert_eq!(sm["spec"]["endpoints"][0]["port"].as_str(), Some("metrics"));
    let c = container(get(&objs, "Deployment", "runwisp-operator"));
    let args = strs(&c["args"]);
    for a in [
        "--default-image=localhost/busybox:1.35",
        "--default-timezone=Europe/Berlin",
        "--max-finished-runs-per-namespace=5000",
    ] {
        assert!(args.contains(&a.to_string()), "missing arg {a}: {args:?}");
    }
    assert!(env_names(c).contains(&"FOO".to_string()));
}

/// The bed's mode: hostNetwork with the API server's loopback address; with `admin.port: 0`
/// several replicas share the node (ephemeral admin ports, no probes, no metrics Service).
#[test]
fn host_network_mode() {
    let objs = render(&[
        "hostNetwork=true",
        "kubernetesService.host=127.0.0.1",
        "kubernetesService.port=7443",
        "replicas=2",
        "admin.port=0",
    ]);
    let d = get(&objs, "Deployment", "runwisp-operator");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    assert_eq!(pod["dnsPolicy"].as_str(), Some("ClusterFirstWithHostNet"));
    let c = container(d);
    let env = c["env"].as_sequence().unwrap();
    let val = |n: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(n))
            .and_then(|e| e["value"].as_str())
            .map(String::from)
    };
    assert_eq!(val("KUBERNETES_SERVICE_HOST").as_deref(), Some("127.0.0.1"));
    assert_eq!(val("KUBERNETES_SERVICE_PORT").as_deref(), Some("7443"));
    assert!(c["livenessProbe"].is_null() && c["readinessProbe"].is_null());
    assert!(c["ports"].is_null());
    assert!(strs(&c["args"]).contains(&"--admin-addr=0.0.0.0:0".to_string()));
    assert!(find(&objs, "Service", "runwisp-operator-metrics").is_none());
}

fn sample(rel: &str) -> Vec<Yaml> {
    docs(&read(rel))
}

fn task_spec(rel: &str) -> Yaml {
    let d = sample(rel);
    assert_eq!(d.len(), 1, "{rel}: one object");
    assert_eq!(d[0]["apiVersion"].as_str(), Some("runwisp.dev/v1alpha1"));
    assert_eq!(d[0]["kind"].as_str(), Some("RunWispTask"));
    d[0]["spec"].clone()
}

/// The /srv/backups PVC and its mount on the `main` container.
fn assert_backup_volume(spec: &Yaml, source: &str) {
    let pod = &spec["podTemplate"]["spec"];
    let vol = &pod["volumes"][0];
    assert_eq!(vol["name"].as_str(), Some("backups"));
    assert!(!vol[source].is_null(), "volume source {source}: {vol:?}");
    let main = &pod["containers"][0];
    assert_eq!(main["name"].as_str(), Some("main"));
    assert_eq!(main["volumeMounts"][0]["name"].as_str(), Some("backups"));
    assert_eq!(
        main["volumeMounts"][0]["mountPath"].as_str(),
        Some("/srv/backups")
    );
}

#[test]
fn samples_follow_the_nightly_backup_recipe() {
    let s = task_spec("config/samples/backup-postgres.yaml");
    let field = |k: &str| serde_yaml::to_string(&s[k]).unwrap().trim().to_string();
    assert_eq!(s["group"].as_str(), Some("Backups"));
    assert_eq!(
        s["description"].as_str(),
        Some("Nightly logical dump of the production database")
    );
    assert_eq!(s["cron"].as_str(), Some("30 2 * * *"));
    assert_eq!(s["onOverlap"].as_str(), Some("skip"));
    assert_eq!(s["timeout"].as_str(), Some("45m"));
    assert_eq!(field("retryAttempts"), "1");
    assert_eq!(s["retryDelay"].as_str(), Some("5m"));
    assert_eq!(field("keepRuns"), "30");
    assert_eq!(s["keepFor"].as_str(), Some("60d"));
    assert_eq!(strs(&s["notifyOnFailure"]), vec!["slack-ops"]);
    assert_eq!(s["image"].as_str(), Some("postgres:16"));
    let env = &s["env"][0];
    assert_eq!(env["name"].as_str(), Some("BACKUP_DB_PASSWORD"));
    assert!(env["valueFrom"]["secretKeyRef"]["name"].is_string());
    let run = s["run"].as_str().unwrap();
    for line in [
        "set -euo pipefail",
        "PGPASSWORD=\"$BACKUP_DB_PASSWORD\" pg_dump \\\n--host=db.internal \\\n",
        "| gzip --best > \"$DEST/app_production-$TS.dump.gz\"",
        "gzip -t \"$DEST/app_production-$TS.dump.gz\"",
    ] {
        assert!(run.contains(line), "backup script lacks {line:?}");
    }
    assert_backup_volume(&s, "persistentVolumeClaim");

    let r = task_spec("config/samples/backup-restore-test.yaml");
    assert_eq!(r["cron"].as_str(), Some("0 5 * * *"));
    assert_eq!(r["onOverlap"].as_str(), Some("skip"));
    assert_eq!(r["timeout"].as_str(), Some("1h"));
    assert_eq!(strs(&r["notifyOnFailure"]), vec!["slack-ops"]);
    assert!(r["run"].as_str().unwrap().contains("pg_restore"));
    assert_backup_volume(&r, "persistentVolumeClaim");

    let n = &sample("config/samples/notifier-slack-ops.yaml")[0];
    assert_eq!(n["kind"].as_str(), Some("RunWispNotifier"));
    assert_eq!(n["metadata"]["name"].as_str(), Some("slack-ops"));
    assert_eq!(n["spec"]["type"].as_str(), Some("slack"));
    assert_eq!(
        n["spec"]["webhookUrlSecretRef"]["name"].as_str(),
        Some("slack-ops-webhook")
    );
    assert_eq!(
        n["spec"]["webhookUrlSecretRef"]["key"].as_str(),
        Some("url")
    );

    // the Secret templates hold every key the samples reference
    let secrets = sample("config/samples/secrets.yaml.template");
    let db = env["valueFrom"]["secretKeyRef"].clone();
    for (name, key) in [
        (db["name"].as_str().unwrap(), db["key"].as_str().unwrap()),
        ("slack-ops-webhook", "url"),
    ] {
        let s = get(&secrets, "Secret", name);
        assert!(
            s["stringData"][key].is_string(),
            "Secret {name} lacks {key}"
        );
    }
    let pvc = &sample("config/samples/backups-pvc.yaml")[0];
    assert_eq!(pvc["kind"].as_str(), Some("PersistentVolumeClaim"));
    assert_eq!(pvc["metadata"]["name"].as_str(), Some("backups"));

    let l = task_spec("config/samples/local/backup-simulated.yaml");
    assert_eq!(l["image"].as_str(), Some("localhost/busybox:1.35"));
    assert_eq!(l["cron"].as_str(), Some("* * * * *"));
    assert!(
        l["notifyOnFailure"].is_null(),
        "the local sample must not need a notifier"
    );
    assert_backup_volume(&l, "emptyDir");
}

#[test]
fn dockerfile_is_scratch_nonroot_and_offline() {
    let df = read("Dockerfile");
    let instructions: Vec<&str> = df
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<_> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms,
        vec![&"FROM scratch"],
        "only FROM scratch builds offline"
    );
    for want in [
        "USER 65532:65532",
        r#"ENTRYPOINT ["/runwisp-operator"]"#,
        r#"CMD ["run"]"#,
        "COPY target/image/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
        "COPY target/image/runwisp-operator /runwisp-operator",
    ] {
        assert!(instructions.contains(&want), "Dockerfile lacks {want:?}");
    }
    assert!(
        df.contains("chrono-tz"),
        "document why no zoneinfo is needed"
    );
    // the build context is the repository: .dockerignore must let only the staged files through
    let ignore: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    assert_eq!(
        ignore,
        vec![
            "*",
            "!target/image/runwisp-operator",
            "!target/image/ca-certificates.crt"
        ]
    );
}
