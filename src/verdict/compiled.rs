//! A CIP's `spec.policy`, compiled: Rego ([`crate::rego`]) or CUE ([`crate::cue`]), behind one
//! seam, so that the verdict builds one input document and reads one outcome whatever the
//! language.
//!
//! Upstream (policy-controller `pkg/webhook/validator.go`, CIP-level policy, calling cosign's
//! `pkg/policy` `EvaluatePolicyAgainstJSON`, `pkg/policy/eval.go` L27-56 at `193d2153^`)
//! dispatches on `policy.type` the same way, with the same input document, and prefixes each
//! failure with `failed evaluating <type> policy for ClusterImagePolicy: `.

use crate::budget::Failure;
use crate::cue::{self, CuePolicy};
use crate::rego::{self, RegoPolicy};
use std::time::Duration;

/// A compiled CIP-level policy.
pub enum Compiled {
    /// `type: rego` (boxed: a prepared engine is large).
    Rego(Box<RegoPolicy>),
    /// `type: cue`.
    Cue(CuePolicy),
}

impl Compiled {
    /// Compiles `source` as `type_` (`rego` or `cue`) with a budget of `timeout_ms` per
    /// evaluation. Errors: the failure as the CIP reports it (`failed evaluating rego policy
    /// for type ClusterImagePolicy: …`, `failed evaluating cue policy for ClusterImagePolicy:
    /// failed to compile the cue policy with error: …`), or `sorry Type <t> is not supported
    /// yet` for another type (upstream's words; settings validation refuses those first).
    pub fn new(type_: &str, source: &str, timeout_ms: u64) -> Result<Self, String> {
        match type_ {
            "rego" => RegoPolicy::compile(source, timeout_ms)
                .map(|p| Compiled::Rego(Box::new(p)))
                .map_err(|e| format!("{}: {e}", rego::FAILURE_PREFIX)),
            "cue" => CuePolicy::compile(source, timeout_ms)
                .map(Compiled::Cue)
                .map_err(|e| {
                    format!(
                        "{}: failed to compile the cue policy with error: {e}",
                        cue::FAILURE_PREFIX
                    )
                }),
            other => Err(format!("sorry Type {other} is not supported yet")),
        }
    }

    /// The prefix of this policy's failures.
    pub fn failure_prefix(&self) -> &'static str {
        match self {
            Compiled::Rego(_) => rego::FAILURE_PREFIX,
            Compiled::Cue(_) => cue::FAILURE_PREFIX,
        }
    }

    /// Whether an evaluation can read `input.<field>` (a CUE policy is unified with the whole
    /// document, so it reads every field).
    pub fn reads_input(&self, field: &str) -> bool {
        match self {
            Compiled::Rego(p) => p.reads_input(field),
            Compiled::Cue(_) => true,
        }
    }

    /// Evaluates against the input document within `limit` (the smaller of the policy's own
    /// budget and what is left of the request's, [`crate::budget`]). `Ok` carries the
    /// admission warning a Rego result object gave, if any. Errors: the evaluator's message,
    /// to be given to [`Compiled::failure_message`], and whether `limit` stopped it.
    pub fn evaluate_within(
        &self,
        input: regorus::Value,
        limit: Duration,
    ) -> Result<Option<String>, Failure> {
        match self {
            Compiled::Rego(p) => p.evaluate_value_within(input, limit).map(|c| c.warning),
            Compiled::Cue(p) => {
                let json = serde_json::to_value(&input).map_err(|e| Failure {
                    message: format!("cannot encode the input document: {e}"),
                    timed_out: false,
                })?;
                p.evaluate_within(&json, limit).map(|()| None)
            }
        }
    }

    /// The whole failure message for `detail` (an evaluation's message, or why it could not
    /// run), prefixed as upstream: `failed evaluating rego policy for type ClusterImagePolicy:
    /// <detail>`, `failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the
    /// policy with error: <detail>`.
    pub fn failure_message(&self, detail: &str) -> String {
        let prefix = self.failure_prefix();
        match self {
            Compiled::Rego(_) => format!("{prefix}: {detail}"),
            Compiled::Cue(_) => {
                format!("{prefix}: failed to evaluate the policy with error: {detail}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CUE evaluation stopped by the limit the verdict gives it (what is left of the request
    /// budget, [`crate::budget`]) says so, so that the verdict can report the request budget as
    /// used up; the failure keeps upstream's CUE prefix. The same text passes with time to spare.
    #[test]
    fn a_cue_evaluation_under_a_spent_limit_says_it_timed_out() {
        let mut source = String::new();
        for i in 0..200 {
            source.push_str(&format!("f{i}: \"x\" | \"y\" | \"z\"\n"));
        }
        let compiled = Compiled::new("cue", &source, 1000).unwrap();
        let input = regorus::Value::from_json_str("{}").unwrap();
        let failure = compiled
            .evaluate_within(input.clone(), Duration::ZERO)
            .unwrap_err();
        assert_eq!(
            failure,
            Failure {
                message: "evaluation exceeded the time budget of 0 ms".into(),
                timed_out: true,
            }
        );
        assert_eq!(
            compiled.failure_message("the request's policy budget was used up"),
            "failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the policy with error: the request's policy budget was used up"
        );
        assert_eq!(
            compiled.evaluate_within(input, Duration::from_secs(1)),
            Ok(None)
        );
    }

    /// A conflict is not a time-out, and a Rego failure keeps Rego's prefix.
    #[test]
    fn a_conflict_is_not_a_time_out() {
        let compiled = Compiled::new("cue", "typemeta: kind: \"Pod\"\n", 1000).unwrap();
        let input =
            regorus::Value::from_json_str(r#"{"typemeta": {"kind": "Deployment"}}"#).unwrap();
        let failure = compiled
            .evaluate_within(input, Duration::from_secs(1))
            .unwrap_err();
        assert!(!failure.timed_out);
        assert!(
            failure.message.contains("conflicting values"),
            "{failure:?}"
        );
        let rego = Compiled::new("rego", "package sigstore\nisCompliant = false\n", 1000).unwrap();
        assert_eq!(
            rego.failure_message("x"),
            "failed evaluating rego policy for type ClusterImagePolicy: x"
        );
    }
}
