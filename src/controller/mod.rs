//! The side-effect layer: watches, caches and the task reconciler that applies the pure
//! decisions (firing, admission, lifecycle, retention).

mod index;
mod notifications;
mod reconcile;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::{RunWispNotifier, RunWispRun, RunWispTask, keys};
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
    /// Bits of the caches that have completed their first list.
    pub synced: watch::Receiver<u8>,
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
    let (tasks_api, runs_api, pods_api, notifiers_api): (
        Api<RunWispTask>,
        Api<RunWispRun>,
        Api<Pod>,
        Api<RunWispNotifier>,
    ) = match &cfg.watch_namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };

    // Readiness is tracked from the watch streams themselves (one bit per cache at its first
    // InitDone): kube-runtime's `Store::wait_until_ready` wakes only one of several waiters.
    let (synced_tx, synced) = watch::channel(0u8);
    let synced_tx = Arc::new(synced_tx);

    let index = Arc::new(RunIndex::default());
    let (runs, runs_writer) = reflector::store();
    let run_index = index.clone();
    let mark_runs = mark(synced_tx.clone(), RUNS_SYNCED);
    let run_events = watcher(runs_api, watcher::Config::default())
        .default_backoff()
        .reflect(runs_writer)
        .map_ok(move |ev| {
            run_index.apply(&ev);
            mark_runs(&ev);
            ev
        })
        .touched_objects();

    // Only the operator's own Pods are cached: label-selected, so unrelated Pods cost nothing.
    let (pods, pods_writer) = reflector::store();
    let mark_pods = mark(synced_tx.clone(), PODS_SYNCED);
    let pod_events = watcher(
        pods_api,
        watcher::Config::default().labels(&format!(
            "{}={}",
            keys::MANAGED_BY_LABEL,
            keys::MANAGED_BY
        )),
    )
    .default_backoff()
    .reflect(pods_writer)
    .map_ok(move |ev| {
        mark_pods(&ev);
        ev
    })
    .touched_objects();

    let (tasks, tasks_writer) = reflector::store();
    let mark_tasks = mark(synced_tx.clone(), TASKS_SYNCED);
    let task_events = watcher(tasks_api, watcher::Config::default())
        .default_backoff()
        .reflect(tasks_writer)
        .map_ok(move |ev| {
            mark_tasks(&ev);
            ev
        })
        .applied_objects();
    let (notifiers, notifiers_writer) = reflector::store();
    let mark_notifiers = mark(synced_tx.clone(), NOTIFIERS_SYNCED);
    let notifier_events = watcher(notifiers_api, watcher::Config::default())
        .default_backoff()
        .reflect(notifiers_writer)
        .map_ok(move |ev| {
            mark_notifiers(&ev);
            ev
        })
        .touched_objects();
    let controller = Controller::for_stream(task_events, tasks.clone());
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
        .with_config(kube::runtime::controller::Config::default().concurrency(64))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                match e {
                    kube::runtime::controller::Error::ObjectNotFound(_) => {}
                    other => warn!(error = %other, "reconcile failed"),
                }
            }
        })
        .await;
    Ok(())
}

/// Sets `bit` in `tx` when a watch stream finishes its first list.
fn mark<K>(tx: Arc<watch::Sender<u8>>, bit: u8) -> impl Fn(&watcher::Event<K>) {
    move |ev| {
        if matches!(ev, watcher::Event::InitDone) {
            tx.send_modify(|m| *m |= bit);
        }
    }
}

fn error_policy(task: Arc<RunWispTask>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error(err.label());
    if err.is_conflict() {
        // Lost an optimistic-concurrency race with our own newer write: the cache catches up fast.
        return Action::requeue(Duration::from_millis(200));
    }
    warn!(task = %task.name_any(), namespace = ?task.namespace(), error = %err, label = err.label(), "reconcile error");
    Action::requeue(Duration::from_secs(5))
}
