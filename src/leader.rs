//! Leader election on a `coordination.k8s.io/v1` Lease, so `replicas: 2` is safe: only the
//! holder reconciles. A replica that loses the lease exits (its Deployment restarts it as a
//! standby) rather than risk two active controllers; deterministic run names make even a
//! brief overlap harmless.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::{info, warn};

use crate::time::{from_jiff, to_jiff};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// How long a lease stays valid without renewal; a standby takes over after this.
    pub duration: Duration,
    /// How often the holder renews and a standby retries.
    pub retry: Duration,
}

/// What to do with a lease as observed at `now` (pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Ours: renew it.
    Renew,
    /// Free or expired: take it.
    Acquire,
    /// Someone else holds a live lease.
    Wait { holder: String },
}

pub fn decide(
    spec: Option<&LeaseSpec>,
    me: &str,
    now: DateTime<Utc>,
    default_duration: Duration,
) -> LeaseDecision {
    let Some(spec) = spec else {
        return LeaseDecision::Acquire;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder.is_empty() {
        return LeaseDecision::Acquire;
    }
    if holder == me {
        return LeaseDecision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .map(|s| chrono::Duration::seconds(i64::from(s.max(1))))
        .or_else(|| chrono::Duration::from_std(default_duration).ok())
        .unwrap_or(chrono::Duration::seconds(15));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| from_jiff(t.0));
    match renewed {
        Some(r) if r + duration > now => LeaseDecision::Wait { holder },
        _ => LeaseDecision::Acquire,
    }
}

/// Blocks until this replica holds the lease; then keeps renewing in the background and
/// resolves the returned future if the lease is lost.
pub async fn acquire(
    client: Client,
    cfg: LeaseConfig,
) -> Result<tokio::sync::oneshot::Receiver<()>, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut announced = false;
    loop {
        match try_once(&api, &cfg).await {
            Ok(true) => break,
            Ok(false) => {
                if !announced {
                    info!(lease = %cfg.name, "waiting to become leader");
                    announced = true;
                }
            }
            Err(e) => warn!(lease = %cfg.name, error = %e, "lease attempt failed"),
        }
        tokio::time::sleep(cfg.retry).await;
    }
    info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(cfg.retry).await;
            match try_once(&api, &cfg).await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!(lease = %cfg.name, "lease taken by another replica");
                    break;
                }
                Err(e) => {
                    warn!(lease = %cfg.name, error = %e, "lease renewal failed");
                    // Stop before a standby may legitimately take over.
                    if last_ok.elapsed() + cfg.retry >= cfg.duration {
                        break;
                    }
                }
            }
        }
        let _ = lost_tx.send(());
    });
    Ok(lost_rx)
}

/// Gives the lease up if we hold it (graceful shutdown), so a standby takes over at once.
pub async fn release(client: Client, cfg: &LeaseConfig) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    api.replace(&cfg.name, &PostParams::default(), &lease)
        .await?;
    info!(lease = %cfg.name, "released the leader lease");
    Ok(())
}

/// One acquire-or-renew round; `Ok(true)` when we hold the lease afterwards.
async fn try_once(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Utc::now();
    let existing = api.get_opt(&cfg.name).await?;
    let decision = decide(
        existing.as_ref().and_then(|l| l.spec.as_ref()),
        &cfg.identity,
        now,
        cfg.duration,
    );
    let mut spec = existing
        .as_ref()
        .and_then(|l| l.spec.clone())
        .unwrap_or_default();
    match decision {
        LeaseDecision::Wait { .. } => return Ok(false),
        LeaseDecision::Acquire => {
            spec.holder_identity = Some(cfg.identity.clone());
            spec.acquire_time = Some(MicroTime(to_jiff(now)));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        LeaseDecision::Renew => {}
    }
    spec.renew_time = Some(MicroTime(to_jiff(now)));
    spec.lease_duration_seconds = Some(cfg.duration.as_secs().clamp(1, i32::MAX as u64) as i32);
    let result = match existing {
        // replace() carries the resourceVersion we read: a concurrent taker makes this 409.
        Some(mut lease) => {
            lease.spec = Some(spec);
            api.replace(&cfg.name, &PostParams::default(), &lease).await
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await
        }
    };
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .expect("time")
    }

    fn lease(holder: &str, renewed: i64, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(to_jiff(at(renewed)))),
            lease_duration_seconds: Some(secs),
            ..Default::default()
        }
    }

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn a_missing_lease_is_acquired() {
        assert_eq!(decide(None, "a", at(0), D), LeaseDecision::Acquire);
    }

    #[test]
    fn our_own_lease_is_renewed() {
        assert_eq!(
            decide(Some(&lease("a", 0, 15)), "a", at(100), D),
            LeaseDecision::Renew
        );
    }

    #[test]
    fn a_live_lease_of_another_replica_is_respected() {
        assert_eq!(
            decide(Some(&lease("b", 0, 15)), "a", at(14), D),
            LeaseDecision::Wait { holder: "b".into() }
        );
    }

    #[test]
    fn an_expired_lease_is_taken_over() {
        assert_eq!(
            decide(Some(&lease("b", 0, 15)), "a", at(15), D),
            LeaseDecision::Acquire
        );
    }
}
