//! CIP-level CUE policies, evaluated inside the module by this crate's own CUE evaluator (no
//! CUE implementation exists for Rust).
//!
//! Contract mirrored from upstream: policy-controller evaluates a CIP's `policy` of `type: cue`
//! (`pkg/webhook/validator.go`, CIP-level policy) with cosign's `EvaluatePolicyAgainstJSON`,
//! whose `evaluateCue` (cosign `pkg/policy/eval.go` L58-73, at the parent of commit
//! `193d2153`, which removed the file) compiles the policy (`CompileString`), compiles the
//! input document (`CompileBytes`), unifies the two and calls `Validate()` with no options. It
//! fails only on a conflict (bottom): a field the input lacks passes (the policy's value or
//! constraint simply stands), and so does a value that is not concrete, an unresolved
//! disjunction, or a comprehension whose condition cannot be decided. Failure text:
//! [`FAILURE_PREFIX`]`: failed to evaluate the policy with error: <cue error>`, the cue error
//! being `path: message`, and ` (and N more errors)` when there are several (cuelang
//! `cue/errors`, `list.Msg`).
//!
//! ## The subset
//! Everything the CUE policies of real CIPs use (README, "CUE policies"): `package`, `import`
//! of `strings`, `list`, `struct`, `time`; structs, `a: b: c` shorthand, quoted and unquoted
//! labels, `...` in a struct (a no-op: every struct is open); string (with Go escapes), int,
//! float, bool and null literals; `_`; the basic types `string`, `int`, `float`, `number`,
//! `bool`, `bytes`, `null`; `&`, `|` with `*` defaults; bounds `<`, `<=`, `>`, `>=`, `!=`,
//! `=~`, `!~`; lists, open lists `[...T]`, `[a, b, ...T]`; `let`; `if` comprehensions;
//! references, selectors and indexes; `== != < <= > >= =~ !~ && || !`, `+ - * /`; `len` and the
//! builtins of [`builtins`] (also as validators: `list.MinItems(1)`).
//!
//! Refused at compile time, by name and `line:column`: definitions (`#X`), hidden fields,
//! optional and required fields, pattern constraints, aliases, embeddings, `for`
//! comprehensions, list comprehensions, slices, string interpolation, multi-line, raw and byte
//! strings, number multipliers, attributes, other packages and builtins (`close`, `and`, …).
//!
//! ## Bounds
//! The source is limited to [`MAX_SOURCE_BYTES`] and its bracket nesting to
//! [`parser::MAX_DEPTH`] before parsing; parsing recursion is counted
//! ([`parser::MAX_PARSE_DEPTH`]) and so is evaluation's ([`eval::MAX_EVAL_DEPTH`]); a
//! disjunction has at most [`value::MAX_DISJUNCTS`] alternatives; each evaluation has a
//! wall-clock budget (`timeout_ms`, like [`crate::rego::RegoPolicy::compile`]).

pub mod ast;
pub mod builtins;
pub mod check;
pub mod eval;
#[cfg(test)]
mod fixtures_tests;
pub mod lexer;
pub mod ops;
pub mod parser;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod tests;
pub mod time;
pub mod tree;
pub mod value;

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

/// Prefix of every CUE failure at CIP level (cosign `pkg/policy/eval.go`, with the CIP kind as
/// policy-controller names it).
pub const FAILURE_PREFIX: &str = "failed evaluating cue policy for ClusterImagePolicy";

/// Largest policy text accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

/// A position in the policy text: line and column, both from 1 (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A compiled CUE policy, ready to evaluate many inputs.
///
/// The regular expressions of its bounds are compiled at their first use and kept for the
/// policy's later evaluations (one request evaluates a CIP's policy once per image).
#[derive(Debug)]
pub struct CuePolicy {
    file: ast::File,
    timeout_ms: u64,
    regexes: RefCell<ops::Regexes>,
}

impl CuePolicy {
    /// Parses and checks `source`, with a time budget of `timeout_ms` milliseconds per
    /// evaluation.
    ///
    /// Errors: one line, `<line>:<column>: <message>` (a syntax error, a construct outside the
    /// subset named, an unresolved reference, an unsupported or unused import), or the size
    /// limit.
    pub fn compile(source: &str, timeout_ms: u64) -> Result<Self, String> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(format!(
                "the policy has {} bytes, more than the {MAX_SOURCE_BYTES} accepted",
                source.len()
            ));
        }
        let at = |(pos, msg): (Pos, String)| format!("{pos}: {msg}");
        let toks = lexer::lex(source).map_err(at)?;
        let mut depth = 0usize;
        for (t, pos) in &toks {
            match t {
                lexer::Tok::Punct("{" | "[" | "(") => {
                    depth += 1;
                    if depth > parser::MAX_DEPTH {
                        return Err(at((
                            *pos,
                            format!("nesting deeper than {} levels", parser::MAX_DEPTH),
                        )));
                    }
                }
                lexer::Tok::Punct("}" | "]" | ")") => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        let file = parser::parse(toks).map_err(at)?;
        check::check(&file).map_err(at)?;
        Ok(CuePolicy {
            file,
            timeout_ms,
            regexes: RefCell::new(ops::Regexes::default()),
        })
    }

    /// Unifies the policy with `input` and validates the result (see the module
    /// documentation), within the policy's own time budget. Errors: the cue error
    /// (`typemeta.kind: conflicting values "Deployment" and "Pod"`), or that the time budget or
    /// the evaluation depth was exceeded.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<(), String> {
        self.evaluate_within(input, Duration::from_millis(self.timeout_ms))
            .map_err(|f| f.message)
    }

    /// [`CuePolicy::evaluate`] within `limit` instead of the policy's own budget (the verdict
    /// gives the smaller of it and what is left of the request budget, [`crate::budget`]).
    /// Errors: the same messages, and whether the evaluation was stopped by `limit`.
    pub fn evaluate_within(
        &self,
        input: &serde_json::Value,
        limit: Duration,
    ) -> Result<(), crate::budget::Failure> {
        // Never borrowed twice (evaluations do not nest); should it be, a fresh cache.
        let mut fresh = ops::Regexes::default();
        let mut cached = self.regexes.try_borrow_mut();
        let regexes = match cached.as_deref_mut() {
            Ok(r) => r,
            Err(_) => &mut fresh,
        };
        let mut ev = eval::Evaluator::new(&self.file, input, limit, regexes);
        let errors = ev.validate();
        let failure = |message: String| crate::budget::Failure {
            message,
            timed_out: false,
        };
        if let Some(message) = ev.aborted {
            return Err(crate::budget::Failure {
                message,
                timed_out: ev.timed_out,
            });
        }
        match errors.as_slice() {
            [] => Ok(()),
            [one] => Err(failure(one.clone())),
            [first, rest @ ..] => Err(failure(format!("{first} (and {} more errors)", rest.len()))),
        }
    }
}
