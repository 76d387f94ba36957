//! A CIP's `spec.policy`, compiled: Rego ([`crate::rego`]) or CUE ([`crate::cue`]), behind one
//! seam, so that the verdict builds one input document and reads one outcome whatever the
//! language.
//!
//! Upstream (policy-controller `pkg/webhook/validator.go`, CIP-level policy, calling cosign's
//! `pkg/policy` `EvaluatePolicyAgainstJSON`, `pkg/policy/eval.go` L27-56 at `193d2153^`)
//! dispatches on `policy.type` the same way, with the same input document, and prefixes each
//! failure with `failed evaluating <type> policy for ClusterImagePolicy: `.

use crate::cue::{self, CuePolicy};
use crate::rego::{self, RegoPolicy};

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

    /// Evaluates against the input document. `Ok` carries the admission warning a Rego
    /// result object gave, if any. Errors: the whole failure message, prefixed as upstream
    /// (`failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the policy
    /// with error: <cue error>`).
    pub fn evaluate(&self, input: regorus::Value) -> Result<Option<String>, String> {
        let prefix = self.failure_prefix();
        match self {
            Compiled::Rego(p) => p
                .evaluate_value(input)
                .map(|c| c.warning)
                .map_err(|e| format!("{prefix}: {e}")),
            Compiled::Cue(p) => {
                let json = serde_json::to_value(&input)
                    .map_err(|e| format!("{prefix}: cannot encode the input document: {e}"))?;
                p.evaluate(&json)
                    .map(|()| None)
                    .map_err(|e| format!("{prefix}: failed to evaluate the policy with error: {e}"))
            }
        }
    }
}
