//! The policy's settings: ClusterImagePolicy manifests plus policy-controller's global options.
//!
//! ```yaml
//! noMatchPolicy: deny            # deny (default) | warn | allow
//! policies:                      # ClusterImagePolicy manifests, exactly as applied upstream
//!   - apiVersion: policy.sigstore.dev/v1beta1
//!     kind: ClusterImagePolicy
//!     metadata: {name: chainguard-image-policy}
//!     spec: {images: [{glob: "cgr.dev/chainguard/**"}], authorities: [{static: {action: pass}}]}
//! regoTimeoutMilliseconds: 1000  # wall-clock budget of one Rego or CUE evaluation
//! requestBudgetMilliseconds: 800 # wall-clock budget of the whole request (crate::budget)
//! hostPolicyTimeoutSeconds: 2    # policy-server's timeout for the policy, as declared (crate::budget)
//! modifyImagesWithDigest: true   # pin admitted tag-only images to their verified digest
//! policyControllerNamespace: cosign-system  # where a secretRef/configMapRef without one is read
//! hostSigstoreTrust: {}          # what the host's Sigstore trust configuration holds (crate::trust)
//! ```
//!
//! `noMatchPolicy` mirrors the `no-match-policy` key of upstream's `config-policy-controller`
//! ConfigMap (`pkg/config/store.go` L66-76), except that an unknown value is a settings error
//! here (upstream silently treats it as `deny`).

pub mod decode;

use crate::budget;
use crate::cip::ClusterImagePolicy;
use crate::cip::validation::{self, FieldError};
use crate::cue;
use crate::rego;
use crate::trust::{self, HostSigstoreTrust};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};

/// What happens to an image that no CIP matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NoMatchPolicy {
    /// Reject with `no matching policies` (upstream's default).
    #[default]
    Deny,
    /// Admit with a `no matching policies` warning.
    Warn,
    /// Admit silently.
    Allow,
}

impl NoMatchPolicy {
    /// The values, as written in the settings (policy-controller's, case-sensitive).
    pub const VALUES: [&'static str; 3] = ["deny", "warn", "allow"];
}

/// A string among [`NoMatchPolicy::VALUES`]. Anything else is an error that lists them:
/// `unknown variant \`Deny\`, expected one of \`deny\`, \`warn\`, \`allow\`` for another string,
/// `invalid type: boolean \`true\`, expected one of \`deny\`, \`warn\`, \`allow\`` for another type
/// (a derived enum would say `expected enum NoMatchPolicy`).
impl<'de> Deserialize<'de> for NoMatchPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Values;
        impl serde::de::Visitor<'_> for Values {
            type Value = NoMatchPolicy;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one of `deny`, `warn`, `allow`")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<NoMatchPolicy, E> {
                match value {
                    "deny" => Ok(NoMatchPolicy::Deny),
                    "warn" => Ok(NoMatchPolicy::Warn),
                    "allow" => Ok(NoMatchPolicy::Allow),
                    other => Err(E::unknown_variant(other, &NoMatchPolicy::VALUES)),
                }
            }
        }
        deserializer.deserialize_str(Values)
    }
}

/// Default Rego time budget, in milliseconds.
pub const DEFAULT_REGO_TIMEOUT_MS: u64 = 1000;

fn default_rego_timeout() -> u64 {
    DEFAULT_REGO_TIMEOUT_MS
}

/// policy-controller's own namespace in its release manifests (`config/100-namespace.yaml`),
/// where it reads every `key.secretRef` and `policy.configMapRef`.
pub const DEFAULT_POLICY_CONTROLLER_NAMESPACE: &str = "cosign-system";

fn default_policy_controller_namespace() -> String {
    DEFAULT_POLICY_CONTROLLER_NAMESPACE.to_string()
}

/// The decoded settings document.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// See [`NoMatchPolicy`].
    #[serde(default)]
    pub no_match_policy: NoMatchPolicy,
    /// The ClusterImagePolicies, in the order their host calls are made.
    #[serde(default, deserialize_with = "crate::strict::objects")]
    pub policies: Vec<ClusterImagePolicy>,
    /// Wall-clock budget of one Rego or CUE evaluation, in milliseconds (1 to 60000).
    #[serde(default = "default_rego_timeout")]
    pub rego_timeout_milliseconds: u64,
    /// Pin admitted tag-only images to the digest the host verified (or resolved).
    #[serde(default = "default_true")]
    pub modify_images_with_digest: bool,
    /// The namespace a `key.secretRef` or `policy.configMapRef` without one is read from
    /// (policy-controller's own, [`ClusterImagePolicy::apply_namespace_default`]); a DNS label.
    #[serde(default = "default_policy_controller_namespace")]
    pub policy_controller_namespace: String,
    /// What the host's Sigstore trust configuration holds, as declared ([`crate::trust`]).
    #[serde(default, deserialize_with = "crate::strict::object")]
    pub host_sigstore_trust: HostSigstoreTrust,
    /// Wall-clock budget of the whole admission request, host calls included, in milliseconds
    /// (1 to 600000, and below what [`Settings::host_policy_timeout_seconds`] guarantees:
    /// [`budget::validate`]); every evaluation gets at most what is left of it
    /// ([`budget::RequestBudget`]).
    #[serde(default = "default_request_budget")]
    pub request_budget_milliseconds: u64,
    /// policy-server's timeout for this policy, in seconds: the ClusterAdmissionPolicy's
    /// `timeoutEvalSeconds`, else the PolicyServer's `--policy-timeout` /
    /// `KUBEWARDEN_POLICY_TIMEOUT` (1 to 86400; policy-server's default, 2, when absent), as
    /// declared by the user: the module cannot read it.
    #[serde(default = "default_host_policy_timeout")]
    pub host_policy_timeout_seconds: u64,
}

fn default_request_budget() -> u64 {
    budget::DEFAULT_REQUEST_BUDGET_MS
}

fn default_host_policy_timeout() -> u64 {
    budget::DEFAULT_HOST_POLICY_TIMEOUT_SECONDS
}

fn default_true() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            no_match_policy: NoMatchPolicy::Deny,
            policies: Vec::new(),
            rego_timeout_milliseconds: DEFAULT_REGO_TIMEOUT_MS,
            modify_images_with_digest: true,
            policy_controller_namespace: default_policy_controller_namespace(),
            host_sigstore_trust: HostSigstoreTrust::default(),
            request_budget_milliseconds: budget::DEFAULT_REQUEST_BUDGET_MS,
            host_policy_timeout_seconds: budget::DEFAULT_HOST_POLICY_TIMEOUT_SECONDS,
        }
    }
}

impl Settings {
    /// Decodes settings JSON and applies upstream's CIP defaults.
    ///
    /// Errors: every decode error, one per line, each naming its path
    /// (`policies[0].spec.images[0].regex: unknown field \`regex\`, expected \`glob\``), or one
    /// message for a manifest given in place of the settings (see [`decode::undecodable`]).
    /// `null` or an empty document means default settings.
    pub fn from_json(bytes: &[u8]) -> Result<Settings, String> {
        Self::decode(bytes).map_err(|u| u.errors.join("\n"))
    }

    /// [`Settings::from_json`], with what did decode kept on error.
    fn decode(bytes: &[u8]) -> Result<Settings, decode::Undecodable> {
        let trimmed = bytes.trim_ascii();
        if trimmed.is_empty() || trimmed == b"null" {
            return Ok(Settings::default());
        }
        if trimmed.first() != Some(&b'{') {
            return Err(decode::Undecodable {
                errors: vec!["settings must be a mapping (a YAML/JSON object)".to_string()],
                rest: None,
            });
        }
        // The plain decoder first: tracking the path costs about half again as much, and is
        // only needed for the messages of a document that does not decode.
        match serde_json::from_slice::<Settings>(bytes) {
            Ok(settings) => Ok(settings.with_defaults()),
            Err(_) => Err(decode::undecodable(bytes)),
        }
    }

    /// The settings as decoded by serde, with every CIP's defaults applied
    /// ([`ClusterImagePolicy::apply_defaults`], [`ClusterImagePolicy::apply_namespace_default`]):
    /// what [`Settings::from_json`] returns for a document serde decodes.
    pub fn with_defaults(mut self) -> Settings {
        for cip in &mut self.policies {
            cip.apply_defaults();
            cip.apply_namespace_default(&self.policy_controller_namespace);
        }
        self
    }

    /// Full settings validation: every CIP rule, unsupported features, duplicate names, Rego
    /// and CUE parsing. Returns every error, each prefixed `policies[i] (name): `.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        self.validate_except(&BTreeSet::new())
    }

    /// [`Settings::validate`] without the CIPs at the positions in `skip` (those that did not
    /// decode: their errors are the decode errors).
    fn validate_except(&self, skip: &BTreeSet<usize>) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if !(1..=60_000).contains(&self.rego_timeout_milliseconds) {
            errors.push(format!(
                "invalid value: {}: regoTimeoutMilliseconds\nexpected 1 to 60000",
                self.rego_timeout_milliseconds
            ));
        }
        errors.extend(budget::validate(
            self.request_budget_milliseconds,
            self.host_policy_timeout_seconds,
        ));
        if !is_dns_label(&self.policy_controller_namespace) {
            errors.push(format!(
                "invalid value: {}: policyControllerNamespace\nexpected a namespace name (lower case letters, digits and '-', at most 63)",
                self.policy_controller_namespace
            ));
        }
        errors.extend(
            self.host_sigstore_trust
                .validate()
                .iter()
                .map(|e| e.to_string()),
        );
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        // Each distinct Rego text is parsed, checked and prepared once (CIPs often share one
        // policy; settings-50 has 20 Rego CIPs and 3 texts), and its verdict given to every CIP
        // that holds it.
        let mut rego_verdicts: BTreeMap<&str, Result<(), String>> = BTreeMap::new();
        let mut keys = validation::TextChecks::default();
        let mut cue_verdicts: BTreeMap<&str, Result<(), String>> = BTreeMap::new();
        for (i, cip) in self.policies.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            let mut errs: Vec<FieldError> = validation::validate_cip(cip, &mut keys);
            errs.extend(validation::unsupported_features(cip));
            errs.extend(trust::undeclared(cip, &self.host_sigstore_trust));
            if !cip.name().is_empty()
                && let Some(first) = seen.insert(cip.name(), i)
            {
                errs.push(FieldError {
                    message: format!("invalid value: {}", cip.name()),
                    paths: vec!["metadata.name".into()],
                    details: Some(format!(
                        "duplicate name: policies[{first}] has the same name"
                    )),
                });
            }
            if let Some(policy) = &cip.spec.policy
                && policy.type_ == "rego"
                && let Some(data) = &policy.data
                && let Err(e) = rego_verdicts.entry(data).or_insert_with(|| {
                    rego::RegoPolicy::validate(data, self.rego_timeout_milliseconds)
                })
            {
                errs.push(FieldError {
                    message: "invalid rego policy".into(),
                    paths: vec!["spec.policy.data".into()],
                    details: Some(e.clone()),
                });
            }
            // A CUE text is parsed and checked once too (issue 15): a syntax error or a
            // construct outside the subset, with its line and column.
            if let Some(policy) = &cip.spec.policy
                && policy.type_ == "cue"
                && let Some(data) = &policy.data
                && let Err(e) = cue_verdicts.entry(data).or_insert_with(|| {
                    cue::CuePolicy::compile(data, self.rego_timeout_milliseconds).map(|_| ())
                })
            {
                errs.push(FieldError {
                    message: "invalid cue policy".into(),
                    paths: vec!["spec.policy.data".into()],
                    details: Some(e.clone()),
                });
            }
            if !errs.is_empty() {
                let prefix = format!("policies[{i}] ({})", cip.name());
                errors.extend(errs.into_iter().map(|e| format!("{prefix}: {e}")));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A Kubernetes namespace name (RFC 1123 label).
fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The `validate_settings` entry point's logic: `Ok(())` or the message to report, one error
/// per line. A document that does not decode gets its decode errors and, after them, the
/// errors of the other checks on what did decode (the CIPs without decode errors, the
/// top-level fields that decoded).
pub fn validate_settings_payload(payload: &[u8]) -> Result<(), String> {
    let (errors, rest) = match Settings::decode(payload) {
        Ok(settings) => (Vec::new(), Some(Box::new((settings, BTreeSet::new())))),
        Err(undecodable) => (undecodable.errors, undecodable.rest),
    };
    let mut errors = errors;
    if let Some(rest) = rest {
        let (mut settings, skip) = *rest;
        let namespace = settings.policy_controller_namespace.clone();
        for cip in &mut settings.policies {
            cip.apply_defaults();
            cip.apply_namespace_default(&namespace);
        }
        if let Err(more) = settings.validate_except(&skip) {
            errors.extend(more);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let s = Settings::from_json(b"{}").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(Settings::from_json(b"null").unwrap(), Settings::default());
        assert_eq!(Settings::from_json(b"").unwrap(), Settings::default());
        let s = Settings::from_json(br#"{"noMatchPolicy":"warn","policies":[{"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"a"},"spec":{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}]}}]}"#).unwrap();
        assert_eq!(s.no_match_policy, NoMatchPolicy::Warn);
        assert_eq!(s.policies[0].spec.mode.as_deref(), Some("enforce"));
        assert_eq!(s.policies[0].spec.authorities[0].name(), "authority-0");
        assert_eq!(s.validate(), Ok(()));
    }

    /// `strict::objects`: one authority and one glob take room for one, not four (heap touched per
    /// request); longer lists and errors as serde's own `Vec`.
    #[test]
    fn lists_reserve_what_they_hold() {
        let s = Settings::from_json(
            br#"{"policies":[{"metadata":{"name":"a"},"spec":{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}]}},
                             {"metadata":{"name":"b"},"spec":{"images":[{"glob":"a/**"},{"glob":"b/**"},{"glob":"c/**"}],"authorities":[]}}]}"#,
        )
        .unwrap();
        let (a, b) = (&s.policies[0].spec, &s.policies[1].spec);
        assert_eq!((a.images.capacity(), a.authorities.capacity()), (1, 1));
        assert_eq!(b.images.len(), 3);
        assert_eq!(b.images[2].glob, "c/**");
        assert!(b.authorities.is_empty());
        let e =
            Settings::from_json(br#"{"policies":[{"spec":{"authorities":null}}]}"#).unwrap_err();
        assert_eq!(
            e,
            "policies[0].spec.authorities: invalid type: null, expected a sequence"
        );
        let e = Settings::from_json(br#"{"policies":[{"spec":{"match":{"resource":"pods"}}}]}"#)
            .unwrap_err();
        assert_eq!(
            e,
            "policies[0].spec.match: invalid type: map, expected a sequence"
        );
    }

    #[test]
    fn decode_errors_name_the_path() {
        let e = Settings::from_json(br#"{"noMatchPolicy":"maybe"}"#).unwrap_err();
        assert_eq!(
            e,
            "noMatchPolicy: unknown variant `maybe`, expected one of `deny`, `warn`, `allow`"
        );
        let e = Settings::from_json(br#"{"policies":[{"spec":{"images":[{"regex":"x"}]}}]}"#)
            .unwrap_err();
        assert_eq!(
            e,
            "policies[0].spec.images[0].regex: unknown field `regex`, expected `glob`"
        );
        let e = Settings::from_json(br#"{"polices":[]}"#).unwrap_err();
        assert!(e.starts_with("polices: unknown field `polices`"), "{e}");
        let e = Settings::from_json(b"[1]").unwrap_err();
        assert_eq!(e, "settings must be a mapping (a YAML/JSON object)");
    }

    /// Decode errors and the other checks' errors of what did decode, in one message; a CIP
    /// with decode errors gets no other error (its fields were taken out).
    #[test]
    fn decode_errors_come_with_the_other_errors() {
        let e = validate_settings_payload(br#"{"noMatchPolicy":true,"regoTimeoutMilliseconds":0,"policies":[
            {"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"a"},"spec":{"images":"**","authorities":[]}},
            {"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"b"},"spec":{"images":[{"glob":"**"}],"mode":"garbage","authorities":[{"static":{"action":"pass"}}]}},
            {"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"b"},"spec":{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}]}}
        ]}"#).unwrap_err();
        assert_eq!(
            e,
            "noMatchPolicy: invalid type: boolean `true`, expected one of `deny`, `warn`, `allow`\n\
             policies[0].spec.images: invalid type: string \"**\", expected a sequence\n\
             invalid value: 0: regoTimeoutMilliseconds\nexpected 1 to 60000\n\
             policies[1] (b): invalid value: garbage: spec.mode\nunsupported mode\n\
             policies[2] (b): invalid value: b: metadata.name\nduplicate name: policies[1] has the same name"
        );
        // The admission path reports the decode errors.
        assert_eq!(
            Settings::from_json(br#"{"noMatchPolicy":1,"modifyImagesWithDigest":"no"}"#)
                .unwrap_err(),
            "modifyImagesWithDigest: invalid type: string \"no\", expected a boolean\n\
             noMatchPolicy: invalid type: integer `1`, expected one of `deny`, `warn`, `allow`"
        );
    }

    #[test]
    fn all_errors_are_reported_with_prefix() {
        let s = Settings::from_json(br#"{"policies":[
            {"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"a"},"spec":{"images":[],"authorities":[{"static":{"action":"pass"}}]}},
            {"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"a"},"spec":{"images":[{"glob":"**"}],"mode":"garbage","authorities":[{"static":{"action":"pass"}}],
             "policy":{"type":"rego","data":"package sigstore\nisCompliant {"}}}
        ]}"#).unwrap();
        let errs = s.validate().unwrap_err();
        assert_eq!(errs[0], "policies[0] (a): missing field(s): spec.images");
        assert_eq!(
            errs[1],
            "policies[1] (a): invalid value: garbage: spec.mode\nunsupported mode"
        );
        assert_eq!(
            errs[2],
            "policies[1] (a): invalid value: a: metadata.name\nduplicate name: policies[0] has the same name"
        );
        assert!(
            errs[3].starts_with("policies[1] (a): invalid rego policy: spec.policy.data\n"),
            "{}",
            errs[3]
        );
        assert_eq!(errs.len(), 4);
    }

    /// A Rego text held by several CIPs is validated once; every CIP holding a bad one gets
    /// its own error, and a good text does not hide a bad one.
    #[test]
    fn a_shared_rego_text_is_reported_for_every_cip() {
        let cip = |name: &str, rego: &str| {
            serde_json::json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": name}, "spec": {"images": [{"glob": "**"}],
                "authorities": [{"static": {"action": "pass"}}], "policy": {"type": "rego", "data": rego}}})
        };
        let unsafe_var = "package sigstore\nisCompliant { x > 1 }\n";
        let good = "package sigstore\nisCompliant = true\n";
        let settings = serde_json::json!({"policies": [
            cip("a", unsafe_var), cip("b", good), cip("c", unsafe_var), cip("d", good)]});
        let s = Settings::from_json(settings.to_string().as_bytes()).unwrap();
        let errs = s.validate().unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        let detail = errs[0]
            .strip_prefix("policies[0] (a): invalid rego policy: spec.policy.data\n")
            .unwrap();
        assert!(
            detail.contains("use of undefined variable `x` is unsafe"),
            "{detail}"
        );
        assert_eq!(
            errs[1],
            format!("policies[2] (c): invalid rego policy: spec.policy.data\n{detail}")
        );
    }

    /// Each distinct key text and identity regexp is checked once per settings document
    /// (`TextChecks`); a refused one is still reported for every authority holding it, in its
    /// own path, and the valid key beside it passes.
    #[test]
    fn a_shared_key_or_regexp_is_reported_for_every_authority() {
        let cip = |name: &str, keys: &[&str]| {
            let authorities: Vec<_> = keys
                .iter()
                .map(|k| serde_json::json!({"key": {"data": k}}))
                .collect();
            serde_json::json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": name}, "spec": {"images": [{"glob": "**"}],
                "authorities": authorities}})
        };
        let good = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFB2vRB56GkNlssONMXhgnaP6ukgc\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
        let keyless = |name: &str| {
            serde_json::json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": name}, "spec": {"images": [{"glob": "**"}],
                "authorities": [{"keyless": {"url": "https://fulcio.sigstore.dev",
                    "identities": [{"issuerRegExp": "****", "subject": "s"}]}}]}})
        };
        let settings = serde_json::json!({"policies": [
            cip("a", &["notakey", good]), cip("b", &[good]), keyless("k1"),
            cip("c", &[good, "notakey"]), keyless("k2")]});
        let s = Settings::from_json(settings.to_string().as_bytes()).unwrap();
        let errs = s.validate().unwrap_err();
        let why = "not PEM: a public key in PEM format starts with a \"-----BEGIN PUBLIC KEY-----\" line (the contents of cosign.pub)";
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert_eq!(
            errs[0],
            format!("policies[0] (a): invalid value: notakey: spec.authorities[0].key.data\n{why}")
        );
        assert_eq!(
            errs[2],
            format!("policies[3] (c): invalid value: notakey: spec.authorities[1].key.data\n{why}")
        );
        let regexp = errs[1]
            .strip_prefix("policies[2] (k1): invalid value: ****: spec.authorities[0].keyless.identities[0].issuerRegExp\nregex is invalid: ")
            .unwrap();
        assert_eq!(
            errs[3],
            format!(
                "policies[4] (k2): invalid value: ****: spec.authorities[0].keyless.identities[0].issuerRegExp\nregex is invalid: {regexp}"
            )
        );
    }

    /// Issue 15: a CUE policy is compiled at settings time; a syntax error or a construct
    /// outside the subset names its line and column, and a good policy is accepted.
    #[test]
    fn cue_policies_are_compiled_with_line_and_column() {
        let cip = |name: &str, cue: &str| {
            serde_json::json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": name}, "spec": {"images": [{"glob": "**"}],
                "authorities": [{"static": {"action": "pass"}}], "policy": {"type": "cue", "data": cue}}})
        };
        let settings = serde_json::json!({"policies": [
            cip("good", "typemeta: kind: \"Pod\"\n"),
            cip("syntax", "spec: {\n  serviceAccount: \"default\"\n"),
            cip("definition", "#Pod: {kind: \"Pod\"}\ntypemeta: #Pod\n")]});
        let s = Settings::from_json(settings.to_string().as_bytes()).unwrap();
        assert_eq!(
            s.validate().unwrap_err(),
            vec![
                "policies[1] (syntax): invalid cue policy: spec.policy.data\n3:1: expected '}', found EOF",
                "policies[2] (definition): invalid cue policy: spec.policy.data\n1:1: definitions (#Pod) are not supported",
            ]
        );
    }

    fn one_cip(spec: serde_json::Value, extra: serde_json::Value) -> Vec<u8> {
        let mut settings = serde_json::json!({"policies": [{"apiVersion": "policy.sigstore.dev/v1beta1",
            "kind": "ClusterImagePolicy", "metadata": {"name": "p"}, "spec": spec}]});
        for (k, v) in extra.as_object().unwrap() {
            settings[k] = v.clone();
        }
        settings.to_string().into_bytes()
    }

    /// References without a namespace read policyControllerNamespace (cosign-system unless
    /// set), whatever spelling "none" takes; the setting itself must be a namespace name.
    #[test]
    fn references_without_a_namespace_read_the_policy_controller_namespace() {
        let spec = serde_json::json!({"images": [{"glob": "**"}],
            "authorities": [{"key": {"secretRef": {"name": "k", "namespace": ""}}}],
            "policy": {"type": "rego", "configMapRef": {"name": "cm", "key": "policy"},
                       "data": null}});
        let s = Settings::from_json(&one_cip(spec.clone(), serde_json::json!({}))).unwrap();
        let cip = &s.policies[0].spec;
        let secret = cip.authorities[0]
            .key
            .as_ref()
            .unwrap()
            .secret_ref
            .as_ref()
            .unwrap();
        assert_eq!(secret.namespace.as_deref(), Some("cosign-system"));
        let cm = cip
            .policy
            .as_ref()
            .unwrap()
            .config_map_ref
            .as_ref()
            .unwrap();
        assert_eq!(cm.namespace.as_deref(), Some("cosign-system"));
        assert_eq!(s.validate(), Ok(()));

        let s = Settings::from_json(&one_cip(
            spec.clone(),
            serde_json::json!({"policyControllerNamespace": "sigstore"}),
        ))
        .unwrap();
        let secret = s.policies[0].spec.authorities[0].key.as_ref().unwrap();
        assert_eq!(
            secret.secret_ref.as_ref().unwrap().namespace.as_deref(),
            Some("sigstore")
        );

        for bad in ["", "Cosign-System", "a_b", "-x"] {
            let s = Settings::from_json(&one_cip(
                spec.clone(),
                serde_json::json!({"policyControllerNamespace": bad}),
            ))
            .unwrap();
            assert_eq!(
                s.validate(),
                Err(vec![format!(
                    "invalid value: {bad}: policyControllerNamespace\nexpected a namespace name (lower case letters, digits and '-', at most 63)"
                )]),
                "{bad:?}"
            );
        }
    }

    /// The trust declaration is part of settings validation: a private Fulcio is refused
    /// until declared, and the declaration's own errors name their field.
    #[test]
    fn the_host_trust_declaration_decides_private_sigstore_fields() {
        let spec = serde_json::json!({"images": [{"glob": "**"}], "authorities": [{
            "keyless": {"url": "https://fulcio.example.com", "identities": [{"issuer": "https://i", "subject": "s"}]},
            "ctlog": {"url": "https://rekor.sigstore.dev/"}}]});
        let s = Settings::from_json(&one_cip(spec.clone(), serde_json::json!({}))).unwrap();
        let errs = s.validate().unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("policies[0] (p): invalid value: https://fulcio.example.com: spec.authorities[0].keyless.url\nthis Fulcio is not declared in hostSigstoreTrust.fulcioUrls"),
            "{}",
            errs[0]
        );
        let declared = serde_json::json!({"hostSigstoreTrust": {"fulcioUrls": ["https://fulcio.example.com"]}});
        let s = Settings::from_json(&one_cip(spec.clone(), declared)).unwrap();
        assert_eq!(s.validate(), Ok(()));
        let bad = serde_json::json!({"hostSigstoreTrust": {"rekorUrls": ["rekor.example.com"]}});
        let s = Settings::from_json(&one_cip(spec, bad)).unwrap();
        let errs = s.validate().unwrap_err();
        assert_eq!(
            errs[0],
            "invalid value: rekor.example.com: hostSigstoreTrust.rekorUrls[0]\nexpected an http:// or https:// URL"
        );
        let e = Settings::from_json(br#"{"hostSigstoreTrust": {"fulcioURLs": []}}"#).unwrap_err();
        assert!(
            e.starts_with("hostSigstoreTrust.fulcioURLs: unknown field `fulcioURLs`"),
            "{e}"
        );
    }

    /// The request budget must end before the declared host timeout can interrupt the module;
    /// declaring a raised `--policy-timeout` allows a larger one.
    #[test]
    fn the_request_budget_is_checked_against_the_declared_host_timeout() {
        let defaults = Settings::from_json(b"{}").unwrap();
        assert_eq!(defaults.request_budget_milliseconds, 800);
        assert_eq!(defaults.host_policy_timeout_seconds, 2);
        let e = validate_settings_payload(br#"{"requestBudgetMilliseconds": 2000}"#).unwrap_err();
        assert!(
            e.starts_with("invalid value: 2000: requestBudgetMilliseconds\nthe request budget must end before policy-server's timeout can interrupt the module: hostPolicyTimeoutSeconds is 2"),
            "{e}"
        );
        assert_eq!(
            validate_settings_payload(
                br#"{"requestBudgetMilliseconds": 2000, "hostPolicyTimeoutSeconds": 5}"#
            ),
            Ok(())
        );
        let e = validate_settings_payload(br#"{"hostPolicyTimeoutSeconds": "2s"}"#).unwrap_err();
        assert_eq!(
            e,
            "hostPolicyTimeoutSeconds: invalid type: string \"2s\", expected u64"
        );
    }

    /// Every struct of the settings and the CIP model is decoded only from a JSON object:
    /// serde's derived structs alone take an array of the fields in order (`hostSigstoreTrust:
    /// [false]` turned the public-good instance off) and an empty array for the default struct.
    /// Each object of a settings document using every struct, replaced by `[]` and by the array
    /// of its values, is a settings error naming its path, in `from_json` and in
    /// `validate_settings`.
    #[test]
    fn an_array_is_never_a_struct() {
        use serde_json::{Value, json};
        let rego = "package sigstore\nisCompliant := true\n";
        let document = json!({
            "hostSigstoreTrust": {"publicGoodInstance": false, "fulcioUrls": ["https://f"]},
            "policies": [{
                "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": "a"},
                "spec": {
                    "images": [{"glob": "**"}],
                    "authorities": [
                        {"key": {"secretRef": {"name": "k", "namespace": "n"}},
                         "source": [{"oci": "r/s", "signaturePullSecrets": [{"name": "p"}]}],
                         "ctlog": {"url": "https://rekor.sigstore.dev"},
                         "rfc3161timestamp": {"trustRootRef": "t"},
                         "attestations": [{"name": "at", "predicateType": "vuln",
                                           "policy": {"type": "rego", "data": rego}}]},
                        {"keyless": {"identities": [{"issuer": "i", "subject": "s"}],
                                     "ca-cert": {"data": "x"}}},
                        {"static": {"action": "pass"}}
                    ],
                    "policy": {"type": "rego", "remote": {"url": "https://p"},
                               "configMapRef": {"name": "c"}},
                    "match": [{"resource": "pods", "version": "v1",
                               "selector": {"matchLabels": {"a": "b"}}}]
                }
            }]
        });
        assert!(Settings::from_json(document.to_string().as_bytes()).is_ok());

        /// Every object below the document, with its path as the errors print it.
        fn objects(value: &Value, path: String, found: &mut Vec<String>) {
            let below = |p: &str, key: &str| {
                if p.is_empty() {
                    key.to_string()
                } else {
                    format!("{p}.{key}")
                }
            };
            match value {
                Value::Object(map) => {
                    if !path.is_empty() {
                        found.push(path.clone());
                    }
                    for (k, v) in map {
                        objects(v, below(&path, k), found);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        objects(v, format!("{path}[{i}]"), found);
                    }
                }
                _ => {}
            }
        }
        let mut paths = Vec::new();
        objects(&document, String::new(), &mut paths);
        assert_eq!(paths.len(), 26, "{paths:?}");

        fn pointer(path: &str) -> String {
            path.replace('[', ".")
                .replace(']', "")
                .split('.')
                .fold(String::new(), |p, s| p + "/" + s)
        }
        for path in &paths {
            let original = document.pointer(&pointer(path)).unwrap().clone();
            let values: Vec<Value> = original.as_object().unwrap().values().cloned().collect();
            for array in [json!([]), Value::Array(values)] {
                let mut changed = document.clone();
                *changed.pointer_mut(&pointer(path)).unwrap() = array.clone();
                let text = changed.to_string();
                let e = Settings::from_json(text.as_bytes()).unwrap_err();
                assert!(
                    e.starts_with(&format!("{path}: invalid type: sequence, expected ")),
                    "{path} = {array}: {e}"
                );
                let e = validate_settings_payload(text.as_bytes()).unwrap_err();
                assert!(
                    e.contains(&format!("{path}: invalid type: sequence")),
                    "{path}: {e}"
                );
            }
        }
    }
}
