//! From a workload's images to one admission response.
//!
//! Per image (upstream `pkg/webhook/validator.go` L259-507, L525-688): parse the reference;
//! find the CIPs whose `match` applies to the resource and whose globs match; none → the
//! no-match policy; otherwise every matching CIP must pass (AND). Within a CIP any one
//! authority passing suffices (OR), then the CIP's Rego or CUE policy ([`compiled`]) runs over
//! the successful authorities. A CIP in `warn` mode turns its failure into a warning.
//!
//! Messages follow upstream's knative `FieldError` rendering (`errorsToFieldErrors`
//! L1266-1304): `failed policy: <cip>: <path>\n<image> <error> <error>…`, entries with the same
//! message and details merged (paths joined by `, `), sorted by message then details, joined by
//! newlines, and the rejection prefixed with `validation failed: `.
//!
//! The request's policy budget ([`crate::budget`]): every Rego evaluation gets the smaller of
//! `regoTimeoutMilliseconds` and what is left of it, and once it is used up no further CIP
//! starts (its authorities' host calls included) and no tag is confirmed nor digest resolved
//! for pinning: each fails with the budget's message.

use crate::authority::{AuthorityPass, Checker};
use crate::budget::{self, RequestBudget};
use crate::cip::{ClusterImagePolicy, Mode, validation};
use crate::glob::GlobMatcher;
use crate::host::Host;
use crate::imageconfig;
use crate::reference::ImageRef;
use crate::rego::input::{self, SharedPart};
use crate::selector;
use crate::settings::{NoMatchPolicy, Settings};
use crate::workload::{Workload, WorkloadImage};
use compiled::Compiled;
use kubewarden_policy_sdk::request::GroupVersionKind;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

/// Severity of an [`Entry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Denies the request.
    Error,
    /// Returned as an admission warning.
    Warning,
}

/// One knative-style field error about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Error or warning.
    pub level: Level,
    /// `failed policy: <cip>`, `no matching policies`, `could not parse reference: <img>`.
    pub message: String,
    /// `spec.containers[0].image`.
    pub path: String,
    /// `<image> <error>…`.
    pub details: String,
}

/// Everything decided about a request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    /// Error and warning entries, in image order.
    pub entries: Vec<Entry>,
    /// Digest pinning: (JSON pointer of the image, new image string), in image order.
    pub patches: Vec<(String, String)>,
}

impl Decision {
    /// The rejection message (`validation failed: …`), when any entry is an error.
    pub fn rejection(&self) -> Option<String> {
        let lines = render(self.entries.iter().filter(|e| e.level == Level::Error));
        (!lines.is_empty()).then(|| format!("validation failed: {}", lines.join("\n")))
    }

    /// The warnings, one rendered entry each.
    pub fn warnings(&self) -> Vec<String> {
        render(self.entries.iter().filter(|e| e.level == Level::Warning))
    }
}

/// knative's `merge` + `Error()`: group by (message, details), sort paths, sort by message
/// then details, render `message: paths\ndetails`.
fn render<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<String> {
    let mut grouped: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for e in entries {
        grouped
            .entry((&e.message, &e.details))
            .or_default()
            .push(&e.path);
    }
    grouped
        .into_iter()
        .map(|((message, details), mut paths)| {
            paths.sort_unstable();
            paths.dedup();
            let paths = paths.join(", ");
            if details.is_empty() {
                format!("{message}: {paths}")
            } else {
                format!("{message}: {paths}\n{details}")
            }
        })
        .collect()
}

/// The outcome of one CIP on one image.
#[derive(Debug, Clone, PartialEq)]
enum CipOutcome {
    Pass {
        warning: Option<String>,
        digest: Option<String>,
    },
    Fail {
        errors: Vec<String>,
    },
}

/// Evaluates settings against one workload. Globs are classified once per call (a glob's regex
/// is compiled only when a name passes its literal prefix, see [`GlobMatcher`]); a CIP's Rego is
/// compiled only when the CIP matches an image, once per distinct source; each distinct image
/// string is evaluated once per CIP however many containers use it.
pub struct Evaluator<'a> {
    settings: &'a Settings,
    globs: Result<GlobMatcher, String>,
    runner: CipRunner<'a>,
}

/// Runs CIPs on images, remembering compiled Rego and outcomes for the request.
struct CipRunner<'a> {
    settings: &'a Settings,
    host: &'a dyn Host,
    checker: Checker<'a>,
    /// Compiled policy of each CIP that matched, shared between CIPs with the same type and
    /// text.
    compiled: HashMap<usize, Rc<Result<Compiled, String>>>,
    compiled_by_source: HashMap<(String, String), Rc<Result<Compiled, String>>>,
    outcomes: HashMap<(String, usize), CipOutcome>,
    /// What the host said of the tag beside each pinned image's digest, by image as written.
    tags: HashMap<String, TagCheck>,
    /// The object's `spec` and `metadata` as Rego values, for every CIP that includes them.
    spec: SharedPart,
    metadata: SharedPart,
    /// The request's policy budget.
    budget: RequestBudget,
}

/// Whether the tag written beside a digest names that digest (`reference`, table row 8),
/// asked of the host with `oci/v1/manifest_digest` on the image without its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TagCheck {
    /// The tag resolves to the pinned digest: it counts for globs and the Rego input.
    Confirmed,
    /// The tag resolves to this other digest now (it moved, or was never that digest): only
    /// the digest counts.
    Names(String),
    /// The host could not resolve the tag: its words.
    Failed(String),
}

impl<'a> Evaluator<'a> {
    /// Prepares an evaluation: checks and classifies every CIP's globs into one matcher. The
    /// request's budget (`requestBudgetMilliseconds`) starts now.
    pub fn new(settings: &'a Settings, host: &'a dyn Host) -> Self {
        let budget = RequestBudget::start(settings.request_budget_milliseconds);
        Self::with_budget(settings, host, budget)
    }

    /// [`Evaluator::new`] with the request's budget given (started when `validate` started).
    pub fn with_budget(settings: &'a Settings, host: &'a dyn Host, budget: RequestBudget) -> Self {
        let globs = GlobMatcher::new(settings.policies.iter().enumerate().flat_map(|(i, cip)| {
            cip.spec
                .images
                .iter()
                .map(move |img| (i, img.glob.as_str()))
        }))
        .map_err(|(i, glob, e)| {
            let name = settings.policies.get(i).map(|c| c.name()).unwrap_or("");
            format!("policies[{i}] ({name}): invalid glob {glob:?}: {e}")
        });
        Evaluator {
            settings,
            globs,
            runner: CipRunner {
                settings,
                host,
                checker: Checker::new(host),
                compiled: HashMap::new(),
                compiled_by_source: HashMap::new(),
                outcomes: HashMap::new(),
                tags: HashMap::new(),
                spec: SharedPart::new(),
                metadata: SharedPart::new(),
                budget,
            },
        }
    }

    /// Decides every image of `workload`.
    pub fn evaluate(&mut self, workload: &Workload, gvk: &GroupVersionKind) -> Decision {
        let mut decision = Decision::default();
        let globs = match &self.globs {
            Ok(g) => g,
            Err(e) => {
                // Settings validation rejects this; fail closed if it ever gets here.
                for img in &workload.images {
                    decision.entries.push(Entry {
                        level: Level::Error,
                        message: e.clone(),
                        path: img.path.clone(),
                        details: img.image.clone(),
                    });
                }
                return decision;
            }
        };
        let applicable: Vec<bool> = self
            .settings
            .policies
            .iter()
            .map(|cip| match_applies(cip, workload.resource, gvk, &workload.labels))
            .collect();
        for img in &workload.images {
            let reference = match ImageRef::parse(&img.image) {
                Ok(r) => r,
                Err(e) => {
                    decision.entries.push(Entry {
                        level: Level::Error,
                        message: e.to_string(),
                        path: img.path.clone(),
                        details: e.reason.clone(),
                    });
                    continue;
                }
            };
            let owners = |names: &[String]| -> Vec<usize> {
                globs
                    .matching_owners(names)
                    .into_iter()
                    .filter(|i| applicable[*i])
                    .collect()
            };
            let mut matching = owners(&reference.match_names(false));
            if reference.tag_needs_confirmation() {
                // The tag beside a digest counts only once the host confirms it names that
                // digest (`reference`, table row 8); asked only when it would change the match.
                let with_tag = owners(&reference.match_names(true));
                if with_tag.len() > matching.len() {
                    match self.runner.tag_check(&reference) {
                        TagCheck::Confirmed => matching = with_tag,
                        TagCheck::Names(now) => decision.entries.push(Entry {
                            level: Level::Warning,
                            message: "tag not used for matching".into(),
                            path: img.path.clone(),
                            details: format!(
                                "{} the tag names {now} now, not the pinned digest: only the digest was matched",
                                img.image
                            ),
                        }),
                        TagCheck::Failed(e) => {
                            decision.entries.push(Entry {
                                level: Level::Error,
                                message: "failed to confirm the tag".into(),
                                path: img.path.clone(),
                                details: format!("{} {e}", img.image),
                            });
                            continue;
                        }
                    }
                }
            }
            if matching.is_empty() {
                let level = match self.settings.no_match_policy {
                    NoMatchPolicy::Allow => continue,
                    NoMatchPolicy::Warn => Level::Warning,
                    NoMatchPolicy::Deny => Level::Error,
                };
                decision.entries.push(Entry {
                    level,
                    message: "no matching policies".into(),
                    path: img.path.clone(),
                    details: img.image.clone(),
                });
                continue;
            }
            self.runner
                .judge(img, &reference, &matching, workload, &mut decision);
        }
        decision
    }
}

impl CipRunner<'_> {
    /// Runs every matching CIP (AND) on one image, records failures and warnings, then pins the
    /// image if it is admitted.
    fn judge(
        &mut self,
        img: &WorkloadImage,
        reference: &ImageRef,
        matching: &[usize],
        workload: &Workload,
        decision: &mut Decision,
    ) {
        let mut failed = false;
        let mut passed_any = false;
        let mut all_warn = true;
        let mut digests: Vec<String> = Vec::new();
        for &index in matching {
            let cip = &self.settings.policies[index];
            all_warn &= cip.mode() == Mode::Warn;
            let outcome = self.cip_outcome(index, reference, workload);
            let (level, message, details) = match outcome {
                CipOutcome::Pass { warning, digest } => {
                    passed_any = true;
                    if let Some(d) = digest
                        && !digests.contains(&d)
                    {
                        digests.push(d);
                    }
                    let Some(w) = warning else { continue };
                    (
                        Level::Warning,
                        format!("warning from policy: {}", cip.name()),
                        format!("{} {w}", img.image),
                    )
                }
                CipOutcome::Fail { errors } => {
                    let level = if cip.mode() == Mode::Warn {
                        Level::Warning
                    } else {
                        Level::Error
                    };
                    failed |= level == Level::Error;
                    let mut details = img.image.clone();
                    for e in errors {
                        details.push(' ');
                        details.push_str(&e);
                    }
                    (level, format!("failed policy: {}", cip.name()), details)
                }
            };
            decision.entries.push(Entry {
                level,
                message,
                path: img.path.clone(),
                details,
            });
        }
        if passed_any && !failed {
            self.pin(img, reference, digests, all_warn, decision);
        }
    }

    /// Pins an admitted image to the digest the host verified, or resolves one when only
    /// static authorities admitted it (no host call when `modifyImagesWithDigest` is off).
    /// Problems are errors, or warnings when every matching CIP is in warn mode.
    fn pin(
        &self,
        img: &WorkloadImage,
        reference: &ImageRef,
        mut digests: Vec<String>,
        all_warn: bool,
        decision: &mut Decision,
    ) {
        let level = if all_warn {
            Level::Warning
        } else {
            Level::Error
        };
        let mut problem = |message: &str, details: String| {
            decision.entries.push(Entry {
                level,
                message: message.to_string(),
                path: img.path.clone(),
                details,
            });
        };
        if digests.len() > 1 {
            problem(
                "digest mismatch",
                format!(
                    "{} the host verified different digests: {}",
                    img.image,
                    digests.join(", ")
                ),
            );
            return;
        }
        if let Some(pinned) = reference.digest() {
            if let Some(verified) = digests.first().filter(|v| v.as_str() != pinned) {
                problem(
                    "digest mismatch",
                    format!("{} the host verified {verified}", img.image),
                );
            }
            return;
        }
        if !self.settings.modify_images_with_digest {
            return;
        }
        let digest = match digests.pop() {
            Some(d) => d,
            None => match self
                .budget_left(budget::DIGEST)
                .and_then(|()| self.host.manifest_digest(&img.image).map_err(|e| e.0))
            {
                Ok(d) => d,
                Err(e) => return problem("failed to resolve digest", format!("{} {e}", img.image)),
            },
        };
        match ImageRef::parse(&format!("{}@{digest}", img.image)) {
            Ok(pinned) => decision
                .patches
                .push((img.pointer.clone(), pinned.raw().to_string())),
            Err(e) => problem(
                "failed to resolve digest",
                format!(
                    "{} the host returned an invalid digest {digest:?}: {}",
                    img.image, e.reason
                ),
            ),
        }
    }

    /// Asks the host, once per image, whether the tag beside the digest names that digest.
    fn tag_check(&mut self, image: &ImageRef) -> TagCheck {
        if let Some(check) = self.tags.get(image.raw()) {
            return check.clone();
        }
        // No host call once the request's budget is used up: the image is denied with why.
        let check = match self.budget_left(budget::TAG) {
            Err(used_up) => TagCheck::Failed(used_up),
            Ok(()) => self.confirm_tag(image),
        };
        self.tags.insert(image.raw().to_string(), check.clone());
        check
    }

    /// `Err(the budget's message)` once the request's budget is used up, before `before`
    /// ([`RequestBudget::used_up`]).
    fn budget_left(&self, before: &str) -> Result<(), String> {
        match self.budget.is_used_up() {
            true => Err(self.budget.used_up(before)),
            false => Ok(()),
        }
    }

    fn confirm_tag(&self, image: &ImageRef) -> TagCheck {
        match self.host.manifest_digest(image.tag_as_written()) {
            Ok(d) if Some(d.as_str()) == image.digest() => TagCheck::Confirmed,
            Ok(d) => TagCheck::Names(d),
            Err(e) => TagCheck::Failed(e.0),
        }
    }

    /// The Rego input's `image`: the canonical name, with the tag beside a digest only when
    /// the host confirms it (`Err`: the host's words).
    fn input_image(&mut self, image: &ImageRef) -> Result<String, String> {
        if !image.tag_needs_confirmation() {
            return Ok(image.canonical(false));
        }
        match self.tag_check(image) {
            TagCheck::Confirmed => Ok(image.canonical(true)),
            TagCheck::Names(_) => Ok(image.canonical(false)),
            TagCheck::Failed(e) => Err(format!("failed to confirm the tag: {e}")),
        }
    }

    fn cip_outcome(&mut self, index: usize, image: &ImageRef, workload: &Workload) -> CipOutcome {
        let key = (image.raw().to_string(), index);
        if let Some(outcome) = self.outcomes.get(&key) {
            return outcome.clone();
        }
        let outcome = self.compute_cip_outcome(index, image, workload);
        self.outcomes.insert(key, outcome.clone());
        outcome
    }

    fn compute_cip_outcome(
        &mut self,
        index: usize,
        image: &ImageRef,
        workload: &Workload,
    ) -> CipOutcome {
        let cip = &self.settings.policies[index];
        // Settings validation rejects these; should a host ever skip it, fail closed rather
        // than verify less than the CIP says.
        let cannot_honour = validation::unsupported_features(cip);
        if !cannot_honour.is_empty() {
            let errors = cannot_honour
                .iter()
                .map(|e| {
                    format!(
                        "the policy cannot be honoured: {}",
                        e.to_string().replace('\n', ": ")
                    )
                })
                .collect();
            return CipOutcome::Fail { errors };
        }
        if let Err(used_up) = self.budget_left(budget::CIP) {
            return CipOutcome::Fail {
                errors: vec![used_up],
            };
        }
        let mut errors = Vec::new();
        let mut matches = Map::new();
        let mut digests: Vec<String> = Vec::new();
        for authority in &cip.spec.authorities {
            match self.checker.check(authority, image) {
                Ok(AuthorityPass { matches: m, digest }) => {
                    matches.insert(authority.name().to_string(), m);
                    if let Some(d) = digest.filter(|d| !digests.contains(d)) {
                        digests.push(d);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if digests.len() > 1 {
            errors.push(format!(
                "the host verified different digests: {}",
                digests.join(", ")
            ));
            return CipOutcome::Fail { errors };
        }
        let digest = digests.pop();
        if matches.is_empty() {
            if errors.is_empty() {
                errors.push(format!("failed to process policy: {}", cip.name()));
            }
            return CipOutcome::Fail { errors };
        }
        let Some(policy) = &cip.spec.policy else {
            return CipOutcome::Pass {
                warning: None,
                digest,
            };
        };
        if policy.type_ != "rego" && policy.type_ != "cue" {
            errors.push(format!("sorry Type {} is not supported yet", policy.type_));
            return CipOutcome::Fail { errors };
        }
        if !self.compiled.contains_key(&index) {
            let timeout = self.settings.rego_timeout_milliseconds;
            let compiled = match policy_source(policy, self.host) {
                Err(e) => Rc::new(Err(e)),
                Ok(source) => Rc::clone(
                    self.compiled_by_source
                        .entry((policy.type_.clone(), source))
                        .or_insert_with_key(|(type_, source)| {
                            Rc::new(Compiled::new(type_, source, timeout))
                        }),
                ),
            };
            self.compiled.insert(index, compiled);
        }
        let compiled = Rc::clone(&self.compiled[&index]);
        let compiled = match compiled.as_ref() {
            Ok(p) => p,
            Err(e) => {
                errors.push(e.clone());
                return CipOutcome::Fail { errors };
            }
        };
        let mut input = input::Document::new();
        input.json("authorityMatches", &Value::Object(matches));
        match self.input_image(image) {
            Ok(name) => {
                input.string("image", &name);
                input.string("imageAsWritten", image.raw());
            }
            Err(e) => {
                errors.push(format!("{}: {e}", compiled.failure_prefix()));
                return CipOutcome::Fail { errors };
            }
        };
        let parts = [
            ("spec", policy.include_spec == Some(true)),
            ("metadata", policy.include_object_meta == Some(true)),
        ];
        for (field, include) in parts {
            if !include {
                continue;
            }
            let part = if field == "spec" {
                &self.spec
            } else {
                &self.metadata
            };
            let text = || {
                if field == "spec" {
                    workload.spec_json()
                } else {
                    workload.metadata_json()
                }
            };
            // Parsed once per request and shared by every evaluation; not built at all for a
            // policy that never reads it, only checked, to fail alike (`rego::input`): an
            // object a byte scan shows to build whole needs no check of its parts.
            let built = if compiled.reads_input(field) {
                part.get(text).map(|v| input.value(field, v))
            } else if workload.object_always_builds() {
                Ok(())
            } else {
                part.check(text)
            };
            if let Err(e) = built {
                errors.push(format!(
                    "{}: cannot decode {field}: {e}",
                    compiled.failure_prefix()
                ));
                return CipOutcome::Fail { errors };
            }
        }
        if policy.fetch_config_file == Some(true) {
            match imageconfig::fetch_configs(image, digest.as_deref(), self.host) {
                Ok(configs) => input.json("config", &Value::Object(configs)),
                Err(e) => {
                    errors.push(format!("failed to fetch the image configuration: {e}"));
                    return CipOutcome::Fail { errors };
                }
            }
        }
        if policy.include_type_meta == Some(true) {
            input.json(
                "typemeta",
                &serde_json::json!({"kind": workload.kind, "apiVersion": workload.api_version}),
            );
        }
        let per_evaluation = Duration::from_millis(self.settings.rego_timeout_milliseconds);
        let Some(slice) = self.budget.slice(per_evaluation) else {
            errors.push(compiled.failure_message(&self.budget.used_up(budget::CIP)));
            return CipOutcome::Fail { errors };
        };
        match compiled.evaluate_within(input.into_value(), slice.limit) {
            Ok(warning) => CipOutcome::Pass { warning, digest },
            Err(f) => {
                let message = if f.timed_out && slice.request_bound {
                    self.budget.ran_out_in(cip.name())
                } else {
                    f.message
                };
                errors.push(compiled.failure_message(&message));
                CipOutcome::Fail { errors }
            }
        }
    }
}

/// The Rego text of a CIP policy: inline `data`, or the `key` of the ConfigMap named by
/// `configMapRef`, read through the context-aware `kubernetes/get_resource` capability (upstream
/// inlines it at reconcile time, `pkg/reconciler/clusterimagepolicy` L266-357, with the same
/// error wording).
fn policy_source(policy: &crate::cip::Policy, host: &dyn Host) -> Result<String, String> {
    if let Some(data) = &policy.data {
        return Ok(data.clone());
    }
    let Some(cm) = &policy.config_map_ref else {
        return Err("failed to read the policy: it has neither data nor configMapRef".into());
    };
    let name = cm.name.as_deref().unwrap_or("");
    let key = cm.key.as_deref().unwrap_or("");
    let object = host
        .get_resource("v1", "ConfigMap", name, cm.namespace.as_deref())
        .map_err(|e| format!("failed to read the policy: cannot read configmap {name:?}: {e}"))?;
    match object["data"][key].as_str() {
        Some(text) => Ok(text.to_string()),
        None => Err(format!(
            "failed to read the policy: configmap {name:?} does not contain key {key}"
        )),
    }
}

/// Whether a CIP's `spec.match` lets it apply to this resource (upstream
/// `pkg/apis/config/image_policies.go` L86-151): no entries → yes; otherwise some entry with
/// the resource, the version (or `*`), the group, and a selector matching the object's labels.
fn match_applies(
    cip: &ClusterImagePolicy,
    resource: &str,
    gvk: &GroupVersionKind,
    labels: &BTreeMap<String, String>,
) -> bool {
    if cip.spec.match_.is_empty() {
        return true;
    }
    cip.spec.match_.iter().any(|m| {
        m.resource == resource
            && (m.version == "*" || m.version == gvk.version)
            && m.group == gvk.group
            && m.selector
                .as_ref()
                .is_none_or(|s| selector::matches(s, labels))
    })
}

#[cfg(test)]
mod budget_tests;
mod compiled;
#[cfg(test)]
mod cue_tests;
#[cfg(test)]
mod tests;
