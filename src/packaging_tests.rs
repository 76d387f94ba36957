//! Consistency of the packaging files (metadata.yml, artifacthub-pkg.yml, examples, release
//! workflow) with the code.
//!
//! metadata.yml is the source: `kwctl annotate` embeds it in the module, `kwctl scaffold
//! artifacthub` derives artifacthub-pkg.yml from it and `kwctl scaffold manifest` derives
//! ClusterAdmissionPolicy manifests from it. These tests check it against what the code does
//! (kinds, subresources, host capabilities, context-aware resources), then check every derived
//! file against it, and the example settings against the policy's own settings validation.

use crate::host::{CAPABILITIES, CONTEXT_AWARE_RESOURCES};
use crate::settings::validate_settings_payload;
use crate::workload::{KINDS, SUBRESOURCES};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const METADATA: &str = include_str!("../metadata.yml");
const ARTIFACTHUB: &str = include_str!("../artifacthub-pkg.yml");
const RELEASE: &str = include_str!("../.github/workflows/release.yml");

/// The seed scenario's CIPs, in the order the scenario adds them.
const SEED_CIPS: [(&str, &str); 2] = [
    (
        "test_data/cips/chainguard-image-policy.yaml",
        include_str!("../test_data/cips/chainguard-image-policy.yaml"),
    ),
    (
        "test_data/cips/disallow-latest-tag.yaml",
        include_str!("../test_data/cips/disallow-latest-tag.yaml"),
    ),
];

const CAP_OPT_IN: &str = "cluster-admission-policy.yaml";
const CAP_OPT_OUT: &str = "cluster-admission-policy-opt-out.yaml";
const SETTINGS_SEED: &str = "settings-seed-scenario.yaml";
const SETTINGS_KEYLESS_GHA: &str = "settings-keyless-github-actions.yaml";

/// ClusterAdmissionPolicy examples: (file name under examples/, text).
const CAP_EXAMPLES: [(&str, &str); 2] = [
    (
        CAP_OPT_IN,
        include_str!("../examples/cluster-admission-policy.yaml"),
    ),
    (
        CAP_OPT_OUT,
        include_str!("../examples/cluster-admission-policy-opt-out.yaml"),
    ),
];

/// Settings examples: (file name under examples/, text).
const SETTINGS_EXAMPLES: [(&str, &str); 2] = [
    (
        SETTINGS_SEED,
        include_str!("../examples/settings-seed-scenario.yaml"),
    ),
    (
        SETTINGS_KEYLESS_GHA,
        include_str!("../examples/settings-keyless-github-actions.yaml"),
    ),
];

/// metadata.yml, as kwctl's `Metadata` reads it. Unknown keys are an error here (kwctl ignores
/// them, so a misspelt key would silently lose its meaning).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    rules: Vec<Rule>,
    mutating: bool,
    #[serde(default = "default_true")]
    background_audit: bool,
    #[serde(default)]
    execution_mode: Option<String>,
    #[serde(default)]
    policy_type: Option<String>,
    #[serde(default)]
    minimum_kubewarden_version: Option<String>,
    #[serde(default)]
    context_aware_resources: Vec<Resource>,
    #[serde(default)]
    host_capabilities: Vec<String>,
    annotations: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    api_groups: Vec<String>,
    api_versions: Vec<String>,
    resources: Vec<String>,
    operations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Resource {
    api_version: String,
    kind: String,
}

impl Metadata {
    fn annotation(&self, key: &str) -> &str {
        self.annotations
            .get(key)
            .unwrap_or_else(|| panic!("metadata.yml has no annotation {key}"))
    }

    fn version(&self) -> &str {
        self.annotation("io.kubewarden.policy.version")
    }

    fn oci_url(&self) -> &str {
        self.annotation("io.kubewarden.policy.ociUrl")
    }

    /// `<ociUrl>:v<version>`: the tag the release pushes and artifacthub-pkg.yml lists.
    fn versioned_image(&self) -> String {
        format!("{}:v{}", self.oci_url(), self.version())
    }

    fn context_aware_set(&self) -> BTreeSet<Resource> {
        self.context_aware_resources.iter().cloned().collect()
    }
}

fn metadata() -> Metadata {
    serde_yaml::from_str(METADATA).unwrap_or_else(|e| panic!("metadata.yml: {e}"))
}

fn yaml(file: &str, text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn typed<T: serde::de::DeserializeOwned>(what: &str, value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{what}: {e}: {value}"))
}

fn resource_set(what: &str, value: &Value) -> BTreeSet<Resource> {
    let list: Vec<Resource> = typed(what, value);
    let set: BTreeSet<Resource> = list.iter().cloned().collect();
    assert_eq!(set.len(), list.len(), "{what}: duplicate entries: {list:?}");
    set
}

/// kwctl's CSV split (`policy_artifacthub.rs` `parse_keywords`): `,`, then spaces trimmed.
fn csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(|w| w.trim_matches(' ').to_string())
        .collect()
}

/// SemVer 2.0.0: `MAJOR.MINOR.PATCH[-pre][+build]`, numbers without leading zeros.
fn is_semver(v: &str) -> bool {
    fn number(n: &str) -> bool {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    }
    fn identifiers(s: &str, numeric_rule: bool) -> bool {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (!numeric_rule || !id.bytes().all(|b| b.is_ascii_digit()) || number(id))
        })
    }
    let (rest, build) = match v.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(|p| identifiers(p, true))
        && build.is_none_or(|b| identifiers(b, false))
}

/// RFC 1123 subdomain, as `kwctl scaffold manifest` requires of the title (`metadata.name`).
fn is_rfc1123_subdomain(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && alnum(bytes[0])
                && alnum(bytes[bytes.len() - 1])
                && bytes.iter().all(|&b| alnum(b) || b == b'-')
        })
}

/// `io.kubewarden.policy.author` as `kwctl scaffold artifacthub` reads it: an RFC 5322 address
/// list `Name <local@domain>, …`; an entry without an address is an error there
/// (`parse_maintainers`). Returns `(name, email)` pairs.
fn maintainers(author: &str) -> Result<Vec<(String, String)>, String> {
    author
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            let (name, rest) = entry
                .split_once('<')
                .ok_or_else(|| format!("{entry:?} has no <email>"))?;
            let email = rest
                .strip_suffix('>')
                .ok_or_else(|| format!("{entry:?}: <email> must end the entry"))?;
            let (local, domain) = email
                .split_once('@')
                .ok_or_else(|| format!("{email:?} is not an email address"))?;
            if local.is_empty()
                || !domain.contains('.')
                || domain.contains('@')
                || email.contains(char::is_whitespace)
            {
                return Err(format!("{email:?} is not an email address"));
            }
            Ok((name.trim().to_string(), email.to_string()))
        })
        .collect()
}

/// The helpers above must reject what kwctl rejects, or the tests using them prove nothing.
#[test]
fn helpers_reject_malformed_values() {
    assert!(is_semver("0.1.0") && is_semver("1.2.3-rc.1+build.5"));
    for bad in [
        "0.1", "v0.1.0", "01.1.0", "0.1.0-", "0.1.0-01", "1.2.3.4", "",
    ] {
        assert!(!is_semver(bad), "{bad}");
    }
    assert!(is_rfc1123_subdomain("cluster-image-policy"));
    for bad in ["Cluster", "-a", "a-", "a_b", "a..b", ""] {
        assert!(!is_rfc1123_subdomain(bad), "{bad}");
    }
    assert_eq!(
        maintainers("Tux <tux@example.com>, Pidgin <pidgin@example.com>"),
        Ok(vec![
            ("Tux".to_string(), "tux@example.com".to_string()),
            ("Pidgin".to_string(), "pidgin@example.com".to_string()),
        ])
    );
    for bad in [
        "cluster-image-policy developers",
        "x <a b@c.d>",
        "x <@c.d>",
        "x <a@b>",
    ] {
        assert!(maintainers(bad).is_err(), "{bad}");
    }
    assert_eq!(csv(" a,b , c d"), ["a", "b", "c d"]);
}

// ---------------------------------------------------------------------------------------------
// metadata.yml against the code

/// Every (group, resource) the code checks: `KINDS`, plus `SUBRESOURCES` as `resource/sub`.
fn checked_resources() -> BTreeSet<(String, String)> {
    let mut set: BTreeSet<(String, String)> = KINDS
        .iter()
        .map(|(group, _, resource, _)| (group.to_string(), resource.to_string()))
        .collect();
    for (resource, sub) in SUBRESOURCES {
        let (group, ..) = KINDS
            .iter()
            .find(|(_, _, r, _)| *r == resource)
            .unwrap_or_else(|| panic!("SUBRESOURCES names {resource}, which KINDS lacks"));
        set.insert((group.to_string(), format!("{resource}/{sub}")));
    }
    set
}

#[test]
fn metadata_rules_cover_every_kind_the_code_checks() {
    let m = metadata();
    let expected = checked_resources();
    assert_eq!(expected.len(), KINDS.len() + SUBRESOURCES.len());
    assert!(expected.contains(&(String::new(), "pods/ephemeralcontainers".to_string())));
    for (group, resource) in &expected {
        for op in ["CREATE", "UPDATE"] {
            assert!(
                m.rules.iter().any(|r| r.api_groups.contains(group)
                    && r.resources.contains(resource)
                    && r.api_versions.iter().any(|v| v == "v1")
                    && r.operations.iter().any(|o| o == op)),
                "metadata.yml: no rule sends {op} of {group:?}/v1 {resource} to the policy"
            );
        }
    }
    // And nothing the code would only skip: no other resource, operation or version.
    let declared: BTreeSet<(String, String)> = m
        .rules
        .iter()
        .flat_map(|r| {
            r.api_groups.iter().flat_map(|g| {
                r.resources
                    .iter()
                    .map(move |res| (g.to_string(), res.to_string()))
            })
        })
        .collect();
    assert_eq!(declared, expected, "metadata.yml rules vs workload::KINDS");
    for rule in &m.rules {
        assert_eq!(rule.api_versions, ["v1"], "{rule:?}");
        assert_eq!(rule.operations, ["CREATE", "UPDATE"], "{rule:?}");
    }
}

#[test]
fn metadata_is_a_mutating_wapc_policy() {
    let m = metadata();
    // modifyImagesWithDigest answers with a JSONPatch: the policy must be declared mutating.
    assert!(m.mutating, "metadata.yml: mutating must be true");
    assert!(m.background_audit, "metadata.yml: backgroundAudit");
    assert_eq!(m.execution_mode.as_deref(), Some("kubewarden-wapc"));
    assert!(m.policy_type.as_deref().is_none_or(|t| t == "kubernetes"));
    assert!(
        m.minimum_kubewarden_version
            .as_deref()
            .is_none_or(is_semver)
    );
}

#[test]
fn metadata_host_capabilities_are_the_ones_called() {
    let m = metadata();
    let declared: BTreeSet<&str> = m.host_capabilities.iter().map(String::as_str).collect();
    assert_eq!(
        declared.len(),
        m.host_capabilities.len(),
        "duplicate hostCapabilities"
    );
    let called: BTreeSet<&str> = CAPABILITIES.into_iter().collect();
    assert_eq!(
        declared, called,
        "metadata.yml hostCapabilities vs host::CAPABILITIES"
    );
}

#[test]
fn metadata_context_aware_resources_are_the_ones_read() {
    let m = metadata();
    let declared = m.context_aware_set();
    assert_eq!(
        declared.len(),
        m.context_aware_resources.len(),
        "duplicate contextAwareResources"
    );
    let read: BTreeSet<Resource> = CONTEXT_AWARE_RESOURCES
        .iter()
        .map(|(api_version, kind)| Resource {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })
        .collect();
    assert_eq!(
        declared, read,
        "metadata.yml contextAwareResources vs host::CONTEXT_AWARE_RESOURCES"
    );
}

#[test]
fn metadata_annotations() {
    let m = metadata();
    for key in [
        "io.kubewarden.policy.title",
        "io.kubewarden.policy.version",
        "io.kubewarden.policy.description",
        "io.kubewarden.policy.author",
        "io.kubewarden.policy.url",
        "io.kubewarden.policy.source",
        "io.kubewarden.policy.license",
        "io.kubewarden.policy.category",
        "io.kubewarden.policy.severity",
        "io.kubewarden.policy.ociUrl",
        "io.artifacthub.displayName",
        "io.artifacthub.resources",
        "io.artifacthub.keywords",
    ] {
        assert!(!m.annotation(key).trim().is_empty(), "{key} is empty");
    }
    for (key, value) in &m.annotations {
        // `kwctl push` drops multi-line annotations from the OCI manifest.
        assert!(!value.contains('\n'), "{key} spans several lines");
    }

    let version = m.version();
    assert!(
        is_semver(version),
        "io.kubewarden.policy.version {version:?}"
    );
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "metadata.yml vs Cargo.toml version"
    );
    let title = m.annotation("io.kubewarden.policy.title");
    assert!(is_rfc1123_subdomain(title), "title {title:?}");
    assert_eq!(title, env!("CARGO_PKG_NAME"));
    assert_eq!(
        m.annotation("io.kubewarden.policy.category"),
        "Secure supply chain"
    );
    let severity = m.annotation("io.kubewarden.policy.severity");
    assert!(
        ["low", "medium", "high", "critical"].contains(&severity),
        "severity {severity:?}"
    );
    assert_eq!(
        m.annotation("io.kubewarden.policy.license"),
        env!("CARGO_PKG_LICENSE")
    );
    assert_eq!(
        m.annotation("io.kubewarden.policy.source"),
        env!("CARGO_PKG_REPOSITORY")
    );
    assert!(
        m.annotation("io.kubewarden.policy.url")
            .starts_with("https://")
    );

    // ociUrl: `registry/path`, no scheme, tag or digest (the release appends `:v<version>`).
    let oci = m.oci_url();
    assert!(!oci.contains("://") && !oci.contains('@'), "ociUrl {oci:?}");
    let (registry, path) = oci.split_once('/').expect("ociUrl has a path");
    assert!(registry.contains('.'), "ociUrl registry {registry:?}");
    assert!(!path.contains(':'), "ociUrl {oci:?} carries a tag");
    assert_eq!(
        oci,
        oci.to_ascii_lowercase(),
        "OCI repositories are lowercase"
    );
    assert!(
        path.ends_with(&format!("/{title}")),
        "ociUrl {oci:?} vs title"
    );

    // kwctl scaffold artifacthub fails on an author without an address.
    let authors = maintainers(m.annotation("io.kubewarden.policy.author"));
    assert!(
        matches!(&authors, Ok(a) if !a.is_empty()),
        "author: {authors:?}"
    );

    let resources: BTreeSet<String> = csv(m.annotation("io.artifacthub.resources"))
        .into_iter()
        .collect();
    let kinds: BTreeSet<String> = KINDS.iter().map(|(_, k, _, _)| k.to_string()).collect();
    assert_eq!(
        resources, kinds,
        "io.artifacthub.resources vs workload::KINDS"
    );
    let keywords = csv(m.annotation("io.artifacthub.keywords"));
    assert!(keywords.iter().all(|k| !k.is_empty()), "{keywords:?}");
}

// ---------------------------------------------------------------------------------------------
// artifacthub-pkg.yml against metadata.yml

#[test]
fn artifacthub_pkg_agrees_with_metadata() {
    let m = metadata();
    let pkg = yaml("artifacthub-pkg.yml", ARTIFACTHUB);
    let keys: BTreeSet<&str> = pkg
        .as_object()
        .expect("a mapping")
        .keys()
        .map(String::as_str)
        .collect();
    let expected_keys: BTreeSet<&str> = [
        "version",
        "name",
        "displayName",
        "createdAt",
        "description",
        "license",
        "homeURL",
        "containersImages",
        "keywords",
        "links",
        "install",
        "maintainers",
        "provider",
        "recommendations",
        "annotations",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected_keys, "artifacthub-pkg.yml keys");

    let a = |key: &str| json!(m.annotation(key));
    assert_eq!(pkg["version"], a("io.kubewarden.policy.version"));
    assert_eq!(pkg["name"], a("io.kubewarden.policy.title"));
    assert_eq!(pkg["displayName"], a("io.artifacthub.displayName"));
    assert_eq!(pkg["description"], a("io.kubewarden.policy.description"));
    assert_eq!(pkg["license"], a("io.kubewarden.policy.license"));
    assert_eq!(pkg["homeURL"], a("io.kubewarden.policy.url"));
    let image = m.versioned_image();
    assert_eq!(
        pkg["containersImages"],
        json!([{"name": "policy", "image": image}])
    );
    assert_eq!(
        pkg["keywords"],
        json!(csv(m.annotation("io.artifacthub.keywords")))
    );
    let source = m.annotation("io.kubewarden.policy.source");
    assert!(source.starts_with("https://github.com/"));
    assert_eq!(
        pkg["links"],
        json!([
            {"name": "policy", "url": format!("{source}/releases/download/v{}/policy.wasm", m.version())},
            {"name": "source", "url": source},
        ])
    );
    let install = pkg["install"].as_str().expect("install is text");
    assert!(
        install.contains(&format!("kwctl pull {image}\n")),
        "{install}"
    );
    assert!(
        install.contains(&format!(
            "kwctl scaffold manifest -t ClusterAdmissionPolicy registry://{image}\n"
        )),
        "{install}"
    );
    let authors = maintainers(m.annotation("io.kubewarden.policy.author")).unwrap();
    let authors: Vec<Value> = authors
        .into_iter()
        .map(|(name, email)| json!({"name": name, "email": email}))
        .collect();
    assert_eq!(pkg["maintainers"], json!(authors));
    assert_eq!(pkg["provider"], json!({"name": "kubewarden"}));
    assert_eq!(
        pkg["recommendations"],
        json!([{"url": "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller"}])
    );
    let created = pkg["createdAt"].as_str().expect("createdAt is text");
    let rfc3339 =
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
            .unwrap();
    assert!(rfc3339.is_match(created), "createdAt {created:?}");

    // annotations: kwctl writes rules and contextAwareResources as YAML text.
    let annotations = pkg["annotations"].as_object().expect("annotations");
    let keys: BTreeSet<&str> = annotations.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "kubewarden/contextAwareResources",
            "kubewarden/mutation",
            "kubewarden/resources",
            "kubewarden/rules",
        ])
    );
    let text = |key: &str| {
        annotations[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} must be a string"))
    };
    assert_eq!(text("kubewarden/mutation"), m.mutating.to_string());
    assert_eq!(
        text("kubewarden/resources"),
        m.annotation("io.artifacthub.resources")
    );
    let rules: Vec<Rule> = serde_yaml::from_str(text("kubewarden/rules"))
        .unwrap_or_else(|e| panic!("kubewarden/rules: {e}"));
    assert_eq!(rules, m.rules, "kubewarden/rules vs metadata.yml rules");
    let resources = resource_set(
        "kubewarden/contextAwareResources",
        &yaml(
            "kubewarden/contextAwareResources",
            text("kubewarden/contextAwareResources"),
        ),
    );
    assert_eq!(resources, m.context_aware_set());
}

// ---------------------------------------------------------------------------------------------
// examples/

fn settings_errors(settings: &Value) -> Result<(), String> {
    validate_settings_payload(&serde_json::to_vec(settings).unwrap())
}

fn seed_cips() -> Vec<Value> {
    SEED_CIPS
        .iter()
        .map(|(file, text)| yaml(file, text))
        .collect()
}

fn example_settings(name: &str) -> Value {
    let (file, text) = SETTINGS_EXAMPLES
        .iter()
        .find(|(file, _)| *file == name)
        .unwrap();
    yaml(file, text)
}

/// The leading comment block of a file, without the `#`.
fn header(text: &str) -> String {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_example_file_is_tested() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let tested: BTreeSet<String> = CAP_EXAMPLES
        .iter()
        .chain(SETTINGS_EXAMPLES.iter())
        .map(|(file, _)| file.to_string())
        .collect();
    assert_eq!(on_disk, tested, "examples/ vs the files these tests check");
}

#[test]
fn examples_start_with_how_to_apply_them() {
    for (file, text) in CAP_EXAMPLES {
        assert!(text.starts_with("# "), "examples/{file}");
        let header = header(text);
        assert!(
            header.contains(&format!("kubectl apply -f examples/{file}")),
            "examples/{file}: the header must tell how to apply it"
        );
    }
    for (file, text) in SETTINGS_EXAMPLES {
        assert!(text.starts_with("# "), "examples/{file}");
        let header = header(text);
        assert!(
            header.contains(&format!("--settings-path examples/{file}")),
            "examples/{file}: the header must tell how to use it"
        );
        assert!(header.contains("spec.settings"), "examples/{file}");
    }
}

#[test]
fn example_cluster_admission_policies_follow_metadata() {
    let m = metadata();
    let module = format!("registry://{}", m.versioned_image());
    for (file, text) in CAP_EXAMPLES {
        let cap = yaml(file, text);
        let spec = &cap["spec"];
        assert_eq!(cap["apiVersion"], "policies.kubewarden.io/v1", "{file}");
        assert_eq!(cap["kind"], "ClusterAdmissionPolicy", "{file}");
        // What `kwctl scaffold manifest` takes from the metadata.
        assert_eq!(
            cap["metadata"]["name"],
            m.annotation("io.kubewarden.policy.title"),
            "{file}"
        );
        for key in [
            "io.kubewarden.policy.severity",
            "io.kubewarden.policy.category",
        ] {
            assert_eq!(
                cap["metadata"]["annotations"][key],
                m.annotation(key),
                "{file}"
            );
        }
        assert_eq!(spec["module"], module, "{file}");
        let rules: Vec<Rule> = typed(&format!("{file} spec.rules"), &spec["rules"]);
        assert_eq!(rules, m.rules, "{file}: spec.rules vs metadata.yml");
        assert_eq!(spec["mutating"], json!(m.mutating), "{file}");
        assert_eq!(spec["backgroundAudit"], json!(m.background_audit), "{file}");
        assert_eq!(
            resource_set(file, &spec["contextAwareResources"]),
            m.context_aware_set(),
            "{file}: spec.contextAwareResources vs metadata.yml"
        );
        assert_eq!(settings_errors(&spec["settings"]), Ok(()), "{file}");
        assert_eq!(
            spec["settings"],
            example_settings(SETTINGS_SEED),
            "{file}: spec.settings vs examples/{SETTINGS_SEED}"
        );
    }
}

#[test]
fn example_namespace_selectors_are_policy_controllers() {
    let selector = |name: &str| {
        let (file, text) = CAP_EXAMPLES.iter().find(|(f, _)| *f == name).unwrap();
        yaml(file, text)["spec"]["namespaceSelector"].clone()
    };
    // Upstream's webhook (config/500-webhook-configuration.yaml): opt-in.
    assert_eq!(
        selector(CAP_OPT_IN),
        json!({"matchExpressions": [
            {"key": "policy.sigstore.dev/include", "operator": "In", "values": ["true"]}
        ]})
    );
    // docs.sigstore.dev's opt-out variant.
    assert_eq!(
        selector(CAP_OPT_OUT),
        json!({"matchExpressions": [
            {"key": "policy.sigstore.dev/exclude", "operator": "DoesNotExist"}
        ]})
    );
}

#[test]
fn example_settings_pass_settings_validation() {
    for (file, text) in SETTINGS_EXAMPLES {
        assert_eq!(
            settings_errors(&yaml(file, text)),
            Ok(()),
            "examples/{file}"
        );
    }
    // The check is live: a broken copy is rejected.
    let mut broken = example_settings(SETTINGS_KEYLESS_GHA);
    broken["policies"][0]["spec"]["authorities"][0]["keyless"]["identities"][0]["subjectRegExp"] =
        json!("(");
    let err = settings_errors(&broken).unwrap_err();
    assert!(err.contains("subjectRegExp"), "{err}");
}

#[test]
fn example_seed_settings_are_the_seed_cips() {
    let settings = example_settings(SETTINGS_SEED);
    assert_eq!(settings["policies"], Value::Array(seed_cips()));
    assert_eq!(settings["noMatchPolicy"], "deny");
    // disallow-latest-tag splits input.image on `:`; a digest this policy pinned
    // (`…:latest-dev@sha256:…`) adds one, and the pinned ReplicaSet would be denied.
    assert_eq!(settings["modifyImagesWithDigest"], false);
}

#[test]
fn example_keyless_github_actions() {
    let settings = example_settings(SETTINGS_KEYLESS_GHA);
    let cips = settings["policies"].as_array().expect("policies");
    assert_eq!(cips.len(), 1);
    let spec = &cips[0]["spec"];
    let glob = spec["images"][0]["glob"].as_str().expect("a glob");
    assert_eq!(glob, "ghcr.io/example-org/**");
    for (image, matches) in [
        ("ghcr.io/example-org/app:v1.2.3", true),
        (
            "ghcr.io/example-org/team/app@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350",
            true,
        ),
        ("ghcr.io/other-org/app:v1.2.3", false),
        ("docker.io/example-org/app:v1.2.3", false),
    ] {
        assert_eq!(
            crate::glob::image_matches(glob, image, false),
            Ok(matches),
            "{image}"
        );
    }
    let authorities = spec["authorities"].as_array().expect("authorities");
    assert_eq!(authorities.len(), 1);
    let identities = authorities[0]["keyless"]["identities"]
        .as_array()
        .expect("keyless identities");
    assert_eq!(identities.len(), 1);
    assert_eq!(
        identities[0]["issuer"],
        "https://token.actions.githubusercontent.com"
    );
    // Unanchored RE2, as cosign and the policy apply it.
    let subject = regex::Regex::new(identities[0]["subjectRegExp"].as_str().unwrap()).unwrap();
    for (san, matches) in [
        (
            "https://github.com/example-org/app/.github/workflows/release.yml@refs/tags/v1.2.3",
            true,
        ),
        (
            "https://github.com/example-org/other/.github/workflows/ci.yaml@refs/tags/v0.1.0-rc.1",
            true,
        ),
        (
            "https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main",
            false,
        ),
        (
            "https://github.com/example-org/app/.github/workflows/release.yml@refs/pull/1/merge",
            false,
        ),
        (
            "https://github.com/evil-org/app/.github/workflows/release.yml@refs/tags/v1.2.3",
            false,
        ),
        (
            "https://github.com/evil/example-org/app/.github/workflows/x.yml@refs/tags/v1",
            false,
        ),
        (
            "https://evil.example/https://github.com/example-org/app/.github/workflows/x.yml@refs/tags/v1",
            false,
        ),
        (
            "https://github.com/example-org/app/.github/workflows/release.yml@refs/tags/latest",
            false,
        ),
    ] {
        assert_eq!(subject.is_match(san), matches, "{san}");
    }
}

// ---------------------------------------------------------------------------------------------
// .github/workflows/release.yml

struct Step {
    uses: Option<String>,
    run: Option<String>,
    with: Value,
}

fn release_workflow() -> Value {
    yaml(".github/workflows/release.yml", RELEASE)
}

fn release_steps(workflow: &Value) -> Vec<Step> {
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert!(!jobs.is_empty(), "release.yml has no job");
    jobs.values()
        .flat_map(|job| job["steps"].as_array().expect("steps").clone())
        .map(|step| Step {
            uses: step["uses"].as_str().map(str::to_string),
            run: step["run"].as_str().map(str::to_string),
            with: step["with"].clone(),
        })
        .collect()
}

/// Index of the first step whose `run` has `needle` (panics if none does).
fn step_running(steps: &[Step], needle: &str) -> usize {
    steps
        .iter()
        .position(|s| s.run.as_deref().is_some_and(|r| r.contains(needle)))
        .unwrap_or_else(|| panic!("release.yml: no step runs {needle:?}"))
}

fn step_using(steps: &[Step], action: &str) -> usize {
    steps
        .iter()
        .position(|s| {
            s.uses
                .as_deref()
                .is_some_and(|u| u.starts_with(&format!("{action}@")))
        })
        .unwrap_or_else(|| panic!("release.yml: no step uses {action}"))
}

#[test]
fn release_workflow_triggers_on_version_tags_with_the_needed_permissions() {
    let workflow = release_workflow();
    // `on` is a plain string key in YAML 1.2 (yaml_serde); YAML 1.1 would read `true`.
    assert_eq!(
        workflow["on"],
        json!({"push": {"tags": ["v*"]}}),
        "release.yml must run on v* tags, and only on them"
    );
    assert_eq!(
        workflow["permissions"],
        json!({"contents": "write", "packages": "write", "id-token": "write"})
    );
    assert_eq!(
        workflow["env"]["OCI_TARGET"],
        metadata().oci_url(),
        "release.yml OCI_TARGET vs io.kubewarden.policy.ociUrl"
    );
}

#[test]
fn release_workflow_steps() {
    let steps = release_steps(&release_workflow());
    for step in &steps {
        if let Some(uses) = &step.uses {
            let (_, pin) = uses.split_once('@').expect("a pinned action");
            assert!(
                pin.len() == 40 && pin.bytes().all(|b| b.is_ascii_hexdigit()),
                "{uses}: pin actions to a commit"
            );
        }
    }
    let checkout = step_using(&steps, "actions/checkout");
    let rust = step_running(&steps, "--target wasm32-wasip1");
    assert!(
        steps[rust]
            .run
            .as_ref()
            .unwrap()
            .contains("rustup toolchain install stable")
    );
    let bats = step_running(&steps, "install -y bats jq");
    let cosign_installer = step_using(&steps, "sigstore/cosign-installer");
    let kwctl_installer = step_using(&steps, "kubewarden/github-actions/kwctl-installer");
    let version_check = step_running(&steps, "io.kubewarden.policy.version");
    assert!(
        steps[version_check]
            .run
            .as_ref()
            .unwrap()
            .contains("metadata.yml")
    );
    let test = step_running(&steps, "make test");
    let annotate = step_running(&steps, "make annotated-policy.wasm");
    let login = step_using(&steps, "docker/login-action");
    assert_eq!(steps[login].with["registry"], "ghcr.io");
    let push = step_running(&steps, "kwctl push");
    let push_run = steps[push].run.as_ref().unwrap();
    assert!(
        push_run.contains(
            r#"kwctl push -o json annotated-policy.wasm "${OCI_TARGET}:${GITHUB_REF_NAME}""#
        ),
        "{push_run}"
    );
    assert!(push_run.contains(".immutable_ref"), "{push_run}");
    let gh_release = step_using(&steps, "softprops/action-gh-release");
    assert_eq!(steps[gh_release].with["files"], "policy.wasm");

    // Every tool is there before it is used; nothing is pushed before the tests pass and the
    // tag is checked; the release comes last.
    for before in [checkout, rust, bats, cosign_installer, kwctl_installer] {
        assert!(before < test, "step {before} must precede `make test`");
    }
    assert!(checkout < version_check);
    for before in [version_check, test, annotate, login] {
        assert!(before < push, "step {before} must precede the push");
    }
    assert!(push < gh_release);

    // Keyless signing of the pushed digest, in both formats, as Kubewarden's policy-release.
    let signs: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.run.as_deref())
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|l| l.starts_with("cosign sign "))
        .collect();
    assert_eq!(signs.len(), 2, "{signs:?}");
    for (line, flags) in signs.iter().zip([
        "--new-bundle-format=false --use-signing-config=false",
        "--new-bundle-format=true --use-signing-config=true",
    ]) {
        assert!(line.contains(flags), "{line}");
        assert!(line.contains("--yes"), "{line}");
        assert!(line.ends_with(r#""${IMMUTABLE_REF}""#), "{line}");
        assert!(!line.contains("--key"), "{line}: signing is keyless");
    }
    assert!(
        push_run.contains("cosign sign "),
        "sign in the push step, its ref"
    );
}

/// Runs the workflow's version check as the runner would, on this checkout.
#[test]
fn release_version_check_compares_the_tag_with_metadata() {
    let steps = release_steps(&release_workflow());
    let script = steps[step_running(&steps, "io.kubewarden.policy.version")]
        .run
        .clone()
        .unwrap();
    let run = |tag: &str| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GITHUB_REF_NAME", tag)
            .output()
            .expect("bash runs")
            .status
            .success()
    };
    let version = metadata().version().to_string();
    assert!(run(&format!("v{version}")), "tag v{version} must pass");
    assert!(!run(&format!("v{version}.1")), "another tag must fail");
    assert!(!run("v9.9.9"), "another tag must fail");
    assert!(
        !run(&format!("v{version}-rc.1")),
        "a pre-release tag must fail"
    );
}
