//! Slack incoming-webhook payloads (Block Kit), within Slack's size limits.
//!
//! Every piece of text from users or processes is escaped (so output cannot mention
//! `@channel` or forge links) and cut to fit; see [`check_limits`] for the limits.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::event::{RunEvent, kind_name};
use super::text::{fit, fit_escaped, output_tail, units};
use crate::api::EventKind;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_HEADER: usize = 150;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD: usize = 2000;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_ACTIONS: usize = 25;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_URL: usize = 3000;
/// Slack accepts far more, but the preview is shown in notifications: keep it readable.
pub const MAX_TEXT: usize = 3000;
/// The run's message is meant to be a line or two; the output has its own section.
pub const MAX_MESSAGE: usize = 1000;
/// Lines of output shown; the section-size limit may cut further.
pub const MAX_TAIL_LINES: usize = 40;

const TAIL_HEADING: &str = "*Output* (last lines)\n```\n";
const TAIL_CLOSE: &str = "\n```";

/// The message for one event. `run_url_base` adds a "View run" button linking to
/// `<base>/namespaces/<ns>/runs/<run>` (only for an http(s) base); `operator` names the
/// sender in the footer.
pub fn render(event: &RunEvent, run_url_base: Option<&str>, operator: &str) -> Value {
    let what = what_happened(event);
    let mut blocks = vec![header(&event.task, &what)];

    let fields = fields(event);
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(msg) = event.message.as_deref().filter(|m| !m.trim().is_empty()) {
        blocks.push(mrkdwn_section(fit_escaped(msg.trim(), MAX_MESSAGE)));
    }
    if shows_output(event.kind) {
        let room = MAX_SECTION_TEXT - units(TAIL_HEADING) - units(TAIL_CLOSE);
        if let Some(tail) = event
            .output_tail
            .as_deref()
            .and_then(|t| output_tail(t, MAX_TAIL_LINES, room))
        {
            blocks.push(mrkdwn_section(format!("{TAIL_HEADING}{tail}{TAIL_CLOSE}")));
        }
    }
    if let Some(url) = run_url_base.and_then(|b| run_url(b, &event.namespace, &event.run)) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "View run"},
                "url": url,
                "action_id": "view_run",
            }],
        }));
    }
    blocks.push(footer(&event.namespace, Some(&event.run), operator));

    let preview = format!("{} {} {}", emoji(event.kind), event.task, what);
    let preview = match (event.kind, event.exit_code, duration(event)) {
        (EventKind::RunFailed, Some(code), _) => format!("{preview} (exit {code})"),
        (EventKind::RunTimeout, _, Some(d)) => format!("{preview} after {d}"),
        _ => preview,
    };
    json!({"text": fit_escaped(&preview, MAX_TEXT), "blocks": blocks})
}

/// The message sent at the end of a coalescing window: `count` more events of `kind` for
/// `task` were folded, the first at `first` and the last at `last`.
pub fn render_summary(
    task: &str,
    kind: EventKind,
    count: u32,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    namespace: &str,
    operator: &str,
) -> Value {
    let what = format!("{count} more {}", noun(kind, count));
    let preview = format!(
        ":repeat: {what} of {task} ({}) {}",
        kind_name(kind),
        span_text(first, last)
    );
    let fields = vec![
        field("Event", &format!("`{}`", kind_name(kind))),
        field("Count", &count.to_string()),
        field("First", &slack_date(first)),
        field("Last", &slack_date(last)),
    ];
    let blocks = vec![
        header(task, &format!("– {what}")),
        json!({"type": "section", "fields": fields}),
        footer(namespace, None, operator),
    ];
    json!({"text": fit_escaped(&preview, MAX_TEXT), "blocks": blocks})
}

/// Checks `payload` against Slack's Block Kit limits; the error lists every problem.
pub fn check_limits(payload: &Value) -> Result<(), String> {
    let mut c = LimitCheck::default();
    let len = |v: &Value| v.as_str().map(units).unwrap_or(0);
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();

    match payload.get("text").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => c.max("text", units(t), MAX_TEXT),
        _ => c.fail("text is missing or blank".into()),
    }
    let blocks = list(&payload["blocks"]);
    c.max("blocks", blocks.len(), MAX_BLOCKS);
    for (i, b) in blocks.iter().enumerate() {
        let at = |what: &str| format!("blocks[{i}]{what}");
        match b["type"].as_str().unwrap_or("") {
            "header" => c.max(&at(".text"), len(&b["text"]["text"]), MAX_HEADER),
            "section" => {
                c.max(&at(".text"), len(&b["text"]["text"]), MAX_SECTION_TEXT);
                let fields = list(&b["fields"]);
                c.max(&at(".fields"), fields.len(), MAX_FIELDS);
                for (j, f) in fields.iter().enumerate() {
                    c.max(&at(&format!(".fields[{j}]")), len(&f["text"]), MAX_FIELD);
                }
            }
            "context" => {
                let els = list(&b["elements"]);
                c.max(&at(".elements"), els.len(), MAX_CONTEXT_ELEMENTS);
                for (j, e) in els.iter().enumerate() {
                    c.max(
                        &at(&format!(".elements[{j}]")),
                        len(&e["text"]),
                        MAX_SECTION_TEXT,
                    );
                }
            }
            "actions" => {
                let els = list(&b["elements"]);
                c.max(&at(".elements"), els.len(), MAX_ACTIONS);
                for (j, e) in els.iter().enumerate() {
                    c.max(
                        &at(&format!(".elements[{j}].text")),
                        len(&e["text"]["text"]),
                        MAX_BUTTON_TEXT,
                    );
                    c.max(&at(&format!(".elements[{j}].url")), len(&e["url"]), MAX_URL);
                }
            }
            // A block type this module never emits.
            other => c.fail(format!("{}: unexpected type {other:?}", at(""))),
        }
    }
    c.into_result()
}

#[derive(Default)]
struct LimitCheck {
    problems: Vec<String>,
}

impl LimitCheck {
    fn max(&mut self, what: &str, len: usize, max: usize) {
        if len > max {
            self.problems.push(format!("{what}: {len} > {max}"));
        }
    }

    fn fail(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn into_result(self) -> Result<(), String> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems.join("; "))
        }
    }
}

/// "failed", "timed out", … — what the header says after the task name.
fn what_happened(event: &RunEvent) -> String {
    match event.kind {
        EventKind::RunStarted => "started".into(),
        EventKind::RunSucceeded => "succeeded".into(),
        EventKind::RunFailed => match event.end_reason.as_deref() {
            Some("start_failed") => "could not start".into(),
            Some("queue_full") => "was dropped: queue full".into(),
            _ => "failed".into(),
        },
        EventKind::RunTimeout => "timed out".into(),
        EventKind::RunStopped => "was stopped".into(),
        EventKind::RunCrashed => "crashed".into(),
        EventKind::RunMissed => match event.missed_count {
            Some(n) if n != 1 => format!("missed {n} runs"),
            _ => "missed a run".into(),
        },
        EventKind::DeliveryFailed => "alert could not be delivered".into(),
    }
}

fn emoji(kind: EventKind) -> &'static str {
    match kind {
        EventKind::RunStarted => ":arrow_forward:",
        EventKind::RunSucceeded => ":white_check_mark:",
        EventKind::RunFailed => ":x:",
        EventKind::RunTimeout => ":hourglass:",
        EventKind::RunStopped => ":octagonal_sign:",
        EventKind::RunCrashed => ":boom:",
        EventKind::RunMissed | EventKind::DeliveryFailed => ":warning:",
    }
}

/// The output tail is worth showing where the output explains what went wrong.
fn shows_output(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::RunFailed | EventKind::RunTimeout | EventKind::RunCrashed
    )
}

/// The end reason that goes without saying for a kind; any other is shown as a field.
fn usual_end(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::RunSucceeded => Some("success"),
        EventKind::RunFailed => Some("failed"),
        EventKind::RunTimeout => Some("timeout"),
        EventKind::RunStopped => Some("stopped"),
        EventKind::RunCrashed => Some("crashed"),
        EventKind::RunMissed => Some("missed"),
        EventKind::RunStarted | EventKind::DeliveryFailed => None,
    }
}

/// Header `<task> <what>`, shortening the task name (not `what`) to fit.
fn header(task: &str, what: &str) -> Value {
    let suffix = format!(" {what}");
    let task = fit(task, MAX_HEADER.saturating_sub(units(&suffix)));
    json!({
        "type": "header",
        "text": {"type": "plain_text", "text": fit(&format!("{task}{suffix}"), MAX_HEADER), "emoji": true},
    })
}

fn fields(event: &RunEvent) -> Vec<Value> {
    let mut out = Vec::new();
    if !event.trigger.is_empty() {
        out.push(field_raw("Trigger", &event.trigger));
    }
    if let Some(t) = event.scheduled_time {
        out.push(field("Scheduled", &slack_date(t)));
    } else if let Some(t) = event.started {
        out.push(field("Started", &slack_date(t)));
    }
    if let Some(d) = duration(event) {
        out.push(field("Duration", &d));
    }
    if event.attempt > 0 {
        let a = if event.max_attempts >= event.attempt {
            format!("{} of {}", event.attempt, event.max_attempts)
        } else {
            event.attempt.to_string()
        };
        out.push(field("Attempt", &a));
    }
    if let Some(code) = event.exit_code {
        out.push(field("Exit code", &code.to_string()));
    }
    if let Some(end) = event.end_reason.as_deref() {
        if usual_end(event.kind) != Some(end) {
            out.push(field_raw("End reason", end));
        }
    }
    if let Some(n) = event.missed_count {
        out.push(field("Missed ticks", &n.to_string()));
    }
    if let Some(n) = event.failed_notifier.as_deref() {
        out.push(field_raw("Notifier", n));
    }
    out.truncate(MAX_FIELDS);
    out
}

/// A field: bold label, newline, value. `value` is mrkdwn the caller built (short).
fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": fit(&format!("*{label}*\n{value}"), MAX_FIELD)})
}

/// A field whose value is untrusted text: escaped, then cut to fit.
fn field_raw(label: &str, value: &str) -> Value {
    let room = MAX_FIELD - units(label) - units("**\n");
    field(label, &fit_escaped(value, room))
}

fn mrkdwn_section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn footer(namespace: &str, run: Option<&str>, operator: &str) -> Value {
    // Each part is at most 300 units, so the whole stays far below the limit.
    let mut parts = vec![format!("namespace *{}*", fit_escaped(namespace, 300))];
    if let Some(run) = run {
        parts.push(format!("run {}", fit_escaped(run, 300)));
    }
    parts.push(fit_escaped(operator, 300));
    json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": parts.join(" · ")}],
    })
}

/// `<base>/namespaces/<ns>/runs/<run>`, for an http(s) base only: anything else would make
/// Slack reject the whole message.
fn run_url(base: &str, namespace: &str, run: &str) -> Option<String> {
    let base = base.trim().trim_end_matches('/');
    let lower = base.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let url = format!("{base}/namespaces/{namespace}/runs/{run}");
    (units(&url) <= MAX_URL && !url.chars().any(char::is_whitespace)).then_some(url)
}

/// Slack renders the date in each reader's time zone; the fallback is UTC.
fn slack_date(t: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        t.timestamp(),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

/// How long the run took, e.g. `3m12s`, if it started and finished.
fn duration(event: &RunEvent) -> Option<String> {
    let d = (event.finished? - event.started?).to_std().ok()?;
    Some(human_duration(d))
}

/// `3m12s`; whole seconds above one second.
fn human_duration(d: std::time::Duration) -> String {
    if d.as_secs() >= 1 {
        crate::duration::format_duration(std::time::Duration::from_secs(d.as_secs()))
    } else {
        crate::duration::format_duration(d)
    }
}

/// "between 02:31 and 02:39 UTC on 2024-01-01", or with full dates across days.
fn span_text(first: DateTime<Utc>, last: DateTime<Utc>) -> String {
    if first.date_naive() == last.date_naive() {
        if first.format("%H:%M").to_string() == last.format("%H:%M").to_string() {
            format!("at {}", first.format("%H:%M UTC on %Y-%m-%d"))
        } else {
            format!(
                "between {} and {} UTC on {}",
                first.format("%H:%M"),
                last.format("%H:%M"),
                first.format("%Y-%m-%d")
            )
        }
    } else {
        format!(
            "between {} and {}",
            first.format("%Y-%m-%d %H:%M"),
            last.format("%Y-%m-%d %H:%M UTC")
        )
    }
}

fn noun(kind: EventKind, count: u32) -> &'static str {
    let (one, many) = match kind {
        EventKind::RunStarted => ("start", "starts"),
        EventKind::RunSucceeded => ("success", "successes"),
        EventKind::RunFailed => ("failure", "failures"),
        EventKind::RunTimeout => ("timeout", "timeouts"),
        EventKind::RunStopped => ("stop", "stops"),
        EventKind::RunCrashed => ("crash", "crashes"),
        EventKind::RunMissed => ("missed-run alert", "missed-run alerts"),
        EventKind::DeliveryFailed => ("delivery failure", "delivery failures"),
    };
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 9, h, m, s)
            .single()
            .expect("valid time")
    }

    fn failed() -> RunEvent {
        RunEvent {
            kind: EventKind::RunFailed,
            namespace: "prod".into(),
            task: "backup-postgres".into(),
            run: "backup-postgres-20240309-0230".into(),
            trigger: "cron".into(),
            scheduled_time: Some(at(2, 30, 0)),
            started: Some(at(2, 30, 1)),
            finished: Some(at(2, 33, 13)),
            attempt: 2,
            max_attempts: 2,
            exit_code: Some(3),
            end_reason: Some("failed".into()),
            message: None,
            output_tail: Some(
                "Dumping app_production\n\
                 pg_dump: error: connection to server at \"db.internal\" (10.0.0.5), port 5432 failed: \
                 FATAL:  password authentication failed for user \"backup\"\n\
                 gzip: stdout: Broken pipe\n"
                    .into(),
            ),
            missed_count: None,
            failed_notifier: None,
        }
    }

    fn golden_path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src/notify/testdata/slack")
            .join(format!("{name}.json"))
    }

    /// Compares with `testdata/slack/<name>.json`; `UPDATE_GOLDEN=1` rewrites it instead.
    fn assert_golden(name: &str, payload: &Value) {
        check_limits(payload).unwrap_or_else(|e| panic!("{name} breaks Slack limits: {e}"));
        let rendered = serde_json::to_string_pretty(payload).expect("serializes") + "\n";
        let path = golden_path(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            std::fs::write(&path, &rendered).expect("write golden");
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
                path.display()
            )
        });
        assert_eq!(
            rendered,
            want,
            "{name} differs from {}; if the change is intended, rerun with UPDATE_GOLDEN=1",
            path.display()
        );
    }

    fn section_texts(payload: &Value) -> Vec<String> {
        payload["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|b| b["text"]["text"].as_str().map(str::to_string))
            .collect()
    }

    fn block_types(payload: &Value) -> Vec<String> {
        payload["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .map(|b| b["type"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn golden_failed_with_output_tail() {
        assert_golden(
            "failed_with_output_tail",
            &render(
                &failed(),
                Some("https://runwisp.example.com/"),
                "runwisp-operator",
            ),
        );
    }

    #[test]
    fn golden_timeout() {
        let mut e = failed();
        e.kind = EventKind::RunTimeout;
        e.exit_code = None;
        e.end_reason = Some("timeout".into());
        e.finished = Some(at(3, 15, 1));
        e.message = Some("Pod exceeded activeDeadlineSeconds (2700s)".into());
        e.output_tail = Some("Dumping app_production\nstill dumping table events (41%)\n".into());
        assert_golden("timeout", &render(&e, None, "runwisp-operator"));
    }

    #[test]
    fn golden_succeeded() {
        let mut e = failed();
        e.kind = EventKind::RunSucceeded;
        e.attempt = 1;
        e.exit_code = Some(0);
        e.end_reason = Some("success".into());
        e.output_tail = Some("Wrote /srv/backups/postgres/app_production.dump.gz (1.2G)\n".into());
        assert_golden(
            "succeeded",
            &render(&e, Some("https://runwisp.example.com"), "runwisp-operator"),
        );
    }

    #[test]
    fn golden_missed() {
        let e = RunEvent {
            kind: EventKind::RunMissed,
            run: "backup-postgres-20240309-0230-missed".into(),
            trigger: "cron".into(),
            scheduled_time: Some(at(2, 30, 0)),
            started: None,
            finished: None,
            attempt: 0,
            max_attempts: 2,
            exit_code: None,
            end_reason: Some("missed".into()),
            message: Some(
                "The operator was down; 3 ticks from 2024-03-07 02:30 UTC were missed".into(),
            ),
            output_tail: None,
            missed_count: Some(3),
            ..failed()
        };
        assert_golden("missed", &render(&e, None, "runwisp-operator"));
    }

    #[test]
    fn golden_huge_unicode_output_is_truncated_from_the_start() {
        let mut e = failed();
        let line = "ошибка 😀 データベース ünïcödé <&> ``` ".repeat(3);
        e.output_tail = Some((0..400).map(|i| format!("{i:04} {line}\n")).collect());
        e.message = Some("é".repeat(5000));
        let p = render(&e, None, "runwisp-operator");
        assert_golden("huge_unicode_output", &p);
        let tail = section_texts(&p).pop().expect("tail section");
        assert!(tail.contains("0399 "), "the last line is kept");
        assert!(!tail.contains("0000 "), "the first line is dropped");
        assert!(tail.contains("```\n…\n"), "the cut is marked");
        assert!(
            units(&tail) > MAX_SECTION_TEXT - 200,
            "the cut is by size, not lines"
        );
    }

    #[test]
    fn golden_long_task_name_is_shortened_in_the_header() {
        let mut e = failed();
        e.task = "t".repeat(300);
        e.run = format!("{}-20240309-0230", "t".repeat(200));
        let p = render(&e, None, "runwisp-operator");
        assert_golden("long_task_name", &p);
        let header = p["blocks"][0]["text"]["text"].as_str().expect("header");
        assert!(header.ends_with("… failed"), "{header}");
    }

    #[test]
    fn golden_summary() {
        let p = render_summary(
            "backup-postgres",
            EventKind::RunFailed,
            3,
            at(2, 31, 0),
            at(2, 39, 30),
            "prod",
            "runwisp-operator",
        );
        assert_golden("summary", &p);
    }

    #[test]
    fn preview_text_says_what_failed_and_the_exit_code() {
        let p = render(&failed(), None, "op");
        assert_eq!(p["text"], ":x: backup-postgres failed (exit 3)");
    }

    #[test]
    fn header_names_the_task_and_what_happened() {
        let p = render(&failed(), None, "op");
        assert_eq!(p["blocks"][0]["type"], "header");
        assert_eq!(p["blocks"][0]["text"]["text"], "backup-postgres failed");
    }

    #[test]
    fn button_appears_only_with_a_base_url() {
        assert!(!block_types(&render(&failed(), None, "op")).contains(&"actions".to_string()));
        let p = render(&failed(), Some("https://ui.example.com/"), "op");
        let actions = p["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .find(|b| b["type"] == "actions")
            .expect("actions block")
            .clone();
        assert_eq!(
            actions["elements"][0]["url"],
            "https://ui.example.com/namespaces/prod/runs/backup-postgres-20240309-0230"
        );
    }

    #[test]
    fn a_base_url_that_is_not_http_adds_no_button() {
        let p = render(&failed(), Some("javascript:alert(1)"), "op");
        assert!(!block_types(&p).contains(&"actions".to_string()));
    }

    #[test]
    fn timeout_preview_says_how_long_it_ran() {
        let mut e = failed();
        e.kind = EventKind::RunTimeout;
        assert_eq!(
            render(&e, None, "op")["text"],
            ":hourglass: backup-postgres timed out after 3m12s"
        );
    }

    #[test]
    fn a_run_that_could_not_start_says_so() {
        let mut e = failed();
        e.end_reason = Some("start_failed".into());
        e.exit_code = None;
        let p = render(&e, None, "op");
        assert_eq!(
            p["blocks"][0]["text"]["text"],
            "backup-postgres could not start"
        );
        let fields = serde_json::to_string(&p["blocks"][1]).expect("json");
        assert!(fields.contains("*End reason*\\nstart_failed"), "{fields}");
    }

    #[test]
    fn delivery_failed_names_the_notifier() {
        let mut e = failed();
        e.kind = EventKind::DeliveryFailed;
        e.failed_notifier = Some("slack-ops".into());
        let fields = serde_json::to_string(&render(&e, None, "op")["blocks"][1]).expect("json");
        assert!(fields.contains("*Notifier*\\nslack-ops"), "{fields}");
    }

    #[test]
    fn crashes_show_the_output() {
        let mut e = failed();
        e.kind = EventKind::RunCrashed;
        let p = render(&e, None, "op");
        assert!(
            section_texts(&p)
                .iter()
                .any(|t| t.starts_with(TAIL_HEADING))
        );
    }

    #[test]
    fn success_shows_no_output() {
        let mut e = failed();
        e.kind = EventKind::RunSucceeded;
        let p = render(&e, None, "op");
        assert!(!section_texts(&p).iter().any(|t| t.contains("```")));
    }

    #[test]
    fn footer_is_the_last_block() {
        let p = render(&failed(), Some("https://x.example"), "op");
        assert_eq!(block_types(&p).last().map(String::as_str), Some("context"));
    }

    #[test]
    fn backticks_in_output_cannot_close_the_fence() {
        let mut e = failed();
        e.output_tail = Some("before\n```\n<!channel> after ``` more".into());
        let p = render(&e, None, "op");
        let tail = section_texts(&p).pop().expect("tail section");
        assert_eq!(tail.matches("```").count(), 2, "{tail}");
        assert!(tail.ends_with("```"));
    }

    #[test]
    fn output_cannot_mention_the_channel() {
        let mut e = failed();
        e.output_tail = Some("<!channel> wake up".into());
        e.message = Some("<!here>".into());
        let s = serde_json::to_string(&render(&e, None, "op")).expect("json");
        assert!(!s.contains("<!channel>") && !s.contains("<!here>"));
    }

    #[test]
    fn check_limits_rejects_a_long_header() {
        let p = json!({"text": "x", "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}
        ]});
        assert!(check_limits(&p).is_err());
    }

    #[test]
    fn check_limits_rejects_too_many_blocks() {
        let blocks: Vec<Value> = (0..51).map(|_| mrkdwn_section("x".into())).collect();
        assert!(check_limits(&json!({"text": "x", "blocks": blocks})).is_err());
    }

    #[test]
    fn check_limits_rejects_a_missing_preview_text() {
        assert!(check_limits(&json!({"blocks": []})).is_err());
    }

    fn arb_event() -> impl Strategy<Value = RunEvent> {
        (
            prop::sample::select(crate::notify::event::ALL_KINDS.to_vec()),
            "\\PC{0,400}",
            proptest::option::of("(\\PC|\n|`|\u{1b}){0,6000}"),
            proptest::option::of("\\PC{0,4000}"),
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(any::<i32>()),
            proptest::option::of("\\PC{0,300}"),
        )
            .prop_map(
                |(kind, task, tail, message, attempt, max, exit, end)| RunEvent {
                    kind,
                    task,
                    output_tail: tail,
                    message,
                    attempt,
                    max_attempts: max,
                    exit_code: exit,
                    end_reason: end,
                    ..failed()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_event_renders_within_slack_limits(
            e in arb_event(),
            base in proptest::option::of(prop_oneof!["\\PC{0,100}", "https://[a-z./]{0,3000}"]),
        ) {
            let p = render(&e, base.as_deref(), "runwisp-operator");
            prop_assert_eq!(check_limits(&p), Ok(()));
        }

        #[test]
        fn the_output_fence_is_always_closed(e in arb_event()) {
            let p = render(&e, None, "op");
            for t in section_texts(&p).iter().filter(|t| t.starts_with(TAIL_HEADING)) {
                prop_assert_eq!(t.matches("```").count(), 2);
                prop_assert!(t.ends_with(TAIL_CLOSE));
            }
        }
    }
}
