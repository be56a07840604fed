//! Which notifiers receive an event.
//!
//! A notifier receives an event when the task names it in `notifyOnFailure` (for the failure
//! kinds) or `notifyOnSuccess` (for `run.succeeded`), or when any of its own `routes[]`
//! matches. Matches are unioned: each notifier gets exactly one message per event.

use std::collections::BTreeSet;

use glob::Pattern;

use super::event::{RunEvent, severity};
use crate::api::{EventKind, Route, RunWispNotifierSpec};

/// What `notifyOnFailure` desugars to. RunWisp's newer versions include `run.missed`, and a
/// missed tick is failure-level, so it is here too.
pub const FAILURE_KINDS: [EventKind; 4] = [
    EventKind::RunFailed,
    EventKind::RunTimeout,
    EventKind::RunCrashed,
    EventKind::RunMissed,
];

/// What `notifyOnSuccess` desugars to.
pub const SUCCESS_KINDS: [EventKind; 1] = [EventKind::RunSucceeded];

/// The notifiers (by name, sorted, without duplicates) that receive `event`.
///
/// `notify_on_failure`/`notify_on_success` are the task's lists; names there that are not
/// among `notifiers` are dropped (see [`missing_notifiers`] for the task's condition).
/// `notify.delivery_failed` is never sent to the notifier that failed
/// (`event.failed_notifier`): it would fail again and report itself in a loop.
pub fn recipients(
    event: &RunEvent,
    notify_on_failure: &[String],
    notify_on_success: &[String],
    notifiers: &[(&str, &RunWispNotifierSpec)],
) -> Vec<String> {
    let named_by_task = |name: &str| {
        (FAILURE_KINDS.contains(&event.kind) && notify_on_failure.iter().any(|n| n == name))
            || (SUCCESS_KINDS.contains(&event.kind) && notify_on_success.iter().any(|n| n == name))
    };
    let out: BTreeSet<String> = notifiers
        .iter()
        .filter(|(name, _)| {
            !(event.kind == EventKind::DeliveryFailed
                && event.failed_notifier.as_deref() == Some(*name))
        })
        .filter(|(name, spec)| {
            named_by_task(name) || spec.routes.iter().any(|r| route_matches(r, event))
        })
        .map(|(name, _)| (*name).to_string())
        .collect();
    out.into_iter().collect()
}

/// Whether one route matches: its kinds (empty = every kind but `run.started`), its task
/// glob (absent = every task; invalid = none) and its minimum severity.
///
/// `run.started` is opt-in, as in RunWisp: a route gets it only by listing it, so a
/// catch-all route does not post every start.
pub fn route_matches(route: &Route, event: &RunEvent) -> bool {
    let kind_ok = if route.events.is_empty() {
        event.kind != EventKind::RunStarted
    } else {
        route.events.contains(&event.kind)
    };
    let task_ok = match &route.tasks {
        None => true,
        // An invalid glob matches nothing; `check_routes` reports it in a condition.
        Some(glob) => Pattern::new(glob).is_ok_and(|p| p.matches(&event.task)),
    };
    let severity_ok = route
        .min_severity
        .is_none_or(|min| min <= severity(event.kind));
    kind_ok && task_ok && severity_ok
}

/// Problems with a notifier's routes, one line each, for its status condition.
pub fn check_routes(spec: &RunWispNotifierSpec) -> Result<(), String> {
    let problems: Vec<String> = spec
        .routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let glob = r.tasks.as_deref()?;
            Pattern::new(glob)
                .err()
                .map(|e| format!("routes[{i}].tasks: invalid glob {glob:?}: {}", e.msg))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Names a task lists (`notifyOnFailure` + `notifyOnSuccess`) that are not among
/// `notifiers`, sorted and without duplicates, for the task's condition.
pub fn missing_notifiers(
    task_names: &[String],
    notifiers: &[(&str, &RunWispNotifierSpec)],
) -> Vec<String> {
    let missing: BTreeSet<&String> = task_names
        .iter()
        .filter(|n| !notifiers.iter().any(|(name, _)| name == n))
        .collect();
    missing.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Severity;
    use crate::notify::event::ALL_KINDS;

    fn event(kind: EventKind, task: &str) -> RunEvent {
        RunEvent {
            kind,
            namespace: "prod".into(),
            task: task.into(),
            run: format!("{task}-20240101-0230"),
            trigger: "cron".into(),
            scheduled_time: None,
            started: None,
            finished: None,
            attempt: 1,
            max_attempts: 1,
            exit_code: None,
            end_reason: None,
            message: None,
            output_tail: None,
            missed_count: None,
            failed_notifier: None,
        }
    }

    fn spec(routes: Vec<Route>) -> RunWispNotifierSpec {
        RunWispNotifierSpec {
            routes,
            ..Default::default()
        }
    }

    fn route(events: &[EventKind], tasks: Option<&str>, min: Option<Severity>) -> Route {
        Route {
            events: events.to_vec(),
            tasks: tasks.map(str::to_string),
            min_severity: min,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn notify_on_failure_receives_every_failure_kind() {
        let plain = spec(vec![]);
        let notifiers = [("slack-ops", &plain)];
        for kind in FAILURE_KINDS {
            let got = recipients(
                &event(kind, "backup"),
                &names(&["slack-ops"]),
                &[],
                &notifiers,
            );
            assert_eq!(got, names(&["slack-ops"]), "{kind:?}");
        }
    }

    #[test]
    fn notify_on_failure_ignores_success_stop_and_start() {
        let plain = spec(vec![]);
        let notifiers = [("slack-ops", &plain)];
        for kind in [
            EventKind::RunSucceeded,
            EventKind::RunStopped,
            EventKind::RunStarted,
        ] {
            let got = recipients(
                &event(kind, "backup"),
                &names(&["slack-ops"]),
                &[],
                &notifiers,
            );
            assert!(got.is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn notify_on_success_receives_only_success() {
        let plain = spec(vec![]);
        let notifiers = [("slack-ok", &plain)];
        for kind in ALL_KINDS {
            let got = recipients(
                &event(kind, "backup"),
                &[],
                &names(&["slack-ok"]),
                &notifiers,
            );
            assert_eq!(!got.is_empty(), kind == EventKind::RunSucceeded, "{kind:?}");
        }
    }

    #[test]
    fn a_notifier_named_by_the_task_and_matched_by_a_route_gets_one_message() {
        let routed = spec(vec![
            route(&[EventKind::RunFailed], None, None),
            route(&[], Some("backup-*"), None),
        ]);
        let notifiers = [("slack-ops", &routed)];
        let got = recipients(
            &event(EventKind::RunFailed, "backup-postgres"),
            &names(&["slack-ops", "slack-ops"]),
            &[],
            &notifiers,
        );
        assert_eq!(got, names(&["slack-ops"]));
    }

    #[test]
    fn recipients_are_sorted() {
        let plain = spec(vec![]);
        let notifiers = [("zeta", &plain), ("alpha", &plain), ("mid", &plain)];
        let got = recipients(
            &event(EventKind::RunFailed, "t"),
            &names(&["mid", "zeta", "alpha"]),
            &[],
            &notifiers,
        );
        assert_eq!(got, names(&["alpha", "mid", "zeta"]));
    }

    #[test]
    fn names_the_task_lists_but_that_do_not_exist_are_dropped() {
        let plain = spec(vec![]);
        let notifiers = [("slack-ops", &plain)];
        let got = recipients(
            &event(EventKind::RunFailed, "t"),
            &names(&["slack-ops", "ghost"]),
            &[],
            &notifiers,
        );
        assert_eq!(got, names(&["slack-ops"]));
    }

    #[test]
    fn route_with_no_events_matches_every_kind_but_started() {
        let r = route(&[], None, None);
        for kind in ALL_KINDS {
            assert_eq!(
                route_matches(&r, &event(kind, "t")),
                kind != EventKind::RunStarted,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn run_started_is_delivered_when_a_route_lists_it() {
        let r = route(&[EventKind::RunStarted], None, None);
        assert!(route_matches(&r, &event(EventKind::RunStarted, "t")));
    }

    #[test]
    fn route_events_restrict_the_kinds() {
        let r = route(&[EventKind::RunTimeout], None, None);
        assert!(route_matches(&r, &event(EventKind::RunTimeout, "t")));
        assert!(!route_matches(&r, &event(EventKind::RunFailed, "t")));
    }

    #[test]
    fn route_task_glob_selects_tasks() {
        let r = route(&[], Some("backup-*"), None);
        assert!(route_matches(
            &r,
            &event(EventKind::RunFailed, "backup-postgres")
        ));
        assert!(!route_matches(
            &r,
            &event(EventKind::RunFailed, "report-daily")
        ));
    }

    #[test]
    fn an_invalid_glob_matches_nothing() {
        let r = route(&[], Some("backup-[abc"), None);
        assert!(!route_matches(
            &r,
            &event(EventKind::RunFailed, "backup-[abc")
        ));
        assert!(!route_matches(&r, &event(EventKind::RunFailed, "backup-a")));
    }

    #[test]
    fn min_severity_is_inclusive() {
        let warn = route(&[], None, Some(Severity::Warn));
        assert!(route_matches(&warn, &event(EventKind::RunStopped, "t")));
        assert!(route_matches(&warn, &event(EventKind::RunFailed, "t")));
        assert!(!route_matches(&warn, &event(EventKind::RunSucceeded, "t")));
    }

    #[test]
    fn delivery_failed_is_never_routed_to_the_notifier_that_failed() {
        let catch_all = spec(vec![route(&[], None, None)]);
        let notifiers = [("broken", &catch_all), ("backup", &catch_all)];
        let mut e = event(EventKind::DeliveryFailed, "t");
        e.failed_notifier = Some("broken".into());
        assert_eq!(recipients(&e, &[], &[], &notifiers), names(&["backup"]));
    }

    #[test]
    fn check_routes_accepts_valid_globs() {
        let s = spec(vec![
            route(&[], Some("backup-*"), None),
            route(&[], None, None),
        ]);
        assert_eq!(check_routes(&s), Ok(()));
    }

    #[test]
    fn check_routes_names_the_route_with_an_invalid_glob() {
        let s = spec(vec![
            route(&[], Some("ok-*"), None),
            route(&[], Some("bad-[x"), None),
        ]);
        let err = check_routes(&s).expect_err("invalid glob");
        assert!(
            err.starts_with("routes[1].tasks: invalid glob \"bad-[x\""),
            "{err}"
        );
    }

    #[test]
    fn missing_notifiers_lists_unknown_names_once_sorted() {
        let plain = spec(vec![]);
        let notifiers = [("slack-ops", &plain)];
        let got = missing_notifiers(&names(&["zz", "slack-ops", "aa", "zz"]), &notifiers);
        assert_eq!(got, names(&["aa", "zz"]));
    }
}
