//! `kubectl-runwisp`: the kubectl plugin (`kubectl runwisp convert|trigger|status|logs`).
//! The same commands as `runwisp-operator <command>`, whatever name this binary runs under.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runwisp_operator::cli::plugin_main().await
}
