//! The per-request policy budget: one wall-clock allowance for everything the module does for
//! one admission request, shared by every policy evaluation (Rego, and any other evaluator)
//! and by the host calls between them.
//!
//! Why: policy-server interrupts the module after `--policy-timeout` /
//! `KUBEWARDEN_POLICY_TIMEOUT` seconds (2 by default) and answers `Policy execution interrupted
//! because it exceeded the allowed execution time` with code 500 (kubewarden-controller
//! `crates/policy-evaluator/src/runtimes/wapc/runtime.rs` L125; policy-server `src/cli.rs`
//! L171-176 for the flag and its default). It counts wall time while the module runs, host
//! calls included: the deadline is an epoch deadline of `--policy-timeout` ticks set before
//! each waPC call (wasmtime-provider 2.25 `src/provider.rs` L209-211), and a thread increments
//! the epoch once a second whatever the module is doing (policy-server `src/lib.rs` L190-219),
//! so the module traps at the first instruction after the deadline, also right after a slow
//! host call returns. With one-second ticks the interruption comes between `N - 1` and `N`
//! seconds after the call started (the issue measured 1.3 s with the default 2 s), so only
//! `N - 1` seconds are certain. `N` is the policy's own `spec.timeoutEvalSeconds` when its
//! ClusterAdmissionPolicy sets one (2 to 30, kubewarden-controller
//! `api/policies/v1/policy_types.go` L159-166), else the PolicyServer's `--policy-timeout`
//! (`crates/policy-server/src/evaluation/evaluation_environment.rs` L557-559); the settings
//! declare it as `hostPolicyTimeoutSeconds`, since the module cannot read it.
//!
//! The per-evaluation budget (`regoTimeoutMilliseconds`) alone does not keep a request inside
//! that: several slow evaluations add up. So every evaluation gets
//! `min(per-evaluation budget, what is left of the request budget)` ([`RequestBudget::slice`]),
//! and once the request budget is used up no further ClusterImagePolicy starts: each remaining
//! one fails with [`RequestBudget::used_up`]'s message, which names the setting to raise and
//! the host's timeout to raise with it. Host-call time counts against the budget (the budget
//! starts when `validate` starts), because it counts against the host's timeout; a single host
//! call cannot be cut short by the module.
//!
//! The clock is `std::time::Instant` (WASI `clock_time_get` on the monotonic clock in the
//! module), as regorus' execution timer uses (regorus 0.14.1 `src/utils/limits/time.rs`
//! L86-91).

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The setting that sets the request budget.
pub const SETTING: &str = "requestBudgetMilliseconds";

/// The setting that declares policy-server's timeout for this policy (`timeoutEvalSeconds`, else
/// `--policy-timeout`).
pub const HOST_TIMEOUT_SETTING: &str = "hostPolicyTimeoutSeconds";

/// Default request budget, in milliseconds: well inside the one second that policy-server's
/// default timeout (2 s, ticked once a second) guarantees, leaving 200 ms for instantiation,
/// decoding and the response.
pub const DEFAULT_REQUEST_BUDGET_MS: u64 = 800;

/// Largest request budget accepted, in milliseconds (10 minutes).
pub const MAX_REQUEST_BUDGET_MS: u64 = 600_000;

/// policy-server's default `--policy-timeout`, in seconds (policy-server `src/cli.rs` L175).
pub const DEFAULT_HOST_POLICY_TIMEOUT_SECONDS: u64 = 2;

/// Largest declared host timeout accepted, in seconds (one day).
pub const MAX_HOST_POLICY_TIMEOUT_SECONDS: u64 = 86_400;

/// What the host's timeout guarantees the module, in milliseconds: `(N - 1) * 1000` for a
/// timeout of `N` seconds, since policy-server's epoch ticks once a second and the first tick
/// can come at once (see the module docs).
pub fn guaranteed_ms(host_timeout_seconds: u64) -> u64 {
    host_timeout_seconds.saturating_sub(1).saturating_mul(1000)
}

/// Settings errors of the two settings, in the settings' error format (`invalid value: <v>:
/// <field>\n<why and what to do>`); empty when both are fine.
pub fn validate(budget_ms: u64, host_timeout_seconds: u64) -> Vec<String> {
    let mut errors = Vec::new();
    if !(1..=MAX_HOST_POLICY_TIMEOUT_SECONDS).contains(&host_timeout_seconds) {
        errors.push(format!(
            "invalid value: {host_timeout_seconds}: {HOST_TIMEOUT_SETTING}\nexpected 1 to {MAX_HOST_POLICY_TIMEOUT_SECONDS}: policy-server's timeout for this policy, in seconds (the ClusterAdmissionPolicy's timeoutEvalSeconds, else the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT, {DEFAULT_HOST_POLICY_TIMEOUT_SECONDS} by default)"
        ));
        return errors;
    }
    if !(1..=MAX_REQUEST_BUDGET_MS).contains(&budget_ms) {
        errors.push(format!(
            "invalid value: {budget_ms}: {SETTING}\nexpected 1 to {MAX_REQUEST_BUDGET_MS}"
        ));
        return errors;
    }
    let guaranteed = guaranteed_ms(host_timeout_seconds);
    if budget_ms >= guaranteed {
        let why = format!(
            "the request budget must end before policy-server's timeout can interrupt the module: {HOST_TIMEOUT_SETTING} is {host_timeout_seconds} (the ClusterAdmissionPolicy's timeoutEvalSeconds, else the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT, {DEFAULT_HOST_POLICY_TIMEOUT_SECONDS} by default), and policy-server's clock ticks once a second"
        );
        let what = if guaranteed == 0 {
            format!(
                "so it can interrupt a request at once; raise timeoutEvalSeconds (or --policy-timeout) to 2 or more, and {HOST_TIMEOUT_SETTING} with it"
            )
        } else {
            format!(
                "so it can interrupt a request after {guaranteed} ms; write less than {guaranteed}, or raise timeoutEvalSeconds (or --policy-timeout) and {HOST_TIMEOUT_SETTING} with it"
            )
        };
        errors.push(format!(
            "invalid value: {budget_ms}: {SETTING}\n{why}, {what}"
        ));
    }
    errors
}

/// [`RequestBudget::used_up`] of a ClusterImagePolicy.
pub const CIP: &str = "this ClusterImagePolicy";

/// [`RequestBudget::used_up`] of the confirmation of a tag beside a digest.
pub const TAG: &str = "the tag could be confirmed";

/// [`RequestBudget::used_up`] of the digest resolution for pinning.
pub const DIGEST: &str = "the digest could be resolved";

/// Why one policy evaluation (Rego, [`crate::rego::RegoPolicy::evaluate_value_within`], or
/// CUE, [`crate::cue::CuePolicy::evaluate_within`]) did not admit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The evaluator's message, without the `failed evaluating … policy` prefix.
    pub message: String,
    /// Whether the evaluation was stopped by the time limit it was given.
    pub timed_out: bool,
}

/// The time one evaluation may take ([`RequestBudget::slice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// The evaluation's limit: the smaller of the per-evaluation budget and what is left of the
    /// request budget.
    pub limit: Duration,
    /// Whether the limit is what is left of the request budget (so that running out of it is
    /// reported as the request budget being used up, not as the evaluation's own time limit).
    pub request_bound: bool,
}

/// The budget of one admission request. Created when `validate` starts; lives as long as the
/// request (nothing survives it: policy-server gives every request a fresh instance).
#[derive(Debug)]
pub struct RequestBudget {
    limit: Duration,
    started: Instant,
    /// The ClusterImagePolicy whose evaluation was running when the budget ran out, once it
    /// has.
    spent_in: RefCell<Option<String>>,
}

impl RequestBudget {
    /// A budget of `limit_ms` milliseconds, starting now.
    pub fn start(limit_ms: u64) -> Self {
        Self::started_at(limit_ms, Instant::now())
    }

    /// A budget of `limit_ms` milliseconds that started at `started` (tests start it in the
    /// past to have it spent).
    pub fn started_at(limit_ms: u64, started: Instant) -> Self {
        RequestBudget {
            limit: Duration::from_millis(limit_ms),
            started,
            spent_in: RefCell::new(None),
        }
    }

    /// The whole budget, in milliseconds.
    pub fn limit_ms(&self) -> u128 {
        self.limit.as_millis()
    }

    /// What is left (zero once used up).
    pub fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.started.elapsed())
    }

    /// The time the next evaluation may take, with a per-evaluation budget of
    /// `per_evaluation`; `None` when the request budget is used up (the caller fails the CIP
    /// with [`RequestBudget::used_up`]).
    pub fn slice(&self, per_evaluation: Duration) -> Option<Slice> {
        let remaining = self.remaining();
        if remaining.is_zero() {
            return None;
        }
        Some(if remaining < per_evaluation {
            Slice {
                limit: remaining,
                request_bound: true,
            }
        } else {
            Slice {
                limit: per_evaluation,
                request_bound: false,
            }
        })
    }

    /// Whether the budget is used up.
    pub fn is_used_up(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Records that the budget ran out while the ClusterImagePolicy `cip` was evaluated, and
    /// returns the failure for that CIP: `the request's policy budget (requestBudgetMilliseconds:
    /// 800) was used up while ClusterImagePolicy <cip> ran; <what to raise>`.
    pub fn ran_out_in(&self, cip: &str) -> String {
        self.spent_in
            .borrow_mut()
            .get_or_insert_with(|| cip.to_string());
        format!(
            "the request's policy budget ({SETTING}: {}) was used up while ClusterImagePolicy {cip} ran; {}",
            self.limit_ms(),
            self.advice()
        )
    }

    /// The failure of what did not start because the budget was used up (`before`: [`CIP`], a
    /// ClusterImagePolicy, or [`TAG`] / [`DIGEST`], a host call): `the request's policy budget
    /// (requestBudgetMilliseconds: 800) was used up while ClusterImagePolicy <cip> ran, before
    /// this ClusterImagePolicy; …`, or, when no evaluation ran it out (host calls did), `… was
    /// used up before this ClusterImagePolicy; …`.
    pub fn used_up(&self, before: &str) -> String {
        let by = match self.spent_in.borrow().as_deref() {
            Some(cip) => format!(" while ClusterImagePolicy {cip} ran,"),
            None => String::new(),
        };
        format!(
            "the request's policy budget ({SETTING}: {}) was used up{by} before {before}; {}",
            self.limit_ms(),
            self.advice()
        )
    }

    fn advice(&self) -> String {
        format!(
            "raise {SETTING}, and policy-server's timeout with it (the ClusterAdmissionPolicy's timeoutEvalSeconds, or the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT; and {HOST_TIMEOUT_SETTING})"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(limit_ms: u64, ago_ms: u64) -> RequestBudget {
        let started = Instant::now()
            .checked_sub(Duration::from_millis(ago_ms))
            .unwrap();
        RequestBudget::started_at(limit_ms, started)
    }

    #[test]
    fn each_evaluation_gets_the_smaller_of_its_budget_and_what_is_left() {
        let fresh = RequestBudget::start(800);
        assert_eq!(
            fresh.slice(Duration::from_millis(100)),
            Some(Slice {
                limit: Duration::from_millis(100),
                request_bound: false
            })
        );
        let slice = fresh.slice(Duration::from_millis(1000)).unwrap();
        assert!(slice.request_bound);
        assert!(slice.limit <= Duration::from_millis(800));
        assert!(slice.limit > Duration::from_millis(700), "{slice:?}");
        let half = spent(800, 500);
        let slice = half.slice(Duration::from_millis(1000)).unwrap();
        assert!(slice.request_bound);
        assert!(slice.limit <= Duration::from_millis(300), "{slice:?}");
        assert!(!half.is_used_up());
    }

    #[test]
    fn a_used_up_budget_gives_no_slice_and_names_what_to_raise() {
        let b = spent(800, 900);
        assert!(b.is_used_up());
        assert_eq!(b.remaining(), Duration::ZERO);
        assert_eq!(b.slice(Duration::from_millis(1000)), None);
        assert_eq!(
            b.used_up(CIP),
            "the request's policy budget (requestBudgetMilliseconds: 800) was used up before this ClusterImagePolicy; raise requestBudgetMilliseconds, and policy-server's timeout with it (the ClusterAdmissionPolicy's timeoutEvalSeconds, or the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT; and hostPolicyTimeoutSeconds)"
        );
        assert_eq!(
            b.ran_out_in("slow-a"),
            "the request's policy budget (requestBudgetMilliseconds: 800) was used up while ClusterImagePolicy slow-a ran; raise requestBudgetMilliseconds, and policy-server's timeout with it (the ClusterAdmissionPolicy's timeoutEvalSeconds, or the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT; and hostPolicyTimeoutSeconds)"
        );
        // The first CIP that ran it out is the one named afterwards.
        b.ran_out_in("slow-b");
        assert!(
            b.used_up(CIP)
                .starts_with("the request's policy budget (requestBudgetMilliseconds: 800) was used up while ClusterImagePolicy slow-a ran, before this ClusterImagePolicy; raise "),
            "{}",
            b.used_up(CIP)
        );
    }

    #[test]
    fn settings_validation_against_the_declared_host_timeout() {
        assert!(
            validate(
                DEFAULT_REQUEST_BUDGET_MS,
                DEFAULT_HOST_POLICY_TIMEOUT_SECONDS
            )
            .is_empty()
        );
        assert!(validate(999, 2).is_empty());
        assert_eq!(
            validate(1000, 2),
            vec!["invalid value: 1000: requestBudgetMilliseconds\nthe request budget must end before policy-server's timeout can interrupt the module: hostPolicyTimeoutSeconds is 2 (the ClusterAdmissionPolicy's timeoutEvalSeconds, else the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT, 2 by default), and policy-server's clock ticks once a second, so it can interrupt a request after 1000 ms; write less than 1000, or raise timeoutEvalSeconds (or --policy-timeout) and hostPolicyTimeoutSeconds with it".to_string()]
        );
        assert_eq!(validate(2000, 2).len(), 1);
        assert!(validate(8000, 10).is_empty());
        assert!(validate(9000, 10)[0].contains("write less than 9000"));
        // A one-second timeout guarantees nothing.
        assert!(
            validate(1, 1)[0].ends_with(", so it can interrupt a request at once; raise timeoutEvalSeconds (or --policy-timeout) to 2 or more, and hostPolicyTimeoutSeconds with it"),
            "{:?}",
            validate(1, 1)
        );
        assert_eq!(
            validate(0, 2),
            vec!["invalid value: 0: requestBudgetMilliseconds\nexpected 1 to 600000".to_string()]
        );
        assert_eq!(
            validate(800, 0),
            vec!["invalid value: 0: hostPolicyTimeoutSeconds\nexpected 1 to 86400: policy-server's timeout for this policy, in seconds (the ClusterAdmissionPolicy's timeoutEvalSeconds, else the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT, 2 by default)".to_string()]
        );
    }
}
