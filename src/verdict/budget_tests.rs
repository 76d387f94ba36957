//! The request's policy budget ([`crate::budget`]) as the evaluator spends it: evaluations get
//! at most what is left, and once it is used up the remaining CIPs fail without a host call.

use super::*;
use crate::host::fake::FakeHost;
use crate::workload::WorkloadImage;
use serde_json::json;
use std::time::Instant;

/// 100 million steps: far past any budget used here.
const SLOW: &str = "package sigstore\nisCompliant {\n  count([x | x := numbers.range(1, 100000)[_]; y := numbers.range(1, 1000)[_]; x == y]) > 0\n}\n";

const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";

const ADVICE: &str = "raise requestBudgetMilliseconds, and policy-server's timeout with it (the ClusterAdmissionPolicy's timeoutEvalSeconds, or the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT; and hostPolicyTimeoutSeconds)";

fn slow_cip(name: &str, mode: &str) -> Value {
    json!({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
        "metadata": {"name": name},
        "spec": {"mode": mode, "images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                 "policy": {"type": "rego", "data": SLOW}}
    })
}

fn key_cip(name: &str) -> Value {
    json!({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
        "metadata": {"name": name},
        "spec": {"images": [{"glob": "**"}], "authorities": [{"key": {"data": K1}}]}
    })
}

fn settings(policies: Vec<Value>, extra: Value) -> Settings {
    let mut doc = json!({"policies": policies, "modifyImagesWithDigest": false});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            doc[k] = v;
        }
    }
    let s = Settings::from_json(doc.to_string().as_bytes()).unwrap();
    s.validate().unwrap();
    s
}

fn pod(image: &str) -> Workload<'static> {
    Workload::new(
        "Pod",
        "v1",
        "pods",
        vec![WorkloadImage {
            path: "spec.containers[0].image".into(),
            pointer: "/spec/containers/0/image".into(),
            image: image.into(),
        }],
        Default::default(),
        None,
    )
}

fn gvk() -> GroupVersionKind {
    GroupVersionKind {
        group: "".into(),
        version: "v1".into(),
        kind: "Pod".into(),
    }
}

#[test]
fn a_slow_policy_uses_up_the_request_budget_and_the_remaining_cips_fail_without_host_calls() {
    let s = settings(
        vec![
            slow_cip("slow-a", "enforce"),
            slow_cip("slow-b", "enforce"),
            key_cip("signed"),
        ],
        json!({"requestBudgetMilliseconds": 200, "regoTimeoutMilliseconds": 1000}),
    );
    let host = FakeHost::default();
    let started = Instant::now();
    let d = Evaluator::new(&s, &host).evaluate(&pod("nginx"), &gvk());
    let elapsed = started.elapsed();
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    assert_eq!(
        d.rejection().unwrap(),
        format!(
            "validation failed: failed policy: signed: spec.containers[0].image\nnginx the request's policy budget (requestBudgetMilliseconds: 200) was used up while ClusterImagePolicy slow-a ran, before this ClusterImagePolicy; {ADVICE}\n\
             failed policy: slow-a: spec.containers[0].image\nnginx failed evaluating rego policy for type ClusterImagePolicy: the request's policy budget (requestBudgetMilliseconds: 200) was used up while ClusterImagePolicy slow-a ran; {ADVICE}\n\
             failed policy: slow-b: spec.containers[0].image\nnginx the request's policy budget (requestBudgetMilliseconds: 200) was used up while ClusterImagePolicy slow-a ran, before this ClusterImagePolicy; {ADVICE}"
        )
    );
}

/// Within the request budget, an evaluation's own limit is regorus' time limit, as before.
#[test]
fn the_per_evaluation_limit_still_reads_as_regorus_time_limit() {
    let s = settings(
        vec![slow_cip("slow-a", "enforce")],
        json!({"requestBudgetMilliseconds": 900, "regoTimeoutMilliseconds": 30}),
    );
    let d = Evaluator::new(&s, &FakeHost::default()).evaluate(&pod("nginx"), &gvk());
    let message = d.rejection().unwrap();
    assert!(
        message.starts_with("validation failed: failed policy: slow-a: spec.containers[0].image\nnginx failed evaluating rego policy for type ClusterImagePolicy: execution exceeded time limit (elapsed="),
        "{message}"
    );
    assert!(!message.contains("requestBudgetMilliseconds"), "{message}");
}

/// A budget spent before any CIP ran (host calls, decoding): every CIP fails, warn-mode ones as
/// warnings, and no authority calls the host.
#[test]
fn a_budget_spent_before_the_first_cip_fails_every_cip_and_warn_mode_warns() {
    let s = settings(
        vec![key_cip("signed"), slow_cip("slow-warn", "warn")],
        json!({"requestBudgetMilliseconds": 100}),
    );
    let host = FakeHost::default();
    let past = Instant::now()
        .checked_sub(Duration::from_millis(150))
        .unwrap();
    let budget = RequestBudget::started_at(100, past);
    let d = Evaluator::with_budget(&s, &host, budget).evaluate(&pod("nginx"), &gvk());
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    let used_up = format!(
        "the request's policy budget (requestBudgetMilliseconds: 100) was used up before this ClusterImagePolicy; {ADVICE}"
    );
    assert_eq!(
        d.rejection().unwrap(),
        format!(
            "validation failed: failed policy: signed: spec.containers[0].image\nnginx {used_up}"
        )
    );
    assert_eq!(
        d.warnings(),
        vec![format!(
            "failed policy: slow-warn: spec.containers[0].image\nnginx {used_up}"
        )]
    );
}

/// The budget starts when `validate` starts: a request that fits is decided as before.
#[test]
fn a_fast_request_is_decided_as_before() {
    let fast = json!({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
        "metadata": {"name": "no-latest"},
        "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                 "policy": {"type": "rego", "data": "package sigstore\nisCompliant { not endswith(input.image, \":latest\") }\n"}}
    });
    let s = settings(vec![fast], json!({}));
    assert_eq!(s.request_budget_milliseconds, 800);
    let d = Evaluator::new(&s, &FakeHost::default()).evaluate(&pod("nginx:1.27"), &gvk());
    assert_eq!(d, Decision::default());
    let d = Evaluator::new(&s, &FakeHost::default()).evaluate(&pod("nginx:latest"), &gvk());
    assert!(
        d.rejection().unwrap().ends_with(
            "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
        )
    );
}

/// Host-call time counts against the budget, as it counts against the host's timeout: a slow
/// verification uses it up, and the next CIP (a Rego one) fails without running.
#[test]
fn host_call_time_counts_against_the_budget() {
    const D: &str = "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32";
    let host = FakeHost::default()
        .answer(&format!("verify_pub_key nginx {K1}"), Ok(D))
        .delay(Duration::from_millis(150));
    let s = settings(
        vec![key_cip("signed"), slow_cip("slow-a", "enforce")],
        json!({"requestBudgetMilliseconds": 100}),
    );
    let d = Evaluator::new(&s, &host).evaluate(&pod("nginx"), &gvk());
    assert_eq!(host.calls().len(), 1);
    assert_eq!(
        d.rejection().unwrap(),
        format!(
            "validation failed: failed policy: slow-a: spec.containers[0].image\nnginx the request's policy budget (requestBudgetMilliseconds: 100) was used up before this ClusterImagePolicy; {ADVICE}"
        )
    );
}

/// Once the budget is used up, the tag beside a pinned digest is not asked of the host either:
/// the image is denied, saying why (it is never matched on its digest alone instead).
#[test]
fn a_used_up_budget_denies_a_tag_it_cannot_confirm() {
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let release = json!({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
        "metadata": {"name": "release-v1"},
        "spec": {"images": [{"glob": "ghcr.io/good/app:v1*"}], "authorities": [{"static": {"action": "pass"}}]}
    });
    let s = settings(vec![release], json!({"requestBudgetMilliseconds": 100}));
    let host = FakeHost::default();
    let past = Instant::now()
        .checked_sub(Duration::from_millis(150))
        .unwrap();
    let d = Evaluator::with_budget(&s, &host, RequestBudget::started_at(100, past))
        .evaluate(&pod(&format!("ghcr.io/good/app:v1@{D1}")), &gvk());
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    assert_eq!(
        d.rejection().unwrap(),
        format!(
            "validation failed: failed to confirm the tag: spec.containers[0].image\nghcr.io/good/app:v1@{D1} the request's policy budget (requestBudgetMilliseconds: 100) was used up before the tag could be confirmed; {ADVICE}"
        )
    );
}
