//! Operators on values: unary operators and bounds, binary operators, arithmetic, and the
//! value of a disjunction literal (cue-lang/cue `doc/ref/spec.md`: "Operators", "Bounds",
//! "Arithmetic operators", "Comparison operators", "Logical operators", "Disjunction").

use super::builtins;
use super::value::{self, BoundOp, Severity, Val, compare, unify};
use regex::Regex;
use std::collections::HashMap;
use std::rc::Rc;

/// Longest regular expression accepted in `=~` / `!~`, in bytes.
const MAX_REGEX_SIZE: usize = 1 << 20;

/// The regular expressions of one evaluation, compiled once each.
#[derive(Debug, Default)]
pub struct Regexes(HashMap<String, Result<Rc<Regex>, String>>);

impl Regexes {
    /// `pattern` compiled (at most [`MAX_REGEX_SIZE`]), once per evaluation.
    pub fn get(&mut self, pattern: &str) -> Result<Rc<Regex>, String> {
        if let Some(r) = self.0.get(pattern) {
            return r.clone();
        }
        // Go's RE2 as cuelang compiles it (`regexp.Compile`): what Go refuses or reads
        // differently is refused, and `\d`, `\w`, `\s`, `\b` are ASCII as in Go
        // (`identity::go_regex`).
        let r = if pattern.len() > MAX_REGEX_SIZE {
            Err(format!(
                "invalid regular expression {}: longer than {MAX_REGEX_SIZE} bytes",
                value::quote(pattern)
            ))
        } else {
            crate::identity::go_regex(pattern)
                .map(Rc::new)
                .map_err(|e| format!("invalid regular expression {}: {e}", value::quote(pattern)))
        };
        self.0.insert(pattern.to_string(), r.clone());
        r
    }
}

/// A unary operator applied to a value: `-`, `+`, `!` on concrete values, a bound
/// (spec, "Bounds") from a concrete operand, `*` (a default marker: the value).
pub fn unary(op: &str, v: Val, regexes: &mut Regexes) -> Val {
    if op == "*" {
        return v;
    }
    let v = v.resolved();
    if let Val::Bottom(_) = v {
        return v;
    }
    if !v.is_scalar() {
        return Val::incomplete(format!("operand {v} of '{op}' is not concrete"));
    }
    let bound = |b: BoundOp, v: Val| Val::Bound(b, Rc::new(v), None);
    match (op, &v) {
        ("-", Val::Int(i)) => i
            .checked_neg()
            .map(Val::Int)
            .unwrap_or_else(|| Val::fatal("integer overflow")),
        ("-", Val::Float(f)) => Val::Float(-f),
        ("+", Val::Int(_) | Val::Float(_)) => v,
        ("!", Val::Bool(b)) => Val::Bool(!b),
        ("<" | "<=" | ">" | ">=", Val::Int(_) | Val::Float(_) | Val::Str(_)) => bound(
            match op {
                "<" => BoundOp::Lt,
                "<=" => BoundOp::Le,
                ">" => BoundOp::Gt,
                _ => BoundOp::Ge,
            },
            v,
        ),
        ("!=", _) => bound(BoundOp::Ne, v),
        ("=~" | "!~", Val::Str(s)) => match regexes.get(s) {
            Ok(re) => Val::Bound(
                if op == "=~" {
                    BoundOp::Match
                } else {
                    BoundOp::NotMatch
                },
                Rc::new(v.clone()),
                Some(re),
            ),
            Err(e) => Val::fatal(e),
        },
        _ => Val::fatal(format!(
            "invalid operation {op}{v} (operator '{op}' not defined on {})",
            value::kind_name(v.kind())
        )),
    }
}

/// A binary operator other than `|` (spec, "Operators"): `&` unifies; the others need
/// concrete operands (an incomplete error otherwise).
pub fn binary(op: &str, a: Val, b: Val, regexes: &mut Regexes) -> Val {
    if op == "&" {
        return unify(&a, &b);
    }
    let (a, b) = (a.resolved(), b.resolved());
    for v in [&a, &b] {
        if let Val::Bottom(_) = v {
            return v.clone();
        }
    }
    let concrete = |v: &Val| v.is_scalar() || matches!(v, Val::Struct(_) | Val::List(_, None));
    if !concrete(&a) || !concrete(&b) {
        return Val::incomplete(format!("non-concrete value in {a} {op} {b}"));
    }
    let invalid = || {
        Val::fatal(format!(
            "invalid operation {a} {op} {b} (mismatched types {} and {})",
            value::kind_name(a.kind()),
            value::kind_name(b.kind())
        ))
    };
    match op {
        "==" => Val::Bool(builtins::deep_eq(&a, &b)),
        "!=" => Val::Bool(!builtins::deep_eq(&a, &b)),
        "<" | "<=" | ">" | ">=" => match compare(&a, &b) {
            Some(o) => Val::Bool(match op {
                "<" => o.is_lt(),
                "<=" => o.is_le(),
                ">" => o.is_gt(),
                _ => o.is_ge(),
            }),
            None => invalid(),
        },
        "=~" | "!~" => match (&a, &b) {
            (Val::Str(s), Val::Str(p)) => match regexes.get(p) {
                Ok(re) => Val::Bool(re.is_match(s) == (op == "=~")),
                Err(e) => Val::fatal(e),
            },
            _ => invalid(),
        },
        "&&" | "||" => match (&a, &b) {
            (Val::Bool(x), Val::Bool(y)) => Val::Bool(if op == "&&" { *x && *y } else { *x || *y }),
            _ => invalid(),
        },
        _ => arithmetic(op, &a, &b).unwrap_or_else(invalid),
    }
}

/// Longest string an operator or builtin may build, in bytes: a policy doubling a string
/// through `let` fields would otherwise exhaust the module's memory in 30 lines, long before
/// the time budget is read (the input's own strings are not limited here).
pub const MAX_STRING_BYTES: usize = 1 << 20;

/// Most elements a builtin may build into a list (`strings.Split`).
pub const MAX_LIST_ELEMENTS: usize = 100_000;

/// The error of a string past [`MAX_STRING_BYTES`].
pub fn too_long() -> Val {
    Val::fatal(format!(
        "the result would be longer than {MAX_STRING_BYTES} bytes, the most this evaluator builds"
    ))
}

/// `+ - * /` on numbers, `+` on strings (spec, "Arithmetic operators"; `/` gives a float).
fn arithmetic(op: &str, a: &Val, b: &Val) -> Option<Val> {
    let overflow = || Val::fatal("integer overflow");
    Some(match (op, a, b) {
        ("+", Val::Str(x), Val::Str(y)) => {
            if x.len().saturating_add(y.len()) > MAX_STRING_BYTES {
                return Some(too_long());
            }
            Val::str(&format!("{x}{y}"))
        }
        ("+", Val::Int(x), Val::Int(y)) => x.checked_add(*y).map(Val::Int).unwrap_or_else(overflow),
        ("-", Val::Int(x), Val::Int(y)) => x.checked_sub(*y).map(Val::Int).unwrap_or_else(overflow),
        ("*", Val::Int(x), Val::Int(y)) => x.checked_mul(*y).map(Val::Int).unwrap_or_else(overflow),
        (_, Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let f = |v: &Val| match v {
                Val::Int(i) => *i as f64,
                Val::Float(x) => *x,
                _ => 0.0,
            };
            let (x, y) = (f(a), f(b));
            match op {
                "+" => Val::Float(x + y),
                "-" => Val::Float(x - y),
                "*" => Val::Float(x * y),
                "/" if y == 0.0 => Val::fatal("division by zero"),
                "/" => Val::Float(x / y),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A disjunction's value (spec, "Disjunction"): nested alternatives flattened, failed ones
/// dropped; none left is an error.
pub fn disjunction(alts: Vec<(Val, bool)>) -> Val {
    let mut out: Vec<(Val, bool)> = Vec::new();
    let mut errors = Vec::new();
    let mut incomplete = None;
    for (v, d) in alts {
        // A struct or list with a conflict inside is bottom too (`value::deep_fatal`).
        let v = match value::deep_fatal(&v) {
            Some(msg) if !matches!(v, Val::Bottom(_)) => Val::fatal(msg),
            _ => v,
        };
        match v {
            Val::Disj(inner) => {
                let inner_defaults = inner.iter().any(|(_, x)| *x);
                out.extend(
                    inner
                        .iter()
                        .map(|(x, xd)| (x.clone(), if d { !inner_defaults || *xd } else { *xd })),
                );
            }
            Val::Bottom(ref e) if e.severity == Severity::Fatal => errors.push(e.msg.clone()),
            Val::Bottom(_) => incomplete = Some(v),
            v => out.push((v, d)),
        }
    }
    if out.len() > value::MAX_DISJUNCTS {
        return Val::fatal(format!(
            "disjunction with more than {} alternatives",
            value::MAX_DISJUNCTS
        ));
    }
    if out.is_empty() {
        return incomplete.unwrap_or_else(|| {
            Val::Bottom(Rc::new(value::Bottom {
                severity: Severity::Fatal,
                msg: format!("{} errors in empty disjunction:", errors.len()),
                sub: errors,
            }))
        });
    }
    if out.len() == 1 && !out[0].1 {
        return out.pop().map(|(v, _)| v).unwrap_or(Val::Top);
    }
    Val::Disj(Rc::new(out))
}
