//! Static checks of a parsed CIP policy: what passes here can be evaluated as written.
//!
//! regorus accepts, in Rego v0 mode, policies that OPA (policy-controller's evaluator) rejects
//! or that do not mean what they say; and it reports a missing builtin only when an evaluation
//! reaches the call. Each check below turns one of those into a settings error (or, for a
//! policy read from a ConfigMap, a failure of its CIP at admission), decided on regorus' AST:
//!
//! 1. **Package**: only `package sigstore` can be compliant (the query is
//!    `isCompliant = data.sigstore.isCompliant`, [`super::QUERY`]); and a policy that defines no
//!    `isCompliant` rule denies every image.
//! 2. **Rego v1 keywords without their import**. Upstream parses with OPA in v0 mode (cosign
//!    `pkg/cosign/rego/rego.go` L39, `rego.SetRegoVersion(ast.RegoV0)`), where `if`,
//!    `contains`, `in` and `every` are keywords only once imported (`import rego.v1`,
//!    `import future.keywords[.kw]`). Without the import, regorus 0.14.1 reads
//!    `isCompliant if { body }` as two rules, `isCompliant` (true, no body) and one named `if`
//!    (`src/parser.rs:1961`, in `parse_rule_bodies`: it only prints a warning on stderr), so the
//!    policy admits everything. OPA v0 refuses the same text: its statement parser leaves
//!    `isCompliant` a bare query statement (`v1/ast/parser.go`, `parseRules`: no `if` token, no
//!    `{`, so no rule) and `parseModule` then fails `ParseRuleFromExpr` on it with
//!    `var cannot be used for rule name` (`v1/ast/parser_ext.go`, `ParseRuleFromExpr` and
//!    `parseModule`, open-policy-agent/opa at 0b94dd8; OPA's own tests expect that error for
//!    `p contains 2 if { … }` in v0: `v1/repl/repl_test.go`, case "v0, keywords not imported
//!    but used"). Here any of those four words used as a name (a rule, a variable, an import
//!    alias, `some` or `every` variables) is an error, except `contains(…)` called as the
//!    builtin; so is regorus' `p contains x` rule head, which it accepts in v0 mode without the
//!    import (`src/parser.rs:1858`, in `parse_rule_head`) where OPA does not.
//! 3. **A rule with neither a value nor a body** (`isCompliant` alone on a line): regorus makes
//!    it `true` (`src/parser.rs:1873-1905`); OPA rejects it in v0 (`var cannot be used for rule
//!    name`, as above) and in v1 (`rule must have value assignment and/or body declaration`,
//!    `v1/ast/rego_v1.go`, `checkRegoV1Rule`).
//! 4. **Builtins**: every call (in every rule, function and `else` branch, taken or not) must
//!    name a function of the policy or a builtin this module provides ([`super::builtins`]).
//! 5. **Recursion**: a rule or function that refers to itself, directly or through others.
//!    OPA refuses it at compile time (`rego_recursion_error: rule … is recursive`,
//!    `v1/ast/compile.go`, `checkRecursion`); regorus 0.14.1 does not check it, and evaluating
//!    a recursive function overflows the module's stack, which traps the module (the host
//!    answers with an error; review finding). A name is read as a reference to the rule of that
//!    name wherever it stands in another rule's body or value (conservative: a local variable
//!    sharing a rule's name counts too).
//!
//! Where regorus reads `if`/`in`/`every` as a name, OPA v0 reads it as a name too; a v0 policy
//! using one of them as a variable (`in := 1`) is legal there and refused here, deliberately
//! (it is nearly always v1 syntax without the import; README, "Rego").
//!
//! Problems are reported all at once, one line each, `sigstore.rego:<line>:<col>: <problem>`.
//!
//! The same walk finds which fields of `input` the policy can read ([`InputReads`]), so that a
//! CIP with `includeSpec` whose policy never reads `input.spec` is not given a spec it would
//! not look at (the largest part of the input, parsed for nothing).

use super::builtins;
use regorus::unstable::{Expr, Literal, Module, Query, Ref, Rule, RuleHead, Span};
use std::collections::{BTreeMap, BTreeSet};

/// The name regorus gives the policy's module (as upstream: `sigstore.rego`).
pub const MODULE: &str = "sigstore.rego";

/// The Rego v1 keywords a v0 module must import (OPA's future keywords; regorus
/// `src/parser.rs:91`).
const FUTURE_KEYWORDS: [&str; 4] = ["contains", "every", "if", "in"];

/// The root of the input document in Rego.
const INPUT: &str = "input";

/// The fix named by every keyword error.
const KEYWORD_FIX: &str = "add `import rego.v1` (for Rego v1 syntax), or write Rego v0";

/// Which top-level fields of the input document a policy can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputReads {
    /// Any of them: `input` is used otherwise than as `input.<name>` or `input["<name>"]`
    /// (`x := input`, `input[k]`, `object.get(input, …)`, `walk(input, …)`, `import input`,
    /// `with input as …`, or a local name `input`).
    All,
    /// Only these (`input.image`, `input["spec"]`, `import input.spec`, …).
    Fields(BTreeSet<String>),
}

impl Default for InputReads {
    fn default() -> Self {
        InputReads::Fields(BTreeSet::new())
    }
}

impl InputReads {
    /// Whether the policy can read `input.<field>`.
    pub fn includes(&self, field: &str) -> bool {
        match self {
            InputReads::All => true,
            InputReads::Fields(fields) => fields.contains(field),
        }
    }

    fn field(&mut self, field: &str) {
        if let InputReads::Fields(fields) = self {
            fields.insert(field.to_string());
        }
    }

    /// Both modules' reads.
    pub fn union(self, other: InputReads) -> InputReads {
        match (self, other) {
            (InputReads::Fields(mut a), InputReads::Fields(b)) => {
                a.extend(b);
                InputReads::Fields(a)
            }
            _ => InputReads::All,
        }
    }
}

/// What [`analyse`] finds in a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Every problem, one line each, in source order (empty: none).
    pub problems: Vec<String>,
    /// The fields of `input` the module can read.
    pub input: InputReads,
}

/// Every problem of `module`, one line each, in source order (empty: none).
pub fn problems(module: &Module) -> Vec<String> {
    analyse(module).problems
}

/// The problems of `module` and the fields of `input` it can read, in one walk.
pub fn analyse(module: &Module) -> Analysis {
    let mut found = Found::default();
    walk_module(module, &mut found);
    let input = std::mem::take(&mut found.input);
    Analysis {
        problems: report(module, found),
        input,
    }
}

fn report(module: &Module, found: Found) -> Vec<String> {
    let mut out: Vec<(&Span, String)> = Vec::new();
    let package_span = root_span(&module.package.refr).unwrap_or(module.package.refr.span());
    let package = static_path(&module.package.refr);
    if package.as_deref() != Some("sigstore") {
        out.push((
            package_span,
            format!(
                "the package is `{}`: the policy must be `package sigstore`, since it is queried with `{}` (as policy-controller does), which no other package defines",
                module.package.refr.span().text(),
                super::QUERY,
            ),
        ));
    } else if !found.defines_is_compliant {
        out.push((
            package_span,
            format!(
                "the policy defines no `isCompliant` rule, so it would deny every image (the query is `{}`)",
                super::QUERY
            ),
        ));
    }
    for (span, word) in &found.keywords {
        out.push((
            span,
            format!(
                "`{word}` is a Rego v1 keyword, but the policy is parsed as Rego v0 (as policy-controller does), where without its import it is a plain name, so the policy does not mean what it says; {KEYWORD_FIX}"
            ),
        ));
    }
    if !imports_keyword(module, "contains") {
        for span in &found.contains_heads {
            out.push((
                span,
                format!(
                    "a `contains` rule head needs `import rego.v1` (or `import future.keywords.contains`) in Rego v0, which policy-controller parses the policy as (OPA: `var cannot be used for rule name`); {KEYWORD_FIX} (`isCompliant[x] {{ … }}`)"
                ),
            ));
        }
    }
    // `isCompliant if { … }` also leaves a bare `isCompliant`: the keyword is the cause.
    if found.keywords.is_empty() {
        for span in &found.bare_rules {
            out.push((
                span,
                format!(
                    "the rule `{0}` has neither a value nor a body (OPA rejects it: `var cannot be used for rule name`); write `{0} = true`, or give it a body",
                    span.text()
                ),
            ));
        }
    }
    for (span, problem) in &found.bad_formats {
        out.push((span, problem.clone()));
    }
    if let Some((span, cycle)) = found.recursion() {
        out.push((
            span,
            format!(
                "recursion: {cycle} (OPA refuses recursive rules and functions, `rego_recursion_error`; evaluating one would exhaust the module's stack)"
            ),
        ));
    }
    let package = package.unwrap_or_default();
    let functions = found.functions(&package);
    let aliases = import_aliases(module);
    let mut calls: Vec<&(Span, Option<String>)> = found.calls.iter().collect();
    calls.sort_by_key(|(span, _)| span.start);
    let mut reported = BTreeSet::new();
    for (span, path) in calls {
        match path {
            None => out.push((
                span,
                format!(
                    "`{}` is called, but a function must be named by a path (`f`, `time.now_ns`)",
                    span.text()
                ),
            )),
            Some(path) => {
                if !resolves(path, &functions, &aliases, &package) && reported.insert(path) {
                    out.push((span, builtins::unavailable(path)));
                }
            }
        }
    }
    out.sort_by_key(|(span, _)| (span.line, span.col));
    out.into_iter()
        .map(|(span, problem)| format!("{MODULE}:{}:{}: {problem}", span.line, span.col))
        .collect()
}

/// Whether a call of `path` reaches a function of the policy or an available builtin, as
/// regorus resolves it (`src/interpreter.rs:2769-2870`, `eval_call_impl`): a leading import
/// alias first (when that gives one of the policy's functions), then the policy's functions
/// (relative to the package, or `data.`-absolute), then `print` and the builtins.
fn resolves(
    path: &str,
    functions: &BTreeSet<String>,
    aliases: &BTreeMap<String, String>,
    package: &str,
) -> bool {
    let (root, rest) = path.split_once('.').unwrap_or((path, ""));
    if let Some(target) = aliases.get(root) {
        let rewritten = if rest.is_empty() {
            target.clone()
        } else {
            format!("{target}.{rest}")
        };
        if functions.contains(&rewritten) {
            return true;
        }
    }
    if path.starts_with("data.") {
        return functions.contains(path);
    }
    functions.contains(&format!("data.{package}.{path}")) || builtins::is_available(path)
}

/// `data.` imports by the name they bind (`import data.lib.x` → `x`, or its `as` alias).
fn import_aliases(module: &Module) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for import in &module.imports {
        let Some(path) = static_path(&import.refr) else {
            continue;
        };
        if !path.starts_with("data.") {
            continue;
        }
        let name = match &import.r#as {
            Some(alias) => alias.text().to_string(),
            None => path.rsplit('.').next().unwrap_or_default().to_string(),
        };
        out.insert(name, path);
    }
    out
}

/// Whether the module imports `word` (`import rego.v1`, `import future.keywords`,
/// `import future.keywords.<word>`).
fn imports_keyword(module: &Module, word: &str) -> bool {
    module.imports.iter().any(|import| {
        matches!(
            static_path(&import.refr).as_deref(),
            Some("rego.v1" | "future.keywords")
        ) || static_path(&import.refr) == Some(format!("future.keywords.{word}"))
    })
}

/// The dotted path of a reference (`a.b["c"]` → `a.b.c`); `None` when a component is not a
/// name or a string literal.
pub fn static_path(expr: &Expr) -> Option<String> {
    let mut components = Vec::new();
    let mut current = expr;
    loop {
        match current {
            Expr::Var { span, .. } => {
                components.push(span.text().to_string());
                break;
            }
            Expr::RefDot { refr, field, .. } => {
                components.push(field.0.text().to_string());
                current = refr;
            }
            Expr::RefBrack { refr, index, .. } => {
                let Expr::String { value, .. } = index.as_ref() else {
                    return None;
                };
                components.push(value.as_string().ok()?.to_string());
                current = refr;
            }
            _ => return None,
        }
    }
    components.reverse();
    Some(components.join("."))
}

/// What the walk gathers.
#[derive(Default)]
struct Found {
    /// Future keywords used as names, where.
    keywords: Vec<(Span, &'static str)>,
    /// Rule heads written `p contains x`.
    contains_heads: Vec<Span>,
    /// Heads of rules with neither a value nor a body (`p` alone).
    bare_rules: Vec<Span>,
    /// Whether some rule's path starts with `isCompliant`.
    defines_is_compliant: bool,
    /// Function rules' paths, relative to the package.
    function_rules: Vec<String>,
    /// Every call: its span and the function's path (`None`: not a path).
    calls: Vec<(Span, Option<String>)>,
    /// Calls regorus 0.14.1 cannot evaluate without a panic or an abort (literal `sprintf`
    /// formats, literal `numbers.range` bounds), where.
    bad_formats: Vec<(Span, String)>,
    /// The root name of each rule (its first path component), with its first head's span.
    rules: BTreeMap<String, Span>,
    /// The rule whose body or value is being walked (`None`: a head).
    current: Option<String>,
    /// The names each rule's bodies and values mention (a superset of the rules it refers to).
    mentions: BTreeMap<String, BTreeSet<String>>,
    /// `data.<package>.`, through which a rule can also be named.
    package_prefix: String,
    /// The fields of `input` read.
    input: InputReads,
}

impl Found {
    /// The policy's functions, by absolute path (`data.<package>.<path>`).
    fn functions(&self, package: &str) -> BTreeSet<String> {
        self.function_rules
            .iter()
            .map(|f| format!("data.{package}.{f}"))
            .collect()
    }

    /// A name used (a variable, a rule, an alias, …). Every use of `input` that is not
    /// `input.<name>` or `input["<name>"]` comes here (the walk does not visit the `input` of
    /// those), and then the policy may read any field.
    fn name(&mut self, span: &Span) {
        if let Some(word) = FUTURE_KEYWORDS.iter().find(|w| **w == span.text()) {
            self.keywords.push((span.clone(), word));
        }
        if span.text() == INPUT {
            self.input = InputReads::All;
        }
    }

    /// Records that the rule being walked mentions `name`.
    fn mention(&mut self, name: &str) {
        if let Some(current) = &self.current {
            self.mentions
                .entry(current.clone())
                .or_default()
                .insert(name.to_string());
        }
    }

    /// The first cycle through rules, as `a -> b -> a`, with the span of its first rule's head.
    fn recursion(&self) -> Option<(&Span, String)> {
        // Depth-first, with its own stack; `on_path` holds the rules of the current path.
        for start in self.rules.keys() {
            let mut path: Vec<&str> = vec![start];
            let mut next: Vec<Vec<&str>> = vec![self.callees(start)];
            while let Some(todo) = next.last_mut() {
                let Some(callee) = todo.pop() else {
                    next.pop();
                    path.pop();
                    continue;
                };
                if callee == start.as_str() {
                    path.push(callee);
                    let span = self.rules.get(start.as_str())?;
                    return Some((span, path.join(" -> ")));
                }
                if path.contains(&callee) || path.len() > self.rules.len() {
                    continue;
                }
                path.push(callee);
                next.push(self.callees(callee));
            }
        }
        None
    }

    /// The rules `rule` mentions.
    fn callees(&self, rule: &str) -> Vec<&str> {
        self.mentions
            .get(rule)
            .into_iter()
            .flatten()
            .filter(|name| self.rules.contains_key(name.as_str()))
            .map(String::as_str)
            .collect()
    }
}

/// Where an expression stands: a function's name (`contains(…)` is the builtin there) or
/// anything else.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Callee,
    Value,
}

/// A node still to visit (the walk keeps its own stack: an expression can nest deeply).
enum Node<'a> {
    Expr(&'a Expr, Place),
    Query(&'a Query),
}

fn walk_module(module: &Module, found: &mut Found) {
    let mut stack: Vec<Node> = Vec::new();
    for import in &module.imports {
        if let Some(alias) = &import.r#as {
            found.name(alias);
        }
        // `import input.spec [as s]` reads `input.spec`; `import input` all of it.
        if root_name(&import.refr) == Some(INPUT) {
            match static_path(&import.refr)
                .as_deref()
                .map(|p| p.split('.').nth(1))
            {
                Some(Some(field)) => found.input.field(field),
                _ => found.input = InputReads::All,
            }
        }
    }
    let package = static_path(&module.package.refr).unwrap_or_default();
    found.package_prefix = format!("data.{package}.");
    for rule in &module.policy {
        let head_refr = match rule.as_ref() {
            Rule::Spec { head, bodies, .. } => {
                let refr = match head {
                    RuleHead::Compr { refr, assign, .. } => {
                        if let Some(assign) = assign {
                            stack.push(Node::Expr(&assign.value, Place::Value));
                        } else if bodies.is_empty() && matches!(refr.as_ref(), Expr::Var { .. }) {
                            found.bare_rules.push(refr.span().clone());
                        }
                        refr
                    }
                    RuleHead::Set { span, refr, key } => {
                        if let Some(key) = key {
                            if follows_contains(span, refr.span(), key.span()) {
                                found.contains_heads.push(span.clone());
                            }
                            stack.push(Node::Expr(key, Place::Value));
                        }
                        refr
                    }
                    RuleHead::Func {
                        refr, args, assign, ..
                    } => {
                        if let Some(path) = static_path(refr) {
                            found.function_rules.push(path);
                        }
                        stack.extend(args.iter().map(|a| Node::Expr(a, Place::Value)));
                        if let Some(assign) = assign {
                            stack.push(Node::Expr(&assign.value, Place::Value));
                        }
                        refr
                    }
                };
                for body in bodies {
                    if let Some(assign) = &body.assign {
                        stack.push(Node::Expr(&assign.value, Place::Value));
                    }
                    stack.push(Node::Query(&body.query));
                }
                refr
            }
            Rule::Default {
                refr, args, value, ..
            } => {
                if !args.is_empty()
                    && let Some(path) = static_path(refr)
                {
                    found.function_rules.push(path);
                }
                stack.extend(args.iter().map(|a| Node::Expr(a, Place::Value)));
                stack.push(Node::Expr(value, Place::Value));
                refr
            }
        };
        if root_name(head_refr) == Some("isCompliant") {
            found.defines_is_compliant = true;
        }
        let root = root_name(head_refr).map(str::to_string);
        if let (Some(root), Some(span)) = (&root, root_span(head_refr)) {
            found
                .rules
                .entry(root.clone())
                .or_insert_with(|| span.clone());
        }
        // The bodies and values first, as the rule's mentions; then the head, as none.
        found.current = root;
        walk(&mut stack, found);
        found.current = None;
        stack.push(Node::Expr(head_refr, Place::Value));
        walk(&mut stack, found);
    }
}

/// Whether `expr` is the name `input` itself.
fn is_input(expr: &Expr) -> bool {
    matches!(expr, Expr::Var { span, .. } if span.text() == INPUT)
}

/// The name a reference starts from (`a` of `a.b[x]`).
fn root_name(expr: &Expr) -> Option<&str> {
    root_span(expr).map(Span::text)
}

/// The span of the name a reference starts from (regorus places a `RefDot` at its field).
fn root_span(expr: &Expr) -> Option<&Span> {
    let mut current = expr;
    loop {
        match current {
            Expr::Var { span, .. } => return Some(span),
            Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => current = refr,
            _ => return None,
        }
    }
}

/// Whether the first word between a set rule's name and its key is `contains`
/// (`p contains x`, not `p[x]`; a comment may follow the word).
fn follows_contains(head: &Span, name: &Span, key: &Span) -> bool {
    head.source
        .contents()
        .get(name.end as usize..key.start as usize)
        .and_then(|between| {
            between
                .trim_start()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
        })
        .is_some_and(|word| word == "contains")
}

/// Why regorus 0.14.1's `sprintf` would panic (a trap of the module) on `format`, if it would:
/// its width parser takes any Unicode numeric character after `%` and then `expect`s an ASCII
/// digit of it (`src/builtins/strings.rs` L329-342, `to_digit(10).expect(…)`), and multiplies
/// the width without bound. Only literal formats can be checked here.
fn sprintf_panics(format: &str) -> Option<String> {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            continue;
        }
        let mut digits = 0;
        while let Some(&d) = chars.peek() {
            if !(d == '.' || d.is_numeric()) {
                break;
            }
            if d != '.' && !d.is_ascii_digit() {
                return Some(format!(
                    "the sprintf format has the character {d:?} in a width: regorus would panic reading it as a digit; use ASCII digits"
                ));
            }
            digits += 1;
            chars.next();
        }
        if digits > 6 {
            return Some(
                "the sprintf format has a width of more than 6 digits: regorus would overflow or run out of memory padding to it".to_string(),
            );
        }
    }
    None
}

/// Most elements a literal `numbers.range` / `numbers.range_step` may make (10 million: about
/// 10 s of evaluation and hundreds of MB, far past any budget).
pub const MAX_LITERAL_RANGE: f64 = 10_000_000.0;

/// Why a `numbers.range(a, b)` or `numbers.range_step(a, b, _)` call with literal bounds would
/// trap the module, if it would: regorus 0.14.1 reserves the whole array before the first
/// element (`src/builtins/numbers.rs` L104-107, `Vec::with_capacity(num_elements)`), so a
/// range larger than the module's memory aborts it at once (found by the `settings_json` fuzz
/// target: `numbers.range(2, 2.077e11)` asked for 5 TB), whatever `regoTimeoutMilliseconds`
/// says. Only literal bounds can be checked here.
fn huge_range(path: Option<&str>, params: &[Ref<Expr>]) -> Option<String> {
    if !matches!(path, Some("numbers.range" | "numbers.range_step")) {
        return None;
    }
    let literal = |e: Option<&Ref<Expr>>| match e.map(|e| e.as_ref()) {
        Some(Expr::Number { value, .. }) => value.as_number().ok()?.as_f64(),
        _ => None,
    };
    // range_step reserves `span / step + 1` elements (L148-153); a step that is not a
    // positive integer is regorus' own error before that (`step must be a positive integer`).
    let step = match path {
        Some("numbers.range_step") => literal(params.get(2)).filter(|s| *s >= 1.0).unwrap_or(1.0),
        _ => 1.0,
    };
    let (a, b) = (literal(params.first())?, literal(params.get(1))?);
    ((b - a).abs() / step > MAX_LITERAL_RANGE).then(|| {
        format!(
            "this range has more than {MAX_LITERAL_RANGE} elements: regorus reserves it whole before the first one, and would exhaust the module's memory (a trap, not a rejection); use a smaller range"
        )
    })
}

/// Why a call of a builtin this module replaces with its own ([`super::regex`]) has the wrong
/// number of arguments, if it has: regorus would report it in its extension path's words
/// (`incorrect number of parameters supplied to extension`, `src/interpreter.rs:2881`), and
/// only when an evaluation reaches the call. The builtin's own words are regorus'
/// `ensure_args_count` (`src/builtins/utils.rs:20-39`); a third argument is the call's output
/// (`regex.match(p, v, x)`), as for every builtin.
fn extension_arity(path: Option<&str>, given: usize) -> Option<String> {
    (path == Some("regex.match") && !(2..=3).contains(&given))
        .then(|| format!("`regex.match` expects 2 arguments (given {given})"))
}

/// `e`, to visit as a value.
fn value(e: &Ref<Expr>) -> Node<'_> {
    Node::Expr(e, Place::Value)
}

fn walk(stack: &mut Vec<Node>, found: &mut Found) {
    while let Some(node) = stack.pop() {
        let (expr, place) = match node {
            Node::Query(query) => {
                for stmt in &query.stmts {
                    for with in &stmt.with_mods {
                        // Both sides may name functions (`with time.now_ns as f`).
                        stack.push(Node::Expr(&with.refr, Place::Callee));
                        stack.push(Node::Expr(&with.r#as, Place::Callee));
                    }
                    match &stmt.literal {
                        Literal::SomeVars { vars, .. } => vars.iter().for_each(|v| found.name(v)),
                        Literal::SomeIn {
                            key,
                            value,
                            collection,
                            ..
                        } => {
                            stack.extend(key.iter().map(|k| Node::Expr(k, Place::Value)));
                            stack.push(Node::Expr(value, Place::Value));
                            stack.push(Node::Expr(collection, Place::Value));
                        }
                        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                            stack.push(Node::Expr(expr, Place::Value));
                        }
                        Literal::Every {
                            key,
                            value,
                            domain,
                            query,
                            ..
                        } => {
                            key.iter().for_each(|k| found.name(k));
                            found.name(value);
                            stack.push(Node::Expr(domain, Place::Value));
                            stack.push(Node::Query(query));
                        }
                    }
                }
                continue;
            }
            Node::Expr(expr, place) => (expr, place),
        };
        match expr {
            Expr::String { .. }
            | Expr::RawString { .. }
            | Expr::Number { .. }
            | Expr::Bool { .. }
            | Expr::Null { .. } => {}
            Expr::Var { span, .. } => {
                if !(place == Place::Callee && span.text() == "contains") {
                    found.name(span);
                }
                found.mention(span.text());
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                stack.extend(items.iter().map(value));
            }
            Expr::Object { fields, .. } => {
                for (_, k, v) in fields {
                    stack.push(value(k));
                    stack.push(value(v));
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                stack.push(value(term));
                stack.push(Node::Query(query));
            }
            Expr::ObjectCompr {
                key,
                value: v,
                query,
                ..
            } => {
                stack.push(value(key));
                stack.push(value(v));
                stack.push(Node::Query(query));
            }
            Expr::Call {
                span, fcn, params, ..
            } => {
                let at = root_span(fcn).unwrap_or(span);
                let path = static_path(fcn);
                if path.as_deref() == Some("sprintf")
                    && let Some(
                        Expr::String { span, value, .. } | Expr::RawString { span, value, .. },
                    ) = params.first().map(|p| p.as_ref())
                    && let Ok(format) = value.as_string()
                    && let Some(problem) = sprintf_panics(format)
                {
                    found.bad_formats.push((span.clone(), problem));
                }
                if let Some(problem) = huge_range(path.as_deref(), params) {
                    found.bad_formats.push((at.clone(), problem));
                }
                if let Some(problem) = extension_arity(path.as_deref(), params.len()) {
                    found.bad_formats.push((at.clone(), problem));
                }
                found.calls.push((at.clone(), path));
                stack.push(Node::Expr(fcn, Place::Callee));
                stack.extend(params.iter().map(value));
            }
            Expr::UnaryExpr { expr, .. } => stack.push(value(expr)),
            Expr::RefDot { refr, field, .. } => {
                if let Some(rule) = static_path(expr)
                    .as_deref()
                    .and_then(|p| p.strip_prefix(found.package_prefix.as_str()))
                    .and_then(|rest| rest.split('.').next())
                    .map(str::to_string)
                {
                    found.mention(&rule);
                }
                if is_input(refr) {
                    found.input.field(field.0.text());
                } else {
                    stack.push(Node::Expr(refr, place));
                }
            }
            Expr::RefBrack { refr, index, .. } => {
                if is_input(refr) {
                    match index.as_ref() {
                        Expr::String { value, .. } | Expr::RawString { value, .. } => {
                            match value.as_string() {
                                Ok(field) => found.input.field(field),
                                Err(_) => found.input = InputReads::All,
                            }
                        }
                        _ => found.input = InputReads::All,
                    }
                } else {
                    stack.push(Node::Expr(refr, place));
                }
                stack.push(value(index));
            }
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                stack.push(value(lhs));
                stack.push(value(rhs));
            }
            Expr::Membership {
                key,
                value: v,
                collection,
                ..
            } => {
                stack.extend(key.iter().map(value));
                stack.push(value(v));
                stack.push(value(collection));
            }
        }
    }
}
