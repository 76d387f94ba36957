//! CUE values and their unification (`&`), for the subset [`super`] documents.
//!
//! Semantics from the CUE spec (cue-lang/cue `doc/ref/spec.md`): "Values" (the lattice: `_`
//! top, bottom), "Unification" (`a & b`: equal concrete values unify, different ones are
//! bottom; a basic type unifies with values of its kind), "Bounds" (`<3 & 2` is `2`, `<3 & 5`
//! is bottom; a bound applies to values of its operand's kind), "Disjunction" and "Default
//! values" (alternatives distribute over `&`, failed ones drop out, no alternative left is an
//! error; defaults combine as `D1 & D2`), "Structs" (fields unify pairwise; no definitions, so
//! every struct is open) and "Lists" (lists are closed unless `...`; lengths must agree).
//!
//! Error texts follow cuelang's (`internal/core/adt`): `conflicting values A and B`, with
//! ` (mismatched types K1 and K2)` when the kinds differ, `invalid value V (out of bound B)`,
//! `N errors in empty disjunction:`, `incompatible list lengths (M and N)`.

use super::builtins::Validator;
use regex::Regex;
use std::fmt;
use std::rc::Rc;

/// Most alternatives a disjunction may have after distribution; past it evaluation fails.
pub const MAX_DISJUNCTS: usize = 256;

/// Whether an error is final (a conflict: the policy fails) or incomplete (a value not yet
/// known, an undefined field, a cycle: cuelang's `IncompleteError`, which `Validate()` without
/// `Concrete(true)` does not report; cuelang `internal/core/validate/validate.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Reported by validation.
    Fatal,
    /// Not reported by validation.
    Incomplete,
}

/// Bottom: an error, with the messages that make it up (a disjunction's error carries those of
/// its alternatives, reported after it).
#[derive(Debug, Clone, PartialEq)]
pub struct Bottom {
    /// Fatal or incomplete.
    pub severity: Severity,
    /// The message, without a path.
    pub msg: String,
    /// Errors that explain this one (each alternative of an empty disjunction).
    pub sub: Vec<String>,
}

/// The kinds of basic types, as bits.
pub mod kind {
    /// `null`.
    pub const NULL: u8 = 1;
    /// `bool`.
    pub const BOOL: u8 = 2;
    /// `int`.
    pub const INT: u8 = 4;
    /// `float`.
    pub const FLOAT: u8 = 8;
    /// `string`.
    pub const STRING: u8 = 16;
    /// `bytes`.
    pub const BYTES: u8 = 32;
    /// `{…}`.
    pub const STRUCT: u8 = 64;
    /// `[…]`.
    pub const LIST: u8 = 128;
    /// `number`.
    pub const NUMBER: u8 = INT | FLOAT;
}

/// A bound's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `!=`
    Ne,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
}

impl BoundOp {
    /// The operator's spelling.
    pub fn text(self) -> &'static str {
        match self {
            BoundOp::Lt => "<",
            BoundOp::Le => "<=",
            BoundOp::Gt => ">",
            BoundOp::Ge => ">=",
            BoundOp::Ne => "!=",
            BoundOp::Match => "=~",
            BoundOp::NotMatch => "!~",
        }
    }
}

/// A value.
#[derive(Debug, Clone, Default)]
pub enum Val {
    /// `_`.
    #[default]
    Top,
    /// An error.
    Bottom(Rc<Bottom>),
    /// `null`.
    Null,
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A basic type or a union of them (`string`, `number`, …): [`kind`] bits.
    Kind(u8),
    /// A bound with a concrete operand; `=~`/`!~` keep the compiled regex.
    Bound(BoundOp, Rc<Val>, Option<Rc<Regex>>),
    /// A builtin validator (`list.MinItems(1)`, `strings.HasPrefix("x")`, …).
    Validator(Rc<Validator>),
    /// Constraints that all apply to a value not known yet (kinds, bounds, validators).
    Conj(Rc<Vec<Val>>),
    /// Alternatives, each with whether it is a default.
    Disj(Rc<Vec<(Val, bool)>>),
    /// A struct: fields in order.
    Struct(Rc<Vec<(String, Val)>>),
    /// A list: its elements, and the type of further elements when it is open.
    List(Rc<Vec<Val>>, Option<Rc<Val>>),
}

impl Val {
    /// A fatal error.
    pub fn fatal(msg: impl Into<String>) -> Val {
        Val::Bottom(Rc::new(Bottom {
            severity: Severity::Fatal,
            msg: msg.into(),
            sub: vec![],
        }))
    }

    /// An incomplete error.
    pub fn incomplete(msg: impl Into<String>) -> Val {
        Val::Bottom(Rc::new(Bottom {
            severity: Severity::Incomplete,
            msg: msg.into(),
            sub: vec![],
        }))
    }

    /// A string.
    pub fn str(s: &str) -> Val {
        Val::Str(Rc::from(s))
    }

    /// The value's kind bits (a union for constraints; 0 for top and bottom).
    pub fn kind(&self) -> u8 {
        match self {
            Val::Top | Val::Bottom(_) => 0,
            Val::Null => kind::NULL,
            Val::Bool(_) => kind::BOOL,
            Val::Int(_) => kind::INT,
            Val::Float(_) => kind::FLOAT,
            Val::Str(_) => kind::STRING,
            Val::Kind(k) => *k,
            Val::Bound(op, v, _) => match op {
                BoundOp::Match | BoundOp::NotMatch => kind::STRING,
                BoundOp::Ne => 0xff,
                _ if v.kind() & kind::NUMBER != 0 => kind::NUMBER,
                _ => v.kind(),
            },
            Val::Validator(v) => v.kind(),
            Val::Conj(cs) => cs.iter().fold(0xff, |k, c| k & c.kind()),
            Val::Disj(alts) => alts.iter().fold(0, |k, (a, _)| k | a.kind()),
            Val::Struct(_) => kind::STRUCT,
            Val::List(..) => kind::LIST,
        }
    }

    /// Whether this is a scalar literal.
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Val::Null | Val::Bool(_) | Val::Int(_) | Val::Float(_) | Val::Str(_)
        )
    }

    /// The value a concrete context uses (spec, "Default values": an unresolved disjunction
    /// resolves to its single default or its single alternative).
    pub fn resolved(&self) -> Val {
        if let Val::Disj(alts) = self {
            let defaults: Vec<&Val> = alts.iter().filter(|(_, d)| *d).map(|(v, _)| v).collect();
            if defaults.len() == 1 {
                return defaults[0].clone();
            }
            if alts.len() == 1 {
                return alts[0].0.clone();
            }
            return Val::incomplete("unresolved disjunction");
        }
        self.clone()
    }
}

/// The name of a kind set, as cuelang prints it (`int`, `string`, `number`, `int|string`).
pub fn kind_name(k: u8) -> String {
    let names = [
        (kind::NULL, "null"),
        (kind::BOOL, "bool"),
        (kind::INT, "int"),
        (kind::FLOAT, "float"),
        (kind::STRING, "string"),
        (kind::BYTES, "bytes"),
        (kind::STRUCT, "struct"),
        (kind::LIST, "list"),
    ];
    if k & kind::NUMBER == kind::NUMBER {
        let rest = k & !kind::NUMBER;
        let mut parts = vec!["number".to_string()];
        parts.extend(
            names
                .iter()
                .filter(|(b, _)| rest & b != 0)
                .map(|(_, n)| n.to_string()),
        );
        return parts.join("|");
    }
    let parts: Vec<&str> = names
        .iter()
        .filter(|(b, _)| k & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if parts.is_empty() {
        "_".into()
    } else {
        parts.join("|")
    }
}

/// Longest rendering of a struct or list in a message, in bytes.
const MAX_RENDER: usize = 120;

impl fmt::Display for Val {
    /// cuelang's rendering of values in messages: strings Go-quoted, `int`, `<3`, `=~"^a"`,
    /// structs and lists in brief.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Top => write!(f, "_"),
            Val::Bottom(_) => write!(f, "_|_"),
            Val::Null => write!(f, "null"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => {
                if x.fract() == 0.0 && x.abs() < 1e21 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
            Val::Str(s) => write!(f, "{}", quote(s)),
            Val::Kind(k) => write!(f, "{}", kind_name(*k)),
            Val::Bound(op, v, _) => write!(f, "{}{v}", op.text()),
            Val::Validator(v) => write!(f, "{v}"),
            Val::Conj(cs) => {
                let parts: Vec<String> = cs.iter().map(|c| c.to_string()).collect();
                write!(f, "{}", parts.join(" & "))
            }
            Val::Disj(alts) => {
                let parts: Vec<String> = alts
                    .iter()
                    .map(|(a, d)| if *d { format!("*{a}") } else { a.to_string() })
                    .collect();
                write!(f, "{}", parts.join(" | "))
            }
            Val::Struct(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", label(k)))
                    .collect();
                write!(f, "{}", brief(format!("{{{}}}", parts.join(","))))
            }
            Val::List(elems, rest) => {
                let mut parts: Vec<String> = elems.iter().map(|e| e.to_string()).collect();
                if let Some(r) = rest {
                    parts.push(if matches!(**r, Val::Top) {
                        "...".into()
                    } else {
                        format!("...{r}")
                    });
                }
                write!(f, "{}", brief(format!("[{}]", parts.join(","))))
            }
        }
    }
}

fn brief(s: String) -> String {
    if s.len() <= MAX_RENDER {
        return s;
    }
    let mut end = MAX_RENDER;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A string quoted as Go's `strconv.Quote` does for printable text.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A label as cuelang prints it in a path: bare when an identifier, quoted otherwise.
pub fn label(l: &str) -> String {
    let mut chars = l.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !l.starts_with('#')
        && !l.starts_with('_');
    if ident { l.to_string() } else { quote(l) }
}

/// `conflicting values A and B`, with the mismatched kinds when they differ.
fn conflict(a: &Val, b: &Val) -> Val {
    let (ka, kb) = (a.kind(), b.kind());
    if ka & kb == 0 {
        Val::fatal(format!(
            "conflicting values {a} and {b} (mismatched types {} and {})",
            kind_name(ka),
            kind_name(kb)
        ))
    } else {
        Val::fatal(format!("conflicting values {a} and {b}"))
    }
}

/// Whether two scalars are equal (ints and floats never are: spec, "Numeric values").
pub fn scalar_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        _ => false,
    }
}

/// Orders two numbers or two strings; `None` for other pairs.
pub fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Float(y)) => (*x as f64).partial_cmp(y),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        _ => None,
    }
}

/// Checks a concrete value (scalar, struct or list) against a bound; `None` when the bound
/// does not apply to the value's kind (a conflict).
fn check_bound(
    v: &Val,
    op: BoundOp,
    operand: &Val,
    re: Option<&Regex>,
    bound: &Val,
) -> Option<Val> {
    let ok = match op {
        BoundOp::Match | BoundOp::NotMatch => {
            let (Val::Str(s), Some(re)) = (v, re) else {
                return None;
            };
            re.is_match(s) == (op == BoundOp::Match)
        }
        BoundOp::Ne => !scalar_eq(v, operand),
        _ => {
            let ord = compare(v, operand)?;
            match op {
                BoundOp::Lt => ord.is_lt(),
                BoundOp::Le => ord.is_le(),
                BoundOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    };
    Some(if ok {
        v.clone()
    } else {
        Val::fatal(format!("invalid value {v} (out of bound {bound})"))
    })
}

/// Whether `v` is concrete enough for a constraint to be checked against it.
fn is_checkable(v: &Val) -> bool {
    v.is_scalar() || matches!(v, Val::Struct(_) | Val::List(..))
}

/// Applies a constraint (kind, bound, validator) to a concrete value; `None` when the
/// constraint does not apply to the value's kind (a conflict the caller words, in its order).
fn constrain(c: &Val, v: &Val) -> Option<Val> {
    match c {
        Val::Kind(k) => (v.kind() & k != 0).then(|| v.clone()),
        Val::Bound(op, operand, re) => check_bound(v, *op, operand, re.as_deref(), c),
        Val::Validator(val) => (val.kind() & v.kind() != 0).then(|| val.check(v, c)),
        Val::Conj(cs) => {
            let mut out = v.clone();
            for c in cs.iter() {
                out = constrain(c, &out)?;
                if matches!(out, Val::Bottom(_)) {
                    break;
                }
            }
            Some(out)
        }
        _ => Some(unify(c, v)),
    }
}

/// `a & b` (spec, "Unification"): commutative in its result; messages name `a` first.
pub fn unify(a: &Val, b: &Val) -> Val {
    match (a, b) {
        (Val::Bottom(x), Val::Bottom(y)) => {
            if x.severity == Severity::Incomplete && y.severity == Severity::Fatal {
                b.clone()
            } else {
                a.clone()
            }
        }
        (Val::Bottom(_), _) => a.clone(),
        (_, Val::Bottom(_)) => b.clone(),
        (Val::Top, _) => b.clone(),
        (_, Val::Top) => a.clone(),
        (Val::Disj(_), _) | (_, Val::Disj(_)) => unify_disj(a, b),
        _ if a.is_scalar() && b.is_scalar() => {
            if scalar_eq(a, b) {
                a.clone()
            } else {
                conflict(a, b)
            }
        }
        (Val::Struct(x), Val::Struct(y)) => unify_structs(x, y),
        (Val::List(xe, xr), Val::List(ye, yr)) => unify_lists(xe, xr, ye, yr),
        (Val::Kind(x), Val::Kind(y)) => {
            let k = x & y;
            if k == 0 { conflict(a, b) } else { Val::Kind(k) }
        }
        _ if is_checkable(b) && !is_checkable(a) => {
            constrain(a, b).unwrap_or_else(|| conflict(a, b))
        }
        _ if is_checkable(a) && !is_checkable(b) => {
            constrain(b, a).unwrap_or_else(|| conflict(a, b))
        }
        _ if is_checkable(a) && is_checkable(b) => conflict(a, b),
        // Two constraints: kept together, unless their kinds cannot meet.
        _ => {
            if a.kind() & b.kind() == 0 {
                return conflict(a, b);
            }
            let mut cs: Vec<Val> = Vec::new();
            for v in [a, b] {
                match v {
                    Val::Conj(inner) => cs.extend(inner.iter().cloned()),
                    v => cs.push(v.clone()),
                }
            }
            Val::Conj(Rc::new(cs))
        }
    }
}

fn unify_structs(x: &[(String, Val)], y: &[(String, Val)]) -> Val {
    let mut fields: Vec<(String, Val)> = x.to_vec();
    for (k, v) in y {
        match fields.iter_mut().find(|(l, _)| l == k) {
            Some((_, old)) => *old = unify(old, v),
            None => fields.push((k.clone(), v.clone())),
        }
    }
    Val::Struct(Rc::new(fields))
}

fn unify_lists(xe: &[Val], xr: &Option<Rc<Val>>, ye: &[Val], yr: &Option<Rc<Val>>) -> Val {
    let (nx, ny) = (xe.len(), ye.len());
    if (xr.is_none() && ny > nx)
        || (yr.is_none() && nx > ny)
        || (xr.is_none() && yr.is_none() && nx != ny)
    {
        return Val::fatal(format!("incompatible list lengths ({nx} and {ny})"));
    }
    let n = nx.max(ny);
    let elem = |es: &[Val], r: &Option<Rc<Val>>, i: usize| -> Val {
        es.get(i)
            .cloned()
            .or_else(|| r.as_deref().cloned())
            .unwrap_or(Val::Top)
    };
    let elems: Vec<Val> = (0..n)
        .map(|i| unify(&elem(xe, xr, i), &elem(ye, yr, i)))
        .collect();
    let rest = match (xr, yr) {
        (Some(a), Some(b)) => Some(Rc::new(unify(a, b))),
        _ => None,
    };
    Val::List(Rc::new(elems), rest)
}

/// Distributes `&` over disjunctions (spec, "Disjunction", "Default values").
fn unify_disj(a: &Val, b: &Val) -> Val {
    let alts = |v: &Val| -> (Vec<(Val, bool)>, bool) {
        match v {
            Val::Disj(alts) => (alts.to_vec(), alts.iter().any(|(_, d)| *d)),
            v => (vec![(v.clone(), false)], false),
        }
    };
    let ((xa, xd), (ya, yd)) = (alts(a), alts(b));
    if xa.len().saturating_mul(ya.len()) > MAX_DISJUNCTS * 4 {
        return Val::fatal(format!(
            "disjunction with more than {MAX_DISJUNCTS} alternatives"
        ));
    }
    let mut out: Vec<(Val, bool)> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut incomplete = None;
    for (x, dx) in &xa {
        for (y, dy) in &ya {
            let v = unify(x, y);
            // A struct or list with a conflict inside is bottom too (see [`deep_fatal`]).
            let v = match deep_fatal(&v) {
                Some(msg) if !matches!(v, Val::Bottom(_)) => Val::fatal(msg),
                _ => v,
            };
            let d = (*dx || !xd) && (*dy || !yd) && (xd || yd);
            match &v {
                Val::Bottom(e) if e.severity == Severity::Fatal => errors.push(e.msg.clone()),
                Val::Bottom(_) => incomplete = Some(v.clone()),
                _ => {
                    if let Some(old) = out.iter_mut().find(|(o, _)| same(o, &v)) {
                        old.1 |= d;
                    } else {
                        out.push((v, d));
                    }
                }
            }
        }
    }
    if out.len() > MAX_DISJUNCTS {
        return Val::fatal(format!(
            "disjunction with more than {MAX_DISJUNCTS} alternatives"
        ));
    }
    match out.len() {
        0 => incomplete.unwrap_or_else(|| {
            Val::Bottom(Rc::new(Bottom {
                severity: Severity::Fatal,
                msg: format!("{} errors in empty disjunction:", errors.len()),
                sub: errors,
            }))
        }),
        1 => out.pop().map(|(v, _)| v).unwrap_or(Val::Top),
        _ => Val::Disj(Rc::new(out)),
    }
}

/// The first fatal error anywhere inside `v` (a field of a struct, an element of a list, at any
/// depth), as `path: message`. A struct or list holding one is itself bottom (spec "Structs":
/// "bottom if any of its defined fields evaluates to bottom, recursively"), so a disjunction
/// drops such an alternative. Walked with an explicit stack: no recursion on the value's depth.
pub fn deep_fatal(v: &Val) -> Option<String> {
    let mut stack: Vec<(String, &Val)> = vec![(String::new(), v)];
    while let Some((path, v)) = stack.pop() {
        let join = |seg: String| {
            if path.is_empty() {
                seg
            } else {
                format!("{path}.{seg}")
            }
        };
        match v {
            Val::Bottom(e) if e.severity == Severity::Fatal => {
                return Some(if path.is_empty() {
                    e.msg.clone()
                } else {
                    format!("{path}: {}", e.msg)
                });
            }
            Val::Struct(fields) => {
                for (k, f) in fields.iter().rev() {
                    stack.push((join(label(k)), f));
                }
            }
            Val::List(elems, _) => {
                for (i, e) in elems.iter().enumerate().rev() {
                    stack.push((join(i.to_string()), e));
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether two values are the same alternative (scalars equal, or the same rendering).
fn same(a: &Val, b: &Val) -> bool {
    if a.is_scalar() && b.is_scalar() {
        return scalar_eq(a, b);
    }
    a.kind() == b.kind() && a.to_string() == b.to_string()
}
