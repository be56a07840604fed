//! Alerts and retention on the real bed, with a local receiver in place of Slack.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use runwisp_operator::api::{DeliveryState, RunPhase};

use crate::harness::Bed;
use crate::receiver::Receiver;

const MIN: Duration = Duration::from_secs(60);

impl Bed {
    /// A Slack notifier `name` whose webhook URL lives in Secret `<name>-webhook`.
    pub async fn slack_notifier(&self, name: &str, url: &str, extra_spec: &str) {
        let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(self.client.clone(), &self.ns);
        let secret: k8s_openapi::api::core::v1::Secret =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("{name}-webhook")},
                "stringData": {"url": url},
            }))
            .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
        let mut spec: serde_json::Value = serde_yaml::from_str(&format!(
            "type: slack\nwebhookUrlSecretRef: {{name: {name}-webhook, key: url}}\n{extra_spec}"
        ))
        .expect("notifier spec");
        if spec.is_null() {
            spec = serde_json::json!({});
        }
        let obj: runwisp_operator::api::RunWispNotifier =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispNotifier",
                "metadata": {"name": name, "namespace": self.ns}, "spec": spec,
            }))
            .expect("notifier");
        let api: kube::Api<runwisp_operator::api::RunWispNotifier> =
            kube::Api::namespaced(self.client.clone(), &self.ns);
        api.create(&PostParams::default(), &obj)
            .await
            .expect("create notifier");
    }
}

fn texts(body: &serde_json::Value) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

#[tokio::test]
async fn a_failing_task_sends_exactly_one_slack_message_with_its_output_tail() {
    let slack = Receiver::start(&[]).await;
    let bed = Bed::new("notify-once").await;
    bed.slack_notifier("slack-ops", &slack.url(), "").await;
    bed.task("backup", "run: 'echo dumping; echo pg_dump: connection refused >&2; exit 2'\nnotifyOnFailure: [slack-ops]\n").await;
    bed.trigger("backup", "backup-1").await;
    let run = bed
        .wait_for("the alert to be recorded as delivered", MIN, || async {
            let r = bed.runs().get("backup-1").await.ok()?;
            r.status
                .as_ref()?
                .notifications
                .iter()
                .any(|n| n.state == DeliveryState::Delivered)
                .then_some(r)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = slack.received();
    assert_eq!(got.len(), 1, "exactly one POST: {got:?}");
    let body = &got[0].body;
    assert!(
        body["text"].as_str().unwrap_or_default().contains("backup"),
        "{body}"
    );
    let blocks = body["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks.iter().any(|b| b["type"] == "context"));
    assert!(
        texts(body).contains("connection refused"),
        "the output tail is in the message: {body}"
    );
    let rec = &run.status.expect("status").notifications[0];
    assert_eq!(
        (rec.notifier.as_str(), rec.event.as_str(), rec.tries),
        ("slack-ops", "run.failed", 1)
    );
    let events = bed.task_events("backup").await;
    assert!(
        events.iter().any(|e| e.starts_with("RunFailed")),
        "the in-cluster bell: {events:?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("s3cr3t")),
        "no webhook URL in events"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_and_the_alert_arrives_once() {
    let slack = Receiver::start(&[(429, Some("2"))]).await;
    let bed = Bed::new("notify-429").await;
    bed.slack_notifier("slack-ops", &slack.url(), "").await;
    bed.task("flaky", "run: 'exit 1'\nnotifyOnFailure: [slack-ops]\n")
        .await;
    bed.trigger("flaky", "flaky-1").await;
    bed.wait_for("a delivered alert", MIN, || async {
        (!slack.delivered().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = slack.received();
    assert_eq!(got.len(), 2, "one 429, then one delivery: {got:?}");
    assert!(
        got[1].at - got[0].at >= Duration::from_secs(2),
        "waited {:?}",
        got[1].at - got[0].at
    );
    assert_eq!(slack.delivered().len(), 1);
}

#[tokio::test]
async fn an_operator_restart_between_failure_and_delivery_still_delivers_exactly_once() {
    // The first POST fails (503), so the alert is pending when the operator dies.
    let slack = Receiver::start(&[(503, Some("3"))]).await;
    let mut bed = Bed::new("notify-restart").await;
    bed.slack_notifier("slack-ops", &slack.url(), "").await;
    bed.task("crashy", "run: 'exit 4'\nnotifyOnFailure: [slack-ops]\n")
        .await;
    bed.trigger("crashy", "crashy-1").await;
    bed.wait_for("the first try", MIN, || async {
        (!slack.received().is_empty()).then_some(())
    })
    .await;
    bed.kill_operator().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    bed.start_operator().await;
    bed.wait_for("the delivery", MIN, || async {
        (!slack.delivered().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(slack.delivered().len(), 1, "{:?}", slack.received());
    let run = bed.runs().get("crashy-1").await.expect("run");
    let rec = &run.status.expect("status").notifications[0];
    assert_eq!((rec.state, rec.tries), (DeliveryState::Delivered, 2));
}

#[tokio::test]
async fn a_permanently_refused_alert_raises_a_delivery_failed_event() {
    let slack = Receiver::start(&[(404, None)]).await;
    let bed = Bed::new("notify-404").await;
    bed.slack_notifier("slack-ops", &slack.url(), "").await;
    bed.task("gone", "run: 'exit 1'\nnotifyOnFailure: [slack-ops]\n")
        .await;
    bed.trigger("gone", "gone-1").await;
    let events = bed
        .wait_for("a NotifyDeliveryFailed event", MIN, || async {
            let ev = bed.task_events("gone").await;
            ev.iter()
                .any(|e| e.starts_with("NotifyDeliveryFailed"))
                .then_some(ev)
        })
        .await;
    assert!(
        !events.iter().any(|e| e.contains("s3cr3t")),
        "the URL never reaches an event: {events:?}"
    );
    assert_eq!(slack.received().len(), 1, "a 404 is not retried");
    let run = bed.runs().get("gone-1").await.expect("run");
    let st = run.status.expect("status");
    assert_eq!(st.notifications[0].state, DeliveryState::Failed);
    assert!(
        !serde_json::to_string(&st)
            .unwrap_or_default()
            .contains("s3cr3t"),
        "nor the status"
    );
}

#[tokio::test]
async fn a_task_naming_a_missing_notifier_gets_a_condition_and_an_event() {
    let bed = Bed::new("notify-missing").await;
    bed.task("lonely", "run: 'true'\nnotifyOnFailure: [nobody]\n")
        .await;
    let task = bed
        .wait_for("a NotifiersReady=False condition", MIN, || async {
            let t = bed.tasks().get("lonely").await.ok()?;
            t.status
                .as_ref()?
                .conditions
                .iter()
                .any(|c| c.type_ == "NotifiersReady" && c.status == "False")
                .then_some(t)
        })
        .await;
    let msg = task
        .status
        .expect("status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == "NotifiersReady")
        .expect("cond")
        .message;
    assert!(msg.contains("nobody"), "{msg}");
    let events = bed.task_events("lonely").await;
    assert!(
        events.iter().any(|e| e.starts_with("MissingNotifier")),
        "{events:?}"
    );
}

#[tokio::test]
async fn keep_runs_three_leaves_three_runs_and_removes_the_pruned_runs_pods() {
    let bed = Bed::new("retention").await;
    bed.task("keep", "run: 'true'\nkeepRuns: 3\n").await;
    for i in 1..=5 {
        let name = format!("keep-{i}");
        bed.trigger("keep", &name).await;
        bed.wait_run_finished(&name, MIN).await;
    }
    let runs = bed
        .wait_for("retention to leave three runs", MIN, || async {
            let runs = bed.runs_of("keep").await;
            (runs.len() == 3).then_some(runs)
        })
        .await;
    let names: Vec<String> = runs.iter().map(|r| r.name_any()).collect();
    assert_eq!(names, vec!["keep-3", "keep-4", "keep-5"]);
    assert!(runs.iter().all(|r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == RunPhase::Succeeded)
    }));
    // The garbage collector removes the pruned runs' Pods (1.20's kubelet takes a few seconds).
    bed.wait_for("the pruned runs' pods to be gone", 2 * MIN, || async {
        let pods = bed.pods().list(&ListParams::default()).await.ok()?.items;
        let left: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        (!left
            .iter()
            .any(|p| p.starts_with("keep-1-") || p.starts_with("keep-2-")))
        .then_some(())
    })
    .await;
}
