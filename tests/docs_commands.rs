//! Every `dlq` command line the README and docs/ show parses with the CLI as
//! it is: a renamed flag, a removed value or a misspelt subcommand in the
//! documentation fails here, as stale completions and man pages fail in
//! tests/generated.rs. Command lines are taken from fenced code blocks: a
//! line (after an optional `$ ` prompt) or a pipeline segment that starts
//! with `dlq`, up to a `#` comment or a column of prose (three spaces).

use std::path::Path;

use clap::Parser;
use dlq::cli::Cli;

/// The words of a shell line, split into pipeline segments on unquoted
/// `|`, `;` and `&&`; stops at an unquoted `#` or three spaces.
fn segments(line: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut spaces = 0;
    let mut chars = line.chars().peekable();
    let end_word = |word: &mut Option<String>, out: &mut Vec<Vec<String>>| {
        if let Some(w) = word.take() {
            out.last_mut().unwrap().push(w);
        }
    };
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' {
                if let Some(n) = chars.next() {
                    word.get_or_insert_with(String::new).push(n);
                }
            } else {
                word.get_or_insert_with(String::new).push(c);
            }
            continue;
        }
        if c == ' ' {
            spaces += 1;
            if spaces >= 3 {
                break;
            }
            end_word(&mut word, &mut out);
            continue;
        }
        spaces = 0;
        match c {
            '\'' | '"' => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            '#' if word.is_none() => break,
            '|' | ';' => {
                end_word(&mut word, &mut out);
                out.push(Vec::new());
            }
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                end_word(&mut word, &mut out);
                out.push(Vec::new());
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    word.get_or_insert_with(String::new).push(n);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut word, &mut out);
    out
}

/// The `dlq` command lines of a Markdown text, with their line numbers. In
/// a block that shows a `$ ` prompt, only prompted lines are commands (the
/// rest is their output), a `text` block is output only, and a captured
/// screen's title line is not one.
fn commands(text: &str) -> Vec<(usize, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    // Outside a block: None; in one: whether it shows prompts, or None for output.
    let mut block: Option<Option<bool>> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in lines.iter().enumerate() {
        if raw.trim_start().starts_with("```") {
            block = match block {
                Some(_) => None,
                // A `text` block is output shown, not commands.
                None if raw.trim_start() == "```text" => Some(None),
                None => Some(Some(
                    lines[i + 1..]
                        .iter()
                        .take_while(|l| !l.trim_start().starts_with("```"))
                        .any(|l| l.starts_with("$ ")),
                )),
            };
            continue;
        }
        let Some(Some(prompted)) = block else {
            continue;
        };
        let (at, line) = match pending.take() {
            Some((at, head)) => (at, format!("{head} {}", raw.trim())),
            None if prompted && !raw.starts_with("$ ") => continue,
            // A screen capture's lines start with a blank (the view's margin).
            None if raw.starts_with(' ') && raw.trim_start().starts_with("dlq browse") => continue,
            None => (i + 1, raw.trim().trim_start_matches("$ ").to_owned()),
        };
        if let Some(head) = line.strip_suffix('\\') {
            pending = Some((at, head.trim_end().to_owned()));
            continue;
        }
        for words in segments(&line) {
            // Leading VAR=value assignments and redirections are the shell's;
            // `dlq ... list` elides the connection flags shown once before.
            let mut words: Vec<String> = words
                .into_iter()
                .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                .filter(|w| w != "...")
                .collect();
            if let Some(at) = words
                .iter()
                .position(|w| ["<", ">", "2>", ">>", "2>&1"].contains(&w.as_str()))
            {
                words.truncate(at);
            }
            if words.first().map(String::as_str) == Some("dlq") {
                found.push((at, words));
            }
        }
    }
    found
}

#[test]
fn every_documented_command_line_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, words) in commands(&text) {
            checked += 1;
            if let Err(e) = Cli::try_parse_from(&words) {
                let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                wrong.push(format!(
                    "{}:{line}: {}\n    {first}",
                    file.strip_prefix(root).unwrap().display(),
                    words.join(" ")
                ));
            }
        }
    }
    assert!(checked > 100, "only {checked} command lines found");
    assert!(
        wrong.is_empty(),
        "{} of {checked} documented command lines do not parse:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_splitter_keeps_quotes_and_cuts_comments_and_prose() {
    assert_eq!(
        segments("cat f | dlq list q --where '.a | .b' # note"),
        vec![
            vec!["cat".to_owned(), "f".to_owned()],
            vec![
                "dlq".to_owned(),
                "list".to_owned(),
                "q".to_owned(),
                "--where".to_owned(),
                ".a | .b".to_owned()
            ],
        ]
    );
    assert_eq!(
        segments("dlq list orders.dlq      what is in it"),
        vec![vec![
            "dlq".to_owned(),
            "list".to_owned(),
            "orders.dlq".to_owned()
        ]]
    );
    let found = commands("text\n```\n$ DLQ_PROFILE=prod dlq stats \\\n  --by reason\n```\n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 3);
    assert_eq!(found[0].1.join(" "), "dlq stats --by reason");
}
