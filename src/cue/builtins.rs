//! The builtins of the subset: `len`, and the functions of the `strings`, `list`, `struct` and
//! `time` packages that CIP policies use (cuelang `pkg/strings`, `pkg/list`, `pkg/struct`,
//! `pkg/time`; Go's `strings` package semantics for the string functions).
//!
//! A builtin that returns a bool and is called with its first argument left out is a
//! validator (spec, "Validators"; `list.MinItems(1)`, `strings.HasPrefix("x")`): unified with
//! a value, it calls the function with the value first and fails unless the result is `true`:
//! `invalid value V (does not satisfy list.MinItems(1))`.
//!
//! Arguments must be concrete; one that is not yet is an incomplete error (not reported by
//! validation, as cuelang).

use super::value::{Val, kind, scalar_eq};
use std::fmt;
use std::rc::Rc;

/// One builtin: package, name, parameter count, kind of the first parameter, whether it
/// returns a bool (so can be a validator).
struct Builtin {
    pkg: &'static str,
    name: &'static str,
    arity: usize,
    first: u8,
    is_bool: bool,
}

const fn b(
    pkg: &'static str,
    name: &'static str,
    arity: usize,
    first: u8,
    is_bool: bool,
) -> Builtin {
    Builtin {
        pkg,
        name,
        arity,
        first,
        is_bool,
    }
}

/// The supported builtins.
const BUILTINS: &[Builtin] = &[
    b("strings", "Contains", 2, kind::STRING, true),
    b("strings", "HasPrefix", 2, kind::STRING, true),
    b("strings", "HasSuffix", 2, kind::STRING, true),
    b("strings", "MinRunes", 2, kind::STRING, true),
    b("strings", "MaxRunes", 2, kind::STRING, true),
    b("strings", "ToLower", 1, kind::STRING, false),
    b("strings", "ToUpper", 1, kind::STRING, false),
    b("strings", "TrimSpace", 1, kind::STRING, false),
    b("strings", "TrimPrefix", 2, kind::STRING, false),
    b("strings", "TrimSuffix", 2, kind::STRING, false),
    b("strings", "Split", 2, kind::STRING, false),
    b("strings", "Join", 2, kind::LIST, false),
    b("list", "Contains", 2, kind::LIST, true),
    b("list", "MinItems", 2, kind::LIST, true),
    b("list", "MaxItems", 2, kind::LIST, true),
    b("struct", "MinFields", 2, kind::STRUCT, true),
    b("struct", "MaxFields", 2, kind::STRUCT, true),
    b("time", "Parse", 2, kind::STRING, false),
];

/// Constants of the supported packages.
const CONSTANTS: &[(&str, &str, &str)] = &[("time", "RFC3339", "2006-01-02T15:04:05Z07:00")];

/// The packages that can be imported.
pub const PACKAGES: &[&str] = &["strings", "list", "struct", "time"];

/// A validator: a bool builtin with its first argument to come.
#[derive(Debug, Clone)]
pub struct Validator {
    pkg: &'static str,
    name: &'static str,
    first: u8,
    args: Vec<Val>,
}

impl Validator {
    /// The kinds of value it applies to.
    pub fn kind(&self) -> u8 {
        self.first
    }

    /// `v & self`: `v`, or `invalid value V (does not satisfy pkg.Name(args))`.
    pub fn check(&self, v: &Val, this: &Val) -> Val {
        let mut args = vec![v.clone()];
        args.extend(self.args.iter().cloned());
        match call_fn(self.pkg, self.name, &args) {
            Val::Bool(true) => v.clone(),
            Val::Bool(false) => Val::fatal(format!("invalid value {v} (does not satisfy {this})")),
            other => other,
        }
    }
}

impl fmt::Display for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        write!(f, "{}.{}({})", self.pkg, self.name, args.join(", "))
    }
}

fn find(pkg: &str, name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.pkg == pkg && b.name == name)
}

/// Checks a use of `pkg.name` with `args` arguments (`None`: not called) at compile time.
/// Errors: the message cuelang gives for an unknown member, or one naming the unsupported use.
pub fn check_use(pkg: &str, name: &str, args: Option<usize>) -> Result<(), String> {
    if let Some(b) = find(pkg, name) {
        return match args {
            None => Err(format!("{pkg}.{name} is a function: call it")),
            Some(n) if n == b.arity || (b.is_bool && n + 1 == b.arity) => Ok(()),
            Some(n) => Err(format!("{pkg}.{name} takes {} arguments, not {n}", b.arity)),
        };
    }
    if CONSTANTS.iter().any(|(p, n, _)| *p == pkg && *n == name) {
        return match args {
            None => Ok(()),
            Some(_) => Err(format!("cannot call non-function {pkg}.{name}")),
        };
    }
    Err(format!(
        "{pkg}.{name} is not supported (supported: {})",
        supported(pkg)
    ))
}

fn supported(pkg: &str) -> String {
    let mut names: Vec<&str> = BUILTINS
        .iter()
        .filter(|b| b.pkg == pkg)
        .map(|b| b.name)
        .collect();
    names.extend(
        CONSTANTS
            .iter()
            .filter(|(p, _, _)| *p == pkg)
            .map(|(_, n, _)| *n),
    );
    names.join(", ")
}

/// The value of the constant `pkg.name`.
pub fn constant(pkg: &str, name: &str) -> Val {
    match CONSTANTS.iter().find(|(p, n, _)| *p == pkg && *n == name) {
        Some((_, _, v)) => Val::str(v),
        None => Val::fatal(format!("{pkg}.{name} is not supported")),
    }
}

/// Calls `pkg.name(args)` (or makes the validator when one argument short).
pub fn call(pkg: &str, name: &str, args: Vec<Val>) -> Val {
    let Some(b) = find(pkg, name) else {
        return Val::fatal(format!("{pkg}.{name} is not supported"));
    };
    if b.is_bool && args.len() + 1 == b.arity {
        if let Some(e) = args.iter().find(|a| !concrete(a)) {
            return not_concrete(e);
        }
        return Val::Validator(Rc::new(Validator {
            pkg: b.pkg,
            name: b.name,
            first: b.first,
            args,
        }));
    }
    call_fn(pkg, name, &args)
}

fn concrete(v: &Val) -> bool {
    v.is_scalar() || matches!(v, Val::Struct(_) | Val::List(_, None))
}

fn not_concrete(v: &Val) -> Val {
    match v {
        Val::Bottom(_) => v.clone(),
        _ => Val::incomplete(format!("non-concrete argument {v}")),
    }
}

fn int_arg(v: &Val) -> Option<i128> {
    if let Val::Int(i) = v { Some(*i) } else { None }
}

/// `len(x)`: bytes of a string, elements of a closed list, fields of a struct.
pub fn len(v: &Val) -> Val {
    match v {
        Val::Str(s) => Val::Int(s.len() as i128),
        Val::List(e, None) => Val::Int(e.len() as i128),
        Val::Struct(f) => Val::Int(f.len() as i128),
        Val::Bottom(_) => v.clone(),
        v if concrete(v) => Val::fatal(format!("invalid argument {v} for len")),
        v => not_concrete(v),
    }
}

fn call_fn(pkg: &str, name: &str, args: &[Val]) -> Val {
    let args: Vec<Val> = args.iter().map(Val::resolved).collect();
    // list.MinItems and MaxItems read an open list's known elements (cuelang pkg/list).
    let open_list_ok = pkg == "list" && (name == "MinItems" || name == "MaxItems");
    for (i, a) in args.iter().enumerate() {
        if !(concrete(a) || (i == 0 && open_list_ok && matches!(a, Val::List(..)))) {
            return not_concrete(a);
        }
    }
    let wrong = || {
        let shown: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Val::fatal(format!(
            "invalid arguments for {pkg}.{name}({})",
            shown.join(", ")
        ))
    };
    let s = |i: usize| {
        if let Some(Val::Str(s)) = args.get(i) {
            Some(s.clone())
        } else {
            None
        }
    };
    match (pkg, name) {
        (
            "strings",
            "Contains" | "HasPrefix" | "HasSuffix" | "TrimPrefix" | "TrimSuffix" | "Split",
        ) => {
            let (Some(a), Some(x)) = (s(0), s(1)) else {
                return wrong();
            };
            match name {
                "Contains" => Val::Bool(a.contains(&*x)),
                "HasPrefix" => Val::Bool(a.starts_with(&*x)),
                "HasSuffix" => Val::Bool(a.ends_with(&*x)),
                "TrimPrefix" => Val::str(a.strip_prefix(&*x).unwrap_or(&a)),
                "TrimSuffix" => Val::str(a.strip_suffix(&*x).unwrap_or(&a)),
                _ => {
                    let count = if x.is_empty() {
                        a.chars().count()
                    } else {
                        a.matches(&*x).count().saturating_add(1)
                    };
                    if count > super::ops::MAX_LIST_ELEMENTS {
                        return Val::fatal(format!(
                            "strings.Split would build {count} elements, more than the {} this evaluator builds",
                            super::ops::MAX_LIST_ELEMENTS
                        ));
                    }
                    let parts: Vec<Val> = if x.is_empty() {
                        a.chars().map(|c| Val::str(&c.to_string())).collect()
                    } else {
                        a.split(&*x).map(Val::str).collect()
                    };
                    Val::List(Rc::new(parts), None)
                }
            }
        }
        ("strings", "MinRunes" | "MaxRunes") => {
            let (Some(a), Some(n)) = (s(0), args.get(1).and_then(int_arg)) else {
                return wrong();
            };
            let count = a.chars().count() as i128;
            Val::Bool(if name == "MinRunes" {
                count >= n
            } else {
                count <= n
            })
        }
        ("strings", "ToLower" | "ToUpper" | "TrimSpace") => {
            let Some(a) = s(0) else { return wrong() };
            Val::str(&match name {
                "ToLower" => a.to_lowercase(),
                "ToUpper" => a.to_uppercase(),
                _ => a.trim().to_string(),
            })
        }
        ("strings", "Join") => {
            let (Some(Val::List(items, None)), Some(sep)) = (args.first(), s(1)) else {
                return wrong();
            };
            let mut parts = Vec::new();
            let mut total = sep.len().saturating_mul(items.len().saturating_sub(1));
            for it in items.iter() {
                let Val::Str(p) = it.resolved() else {
                    return wrong();
                };
                total = total.saturating_add(p.len());
                if total > super::ops::MAX_STRING_BYTES {
                    return super::ops::too_long();
                }
                parts.push(p.to_string());
            }
            Val::str(&parts.join(&sep))
        }
        ("list", "Contains") => {
            let (Some(Val::List(items, _)), Some(x)) = (args.first(), args.get(1)) else {
                return wrong();
            };
            Val::Bool(items.iter().any(|it| deep_eq(&it.resolved(), x)))
        }
        ("list", "MinItems" | "MaxItems") | ("struct", "MinFields" | "MaxFields") => {
            let count = match args.first() {
                Some(Val::List(items, _)) if pkg == "list" => items.len() as i128,
                Some(Val::Struct(f)) if pkg == "struct" => f.len() as i128,
                _ => return wrong(),
            };
            let Some(n) = args.get(1).and_then(int_arg) else {
                return wrong();
            };
            Val::Bool(if name.starts_with("Min") {
                count >= n
            } else {
                count <= n
            })
        }
        ("time", "Parse") => {
            let (Some(layout), Some(value)) = (s(0), s(1)) else {
                return wrong();
            };
            if &*layout != "2006-01-02T15:04:05Z07:00" {
                return Val::fatal(format!(
                    "time.Parse: only the time.RFC3339 layout is supported, not {layout:?}"
                ));
            }
            match super::time::rfc3339_utc(&value) {
                Ok(t) => Val::str(&t),
                Err(e) => Val::fatal(format!("error in call to time.Parse: {e}")),
            }
        }
        _ => Val::fatal(format!("{pkg}.{name} is not supported")),
    }
}

/// Equality of concrete values, recursively (for `list.Contains` and `==`).
pub fn deep_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Struct(x), Val::Struct(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .any(|(l, w)| l == k && deep_eq(&v.resolved(), &w.resolved()))
                })
        }
        (Val::List(x, None), Val::List(y, None)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(v, w)| deep_eq(&v.resolved(), &w.resolved()))
        }
        _ => scalar_eq(a, b),
    }
}
