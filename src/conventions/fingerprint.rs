//! Failure fingerprints (SPEC.md, "Failure fingerprints"): the first 12 hex
//! digits of a SHA-256 over the error type and the first five frames of the
//! stack trace where the convention records one, else over the error type
//! and the error message.
//!
//! What varies from one failure of the same bug to the next is taken out
//! first: quoted strings, UUIDs, hex words of 8 or more digits and numbers
//! become placeholders (`<q>`, `<uuid>`, `<hex>`, `<n>`), and frames lose
//! their line numbers ([`super::trace::frames`]), so "Order 123 not found"
//! and "Order 456 not found" share a fingerprint, and so do two builds of
//! the same code. The error type is hashed as recorded. The two inputs are
//! told apart by a tag, so a message can never hash like a list of frames.

use sha2::{Digest, Sha256};

use super::trace;

/// How many frames a fingerprint reads.
pub const FRAMES: usize = 5;

/// The fingerprint of a failure, or None when neither an error type nor an
/// error message is recorded.
pub fn fingerprint(
    error_type: Option<&str>,
    error_message: Option<&str>,
    stack_trace: Option<&str>,
) -> Option<String> {
    if error_type.is_none() && error_message.is_none() {
        return None;
    }
    let frames: Vec<String> = stack_trace
        .map(|t| trace::frames(t, FRAMES))
        .unwrap_or_default()
        .iter()
        .map(|f| normalize(f))
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(error_type.unwrap_or("").trim().as_bytes());
    if frames.is_empty() {
        hasher.update(b"\0message\0");
        hasher.update(normalize(error_message.unwrap_or("").trim()).as_bytes());
    } else {
        hasher.update(b"\0frames\0");
        hasher.update(frames.join("\n").as_bytes());
    }
    let digest = hasher.finalize();
    Some(digest[..6].iter().map(|b| format!("{b:02x}")).collect())
}

/// The text with what varies between failures replaced by placeholders.
pub fn normalize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at_word_start = i == 0 || !is_word(chars[i - 1]);
        if matches!(c, '"' | '\'' | '`') && at_word_start {
            if let Some(end) = closing_quote(&chars, i) {
                out.push_str("<q>");
                i = end + 1;
                continue;
            }
        }
        if c.is_ascii_alphanumeric() && at_word_start {
            let end = word_end(&chars, i);
            if let Some(uuid_end) = uuid_at(&chars, i) {
                out.push_str("<uuid>");
                i = uuid_end;
                continue;
            }
            let word = &chars[i..end];
            if word.len() >= 8 && word.iter().all(char::is_ascii_hexdigit) {
                out.push_str(if word.iter().all(char::is_ascii_digit) {
                    "<n>"
                } else {
                    "<hex>"
                });
                i = end;
                continue;
            }
        }
        if c.is_ascii_digit() {
            out.push_str("<n>");
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn word_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() && chars[end].is_ascii_alphanumeric() {
        end += 1;
    }
    end
}

/// The index of the quote that closes the one at `open`, on the same line
/// and followed by something that is not a word (so `can't` opens nothing).
fn closing_quote(chars: &[char], open: usize) -> Option<usize> {
    let q = chars[open];
    (open + 1..chars.len())
        .take_while(|&j| chars[j] != '\n')
        .find(|&j| chars[j] == q && chars.get(j + 1).is_none_or(|&n| !is_word(n)))
}

/// The end of a UUID (8-4-4-4-12 hex digits) starting at `start`.
fn uuid_at(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    for (n, len) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            (chars.get(i) == Some(&'-')).then_some(())?;
            i += 1;
        }
        let group = chars.get(i..i + len)?;
        group.iter().all(char::is_ascii_hexdigit).then_some(())?;
        i += len;
    }
    chars.get(i).is_none_or(|&c| !is_word(c)).then_some(i)
}

#[cfg(test)]
#[path = "fingerprint_tests.rs"]
mod tests;
