//! Strings from the server are untrusted: they must not carry escape sequences to the terminal.

/// Removes control characters (including ESC, so no escape sequence survives) except newline
/// and tab, and normalises CRLF/CR to LF.
pub fn sanitize_multiline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// One line of display text: every control character removed, newlines and tabs become spaces,
/// runs of whitespace collapse, and the result is trimmed.
pub fn sanitize_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = true;
    for c in s.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else if c.is_control() || is_bidi_control(c) {
            continue;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Bidirectional overrides can make text display differently from what it is ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Caps a string at `max` characters, marking the cut with an ellipsis.
pub fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_removed() {
        assert_eq!(sanitize_line("a\x1b[31mred\x1b[0m b"), "a[31mred[0m b");
        assert_eq!(sanitize_line("  two\nlines\t "), "two lines");
        assert_eq!(sanitize_line("x\u{202E}y"), "xy");
    }

    #[test]
    fn multiline_keeps_newlines_only() {
        assert_eq!(sanitize_multiline("1. a\r\n2. b\rc\x07"), "1. a\n2. b\nc");
    }

    #[test]
    fn caps_by_characters() {
        assert_eq!(cap_chars("héllo", 10), "héllo");
        assert_eq!(cap_chars("héllo world", 5), "héll…");
    }
}
