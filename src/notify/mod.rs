//! Notifications: which notifiers get an event, what the message says, and delivering it.
//!
//! Pure parts, with the clock passed in: [`event`] (kinds and severities), [`route`]
//! (recipients), [`slack`] and [`webhook`] (payloads), [`policy`] (retry decisions) and
//! [`coalesce`] (folding repeated failures). The one side effect is [`deliver`]: one POST
//! per call, so the controller can record each try in `RunWispRun.status.notifications`
//! and a restart neither loses nor repeats a delivery.
//!
//! Webhook URLs are secrets: nothing here logs them or puts them in an error or a message.
//!
//! Flow for one event: [`route::recipients`] → per notifier, [`coalesce::Coalescer::offer`]
//! (for [`coalesce::coalescible`] kinds) → [`slack::render`] or [`webhook::render`] →
//! [`deliver::post_once`] → [`policy::judge`] → record, and requeue after the wait.

pub mod coalesce;
pub mod deliver;
pub mod event;
pub mod policy;
pub mod route;
pub mod slack;
mod text;
pub mod webhook;

pub use coalesce::{CoalesceKey, Coalescer, Offer, Summary};
pub use deliver::{DeliveryError, http_client, post_once, redact};
pub use event::{RunEvent, event_for_end, kind_name, severity};
pub use policy::{AttemptOutcome, Verdict, judge};
pub use route::{check_routes, missing_notifiers, recipients};
