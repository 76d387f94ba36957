//! `cip-runner migrate`: turn the ClusterImagePolicy (CIP) manifests a cluster
//! has for the Sigstore policy-controller into one Kubewarden
//! `ClusterAdmissionPolicy` running the cluster-image-policy module.
//!
//! # Usage
//!
//! ```text
//! make annotated-policy.wasm runner
//! kubectl get clusterimagepolicies -o yaml > cips.yaml
//! kubectl -n cosign-system get configmap config-policy-controller -o yaml > config.yaml
//! target/runner/cip-runner migrate --policy annotated-policy.wasm cips.yaml config.yaml \
//!     -o cluster-admission-policy.yaml
//! kubectl apply -f cluster-admission-policy.yaml
//! ```
//!
//! `cip-runner migrate --policy WASM [-o FILE] [--name NAME] [--module URI]
//! [--no-match-policy deny|warn|allow] [--opt-out] PATH...`
//!
//! - `PATH`: a file, a directory (its `*.yaml`, `*.yml` and `*.json` files,
//!   sorted by name, not recursive) or `-` (stdin). Each file may hold several
//!   YAML documents. A document is a `ClusterImagePolicy` (any apiVersion; the
//!   module decides), a `List` of them (`kubectl get clusterimagepolicies -o
//!   yaml`), or the `config-policy-controller` ConfigMap, whose
//!   `data.no-match-policy` gives the no-match policy (`deny`, `warn`, `allow`;
//!   any other value is reported and means `deny`, as in policy-controller),
//!   or a `TrustRoot`, converted by [`crate::trustroot`] into the
//!   PolicyServer's Sigstore trust ConfigMap, written after the
//!   ClusterAdmissionPolicy, and the settings' `hostSigstoreTrust`.
//!   Any other document is reported (`note: …`) and skipped.
//! - `--policy`: the annotated module (`make annotated-policy.wasm`). Its
//!   `io.kubewarden.metadata` gives `rules`, `mutating`, `backgroundAudit`,
//!   `contextAwareResources`, the `io.kubewarden.policy.category`/`severity`
//!   annotations and the default `--module`
//!   (`registry://<io.kubewarden.policy.ociUrl>:v<io.kubewarden.policy.version>`),
//!   as `kwctl scaffold manifest --allow-context-aware` would; and its
//!   `validate_settings` checks the result.
//! - `--name` (default `cluster-image-policy`): `metadata.name`.
//! - `--no-match-policy`: overrides the ConfigMap (default `deny`).
//! - `--opt-out`: `namespaceSelector` `policy.sigstore.dev/exclude
//!   DoesNotExist` instead of policy-controller's opt-in
//!   `policy.sigstore.dev/include In ["true"]`.
//! - `-o FILE` (`-` or none: stdout).
//!
//! The output looks like `examples/cluster-admission-policy.yaml`
//! (`mode: protect`, `failurePolicy: Fail`, `timeoutSeconds: 30`);
//! `spec.settings` is `{noMatchPolicy, policies}`, each CIP reduced to
//! `apiVersion`, `kind`, `metadata.name` and `spec` (`status`, `uid`,
//! `resourceVersion`, `managedFields`, annotations … are dropped). A comment
//! header lists the inputs, the counts and the CIPs left out. Strings YAML 1.1
//! (kubectl's parser) would read as booleans or numbers (`no`, `on`, `1_000`)
//! are single-quoted. `modifyImagesWithDigest` is left at its default (`true`,
//! like policy-controller, which resolves tags to digests too).
//!
//! The settings go through the module's own `validate_settings`. Its message
//! has one error per line, `policies[<i>] (<name>): <error>` (or
//! `policies[<i>].<path>: <error>` when the CIP does not even decode),
//! continuation lines unprefixed. Every CIP with an error is dropped and
//! reported on stderr with all its lines (prefix removed):
//!
//! ```text
//! dropped: ClusterImagePolicy uses-cue (cips.yaml, document 1, items[1]):
//!   not supported: spec.policy.type
//!   cue policies cannot be evaluated: there is no CUE evaluator for Rust; rewrite the policy in Rego
//! ```
//!
//! and the rest is validated again, until the module accepts it. An error
//! tied to no CIP is fatal. Last line on stderr:
//!
//! ```text
//! summary: 2 ClusterImagePolicies carried over, 1 dropped; noMatchPolicy warn (from config.yaml, document 1: ConfigMap config-policy-controller, data.no-match-policy)
//! ```
//!
//! Other stderr lines: `note: …` (a skipped document, a ConfigMap key with no
//! equivalent, an overridden no-match policy) and `warning: …` (an unknown
//! `no-match-policy`).
//!
//! Exit codes: 0 every CIP (or none) carried over; 2 some dropped (the
//! output is still written); 1 fatal error (`Error: …`, nothing written).
//! (clap's usage errors exit with 2 too, with nothing on stdout.)

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use serde_yaml::{Mapping, Value};

use crate::capabilities::HostCapabilities;
use crate::host::{Backend, Host};
use crate::metadata::Metadata;
use crate::module::{METADATA_SECTION, PolicyInstance, PolicyModule};
use crate::settings::PolicySettings;

/// Exit code when some CIPs could not be carried over.
pub const EXIT_DROPPED: i32 = 2;

/// Name of policy-controller's ConfigMap (`pkg/config/store.go`).
pub const CONFIG_MAP_NAME: &str = "config-policy-controller";

/// Its key for the no-match policy.
pub const NO_MATCH_POLICY_KEY: &str = "no-match-policy";

/// Arguments of `migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The annotated policy module (`make annotated-policy.wasm`): its
    /// metadata gives the rules, and its settings validation checks the result.
    #[arg(long, value_name = "WASM")]
    pub policy: PathBuf,
    /// Write the ClusterAdmissionPolicy to this file (`-`: stdout, the default).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// metadata.name of the ClusterAdmissionPolicy.
    #[arg(long, value_name = "NAME", default_value = "cluster-image-policy")]
    pub name: String,
    /// spec.module (default: registry://<ociUrl>:v<version> from the module's metadata).
    #[arg(long, value_name = "URI")]
    pub module: Option<String>,
    /// No-match policy, overriding the config-policy-controller ConfigMap.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub no_match_policy: Option<NoMatchPolicy>,
    /// Check every namespace but those labelled policy.sigstore.dev/exclude
    /// (default: only those labelled policy.sigstore.dev/include=true).
    #[arg(long)]
    pub opt_out: bool,
    /// ClusterImagePolicy manifests: files, directories (*.yaml, *.yml,
    /// *.json) or `-` for stdin.
    #[arg(value_name = "PATH", required = true)]
    pub inputs: Vec<String>,
}

/// policy-controller's `no-match-policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoMatchPolicy {
    /// Deny images no CIP matches (the default).
    Deny,
    /// Admit them with a warning.
    Warn,
    /// Admit them silently.
    Allow,
}

impl NoMatchPolicy {
    /// The settings value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Warn => "warn",
            Self::Allow => "allow",
        }
    }

    /// policy-controller's exact (case-sensitive) values.
    fn parse(value: &str) -> Option<Self> {
        match value {
            "deny" => Some(Self::Deny),
            "warn" => Some(Self::Warn),
            "allow" => Some(Self::Allow),
            _ => None,
        }
    }
}

/// Where a document comes from: file, 1-based document number, `items[]`
/// indices inside Lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The path as given (`<stdin>` for `-`).
    pub file: String,
    /// 1-based document number in the file.
    pub document: usize,
    /// Indices in nested `items`.
    pub items: Vec<usize>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, document {}", self.file, self.document)?;
        for (n, i) in self.items.iter().enumerate() {
            let sep = if n == 0 { ", " } else { "." };
            write!(f, "{sep}items[{i}]")?;
        }
        Ok(())
    }
}

/// A CIP found in the input, cleaned.
#[derive(Debug, Clone)]
pub struct Cip {
    /// Where it was.
    pub origin: Origin,
    /// `metadata.name` (empty when missing).
    pub name: String,
    /// `apiVersion`, `kind`, `metadata.name`, `spec`.
    pub manifest: Value,
}

/// The no-match policy found in the input.
#[derive(Debug, Clone)]
pub struct ConfigNoMatch {
    /// What it means (`None` when the ConfigMap has no such key).
    pub policy: Option<NoMatchPolicy>,
    /// The ConfigMap's value, when it had one.
    pub raw: Option<String>,
    /// Where the ConfigMap was.
    pub origin: Origin,
}

/// Everything read from the input files.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The CIPs, in input order.
    pub cips: Vec<Cip>,
    /// From the last `config-policy-controller` ConfigMap, if any.
    pub config: Option<ConfigNoMatch>,
    /// The `TrustRoot`s, in input order.
    pub trust_roots: Vec<crate::trustroot::TrustRoot>,
    /// `note: …` / `warning: …` lines for stderr.
    pub messages: Vec<String>,
}

/// A file's contents and the name to report.
#[derive(Debug)]
pub struct Source {
    /// The path as given, `<stdin>` for `-`.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Reads the `PATH` arguments: files, directories (their `*.yaml`, `*.yml`,
/// `*.json`, sorted) and `-`.
///
/// # Errors
/// A path that cannot be read, `-` given twice.
pub fn read_sources(paths: &[String], messages: &mut Vec<String>) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    let mut stdin_read = false;
    for arg in paths {
        if arg == "-" {
            if stdin_read {
                bail!("`-` (stdin) is given more than once");
            }
            stdin_read = true;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            sources.push(Source {
                name: "<stdin>".into(),
                text,
            });
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {arg}"))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("cannot read directory {arg}"))?;
            files.retain(|f| {
                f.is_file()
                    && f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e))
            });
            files.sort();
            if files.is_empty() {
                messages.push(format!(
                    "note: {arg}: no *.yaml, *.yml or *.json file in this directory"
                ));
            }
            for file in files {
                let name = file.display().to_string();
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {name}"))?;
                sources.push(Source { name, text });
            }
        } else {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {arg}"))?;
            sources.push(Source {
                name: arg.clone(),
                text,
            });
        }
    }
    Ok(sources)
}

/// `kind` and `metadata.name` of a mapping (empty strings when missing).
fn kind_and_name(map: &Mapping) -> (&str, &str) {
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    (kind, name)
}

/// A CIP reduced to what `kubectl apply` needs: `apiVersion`, `kind`,
/// `metadata.name`, `spec`. Server-side metadata (`uid`, `resourceVersion`,
/// `managedFields`, `creationTimestamp`, `generation`, annotations, labels)
/// and `status` are dropped.
pub fn clean_cip(map: &Mapping) -> Value {
    let mut out = Mapping::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = map.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut metadata = Mapping::new();
    if let Some(name) = map.get("metadata").and_then(|m| m.get("name")) {
        metadata.insert("name".into(), name.clone());
    }
    out.insert("metadata".into(), Value::Mapping(metadata));
    if let Some(spec) = map.get("spec") {
        out.insert("spec".into(), spec.clone());
    }
    Value::Mapping(out)
}

/// A short description of a YAML value's type, for notes.
fn value_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "sequence",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}

impl Inputs {
    /// Parses every document of every source.
    ///
    /// # Errors
    /// A document that is not YAML.
    pub fn parse(sources: &[Source]) -> Result<Self> {
        let mut inputs = Self::default();
        for source in sources {
            inputs.add_source(source)?;
        }
        Ok(inputs)
    }

    /// Parses one source's documents.
    ///
    /// # Errors
    /// A document that is not YAML.
    pub fn add_source(&mut self, source: &Source) -> Result<()> {
        use serde::Deserialize;
        for (n, document) in serde_yaml::Deserializer::from_str(&source.text).enumerate() {
            let origin = Origin {
                file: source.name.clone(),
                document: n + 1,
                items: Vec::new(),
            };
            let value =
                Value::deserialize(document).map_err(|e| anyhow!("cannot parse {origin}: {e}"))?;
            self.add_document(&value, origin);
        }
        Ok(())
    }

    /// Sorts one document (or `List` item) into CIPs, the ConfigMap, or a note.
    pub fn add_document(&mut self, value: &Value, origin: Origin) {
        let map = match value {
            // An empty document (`---` at the end of a file).
            Value::Null => return,
            Value::Mapping(map) => map,
            other => {
                self.messages.push(format!(
                    "note: {origin}: skipped a {}: not a Kubernetes object",
                    value_type(other)
                ));
                return;
            }
        };
        let (kind, name) = kind_and_name(map);
        if kind == "ClusterImagePolicy" {
            self.cips.push(Cip {
                origin,
                name: name.to_owned(),
                manifest: clean_cip(map),
            });
        } else if kind.ends_with("List")
            && let Some(Value::Sequence(items)) = map.get("items")
        {
            if items.is_empty() {
                self.messages
                    .push(format!("note: {origin}: the {kind} has no items"));
            }
            for (i, item) in items.iter().enumerate() {
                let mut item_origin = origin.clone();
                item_origin.items.push(i);
                self.add_document(item, item_origin);
            }
        } else if kind == "ConfigMap" && name == CONFIG_MAP_NAME {
            self.add_config_map(map, origin);
        } else if kind == "TrustRoot" {
            self.trust_roots
                .push(crate::trustroot::TrustRoot::read(map, origin));
        } else {
            let what = match (kind, name) {
                ("", _) => "a document without kind".to_owned(),
                (kind, "") => format!("a {kind}"),
                (kind, name) => format!("{kind} {name}"),
            };
            self.messages.push(format!(
                "note: {origin}: skipped {what}: not a ClusterImagePolicy, a List of them or the {CONFIG_MAP_NAME} ConfigMap"
            ));
        }
    }

    /// policy-controller's ConfigMap: `data.no-match-policy` (exact values,
    /// anything else is `deny`, `pkg/config/store.go`); other keys are noted.
    fn add_config_map(&mut self, map: &Mapping, origin: Origin) {
        let empty = Mapping::new();
        let data = map
            .get("data")
            .and_then(Value::as_mapping)
            .unwrap_or(&empty);
        if let Some(previous) = &self.config {
            self.messages.push(format!(
                "note: {origin}: another {CONFIG_MAP_NAME} ConfigMap; it replaces the one of {}",
                previous.origin
            ));
        }
        let raw = data.get(NO_MATCH_POLICY_KEY).map(|v| match v {
            Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim_end()
                .to_owned(),
        });
        let policy = raw.as_deref().map(|raw| {
            NoMatchPolicy::parse(raw).unwrap_or_else(|| {
                self.messages.push(format!(
                    "warning: {origin}: {CONFIG_MAP_NAME} has an unknown {NO_MATCH_POLICY_KEY} {raw:?}; policy-controller treats any value but deny, warn and allow as deny, and so does the migrated policy"
                ));
                NoMatchPolicy::Deny
            })
        });
        for key in data.keys().filter_map(Value::as_str) {
            if key == NO_MATCH_POLICY_KEY || key.starts_with('_') {
                continue;
            }
            let why = if key == "fail-on-empty-authorities" {
                "this policy always requires authorities (policy-controller's default); a CIP without any is dropped"
            } else {
                "this policy has no such setting"
            };
            self.messages.push(format!(
                "note: {origin}: {CONFIG_MAP_NAME} data.{key} is not carried over: {why}"
            ));
        }
        self.config = Some(ConfigNoMatch {
            policy,
            raw,
            origin,
        });
    }

    /// The no-match policy to use and where it comes from (`--no-match-policy`
    /// wins over the ConfigMap, which wins over policy-controller's default).
    pub fn no_match_policy(&mut self, flag: Option<NoMatchPolicy>) -> (NoMatchPolicy, String) {
        let from_config = self.config.as_ref().map(|c| {
            let source = match &c.raw {
                Some(_) => format!(
                    "{}: ConfigMap {CONFIG_MAP_NAME}, data.{NO_MATCH_POLICY_KEY}",
                    c.origin
                ),
                None => format!(
                    "policy-controller's default: {}: ConfigMap {CONFIG_MAP_NAME} has no data.{NO_MATCH_POLICY_KEY}",
                    c.origin
                ),
            };
            (c.policy.unwrap_or(NoMatchPolicy::Deny), source)
        });
        match (flag, from_config) {
            (Some(flag), config) => {
                if let Some((value, source)) = config
                    && value != flag
                {
                    self.messages.push(format!(
                        "note: --no-match-policy {} overrides {} ({source})",
                        flag.as_str(),
                        value.as_str()
                    ));
                }
                (flag, "--no-match-policy".to_owned())
            }
            (None, Some(config)) => config,
            (None, None) => (
                NoMatchPolicy::Deny,
                format!("policy-controller's default: no {CONFIG_MAP_NAME} ConfigMap given"),
            ),
        }
    }
}

/// The errors of one `validate_settings` answer, by CIP position, with the
/// `policies[i] (name): ` prefix removed. `names` are the names of the CIPs
/// that were validated, in order.
///
/// # Errors
/// The whole message when an error is tied to no CIP (a first line without a
/// `policies[i]` prefix), or names a position that was not sent.
pub fn errors_by_policy(
    message: &str,
    names: &[&str],
) -> Result<BTreeMap<usize, Vec<String>>, String> {
    let mut errors: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut current: Option<usize> = None;
    for line in message.split('\n') {
        match split_policy_prefix(line, names) {
            Some((index, rest)) => {
                errors.entry(index).or_default().push(rest.to_owned());
                current = Some(index);
            }
            None => match current {
                Some(index) => errors.entry(index).or_default().push(line.to_owned()),
                None => return Err(message.to_owned()),
            },
        }
    }
    if errors.is_empty() {
        return Err(message.to_owned());
    }
    Ok(errors)
}

/// `policies[i] (name): rest` → `(i, rest)`; `policies[i].path: rest` (a CIP
/// that does not decode) → `(i, path: rest)`. `None` for any other line,
/// including an index out of range.
fn split_policy_prefix<'a>(line: &'a str, names: &[&str]) -> Option<(usize, &'a str)> {
    let rest = line.strip_prefix("policies[")?;
    let (digits, rest) = rest.split_once(']')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: usize = digits.parse().ok()?;
    let name = names.get(index)?;
    if let Some(rest) = rest
        .strip_prefix(" (")
        .and_then(|r| r.strip_prefix(*name))
        .and_then(|r| r.strip_prefix("): "))
    {
        return Some((index, rest));
    }
    if let Some(rest) = rest.strip_prefix('.') {
        return Some((index, rest));
    }
    if rest.starts_with('[') {
        return Some((index, line));
    }
    rest.strip_prefix(": ").map(|rest| (index, rest))
}

/// A CIP that could not be carried over, with the module's error lines.
#[derive(Debug, Clone)]
pub struct Dropped {
    /// The CIP.
    pub cip: Cip,
    /// Its errors, one line each, `policies[i] (name): ` removed.
    pub reasons: Vec<String>,
}

/// The settings object: `{noMatchPolicy, [hostSigstoreTrust,] policies}`.
fn settings_value(no_match: NoMatchPolicy, trust: Option<&Value>, cips: &[&Cip]) -> Value {
    let mut settings = Mapping::new();
    settings.insert("noMatchPolicy".into(), no_match.as_str().into());
    if let Some(trust) = trust {
        settings.insert("hostSigstoreTrust".into(), trust.clone());
    }
    settings.insert(
        "policies".into(),
        Value::Sequence(cips.iter().map(|c| c.manifest.clone()).collect()),
    );
    Value::Mapping(settings)
}

/// Validates the settings with the module, dropping every CIP it reports,
/// until it accepts them. Returns the settings and the dropped CIPs (in
/// input order).
///
/// # Errors
/// An error tied to no CIP (the module's whole message), settings that
/// cannot be turned into JSON.
pub fn validate(
    instance: &PolicyInstance,
    no_match: NoMatchPolicy,
    trust: Option<&Value>,
    cips: Vec<Cip>,
) -> Result<(Value, Vec<Dropped>)> {
    let mut kept: Vec<Cip> = cips;
    let mut dropped: Vec<(usize, Dropped)> = Vec::new();
    let mut positions: Vec<usize> = (0..kept.len()).collect();
    loop {
        let refs: Vec<&Cip> = kept.iter().collect();
        let settings = settings_value(no_match, trust, &refs);
        let json =
            serde_json::to_value(&settings).context("the settings cannot be expressed as JSON")?;
        let response = instance.validate_settings(&PolicySettings::from_value(json)?);
        if response.valid {
            dropped.sort_by_key(|(position, _)| *position);
            return Ok((settings, dropped.into_iter().map(|(_, d)| d).collect()));
        }
        let message = response.message.unwrap_or_default();
        let names: Vec<&str> = kept.iter().map(|c| c.name.as_str()).collect();
        let errors = errors_by_policy(&message, &names).map_err(|message| {
            anyhow!("the policy's settings validation failed with errors tied to no ClusterImagePolicy:\n{message}")
        })?;
        for (index, reasons) in errors.into_iter().rev() {
            let cip = kept.remove(index);
            let position = positions.remove(index);
            dropped.push((position, Dropped { cip, reasons }));
        }
    }
}

/// The module's full metadata, from its `io.kubewarden.metadata` section.
///
/// # Errors
/// No such section (with the command that makes one), unreadable metadata.
pub fn module_metadata(path: &Path, bytes: &[u8]) -> Result<Metadata> {
    let section = crate::wasm::custom_section(bytes, METADATA_SECTION)
        .with_context(|| format!("cannot read the policy module {}", path.display()))?;
    let Some(json) = section else {
        bail!(
            "{} has no Kubewarden metadata (no {METADATA_SECTION} section); migrate takes the rules, mutating, backgroundAudit, contextAwareResources and the module URL from it: build the annotated module with `make annotated-policy.wasm` and pass --policy annotated-policy.wasm",
            path.display()
        );
    };
    serde_json::from_slice(json)
        .with_context(|| format!("cannot parse the metadata of {}", path.display()))
}

/// `metadata.name` must be an RFC 1123 subdomain, as Kubernetes (and kwctl
/// scaffold) require.
fn check_name(name: &str) -> Result<()> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        bail!(
            "invalid --name {name:?}: a Kubernetes name is lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
        );
    }
    Ok(())
}

/// `registry://<ociUrl>:v<version>` from the metadata annotations.
fn default_module(metadata: &Metadata) -> Result<String> {
    let annotation = |key: &str| {
        metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .filter(|v| !v.is_empty())
    };
    let (Some(url), Some(version)) = (
        annotation("io.kubewarden.policy.ociUrl"),
        annotation("io.kubewarden.policy.version"),
    ) else {
        bail!(
            "the policy's metadata has no io.kubewarden.policy.ociUrl or io.kubewarden.policy.version annotation: pass --module registry://…"
        );
    };
    let version = version.strip_prefix('v').unwrap_or(version);
    Ok(format!("registry://{url}:v{version}"))
}

/// The `ClusterAdmissionPolicy`.
fn cluster_admission_policy(
    name: &str,
    module: &str,
    metadata: &Metadata,
    opt_out: bool,
    settings: Value,
) -> Result<Value> {
    let mut meta = Mapping::new();
    meta.insert("name".into(), name.into());
    let mut annotations = Mapping::new();
    for key in [
        "io.kubewarden.policy.category",
        "io.kubewarden.policy.severity",
    ] {
        if let Some(v) = metadata.annotations.as_ref().and_then(|a| a.get(key)) {
            annotations.insert(key.into(), v.as_str().into());
        }
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Mapping(annotations));
    }

    let selector: Value = if opt_out {
        serde_yaml::from_str(
            "matchExpressions: [{key: policy.sigstore.dev/exclude, operator: DoesNotExist}]",
        )?
    } else {
        serde_yaml::from_str(
            "matchExpressions: [{key: policy.sigstore.dev/include, operator: In, values: ['true']}]",
        )?
    };

    let mut spec = Mapping::new();
    spec.insert("module".into(), module.into());
    spec.insert("mode".into(), "protect".into());
    spec.insert("failurePolicy".into(), "Fail".into());
    spec.insert("timeoutSeconds".into(), 30.into());
    spec.insert("rules".into(), serde_yaml::to_value(&metadata.rules)?);
    spec.insert("mutating".into(), metadata.mutating.into());
    spec.insert("backgroundAudit".into(), metadata.background_audit.into());
    spec.insert(
        "contextAwareResources".into(),
        serde_yaml::to_value(&metadata.context_aware_resources)?,
    );
    spec.insert("namespaceSelector".into(), selector);
    spec.insert("settings".into(), settings);

    let mut cap = Mapping::new();
    cap.insert("apiVersion".into(), "policies.kubewarden.io/v1".into());
    cap.insert("kind".into(), "ClusterAdmissionPolicy".into());
    cap.insert("metadata".into(), Value::Mapping(meta));
    cap.insert("spec".into(), Value::Mapping(spec));
    Ok(Value::Mapping(cap))
}

/// Whether YAML 1.1, which kubectl reads with (go-yaml v2 in
/// `sigs.k8s.io/yaml`), takes this string for a boolean or a number while
/// `serde_yaml` (YAML 1.2) writes it unquoted: `on`, `no`, `y`, `1_000` ….
fn yaml11_ambiguous(s: &str) -> bool {
    const BOOLEANS: [&str; 16] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    BOOLEANS.contains(&s)
        || (s.contains('_')
            && matches!(
                serde_yaml::from_str::<Value>(&s.replace('_', "")),
                Ok(Value::Number(_))
            ))
}

/// Replaces every string [`yaml11_ambiguous`] flags with `marker<n>q`.
fn mark_ambiguous(value: &Value, marker: &str, found: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) if yaml11_ambiguous(s) => {
            found.push(s.clone());
            Value::String(format!("{marker}{}q", found.len() - 1))
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|v| mark_ambiguous(v, marker, found))
                .collect(),
        ),
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (k.clone(), mark_ambiguous(v, marker, found)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `serde_yaml::to_string`, with the strings YAML 1.1 would misread
/// single-quoted (`message: 'no'`, not `message: no`, which kubectl would
/// turn into `false`). The text is read back and compared to `value`.
///
/// # Errors
/// Serialization errors; a text that does not read back as `value` (a bug).
fn to_yaml(value: &Value) -> Result<String> {
    let plain = serde_yaml::to_string(value)?;
    let mut marker = String::from("cip-runner-quoted-");
    while plain.contains(&marker) {
        marker.push('x');
    }
    let mut found = Vec::new();
    let marked = mark_ambiguous(value, &marker, &mut found);
    if found.is_empty() {
        return Ok(plain);
    }
    let mut text = serde_yaml::to_string(&marked)?;
    for (n, s) in found.iter().enumerate() {
        text = text.replacen(&format!("{marker}{n}q"), &format!("'{s}'"), 1);
    }
    let read_back: Value = serde_yaml::from_str(&text)?;
    if read_back != *value {
        bail!("internal error: the YAML written does not read back as the ClusterAdmissionPolicy");
    }
    Ok(text)
}

/// "1 ClusterImagePolicy" / "2 ClusterImagePolicies".
fn cips(n: usize) -> String {
    if n == 1 {
        "1 ClusterImagePolicy".to_owned()
    } else {
        format!("{n} ClusterImagePolicies")
    }
}

/// What [`migrate`] produced.
#[derive(Debug)]
pub struct Migration {
    /// The ClusterAdmissionPolicy, as YAML (with a header comment).
    pub yaml: String,
    /// Lines for stderr (notes, dropped CIPs, the summary last).
    pub messages: Vec<String>,
    /// How many CIPs were carried over.
    pub carried: usize,
    /// The CIPs that were not.
    pub dropped: Vec<Dropped>,
}

/// Does the work of `cip-runner migrate` without printing anything.
///
/// # Errors
/// See the module documentation (exit code 1).
pub fn migrate(args: &MigrateArgs) -> Result<Migration> {
    check_name(&args.name)?;
    let bytes = std::fs::read(&args.policy)
        .with_context(|| format!("cannot read policy module {}", args.policy.display()))?;
    let metadata = module_metadata(&args.policy, &bytes)?;
    let module_uri = match &args.module {
        Some(uri) => uri.clone(),
        None => default_module(&metadata)?,
    };

    let mut messages = Vec::new();
    let sources = read_sources(&args.inputs, &mut messages)?;
    let mut inputs = Inputs::parse(&sources)?;
    messages.append(&mut inputs.messages);
    let (no_match, no_match_source) = inputs.no_match_policy(args.no_match_policy);
    messages.append(&mut inputs.messages);
    let trust = crate::trustroot::plan(&inputs.trust_roots)?;
    messages.extend(trust.messages.iter().cloned());
    let total = inputs.cips.len();
    if total == 0 {
        messages.push(format!(
            "note: no ClusterImagePolicy in the input: every image falls to noMatchPolicy {}",
            no_match.as_str()
        ));
    }

    let module = PolicyModule::from_bytes(&bytes)
        .with_context(|| format!("cannot load policy module {}", args.policy.display()))?;
    let host = Arc::new(Host::new(
        HostCapabilities::AllowAll,
        std::collections::BTreeSet::new(),
        Backend::Offline,
    ));
    let instance = module.instantiate(host)?;
    let (settings, dropped) = validate(
        &instance,
        no_match,
        trust.declaration.as_ref(),
        std::mem::take(&mut inputs.cips),
    )?;
    let carried = total - dropped.len();

    for d in &dropped {
        let name = if d.cip.name.is_empty() {
            "without a name".to_owned()
        } else {
            d.cip.name.clone()
        };
        let mut text = format!("dropped: ClusterImagePolicy {name} ({}):", d.cip.origin);
        for line in &d.reasons {
            text.push_str("\n  ");
            text.push_str(line);
        }
        messages.push(text);
    }
    let summary = format!(
        "{} carried over, {} dropped; noMatchPolicy {} (from {no_match_source})",
        cips(carried),
        dropped.len(),
        no_match.as_str()
    );
    messages.push(format!("summary: {summary}"));

    let cap = cluster_admission_policy(&args.name, &module_uri, &metadata, args.opt_out, settings)?;
    let mut header = String::from(
        "# ClusterAdmissionPolicy written by `cip-runner migrate` from policy-controller manifests:\n",
    );
    for source in &sources {
        header.push_str(&format!("#   {}\n", source.name));
    }
    header.push_str(&format!(
        "# {} carried over, {} dropped; noMatchPolicy {}\n# ({no_match_source}).\n",
        cips(carried),
        dropped.len(),
        no_match.as_str()
    ));
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped.iter().map(|d| d.cip.name.as_str()).collect();
        header.push_str(&format!(
            "# Not carried over (`cip-runner migrate` reports why): {}.\n",
            names.join(", ")
        ));
    }
    header.push_str(if args.opt_out {
        "# Opt-out: every namespace is checked but those labelled policy.sigstore.dev/exclude.\n"
    } else {
        "# Opt-in, as policy-controller: only namespaces labelled policy.sigstore.dev/include=true.\n"
    });
    let mut yaml = header + &to_yaml(&cap)?;
    if let Some(config_map) = &trust.config_map {
        yaml.push_str(
            "---\n# The Sigstore trust configuration converted from the TrustRoots (`cip-runner migrate` notes\n# say which): name it in the spec.sigstoreTrustConfig of the PolicyServer running this policy.\n",
        );
        yaml.push_str(&to_yaml(config_map)?);
    }
    Ok(Migration {
        yaml,
        messages,
        carried,
        dropped,
    })
}

/// `cip-runner migrate`: [`migrate`], then the messages on stderr and the
/// YAML on stdout or in `-o FILE`. Returns the exit code: 0, or
/// [`EXIT_DROPPED`] when CIPs were dropped.
///
/// # Errors
/// As [`migrate`]; the output file cannot be written.
pub fn run(args: &MigrateArgs) -> Result<i32> {
    let migration = migrate(args)?;
    match args.output.as_deref() {
        Some(path) if path != Path::new("-") => std::fs::write(path, &migration.yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(migration.yaml.as_bytes())?;
            stdout.flush()?;
        }
    }
    let mut stderr = std::io::stderr().lock();
    for line in &migration.messages {
        writeln!(stderr, "{line}")?;
    }
    Ok(if migration.dropped.is_empty() {
        0
    } else {
        EXIT_DROPPED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "f.yaml".into(),
            document: 1,
            items: Vec::new(),
        }
    }

    fn parse(text: &str) -> Inputs {
        Inputs::parse(&[Source {
            name: "f.yaml".into(),
            text: text.into(),
        }])
        .expect("yaml")
    }

    #[test]
    fn origin_display() {
        let mut o = origin();
        assert_eq!(o.to_string(), "f.yaml, document 1");
        o.items = vec![2, 0];
        assert_eq!(o.to_string(), "f.yaml, document 1, items[2].items[0]");
    }

    #[test]
    fn cleans_server_side_metadata_and_keeps_key_order() {
        let inputs = parse(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  annotations: {a: b}\n  name: p\n  uid: x\n  resourceVersion: '1'\nspec:\n  images: [{glob: '**'}]\n  authorities: [{static: {action: pass}}]\nstatus: {conditions: []}\n",
        );
        assert_eq!(inputs.cips.len(), 1);
        assert_eq!(
            serde_yaml::to_string(&inputs.cips[0].manifest).expect("yaml"),
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\nspec:\n  images:\n  - glob: '**'\n  authorities:\n  - static:\n      action: pass\n"
        );
    }

    #[test]
    fn lists_config_map_and_notes() {
        let mut inputs = parse(
            "kind: List\nitems:\n- {kind: ClusterImagePolicy, metadata: {name: a}}\n- {kind: Secret, metadata: {name: s}}\n---\nkind: ConfigMap\nmetadata: {name: config-policy-controller}\ndata: {no-match-policy: Warn, fail-on-empty-authorities: 'false', _example: x}\n---\n- 1\n---\n",
        );
        assert_eq!(
            inputs.cips[0].origin.to_string(),
            "f.yaml, document 1, items[0]"
        );
        assert_eq!(
            inputs.messages,
            vec![
                "note: f.yaml, document 1, items[1]: skipped Secret s: not a ClusterImagePolicy, a List of them or the config-policy-controller ConfigMap",
                "warning: f.yaml, document 2: config-policy-controller has an unknown no-match-policy \"Warn\"; policy-controller treats any value but deny, warn and allow as deny, and so does the migrated policy",
                "note: f.yaml, document 2: config-policy-controller data.fail-on-empty-authorities is not carried over: this policy always requires authorities (policy-controller's default); a CIP without any is dropped",
                "note: f.yaml, document 3: skipped a sequence: not a Kubernetes object",
            ]
        );
        inputs.messages.clear();
        let (policy, source) = inputs.no_match_policy(None);
        assert_eq!(policy, NoMatchPolicy::Deny);
        assert_eq!(
            source,
            "f.yaml, document 2: ConfigMap config-policy-controller, data.no-match-policy"
        );
        let (policy, source) = inputs.no_match_policy(Some(NoMatchPolicy::Allow));
        assert_eq!(
            (policy, source.as_str()),
            (NoMatchPolicy::Allow, "--no-match-policy")
        );
        assert_eq!(
            inputs.messages,
            vec![
                "note: --no-match-policy allow overrides deny (f.yaml, document 2: ConfigMap config-policy-controller, data.no-match-policy)"
            ]
        );
        let (policy, source) = parse("").no_match_policy(None);
        assert_eq!(policy, NoMatchPolicy::Deny);
        assert_eq!(
            source,
            "policy-controller's default: no config-policy-controller ConfigMap given"
        );
    }

    #[test]
    fn errors_are_grouped_by_policy() {
        let names = ["a", "b(x)", "c"];
        let errors = errors_by_policy(
            "policies[0] (a): missing field(s): spec.images\npolicies[1] (b(x)): invalid value: garbage: spec.mode\nunsupported mode\npolicies[0] (a): second",
            &names,
        )
        .expect("tied");
        assert_eq!(
            errors,
            BTreeMap::from([
                (
                    0,
                    vec![
                        "missing field(s): spec.images".to_owned(),
                        "second".to_owned()
                    ]
                ),
                (
                    1,
                    vec![
                        "invalid value: garbage: spec.mode".to_owned(),
                        "unsupported mode".to_owned()
                    ]
                ),
            ])
        );
        let errors = errors_by_policy(
            "policies[2].spec.images[0].regex: unknown field `regex`, expected `glob`",
            &names,
        )
        .expect("tied");
        assert_eq!(
            errors,
            BTreeMap::from([(
                2,
                vec!["spec.images[0].regex: unknown field `regex`, expected `glob`".to_owned()]
            )])
        );
        // Tied to no policy, or to one that was not sent: fatal.
        for message in [
            "noMatchPolicy: unknown variant `x`",
            "policies: invalid type: map, expected a sequence",
            "policies[3] (d): x",
            "",
        ] {
            assert_eq!(errors_by_policy(message, &names), Err(message.to_owned()));
        }
    }

    #[test]
    fn names_and_module_uri() {
        assert!(check_name("cluster-image-policy").is_ok());
        assert!(check_name("a.b-c").is_ok());
        for bad in ["", "Upper", "-a", "a_b", "a..b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let metadata: Metadata = serde_yaml::from_str(
            "rules: []\nmutating: false\nannotations: {io.kubewarden.policy.ociUrl: ghcr.io/x/y, io.kubewarden.policy.version: 1.2.3}\n",
        )
        .expect("metadata");
        assert_eq!(
            default_module(&metadata).expect("uri"),
            "registry://ghcr.io/x/y:v1.2.3"
        );
        let bare: Metadata =
            serde_yaml::from_str("rules: []\nmutating: false\n").expect("metadata");
        assert!(default_module(&bare).is_err());
    }

    #[test]
    fn yaml_1_1_booleans_and_numbers_are_quoted() {
        let value: Value = serde_yaml::from_str(
            "a: 'on'\nb: ['no', 'Y', '1_000', '1_0.5', 'a_b', 'true', 'one', '0777']\nc: |\n  on\n  no\n",
        )
        .expect("yaml");
        assert_eq!(
            to_yaml(&value).expect("yaml"),
            "a: 'on'\nb:\n- 'no'\n- 'Y'\n- '1_000'\n- '1_0.5'\n- a_b\n- 'true'\n- one\n- '0777'\nc: |\n  on\n  no\n"
        );
    }
}
