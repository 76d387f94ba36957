//! The CUE arm of the verdict (issue 15): `policy.type: cue` with inline `data` and
//! `configMapRef`, the same input document as Rego, warn mode, and upstream's failure text
//! (cosign `pkg/policy/eval.go` L58-73 at `193d2153^`, prefixed as policy-controller does).

use super::tests::{cip, decide, decide_with, settings};
use crate::host::fake::FakeHost;
use serde_json::json;

fn cue_cip(name: &str, data: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut policy = json!({"type": "cue", "data": data});
    for (k, v) in extra.as_object().into_iter().flatten() {
        policy[k] = v.clone();
    }
    cip(name, &["**"], json!({"policy": policy}))
}

const WHY: &str = "failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the policy with error:";

#[test]
fn typemeta_only_pods() {
    let pods = cue_cip(
        "pods",
        "typemeta: kind: \"Pod\"\n",
        json!({"includeTypeMeta": true}),
    );
    assert_eq!(
        decide(&settings(vec![pods], "deny"), &["a:1"]).rejection(),
        None
    );
    let deployments = cue_cip(
        "deps",
        "typemeta: kind: \"Deployment\"\n",
        json!({"includeTypeMeta": true}),
    );
    assert_eq!(
        decide(&settings(vec![deployments], "deny"), &["a:1"])
            .rejection()
            .as_deref(),
        Some(&*format!(
            "validation failed: failed policy: deps: spec.containers[0].image\na:1 {WHY} typemeta.kind: conflicting values \"Pod\" and \"Deployment\""
        ))
    );
    // Without includeTypeMeta the input has no typemeta: the policy's value stands (upstream).
    let absent = cue_cip("deps", "typemeta: kind: \"Deployment\"\n", json!({}));
    assert_eq!(
        decide(&settings(vec![absent], "deny"), &["a:1"]).rejection(),
        None
    );
}

#[test]
fn metadata_labels_spec_image_and_authority_matches_are_in_the_input() {
    let all = "image: =~\"^index.docker.io/library/a\"\nimageAsWritten: \"a:1\"\nmetadata: labels: app: \"web\"\nspec: containers: [...{image: string}]\nauthorityMatches: \"authority-0\": static: true\n";
    let c = cue_cip(
        "all",
        all,
        json!({"includeSpec": true, "includeObjectMeta": true}),
    );
    assert_eq!(
        decide(&settings(vec![c], "deny"), &["a:1"]).rejection(),
        None
    );
    let label = cue_cip(
        "label",
        "metadata: labels: app: \"api\"\n",
        json!({"includeObjectMeta": true}),
    );
    assert_eq!(
        decide(&settings(vec![label], "deny"), &["a:1"])
            .rejection()
            .as_deref(),
        Some(&*format!(
            "validation failed: failed policy: label: spec.containers[0].image\na:1 {WHY} metadata.labels.app: conflicting values \"web\" and \"api\""
        ))
    );
}

#[test]
fn warn_mode_turns_a_cue_failure_into_a_warning() {
    let mut c = cue_cip(
        "sa",
        "spec: serviceAccount: \"default\"\n",
        json!({"includeSpec": true}),
    );
    c["spec"]["mode"] = json!("warn");
    // `sa` passes: the Pod names no service account (a field the input lacks). `bad` fails
    // (the containers are a list), in warn mode: a warning, no rejection.
    let mut bad = cue_cip(
        "bad",
        "spec: containers: string\n",
        json!({"includeSpec": true}),
    );
    bad["spec"]["mode"] = json!("warn");
    let d = decide(&settings(vec![c, bad], "deny"), &["a:1"]);
    assert_eq!(d.rejection(), None);
    assert_eq!(
        d.warnings(),
        vec![format!(
            "failed policy: bad: spec.containers[0].image\na:1 {WHY} spec.containers: conflicting values [{{image:\"a:1\"}}] and string (mismatched types list and string)"
        )]
    );
}

#[test]
fn a_config_map_cue_policy_is_read_and_compiled_at_admission() {
    let policy = json!({"type": "cue", "includeTypeMeta": true, "configMapRef": {"name": "p", "namespace": "ns", "key": "cue"}});
    let c = cip("cm", &["**"], json!({"policy": policy}));
    let s = settings(vec![c], "deny");
    let cm = |text: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"cue": text}}).to_string()
    };
    let host = FakeHost::default().answer(
        "get_resource v1 ConfigMap ns/p",
        Ok(&cm("typemeta: kind: \"Pod\"")),
    );
    assert_eq!(decide_with(&s, &host, &["a:1", "b:1"]).rejection(), None);
    assert_eq!(host.calls(), vec!["get_resource v1 ConfigMap ns/p"]);
    // A ConfigMap text that does not compile (settings validation never saw it).
    let host = FakeHost::default().answer("get_resource v1 ConfigMap ns/p", Ok(&cm("typemeta: {")));
    assert_eq!(
        decide_with(&s, &host, &["a:1"]).rejection().as_deref(),
        Some(
            "validation failed: failed policy: cm: spec.containers[0].image\na:1 failed evaluating cue policy for ClusterImagePolicy: failed to compile the cue policy with error: 1:12: expected '}', found EOF"
        )
    );
}

/// Different spellings of the same kind cannot slip past: CUE strings compare exactly.
#[test]
fn no_spelling_of_the_kind_slips_past() {
    let pods = cue_cip(
        "pods",
        "typemeta: kind: \"pod\"\n",
        json!({"includeTypeMeta": true}),
    );
    assert!(
        decide(&settings(vec![pods], "deny"), &["a:1"])
            .rejection()
            .is_some()
    );
}
