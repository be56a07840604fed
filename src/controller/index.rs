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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{RunWispRunSpec, TaskRef};

    fn run(ns: &str, name: &str, task: &str) -> RunWispRun {
        let mut r = RunWispRun::new(
            name,
            RunWispRunSpec {
                task_ref: TaskRef { name: task.into() },
                ..Default::default()
            },
        );
        r.metadata.namespace = Some(ns.into());
        r
    }

    #[test]
    fn runs_are_found_by_their_task_and_namespace() {
        let idx = RunIndex::default();
        idx.apply(&Event::Apply(run("a", "t-1", "t")));
        idx.apply(&Event::Apply(run("a", "u-1", "u")));
        idx.apply(&Event::Apply(run("b", "t-2", "t")));
        assert_eq!(idx.runs_of("a", "t"), vec!["t-1".to_string()]);
        assert_eq!(idx.runs_of("b", "t"), vec!["t-2".to_string()]);
    }

    #[test]
    fn a_deleted_run_leaves_the_index() {
        let idx = RunIndex::default();
        idx.apply(&Event::Apply(run("a", "t-1", "t")));
        idx.apply(&Event::Delete(run("a", "t-1", "t")));
        assert!(idx.runs_of("a", "t").is_empty());
        assert!(idx.tasks().is_empty());
    }

    #[test]
    fn a_relist_replaces_the_index_only_when_it_is_complete() {
        let idx = RunIndex::default();
        idx.apply(&Event::Apply(run("a", "gone", "t")));
        idx.apply(&Event::Init);
        idx.apply(&Event::InitApply(run("a", "kept", "t")));
        // Until InitDone, readers still see the old list.
        assert_eq!(idx.runs_of("a", "t"), vec!["gone".to_string()]);
        idx.apply(&Event::InitDone);
        assert_eq!(idx.runs_of("a", "t"), vec!["kept".to_string()]);
    }
}
