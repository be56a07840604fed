//! The task reconciler: read the task, its runs and their Pods; decide with the pure modules;
//! apply. Everything it writes is idempotent (deterministic names, create-if-absent,
//! optimistic concurrency on run status), so a restart or a stale cache never fires twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, LogParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

use super::Context;
use super::notifications as alerts;
use crate::admission::{self, Admit, Slot};
use crate::api::{
    Condition, DeliveryState, EventKind, RunPhase, RunTrigger, RunWispNotifier, RunWispRun,
    RunWispRunSpec, RunWispRunStatus, RunWispTask, RunWispTaskSpec, RunWispTaskStatus, TaskRef,
    keys,
};
use crate::error::{Error, Result, is_already_exists, is_namespace_terminating};
use crate::firing::{self, Trigger};
use crate::lifecycle::{self, AttemptEnd, PodSeen, Step};
use crate::names;
use crate::outcome::classify;
use crate::podspec::{self, MAIN_CONTAINER, PodInput};
use crate::retention::{self, FinishedRun};
use crate::retry::EndReason;
use crate::statuswrite::{self, StatusWrite};
use crate::taskdef::{self, TaskDef};
use crate::time::{from_jiff, to_jiff};

/// Longest sleep between reconciles of a quiet task (a safety net, not the schedule).
const MAX_REQUEUE: Duration = Duration::from_secs(3600);

pub async fn reconcile(task: Arc<RunWispTask>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    // Our own last status write, if the cache has not caught up with it yet.
    let task = ctx.recent_tasks.fresher(task);
    let res = TaskPass::new(&task, &ctx)?.run().await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    res
}

/// One reconcile of one task.
struct TaskPass<'a> {
    task: &'a RunWispTask,
    ctx: &'a Context,
    ns: String,
    name: String,
    now: DateTime<Utc>,
    recorder: Recorder,
    runs_api: Api<RunWispRun>,
    pods_api: Api<Pod>,
    /// The task's runs by name, refreshed with every write's response.
    runs: HashMap<String, Arc<RunWispRun>>,
    /// The namespace's notifiers.
    notifiers: Vec<Arc<RunWispNotifier>>,
    requeue_at: Option<DateTime<Utc>>,
}

impl<'a> TaskPass<'a> {
    fn new(task: &'a RunWispTask, ctx: &'a Context) -> Result<Self> {
        let ns = task
            .namespace()
            .ok_or(Error::MissingField("metadata.namespace"))?;
        Ok(TaskPass {
            task,
            ctx,
            name: task.name_any(),
            now: Utc::now(),
            recorder: Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
            runs_api: Api::namespaced(ctx.client.clone(), &ns),
            pods_api: Api::namespaced(ctx.client.clone(), &ns),
            ns,
            runs: HashMap::new(),
            notifiers: Vec::new(),
            requeue_at: None,
        })
    }

    fn wake_at(&mut self, t: DateTime<Utc>) {
        self.requeue_at = Some(self.requeue_at.map_or(t, |r| r.min(t)));
    }

    async fn run(mut self) -> Result<Action> {
        // Every cache, notifiers included: a first pass after a restart that ran before the
        // notifiers were listed would plan no alert for the gap it records.
        let mut synced = self.ctx.synced.clone();
        synced
            .wait_for(|m| *m & super::ALL_SYNCED == super::ALL_SYNCED)
            .await
            .map_err(|e| Error::CacheNotReady(e.to_string()))?;
        let created = self
            .task
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| from_jiff(t.0))
            .unwrap_or(self.now);
        // As stored, and as last computed if a bookkeeping-only change is still waiting.
        let written = self.task.status.clone().unwrap_or_default();
        let deferred = self.ctx.deferred_status.get(&self.ns, &self.name);
        let mut status = deferred
            .as_ref()
            .map_or_else(|| written.clone(), |(_, s)| s.clone());
        status.observed_generation = self.task.meta().generation;

        self.load_runs();
        self.notifiers = alerts::notifiers_in(self.ctx, &self.ns);
        self.check_notifiers(&mut status).await;
        let was_suspended = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason == "Suspended");
        let def = match taskdef::validate(&self.task.spec, created, &self.ctx.cfg) {
            Ok(def) => {
                let reason = if def.suspend { "Suspended" } else { "Valid" };
                self.set_ready(&mut status, "True", reason, self.describe_schedule(&def));
                Some(def)
            }
            Err(problems) => {
                let msg = taskdef::describe(&problems);
                let was_same = status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.reason == "InvalidSpec" && c.message == msg);
                if !was_same {
                    self.event(EventType::Warning, "InvalidSpec", &msg, None)
                        .await;
                }
                self.set_ready(&mut status, "False", "InvalidSpec", msg);
                status.next_schedule_time = None;
                None
            }
        };

        if let Some(def) = &def {
            self.adopt_manual_runs(def).await?;
            self.fire(def, created, was_suspended, &mut status).await?;
            self.finish_missed_records().await?;
            self.admit(def).await?;
        }
        self.advance_runs(def.as_ref()).await?;
        self.deliver_pending(def.as_ref()).await?;
        if let Some(def) = &def {
            self.prune(def).await?;
        }

        self.summarize(&mut status);
        self.ctx
            .metrics
            .set_queue_depth((self.ns.clone(), self.name.clone()), status.queued_count);
        let since = deferred.map(|(t, _)| t);
        match statuswrite::decide(&written, &status, since, self.now) {
            StatusWrite::Unchanged => self.ctx.deferred_status.take(&self.ns, &self.name),
            StatusWrite::Now => {
                self.write_status(&status).await?;
                self.ctx.deferred_status.take(&self.ns, &self.name);
            }
            StatusWrite::Later(at) => {
                let since = since.unwrap_or(self.now);
                self.ctx
                    .deferred_status
                    .put(&self.ns, &self.name, since, status.clone());
                self.wake_at(at);
            }
        }
        if let Some(next) = status.next_schedule_time {
            // A few ms late rather than early: an early wake finds nothing due and sleeps again.
            self.wake_at(next + chrono::Duration::milliseconds(5));
        }
        let wait = self
            .requeue_at
            .map(|t| (t - self.now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_REQUEUE)
            .min(MAX_REQUEUE);
        Ok(Action::requeue(wait))
    }

    fn load_runs(&mut self) {
        let uid = self.task.uid();
        let mut runs: Vec<Arc<RunWispRun>> = self
            .ctx
            .index
            .runs_of(&self.ns, &self.name)
            .into_iter()
            .filter_map(|name| self.ctx.runs.get(&ObjectRef::new(&name).within(&self.ns)))
            .map(|run| self.ctx.recent_runs.fresher(run))
            .collect();
        // Runs we just created that the cache has not delivered yet.
        for run in self
            .ctx
            .recent_runs
            .recent(&self.ns, |r| r.spec.task_ref.name == self.name)
        {
            if !runs.iter().any(|r| r.metadata.name == run.metadata.name) {
                runs.push(run);
            }
        }
        for run in runs {
            // A run owned by an earlier task of the same name belongs to that task (and the
            // garbage collector); a run without an owner is a person's manual run.
            let foreign = run
                .owner_references()
                .iter()
                .any(|o| o.kind == "RunWispTask" && Some(&o.uid) != uid.as_ref());
            if !foreign {
                self.runs.insert(run.name_any(), run);
            }
        }
    }

    fn describe_schedule(&self, def: &TaskDef) -> String {
        match (&self.task.spec.cron, def.suspend) {
            (None, _) => "manual-only task (no cron)".into(),
            (Some(c), true) => format!("suspended; schedule {c:?} in {}", def.timezone),
            (Some(c), false) => format!("schedule {c:?} in {}", def.timezone),
        }
    }

    fn set_ready(
        &self,
        status: &mut RunWispTaskStatus,
        value: &str,
        reason: &str,
        message: String,
    ) {
        Condition::upsert(
            &mut status.conditions,
            Condition {
                type_: "Ready".into(),
                status: value.into(),
                observed_generation: self.task.meta().generation,
                last_transition_time: self.now,
                reason: reason.into(),
                message,
            },
        );
    }

    fn owned_by_task(&self) -> Vec<OwnerReference> {
        self.task
            .controller_owner_ref(&())
            .map(|mut o| {
                o.block_owner_deletion = Some(true);
                vec![o]
            })
            .unwrap_or_default()
    }

    /// A person's run (only `spec.taskRef`): take it in, or refuse it with a reason.
    async fn adopt_manual_runs(&mut self, def: &TaskDef) -> Result<()> {
        let uid = self.task.uid();
        let strays: Vec<Arc<RunWispRun>> = self
            .runs
            .values()
            .filter(|r| {
                !r.owner_references()
                    .iter()
                    .any(|o| o.kind == "RunWispTask" && Some(&o.uid) == uid.as_ref())
                    && !r.status.as_ref().is_some_and(|s| s.phase.is_finished())
            })
            .cloned()
            .collect();
        for run in strays {
            let run_name = run.name_any();
            if !def.manual_trigger {
                let msg = format!(
                    "manual runs are disabled for task {} (manualTrigger: false)",
                    self.name
                );
                let mut st = run.status.clone().unwrap_or_default();
                st.phase = RunPhase::Rejected;
                st.message = Some(msg.clone());
                st.completion_time = Some(self.now);
                self.put_run_status(&run, st).await?;
                self.event(
                    EventType::Warning,
                    "ManualRunRejected",
                    &format!("{run_name}: {msg}"),
                    Some(&run),
                )
                .await;
                continue;
            }
            let requested = run
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|t| from_jiff(t.0))
                .unwrap_or(self.now);
            let patch = json!({
                "metadata": {
                    "labels": {
                        keys::MANAGED_BY_LABEL: keys::MANAGED_BY,
                        keys::TASK_LABEL: names::label_value(&self.name),
                    },
                    "ownerReferences": self.owned_by_task(),
                },
                "spec": {
                    "trigger": RunTrigger::Manual,
                    "scheduledTime": requested,
                    "template": self.task.spec,
                }
            });
            let adopted = self.ctx.recent_runs.remember(
                self.runs_api
                    .patch(&run_name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?,
            );
            info!(task = %self.name, run = %run_name, "manual run accepted");
            self.ctx.metrics.fired(RunTrigger::Manual.as_str());
            self.runs.insert(run_name, adopted);
        }
        Ok(())
    }

    /// Cron ticks due since the watermark: fire, catch up, or record a gap.
    async fn fire(
        &mut self,
        def: &TaskDef,
        created: DateTime<Utc>,
        was_suspended: bool,
        status: &mut RunWispTaskStatus,
    ) -> Result<()> {
        let Some(schedule) = &def.schedule else {
            status.next_schedule_time = None;
            return Ok(());
        };
        if def.suspend {
            // Nothing moves while suspended (no status write per reconcile): the watermark
            // jumps when the task resumes.
            status.next_schedule_time = None;
            return Ok(());
        }
        // Ticks passed while suspended are neither fired nor missed: suspension is deliberate.
        let resumed = was_suspended.then_some(self.now);
        // The watermark, or the newest tick a run exists for (the status may lag our own writes).
        let from_runs = self
            .runs
            .values()
            .filter(|r| matches!(r.spec.trigger, Some(RunTrigger::Cron | RunTrigger::CatchUp)))
            .filter_map(|r| r.spec.scheduled_time)
            .max();
        let last_handled = status.scheduled_through.max(from_runs).max(resumed);
        let grace = chrono::Duration::from_std(self.ctx.cfg.on_time_grace)
            .unwrap_or(chrono::Duration::seconds(60));
        let plan = firing::plan(
            schedule,
            last_handled,
            created,
            self.now,
            def.catch_up,
            def.max_catch_up_runs,
            grace,
        );
        let with_seconds = schedule.has_seconds();

        if let Some(gap) = &plan.gap {
            let name = names::missed_run_name(&self.name, gap.last_missed, with_seconds);
            let msg = format!(
                "missed {} tick(s) from {} to {} while the operator was not running (catchUp: {})",
                gap.count,
                gap.first_missed.to_rfc3339(),
                gap.last_missed.to_rfc3339(),
                serde_json::to_value(def.catch_up)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            );
            if let Some(run) = self
                .create_run(&name, RunTrigger::Cron, gap.last_missed, false)
                .await?
            {
                let mut st = RunWispRunStatus {
                    missed_count: Some(gap.count),
                    first_missed_time: Some(gap.first_missed),
                    ..Default::default()
                };
                lifecycle::finish(&mut st, EndReason::Missed, Some(msg.clone()), self.now);
                self.put_run_status(&run, st).await?;
                self.ctx.metrics.finished(EndReason::Missed.as_str());
                self.event(EventType::Warning, "MissedRuns", &msg, Some(&run))
                    .await;
            }
        }
        for f in &plan.fire {
            let trigger = match f.trigger {
                Trigger::Cron => RunTrigger::Cron,
                Trigger::CatchUp => RunTrigger::CatchUp,
            };
            let name = names::run_name(&self.name, f.scheduled, with_seconds);
            if self
                .create_run(&name, trigger, f.scheduled, true)
                .await?
                .is_some()
            {
                self.ctx.metrics.fired(trigger.as_str());
                debug!(task = %self.name, run = %name, trigger = trigger.as_str(), "fired");
            }
        }
        if let Some(last) = plan.fire.iter().map(|f| f.scheduled).max() {
            status.last_schedule_time = status.last_schedule_time.max(Some(last));
        }
        status.scheduled_through = match (plan.last_schedule, last_handled) {
            (Some(t), prev) => Some(prev.map_or(t, |p| p.max(t))),
            // First sight with nothing due: start the watermark now, so a later outage is a gap.
            (None, None) => Some(self.now),
            (None, prev) => prev,
        };
        status.next_schedule_time = plan.next;
        Ok(())
    }

    /// Missed records whose status write was lost: mark them now (the count is gone with it).
    async fn finish_missed_records(&mut self) -> Result<()> {
        let lost: Vec<Arc<RunWispRun>> = self
            .runs
            .values()
            .filter(|r| {
                is_missed_record(r) && !r.status.as_ref().is_some_and(|s| s.phase.is_finished())
            })
            .cloned()
            .collect();
        for run in lost {
            let mut st = run.status.clone().unwrap_or_default();
            let msg = format!(
                "missed tick(s) up to {} while the operator was not running (the gap's details were lost when the operator stopped)",
                run.spec
                    .scheduled_time
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
            lifecycle::finish(&mut st, EndReason::Missed, Some(msg), self.now);
            self.put_run_status(&run, st).await?;
        }
        Ok(())
    }

    /// Create-if-absent: `None` when the run already exists (a tick can never fire twice).
    async fn create_run(
        &mut self,
        name: &str,
        trigger: RunTrigger,
        scheduled: DateTime<Utc>,
        with_template: bool,
    ) -> Result<Option<Arc<RunWispRun>>> {
        if self.runs.contains_key(name) {
            return Ok(None);
        }
        let run = RunWispRun {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(self.ns.clone()),
                labels: Some(
                    [
                        (
                            keys::MANAGED_BY_LABEL.to_string(),
                            keys::MANAGED_BY.to_string(),
                        ),
                        (keys::TASK_LABEL.to_string(), names::label_value(&self.name)),
                    ]
                    .into(),
                ),
                owner_references: Some(self.owned_by_task()),
                ..Default::default()
            },
            spec: RunWispRunSpec {
                task_ref: TaskRef {
                    name: self.name.clone(),
                },
                trigger: Some(trigger),
                scheduled_time: Some(scheduled),
                template: with_template.then(|| Box::new(self.task.spec.clone())),
            },
            status: None,
        };
        match self.runs_api.create(&PostParams::default(), &run).await {
            Ok(created) => {
                let created = self.ctx.recent_runs.remember(created);
                self.runs.insert(name.to_string(), created.clone());
                Ok(Some(created))
            }
            Err(e) if is_already_exists(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs of this task in FIFO order: creation time, then name.
    fn fifo(&self) -> Vec<Arc<RunWispRun>> {
        let mut v: Vec<Arc<RunWispRun>> = self.runs.values().cloned().collect();
        v.sort_by(|a, b| {
            let ka = (
                a.meta().creation_timestamp.as_ref().map(|t| t.0),
                a.name_any(),
            );
            let kb = (
                b.meta().creation_timestamp.as_ref().map(|t| t.0),
                b.name_any(),
            );
            ka.cmp(&kb)
        });
        v
    }

    async fn admit(&mut self, def: &TaskDef) -> Result<()> {
        let ordered = self.fifo();
        let slots: Vec<Slot<'_>> = ordered
            .iter()
            .filter(|r| r.spec.trigger.is_some() && !is_missed_record(r))
            .map(|r| Slot {
                name: r.metadata.name.as_deref().unwrap_or_default(),
                phase: r.status.as_ref().map(|s| s.phase).unwrap_or_default(),
            })
            .collect();
        let decisions =
            admission::admit(&slots, def.on_overlap, def.max_concurrent, def.max_queued);
        drop(slots);
        for d in decisions {
            match d {
                Admit::Start(name) => {
                    if let Some(run) = self.runs.get(&name).cloned() {
                        self.start_attempt(&run, 1).await?;
                    }
                }
                Admit::Queue(name) => {
                    if let Some(run) = self.runs.get(&name).cloned() {
                        let mut st = run.status.clone().unwrap_or_default();
                        st.phase = RunPhase::Queued;
                        st.message = Some(format!(
                            "waiting for one of {} slot(s) (onOverlap: queue)",
                            def.max_concurrent
                        ));
                        self.put_run_status(&run, st).await?;
                    }
                }
                Admit::Skip(name) => {
                    self.end_without_attempt(
                        &name,
                        EndReason::Skipped,
                        "the task was still running (onOverlap: skip)",
                    )
                    .await?
                }
                Admit::QueueFull(name) => {
                    let msg = format!("the queue is full (maxQueued: {})", def.max_queued);
                    self.end_without_attempt(&name, EndReason::QueueFull, &msg)
                        .await?
                }
                Admit::Stop(name) => {
                    if let Some(run) = self.runs.get(&name).cloned() {
                        let mut st = run.status.clone().unwrap_or_default();
                        st.phase = RunPhase::Stopping;
                        st.message =
                            Some("stopping to make room for a newer run (onOverlap: kill)".into());
                        self.put_run_status(&run, st).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn end_without_attempt(&mut self, name: &str, end: EndReason, msg: &str) -> Result<()> {
        let Some(run) = self.runs.get(name).cloned() else {
            return Ok(());
        };
        let mut st = run.status.clone().unwrap_or_default();
        lifecycle::finish(&mut st, end, Some(msg.to_string()), self.now);
        self.put_run_status(&run, st).await?;
        self.ctx.metrics.finished(end.as_str());
        let kind = if end.is_failure() {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.event(kind, reason_for(end), &format!("{name}: {msg}"), Some(&run))
            .await;
        Ok(())
    }

    /// The definition a run executes: its snapshot, or the task's current one for old runs.
    fn def_for(
        &self,
        run: &RunWispRun,
        fallback: Option<&TaskDef>,
    ) -> Option<(TaskDef, RunWispTaskSpec)> {
        let spec = run.spec.template.as_deref().unwrap_or(&self.task.spec);
        let created = run
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| from_jiff(t.0))
            .unwrap_or(self.now);
        match taskdef::validate(spec, created, &self.ctx.cfg) {
            Ok(d) => Some((d, spec.clone())),
            Err(_) => fallback.map(|d| (d.clone(), self.task.spec.clone())),
        }
    }

    async fn start_attempt(&mut self, run: &Arc<RunWispRun>, number: u32) -> Result<()> {
        let run_name = run.name_any();
        let Some((def, spec)) = self.def_for(run, None) else {
            return self
                .end_without_attempt(
                    &run_name,
                    EndReason::StartFailed,
                    "the run's task definition is invalid",
                )
                .await;
        };
        let uid = run.uid().ok_or(Error::MissingField("metadata.uid"))?;
        let pod = podspec::build(
            &spec,
            &def,
            &PodInput {
                namespace: &self.ns,
                task: &self.name,
                run: &run_name,
                run_uid: &uid,
                attempt: number,
                default_image: &self.ctx.cfg.default_image,
                default_shell: &self.ctx.cfg.default_shell,
            },
        );
        let pod = match pod {
            Ok(p) => p,
            Err(msg) => {
                return self
                    .end_without_attempt(&run_name, EndReason::StartFailed, &msg)
                    .await;
            }
        };
        let pod_name = pod.name_any();
        match self.pods_api.create(&PostParams::default(), &pod).await {
            Ok(_) => {}
            Err(e) if is_already_exists(&e) => {}
            // Not the run's failure: the namespace (and the run) are going away.
            Err(e) if is_namespace_terminating(&e) => return Err(e.into()),
            Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 || s.code == 403 => {
                // The apiserver refused the Pod (invalid template, quota, admission): not retryable.
                let msg = format!("pod {pod_name} was refused: {}", s.message);
                return self
                    .end_without_attempt(&run_name, EndReason::StartFailed, &msg)
                    .await;
            }
            Err(e) => return Err(e.into()),
        }
        if number == 1 {
            if let (Some(RunTrigger::Cron | RunTrigger::CatchUp), Some(t)) =
                (run.spec.trigger, run.spec.scheduled_time)
            {
                let skew = (self.now - t).to_std().unwrap_or(Duration::ZERO);
                self.ctx.metrics.firing_skew.observe(skew.as_secs_f64());
            }
        }
        let mut st = run.status.clone().unwrap_or_default();
        lifecycle::start_attempt(&mut st, number, pod_name, self.now);
        self.put_run_status(run, st).await?;
        Ok(())
    }

    /// Moves every active run along its attempts.
    async fn advance_runs(&mut self, task_def: Option<&TaskDef>) -> Result<()> {
        for run in self.fifo() {
            let Some(status) = run.status.clone() else {
                continue;
            };
            if !status.phase.is_active() {
                continue;
            }
            let Some((def, _)) = self.def_for(&run, task_def) else {
                continue;
            };
            let pod_name = status.attempts.last().map(|a| a.pod_name.clone());
            let mut seen = self.pod_seen(pod_name.as_deref());
            // At most: confirm, then act.
            for _ in 0..2 {
                let step =
                    lifecycle::decide(&status, &seen, &def, self.now, self.ctx.cfg.start_timeout);
                match step {
                    Step::ConfirmGone => {
                        seen = match pod_name.as_deref() {
                            Some(p) => match self.pods_api.get_opt(p).await? {
                                Some(pod) => present(&pod),
                                None => PodSeen::Gone,
                            },
                            None => PodSeen::Gone,
                        };
                        continue;
                    }
                    Step::Nothing { requeue_at } => {
                        if let Some(t) = requeue_at {
                            self.wake_at(t);
                        }
                    }
                    Step::StartAttempt { number } => self.start_attempt(&run, number).await?,
                    Step::EndAttempt(end) => {
                        self.end_attempt(&run, status.clone(), &def, &end, pod_name.as_deref())
                            .await?
                    }
                    Step::StopPod => {
                        if let Some(p) = pod_name.as_deref() {
                            self.delete_pod(p, def.graceful_stop).await?;
                        }
                        self.wake_at(
                            self.now
                                + chrono::Duration::seconds(def.graceful_stop.as_secs() as i64 + 2),
                        );
                    }
                    Step::Stopped => {
                        let mut st = status.clone();
                        lifecycle::finish(
                            &mut st,
                            EndReason::Stopped,
                            Some("stopped to make room for a newer run (onOverlap: kill)".into()),
                            self.now,
                        );
                        self.put_run_status(&run, st).await?;
                        self.ctx.metrics.finished(EndReason::Stopped.as_str());
                        self.event(
                            EventType::Normal,
                            "RunStopped",
                            &format!("{}: stopped (onOverlap: kill)", run.name_any()),
                            Some(&run),
                        )
                        .await;
                    }
                }
                break;
            }
        }
        Ok(())
    }

    fn pod_seen(&self, pod_name: Option<&str>) -> PodSeen {
        pod_name
            .and_then(|p| self.ctx.pods.get(&ObjectRef::new(p).within(&self.ns)))
            .map(|pod| present(&pod))
            .unwrap_or(PodSeen::NotInCache)
    }

    async fn end_attempt(
        &mut self,
        run: &Arc<RunWispRun>,
        mut st: RunWispRunStatus,
        def: &TaskDef,
        end: &AttemptEnd,
        pod_name: Option<&str>,
    ) -> Result<()> {
        let tail = match (end.pod_present, pod_name) {
            (true, Some(p)) => self.log_tail(p).await,
            _ => None,
        };
        // An attempt the operator ended itself must not keep running underneath.
        if end.stop_pod {
            if let Some(p) = pod_name {
                self.delete_pod(p, Duration::ZERO).await?;
            }
        }
        lifecycle::record_end(&mut st, end, tail, def, self.now);
        let run_name = run.name_any();
        let attempt = st.attempts.len();
        self.put_run_status(run, st.clone()).await?;
        if st.phase == RunPhase::Retrying {
            if let Some(t) = st.next_attempt_time {
                self.wake_at(t);
            }
            let note = format!(
                "{run_name}: attempt {attempt} ended {}{}; retrying at {}",
                end.end.as_str(),
                end.exit_code
                    .map(|c| format!(" (exit code {c})"))
                    .unwrap_or_default(),
                st.next_attempt_time
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
            self.event(EventType::Warning, "RetryScheduled", &note, Some(run))
                .await;
        } else if let Some(reason) = st.end_reason {
            self.ctx.metrics.finished(reason.as_str());
            let note = format!(
                "{run_name}: {}{} after {attempt} attempt(s){}",
                reason.as_str(),
                end.exit_code
                    .map(|c| format!(" (exit code {c})"))
                    .unwrap_or_default(),
                if end.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", end.message)
                }
            );
            let kind = if reason.is_failure() {
                EventType::Warning
            } else {
                EventType::Normal
            };
            self.event(kind, reason_for(reason), &note, Some(run)).await;
        }
        Ok(())
    }

    async fn log_tail(&self, pod: &str) -> Option<String> {
        let params = LogParams {
            container: Some(MAIN_CONTAINER.to_string()),
            tail_lines: Some(self.ctx.cfg.log_tail_lines),
            ..Default::default()
        };
        match self.pods_api.logs(pod, &params).await {
            Ok(text) => Some(tail_bytes(&text, self.ctx.cfg.log_tail_bytes)),
            Err(e) => {
                debug!(pod, error = %e, "no output to keep");
                None
            }
        }
    }

    async fn delete_pod(&self, pod: &str, grace: Duration) -> Result<()> {
        let dp = DeleteParams {
            grace_period_seconds: Some(grace.as_secs().min(u32::MAX as u64) as u32),
            ..Default::default()
        };
        match self.pods_api.delete(pod, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if crate::error::is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Retention: the task's oldest finished runs past `keepRuns` / `keepFor`.
    async fn prune(&mut self, def: &TaskDef) -> Result<()> {
        if def.keep_runs.is_none() && def.keep_for.is_none() {
            return Ok(());
        }
        let finished: Vec<(String, jiff::Timestamp)> =
            self.runs.values().filter_map(|r| prunable(r)).collect();
        let view = finished_view(&finished);
        let doomed: Vec<String> =
            retention::select_for_deletion(&view, def.keep_runs, def.keep_for, to_jiff(self.now))
                .into_iter()
                .map(|n| n.to_string())
                .collect();
        for name in &doomed {
            match self
                .runs_api
                .delete(name, &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(e) if crate::error::is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            self.runs.remove(name);
            self.ctx.recent_runs.forget(&self.ns, name);
        }
        if !doomed.is_empty() {
            info!(task = %self.name, pruned = doomed.len(), "retention");
        }
        // Wake when the oldest kept run ages past keepFor.
        if let Some(keep_for) = def
            .keep_for
            .and_then(|k| chrono::Duration::from_std(k).ok())
        {
            if let Some(oldest) = finished
                .iter()
                .filter(|(n, _)| !doomed.contains(n))
                .map(|(_, t)| from_jiff(*t))
                .min()
            {
                self.wake_at(oldest + keep_for + chrono::Duration::seconds(1));
            }
        }
        Ok(())
    }

    /// The task's status fields derived from its runs.
    fn summarize(&self, status: &mut RunWispTaskStatus) {
        let ordered = self.fifo();
        let phase = |r: &RunWispRun| r.status.as_ref().map(|s| s.phase).unwrap_or_default();
        status.active = ordered
            .iter()
            .filter(|r| phase(r).is_active())
            .map(|r| r.name_any())
            .collect();
        status.queued = ordered
            .iter()
            .filter(|r| matches!(phase(r), RunPhase::Queued))
            .map(|r| r.name_any())
            .collect();
        status.active_count = status.active.len() as u32;
        status.queued_count = status.queued.len() as u32;
        let last_finished = ordered
            .iter()
            .filter_map(|r| {
                let st = r.status.as_ref()?;
                Some((st.completion_time?, r.name_any(), st.end_reason?))
            })
            .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        if let Some((_, name, reason)) = last_finished {
            status.last_run = Some(name);
            status.last_end_reason = Some(reason);
        }
        let last_success = ordered
            .iter()
            .filter_map(|r| {
                let st = r.status.as_ref()?;
                (st.end_reason == Some(EndReason::Success)).then_some(st.completion_time?)
            })
            .max();
        status.last_successful_time = status.last_successful_time.max(last_success);
    }

    async fn write_status(&self, status: &RunWispTaskStatus) -> Result<()> {
        let api: Api<RunWispTask> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let patch = json!({
            "apiVersion": format!("{}/{}", crate::api::GROUP, crate::api::VERSION),
            "kind": "RunWispTask",
            "metadata": {"name": self.name},
            "status": status,
        });
        let written = api
            .patch_status(
                &self.name,
                &PatchParams::apply(&self.ctx.cfg.manager).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        self.ctx.recent_tasks.remember(written);
        Ok(())
    }

    /// Replaces a run's status, guarded by its resourceVersion (a stale cache loses, not wins).
    /// A run that ends (or first starts) gets its notification records in the same write.
    async fn put_run_status(
        &mut self,
        run: &Arc<RunWispRun>,
        mut status: RunWispRunStatus,
    ) -> Result<()> {
        let old = run.status.clone().unwrap_or_default();
        let kind = if status.phase.is_finished() && !old.phase.is_finished() {
            status.end_reason.and_then(crate::notify::event_for_end)
        } else if old.attempts.is_empty() && status.attempts.len() == 1 {
            Some(EventKind::RunStarted)
        } else {
            None
        };
        if let Some(kind) = kind {
            let max_attempts = self
                .def_for(run, None)
                .map(|(d, _)| d.retry_attempts + 1)
                .unwrap_or(1);
            let event = alerts::run_event(kind, &self.ns, &self.name, run, &status, max_attempts);
            alerts::plan(
                self.ctx,
                &event,
                &self.task.spec,
                &self.notifiers,
                &mut status,
                self.now,
            );
        }
        self.replace_run_status(run, status).await
    }

    async fn replace_run_status(
        &mut self,
        run: &Arc<RunWispRun>,
        status: RunWispRunStatus,
    ) -> Result<()> {
        let mut obj = (**run).clone();
        obj.status = Some(status);
        let name = run.name_any();
        match self
            .runs_api
            .replace_status(&name, &PostParams::default(), &obj)
            .await
        {
            Ok(updated) => {
                let updated = self.ctx.recent_runs.remember(updated);
                self.runs.insert(name, updated);
                Ok(())
            }
            // Deleted meanwhile (retention, a person, the garbage collector): nothing to record.
            Err(e) if crate::error::is_not_found(&e) => {
                self.ctx.recent_runs.forget(&self.ns, &name);
                self.runs.remove(&name);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A task naming notifiers that do not exist gets a condition and an Event.
    async fn check_notifiers(&self, status: &mut RunWispTaskStatus) {
        let names: Vec<String> = self
            .task
            .spec
            .notify_on_failure
            .iter()
            .chain(&self.task.spec.notify_on_success)
            .cloned()
            .collect();
        let named: Vec<(&str, &crate::api::RunWispNotifierSpec)> = self
            .notifiers
            .iter()
            .filter_map(|n| Some((n.metadata.name.as_deref()?, &n.spec)))
            .collect();
        let missing = crate::notify::missing_notifiers(&names, &named);
        let (value, reason, message) = if missing.is_empty() {
            (
                "True",
                "Found",
                "every notifier the task names exists".to_string(),
            )
        } else {
            (
                "False",
                "MissingNotifier",
                format!(
                    "no RunWispNotifier named {} in namespace {}",
                    missing.join(", "),
                    self.ns
                ),
            )
        };
        let changed = !status
            .conditions
            .iter()
            .any(|c| c.type_ == "NotifiersReady" && c.status == value && c.message == message);
        if changed && value == "False" {
            self.event(EventType::Warning, "MissingNotifier", &message, None)
                .await;
        }
        Condition::upsert(
            &mut status.conditions,
            Condition {
                type_: "NotifiersReady".into(),
                status: value.into(),
                observed_generation: self.task.meta().generation,
                last_transition_time: self.now,
                reason: reason.into(),
                message,
            },
        );
    }

    /// Delivers the task's pending alerts whose next try is due: one POST per record per pass,
    /// each try recorded before the next.
    async fn deliver_pending(&mut self, task_def: Option<&TaskDef>) -> Result<()> {
        let now = self.now;
        let due: Vec<Arc<RunWispRun>> = self
            .runs
            .values()
            .filter(|r| {
                r.status.as_ref().is_some_and(|s| {
                    s.notifications.iter().any(|n| {
                        n.state == DeliveryState::Pending
                            && n.next_try_time.is_none_or(|t| t <= now)
                    })
                })
            })
            .cloned()
            .collect();
        for run in due {
            let Some(mut st) = run.status.clone() else {
                continue;
            };
            let max_attempts = self
                .def_for(&run, task_def)
                .map(|(d, _)| d.retry_attempts + 1)
                .unwrap_or(1);
            let mut gave_up = Vec::new();
            for i in 0..st.notifications.len() {
                let rec = st.notifications[i].clone();
                if rec.state != DeliveryState::Pending || rec.next_try_time.is_some_and(|t| t > now)
                {
                    continue;
                }
                let Ok(kind) = serde_json::from_value::<EventKind>(json!(rec.event)) else {
                    st.notifications[i].state = DeliveryState::Failed;
                    st.notifications[i].error = Some(format!("unknown event kind {}", rec.event));
                    continue;
                };
                let event = alerts::run_event(kind, &self.ns, &self.name, &run, &st, max_attempts);
                let notifier = self
                    .notifiers
                    .iter()
                    .find(|n| n.metadata.name.as_deref() == Some(rec.notifier.as_str()))
                    .cloned();
                let tried =
                    alerts::try_deliver(self.ctx, &self.ns, notifier.as_deref(), &event, &rec, now)
                        .await;
                let failed = alerts::record_try(&mut st.notifications[i], &tried.verdict, tried.at);
                let outcome = match st.notifications[i].state {
                    DeliveryState::Delivered => "delivered",
                    DeliveryState::Failed => "failed",
                    _ => "retry",
                };
                self.ctx.metrics.notified(tried.provider, outcome);
                if let Some(t) = st.notifications[i].next_try_time {
                    self.wake_at(t);
                }
                if failed && crate::notify::event::raises_delivery_failed(kind) {
                    let reason = st.notifications[i].error.clone().unwrap_or_default();
                    gave_up.push((rec.notifier.clone(), reason, event));
                }
            }
            for (notifier, reason, mut event) in gave_up {
                let note = format!(
                    "{}: {} alert to notifier {notifier} was not delivered: {reason}",
                    run.name_any(),
                    event_label(event.kind)
                );
                self.event(
                    EventType::Warning,
                    "NotifyDeliveryFailed",
                    &note,
                    Some(&run),
                )
                .await;
                event.kind = EventKind::DeliveryFailed;
                event.failed_notifier = Some(notifier);
                event.message = Some(note);
                alerts::plan(
                    self.ctx,
                    &event,
                    &self.task.spec,
                    &self.notifiers,
                    &mut st,
                    now,
                );
            }
            self.replace_run_status(&run, st).await?;
        }
        let next = self
            .runs
            .values()
            .filter_map(|r| r.status.as_ref())
            .flat_map(|s| s.notifications.iter())
            .filter(|n| n.state == DeliveryState::Pending)
            .filter_map(|n| n.next_try_time)
            .min();
        if let Some(t) = next {
            self.wake_at(t);
        }
        Ok(())
    }

    /// An Event on the task; run events name the run as the related object, which also keeps
    /// kube's Recorder from folding the ends of different runs into one series.
    async fn event(
        &self,
        kind: EventType,
        reason: &str,
        note: &str,
        secondary: Option<&RunWispRun>,
    ) {
        let ev = Event {
            type_: kind,
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: "Reconcile".into(),
            secondary: secondary.map(|r| r.object_ref(&())),
        };
        match self.recorder.publish(&ev, &self.task.object_ref(&())).await {
            Ok(()) => {}
            Err(e) if is_namespace_terminating(&e) => {}
            Err(e) => warn!(task = %self.name, reason, error = %e, "cannot publish event"),
        }
    }
}

/// A `missed` record: the operator creates cron runs with the task's definition, and records
/// of missed ticks without one. Its status is a second write; if that was lost (the operator
/// died in between), the record must still never run. Only meaningful for a run that has not
/// finished: the cache drops finished runs' snapshots (`trim_run`).
fn is_missed_record(run: &RunWispRun) -> bool {
    run.spec.trigger == Some(RunTrigger::Cron) && run.spec.template.is_none()
}

/// A finished run retention may delete, with when it finished: never an active or queued
/// run, never one still delivering an alert.
fn prunable(run: &RunWispRun) -> Option<(String, jiff::Timestamp)> {
    let st = run.status.as_ref()?;
    if !st.phase.is_finished()
        || st
            .notifications
            .iter()
            .any(|n| n.state == DeliveryState::Pending)
    {
        return None;
    }
    let at = st
        .completion_time
        .map(to_jiff)
        .or_else(|| run.meta().creation_timestamp.as_ref().map(|t| t.0))?;
    Some((run.name_any(), at))
}

fn finished_view(finished: &[(String, jiff::Timestamp)]) -> Vec<FinishedRun<'_>> {
    finished
        .iter()
        .map(|(n, t)| FinishedRun {
            name: n.as_str(),
            finished: *t,
        })
        .collect()
}

fn event_label(kind: EventKind) -> &'static str {
    crate::notify::kind_name(kind)
}

fn present(pod: &Pod) -> PodSeen {
    PodSeen::Present {
        outcome: classify(pod, MAIN_CONTAINER),
        deleting: pod.metadata.deletion_timestamp.is_some(),
    }
}

fn reason_for(end: EndReason) -> &'static str {
    match end {
        EndReason::Success => "RunSucceeded",
        EndReason::Failed => "RunFailed",
        EndReason::Timeout => "RunTimedOut",
        EndReason::Crashed => "RunCrashed",
        EndReason::Skipped => "RunSkipped",
        EndReason::Stopped => "RunStopped",
        EndReason::Missed => "RunMissed",
        EndReason::QueueFull => "RunQueueFull",
        EndReason::StartFailed => "RunStartFailed",
    }
}

/// The last `max` bytes of `s`, cut at a character boundary.
pub fn tail_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The operator-wide cap on finished runs per namespace (RunWisp's `[storage]`): oldest
/// finished first, never a run still delivering alerts.
pub async fn cap_loop(ctx: Arc<Context>) {
    let Some(cap) = ctx.cfg.max_finished_runs_per_namespace else {
        return;
    };
    let mut synced = ctx.synced.clone();
    if synced.wait_for(|m| *m == super::ALL_SYNCED).await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    loop {
        tick.tick().await;
        let mut by_ns: HashMap<String, Vec<(String, jiff::Timestamp)>> = HashMap::new();
        for run in ctx.runs.state() {
            if let Some(entry) = prunable(&run) {
                by_ns
                    .entry(run.namespace().unwrap_or_default())
                    .or_default()
                    .push(entry);
            }
        }
        for (ns, finished) in by_ns {
            let view = finished_view(&finished);
            let doomed = retention::select_namespace_cap(&view, Some(cap));
            if doomed.is_empty() {
                continue;
            }
            let api: Api<RunWispRun> = Api::namespaced(ctx.client.clone(), &ns);
            for name in &doomed {
                if let Err(e) = api.delete(name, &DeleteParams::background()).await {
                    if !crate::error::is_not_found(&e) {
                        warn!(namespace = %ns, run = %name, error = %e, "cannot prune run");
                    }
                }
            }
            info!(namespace = %ns, pruned = doomed.len(), cap, "namespace run cap");
        }
    }
}

/// Runs whose task does not exist are refused with a reason instead of waiting forever.
pub async fn sweep_orphans(ctx: Arc<Context>) {
    let mut synced = ctx.synced.clone();
    if synced.wait_for(|m| *m == super::ALL_SYNCED).await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        for (ns, task) in ctx.index.tasks() {
            if ctx.tasks.get(&ObjectRef::new(&task).within(&ns)).is_some() {
                continue;
            }
            let api: Api<RunWispRun> = Api::namespaced(ctx.client.clone(), &ns);
            for name in ctx.index.runs_of(&ns, &task) {
                let Some(run) = ctx.runs.get(&ObjectRef::new(&name).within(&ns)) else {
                    continue;
                };
                if run
                    .status
                    .as_ref()
                    .is_some_and(|s| s.phase != RunPhase::Pending)
                    || !run.owner_references().is_empty()
                {
                    continue;
                }
                // A run applied together with its task may be seen first: give the task's
                // watch event time to arrive before calling the run an orphan.
                let age = run
                    .meta()
                    .creation_timestamp
                    .as_ref()
                    .map(|t| Utc::now() - from_jiff(t.0))
                    .unwrap_or_default();
                if age < chrono::Duration::seconds(10) {
                    continue;
                }
                let mut obj = (*run).clone();
                obj.status = Some(RunWispRunStatus {
                    phase: RunPhase::Rejected,
                    message: Some(format!("task {task} does not exist in namespace {ns}")),
                    completion_time: Some(Utc::now()),
                    ..Default::default()
                });
                if let Err(e) = api
                    .replace_status(&name, &PostParams::default(), &obj)
                    .await
                {
                    debug!(run = %name, error = %e, "cannot reject orphan run");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_tail_keeps_the_last_bytes_at_a_character_boundary() {
        assert_eq!(tail_bytes("abcdef", 3), "def");
        assert_eq!(tail_bytes("aé", 1), "");
        assert_eq!(tail_bytes("short", 100), "short");
    }
}
