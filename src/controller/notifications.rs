//! Alerts for a task's runs: which notifiers get each event (recorded in the run's status in
//! the same write that ends the run), and delivering the pending ones. Because every try is
//! recorded before the next, an operator restart neither loses nor repeats an alert (a crash
//! between a POST and its record can repeat that one POST: at-least-once).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use tracing::{debug, warn};

use super::Context;
use crate::api::{
    DeliveryState, EventKind, NotificationRecord, NotifierType, RunWispNotifier,
    RunWispNotifierSpec, RunWispRun, RunWispRunStatus, RunWispTaskSpec,
};
use crate::notify::{self, AttemptOutcome, CoalesceKey, Offer, RunEvent, Verdict};

/// The namespace's notifiers, by name.
pub fn notifiers_in(ctx: &Context, ns: &str) -> Vec<Arc<RunWispNotifier>> {
    ctx.notifiers
        .state()
        .into_iter()
        .filter(|n| n.namespace().as_deref() == Some(ns))
        .collect()
}

/// The event as the payload renderers see it.
pub fn run_event(
    kind: EventKind,
    ns: &str,
    task: &str,
    run: &RunWispRun,
    st: &RunWispRunStatus,
    max_attempts: u32,
) -> RunEvent {
    let last = st.attempts.last();
    RunEvent {
        kind,
        namespace: ns.to_string(),
        task: task.to_string(),
        run: run.name_any(),
        trigger: run
            .spec
            .trigger
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "manual".into()),
        scheduled_time: run.spec.scheduled_time,
        started: st.start_time,
        finished: st.completion_time,
        attempt: st.attempt_count,
        max_attempts,
        exit_code: st.exit_code,
        end_reason: st.end_reason.map(|e| e.as_str().to_string()),
        message: st.message.clone(),
        output_tail: last.and_then(|a| a.log_tail.clone()),
        missed_count: st.missed_count,
        failed_notifier: None,
    }
}

/// Adds one record per recipient of `event` to `st` (folded ones as `Coalesced`).
pub fn plan(
    ctx: &Context,
    event: &RunEvent,
    task_spec: &RunWispTaskSpec,
    notifiers: &[Arc<RunWispNotifier>],
    st: &mut RunWispRunStatus,
    now: DateTime<Utc>,
) {
    let named: Vec<(&str, &RunWispNotifierSpec)> = notifiers
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, &n.spec)))
        .collect();
    let kind_name = notify::kind_name(event.kind);
    for name in notify::recipients(
        event,
        &task_spec.notify_on_failure,
        &task_spec.notify_on_success,
        &named,
    ) {
        if st
            .notifications
            .iter()
            .any(|r| r.notifier == name && r.event == kind_name)
        {
            continue;
        }
        let spec = named.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        let window = spec.and_then(|s| notify::coalesce::window_of(s).ok().flatten());
        let state = if notify::coalesce::coalescible(event.kind) && window.is_some() {
            let key = CoalesceKey {
                namespace: event.namespace.clone(),
                task: event.task.clone(),
                kind: event.kind,
                notifier: name.clone(),
            };
            let mut c = match ctx.coalescer.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            match c.offer(key, now, window) {
                Offer::SendNow => DeliveryState::Pending,
                Offer::Fold => DeliveryState::Coalesced,
            }
        } else {
            DeliveryState::Pending
        };
        st.notifications.push(NotificationRecord {
            notifier: name,
            event: kind_name.to_string(),
            state,
            since: Some(now),
            tries: 0,
            next_try_time: None,
            last_try_time: None,
            delivered_time: None,
            error: None,
        });
    }
}

/// The webhook URL of a notifier, from its Secret (GET only: the operator never lists Secrets).
pub async fn webhook_url(
    client: &Client,
    ns: &str,
    spec: &RunWispNotifierSpec,
) -> Result<String, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let r = &spec.webhook_url_secret_ref;
    let secret = secrets
        .get_opt(&r.name)
        .await
        .map_err(|e| format!("cannot read Secret {}: {}", r.name, short_kube_error(&e)))?
        .ok_or_else(|| format!("Secret {} does not exist", r.name))?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&r.key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| format!("Secret {} has no key {}", r.name, r.key))?;
    String::from_utf8(bytes)
        .map(|s| s.trim().to_string())
        .map_err(|_| format!("Secret {} key {} is not UTF-8", r.name, r.key))
}

fn short_kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
        _ => "API error".into(),
    }
}

/// Renders the payload a notifier of this type expects.
pub fn payload(spec: &RunWispNotifierSpec, event: &RunEvent, operator: &str) -> serde_json::Value {
    match spec.type_ {
        NotifierType::Slack => notify::slack::render(event, spec.run_url_base.as_deref(), operator),
        NotifierType::Webhook => notify::webhook::render(event),
    }
}

/// Outcome of one delivery try for one record.
pub struct Tried {
    pub verdict: Verdict,
    pub provider: &'static str,
    /// When the answer came: waits count from here, not from the start of the reconcile.
    pub at: DateTime<Utc>,
}

/// One POST for one pending record; the caller records the verdict.
pub async fn try_deliver(
    ctx: &Context,
    ns: &str,
    notifier: Option<&RunWispNotifier>,
    event: &RunEvent,
    record: &NotificationRecord,
    now: DateTime<Utc>,
) -> Tried {
    let Some(notifier) = notifier else {
        return Tried {
            verdict: Verdict::GiveUp(format!("notifier {} does not exist", record.notifier)),
            provider: "unknown",
            at: now,
        };
    };
    let provider = match notifier.spec.type_ {
        NotifierType::Slack => "slack",
        NotifierType::Webhook => "webhook",
    };
    let outcome = match webhook_url(&ctx.client, ns, &notifier.spec).await {
        // A missing Secret may be on its way (GitOps ordering): retry within the budget.
        Err(msg) => AttemptOutcome::Network(msg),
        Ok(url) => {
            let body = payload(&notifier.spec, event, &ctx.cfg.manager);
            notify::post_once(&ctx.http, &url, &body).await
        }
    };
    let at = Utc::now().max(now);
    let since = record.since.unwrap_or(at);
    let elapsed = (at - since).to_std().unwrap_or(Duration::ZERO);
    let verdict = notify::policy::judge(&outcome, record.tries + 1, elapsed, at);
    debug!(notifier = %record.notifier, event = %record.event, ?verdict, "delivery try");
    Tried {
        verdict,
        provider,
        at,
    }
}

/// Applies a verdict to a record; returns whether the delivery gave up.
pub fn record_try(record: &mut NotificationRecord, verdict: &Verdict, now: DateTime<Utc>) -> bool {
    record.tries += 1;
    record.last_try_time = Some(now);
    match verdict {
        Verdict::Delivered => {
            record.state = DeliveryState::Delivered;
            record.delivered_time = Some(now);
            record.next_try_time = None;
            record.error = None;
            false
        }
        Verdict::RetryAfter(wait) => {
            record.next_try_time = Some(
                now + chrono::Duration::from_std(*wait).unwrap_or(chrono::Duration::seconds(60)),
            );
            false
        }
        Verdict::GiveUp(reason) => {
            record.state = DeliveryState::Failed;
            record.next_try_time = None;
            record.error = Some(reason.clone());
            true
        }
    }
}

/// Sends coalesced summaries when their windows close (not tied to a run: best effort).
pub async fn summaries_loop(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let due = {
            let mut c = match ctx.coalescer.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            c.due_summaries(Utc::now())
        };
        for s in due {
            let key = &s.key;
            let Some(notifier) = ctx
                .notifiers
                .get(&ObjectRef::new(&key.notifier).within(&key.namespace))
            else {
                continue;
            };
            let body = match notifier.spec.type_ {
                NotifierType::Slack => notify::slack::render_summary(
                    &key.task,
                    key.kind,
                    s.count,
                    s.first,
                    s.last,
                    &key.namespace,
                    &ctx.cfg.manager,
                ),
                NotifierType::Webhook => notify::webhook::render_summary(
                    &key.task,
                    key.kind,
                    s.count,
                    s.first,
                    s.last,
                    &key.namespace,
                ),
            };
            match webhook_url(&ctx.client, &key.namespace, &notifier.spec).await {
                Ok(url) => {
                    if let Err(e) = notify::deliver::deliver(
                        &ctx.http,
                        &url,
                        &body,
                        notify::policy::MAX_ELAPSED,
                    )
                    .await
                    {
                        warn!(notifier = %key.notifier, error = %e, "summary not delivered");
                    }
                }
                Err(e) => warn!(notifier = %key.notifier, error = %e, "summary not delivered"),
            }
        }
    }
}
