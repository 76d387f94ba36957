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
//!   Any other document is reported (`note: …`) and skipped. Each document is
//!   parsed on its own (`documents.rs`): one that is not valid YAML is
//!   reported with the parser's line and column in its file, counted as
//!   dropped, and the other documents are still read:
//!
//!   ```text
//!   dropped: a document that is not valid YAML (cips.yaml, document 3):
//!     found unknown escape character at line 23 column 41, while parsing a quoted scalar at line 23 column 26
//!     in a double-quoted YAML string a backslash starts an escape sequence: write \\ for a backslash ("https://github\\.com/.*"), or single-quote the string ('https://github\.com/.*')
//!   ```
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
//! dropped: ClusterImagePolicy kms-key (cips.yaml, document 1, items[1]):
//!   not supported: spec.authorities[0].key.kms
//!   the host verifies key signatures with PEM public keys only and cannot reach a KMS: export the public key with `cosign public-key --key <this kms URI>` and put it in key.data
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
//! (`, N documents dropped as not valid YAML` after `dropped` when there are
//! any).
//!
//! Exit codes: 0 every CIP carried over; 2 some CIPs or documents dropped
//! (the output is still written, without them); 1 fatal error (`Error: …` as
//! the last line, nothing written), including an input from which no CIP at
//! all is carried over (none in it, or every one dropped): a
//! ClusterAdmissionPolicy without CIPs would give every image the no-match
//! policy (deny everything, by default), so none is written:
//!
//! ```text
//! Error: no ClusterImagePolicy in the input: nothing written; a ClusterAdmissionPolicy without ClusterImagePolicies would deny every image (noMatchPolicy deny)
//! ```
//!
//! (clap's usage errors exit with 2 too, with nothing on stdout.)

mod documents;
mod inputs;
mod output;

use std::collections::BTreeMap;
use std::io::Write;
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

pub use inputs::{Cip, ConfigNoMatch, Inputs, Origin, Source, Unparsed, clean_cip, read_sources};
use output::{check_name, cluster_admission_policy, default_module, to_yaml};

/// Exit code when some CIPs, or documents that are not valid YAML, could not be carried over.
pub const EXIT_DROPPED: u8 = 2;

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
        let deferred = deferred_duplicates(&errors);
        for (index, reasons) in errors.into_iter().rev() {
            if deferred.contains(&index) {
                continue;
            }
            let cip = kept.remove(index);
            let position = positions.remove(index);
            dropped.push((position, Dropped { cip, reasons }));
        }
    }
}

/// The CIPs whose only error is a duplicate name of a CIP dropped in the same round for
/// other reasons: they are kept for the next round, where the name is theirs alone (the
/// module names the first CIP of a name as `policies[N] has the same name`,
/// `src/settings.rs`). Without this, of two CIPs named alike, one unsupported, neither was
/// carried over, the second "dropped" for a twin that is not in the output.
fn deferred_duplicates(errors: &BTreeMap<usize, Vec<String>>) -> std::collections::BTreeSet<usize> {
    let twin = |reasons: &[String]| -> Option<usize> {
        let [name, duplicate] = reasons else {
            return None;
        };
        if !(name.starts_with("invalid value: ") && name.ends_with(": metadata.name")) {
            return None;
        }
        duplicate
            .strip_prefix("duplicate name: policies[")?
            .strip_suffix("] has the same name")?
            .parse()
            .ok()
    };
    errors
        .iter()
        .filter(|(_, reasons)| {
            twin(reasons).is_some_and(|first| {
                errors
                    .get(&first)
                    .is_some_and(|theirs| twin(theirs).is_none())
            })
        })
        .map(|(index, _)| *index)
        .collect()
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

/// "1 ClusterImagePolicy" / "2 ClusterImagePolicies".
fn cips(n: usize) -> String {
    if n == 1 {
        "1 ClusterImagePolicy".to_owned()
    } else {
        format!("{n} ClusterImagePolicies")
    }
}

/// "1 document" / "2 documents".
fn documents(n: usize) -> String {
    if n == 1 {
        "1 document".to_owned()
    } else {
        format!("{n} documents")
    }
}

/// `dropped: <what>:` and the reasons, one indented line each.
fn dropped_report(what: &str, reasons: &[String]) -> String {
    let mut text = format!("dropped: {what}:");
    for line in reasons {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}

/// What [`migrate`] produced.
#[derive(Debug)]
pub struct Migration {
    /// The ClusterAdmissionPolicy, as YAML (with a header comment), or why nothing is written.
    pub output: Output,
    /// Lines for stderr (notes, dropped CIPs and documents, the summary last).
    pub messages: Vec<String>,
    /// How many CIPs were carried over.
    pub carried: usize,
    /// The CIPs that were not.
    pub dropped: Vec<Dropped>,
    /// The documents that are not valid YAML.
    pub unparsed: Vec<Unparsed>,
}

/// The result of [`migrate`]: a ClusterAdmissionPolicy to write, or none.
#[derive(Debug)]
pub enum Output {
    /// The YAML to write.
    Yaml(String),
    /// No ClusterImagePolicy could be carried over: nothing is written, for this reason (a
    /// ClusterAdmissionPolicy without CIPs would give every image the no-match policy).
    Nothing(String),
}

/// Does the work of `cip-runner migrate` without printing anything.
///
/// # Errors
/// See the module documentation (exit code 1). No ClusterImagePolicy to carry over is not an
/// error here but [`Output::Nothing`], so that the messages are still printed.
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
    let mut inputs = Inputs::parse(&sources);
    messages.append(&mut inputs.messages);
    let (no_match, no_match_source) = inputs.no_match_policy(args.no_match_policy);
    messages.append(&mut inputs.messages);
    let trust = crate::trustroot::plan(&inputs.trust_roots)?;
    messages.extend(trust.messages.iter().cloned());
    let total = inputs.cips.len();
    let unparsed = std::mem::take(&mut inputs.unparsed);

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

    for u in &unparsed {
        messages.push(dropped_report(
            &format!("a document that is not valid YAML ({})", u.origin),
            &u.reasons,
        ));
    }
    for d in &dropped {
        let name = if d.cip.name.is_empty() {
            "without a name"
        } else {
            &d.cip.name
        };
        messages.push(dropped_report(
            &format!("ClusterImagePolicy {name} ({})", d.cip.origin),
            &d.reasons,
        ));
    }
    let not_yaml = if unparsed.is_empty() {
        String::new()
    } else {
        format!(", {} dropped as not valid YAML", documents(unparsed.len()))
    };
    let counts = format!(
        "{} carried over, {} dropped{not_yaml}; noMatchPolicy {}",
        cips(carried),
        dropped.len(),
        no_match.as_str()
    );
    messages.push(format!("summary: {counts} (from {no_match_source})"));

    if carried == 0 {
        let every_image = match no_match {
            NoMatchPolicy::Deny => "deny every image",
            NoMatchPolicy::Warn => "admit every image with a warning",
            NoMatchPolicy::Allow => "admit every image",
        };
        let what = if total == 0 && unparsed.is_empty() {
            "no ClusterImagePolicy in the input".to_owned()
        } else {
            format!("no ClusterImagePolicy could be carried over ({counts})")
        };
        let why = format!(
            "{what}: nothing written; a ClusterAdmissionPolicy without ClusterImagePolicies would {every_image} (noMatchPolicy {})",
            no_match.as_str()
        );
        return Ok(Migration {
            output: Output::Nothing(why),
            messages,
            carried,
            dropped,
            unparsed,
        });
    }

    let cap = cluster_admission_policy(&args.name, &module_uri, &metadata, args.opt_out, settings)?;
    let mut header = String::from(
        "# ClusterAdmissionPolicy written by `cip-runner migrate` from policy-controller manifests:\n",
    );
    for source in &sources {
        header.push_str(&format!("#   {}\n", source.name));
    }
    header.push_str(&format!("# {counts}\n# ({no_match_source}).\n"));
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped.iter().map(|d| d.cip.name.as_str()).collect();
        header.push_str(&format!(
            "# Not carried over (`cip-runner migrate` reports why): {}.\n",
            names.join(", ")
        ));
    }
    if !unparsed.is_empty() {
        let origins: Vec<String> = unparsed.iter().map(|u| u.origin.to_string()).collect();
        header.push_str(&format!("# Not valid YAML: {}.\n", origins.join("; ")));
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
        output: Output::Yaml(yaml),
        messages,
        carried,
        dropped,
        unparsed,
    })
}

/// `cip-runner migrate`: [`migrate`], then the messages on stderr and the YAML on stdout or in
/// `-o FILE`. Returns the exit code: 0, or [`EXIT_DROPPED`] when CIPs or documents were
/// dropped.
///
/// # Errors
/// As [`migrate`]; no ClusterImagePolicy to carry over (after the messages, nothing written);
/// the output file cannot be written.
pub fn run(args: &MigrateArgs) -> Result<u8> {
    let migration = migrate(args)?;
    {
        let mut stderr = std::io::stderr().lock();
        for line in &migration.messages {
            writeln!(stderr, "{line}")?;
        }
    }
    let yaml = match &migration.output {
        Output::Yaml(yaml) => yaml,
        Output::Nothing(why) => bail!("{why}"),
    };
    match args.output.as_deref() {
        Some(path) if path != Path::new("-") => std::fs::write(path, yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(yaml.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(
        if migration.dropped.is_empty() && migration.unparsed.is_empty() {
            0
        } else {
            EXIT_DROPPED
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }
    /// Review finding: of two CIPs named alike, the first unsupported, neither was carried
    /// over (the second was dropped as the twin of one not in the output).
    #[test]
    fn a_duplicate_of_a_dropped_cip_waits_for_the_next_round() {
        let duplicate = |of: usize| {
            reasons(&[
                "invalid value: same: metadata.name",
                &format!("duplicate name: policies[{of}] has the same name"),
            ])
        };
        let errors = BTreeMap::from([
            (
                0,
                reasons(&["not supported: spec.authorities[0].attestations", "why"]),
            ),
            (1, duplicate(0)),
            (3, duplicate(2)),
            (4, {
                let mut r = duplicate(0);
                r.push("missing field(s): spec.images".into());
                r
            }),
        ]);
        // 1 waits (0 goes for another reason); 3's twin 2 is valid, so 3 is the duplicate;
        // 4 has an error of its own.
        assert_eq!(
            deferred_duplicates(&errors),
            std::collections::BTreeSet::from([1])
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
}
