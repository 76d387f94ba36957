//! CIP-level Rego policies, evaluated with `regorus` inside the module.
//!
//! Contract mirrored from upstream (cosign `pkg/cosign/rego/rego.go`, now in policy-controller;
//! `../shared/reference/policy-controller.md` §4): the module is named `sigstore.rego`, parsed
//! as Rego v0 (v1 keywords through `import rego.v1` / `future.keywords`), and queried with
//! `isCompliant = data.sigstore.isCompliant`. The binding passes when it is `true`, or when it
//! is a set/array of `{result, error, warning}` objects one of which has `result: true`.
//!
//! Deliberate difference: `result: true` with a non-empty `warning` admits with that warning
//! (upstream turns the warning into a failure, the opposite of what its users write; see
//! aws/aws-eks-best-practices#301).
//!
//! Every evaluation runs under regorus' execution timer; exceeding it is a failure. Its limit is
//! the per-evaluation budget, or less when the request's budget has less left ([`limit`]).
//!
//! A policy is checked when it is compiled ([`check`]): the package, Rego v1 keywords used
//! without their import, rules without value or body, and calls of builtins this module does
//! not provide ([`builtins`]) are errors before any evaluation.

pub mod builtins;
pub mod check;
#[cfg(test)]
mod check_tests;
pub mod input;
#[cfg(test)]
mod input_reads_tests;
pub mod limit;
#[cfg(test)]
mod max_image_age_tests;
pub mod regex;

pub use limit::Failure;
use limit::{failure, timer};
use regorus::unstable::{Expr, Rule, RuleHead};
use regorus::{Engine, Value};
use std::cell::{Cell, OnceCell};
use std::time::Duration;

/// The query upstream runs.
pub const QUERY: &str = "isCompliant = data.sigstore.isCompliant";

/// The rule [`QUERY`] reads.
const RULE: &str = "data.sigstore.isCompliant";

/// Prefix of every Rego failure at CIP level (`failed evaluating rego policy for type <name>:`).
pub const FAILURE_PREFIX: &str = "failed evaluating rego policy for type ClusterImagePolicy";

/// Deepest nesting of `(`, `[` and `{` accepted in a policy's text. regorus 0.14.1's parser
/// backtracks through nested brackets in exponential time (a fuzzer found `is[[[[…` with 42
/// levels taking over 10 s; `fuzz/regressions/`); real policies nest a handful of levels.
pub const MAX_BRACKET_DEPTH: usize = 12;

/// Deepest bracket nesting of `text`, outside strings (`"…"` with `\` escapes, `` `…` ``) and
/// comments (`#` to the end of the line), as Rego's lexer reads them (review finding: brackets
/// inside a string were counted, and a policy with a 23-bracket string was refused).
fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '"' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                for s in chars.by_ref() {
                    if s == '`' {
                        break;
                    }
                }
            }
            '#' => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    max
}

/// A parsed Rego policy, ready to evaluate many inputs.
///
/// The first evaluation has regorus prepare the parsed policy (analysis, schedule, rule and
/// function tables, loop hoisting: `Engine::prepare_for_eval`, regorus 0.14.1
/// `src/engine.rs:1462`), once; `compile` alone (settings validation) does not pay for it.
/// Each evaluation runs on a clone of the prepared engine: the clone shares the prepared policy
/// through an `Rc` (well under a microsecond) and owns all evaluation state, so nothing of one
/// evaluation reaches the next, and `&self` suffices.
#[derive(Clone)]
pub struct RegoPolicy {
    /// The parsed policy, never evaluated.
    parsed: Engine,
    /// `parsed`, prepared at the first evaluation (see [`Prepared::new`]).
    prepared: OnceCell<Prepared>,
    /// The fields of `input` the policy can read ([`check::InputReads`]; all of them for a
    /// policy that was not checked).
    input: check::InputReads,
}

/// A policy as evaluations start from.
#[derive(Clone)]
struct Prepared {
    /// Prepared, unless regorus failed to prepare it: then the parsed engine, whose every
    /// evaluation prepares it again and reports that failure, as before.
    engine: Engine,
    /// Whether evaluating [`RULE`] with `eval_rule` gives exactly what [`QUERY`] would:
    /// `None` until the first evaluation finds out whether [`RULE`] is a rule's path
    /// ([`Prepared::new`]).
    by_rule: Cell<Option<bool>>,
}

/// The outcome of a compliant evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compliant {
    /// The `warning` of the result object that admitted, if any.
    pub warning: Option<String>,
}

/// Whether no rule head of the engine's modules has more than one static path component.
/// Only then does `Engine::eval_query`'s extra step, `Interpreter::create_rule_prefixes`
/// (regorus 0.14.1 `src/engine.rs:1274`, `src/interpreter.rs:4428`: it seeds `data` with
/// empty objects above rules such as `a.b := …`, which a policy can observe), do nothing.
/// Conservative: accepts `p`, `p(…)` and `p[<not a string literal>]` heads only.
fn heads_are_simple(engine: &mut Engine) -> bool {
    engine.get_modules().iter().all(|module| {
        module.policy.iter().all(|rule| {
            let refr = match rule.as_ref() {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. }
                    | RuleHead::Set { refr, .. }
                    | RuleHead::Func { refr, .. } => refr,
                },
                Rule::Default { refr, .. } => refr,
            };
            match refr.as_ref() {
                Expr::Var { .. } => true,
                Expr::RefBrack { refr, index, .. } => {
                    matches!(refr.as_ref(), Expr::Var { .. })
                        && !matches!(index.as_ref(), Expr::String { .. })
                }
                _ => false,
            }
        })
    })
}

impl RegoPolicy {
    /// Parses `source` as module `sigstore.rego` in Rego v0 mode and checks it ([`check`]),
    /// with a time budget of `timeout_ms` milliseconds per evaluation.
    ///
    /// Errors: regorus' parse error (`sigstore.rego:2:10: error: …`, several lines with a
    /// caret), or the problems [`check::problems`] finds, one line each
    /// (`sigstore.rego:<line>:<col>: <problem>`).
    pub fn compile(source: &str, timeout_ms: u64) -> Result<Self, String> {
        let mut policy = Self::parse(source, timeout_ms)?;
        let mut problems: Vec<String> = Vec::new();
        let mut input = check::InputReads::default();
        for module in policy.parsed.get_modules().iter() {
            let analysis = check::analyse(module);
            problems.extend(analysis.problems);
            input = input.union(analysis.input);
        }
        if problems.is_empty() {
            policy.input = input;
            Ok(policy)
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Whether an evaluation can read `input.<field>` ([`check::InputReads`]): when it cannot,
    /// the caller need not build that field (a CIP's `includeSpec` with a policy that reads
    /// only `input.image`).
    pub fn reads_input(&self, field: &str) -> bool {
        self.input.includes(field)
    }

    /// What settings validation runs: [`RegoPolicy::compile`], then regorus' preparation of the
    /// policy (its analysis: unsafe variables, …; recursion, which regorus does not analyse, is a
    /// static check of `compile`; [`prepare`]), whose failure would fail every evaluation. The
    /// preparation is not kept: at admission it happens at the first evaluation, as before.
    ///
    /// Errors: those of `compile`, or regorus' preparation error (`sigstore.rego:L:C: …`).
    pub fn validate(source: &str, timeout_ms: u64) -> Result<(), String> {
        let policy = Self::compile(source, timeout_ms)?;
        let mut engine = policy.parsed.clone();
        prepare(&mut engine)
    }

    /// [`RegoPolicy::compile`] without the checks: what regorus alone accepts.
    fn parse(source: &str, timeout_ms: u64) -> Result<Self, String> {
        let depth = bracket_depth(source);
        if depth > MAX_BRACKET_DEPTH {
            return Err(format!(
                "the policy nests brackets {depth} levels deep; at most {MAX_BRACKET_DEPTH} are accepted (regorus' parser takes exponential time on deep nesting)"
            ));
        }
        let mut engine = Engine::new();
        engine.set_rego_v0(true);
        // `print` would write to the module's stdout (policy-server's log, kwctl's answer line);
        // gathered prints are dropped with the evaluation's engine.
        engine.set_gather_prints(true);
        engine.set_execution_timer_config(timer(Duration::from_millis(timeout_ms)));
        regex::install(&mut engine)?;
        engine
            .add_policy(check::MODULE.to_string(), source.to_string())
            .map_err(|e| e.to_string())?;
        Ok(RegoPolicy {
            parsed: engine,
            prepared: OnceCell::new(),
            input: check::InputReads::All,
        })
    }

    /// Has regorus prepare the policy for evaluation (analysis, schedule, loop hoisting), as the
    /// first [`RegoPolicy::evaluate`] does; later calls do nothing. Errors of the preparation are
    /// reported by `evaluate`. For benchmarks that time compilation and evaluation apart.
    pub fn prepare(&self) {
        self.prepared();
    }

    fn prepared(&self) -> &Prepared {
        self.prepared.get_or_init(|| Prepared::new(&self.parsed))
    }

    /// The value of `isCompliant` for `input` (`Value::Undefined` when the query has no result).
    fn binding(&self, input: Value) -> Result<Value, String> {
        self.binding_within(input, None).map_err(|f| f.message)
    }

    /// [`RegoPolicy::binding`], under `limit` instead of the compile-time budget when given.
    fn binding_within(&self, input: Value, limit: Option<Duration>) -> Result<Value, Failure> {
        let prepared = self.prepared();
        // A clone shares the prepared policy; evaluation state (data, rule values, caches,
        // the execution timer, which every eval_* call restarts) belongs to the clone alone.
        let mut engine = prepared.engine.clone();
        if let Some(limit) = limit {
            engine.set_execution_timer_config(timer(limit));
        }
        engine.set_input(input);
        if prepared.by_rule.get() != Some(false) {
            match engine.eval_rule(RULE.to_string()) {
                // Found out at the first evaluation: [`RULE`] is no rule's path (regorus checks
                // the path before evaluating anything, `src/interpreter.rs:4846-4848`), so the
                // query is evaluated instead, on this same engine, and from now on.
                Err(e) if e.to_string() == NOT_A_RULE_PATH => prepared.by_rule.set(Some(false)),
                Ok(value) => {
                    prepared.by_rule.set(Some(true));
                    return Ok(value);
                }
                // Any other error comes after the path was found, but the time limit can stop
                // the evaluation before (its first tick): then nothing is learnt.
                Err(e) => {
                    let f = failure(e);
                    if !f.timed_out {
                        prepared.by_rule.set(Some(true));
                    }
                    return Err(f);
                }
            }
        }
        let results = engine
            .eval_query(QUERY.to_string(), false)
            .map_err(failure)?;
        Ok(match results.result.first() {
            None => Value::Undefined,
            Some(first) => match first.bindings.as_object() {
                Ok(map) => map
                    .get(&Value::from("isCompliant"))
                    .cloned()
                    .unwrap_or(Value::Undefined),
                Err(_) => Value::Undefined,
            },
        })
    }

    /// Evaluates the query over `input`.
    ///
    /// Errors (upstream's wording, without the `failed evaluating … ClusterImagePolicy: `
    /// prefix): `policy is not compliant for query '…'` (plus ` with errors: <error>` for a
    /// failing result object), or regorus' evaluation error (including the time limit).
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<Compliant, String> {
        self.evaluate_value(input::from_json(input))
    }

    /// [`RegoPolicy::evaluate`] on an input document already built as a regorus value
    /// ([`input::Document`]): what admission requests use, so that the object's `spec` is
    /// converted once per request, not once per evaluation. Errors as `evaluate`.
    pub fn evaluate_value(&self, input: Value) -> Result<Compliant, String> {
        judge(&self.binding(input)?)
    }

    /// [`RegoPolicy::evaluate_value`] with at most `limit` of time (the per-evaluation budget,
    /// or less: what is left of the request's, [`crate::budget::RequestBudget::slice`]).
    /// Errors as `evaluate`, saying whether the time limit stopped it.
    pub fn evaluate_value_within(
        &self,
        input: Value,
        limit: Duration,
    ) -> Result<Compliant, Failure> {
        let binding = self.binding_within(input, Some(limit))?;
        judge(&binding).map_err(|message| Failure {
            message,
            timed_out: false,
        })
    }
}

impl Prepared {
    /// Has regorus prepare `engine` once, without evaluating anything ([`prepare`]), and
    /// decides how to read `isCompliant`.
    ///
    /// When the rule heads are simple, `eval_rule` on [`RULE`] evaluates exactly what
    /// [`QUERY`] does (both end in `Interpreter::ensure_rule_evaluated` on that path; regorus
    /// 0.14.1 `src/interpreter.rs:3239`, `:3344`, `:4846`) without parsing and analysing the
    /// query on every call, provided [`RULE`] is a rule's path, which the first evaluation finds
    /// out ([`RegoPolicy::binding_within`]); otherwise (another package, `isCompliant.x := …`,
    /// no such rule) [`QUERY`] is evaluated. A preparation failure (e.g. an unsafe variable)
    /// keeps the unprepared engine, so that it is still reported by each evaluation, as before,
    /// and not by `compile`.
    fn new(engine: &Engine) -> Self {
        let mut prepared = engine.clone();
        match prepare(&mut prepared) {
            Ok(()) => {
                let by_rule = if heads_are_simple(&mut prepared) {
                    None
                } else {
                    Some(false)
                };
                Prepared {
                    engine: prepared,
                    by_rule: Cell::new(by_rule),
                }
            }
            Err(_) => Prepared {
                engine: engine.clone(),
                by_rule: Cell::new(Some(false)),
            },
        }
    }
}

/// regorus' error for a path that names no rule (0.14.1 `src/interpreter.rs:4823-4844`).
const NOT_A_RULE_PATH: &str = "not a valid rule path";

/// A path that is never a rule's: `data` itself (rules live under `data.<package>`).
const NO_RULE: &str = "data";

/// Has regorus prepare `engine` for evaluation (analysis, schedule, rule and function tables,
/// loop hoisting: `Engine::prepare_for_eval`, regorus 0.14.1 `src/engine.rs:1462-1520`) and
/// nothing else, with its public API: `eval_rule` prepares first, restarts the execution
/// timer, ticks it once and looks the path up before evaluating anything
/// (`src/engine.rs:1227-1233`, `src/interpreter.rs:4846-4848`), so on [`NO_RULE`] it stops
/// with [`NOT_A_RULE_PATH`] once prepared (or, were the first tick already past the time
/// limit, with the time-limit error, the preparation done all the same).
/// `Engine::compile_with_entrypoint`, used before, then hoisted the loops a second time
/// (`Interpreter::compile`, `src/interpreter.rs:4878-4905`), rebuilding the table evaluations
/// read with the same content (BENCHMARKS.md, "Preparing once").
///
/// Errors: regorus' preparation error (`sigstore.rego:L:C: …`).
fn prepare(engine: &mut Engine) -> Result<(), String> {
    match engine.eval_rule(NO_RULE.to_string()).map_err(failure) {
        Err(f) if f.message == NOT_A_RULE_PATH || f.timed_out => Ok(()),
        Err(f) => Err(f.message),
        // `data` cannot be a rule's path; were it one, the engine is prepared all the same.
        Ok(_) => Ok(()),
    }
}

/// The verdict on the value of `isCompliant`.
fn judge(binding: &Value) -> Result<Compliant, String> {
    let not_compliant = format!("policy is not compliant for query '{QUERY}'");
    let items: Vec<&Value> = match binding {
        Value::Bool(true) => return Ok(Compliant { warning: None }),
        Value::Set(s) => s.iter().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => return Err(not_compliant),
    };
    let mut error = not_compliant.clone();
    for item in items {
        let json: serde_json::Value = serde_json::to_value(item).unwrap_or_default();
        let text = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        if json.get("result").and_then(|v| v.as_bool()) == Some(true) {
            let warning = text("warning");
            return Ok(Compliant {
                warning: (!warning.is_empty()).then_some(warning),
            });
        }
        error = format!("{not_compliant} with errors: {}", text("error"));
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::num::NonZeroU32;

    const SEED: &str = "package sigstore\ndefault isCompliant = false\nisCompliant {\n  parts := split(input.image, \":\")\n  count(parts) == 2\n  parts[1] != \"latest\"\n}\n";

    #[test]
    fn seed_policy() {
        let p = RegoPolicy::compile(SEED, 1000).unwrap();
        assert_eq!(
            p.evaluate(&json!({"image": "cgr.dev/chainguard/nginx:latest-dev"})),
            Ok(Compliant { warning: None })
        );
        assert_eq!(
            p.evaluate(&json!({"image": "cgr.dev/chainguard/nginx:latest"})),
            Err(
                "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
                    .into()
            )
        );
    }

    #[test]
    fn v1_through_import_and_undefined() {
        let p = RegoPolicy::compile(
            "package sigstore\nimport rego.v1\nisCompliant if input.ok\n",
            1000,
        )
        .unwrap();
        assert!(p.evaluate(&json!({"ok": true})).is_ok());
        assert!(p.evaluate(&json!({})).is_err());
        // Another package can never be compliant: refused by `compile`, not compliant if
        // regorus alone had accepted it.
        assert!(
            RegoPolicy::compile("package other\nallow = true\n", 1000)
                .err()
                .unwrap()
                .starts_with("sigstore.rego:1:9: the package is `other`")
        );
        let other = RegoPolicy::parse("package other\nallow = true\n", 1000).unwrap();
        assert!(
            other
                .evaluate(&json!({}))
                .unwrap_err()
                .starts_with("policy is not compliant")
        );
    }

    #[test]
    fn result_objects() {
        let p = RegoPolicy::compile(
            "package sigstore\nisCompliant[r] {\n  r := {\"result\": input.pass, \"error\": \"too old\", \"warning\": input.w}\n}\n",
            1000,
        )
        .unwrap();
        assert_eq!(
            p.evaluate(&json!({"pass": true, "w": ""})),
            Ok(Compliant { warning: None })
        );
        assert_eq!(
            p.evaluate(&json!({"pass": true, "w": "deprecated"})),
            Ok(Compliant {
                warning: Some("deprecated".into())
            })
        );
        assert_eq!(
            p.evaluate(&json!({"pass": false, "w": ""})),
            Err("policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: too old".into())
        );
    }

    /// The rule README recommends over `input.image`, which survives digest pinning.
    #[test]
    fn readme_latest_rule_handles_pinned_images() {
        let p = RegoPolicy::compile("package sigstore\nisCompliant {\n  not regex.match(\":latest(@|$)\", input.image)\n}\n", 1000).unwrap();
        for (image, ok) in [
            ("cgr.dev/chainguard/nginx:latest", false),
            ("cgr.dev/chainguard/nginx:latest@sha256:0123", false),
            ("cgr.dev/chainguard/nginx:latest-dev", true),
            ("cgr.dev/chainguard/nginx:latest-dev@sha256:0123", true),
            ("localhost:5000/app:v1", true),
        ] {
            assert_eq!(p.evaluate(&json!({"image": image})).is_ok(), ok, "{image}");
        }
    }

    /// Review finding: `print` wrote to stdout, before kwctl's one-line answer.
    #[test]
    fn print_is_gathered_not_written() {
        let p = RegoPolicy::compile(
            "package sigstore\nisCompliant { print(\"HELLO-FROM-REGO\"); input.ok }\n",
            1000,
        )
        .unwrap();
        // The engine every evaluation clones gathers the output instead of writing it.
        let mut engine = p.parsed.clone();
        engine.set_input(Value::from(json!({"ok": true})));
        engine.eval_query(QUERY.to_string(), false).unwrap();
        let prints = engine.take_prints().unwrap();
        assert_eq!(prints.len(), 1, "{prints:?}");
        assert!(prints[0].ends_with("HELLO-FROM-REGO"), "{prints:?}");
        assert!(p.evaluate(&json!({"ok": true})).is_ok());
        assert!(p.evaluate(&json!({"ok": false})).is_err());
    }

    #[test]
    fn object_binding_is_not_compliant() {
        let p = RegoPolicy::compile(
            "package sigstore\nisCompliant := {\"result\": true}\n",
            1000,
        )
        .unwrap();
        assert!(p.evaluate(&json!({})).is_err());
    }

    #[test]
    fn parse_errors_and_v0_syntax() {
        assert!(RegoPolicy::compile("package sigstore\nisCompliant {", 1000).is_err());
        assert!(RegoPolicy::compile("not rego at all", 1000).is_err());
    }

    /// Regression (fuzz/regressions/settings_json-timeout-rego-nested-brackets.json).
    #[test]
    fn deeply_nested_brackets_are_refused_before_parsing() {
        let source = format!(
            "package sigstore\nis{}Compliant[result] {{ result := 1 }}\n",
            "[".repeat(54)
        );
        let err = RegoPolicy::compile(&source, 1000).err().unwrap();
        assert_eq!(
            err,
            "the policy nests brackets 55 levels deep; at most 12 are accepted (regorus' parser takes exponential time on deep nesting)"
        );
        let fine = format!(
            "package sigstore\nx := {}1{}\nisCompliant {{ x }}\n",
            "[".repeat(12),
            "]".repeat(12)
        );
        assert!(RegoPolicy::compile(&fine, 1000).is_ok());
        // Brackets in strings and comments are not nesting.
        let strings = format!(
            "package sigstore\n# {c}\nx := \"{s}\\\"{s}\"\ny := `{s}`\nisCompliant {{ x != y }} # {c}\n",
            s = "[(".repeat(12),
            c = "{".repeat(30)
        );
        assert_eq!(bracket_depth(&strings), 1);
        assert!(RegoPolicy::compile(&strings, 1000).is_ok());
        assert_eq!(
            bracket_depth("\"[[[\n[[["),
            3,
            "a string ends at a new line"
        );
    }

    /// The implementation before the engine was prepared once: the unprepared engine cloned
    /// for every evaluation, the query run (on the same input document).
    fn reference_binding(source: &str, input: &Value) -> Result<Value, String> {
        let mut engine = Engine::new();
        engine.set_rego_v0(true);
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: Duration::from_millis(1000),
            check_interval: NonZeroU32::MIN,
        });
        engine
            .add_policy("sigstore.rego".to_string(), source.to_string())
            .map_err(|e| e.to_string())?;
        let mut engine = engine.clone();
        engine.set_input(input.clone());
        let results = engine
            .eval_query(QUERY.to_string(), false)
            .map_err(|e| e.to_string())?;
        let Some(first) = results.result.first() else {
            return Ok(Value::Undefined);
        };
        Ok(match first.bindings.as_object() {
            Ok(map) => map
                .get(&Value::from("isCompliant"))
                .cloned()
                .unwrap_or(Value::Undefined),
            Err(_) => Value::Undefined,
        })
    }

    const POD_HARDENING: &str = "package sigstore\ndefault isCompliant = false\npod := input.spec.template.spec\ncontainers := array.concat(object.get(pod, \"initContainers\", []), pod.containers)\nunlimited[c.name] {\n  c := containers[_]\n  not c.resources.limits.memory\n}\nescalating[c.name] {\n  c := containers[_]\n  not c.securityContext.allowPrivilegeEscalation == false\n}\nisCompliant {\n  pod.securityContext.runAsNonRoot == true\n  count(unlimited) == 0\n  count(escalating) == 0\n}\n";

    const RELEASE_TAGS: &str = "package sigstore\nisCompliant[result] {\n  regex.match(`:v?[0-9]+\\.[0-9]+\\.[0-9]+$`, input.image)\n  result := {\"result\": true, \"error\": \"\", \"warning\": \"\"}\n}\nisCompliant[result] {\n  contains(input.image, \"@sha256:\")\n  result := {\"result\": true, \"error\": \"\", \"warning\": \"\"}\n}\nisCompliant[result] {\n  not regex.match(`:v?[0-9]+\\.[0-9]+\\.[0-9]+$`, input.image)\n  not contains(input.image, \"@sha256:\")\n  result := {\"result\": false, \"error\": sprintf(\"%s is not a release tag\", [input.image]), \"warning\": \"\"}\n}\n";

    /// A `default` rule, a partial set rule and a function, all depending on the input.
    const STATEFUL: &str = "package sigstore\ndefault isCompliant = false\nbad[name] {\n  some name\n  input.labels[name] == \"bad\"\n}\ndouble(x) = y {\n  y := x * 2\n}\nisCompliant {\n  count(bad) == 0\n  double(input.n) == 4\n}\n";

    /// A Deployment spec (1 init + 4 containers) as the benchmark sends it.
    fn deployment_spec() -> serde_json::Value {
        let request: serde_json::Value = serde_json::from_str(include_str!(
            "../../test_data/bench/deployment-5-containers.json"
        ))
        .unwrap();
        request["object"]["spec"].clone()
    }

    /// Every evaluation on one `RegoPolicy` equals the reference's on a fresh engine, in
    /// whatever order the inputs come: nothing leaks from one evaluation into the next, and
    /// reading the rule directly gives what the query gave.
    #[test]
    fn matches_the_reference_in_any_order() {
        let spec = deployment_spec();
        let mut escalating = spec.clone();
        escalating["template"]["spec"]["containers"][1]["securityContext"]["allowPrivilegeEscalation"] =
            json!(true);
        let mut root = spec.clone();
        root["template"]["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
        let image =
            |i: &str| json!({"image": i, "authorityMatches": {"authority-0": {"static": true}}});
        let with_spec = |s: &serde_json::Value| json!({"image": "registry-1.example.com/payments/api:1.27.3", "authorityMatches": {}, "spec": s});
        let images = vec![
            image("cgr.dev/chainguard/nginx:latest"),
            image("registry-0.example.com/app:1.2.3"),
            image("registry-0.example.com/app"),
            image("registry-0.example.com/app@sha256:0123"),
            image("registry-0.example.com/app:v1.2"),
            json!({}),
        ];
        let misc = vec![
            json!({"a": true, "b": true, "n": 2, "s": "abc", "ok": true, "labels": {"x": "bad"}}),
            json!({"a": true, "n": 2.0, "s": "7", "labels": {"x": "good"}, "m": {"k": 1}}),
            json!({"b": true, "n": -3, "x": true, "pass": true, "w": "careful"}),
            json!({"n": 2, "labels": {}, "pass": false, "w": ""}),
            json!({"$serde_json::private::Number": "12"}),
            json!({"$serde_json::private::Number": "abc"}),
            json!({"nested": [{"$serde_json::private::Number": "1.5"}], "n": 18446744073709551615u64}),
            json!(null),
            json!([1, "two", {"three": 3.5}]),
        ];
        let mut policies: Vec<(&str, Vec<serde_json::Value>)> = vec![
            (SEED, images.clone()),
            (RELEASE_TAGS, images.clone()),
            (
                POD_HARDENING,
                vec![
                    with_spec(&spec),
                    with_spec(&escalating),
                    with_spec(&root),
                    image("x:1"),
                    with_spec(&spec),
                ],
            ),
        ];
        // Policies over the miscellaneous inputs: rule kinds, conflicts, errors, other packages,
        // `with`, multi-component rule heads.
        let misc_sources = [
            STATEFUL,
            "package sigstore\nisCompliant[r] {\n  r := {\"result\": input.pass, \"error\": \"too old\", \"warning\": input.w}\n}\n",
            "package sigstore\nisCompliant = true { input.a }\nisCompliant = false { input.b }\n",
            "package sigstore\nisCompliant = true { input.a } else = false { input.b }\n",
            "package sigstore\nisCompliant { to_number(input.s) > 1 }\n",
            "package sigstore\nisCompliant { isCompliant }\n",
            "package sigstore\nisCompliant { x > 1 }\n",
            "package sigstore\nisCompliant(x) { x }\n",
            "package sigstore\nisCompliant[k] = v { v := input.m[k] }\n",
            "package sigstore\nisCompliant[\"x\"] = true { input.a }\n",
            "package sigstore\nimport rego.v1\nisCompliant.a := true if input.a\n",
            "package sigstore\nimport rego.v1\na.b := 1 if input.x\nisCompliant if count(a) == 0\n",
            "package sigstore\nimport rego.v1\na.b.c contains 1 if input.x\nisCompliant if count(a) == 0\n",
            "package sigstore.isCompliant\nallow = true\n",
            "package sigstore\nallow = true\n",
            "package other\nisCompliant = true\n",
            "package sigstore\nimport data.sigstore.helper\nhelper { input.ok }\nisCompliant { helper }\n",
            "package sigstore\nisCompliant { allow with input as {\"ok\": true} }\nallow { input.ok }\n",
            "package sigstore\nisCompliant { not allow with input.ok as false; allow }\nallow { input.ok }\n",
            "package sigstore\nx := data.sigstore\nisCompliant { input.a }\n",
            "package sigstore\nisCompliant := [{\"result\": false, \"error\": \"e1\"}, {\"result\": input.a, \"warning\": \"w\"}]\n",
            "package sigstore\nisCompliant { input == 12 }\n",
            "package sigstore\nisCompliant { input.nested[0] == 1.5; input.n > 1 }\n",
        ];
        policies.extend(misc_sources.iter().map(|source| (*source, misc.clone())));
        for (source, inputs) in policies {
            // What regorus accepts, including what `compile` refuses (other packages, no
            // `isCompliant`): the evaluation paths must agree on all of it.
            let policy = RegoPolicy::parse(source, 1000).unwrap();
            // Forwards, backwards, and each input twice in a row.
            let order: Vec<&serde_json::Value> = inputs
                .iter()
                .chain(inputs.iter().rev())
                .chain(inputs.iter().flat_map(|i| [i, i]))
                .collect();
            for input in order {
                let document = input::from_json(input);
                let expected = reference_binding(source, &document);
                let got = policy.binding(document);
                assert_eq!(got, expected, "{source}\n{input}");
                assert_eq!(
                    policy.evaluate(input),
                    expected.and_then(|b| judge(&b)),
                    "{source}\n{input}"
                );
            }
        }
    }

    /// `prepare` ticks regorus' execution timer once after preparing: a limit already past
    /// then (here 0 ms) is not a preparation error, and the analysis' own errors still are. An
    /// evaluation stopped by the limit at that tick does not decide how `isCompliant` is read.
    #[test]
    fn preparing_is_not_timed() {
        assert_eq!(RegoPolicy::validate(SEED, 0), Ok(()));
        let unsafe_var = RegoPolicy::validate("package sigstore\nisCompliant { x > 1 }\n", 0);
        assert!(unsafe_var.unwrap_err().contains("x"), "the analysis' error");
        let p = RegoPolicy::compile(SEED, 0).unwrap();
        let err = p.evaluate(&json!({"image": "a:1"})).unwrap_err();
        assert!(err.contains("time limit"), "{err}");
        // Another package (refused by `compile`, accepted by regorus): a first evaluation out
        // of time, then one with time, which reads the query, as without the first.
        let other = RegoPolicy::parse("package other\nisCompliant = true\n", 1000).unwrap();
        let out_of_time = other
            .binding_within(Value::from(json!({})), Some(Duration::ZERO))
            .unwrap_err();
        assert!(out_of_time.timed_out, "{out_of_time:?}");
        assert_eq!(other.prepared.get().unwrap().by_rule.get(), None);
        assert_eq!(
            other.evaluate(&json!({})),
            Err(format!("policy is not compliant for query '{QUERY}'"))
        );
        assert_eq!(other.prepared.get().unwrap().by_rule.get(), Some(false));
    }

    #[test]
    fn reads_the_rule_directly_only_when_that_is_equivalent() {
        let by_rule = |s: &str| {
            let p = RegoPolicy::parse(s, 1000).unwrap();
            p.evaluate(&json!({})).ok();
            p.prepared.get().unwrap().by_rule.get() == Some(true)
        };
        assert!(by_rule(SEED));
        assert!(by_rule(POD_HARDENING));
        assert!(by_rule(RELEASE_TAGS));
        assert!(by_rule(STATEFUL));
        assert!(!by_rule("package other\nisCompliant = true\n"));
        assert!(!by_rule("package sigstore\nallow = true\n"));
        assert!(!by_rule(
            "package sigstore\nimport rego.v1\na.b := 1\nisCompliant if count(a) == 0\n"
        ));
        // Not prepared (the analysis fails at every evaluation, as before).
        assert!(!by_rule("package sigstore\nisCompliant { x > 1 }\n"));
    }

    /// Pass, fail, pass on one compiled policy: rule values computed for one input are not
    /// reused for the next (regorus clears them at each evaluation, and each evaluation runs on
    /// its own clone of the prepared engine).
    #[test]
    fn no_state_leaks_between_evaluations() {
        let not_compliant = Err(format!("policy is not compliant for query '{QUERY}'"));
        let pass = Ok(Compliant { warning: None });
        let p = RegoPolicy::compile(STATEFUL, 1000).unwrap();
        let good = json!({"n": 2, "labels": {"a": "good"}});
        let bad_label = json!({"n": 2, "labels": {"a": "bad"}});
        let bad_n = json!({"n": 3, "labels": {}});
        for (input, expected) in [
            (&good, &pass),
            (&bad_label, &not_compliant),
            (&good, &pass),
            (&bad_n, &not_compliant),
            (&bad_label, &not_compliant),
            (&good, &pass),
            (&good, &pass),
        ] {
            assert_eq!(&p.evaluate(input), expected, "{input}");
        }

        let seed = RegoPolicy::compile(SEED, 1000).unwrap();
        for (image, ok) in [
            ("a:latest", false),
            ("a:1", true),
            ("a:latest", false),
            ("a", false),
            ("a:1", true),
        ] {
            assert_eq!(
                seed.evaluate(&json!({"image": image})).is_ok(),
                ok,
                "{image}"
            );
        }

        let pod = RegoPolicy::compile(POD_HARDENING, 1000).unwrap();
        let spec = deployment_spec();
        let mut unlimited = spec.clone();
        unlimited["template"]["spec"]["initContainers"][0]["resources"] = json!({});
        for (s, ok) in [
            (&spec, true),
            (&unlimited, false),
            (&spec, true),
            (&json!({}), false),
            (&spec, true),
        ] {
            assert_eq!(
                pod.evaluate(&json!({"image": "a:1", "spec": s})).is_ok(),
                ok
            );
        }
    }

    /// One compiled policy behind an `Rc`, used by several callers in turn.
    #[test]
    fn shared_behind_an_rc() {
        let shared = std::rc::Rc::new(RegoPolicy::compile(SEED, 1000).unwrap());
        let callers: Vec<std::rc::Rc<RegoPolicy>> =
            (0..3).map(|_| std::rc::Rc::clone(&shared)).collect();
        for round in 0..3 {
            for (i, caller) in callers.iter().enumerate() {
                let tag = if (round + i) % 2 == 0 {
                    "latest"
                } else {
                    "1.0"
                };
                let image = format!("r/app:{tag}");
                assert_eq!(
                    caller.evaluate(&json!({ "image": image })).is_ok(),
                    tag != "latest"
                );
            }
        }
    }

    /// The budget applies to each evaluation: a runaway evaluation does not spend the next
    /// one's, and leaves nothing behind.
    #[test]
    fn the_time_budget_is_per_evaluation() {
        let p = RegoPolicy::compile(
            "package sigstore\nisCompliant {\n  input.slow\n  count([x | x := numbers.range(1, 100000)[_]; y := numbers.range(1, 1000)[_]; x == y]) > 0\n}\nisCompliant {\n  not input.slow\n  input.image == \"a:1\"\n}\n",
            50,
        )
        .unwrap();
        for _ in 0..2 {
            let err = p.evaluate(&json!({"slow": true})).unwrap_err();
            assert!(err.contains("time limit"), "{err}");
            assert_eq!(
                p.evaluate(&json!({"image": "a:1"})),
                Ok(Compliant { warning: None })
            );
            assert!(p.evaluate(&json!({"image": "a:2"})).is_err());
        }
    }

    #[test]
    fn runaway_policy_hits_the_time_budget() {
        let p = RegoPolicy::compile(
            "package sigstore\nisCompliant {\n  count([x | x := numbers.range(1, 100000)[_]; y := numbers.range(1, 1000)[_]; x == y]) > 0\n}\n",
            20,
        )
        .unwrap();
        let err = p.evaluate(&json!({})).unwrap_err();
        assert!(err.contains("time limit"), "{err}");
    }
}
