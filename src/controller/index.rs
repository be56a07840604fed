//! Runs by task: the watch cache is keyed by object, but every reconcile asks "which runs
//! belong to this task", so keep that answer up to date from the same watch events.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::watcher::Event;

use crate::api::RunWispRun;

type Key = (String, String);

#[derive(Default)]
pub struct RunIndex {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_task: HashMap<Key, BTreeSet<String>>,
    /// A relist in progress: filled by InitApply, swapped in at InitDone.
    rebuilding: Option<HashMap<Key, BTreeSet<String>>>,
}

fn key(run: &RunWispRun) -> Key {
    (
        run.namespace().unwrap_or_default(),
        run.spec.task_ref.name.clone(),
    )
}

impl RunIndex {
    pub fn apply(&self, event: &Event<RunWispRun>) {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match event {
            Event::Apply(run) => {
                inner
                    .by_task
                    .entry(key(run))
                    .or_default()
                    .insert(run.name_any());
            }
            Event::Delete(run) => {
                let k = key(run);
                if let Some(set) = inner.by_task.get_mut(&k) {
                    set.remove(&run.name_any());
                    if set.is_empty() {
                        inner.by_task.remove(&k);
                    }
                }
            }
            Event::Init => inner.rebuilding = Some(HashMap::new()),
            Event::InitApply(run) => {
                if let Some(map) = inner.rebuilding.as_mut() {
                    map.entry(key(run)).or_default().insert(run.name_any());
                }
            }
            Event::InitDone => {
                if let Some(map) = inner.rebuilding.take() {
                    inner.by_task = map;
                }
            }
        }
    }

    /// Names of the runs referring to `task` in `namespace`.
    pub fn runs_of(&self, namespace: &str, task: &str) -> Vec<String> {
        let inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner
            .by_task
            .get(&(namespace.to_string(), task.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every (namespace, task) that has runs: for finding runs whose task is gone.
    pub fn tasks(&self) -> Vec<(String, String)> {
        let inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.by_task.keys().cloned().collect()
    }
}
