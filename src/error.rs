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
            Error::Kube(e) if is_namespace_terminating(e) => "namespace_terminating",
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

impl Error {
    /// The namespace is being deleted: its objects go with it, so there is nothing to do or report.
    pub fn is_namespace_terminating(&self) -> bool {
        matches!(self, Error::Kube(e) if is_namespace_terminating(e))
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

/// The apiserver's NamespaceLifecycle refusal (403): no new objects in a namespace being deleted.
/// Not an RBAC denial and not the user's fault; the status carries no machine-readable cause in
/// every version, so the message is matched.
pub fn is_namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("because it is being terminated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn a_refusal_in_a_terminating_namespace_is_recognised_and_labelled() {
        let e = Error::Kube(api(
            403,
            "Forbidden",
            r#"pods "t-1" is forbidden: unable to create new content in namespace e2e-x because it is being terminated"#,
        ));
        assert!(e.is_namespace_terminating());
        assert_eq!(e.label(), "namespace_terminating");
    }

    #[test]
    fn an_rbac_denial_is_not_a_terminating_namespace() {
        let e = Error::Kube(api(
            403,
            "Forbidden",
            r#"pods is forbidden: User "system:serviceaccount:x:y" cannot create resource "pods""#,
        ));
        assert!(!e.is_namespace_terminating());
        assert_eq!(e.label(), "api_status");
    }
}
