//! Our own recent writes, until the watch cache has caught up with them. A reconcile woken by
//! the event of one write would otherwise read the object as it was before, and redo the write
//! (a create that answers AlreadyExists, a status replace that answers Conflict): wasted
//! requests on the hot path of every firing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::{Resource, ResourceExt};

/// Past this, the cache has surely caught up (or the object changed under us): forget it.
const TTL: Duration = Duration::from_secs(60);

/// (namespace, name) → when we wrote it, and what the write returned.
type Writes<K> = HashMap<(String, String), (Instant, Arc<K>)>;

pub struct Overlay<K> {
    map: Mutex<Writes<K>>,
}

impl<K> Default for Overlay<K> {
    fn default() -> Self {
        Overlay {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// resourceVersions are etcd revisions on every apiserver this runs against; compared as
/// numbers only to pick the newer of two copies of one object, and never trusted otherwise.
fn rv<K: Resource>(o: &K) -> Option<u64> {
    o.meta().resource_version.as_deref()?.parse().ok()
}

fn key<K: Resource>(o: &K) -> (String, String) {
    (o.namespace().unwrap_or_default(), o.name_any())
}

impl<K: Resource> Overlay<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Writes<K>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Remembers the object a write returned (without its managedFields, like the caches), and
    /// hands it back shared.
    pub fn remember(&self, mut obj: K) -> Arc<K> {
        obj.meta_mut().managed_fields = None;
        let obj = Arc::new(obj);
        self.lock()
            .insert(key(&*obj), (Instant::now(), obj.clone()));
        obj
    }

    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock()
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// The newer of the cached copy and our last write; drops the write once the cache has it.
    pub fn fresher(&self, cached: Arc<K>) -> Arc<K> {
        let k = key(&*cached);
        let mut map = self.lock();
        match map.get(&k) {
            Some((at, ours)) if at.elapsed() < TTL && rv(&**ours) > rv(&*cached) => ours.clone(),
            Some(_) => {
                map.remove(&k);
                cached
            }
            None => cached,
        }
    }

    /// Drops writes past the TTL: a write whose object is never reconciled again (a task deleted,
    /// a run pruned) would stay otherwise.
    pub fn purge_expired(&self) {
        self.lock().retain(|_, (at, _)| at.elapsed() < TTL);
    }

    /// Objects we wrote in `namespace` that the cache may not hold yet, matching `pred`.
    pub fn recent(&self, namespace: &str, pred: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        let mut map = self.lock();
        map.retain(|_, (at, _)| at.elapsed() < TTL);
        map.iter()
            .filter(|((ns, _), (_, o))| ns == namespace && pred(o))
            .map(|(_, (_, o))| o.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(name: &str, rv: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("ns".into());
        c.metadata.resource_version = Some(rv.into());
        c
    }

    #[test]
    fn our_newer_write_wins_over_a_stale_cache() {
        let o = Overlay::default();
        o.remember(cm("a", "12"));
        assert_eq!(
            o.fresher(Arc::new(cm("a", "10")))
                .metadata
                .resource_version
                .as_deref(),
            Some("12")
        );
    }

    #[test]
    fn a_cache_that_caught_up_wins_and_the_write_is_dropped() {
        let o = Overlay::default();
        o.remember(cm("a", "12"));
        assert_eq!(
            o.fresher(Arc::new(cm("a", "15")))
                .metadata
                .resource_version
                .as_deref(),
            Some("15")
        );
        assert!(o.recent("ns", |_| true).is_empty());
    }

    #[test]
    fn a_remembered_write_keeps_no_managed_fields() {
        let o = Overlay::default();
        let mut c = cm("a", "12");
        c.metadata.managed_fields = Some(vec![Default::default()]);
        assert!(o.remember(c).metadata.managed_fields.is_none());
    }

    #[test]
    fn recent_writes_are_listed_by_namespace() {
        let o = Overlay::default();
        o.remember(cm("a", "1"));
        assert_eq!(o.recent("ns", |_| true).len(), 1);
        assert!(o.recent("other", |_| true).is_empty());
        o.forget("ns", "a");
        assert!(o.recent("ns", |_| true).is_empty());
    }
}
