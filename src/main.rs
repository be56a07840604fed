//! `runwisp-operator`: the controller (`run`), its CRDs (`crd`), and a person's tools.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use runwisp_operator::{api, config::Config, controller, metrics::Metrics, server};
use tracing::{error, info};

/// mimalloc returns freed pages to the system; glibc's malloc kept the transient peaks of listing
/// tens of thousands of objects (README, Dependencies).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "runwisp-operator",
    version,
    about = "RunWisp-style scheduled tasks on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print every CustomResourceDefinition as YAML (the source of `crds/`).
    Crd,
    /// A person's commands: convert, trigger, status, logs (also `kubectl runwisp ...`).
    #[command(flatten)]
    Person(runwisp_operator::cli::Command),
}

#[derive(clap::Args)]
struct RunArgs {
    /// IANA zone for tasks without `timezone`.
    #[arg(long, env = "RUNWISP_DEFAULT_TIMEZONE", default_value = "UTC")]
    default_timezone: String,
    /// Image for tasks without `image`.
    #[arg(long, env = "RUNWISP_DEFAULT_IMAGE", default_value = "busybox:1.36")]
    default_image: String,
    /// Shell for tasks without `shell`.
    #[arg(long, env = "RUNWISP_DEFAULT_SHELL", default_value = "/bin/sh")]
    default_shell: String,
    /// A tick first seen later than this after its time is a missed tick (catch-up applies).
    #[arg(long, env = "RUNWISP_ON_TIME_GRACE", default_value = "60s", value_parser = parse_duration)]
    on_time_grace: Duration,
    /// How long an attempt Pod may stay unschedulable or imageless before `start_failed`.
    #[arg(long, env = "RUNWISP_START_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    start_timeout: Duration,
    /// Operator-wide cap on finished runs per namespace (0: no cap).
    #[arg(
        long,
        env = "RUNWISP_MAX_FINISHED_RUNS_PER_NAMESPACE",
        default_value_t = 0
    )]
    max_finished_runs_per_namespace: u32,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "RUNWISP_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "RUNWISP_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Tasks reconciled at once.
    #[arg(long, env = "RUNWISP_CONCURRENCY", default_value_t = 128)]
    concurrency: u16,
    /// Elect a leader on a Lease so several replicas can run; only the leader reconciles.
    #[arg(long, env = "RUNWISP_LEADER_ELECT", default_value_t = false)]
    leader_elect: bool,
    /// Name of the Lease used for leader election.
    #[arg(long, env = "RUNWISP_LEASE_NAME", default_value = "runwisp-operator")]
    lease_name: String,
    /// Namespace of the Lease (default: the operator's own, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// How long a leader's lease lasts without renewal (a standby takes over after it).
    #[arg(long, env = "RUNWISP_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    lease_duration: Duration,
    /// Log format.
    #[arg(long, env = "RUNWISP_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    runwisp_operator::duration::parse_duration(s).map_err(|e| e.to_string())
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: `kubectl logs` shows escape codes verbatim.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Person(command) => runwisp_operator::cli::run(command).await,
        Command::Crd => match api::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            init_tracing(args.log_format == "json");
            match run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!(error = %e, "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let default_timezone = runwisp_operator::schedule::parse_timezone(&args.default_timezone)?;
    let cfg = Config {
        default_timezone,
        default_image: args.default_image,
        default_shell: args.default_shell,
        on_time_grace: args.on_time_grace,
        start_timeout: args.start_timeout,
        max_finished_runs_per_namespace: (args.max_finished_runs_per_namespace > 0)
            .then_some(args.max_finished_runs_per_namespace),
        watch_namespace: args.namespace,
        concurrency: args.concurrency,
        ..Config::default()
    };
    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    let admin = tokio::spawn(server::serve(args.admin_addr, metrics.clone(), ready_rx));
    info!(admin = %args.admin_addr, "runwisp-operator starting");

    // SIGTERM (or Ctrl-C) from the very start: a standby waiting for the lease stops at once.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let lease = args
        .leader_elect
        .then(|| runwisp_operator::leader::LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            identity: std::env::var("POD_NAME")
                .unwrap_or_else(|_| format!("{}-{}", gethostname(), std::process::id())),
            duration: args.lease_duration,
            retry: (args.lease_duration / 5).max(Duration::from_millis(500)),
        });
    let lease_lost = match &lease {
        Some(cfg) => {
            // A healthy standby is ready (so rollouts and `helm --wait` complete); the leader
            // is ready once its caches have synced.
            let _ = ready_tx.send(true);
            let acquired = tokio::select! {
                res = runwisp_operator::leader::acquire(client.clone(), cfg.clone()) => res?,
                _ = stopped(stop_rx.clone()) => return Ok(()),
            };
            let _ = ready_tx.send(false);
            Some(acquired)
        }
        None => None,
    };
    metrics.leader.set(1);
    let lost = async {
        match lease_lost {
            Some(rx) => {
                let _ = rx.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = tokio::select! {
        res = controller::run(client.clone(), cfg, metrics.clone(), ready_tx, stopped(stop_rx)) => res.map_err(Into::into),
        res = admin => match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e.into()),
        },
        _ = lost => Err("lost the leader lease; exiting so a restart comes back as a standby".into()),
    };
    metrics.leader.set(0);
    // Hand the lease over at once instead of making the next leader wait out its duration.
    if let Some(cfg) = &lease {
        if let Err(e) = runwisp_operator::leader::release(client, cfg).await {
            tracing::warn!(error = %e, "cannot release the leader lease");
        }
    }
    result
}

fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "runwisp-operator".into())
}
