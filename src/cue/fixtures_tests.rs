//! Every CUE policy of the real-world CIPs in `test_data/real-cips/` (copied from
//! `../shared/fixtures/real-cips/`), each with an input that passes and one that fails. Inputs
//! are the document upstream builds (policy-controller `pkg/webhook/validator_result.go`:
//! `authorityMatches`, and `spec` / `metadata` / `typemeta` / `config` when included) or, for
//! the attestation policies, a hand-written in-toto statement (cosign `pkg/policy/eval.go`
//! evaluates those policies against the statement). Expected results follow the CUE spec
//! (cue-lang/cue `doc/ref/spec.md`) section named beside each.

use super::CuePolicy;
use serde_json::{Value, json};
use std::path::Path;

/// The CIP of `file` as JSON.
fn cip(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/real-cips")
        .join(file);
    let text = std::fs::read_to_string(path).expect("fixture");
    serde_yaml::from_str(&text).expect("YAML")
}

/// The CIP-level policy of `file`.
fn cip_policy(file: &str) -> CuePolicy {
    let cip = cip(file);
    assert_eq!(cip["spec"]["policy"]["type"], "cue", "{file}");
    let data = cip["spec"]["policy"]["data"].as_str().expect("data");
    CuePolicy::compile(data, 1000).expect("compiles")
}

/// Every attestation policy of `file`, in order.
fn attestation_policies(file: &str) -> Vec<CuePolicy> {
    let cip = cip(file);
    let mut out = Vec::new();
    for a in cip["spec"]["authorities"].as_array().expect("authorities") {
        for att in a["attestations"].as_array().into_iter().flatten() {
            if att["policy"]["type"] == "cue" {
                let data = att["policy"]["data"].as_str().expect("data");
                out.push(CuePolicy::compile(data, 1000).expect("compiles"));
            }
        }
    }
    out
}

fn matches() -> Value {
    json!({"authority-0": {"signatures": [{"id": "sha256:abc"}]}})
}

/// 018, Pod Security "unsafe sysctls": every sysctl must be one of the safe names (spec,
/// "Lists": `[...T]` constrains every element; "Disjunction").
#[test]
fn unsafe_sysctls_mask_018() {
    let p = cip_policy("018.yaml");
    let with = |sysctls: Value| {
        json!({"authorityMatches": matches(), "image": "ghcr.io/x@sha256:00",
               "spec": {"containers": [{"image": "x"}], "securityContext": {"sysctls": sysctls}}})
    };
    assert_eq!(
        p.evaluate(&with(
            json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}])
        )),
        Ok(())
    );
    // No securityContext at all: nothing to check (a field the input lacks passes).
    assert_eq!(p.evaluate(&json!({"spec": {"containers": []}})), Ok(()));
    assert_eq!(
        p.evaluate(&with(json!([{"name": "net.ipv4.tcp_syncookies"}, {"name": "kernel.msgmax", "value": "1"}]))),
        Err("spec.securityContext.sysctls.1.name: 5 errors in empty disjunction: (and 5 more errors)".into())
    );
}

/// 048, the image configuration's `User` for two platforms (spec, "Structs": quoted labels).
#[test]
fn config_file_user_048() {
    let p = cip_policy("048.yaml");
    let cfg = |amd: &str, arm: &str| {
        json!({"authorityMatches": matches(), "config": {
            "linux/amd64": {"architecture": "amd64", "config": {"User": amd}},
            "linux/arm/v7": {"architecture": "arm", "config": {"User": arm}}}})
    };
    assert_eq!(p.evaluate(&cfg("65532", "65532")), Ok(()));
    assert_eq!(
        p.evaluate(&cfg("65532", "0")),
        Err(r#"config."linux/arm/v7".config.User: conflicting values "0" and "65532""#.into())
    );
    // A single-platform image has no linux/arm/v7 entry: that part of the policy stands alone.
    let single = json!({"config": {"linux/amd64": {"config": {"User": "65532"}}}});
    assert_eq!(p.evaluate(&single), Ok(()));
}

/// 050, `spec.serviceAccount` (spec, "Unification" of equal and different strings).
#[test]
fn include_spec_service_account_050() {
    let p = cip_policy("050.yaml");
    assert_eq!(
        p.evaluate(&json!({"spec": {"serviceAccount": "default"}})),
        Ok(())
    );
    assert_eq!(
        p.evaluate(&json!({"spec": {"serviceAccount": "builder"}})),
        Err(r#"spec.serviceAccount: conflicting values "builder" and "default""#.into())
    );
    // A Pod that names no service account: upstream's Validate() passes it (no Concrete).
    assert_eq!(p.evaluate(&json!({"spec": {"containers": []}})), Ok(()));
}

/// 062, "only Pods" on `typemeta`.
#[test]
fn typemeta_only_pods_062() {
    let p = cip_policy("062.yaml");
    assert_eq!(
        p.evaluate(&json!({"typemeta": {"kind": "Pod", "apiVersion": "v1"}})),
        Ok(())
    );
    assert_eq!(
        p.evaluate(&json!({"typemeta": {"kind": "Deployment", "apiVersion": "apps/v1"}})),
        Err(r#"typemeta.kind: conflicting values "Deployment" and "Pod""#.into())
    );
}

/// 044's CIP-level policy over `authorityMatches`: validators `struct.MaxFields(1) &
/// struct.MinFields(1)` and `list.MaxItems(1) & list.MinItems(1)`, and an `if` on a sibling
/// field (cosign `pkg/policy/eval_test.go`, "cluster image policy main policy"). The CIP stays
/// refused for its attestations (a host limit); its policy is evaluated here.
#[test]
fn authority_matches_policy_044() {
    let p = cip_policy("044.yaml");
    let sigs = |n: usize| json!({"signatures": vec![json!({"id": "x"}); n]});
    let input = |keylessatt: usize, keyatt: usize| {
        let atts: serde_json::Map<String, Value> = (0..keylessatt)
            .map(|i| (format!("type-{i}"), json!([{"id": "x"}])))
            .collect();
        let key: serde_json::Map<String, Value> = (0..keyatt)
            .map(|i| (format!("custom-{i}"), json!([{"id": "x"}])))
            .collect();
        json!({"authorityMatches": {
            "keylessatt": {"attestations": atts},
            "keyatt": {"attestations": key},
            "keysignature": sigs(1), "keylesssignature": sigs(1)}})
    };
    assert_eq!(p.evaluate(&input(2, 1)), Ok(()));
    assert_eq!(
        p.evaluate(&input(1, 1)),
        Err(r#"authorityMatches.keylessattMinAttestations: conflicting values 2 and "Error" (mismatched types int and string)"#.into())
    );
    assert_eq!(
        p.evaluate(&input(2, 2)),
        Err(r#"authorityMatches.keyatt.attestations: invalid value {"custom-0":[{id:"x"}],"custom-1":[{id:"x"}]} (does not satisfy struct.MaxFields(1))"#.into())
    );
}

/// The attestation policies: parsed and evaluated against predicates (they stay refused at
/// settings time for the attestations host limit).
#[test]
fn attestation_policies_evaluate_against_their_predicates() {
    let slsa = &attestation_policies("004.yaml")[0];
    let statement = |builder: &str| {
        json!({"predicateType": "https://slsa.dev/provenance/v0.2", "predicate": {
            "builder": {"id": builder},
            "invocation": {"configSource": {
                "entryPoint": ".github/workflows/build-and-example.yml",
                "uri": "git+https://github.com/bells17/cscs-example@refs/tags/v1.2.3"}}}})
    };
    let good = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.4.0";
    assert_eq!(slsa.evaluate(&statement(good)), Ok(()));
    let bad = statement("https://example.com/builder");
    assert!(slsa.evaluate(&bad).unwrap_err().starts_with(
        r#"predicate.builder.id: invalid value "https://example.com/builder" (out of bound =~"^https://github.com/slsa"#
    ));

    let spdx = &attestation_policies("024.yaml")[0];
    assert_eq!(
        spdx.evaluate(&json!({"predicateType": "https://spdx.dev/Document", "predicate": {}})),
        Ok(())
    );
    assert_eq!(
        spdx.evaluate(&json!({"predicateType": "https://cyclonedx.org/bom"})),
        Err(r#"predicateType: conflicting values "https://cyclonedx.org/bom" and "https://spdx.dev/Document""#.into())
    );

    let custom = &attestation_policies("038.yaml")[0];
    let data = |d: &str| json!({"predicateType": "https://cosign.sigstore.dev/attestation/v1", "predicate": {"Data": d, "Timestamp": "2022-01-01T00:00:00Z"}});
    assert_eq!(custom.evaluate(&data("foobar key e2e test")), Ok(()));
    assert!(custom.evaluate(&data("other")).is_err());

    // 044: time.Parse bounds, compared as RFC 3339 strings in UTC (cuelang pkg/time).
    let timed = attestation_policies("044.yaml");
    let stmt = |ts: &str| json!({"predicateType": "cosign.sigstore.dev/attestation/v1", "predicate": {"Data": "foobar e2e test", "Timestamp": ts}});
    assert_eq!(timed[0].evaluate(&stmt("2022-04-15T17:10:27Z")), Ok(()));
    assert_eq!(
        timed[0].evaluate(&stmt("2050-01-01T00:00:00Z")),
        Err(r#"predicate.Timestamp: invalid value "2050-01-01T00:00:00Z" (out of bound <"2049-10-09T17:10:27Z")"#.into())
    );
    let vuln = |started: &str| {
        json!({"predicateType": "cosign.sigstore.dev/attestation/vuln/v1", "predicate": {
        "invocation": {"uri": "invocation.example.com/cosign-testing"},
        "scanner": {"uri": "fakescanner.example.com/cosign-testing"},
        "metadata": {"scanStartedOn": started, "scanFinishedOn": "2022-04-12T00:00:00Z"}}})
    };
    assert_eq!(timed[1].evaluate(&vuln("2022-04-12T00:00:00Z")), Ok(()));
    assert_eq!(
        timed[1].evaluate(&vuln("2022-03-01T00:00:00Z")),
        Err(r#"predicate.metadata.scanStartedOn: invalid value "2022-03-01T00:00:00Z" (out of bound >"2022-03-09T17:10:27Z")"#.into())
    );

    for file in ["040.yaml", "056.yaml", "072.yaml"] {
        for p in attestation_policies(file) {
            assert!(
                p.evaluate(&json!({"predicateType": "other", "predicate": {"Data": 1}}))
                    .is_err(),
                "{file}"
            );
        }
    }
    // 078 is not YAML (its row is reject-invalid-upstream-too yaml): its policy line, as written.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/real-cips/078.yaml");
    let text = std::fs::read_to_string(path).expect("fixture");
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("predicate: buildDefinition"))
        .expect("policy line");
    let gh = CuePolicy::compile(line, 1000).expect("compiles");
    assert!(
        gh.evaluate(&json!({"predicate": {"buildDefinition": {"buildType": 2}}}))
            .is_err()
    );
    assert_eq!(gh.evaluate(&json!({"predicate": {"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"}}})), Ok(()));
}
