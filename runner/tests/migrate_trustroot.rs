//! `cip-runner migrate` on policy-controller `TrustRoot`s (`tests/data/migrate/trustroots/`:
//! policy-controller's own TrustRoot manifests, copied with their source line, and CIPs
//! naming them): a TrustRoot with `sigstoreKeys` becomes the PolicyServer's Sigstore trust
//! ConfigMap, written after the ClusterAdmissionPolicy, and the settings' `hostSigstoreTrust`;
//! TUF-based ones and broken keys are reported, and the CIPs naming them dropped. Needs the
//! annotated module at the repository root (`make annotated-policy.wasm`; `make unit-tests`
//! builds it).

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_yaml::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use common::{Run, cip_runner_in, temp_dir, test_cache_dir, workspace_root, write};

fn annotated_policy() -> PathBuf {
    let wasm = workspace_root().join("annotated-policy.wasm");
    assert!(
        wasm.is_file(),
        "build the annotated module first: make -C {} annotated-policy.wasm",
        workspace_root().display()
    );
    wasm
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate/trustroots")
}

fn migrate(args: &[&str]) -> Run {
    let (policy, cache) = (annotated_policy(), test_cache_dir());
    let mut all = vec!["migrate", "--policy", policy.to_str().expect("utf8")];
    all.extend(args);
    cip_runner_in(
        Some(&data_dir()),
        &all,
        None,
        &[("CIP_RUNNER_CACHE_DIR", cache.to_str().expect("utf8"))],
    )
}

/// The output's documents: the ClusterAdmissionPolicy, then the ConfigMap if any.
fn documents(stdout: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(stdout)
        .map(|d| Value::deserialize(d).expect("YAML document"))
        .collect()
}

/// The DER contents of the PEM text whose base64 a TrustRoot field holds.
fn der_of(manifest_field: &str) -> Vec<Vec<u8>> {
    let pem_text = STANDARD.decode(manifest_field.trim()).expect("base64");
    pem::parse_many(pem_text)
        .expect("PEM")
        .into_iter()
        .map(|b| b.into_contents())
        .collect()
}

#[test]
fn a_trust_root_with_sigstore_keys_becomes_the_trust_config_map_and_its_declaration() {
    let run = migrate(&["valid-sigstore-keys.yaml", "with-remote.yaml", "cips.yaml"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    let docs = documents(&run.stdout);
    assert_eq!(docs.len(), 2, "{}", run.stdout);
    let (cap, config_map) = (&docs[0], &docs[1]);

    let settings = &cap["spec"]["settings"];
    let declaration: Value = serde_yaml::from_str(
        "publicGoodInstance: false\nfulcioUrls: [https://fulcio.example.com]\nrekorUrls: [https://rekor.example.com]\ntrustRoots: [bring-your-own-sigstore-keys]\n",
    )
    .expect("yaml");
    assert_eq!(settings["hostSigstoreTrust"], declaration);
    let carried: Vec<&str> = settings["policies"]
        .as_sequence()
        .expect("policies")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(carried, vec!["private-keyless", "private-by-url"]);

    // The ConfigMap the Kubewarden controller mounts: key sigstore-trust-config, a
    // ClientTrustConfig whose trustedRoot carries the TrustRoot's keys as DER.
    assert_eq!(config_map["kind"], "ConfigMap");
    assert_eq!(config_map["metadata"]["name"], "sigstore-trust-config");
    assert_eq!(config_map["metadata"]["namespace"], "kubewarden");
    let text = config_map["data"]["sigstore-trust-config"]
        .as_str()
        .expect("the key");
    let trust: serde_json::Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(
        trust["mediaType"],
        "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    );
    let root = &trust["trustedRoot"];
    let manifest: Value = serde_yaml::Deserializer::from_str(
        &std::fs::read_to_string(data_dir().join("valid-sigstore-keys.yaml")).expect("read"),
    )
    .map(|d| Value::deserialize(d).expect("yaml"))
    .find(|d| d["kind"] == "TrustRoot")
    .expect("the TrustRoot");
    let keys = &manifest["spec"]["sigstoreKeys"];
    let chain = der_of(
        keys["certificateAuthorities"][0]["certChain"]
            .as_str()
            .expect("chain"),
    );
    let certificates: Vec<Vec<u8>> = root["certificateAuthorities"][0]["certChain"]["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| {
            STANDARD
                .decode(c["rawBytes"].as_str().expect("raw"))
                .expect("b64")
        })
        .collect();
    assert_eq!(certificates, chain);
    assert_eq!(
        root["certificateAuthorities"][0]["uri"],
        "https://fulcio.example.com"
    );
    let rekor_der = der_of(keys["tLogs"][0]["publicKey"].as_str().expect("key")).remove(0);
    let tlog = &root["tlogs"][0];
    assert_eq!(tlog["baseUrl"], "https://rekor.example.com");
    assert_eq!(tlog["hashAlgorithm"], "SHA2_256");
    assert_eq!(tlog["publicKey"]["rawBytes"], STANDARD.encode(&rekor_der));
    assert_eq!(tlog["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
    assert_eq!(
        tlog["logId"]["keyId"],
        STANDARD.encode(Sha256::digest(&rekor_der)),
        "the log ID a Rekor bundle's logID is matched against"
    );
    assert_eq!(root["ctlogs"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        root["timestampAuthorities"].as_array().map(Vec::len),
        Some(1)
    );

    // What could not be converted, and why the CIPs were dropped.
    for expected in [
        "note: TrustRoot bring-your-own-sigstore-keys (valid-sigstore-keys.yaml, document 1): converted into ConfigMap kubewarden/sigstore-trust-config (1 certificate authorities, 1 Rekor logs, 1 CT logs) and declared in hostSigstoreTrust; its 1 timestamp authorities are written too, but the host verifies no signed timestamp",
        "warning: TrustRoot my-remote (with-remote.yaml, document 1): not converted: its keys are the TUF target trusted_root.json of the TUF mirror TUF_MIRROR (spec.remote)",
        "dropped: ClusterImagePolicy from-tuf-mirror (cips.yaml, document 3):\n  invalid value: my-remote: spec.authorities[0].keyless.trustRootRef\n  TrustRoot \"my-remote\" is not declared in hostSigstoreTrust.trustRoots",
        "dropped: ClusterImagePolicy public-keyless (cips.yaml, document 4):\n  invalid value: https://fulcio.sigstore.dev: spec.authorities[0].keyless.url\n  the public-good Fulcio, and hostSigstoreTrust.publicGoodInstance is false",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected}\nnot in:\n{}",
            run.stderr
        );
    }

    // The settings written are valid for the module.
    let dir = temp_dir("migrate-trustroot");
    let file = write(
        &dir,
        "settings.yaml",
        &serde_yaml::to_string(settings).expect("yaml"),
    );
    let policy = annotated_policy();
    let check = cip_runner_in(
        None,
        &[
            "validate-settings",
            "--settings-path",
            file.to_str().expect("utf8"),
            policy.to_str().expect("utf8"),
        ],
        None,
        &[],
    );
    assert_eq!(
        check.stdout, "{\"valid\":true,\"message\":null}\n",
        "{check:?}"
    );
}

/// policy-controller's e2e TrustRoots: placeholders instead of keys, a TUF repository.
#[test]
fn trust_roots_that_cannot_be_converted_are_reported_with_every_reason() {
    let run = migrate(&[
        "bring-your-own-keys.yaml",
        "with-repository.yaml",
        "../seed",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let docs = documents(&run.stdout);
    assert_eq!(docs.len(), 1, "no ConfigMap");
    assert!(
        docs[0]["spec"]["settings"]
            .get("hostSigstoreTrust")
            .is_none()
    );
    assert_eq!(
        run.stderr.lines().next(),
        Some(
            "warning: TrustRoot my-sigstore-keys (bring-your-own-keys.yaml, document 1): not converted: spec.sigstoreKeys.certificateAuthorities[0].certChain: not base64 (Invalid symbol 95, offset 6.); the manifest holds base64 of PEM text; spec.sigstoreKeys.tLogs[0].publicKey: not base64 (Invalid symbol 95, offset 5.); the manifest holds base64 of PEM text; spec.sigstoreKeys.ctLogs[0].publicKey: not base64 (Invalid symbol 95, offset 4.); the manifest holds base64 of PEM text; the CIPs naming it are not carried over"
        )
    );
    assert!(
        run.stderr.contains("warning: TrustRoot my-repository-serialized (with-repository.yaml, document 1): not converted: its keys are the TUF target trusted_root.json of the serialized TUF repository in spec.repository.mirrorFS"),
        "{}",
        run.stderr
    );
}
