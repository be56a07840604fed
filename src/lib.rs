//! runwisp-operator: RunWisp-style scheduled tasks as Kubernetes custom resources.
//!
//! Pure decision logic (schedule, firing, admission, lifecycle, retry, outcome, retention,
//! names, notify routing and payloads) takes observed state and `now` and returns what to do;
//! the `controller` module reads, decides and applies.

pub mod admission;
pub mod api;
pub mod cli;
pub mod config;
pub mod controller;
pub mod duration;
pub mod error;
pub mod firing;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod names;
pub mod notify;
pub mod outcome;
pub mod podspec;
pub mod retention;
pub mod retry;
pub mod schedule;
pub mod server;
pub mod statuswrite;
pub mod taskdef;
pub mod time;
