//! What survives what, measured on the real bed. Each test is a loop of trials: inject a fault
//! (SIGKILL the operator, restart the apiserver, kill the leader, kill the node, take Slack
//! away), then count what matters (duplicate runs, lost ticks, crashed attempts retried, alerts
//! delivered, lost or duplicated). Every test prints one machine-readable line,
//! `RELIABILITY <name> key=value ...`, and appends it to `$RUNWISP_RELIABILITY_OUT` when set;
//! `e2e/reliability.sh` collects them.
//!
//! - `RUNWISP_RELIABILITY_TRIALS` (default 3: the CI short version) sets the trial count.
//! - `RUNWISP_RELIABILITY_LONG=1` adds the long phases (an alert endpoint down past the
//!   5-minute budget, a node lost until the node controller evicts its pods).
//! - `RUNWISP_E2E_DISRUPTIVE=1` enables the tests that take down part of the cluster for everyone
//!   (the apiserver, the node): run them alone (`--test-threads=1`), never beside the rest of the
//!   suite. They drive `e2e/cluster.sh kill|start`, which must see the bed's `RUNWISP_*`
//!   settings (as `e2e/with-bed.sh` and `e2e/reliability.sh` provide).
//! - `RUNWISP_RELIABILITY_SEED` replays a run's random fault timings (each test prints its seed).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use runwisp_operator::api::{DeliveryState, RunPhase, RunTrigger, RunWispRun, keys};
use runwisp_operator::retry::EndReason;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::harness::{Bed, IMAGE};

#[path = "../badinput/corpus.rs"]
mod corpus;

const MIN: Duration = Duration::from_secs(60);

// ---- settings, randomness, reporting ---------------------------------------------------------------

fn trials() -> u32 {
    std::env::var("RUNWISP_RELIABILITY_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn long() -> bool {
    std::env::var("RUNWISP_RELIABILITY_LONG").is_ok_and(|v| v == "1")
}

/// The disruptive tests run only when asked to (they break every other test running beside them).
fn disruptive(test: &str) -> bool {
    if std::env::var("RUNWISP_E2E_DISRUPTIVE").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "{test}: skipped (set RUNWISP_E2E_DISRUPTIVE=1 and run it alone: it takes part of the cluster down)"
    );
    false
}

/// xorshift64*, seeded per test (printed, and replayable with RUNWISP_RELIABILITY_SEED).
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("RUNWISP_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    ^ u64::from(std::process::id())
            })
            .max(1);
        eprintln!("{test}: RUNWISP_RELIABILITY_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi) seconds.
    fn secs(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Prints `RELIABILITY <name> k=v ...` and appends it to `$RUNWISP_RELIABILITY_OUT`.
fn report(name: &str, fields: &[(&str, String)]) {
    let line = format!(
        "RELIABILITY {name} {}",
        fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{line}");
    if let Ok(path) = std::env::var("RUNWISP_RELIABILITY_OUT") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

async fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        tokio::time::sleep(d).await;
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The first multiple of `period` seconds (since the epoch) strictly after `t`.
fn next_tick(t: DateTime<Utc>, period: i64) -> DateTime<Utc> {
    let s = t.timestamp().div_euclid(period) * period + period;
    DateTime::from_timestamp(s, 0).unwrap_or(t)
}

// ---- processes: operators and the bed's components --------------------------------------------------

fn log_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("RUNWISP_E2E_LOGS")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
}

/// An operator process of our own (the harness truncates its log on restart; this one appends,
/// so a panic in any incarnation stays visible).
struct Operator {
    ns: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    pub log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Operator {
    fn new(ns: &str, tag: &str, args: &[&str]) -> Operator {
        Operator {
            ns: ns.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            log: log_dir().join(format!("operator-{ns}-{tag}.log")),
            child: None,
            starts: 0,
        }
    }

    fn env(mut self, k: &str, v: &str) -> Operator {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    fn start(&mut self) {
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("operator log");
        let _ = writeln!(
            log,
            "=== start {} at {}",
            self.starts,
            Utc::now().to_rfc3339()
        );
        let mut cmd = crate::harness::operator_command(&self.ns, &self.args, log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn operator"));
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// SIGKILL, like a crash or an evicted pod.
    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }

    /// Whether the process has exited (and reap it).
    fn exited(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) | None => {
                self.child = None;
                true
            }
            _ => false,
        }
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill")
                .args([&format!("-{sig}"), &pid.to_string()])
                .status();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics if any incarnation of this operator panicked.
    fn assert_no_panic(&self) {
        let text = self.log_text();
        assert!(
            !text.contains("panicked at"),
            "the operator panicked (log {}):\n{}",
            self.log.display(),
            text.lines()
                .filter(|l| l.contains("panicked"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A bed with no harness operator (the test runs its own).
async fn bare_bed(test: &str) -> Bed {
    let mut bed = Bed::new(test).await;
    bed.kill_operator().await;
    bed
}

/// `e2e/cluster.sh <args>` on the bed the suite runs against.
async fn cluster(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/cluster.sh");
    let out = Command::new(script)
        .args(args)
        .output()
        .await
        .expect("run e2e/cluster.sh");
    assert!(
        out.status.success(),
        "e2e/cluster.sh {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- counting ticks ---------------------------------------------------------------------------------

/// Every run of a task ever seen, by name: retention may prune runs during a long loop, so the
/// test snapshots as it goes and keeps the union.
#[derive(Default)]
struct Seen {
    runs: BTreeMap<String, RunWispRun>,
}

impl Seen {
    async fn snapshot(&mut self, bed: &Bed, task: &str) {
        if let Ok(list) = bed.runs().list(&ListParams::default()).await {
            for r in list.items {
                if r.spec.task_ref.name == task {
                    self.runs.insert(r.name_any(), r);
                }
            }
        }
    }

    fn is_missed_record(r: &RunWispRun) -> bool {
        r.status
            .as_ref()
            .is_some_and(|s| s.end_reason == Some(EndReason::Missed))
    }
}

/// The tally of one exactly-once loop. Definitions, for a window of ticks `[first, last]`:
/// - a tick is *fired* when a run with that `scheduledTime` and trigger `cron` or `catchUp`
///   exists (missed records excluded); `fired` counts ticks, not runs;
/// - *duplicates* counts extra runs for one tick, plus extra attempt Pods of a run that had no
///   reason to retry (`retryAttempts: 0`);
/// - a tick without a run is *missed* when a `missed` record (a run with end reason `missed`,
///   recorded with a Warning Event and a `run.missed` alert) covers it: the operator says so,
///   which is the documented behaviour for ticks it could not fire within `--on-time-grace`;
/// - otherwise it is *lost*: it neither ran nor was reported. Lost must be 0.
///
/// Two more must be 0: *false_missed* counts ticks a `missed` record reports although they ran
/// on time (trigger `cron`), or that two records both report (a gap alerted twice); *overlaps*
/// counts pairs of runs of this `maxConcurrent: 1` task that were active at the same time
/// (first attempt started before the other run completed).
#[derive(Debug, Default)]
struct Tally {
    false_missed: u64,
    overlaps: u64,
    ticks: u64,
    fired: u64,
    caught_up: u64,
    missed_records: u64,
    missed: u64,
    duplicates: u64,
    lost: u64,
    unfinished: u64,
    lost_ticks: Vec<DateTime<Utc>>,
    max_skew_ms: i64,
}

fn tally(seen: &Seen, period: i64, first: DateTime<Utc>, last: DateTime<Utc>) -> Tally {
    let mut t = Tally::default();
    let mut by_tick: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    let mut covered: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for r in seen.runs.values() {
        let st = r.status.clone().unwrap_or_default();
        let Some(at) = r.spec.scheduled_time else {
            continue;
        };
        if Seen::is_missed_record(r) {
            t.missed_records += 1;
            covered.push((st.first_missed_time.unwrap_or(at), at));
            continue;
        }
        if !matches!(r.spec.trigger, Some(RunTrigger::Cron | RunTrigger::CatchUp)) {
            continue;
        }
        if at < first || at > last {
            continue;
        }
        *by_tick.entry(at).or_default() += 1;
        if r.spec.trigger == Some(RunTrigger::CatchUp) {
            t.caught_up += 1;
        }
        if st.attempts.len() > 1 {
            t.duplicates += st.attempts.len() as u64 - 1;
        }
        if !st.phase.is_finished() {
            t.unfinished += 1;
        }
        if r.spec.trigger == Some(RunTrigger::Cron) {
            if let Some(start) = st.attempts.first().and_then(|a| a.start_time) {
                t.max_skew_ms = t.max_skew_ms.max((start - at).num_milliseconds());
            }
        }
    }
    let cron_ticks: BTreeSet<DateTime<Utc>> = seen
        .runs
        .values()
        .filter(|r| r.spec.trigger == Some(RunTrigger::Cron) && !Seen::is_missed_record(r))
        .filter_map(|r| r.spec.scheduled_time)
        .collect();
    let mut tick = first;
    while tick <= last {
        let reports = covered
            .iter()
            .filter(|(a, b)| *a <= tick && tick <= *b)
            .count();
        if reports > 1 || (reports == 1 && cron_ticks.contains(&tick)) {
            t.false_missed += 1;
        }
        tick += chrono::Duration::seconds(period);
    }
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = seen
        .runs
        .values()
        .filter(|r| !Seen::is_missed_record(r))
        .filter_map(|r| {
            let st = r.status.as_ref()?;
            Some((
                st.attempts.first()?.start_time?,
                st.completion_time.unwrap_or(DateTime::<Utc>::MAX_UTC),
            ))
        })
        .collect();
    spans.sort();
    for (i, a) in spans.iter().enumerate() {
        t.overlaps += spans[i + 1..].iter().filter(|b| b.0 < a.1).count() as u64;
    }
    let mut tick = first;
    while tick <= last {
        t.ticks += 1;
        match by_tick.get(&tick).copied().unwrap_or(0) {
            0 if covered.iter().any(|(a, b)| *a <= tick && tick <= *b) => t.missed += 1,
            0 => {
                t.lost += 1;
                t.lost_ticks.push(tick);
            }
            n => {
                t.fired += 1;
                t.duplicates += n - 1;
            }
        }
        tick += chrono::Duration::seconds(period);
    }
    t
}

/// Extra Pods for one run (by the run label), across all runs of the task: each run should have
/// at most one Pod per attempt.
async fn duplicate_pods(bed: &Bed) -> u64 {
    let pods: Vec<Pod> = bed
        .pods()
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut per_attempt: BTreeMap<(String, String), u64> = BTreeMap::new();
    for p in &pods {
        let l = p.labels();
        let run = l.get(keys::RUN_LABEL).cloned().unwrap_or_default();
        let attempt = l.get(keys::ATTEMPT_LABEL).cloned().unwrap_or_default();
        *per_attempt.entry((run, attempt)).or_default() += 1;
    }
    per_attempt.values().map(|n| n.saturating_sub(1)).sum()
}

/// Waits until the task has a cron run for a tick after `t` (firing has resumed).
async fn wait_firing_after(bed: &Bed, task: &str, t: DateTime<Utc>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(list) = bed.runs().list(&ListParams::default()).await {
            if list.items.iter().any(|r| {
                r.spec.task_ref.name == task
                    && r.spec.trigger == Some(RunTrigger::Cron)
                    && r.spec.scheduled_time.is_some_and(|s| s > t)
                    && !Seen::is_missed_record(r)
            }) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The end of an exactly-once loop: let the last runs finish, snapshot, count, report, assert.
async fn finish_loop(
    bed: &Bed,
    seen: &mut Seen,
    name: &str,
    task: &str,
    period: i64,
    first: DateTime<Utc>,
    extra: &[(&str, String)],
) -> Tally {
    // A few undisturbed ticks, then the window ends two ticks before now.
    tokio::time::sleep(Duration::from_secs((3 * period) as u64)).await;
    let last = next_tick(Utc::now(), period) - chrono::Duration::seconds(3 * period);
    let deadline = Instant::now() + 3 * MIN;
    loop {
        seen.snapshot(bed, task).await;
        let t = tally(seen, period, first, last);
        if t.unfinished == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut t = tally(seen, period, first, last);
    t.duplicates += duplicate_pods(bed).await;
    let mut fields = vec![
        ("trials", trials().to_string()),
        ("ticks", t.ticks.to_string()),
        ("fired", t.fired.to_string()),
        ("duplicates", t.duplicates.to_string()),
        ("lost", t.lost.to_string()),
        ("missed", t.missed.to_string()),
        ("missed_records", t.missed_records.to_string()),
        ("caught_up", t.caught_up.to_string()),
        ("unfinished", t.unfinished.to_string()),
        ("false_missed", t.false_missed.to_string()),
        ("overlaps", t.overlaps.to_string()),
        ("max_skew_ms", t.max_skew_ms.to_string()),
    ];
    fields.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    report(name, &fields);
    assert_eq!(t.duplicates, 0, "{name}: a tick ran twice: {t:?}");
    assert_eq!(
        t.lost, 0,
        "{name}: ticks neither ran nor were reported missed: {:?}",
        t.lost_ticks
    );
    assert_eq!(t.unfinished, 0, "{name}: runs never finished: {t:?}");
    assert_eq!(
        t.false_missed, 0,
        "{name}: ticks reported missed although they ran on time, or reported twice: {t:?}"
    );
    assert_eq!(
        t.overlaps, 0,
        "{name}: runs of a maxConcurrent: 1 task overlapped: {t:?}"
    );
    assert!(
        t.ticks >= u64::from(trials()),
        "{name}: the window is too short: {t:?}"
    );
    t
}

// ---- exactly-once firing -------------------------------------------------------------------------------

/// The exactly-once loops' task. `onOverlap: skip` keeps a loaded machine (slow Pod starts)
/// from building a queue: a tick that finds the previous run still going is recorded `skipped`,
/// which is still exactly one run for that tick.
const EVERY_3S: &str =
    "cron: '*/3 * * * * *'\nrun: 'true'\ngracefulStop: 1s\nkeepRuns: 40\nonOverlap: skip\n";

/// SIGKILL the operator at a random moment within ±1 s of a tick, restart it 0–2 s later, over
/// and over: no tick runs twice, none is lost.
#[tokio::test]
async fn exactly_once_across_operator_sigkills() {
    let name = "exactly_once_operator_sigkill";
    let mut rng = Rng::new(name);
    let bed = bare_bed("rel-once-kill").await;
    let mut op = Operator::new(&bed.ns, "once", &[]);
    op.start();
    bed.task("tick", EVERY_3S).await;
    let mut seen = Seen::default();
    let first_run = bed
        .wait_for("a first run", MIN, || async {
            let runs = bed.runs_of("tick").await;
            runs.iter().filter_map(|r| r.spec.scheduled_time).min()
        })
        .await;
    let first = first_run + chrono::Duration::seconds(3);
    let mut downtime = Vec::new();
    for _ in 0..trials() {
        let tick = next_tick(Utc::now() + chrono::Duration::milliseconds(1200), 3);
        let offset = rng.secs(-1.0, 1.0);
        sleep_until(tick + chrono::Duration::milliseconds((offset * 1000.0) as i64)).await;
        let killed = Instant::now();
        op.kill().await;
        tokio::time::sleep(secs(rng.secs(0.0, 2.0))).await;
        op.start();
        let restarted = Utc::now();
        assert!(
            wait_firing_after(&bed, "tick", restarted, MIN).await,
            "firing did not resume after a restart"
        );
        downtime.push(killed.elapsed().as_millis());
        seen.snapshot(&bed, "tick").await;
    }
    finish_loop(&bed, &mut seen, name, "tick", 3, first, &[]).await;
    op.assert_no_panic();
}

/// The apiserver killed (SIGKILL) and restarted around a tick: the operator reconnects by itself
/// and keeps firing, no tick twice, none lost.
#[tokio::test]
async fn exactly_once_across_apiserver_restarts() {
    if !disruptive("exactly_once_across_apiserver_restarts") {
        return;
    }
    let name = "exactly_once_apiserver_restart";
    let mut rng = Rng::new(name);
    let bed = bare_bed("rel-once-api").await;
    let mut op = Operator::new(&bed.ns, "once-api", &[]);
    op.start();
    bed.task("tick", EVERY_3S).await;
    let mut seen = Seen::default();
    let first_run = bed
        .wait_for("a first run", MIN, || async {
            let runs = bed.runs_of("tick").await;
            runs.iter().filter_map(|r| r.spec.scheduled_time).min()
        })
        .await;
    let first = first_run + chrono::Duration::seconds(3);
    let mut outage_ms = Vec::new();
    let mut resume_ms = Vec::new();
    for _ in 0..trials() {
        let tick = next_tick(Utc::now() + chrono::Duration::milliseconds(1200), 3);
        sleep_until(tick + chrono::Duration::milliseconds((rng.secs(-1.0, 1.0) * 1000.0) as i64))
            .await;
        let down = Instant::now();
        cluster(&["kill", "apiserver"]).await;
        tokio::time::sleep(secs(rng.secs(0.0, 2.0))).await;
        cluster(&["start", "apiserver"]).await;
        outage_ms.push(down.elapsed().as_millis());
        let back = Utc::now();
        let resumed = Instant::now();
        assert!(
            wait_firing_after(&bed, "tick", back, 2 * MIN).await,
            "firing did not resume after the apiserver came back"
        );
        resume_ms.push(resumed.elapsed().as_millis());
        seen.snapshot(&bed, "tick").await;
    }
    finish_loop(
        &bed,
        &mut seen,
        name,
        "tick",
        3,
        first,
        &[
            (
                "max_outage_ms",
                outage_ms.iter().max().copied().unwrap_or(0).to_string(),
            ),
            (
                "max_resume_ms",
                resume_ms.iter().max().copied().unwrap_or(0).to_string(),
            ),
        ],
    )
    .await;
    op.assert_no_panic();
}

/// Two replicas with leader election on a Lease. Each trial takes the leader away at a random
/// moment around a tick — SIGKILL on even trials; on odd trials SIGSTOP past the lease duration
/// and SIGCONT, so a paused leader wakes up to find its lease taken (the split-brain case) — and
/// starts a fresh standby. The standby takes over; no tick runs twice, none is lost.
#[tokio::test]
async fn exactly_once_across_leader_failovers() {
    let name = "exactly_once_leader_failover";
    let mut rng = Rng::new(name);
    let bed = bare_bed("rel-leader").await;
    let lease = format!("rel-{}", bed.ns);
    let args = [
        "--leader-elect",
        "--lease-namespace",
        bed.ns.as_str(),
        "--lease-name",
        lease.as_str(),
        "--lease-duration",
        "4s",
    ];
    let mut generation = 0u32;
    let spawn = |generation: &mut u32| {
        *generation += 1;
        let id = format!("replica-{generation}");
        let mut op = Operator::new(&bed.ns, &id, &args).env("POD_NAME", &id);
        op.start();
        (id, op)
    };
    let mut replicas: Vec<(String, Operator)> =
        vec![spawn(&mut generation), spawn(&mut generation)];
    bed.task("tick", EVERY_3S).await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(bed.client.clone(), &bed.ns);
    let holder = |leases: Api<k8s_openapi::api::coordination::v1::Lease>, lease: String| async move {
        leases
            .get_opt(&lease)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    };
    let mut seen = Seen::default();
    let first_run = bed
        .wait_for("a first run", MIN, || async {
            let runs = bed.runs_of("tick").await;
            runs.iter().filter_map(|r| r.spec.scheduled_time).min()
        })
        .await;
    let first = first_run + chrono::Duration::seconds(3);
    let mut takeover_ms = Vec::new();
    let mut paused_kept_running = 0u32;
    let mut logs = Vec::new();
    for trial in 0..trials() {
        let leader = bed
            .wait_for("a lease holder", MIN, || {
                holder(leases.clone(), lease.clone())
            })
            .await;
        let idx = replicas
            .iter()
            .position(|(id, _)| *id == leader)
            .unwrap_or_else(|| panic!("lease held by {leader}, not one of ours"));
        let tick = next_tick(Utc::now() + chrono::Duration::milliseconds(1200), 3);
        sleep_until(tick + chrono::Duration::milliseconds((rng.secs(-1.0, 1.0) * 1000.0) as i64))
            .await;
        let gone = Instant::now();
        let (old_id, mut old) = replicas.remove(idx);
        let pause = trial % 2 == 1;
        if pause {
            old.signal("STOP");
        } else {
            old.kill().await;
        }
        // Takeover: another replica holds the lease.
        let new_leader = bed
            .wait_for("a standby to take the lease", MIN, || {
                let (leases, lease, old_id) = (leases.clone(), lease.clone(), old_id.clone());
                async move { holder(leases, lease).await.filter(|h| *h != old_id) }
            })
            .await;
        takeover_ms.push(gone.elapsed().as_millis());
        assert!(replicas.iter().any(|(id, _)| *id == new_leader));
        if pause {
            tokio::time::sleep(Duration::from_secs(1)).await;
            old.signal("CONT");
            // It must notice the lease is gone and exit (to come back as a standby).
            let deadline = Instant::now() + Duration::from_secs(15);
            while !old.exited() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if !old.exited() {
                paused_kept_running += 1;
                old.kill().await;
            }
        }
        logs.push(old);
        tokio::time::sleep(secs(rng.secs(0.0, 2.0))).await;
        replicas.push(spawn(&mut generation));
        assert!(
            wait_firing_after(&bed, "tick", Utc::now(), MIN).await,
            "firing did not resume under the new leader"
        );
        seen.snapshot(&bed, "tick").await;
    }
    finish_loop(
        &bed,
        &mut seen,
        name,
        "tick",
        3,
        first,
        &[
            (
                "max_takeover_ms",
                takeover_ms.iter().max().copied().unwrap_or(0).to_string(),
            ),
            (
                "paused_leader_kept_running",
                paused_kept_running.to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(
        paused_kept_running, 0,
        "a paused leader woke up and kept reconciling"
    );
    for op in logs.iter().chain(replicas.iter().map(|(_, o)| o)) {
        op.assert_no_panic();
    }
}

// ---- downtime across several ticks: catch-up per policy -----------------------------------------------

/// The operator down across several ticks (past a 5 s on-time grace), for three tasks at once:
/// `catchUp: latest`, `all` (capped by `maxCatchUpRuns: 2`) and `skip`. Each gap gets exactly one
/// `missed` run whose count matches the schedule, one `MissedRuns` Event and one `run.missed`
/// alert; catch-up runs follow the policy; no tick is lost.
#[tokio::test]
async fn downtime_catches_up_per_policy_and_records_the_gap() {
    let name = "downtime_catch_up";
    let mut rng = Rng::new(name);
    let slack = crate::receiver::Receiver::start(&[]).await;
    let bed = bare_bed("rel-downtime").await;
    bed.slack_notifier("slack-ops", &slack.url(), "").await;
    // 5 s: on a loaded 2-core machine a reconcile can come seconds late; a shorter grace would
    // turn slowness into gaps (that is what the flag is for).
    let mut op = Operator::new(&bed.ns, "downtime", &["--on-time-grace", "5s"]);
    op.start();
    // `skip`: on a loaded machine Pods can take longer than the 2 s period to run; a queue would
    // grow without bound (and end in queue_full).
    let base = "cron: '*/2 * * * * *'\nrun: 'true'\ngracefulStop: 1s\nkeepRuns: 30\n\
                onOverlap: skip\nnotifyOnFailure: [slack-ops]\n";
    let policies = [
        ("latest", "catchUp: latest\n"),
        ("all", "catchUp: all\nmaxCatchUpRuns: 2\n"),
        ("skip", "catchUp: skip\n"),
    ];
    for (task, extra) in policies {
        bed.task(task, &format!("{base}{extra}")).await;
    }
    for (task, _) in policies {
        bed.wait_for("a first run", MIN, || async {
            (!bed.runs_of(task).await.is_empty()).then_some(())
        })
        .await;
    }
    let mut gaps = 0u32;
    let mut wrong = Vec::new();
    let mut seen_missed: BTreeSet<String> = BTreeSet::new();
    for trial in 0..trials() {
        let down_for = rng.secs(8.0, 14.0);
        op.kill().await;
        // With the operator dead nothing fires: the newest tick handled so far, per task.
        let mut last_fired = BTreeMap::new();
        for (task, _) in policies {
            let newest = bed
                .runs_of(task)
                .await
                .iter()
                .filter(|r| !Seen::is_missed_record(r))
                .filter_map(|r| r.spec.scheduled_time)
                .max();
            last_fired.insert(task, newest);
        }
        tokio::time::sleep(secs(down_for)).await;
        op.start();
        let mut gaps_now = Vec::new();
        for (task, _) in policies {
            // The gap starts right after the newest tick handled before the kill.
            let expected_from = last_fired[task].map(|t| t + chrono::Duration::seconds(2));
            let bedr = &bed;
            let found = bedr
                .wait_for("this outage's missed record", MIN, || async move {
                    bedr.runs_of(task).await.into_iter().find(|r| {
                        Seen::is_missed_record(r)
                            && r.status.as_ref().and_then(|s| s.first_missed_time) == expected_from
                    })
                })
                .await;
            seen_missed.insert(found.name_any());
            gaps += 1;
            gaps_now.push((task, found));
        }
        // Let the catch-up runs happen, then count them for each gap.
        tokio::time::sleep(Duration::from_secs(4)).await;
        for (task, _) in policies {
            for r in bed.runs_of(task).await {
                if Seen::is_missed_record(&r) {
                    seen_missed.insert(r.name_any());
                }
            }
        }
        for (task, missed) in gaps_now {
            let st = missed.status.clone().unwrap_or_default();
            let (from, to) = (
                st.first_missed_time.expect("firstMissedTime"),
                missed.spec.scheduled_time.expect("scheduledTime"),
            );
            let ticks_in_gap = (to - from).num_seconds() / 2 + 1;
            if st.missed_count != Some(ticks_in_gap as u64) {
                wrong.push(format!(
                    "{task} trial {trial}: missedCount {:?} for {ticks_in_gap} ticks",
                    st.missed_count
                ));
            }
            let runs = bed.runs_of(task).await;
            let catch_ups: Vec<DateTime<Utc>> = runs
                .iter()
                .filter(|r| r.spec.trigger == Some(RunTrigger::CatchUp))
                .filter_map(|r| r.spec.scheduled_time)
                .filter(|t| *t >= from && *t <= to)
                .collect();
            let want = match task {
                "latest" => 1.min(ticks_in_gap),
                "all" => 2.min(ticks_in_gap),
                _ => 0,
            } as usize;
            if catch_ups.len() != want {
                wrong.push(format!(
                    "{task} trial {trial}: {} catch-up runs for {ticks_in_gap} missed ticks, want {want}",
                    catch_ups.len()
                ));
            }
            // The newest missed ticks are the ones caught up.
            if want > 0 && !catch_ups.contains(&to) {
                wrong.push(format!(
                    "{task} trial {trial}: the newest missed tick {to} was not caught up: {catch_ups:?}"
                ));
            }
            // The tick after the gap ran on time as cron.
            let after = to + chrono::Duration::seconds(2);
            if !runs.iter().any(|r| {
                r.spec.scheduled_time == Some(after)
                    && r.spec.trigger == Some(RunTrigger::Cron)
                    && !Seen::is_missed_record(r)
            }) {
                wrong.push(format!(
                    "{task} trial {trial}: no on-time run for {after} right after the gap"
                ));
            }
        }
    }
    // One Event and one alert per missed record. Records beyond the outages' gaps are ticks a
    // busy operator reached after a newer one was due (a pass longer than the 2 s period): only
    // the newest due tick fires as cron, older ones are recorded missed and caught up.
    for (task, _) in policies {
        for r in bed.runs_of(task).await {
            if Seen::is_missed_record(&r) {
                seen_missed.insert(r.name_any());
            }
        }
    }
    let records = seen_missed.len() as u32;
    let mut events = 0;
    for (task, _) in policies {
        events += bed
            .task_events(task)
            .await
            .iter()
            .filter(|e| e.starts_with("MissedRuns"))
            .count();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let missed_alerts = slack
        .delivered()
        .iter()
        .filter(|r| {
            serde_json::to_string(&r.body)
                .unwrap_or_default()
                .contains("-missed")
        })
        .count();
    report(
        name,
        &[
            ("trials", trials().to_string()),
            ("gaps", gaps.to_string()),
            ("busy_gaps", records.saturating_sub(gaps).to_string()),
            ("missed_events", events.to_string()),
            ("missed_alerts", missed_alerts.to_string()),
            ("wrong", wrong.len().to_string()),
        ],
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        events as u32, records,
        "one MissedRuns Event per missed record"
    );
    assert_eq!(
        missed_alerts as u32,
        records,
        "one run.missed alert per missed record: {:?}",
        slack.received()
    );
    op.assert_no_panic();
}

// ---- a node failing under a running attempt ---------------------------------------------------------------

/// How an attempt's node fails in a trial.
#[derive(Clone, Copy, Debug, PartialEq)]
enum NodeFault {
    /// Kill the node, force-delete the Pod (what a person or the pod GC does for a lost node),
    /// start the node again.
    KillAndForceDelete,
    /// Kill the node, evict the Pod through the Eviction API (a drain), start the node again.
    EvictWhileDown,
    /// Kill the node and start it again: it comes back like a rebooted machine and reports the
    /// container it lost.
    Reboot,
    /// Kill the node and leave it down with the Pod still `Running` in the API: nobody deletes
    /// it (on a one-node cluster the node controller never evicts: the zone is in full
    /// disruption). The task has a timeout, so the operator's watchdog ends the attempt at
    /// timeout + gracefulStop + 120 s. Two and a half minutes: long runs only.
    LostUntilTheWatchdog,
}

/// Starts the node again if a trial leaves it down, even when the test panics: the bed must
/// stay usable for whatever runs next.
struct NodeGuard {
    down: bool,
}

impl NodeGuard {
    async fn kill(&mut self) {
        cluster(&["kill", "node"]).await;
        self.down = true;
    }
    async fn start(&mut self) {
        cluster(&["start", "node"]).await;
        self.down = false;
    }
}

impl Drop for NodeGuard {
    fn drop(&mut self) {
        if self.down {
            let _ =
                std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/cluster.sh"))
                    .args(["start", "node"])
                    .status();
        }
    }
}

/// A long attempt, then its node dies. The attempt must end `crashed` (or `timeout` when only
/// the watchdog could end it), the retry must run, and the run must finish — never hang. The
/// bed's node is always started again.
#[tokio::test]
async fn a_node_failure_under_a_running_attempt_ends_crashed_and_retries() {
    if !disruptive("a_node_failure_under_a_running_attempt_ends_crashed_and_retries") {
        return;
    }
    let name = "node_failure";
    let bed = bare_bed("rel-node").await;
    let mut op = Operator::new(&bed.ns, "node", &[]);
    op.start();
    // Attempt 1 sleeps (and dies with its node); attempt 2 finishes at once.
    let script = "run: 'case $(hostname) in *-a1) echo first; sleep 600;; *) echo survived;; esac'\n\
                  retryAttempts: 1\nretryDelay: 1s\ngracefulStop: 1s\n";
    bed.task("victim", script).await;
    bed.task("victim-timeout", &format!("{script}timeout: 20s\n"))
        .await;
    let mut faults = vec![
        NodeFault::KillAndForceDelete,
        NodeFault::EvictWhileDown,
        NodeFault::Reboot,
    ];
    if long() {
        faults.push(NodeFault::LostUntilTheWatchdog);
    }
    let mut node = NodeGuard { down: false };
    let mut crashed_retried = 0u32;
    let mut watchdog_retried = 0u32;
    let mut ended_other = Vec::new();
    let mut hung = 0u32;
    let mut durations = Vec::new();
    let n = std::env::var("RUNWISP_RELIABILITY_NODE_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(trials);
    for trial in 0..n {
        let fault = faults[trial as usize % faults.len()];
        let task = if fault == NodeFault::LostUntilTheWatchdog {
            "victim-timeout"
        } else {
            "victim"
        };
        let run_name = format!("{task}-{trial}");
        bed.trigger(task, &run_name).await;
        let run = bed.wait_run_phase(&run_name, RunPhase::Running, MIN).await;
        let pod = run.status.expect("status").attempts[0].pod_name.clone();
        bed.wait_for("the attempt pod to run", MIN, || async {
            let p = bed.pods().get_opt(&pod).await.ok().flatten()?;
            (p.status?.phase.as_deref() == Some("Running")).then_some(())
        })
        .await;
        let t0 = Instant::now();
        node.kill().await;
        let attempt_1_ended = |within: Duration| {
            let (bed, run_name) = (&bed, run_name.clone());
            async move {
                bed.wait_for(
                    "attempt 1 to end while the node is down",
                    within,
                    || async {
                        let r = bed.runs().get(&run_name).await.ok()?;
                        r.status?.attempts.first()?.end_reason.map(|_| ())
                    },
                )
                .await
            }
        };
        match fault {
            NodeFault::KillAndForceDelete => {
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    ..Default::default()
                };
                bed.pods().delete(&pod, &dp).await.expect("force delete");
                attempt_1_ended(MIN).await;
            }
            NodeFault::EvictWhileDown => {
                bed.pods()
                    .evict(&pod, &Default::default())
                    .await
                    .expect("evict");
                attempt_1_ended(MIN).await;
            }
            NodeFault::Reboot => tokio::time::sleep(Duration::from_secs(2)).await,
            NodeFault::LostUntilTheWatchdog => attempt_1_ended(4 * MIN).await,
        }
        node.start().await;
        let deadline = Instant::now() + 4 * MIN;
        let done = loop {
            if let Ok(r) = bed.runs().get(&run_name).await {
                if r.status.as_ref().is_some_and(|s| s.phase.is_finished()) {
                    break Some(r);
                }
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let Some(done) = done else {
            hung += 1;
            continue;
        };
        durations.push(t0.elapsed().as_secs());
        let st = done.status.expect("status");
        let first = st.attempts.first().and_then(|a| a.end_reason);
        let retried = st.attempts.len() == 2 && st.end_reason == Some(EndReason::Success);
        match (fault, first) {
            (NodeFault::LostUntilTheWatchdog, Some(EndReason::Timeout | EndReason::Crashed))
                if retried =>
            {
                watchdog_retried += 1
            }
            (_, Some(EndReason::Crashed)) if retried => crashed_retried += 1,
            _ => ended_other.push(format!(
                "{fault:?}: attempt 1 {:?} (exit {:?}: {:?}), {} attempt(s), run {:?}",
                first,
                st.attempts.first().and_then(|a| a.exit_code),
                st.attempts.first().and_then(|a| a.message.clone()),
                st.attempts.len(),
                st.end_reason
            )),
        }
    }
    report(
        name,
        &[
            ("trials", n.to_string()),
            ("crashed_retried", crashed_retried.to_string()),
            ("watchdog_retried", watchdog_retried.to_string()),
            ("other_end", ended_other.len().to_string()),
            ("hung", hung.to_string()),
            (
                "max_recovery_s",
                durations.iter().max().copied().unwrap_or(0).to_string(),
            ),
        ],
    );
    op.assert_no_panic();
    assert_eq!(hung, 0, "a run never finished after its node failed");
    assert!(
        ended_other.is_empty(),
        "attempts lost with their node must end crashed, then retry:\n{}",
        ended_other.join("\n")
    );
}

// ---- the alert endpoint down for minutes ---------------------------------------------------------------------

/// A stand-in for Slack that can go away entirely (connection refused), answer 503, or serve.
#[derive(Clone)]
struct Endpoint {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    received: Arc<Mutex<Vec<(u16, String)>>>,
    server: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Down,
    Unavailable,
    Up,
}

impl Endpoint {
    async fn start() -> Endpoint {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        let e = Endpoint {
            port,
            mode: Arc::new(Mutex::new(Mode::Down)),
            received: Arc::default(),
            server: Arc::default(),
        };
        e.set(Mode::Up).await;
        e
    }

    fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/services/T000/B000/rel-s3cr3t-token",
            self.port
        )
    }

    async fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
        let mut server = self.server.lock().expect("server").take();
        match mode {
            Mode::Down => {
                if let Some(s) = server.take() {
                    s.abort();
                    let _ = s.await;
                }
            }
            Mode::Up | Mode::Unavailable => {
                if server.is_none() {
                    let listener = loop {
                        match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                            Ok(l) => break l,
                            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    };
                    let me = self.clone();
                    let app = axum::Router::new().route(
                        "/services/{*rest}",
                        axum::routing::post(move |body: String| {
                            let me = me.clone();
                            async move {
                                let status = match *me.mode.lock().expect("mode") {
                                    Mode::Up => 200,
                                    _ => 503,
                                };
                                me.received.lock().expect("received").push((status, body));
                                axum::http::StatusCode::from_u16(status)
                                    .unwrap_or(axum::http::StatusCode::OK)
                            }
                        }),
                    );
                    server = Some(tokio::spawn(async move {
                        let _ = axum::serve(listener, app).await;
                    }));
                }
                *self.server.lock().expect("server") = server;
            }
        }
    }

    /// POSTs answered 200 whose body mentions `needle`.
    fn delivered_mentioning(&self, needle: &str) -> usize {
        self.received
            .lock()
            .expect("received")
            .iter()
            .filter(|(s, b)| *s == 200 && b.contains(needle))
            .count()
    }

    fn posts(&self) -> usize {
        self.received.lock().expect("received").len()
    }
}

/// Alerts raised while the endpoint is down: first refused connections, then 503s, then back
/// (with an operator SIGKILL in the middle of the outage). Each alert arrives exactly once.
/// With RUNWISP_RELIABILITY_LONG=1: a 3-minute outage (still within the ~5-minute budget), then an
/// outage past the budget: every alert ends `Failed` with a `NotifyDeliveryFailed` Event, and
/// nothing is posted late when the endpoint returns.
#[tokio::test]
async fn alerts_survive_an_endpoint_outage_exactly_once() {
    let name = "alert_outage";
    let endpoint = Endpoint::start().await;
    let bed = bare_bed("rel-alerts").await;
    let mut op = Operator::new(&bed.ns, "alerts", &[]);
    op.start();
    bed.slack_notifier("slack-ops", &endpoint.url(), "").await;
    // All of a phase's alerts are raised at once, inside the outage.
    bed.task(
        "failing",
        "run: 'echo backup failed >&2; exit 3'\nnotifyOnFailure: [slack-ops]\nmaxConcurrent: 20\n",
    )
    .await;
    let n = trials().min(20);
    let mut phases = vec![("short", 20u64)];
    if long() {
        phases.push(("minutes", 180));
    }
    let (mut delivered, mut lost, mut duplicated) = (0u64, 0u64, 0u64);
    let mut max_tries = 0u32;
    let mut extra = Vec::new();
    for (phase, down_secs) in &phases {
        endpoint.set(Mode::Down).await;
        let started = Instant::now();
        let runs: Vec<String> = (0..n).map(|i| format!("failing-{phase}-{i:03}")).collect();
        for r in &runs {
            bed.trigger("failing", r).await;
        }
        for r in &runs {
            bed.wait_run_finished(r, 2 * MIN).await;
        }
        // Half the outage refused, half answered 503; the operator dies once in between.
        let half = Duration::from_secs(down_secs / 2).saturating_sub(started.elapsed());
        tokio::time::sleep(half).await;
        endpoint.set(Mode::Unavailable).await;
        op.kill().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        op.start();
        let rest = Duration::from_secs(*down_secs).saturating_sub(started.elapsed());
        tokio::time::sleep(rest).await;
        endpoint.set(Mode::Up).await;
        let outage = started.elapsed().as_secs();
        // Every alert arrives within the next backoff step (≤ 60 s), one a second per webhook.
        let deadline = Instant::now() + Duration::from_secs(90 + 2 * u64::from(n));
        while Instant::now() < deadline
            && runs.iter().any(|r| endpoint.delivered_mentioning(r) == 0)
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        for r in &runs {
            match endpoint.delivered_mentioning(r) {
                0 => lost += 1,
                1 => delivered += 1,
                k => {
                    delivered += 1;
                    duplicated += k as u64 - 1;
                }
            }
            let run = bed.runs().get(r).await.expect("run");
            for rec in run.status.expect("status").notifications {
                max_tries = max_tries.max(rec.tries);
                assert_eq!(rec.state, DeliveryState::Delivered, "{r}: {rec:?}");
            }
        }
        extra.push((format!("{phase}_down_s"), outage.to_string()));
    }
    // Past the budget: nothing arrives, each alert is recorded Failed with a Warning Event.
    let mut gave_up = 0u64;
    let mut late = 0usize;
    let mut unnamed: Vec<String> = Vec::new();
    if long() {
        endpoint.set(Mode::Down).await;
        let runs: Vec<String> = (0..n).map(|i| format!("failing-budget-{i:03}")).collect();
        for r in &runs {
            bed.trigger("failing", r).await;
        }
        for r in &runs {
            bed.wait_run_finished(r, 2 * MIN).await;
        }
        for r in &runs {
            let run = bed
                .wait_for("the delivery to give up", 8 * MIN, || async {
                    let run = bed.runs().get(r).await.ok()?;
                    run.status
                        .as_ref()?
                        .notifications
                        .iter()
                        .any(|n| n.state == DeliveryState::Failed)
                        .then_some(run)
                })
                .await;
            let rec = &run.status.expect("status").notifications[0];
            assert!(
                !rec.error.as_deref().unwrap_or_default().contains("s3cr3t"),
                "{rec:?}"
            );
            gave_up += 1;
        }
        let posts_before = endpoint.posts();
        endpoint.set(Mode::Up).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        late = endpoint.posts() - posts_before;
        // Each run whose alert gave up is named by a NotifyDeliveryFailed Event.
        let events = bed.task_events("failing").await;
        unnamed = runs
            .iter()
            .filter(|r| {
                !events
                    .iter()
                    .any(|e| e.starts_with("NotifyDeliveryFailed") && e.contains(r.as_str()))
            })
            .cloned()
            .collect();
        extra.push(("failed_events_missing".into(), unnamed.len().to_string()));
        extra.push(("gave_up".into(), gave_up.to_string()));
        extra.push(("late_posts".into(), late.to_string()));
    }
    let mut fields: Vec<(&str, String)> = vec![
        ("alerts", (n as usize * phases.len()).to_string()),
        ("delivered", delivered.to_string()),
        ("lost", lost.to_string()),
        ("duplicated", duplicated.to_string()),
        ("max_tries", max_tries.to_string()),
    ];
    fields.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    report(name, &fields);
    assert_eq!((lost, duplicated), (0, 0), "every alert exactly once");
    assert_eq!(late, 0, "nothing is posted after the delivery gave up");
    assert!(
        unnamed.is_empty(),
        "runs whose alert gave up without a NotifyDeliveryFailed Event naming them: {unnamed:?} \
         (Events with one reason in one reconcile are merged into a series by kube's Recorder, \
         which keys them without the note)"
    );
    assert_secret_absent(&bed, &op, "rel-s3cr3t-token").await;
    op.assert_no_panic();
}

// ---- security ---------------------------------------------------------------------------------------------------

/// The secret must not be in the operator's log, the namespace's Events, or any status.
async fn assert_secret_absent(bed: &Bed, op: &Operator, secret: &str) {
    let log = op.log_text();
    assert!(
        !log.contains(secret),
        "the operator log {} holds the secret:\n{}",
        op.log.display(),
        log.lines()
            .filter(|l| l.contains(secret))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let events = listed_json::<k8s_openapi::api::events::v1::Event>(Api::namespaced(
        bed.client.clone(),
        &bed.ns,
    ))
    .await;
    assert!(!events.contains(secret), "an Event holds the secret");
    let core = listed_json::<k8s_openapi::api::core::v1::Event>(Api::namespaced(
        bed.client.clone(),
        &bed.ns,
    ))
    .await;
    assert!(!core.contains(secret), "a core/v1 Event holds the secret");
    let runs = listed_json(bed.runs()).await;
    assert!(!runs.contains(secret), "a run holds the secret");
    let tasks = listed_json(bed.tasks()).await;
    assert!(!tasks.contains(secret), "a task holds the secret");
}

/// The operator running under exactly the RBAC rules of `config/rbac` (a Role in the test
/// namespace, its ServiceAccount's token), with `get` on Secrets narrowed further to the one
/// Secret its notifiers name: it fires, runs, delivers alerts through several failure modes,
/// and never hits a 403 — so it needs nothing more and reads no other Secret. Webhook URLs
/// (path token, password, query token) appear in no log line, Event or status.
#[tokio::test]
async fn security_least_privilege_operator_and_no_secret_leaks() {
    let name = "security";
    let bed = bare_bed("rel-security").await;
    let ns = bed.ns.clone();
    // Rules from config/rbac (what users install), as a Role here.
    let rbac = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/rbac/rbac.yaml"
    ))
    .expect("config/rbac/rbac.yaml");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&rbac)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    let cluster_role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "runwisp-operator")
        .expect("ClusterRole runwisp-operator in config/rbac");
    let mut rules: Vec<serde_json::Value> =
        serde_json::from_value(serde_json::to_value(&cluster_role["rules"]).expect("rules"))
            .expect("rules");
    for r in rules.iter_mut() {
        if r["resources"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("secrets")))
        {
            assert_eq!(
                r["verbs"],
                json!(["get"]),
                "config/rbac grants more than get on secrets"
            );
            r["resourceNames"] =
                json!(["slack-ops-webhook", "hook-ops-webhook", "query-ops-webhook"]);
        }
    }
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(bed.client.clone(), &ns);
    sa.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "runwisp-operator"}})).expect("sa"),
    )
    .await
    .expect("create sa");
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(bed.client.clone(), &ns);
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "runwisp-operator"}, "rules": rules}),
            )
            .expect("role"),
        )
        .await
        .expect("create role");
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(bed.client.clone(), &ns);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "runwisp-operator"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runwisp-operator"},
                "subjects": [{"kind": "ServiceAccount", "name": "runwisp-operator", "namespace": ns}],
            }))
            .expect("binding"),
        )
        .await
        .expect("create binding");
    // The ServiceAccount's token (1.20 keeps it in a Secret).
    let token = bed
        .wait_for("the ServiceAccount token", MIN, || async {
            let a = sa.get("runwisp-operator").await.ok()?;
            let secret_name = a.secrets?.first()?.name.clone()?;
            let secrets: Api<k8s_openapi::api::core::v1::Secret> =
                Api::namespaced(bed.client.clone(), &ns);
            let s = secrets.get(&secret_name).await.ok()?;
            let t = s.data?.get("token")?.0.clone();
            String::from_utf8(t).ok()
        })
        .await;
    let kubeconfig = kubeconfig_for(&token, None).await;
    let kc_path = log_dir().join(format!("kubeconfig-{ns}"));
    std::fs::write(&kc_path, kubeconfig).expect("write kubeconfig");
    let mut op = Operator::new(&ns, "least-privilege", &[])
        .env("KUBECONFIG", &kc_path.display().to_string());
    op.start();

    // Three notifiers, three secret shapes, three failure modes.
    let down = Endpoint::start().await;
    down.set(Mode::Down).await;
    let slack = crate::receiver::Receiver::start(&[(503, Some("1")), (503, None)]).await;
    let refused = crate::receiver::Receiver::start(&[(404, None)]).await;
    let urls = [
        ("slack-ops", format!("{}-pathtoken-7f3a9", slack.url())),
        (
            "hook-ops",
            format!(
                "http://rwuser:pa55w0rd-q8x2@127.0.0.1:{}/services/T/B/x",
                refused.addr.port()
            ),
        ),
        (
            "query-ops",
            format!(
                "http://127.0.0.1:{}/services/hook?token=qt0k3n-z9c1",
                down.port
            ),
        ),
    ];
    for (n, u) in &urls {
        bed.slack_notifier(n, u, "").await;
    }
    bed.task(
        "leaky",
        "cron: '*/5 * * * * *'\nrun: 'echo about to fail; exit 2'\nkeepRuns: 5\nonOverlap: skip\n\
         notifyOnFailure: [slack-ops, hook-ops]\n",
    )
    .await;
    // The unreachable endpoint keeps its alert pending (retrying) for minutes: a run of its own.
    bed.task(
        "unreachable",
        "run: 'exit 1'\nnotifyOnFailure: [query-ops]\n",
    )
    .await;
    bed.trigger("unreachable", "unreachable-1").await;
    // A full cycle: cron runs, failures, alerts delivered / refused / retried, retention.
    bed.wait_for("an alert delivered and one refused", 2 * MIN, || async {
        (!slack.delivered().is_empty() && !refused.received().is_empty()).then_some(())
    })
    .await;
    bed.wait_for("tries at the unreachable endpoint", 2 * MIN, || async {
        let r = bed.runs().get("unreachable-1").await.ok()?;
        r.status?
            .notifications
            .iter()
            .any(|n| n.tries >= 3)
            .then_some(())
    })
    .await;
    let first = bed
        .wait_for("a first run", MIN, || async {
            bed.runs_of("leaky").await.first().map(|r| r.name_any())
        })
        .await;
    bed.wait_for("retention to prune the first run", 4 * MIN, || async {
        bed.runs()
            .get_opt(&first)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let log = op.log_text();
    let forbidden: Vec<&str> = log
        .lines()
        // An RBAC denial reads `... is forbidden: User "system:serviceaccount:..." cannot ...`; a
        // bare "403" also matches timestamps (…:13.716403Z).
        .filter(|l| l.contains("forbidden: User"))
        .take(5)
        .collect();
    for secret in [
        "pathtoken-7f3a9",
        "pa55w0rd-q8x2",
        "qt0k3n-z9c1",
        "s3cr3t-token",
    ] {
        assert_secret_absent(&bed, &op, secret).await;
    }
    report(
        name,
        &[
            ("rbac", "config/rbac".into()),
            ("secret_reads", "get-by-name".into()),
            ("forbidden", forbidden.len().to_string()),
            ("leaks", "0".into()),
        ],
    );
    assert!(
        forbidden.is_empty(),
        "the operator needed more than its RBAC:\n{}",
        forbidden.join("\n")
    );
    op.assert_no_panic();
}

/// The admin kubeconfig (`$KUBECONFIG`) as YAML.
fn admin_kubeconfig() -> serde_yaml::Value {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    serde_yaml::from_str(&std::fs::read_to_string(&path).expect("read KUBECONFIG"))
        .expect("kubeconfig YAML")
}

/// The admin kubeconfig's cluster with `token` as the user (and optionally impersonating `as_`).
async fn kubeconfig_for(token: &str, as_: Option<&str>) -> String {
    let kc = admin_kubeconfig();
    let cluster = &kc["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().unwrap_or_default();
    let ca = cluster["certificate-authority-data"]
        .as_str()
        .unwrap_or_default();
    let as_line = as_.map(|a| format!("    as: {a}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: bed\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {token}\n{as_line}contexts:\n- name: c\n  context: {{cluster: bed, user: u}}\ncurrent-context: c\n"
    )
}

/// A person who may read tasks and runs but not create runs cannot trigger one (through the API
/// or `kubectl runwisp trigger`); one who may create runs can.
#[tokio::test]
async fn security_a_user_without_create_on_runs_cannot_trigger() {
    let name = "security_trigger";
    let bed = Bed::new("rel-rbac-trigger").await;
    let ns = bed.ns.clone();
    bed.task("guarded", "run: 'echo ran'\n").await;
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(bed.client.clone(), &ns);
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(bed.client.clone(), &ns);
    for (role, verbs_runs, user) in [
        ("viewer", json!(["get", "list", "watch"]), "alice"),
        (
            "triggerer",
            json!(["get", "list", "watch", "create"]),
            "bob",
        ),
    ] {
        roles
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": role},
                    "rules": [
                        {"apiGroups": ["runwisp.dev"], "resources": ["runwisptasks"], "verbs": ["get", "list", "watch"]},
                        {"apiGroups": ["runwisp.dev"], "resources": ["runwispruns"], "verbs": verbs_runs},
                    ],
                }))
                .expect("role"),
            )
            .await
            .expect("create role");
        bindings
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": role},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                    "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
                }))
                .expect("binding"),
            )
            .await
            .expect("create binding");
    }
    let as_user = |user: &str| {
        let user = user.to_string();
        async move {
            let mut cfg = kube::Config::infer().await.expect("config");
            cfg.auth_info.impersonate = Some(user);
            kube::Client::try_from(cfg).expect("client")
        }
    };
    let run = |name: &str| -> RunWispRun {
        serde_json::from_value(json!({
            "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispRun",
            "metadata": {"name": name}, "spec": {"taskRef": {"name": "guarded"}},
        }))
        .expect("run")
    };
    // RBAC takes a moment to apply.
    let alice: Api<RunWispRun> = Api::namespaced(as_user("alice").await, &ns);
    bed.wait_for("alice's read access", MIN, || async {
        alice.list(&ListParams::default()).await.ok().map(|_| ())
    })
    .await;
    let denied = match alice.create(&PostParams::default(), &run("by-alice")).await {
        Err(kube::Error::Api(s)) => s.code == 403,
        other => panic!("alice created a run: {other:?}"),
    };
    // Nor can she create Pods to run the script herself, or write a run's status.
    let alice_pods: Api<Pod> = Api::namespaced(as_user("alice").await, &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "by-alice"},
        "spec": {"containers": [{"name": "x", "image": IMAGE}]},
    }))
    .expect("pod");
    assert!(matches!(
        alice_pods.create(&PostParams::default(), &pod).await,
        Err(kube::Error::Api(s)) if s.code == 403
    ));
    // The plugin, with a kubeconfig that impersonates alice: a clear error, a non-zero exit.
    let admin_token = admin_kubeconfig()["users"][0]["user"]["token"]
        .as_str()
        .expect("the bed's admin kubeconfig has a token")
        .to_string();
    let kc = log_dir().join(format!("kubeconfig-alice-{ns}"));
    std::fs::write(&kc, kubeconfig_for(&admin_token, Some("alice")).await).expect("kubeconfig");
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-runwisp"))
        .args(["trigger", "guarded", "-n", &ns, "--kubeconfig"])
        .arg(&kc)
        .output()
        .await
        .expect("kubectl-runwisp");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let _ = std::fs::remove_file(&kc);
    assert!(
        !out.status.success(),
        "the plugin triggered as alice: {stderr}"
    );
    assert!(
        stderr.to_ascii_lowercase().contains("forbidden"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&admin_token),
        "the plugin printed the token"
    );
    // Bob may.
    let bob: Api<RunWispRun> = Api::namespaced(as_user("bob").await, &ns);
    bob.create(&PostParams::default(), &run("by-bob"))
        .await
        .expect("bob triggers");
    let done = bed.wait_run_finished("by-bob", MIN).await;
    let runs = bed.runs_of("guarded").await;
    report(
        name,
        &[
            ("forbidden_create", denied.to_string()),
            (
                "runs_by_unauthorized",
                runs.iter()
                    .filter(|r| r.name_any() != "by-bob")
                    .count()
                    .to_string(),
            ),
        ],
    );
    assert!(denied);
    assert_eq!(done.status.expect("status").phase, RunPhase::Succeeded);
    assert_eq!(runs.len(), 1, "only bob's run exists");
}

// ---- bad input on the real apiserver and operator ------------------------------------------------------------

/// Every corpus case (tests/badinput/tasks.yaml) applied to the real apiserver, with a healthy
/// cron task firing beside them: each is refused where the corpus says (422 naming the field,
/// or a Ready=False/InvalidSpec condition and Event naming it, or NotifiersReady=False, or a
/// run ending start_failed), the operator never panics, and the healthy task keeps firing.
#[tokio::test]
async fn bad_input_corpus_is_refused_visibly_and_the_operator_keeps_serving() {
    use corpus::Stage;
    let name = "bad_input_corpus";
    let bed = bare_bed("rel-badinput").await;
    let mut op = Operator::new(&bed.ns, "badinput", &["--start-timeout", "15s"]);
    op.start();
    bed.task(
        "healthy",
        "cron: '*/2 * * * * *'\nrun: 'true'\nkeepRuns: 3\n",
    )
    .await;
    let cases: Vec<corpus::Case> = corpus::task_cases()
        .into_iter()
        .filter(|c| c.bug.is_none())
        .collect();
    let mut wrong = Vec::new();
    let mut accepted = Vec::new();
    let mut by_stage: BTreeMap<String, u32> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        let task = format!("bad-{i}");
        let yaml = serde_yaml::to_string(&c.spec).expect("yaml");
        match bed.try_task(&task, &yaml).await {
            Err(kube::Error::Api(s)) => {
                *by_stage.entry("apply".into()).or_default() += 1;
                if !matches!(c.stage, Stage::Schema | Stage::Both) {
                    wrong.push(format!(
                        "{}: refused at apply, corpus says {:?}: {}",
                        c.name, c.stage, s.message
                    ));
                } else if s.code != 422 || !s.message.contains(&format!("spec.{}", c.field)) {
                    wrong.push(format!(
                        "{}: {} does not name spec.{}: {}",
                        c.name, s.code, c.field, s.message
                    ));
                }
            }
            Err(e) => wrong.push(format!("{}: {e}", c.name)),
            Ok(_) => {
                if matches!(c.stage, Stage::Schema | Stage::Both) {
                    wrong.push(format!(
                        "{}: accepted at apply, corpus says {:?}",
                        c.name, c.stage
                    ));
                } else {
                    accepted.push((task, c));
                }
            }
        }
    }
    let applied_at = Utc::now();
    for (task, c) in &accepted {
        *by_stage
            .entry(format!("{:?}", c.stage).to_lowercase())
            .or_default() += 1;
        match c.stage {
            Stage::Operator => {
                let cond = bed
                    .wait_for("an InvalidSpec condition", MIN, || async {
                        let t = bed.tasks().get(task).await.ok()?;
                        t.status?
                            .conditions
                            .into_iter()
                            .find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec")
                    })
                    .await;
                for f in std::iter::once(&c.field).chain(&c.also) {
                    if !cond.message.contains(&format!("spec.{f}:")) {
                        wrong.push(format!(
                            "{}: condition does not name spec.{f}: {}",
                            c.name, cond.message
                        ));
                    }
                }
                let events = bed.task_events(task).await;
                if !events.iter().any(|e| {
                    e.starts_with("InvalidSpec") && e.contains(&format!("spec.{}", c.field))
                }) {
                    wrong.push(format!(
                        "{}: no InvalidSpec Event naming the field: {events:?}",
                        c.name
                    ));
                }
            }
            Stage::Notifier => {
                let cond = bed
                    .wait_for("a NotifiersReady=False condition", MIN, || async {
                        let t = bed.tasks().get(task).await.ok()?;
                        t.status?
                            .conditions
                            .into_iter()
                            .find(|c| c.type_ == "NotifiersReady" && c.status == "False")
                    })
                    .await;
                if !cond.message.contains("nobody") {
                    wrong.push(format!("{}: {}", c.name, cond.message));
                }
                let events = bed.task_events(task).await;
                if !events.iter().any(|e| e.starts_with("MissingNotifier")) {
                    wrong.push(format!("{}: no MissingNotifier Event: {events:?}", c.name));
                }
            }
            Stage::Run => {
                let run = format!("{task}-manual");
                bed.trigger(task, &run).await;
                let done = bed.wait_run_finished(&run, 2 * MIN).await;
                let st = done.status.expect("status");
                let msg = format!(
                    "{} {}",
                    st.message.clone().unwrap_or_default(),
                    st.attempts
                        .last()
                        .and_then(|a| a.message.clone())
                        .unwrap_or_default()
                );
                let expect = c.expect.as_deref().unwrap_or_default();
                if st.end_reason != Some(EndReason::StartFailed) || !msg.contains(expect) {
                    wrong.push(format!(
                        "{}: ended {:?}, message {msg}, expected start_failed with {expect:?}",
                        c.name, st.end_reason
                    ));
                }
            }
            _ => {}
        }
    }
    // The healthy task kept firing through all of it.
    let fired_after = bed
        .wait_for("the healthy task to fire after the corpus", MIN, || async {
            bed.runs_of("healthy").await.into_iter().find(|r| {
                r.spec.scheduled_time.is_some_and(|t| t > applied_at)
                    && r.status
                        .as_ref()
                        .is_some_and(|s| s.phase == RunPhase::Succeeded)
            })
        })
        .await;
    report(
        name,
        &[
            ("cases", cases.len().to_string()),
            (
                "refused_at_apply",
                by_stage.get("apply").copied().unwrap_or(0).to_string(),
            ),
            (
                "invalid_spec_condition",
                by_stage.get("operator").copied().unwrap_or(0).to_string(),
            ),
            (
                "missing_notifier_condition",
                by_stage.get("notifier").copied().unwrap_or(0).to_string(),
            ),
            (
                "start_failed_run",
                by_stage.get("run").copied().unwrap_or(0).to_string(),
            ),
            ("wrong", wrong.len().to_string()),
            ("healthy_kept_firing", "true".into()),
        ],
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(fired_after.spec.scheduled_time.is_some());
    op.assert_no_panic();
}

/// Known bug (pinned; see tests/badinput/tasks.yaml `env-value-from-wrong-shape`): one task the
/// apiserver accepts but the operator cannot decode must not stop every other task.
#[tokio::test]
async fn a_task_the_operator_cannot_decode_does_not_stop_the_others() {
    let bed = bare_bed("rel-poison").await;
    let mut op = Operator::new(&bed.ns, "poison", &[]);
    op.start();
    bed.task(
        "healthy",
        "cron: '*/2 * * * * *'\nrun: 'true'\nkeepRuns: 3\n",
    )
    .await;
    bed.wait_for("a first run", MIN, || async {
        (!bed.runs_of("healthy").await.is_empty()).then_some(())
    })
    .await;
    let accepted = bed
        .try_task(
            "poison",
            "run: 'true'\nenv: [{name: TOKEN, valueFrom: {secretKeyRef: just-a-string}}]\n",
        )
        .await;
    if let Err(e) = accepted {
        // The schema refuses it at apply time, naming the field.
        report("poison_task", &[("refused_at_apply", "true".into())]);
        assert!(e.to_string().contains("spec.env"), "{e}");
        return;
    }
    let check = |after: DateTime<Utc>| {
        let bed = &bed;
        async move {
            bed.runs_of("healthy").await.into_iter().any(|r| {
                r.spec.scheduled_time.is_some_and(|t| t > after)
                    && r.status
                        .as_ref()
                        .is_some_and(|s| s.phase == RunPhase::Succeeded)
            })
        }
    };
    // While running, and after a restart (the initial list must not fail either).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let running = check(Utc::now() - chrono::Duration::seconds(5)).await;
    op.kill().await;
    op.start();
    let restarted = Utc::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after_restart = check(restarted).await;
    // If the operator can read it, it must say what is wrong with it.
    report(
        "poison_task",
        &[
            ("kept_firing", running.to_string()),
            ("kept_firing_after_restart", after_restart.to_string()),
        ],
    );
    assert!(
        running && after_restart,
        "one undecodable task stopped the operator for the whole namespace \
         (running: {running}, after restart: {after_restart}); log {}",
        op.log.display()
    );
    op.assert_no_panic();
}

/// Names at Kubernetes' limits and unicode: a task with a 253-character name fires; its runs
/// and Pods get valid, shortened names; unicode output survives in the log tail.
#[tokio::test]
async fn longest_names_and_unicode_survive() {
    let bed = Bed::new("rel-names").await;
    let long_name = format!("{}.{}", "a".repeat(200), "b".repeat(52));
    assert_eq!(long_name.len(), 253);
    bed.task(
        &long_name,
        "cron: '*/2 * * * * *'\nrun: \"echo 'héllo wörld 🚀'\"\nkeepRuns: 2\n\
         description: 'nächtliche Sicherung 🌙'\n",
    )
    .await;
    let run = bed
        .wait_for("a succeeded run of the longest task name", MIN, || async {
            bed.runs_of(&long_name).await.into_iter().find(|r| {
                r.status
                    .as_ref()
                    .is_some_and(|s| s.phase == RunPhase::Succeeded)
            })
        })
        .await;
    let run_name = run.name_any();
    assert!(
        runwisp_operator::names::is_dns1123_subdomain(&run_name),
        "{run_name}"
    );
    let st = run.status.expect("status");
    let pod = &st.attempts[0].pod_name;
    assert!(pod.len() <= 63, "{pod}");
    let tail = st.attempts[0].log_tail.clone().unwrap_or_default();
    assert!(tail.contains("héllo wörld 🚀"), "{tail:?}");
    // The longest script Linux runs as one argument (131071 bytes) runs.
    bed.tasks()
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask",
                "metadata": {"name": "longest-script"},
                "spec": {"run": corpus::script_of(131_071)},
            }))
            .expect("task"),
        )
        .await
        .expect("a 131071-byte script is accepted");
    bed.trigger("longest-script", "longest-script-1").await;
    let done = bed.wait_run_finished("longest-script-1", 2 * MIN).await;
    let st = done.status.expect("status");
    assert_eq!(st.end_reason, Some(EndReason::Success), "{st:?}");
    report(
        "names_unicode",
        &[
            ("task_name_len", "253".into()),
            ("run_name_len", run_name.len().to_string()),
            ("pod_name_len", pod.len().to_string()),
        ],
    );
}

/// Known bug (pinned): a `missed` record is created in one request (a run with trigger `cron`)
/// and marked missed in a second one (its status). If the operator dies between the two
/// (SIGKILL, a lost lease, an apiserver error), the record is a plain cron run without a status,
/// and the next reconcile *starts* it: the missed tick's script runs (again, when catch-up already
/// ran it). Seen in the 50-trial leader-failover loop (a paused leader's status write lost with a
/// Conflict); staged here exactly, by creating what `create_run` creates for a gap.
#[tokio::test]
async fn a_missed_record_whose_status_write_was_lost_is_not_run() {
    let bed = bare_bed("rel-missed-record").await;
    let task = bed
        .task("nightly", "cron: '0 3 1 1 *'\nrun: 'echo ran'\n")
        .await;
    let scheduled: DateTime<Utc> = "2026-01-01T03:00:00Z".parse().expect("time");
    let name = runwisp_operator::names::missed_run_name("nightly", scheduled, false);
    let record: RunWispRun = serde_json::from_value(json!({
        "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispRun",
        "metadata": {
            "name": name,
            "labels": {
                keys::MANAGED_BY_LABEL: keys::MANAGED_BY,
                keys::TASK_LABEL: "nightly",
            },
            "ownerReferences": [{
                "apiVersion": "runwisp.dev/v1alpha1", "kind": "RunWispTask", "name": "nightly",
                "uid": task.uid().expect("uid"), "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {"taskRef": {"name": "nightly"}, "trigger": "cron", "scheduledTime": scheduled},
    }))
    .expect("record");
    bed.runs()
        .create(&PostParams::default(), &record)
        .await
        .expect("create");
    let mut op = Operator::new(&bed.ns, "missed-record", &[]);
    op.start();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let run = bed.runs().get(&name).await.expect("record");
    let st = run.status.clone().unwrap_or_default();
    report(
        "missed_record_status_lost",
        &[
            ("executed", (!st.attempts.is_empty()).to_string()),
            ("phase", st.phase.as_str().to_string()),
        ],
    );
    assert!(
        st.attempts.is_empty(),
        "the operator ran a missed record as a cron run: {st:?}"
    );
    op.assert_no_panic();
}

/// Known bug (pinned): every run that ends gets an Event naming it. Runs ending in the same
/// reconcile share reason, action and object, and kube's `Recorder` keys Events without the
/// note: the second becomes a `series` count on the first, and its run's name is lost. Staged
/// deterministically: the runs' Pods finish while the operator is down, so its first pass ends
/// them all.
#[tokio::test]
async fn every_run_that_ends_gets_an_event_naming_it() {
    let bed = bare_bed("rel-events").await;
    let mut op = Operator::new(&bed.ns, "events", &[]);
    op.start();
    bed.task("burst", "run: 'sleep 4; exit 1'\nmaxConcurrent: 8\n")
        .await;
    let runs: Vec<String> = (0..8).map(|i| format!("burst-{i}")).collect();
    for r in &runs {
        bed.trigger("burst", r).await;
    }
    for r in &runs {
        bed.wait_run_phase(r, RunPhase::Running, MIN).await;
    }
    op.kill().await;
    bed.wait_for("every Pod to finish", 2 * MIN, || async {
        let pods = bed.pods().list(&ListParams::default()).await.ok()?.items;
        (pods.len() == runs.len()
            && pods
                .iter()
                .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")))
        .then_some(())
    })
    .await;
    op.start();
    for r in &runs {
        bed.wait_run_finished(r, 2 * MIN).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = bed.task_events("burst").await;
    let unnamed: Vec<&String> = runs
        .iter()
        .filter(|r| {
            !events
                .iter()
                .any(|e| e.starts_with("RunFailed") && e.contains(&format!("{r}:")))
        })
        .collect();
    report(
        "events_per_run",
        &[
            ("runs", runs.len().to_string()),
            ("without_event", unnamed.len().to_string()),
        ],
    );
    assert!(
        unnamed.is_empty(),
        "runs that ended without a RunFailed Event naming them: {unnamed:?}\n{events:#?}"
    );
    op.assert_no_panic();
}

/// Every object `api` lists, as one JSON text (to search for what must not be there).
async fn listed_json<K>(api: Api<K>) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let items = api.list(&ListParams::default()).await.expect("list").items;
    serde_json::to_string(&items).unwrap_or_default()
}
