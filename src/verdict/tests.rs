use super::*;
use crate::host::fake::FakeHost;
use crate::workload::WorkloadImage;
use serde_json::json;

pub(super) fn cip(name: &str, globs: &[&str], extra: Value) -> Value {
    let mut v = json!({
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": name},
        "spec": {"images": globs.iter().map(|g| json!({"glob": g})).collect::<Vec<_>>(), "authorities": [{"static": {"action": "pass"}}]}
    });
    if let Value::Object(m) = extra {
        for (k, val) in m {
            v["spec"][k] = val;
        }
    }
    v
}

pub(super) fn settings(policies: Vec<Value>, no_match: &str) -> Settings {
    let s = Settings::from_json(
        json!({"noMatchPolicy": no_match, "policies": policies, "modifyImagesWithDigest": false})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    s.validate().unwrap();
    s
}

fn pod(images: &[&str]) -> Workload<'static> {
    let raw = |v: Value| -> &'static serde_json::value::RawValue {
        Box::leak(serde_json::value::RawValue::from_string(v.to_string()).unwrap())
    };
    let object = json!({
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": images.iter().map(|i| json!({"image": i})).collect::<Vec<_>>()},
    });
    Workload::new(
        "Pod",
        "v1",
        "pods",
        images
            .iter()
            .enumerate()
            .map(|(i, img)| WorkloadImage {
                path: format!("spec.containers[{i}].image"),
                pointer: format!("/spec/containers/{i}/image"),
                image: img.to_string(),
            })
            .collect(),
        [("app".to_string(), "web".to_string())].into(),
        Some(raw(object)),
    )
}

fn gvk() -> GroupVersionKind {
    GroupVersionKind {
        group: "".into(),
        version: "v1".into(),
        kind: "Pod".into(),
    }
}

pub(super) fn decide(s: &Settings, images: &[&str]) -> Decision {
    let host = FakeHost::default();
    let d = Evaluator::new(s, &host).evaluate(&pod(images), &gvk());
    assert!(
        host.calls().is_empty(),
        "static evaluation must not call the host"
    );
    d
}

const SEED_REGO: &str = "package sigstore\ndefault isCompliant = false\nisCompliant {\n  parts := split(input.image, \":\")\n  count(parts) == 2\n  parts[1] != \"latest\"\n}\n";

#[test]
fn seed_scenario() {
    let none = settings(vec![], "deny");
    assert_eq!(
        decide(&none, &["nginx"]).rejection().as_deref(),
        Some("validation failed: no matching policies: spec.containers[0].image\nnginx")
    );
    let chainguard = cip(
        "chainguard-image-policy",
        &["cgr.dev/chainguard/**"],
        json!({}),
    );
    let step2 = settings(vec![chainguard.clone()], "deny");
    assert_eq!(
        decide(&step2, &["cgr.dev/chainguard/nginx:latest"]),
        Decision::default()
    );
    assert!(decide(&step2, &["nginx"]).rejection().is_some());
    let latest = cip(
        "disallow-latest-tag",
        &["**"],
        json!({"mode": "enforce", "policy": {"includeSpec": true, "type": "rego", "data": SEED_REGO}}),
    );
    let step3 = settings(vec![chainguard, latest], "deny");
    assert_eq!(
        decide(&step3, &["cgr.dev/chainguard/nginx:latest"])
            .rejection()
            .as_deref(),
        Some(
            "validation failed: failed policy: disallow-latest-tag: spec.containers[0].image\ncgr.dev/chainguard/nginx:latest failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
        )
    );
    assert_eq!(
        decide(&step3, &["cgr.dev/chainguard/nginx:latest-dev"]),
        Decision::default()
    );
}

#[test]
fn no_match_policies() {
    let warn = settings(vec![], "warn");
    let d = decide(&warn, &["nginx"]);
    assert_eq!(d.rejection(), None);
    assert_eq!(
        d.warnings(),
        vec!["no matching policies: spec.containers[0].image\nnginx"]
    );
    let allow = settings(vec![], "allow");
    assert_eq!(decide(&allow, &["nginx"]), Decision::default());
}

#[test]
fn warn_mode_and_merging() {
    let fail = cip(
        "nope",
        &["**"],
        json!({"mode": "warn", "authorities": [{"static": {"action": "fail", "message": "go away"}}]}),
    );
    let s = settings(vec![fail], "deny");
    let d = decide(&s, &["nginx", "nginx"]);
    assert_eq!(d.rejection(), None);
    assert_eq!(
        d.warnings(),
        vec![
            "failed policy: nope: spec.containers[0].image, spec.containers[1].image\nnginx disallowed by static policy: go away"
        ]
    );
}

#[test]
fn all_cips_must_pass_and_any_authority_suffices() {
    let pass = cip(
        "pass",
        &["**"],
        json!({"authorities": [{"static": {"action": "fail", "message": "a"}}, {"static": {"action": "pass"}}]}),
    );
    let fail = cip(
        "fail",
        &["ghcr.io/**"],
        json!({"authorities": [{"static": {"action": "fail", "message": "b"}}]}),
    );
    let s = settings(vec![pass, fail], "deny");
    assert_eq!(decide(&s, &["quay.io/x:1"]), Decision::default());
    assert_eq!(
        decide(&s, &["ghcr.io/x:1"]).rejection().as_deref(),
        Some(
            "validation failed: failed policy: fail: spec.containers[0].image\nghcr.io/x:1 disallowed by static policy: b"
        )
    );
}

#[test]
fn bad_reference_is_always_an_error() {
    let s = settings(vec![], "allow");
    assert_eq!(
        decide(&s, &["NGINX"]).rejection().as_deref(),
        Some(
            "validation failed: could not parse reference: NGINX: spec.containers[0].image\nrepository name must be lowercase"
        )
    );
}

#[test]
fn rego_input_has_image_spec_metadata_typemeta() {
    let rego = "package sigstore\nisCompliant {\n input.image == \"index.docker.io/library/a:1\"\n input.spec.containers[0].image == \"a:1\"\n input.metadata.labels.app == \"web\"\n input.typemeta.kind == \"Pod\"\n input.authorityMatches[\"authority-0\"].static == true\n}\n";
    let c = cip(
        "all",
        &["**"],
        json!({"policy": {"type": "rego", "data": rego, "includeSpec": true, "includeObjectMeta": true, "includeTypeMeta": true}}),
    );
    assert_eq!(
        decide(&settings(vec![c], "deny"), &["a:1"]),
        Decision::default()
    );
    let c = cip(
        "nometa",
        &["**"],
        json!({"policy": {"type": "rego", "data": rego}}),
    );
    assert!(
        decide(&settings(vec![c], "deny"), &["a:1"])
            .rejection()
            .is_some()
    );
}

#[test]
fn rego_warning_admits_with_warning() {
    let rego = "package sigstore\nisCompliant[r] {\n r := {\"result\": true, \"error\": \"\", \"warning\": \"deprecated repo\"}\n}\n";
    let c = cip(
        "dep",
        &["**"],
        json!({"policy": {"type": "rego", "data": rego}}),
    );
    let d = decide(&settings(vec![c], "deny"), &["a:1"]);
    assert_eq!(d.rejection(), None);
    assert_eq!(
        d.warnings(),
        vec!["warning from policy: dep: spec.containers[0].image\na:1 deprecated repo"]
    );
}

#[test]
fn match_selectors() {
    let only_db = cip(
        "db",
        &["**"],
        json!({"match": [{"group": "", "version": "*", "resource": "pods", "selector": {"matchLabels": {"app": "db"}}}], "authorities": [{"static": {"action": "fail"}}]}),
    );
    let s = settings(vec![only_db], "allow");
    assert_eq!(decide(&s, &["a:1"]), Decision::default());
    let only_web = cip(
        "web",
        &["**"],
        json!({"match": [{"group": "", "version": "v1", "resource": "pods", "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}], "authorities": [{"static": {"action": "fail"}}]}),
    );
    let s = settings(vec![only_web], "allow");
    assert!(decide(&s, &["a:1"]).rejection().is_some());
    let deployments = cip(
        "deploy",
        &["**"],
        json!({"match": [{"group": "apps", "version": "v1", "resource": "deployments"}], "authorities": [{"static": {"action": "fail"}}]}),
    );
    assert_eq!(
        decide(&settings(vec![deployments], "allow"), &["a:1"]),
        Decision::default()
    );
}

#[test]
fn unvalidated_unsupported_fields_fail_closed() {
    // An attestations authority would otherwise verify the signature only.
    let c = cip(
        "att",
        &["**"],
        json!({"authorities": [{"key": {"data": "x"}, "attestations": [{"name": "a", "predicateType": "https://x"}]}]}),
    );
    let s = Settings::from_json(
        json!({"policies": [c], "modifyImagesWithDigest": false})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(s.validate().is_err());
    let message = decide(&s, &["a:1"]).rejection().unwrap();
    assert!(
        message.starts_with("validation failed: failed policy: att: spec.containers[0].image\na:1 the policy cannot be honoured: not supported: spec.authorities[0].attestations: "),
        "{message}"
    );
}

#[test]
fn rego_compiled_once_per_cip() {
    let rego = "package sigstore\nisCompliant = true\n";
    let c = cip(
        "once",
        &["**"],
        json!({"policy": {"type": "rego", "data": rego}}),
    );
    let s = settings(vec![c], "deny");
    let host = FakeHost::default();
    let mut ev = Evaluator::new(&s, &host);
    assert_eq!(
        ev.evaluate(&pod(&["a:1", "b:1", "a:1"]), &gvk()),
        Decision::default()
    );
    assert_eq!(ev.runner.compiled.len(), 1);
    assert_eq!(ev.runner.compiled_by_source.len(), 1);
    assert_eq!(ev.runner.outcomes.len(), 2);
}

/// Issue 11: with an allow-all CIP and a deny CIP, no spelling of a denied image is admitted.
#[test]
fn no_spelling_dodges_a_deny_glob() {
    let allow_all = cip("allow-all", &["**"], json!({}));
    let no_evil = cip(
        "no-evil",
        &["ghcr.io/evil/**", "index.docker.io/evil/**", "localhost/**"],
        json!({"authorities": [{"static": {"action": "fail", "message": "evil"}}]}),
    );
    let s = settings(vec![allow_all, no_evil], "deny");
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for image in [
        "ghcr.io/evil/x:1".to_string(),
        "GHCR.IO/evil/x:1".into(),
        "ghcr.io:443/evil/x:1".into(),
        "Ghcr.Io:0443/evil/x:1".into(),
        format!("ghcr.io/evil/x@{D}"),
        format!("ghcr.io/evil/x:1@{D}"),
        "evil/x".into(),
        "docker.io/evil/x".into(),
        "registry-1.docker.io/evil/x:1".into(),
        "registry.hub.docker.com/evil/x".into(),
        "DOCKER.IO:443/evil/x".into(),
        "localhost/evil".into(),
        "LocalHost:443/evil".into(),
    ] {
        let message = decide(&s, &[&image]).rejection();
        assert_eq!(
            message,
            Some(format!(
                "validation failed: failed policy: no-evil: spec.containers[0].image\n{image} disallowed by static policy: evil"
            )),
            "{image}"
        );
    }
    // Refused spellings are denied whatever the CIPs say.
    for image in [
        "ghcr.io./evil/x:1".to_string(),
        format!("ghcr.io/evil/x@sha512:{}", "a".repeat(128)),
        format!("ghcr.io/evil/x@sha256:{}", "A".repeat(64)),
        "EVIL/x".into(),
        "[::1]:5000/evil/x".into(),
        "ghcr.io:0/evil/x".into(),
        "ghcr.io:80/evil/x:1".into(),
    ] {
        let message = decide(&s, &[&image]).rejection().unwrap_or_default();
        assert!(
            message.starts_with(&format!(
                "validation failed: could not parse reference: {image}"
            )),
            "{image}: {message}"
        );
    }
    assert_eq!(decide(&s, &["ghcr.io/good/x:1"]), Decision::default());
}

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

pub(super) fn decide_with(s: &Settings, host: &FakeHost, images: &[&str]) -> Decision {
    Evaluator::new(s, host).evaluate(&pod(images), &gvk())
}

/// Row 8 of `reference`: a tag beside a digest counts only once the host confirms it names
/// that digest; it is asked only when the tag would change which CIPs match.
#[test]
fn a_tag_beside_a_digest_counts_only_when_the_host_confirms_it() {
    let v1 = cip("release-v1", &["ghcr.io/good/app:v1*"], json!({}));
    let s = settings(vec![v1], "deny");
    let pinned = format!("ghcr.io/good/app:v1@{D1}");
    let confirmed = FakeHost::default().answer("manifest_digest ghcr.io/good/app:v1", Ok(D1));
    assert_eq!(decide_with(&s, &confirmed, &[&pinned]), Decision::default());
    assert_eq!(
        confirmed.calls(),
        vec!["manifest_digest ghcr.io/good/app:v1"]
    );
    // Any tag can be written beside any digest: one the host does not confirm is not used.
    let moved = FakeHost::default().answer("manifest_digest ghcr.io/good/app:v1", Ok(D2));
    let d = decide_with(&s, &moved, &[&pinned]);
    assert_eq!(
        d.rejection().as_deref(),
        Some(
            format!("validation failed: no matching policies: spec.containers[0].image\n{pinned}")
                .as_str()
        )
    );
    assert_eq!(
        d.warnings(),
        vec![format!(
            "tag not used for matching: spec.containers[0].image\n{pinned} the tag names {D2} now, not the pinned digest: only the digest was matched"
        )]
    );
    let failing = FakeHost::default().answer(
        "manifest_digest ghcr.io/good/app:v1",
        Err("Fail to interact with OCI registry: manifest unknown"),
    );
    assert_eq!(
        decide_with(&s, &failing, &[&pinned]).rejection().as_deref(),
        Some(format!("validation failed: failed to confirm the tag: spec.containers[0].image\n{pinned} Fail to interact with OCI registry: manifest unknown").as_str())
    );
    // When the tag changes nothing (a glob matching the digest form anyway), no host call.
    let all = settings(vec![cip("all", &["ghcr.io/good/**"], json!({}))], "deny");
    assert_eq!(decide(&all, &[&pinned]), Decision::default());
}

/// The Rego input's `image` is canonical; the tag beside a digest is in it only when confirmed.
#[test]
fn rego_input_image_is_canonical() {
    let rego = |want: &str| {
        cip(
            "exact",
            &["**"],
            json!({"policy": {"type": "rego", "data": format!("package sigstore\nisCompliant {{ input.image == {want:?} }}\n")}}),
        )
    };
    let s = settings(vec![rego("ghcr.io/evil/x:1")], "deny");
    for image in ["GHCR.IO:443/evil/x:1", "ghcr.io/evil/x:1"] {
        assert_eq!(decide(&s, &[image]), Decision::default(), "{image}");
    }
    let as_written = cip(
        "as-written",
        &["**"],
        json!({"policy": {"type": "rego", "data": "package sigstore\nisCompliant { input.imageAsWritten == \"GHCR.IO:443/evil/x:1\" }\n"}}),
    );
    let s = settings(vec![as_written], "deny");
    assert_eq!(decide(&s, &["GHCR.IO:443/evil/x:1"]), Decision::default());
    assert!(decide(&s, &["ghcr.io/evil/x:1"]).rejection().is_some());
    let s = settings(vec![rego("index.docker.io/library/nginx:latest")], "deny");
    assert_eq!(decide(&s, &["docker.io/nginx"]), Decision::default());
    let pinned = format!("ghcr.io/good/app:v1@{D1}");
    let s = settings(vec![rego(&format!("ghcr.io/good/app:v1@{D1}"))], "deny");
    let confirmed = FakeHost::default().answer("manifest_digest ghcr.io/good/app:v1", Ok(D1));
    assert_eq!(decide_with(&s, &confirmed, &[&pinned]), Decision::default());
    let s = settings(vec![rego(&format!("ghcr.io/good/app@{D1}"))], "deny");
    let moved = FakeHost::default().answer("manifest_digest ghcr.io/good/app:v1", Ok(D2));
    assert_eq!(decide_with(&s, &moved, &[&pinned]), Decision::default());
    let failing = FakeHost::default().answer("manifest_digest ghcr.io/good/app:v1", Err("boom"));
    assert_eq!(
        decide_with(&s, &failing, &[&pinned]).rejection().as_deref(),
        Some(format!("validation failed: failed policy: exact: spec.containers[0].image\n{pinned} failed evaluating rego policy for type ClusterImagePolicy: failed to confirm the tag: boom").as_str())
    );
}
