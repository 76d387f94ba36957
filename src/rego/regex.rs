//! `regex.match` for CIP policies, answering as regorus' builtin does but keeping each compiled
//! regular expression's match cache between calls.
//!
//! regorus 0.14.1 keeps compiled expressions in a global LRU cache (feature `cache`,
//! `src/cache.rs:126`), but every call takes a *clone* out of it (`get_or_compile_regex`,
//! `src/builtins/regex.rs:41-61`), and cloning a `regex::Regex` gives the clone a new, empty
//! pool of match caches (regex-automata 0.4 `src/meta/regex.rs:1980-1993`). So each call of
//! `regex.match` builds the matcher's caches (lazy DFAs forward and reverse, PikeVM,
//! backtracker) and its lazy DFA's states again. Measured on the rego-20 benchmark (3 release-tags
//! CIPs matched, 6 calls of one pattern per request), that was about 100 µs of a warm request
//! and 280 µs of a fresh-instance one, out of 1750 µs (BENCHMARKS.md, "regex.match").
//!
//! Here each distinct pattern is compiled once per module instance, as regorus' own builder
//! settings compile it (`RegexBuilder::new(pattern).size_limit(100 KiB)`,
//! `src/builtins/regex.rs:30-37`, on the engine of the same `regex` crate version: Cargo unifies
//! it) but without the literal prefilter, a search accelerator that costs most of a typical
//! pattern's compilation ([`compile`]), and matched on the kept matcher, whose pool then reuses
//! its cache. The answers are the builtin's:
//!
//! | arguments | regorus' `regex.match` (strict builtin errors, regorus' default, `src/interpreter.rs:217`, which this module keeps) | here |
//! |---|---|---|
//! | an argument undefined | undefined (the interpreter, before any call) | the same: the interpreter answers before calling an extension (`src/interpreter.rs:2873`) |
//! | two strings, the pattern valid | whether the value matches | the same |
//! | a pattern that does not compile | the error `invalid regex` at the pattern (`src/builtins/regex.rs:76`) | the same error at the call |
//! | a pattern over the size limit | the error `compiled regex exceeded size limit (102400 bytes)`, without a position (`LimitError`, `src/builtins/regex.rs:71-74`) | the same text, at the call |
//! | a non-string argument | the error ``regex.match` expects string argument. Got `…` instead`` at the argument (`src/builtins/utils.rs:97-104`) | the same error at the call |
//!
//! Errors keep regorus' words; only the position they point at is the call's rather than the
//! argument's (an extension's error is reported at its call, `src/interpreter.rs:2889-2891`).
//! As with the builtin, `not regex.match(…)` on an error is an error, never true.
//! `tests::answers_as_regorus_builtin_does` compares the two on each row. Extensions are looked
//! up before builtins (`src/interpreter.rs:2846-2854`) and after `with` replacements, so
//! `regex.match with …` mocks still apply.
//!
//! Bounded, since a kept `Regex` keeps its match caches, which regorus' clones threw away after
//! each call (review finding: 256 kept patterns of `[ab]*a[ab]{18}[^ab]` matched against a 30 kB
//! value held 692 MB, against 23 MB with the builtin): each pattern's lazy DFAs may use at most
//! [`DFA_CACHE_LIMIT`] bytes (regex's `dfa_size_limit`, 2 MiB by default; it changes when the
//! lazy DFA gives way to the other engines, never an answer), and at most [`CAPACITY`] patterns
//! are kept per instance; a pattern beyond them empties the table first (a policy building
//! patterns from the workload cannot grow the module's memory, and a policy's own patterns come
//! back on their next call).
//!
//! The number of arguments is checked with the policy ([`super::check`]): regorus' extension
//! path would report a wrong count in its own words (`incorrect number of parameters supplied to
//! extension`), the builtin as ``regex.match` expects 2 arguments``.

use regex_automata::{MatchKind, meta, util::syntax};
use regorus::{Engine, LimitError, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// regorus' size limit for a compiled expression (bytes of NFA), `src/builtins/regex.rs:30`.
pub const SIZE_LIMIT: usize = 100 * 1024;

/// Most patterns kept compiled, with their match caches, per instance. regorus keeps 256
/// compiled expressions without caches (`cache::Config::default().regex`, `src/cache.rs:59`);
/// with the caches, fewer (module documentation).
pub const CAPACITY: usize = 32;

/// Bytes each of a kept pattern's lazy DFAs (forward, reverse) may use for its states
/// (regex `RegexBuilder::dfa_size_limit`; regex's default is 2 MiB). An image reference or an
/// annotation needs a few states; a search that needs more resets the cache or falls back to
/// the PikeVM, with the same answer.
pub const DFA_CACHE_LIMIT: usize = 64 * 1024;

thread_local! {
    /// The compiled patterns of this instance (a module instance has one thread).
    static COMPILED: RefCell<BTreeMap<String, meta::Regex>> = const { RefCell::new(BTreeMap::new()) };
}

/// Installs `regex.match` on `engine`, before it is prepared (`rego::prepare`): an evaluation
/// looks its extensions up before the builtins (`src/interpreter.rs:2846-2854`), and clones
/// of the engine share them.
///
/// Errors: regorus' `extension already added`, when called twice on one engine.
pub fn install(engine: &mut Engine) -> Result<(), String> {
    engine
        .add_extension("regex.match".to_string(), 2, Box::new(regex_match))
        .map_err(|e| e.to_string())
}

/// Compiles `pattern` as `regex::RegexBuilder::new(pattern).size_limit(SIZE_LIMIT)
/// .dfa_size_limit(DFA_CACHE_LIMIT).build()` does (regex 1.13 `src/builders.rs:50-85`: the
/// meta engine with leftmost-first matching, UTF-8 haystacks and empty matches, the default
/// syntax), with one change that alters no answer: no literal prefilter.
///
/// The prefilter is a search accelerator only (regex-automata `meta::Config::auto_prefilter`);
/// building it is most of the cost of compiling a typical CIP pattern. Measured natively on
/// ``:v?[0-9]+\.[0-9]+\.[0-9]+$`` (the release-tags check, with the engines this module links):
/// 45 µs with the prefilter, 12 µs without: its literal sets (`:v0`, `:v1`, …) are extracted
/// and a multi-substring searcher built, to speed up searches of haystacks that are, here,
/// image references of a few dozen bytes.
///
/// Errors, in regorus' words (`src/builtins/regex.rs:63-77`): a pattern whose NFA exceeds
/// [`SIZE_LIMIT`] ([`meta::BuildError::size_limit`] is `Some`, what regex reports as
/// `Error::CompiledTooBig`, `src/error.rs:35-52`) is regorus' [`LimitError`]; any other build
/// error is `invalid regex`.
fn compile(pattern: &str) -> anyhow::Result<meta::Regex> {
    let built = meta::Builder::new()
        .configure(
            meta::Config::new()
                .match_kind(MatchKind::LeftmostFirst)
                .utf8_empty(true)
                .nfa_size_limit(Some(SIZE_LIMIT))
                .hybrid_cache_capacity(DFA_CACHE_LIMIT)
                .auto_prefilter(false),
        )
        .syntax(syntax::Config::new().utf8(true))
        .build(pattern);
    match built {
        Ok(re) => Ok(re),
        Err(e) if e.size_limit().is_some() => {
            Err(anyhow::Error::new(LimitError::RegexSizeLimitExceeded {
                limit: SIZE_LIMIT,
            }))
        }
        Err(_) => anyhow::bail!("invalid regex"),
    }
}

/// `regex.match(pattern, value)`: see the module documentation for its answers.
fn regex_match(args: Vec<Value>) -> anyhow::Result<Value> {
    let [pattern, value] = [0, 1].map(|i| args.get(i).unwrap_or(&Value::Undefined));
    let (pattern, value) = match (pattern, value) {
        (Value::String(p), Value::String(v)) => (p, v),
        (Value::String(_), other) | (other, _) => {
            anyhow::bail!("`regex.match` expects string argument. Got `{other}` instead")
        }
    };
    COMPILED.with(|compiled| {
        if let Some(re) = compiled.borrow().get(pattern.as_ref()) {
            return Ok(Value::Bool(re.is_match(value.as_ref() as &str)));
        }
        let re = compile(pattern)?;
        let matched = re.is_match(value.as_ref() as &str);
        let mut compiled = compiled.borrow_mut();
        if compiled.len() >= CAPACITY {
            compiled.clear();
        }
        compiled.insert(pattern.to_string(), re);
        Ok(Value::Bool(matched))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out := regex.match(p, v)`, evaluated with this module's `regex.match` or regorus' own.
    fn evaluate(ours: bool, call: &str) -> Result<Value, String> {
        evaluate_on(ours, call, None)
    }

    /// [`evaluate`] with `input` as the input document.
    fn evaluate_on(ours: bool, call: &str, input: Option<Value>) -> Result<Value, String> {
        let mut engine = Engine::new();
        if let Some(input) = input {
            engine.set_input(input);
        }
        engine.set_rego_v0(true);
        if ours {
            install(&mut engine).unwrap();
        }
        let policy =
            format!("package t\nout := {call}\nnegated {{ not {call} }}\nboth := [out, negated]\n");
        engine
            .add_policy("t.rego".to_string(), policy)
            .map_err(|e| e.to_string())?;
        let out = engine
            .eval_rule("data.t.out".to_string())
            .map_err(|e| e.to_string())?;
        let negated = engine
            .eval_rule("data.t.negated".to_string())
            .map_err(|e| e.to_string())?;
        Ok(Value::from(vec![out, negated]))
    }

    /// An error's message without its position: the `error: …` line.
    fn words(e: &str) -> &str {
        e.lines().last().unwrap_or(e)
    }

    /// The line an error points at (`--> t.rego:L:C`).
    fn line(e: &str) -> &str {
        e.lines()
            .find_map(|l| l.trim().strip_prefix("--> "))
            .and_then(|at| at.split(':').nth(1))
            .unwrap_or("")
    }

    #[test]
    fn answers_as_regorus_builtin_does() {
        let answers = [
            // Matches and misses, anchored and not.
            r#"regex.match(`:v?[0-9]+\.[0-9]+\.[0-9]+$`, "ghcr.io/a/b:v2.14.0")"#,
            r#"regex.match(`:v?[0-9]+\.[0-9]+\.[0-9]+$`, "ghcr.io/a/b:latest")"#,
            r#"regex.match("^cgr\\.dev/", "cgr.dev/chainguard/nginx")"#,
            r#"regex.match("(?i)NGINX", "cgr.dev/chainguard/nginx")"#,
            r#"regex.match("", "")"#,
            r#"regex.match("é+", "café")"#,
            r#"regex.match("^\\w+$", "ünïcode")"#,
            // Patterns whose literals a prefilter would search for (which `compile` leaves out).
            r#"regex.match("(nginx|redis|postgres):", "docker.io/library/redis:7")"#,
            r#"regex.match("(nginx|redis|postgres):", "docker.io/library/mysql:8")"#,
            r#"regex.match("\\bnginx\\b", "cgr.dev/chainguard/nginx-fips")"#,
            r#"regex.match("(?m)^b$", "a\nb\nc")"#,
            r#"regex.match("\\p{Greek}", "λ")"#,
            r#"regex.match("a*", "")"#,
            // An undefined argument.
            r#"regex.match(input.nothing, "a")"#,
            r#"regex.match("a", input.nothing)"#,
        ];
        for call in answers {
            let theirs = evaluate(false, call);
            let ours = evaluate(true, call);
            assert_eq!(ours, theirs, "{call}");
            assert!(ours.is_ok(), "{call}: {ours:?}");
        }
        let big = format!("`{}`", "[a-z]{1000}".repeat(20));
        let too_big = format!("regex.match({big}, \"a\")");
        let errors = [
            r#"regex.match("(", "x")"#,
            r#"regex.match("a{2,1}", "aa")"#,
            r#"regex.match(1, "1")"#,
            r#"regex.match("1", 1)"#,
            r#"regex.match(["a"], 2)"#,
        ];
        for call in errors {
            let theirs = evaluate(false, call).unwrap_err();
            let ours = evaluate(true, call).unwrap_err();
            assert_eq!(words(&ours), words(&theirs), "{call}");
            assert_eq!(line(&ours), line(&theirs), "{call}");
            assert_eq!(line(&ours), "2", "{call}: {ours}");
        }
        // regorus reports its size limit without a position; here it has the call's.
        let theirs = evaluate(false, &too_big).unwrap_err();
        let ours = evaluate(true, &too_big).unwrap_err();
        assert_eq!(theirs, "compiled regex exceeded size limit (102400 bytes)");
        assert_eq!(words(&ours), format!("error: {theirs}"));
        assert_eq!(line(&ours), "2", "{ours}");
    }

    #[test]
    fn the_answers_are_the_expected_ones() {
        // Not only regorus' answers: the answers themselves.
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        let u = Value::Undefined;
        let cases = [
            (r#"regex.match("^a+$", "aaa")"#, vec![t.clone(), u.clone()]),
            (r#"regex.match("^a+$", "aab")"#, vec![f, t.clone()]),
            // `not` of an undefined call is true, as with the builtin.
            (r#"regex.match(input.x, "a")"#, vec![u, Value::Bool(true)]),
        ];
        for (call, expected) in cases {
            assert_eq!(evaluate(true, call), Ok(Value::from(expected)), "{call}");
        }
        let cases = [
            (r#"regex.match("(", "x")"#, "error: invalid regex"),
            (
                r#"regex.match(1, "1")"#,
                "error: `regex.match` expects string argument. Got `1` instead",
            ),
            (
                r#"regex.match("1", ["x"])"#,
                r#"error: `regex.match` expects string argument. Got `["x"]` instead"#,
            ),
        ];
        for (call, expected) in cases {
            assert_eq!(
                words(&evaluate(true, call).unwrap_err()),
                expected,
                "{call}"
            );
        }
    }

    #[test]
    fn a_pattern_is_compiled_once_and_kept() {
        let pattern = "^kept-[0-9]+$";
        let call = |v: &str| regex_match(vec![Value::from(pattern), Value::from(v)]).unwrap();
        assert_eq!(call("kept-1"), Value::Bool(true));
        assert!(COMPILED.with(|c| c.borrow().contains_key(pattern)));
        assert_eq!(call("kept-x"), Value::Bool(false));
        // An invalid pattern is not kept.
        assert!(regex_match(vec![Value::from("("), Value::from("x")]).is_err());
        assert!(!COMPILED.with(|c| c.borrow().contains_key("(")));
    }

    #[test]
    fn at_most_capacity_patterns_are_kept() {
        // A thread of its own: the cache is per thread (per instance in wasm).
        std::thread::spawn(|| {
            let call =
                |p: &str, v: &str| regex_match(vec![Value::from(p), Value::from(v)]).unwrap();
            for i in 0..CAPACITY {
                assert_eq!(
                    call(&format!("^p{i}$"), &format!("p{i}")),
                    Value::Bool(true)
                );
            }
            assert_eq!(COMPILED.with(|c| c.borrow().len()), CAPACITY);
            // One more empties the table and is kept alone; a policy's pattern comes back.
            assert_eq!(call("^late$", "late"), Value::Bool(true));
            assert_eq!(COMPILED.with(|c| c.borrow().len()), 1);
            assert_eq!(call("^p0$", "p1"), Value::Bool(false));
            assert!(COMPILED.with(|c| c.borrow().contains_key("^p0$")));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_search_past_the_dfa_cache_limit_answers_as_the_builtin() {
        // The review's input: a pattern whose lazy DFA fills any cache, on a long value.
        let mut x: u64 = 12345;
        let hay: String = (0..30_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x & 1 == 0 { 'a' } else { 'b' }
            })
            .collect();
        let (t, u) = (Value::Bool(true), Value::Undefined);
        for (tail, expected) in [("[^ab]", false), ("b", true), ("", true)] {
            let call = format!("regex.match(`[ab]*a[ab]{{18}}{tail}`, input.hay)");
            let input = || Some(Value::from_json_str(&format!("{{\"hay\": \"{hay}\"}}")).unwrap());
            let ours = evaluate_on(true, &call, input());
            assert_eq!(ours, evaluate_on(false, &call, input()), "{tail}");
            let answer = if expected {
                vec![t.clone(), u.clone()]
            } else {
                vec![Value::Bool(false), t.clone()]
            };
            assert_eq!(ours, Ok(Value::from(answer)), "{tail}");
        }
    }

    #[test]
    fn policies_compiled_here_use_it_under_the_timer() {
        use crate::rego::RegoPolicy;
        use serde_json::json;
        let release = RegoPolicy::compile(
            "package sigstore\nisCompliant { regex.match(`:v?[0-9]+\\.[0-9]+\\.[0-9]+$`, input.image) }\n",
            1000,
        )
        .unwrap();
        assert!(
            release
                .evaluate(&json!({"image": "ghcr.io/a/b:v2.14.0"}))
                .is_ok()
        );
        // Through this module's extension, not regorus' builtin: the matcher was kept.
        let kept = ":v?[0-9]+\\.[0-9]+\\.[0-9]+$";
        assert!(COMPILED.with(|c| c.borrow().contains_key(kept)));
        let refused = release.evaluate(&json!({"image": "ghcr.io/a/b:latest"}));
        assert_eq!(
            refused.unwrap_err(),
            "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
        );
        // An invalid pattern built from the input fails the CIP: `not` does not turn it into
        // a pass.
        let negated = RegoPolicy::compile(
            "package sigstore\nisCompliant { not regex.match(input.p, \"x\") }\n",
            1000,
        )
        .unwrap();
        let error = negated
            .evaluate(&json!({"image": "a:1", "p": "("}))
            .unwrap_err();
        assert!(error.ends_with("error: invalid regex"), "{error}");
        assert!(negated.evaluate(&json!({"image": "a:1", "p": "y"})).is_ok());
        // Calls in a long loop still stop at the execution timer (checked between steps).
        let looping = RegoPolicy::compile(
            "package sigstore\nisCompliant { count([i | numbers.range(1, 1000000)[i]; regex.match(\"^a+$\", \"aaa\")]) > 0 }\n",
            20,
        )
        .unwrap();
        let error = looping.evaluate(&json!({"image": "a:1"})).unwrap_err();
        assert!(error.contains("execution exceeded time limit"), "{error}");
    }
}
