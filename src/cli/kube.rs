//! Client, namespace and context for `trigger`, `status` and `logs`, the way kubectl picks them:
//! `KUBECONFIG` (or `~/.kube/config`, or the in-cluster account), `--context`, and `-n` falling
//! back to the context's namespace, then `default`.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::CliError;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Namespace (default: the kubeconfig context's namespace, else "default").
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// A client and the namespace the command works in.
pub struct Kube {
    pub client: Client,
    pub namespace: String,
}

/// The flag wins; else the context's namespace (kube fills in `default` when it has none).
pub fn resolve_namespace(flag: Option<&str>, context_default: &str) -> String {
    match flag {
        Some(ns) if !ns.is_empty() => ns.to_string(),
        _ if !context_default.is_empty() => context_default.to_string(),
        _ => "default".to_string(),
    }
}

pub async fn connect(args: &KubeArgs) -> Result<Kube, CliError> {
    // kube's TLS stack needs a process-wide crypto provider; a second install is a no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| CliError::Kubeconfig(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| CliError::Kubeconfig(e.to_string()))?
        }
        // A context only exists in a kubeconfig (KUBECONFIG, merged, or ~/.kube/config).
        (None, Some(_)) => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| CliError::Kubeconfig(e.to_string()))?,
        // kubeconfig first, then the in-cluster service account, like kubectl.
        (None, None) => Config::infer()
            .await
            .map_err(|e| CliError::Kubeconfig(e.to_string()))?,
    };
    let namespace = resolve_namespace(args.namespace.as_deref(), &config.default_namespace);
    let client = Client::try_from(config)?;
    Ok(Kube { client, namespace })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_flag_wins_over_the_context() {
        assert_eq!(resolve_namespace(Some("ops"), "team"), "ops");
    }

    #[test]
    fn without_a_flag_the_context_namespace_is_used_else_default() {
        assert_eq!(resolve_namespace(None, "team"), "team");
        assert_eq!(resolve_namespace(None, ""), "default");
        assert_eq!(resolve_namespace(Some(""), ""), "default");
    }
}
