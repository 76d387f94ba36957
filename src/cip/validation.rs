//! Settings-time validation of ClusterImagePolicies: upstream's CIP webhook rules with
//! upstream's messages, plus what this policy cannot honour.
//!
//! Source: `sigstore/policy-controller`
//! `pkg/apis/policy/v1beta1/clusterimagepolicy_validation.go` (rules numbered as in
//! `../shared/reference/policy-controller.md` §1.3). Messages use knative's `FieldError`
//! rendering, `<message>: <path>[, <path>…]` plus `\n<details>`, and every message is prefixed
//! with the policy's position and name: `policies[2] (my-cip): invalid value: garbage: spec.mode`.
//! All errors of a settings document are collected, not just the first.

use super::{API_VERSIONS, Authority, ClusterImagePolicy, KeyRef, KeylessRef, Policy};
use crate::glob;
use std::collections::BTreeMap;

/// A knative-style field error: `message: paths` and optional details on the next line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `missing field(s)`, `invalid value: X`, ...
    pub message: String,
    /// Dotted field paths, rendered joined by `, `.
    pub paths: Vec<String>,
    /// Optional second line.
    pub details: Option<String>,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.paths.join(", "))?;
        if let Some(details) = &self.details {
            write!(f, "\n{details}")?;
        }
        Ok(())
    }
}

fn missing(paths: &[String]) -> FieldError {
    FieldError {
        message: "missing field(s)".into(),
        paths: paths.to_vec(),
        details: None,
    }
}

fn one_of_neither(paths: &[String]) -> FieldError {
    FieldError {
        message: "expected exactly one, got neither".into(),
        paths: paths.to_vec(),
        details: None,
    }
}

fn one_of_both(paths: &[String]) -> FieldError {
    FieldError {
        message: "expected exactly one, got both".into(),
        paths: paths.to_vec(),
        details: None,
    }
}

fn invalid(value: &str, path: String, details: Option<String>) -> FieldError {
    FieldError {
        message: format!("invalid value: {value}"),
        paths: vec![path],
        details,
    }
}

fn disallowed(paths: &[String]) -> FieldError {
    FieldError {
        message: "must not set the field(s)".into(),
        paths: paths.to_vec(),
        details: None,
    }
}

/// A field this policy cannot honour, with the reason (never silently ignored).
pub fn unsupported(path: String, reason: &str) -> FieldError {
    FieldError {
        message: "not supported".into(),
        paths: vec![path],
        details: Some(reason.to_string()),
    }
}

/// Resource names `spec.match[].resource` may use: upstream's list
/// (`cmd/webhook/main.go` L144-145) plus `replicationcontrollers`, which this policy checks too.
pub const VALID_RESOURCES: [&str; 8] = [
    "replicasets",
    "deployments",
    "pods",
    "cronjobs",
    "jobs",
    "statefulsets",
    "daemonsets",
    "replicationcontrollers",
];

/// The reason each distinct `key.data` text and identity regexp was refused (`None`: valid),
/// shared by the CIPs of one settings document: settings often give many authorities the same
/// key or issuer pattern (the settings-50 bench has 30 keys, 2 distinct, and 14 regexps, 8
/// distinct), and parsing the PEM was 14 % of a settings-50 validation, the regexps 12 %
/// (BENCHMARKS.md, issue 14). Each verdict depends on the text only.
#[derive(Debug, Default)]
pub struct TextChecks<'a> {
    keys: BTreeMap<&'a str, Option<String>>,
    regexps: BTreeMap<&'a str, Option<String>>,
}

/// Validates one CIP (after [`ClusterImagePolicy::apply_defaults`]); returns its field errors
/// without the policy prefix. `keys` holds the verdicts of the key texts already checked in
/// the same settings document.
pub fn validate_cip<'a>(cip: &'a ClusterImagePolicy, keys: &mut TextChecks<'a>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if cip.kind != "ClusterImagePolicy" {
        errs.push(invalid(
            &cip.kind,
            "kind".into(),
            Some("expected ClusterImagePolicy".into()),
        ));
    }
    if !API_VERSIONS.contains(&cip.api_version.as_str()) {
        errs.push(invalid(
            &cip.api_version,
            "apiVersion".into(),
            Some(format!("expected one of {}", API_VERSIONS.join(", "))),
        ));
    }
    if cip.metadata.name.as_deref().unwrap_or("").is_empty() {
        errs.push(missing(&["metadata.name".into()]));
    }
    let spec = &cip.spec;
    // Rules 1-4: images and globs.
    if spec.images.is_empty() {
        errs.push(missing(&["spec.images".into()]));
    }
    for (i, image) in spec.images.iter().enumerate() {
        let path = || format!("spec.images[{i}].glob");
        if image.glob.is_empty() {
            errs.push(missing(&[path()]));
        } else if let Err(e) = glob::translate(&image.glob) {
            errs.push(invalid(&image.glob, path(), Some(e.to_string())));
        } else if let Some(reason) = glob::never_matches(&image.glob) {
            // Not an upstream rule: upstream accepts such a glob, which never matches there.
            errs.push(invalid(
                &image.glob,
                path(),
                Some(format!("glob is invalid: {reason}")),
            ));
        }
    }
    // Rule 5: fail-on-empty-authorities is always on (no CIP may admit without an authority).
    if spec.authorities.is_empty() {
        errs.push(missing(&["spec.authorities".into()]));
    }
    // Rule 6.
    match spec.mode.as_deref() {
        Some("enforce") | Some("warn") | None => {}
        Some(other) => errs.push(invalid(
            other,
            "spec.mode".into(),
            Some("unsupported mode".into()),
        )),
    }
    // Rules 7-8.
    for (i, m) in spec.match_.iter().enumerate() {
        if !m.resource.is_empty() && !VALID_RESOURCES.contains(&m.resource.as_str()) {
            errs.push(invalid(
                &m.resource,
                format!("spec.match[{i}].resource"),
                Some("unsupported resource name".into()),
            ));
        }
        if m.selector.is_some()
            && m.resource.is_empty()
            && m.version.is_empty()
            && m.group.is_empty()
        {
            errs.push(invalid(
                "",
                format!("spec.match[{i}].selector"),
                Some("selector requires a resource type to match the labels".into()),
            ));
        }
        if let Some(selector) = &m.selector
            && let Err(e) = crate::selector::check(selector)
        {
            errs.push(invalid(
                &e.0,
                format!("spec.match[{i}].selector"),
                Some(e.1),
            ));
        }
        errs.extend(match_never_applies(m, i));
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, authority) in spec.authorities.iter().enumerate() {
        let path = format!("spec.authorities[{i}]");
        if let Some(first) = names.insert(authority.name(), i) {
            errs.push(invalid(
                authority.name(),
                format!("{path}.name"),
                Some(format!("duplicate authority name (also spec.authorities[{first}].name): results would overwrite each other")),
            ));
        }
        validate_authority(authority, &path, keys, &mut errs);
    }
    if let Some(policy) = &spec.policy {
        validate_policy(policy, "spec.policy", false, &mut errs);
    }
    errs
}

/// A `match[]` entry that passes upstream's rules but can never apply (upstream's
/// `GetMatchingPolicies`, `pkg/apis/config/image_policies.go` L86-151, needs the resource, the
/// version or `*`, and the group to equal the request's): no resource, no version, or a group
/// that is not the resource's (the core group is `""`, not `core`). Not an upstream rule:
/// upstream accepts such an entry, and the CIP then applies to nothing through it.
fn match_never_applies(m: &super::MatchResource, i: usize) -> Vec<FieldError> {
    let valid_resource = VALID_RESOURCES.contains(&m.resource.as_str());
    let all_empty = m.resource.is_empty() && m.version.is_empty() && m.group.is_empty();
    // With a selector, rule 8 reports it; an unknown resource, rule 7.
    if (all_empty && m.selector.is_some()) || (!m.resource.is_empty() && !valid_resource) {
        return Vec::new();
    }
    let mut errs = Vec::new();
    let never = "a match entry applies only to requests for its resource, group and version: without one it never applies";
    // Every kind this policy reads is served at v1 only (KINDS; batch/v1beta1 CronJobs were
    // removed in Kubernetes 1.25), and the API server sends the version as it serves it, in
    // lower case: any other version never applies.
    if !m.version.is_empty() && m.version != "*" && m.version != "v1" {
        errs.push(invalid(
            &m.version,
            format!("spec.match[{i}].version"),
            Some(format!(
                "{} are served at v1 only: this entry never applies (write v1, or *)",
                if m.resource.is_empty() {
                    "the resources this policy checks"
                } else {
                    m.resource.as_str()
                }
            )),
        ));
    }
    for (value, field) in [(&m.resource, "resource"), (&m.version, "version")] {
        if value.is_empty() {
            errs.push(FieldError {
                message: "missing field(s)".into(),
                paths: vec![format!("spec.match[{i}].{field}")],
                details: Some(format!(
                    "{never} (write {})",
                    if field == "version" {
                        "v1, or *"
                    } else {
                        "the lowercase plural, e.g. pods"
                    }
                )),
            });
        }
    }
    if let Some(&(group, _, _, _)) = crate::workload::KINDS
        .iter()
        .find(|(_, _, resource, _)| *resource == m.resource)
        && m.group != group
    {
        errs.push(invalid(
            &m.group,
            format!("spec.match[{i}].group"),
            Some(format!(
                "{} are in the API group {group:?} (the core group is \"\"): this entry never applies",
                m.resource
            )),
        ));
    }
    errs
}

fn validate_authority<'a>(
    a: &'a Authority,
    path: &str,
    keys: &mut TextChecks<'a>,
    errs: &mut Vec<FieldError>,
) {
    // Field paths are built only for an error (settings-50 spent 5 % of a validation in
    // `format!`, BENCHMARKS.md "Lever 3").
    let kinds = || {
        [
            format!("{path}.key"),
            format!("{path}.keyless"),
            format!("{path}.static"),
        ]
    };
    let count = [a.key.is_some(), a.keyless.is_some(), a.static_.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    // Rules 9-10 return early upstream.
    if count == 0 {
        errs.push(one_of_neither(&kinds()));
        return;
    }
    if count > 1 {
        errs.push(one_of_both(&kinds()));
        return;
    }
    if let Some(st) = &a.static_ {
        // Rule 11.
        for (set, field) in [
            (a.attestations.is_some(), "attestations"),
            (a.source.is_some(), "source"),
            (a.ctlog.is_some(), "ctlog"),
            (a.rfc3161timestamp.is_some(), "rfc3161timestamp"),
        ] {
            if set {
                errs.push(one_of_both(&[
                    format!("{path}.static"),
                    format!("{path}.{field}"),
                ]));
            }
        }
        // Rule 12.
        match st.action.as_str() {
            "" => errs.push(missing(&[format!("{path}.static.action")])),
            "pass" | "fail" => {}
            other => errs.push(invalid(
                other,
                format!("{path}.static.action"),
                Some("unsupported action".into()),
            )),
        }
        // Not an upstream rule: upstream shows the message only on `fail`
        // (`pkg/webhook/validator.go`, `disallowed by static policy: <message>`) and drops it
        // silently on `pass`.
        if st.action == "pass"
            && let Some(message) = st.message.as_deref().filter(|m| !m.is_empty())
        {
            errs.push(invalid(
                message,
                format!("{path}.static.message"),
                Some("a message is shown only when the action is fail, and a pass admits without one (upstream drops it too): remove it".into()),
            ));
        }
    }
    if let Some(sources) = &a.source {
        // Rule 13-15.
        if sources.len() > 1 {
            errs.push(invalid(
                "source",
                format!("{path}.source"),
                Some("only single source is supported".into()),
            ));
        }
        for (j, source) in sources.iter().enumerate() {
            if let Some(oci) = &source.oci
                && let Err(e) = check_oci_repository(oci)
            {
                errs.push(invalid(oci, format!("{path}.source[{j}].oci"), Some(e)));
            }
            for (k, secret) in source.signature_pull_secrets.iter().enumerate() {
                if secret.name.is_empty() {
                    errs.push(missing(&[format!(
                        "{path}.source[{j}].signaturePullSecrets[{k}].name"
                    )]));
                }
            }
        }
    }
    if let Some(key) = &a.key {
        validate_key(key, &format!("{path}.key"), keys, errs);
    }
    if let Some(keyless) = &a.keyless {
        validate_keyless(keyless, &format!("{path}.keyless"), keys, errs);
    }
    if let Some(attestations) = &a.attestations {
        let apath = format!("{path}.attestations");
        for att in attestations {
            // Rules 28-29 (upstream's path has no index).
            if att.name.is_empty() {
                errs.push(missing(&[format!("{apath}.name")]));
            }
            if att.predicate_type.is_empty() {
                errs.push(missing(&[format!("{apath}.predicateType")]));
            }
            if let Some(policy) = &att.policy {
                validate_policy(policy, &format!("{apath}.policy"), true, errs);
            }
        }
    }
}

fn validate_key<'a>(
    key: &'a KeyRef,
    path: &str,
    keys: &mut TextChecks<'a>,
    errs: &mut Vec<FieldError>,
) {
    let kinds = || {
        [
            format!("{path}.data"),
            format!("{path}.kms"),
            format!("{path}.secretref"),
        ]
    };
    let count = [
        key.data.is_some(),
        key.kms.is_some(),
        key.secret_ref.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    // Rules 16, 18.
    if count == 0 {
        errs.push(one_of_neither(&kinds()));
    } else if count > 1 {
        errs.push(one_of_both(&kinds()));
    }
    // Rule 17.
    if let Some(h) = &key.hash_algorithm {
        let normalised = h.trim().to_ascii_lowercase();
        if !["sha224", "sha256", "sha384", "sha512"].contains(&normalised.as_str()) {
            errs.push(invalid(h, format!("{path}.hashAlgorithm"), None));
        }
    }
    // Rule 20.
    if let Some(kms) = &key.kms {
        const PROVIDERS: [&str; 4] = ["awskms://", "azurekms://", "hashivault://", "gcpkms://"];
        if !PROVIDERS.iter().any(|p| kms.starts_with(p)) {
            errs.push(invalid(
                kms,
                format!("{path}.kms"),
                Some(format!("malformed KMS format, should be prefixed by any of the supported providers: [{}]", PROVIDERS.join(" "))),
            ));
        }
    }
    // Rule 19: upstream's `invalid value: <data>: …key.data` (clusterimagepolicy_validation.go
    // L177-180), with the reason on the next line; data holding a private key is not shown.
    if let Some(data) = &key.data
        && let Some(reason) = keys
            .keys
            .entry(data.as_str())
            .or_insert_with(|| crate::pem::check(data).err().map(|e| e.reason))
    {
        errs.push(invalid(
            crate::pem::shown(data),
            format!("{path}.data"),
            Some(reason.clone()),
        ));
    }
}

fn validate_keyless<'a>(
    keyless: &'a KeylessRef,
    path: &str,
    keys: &mut TextChecks<'a>,
    errs: &mut Vec<FieldError>,
) {
    // Rules 22-23.
    match (&keyless.url, &keyless.ca_cert) {
        (None, None) => errs.push(one_of_neither(&[
            format!("{path}.url"),
            format!("{path}.ca-cert"),
        ])),
        (Some(_), Some(_)) => errs.push(one_of_both(&[
            format!("{path}.ca-cert"),
            format!("{path}.url"),
        ])),
        _ => {}
    }
    // ca-cert is a KeyRef and validated as one (clusterimagepolicy_validation.go L204-206);
    // host_limits refuses it anyway, but its own errors are upstream's.
    if let Some(ca) = &keyless.ca_cert {
        validate_key(ca, &format!("{path}.ca-cert"), keys, errs);
    }
    // Rule 24.
    if keyless.identities.is_empty() {
        errs.push(missing(&[format!("{path}.identities")]));
    }
    for (k, id) in keyless.identities.iter().enumerate() {
        let ipath = || format!("{path}.identities[{k}]");
        // Rule 25.
        if id.issuer.is_some() && id.issuer_reg_exp.is_some() {
            errs.push(one_of_both(&[
                format!("{}.issuer", ipath()),
                format!("{}.issuerRegExp", ipath()),
            ]));
        }
        if id.subject.is_some() && id.subject_reg_exp.is_some() {
            errs.push(one_of_both(&[
                format!("{}.subject", ipath()),
                format!("{}.subjectRegExp", ipath()),
            ]));
        }
        // Rule 26.
        for (re, field) in [
            (&id.issuer_reg_exp, "issuerRegExp"),
            (&id.subject_reg_exp, "subjectRegExp"),
        ] {
            // Upstream compiles with Go's RE2; what Go rejects or reads differently from
            // regex-syntax is refused here (`identity::re2`), with the construct named.
            if let Some(re) = re
                && let Some(details) = keys.regexps.entry(re.as_str()).or_insert_with(|| {
                    crate::identity::check_re2_syntax(re).err().map(|e| {
                        if e.starts_with("regex is invalid") {
                            e
                        } else {
                            format!("regex is invalid: {e}")
                        }
                    })
                })
            {
                errs.push(invalid(
                    re,
                    format!("{}.{field}", ipath()),
                    Some(details.clone()),
                ));
            }
        }
        // Rule 27.
        if id.subject.as_deref().unwrap_or("").is_empty()
            && id.subject_reg_exp.as_deref().unwrap_or("").is_empty()
        {
            errs.push(missing(&[
                format!("{}.subject", ipath()),
                format!("{}.subjectRegExp", ipath()),
            ]));
        }
        if id.issuer.as_deref().unwrap_or("").is_empty()
            && id.issuer_reg_exp.as_deref().unwrap_or("").is_empty()
        {
            errs.push(missing(&[
                format!("{}.issuer", ipath()),
                format!("{}.issuerRegExp", ipath()),
            ]));
        }
    }
}

fn validate_policy(policy: &Policy, path: &str, attestation: bool, errs: &mut Vec<FieldError>) {
    // Rule 31.
    if policy.type_ != "cue" && policy.type_ != "rego" {
        errs.push(invalid(
            &policy.type_,
            format!("{path}.type"),
            Some("only [cue,rego] are supported at the moment".into()),
        ));
    }
    let sources = || {
        [
            format!("{path}.data"),
            format!("{path}.configMapRef"),
            format!("{path}.remote"),
        ]
    };
    let count = [
        policy.data.is_some(),
        policy.config_map_ref.is_some(),
        policy.remote.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    // Rules 32-33.
    if count == 0 {
        errs.push(missing(&sources()));
    } else if count > 1 {
        errs.push(one_of_both(&sources()));
    }
    // Rules 34-35.
    if let Some(remote) = &policy.remote {
        let url = remote.url.as_deref().unwrap_or("");
        let host = url
            .strip_prefix("https://")
            .map(|r| r.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if host.is_empty() {
            errs.push(invalid(
                url,
                format!("{path}.remote.url"),
                Some("url valid is invalid. host and https scheme are expected".into()),
            ));
        }
        if remote.sha256sum.as_deref().unwrap_or("").is_empty() {
            errs.push(missing(&[format!("{path}.remote.sha256sum")]));
        }
    }
    // Rule 36.
    if let Some(cm) = &policy.config_map_ref {
        if cm.name.as_deref().unwrap_or("").is_empty() {
            errs.push(missing(&[format!("{path}.configMapRef.name")]));
        }
        if cm.key.as_deref().unwrap_or("").is_empty() {
            errs.push(missing(&[format!("{path}.configMapRef.key")]));
        }
    }
    // Rule 37.
    if attestation {
        for (set, field) in [
            (policy.fetch_config_file.is_some(), "fetchConfigFile"),
            (policy.include_spec.is_some(), "includeSpec"),
            (policy.include_object_meta.is_some(), "includeObjectMeta"),
            (policy.include_type_meta.is_some(), "includeTypeMeta"),
        ] {
            if set {
                errs.push(disallowed(&[format!("{path}.{field}")]));
            }
        }
    }
}

/// Rule 14: `source[].oci` is a registry (`host[:port]`) or a repository (`host/path`), strictly
/// (`pkg/apis/policy/common/validation.go` L58-73, go-containerregistry strict parsing).
fn check_oci_repository(oci: &str) -> Result<(), String> {
    if oci.contains('@')
        || oci
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':') && oci.contains('/'))
    {
        return Err("a repository may not carry a tag or digest".into());
    }
    let probe = if oci.contains('/') {
        format!("{oci}:probe")
    } else {
        format!("{oci}/probe:probe")
    };
    crate::reference::ImageRef::parse(&probe)
        .map(|_| ())
        .map_err(|e| e.reason)
}

/// Fields this policy cannot honour (yet, or ever, through Kubewarden's host capabilities):
/// each is a settings error naming the field and the reason, never silently ignored. The
/// rules are in [`super::host_limits`]; what a trust declaration can cover is checked by
/// [`crate::trust::undeclared`], which needs the settings.
pub fn unsupported_features(cip: &ClusterImagePolicy) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, a) in cip.spec.authorities.iter().enumerate() {
        let path = format!("spec.authorities[{i}]");
        errs.extend(super::host_limits::authority(a, &path));
        // `bundle` (policy-controller 0.13+) verifies Sigstore bundles, for keyless authorities
        // only: upstream fails any other signature authority at admission
        // (`pkg/webhook/validator.go` L1449-L1455, `checkOptsFromAuthority`), here a settings
        // error with its words. Static authorities never read the field upstream. The host
        // looks at both formats whatever the value (README, "Signature format").
        match a.signature_format.as_deref() {
            None | Some("" | "legacy") => {}
            Some("bundle") if a.keyless.is_some() || a.static_.is_some() => {}
            Some("bundle") => errs.push(invalid(
                "bundle",
                format!("{path}.signatureFormat"),
                Some("when using the new bundle format, the authority must be keyless".into()),
            )),
            Some(other) => errs.push(invalid(
                other,
                format!("{path}.signatureFormat"),
                Some("signatureFormat is legacy (the default) or bundle; upstream reads any other value as legacy".into()),
            )),
        }
    }
    if let Some(policy) = &cip.spec.policy {
        errs.extend(super::host_limits::policy(policy));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cip(yaml_like: serde_json::Value) -> ClusterImagePolicy {
        let mut c: ClusterImagePolicy = serde_json::from_value(yaml_like).unwrap();
        c.apply_defaults();
        c
    }

    fn rendered(c: &ClusterImagePolicy) -> Vec<String> {
        validate_cip(c, &mut TextChecks::default())
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "policy.sigstore.dev/v1beta1",
            "kind": "ClusterImagePolicy",
            "metadata": {"name": "p"},
            "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]}
        })
    }

    #[test]
    fn valid_static_policy() {
        assert_eq!(rendered(&cip(base())), Vec::<String>::new());
    }

    #[test]
    fn upstream_examples() {
        let mut v = base();
        v["spec"]["images"][0]["glob"] = "[".into();
        assert_eq!(
            rendered(&cip(v)),
            vec!["invalid value: [: spec.images[0].glob\nglob is invalid: syntax error in pattern"]
        );
        let mut v = base();
        v["spec"]["mode"] = "garbage".into();
        assert_eq!(
            rendered(&cip(v)),
            vec!["invalid value: garbage: spec.mode\nunsupported mode"]
        );
        let mut v = base();
        v["spec"]["authorities"] = serde_json::json!([]);
        assert_eq!(
            rendered(&cip(v)),
            vec!["missing field(s): spec.authorities"]
        );
        let mut v = base();
        v["spec"]["match"] = serde_json::json!([{"resource": "apple"}]);
        assert_eq!(
            rendered(&cip(v)),
            vec!["invalid value: apple: spec.match[0].resource\nunsupported resource name"]
        );
    }

    #[test]
    fn authority_kinds() {
        let mut v = base();
        v["spec"]["authorities"] = serde_json::json!([{"name": "x"}]);
        assert_eq!(
            rendered(&cip(v)),
            vec![
                "expected exactly one, got neither: spec.authorities[0].key, spec.authorities[0].keyless, spec.authorities[0].static"
            ]
        );
        let mut v = base();
        v["spec"]["authorities"][0]["static"]["action"] = "maybe".into();
        assert_eq!(
            rendered(&cip(v)),
            vec!["invalid value: maybe: spec.authorities[0].static.action\nunsupported action"]
        );
        let mut v = base();
        v["spec"]["authorities"][0]["static"]["action"] = "".into();
        assert_eq!(
            rendered(&cip(v)),
            vec!["missing field(s): spec.authorities[0].static.action"]
        );
    }

    #[test]
    fn identity_regexp_is_checked() {
        let mut v = base();
        v["spec"]["authorities"] = serde_json::json!([{"keyless": {"identities": [{"issuerRegExp": "****", "subject": "s"}]}}]);
        let errs = rendered(&cip(v));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("invalid value: ****: spec.authorities[0].keyless.identities[0].issuerRegExp\nregex is invalid: "), "{errs:?}");
    }

    #[test]
    fn kind_api_version_name() {
        let mut v = base();
        v["kind"] = "ImagePolicy".into();
        v["apiVersion"] = "v1".into();
        v["metadata"] = serde_json::json!({});
        assert_eq!(
            rendered(&cip(v)),
            vec![
                "invalid value: ImagePolicy: kind\nexpected ClusterImagePolicy",
                "invalid value: v1: apiVersion\nexpected one of policy.sigstore.dev/v1beta1, policy.sigstore.dev/v1alpha1",
                "missing field(s): metadata.name",
            ]
        );
    }
}

/// Every rule of upstream's CIP validation (`clusterimagepolicy_validation.go`, numbered as in
/// `../shared/reference/policy-controller.md` §1.3), one named case each, with upstream's message.
#[cfg(test)]
mod upstream_rules {
    use super::*;
    use serde_json::{Value, json};

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";

    fn errors_for(spec: Value, defaults: bool) -> Vec<String> {
        let mut cip: ClusterImagePolicy = serde_json::from_value(json!({
            "apiVersion": "policy.sigstore.dev/v1beta1",
            "kind": "ClusterImagePolicy",
            "metadata": {"name": "p"},
            "spec": spec
        }))
        .unwrap();
        if defaults {
            cip.apply_defaults();
        }
        validate_cip(&cip, &mut TextChecks::default())
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn with_authority(authority: Value) -> Value {
        json!({"images": [{"glob": "**"}], "authorities": [authority]})
    }

    fn with_policy(policy: Value) -> Value {
        json!({"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}], "policy": policy})
    }

    fn keyless(identity: Value) -> Value {
        with_authority(json!({"keyless": {"identities": [identity]}}))
    }

    fn attestation(att: Value) -> Value {
        with_authority(json!({"key": {"data": KEY}, "attestations": [att]}))
    }

    fn check(rule: u32, spec: Value, expected: &[&str]) {
        assert_eq!(errors_for(spec, true), expected, "rule {rule}");
    }

    #[test]
    fn rule_01_images_empty() {
        check(
            1,
            json!({"images": [], "authorities": [{"static": {"action": "pass"}}]}),
            &["missing field(s): spec.images"],
        );
    }
    #[test]
    fn rule_02_glob_empty() {
        check(
            2,
            json!({"images": [{"glob": ""}], "authorities": [{"static": {"action": "pass"}}]}),
            &["missing field(s): spec.images[0].glob"],
        );
    }
    #[test]
    fn rule_03_glob_syntax() {
        check(
            3,
            json!({"images": [{"glob": "["}], "authorities": [{"static": {"action": "pass"}}]}),
            &["invalid value: [: spec.images[0].glob\nglob is invalid: syntax error in pattern"],
        );
    }
    #[test]
    fn rule_04_glob_characters() {
        check(
            4,
            json!({"images": [{"glob": "$FOO*"}], "authorities": [{"static": {"action": "pass"}}]}),
            &["invalid value: $FOO*: spec.images[0].glob\nglob is invalid: invalid glob \"$FOO*\""],
        );
    }
    #[test]
    fn rule_05_authorities_empty() {
        check(
            5,
            json!({"images": [{"glob": "**"}], "authorities": []}),
            &["missing field(s): spec.authorities"],
        );
        check(
            5,
            json!({"images": [{"glob": "**"}]}),
            &["missing field(s): spec.authorities"],
        );
    }
    #[test]
    fn rule_06_mode() {
        let mut spec = with_authority(json!({"static": {"action": "pass"}}));
        spec["mode"] = json!("garbage");
        check(
            6,
            spec,
            &["invalid value: garbage: spec.mode\nunsupported mode"],
        );
    }
    #[test]
    fn rule_07_match_resource() {
        let mut spec = with_authority(json!({"static": {"action": "pass"}}));
        spec["match"] = json!([{"resource": "apple"}]);
        check(
            7,
            spec,
            &["invalid value: apple: spec.match[0].resource\nunsupported resource name"],
        );
    }
    /// Review findings: match entries that can never apply were accepted silently (a deny CIP
    /// with `group: core`, `match: [{}]` or `version: V1` denied nothing). Not an upstream
    /// rule.
    #[test]
    fn match_entries_that_never_apply() {
        let mut spec = with_authority(json!({"static": {"action": "pass"}}));
        spec["match"] = json!([
            {"group": "core", "version": "v1", "resource": "pods"},
            {"group": "apps", "resource": "deployments"},
            {"group": "", "version": "*", "resource": "deployments"},
            {"version": "v1", "selector": {"matchLabels": {"a": "b"}}},
            {"group": "batch", "version": "*", "resource": "cronjobs"},
            {"group": "", "version": "v1", "resource": "pods"},
            {},
            {"group": "", "version": "V1", "resource": "pods"},
            {"group": "apps", "version": "v2", "resource": "deployments"}
        ]);
        assert_eq!(
            errors_for(spec, true),
            vec![
                "invalid value: core: spec.match[0].group\npods are in the API group \"\" (the core group is \"\"): this entry never applies",
                "missing field(s): spec.match[1].version\na match entry applies only to requests for its resource, group and version: without one it never applies (write v1, or *)",
                "invalid value: : spec.match[2].group\ndeployments are in the API group \"apps\" (the core group is \"\"): this entry never applies",
                "missing field(s): spec.match[3].resource\na match entry applies only to requests for its resource, group and version: without one it never applies (write the lowercase plural, e.g. pods)",
                "missing field(s): spec.match[6].resource\na match entry applies only to requests for its resource, group and version: without one it never applies (write the lowercase plural, e.g. pods)",
                "missing field(s): spec.match[6].version\na match entry applies only to requests for its resource, group and version: without one it never applies (write v1, or *)",
                "invalid value: V1: spec.match[7].version\npods are served at v1 only: this entry never applies (write v1, or *)",
                "invalid value: v2: spec.match[8].version\ndeployments are served at v1 only: this entry never applies (write v1, or *)",
            ]
        );
    }
    #[test]
    fn rule_08_selector_without_resource() {
        let mut spec = with_authority(json!({"static": {"action": "pass"}}));
        spec["match"] = json!([{"selector": {"matchLabels": {"a": "b"}}}]);
        check(
            8,
            spec,
            &[
                "invalid value: : spec.match[0].selector\nselector requires a resource type to match the labels",
            ],
        );
    }
    #[test]
    fn rule_09_authority_neither() {
        check(
            9,
            with_authority(json!({"name": "a"})),
            &[
                "expected exactly one, got neither: spec.authorities[0].key, spec.authorities[0].keyless, spec.authorities[0].static",
            ],
        );
    }
    #[test]
    fn rule_10_authority_both() {
        check(
            10,
            with_authority(json!({"key": {"data": KEY}, "static": {"action": "pass"}})),
            &[
                "expected exactly one, got both: spec.authorities[0].key, spec.authorities[0].keyless, spec.authorities[0].static",
            ],
        );
    }
    #[test]
    fn rule_11_static_with_signature_options() {
        check(
            11,
            with_authority(
                json!({"static": {"action": "pass"}, "source": [{"oci": "ghcr.io/x"}], "ctlog": {"url": "https://rekor.sigstore.dev"}}),
            ),
            &[
                "expected exactly one, got both: spec.authorities[0].static, spec.authorities[0].source",
                "expected exactly one, got both: spec.authorities[0].static, spec.authorities[0].ctlog",
            ],
        );
        check(
            11,
            with_authority(
                json!({"static": {"action": "pass"}, "attestations": [{"name": "a", "predicateType": "https://x"}], "rfc3161timestamp": {"trustRootRef": "t"}}),
            ),
            &[
                "expected exactly one, got both: spec.authorities[0].static, spec.authorities[0].attestations",
                "expected exactly one, got both: spec.authorities[0].static, spec.authorities[0].rfc3161timestamp",
            ],
        );
    }
    #[test]
    fn rule_12_static_action() {
        check(
            12,
            with_authority(json!({"static": {"action": ""}})),
            &["missing field(s): spec.authorities[0].static.action"],
        );
        check(
            12,
            with_authority(json!({"static": {"action": "allow"}})),
            &["invalid value: allow: spec.authorities[0].static.action\nunsupported action"],
        );
    }
    /// Review finding: a message on a passing static authority was accepted and never shown.
    #[test]
    fn a_message_on_a_passing_static_authority_is_refused() {
        assert_eq!(
            errors_for(
                with_authority(json!({"static": {"action": "pass", "message": "hi"}})),
                true
            ),
            vec![
                "invalid value: hi: spec.authorities[0].static.message\na message is shown only when the action is fail, and a pass admits without one (upstream drops it too): remove it"
            ]
        );
        assert!(
            errors_for(
                with_authority(json!({"static": {"action": "fail", "message": "hi"}})),
                true
            )
            .is_empty()
        );
    }
    #[test]
    fn rule_13_single_source() {
        check(
            13,
            with_authority(
                json!({"key": {"data": KEY}, "source": [{"oci": "ghcr.io/a"}, {"oci": "ghcr.io/b"}]}),
            ),
            &["invalid value: source: spec.authorities[0].source\nonly single source is supported"],
        );
    }
    #[test]
    fn rule_14_source_oci() {
        check(
            14,
            with_authority(json!({"key": {"data": KEY}, "source": [{"oci": "ghcr.io/UPPER"}]})),
            &[
                "invalid value: ghcr.io/UPPER: spec.authorities[0].source[0].oci\nrepository name must be lowercase",
            ],
        );
        check(
            14,
            with_authority(json!({"key": {"data": KEY}, "source": [{"oci": "ghcr.io/sigs"}]})),
            &[] as &[&str],
        );
        check(
            14,
            with_authority(
                json!({"key": {"data": KEY}, "source": [{"oci": "registry.local:5000"}]}),
            ),
            &[] as &[&str],
        );
    }
    #[test]
    fn rule_15_pull_secret_name() {
        check(
            15,
            with_authority(
                json!({"key": {"data": KEY}, "source": [{"oci": "ghcr.io/sigs", "signaturePullSecrets": [{"name": ""}]}]}),
            ),
            &["missing field(s): spec.authorities[0].source[0].signaturePullSecrets[0].name"],
        );
    }
    #[test]
    fn rule_16_key_neither() {
        check(
            16,
            with_authority(json!({"key": {}})),
            &[
                "expected exactly one, got neither: spec.authorities[0].key.data, spec.authorities[0].key.kms, spec.authorities[0].key.secretref",
            ],
        );
    }
    #[test]
    fn rule_17_hash_algorithm() {
        check(
            17,
            with_authority(json!({"key": {"data": KEY, "hashAlgorithm": "shaINVALID"}})),
            &["invalid value: shaINVALID: spec.authorities[0].key.hashAlgorithm"],
        );
        check(
            17,
            with_authority(json!({"key": {"data": KEY, "hashAlgorithm": " SHA256 "}})),
            &[] as &[&str],
        );
    }
    #[test]
    fn rule_18_key_both() {
        check(
            18,
            with_authority(json!({"key": {"data": KEY, "kms": "gcpkms://x"}})),
            &[
                "expected exactly one, got both: spec.authorities[0].key.data, spec.authorities[0].key.kms, spec.authorities[0].key.secretref",
            ],
        );
    }
    /// Upstream's line first, then why (`crate::pem::check`); a private key is never shown.
    #[test]
    fn rule_19_key_data_pem() {
        check(
            19,
            with_authority(json!({"key": {"data": "notakey"}})),
            &[
                "invalid value: notakey: spec.authorities[0].key.data\nnot PEM: a public key in PEM format starts with a \"-----BEGIN PUBLIC KEY-----\" line (the contents of cosign.pub)",
            ],
        );
        let private = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIK\n-----END EC PRIVATE KEY-----\n";
        check(
            19,
            with_authority(json!({"key": {"data": private}})),
            &[
                "invalid value: <private key, not shown>: spec.authorities[0].key.data\na private key (a \"-----BEGIN EC PRIVATE KEY-----\" block): the policy needs only the public key (`cosign public-key --key cosign.key` prints it, or use cosign.pub); never put a private key in a policy, and treat this one as exposed",
            ],
        );
    }
    #[test]
    fn rule_20_kms_format() {
        check(
            20,
            with_authority(json!({"key": {"kms": "vault://k"}})),
            &[
                "invalid value: vault://k: spec.authorities[0].key.kms\nmalformed KMS format, should be prefixed by any of the supported providers: [awskms:// azurekms:// hashivault:// gcpkms://]",
            ],
        );
    }
    /// Upstream reads every Secret from its own namespace and refuses a `secretRef.namespace`
    /// naming another (`clusterimagepolicy_validation.go` L187-189). Here a `secretRef` without
    /// a namespace reads `policyControllerNamespace` (default `cosign-system`, applied when the
    /// settings are decoded), and one naming a namespace keeps it: the PolicyServer reads it
    /// with its own permissions, so rule 21 has nothing to protect here.
    #[test]
    fn rule_21_secret_namespace() {
        let settings = crate::settings::Settings::from_json(
            json!({"policies": [{"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "p"},
                "spec": {"images": [{"glob": "**"}], "authorities": [
                    {"key": {"secretRef": {"name": "s"}}},
                    {"key": {"secretRef": {"name": "s", "namespace": "team-a"}}}]}}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let namespaces: Vec<Option<&str>> = settings.policies[0]
            .spec
            .authorities
            .iter()
            .map(|a| {
                a.key
                    .as_ref()
                    .unwrap()
                    .secret_ref
                    .as_ref()
                    .unwrap()
                    .namespace
                    .as_deref()
            })
            .collect();
        assert_eq!(namespaces, vec![Some("cosign-system"), Some("team-a")]);
        assert_eq!(settings.validate(), Ok(()));
    }
    #[test]
    fn rule_22_keyless_neither_url_nor_ca_cert() {
        let errs = errors_for(keyless(json!({"issuer": "i", "subject": "s"})), false);
        assert_eq!(
            errs,
            vec![
                "expected exactly one, got neither: spec.authorities[0].keyless.url, spec.authorities[0].keyless.ca-cert"
            ]
        );
        assert_eq!(
            errors_for(keyless(json!({"issuer": "i", "subject": "s"})), true),
            Vec::<String>::new(),
            "defaulting sets the url"
        );
    }
    #[test]
    fn rule_23_keyless_url_and_ca_cert() {
        check(
            23,
            with_authority(
                json!({"keyless": {"url": "https://fulcio.sigstore.dev", "ca-cert": {"data": KEY}, "identities": [{"issuer": "i", "subject": "s"}]}}),
            ),
            &[
                "expected exactly one, got both: spec.authorities[0].keyless.ca-cert, spec.authorities[0].keyless.url",
            ],
        );
    }
    #[test]
    fn rule_24_identities_empty() {
        check(
            24,
            with_authority(json!({"keyless": {"identities": []}})),
            &["missing field(s): spec.authorities[0].keyless.identities"],
        );
    }
    #[test]
    fn rule_25_exact_and_regexp() {
        check(
            25,
            keyless(
                json!({"issuer": "i", "issuerRegExp": "i.*", "subject": "s", "subjectRegExp": "s.*"}),
            ),
            &[
                "expected exactly one, got both: spec.authorities[0].keyless.identities[0].issuer, spec.authorities[0].keyless.identities[0].issuerRegExp",
                "expected exactly one, got both: spec.authorities[0].keyless.identities[0].subject, spec.authorities[0].keyless.identities[0].subjectRegExp",
            ],
        );
    }
    #[test]
    fn rule_26_regexp_compiles() {
        let errs = errors_for(
            keyless(json!({"issuerRegExp": "****", "subject": "s"})),
            true,
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("invalid value: ****: spec.authorities[0].keyless.identities[0].issuerRegExp\nregex is invalid: "), "{errs:?}");
    }
    #[test]
    fn rule_27_subject_and_issuer_required() {
        check(
            27,
            keyless(json!({})),
            &[
                "missing field(s): spec.authorities[0].keyless.identities[0].subject, spec.authorities[0].keyless.identities[0].subjectRegExp",
                "missing field(s): spec.authorities[0].keyless.identities[0].issuer, spec.authorities[0].keyless.identities[0].issuerRegExp",
            ],
        );
    }
    #[test]
    fn rule_28_attestation_name() {
        check(
            28,
            attestation(json!({"predicateType": "https://slsa.dev/provenance/v1"})),
            &["missing field(s): spec.authorities[0].attestations.name"],
        );
    }
    #[test]
    fn rule_29_attestation_predicate_type() {
        check(
            29,
            attestation(json!({"name": "a"})),
            &["missing field(s): spec.authorities[0].attestations.predicateType"],
        );
    }
    /// Upstream only warns about short predicate types; attestations as a whole are rejected
    /// by `unsupported_features` (no host capability verifies them).
    #[test]
    fn rule_30_short_predicate_type_is_not_an_error() {
        check(
            30,
            attestation(json!({"name": "a", "predicateType": "vuln"})),
            &[] as &[&str],
        );
    }
    #[test]
    fn rule_31_policy_type() {
        check(
            31,
            with_policy(json!({"type": "opa", "data": "x"})),
            &["invalid value: opa: spec.policy.type\nonly [cue,rego] are supported at the moment"],
        );
    }
    #[test]
    fn rule_32_policy_source_missing() {
        check(
            32,
            with_policy(json!({"type": "rego"})),
            &["missing field(s): spec.policy.data, spec.policy.configMapRef, spec.policy.remote"],
        );
    }
    #[test]
    fn rule_33_policy_source_several() {
        check(
            33,
            with_policy(
                json!({"type": "rego", "data": "x", "remote": {"url": "https://example.com/p.rego", "sha256sum": "abc"}}),
            ),
            &[
                "expected exactly one, got both: spec.policy.data, spec.policy.configMapRef, spec.policy.remote",
            ],
        );
    }
    #[test]
    fn rule_34_remote_url() {
        check(
            34,
            with_policy(
                json!({"type": "rego", "remote": {"url": "http://example.com/p.rego", "sha256sum": "abc"}}),
            ),
            &[
                "invalid value: http://example.com/p.rego: spec.policy.remote.url\nurl valid is invalid. host and https scheme are expected",
            ],
        );
    }
    #[test]
    fn rule_35_remote_sha256sum() {
        check(
            35,
            with_policy(json!({"type": "rego", "remote": {"url": "https://example.com/p.rego"}})),
            &["missing field(s): spec.policy.remote.sha256sum"],
        );
    }
    #[test]
    fn rule_36_config_map_ref_fields() {
        check(
            36,
            with_policy(json!({"type": "rego", "configMapRef": {"namespace": "n"}})),
            &[
                "missing field(s): spec.policy.configMapRef.name",
                "missing field(s): spec.policy.configMapRef.key",
            ],
        );
    }
    #[test]
    fn rule_37_include_on_attestation_policy() {
        check(
            37,
            attestation(
                json!({"name": "a", "predicateType": "https://x", "policy": {"type": "rego", "data": "x", "includeSpec": true, "fetchConfigFile": true}}),
            ),
            &[
                "must not set the field(s): spec.authorities[0].attestations.policy.fetchConfigFile",
                "must not set the field(s): spec.authorities[0].attestations.policy.includeSpec",
            ],
        );
    }
    /// `signatureFormat: bundle` is keyless only, with upstream's admission-time words
    /// (`pkg/webhook/validator.go` L1454); static authorities never read it upstream.
    #[test]
    fn signature_format_bundle_is_keyless_only() {
        let errs = |authority: Value| -> Vec<String> {
            let cip: ClusterImagePolicy = serde_json::from_value(json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "p"},
                "spec": with_authority(authority)})).unwrap();
            unsupported_features(&cip)
                .iter()
                .map(|e| e.to_string())
                .collect()
        };
        let keyless = json!({"url": "https://fulcio.sigstore.dev", "identities": [{"issuer": "i", "subject": "s"}]});
        for format in ["bundle", "legacy", ""] {
            assert_eq!(
                errs(json!({"keyless": keyless, "signatureFormat": format})),
                Vec::<String>::new(),
                "{format}"
            );
            assert_eq!(
                errs(json!({"static": {"action": "pass"}, "signatureFormat": format})),
                Vec::<String>::new(),
                "{format}"
            );
        }
        assert_eq!(
            errs(json!({"key": {"data": KEY}, "signatureFormat": "legacy"})),
            Vec::<String>::new()
        );
        assert_eq!(
            errs(json!({"key": {"data": KEY}, "signatureFormat": "bundle"})),
            vec![
                "invalid value: bundle: spec.authorities[0].signatureFormat\nwhen using the new bundle format, the authority must be keyless"
            ]
        );
        assert_eq!(
            errs(json!({"keyless": keyless, "signatureFormat": "Bundle"})),
            vec![
                "invalid value: Bundle: spec.authorities[0].signatureFormat\nsignatureFormat is legacy (the default) or bundle; upstream reads any other value as legacy"
            ]
        );
    }
}
