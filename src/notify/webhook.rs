//! The generic webhook body: the event as flat camelCase JSON, times in RFC 3339 (UTC).
//!
//! Every key is always present (null when unknown), so receivers can rely on the shape.
//! Text is passed through as is: escaping is the receiver's business.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::event::{RunEvent, kind_name, severity, severity_name};
use crate::api::EventKind;

/// The body for one event. `failedNotifier` is added for `notify.delivery_failed` only.
pub fn render(event: &RunEvent) -> Value {
    let mut body = json!({
        "kind": kind_name(event.kind),
        "severity": severity_name(severity(event.kind)),
        "namespace": event.namespace,
        "task": event.task,
        "run": event.run,
        "trigger": event.trigger,
        "scheduledTime": event.scheduled_time.map(rfc3339),
        "startTime": event.started.map(rfc3339),
        "finishTime": event.finished.map(rfc3339),
        "attempt": event.attempt,
        "maxAttempts": event.max_attempts,
        "exitCode": event.exit_code,
        "endReason": event.end_reason,
        "message": event.message,
        "outputTail": event.output_tail,
        "missedCount": event.missed_count,
    });
    if let (EventKind::DeliveryFailed, Some(obj)) = (event.kind, body.as_object_mut()) {
        obj.insert("failedNotifier".into(), json!(event.failed_notifier));
    }
    body
}

/// The body sent at the end of a coalescing window: `count` more events of `kind` for
/// `task` were folded, the first at `first` and the last at `last`. `"summary": true` tells
/// it apart from an event.
pub fn render_summary(
    task: &str,
    kind: EventKind,
    count: u32,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    namespace: &str,
) -> Value {
    json!({
        "summary": true,
        "kind": kind_name(kind),
        "severity": severity_name(severity(kind)),
        "namespace": namespace,
        "task": task,
        "count": count,
        "firstTime": rfc3339(first),
        "lastTime": rfc3339(last),
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 9, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn failed() -> RunEvent {
        RunEvent {
            kind: EventKind::RunFailed,
            namespace: "prod".into(),
            task: "backup-postgres".into(),
            run: "backup-postgres-20240309-0230".into(),
            trigger: "cron".into(),
            scheduled_time: Some(at(2, 30)),
            started: Some(at(2, 31)),
            finished: None,
            attempt: 2,
            max_attempts: 2,
            exit_code: Some(3),
            end_reason: Some("failed".into()),
            message: None,
            output_tail: Some("boom\n".into()),
            missed_count: None,
            failed_notifier: None,
        }
    }

    #[test]
    fn event_body_has_every_key_in_camel_case() {
        let body = render(&failed());
        assert_eq!(
            body,
            json!({
                "kind": "run.failed",
                "severity": "error",
                "namespace": "prod",
                "task": "backup-postgres",
                "run": "backup-postgres-20240309-0230",
                "trigger": "cron",
                "scheduledTime": "2024-03-09T02:30:00Z",
                "startTime": "2024-03-09T02:31:00Z",
                "finishTime": null,
                "attempt": 2,
                "maxAttempts": 2,
                "exitCode": 3,
                "endReason": "failed",
                "message": null,
                "outputTail": "boom\n",
                "missedCount": null,
            })
        );
    }

    #[test]
    fn delivery_failed_names_the_failed_notifier() {
        let mut e = failed();
        e.kind = EventKind::DeliveryFailed;
        e.failed_notifier = Some("slack-ops".into());
        assert_eq!(render(&e)["failedNotifier"], "slack-ops");
    }

    #[test]
    fn summary_body_counts_the_folded_events() {
        let body = render_summary(
            "backup-postgres",
            EventKind::RunFailed,
            3,
            at(2, 31),
            at(2, 39),
            "prod",
        );
        assert_eq!(
            body,
            json!({
                "summary": true,
                "kind": "run.failed",
                "severity": "error",
                "namespace": "prod",
                "task": "backup-postgres",
                "count": 3,
                "firstTime": "2024-03-09T02:31:00Z",
                "lastTime": "2024-03-09T02:39:00Z",
            })
        );
    }
}
