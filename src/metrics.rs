//! Prometheus metrics served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabel {
    pub trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndReasonLabel {
    pub end_reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifierLabel {
    pub provider: String,
    pub outcome: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub firings: Family<TriggerLabel, Counter>,
    pub runs_finished: Family<EndReasonLabel, Counter>,
    pub firing_skew: Histogram,
    pub reconcile_duration: Histogram,
    pub reconcile_errors: Family<ErrorLabel, Counter>,
    pub queued_runs: Gauge,
    pub notifications: Family<NotifierLabel, Counter>,
    queue_depths: std::sync::Mutex<std::collections::HashMap<(String, String), u32>>,
    /// 1 while this replica holds the leader lease (or runs without leader election).
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("runwisp");
        let firings = Family::<TriggerLabel, Counter>::default();
        registry.register(
            "firings",
            "Runs created by the scheduler, by trigger",
            firings.clone(),
        );
        let runs_finished = Family::<EndReasonLabel, Counter>::default();
        registry.register(
            "runs_finished",
            "Runs that reached an end, by end reason",
            runs_finished.clone(),
        );
        let firing_skew = Histogram::new([
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ]);
        registry.register(
            "firing_skew_seconds",
            "Scheduled time to the first attempt Pod's creation",
            firing_skew.clone(),
        );
        let reconcile_duration = Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]);
        registry.register(
            "reconcile_duration_seconds",
            "Task reconcile duration",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ErrorLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles by error label",
            reconcile_errors.clone(),
        );
        let queued_runs = Gauge::default();
        registry.register(
            "queued_runs",
            "Runs waiting in task queues, all tasks",
            queued_runs.clone(),
        );
        let notifications = Family::<NotifierLabel, Counter>::default();
        registry.register(
            "notifications",
            "Notification deliveries by provider and outcome",
            notifications.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica is the active controller",
            leader.clone(),
        );
        Metrics {
            queue_depths: Default::default(),
            leader,
            registry,
            firings,
            runs_finished,
            firing_skew,
            reconcile_duration,
            reconcile_errors,
            queued_runs,
            notifications,
        }
    }
}

impl Metrics {
    pub fn reconcile_error(&self, label: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabel {
                error: label.to_string(),
            })
            .inc();
    }

    pub fn fired(&self, trigger: &str) {
        self.firings
            .get_or_create(&TriggerLabel {
                trigger: trigger.to_string(),
            })
            .inc();
    }

    pub fn finished(&self, end_reason: &str) {
        self.runs_finished
            .get_or_create(&EndReasonLabel {
                end_reason: end_reason.to_string(),
            })
            .inc();
    }

    pub fn notified(&self, provider: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotifierLabel {
                provider: provider.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Records one task's queue length; the gauge is the sum over tasks.
    pub fn set_queue_depth(&self, task: (String, String), depth: u32) {
        let mut depths = match self.queue_depths.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let old = if depth == 0 {
            depths.remove(&task).unwrap_or(0)
        } else {
            depths.insert(task, depth).unwrap_or(0)
        };
        self.queued_runs.inc_by(i64::from(depth) - i64::from(old));
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_depth_is_the_sum_of_the_latest_depth_of_each_task() {
        let m = Metrics::default();
        m.set_queue_depth(("ns".into(), "a".into()), 3);
        m.set_queue_depth(("ns".into(), "b".into()), 2);
        m.set_queue_depth(("ns".into(), "a".into()), 1);
        assert_eq!(m.queued_runs.get(), 3);
        m.set_queue_depth(("ns".into(), "b".into()), 0);
        assert_eq!(m.queued_runs.get(), 1);
    }

    #[test]
    fn metrics_are_exposed_with_the_runwisp_prefix() {
        let m = Metrics::default();
        m.fired("cron");
        assert!(
            m.encode()
                .contains("runwisp_firings_total{trigger=\"cron\"} 1")
        );
    }
}
