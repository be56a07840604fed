//! The operator's RBAC is least privilege: checked on the manifests users apply
//! (`config/rbac/*.yaml`) and on what the Helm chart renders (cluster-wide and one-namespace),
//! plus the code's side of the bargain (it only `get`s Secrets, by a notifier's reference).
//! The e2e suite proves the same roles are enough: `reliability::security_...` runs the operator
//! under exactly these rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML document of every file under `dir` (non-recursive).
fn documents_in(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| parse_stream(&std::fs::read_to_string(f).expect("read")))
        .collect()
}

fn parse_stream(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("YAML: {e}\n{text}")))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// One rule of a (Cluster)Role, flattened.
#[derive(Debug, Clone)]
struct Rule {
    role: String,
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    resource_names: Vec<String>,
}

/// The rules of the roles bound to the operator's ServiceAccount.
fn operator_rules(docs: &[Value]) -> Vec<Rule> {
    let is_binding =
        |d: &Value| matches!(str_of(d, &["kind"]), "RoleBinding" | "ClusterRoleBinding");
    // The ServiceAccount the Deployment runs as is the one every binding of ours names; the
    // people-facing aggregated roles (-edit, -view) are bound to no one.
    let bound: Vec<(String, String)> = docs
        .iter()
        .filter(|d| is_binding(d))
        .filter(|d| {
            d["subjects"]
                .as_sequence()
                .is_some_and(|s| s.iter().any(|x| str_of(x, &["kind"]) == "ServiceAccount"))
        })
        .map(|d| {
            (
                str_of(d, &["roleRef", "kind"]).to_string(),
                str_of(d, &["roleRef", "name"]).to_string(),
            )
        })
        .collect();
    assert!(!bound.is_empty(), "no binding to a ServiceAccount found");
    let mut rules = Vec::new();
    for d in docs {
        let kind = str_of(d, &["kind"]);
        if kind != "Role" && kind != "ClusterRole" {
            continue;
        }
        let name = str_of(d, &["metadata", "name"]).to_string();
        if !bound.iter().any(|(k, n)| k == kind && *n == name) {
            continue;
        }
        for r in d["rules"].as_sequence().into_iter().flatten() {
            rules.push(Rule {
                role: format!("{kind}/{name}"),
                api_groups: strings(&r["apiGroups"]),
                resources: strings(&r["resources"]),
                verbs: strings(&r["verbs"]),
                resource_names: strings(&r["resourceNames"]),
            });
        }
    }
    assert!(!rules.is_empty(), "the operator's roles have no rules");
    rules
}

/// Least privilege, as a list of violations (empty: fine).
fn violations(rules: &[Rule]) -> Vec<String> {
    let mut v = Vec::new();
    for r in rules {
        for (what, list) in [
            ("apiGroups", &r.api_groups),
            ("resources", &r.resources),
            ("verbs", &r.verbs),
        ] {
            if list.iter().any(|x| x.contains('*')) {
                v.push(format!("{}: a wildcard in {what}: {r:?}", r.role));
            }
        }
        for verb in ["escalate", "bind", "impersonate", "deletecollection"] {
            if r.verbs.iter().any(|x| x == verb) {
                v.push(format!("{}: verb {verb}: {r:?}", r.role));
            }
        }
        let core = r.api_groups.iter().any(|g| g.is_empty());
        if core && r.resources.iter().any(|x| x == "secrets") {
            if r.verbs != ["get"] {
                v.push(format!(
                    "{}: secrets must be `get` only, got {:?}",
                    r.role, r.verbs
                ));
            }
            if r.resources.len() != 1 {
                v.push(format!(
                    "{}: secrets share a rule with {:?}: give them their own",
                    r.role, r.resources
                ));
            }
        }
        for forbidden in [
            "configmaps",
            "serviceaccounts",
            "nodes",
            "namespaces",
            "pods/exec",
            "pods/attach",
            "pods/portforward",
            "customresourcedefinitions",
            "roles",
            "rolebindings",
            "clusterroles",
            "clusterrolebindings",
        ] {
            if r.resources.iter().any(|x| x == forbidden) {
                v.push(format!(
                    "{}: the operator needs no access to {forbidden}",
                    r.role
                ));
            }
        }
        if r.resources.iter().any(|x| x == "pods") {
            for verb in ["update", "patch"] {
                if r.verbs.iter().any(|x| x == verb) {
                    v.push(format!(
                        "{}: pods are created and deleted, never {verb}d",
                        r.role
                    ));
                }
            }
        }
        if r.resources.iter().any(|x| x == "leases")
            && r.verbs.iter().any(|x| x != "create")
            && r.resource_names.is_empty()
        {
            v.push(format!(
                "{}: reading and renewing leases is limited to the operator's own: {r:?}",
                r.role
            ));
        }
        if r.resources.iter().any(|x| x == "events")
            && r.verbs
                .iter()
                .any(|x| !matches!(x.as_str(), "create" | "patch"))
        {
            v.push(format!(
                "{}: events need only create and patch: {:?}",
                r.role, r.verbs
            ));
        }
    }
    let secret_verbs: Vec<&String> = rules
        .iter()
        .filter(|r| r.resources.iter().any(|x| x == "secrets"))
        .flat_map(|r| &r.verbs)
        .collect();
    if secret_verbs.is_empty() {
        v.push(
            "no rule grants `get` on secrets: notifiers could not read their webhook URL".into(),
        );
    }
    v
}

/// The checker itself catches what it is for.
#[test]
fn the_checker_flags_broad_rules() {
    let rule = |resources: &[&str], verbs: &[&str]| Rule {
        role: "ClusterRole/x".into(),
        api_groups: vec![String::new()],
        resources: resources.iter().map(|s| s.to_string()).collect(),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        resource_names: Vec::new(),
    };
    for bad in [
        rule(&["secrets"], &["get", "list"]),
        rule(&["secrets"], &["get", "watch"]),
        rule(&["secrets"], &["*"]),
        rule(&["*"], &["get"]),
        rule(&["secrets", "pods"], &["get"]),
        rule(&["pods"], &["patch"]),
        rule(&["leases"], &["get", "update"]),
    ] {
        let mut rules = vec![rule(&["secrets"], &["get"])];
        rules.push(bad.clone());
        assert!(!violations(&rules).is_empty(), "{bad:?} passed");
    }
    assert!(violations(&[rule(&["secrets"], &["get"])]).is_empty());
}

#[test]
fn config_rbac_is_least_privilege() {
    let dir = root().join("config/rbac");
    if !dir.is_dir() {
        eprintln!("config/rbac is absent: only the Helm chart is checked");
        return;
    }
    let rules = operator_rules(&documents_in(&dir));
    let v = violations(&rules);
    assert!(v.is_empty(), "{}", v.join("\n"));
    // Secrets appear exactly once, as [get].
    let secrets: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.resources.iter().any(|x| x == "secrets"))
        .collect();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0].verbs, vec!["get".to_string()]);
}

fn helm() -> Option<PathBuf> {
    if let Ok(h) = std::env::var("RUNWISP_HELM") {
        return Some(PathBuf::from(h));
    }
    let out = Command::new(root().join("e2e/build-k8s.sh"))
        .arg("helm-path")
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_file().then_some(p)
}

#[test]
fn the_chart_renders_least_privilege_rbac_for_every_scope() {
    let Some(helm) = helm() else {
        eprintln!("helm is not provisioned (e2e/build-k8s.sh helm): chart not checked");
        return;
    };
    for args in [
        vec![],
        vec!["--set", "watchNamespaces={team-a}"],
        vec!["--set", "leaderElection.enabled=false"],
    ] {
        let out = Command::new(&helm)
            .args([
                "template",
                "rw",
                "charts/runwisp-operator",
                "--namespace",
                "runwisp-system",
            ])
            .args(&args)
            .current_dir(root())
            .output()
            .expect("helm template");
        assert!(
            out.status.success(),
            "helm template {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs = parse_stream(&String::from_utf8_lossy(&out.stdout));
        let rules = operator_rules(&docs);
        let v = violations(&rules);
        assert!(v.is_empty(), "helm template {args:?}:\n{}", v.join("\n"));
    }
}

/// The code's side: Secrets are read in one place only, with a GET by the name a notifier's
/// `webhookUrlSecretRef` gives — never listed or watched (RBAC would refuse it anyway).
#[test]
fn the_operator_reads_secrets_only_by_a_notifiers_reference() {
    let mut sites = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .expect("src")
            .map(|e| e.expect("entry"))
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("read");
            for (i, line) in text.lines().enumerate() {
                if line.contains("Api<Secret>") || line.contains("Api::<Secret>") {
                    sites.push((p.clone(), i, text.clone()));
                }
                let lower = line.to_ascii_lowercase();
                assert!(
                    !(lower.contains("watcher(") && lower.contains("secret")),
                    "{}:{}: a Secret watch: {line}",
                    p.display(),
                    i + 1
                );
            }
        }
    }
    assert_eq!(
        sites.len(),
        1,
        "Secrets are read in exactly one place: {:?}",
        sites.iter().map(|s| (&s.0, s.1 + 1)).collect::<Vec<_>>()
    );
    let (path, line, text) = &sites[0];
    assert!(
        path.ends_with("src/controller/notifications.rs"),
        "{}",
        path.display()
    );
    // The function around it: a GET by the notifier's reference, nothing else.
    let body: String = text
        .lines()
        .skip(*line)
        .take(25)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(body.contains("webhook_url_secret_ref"), "{body}");
    assert!(
        body.contains(".get_opt(&r.name)") || body.contains(".get(&r.name)"),
        "{body}"
    );
    for verb in [
        ".list(",
        ".watch(",
        ".patch(",
        ".replace(",
        ".create(",
        ".delete(",
    ] {
        assert!(!body.contains(verb), "{verb} on Secrets: {body}");
    }
}
