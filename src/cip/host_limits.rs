//! What a CIP asks that no Kubewarden host verifies the way policy-controller does: each is a
//! settings error (`not supported: <path>` and, on the next line, why and what to do instead),
//! whatever the settings declare about the host's trust ([`crate::trust`] handles what a
//! declaration can cover).
//!
//! The host's verification, read for these rules (kubewarden-controller@3460bb7, sigstore-rs
//! v0.13.0, which Kubewarden 1.36 replaced by v0.14.0 without changing any of this):
//!
//! - `oci/v2/verify` takes an image and PEM public keys or certificate identities, nothing else
//!   (`crates/policy-evaluator/src/callback_handler/sigstore_verification.rs` L80-218); the
//!   signatures are looked up as `<repository>:sha256-<hex>.sig` in the image's own repository
//!   with the host's registry credentials (`crates/policy-fetcher/src/verify/mod.rs`
//!   `fetch_sigstore_remote_data`: `triangulate`, then `trusted_signature_layers`).
//! - A key signature is checked with the key alone (`PublicKeyVerifier::verify`,
//!   `src/cosign/verification_constraint/public_key_verifier.rs` L36-38), its hash taken from the
//!   key type (`src/crypto/verification_key.rs` `TryFrom<&SubjectPublicKeyInfoOwned>`: sha256 for
//!   RSA and ECDSA P-256). A Rekor bundle is verified only when the signature carries one
//!   (`src/cosign/signature_layers.rs` L301-316): a key signature needs no log entry.
//! - A keyless certificate counts only with a Rekor bundle verified against the host's Rekor
//!   keys; it is checked against the host's Fulcio certificates at the bundle's integrated time
//!   (`signature_layers.rs` L318-357, L426-443). The cosign client takes only the Fulcio
//!   certificates and Rekor keys of the trust configuration (`src/cosign/client_builder.rs`
//!   L79-87): CT log keys (so the certificate's SCT) and timestamp authorities are never read.

use super::validation::{FieldError, unsupported};
use super::{Authority, Policy};

/// Why an authority's `attestations` cannot be enforced.
pub const ATTESTATIONS: &str = "no Kubewarden host capability verifies in-toto attestations (oci/v2/verify checks image signatures only), so this authority cannot be enforced here; keep this ClusterImagePolicy in policy-controller, or require a signature instead (remove attestations)";

/// Why `source` cannot be honoured.
pub const SOURCE: &str = "the host looks signatures up in the image's own repository (<repository>:sha256-<digest>.sig) with the PolicyServer's registry credentials; a signature repository (oci), a tag prefix (tagPrefix) or pull secrets (signaturePullSecrets) cannot be passed per call: keep the signatures in the image's repository (sign without COSIGN_REPOSITORY) and give the PolicyServer the registry credentials (its spec.imagePullSecret; kwctl --docker-config-json-path)";

/// Why `key.kms` cannot be honoured.
pub const KMS: &str = "the host verifies key signatures with PEM public keys only and cannot reach a KMS: export the public key with `cosign public-key --key <this kms URI>` and put it in key.data";

/// Why a hash algorithm other than sha256 cannot be honoured.
pub const HASH_ALGORITHM: &str = "the host verifies a key signature over the digest its key type implies (sigstore-rs: sha256 for RSA and ECDSA P-256 keys), not over a chosen hash algorithm: sign with sha256 (cosign's default) and remove hashAlgorithm";

/// Why a key authority's `ctlog` with a log cannot be honoured.
pub const KEY_CTLOG: &str = "with ctlog, upstream requires the key signature's transparency-log entry (policy-controller pkg/webhook/validator.go L1520-1537); the host verifies a key signature without one (it checks a Rekor bundle only when the signature carries one), so a signature kept out of the log would be admitted: remove ctlog to verify the key signature alone (upstream's behaviour without ctlog), or sign keyless, which the host verifies only with its log entry";

/// Why `rfc3161timestamp` cannot be honoured.
pub const TIMESTAMP: &str = "with rfc3161timestamp, upstream requires a signed timestamp from the TrustRoot's timestamp authority and skips the transparency log (policy-controller pkg/webhook/validator.go L1539-1568); the host verifies no RFC 3161 timestamp (it checks a keyless certificate at its Rekor entry's time only), so it would admit a signature without the timestamp and refuse one without a Rekor entry, whatever hostSigstoreTrust declares: sign with a transparency-log entry and remove rfc3161timestamp, or keep this ClusterImagePolicy in policy-controller";

/// Why `keyless.ca-cert` cannot be honoured.
pub const CA_CERT: &str = "upstream does not verify with ca-cert: a keyless authority without url fails every image there (`no Keyless URL specified`, policy-controller pkg/webhook/validator.go L849-858; sigstore/policy-controller#107), and the host cannot be given a certificate authority per call: to trust a private Fulcio, put its certificates in the host's Sigstore trust configuration (`cip-runner migrate` converts a policy-controller TrustRoot), declare it in hostSigstoreTrust (fulcioUrls or trustRoots), and write keyless.url or keyless.trustRootRef instead of ca-cert";

/// Why `policy.remote` cannot be honoured.
pub const REMOTE: &str = "the module has no network access; inline the policy in spec.policy.data";

/// The host limits of one authority at `path` (`spec.authorities[i]`).
pub fn authority(a: &Authority, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(key) = &a.key {
        if key.kms.is_some() {
            errs.push(unsupported(format!("{path}.key.kms"), KMS));
        }
        if let Some(h) = &key.hash_algorithm {
            let h = h.trim().to_ascii_lowercase();
            if h != "sha256" && ["sha224", "sha384", "sha512"].contains(&h.as_str()) {
                errs.push(unsupported(
                    format!("{path}.key.hashAlgorithm"),
                    HASH_ALGORITHM,
                ));
            }
        }
        if let Some(secret) = &key.secret_ref
            && secret.name.as_deref().unwrap_or("").is_empty()
        {
            errs.push(FieldError {
                message: "missing field(s)".into(),
                paths: vec![format!("{path}.key.secretRef.name")],
                details: None,
            });
        }
        if let Some(ctlog) = &a.ctlog
            && (ctlog.url.is_some() || ctlog.trust_root_ref.is_some())
        {
            errs.push(unsupported(format!("{path}.ctlog"), KEY_CTLOG));
        }
    }
    if let Some(keyless) = &a.keyless
        && keyless.ca_cert.is_some()
    {
        errs.push(unsupported(format!("{path}.keyless.ca-cert"), CA_CERT));
    }
    if a.attestations.is_some() {
        errs.push(unsupported(format!("{path}.attestations"), ATTESTATIONS));
    }
    if a.source.is_some() {
        errs.push(unsupported(format!("{path}.source"), SOURCE));
    }
    if let Some(ts) = &a.rfc3161timestamp
        && ts.trust_root_ref.as_deref().is_some_and(|r| !r.is_empty())
    {
        errs.push(unsupported(format!("{path}.rfc3161timestamp"), TIMESTAMP));
    }
    errs
}

/// The host limits of the CIP-level `spec.policy`. A `type: cue` policy is none: it is
/// evaluated in the module ([`crate::cue`]); settings validation compiles it. (An attestation's
/// CUE policy stays refused with its authority's `attestations`.)
pub fn policy(policy: &Policy) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if policy.remote.is_some() {
        errs.push(unsupported("spec.policy.remote".into(), REMOTE));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";

    fn errors(authority: Value) -> Vec<String> {
        let a: Authority = serde_json::from_value(authority).unwrap();
        super::authority(&a, "spec.authorities[0]")
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn keyless(extra: Value) -> Value {
        let mut a = json!({"keyless": {"url": "https://fulcio.sigstore.dev", "identities": [{"issuer": "https://i", "subject": "s"}]}});
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    }

    #[test]
    fn every_limit_names_its_field_and_the_way_out() {
        assert_eq!(
            errors(
                json!({"key": {"kms": "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k"}})
            ),
            vec![format!("not supported: spec.authorities[0].key.kms\n{KMS}")]
        );
        assert!(KMS.contains("cosign public-key --key"));
        for h in ["sha512", " SHA384 ", "sha224"] {
            assert_eq!(
                errors(json!({"key": {"data": KEY, "hashAlgorithm": h}})),
                vec![format!(
                    "not supported: spec.authorities[0].key.hashAlgorithm\n{HASH_ALGORITHM}"
                )],
                "{h}"
            );
        }
        assert_eq!(
            errors(json!({"key": {"data": KEY, "hashAlgorithm": "Sha256"}})),
            Vec::<String>::new()
        );
        assert_eq!(
            errors(keyless(
                json!({"source": [{"signaturePullSecrets": [{"name": "regcred"}]}]})
            )),
            vec![format!(
                "not supported: spec.authorities[0].source\n{SOURCE}"
            )]
        );
        assert_eq!(
            errors(keyless(
                json!({"attestations": [{"name": "a", "predicateType": "https://slsa.dev/provenance/v1"}]})
            )),
            vec![format!(
                "not supported: spec.authorities[0].attestations\n{ATTESTATIONS}"
            )]
        );
    }

    /// A key authority's log requirement cannot be met by the host in any spelling; `ctlog`
    /// without a log means none upstream too.
    #[test]
    fn a_key_authority_with_a_transparency_log() {
        for ctlog in [
            json!({"url": "https://rekor.sigstore.dev"}),
            json!({"url": "http://rekor.rekor-system.svc"}),
            json!({"trustRootRef": "my-sigstore-keys"}),
        ] {
            assert_eq!(
                errors(json!({"key": {"data": KEY}, "ctlog": ctlog})),
                vec![format!(
                    "not supported: spec.authorities[0].ctlog\n{KEY_CTLOG}"
                )],
                "{ctlog}"
            );
        }
        assert_eq!(
            errors(json!({"key": {"data": KEY}, "ctlog": {}})),
            Vec::<String>::new()
        );
        // Keyless with the public log: the host's default trust (trust.rs decides private ones).
        assert_eq!(
            errors(keyless(
                json!({"ctlog": {"url": "https://rekor.sigstore.dev"}})
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn signed_timestamps_and_ca_cert() {
        assert_eq!(
            errors(keyless(json!({"rfc3161timestamp": {"trustRootRef": "t"}}))),
            vec![format!(
                "not supported: spec.authorities[0].rfc3161timestamp\n{TIMESTAMP}"
            )]
        );
        assert_eq!(
            errors(json!({"key": {"data": KEY}, "rfc3161timestamp": {"trustRootRef": "t"}})),
            vec![format!(
                "not supported: spec.authorities[0].rfc3161timestamp\n{TIMESTAMP}"
            )]
        );
        // Without a trustRootRef the field changes nothing upstream (validator.go L1539).
        for ts in [json!({}), json!({"trustRootRef": ""})] {
            assert_eq!(
                errors(keyless(json!({"rfc3161timestamp": ts}))),
                Vec::<String>::new()
            );
        }
        let a = json!({"keyless": {"ca-cert": {"data": KEY}, "identities": [{"issuer": "https://i", "subject": "s"}]}});
        assert_eq!(
            errors(a),
            vec![format!(
                "not supported: spec.authorities[0].keyless.ca-cert\n{CA_CERT}"
            )]
        );
    }

    /// The host never reads the CT log keys: skipping the SCT check is what it does anyway
    /// (module docs), in either spelling.
    #[test]
    fn insecure_ignore_sct_is_what_the_host_does() {
        for value in [true, false] {
            let mut a = keyless(json!({}));
            a["keyless"]["insecureIgnoreSCT"] = json!(value);
            assert_eq!(errors(a), Vec::<String>::new());
        }
    }

    #[test]
    fn policy_limits() {
        // Issue 15: a CIP-level CUE policy is evaluated in the module, no longer a host limit.
        let p: Policy = serde_json::from_value(json!({"type": "cue", "data": "x: 1"})).unwrap();
        assert_eq!(
            policy(&p).iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            Vec::<String>::new()
        );
        let p: Policy = serde_json::from_value(
            json!({"type": "rego", "remote": {"url": "https://x/p.rego", "sha256sum": "a"}}),
        )
        .unwrap();
        assert_eq!(policy(&p).len(), 1);
    }
}
