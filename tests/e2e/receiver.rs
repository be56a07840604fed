//! A local HTTP server standing in for Slack's incoming-webhook endpoint: it records every
//! POST (what a real Slack would receive) and answers with a scripted sequence of statuses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub body: serde_json::Value,
    /// The status this request was answered with.
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<(u16, Option<String>)>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl Receiver {
    /// Starts a receiver answering `script` in order (each `(status, Retry-After)`), then 200.
    pub async fn start(script: &[(u16, Option<&str>)]) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            script: script
                .iter()
                .map(|(s, r)| (*s, r.map(String::from)))
                .collect(),
            received: Vec::new(),
        }));
        let app = Router::new()
            .route("/services/{*rest}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { inner, addr }
    }

    /// The URL a notifier's Secret holds (shaped like a Slack webhook: the path is the secret).
    pub fn url(&self) -> String {
        format!("http://{}/services/T000/B000/s3cr3t-token", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner
            .lock()
            .map(|g| g.received.clone())
            .unwrap_or_default()
    }

    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    _headers: HeaderMap,
    body: String,
) -> (StatusCode, HeaderMap, &'static str) {
    let mut g = match inner.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let (status, retry_after) = g.script.pop_front().unwrap_or((200, None));
    g.received.push(Received {
        at: Instant::now(),
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        answered: status,
    });
    let mut headers = HeaderMap::new();
    if let Some(ra) = retry_after {
        if let Ok(v) = ra.parse() {
            headers.insert("retry-after", v);
        }
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        headers,
        "ok",
    )
}
