//! Property tests of every parser that takes user input: NDJSON envelopes,
//! durations, header filters, broker URLs, the config file, and the
//! sanitizer. Arbitrary input never panics; every rejection is an error
//! that names the line or field. The files in `tests/corpus/` are hostile
//! inputs kept as a regression corpus and run through the same parsers.

use std::time::Duration;

use proptest::prelude::*;

use dlq::broker::{Message, OutgoingMessage};
use dlq::config::{self, BrokerSettings};
use dlq::input::parse_envelope_line;
use dlq::sanitize;
use dlq::secrets::redact_url;
use dlq::select::{parse_duration, parse_header};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn envelope_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300), n in 1usize..10_000) {
        if let Err(e) = parse_envelope_line(&line, n) {
            let text = e.to_string();
            prop_assert!(text.contains(&format!("line {n}")), "{}", text);
        }
    }

    #[test]
    fn envelope_like_json_never_panics(s in r#"\{("(body|body_base64|headers|key|broker)": ?(null|1|"[a-zA-Z0-9+/=%]{0,8}"|\{\}|\[\]),? ?){0,5}\}"#) {
        if let Err(e) = parse_envelope_line(s.as_bytes(), 7) {
            prop_assert!(e.to_string().contains("line 7"));
        }
    }

    #[test]
    fn envelopes_round_trip(body in proptest::collection::vec(any::<u8>(), 0..200),
                            headers in proptest::collection::btree_map("[^\u{0}]{1,12}", ".{0,20}", 0..6),
                            key in proptest::option::of(".{0,16}")) {
        let mut m = Message { id: "1".into(), queue: "q".into(), body: body.clone(), key: key.clone(), ..Default::default() };
        for (k, v) in &headers {
            m.headers.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        let line = serde_json::to_vec(&m.envelope()).unwrap();
        let back = parse_envelope_line(&line, 1).unwrap();
        prop_assert_eq!(back.body, body);
        prop_assert_eq!(back.key, key);
        prop_assert_eq!(back.headers, m.headers);
    }

    #[test]
    fn durations_never_panic(s in ".{0,24}") {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d < Duration::from_secs(u64::MAX / 2) || d >= Duration::ZERO);
        }
    }

    #[test]
    fn durations_parse_units(n in 1u64..100_000, unit in prop::sample::select(vec![("s", 1u64), ("m", 60), ("h", 3600), ("d", 86_400)])) {
        prop_assert_eq!(parse_duration(&format!("{n}{}", unit.0)).unwrap(), Duration::from_secs(n * unit.1));
    }

    #[test]
    fn header_filters_never_panic(s in ".{0,40}") {
        match parse_header(&s) {
            Ok((k, v)) => prop_assert_eq!(format!("{k}={v}"), s),
            Err(e) => prop_assert!(e.contains("KEY=VALUE")),
        }
    }

    #[test]
    fn urls_never_panic(s in ".{0,60}") {
        let _ = BrokerSettings::from_url(&s, Duration::from_secs(1));
        let _ = redact_url(&s);
    }

    #[test]
    fn redaction_hides_passwords(scheme in prop::sample::select(vec!["amqp", "amqps", "nats", "kafka", "sqs", "tls"]),
                                 user in "[a-z]{1,8}", pw in "[A-Za-z0-9!$&'()*+,;=._~-]{4,16}", host in "[a-z]{1,10}(:[0-9]{1,5})?",
                                 path in "(/[a-z%0-9]{0,8})?") {
        prop_assume!(!user.contains(&pw) && !host.contains(&pw) && !path.contains(&pw) && !scheme.contains(&pw));
        let shown = redact_url(&format!("{scheme}://{user}:{pw}@{host}{path}"));
        prop_assert!(!shown.contains(&pw), "{}", shown);
        prop_assert_eq!(shown, format!("{scheme}://{user}:***@{host}{path}"));
    }

    #[test]
    fn config_files_never_panic(s in ".{0,200}") {
        if let Err(e) = config::parse(&s) {
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn config_field_errors_name_the_field(field in "[a-z_]{3,12}") {
        prop_assume!(!["url", "password_env", "management_url", "region", "endpoint_url", "aws_profile", "kafka",
                       "dlq_patterns", "creds_file", "nkey_file", "token_env", "tls_ca_file", "tls_cert_file", "tls_key_file"]
                       .contains(&field.as_str()));
        let e = config::parse(&format!("[profiles.x]\n{field} = \"v\"\n")).unwrap_err();
        prop_assert!(e.contains(&field), "{}", e);
    }

    #[test]
    fn sanitized_text_is_terminal_safe(s in any::<String>()) {
        let out = sanitize::escape(&s, false);
        prop_assert!(!out.chars().any(sanitize::is_unsafe));
        let kept = sanitize::escape(&s, true);
        prop_assert!(!kept.chars().any(|c| sanitize::is_unsafe(c) && c != '\n' && c != '\t'));
        let json = serde_json::to_string(&s).unwrap();
        let safe = sanitize::escape_json_for_terminal(&json);
        prop_assert!(!safe.chars().any(sanitize::is_unsafe));
        prop_assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), s);
    }

    #[test]
    fn previews_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200), max in 0usize..80) {
        let p = sanitize::preview(&b, max);
        prop_assert!(!p.chars().any(sanitize::is_unsafe));
    }
}

#[test]
fn corpus_inputs_are_rejected_or_parsed_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // Subdirectories are corpora of their own (schema/: golden messages).
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".ndjson") {
            for (i, line) in bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
            {
                if let Err(e) = parse_envelope_line(line, i + 1) {
                    assert!(
                        e.to_string().contains(&format!("line {}", i + 1)),
                        "{name}: {e}"
                    );
                }
            }
        } else if name.ends_with(".toml") {
            let _ = config::parse(&String::from_utf8_lossy(&bytes));
        } else if name.ends_with(".urls") {
            for line in String::from_utf8_lossy(&bytes).lines() {
                let _ = BrokerSettings::from_url(line, Duration::from_secs(1));
                assert!(!redact_url(line).contains("hunter2"), "{line}");
            }
        }
        seen += 1;
    }
    assert!(seen >= 3);
    let _ = OutgoingMessage::default();
}
