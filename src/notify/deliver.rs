//! Posting payloads: one POST at a time ([`post_once`]) for the controller, which records
//! each try in the run's status so a restart neither loses nor repeats a delivery, and a
//! simple retry loop ([`deliver`]) for callers that can wait.
//!
//! Webhook URLs are secrets (whoever has one can post to the channel): they never appear in
//! errors, which name only the scheme and host ([`redact`]).

use std::time::Duration;

use chrono::Utc;
use reqwest::{Client, Url};
use serde_json::Value;

use super::policy::{AttemptOutcome, Verdict, is_permanent, judge_within};

pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Retrying cannot help (4xx other than 408/429, a redirect, an invalid URL).
    #[error("{target} refused the notification after {tries} {}: {reason}", tries_noun(*.tries))]
    Rejected {
        target: String,
        tries: u32,
        reason: String,
    },
    /// Still failing when the time budget ran out.
    #[error("{target} could not be reached after {tries} {}: {reason}", tries_noun(*.tries))]
    Exhausted {
        target: String,
        tries: u32,
        reason: String,
    },
}

impl DeliveryError {
    /// Stable snake_case name for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            DeliveryError::Client(_) => "client",
            DeliveryError::Rejected { .. } => "rejected",
            DeliveryError::Exhausted { .. } => "exhausted",
        }
    }
}

fn tries_noun(n: u32) -> &'static str {
    if n == 1 { "try" } else { "tries" }
}

/// The client for all deliveries: 15 s per request, 5 s to connect, no redirects (a POST
/// redirected elsewhere would carry the payload to a host nobody configured).
pub fn http_client() -> Result<Client, DeliveryError> {
    client_with_timeouts(REQUEST_TIMEOUT, CONNECT_TIMEOUT)
}

pub(crate) fn client_with_timeouts(
    request: Duration,
    connect: Duration,
) -> Result<Client, DeliveryError> {
    // reqwest is built without a bundled crypto provider and panics on build without one;
    // installing ring is a no-op when the binary already installed a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(request)
        .connect_timeout(connect)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("runwisp-operator/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DeliveryError::Client(e.without_url().to_string()))
}

/// One POST of `body` as JSON to `url`. Never retries; see [`super::policy::judge`].
pub async fn post_once(client: &Client, url: &str, body: &Value) -> AttemptOutcome {
    let Some(parsed) = http_url(url) else {
        return AttemptOutcome::Invalid("the webhook URL is not a valid http(s) URL".to_string());
    };
    match client.post(parsed).json(body).send().await {
        Ok(resp) => {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            AttemptOutcome::Status(resp.status().as_u16(), retry_after)
        }
        Err(e) if e.is_timeout() => AttemptOutcome::Timeout,
        Err(e) if e.is_builder() => AttemptOutcome::Invalid(describe(e, url)),
        Err(e) => AttemptOutcome::Network(describe(e, url)),
    }
}

/// POSTs until delivered, permanently refused, or `max_elapsed` would be passed; returns
/// the number of tries. Sleeps between tries, so only for callers that can wait.
pub async fn deliver(
    client: &Client,
    url: &str,
    body: &Value,
    max_elapsed: Duration,
) -> Result<u32, DeliveryError> {
    let start = tokio::time::Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = post_once(client, url, body).await;
        match judge_within(&outcome, tries, start.elapsed(), Utc::now(), max_elapsed) {
            Verdict::Delivered => return Ok(tries),
            Verdict::RetryAfter(wait) => tokio::time::sleep(wait).await,
            Verdict::GiveUp(reason) => {
                let target = redact(url);
                return Err(if is_permanent(&outcome) {
                    DeliveryError::Rejected {
                        target,
                        tries,
                        reason,
                    }
                } else {
                    DeliveryError::Exhausted {
                        target,
                        tries,
                        reason,
                    }
                });
            }
        }
    }
}

/// A webhook URL safe to show: scheme, host and port, then "…"
/// (`https://hooks.slack.com/…`). Anything unparsable is `<invalid URL>`.
pub fn redact(url: &str) -> String {
    match http_url(url) {
        Some(u) => {
            let host = u.host_str().unwrap_or_default();
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        }
        None => "<invalid URL>".to_string(),
    }
}

fn http_url(url: &str) -> Option<Url> {
    Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// What went wrong, from the error's kind and its sources, without the URL.
fn describe(e: reqwest::Error, url: &str) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_builder() {
        "invalid request"
    } else if e.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    let e = e.without_url();
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    scrub(&msg, url)
}

/// Belt and braces: removes the URL, its path and its credentials should a lower layer
/// have quoted them.
fn scrub(msg: &str, url: &str) -> String {
    let mut out = msg.replace(url, "…");
    if let Some(u) = http_url(url) {
        let path = u.path();
        if path.len() > 1 {
            out = out.replace(path, "/…");
        }
        if let Some(q) = u.query().filter(|q| !q.is_empty()) {
            out = out.replace(q, "…");
        }
        if let Some(p) = u.password().filter(|p| !p.is_empty()) {
            out = out.replace(p, "…");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use serde_json::json;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    const SECRET_PATH: &str = "/services/T0001/B0002/s3cretT0ken";

    #[derive(Clone)]
    struct Reply {
        status: u16,
        retry_after: Option<&'static str>,
        delay: Duration,
    }

    fn reply(status: u16) -> Reply {
        Reply {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }

    #[derive(Default)]
    struct Server {
        script: Mutex<VecDeque<Reply>>,
        seen: Mutex<Vec<(Instant, String, Value)>>,
    }

    impl Server {
        fn seen(&self) -> Vec<(Instant, String, Value)> {
            self.seen.lock().expect("lock").clone()
        }
    }

    async fn handle(
        State(s): State<Arc<Server>>,
        uri: Uri,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, &'static str) {
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        s.seen
            .lock()
            .expect("lock")
            .push((Instant::now(), uri.path().to_string(), json));
        let r = s
            .script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| reply(200));
        tokio::time::sleep(r.delay).await;
        let mut headers = HeaderMap::new();
        if let Some(v) = r.retry_after {
            headers.insert("retry-after", v.parse().expect("header value"));
        }
        (
            StatusCode::from_u16(r.status).expect("status"),
            headers,
            "ok",
        )
    }

    /// A local server answering with `script` in order (then 200); returns the webhook URL.
    async fn serve(script: Vec<Reply>) -> (String, Arc<Server>) {
        let state = Arc::new(Server {
            script: Mutex::new(script.into()),
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}{SECRET_PATH}"), state)
    }

    fn body() -> Value {
        json!({"text": "hello"})
    }

    #[tokio::test]
    async fn ok_is_delivered_with_one_post_of_the_body() {
        let (url, server) = serve(vec![reply(200)]).await;
        let tries = deliver(
            &http_client().expect("client"),
            &url,
            &body(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(tries.expect("delivered"), 1);
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, SECRET_PATH);
        assert_eq!(seen[0].2, body());
    }

    #[tokio::test]
    async fn too_many_requests_waits_for_retry_after_then_delivers() {
        let (url, server) = serve(vec![
            Reply {
                status: 429,
                retry_after: Some("2"),
                delay: Duration::ZERO,
            },
            reply(200),
        ])
        .await;
        let tries = deliver(
            &http_client().expect("client"),
            &url,
            &body(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(tries.expect("delivered"), 2);
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].0 - seen[0].0 >= Duration::from_secs(2));
    }

    #[tokio::test]
    async fn not_found_gives_up_after_one_try_without_leaking_the_url() {
        let (url, server) = serve(vec![reply(404)]).await;
        let err = deliver(
            &http_client().expect("client"),
            &url,
            &body(),
            Duration::from_secs(30),
        )
        .await
        .expect_err("permanent");
        assert_eq!(server.seen().len(), 1);
        assert_eq!(err.label(), "rejected");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("s3cretT0ken") && !shown.contains("/services"),
            "{shown}"
        );
        assert!(shown.contains("HTTP 404"), "{shown}");
    }

    #[tokio::test]
    async fn server_error_is_retried_until_delivered() {
        let (url, server) = serve(vec![reply(500), reply(200)]).await;
        let tries = deliver(
            &http_client().expect("client"),
            &url,
            &body(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(tries.expect("delivered"), 2);
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn a_slow_server_is_a_timeout() {
        let (url, _server) = serve(vec![Reply {
            status: 200,
            retry_after: None,
            delay: Duration::from_secs(3),
        }])
        .await;
        let client =
            client_with_timeouts(Duration::from_millis(200), CONNECT_TIMEOUT).expect("client");
        assert_eq!(
            post_once(&client, &url, &body()).await,
            AttemptOutcome::Timeout
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_network_error_without_the_url() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let url = format!("http://{addr}{SECRET_PATH}");
        let err = deliver(
            &http_client().expect("client"),
            &url,
            &body(),
            Duration::ZERO,
        )
        .await
        .expect_err("unreachable");
        assert_eq!(err.label(), "exhausted");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cretT0ken"), "{shown}");
        assert!(shown.contains("network error"), "{shown}");
    }

    #[tokio::test]
    async fn a_url_that_is_not_http_is_rejected_without_a_request() {
        let err = deliver(
            &http_client().expect("client"),
            "ftp://x/secret",
            &body(),
            Duration::from_secs(30),
        )
        .await
        .expect_err("invalid");
        assert_eq!(err.label(), "rejected");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn redact_keeps_only_scheme_and_host() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0001/B0002/s3cretT0ken"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("http://user:pw@127.0.0.1:8080/x?token=y"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(redact("not a url s3cret"), "<invalid URL>");
    }

    #[test]
    fn scrub_removes_the_path_and_credentials() {
        let url = "https://u:pw123@h.example/p/s3cret?k=v";
        let got = scrub("failed for https://h.example/p/s3cret?k=v with pw123", url);
        assert!(
            !got.contains("s3cret") && !got.contains("pw123") && !got.contains("k=v"),
            "{got}"
        );
    }

    #[test]
    fn http_client_builds_whatever_provider_is_installed() {
        assert!(http_client().is_ok());
    }
}
