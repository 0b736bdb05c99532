//! Making untrusted payload text safe to show on a terminal.
//!
//! Message bodies and headers come from anyone who could publish. Before they
//! reach a terminal, control characters (C0, DEL, C1) and the Unicode
//! bidirectional overrides that can make text read differently than it is
//! are replaced by visible escapes, so a payload cannot move the cursor,
//! retitle the window or hide part of a line.

/// Escapes control and bidi characters; with `keep_newlines`, `\n` and `\t`
/// stay as they are (for whole bodies), else they become `\n` and `\t`.
pub fn escape(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if keep_newlines => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{n:04x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Control characters and bidi formatting characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// Escapes, in serialized JSON, the characters serde_json leaves raw but a
/// terminal would act on (DEL, C1 controls, bidi overrides). They can only
/// occur inside JSON strings, where `\uXXXX` is an exact equivalent.
pub fn escape_json_for_terminal(json: &str) -> String {
    if !json.chars().any(is_unsafe_in_json) {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_in_json(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe_in_json(c: char) -> bool {
    // C0 controls are already escaped by serde_json, except the newlines of pretty printing.
    (c as u32) >= 0x7f && is_unsafe(c)
}

/// A one-line preview of at most `max` characters.
pub fn preview(bytes: &[u8], max: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            // Escaping only lengthens: the first max + 1 characters decide the preview.
            let head = match text.char_indices().nth(max + 1) {
                Some((at, _)) => &text[..at],
                None => text,
            };
            let mut s = escape(head, false);
            if s.chars().count() > max {
                s = s.chars().take(max.saturating_sub(1)).collect();
                s.push('…');
            }
            s
        }
        Err(_) => {
            let shown: String = bytes
                .iter()
                .take(max / 3)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            format!("<binary {} bytes> {shown}", bytes.len())
        }
    }
}

/// A hex dump: offset, 16 bytes in hex, and their printable ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  {}\n",
            i * 16,
            hex.join(" "),
            ascii
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences() {
        assert_eq!(escape("a\x1b]0;pwned\x07b", false), "a\\x1b]0;pwned\\x07b");
        assert_eq!(escape("x\u{202e}y", false), "x\\u{202e}y");
        assert_eq!(escape("l1\nl2\tx", true), "l1\nl2\tx");
        assert_eq!(escape("l1\nl2", false), "l1\\nl2");
        assert_eq!(escape("\u{9b}31m", false), "\\x9b31m");
        assert_eq!(escape("héllo 🎉", false), "héllo 🎉");
    }

    #[test]
    fn json_escapes_stay_valid() {
        let raw =
            serde_json::to_string(&serde_json::json!({"b": "x\u{9b}y\u{202e}z\u{1b}"})).unwrap();
        let safe = escape_json_for_terminal(&raw);
        assert!(!safe.chars().any(is_unsafe));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["b"], "x\u{9b}y\u{202e}z\u{1b}");
    }

    #[test]
    fn previews() {
        assert_eq!(preview(b"hello world", 6), "hello…");
        assert!(preview(&[0xff, 0x00], 30).starts_with("<binary 2 bytes> ff 00"));
        assert_eq!(preview("a\nb".as_bytes(), 10), "a\\nb");
    }

    #[test]
    fn hex_dumps() {
        let d = hex_dump(b"AB\x00");
        assert!(d.starts_with("00000000  41 42 00"));
        assert!(d.trim_end().ends_with("AB."));
    }
}
