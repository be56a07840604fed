//! Errors of the controller layer. Each variant has a stable label for metrics and logs.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot build the attempt pod: {0}")]
    PodSpec(String),
    #[error("watch caches never became ready: {0}")]
    CacheNotReady(String),
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl Error {
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.reason == "Conflict" => "conflict",
            Error::Kube(kube::Error::Api(_)) => "api_status",
            Error::Kube(_) => "kube_client",
            Error::Encode { .. } => "encode",
            Error::PodSpec(_) => "pod_spec",
            Error::CacheNotReady(_) => "cache_not_ready",
            Error::MissingField(_) => "missing_field",
            Error::Http(_) => "http_client",
        }
    }

    /// A write lost an optimistic-concurrency race with a newer version: just reconcile again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.reason == "Conflict")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a kube error is the apiserver's "already exists" (a create that lost to ourselves).
pub fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_already_exists())
}

pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}
