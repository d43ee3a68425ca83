//! Strings from the server are untrusted: they must not carry escape sequences to the terminal.
//!
//! Escape sequences are removed whole (introducer, parameters and final byte), not only their
//! control bytes, so `ESC ] 52 ; c ; … BEL` (a clipboard write) or `ESC [ 31 m` leave nothing
//! behind. Both the 7-bit (`ESC [`) and the 8-bit C1 introducers (`U+009B`) are understood.

/// Longest single-line field kept for display.
pub const MAX_LINE: usize = 300;
/// Longest multi-line field kept (ServiceNow text fields hold up to 4,000 characters).
pub const MAX_TEXT: usize = 8_000;

/// Removes escape sequences and control characters except newline and tab (a tab becomes four
/// spaces), and normalises CRLF/CR to LF.
pub fn sanitize_multiline(s: &str) -> String {
    // Most text is printable ASCII and newlines, which pass as they are.
    if s.bytes().all(|b| (b' '..=b'~').contains(&b) || b == b'\n') {
        return s.to_string();
    }
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
            c if starts_sequence(c) => skip_sequence(c, &mut chars),
            c if c.is_control() || is_invisible_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// One line of display text: escape sequences and control characters removed, newlines and
/// tabs become spaces, runs of whitespace collapse, and the result is trimmed.
pub fn sanitize_line(s: &str) -> String {
    // Printable ASCII with single inner spaces is already one clean line.
    let b = s.as_bytes();
    if b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.iter().all(|c| (b' '..=b'~').contains(c))
        && !b.windows(2).any(|w| w == b"  ")
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut last_space = true;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if starts_sequence(c) {
            skip_sequence(c, &mut chars);
        } else if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else if c.is_control() || is_invisible_control(c) {
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

/// One line, sanitised and capped at `max` characters: the shape every short server string
/// takes before it is kept.
pub fn clean_line(s: &str, max: usize) -> String {
    cap_chars(&sanitize_line(s), max)
}

/// True when the text carries nothing a terminal would interpret: no control characters (line
/// breaks aside) and no bidirectional overrides.
pub fn is_clean(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\n') || is_invisible_control(c))
}

/// ESC, and the C1 introducers of control strings and control sequences.
fn starts_sequence(c: char) -> bool {
    matches!(
        c,
        '\u{1b}' | '\u{9b}' | '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}'
    )
}

/// Consumes the rest of an escape sequence whose first character was `first`:
/// - CSI (`ESC [` or U+009B): parameter and intermediate bytes up to a final byte @ to ~;
/// - OSC, DCS, SOS, PM, APC (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _` or their C1 forms):
///   everything up to BEL, ST (`ESC \`) or U+009C;
/// - any other `ESC x`: the one character after ESC (plus intermediates, as in `ESC ( B`).
fn skip_sequence(first: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let kind = if first == '\u{1b}' {
        match chars.peek().copied() {
            Some('[') => {
                chars.next();
                '['
            }
            Some(c @ (']' | 'P' | 'X' | '^' | '_')) => {
                chars.next();
                c
            }
            Some(c) if (' '..='/').contains(&c) => {
                // Intermediates, then one final byte.
                while chars.peek().is_some_and(|c| (' '..='/').contains(c)) {
                    chars.next();
                }
                chars.next();
                return;
            }
            Some(c) if !c.is_control() => {
                chars.next();
                return;
            }
            _ => return,
        }
    } else if first == '\u{9b}' {
        '['
    } else {
        ']'
    };
    if kind == '[' {
        for c in chars.by_ref() {
            if ('@'..='~').contains(&c) || c.is_control() {
                return;
            }
        }
        return;
    }
    // A control string: ends at BEL, ST or ESC \. Anything else inside is dropped.
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// Bidirectional overrides can make text display differently from what it is ("Trojan
/// Source"); zero-width and other invisible format characters hide text the same way.
fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}'
    )
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

/// Whether a string can be a record id (a sys_id): 1 to 64 ASCII letters, digits, `_` or `-`.
/// Ids go into URLs and encoded queries, so nothing else is accepted.
pub fn is_record_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_removed_whole() {
        assert_eq!(sanitize_line("a\x1b[31mred\x1b[0m b"), "ared b");
        assert_eq!(sanitize_line("  two\nlines\t "), "two lines");
        assert_eq!(sanitize_line("x\u{202E}y"), "xy");
        // OSC 52 (clipboard write), ended by BEL or by ST.
        assert_eq!(sanitize_line("ok\x1b]52;c;aGVsbG8=\x07done"), "okdone");
        assert_eq!(sanitize_line("ok\x1b]0;title\x1b\\done"), "okdone");
        // 8-bit CSI and OSC.
        assert_eq!(sanitize_line("a\u{9b}31mb"), "ab");
        assert_eq!(sanitize_line("a\u{9d}52;c;x\u{9c}b"), "ab");
        // Charset selection, keypad mode, a lone ESC at the end.
        assert_eq!(sanitize_line("a\x1b(Bb\x1b=c\x1b"), "abc");
        // A DCS string.
        assert_eq!(sanitize_line("a\x1bPq#0;1\x1b\\b"), "ab");
        assert_eq!(sanitize_line("zero\u{200B}width"), "zerowidth");
    }

    #[test]
    fn multiline_keeps_newlines_only() {
        assert_eq!(sanitize_multiline("1. a\r\n2. b\rc\x07"), "1. a\n2. b\nc");
        assert_eq!(
            sanitize_multiline("plan\x1b[2J\x1b[Hstep\n\x1b]52;c;eA==\x07two"),
            "planstep\ntwo"
        );
    }

    /// Clean ASCII passes as it is; one character short of clean takes the long way.
    #[test]
    fn clean_ascii_passes_and_the_rest_is_cleaned() {
        for s in [
            "",
            "CHG0030201",
            "Upgrade k8s-prod-us2 to 1.30 (~5 min)",
            "a b",
        ] {
            assert_eq!(sanitize_line(s), s);
            assert_eq!(sanitize_multiline(s), s);
        }
        assert_eq!(sanitize_multiline("one\ntwo"), "one\ntwo");
        assert_eq!(sanitize_line("one\ntwo"), "one two");
        assert_eq!(sanitize_line(" a"), "a");
        assert_eq!(sanitize_line("a "), "a");
        assert_eq!(sanitize_line("a  b"), "a b");
        assert_eq!(sanitize_line("a\x7fb"), "ab");
        assert_eq!(sanitize_multiline("a\x7fb\tc"), "ab    c");
        assert_eq!(sanitize_multiline("a\r\nb"), "a\nb");
    }

    #[test]
    fn clean_means_nothing_for_the_terminal() {
        assert!(is_clean("plain text\nwith lines"));
        assert!(!is_clean("bell\x07"));
        assert!(!is_clean("x\u{202E}y"));
        for s in ["a\x1b[31mb", "\x1b]52;c;x\x07", "a\u{9b}1m"] {
            assert!(is_clean(&sanitize_line(s)), "{s:?}");
            assert!(is_clean(&sanitize_multiline(s)), "{s:?}");
        }
    }

    #[test]
    fn caps_by_characters() {
        assert_eq!(cap_chars("héllo", 10), "héllo");
        assert_eq!(cap_chars("héllo world", 5), "héll…");
    }

    #[test]
    fn record_ids() {
        assert!(is_record_id("a1b2c3d4e5f60718293a4b5c6d7e8f90"));
        assert!(!is_record_id(""));
        assert!(!is_record_id("abc^ORstate=1"));
        assert!(!is_record_id("abc,def"));
        assert!(!is_record_id(&"a".repeat(65)));
    }
}
