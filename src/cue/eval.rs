//! Evaluation: the policy file unified with the input document, then validated.
//!
//! What cosign's `evaluateCue` does (cosign `pkg/policy/eval.go` L58-73 at commit
//! `193d2153^`): `CompileString(policy).Unify(CompileBytes(input)).Validate()`. The result is
//! one tree: at each path, the value is the unification of every *conjunct* that reaches it,
//! from the policy's struct literals (fields, `a: b: c` shorthand, `if` comprehensions whose
//! condition holds, both sides of `&`), from the input JSON, and from the values other
//! expressions (references, disjunctions, calls) evaluate to (spec, "Structs", "Unification").
//!
//! The conjuncts of a path are found from those of its parent, selecting the one label only,
//! and an `if` is evaluated there only when its body can declare that label: so a condition
//! can read fields beside it (`if len(authorityMatches.x.attestations) < 2 {…}` inside
//! `authorityMatches`), as in cuelang, without a cycle.
//!
//! A reference resolves lexically (spec, "Declarations and scopes") to a field of an enclosing
//! struct literal, and reads the *unified* value at that field's path: the input's data seen
//! through the policy. A struct literal that is not at a path (an alternative of a
//! disjunction, an argument, an open list's element type) is evaluated on its own; references
//! to its fields read its own declarations.
//!
//! Validation reports the fatal errors of the tree (conflicts), not incomplete ones (an
//! undefined field, a value not concrete where a concrete one is needed, a cycle), as
//! cuelang's `Validate()` without `Concrete(true)` (`internal/core/validate/validate.go`).
//!
//! Bounds: recursion is counted ([`MAX_EVAL_DEPTH`]) and the wall clock checked against the
//! time budget; exceeding either fails the evaluation.

use super::ast::{Decl, Expr, File, ListLit, StructLit};
use super::builtins;
use super::ops;
use super::tree::{collect, from_json, seg_text, select, select_or_error};
use super::value::{self, Severity, Val, kind, unify};
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Deepest recursion of evaluation (references, nested values) before it fails.
pub const MAX_EVAL_DEPTH: usize = 200;

/// One step of a path: a field label or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A field.
    F(String),
    /// A list element.
    I(usize),
}

type Path = Vec<Seg>;

/// Where a struct literal's fields live.
#[derive(Debug, Clone)]
enum At {
    /// At this path of the result tree.
    Path(Path),
    /// On their own (see the module documentation).
    Local,
}

/// A lexical scope: a struct literal and where it is.
struct Scope<'a> {
    lit: &'a StructLit,
    at: At,
    parent: Env<'a>,
}

type Env<'a> = Option<Rc<Scope<'a>>>;

fn push<'a>(lit: &'a StructLit, at: At, parent: &Env<'a>) -> Env<'a> {
    Some(Rc::new(Scope {
        lit,
        at,
        parent: parent.clone(),
    }))
}

/// Something that contributes to the value at a path.
#[derive(Clone)]
enum Conj<'a> {
    /// An expression of the policy, in its scope.
    Expr(&'a Expr, Env<'a>),
    /// The declarations of a struct literal; the env's innermost scope is that literal.
    Decls(&'a StructLit, Env<'a>),
    /// Part of the input.
    Json(&'a Json),
    /// An evaluated value.
    Val(Val),
}

/// What the conjuncts of a path say of its shape.
#[derive(Default)]
struct Shape {
    labels: Vec<String>,
    is_struct: bool,
    /// Lengths of closed lists; longest prefix of open lists; element types of open lists.
    closed_lens: Vec<usize>,
    open_len: Option<usize>,
    rests: Vec<Val>,
    vals: Val,
}

/// One evaluation of a policy against an input.
pub struct Evaluator<'a> {
    file: &'a File,
    input: &'a Json,
    conjs: HashMap<Path, Rc<Vec<Conj<'a>>>>,
    values: HashMap<Path, Val>,
    exprs: HashMap<(usize, Path), Val>,
    lets: HashMap<(usize, Path), Val>,
    in_progress: HashSet<Path>,
    regexes: &'a mut ops::Regexes,
    depth: usize,
    started: Instant,
    budget: Duration,
    steps: u64,
    /// Set when the time budget or depth limit was exceeded: the evaluation fails.
    pub aborted: Option<String>,
    /// Whether `aborted` is the time budget (not the depth limit).
    pub timed_out: bool,
}

impl<'a> Evaluator<'a> {
    /// An evaluation of `file` unified with `input`, within `budget`, with the
    /// policy's compiled regular expressions (kept across evaluations: compiling one costs more
    /// than most evaluations).
    pub fn new(
        file: &'a File,
        input: &'a Json,
        budget: Duration,
        regexes: &'a mut ops::Regexes,
    ) -> Self {
        Evaluator {
            file,
            input,
            conjs: HashMap::new(),
            values: HashMap::new(),
            exprs: HashMap::new(),
            lets: HashMap::new(),
            in_progress: HashSet::new(),
            regexes,
            depth: 0,
            started: Instant::now(),
            budget,
            steps: 0,
            aborted: None,
            timed_out: false,
        }
    }

    /// Validates the whole tree: the fatal errors, `path: message` each, in field order.
    pub fn validate(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.check_at(&mut Vec::new(), &mut out);
        out
    }

    /// The fatal errors at and under `path`, as [`collect`] finds them in the value, without
    /// building the parts that only the input gives (no conflict is possible there: most of a
    /// Pod's `spec` under a policy on a few fields).
    fn check_at(&mut self, path: &mut Vec<Seg>, out: &mut Vec<String>) {
        let pure_input = self
            .conjuncts_at(path)
            .iter()
            .all(|c| matches!(c, Conj::Json(_)));
        if pure_input && !self.values.contains_key(path.as_slice()) {
            return;
        }
        let whole = |ev: &mut Self, path: &mut Vec<Seg>, out: &mut Vec<String>| {
            let v = ev.value_at(path);
            let mut labels: Vec<String> = path.iter().map(seg_text).collect();
            collect(&v, &mut labels, out);
        };
        if self.values.contains_key(path.as_slice()) || self.depth > MAX_EVAL_DEPTH {
            return whole(self, path, out);
        }
        if let Some(v) = self.tick() {
            let mut labels: Vec<String> = path.iter().map(seg_text).collect();
            return collect(&v, &mut labels, out);
        }
        let shape = match self.gather(path) {
            Ok(shape) => shape,
            Err(_) => return whole(self, path, out),
        };
        let is_list = !shape.closed_lens.is_empty() || shape.open_len.is_some();
        // Only a plain struct is checked field by field; anything else (a list, a value to
        // unify with the fields: a disjunction, a validator) is checked whole.
        if !shape.is_struct || is_list || !matches!(shape.vals, Val::Top) {
            return whole(self, path, out);
        }
        self.depth += 1;
        for l in shape.labels {
            path.push(Seg::F(l));
            self.check_at(path, out);
            path.pop();
        }
        self.depth -= 1;
    }

    /// Counts a step; fails once the depth or the time budget is exceeded.
    fn tick(&mut self) -> Option<Val> {
        if let Some(e) = &self.aborted {
            return Some(Val::fatal(e.clone()));
        }
        self.steps += 1;
        if self.depth > MAX_EVAL_DEPTH {
            self.aborted = Some(format!(
                "evaluation nested deeper than {MAX_EVAL_DEPTH} levels"
            ));
        } else if self.steps.is_multiple_of(64) && self.started.elapsed() > self.budget {
            self.timed_out = true;
            self.aborted = Some(format!(
                "evaluation exceeded the time budget of {} ms",
                self.budget.as_millis()
            ));
        }
        self.aborted.as_ref().map(|e| Val::fatal(e.clone()))
    }

    /// The conjuncts of `path`.
    fn conjuncts_at(&mut self, path: &[Seg]) -> Rc<Vec<Conj<'a>>> {
        if let Some(c) = self.conjs.get(path) {
            return Rc::clone(c);
        }
        let out = match path.split_last() {
            None => vec![
                Conj::Decls(
                    &self.file.root,
                    push(&self.file.root, At::Path(Vec::new()), &None),
                ),
                Conj::Json(self.input),
            ],
            Some((seg, parent)) => {
                let parents = self.conjuncts_at(parent);
                let mut out = Vec::new();
                for c in parents.iter() {
                    self.children(c, parent, seg, &mut out);
                }
                out
            }
        };
        let out = Rc::new(out);
        self.conjs.insert(path.to_vec(), Rc::clone(&out));
        out
    }

    /// The conjuncts `c` (at `path`) gives its child `seg`.
    fn children(&mut self, c: &Conj<'a>, path: &[Seg], seg: &Seg, out: &mut Vec<Conj<'a>>) {
        // Past the depth limit the evaluation fails (never "no conjuncts": that would read as
        // an undefined field, which validation does not report).
        if self.tick().is_some() {
            return;
        }
        self.depth += 1;
        match c {
            Conj::Json(j) => match (j, seg) {
                (Json::Object(m), Seg::F(l)) => out.extend(m.get(l).map(Conj::Json)),
                (Json::Array(a), Seg::I(i)) => out.extend(a.get(*i).map(Conj::Json)),
                _ => {}
            },
            Conj::Val(v) => out.extend(select(v, seg).map(Conj::Val)),
            Conj::Expr(e, env) => match e {
                Expr::Struct(lit) => {
                    let env = push(lit, At::Path(path.to_vec()), env);
                    self.children(&Conj::Decls(lit, env), path, seg, out);
                }
                Expr::List(l) => {
                    if let Seg::I(i) = seg {
                        match (l.elems.get(*i), &l.rest) {
                            (Some(x), _) => out.push(Conj::Expr(x, env.clone())),
                            (None, Some(r)) => out.push(Conj::Expr(r, env.clone())),
                            _ => {}
                        }
                    }
                }
                Expr::Binary("&", l, r, _) => {
                    self.children(&Conj::Expr(l, env.clone()), path, seg, out);
                    self.children(&Conj::Expr(r, env.clone()), path, seg, out);
                }
                _ => {
                    let v = self.eval_at(e, env, path);
                    out.extend(select(&v, seg).map(Conj::Val));
                }
            },
            Conj::Decls(lit, env) => {
                let Seg::F(label) = seg else {
                    self.depth -= 1;
                    return;
                };
                for d in &lit.decls {
                    match d {
                        Decl::Field { label: l, value } if l == label => {
                            out.push(Conj::Expr(value, env.clone()))
                        }
                        Decl::If { cond, body } if body.may_declare(label) => {
                            match self.condition(cond, env, path) {
                                Ok(true) => {
                                    let env = push(body, At::Path(path.to_vec()), env);
                                    self.children(&Conj::Decls(body, env), path, seg, out);
                                }
                                Ok(false) => {}
                                Err(v) => out.push(Conj::Val(v)),
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        self.depth -= 1;
    }

    /// An `if` condition: `Ok(bool)`, `Ok(false)` while incomplete (the comprehension stays
    /// unevaluated, which validation does not report), or a fatal error.
    fn condition(&mut self, cond: &'a Expr, env: &Env<'a>, path: &[Seg]) -> Result<bool, Val> {
        match self.eval_at(cond, env, path).resolved() {
            Val::Bool(b) => Ok(b),
            Val::Bottom(e) if e.severity == Severity::Incomplete => Ok(false),
            v @ Val::Bottom(_) => Err(v),
            v if v.is_scalar() || matches!(v, Val::Struct(_) | Val::List(..)) => {
                Err(Val::fatal(format!(
                    "cannot use {v} (type {}) as type bool",
                    value::kind_name(v.kind())
                )))
            }
            _ => Ok(false),
        }
    }

    /// An expression evaluated at `path`, once per (expression, path).
    fn eval_at(&mut self, e: &'a Expr, env: &Env<'a>, path: &[Seg]) -> Val {
        let key = (e as *const Expr as usize, path.to_vec());
        if let Some(v) = self.exprs.get(&key) {
            return v.clone();
        }
        let v = self.eval(e, env);
        self.exprs.insert(key, v.clone());
        v
    }

    /// The unified value at `path`.
    fn value_at(&mut self, path: &[Seg]) -> Val {
        if let Some(v) = self.values.get(path) {
            return v.clone();
        }
        if let Some(v) = self.tick() {
            return v;
        }
        if !self.in_progress.insert(path.to_vec()) {
            return Val::incomplete("structural cycle");
        }
        self.depth += 1;
        let v = self.compute(path);
        self.depth -= 1;
        self.in_progress.remove(path);
        self.values.insert(path.to_vec(), v.clone());
        v
    }

    fn compute(&mut self, path: &[Seg]) -> Val {
        match self.gather(path) {
            Ok(shape) => self.build(path, shape),
            Err(v) => v,
        }
    }

    /// The shape the conjuncts of `path` give; `Err` the value itself when there is nothing to
    /// unify (no conjunct: an undefined field; only the input's: its value).
    fn gather(&mut self, path: &[Seg]) -> Result<Shape, Val> {
        let conjs = self.conjuncts_at(path);
        match conjs.as_slice() {
            [] => {
                // No conjunct: an undefined field (incomplete), unless the parent is a value
                // that cannot have this child at all: an index past a closed list's end, a
                // selector on a scalar or a list, an index on a struct (cuelang's
                // `reportFieldError` makes those evaluation errors: spec "Index expressions",
                // `[1,2][2]` is `_|_`).
                if let Some((last, parent)) = path.split_last()
                    && !parent.is_empty()
                    && !self.in_progress.contains(parent)
                {
                    let pv = self.value_at(parent);
                    let child = select_or_error(&pv, last);
                    if matches!(&child, Val::Bottom(e) if e.severity == Severity::Fatal) {
                        return Err(child);
                    }
                }
                let name = match path.last() {
                    Some(Seg::F(l)) => value::label(l),
                    Some(Seg::I(i)) => i.to_string(),
                    None => String::new(),
                };
                return Err(Val::incomplete(format!("undefined field: {name}")));
            }
            [Conj::Json(j)] => return Err(from_json(j)),
            _ => {}
        }
        // The input first: cuelang names the input's value first in a conflict.
        let mut ordered: Vec<&Conj<'a>> = conjs
            .iter()
            .filter(|c| matches!(c, Conj::Json(_)))
            .collect();
        ordered.extend(conjs.iter().filter(|c| !matches!(c, Conj::Json(_))));
        let mut shape = Shape::default();
        for c in ordered {
            self.shape(c, path, &mut shape);
        }
        Ok(shape)
    }

    /// The value of a child being built: straight from the input when only the input gives it
    /// (without a memo entry for each of its nodes), else [`Self::value_at`].
    fn child_value(&mut self, path: &[Seg]) -> Val {
        if let Some(v) = self.values.get(path) {
            return v.clone();
        }
        if let [Conj::Json(j)] = self.conjuncts_at(path).as_slice() {
            return from_json(j);
        }
        self.value_at(path)
    }

    /// The value at `path` from its shape.
    fn build(&mut self, path: &[Seg], shape: Shape) -> Val {
        let Shape {
            labels,
            is_struct,
            closed_lens,
            open_len,
            rests,
            vals,
        } = shape;
        let is_list = !closed_lens.is_empty() || open_len.is_some();
        if is_struct && is_list {
            return Val::fatal(
                "conflicting values struct and list (mismatched types struct and list)",
            );
        }
        let built = if is_struct {
            let mut fields = Vec::with_capacity(labels.len());
            for l in labels {
                let mut child = path.to_vec();
                child.push(Seg::F(l.clone()));
                let v = self.child_value(&child);
                fields.push((l, v));
            }
            Val::Struct(Rc::new(fields))
        } else if is_list {
            let n = match (closed_lens.first(), open_len) {
                (Some(&c), o) => {
                    if let Some(&other) = closed_lens.iter().find(|&&l| l != c) {
                        return Val::fatal(format!("incompatible list lengths ({c} and {other})"));
                    }
                    if let Some(o) = o.filter(|&o| o > c) {
                        return Val::fatal(format!("incompatible list lengths ({c} and {o})"));
                    }
                    c
                }
                (None, o) => o.unwrap_or(0),
            };
            let mut elems = Vec::with_capacity(n);
            for i in 0..n {
                let mut child = path.to_vec();
                child.push(Seg::I(i));
                elems.push(self.child_value(&child));
            }
            let rest = if closed_lens.is_empty() {
                Some(Rc::new(rests.iter().fold(Val::Top, |a, r| unify(&a, r))))
            } else {
                None
            };
            Val::List(Rc::new(elems), rest)
        } else {
            return vals;
        };
        unify(&built, &vals)
    }

    /// Adds what `c` says of the shape at `path`.
    fn shape(&mut self, c: &Conj<'a>, path: &[Seg], s: &mut Shape) {
        match c {
            Conj::Json(Json::Object(m)) => {
                s.is_struct = true;
                add_labels(s, m.keys().map(String::as_str));
            }
            Conj::Json(Json::Array(a)) => s.closed_lens.push(a.len()),
            Conj::Json(j) => s.vals = unify(&s.vals, &from_json(j)),
            Conj::Val(v) => self.shape_of_val(v, s),
            Conj::Expr(e, env) => match e {
                Expr::Struct(lit) => {
                    let env = push(lit, At::Path(path.to_vec()), env);
                    self.shape(&Conj::Decls(lit, env), path, s);
                }
                Expr::List(ListLit { elems, rest }) => match rest {
                    None => s.closed_lens.push(elems.len()),
                    Some(r) => {
                        s.open_len = Some(s.open_len.unwrap_or(0).max(elems.len()));
                        let r = self.eval_at(r, env, path);
                        s.rests.push(r);
                    }
                },
                Expr::Binary("&", l, r, _) => {
                    self.shape(&Conj::Expr(l, env.clone()), path, s);
                    self.shape(&Conj::Expr(r, env.clone()), path, s);
                }
                _ => {
                    let v = self.eval_at(e, env, path);
                    self.shape_of_val(&v, s);
                }
            },
            Conj::Decls(lit, env) => {
                s.is_struct = true;
                for d in &lit.decls {
                    match d {
                        Decl::Field { label, .. } => add_labels(s, std::iter::once(label.as_str())),
                        Decl::Let { .. } => {}
                        Decl::If { cond, body } => match self.condition(cond, env, path) {
                            Ok(true) => {
                                let env = push(body, At::Path(path.to_vec()), env);
                                self.shape(&Conj::Decls(body, env), path, s);
                            }
                            Ok(false) => {}
                            Err(v) => s.vals = unify(&s.vals, &v),
                        },
                    }
                }
            }
        }
    }

    fn shape_of_val(&mut self, v: &Val, s: &mut Shape) {
        match v {
            Val::Struct(f) => {
                s.is_struct = true;
                add_labels(s, f.iter().map(|(l, _)| l.as_str()));
            }
            Val::List(e, None) => s.closed_lens.push(e.len()),
            Val::List(e, Some(r)) => {
                s.open_len = Some(s.open_len.unwrap_or(0).max(e.len()));
                s.rests.push((**r).clone());
            }
            v => s.vals = unify(&s.vals, v),
        }
    }

    /// Evaluates an expression on its own.
    fn eval(&mut self, e: &'a Expr, env: &Env<'a>) -> Val {
        if let Some(v) = self.tick() {
            return v;
        }
        self.depth += 1;
        let v = self.eval_inner(e, env);
        self.depth -= 1;
        v
    }

    fn eval_inner(&mut self, e: &'a Expr, env: &Env<'a>) -> Val {
        match e {
            Expr::Top => Val::Top,
            Expr::Null => Val::Null,
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Int(i) => Val::Int(*i),
            Expr::Float(f) => Val::Float(*f),
            Expr::Str(s) => Val::str(s),
            Expr::Ident(name, _) => self.ident(name, env),
            Expr::Struct(lit) => {
                let env = push(lit, At::Local, env);
                self.local_struct(lit, &env)
            }
            Expr::List(l) => {
                let elems: Vec<Val> = l.elems.iter().map(|x| self.eval(x, env)).collect();
                let rest = l.rest.as_ref().map(|r| Rc::new(self.eval(r, env)));
                Val::List(Rc::new(elems), rest)
            }
            Expr::Unary(op, x, _) => {
                let v = self.eval(x, env);
                ops::unary(op, v, self.regexes)
            }
            Expr::Binary(op, l, r, _) => {
                let (a, b) = (self.eval(l, env), self.eval(r, env));
                ops::binary(op, a, b, self.regexes)
            }
            Expr::Disj(alts, _) => {
                ops::disjunction(alts.iter().map(|(x, d)| (self.eval(x, env), *d)).collect())
            }
            Expr::Select(x, name, _) => {
                if let Some(p) = self.static_path(e, env) {
                    return self.value_at(&p);
                }
                if let Expr::Ident(pkg, _) = &**x
                    && let Some(path) = self.import(pkg, env)
                {
                    return builtins::constant(path, name);
                }
                let v = self.eval(x, env).resolved();
                select_or_error(&v, &Seg::F(name.clone()))
            }
            Expr::Index(x, i, _) => {
                if let Some(p) = self.static_path(e, env) {
                    return self.value_at(&p);
                }
                let seg = match self.eval(i, env).resolved() {
                    Val::Int(n) if n >= 0 => Seg::I(usize::try_from(n).unwrap_or(usize::MAX)),
                    Val::Str(s) => Seg::F(s.to_string()),
                    v @ Val::Bottom(_) => return v,
                    v if v.is_scalar() => return Val::fatal(format!("invalid index {v}")),
                    v => return Val::incomplete(format!("non-concrete index {v}")),
                };
                let v = self.eval(x, env).resolved();
                select_or_error(&v, &seg)
            }
            Expr::Call(f, args, _) => {
                let vals: Vec<Val> = args.iter().map(|a| self.eval(a, env)).collect();
                match &**f {
                    Expr::Ident(n, _) if n == "len" && self.resolve(n, env).is_none() => {
                        match vals.as_slice() {
                            [v] => builtins::len(&v.resolved()),
                            _ => Val::fatal("len takes 1 argument"),
                        }
                    }
                    Expr::Select(p, name, _) => match &**p {
                        Expr::Ident(pkg, _) => match self.import(pkg, env) {
                            Some(path) => builtins::call(path, name, vals),
                            None => Val::fatal("cannot call non-function"),
                        },
                        _ => Val::fatal("cannot call non-function"),
                    },
                    _ => Val::fatal("cannot call non-function"),
                }
            }
        }
    }

    /// The scope that declares `name`, innermost first.
    fn resolve(&self, name: &str, env: &Env<'a>) -> Option<Rc<Scope<'a>>> {
        let mut s = env.clone();
        while let Some(scope) = s {
            if scope.lit.declares(name) {
                return Some(scope);
            }
            s = scope.parent.clone();
        }
        None
    }

    /// The package path of import `name`, unless a field shadows it.
    fn import(&self, name: &str, env: &Env<'a>) -> Option<&'a str> {
        if self.resolve(name, env).is_some() {
            return None;
        }
        self.file
            .imports
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, _)| p.as_str())
    }

    fn ident(&mut self, name: &str, env: &Env<'a>) -> Val {
        let Some(scope) = self.resolve(name, env) else {
            return match name {
                "string" => Val::Kind(kind::STRING),
                "int" => Val::Kind(kind::INT),
                "float" => Val::Kind(kind::FLOAT),
                "number" => Val::Kind(kind::NUMBER),
                "bool" => Val::Kind(kind::BOOL),
                "bytes" => Val::Kind(kind::BYTES),
                _ => Val::fatal(format!("reference {name:?} not found")),
            };
        };
        if let Some(value) = scope.lit.let_named(name) {
            let at = match &scope.at {
                At::Path(p) => p.clone(),
                At::Local => vec![Seg::F(format!("\u{0}{:p}", Rc::as_ptr(&scope)))],
            };
            let key = (value as *const Expr as usize, at);
            if let Some(v) = self.lets.get(&key) {
                return v.clone();
            }
            let env = Some(Rc::clone(&scope));
            let v = self.eval(value, &env);
            self.lets.insert(key, v.clone());
            return v;
        }
        match &scope.at {
            At::Path(p) => {
                let mut p = p.clone();
                p.push(Seg::F(name.to_string()));
                self.value_at(&p)
            }
            At::Local => {
                let env = Some(Rc::clone(&scope));
                self.local_field(scope.lit, name, &env)
            }
        }
    }

    /// The path an expression names when it is a chain of selectors on a field reference.
    fn static_path(&self, e: &Expr, env: &Env<'a>) -> Option<Path> {
        match e {
            Expr::Ident(name, _) => {
                let scope = self.resolve(name, env)?;
                if scope.lit.let_named(name).is_some() {
                    return None;
                }
                let At::Path(p) = &scope.at else { return None };
                let mut p = p.clone();
                p.push(Seg::F(name.clone()));
                Some(p)
            }
            Expr::Select(x, name, _) => {
                let mut p = self.static_path(x, env)?;
                p.push(Seg::F(name.clone()));
                Some(p)
            }
            Expr::Index(x, i, _) => {
                let mut p = self.static_path(x, env)?;
                match &**i {
                    Expr::Int(n) if *n >= 0 => p.push(Seg::I(usize::try_from(*n).ok()?)),
                    Expr::Str(s) => p.push(Seg::F(s.clone())),
                    _ => return None,
                }
                Some(p)
            }
            _ => None,
        }
    }

    /// A struct literal evaluated on its own.
    fn local_struct(&mut self, lit: &'a StructLit, env: &Env<'a>) -> Val {
        let mut fields: Vec<(String, Val)> = Vec::new();
        let mut errs = Val::Top;
        for d in &lit.decls {
            match d {
                Decl::Field { label, value } => {
                    let v = self.eval(value, env);
                    match fields.iter_mut().find(|(l, _)| l == label) {
                        Some((_, old)) => *old = unify(old, &v),
                        None => fields.push((label.clone(), v)),
                    }
                }
                Decl::Let { .. } => {}
                Decl::If { cond, body } => match self.eval(cond, env).resolved() {
                    Val::Bool(true) => {
                        let inner = push(body, At::Local, env);
                        if let Val::Struct(more) = self.local_struct(body, &inner) {
                            for (label, v) in more.iter() {
                                match fields.iter_mut().find(|(l, _)| l == label) {
                                    Some((_, old)) => *old = unify(old, v),
                                    None => fields.push((label.clone(), v.clone())),
                                }
                            }
                        }
                    }
                    v @ Val::Bottom(_) => errs = unify(&errs, &v),
                    _ => {}
                },
            }
        }
        unify(&Val::Struct(Rc::new(fields)), &errs)
    }

    /// Field `name` of a struct literal evaluated on its own.
    fn local_field(&mut self, lit: &'a StructLit, name: &str, env: &Env<'a>) -> Val {
        let mut v = Val::Top;
        for d in &lit.decls {
            if let Decl::Field { label, value } = d
                && label == name
            {
                let x = self.eval(value, env);
                v = unify(&v, &x);
            }
        }
        v
    }
}

fn add_labels<'s>(s: &mut Shape, labels: impl Iterator<Item = &'s str>) {
    for l in labels {
        if !s.labels.iter().any(|x| x == l) {
            s.labels.push(l.to_string());
        }
    }
}
