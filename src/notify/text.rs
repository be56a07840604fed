//! Text helpers for chat payloads: length in the units Slack limits, truncation at char
//! boundaries, mrkdwn escaping and cleaning of process output.
//!
//! Lengths are counted in UTF-16 code units. That is never less than the count of chars,
//! so text within a limit in these units is within it however Slack counts.

/// Marks text removed by truncation.
pub const ELLIPSIS: &str = "…";

/// Length in UTF-16 code units.
pub fn units(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// `s`, cut at the end with "…" to at most `max` units.
pub fn fit(s: &str, max: usize) -> String {
    fit_pieces(s.chars().map(|c| c.to_string()), units(s), max)
}

/// `s` escaped for mrkdwn, cut at the end with "…" to at most `max` units. A cut never
/// splits an escape such as `&amp;`.
pub fn fit_escaped(s: &str, max: usize) -> String {
    let total = units(&escape(s));
    fit_pieces(s.chars().map(escape_char), total, max)
}

fn fit_pieces(pieces: impl Iterator<Item = String>, total: usize, max: usize) -> String {
    if total <= max {
        return pieces.collect();
    }
    let room = max.saturating_sub(units(ELLIPSIS));
    let mut out = String::new();
    let mut used = 0;
    for p in pieces {
        let n = units(&p);
        if used + n > room {
            break;
        }
        used += n;
        out.push_str(&p);
    }
    if max >= units(ELLIPSIS) {
        out.push_str(ELLIPSIS);
    }
    out
}

/// Escapes the three characters Slack's mrkdwn gives meaning to, so that text from users or
/// processes cannot form links or mentions (`<!channel>`).
pub fn escape(s: &str) -> String {
    s.chars().map(escape_char).collect()
}

fn escape_char(c: char) -> String {
    match c {
        '&' => "&amp;".to_string(),
        '<' => "&lt;".to_string(),
        '>' => "&gt;".to_string(),
        c => c.to_string(),
    }
}

/// Process output made safe for a ``` block: ANSI escape sequences and control characters
/// (but tab and newline) removed, CR and CRLF turned into newlines, and every backtick
/// replaced by `ˋ` (U+02CB) so the output can never close the fence early.
pub fn clean_output(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters, then one final byte in @..~.
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC: ends at BEL or ESC \.
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            '`' => out.push('\u{2cb}'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The end of `output`, cleaned and escaped, in at most `max_lines` lines and `max` units.
/// Truncation removes the start (the end is where the error is) and is marked with "…";
/// a partial first line is dropped unless it is the only line. `None` if nothing is left.
pub fn output_tail(output: &str, max_lines: usize, max: usize) -> Option<String> {
    let clean = clean_output(output);
    let clean = clean.trim_end().trim_start_matches('\n');
    if clean.trim().is_empty() {
        return None;
    }
    let lines: Vec<&str> = clean.split('\n').collect();
    let lines_cut = lines.len() > max_lines;
    let kept = lines[lines.len().saturating_sub(max_lines)..].join("\n");
    let escaped = escape(&kept);
    if !lines_cut && units(&escaped) <= max {
        return Some(escaped);
    }
    let marker_line = format!("{ELLIPSIS}\n");
    let room = max.saturating_sub(units(&marker_line));
    let mut rev: Vec<String> = Vec::new();
    let mut used = 0;
    let mut chars_cut = false;
    for c in kept.chars().rev() {
        let e = escape_char(c);
        if used + units(&e) > room {
            chars_cut = true;
            break;
        }
        used += units(&e);
        rev.push(e);
    }
    let body: String = rev.into_iter().rev().collect();
    if !chars_cut {
        return Some(format!("{marker_line}{body}"));
    }
    // `kept` ends in non-blank text, so whatever follows a newline in `body` is not blank.
    match body.find('\n') {
        Some(i) => Some(format!("{marker_line}{}", &body[i + 1..])),
        None => Some(format!("{ELLIPSIS}{body}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_count_astral_chars_twice() {
        assert_eq!(units("aé"), 2);
        assert_eq!(units("😀"), 2);
    }

    #[test]
    fn fit_leaves_short_text_alone() {
        assert_eq!(fit("backup", 6), "backup");
    }

    #[test]
    fn fit_cuts_at_a_char_boundary_and_marks_the_cut() {
        let got = fit("ééééé😀😀", 4);
        assert_eq!(got, "ééé…");
        assert!(units(&got) <= 4);
    }

    #[test]
    fn fit_escaped_never_splits_an_escape() {
        let got = fit_escaped("a&b", 5);
        assert_eq!(got, "a…");
    }

    #[test]
    fn escape_neutralises_mentions_and_links() {
        assert_eq!(
            escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }

    #[test]
    fn clean_output_strips_ansi_colours_and_controls() {
        assert_eq!(clean_output("\u{1b}[31merror\u{1b}[0m\u{7}!"), "error!");
    }

    #[test]
    fn clean_output_strips_osc_sequences() {
        assert_eq!(
            clean_output("a\u{1b}]0;title\u{7}b\u{1b}]8;;x\u{1b}\\c"),
            "abc"
        );
    }

    #[test]
    fn clean_output_turns_carriage_returns_into_newlines() {
        assert_eq!(clean_output("a\r\nb\rc"), "a\nb\nc");
    }

    #[test]
    fn clean_output_replaces_backticks() {
        assert!(!clean_output("```rm -rf```").contains('`'));
    }

    #[test]
    fn output_tail_keeps_short_output_whole() {
        assert_eq!(
            output_tail("one\ntwo\n\n", 10, 100).as_deref(),
            Some("one\ntwo")
        );
    }

    #[test]
    fn output_tail_of_blank_output_is_none() {
        assert_eq!(output_tail(" \n\t\n", 10, 100), None);
    }

    #[test]
    fn output_tail_keeps_the_last_lines_and_marks_the_cut() {
        assert_eq!(
            output_tail("1\n2\n3\n4", 2, 100).as_deref(),
            Some("…\n3\n4")
        );
    }

    #[test]
    fn output_tail_drops_a_partial_first_line() {
        let got = output_tail("aaaaaaaaaa\nbbb\nccc", 10, 12).expect("tail");
        assert_eq!(got, "…\nbbb\nccc");
    }

    #[test]
    fn output_tail_keeps_the_end_of_one_long_line() {
        let got = output_tail("abcdefghij", 10, 5).expect("tail");
        assert_eq!(got, "…hij");
    }
}
