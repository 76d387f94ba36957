use super::*;
use crate::host::fake::FakeHost;
use serde_json::json;

const MULTI: &str = "127.0.0.1:5000/demo/multi";
const INDEX_D: &str = "sha256:9e5b8a0a1d9e0a4e7e31f4d5d6e3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5";
const AMD64_D: &str = "sha256:555a58e8d77d30ab64bf5aeb2d5b144a3ecbd827a9e67553573252d0475a5981";
const ARM_D: &str = "sha256:c8f7b927e1bce558c876879b7a282e4223b2fadc251de052dfbfb17040bef3ec";
const OTHER_D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn entry(digest: &str, platform: Option<Value>) -> Value {
    let mut e = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 395});
    if let Some(p) = platform {
        e["platform"] = p;
    }
    e
}

fn index(entries: Vec<Value>) -> String {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}).to_string()
}

fn multi_index() -> String {
    index(vec![
        entry(
            AMD64_D,
            Some(json!({"architecture": "amd64", "os": "linux"})),
        ),
        entry(
            ARM_D,
            Some(json!({"architecture": "arm", "os": "linux", "variant": "v7"})),
        ),
        entry(
            "sha256:aaaa",
            Some(json!({"architecture": "unknown", "os": "unknown"})),
        ),
    ])
}

fn config(digest: &str, arch: &str, variant: Option<&str>, created: &str) -> String {
    let mut c = json!({"architecture": arch, "os": "linux", "created": created, "config": {"User": "65532"}});
    if let Some(v) = variant {
        c["variant"] = json!(v);
    }
    json!({"manifest": {}, "digest": digest, "config": c}).to_string()
}

fn multi_host(index_json: &str) -> FakeHost {
    FakeHost::default()
        .answer(&format!("manifest_digest {MULTI}:v1"), Ok(INDEX_D))
        .answer(&format!("oci_manifest {MULTI}@{INDEX_D}"), Ok(index_json))
        .answer(
            &format!("manifest_and_config {MULTI}@{AMD64_D}"),
            Ok(&config(AMD64_D, "amd64", None, "2026-11-01T00:00:00Z")),
        )
        .answer(
            &format!("manifest_and_config {MULTI}@{ARM_D}"),
            Ok(&config(ARM_D, "arm", Some("v7"), "2026-11-01T00:00:00Z")),
        )
}

#[test]
fn index_yields_one_entry_per_platform() {
    let host = multi_host(&multi_index());
    let image = ImageRef::parse(&format!("{MULTI}:v1")).unwrap();
    let configs = fetch_configs(&image, None, &host).unwrap();
    assert_eq!(
        configs.keys().collect::<Vec<_>>(),
        vec!["linux/amd64", "linux/arm/v7"]
    );
    assert_eq!(configs["linux/arm/v7"]["config"]["User"], "65532");
    assert_eq!(
        host.calls(),
        vec![
            format!("manifest_digest {MULTI}:v1"),
            format!("oci_manifest {MULTI}@{INDEX_D}"),
            format!("manifest_and_config {MULTI}@{AMD64_D}"),
            format!("manifest_and_config {MULTI}@{ARM_D}"),
        ],
        "the tag is resolved once; the unknown/unknown attestation entry is skipped"
    );
}

/// Review finding: an index entry without a platform was skipped, and a second entry for a
/// platform replaced the first; containerd runs a platform-less entry when no other names the
/// node's platform, and picks the first of two. Platform-less entries are fetched and keyed by
/// their config; two manifests for one platform are an error.
#[test]
fn no_manifest_hides_behind_the_index() {
    let old = config(OTHER_D, "amd64", None, "2015-01-01T00:00:00Z");
    let platformless = index(vec![
        entry(OTHER_D, None),
        entry(
            ARM_D,
            Some(json!({"architecture": "arm", "os": "linux", "variant": "v7"})),
        ),
    ]);
    let host = multi_host(&platformless)
        .answer(&format!("manifest_and_config {MULTI}@{OTHER_D}"), Ok(&old));
    let image = ImageRef::parse(&format!("{MULTI}:v1")).unwrap();
    let configs = fetch_configs(&image, None, &host).unwrap();
    assert_eq!(configs["linux/amd64"]["created"], "2015-01-01T00:00:00Z");
    assert_eq!(configs.len(), 2);
    let duplicate = index(vec![
        entry(
            OTHER_D,
            Some(json!({"architecture": "amd64", "os": "linux"})),
        ),
        entry(
            AMD64_D,
            Some(json!({"architecture": "amd64", "os": "linux"})),
        ),
    ]);
    let host =
        multi_host(&duplicate).answer(&format!("manifest_and_config {MULTI}@{OTHER_D}"), Ok(&old));
    assert_eq!(
        fetch_configs(&image, None, &host),
        Err(format!(
            "the image index holds two manifests for linux/amd64 ({OTHER_D} and {AMD64_D}): which one a node runs is the runtime's choice"
        ))
    );
    let many = index((0..65).map(|_| entry(AMD64_D, None)).collect());
    let host = multi_host(&many);
    assert_eq!(
        fetch_configs(&image, None, &host),
        Err("the image index lists 65 manifests; at most 64 are fetched".to_string())
    );
}

/// Review finding: the configuration was fetched by tag after the signature was verified by
/// digest, so a tag moved in between gave the Rego policy another image's configuration. The
/// manifest is read by the verified (or pinned, or once resolved) digest.
#[test]
fn the_configuration_is_the_verified_digests() {
    const A: &str = "127.0.0.1:5000/demo/app";
    const D: &str = "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32";
    // The host reads A@D and answers with the configuration of `config_of`.
    let host_answering = |config_of: &str| {
        FakeHost::default()
            .answer(
                &format!("oci_manifest {A}@{D}"),
                Ok(r#"{"schemaVersion":2,"layers":[]}"#),
            )
            .answer(
                &format!("manifest_and_config {A}@{D}"),
                Ok(&config(config_of, "amd64", None, "2026-11-01T00:00:00Z")),
            )
    };
    let host = host_answering(D);
    let tagged = ImageRef::parse(&format!("{A}:v1")).unwrap();
    let configs = fetch_configs(&tagged, Some(D), &host).unwrap();
    assert_eq!(configs.keys().collect::<Vec<_>>(), vec!["linux/amd64"]);
    assert_eq!(host.calls().len(), 2, "no tag lookup: {:?}", host.calls());
    let pinned = ImageRef::parse(&format!("{A}:v1@{D}")).unwrap();
    assert!(fetch_configs(&pinned, None, &host).is_ok());
    // A configuration of another digest is refused.
    let host = host_answering(OTHER_D);
    assert_eq!(
        fetch_configs(&tagged, Some(D), &host),
        Err(format!(
            "the host returned the configuration of {OTHER_D}, not of {D}"
        ))
    );
}

#[test]
fn single_manifest_and_errors() {
    const D: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    let host = FakeHost::default()
        .answer("manifest_digest a:1", Ok(D))
        .answer(
            &format!("oci_manifest a@{D}"),
            Ok(r#"{"schemaVersion":2,"layers":[]}"#),
        )
        .answer(
            &format!("manifest_and_config a@{D}"),
            Ok(&config(D, "amd64", None, "2026-11-01T00:00:00Z")),
        )
        .answer(
            "manifest_digest b:1",
            Err("Fail to interact with OCI registry: manifest unknown"),
        );
    let configs = fetch_configs(&ImageRef::parse("a:1").unwrap(), None, &host).unwrap();
    assert_eq!(configs.keys().collect::<Vec<_>>(), vec!["linux/amd64"]);
    assert_eq!(
        fetch_configs(&ImageRef::parse("b:1").unwrap(), None, &host),
        Err("Fail to interact with OCI registry: manifest unknown".into())
    );
}
