//! The ClusterImagePolicy (CIP) model, field for field as upstream serialises it.
//!
//! Source: `sigstore/policy-controller` `pkg/apis/policy/v1beta1/clusterimagepolicy_types.go`
//! (v1alpha1 is identical). JSON names follow upstream exactly, including its irregular ones
//! (`keyless.ca-cert`, `insecureIgnoreSCT`, `source` as a list, `rfc3161timestamp`).
//!
//! Every struct of the spec refuses unknown fields: a typo in a CIP is a settings error, never
//! a field silently ignored. Every struct is decoded only from a JSON object ([`crate::strict`]):
//! serde alone would take `static: [pass]` for `static: {action: pass}`. `metadata` accepts anything a `kubectl get -o yaml` prints (it is
//! not policy), and `status` is accepted and ignored for the same reason.
//!
//! Defaults are applied by [`ClusterImagePolicy::apply_defaults`] as upstream's `SetDefaults`
//! does (`clusterimagepolicy_defaults.go` L29-41): mode `enforce`, authority names
//! `authority-<index>`, keyless `url` `https://fulcio.sigstore.dev`.

pub mod host_limits;
pub mod validation;

use crate::strict::{object, objects, optional_object, optional_objects};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};

/// `apiVersion`s accepted for a CIP (upstream serves both; the schemas are identical).
pub const API_VERSIONS: [&str; 2] = [
    "policy.sigstore.dev/v1beta1",
    "policy.sigstore.dev/v1alpha1",
];

/// One ClusterImagePolicy manifest, as users apply it upstream.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterImagePolicy {
    /// `policy.sigstore.dev/v1beta1` or `policy.sigstore.dev/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// Must be `ClusterImagePolicy`.
    #[serde(default)]
    pub kind: String,
    /// Only `name` is used; every other metadata field is accepted and ignored.
    #[serde(default, deserialize_with = "object")]
    pub metadata: Metadata,
    /// The policy itself.
    #[serde(default, deserialize_with = "object")]
    pub spec: Spec,
    /// Printed by `kubectl get -o yaml`; never used.
    #[serde(default, skip_serializing)]
    pub status: Option<serde_json::Value>,
}

/// `metadata` of a CIP: the name identifies the policy in every message.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Metadata {
    /// `metadata.name`; required and unique within the settings.
    #[serde(default)]
    pub name: Option<String>,
}

/// `spec` of a CIP (`ClusterImagePolicySpec`, types.go L80-95).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Image globs; the CIP applies to an image when any glob matches.
    #[serde(default, deserialize_with = "objects")]
    pub images: Vec<ImagePattern>,
    /// Authorities; any one passing is enough.
    #[serde(default, deserialize_with = "objects")]
    pub authorities: Vec<Authority>,
    /// `enforce` (default) or `warn`.
    #[serde(default)]
    pub mode: Option<String>,
    /// CIP-level CUE/Rego policy run over the successful authorities.
    #[serde(default, deserialize_with = "optional_object")]
    pub policy: Option<Policy>,
    /// Resource and label selectors restricting what the CIP applies to.
    #[serde(default, rename = "match", deserialize_with = "objects")]
    pub match_: Vec<MatchResource>,
}

/// `images[]` (types.go L105-108).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImagePattern {
    /// The glob; see [`crate::glob`].
    #[serde(default)]
    pub glob: String,
}

/// `authorities[]` (types.go L113-145).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authority {
    /// Defaults to `authority-<index>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Public-key verification.
    #[serde(default, deserialize_with = "optional_object")]
    pub key: Option<KeyRef>,
    /// Keyless (Fulcio certificate) verification.
    #[serde(default, deserialize_with = "optional_object")]
    pub keyless: Option<KeylessRef>,
    /// Static pass or fail.
    #[serde(default, rename = "static", deserialize_with = "optional_object")]
    pub static_: Option<StaticRef>,
    /// Signature repository override (`source`, a list of at most one).
    #[serde(default, deserialize_with = "optional_objects")]
    pub source: Option<Vec<Source>>,
    /// Transparency-log settings.
    #[serde(default, deserialize_with = "optional_object")]
    pub ctlog: Option<TLog>,
    /// Timestamp-authority settings.
    #[serde(default, deserialize_with = "optional_object")]
    pub rfc3161timestamp: Option<Rfc3161Timestamp>,
    /// In-toto attestations to verify instead of signatures.
    #[serde(default, deserialize_with = "optional_objects")]
    pub attestations: Option<Vec<Attestation>>,
    /// `bundle` selects cosign's new bundle format; anything else is the legacy format.
    #[serde(default)]
    pub signature_format: Option<String>,
}

/// `key` (types.go L155-170).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRef {
    /// One or more PEM public keys.
    #[serde(default)]
    pub data: Option<String>,
    /// A Secret holding exactly one PEM public key.
    #[serde(default, deserialize_with = "optional_object")]
    pub secret_ref: Option<SecretRef>,
    /// A KMS key URI.
    #[serde(default)]
    pub kms: Option<String>,
    /// sha224, sha256 (default), sha384 or sha512.
    #[serde(default)]
    pub hash_algorithm: Option<String>,
}

/// `key.secretRef` (a core `SecretReference`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name.
    #[serde(default)]
    pub name: Option<String>,
    /// Secret namespace; `policyControllerNamespace` when absent
    /// ([`ClusterImagePolicy::apply_namespace_default`]).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `keyless` (types.go L210-226).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessRef {
    /// Fulcio URL. Upstream only checks that it is set (`validator.go` L849); here it must be
    /// the public-good Fulcio or declared in `hostSigstoreTrust` ([`crate::trust`]).
    #[serde(default)]
    pub url: Option<String>,
    /// Accepted identities; any one matching is enough.
    #[serde(default, deserialize_with = "objects")]
    pub identities: Vec<Identity>,
    /// A CA certificate (JSON key `ca-cert`); never used for verification upstream, refused
    /// here ([`host_limits::CA_CERT`]).
    #[serde(default, rename = "ca-cert", deserialize_with = "optional_object")]
    pub ca_cert: Option<KeyRef>,
    /// Name of a TrustRoot resource.
    #[serde(default)]
    pub trust_root_ref: Option<String>,
    /// Skip SCT verification: what the host always does ([`host_limits`]).
    #[serde(default, rename = "insecureIgnoreSCT")]
    pub insecure_ignore_sct: Option<bool>,
}

/// `keyless.identities[]` (types.go L323-336).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// Exact OIDC issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Exact certificate subject (SAN).
    #[serde(default)]
    pub subject: Option<String>,
    /// RE2 expression over the issuer, unanchored.
    #[serde(default)]
    pub issuer_reg_exp: Option<String>,
    /// RE2 expression over the subject, unanchored.
    #[serde(default)]
    pub subject_reg_exp: Option<String>,
}

/// `static` (types.go L173-178).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticRef {
    /// `pass` or `fail`.
    #[serde(default)]
    pub action: String,
    /// Appended to `disallowed by static policy: ` on `fail`.
    #[serde(default)]
    pub message: Option<String>,
}

/// `source[]` (types.go L180-195).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Repository holding the signatures.
    #[serde(default)]
    pub oci: Option<String>,
    /// Pull secrets in the workload's namespace.
    #[serde(default, deserialize_with = "objects")]
    pub signature_pull_secrets: Vec<NamedRef>,
    /// Signature tag prefix.
    #[serde(default)]
    pub tag_prefix: Option<String>,
}

/// A `{name}` reference.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedRef {
    /// The name.
    #[serde(default)]
    pub name: String,
}

/// `ctlog` (types.go L199-206).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TLog {
    /// Rekor URL.
    #[serde(default)]
    pub url: Option<String>,
    /// TrustRoot name.
    #[serde(default)]
    pub trust_root_ref: Option<String>,
}

/// `rfc3161timestamp` (types.go L340-344).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rfc3161Timestamp {
    /// TrustRoot name.
    #[serde(default)]
    pub trust_root_ref: Option<String>,
}

/// `attestations[]` (types.go L232-242).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attestation {
    /// Attestation name.
    #[serde(default)]
    pub name: String,
    /// In-toto predicate type (URI or upstream short name).
    #[serde(default)]
    pub predicate_type: String,
    /// Policy over the attestation.
    #[serde(default, deserialize_with = "optional_object")]
    pub policy: Option<Policy>,
}

/// `policy` (types.go L255-321), at CIP level or in an attestation.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// `cue` or `rego`.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// Inline policy text.
    #[serde(default)]
    pub data: Option<String>,
    /// Policy fetched from a URL.
    #[serde(default, deserialize_with = "optional_object")]
    pub remote: Option<RemotePolicy>,
    /// Policy read from a ConfigMap.
    #[serde(default, deserialize_with = "optional_object")]
    pub config_map_ref: Option<ConfigMapReference>,
    /// Put the image configuration (per platform) into `input.config`.
    #[serde(default)]
    pub fetch_config_file: Option<bool>,
    /// Put the resource's `spec` into `input.spec`.
    #[serde(default)]
    pub include_spec: Option<bool>,
    /// Put the resource's `metadata` into `input.metadata`.
    #[serde(default)]
    pub include_object_meta: Option<bool>,
    /// Put `{kind, apiVersion}` into `input.typemeta`.
    #[serde(default)]
    pub include_type_meta: Option<bool>,
}

/// `policy.remote`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemotePolicy {
    /// https URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Expected sha256 of the body.
    #[serde(default)]
    pub sha256sum: Option<String>,
}

/// `policy.configMapRef`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapReference {
    /// ConfigMap name.
    #[serde(default)]
    pub name: Option<String>,
    /// ConfigMap namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Key holding the policy.
    #[serde(default)]
    pub key: Option<String>,
}

/// `match[]` (types.go L298-303): a group/version/resource plus an optional label selector.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatchResource {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// API version or `*`.
    #[serde(default)]
    pub version: String,
    /// Lowercase plural resource name (`pods`, `deployments`, ...).
    #[serde(default)]
    pub resource: String,
    /// Label selector over the object's own labels.
    #[serde(default, deserialize_with = "optional_object")]
    pub selector: Option<LabelSelector>,
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Failures deny the request.
    Enforce,
    /// Failures become warnings on an admitted request.
    Warn,
}

impl ClusterImagePolicy {
    /// The CIP's name, or `""` when missing (settings validation rejects that).
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// Applies upstream's defaults (`SetDefaults`, `clusterimagepolicy_defaults.go` L29-41).
    pub fn apply_defaults(&mut self) {
        if self.spec.mode.as_deref().unwrap_or("").is_empty() {
            self.spec.mode = Some("enforce".to_string());
        }
        for (i, authority) in self.spec.authorities.iter_mut().enumerate() {
            if authority.name.as_deref().unwrap_or("").is_empty() {
                authority.name = Some(format!("authority-{i}"));
            }
            if authority.key.is_none()
                && authority.static_.is_none()
                && let Some(keyless) = authority.keyless.as_mut()
                && keyless.url.is_none()
                && keyless.ca_cert.is_none()
            {
                keyless.url = Some("https://fulcio.sigstore.dev".to_string());
            }
        }
    }

    /// Gives every `key.secretRef` and `policy.configMapRef` that names no namespace (absent or
    /// empty) `namespace`: policy-controller reads both from its own namespace, whatever they
    /// say (`pkg/reconciler/clusterimagepolicy/clusterimagepolicy.go` L242 and L342,
    /// `system.Namespace()`, the webhook's `SYSTEM_NAMESPACE`: `cosign-system` in its
    /// `config/webhook.yaml` L64-67 and `config/100-namespace.yaml`). A reference that names
    /// its namespace keeps it.
    pub fn apply_namespace_default(&mut self, namespace: &str) {
        let fill = |slot: &mut Option<String>| {
            if slot.as_deref().unwrap_or("").is_empty() {
                *slot = Some(namespace.to_string());
            }
        };
        for authority in &mut self.spec.authorities {
            if let Some(secret) = authority.key.as_mut().and_then(|k| k.secret_ref.as_mut()) {
                fill(&mut secret.namespace);
            }
        }
        if let Some(cm) = self
            .spec
            .policy
            .as_mut()
            .and_then(|p| p.config_map_ref.as_mut())
        {
            fill(&mut cm.namespace);
        }
    }

    /// The mode after defaulting: anything but `warn` enforces (validation rejects other values).
    pub fn mode(&self) -> Mode {
        match self.spec.mode.as_deref() {
            Some("warn") => Mode::Warn,
            _ => Mode::Enforce,
        }
    }
}

impl Authority {
    /// The authority's name after defaulting.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}
