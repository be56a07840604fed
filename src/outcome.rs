//! What happened to an attempt Pod, read from its status.
//!
//! The rules hold for Kubernetes 1.20 as well as current versions, whose statuses differ in
//! small but important ways (a deadline kill can leave the container shown as running; older
//! node-loss handling only sets a pod reason). The pod's own `status.reason` is trusted over
//! container states where they disagree.

use std::fmt;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

use crate::retry::EndReason;

/// What an attempt Pod shows right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodOutcome {
    /// Not started yet. `since` is the pod's creation time; `problem` is set when something
    /// is blocking the start (see [`start_failed`]).
    Pending {
        since: Option<Timestamp>,
        problem: Option<StartProblem>,
    },
    /// The main container is running.
    Running,
    /// The attempt is over.
    Finished {
        end: EndReason,
        exit_code: Option<i32>,
        finished_at: Option<Timestamp>,
        /// Kubelet/scheduler text for people; may be empty.
        message: String,
    },
}

/// Why a pending pod is not starting.
///
/// Image and config problems carry the kubelet's waiting `reason` as well as its message,
/// because the reason decides whether the problem can clear up by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartProblem {
    /// The scheduler cannot place the pod; the scheduler's message.
    Unschedulable(String),
    /// An image cannot be pulled (`ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`,
    /// `InvalidImageName`, …).
    ImageUnavailable { reason: String, message: String },
    /// The container cannot be created (`CreateContainerConfigError`: a missing Secret or
    /// ConfigMap key; `CreateContainerError`).
    ConfigError { reason: String, message: String },
}

impl StartProblem {
    /// The scheduler or kubelet reason, e.g. `ImagePullBackOff`.
    pub fn reason(&self) -> &str {
        match self {
            StartProblem::Unschedulable(_) => "Unschedulable",
            StartProblem::ImageUnavailable { reason, .. }
            | StartProblem::ConfigError { reason, .. } => reason,
        }
    }

    /// The scheduler or kubelet message.
    pub fn message(&self) -> &str {
        match self {
            StartProblem::Unschedulable(message)
            | StartProblem::ImageUnavailable { message, .. }
            | StartProblem::ConfigError { message, .. } => message,
        }
    }

    /// Problems that no amount of waiting fixes: the image name is malformed, or the pull
    /// policy forbids pulling an image that is not on the node.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StartProblem::ImageUnavailable { reason, .. }
                if reason == "ErrImageNeverPull" || reason == "InvalidImageName"
        )
    }
}

impl fmt::Display for StartProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message().is_empty() {
            f.write_str(self.reason())
        } else {
            write!(f, "{}: {}", self.reason(), self.message())
        }
    }
}

/// Pod reasons set when the node, not the script, ended the pod: eviction, node loss,
/// node shutdown, and kubelet admission failures. `OutOf<resource>` is matched by prefix.
const NODE_FAILURE_REASONS: &[&str] = &[
    "Evicted",
    "NodeLost",
    "Shutdown",
    "NodeShutdown",
    "Terminated",
    "UnexpectedAdmissionError",
    "NodeAffinity",
    "InvalidNodeInfo",
    "PodOSNotSupported",
];

/// Container termination reasons that mean the process was killed from outside.
/// `Unknown` (exit 255): the kubelet lost the container with its node or runtime (seen on
/// 1.20 after a node restart), which is the host dying under the run, not the script failing.
const CONTAINER_CRASH_REASONS: &[&str] = &["OOMKilled", "ContainerStatusUnknown", "Unknown"];

const IMAGE_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "ImageInspectError",
    "RegistryUnavailable",
];

const CONFIG_REASONS: &[&str] = &["CreateContainerConfigError", "CreateContainerError"];

/// Status messages end up in the run's status; a container termination message can be
/// several KiB, so keep only the start.
const MAX_MESSAGE_CHARS: usize = 1024;

/// Classify an attempt Pod whose script runs in the container named `main_container`.
///
/// A pod being deleted is reported `Crashed`; when the operator deleted it on purpose
/// (`onOverlap: kill`, a stop), the caller knows and records `Stopped` instead.
pub fn classify(pod: &Pod, main_container: &str) -> PodOutcome {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    let pod_reason = status.and_then(|s| s.reason.as_deref()).unwrap_or("");
    let pod_message = status.and_then(|s| s.message.as_deref()).unwrap_or("");
    let main = status
        .and_then(|s| s.container_statuses.as_deref())
        .and_then(|all| all.iter().find(|c| c.name == main_container));
    let main_terminated = main.and_then(terminated);
    let deleted = pod.metadata.deletion_timestamp.is_some();

    let finished = |end: EndReason, term: Option<&ContainerStateTerminated>, message: String| {
        PodOutcome::Finished {
            end,
            exit_code: term.map(|t| t.exit_code),
            finished_at: term.and_then(|t| t.finished_at.as_ref()).map(|t| t.0),
            message: truncate(message),
        }
    };

    // First: after a deadline kill, 1.20 can still show the container running.
    if pod_reason == "DeadlineExceeded" {
        return finished(
            EndReason::Timeout,
            main_terminated,
            or_default(pod_message, "the attempt ran past its timeout"),
        );
    }
    if phase == "Succeeded" {
        return finished(EndReason::Success, main_terminated, String::new());
    }
    if let Some(term) = main_terminated
        && let Some(reason) = term.reason.as_deref()
        && CONTAINER_CRASH_REASONS.contains(&reason)
    {
        return finished(
            EndReason::Crashed,
            Some(term),
            container_message(main_container, term),
        );
    }
    if is_node_failure(pod_reason) || has_disruption_target(pod) {
        let message = match (pod_reason, pod_message) {
            ("", "") => "the pod was disrupted by its node".to_owned(),
            (reason, "") => reason.to_owned(),
            ("", message) => message.to_owned(),
            (reason, message) => format!("{reason}: {message}"),
        };
        return finished(EndReason::Crashed, main_terminated, message);
    }
    // The main container finished on its own; a sidecar may keep the pod Running, and a
    // deletion racing with a clean exit does not undo the work.
    if let Some(term) = main_terminated
        && term.exit_code == 0
    {
        return finished(EndReason::Success, Some(term), String::new());
    }
    // Deleted under us: a non-zero exit here is the SIGTERM/SIGKILL (143/137), not the script.
    if deleted {
        return finished(
            EndReason::Crashed,
            main_terminated,
            "the pod was deleted before the attempt finished".to_owned(),
        );
    }
    if let Some(term) = main_terminated {
        return finished(
            EndReason::Failed,
            Some(term),
            container_message(main_container, term),
        );
    }
    if phase == "Failed" {
        // An init container from the pod template failed: the attempt's own setup failed.
        if let Some(init) = status
            .and_then(|s| s.init_container_statuses.as_deref())
            .and_then(|all| {
                all.iter()
                    .find(|c| terminated(c).is_some_and(|t| t.exit_code != 0))
            })
            && let Some(term) = terminated(init)
        {
            return finished(
                EndReason::Failed,
                Some(term),
                container_message(&init.name, term),
            );
        }
        return finished(
            EndReason::Crashed,
            None,
            or_default(pod_message, "the pod failed without container status"),
        );
    }

    // A Running pod whose main container is still waiting has not started the script
    // (a sidecar is what runs). `Unknown` (node unreachable) stays in flight: the node
    // lifecycle controller resolves it by deleting the pod, which lands above.
    let main_waiting = main.is_some_and(|c| c.state.as_ref().is_some_and(|s| s.waiting.is_some()));
    if !main_waiting && (phase == "Running" || phase == "Unknown") {
        return PodOutcome::Running;
    }
    PodOutcome::Pending {
        since: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
        problem: start_problem(pod, main_container),
    }
}

/// What a missing attempt Pod means: created earlier and now gone (deleted, garbage
/// collected, node lost for good) is a crash; never created means nothing happened yet.
pub fn classify_missing(pod_was_created: bool) -> Option<EndReason> {
    pod_was_created.then_some(EndReason::Crashed)
}

/// Whether a pending attempt should end as `start_failed`: its start problem has lasted
/// longer than `bound`, or cannot clear up by itself.
pub fn start_failed(outcome: &PodOutcome, now: Timestamp, bound: Duration) -> bool {
    let PodOutcome::Pending {
        since,
        problem: Some(problem),
    } = outcome
    else {
        return false;
    };
    if problem.is_permanent() {
        return true;
    }
    let Some(since) = since else {
        return false;
    };
    // A bound too large for SignedDuration is never reached.
    SignedDuration::try_from(bound).is_ok_and(|bound| now.duration_since(*since) > bound)
}

fn terminated(status: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    status.state.as_ref().and_then(|s| s.terminated.as_ref())
}

fn is_node_failure(reason: &str) -> bool {
    NODE_FAILURE_REASONS.contains(&reason) || reason.starts_with("OutOf")
}

/// Kubernetes ≥ 1.26 marks pods disrupted by eviction, preemption or node shutdown.
fn has_disruption_target(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == "DisruptionTarget" && c.status == "True")
        })
}

fn start_problem(pod: &Pod, main_container: &str) -> Option<StartProblem> {
    let status = pod.status.as_ref()?;
    if let Some(cond) = status.conditions.as_deref().and_then(|conds| {
        conds.iter().find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
    }) {
        return Some(StartProblem::Unschedulable(truncate(
            cond.message.clone().unwrap_or_default(),
        )));
    }
    // Init containers run first, then the main container; any container failing to start
    // blocks the attempt.
    let init = status.init_container_statuses.iter().flatten();
    let containers = status.container_statuses.iter().flatten();
    let (main, others): (Vec<_>, Vec<_>) = containers.partition(|c| c.name == main_container);
    init.chain(main).chain(others).find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.clone().unwrap_or_default();
        let message = truncate(waiting.message.clone().unwrap_or_default());
        if IMAGE_REASONS.contains(&reason.as_str()) {
            Some(StartProblem::ImageUnavailable { reason, message })
        } else if CONFIG_REASONS.contains(&reason.as_str()) {
            Some(StartProblem::ConfigError { reason, message })
        } else {
            None
        }
    })
}

fn container_message(name: &str, term: &ContainerStateTerminated) -> String {
    let mut message = format!("container {name} exited with code {}", term.exit_code);
    if let Some(reason) = term.reason.as_deref().filter(|r| !r.is_empty()) {
        message.push_str(&format!(" ({reason})"));
    }
    if let Some(text) = term
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        message.push_str(": ");
        message.push_str(text);
    }
    message
}

fn or_default(message: &str, default: &str) -> String {
    if message.is_empty() {
        default.to_owned()
    } else {
        message.to_owned()
    }
}

fn truncate(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAIN: &str = "main";

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("test pod JSON")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn metadata() -> serde_json::Value {
        json!({
            "name": "backup-20240102-0300-a1",
            "namespace": "ops",
            "creationTimestamp": "2024-01-02T03:00:00Z"
        })
    }

    fn container(state: serde_json::Value) -> serde_json::Value {
        json!({
            "name": MAIN,
            "image": "busybox:1.36",
            "imageID": "docker-pullable://busybox@sha256:abc",
            "ready": false,
            "restartCount": 0,
            "state": state
        })
    }

    fn terminated_state(exit_code: i32, reason: &str) -> serde_json::Value {
        json!({"terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": "2024-01-02T03:00:05Z",
            "finishedAt": "2024-01-02T03:10:00Z",
            "containerID": "docker://abc"
        }})
    }

    fn end_of(outcome: &PodOutcome) -> Option<(EndReason, Option<i32>)> {
        match outcome {
            PodOutcome::Finished { end, exit_code, .. } => Some((*end, *exit_code)),
            _ => None,
        }
    }

    fn pending_waiting(reason: &str, message: &str) -> Pod {
        pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Pending",
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                    {"type": "PodScheduled", "status": "True"}
                ],
                "startTime": "2024-01-02T03:00:01Z",
                "containerStatuses": [container(json!({"waiting": {"reason": reason, "message": message}}))]
            }
        }))
    }

    #[test]
    fn succeeded_pod_is_success_with_exit_code_zero() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {"phase": "Succeeded", "containerStatuses": [container(terminated_state(0, "Completed"))]}
        }));
        let outcome = classify(&p, MAIN);
        assert_eq!(end_of(&outcome), Some((EndReason::Success, Some(0))));
        assert!(matches!(
            outcome,
            PodOutcome::Finished { finished_at: Some(t), .. } if t == ts("2024-01-02T03:10:00Z")
        ));
    }

    #[test]
    fn main_container_exit_zero_is_success_while_a_sidecar_keeps_running() {
        let mut sidecar = container(json!({"running": {"startedAt": "2024-01-02T03:00:05Z"}}));
        sidecar["name"] = json!("istio-proxy");
        let p = pod(json!({
            "metadata": metadata(),
            "status": {"phase": "Running", "containerStatuses": [container(terminated_state(0, "Completed")), sidecar]}
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Success, Some(0)))
        );
    }

    #[test]
    fn deadline_exceeded_is_timeout_even_with_the_container_still_shown_running() {
        // Kubernetes 1.20 after an activeDeadlineSeconds kill.
        let mut c = container(json!({"running": {"startedAt": "2024-01-02T03:00:05Z"}}));
        c["ready"] = json!(true);
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Failed",
                "reason": "DeadlineExceeded",
                "message": "Pod was active on the node longer than the specified deadline",
                "startTime": "2024-01-02T03:00:01Z",
                "containerStatuses": [c]
            }
        }));
        let outcome = classify(&p, MAIN);
        assert_eq!(end_of(&outcome), Some((EndReason::Timeout, None)));
        assert!(matches!(
            outcome,
            PodOutcome::Finished { message, .. } if message.contains("longer than the specified deadline")
        ));
    }

    #[test]
    fn deadline_exceeded_wins_over_a_non_zero_exit_code() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Failed",
                "reason": "DeadlineExceeded",
                "containerStatuses": [container(terminated_state(137, "Error"))]
            }
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Timeout, Some(137)))
        );
    }

    #[test]
    fn oom_killed_container_is_crashed() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {"phase": "Failed", "containerStatuses": [container(terminated_state(137, "OOMKilled"))]}
        }));
        let outcome = classify(&p, MAIN);
        assert_eq!(end_of(&outcome), Some((EndReason::Crashed, Some(137))));
        assert!(matches!(
            outcome,
            PodOutcome::Finished { message, .. } if message.contains("OOMKilled")
        ));
    }

    #[test]
    fn evicted_pod_is_crashed_despite_a_non_zero_exit_code() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Failed",
                "reason": "Evicted",
                "message": "The node was low on resource: memory. Container main was using 1843976Ki, which exceeds its request of 0. ",
                "containerStatuses": [container(terminated_state(137, "Error"))]
            }
        }));
        let outcome = classify(&p, MAIN);
        assert_eq!(end_of(&outcome), Some((EndReason::Crashed, Some(137))));
        assert!(matches!(
            outcome,
            PodOutcome::Finished { message, .. } if message.starts_with("Evicted: The node was low")
        ));
    }

    #[test]
    fn node_lost_pod_is_crashed() {
        let mut c = container(json!({"running": {"startedAt": "2024-01-02T03:00:05Z"}}));
        c["ready"] = json!(true);
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Unknown",
                "reason": "NodeLost",
                "message": "Node worker-2 which was running pod backup-20240102-0300-a1 is unresponsive",
                "containerStatuses": [c]
            }
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Crashed, None))
        );
    }

    #[test]
    fn node_shutdown_pod_is_crashed() {
        for reason in ["Shutdown", "NodeShutdown", "Terminated"] {
            let p = pod(json!({
                "metadata": metadata(),
                "status": {
                    "phase": "Failed",
                    "reason": reason,
                    "message": "Pod was terminated in response to imminent node shutdown.",
                    "containerStatuses": [container(terminated_state(143, "Error"))]
                }
            }));
            assert_eq!(
                end_of(&classify(&p, MAIN)),
                Some((EndReason::Crashed, Some(143))),
                "{reason}"
            );
        }
    }

    #[test]
    fn admission_failure_on_the_node_is_crashed() {
        for reason in [
            "OutOfcpu",
            "OutOfmemory",
            "OutOfpods",
            "UnexpectedAdmissionError",
        ] {
            let p = pod(json!({
                "metadata": metadata(),
                "status": {
                    "phase": "Failed",
                    "reason": reason,
                    "message": "Pod Node didn't have enough resource: cpu, requested: 2000, used: 1500, capacity: 2000"
                }
            }));
            assert_eq!(
                end_of(&classify(&p, MAIN)),
                Some((EndReason::Crashed, None)),
                "{reason}"
            );
        }
    }

    #[test]
    fn disruption_target_condition_is_crashed() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Failed",
                "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}],
                "containerStatuses": [container(terminated_state(143, "Error"))]
            }
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Crashed, Some(143)))
        );
    }

    #[test]
    fn deleted_pod_with_sigterm_exit_code_is_crashed() {
        let mut meta = metadata();
        meta["deletionTimestamp"] = json!("2024-01-02T03:05:00Z");
        meta["deletionGracePeriodSeconds"] = json!(30);
        let p = pod(json!({
            "metadata": meta,
            "status": {"phase": "Running", "containerStatuses": [container(terminated_state(143, "Error"))]}
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Crashed, Some(143)))
        );
    }

    #[test]
    fn deleted_pod_still_running_is_crashed() {
        let mut meta = metadata();
        meta["deletionTimestamp"] = json!("2024-01-02T03:05:00Z");
        let p = pod(json!({
            "metadata": meta,
            "status": {"phase": "Running", "containerStatuses": [container(json!({"running": {"startedAt": "2024-01-02T03:00:05Z"}}))]}
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Crashed, None))
        );
    }

    #[test]
    fn deleted_pod_whose_main_container_exited_zero_is_success() {
        let mut meta = metadata();
        meta["deletionTimestamp"] = json!("2024-01-02T03:05:00Z");
        let p = pod(json!({
            "metadata": meta,
            "status": {"phase": "Running", "containerStatuses": [container(terminated_state(0, "Completed"))]}
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Success, Some(0)))
        );
    }

    #[test]
    fn non_zero_exit_is_failed_with_the_exit_code() {
        let mut c = container(terminated_state(3, "Error"));
        c["state"]["terminated"]["message"] = json!("pg_dump: connection refused\n");
        let p = pod(json!({
            "metadata": metadata(),
            "status": {"phase": "Failed", "containerStatuses": [c]}
        }));
        let outcome = classify(&p, MAIN);
        assert_eq!(end_of(&outcome), Some((EndReason::Failed, Some(3))));
        assert!(matches!(
            outcome,
            PodOutcome::Finished { message, .. }
                if message == "container main exited with code 3 (Error): pg_dump: connection refused"
        ));
    }

    #[test]
    fn failed_init_container_is_failed_with_its_exit_code() {
        let mut init = container(terminated_state(2, "Error"));
        init["name"] = json!("fetch-config");
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Failed",
                "initContainerStatuses": [init],
                "containerStatuses": [container(json!({"waiting": {"reason": "PodInitializing"}}))]
            }
        }));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Failed, Some(2)))
        );
    }

    #[test]
    fn failed_pod_without_container_status_is_crashed() {
        let p = pod(json!({"metadata": metadata(), "status": {"phase": "Failed"}}));
        assert_eq!(
            end_of(&classify(&p, MAIN)),
            Some((EndReason::Crashed, None))
        );
    }

    #[test]
    fn running_main_container_is_running() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {"phase": "Running", "containerStatuses": [container(json!({"running": {"startedAt": "2024-01-02T03:00:05Z"}}))]}
        }));
        assert_eq!(classify(&p, MAIN), PodOutcome::Running);
    }

    #[test]
    fn pod_without_status_is_pending_since_its_creation() {
        let p = pod(json!({"metadata": metadata()}));
        assert_eq!(
            classify(&p, MAIN),
            PodOutcome::Pending {
                since: Some(ts("2024-01-02T03:00:00Z")),
                problem: None
            }
        );
    }

    #[test]
    fn container_creating_is_pending_without_a_problem() {
        let p = pending_waiting("ContainerCreating", "");
        assert!(matches!(
            classify(&p, MAIN),
            PodOutcome::Pending { problem: None, .. }
        ));
    }

    #[test]
    fn unschedulable_pod_is_pending_with_the_scheduler_message() {
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient memory.",
                    "lastTransitionTime": "2024-01-02T03:00:00Z"
                }]
            }
        }));
        assert_eq!(
            classify(&p, MAIN),
            PodOutcome::Pending {
                since: Some(ts("2024-01-02T03:00:00Z")),
                problem: Some(StartProblem::Unschedulable(
                    "0/3 nodes are available: 3 Insufficient memory.".to_owned()
                ))
            }
        );
    }

    #[test]
    fn image_pull_back_off_is_image_unavailable() {
        let p = pending_waiting(
            "ImagePullBackOff",
            "Back-off pulling image \"busybox:nope\"",
        );
        let PodOutcome::Pending {
            problem: Some(problem),
            ..
        } = classify(&p, MAIN)
        else {
            panic!("expected a pending pod with a problem");
        };
        assert_eq!(
            problem,
            StartProblem::ImageUnavailable {
                reason: "ImagePullBackOff".to_owned(),
                message: "Back-off pulling image \"busybox:nope\"".to_owned()
            }
        );
        assert!(!problem.is_permanent());
        assert_eq!(
            problem.to_string(),
            "ImagePullBackOff: Back-off pulling image \"busybox:nope\""
        );
    }

    #[test]
    fn err_image_pull_is_image_unavailable() {
        let p = pending_waiting(
            "ErrImagePull",
            "rpc error: code = Unknown desc = Error response from daemon: manifest for busybox:nope not found",
        );
        assert!(matches!(
            classify(&p, MAIN),
            PodOutcome::Pending { problem: Some(StartProblem::ImageUnavailable { reason, .. }), .. }
                if reason == "ErrImagePull"
        ));
    }

    #[test]
    fn missing_secret_is_a_config_error() {
        let p = pending_waiting(
            "CreateContainerConfigError",
            "secret \"backup-creds\" not found",
        );
        assert!(matches!(
            classify(&p, MAIN),
            PodOutcome::Pending { problem: Some(StartProblem::ConfigError { message, .. }), .. }
                if message == "secret \"backup-creds\" not found"
        ));
    }

    #[test]
    fn image_problem_in_an_init_container_is_image_unavailable() {
        let mut init =
            container(json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}));
        init["name"] = json!("fetch-config");
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Pending",
                "initContainerStatuses": [init],
                "containerStatuses": [container(json!({"waiting": {"reason": "PodInitializing"}}))]
            }
        }));
        assert!(matches!(
            classify(&p, MAIN),
            PodOutcome::Pending {
                problem: Some(StartProblem::ImageUnavailable { .. }),
                ..
            }
        ));
    }

    #[test]
    fn main_image_problem_while_a_sidecar_runs_is_pending() {
        let mut sidecar = container(json!({"running": {"startedAt": "2024-01-02T03:00:05Z"}}));
        sidecar["name"] = json!("istio-proxy");
        let p = pod(json!({
            "metadata": metadata(),
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    container(json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}})),
                    sidecar
                ]
            }
        }));
        assert!(matches!(
            classify(&p, MAIN),
            PodOutcome::Pending {
                problem: Some(StartProblem::ImageUnavailable { .. }),
                ..
            }
        ));
    }

    #[test]
    fn missing_pod_that_was_created_is_crashed() {
        assert_eq!(classify_missing(true), Some(EndReason::Crashed));
        assert_eq!(classify_missing(false), None);
    }

    #[test]
    fn transient_start_problem_fails_only_after_the_bound() {
        let p = pending_waiting("ImagePullBackOff", "Back-off");
        let outcome = classify(&p, MAIN);
        let bound = Duration::from_secs(300);
        assert!(!start_failed(&outcome, ts("2024-01-02T03:05:00Z"), bound));
        assert!(start_failed(&outcome, ts("2024-01-02T03:05:01Z"), bound));
    }

    #[test]
    fn never_pull_and_invalid_image_name_fail_at_once() {
        for (reason, message) in [
            (
                "ErrImageNeverPull",
                "Container image \"busybox:nope\" is not present with pull policy of Never",
            ),
            (
                "InvalidImageName",
                "Failed to apply default image tag \"Busy Box\": couldn't parse image reference \"Busy Box\": invalid reference format",
            ),
        ] {
            let outcome = classify(&pending_waiting(reason, message), MAIN);
            assert!(
                start_failed(
                    &outcome,
                    ts("2024-01-02T03:00:01Z"),
                    Duration::from_secs(300)
                ),
                "{reason}"
            );
        }
    }

    #[test]
    fn pending_pod_without_a_problem_never_start_fails() {
        let outcome = classify(&pending_waiting("ContainerCreating", ""), MAIN);
        assert!(!start_failed(
            &outcome,
            ts("2024-02-01T00:00:00Z"),
            Duration::from_secs(300)
        ));
    }

    #[test]
    fn running_or_finished_pod_never_start_fails() {
        let now = ts("2024-02-01T00:00:00Z");
        assert!(!start_failed(&PodOutcome::Running, now, Duration::ZERO));
        let finished = PodOutcome::Finished {
            end: EndReason::Failed,
            exit_code: Some(1),
            finished_at: None,
            message: String::new(),
        };
        assert!(!start_failed(&finished, now, Duration::ZERO));
    }

    #[test]
    fn huge_bound_is_never_reached() {
        let outcome = classify(&pending_waiting("ImagePullBackOff", "Back-off"), MAIN);
        assert!(!start_failed(
            &outcome,
            ts("2100-01-01T00:00:00Z"),
            Duration::MAX
        ));
    }

    #[test]
    fn long_termination_message_is_truncated() {
        let mut c = container(terminated_state(1, "Error"));
        c["state"]["terminated"]["message"] = json!("x".repeat(4096));
        let p = pod(
            json!({"metadata": metadata(), "status": {"phase": "Failed", "containerStatuses": [c]}}),
        );
        let PodOutcome::Finished { message, .. } = classify(&p, MAIN) else {
            panic!("expected a finished pod");
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
