//! The side-effect layer: watches, caches and the task reconciler that applies the pure
//! decisions (firing, admission, lifecycle, retention).

mod index;
mod notifications;
mod overlay;
mod reconcile;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::api::{RunWispNotifier, RunWispRun, RunWispTask, RunWispTaskStatus, keys};
use crate::config::Config;
use crate::error::Error;
pub use index::RunIndex;

pub struct Context {
    pub client: Client,
    pub cfg: Config,
    pub runs: Store<RunWispRun>,
    pub pods: Store<Pod>,
    pub tasks: Store<RunWispTask>,
    pub notifiers: Store<RunWispNotifier>,
    /// Shared HTTP client for webhooks (15 s request timeout).
    pub http: reqwest::Client,
    /// Repeated failures folded per (task, kind, notifier) window.
    pub coalescer: std::sync::Mutex<crate::notify::Coalescer>,
    pub index: Arc<RunIndex>,
    pub reporter: Reporter,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Our recent writes the caches may not show yet.
    pub recent_runs: Arc<overlay::Overlay<RunWispRun>>,
    pub recent_tasks: Arc<overlay::Overlay<RunWispTask>>,
    /// Task statuses whose bookkeeping-only changes wait to be written (`statuswrite`).
    pub deferred_status: Arc<DeferredStatus>,
    /// Bits of the caches that have completed their first list.
    pub synced: watch::Receiver<u8>,
}

/// (namespace, name) → since when, and the status not yet written.
type Deferred = std::collections::HashMap<(String, String), (DateTime<Utc>, RunWispTaskStatus)>;

/// Task statuses whose bookkeeping-only changes wait to be written (`crate::statuswrite`).
#[derive(Default)]
pub struct DeferredStatus {
    map: std::sync::Mutex<Deferred>,
}

impl DeferredStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Deferred> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<(DateTime<Utc>, RunWispTaskStatus)> {
        self.lock()
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub fn put(
        &self,
        namespace: &str,
        name: &str,
        since: DateTime<Utc>,
        status: RunWispTaskStatus,
    ) {
        self.lock()
            .insert((namespace.to_string(), name.to_string()), (since, status));
    }

    pub fn take(&self, namespace: &str, name: &str) {
        self.lock()
            .remove(&(namespace.to_string(), name.to_string()));
    }
}

pub const RUNS_SYNCED: u8 = 1;
pub const PODS_SYNCED: u8 = 2;
pub const TASKS_SYNCED: u8 = 4;
pub const NOTIFIERS_SYNCED: u8 = 8;
pub const ALL_SYNCED: u8 = RUNS_SYNCED | PODS_SYNCED | TASKS_SYNCED | NOTIFIERS_SYNCED;

/// Runs the controller until `shutdown` resolves. `ready` turns true once every cache has synced.
pub async fn run(
    client: Client,
    cfg: Config,
    metrics: Arc<crate::metrics::Metrics>,
    ready: watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    // Readiness is tracked from the watch streams themselves (one bit per cache at its first
    // InitDone): kube-runtime's `Store::wait_until_ready` wakes only one of several waiters.
    let (synced_tx, synced) = watch::channel(0u8);
    let synced_tx = Arc::new(synced_tx);
    let scope = Scope {
        client: client.clone(),
        namespace: cfg.watch_namespace.clone(),
        synced: synced_tx,
    };

    let index = Arc::new(RunIndex::default());
    let run_index = index.clone();
    let (runs, run_events) = scope.cache::<RunWispRun>(
        watcher::Config::default(),
        RUNS_SYNCED,
        trim_run,
        move |ev| run_index.apply(ev),
    );
    // Only the operator's own Pods are cached: label-selected, so unrelated Pods cost nothing.
    let own_pods = watcher::Config::default().labels(&format!(
        "{}={}",
        keys::MANAGED_BY_LABEL,
        keys::MANAGED_BY
    ));
    let (pods, pod_events) = scope.cache::<Pod>(own_pods, PODS_SYNCED, trim_pod, |_| {});
    let deferred_status = Arc::new(DeferredStatus::default());
    let deleted = deferred_status.clone();
    let (tasks, task_events) = scope.cache::<RunWispTask>(
        watcher::Config::default(),
        TASKS_SYNCED,
        trim_task,
        move |ev| {
            if let watcher::Event::Delete(t) = ev {
                deleted.take(&t.namespace().unwrap_or_default(), &t.name_any());
            }
        },
    );
    let (notifiers, notifier_events) = scope.cache::<RunWispNotifier>(
        watcher::Config::default(),
        NOTIFIERS_SYNCED,
        |_| {},
        |_| {},
    );
    let (run_events, pod_events, notifier_events) = (
        run_events.touched_objects(),
        pod_events.touched_objects(),
        notifier_events.touched_objects(),
    );
    // The echo of our own write wakes the task again on purpose: that pass admits the next queued
    // run after one ended, delivers what the last one planned, and so on.
    let recent_runs: Arc<overlay::Overlay<RunWispRun>> = Arc::default();
    let recent_tasks: Arc<overlay::Overlay<RunWispTask>> = Arc::default();
    let task_events = task_events.applied_objects();
    let controller = Controller::for_stream(task_events, tasks.clone());
    let concurrency = cfg.concurrency.max(1);
    let http = crate::notify::http_client().map_err(|e| Error::Http(e.to_string()))?;
    let ctx = Arc::new(Context {
        client,
        reporter: Reporter {
            controller: cfg.manager.clone(),
            instance: std::env::var("POD_NAME").ok(),
        },
        cfg,
        runs,
        pods,
        tasks: tasks.clone(),
        notifiers,
        http,
        coalescer: std::sync::Mutex::new(crate::notify::Coalescer::new()),
        index,
        metrics,
        synced: synced.clone(),
        recent_runs: recent_runs.clone(),
        recent_tasks: recent_tasks.clone(),
        deferred_status,
    });

    {
        let mut synced = synced.clone();
        tokio::spawn(async move {
            if synced.wait_for(|m| *m == ALL_SYNCED).await.is_ok() {
                info!("caches synced");
                let _ = ready.send(true);
            }
        });
    }
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                ctx.recent_runs.purge_expired();
                ctx.recent_tasks.purge_expired();
            }
        });
    }
    tokio::spawn(reconcile::sweep_orphans(ctx.clone()));
    tokio::spawn(notifications::summaries_loop(ctx.clone()));
    tokio::spawn(reconcile::cap_loop(ctx.clone()));

    controller
        .watches_stream(run_events, |run: RunWispRun| {
            Some(ObjectRef::new(&run.spec.task_ref.name).within(&run.namespace()?))
        })
        .watches_stream(pod_events, |pod: Pod| {
            let task = pod.annotations().get(keys::TASK_ANNOTATION)?.clone();
            Some(ObjectRef::new(&task).within(&pod.namespace()?))
        })
        // A notifier appearing or changing re-checks the tasks that name it.
        .watches_stream(notifier_events, move |n: RunWispNotifier| {
            let ns = n.namespace().unwrap_or_default();
            let name = n.name_any();
            tasks
                .state()
                .into_iter()
                .filter(|t| t.namespace().as_deref() == Some(ns.as_str()))
                .filter(|t| {
                    t.spec.notify_on_failure.contains(&name)
                        || t.spec.notify_on_success.contains(&name)
                })
                .map(|t| ObjectRef::from_obj(&*t))
                .collect::<Vec<_>>()
        })
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                match e {
                    kube::runtime::controller::Error::ObjectNotFound(_) => {}
                    kube::runtime::controller::Error::ReconcilerFailed(e, _)
                        if e.is_namespace_terminating() => {}
                    other => warn!(error = %other, "reconcile failed"),
                }
            }
        })
        .await;
    Ok(())
}

/// Where the caches watch (every namespace or one) and where they report being synced.
struct Scope {
    client: Client,
    namespace: Option<String>,
    synced: Arc<watch::Sender<u8>>,
}

impl Scope {
    /// A watch-backed cache of `K`: its store, and its event stream (to trigger reconciles).
    /// `bit` is set in `synced` at the first full list; `on_event` sees every event after the
    /// store has applied it.
    fn cache<K>(
        &self,
        wc: watcher::Config,
        bit: u8,
        trim: fn(&mut K),
        on_event: impl Fn(&watcher::Event<K>) + Send + 'static,
    ) -> (
        Store<K>,
        impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    )
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    {
        let api: Api<K> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let (store, writer) = reflector::store();
        let synced = self.synced.clone();
        let events = watcher(api, wc)
            .default_backoff()
            // managedFields are most of a cached object's size and never read here.
            .modify(move |o: &mut K| {
                o.meta_mut().managed_fields = None;
                trim(o);
            })
            .reflect(writer)
            .map_ok(move |ev| {
                on_event(&ev);
                if matches!(ev, watcher::Event::InitDone) {
                    synced.send_modify(|m| *m |= bit);
                }
                ev
            });
        (store, events)
    }
}

/// A finished run's definition snapshot is never read again once its alerts are out (the
/// snapshot only drives attempts and alert texts): the cache drops it. Finished runs are most
/// of what the operator holds (retention keeps them by the tens of thousands).
/// Labels and annotations are not read from runs either (a run's task is its `spec.taskRef`), and a
/// status replace takes nothing but the status from the object sent.
fn trim_run(run: &mut RunWispRun) {
    run.metadata.labels = None;
    run.metadata.annotations = None;
    let done = run.status.as_ref().is_some_and(|s| {
        s.phase.is_finished()
            && !s
                .notifications
                .iter()
                .any(|n| n.state == crate::api::DeliveryState::Pending)
    });
    if done {
        run.spec.template = None;
    }
}

/// A task applied with `kubectl apply` carries its whole spec again in an annotation (scripts up to
/// 128 KiB); the operator reads no task annotation.
fn trim_task(task: &mut RunWispTask) {
    task.metadata.annotations = None;
}

/// An attempt's outcome is read from the Pod's metadata and status only; its spec (the script,
/// env, volumes) stays out of the cache.
fn trim_pod(pod: &mut Pod) {
    pod.spec = None;
}

fn error_policy(task: Arc<RunWispTask>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error(err.label());
    if err.is_conflict() {
        // Lost an optimistic-concurrency race with our own newer write: the cache catches up fast.
        return Action::requeue(Duration::from_millis(200));
    }
    if err.is_namespace_terminating() {
        // The task goes with its namespace; its deletion ends the requeues.
        debug!(task = %task.name_any(), namespace = ?task.namespace(), "namespace is being deleted");
        return Action::requeue(Duration::from_secs(30));
    }
    warn!(task = %task.name_any(), namespace = ?task.namespace(), error = %err, label = err.label(), "reconcile error");
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: serde_json::Value) -> RunWispRun {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "runwisp.dev/v1alpha1",
            "kind": "RunWispRun",
            "metadata": {"name": "backup-20261127-0200", "namespace": "ops"},
            "spec": {
                "taskRef": {"name": "backup"},
                "trigger": "cron",
                "template": {"cron": "0 2 * * *", "run": "pg_dump"},
            },
            "status": status,
        }))
        .expect("a valid run")
    }

    #[test]
    fn the_cache_drops_the_snapshot_of_a_finished_run_with_its_alerts_out() {
        let mut r = run(serde_json::json!({"phase": "Succeeded", "endReason": "success"}));
        trim_run(&mut r);
        assert!(r.spec.template.is_none());
    }

    #[test]
    fn the_cache_keeps_no_labels_or_annotations_of_runs() {
        let mut r = run(serde_json::json!({"phase": "Running"}));
        r.metadata.labels = Some([("runwisp.dev/task".to_string(), "backup".to_string())].into());
        r.metadata.annotations = Some([("note".to_string(), "x".to_string())].into());
        trim_run(&mut r);
        assert!(r.metadata.labels.is_none() && r.metadata.annotations.is_none());
    }

    #[test]
    fn the_cache_keeps_no_task_annotations() {
        let mut t: RunWispTask = serde_json::from_value(serde_json::json!({
            "apiVersion": "runwisp.dev/v1alpha1",
            "kind": "RunWispTask",
            "metadata": {"name": "backup", "namespace": "ops", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{}}"}},
            "spec": {"cron": "0 2 * * *", "run": "pg_dump"},
        }))
        .expect("a valid task");
        trim_task(&mut t);
        assert!(t.metadata.annotations.is_none());
    }

    #[test]
    fn the_cache_keeps_the_snapshot_of_a_run_still_going() {
        let mut r = run(serde_json::json!({"phase": "Running"}));
        trim_run(&mut r);
        assert!(r.spec.template.is_some());
    }

    #[test]
    fn the_cache_keeps_the_snapshot_of_a_finished_run_still_alerting() {
        let mut r = run(serde_json::json!({
            "phase": "Failed",
            "endReason": "failed",
            "notifications": [{"notifier": "slack", "event": "run.failed", "state": "Pending"}],
        }));
        trim_run(&mut r);
        assert!(r.spec.template.is_some());
    }

    #[test]
    fn the_cache_keeps_no_pod_spec() {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "backup-20261127-0200-a1"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            "status": {"phase": "Running"},
        }))
        .expect("a valid pod");
        trim_pod(&mut p);
        assert!(p.spec.is_none());
        assert!(p.status.is_some());
    }
}
