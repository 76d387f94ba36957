//! The time limit of one Rego evaluation: regorus' execution timer, set to the per-evaluation
//! budget or to what is left of the request's ([`crate::budget`]), and how a failure says
//! that the limit stopped it.

use std::num::NonZeroU32;
use std::time::Duration;

pub use crate::budget::Failure;

/// The text of regorus' time-limit error (regorus 0.14.1 `src/utils/limits/error.rs` L61).
const TIME_LIMIT_TEXT: &str = "execution exceeded time limit";

/// `e` as a [`Failure`]: timed out on regorus' `LimitError::TimeLimitExceeded` (regorus
/// 0.14.1 `src/utils/limits/error.rs` L13, L57-63).
pub(super) fn failure(e: anyhow::Error) -> Failure {
    let timed_out = matches!(
        e.downcast_ref::<regorus::utils::limits::LimitError>(),
        Some(regorus::utils::limits::LimitError::TimeLimitExceeded { .. })
    ) || e.to_string().contains(TIME_LIMIT_TEXT);
    Failure {
        message: e.to_string(),
        timed_out,
    }
}

/// regorus' execution timer with `limit`, checked at every step.
pub(super) fn timer(limit: Duration) -> regorus::utils::limits::ExecutionTimerConfig {
    regorus::utils::limits::ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::super::RegoPolicy;
    use crate::rego::input;
    use serde_json::json;
    use std::time::Duration;

    const SLOW: &str = "package sigstore\nisCompliant {\n  input.slow\n  count([x | x := numbers.range(1, 100000)[_]; y := numbers.range(1, 1000)[_]; x == y]) > 0\n}\n";

    /// The limit given to an evaluation replaces the compile-time one for that evaluation only,
    /// and a failure says whether the limit stopped it.
    #[test]
    fn an_evaluation_runs_under_the_limit_it_is_given() {
        let p = RegoPolicy::compile(SLOW, 60_000).unwrap();
        let slow = || input::from_json(&json!({"slow": true}));
        let started = std::time::Instant::now();
        let f = p
            .evaluate_value_within(slow(), Duration::from_millis(30))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(f.timed_out, "{f:?}");
        assert!(
            f.message
                .starts_with("execution exceeded time limit (elapsed="),
            "{f:?}"
        );
        assert!(f.message.ends_with(", limit=30000000ns)"), "{f:?}");
        // Not compliant is not a timeout.
        let f = p
            .evaluate_value_within(input::from_json(&json!({})), Duration::from_millis(30))
            .unwrap_err();
        assert_eq!(
            f,
            super::Failure {
                message:
                    "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
                        .into(),
                timed_out: false
            }
        );
        // The compile-time budget is back for the next evaluation.
        let p = RegoPolicy::compile(SLOW, 20).unwrap();
        let e = p.evaluate(&json!({"slow": true})).unwrap_err();
        assert!(e.ends_with(", limit=20000000ns)"), "{e}");
    }
}
