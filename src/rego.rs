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
//! Every evaluation runs under regorus' execution timer; exceeding it is a failure.

use regorus::{Engine, Value};
use std::num::NonZeroU32;
use std::time::Duration;

/// The query upstream runs.
pub const QUERY: &str = "isCompliant = data.sigstore.isCompliant";

/// Prefix of every Rego failure at CIP level (`failed evaluating rego policy for type <name>:`).
pub const FAILURE_PREFIX: &str = "failed evaluating rego policy for type ClusterImagePolicy";

/// Deepest nesting of `(`, `[` and `{` accepted in a policy's text. regorus 0.14.1's parser
/// backtracks through nested brackets in exponential time (a fuzzer found `is[[[[…` with 42
/// levels taking over 10 s; `fuzz/regressions/`); real policies nest a handful of levels.
pub const MAX_BRACKET_DEPTH: usize = 12;

/// Deepest bracket nesting of `text` (brackets inside strings count too: conservative).
fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A parsed Rego policy, ready to evaluate many inputs.
#[derive(Clone)]
pub struct RegoPolicy {
    engine: Engine,
}

/// The outcome of a compliant evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compliant {
    /// The `warning` of the result object that admitted, if any.
    pub warning: Option<String>,
}

impl RegoPolicy {
    /// Parses `source` as module `sigstore.rego` in Rego v0 mode, with a time budget of
    /// `timeout_ms` milliseconds per evaluation.
    ///
    /// Errors: regorus' parse error (`sigstore.rego:2:10: error: …`).
    pub fn compile(source: &str, timeout_ms: u64) -> Result<Self, String> {
        let depth = bracket_depth(source);
        if depth > MAX_BRACKET_DEPTH {
            return Err(format!(
                "the policy nests brackets {depth} levels deep; at most {MAX_BRACKET_DEPTH} are accepted (regorus' parser takes exponential time on deep nesting)"
            ));
        }
        let mut engine = Engine::new();
        engine.set_rego_v0(true);
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: Duration::from_millis(timeout_ms),
            check_interval: NonZeroU32::MIN,
        });
        engine
            .add_policy("sigstore.rego".to_string(), source.to_string())
            .map_err(|e| e.to_string())?;
        Ok(RegoPolicy { engine })
    }

    /// Evaluates the query over `input`.
    ///
    /// Errors (upstream's wording, without the `failed evaluating … ClusterImagePolicy: `
    /// prefix): `policy is not compliant for query '…'` (plus ` with errors: <error>` for a
    /// failing result object), or regorus' evaluation error (including the time limit).
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<Compliant, String> {
        let mut engine = self.engine.clone();
        engine.set_input(Value::from(input.clone()));
        let results = engine
            .eval_query(QUERY.to_string(), false)
            .map_err(|e| e.to_string())?;
        let not_compliant = format!("policy is not compliant for query '{QUERY}'");
        let Some(first) = results.result.first() else {
            return Err(not_compliant);
        };
        let binding = match first.bindings.as_object() {
            Ok(map) => map
                .get(&Value::from("isCompliant"))
                .cloned()
                .unwrap_or(Value::Undefined),
            Err(_) => Value::Undefined,
        };
        match &binding {
            Value::Bool(true) => Ok(Compliant { warning: None }),
            Value::Set(_) | Value::Array(_) => {
                let items: Vec<Value> = match &binding {
                    Value::Set(s) => s.iter().cloned().collect(),
                    Value::Array(a) => a.iter().cloned().collect(),
                    _ => Vec::new(),
                };
                let mut error = not_compliant.clone();
                for item in items {
                    let json: serde_json::Value = serde_json::to_value(&item).unwrap_or_default();
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
            _ => Err(not_compliant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let other = RegoPolicy::compile("package other\nallow = true\n", 1000).unwrap();
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
