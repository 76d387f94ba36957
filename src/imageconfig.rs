//! Image configurations for a CIP policy's `fetchConfigFile: true` (`input.config`).
//!
//! Upstream (`pkg/webhook/validator.go` L641-686, `pkg/webhook/validator_result.go` L36-142)
//! fills `config` with the OCI config file of every platform of the image, keyed
//! `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`). Here the host fetches: the manifest
//! (`oci/v1/oci_manifest`); for an index, each platform's manifest and config by digest
//! (`oci/v1/oci_manifest_config` on `<repo>@<digest>`); for a single manifest, its config.

use crate::host::Host;
use crate::reference::ImageRef;
use serde_json::{Map, Value};

/// `os/arch[/variant]` of a platform object (`{"os", "architecture", "variant"}`).
fn platform_key(platform: &Value) -> Option<String> {
    let os = platform["os"].as_str()?;
    let arch = platform["architecture"].as_str()?;
    Some(match platform["variant"].as_str() {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

/// The configuration of every platform of `image`, keyed `os/arch[/variant]`.
///
/// Errors: a host error (with the host's words), or a manifest/config without the fields needed.
pub fn fetch_configs(image: &ImageRef, host: &dyn Host) -> Result<Map<String, Value>, String> {
    let manifest = host.oci_manifest(image.raw()).map_err(|e| e.0)?;
    let mut configs = Map::new();
    if let Some(entries) = manifest["manifests"].as_array() {
        for entry in entries {
            let (Some(key), Some(digest)) =
                (platform_key(&entry["platform"]), entry["digest"].as_str())
            else {
                continue;
            };
            if key.starts_with("unknown/") {
                continue; // attestation manifests of buildx indexes
            }
            let reference = format!("{}@{digest}", image.name_as_written());
            let response = host.manifest_and_config(&reference).map_err(|e| e.0)?;
            configs.insert(key, response["config"].clone());
        }
    } else {
        let response = host.manifest_and_config(image.raw()).map_err(|e| e.0)?;
        let config = response["config"].clone();
        let key = platform_key(&config)
            .ok_or_else(|| "the image configuration has no os/architecture".to_string())?;
        configs.insert(key, config);
    }
    if configs.is_empty() {
        return Err("the image index lists no platform".to_string());
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    const MULTI_INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:555a58e8d77d30ab64bf5aeb2d5b144a3ecbd827a9e67553573252d0475a5981","size":395,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:c8f7b927e1bce558c876879b7a282e4223b2fadc251de052dfbfb17040bef3ec","size":395,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaa","platform":{"architecture":"unknown","os":"unknown"}}]}"#;

    fn config(arch: &str, variant: Option<&str>) -> String {
        let mut c = json!({"architecture": arch, "os": "linux", "config": {"User": "65532"}});
        if let Some(v) = variant {
            c["variant"] = json!(v);
        }
        json!({"manifest": {}, "digest": "sha256:x", "config": c}).to_string()
    }

    #[test]
    fn index_yields_one_entry_per_platform() {
        let host = FakeHost::default()
            .answer("oci_manifest 127.0.0.1:5000/demo/multi:v1", Ok(MULTI_INDEX))
            .answer(
                "manifest_and_config 127.0.0.1:5000/demo/multi@sha256:555a58e8d77d30ab64bf5aeb2d5b144a3ecbd827a9e67553573252d0475a5981",
                Ok(&config("amd64", None)),
            )
            .answer(
                "manifest_and_config 127.0.0.1:5000/demo/multi@sha256:c8f7b927e1bce558c876879b7a282e4223b2fadc251de052dfbfb17040bef3ec",
                Ok(&config("arm", Some("v7"))),
            );
        let image = ImageRef::parse("127.0.0.1:5000/demo/multi:v1").unwrap();
        let configs = fetch_configs(&image, &host).unwrap();
        assert_eq!(
            configs.keys().collect::<Vec<_>>(),
            vec!["linux/amd64", "linux/arm/v7"]
        );
        assert_eq!(configs["linux/arm/v7"]["config"]["User"], "65532");
        assert_eq!(
            host.calls().len(),
            3,
            "the unknown/unknown attestation entry is skipped"
        );
    }

    #[test]
    fn single_manifest_and_errors() {
        let host = FakeHost::default()
            .answer("oci_manifest a:1", Ok(r#"{"schemaVersion":2,"layers":[]}"#))
            .answer("manifest_and_config a:1", Ok(&config("amd64", None)))
            .answer(
                "oci_manifest b:1",
                Err("Fail to interact with OCI registry: manifest unknown"),
            );
        let configs = fetch_configs(&ImageRef::parse("a:1").unwrap(), &host).unwrap();
        assert_eq!(configs.keys().collect::<Vec<_>>(), vec!["linux/amd64"]);
        assert_eq!(
            fetch_configs(&ImageRef::parse("b:1").unwrap(), &host),
            Err("Fail to interact with OCI registry: manifest unknown".into())
        );
    }
}
