//! Chainguard's catalog policy `maximum-image-age-rego` (`test_data/settings/max-image-age.yaml`,
//! copied as written) through the whole policy: settings validation, then admission requests
//! whose image configuration (`fetchConfigFile`, `oci/v1/oci_manifest` and
//! `oci/v1/oci_manifest_config`) has a recent or an old `created` date.

use crate::host::fake::FakeHost;
use crate::settings::Settings;
use crate::{ValidationResponse, validate_with_host};
use serde_json::{Value, json};

const IMAGE: &str = "127.0.0.1:5000/demo/app:signed";
/// `IMAGE` by its digest, as the configuration is read (`imageconfig`).
const BY_DIGEST: &str = "127.0.0.1:5000/demo/app@sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32";

/// The settings file, as JSON.
fn settings() -> Value {
    serde_yaml::from_str(include_str!("../../test_data/settings/max-image-age.yaml")).unwrap()
}

/// RFC 3339 (UTC) of `days` days before now, by regorus' own `time.format`.
fn days_ago(days: i64) -> String {
    let mut engine = regorus::Engine::new();
    let results = engine
        .eval_query(
            format!("x := time.format(time.now_ns() - {days} * 24 * 3600 * 1000000000)"),
            false,
        )
        .unwrap();
    results.result[0].bindings["x"]
        .as_string()
        .unwrap()
        .to_string()
}

#[test]
fn days_ago_formats_rfc3339() {
    let today = days_ago(0);
    assert!(today.starts_with("20") && today.ends_with('Z'), "{today}");
    assert_eq!(&today[4..5], "-");
    assert_eq!(&today[10..11], "T");
    assert!(days_ago(365 * 30) < days_ago(1));
    assert!(days_ago(1) < today);
}

/// The host of the recorded single-platform image (`../shared/fixtures/sessions/oci-single.yml`)
/// with `created` set.
fn host(created: &str) -> FakeHost {
    let config = json!({
        "manifest": {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []},
        "digest": "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32",
        "config": {"created": created, "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app"], "User": ""}}
    });
    FakeHost::default()
        .answer(
            &format!("manifest_digest {IMAGE}"),
            Ok("sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32"),
        )
        .answer(
            &format!("oci_manifest {BY_DIGEST}"),
            Ok(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#),
        )
        .answer(
            &format!("manifest_and_config {BY_DIGEST}"),
            Ok(&config.to_string()),
        )
}

fn admit(settings: &Value, created: &str) -> (ValidationResponse, Vec<String>) {
    let request = json!({
        "uid": "1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": IMAGE}]}}
    });
    let host = host(created);
    let payload = json!({"request": request, "settings": settings}).to_string();
    let response = validate_with_host(payload.as_bytes(), &host);
    (response, host.calls())
}

const TOO_OLD: &str = "failed policy: maximum-image-age-rego: spec.containers[0].image\n127.0.0.1:5000/demo/app:signed failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: Image exceeds maximum allowed age.";

#[test]
fn maximum_image_age_validates_and_enforces_the_age() {
    let warn = settings();
    let parsed = Settings::from_json(warn.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.validate(), Ok(()));
    assert_eq!(parsed.policies[0].spec.mode.as_deref(), Some("warn"));

    // As written (mode: warn): recent admitted silently, old admitted with the policy's error.
    let (r, calls) = admit(&warn, &days_ago(29));
    assert!(r.accepted, "{:?}", r.message);
    assert_eq!(r.warnings, None);
    assert_eq!(
        calls,
        vec![
            format!("manifest_digest {IMAGE}"),
            format!("oci_manifest {BY_DIGEST}"),
            format!("manifest_and_config {BY_DIGEST}")
        ]
    );
    let (r, _) = admit(&warn, &days_ago(31));
    assert!(r.accepted);
    assert_eq!(r.warnings, Some(vec![TOO_OLD.to_string()]));

    // Enforced: the old image is denied with the policy's message.
    let mut enforce = warn.clone();
    enforce["policies"][0]["spec"]["mode"] = json!("enforce");
    let (r, _) = admit(&enforce, &days_ago(1));
    assert!(r.accepted, "{:?}", r.message);
    for created in [days_ago(31), "2020-01-01T00:00:00Z".to_string()] {
        let (r, _) = admit(&enforce, &created);
        assert!(!r.accepted, "{created}");
        assert_eq!(
            r.message.as_deref(),
            Some(format!("validation failed: {TOO_OLD}").as_str())
        );
    }
    // A configuration without a parseable `created` fails the CIP with regorus' words.
    let (r, _) = admit(&enforce, "last tuesday");
    assert!(!r.accepted);
    let message = r.message.unwrap();
    assert!(
        message.starts_with("validation failed: failed policy: maximum-image-age-rego: spec.containers[0].image\n127.0.0.1:5000/demo/app:signed failed evaluating rego policy for type ClusterImagePolicy: "),
        "{message}"
    );
    assert!(message.contains("Failed to parse datetime"), "{message}");
}
