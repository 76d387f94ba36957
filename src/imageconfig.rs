//! Image configurations for a CIP policy's `fetchConfigFile: true` (`input.config`).
//!
//! Upstream (`pkg/webhook/validator.go` `getConfigs` L1334-1403, `validator_result.go`
//! L36-142) fills `config` with the OCI config file of every manifest of the image, keyed by
//! each config's own `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`). Upstream works on a
//! digest only (its validating webhook requires one), so the configs are those of the manifest
//! that was verified and that runs. Here the host fetches:
//!
//! 1. the manifest **by digest** (`oci/v1/oci_manifest` on `<repo>@<digest>`): the image's own
//!    digest when it is pinned, else the digest an authority verified, else the one the host
//!    resolves (`oci/v1/manifest_digest`, the same answer digest pinning then uses: one host
//!    call, memoised per request). A tag is never read again after verification, so a tag moved
//!    in between cannot give the policy another image's configuration (review finding);
//! 2. for an index, the manifest and config of every entry (`oci/v1/oci_manifest_config` on
//!    `<repo>@<entry digest>`), keyed by the config's platform, as upstream. Entries without a
//!    `platform` are fetched too (containerd runs them when no entry names the node's platform,
//!    `images.Manifest`); `unknown/unknown` entries (buildx's attestation manifests, which no
//!    runtime selects) are skipped. Two manifests for one platform are an error: which one a
//!    node runs is the runtime's choice, and the policy would see only one of them;
//! 3. for a single manifest, its config, whose digest must be the one asked for.

use crate::host::Host;
use crate::reference::ImageRef;
use serde_json::{Map, Value};

/// Most entries of an image index fetched: each is one host call, and the index comes from the
/// image's repository (whoever pushes it decides how many entries it has).
pub const MAX_INDEX_ENTRIES: usize = 64;

/// `os/arch[/variant]` of a platform object (`{"os", "architecture", "variant"}`).
fn platform_key(platform: &Value) -> Option<String> {
    let os = platform["os"].as_str()?;
    let arch = platform["architecture"].as_str()?;
    Some(match platform["variant"].as_str() {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

/// The configuration of every platform of `image`, keyed `os/arch[/variant]`; `verified` is
/// the digest an authority verified for it, if any.
///
/// Errors: a host error (with the host's words); a manifest or config without the fields
/// needed; an index with more than [`MAX_INDEX_ENTRIES`] entries or two manifests for one
/// platform; a config whose digest is not the one asked for.
pub fn fetch_configs(
    image: &ImageRef,
    verified: Option<&str>,
    host: &dyn Host,
) -> Result<Map<String, Value>, String> {
    let digest = match (image.digest(), verified) {
        (Some(pinned), _) => pinned.to_string(),
        (None, Some(verified)) => verified.to_string(),
        (None, None) => host.manifest_digest(image.raw()).map_err(|e| e.0)?,
    };
    let by_digest = |digest: &str| format!("{}@{digest}", image.name_as_written());
    let manifest = host.oci_manifest(&by_digest(&digest)).map_err(|e| e.0)?;
    let mut configs = Map::new();
    let Some(entries) = manifest["manifests"].as_array() else {
        let response = host
            .manifest_and_config(&by_digest(&digest))
            .map_err(|e| e.0)?;
        if let Some(got) = response["digest"].as_str()
            && got != digest
        {
            return Err(format!(
                "the host returned the configuration of {got}, not of {digest}"
            ));
        }
        let config = response["config"].clone();
        let key = platform_key(&config)
            .ok_or_else(|| "the image configuration has no os/architecture".to_string())?;
        configs.insert(key, config);
        return Ok(configs);
    };
    if entries.len() > MAX_INDEX_ENTRIES {
        return Err(format!(
            "the image index lists {} manifests; at most {MAX_INDEX_ENTRIES} are fetched",
            entries.len()
        ));
    }
    let mut seen: Map<String, Value> = Map::new();
    for entry in entries {
        if platform_key(&entry["platform"]).as_deref() == Some("unknown/unknown") {
            continue; // attestation manifests of buildx indexes
        }
        let Some(entry_digest) = entry["digest"].as_str() else {
            return Err("an entry of the image index has no digest".to_string());
        };
        let response = host
            .manifest_and_config(&by_digest(entry_digest))
            .map_err(|e| e.0)?;
        let config = response["config"].clone();
        let key = platform_key(&config)
            .ok_or_else(|| format!("the configuration of {entry_digest} has no os/architecture"))?;
        if let Some(first) = seen.get(&key) {
            return Err(format!(
                "the image index holds two manifests for {key} ({} and {entry_digest}): which one a node runs is the runtime's choice",
                first.as_str().unwrap_or_default()
            ));
        }
        seen.insert(key.clone(), Value::String(entry_digest.to_string()));
        configs.insert(key, config);
    }
    if configs.is_empty() {
        return Err("the image index lists no platform".to_string());
    }
    Ok(configs)
}

#[cfg(test)]
mod tests;
