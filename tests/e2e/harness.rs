//! Shared e2e plumbing: a namespace per test, the CRDs applied once, and an operator process
//! per test that watches only that namespace (so tests run side by side on one cluster).

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use runwisp_operator::api::{RunPhase, RunWispRun, RunWispTask};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

pub const IMAGE: &str = "localhost/busybox:1.35";
static CRDS: OnceCell<()> = OnceCell::const_new();
static SEQ: AtomicU32 = AtomicU32::new(0);

pub async fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_default().await.expect(
        "KUBECONFIG must point at a reachable cluster (run through ./test.sh or e2e/with-bed.sh)",
    )
}

/// Applies the CRDs from the code (not from crds/, whose freshness is tested separately).
async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in runwisp_operator::api::crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("runwisp-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        for _ in 0..100 {
            let got = api.get(&name).await.expect("get CRD");
            let established = got
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct Bed {
    pub client: Client,
    pub ns: String,
    operator: Option<Child>,
    pub extra_args: Vec<String>,
}

impl Bed {
    /// A fresh namespace and a running operator for it.
    pub async fn new(test: &str) -> Bed {
        Bed::with_args(test, &[]).await
    }

    pub async fn with_args(test: &str, args: &[&str]) -> Bed {
        let client = client().await;
        CRDS.get_or_init(|| install_crds(&client)).await;
        let ns = format!(
            "e2e-{}-{}-{}",
            test.replace('_', "-")
                .chars()
                .take(30)
                .collect::<String>()
                .trim_end_matches('-'),
            std::process::id() % 10000,
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns_obj: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))
                .expect("namespace");
        nss.create(&PostParams::default(), &ns_obj)
            .await
            .expect("create namespace");
        // Pods are refused until the namespace's default ServiceAccount exists.
        let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(client.clone(), &ns);
        for _ in 0..200 {
            if sas.get_opt("default").await.ok().flatten().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut bed = Bed {
            client,
            ns,
            operator: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
        };
        bed.start_operator().await;
        bed
    }

    pub async fn start_operator(&mut self) {
        let log = std::fs::File::create(format!(
            "{}/operator-{}.log",
            std::env::var("RUNWISP_E2E_LOGS")
                .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
            self.ns
        ))
        .expect("operator log file");
        let mut cmd = operator_command(&self.ns, &self.extra_args, log);
        self.operator = Some(cmd.spawn().expect("spawn operator"));
    }

    /// SIGKILL: no graceful shutdown, like a crashed or evicted operator.
    pub async fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    pub fn tasks(&self) -> Api<RunWispTask> {
        Api::namespaced(self.client.clone(), &self.ns)
    }
    pub fn runs(&self) -> Api<RunWispRun> {
        Api::namespaced(self.client.clone(), &self.ns)
    }
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates a task from YAML as a user would, returning the apiserver's answer.
    pub async fn try_task(
        &self,
        name: &str,
        spec_yaml: &str,
    ) -> Result<serde_json::Value, kube::Error> {
        let spec: serde_yaml::Value = serde_yaml::from_str(spec_yaml).expect("spec yaml");
        let obj = serde_json::json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        });
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &kube::api::ApiResource::erase::<RunWispTask>(&()),
        );
        let obj: kube::api::DynamicObject = serde_json::from_value(obj).expect("object");
        api.create(&PostParams::default(), &obj)
            .await
            .map(|o| serde_json::to_value(o).unwrap_or_default())
    }

    /// Creates a task from YAML (name and namespace filled in).
    pub async fn task(&self, name: &str, spec_yaml: &str) -> RunWispTask {
        let spec: serde_yaml::Value = serde_yaml::from_str(spec_yaml).expect("spec yaml");
        let obj = serde_json::json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        });
        let task: RunWispTask = serde_json::from_value(obj).expect("task object");
        self.tasks()
            .create(&PostParams::default(), &task)
            .await
            .expect("create task")
    }

    /// A person's manual run: only `spec.taskRef`.
    pub async fn trigger(&self, task: &str, run: &str) -> RunWispRun {
        let obj: RunWispRun = serde_json::from_value(serde_json::json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispRun",
            "metadata": {"name": run, "namespace": self.ns},
            "spec": {"taskRef": {"name": task}},
        }))
        .expect("run object");
        self.runs()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create run")
    }

    pub async fn runs_of(&self, task: &str) -> Vec<RunWispRun> {
        let mut v: Vec<RunWispRun> = self
            .runs()
            .list(&ListParams::default())
            .await
            .expect("list runs")
            .items
            .into_iter()
            .filter(|r| r.spec.task_ref.name == task)
            .collect();
        v.sort_by_key(|r| (r.creation_timestamp().map(|t| t.0), r.name_any()));
        v
    }

    /// Polls until `f` returns Some, or panics after `timeout` with `what`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what} in namespace {}",
                    self.ns
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn wait_run_finished(&self, run: &str, timeout: Duration) -> RunWispRun {
        let api = self.runs();
        self.wait_for(&format!("run {run} to finish"), timeout, || {
            let api = api.clone();
            async move {
                let r = api.get_opt(run).await.ok().flatten()?;
                r.status.as_ref().filter(|s| s.phase.is_finished())?;
                Some(r)
            }
        })
        .await
    }

    pub async fn wait_run_phase(
        &self,
        run: &str,
        phase: RunPhase,
        timeout: Duration,
    ) -> RunWispRun {
        let api = self.runs();
        self.wait_for(&format!("run {run} to be {phase:?}"), timeout, || {
            let api = api.clone();
            async move {
                let r = api.get_opt(run).await.ok().flatten()?;
                (r.status.as_ref()?.phase == phase).then_some(r)
            }
        })
        .await
    }

    /// Events recorded on a task, as "Reason: note".
    pub async fn task_events(&self, task: &str) -> Vec<String> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        api.list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(task))
            .map(|e| {
                format!(
                    "{}: {}",
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(child) = self.operator.as_mut() {
            let _ = child.start_kill();
        }
        if std::env::var("RUNWISP_E2E_KEEP").is_ok() {
            return;
        }
        // Namespace deletion cascades to tasks, runs and pods; fire and forget.
        let ns = self.ns.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    let Ok(client) = Client::try_default().await else {
                        return;
                    };
                    let nss: Api<Namespace> = Api::all(client);
                    let _ = nss.delete(&ns, &DeleteParams::background()).await;
                });
            }
        })
        .join();
    }
}

/// The operator binary watching one namespace, logging (debug for our crate) into `log`.
pub fn operator_command(ns: &str, args: &[String], log: std::fs::File) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runwisp-operator"));
    cmd.args([
        "run",
        "--namespace",
        ns,
        "--admin-addr",
        "127.0.0.1:0",
        "--default-image",
        IMAGE,
    ])
    .args(args)
    .env("RUST_LOG", "info,runwisp_operator=debug")
    .stdout(Stdio::from(log.try_clone().expect("log fd")))
    .stderr(Stdio::from(log))
    .kill_on_drop(true);
    cmd
}
