//! From a workload's images to one admission response.
//!
//! Per image (upstream `pkg/webhook/validator.go` L259-507, L525-688): parse the reference;
//! find the CIPs whose `match` applies to the resource and whose globs match; none → the
//! no-match policy; otherwise every matching CIP must pass (AND). Within a CIP any one
//! authority passing suffices (OR), then the CIP's Rego policy runs over the successful
//! authorities. A CIP in `warn` mode turns its failure into a warning.
//!
//! Messages follow upstream's knative `FieldError` rendering (`errorsToFieldErrors`
//! L1266-1304): `failed policy: <cip>: <path>\n<image> <error> <error>…`, entries with the same
//! message and details merged (paths joined by `, `), sorted by message then details, joined by
//! newlines, and the rejection prefixed with `validation failed: `.

use crate::authority::{AuthorityPass, Checker};
use crate::cip::{ClusterImagePolicy, Mode, validation};
use crate::glob::GlobMatcher;
use crate::host::Host;
use crate::imageconfig;
use crate::reference::ImageRef;
use crate::rego::{self, RegoPolicy};
use crate::selector;
use crate::settings::{NoMatchPolicy, Settings};
use crate::workload::{Workload, WorkloadImage};
use kubewarden_policy_sdk::request::GroupVersionKind;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

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
    /// Compiled policy of each CIP that matched, shared between CIPs with the same text.
    rego: HashMap<usize, Rc<Result<RegoPolicy, String>>>,
    rego_by_source: HashMap<String, Rc<Result<RegoPolicy, String>>>,
    outcomes: HashMap<(String, usize), CipOutcome>,
}

impl<'a> Evaluator<'a> {
    /// Prepares an evaluation: checks and classifies every CIP's globs into one matcher.
    pub fn new(settings: &'a Settings, host: &'a dyn Host) -> Self {
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
                rego: HashMap::new(),
                rego_by_source: HashMap::new(),
                outcomes: HashMap::new(),
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
            let matching: Vec<usize> = globs
                .matching_owners(&reference.glob_candidates())
                .into_iter()
                .filter(|i| applicable[*i])
                .collect();
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
            None => match self.host.manifest_digest(&img.image) {
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
        if policy.type_ != "rego" {
            errors.push(format!("sorry Type {} is not supported yet", policy.type_));
            return CipOutcome::Fail { errors };
        }
        if !self.rego.contains_key(&index) {
            let timeout = self.settings.rego_timeout_milliseconds;
            let compiled = match policy_source(policy, self.host) {
                Err(e) => Rc::new(Err(e)),
                Ok(source) => Rc::clone(self.rego_by_source.entry(source).or_insert_with_key(
                    |source| {
                        Rc::new(
                            RegoPolicy::compile(source, timeout)
                                .map_err(|e| format!("{}: {e}", rego::FAILURE_PREFIX)),
                        )
                    },
                )),
            };
            self.rego.insert(index, compiled);
        }
        let compiled = Rc::clone(&self.rego[&index]);
        let compiled = match compiled.as_ref() {
            Ok(p) => p,
            Err(e) => {
                errors.push(e.clone());
                return CipOutcome::Fail { errors };
            }
        };
        let mut input = Map::new();
        input.insert("authorityMatches".into(), Value::Object(matches));
        input.insert("image".into(), Value::String(image.raw().to_string()));
        let parts = [
            ("spec", policy.include_spec == Some(true)),
            ("metadata", policy.include_object_meta == Some(true)),
        ];
        for (field, include) in parts {
            if !include {
                continue;
            }
            let value = if field == "spec" {
                workload.spec_value()
            } else {
                workload.metadata_value()
            };
            match value {
                Ok(v) => {
                    input.insert(field.into(), v.clone());
                }
                Err(e) => {
                    errors.push(format!("{}: {e}", rego::FAILURE_PREFIX));
                    return CipOutcome::Fail { errors };
                }
            }
        }
        if policy.fetch_config_file == Some(true) {
            match imageconfig::fetch_configs(image, self.host) {
                Ok(configs) => {
                    input.insert("config".into(), Value::Object(configs));
                }
                Err(e) => {
                    errors.push(format!("failed to fetch the image configuration: {e}"));
                    return CipOutcome::Fail { errors };
                }
            }
        }
        if policy.include_type_meta == Some(true) {
            input.insert(
                "typemeta".into(),
                serde_json::json!({"kind": workload.kind, "apiVersion": workload.api_version}),
            );
        }
        match compiled.evaluate(&Value::Object(input)) {
            Ok(c) => CipOutcome::Pass {
                warning: c.warning,
                digest,
            },
            Err(e) => {
                errors.push(format!("{}: {e}", rego::FAILURE_PREFIX));
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
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::workload::WorkloadImage;
    use serde_json::json;

    fn cip(name: &str, globs: &[&str], extra: Value) -> Value {
        let mut v = json!({
            "apiVersion": "policy.sigstore.dev/v1beta1",
            "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"images": globs.iter().map(|g| json!({"glob": g})).collect::<Vec<_>>(), "authorities": [{"static": {"action": "pass"}}]}
        });
        if let Value::Object(m) = extra {
            for (k, val) in m {
                v["spec"][k] = val;
            }
        }
        v
    }

    fn settings(policies: Vec<Value>, no_match: &str) -> Settings {
        let s = Settings::from_json(
            json!({"noMatchPolicy": no_match, "policies": policies, "modifyImagesWithDigest": false})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        s.validate().unwrap();
        s
    }

    fn pod(images: &[&str]) -> Workload<'static> {
        let raw = |v: Value| -> &'static serde_json::value::RawValue {
            Box::leak(serde_json::value::RawValue::from_string(v.to_string()).unwrap())
        };
        let object = json!({
            "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": images.iter().map(|i| json!({"image": i})).collect::<Vec<_>>()},
        });
        Workload::new(
            "Pod",
            "v1",
            "pods",
            images
                .iter()
                .enumerate()
                .map(|(i, img)| WorkloadImage {
                    path: format!("spec.containers[{i}].image"),
                    pointer: format!("/spec/containers/{i}/image"),
                    image: img.to_string(),
                })
                .collect(),
            [("app".to_string(), "web".to_string())].into(),
            Some(raw(object)),
        )
    }

    fn gvk() -> GroupVersionKind {
        GroupVersionKind {
            group: "".into(),
            version: "v1".into(),
            kind: "Pod".into(),
        }
    }

    fn decide(s: &Settings, images: &[&str]) -> Decision {
        let host = FakeHost::default();
        let d = Evaluator::new(s, &host).evaluate(&pod(images), &gvk());
        assert!(
            host.calls().is_empty(),
            "static evaluation must not call the host"
        );
        d
    }

    const SEED_REGO: &str = "package sigstore\ndefault isCompliant = false\nisCompliant {\n  parts := split(input.image, \":\")\n  count(parts) == 2\n  parts[1] != \"latest\"\n}\n";

    #[test]
    fn seed_scenario() {
        let none = settings(vec![], "deny");
        assert_eq!(
            decide(&none, &["nginx"]).rejection().as_deref(),
            Some("validation failed: no matching policies: spec.containers[0].image\nnginx")
        );
        let chainguard = cip(
            "chainguard-image-policy",
            &["cgr.dev/chainguard/**"],
            json!({}),
        );
        let step2 = settings(vec![chainguard.clone()], "deny");
        assert_eq!(
            decide(&step2, &["cgr.dev/chainguard/nginx:latest"]),
            Decision::default()
        );
        assert!(decide(&step2, &["nginx"]).rejection().is_some());
        let latest = cip(
            "disallow-latest-tag",
            &["**"],
            json!({"mode": "enforce", "policy": {"includeSpec": true, "type": "rego", "data": SEED_REGO}}),
        );
        let step3 = settings(vec![chainguard, latest], "deny");
        assert_eq!(
            decide(&step3, &["cgr.dev/chainguard/nginx:latest"])
                .rejection()
                .as_deref(),
            Some(
                "validation failed: failed policy: disallow-latest-tag: spec.containers[0].image\ncgr.dev/chainguard/nginx:latest failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
            )
        );
        assert_eq!(
            decide(&step3, &["cgr.dev/chainguard/nginx:latest-dev"]),
            Decision::default()
        );
    }

    #[test]
    fn no_match_policies() {
        let warn = settings(vec![], "warn");
        let d = decide(&warn, &["nginx"]);
        assert_eq!(d.rejection(), None);
        assert_eq!(
            d.warnings(),
            vec!["no matching policies: spec.containers[0].image\nnginx"]
        );
        let allow = settings(vec![], "allow");
        assert_eq!(decide(&allow, &["nginx"]), Decision::default());
    }

    #[test]
    fn warn_mode_and_merging() {
        let fail = cip(
            "nope",
            &["**"],
            json!({"mode": "warn", "authorities": [{"static": {"action": "fail", "message": "go away"}}]}),
        );
        let s = settings(vec![fail], "deny");
        let d = decide(&s, &["nginx", "nginx"]);
        assert_eq!(d.rejection(), None);
        assert_eq!(
            d.warnings(),
            vec![
                "failed policy: nope: spec.containers[0].image, spec.containers[1].image\nnginx disallowed by static policy: go away"
            ]
        );
    }

    #[test]
    fn all_cips_must_pass_and_any_authority_suffices() {
        let pass = cip(
            "pass",
            &["**"],
            json!({"authorities": [{"static": {"action": "fail", "message": "a"}}, {"static": {"action": "pass"}}]}),
        );
        let fail = cip(
            "fail",
            &["ghcr.io/**"],
            json!({"authorities": [{"static": {"action": "fail", "message": "b"}}]}),
        );
        let s = settings(vec![pass, fail], "deny");
        assert_eq!(decide(&s, &["quay.io/x:1"]), Decision::default());
        assert_eq!(
            decide(&s, &["ghcr.io/x:1"]).rejection().as_deref(),
            Some(
                "validation failed: failed policy: fail: spec.containers[0].image\nghcr.io/x:1 disallowed by static policy: b"
            )
        );
    }

    #[test]
    fn bad_reference_is_always_an_error() {
        let s = settings(vec![], "allow");
        assert_eq!(
            decide(&s, &["NGINX"]).rejection().as_deref(),
            Some(
                "validation failed: could not parse reference: NGINX: spec.containers[0].image\nrepository name must be lowercase"
            )
        );
    }

    #[test]
    fn rego_input_has_image_spec_metadata_typemeta() {
        let rego = "package sigstore\nisCompliant {\n input.image == \"a:1\"\n input.spec.containers[0].image == \"a:1\"\n input.metadata.labels.app == \"web\"\n input.typemeta.kind == \"Pod\"\n input.authorityMatches[\"authority-0\"].static == true\n}\n";
        let c = cip(
            "all",
            &["**"],
            json!({"policy": {"type": "rego", "data": rego, "includeSpec": true, "includeObjectMeta": true, "includeTypeMeta": true}}),
        );
        assert_eq!(
            decide(&settings(vec![c], "deny"), &["a:1"]),
            Decision::default()
        );
        let c = cip(
            "nometa",
            &["**"],
            json!({"policy": {"type": "rego", "data": rego}}),
        );
        assert!(
            decide(&settings(vec![c], "deny"), &["a:1"])
                .rejection()
                .is_some()
        );
    }

    #[test]
    fn rego_warning_admits_with_warning() {
        let rego = "package sigstore\nisCompliant[r] {\n r := {\"result\": true, \"error\": \"\", \"warning\": \"deprecated repo\"}\n}\n";
        let c = cip(
            "dep",
            &["**"],
            json!({"policy": {"type": "rego", "data": rego}}),
        );
        let d = decide(&settings(vec![c], "deny"), &["a:1"]);
        assert_eq!(d.rejection(), None);
        assert_eq!(
            d.warnings(),
            vec!["warning from policy: dep: spec.containers[0].image\na:1 deprecated repo"]
        );
    }

    #[test]
    fn match_selectors() {
        let only_db = cip(
            "db",
            &["**"],
            json!({"match": [{"group": "", "version": "*", "resource": "pods", "selector": {"matchLabels": {"app": "db"}}}], "authorities": [{"static": {"action": "fail"}}]}),
        );
        let s = settings(vec![only_db], "allow");
        assert_eq!(decide(&s, &["a:1"]), Decision::default());
        let only_web = cip(
            "web",
            &["**"],
            json!({"match": [{"group": "", "version": "v1", "resource": "pods", "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}], "authorities": [{"static": {"action": "fail"}}]}),
        );
        let s = settings(vec![only_web], "allow");
        assert!(decide(&s, &["a:1"]).rejection().is_some());
        let deployments = cip(
            "deploy",
            &["**"],
            json!({"match": [{"group": "apps", "version": "v1", "resource": "deployments"}], "authorities": [{"static": {"action": "fail"}}]}),
        );
        assert_eq!(
            decide(&settings(vec![deployments], "allow"), &["a:1"]),
            Decision::default()
        );
    }

    #[test]
    fn unvalidated_unsupported_fields_fail_closed() {
        // An attestations authority would otherwise verify the signature only.
        let c = cip(
            "att",
            &["**"],
            json!({"authorities": [{"key": {"data": "x"}, "attestations": [{"name": "a", "predicateType": "https://x"}]}]}),
        );
        let s = Settings::from_json(
            json!({"policies": [c], "modifyImagesWithDigest": false})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert!(s.validate().is_err());
        let message = decide(&s, &["a:1"]).rejection().unwrap();
        assert!(
            message.starts_with("validation failed: failed policy: att: spec.containers[0].image\na:1 the policy cannot be honoured: not supported: spec.authorities[0].attestations: "),
            "{message}"
        );
    }

    #[test]
    fn rego_compiled_once_per_cip() {
        let rego = "package sigstore\nisCompliant = true\n";
        let c = cip(
            "once",
            &["**"],
            json!({"policy": {"type": "rego", "data": rego}}),
        );
        let s = settings(vec![c], "deny");
        let host = FakeHost::default();
        let mut ev = Evaluator::new(&s, &host);
        assert_eq!(
            ev.evaluate(&pod(&["a:1", "b:1", "a:1"]), &gvk()),
            Decision::default()
        );
        assert_eq!(ev.runner.rego.len(), 1);
        assert_eq!(ev.runner.rego_by_source.len(), 1);
        assert_eq!(ev.runner.outcomes.len(), 2);
    }
}
