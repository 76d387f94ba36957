//! The scenarios of `make bench` and their data.

use std::path::Path;

use anyhow::{Result, anyhow};

use super::{Call, Scenario, distinct_images, load_exchanges};
use crate::request::AdmissionRequest;
use crate::settings::PolicySettings;

/// The scenarios of `make bench`, with their data under `root`
/// (`test_data/bench/`, `test_data/settings/`, `test_data/sessions/`).
///
/// # Errors
/// A data file cannot be read or parsed.
pub fn standard_scenarios(root: &Path) -> Result<Vec<Scenario>> {
    let path = |p: &str| root.join(p);
    let request = |p: &str| {
        let p = path(p);
        AdmissionRequest::load(p.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?)
    };
    let settings = |p: &str| PolicySettings::from_path(&path(p));

    let deployment = request("test_data/bench/deployment-5-containers.json")?;
    let key_request = request("test_data/bench/pod-key-3-images.json")?;
    let mut key_session = Vec::new();
    for name in ["signed.yml", "key-multi.yml", "unsigned.yml"] {
        key_session.extend(load_exchanges(&path(&format!(
            "test_data/sessions/{name}"
        )))?);
    }
    // One key authority (k1) in one CIP matching every image: one call per
    // distinct image.
    let key_calls = distinct_images(&key_request).len();

    Ok(vec![
        Scenario {
            id: "seed".into(),
            title: "seed Pod (cgr.dev/chainguard/nginx:latest-dev), both seed CIPs (static + Rego disallow-latest-tag)".into(),
            call: Call::Validate {
                request: Box::new(request("test_data/bench/pod-seed.json")?),
                settings: settings("test_data/settings/seed-step3.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "static-20".into(),
            title: "Deployment, 5 containers, 20 CIPs with static authorities only (6 glob matches), no digest pinning".into(),
            call: Call::Validate {
                request: Box::new(deployment.clone()),
                settings: settings("test_data/bench/cips-20-static.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "rego-20".into(),
            title: "the same with a Rego policy on every CIP (6 of them compiled and evaluated)".into(),
            call: Call::Validate {
                request: Box::new(deployment.clone()),
                settings: settings("test_data/bench/cips-20-rego.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "key-3".into(),
            title: format!(
                "key (k1) verification of {key_calls} distinct images (4 containers) through a replayed session (signed, multi-arch, unsigned: denied)"
            ),
            call: Call::Validate {
                request: Box::new(key_request),
                settings: settings("test_data/settings/key-k1.yaml")?,
                expect_allowed: Some(false),
            },
            session: Some(key_session),
            expected_host_calls: Some(key_calls),
        },
        Scenario {
            id: "settings-50".into(),
            title: "validate_settings of 50 CIPs (static, key, keyless, Rego, key + Rego)".into(),
            call: Call::ValidateSettings {
                settings: settings("test_data/bench/cips-50-mixed.yaml")?,
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "cue-20".into(),
            title: "Deployment, 5 containers, the 20 CIPs of rego-20 with their Rego policies rewritten in CUE (6 of them compiled and evaluated)".into(),
            call: Call::Validate {
                request: Box::new(deployment),
                settings: settings("test_data/bench/cips-20-cue.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
    ])
}
