//! The one jq engine (jaq, a jq implementation in Rust) behind
//! `--transform`, `--where` and `stats --by field:FILTER`.
//!
//! A [`Query`] is compiled once, before anything is read, with the standard
//! library of jq; a filter that does not compile is a usage error naming the
//! flag and the column. Running it is cheap and shares nothing mutable, so
//! the pipeline tasks of a backend can run one compiled query at once.

use std::sync::Arc;

use anyhow::Result;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Native, Vars};
use jaq_json::Val;

use crate::exit::usage;

type Compiled = jaq_core::compile::Filter<Native<data::JustLut<Val>>>;

/// A compiled jq filter and its source text.
#[derive(Clone)]
pub struct Query {
    source: String,
    filter: Arc<Compiled>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Query").field(&self.source).finish()
    }
}

/// Two queries are the same when their source text is.
impl PartialEq for Query {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Query {}

impl Query {
    /// Parses and compiles `code`; errors name `flag` (`--where`) and
    /// carry jaq's message.
    pub fn compile(flag: &str, code: &str) -> Result<Self> {
        let bad = |what: String| usage(format!("{flag} {code:?}: {what}"));
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errs| bad(load_errors(code, errs)))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| bad(compile_errors(code, errs)))?;
        Ok(Query {
            source: code.to_owned(),
            filter: Arc::new(filter),
        })
    }

    /// The source text, as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every output for `input`, each an error text when the filter failed.
    pub fn run(&self, input: Val) -> impl Iterator<Item = Result<Val, String>> + '_ {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        self.filter
            .id
            .run((ctx, input))
            .map(|r| r.map_err(exception))
    }

    /// The first output for `input`: None when there is none.
    pub fn first(&self, input: Val) -> Result<Option<Val>, String> {
        self.run(input).next().transpose()
    }
}

/// A JSON text as a jq value.
pub fn parse(json: &[u8]) -> Result<Val, String> {
    jaq_json::read::parse_single(json).map_err(|e| e.to_string())
}

fn exception(e: jaq_core::Exn<'_, Val>) -> String {
    match e.get_err() {
        Ok(err) => err.to_string(),
        Err(_) => "the filter called halt".into(),
    }
}

/// 1-based column of a slice of `code`, for error messages.
fn column(code: &str, at: &str) -> usize {
    let offset = (at.as_ptr() as usize).saturating_sub(code.as_ptr() as usize);
    code.get(..offset.min(code.len()))
        .map_or(1, |s| s.chars().count() + 1)
}

fn load_errors(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut out = Vec::new();
    for (_, e) in errs {
        match e {
            Error::Io(v) => out.extend(v.into_iter().map(|(p, e)| format!("{p}: {e}"))),
            Error::Lex(v) => out.extend(v.into_iter().map(|(exp, at)| {
                format!("expected {} at column {}", exp.as_str(), column(code, at))
            })),
            Error::Parse(v) => out.extend(v.into_iter().map(|(exp, at)| {
                format!("expected {} at column {}", exp.as_str(), column(code, at))
            })),
        }
    }
    out.join("; ")
}

fn compile_errors(code: &str, errs: jaq_core::compile::Errors<&str, ()>) -> String {
    let mut out = Vec::new();
    for (_, v) in errs {
        for (name, undefined) in v {
            out.push(format!(
                "undefined {} {name} at column {}",
                undefined.as_str(),
                column(code, name)
            ));
        }
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_output_and_errors() {
        let q = Query::compile("--where", ".a > 1").unwrap();
        let v = q.first(parse(br#"{"a":2}"#).unwrap()).unwrap().unwrap();
        assert_eq!(v, Val::Bool(true));
        let q = Query::compile("--where", "empty").unwrap();
        assert_eq!(q.first(Val::Null).unwrap(), None);
        let q = Query::compile("--where", ".a + 1").unwrap();
        assert!(q.first(parse(br#"{"a":"x"}"#).unwrap()).is_err());
        let e = Query::compile("--where", ".a ==").unwrap_err();
        assert_eq!(crate::exit::code_for(&e), crate::exit::Exit::Usage);
        assert!(e.to_string().starts_with("--where \".a ==\": "), "{e}");
    }
}
