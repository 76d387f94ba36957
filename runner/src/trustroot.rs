//! policy-controller `TrustRoot`s for `cip-runner migrate`: the trust configuration a
//! PolicyServer needs instead, and the settings' declaration of it.
//!
//! A `TrustRoot` (policy-controller `pkg/apis/policy/v1alpha1/trustroot_types.go`) holds the
//! keys of a private Sigstore, for CIPs that name it in a `trustRootRef`, in one of three forms:
//!
//! - `spec.sigstoreKeys`: the keys themselves, each `[]byte` field base64 of PEM text in the
//!   manifest: `certificateAuthorities[]` and `timestampAuthorities[]` (`subject`
//!   {`organization`, `commonName`}, `uri`, `certChain`), `tLogs[]` and `ctLogs[]` (`baseURL`,
//!   `hashAlgorithm`, `publicKey`). Converted here, offline.
//! - `spec.remote` (a TUF mirror and its initial root) and `spec.repository` (a serialized TUF
//!   repository): the keys are a TUF target, `trusted_root.json`, that policy-controller fetches
//!   and verifies; not converted (that needs a TUF client), reported with what to do by hand.
//!
//! A Kubewarden host has one Sigstore trust configuration: the PolicyServer's
//! `spec.sigstoreTrustConfig` names a ConfigMap in the Kubewarden controller's namespace whose
//! key `sigstore-trust-config` holds a Sigstore `ClientTrustConfig` JSON (kubewarden-controller
//! @3460bb7 `api/policies/v1/policyserver_types.go` L105-113, `internal/constants/constants.go`
//! L29, `internal/controller/policyserver_controller_deployment.go` L244-262); policy-server
//! reads its `trustedRoot` only (`crates/policy-server/src/lib.rs` L364-397,
//! `build_sigstore_trust_root_from_config`; kwctl `--sigstore-trust-config` reads the same
//! file, `crates/kwctl/src/config/verification.rs` L203-220). The `trustedRoot` is the
//! protobuf-specs `TrustedRoot` in its JSON form (`protos/sigstore_trustroot.proto`), the
//! shape of Sigstore's own `trusted_root.json`, as policy-controller converts `sigstoreKeys`
//! (`pkg/apis/config/sigstore_keys.go` `ConvertSigstoreKeys` L100-178): certificates and keys
//! as base64 DER `rawBytes`, validity from the epoch. One difference: a log's `logId.keyId` is
//! the raw SHA-256 of its DER public key, as in `trusted_root.json` and as sigstore-rs matches a
//! Rekor bundle's `logID` against it (`hex::encode(key_id)`, sigstore-rs v0.13.0
//! `src/trust/sigstore/mod.rs` L156-182), where policy-controller stores the hex text.
//!
//! Every converted TrustRoot goes into one `trustedRoot` (the host has one), and the settings
//! get the matching `hostSigstoreTrust` (its names, its Fulcio and Rekor URLs, and
//! `publicGoodInstance: false`: the host then trusts only this configuration).

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use serde_yaml::{Mapping, Value};
use sha2::{Digest, Sha256};

use crate::migrate::Origin;

/// The ConfigMap key the Kubewarden controller mounts (`PolicyServerSigstoreTrustConfigEntry`).
pub const CONFIG_MAP_KEY: &str = "sigstore-trust-config";

/// The name `migrate` gives the ConfigMap (any name works; the PolicyServer names it).
pub const CONFIG_MAP_NAME: &str = "sigstore-trust-config";

/// The Kubewarden controller's namespace in its Helm charts, where the ConfigMap must be.
pub const KUBEWARDEN_NAMESPACE: &str = "kubewarden";

/// `ClientTrustConfig.media_type`.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// `TrustedRoot.media_type`, as policy-controller writes it (`sigstore_keys.go` L102).
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// Validity "from the epoch", as policy-controller gives every converted key and CA.
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// `spec` of a TrustRoot.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    remote: Option<Value>,
    #[serde(default)]
    repository: Option<Value>,
    #[serde(default)]
    sigstore_keys: Option<SigstoreKeys>,
}

/// `spec.sigstoreKeys` (trustroot_types.go `SigstoreKeys`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SigstoreKeys {
    #[serde(default)]
    certificate_authorities: Vec<CertificateAuthority>,
    #[serde(default, rename = "tLogs")]
    t_logs: Vec<TransparencyLog>,
    #[serde(default, rename = "ctLogs")]
    ct_logs: Vec<TransparencyLog>,
    #[serde(default)]
    timestamp_authorities: Vec<CertificateAuthority>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DistinguishedName {
    #[serde(default)]
    organization: String,
    #[serde(default)]
    common_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CertificateAuthority {
    #[serde(default)]
    subject: DistinguishedName,
    #[serde(default)]
    uri: String,
    #[serde(default)]
    cert_chain: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TransparencyLog {
    #[serde(default, rename = "baseURL")]
    base_url: String,
    #[serde(default)]
    hash_algorithm: String,
    #[serde(default)]
    public_key: String,
}

/// A TrustRoot's `sigstoreKeys` in `TrustedRoot` form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    /// `certificateAuthorities[]`.
    pub certificate_authorities: Vec<Json>,
    /// `tlogs[]` (Rekor).
    pub tlogs: Vec<Json>,
    /// `ctlogs[]`.
    pub ctlogs: Vec<Json>,
    /// `timestampAuthorities[]` (the host reads none of them).
    pub timestamp_authorities: Vec<Json>,
    /// The CAs' `uri`s, for `hostSigstoreTrust.fulcioUrls`.
    pub fulcio_urls: Vec<String>,
    /// The Rekor logs' `baseURL`s, for `hostSigstoreTrust.rekorUrls`.
    pub rekor_urls: Vec<String>,
}

/// What a TrustRoot becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `sigstoreKeys`, converted.
    Converted(Keys),
    /// `remote` or `repository`: what to do by hand.
    ByHand(String),
    /// Keys that cannot be converted: every reason, with its field.
    Invalid(Vec<String>),
}

/// A TrustRoot found in the input.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    /// Where it was.
    pub origin: Origin,
    /// `metadata.name` (empty when missing).
    pub name: String,
    /// Its conversion.
    pub outcome: Outcome,
}

/// The base64 of PEM text that a `[]byte` field of the manifest holds: the PEM blocks'
/// labels and DER contents. Whitespace inside the base64 is allowed (wrapped YAML).
fn pem_blocks(field: &str, b64: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(format!("{field}: missing"));
    }
    let text = STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("{field}: not base64 ({e}); the manifest holds base64 of PEM text"))?;
    let blocks = pem::parse_many(&text).map_err(|e| format!("{field}: not PEM ({e})"))?;
    if blocks.is_empty() {
        return Err(format!("{field}: no PEM block in it"));
    }
    Ok(blocks
        .into_iter()
        .map(|b| (b.tag().to_string(), b.into_contents()))
        .collect())
}

/// The protobuf `PublicKeyDetails` of a DER SubjectPublicKeyInfo, as policy-controller picks
/// it (`sigstore_keys.go` `DeserializePublicKey`: ECDSA by curve; others unspecified here).
fn key_details(der: &[u8]) -> Result<&'static str, String> {
    use spki::ObjectIdentifier as Oid;
    const EC: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    let spki = spki::SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|e| format!("not a DER public key ({e})"))?;
    let (oid, parameter) = spki
        .algorithm
        .oids()
        .map_err(|e| format!("unreadable key algorithm ({e})"))?;
    Ok(match (oid, parameter) {
        (EC, Some(P256)) => "PKIX_ECDSA_P256_SHA_256",
        (EC, Some(P384)) => "PKIX_ECDSA_P384_SHA_384",
        (EC, Some(P521)) => "PKIX_ECDSA_P521_SHA_512",
        (ED25519, _) => "PKIX_ED25519",
        _ => "PUBLIC_KEY_DETAILS_UNSPECIFIED",
    })
}

/// `sha-256` → `SHA2_256` … (`sigstore_keys.go` `HashStringToHashAlgorithm` L180-190).
fn hash_algorithm(name: &str) -> &'static str {
    match name {
        "sha-256" | "sha256" => "SHA2_256",
        "sha-384" | "sha384" => "SHA2_384",
        "sha-512" | "sha512" => "SHA2_512",
        _ => "HASH_ALGORITHM_UNSPECIFIED",
    }
}

fn certificate_authority(
    ca: &CertificateAuthority,
    field: &str,
    errors: &mut Vec<String>,
) -> Option<Json> {
    // trustroot_validation.go ValidateCertificateAuthority L144-153.
    let before = errors.len();
    for (value, name) in [
        (&ca.subject.organization, "subject.organization"),
        (&ca.subject.common_name, "subject.commonName"),
        (&ca.uri, "uri"),
    ] {
        if value.is_empty() {
            errors.push(format!("{field}.{name}: missing"));
        }
    }
    let certificates = match pem_blocks(&format!("{field}.certChain"), &ca.cert_chain) {
        Ok(blocks) => blocks
            .into_iter()
            .map(|(tag, der)| {
                if tag != "CERTIFICATE" {
                    errors.push(format!(
                        "{field}.certChain: a {tag} block, not a CERTIFICATE"
                    ));
                }
                json!({"rawBytes": STANDARD.encode(der)})
            })
            .collect::<Vec<_>>(),
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    (errors.len() == before).then(|| {
        json!({
            "subject": {"organization": ca.subject.organization, "commonName": ca.subject.common_name},
            "uri": ca.uri,
            "certChain": {"certificates": certificates},
            "validFor": {"start": EPOCH},
        })
    })
}

fn transparency_log(
    log: &TransparencyLog,
    field: &str,
    rekor: bool,
    errors: &mut Vec<String>,
) -> Option<Json> {
    // trustroot_validation.go ValidateTransparencyLogInstance L183-196.
    let before = errors.len();
    for (value, name) in [
        (&log.base_url, "baseURL"),
        (&log.hash_algorithm, "hashAlgorithm"),
    ] {
        if value.is_empty() {
            errors.push(format!("{field}.{name}: missing"));
        }
    }
    let key = match pem_blocks(&format!("{field}.publicKey"), &log.public_key) {
        Ok(blocks) if blocks.len() == 1 && blocks[0].0 == "PUBLIC KEY" => Some(
            blocks
                .into_iter()
                .next()
                .map(|(_, der)| der)
                .unwrap_or_default(),
        ),
        Ok(_) => {
            errors.push(format!("{field}.publicKey: expected one PUBLIC KEY block"));
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let details = key
        .as_deref()
        .map(key_details)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(format!("{field}.publicKey: {e}"));
            None
        });
    // policy-controller refuses a Rekor key that is not ECDSA (`pkg/reconciler/trustroot/trustroot.go` L96, "public key %d
    // is not ecdsa.PublicKey").
    if rekor && details.is_some_and(|d| !d.starts_with("PKIX_ECDSA")) {
        errors.push(format!("{field}.publicKey: not an ECDSA key"));
    }
    if errors.len() != before {
        return None;
    }
    let der = key.unwrap_or_default();
    Some(json!({
        "baseUrl": log.base_url,
        "hashAlgorithm": hash_algorithm(&log.hash_algorithm),
        "publicKey": {
            "rawBytes": STANDARD.encode(&der),
            "keyDetails": details.unwrap_or("PUBLIC_KEY_DETAILS_UNSPECIFIED"),
            "validFor": {"start": EPOCH},
        },
        "logId": {"keyId": STANDARD.encode(Sha256::digest(&der))},
    }))
}

/// A Fulcio or Rekor URL goes into `hostSigstoreTrust`, which takes http(s) URLs only.
fn declarable(url: &str, field: &str, errors: &mut Vec<String>) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if !url.is_empty() && rest.is_none_or(|r| r.split('/').next().unwrap_or("").is_empty()) {
        errors.push(format!(
            "{field}: {url:?} is not an http(s) URL, which hostSigstoreTrust needs"
        ));
    }
}

/// Converts `sigstoreKeys`, reporting every field that cannot be.
fn convert(keys: &SigstoreKeys) -> Outcome {
    let mut errors = Vec::new();
    let base = "spec.sigstoreKeys";
    if keys.certificate_authorities.is_empty() && keys.timestamp_authorities.is_empty() {
        // trustroot_validation.go L106-108.
        errors.push(format!(
            "{base}: expected certificateAuthorities or timestampAuthorities"
        ));
    }
    let mut out = Keys::default();
    for (i, ca) in keys.certificate_authorities.iter().enumerate() {
        let field = format!("{base}.certificateAuthorities[{i}]");
        declarable(&ca.uri, &format!("{field}.uri"), &mut errors);
        if let Some(ca_json) = certificate_authority(ca, &field, &mut errors) {
            out.certificate_authorities.push(ca_json);
            out.fulcio_urls.push(ca.uri.clone());
        }
    }
    for (i, tsa) in keys.timestamp_authorities.iter().enumerate() {
        let field = format!("{base}.timestampAuthorities[{i}]");
        if let Some(tsa_json) = certificate_authority(tsa, &field, &mut errors) {
            out.timestamp_authorities.push(tsa_json);
        }
    }
    for (i, log) in keys.t_logs.iter().enumerate() {
        let field = format!("{base}.tLogs[{i}]");
        declarable(&log.base_url, &format!("{field}.baseURL"), &mut errors);
        if let Some(log_json) = transparency_log(log, &field, true, &mut errors) {
            out.tlogs.push(log_json);
            out.rekor_urls.push(log.base_url.clone());
        }
    }
    for (i, log) in keys.ct_logs.iter().enumerate() {
        let field = format!("{base}.ctLogs[{i}]");
        if let Some(log_json) = transparency_log(log, &field, false, &mut errors) {
            out.ctlogs.push(log_json);
        }
    }
    if errors.is_empty() {
        Outcome::Converted(out)
    } else {
        Outcome::Invalid(errors)
    }
}

/// What to do by hand with a TrustRoot whose keys are a TUF target.
fn by_hand(name: &str, what: &str, target: &str) -> String {
    format!(
        "its keys are the TUF target {target} of {what}, which only a TUF client can fetch and verify: get that trusted_root.json (policy-controller's TrustRoot status, or a TUF client on the same root), put it as \"trustedRoot\" in a ClientTrustConfig ({{\"mediaType\": \"{CLIENT_TRUST_CONFIG_MEDIA_TYPE}\", \"trustedRoot\": …}}) under the key {CONFIG_MAP_KEY} of a ConfigMap in the Kubewarden namespace, name that ConfigMap in the PolicyServer's spec.sigstoreTrustConfig, and declare it in the settings: hostSigstoreTrust: {{trustRoots: [\"{name}\"], fulcioUrls: [<its certificateAuthorities' uri>], rekorUrls: [<its tlogs' baseUrl>], publicGoodInstance: false}}"
    )
}

/// The `trustedRootTarget` of a `remote` or `repository` (`trusted_root.json` by default).
fn target(spec: &Value) -> String {
    spec.get("trustedRootTarget")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("trusted_root.json")
        .to_string()
}

impl TrustRoot {
    /// Reads a `kind: TrustRoot` document.
    pub fn read(map: &Mapping, origin: Origin) -> Self {
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let spec = map.get("spec").cloned().unwrap_or(Value::Null);
        let outcome = match serde_yaml::from_value::<Spec>(spec) {
            Err(e) => Outcome::Invalid(vec![format!("spec: {e}")]),
            // trustroot_validation.go TrustRootSpec.Validate L43-67: exactly one form.
            Ok(spec) => match (spec.remote, spec.repository, spec.sigstore_keys) {
                (Some(remote), None, None) => {
                    let mirror = remote
                        .get("mirror")
                        .and_then(Value::as_str)
                        .unwrap_or("<spec.remote.mirror>");
                    Outcome::ByHand(by_hand(
                        &name,
                        &format!("the TUF mirror {mirror} (spec.remote)"),
                        &target(&remote),
                    ))
                }
                (None, Some(repository), None) => Outcome::ByHand(by_hand(
                    &name,
                    "the serialized TUF repository in spec.repository.mirrorFS",
                    &target(&repository),
                )),
                (None, None, Some(keys)) => convert(&keys),
                (None, None, None) => Outcome::Invalid(vec![
                    "spec: expected one of remote, repository, sigstoreKeys".into(),
                ]),
                _ => Outcome::Invalid(vec![
                    "spec: expected only one of remote, repository, sigstoreKeys".into(),
                ]),
            },
        };
        let outcome = if name.is_empty() {
            Outcome::Invalid(vec!["metadata.name: missing".into()])
        } else {
            outcome
        };
        TrustRoot {
            origin,
            name,
            outcome,
        }
    }
}

/// What the TrustRoots of one migration give.
#[derive(Debug, Default)]
pub struct Plan {
    /// The trust ConfigMap, when some TrustRoot was converted.
    pub config_map: Option<Value>,
    /// `hostSigstoreTrust` for the settings, with it.
    pub declaration: Option<Value>,
    /// `note:` / `warning:` lines for stderr.
    pub messages: Vec<String>,
}

/// The ConfigMap and declaration for every convertible TrustRoot (the first of a name wins),
/// and a line for each.
///
/// # Errors
/// The trust configuration cannot be written as JSON (not expected).
pub fn plan(roots: &[TrustRoot]) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    let mut merged = Keys::default();
    let mut names: Vec<&str> = Vec::new();
    let mut seen = BTreeSet::new();
    for root in roots {
        let what = format!("TrustRoot {} ({})", root.name, root.origin);
        if !root.name.is_empty() && !seen.insert(root.name.as_str()) {
            plan.messages.push(format!(
                "warning: {what}: another TrustRoot has this name; only the first is converted"
            ));
            continue;
        }
        match &root.outcome {
            Outcome::Converted(keys) => {
                let mut line = format!(
                    "note: {what}: converted into ConfigMap {KUBEWARDEN_NAMESPACE}/{CONFIG_MAP_NAME} ({} certificate authorities, {} Rekor logs, {} CT logs) and declared in hostSigstoreTrust",
                    keys.certificate_authorities.len(),
                    keys.tlogs.len(),
                    keys.ctlogs.len()
                );
                if !keys.timestamp_authorities.is_empty() {
                    line.push_str(&format!(
                        "; its {} timestamp authorities are written too, but the host verifies no signed timestamp: a CIP with rfc3161timestamp is not carried over",
                        keys.timestamp_authorities.len()
                    ));
                }
                plan.messages.push(line);
                merged
                    .certificate_authorities
                    .extend(keys.certificate_authorities.iter().cloned());
                merged.tlogs.extend(keys.tlogs.iter().cloned());
                merged.ctlogs.extend(keys.ctlogs.iter().cloned());
                merged
                    .timestamp_authorities
                    .extend(keys.timestamp_authorities.iter().cloned());
                merged.fulcio_urls.extend(keys.fulcio_urls.iter().cloned());
                merged.rekor_urls.extend(keys.rekor_urls.iter().cloned());
                names.push(&root.name);
            }
            Outcome::ByHand(how) => plan.messages.push(format!(
                "warning: {what}: not converted: {how}; until then the CIPs naming it are not carried over"
            )),
            Outcome::Invalid(reasons) => plan.messages.push(format!(
                "warning: {what}: not converted: {}; the CIPs naming it are not carried over",
                reasons.join("; ")
            )),
        }
    }
    if names.is_empty() {
        return Ok(plan);
    }
    let client_trust_config = json!({
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": merged.tlogs,
            "certificateAuthorities": merged.certificate_authorities,
            "ctlogs": merged.ctlogs,
            "timestampAuthorities": merged.timestamp_authorities,
        },
    });
    let text = serde_json::to_string_pretty(&client_trust_config)? + "\n";
    let mut data = Mapping::new();
    data.insert(CONFIG_MAP_KEY.into(), text.into());
    let mut metadata = Mapping::new();
    metadata.insert("name".into(), CONFIG_MAP_NAME.into());
    metadata.insert("namespace".into(), KUBEWARDEN_NAMESPACE.into());
    let mut config_map = Mapping::new();
    config_map.insert("apiVersion".into(), "v1".into());
    config_map.insert("kind".into(), "ConfigMap".into());
    config_map.insert("metadata".into(), Value::Mapping(metadata));
    config_map.insert("data".into(), Value::Mapping(data));
    plan.config_map = Some(Value::Mapping(config_map));

    let dedup = |urls: Vec<String>| -> Value {
        let mut seen = BTreeSet::new();
        Value::Sequence(
            urls.into_iter()
                .filter(|u| seen.insert(u.clone()))
                .map(Value::String)
                .collect(),
        )
    };
    let mut declaration = Mapping::new();
    declaration.insert("publicGoodInstance".into(), false.into());
    declaration.insert("fulcioUrls".into(), dedup(merged.fulcio_urls));
    declaration.insert("rekorUrls".into(), dedup(merged.rekor_urls));
    declaration.insert(
        "trustRoots".into(),
        Value::Sequence(names.iter().map(|n| Value::String((*n).into())).collect()),
    );
    plan.declaration = Some(Value::Mapping(declaration));
    plan.messages.push(format!(
        "note: name ConfigMap {CONFIG_MAP_NAME} in the spec.sigstoreTrustConfig of the PolicyServer that runs this policy (the ConfigMap must be in the Kubewarden controller's namespace: change metadata.namespace if that is not {KUBEWARDEN_NAMESPACE}; kwctl: --sigstore-trust-config with the {CONFIG_MAP_KEY} JSON in a file). That host then trusts only these TrustRoots (hostSigstoreTrust.publicGoodInstance: false): a CIP relying on the public-good Sigstore is not carried over unless the public-good trusted_root.json is merged into trustedRoot and publicGoodInstance set to true"
    ));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "t.yaml".into(),
            document: 1,
            items: Vec::new(),
        }
    }

    fn read(yaml: &str) -> TrustRoot {
        let value: Value = serde_yaml::from_str(yaml).expect("yaml");
        TrustRoot::read(value.as_mapping().expect("mapping"), origin())
    }

    const REKOR_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr\nkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==\n-----END PUBLIC KEY-----\n";

    /// The public-good Rekor key gives the public-good Rekor's log ID, as Sigstore's own
    /// trusted_root.json has it (sigstore-rs `trust_root/prod/trusted_root.json`).
    #[test]
    fn a_rekor_key_gets_the_log_id_of_trusted_root_json() {
        let root = read(&format!(
            "metadata: {{name: r}}\nspec:\n  sigstoreKeys:\n    certificateAuthorities: []\n    timestampAuthorities: [{{subject: {{organization: o, commonName: c}}, uri: https://tsa, certChain: {}}}]\n    tLogs: [{{baseURL: https://rekor.sigstore.dev, hashAlgorithm: sha-256, publicKey: {}}}]\n",
            STANDARD.encode(
                "-----BEGIN CERTIFICATE-----\nMIIBlDCCATqgAwIBAgIUYZx9sS14En7SuHDOJJP4IPopMjUwCgYIKoZIzj0EAwIw\n-----END CERTIFICATE-----\n"
            ),
            STANDARD.encode(REKOR_PEM)
        ));
        let Outcome::Converted(keys) = root.outcome else {
            panic!("{:?}", root.outcome)
        };
        assert_eq!(
            keys.tlogs[0],
            json!({
                "baseUrl": "https://rekor.sigstore.dev",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==",
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "1970-01-01T00:00:00Z"},
                },
                "logId": {"keyId": "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="},
            })
        );
        assert_eq!(keys.rekor_urls, vec!["https://rekor.sigstore.dev"]);
        assert_eq!(keys.timestamp_authorities.len(), 1);
    }

    #[test]
    fn every_field_that_cannot_be_converted_is_named() {
        let root = read(
            "metadata: {name: r}\nspec:\n  sigstoreKeys:\n    certificateAuthorities:\n    - {subject: {organization: o}, uri: https://f, certChain: FULCIO_CERT_CHAIN}\n    tLogs:\n    - {baseURL: REKOR_URL, publicKey: ''}\n",
        );
        assert_eq!(
            root.outcome,
            Outcome::Invalid(vec![
                "spec.sigstoreKeys.certificateAuthorities[0].subject.commonName: missing".into(),
                "spec.sigstoreKeys.certificateAuthorities[0].certChain: not base64 (Invalid symbol 95, offset 6.); the manifest holds base64 of PEM text".into(),
                "spec.sigstoreKeys.tLogs[0].baseURL: \"REKOR_URL\" is not an http(s) URL, which hostSigstoreTrust needs".into(),
                "spec.sigstoreKeys.tLogs[0].hashAlgorithm: missing".into(),
                "spec.sigstoreKeys.tLogs[0].publicKey: missing".into(),
            ])
        );
        let root = read("metadata: {name: r}\nspec: {}\n");
        assert_eq!(
            root.outcome,
            Outcome::Invalid(vec![
                "spec: expected one of remote, repository, sigstoreKeys".into()
            ])
        );
        let root = read("spec: {remote: {mirror: https://m, root: x}}\n");
        assert_eq!(
            root.outcome,
            Outcome::Invalid(vec!["metadata.name: missing".into()])
        );
        let root = read("metadata: {name: r}\nspec: {sigstoreKeys: {tlogs: []}}\n");
        let Outcome::Invalid(reasons) = root.outcome else {
            panic!()
        };
        assert!(
            reasons[0].starts_with("spec: unknown field `tlogs`"),
            "{reasons:?}"
        );
    }

    #[test]
    fn tuf_trust_roots_are_left_for_by_hand_with_the_way() {
        let root = read(
            "metadata: {name: my-remote}\nspec: {remote: {mirror: 'https://tuf.example.com', root: e30=, trustedRootTarget: custom.json}}\n",
        );
        let Outcome::ByHand(how) = &root.outcome else {
            panic!("{:?}", root.outcome)
        };
        assert!(
            how.starts_with("its keys are the TUF target custom.json of the TUF mirror https://tuf.example.com (spec.remote)"),
            "{how}"
        );
        assert!(
            how.contains("hostSigstoreTrust: {trustRoots: [\"my-remote\"]"),
            "{how}"
        );
        let plan = plan(&[root]).expect("plan");
        assert!(plan.config_map.is_none() && plan.declaration.is_none());
        assert_eq!(plan.messages.len(), 1);
        assert!(plan.messages[0].starts_with("warning: TrustRoot my-remote (t.yaml, document 1): not converted: its keys are the TUF target custom.json"));
    }
}
