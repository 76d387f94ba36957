//! `cip-runner migrate`'s inputs: the `PATH` arguments read into sources, and each YAML
//! document sorted into ClusterImagePolicies, the `config-policy-controller` ConfigMap, or a
//! note (see the parent module's documentation).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_yaml::{Mapping, Value};

use super::documents;
use super::{CONFIG_MAP_NAME, NO_MATCH_POLICY_KEY, NoMatchPolicy};

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
    /// The documents that are not valid YAML, in input order.
    pub unparsed: Vec<Unparsed>,
    /// The `TrustRoot`s, in input order.
    pub trust_roots: Vec<crate::trustroot::TrustRoot>,
    /// `note: …` / `warning: …` lines for stderr.
    pub messages: Vec<String>,
}

/// A document that is not valid YAML: nothing in it is read, and it counts as dropped.
#[derive(Debug, Clone)]
pub struct Unparsed {
    /// Where it is.
    pub origin: Origin,
    /// The parser's message, with the line and column in the file, then a hint when there is
    /// one.
    pub reasons: Vec<String>,
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
    pub fn parse(sources: &[Source]) -> Self {
        let mut inputs = Self::default();
        for source in sources {
            inputs.add_source(source);
        }
        inputs
    }

    /// Parses one source's documents, each on its own (`documents::split`): a document that
    /// is not valid YAML goes to [`Inputs::unparsed`] and the next ones are still read.
    pub fn add_source(&mut self, source: &Source) {
        for (n, document) in documents::split(&source.text).iter().enumerate() {
            let origin = Origin {
                file: source.name.clone(),
                document: n + 1,
                items: Vec::new(),
            };
            match documents::parse(document) {
                Ok(value) => self.add_document(&value, origin),
                Err(message) => {
                    let hint = documents::hint(&message);
                    let mut reasons = vec![message];
                    reasons.extend(hint.map(str::to_owned));
                    self.unparsed.push(Unparsed { origin, reasons });
                }
            }
        }
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
        match kind {
            "ClusterImagePolicy" => self.cips.push(Cip {
                origin,
                name: name.to_owned(),
                manifest: clean_cip(map),
            }),
            "ConfigMap" if name == CONFIG_MAP_NAME => self.add_config_map(map, origin),
            "TrustRoot" => self
                .trust_roots
                .push(crate::trustroot::TrustRoot::read(map, origin)),
            list if list.ends_with("List")
                && let Some(Value::Sequence(items)) = map.get("items") =>
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
            }
            _ => {
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
}
