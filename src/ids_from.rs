//! `--ids-from FILE` (`-` for standard input): the IDs a person reviewed.
//!
//! A line is one ID as `list` prints it, or an NDJSON envelope as
//! `list -o ndjson` and `export` write them (its `id` is taken), so a
//! reviewed and trimmed listing can be fed back as it is. Blank lines are
//! skipped. Anything else (an ID with spaces in it, JSON without an `id`) is
//! a usage error naming its line, before anything is read from the broker.

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::exit::usage;

/// The IDs of `path` (`-`: standard input), in order.
pub fn read(path: &Path) -> Result<Vec<String>> {
    let shown = path.display();
    let mut text = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    result.map_err(|e| usage(format!("--ids-from {shown}: {e}")))?;
    parse(&text).map_err(|e| usage(format!("--ids-from {shown}: {e}")))
}

/// The IDs of a text, or what is wrong with its first bad line.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}", n + 1);
        if line.starts_with('{') {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| bad(&format!("not a JSON envelope ({e})")))?;
            match v.get("id") {
                Some(Value::String(s)) if !s.is_empty() => ids.push(s.clone()),
                Some(Value::Number(n)) => ids.push(n.to_string()),
                _ => return Err(bad("a JSON line without an \"id\"")),
            }
        } else if line.chars().any(|c| c.is_whitespace() || c.is_control())
            || line.starts_with(['[', '"'])
        {
            return Err(bad(
                "neither an ID nor an NDJSON envelope (one ID a line, as `dlq list` prints them)",
            ));
        } else {
            ids.push(line.to_owned());
        }
    }
    Ok(ids)
}

/// The IDs given as arguments, then those of `--ids-from`.
pub fn gather(args: &[String], from: Option<&Path>) -> Result<Vec<String>> {
    let mut ids = args.to_vec();
    if let Some(path) = from {
        ids.extend(read(path)?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_and_envelopes_blank_lines_skipped() {
        let text = "3:1042\n\n  3f2a9c1d07be  \n{\"id\":\"0:7\",\"queue\":\"q\",\"body\":\"a b\"}\n{\"id\": 12}\n";
        assert_eq!(
            parse(text).unwrap(),
            ["3:1042", "3f2a9c1d07be", "0:7", "12"]
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_garbage_line_is_named_by_its_number() {
        assert_eq!(
            parse("1\n2\nnot an id\n").unwrap_err(),
            "line 3: neither an ID nor an NDJSON envelope (one ID a line, as `dlq list` prints them)"
        );
        assert!(parse("1\n{\"queue\":\"q\"}")
            .unwrap_err()
            .starts_with("line 2: a JSON line without"));
        assert!(parse("{oops")
            .unwrap_err()
            .starts_with("line 1: not a JSON envelope"));
        assert!(parse("[1,2]").unwrap_err().starts_with("line 1: "));
    }

    #[test]
    fn a_missing_file_is_a_usage_error() {
        let e = read(Path::new("/nonexistent/ids.txt")).unwrap_err();
        assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
    }
}
