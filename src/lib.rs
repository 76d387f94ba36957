//! # cluster-image-policy
//!
//! Sigstore's ClusterImagePolicy (CIP) as a Kubewarden policy. The settings hold CIP manifests
//! exactly as users apply them to the Sigstore policy-controller; the policy reaches the same
//! admission decisions, with the same messages.
//!
//! Data flows one way, and each step is a module:
//! [`settings`] (decode, validate, with the declared host Sigstore [`trust`]) → [`workload`] (the images of the admission request, with
//! their field paths) → [`verdict`] (per image: [`glob`] matching on [`reference`] names, then
//! each matching CIP's [`authority`]s through the [`host`] capabilities, then its [`rego`]
//! policy) → one Kubewarden response.
//!
//! The host gives every admission request a fresh module instance, so settings are decoded on
//! every call; only what a request needs is compiled: a glob's regex only when a name passes its
//! literal prefix, a CIP's Rego only when the CIP matches (once per distinct source), and the
//! object is read only as far as its image fields (BENCHMARKS.md has the measurements).
//!
//! Nothing here panics on input and nothing escapes [`validate`] as an error: every failure is
//! a rejection with a message. One exception is outside this crate: a CIP's Rego policy that
//! asks regorus for more memory than the module can have aborts the module (README, "Known
//! limits of the Rego sandbox"); the host then answers with an error, which the webhook's
//! `failurePolicy` turns into a denial by default.

pub mod authority;
pub mod budget;
pub mod certificate;
pub mod cip;
pub mod cue;
pub mod glob;
pub mod host;
pub mod identity;
pub mod imageconfig;
pub mod pem;
pub mod preinit;
pub mod reference;
pub mod rego;
pub mod selector;
pub mod settings;
mod strict;
pub mod trust;
pub mod verdict;
pub mod workload;

#[cfg(test)]
mod packaging_tests;
#[cfg(test)]
mod real_cips_tests;

use host::{CachedHost, Host, SdkHost};
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde::Deserialize;
use serde_json::value::RawValue;
use settings::Settings;
use workload::{AdmissionRequest, Extraction};

#[cfg(target_arch = "wasm32")]
use kubewarden_policy_sdk::wapc_guest as guest;

/// Registers the waPC functions the host calls.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

/// Pre-initialisation at build time (`cip-runner preinit`, Wizer; `make preinit-policy.wasm`,
/// measured and not used: [`preinit`]): builds what can be built once
/// ([`preinit::initialize`]). Wizer removes this export from the module it writes;
/// `policy.wasm` keeps it, and a host calling it only grows the instance's heap.
#[cfg(target_arch = "wasm32")]
#[unsafe(export_name = "wizer.initialize")]
pub extern "C" fn wizer_initialize() {
    preinit::initialize();
}

/// waPC `validate`: `{"request": <AdmissionRequest>, "settings": <settings>}` in, Kubewarden
/// `ValidationResponse` JSON out. Never returns `Err` (the host would answer 500).
pub fn validate(payload: &[u8]) -> kubewarden_policy_sdk::wapc_guest::CallResult {
    let response = validate_with_host(payload, &SdkHost);
    Ok(encode_response(&response))
}

/// waPC `validate_settings`: settings JSON in, `{"valid": bool, "message": …}` out. Never
/// returns `Err`.
pub fn validate_settings(payload: &[u8]) -> kubewarden_policy_sdk::wapc_guest::CallResult {
    let response = match settings::validate_settings_payload(payload) {
        Ok(()) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    };
    Ok(serde_json::to_vec(&response)
        .unwrap_or_else(|_| br#"{"valid":false,"message":"cannot encode the response"}"#.to_vec()))
}

fn encode_response(response: &ValidationResponse) -> Vec<u8> {
    serde_json::to_vec(response)
        .unwrap_or_else(|_| br#"{"accepted":false,"message":"cannot encode the response","code":null,"mutated_object":null,"audit_annotations":null,"warnings":null}"#.to_vec())
}

/// A rejection with `message`.
pub fn reject(message: String) -> ValidationResponse {
    ValidationResponse {
        accepted: false,
        message: Some(message),
        code: None,
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

fn accept(warnings: Vec<String>) -> ValidationResponse {
    ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object: None,
        audit_annotations: None,
        warnings: (!warnings.is_empty()).then_some(warnings),
    }
}

/// The `validate` payload, decoded in one pass: the admission request's objects kept as raw
/// JSON, the settings decoded as they are read (a `null` or absent document is the default
/// one; anything but a mapping is refused, as `Settings::from_json` refuses it, where serde
/// alone would read an array as the fields in order). Anything that does not decode so is
/// decoded again as a [`RawPayload`], for the message.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    request: AdmissionRequest<'a>,
    #[serde(default)]
    settings: Option<strict::Strict<Settings>>,
}

/// The `validate` payload with the request undecoded: the second try when [`Payload`] does not
/// decode, to tell a broken payload, broken settings and a broken request apart.
#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(borrow)]
    request: &'a RawValue,
    #[serde(borrow, default)]
    settings: Option<&'a RawValue>,
}

/// The whole policy on one `validate` payload, with `host` for the capabilities.
///
/// Errors, all rejections, checked in this order: `cannot decode the validation request: …`,
/// `invalid settings: …`, `cannot decode the admission request: …`, then those of
/// [`workload::extract`] and [`verdict::Evaluator`].
pub fn validate_with_host(payload: &[u8], host: &dyn Host) -> ValidationResponse {
    // The request's policy budget counts from here, as the host's timeout does (`budget`).
    let started = std::time::Instant::now();
    let first_call = !SERVED.swap(true, std::sync::atomic::Ordering::Relaxed);
    // One pass over the payload when everything decodes (the settings are not read twice);
    // otherwise the settings and the request are decoded apart, for their messages.
    let (request, settings) = match serde_json::from_slice::<Payload>(payload) {
        Ok(p) => (
            Ok(p.request),
            p.settings.map(|s| s.0).unwrap_or_default().with_defaults(),
        ),
        Err(_) => {
            let p = match serde_json::from_slice::<RawPayload>(payload) {
                Ok(p) => p,
                Err(e) => return reject(format!("cannot decode the validation request: {e}")),
            };
            let settings = p.settings.map(|s| s.get().as_bytes()).unwrap_or(b"{}");
            match Settings::from_json(settings) {
                Ok(s) => (Err(p.request), s),
                Err(e) => return reject(format!("invalid settings: {e}")),
            }
        }
    };
    let request: AdmissionRequest = match request {
        Ok(request) => request,
        Err(raw) => match serde_json::from_str(raw.get()) {
            Ok(r) => r,
            Err(e) => return reject(format!("cannot decode the admission request: {e}")),
        },
    };
    let workload = match workload::extract(&request) {
        Extraction::Skip(_) => return accept(Vec::new()),
        Extraction::Invalid(message) => return reject(message),
        Extraction::Check(w) => w,
    };
    if workload.images.is_empty() {
        return accept(Vec::new());
    }
    let host = CachedHost::new(host);
    let budget = budget::RequestBudget::started_at(settings.request_budget_milliseconds, started);
    let mut evaluator = verdict::Evaluator::with_budget(&settings, &host, budget);
    let decision = evaluator.evaluate(&workload, &request.kind);
    // The request's state (compiled globs, Rego and CUE engines, the input document, the
    // decoded settings and object) is left to the instance's end on its first request
    // (`release_first`).
    release_first(first_call, (evaluator, workload));
    let warnings = decision.warnings();
    if let Some(message) = decision.rejection() {
        return ValidationResponse {
            warnings: (!warnings.is_empty()).then_some(warnings),
            ..reject(message)
        };
    }
    let mut response = accept(warnings);
    if !decision.patches.is_empty() {
        // Decoded into a value only now, to be patched: `extract` read it as raw JSON.
        let mut object: serde_json::Value = match request
            .object
            .map(|o| serde_json::from_str(o.get()))
        {
            Some(Ok(object)) => object,
            _ => return reject("cannot pin the images: the object cannot be decoded".to_string()),
        };
        for (pointer, image) in decision.patches {
            match object.pointer_mut(&pointer) {
                Some(slot) => *slot = serde_json::Value::String(image),
                None => {
                    return reject(format!(
                        "cannot pin the image at {pointer}: the field is missing"
                    ));
                }
            }
        }
        response.mutated_object = Some(object);
    }
    release_first(first_call, (host, settings, request));
    response
}

/// Whether this instance (natively: this process) has already served a `validate` call
/// (`release_first`).
static SERVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Drops `state`, except when `first_call` (the first `validate` of a module instance), where
/// it is leaked instead.
///
/// policy-server creates a fresh instance for every admission request and discards it after
/// one `validate` call (policy-evaluator's `evaluation_context` per request), so on its first
/// call an instance would spend the end of the request walking and freeing every `Rc` and
/// allocation of the request's state (about 19 % of a rego-20 request's instructions,
/// BENCHMARKS.md "Lever 3") for memory nobody reads again. Only the first call leaks, so an
/// instance the host reuses (kwctl bench, `cip-runner bench --reused`) keeps at most one
/// request's state (the native peak heap of a rego-20 request is 173 KiB, of cue-20 428 KiB)
/// and frees the state of every later call; memory does not grow with the number of
/// requests. Natively (tests, fuzzing, the breakdown example) only the process' first call leaks.
fn release_first<T>(first_call: bool, state: T) {
    if first_call {
        std::mem::forget(state);
    } else {
        drop(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host::fake::FakeHost;
    use serde_json::json;

    fn run(request: serde_json::Value, settings: serde_json::Value) -> ValidationResponse {
        let payload = json!({"request": request, "settings": settings}).to_string();
        validate_with_host(payload.as_bytes(), &FakeHost::default())
    }

    fn pod_request(image: &str) -> serde_json::Value {
        json!({
            "uid": "1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}
        })
    }

    #[test]
    fn garbage_payloads_are_rejections() {
        for payload in [&b""[..], b"{", b"[]", b"{\"request\": 5}", b"\xff\xfe"] {
            let r = validate_with_host(payload, &FakeHost::default());
            assert!(!r.accepted, "{payload:?}");
            assert!(r.message.unwrap().starts_with("cannot decode"));
        }
        let r = run(pod_request("nginx"), json!({"noMatchPolicy": 3}));
        assert!(
            r.message
                .unwrap()
                .starts_with("invalid settings: noMatchPolicy: ")
        );
    }

    /// Differential: whatever the settings value, the payload's one pass decodes exactly what
    /// `Settings::from_json` accepts (then the same settings), and refuses the rest, which the
    /// two-step path then reports with `from_json`'s message. Regression: serde's derived
    /// structs also decode an array of their fields in order, so `"settings": []` was the
    /// default settings in one pass, where `from_json` says they must be a mapping.
    #[test]
    fn the_one_pass_accepts_exactly_what_from_json_accepts() {
        let cip = r#"{"apiVersion":"policy.sigstore.dev/v1beta1","kind":"ClusterImagePolicy","metadata":{"name":"a"},"spec":{"images":[{"glob":"**"}],"authorities":[{"static":{"action":"pass"}}]}}"#;
        let texts = [
            "{}".to_string(),
            "null".to_string(),
            "[]".to_string(),
            "[1]".to_string(),
            r#"["warn"]"#.to_string(),
            r#"["warn", []]"#.to_string(),
            r#""x""#.to_string(),
            "5".to_string(),
            "true".to_string(),
            "{}".to_string(),
            r#"{"policies": []}"#.to_string(),
            format!(r#"{{"policies": [{cip}]}}"#),
            format!(r#"{{"noMatchPolicy": "warn", "policies": [{cip}, {cip}]}}"#),
            r#"{"noMatchPolicy": "warn", "noMatchPolicy": "deny"}"#.to_string(),
            r#"{"policies": [[]]}"#.to_string(),
            r#"{"policies": {}}"#.to_string(),
            r#"{"unknown": 1}"#.to_string(),
            r#"{"regoTimeoutMilliseconds": -1}"#.to_string(),
            r#"{"modifyImagesWithDigest": null}"#.to_string(),
            r#"{"hostSigstoreTrust": [false]}"#.to_string(),
            r#"{"hostSigstoreTrust": []}"#.to_string(),
            r#"{"policies": [["policy.sigstore.dev/v1beta1", "ClusterImagePolicy"]]}"#.to_string(),
            format!(
                r#"{{"policies": [{}]}}"#,
                cip.replace(r#"{"action":"pass"}"#, r#"["pass"]"#)
            ),
            format!(
                r#"{{"policies": [{}]}}"#,
                cip.replace(r#"{"name":"a"}"#, r#"["a"]"#)
            ),
        ];
        // Arrays for nested structs too (from_json refuses them: settings::tests).
        for text in &texts[19..] {
            assert!(Settings::from_json(text.as_bytes()).is_err(), "{text}");
        }
        let request = pod_request("nginx").to_string();
        for text in &texts {
            let payload = format!(r#"{{"request":{request},"settings":{text}}}"#);
            let apart = Settings::from_json(text.as_bytes());
            match serde_json::from_slice::<Payload>(payload.as_bytes()) {
                Ok(p) => assert_eq!(
                    Ok(p.settings.map(|s| s.0).unwrap_or_default().with_defaults()),
                    apart,
                    "{text}"
                ),
                Err(_) => assert!(apart.is_err(), "{text}: refused in one pass, {apart:?}"),
            }
            let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
            if let Err(e) = &apart {
                assert_eq!(
                    r.message.as_deref(),
                    Some(format!("invalid settings: {e}").as_str()),
                    "{text}"
                );
            }
        }
    }

    /// Settings decoded in the payload's one pass are the settings `Settings::from_json` gives,
    /// defaults applied; a document that does not decode gets `from_json`'s message.
    #[test]
    fn settings_decoded_with_the_payload_are_those_of_from_json() {
        let settings = json!({"noMatchPolicy": "warn", "policyControllerNamespace": "ns", "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": "cm"},
            "spec": {"images": [{"glob": "**"}],
                     "authorities": [{"key": {"secretRef": {"name": "k"}}}, {"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "configMapRef": {"name": "p", "key": "rego"}}}}]});
        let payload = json!({"request": pod_request("nginx"), "settings": settings}).to_string();
        let decoded: Payload = serde_json::from_slice(payload.as_bytes()).unwrap();
        let one_pass = decoded
            .settings
            .map(|s| s.0)
            .unwrap_or_default()
            .with_defaults();
        let apart = Settings::from_json(settings.to_string().as_bytes()).unwrap();
        assert_eq!(one_pass, apart);
        assert_eq!(
            one_pass.policies[0].spec.authorities[0].name(),
            "authority-0"
        );
        for absent in [
            json!({"request": pod_request("nginx")}),
            json!({"request": pod_request("nginx"), "settings": null}),
        ] {
            let r = validate_with_host(absent.to_string().as_bytes(), &FakeHost::default());
            assert_eq!(
                r.message.as_deref(),
                Some("validation failed: no matching policies: spec.containers[0].image\nnginx")
            );
        }
        for (settings, message) in [
            (
                json!([1]),
                "invalid settings: settings must be a mapping (a YAML/JSON object)",
            ),
            (
                json!("x"),
                "invalid settings: settings must be a mapping (a YAML/JSON object)",
            ),
            (
                json!({"policies": [{"spec": {"images": [{"regex": "x"}]}}]}),
                "invalid settings: policies[0].spec.images[0].regex: unknown field `regex`, expected `glob`",
            ),
        ] {
            let r = run(pod_request("nginx"), settings);
            assert_eq!(r.message.as_deref(), Some(message));
        }
        // A broken request beside broken settings: the settings are reported first, as before.
        let payload =
            json!({"request": {"kind": []}, "settings": {"noMatchPolicy": 1}}).to_string();
        let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
        assert!(
            r.message
                .as_deref()
                .unwrap_or("")
                .starts_with("invalid settings: noMatchPolicy: "),
            "{:?}",
            r.message
        );
    }

    #[test]
    fn end_to_end_no_match() {
        let r = run(pod_request("nginx"), json!({}));
        assert!(!r.accepted);
        assert_eq!(
            r.message.as_deref(),
            Some("validation failed: no matching policies: spec.containers[0].image\nnginx")
        );
        let r = run(pod_request("nginx"), json!({"noMatchPolicy": "warn"}));
        assert!(r.accepted);
        assert_eq!(
            r.warnings,
            Some(vec![
                "no matching policies: spec.containers[0].image\nnginx".to_string()
            ])
        );
    }

    const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
    const D: &str = "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32";

    fn key_settings(mode: &str, modify: bool) -> serde_json::Value {
        json!({
            "modifyImagesWithDigest": modify,
            "policies": [{
                "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": "signed"},
                "spec": {"mode": mode, "images": [{"glob": "127.0.0.1:5000/**"}], "authorities": [{"key": {"data": K1}}]}
            }]
        })
    }

    fn pod_with(images: &[&str]) -> serde_json::Value {
        let containers: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(i, img)| json!({"name": format!("c{i}"), "image": img}))
            .collect();
        json!({
            "uid": "1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}}
        })
    }

    fn run_with(
        host: &FakeHost,
        request: serde_json::Value,
        settings: serde_json::Value,
    ) -> ValidationResponse {
        let payload = json!({"request": request, "settings": settings}).to_string();
        validate_with_host(payload.as_bytes(), host)
    }

    #[test]
    fn signed_image_is_pinned_to_the_verified_digest_once_per_image() {
        let img = "127.0.0.1:5000/demo/app:signed";
        let host = FakeHost::default().answer(&format!("verify_pub_key {img} {K1}"), Ok(D));
        let r = run_with(&host, pod_with(&[img, img]), key_settings("enforce", true));
        assert!(r.accepted, "{:?}", r.message);
        let object = r.mutated_object.unwrap();
        assert_eq!(
            object["spec"]["containers"][0]["image"],
            format!("{img}@{D}")
        );
        assert_eq!(
            object["spec"]["containers"][1]["image"],
            format!("{img}@{D}")
        );
        assert_eq!(
            host.calls().len(),
            1,
            "one host call per distinct image and key"
        );
    }

    #[test]
    fn pinned_or_unmodified_images_are_not_mutated() {
        let pinned = format!("127.0.0.1:5000/demo/app:signed@{D}");
        let host = FakeHost::default().answer(&format!("verify_pub_key {pinned} {K1}"), Ok(D));
        let r = run_with(&host, pod_with(&[&pinned]), key_settings("enforce", true));
        assert!(r.accepted && r.mutated_object.is_none());
        let img = "127.0.0.1:5000/demo/app:signed";
        let host = FakeHost::default().answer(&format!("verify_pub_key {img} {K1}"), Ok(D));
        let r = run_with(&host, pod_with(&[img]), key_settings("enforce", false));
        assert!(r.accepted && r.mutated_object.is_none());
    }

    #[test]
    fn failed_verification_denies_or_warns() {
        let img = "127.0.0.1:5000/demo/app:unsigned";
        let host = FakeHost::default().answer(
            &format!("verify_pub_key {img} {K1}"),
            Err(&format!("no signatures found for image: {img} ")),
        );
        let r = run_with(&host, pod_with(&[img]), key_settings("enforce", true));
        assert!(!r.accepted);
        assert_eq!(
            r.message.unwrap(),
            format!(
                "validation failed: failed policy: signed: spec.containers[0].image\n{img} signature key validation failed for authority authority-0 for {img}: no signatures found for image: {img}\n{}",
                authority::UNSEEN_SIGNATURES
            )
        );
        let r = run_with(&host, pod_with(&[img]), key_settings("warn", true));
        assert!(r.accepted && r.mutated_object.is_none());
        assert_eq!(r.warnings.unwrap().len(), 1);
    }

    #[test]
    fn static_only_resolves_digest_only_when_mutating() {
        let settings = |modify: bool| json!({"modifyImagesWithDigest": modify, "policies": [{"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "s"}, "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]}}]});
        let host = FakeHost::default();
        assert!(run_with(&host, pod_with(&["nginx"]), settings(false)).accepted);
        assert!(
            host.calls().is_empty(),
            "static-only without mutation makes no host call"
        );
        let host = FakeHost::default().answer("manifest_digest nginx", Ok(D));
        let r = run_with(&host, pod_with(&["nginx"]), settings(true));
        assert_eq!(
            r.mutated_object.unwrap()["spec"]["containers"][0]["image"],
            format!("nginx@{D}")
        );
        let host = FakeHost::default().answer(
            "manifest_digest nginx",
            Err("Fail to interact with OCI registry: manifest unknown"),
        );
        let r = run_with(&host, pod_with(&["nginx"]), settings(true));
        assert_eq!(
            r.message.as_deref(),
            Some(
                "validation failed: failed to resolve digest: spec.containers[0].image\nnginx Fail to interact with OCI registry: manifest unknown"
            )
        );
    }

    #[test]
    fn config_map_policy_is_read_once_per_request() {
        let settings = json!({"modifyImagesWithDigest": false, "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "cm"},
            "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "configMapRef": {"name": "p", "namespace": "ns", "key": "rego"}}}}]});
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"rego": "package sigstore\nisCompliant { input.image != \"index.docker.io/library/bad:1\" }\n"}}).to_string();
        let host = FakeHost::default().answer("get_resource v1 ConfigMap ns/p", Ok(&cm));
        assert!(run_with(&host, pod_with(&["good:1", "other:2"]), settings.clone()).accepted);
        assert_eq!(host.calls(), vec!["get_resource v1 ConfigMap ns/p"]);
        let r = run_with(&host, pod_with(&["bad:1"]), settings.clone());
        assert!(!r.accepted);
        let no_key =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"other": "x"}}).to_string();
        let host = FakeHost::default().answer("get_resource v1 ConfigMap ns/p", Ok(&no_key));
        let r = run_with(&host, pod_with(&["good:1"]), settings);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "validation failed: failed policy: cm: spec.containers[0].image\ngood:1 failed to read the policy: configmap \"p\" does not contain key rego"
            )
        );
    }

    #[test]
    fn fetch_config_file_fills_input_config() {
        let settings = json!({"modifyImagesWithDigest": false, "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "cfg"},
            "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "fetchConfigFile": true, "data": "package sigstore\nisCompliant { input.config[\"linux/amd64\"].config.User == \"65532\" }\n"}}}]});
        let config = json!({"manifest": {}, "digest": D, "config": {"os": "linux", "architecture": "amd64", "config": {"User": "65532"}}}).to_string();
        let host = FakeHost::default()
            .answer("manifest_digest a:1", Ok(D))
            .answer(
                &format!("oci_manifest a@{D}"),
                Ok(r#"{"schemaVersion":2,"layers":[]}"#),
            )
            .answer(&format!("manifest_and_config a@{D}"), Ok(&config))
            .answer("manifest_digest b:1", Err("manifest unknown"));
        assert!(run_with(&host, pod_with(&["a:1"]), settings.clone()).accepted);
        let r = run_with(&host, pod_with(&["b:1"]), settings);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "validation failed: failed policy: cfg: spec.containers[0].image\nb:1 failed to fetch the image configuration: manifest unknown"
            )
        );
    }

    /// Regression: an image configuration (written by whoever pushed the image) with a label
    /// named like serde_json's private number token made regorus' conversion fail, and the
    /// whole input became `undefined`, which a policy written with `not` took as compliant.
    #[test]
    fn an_image_configuration_cannot_hide_from_the_policy() {
        let settings = json!({"modifyImagesWithDigest": false, "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "non-root"},
            "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "fetchConfigFile": true, "data": "package sigstore\nisCompliant { not input.config[\"linux/amd64\"].config.User == \"root\" }\n"}}}]});
        let config = json!({"manifest": {}, "digest": D, "config": {"os": "linux", "architecture": "amd64",
            "config": {"User": "root", "Labels": {"$serde_json::private::Number": "not a number"}}}})
        .to_string();
        let host = FakeHost::default()
            .answer("manifest_digest a:1", Ok(D))
            .answer(
                &format!("oci_manifest a@{D}"),
                Ok(r#"{"schemaVersion":2,"layers":[]}"#),
            )
            .answer(&format!("manifest_and_config a@{D}"), Ok(&config));
        let r = run_with(&host, pod_with(&["a:1"]), settings);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "validation failed: failed policy: non-root: spec.containers[0].image\na:1 failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
            )
        );
    }

    /// Bounds: very large requests are answered, without trap, with a clear verdict.
    #[test]
    fn ten_thousand_containers() {
        let images: Vec<String> = (0..10_000)
            .map(|i| format!("registry.example.com/app{}:v1", i % 100))
            .collect();
        let refs: Vec<&str> = images.iter().map(String::as_str).collect();
        let r = run(pod_with(&refs), json!({}));
        assert!(!r.accepted);
        let message = r.message.unwrap();
        assert_eq!(
            message.matches("no matching policies: ").count(),
            100,
            "one merged line per distinct image"
        );
        assert!(message.contains("spec.containers[9999].image"));
    }

    #[test]
    fn megabyte_image_string() {
        let huge = format!("registry.example.com/{}:v1", "a".repeat(1 << 20));
        let r = run(pod_with(&[&huge]), json!({}));
        assert!(!r.accepted);
        let message = r.message.unwrap();
        assert!(
            message.len() < 512,
            "the message does not echo the whole string: {} bytes",
            message.len()
        );
        assert!(
            message.starts_with(
                "validation failed: could not parse reference: registry.example.com/aaaa"
            ),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                "the reference is {} bytes long; at most 4096 are accepted",
                huge.len()
            )),
            "{message}"
        );
    }

    #[test]
    fn deeply_nested_json() {
        let mut nested = String::from("1");
        for _ in 0..100_000 {
            nested = format!("[{nested}]");
        }
        // Unknown fields of the request are skipped without recursion: answered normally.
        let mut request = pod_request("nginx").to_string();
        request.insert_str(request.len() - 1, &format!(r#","extra":{nested}"#));
        let payload = format!(r#"{{"request":{request},"settings":{{}}}}"#);
        let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
        assert_eq!(
            r.message.as_deref(),
            Some("validation failed: no matching policies: spec.containers[0].image\nnginx")
        );
        // Inside the object, fields the policy does not read are skipped the same way...
        let request = pod_request("nginx").to_string().replacen(
            r#""spec":{"#,
            &format!(r#""spec":{{"extra":{nested},"#),
            1,
        );
        let payload = format!(r#"{{"request":{request},"settings":{{}}}}"#);
        let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
        assert_eq!(
            r.message.as_deref(),
            Some("validation failed: no matching policies: spec.containers[0].image\nnginx")
        );
        // ... a field it reads is refused with its path...
        let deep_image = pod_request("nginx").to_string().replacen(
            r#""image":"nginx""#,
            &format!(r#""image":{nested}"#),
            1,
        );
        let payload = format!(r#"{{"request":{deep_image},"settings":{{}}}}"#);
        let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
        assert_eq!(
            r.message.as_deref(),
            Some(
                "cannot decode the Pod: spec.containers[0].image: invalid type: sequence, expected a string"
            )
        );
        // ... and a Rego policy that asks for the spec fails its CIP, naming the limit.
        let settings = json!({"modifyImagesWithDigest": false, "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": "with-spec"},
            "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "includeSpec": true,
                                "data": "package sigstore\nisCompliant = true\n"}}}]});
        let payload = format!(r#"{{"request":{request},"settings":{settings}}}"#);
        let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
        let message = r.message.unwrap();
        assert!(
            message.starts_with("validation failed: failed policy: with-spec: spec.containers[0].image\nnginx failed evaluating rego policy for type ClusterImagePolicy: cannot decode spec: recursion limit exceeded"),
            "{message}"
        );
        let settings = format!(r#"{{"noMatchPolicy":{nested}}}"#);
        let err = settings::validate_settings_payload(settings.as_bytes()).unwrap_err();
        assert!(err.starts_with("noMatchPolicy: "), "{err}");
    }

    /// A CIP that includes the spec but whose policy never reads it fails only when the spec
    /// is too deep to build, whether or not the object is shallow enough for the byte scan to
    /// answer (`rego::input::SHALLOW_DEPTH`): nesting elsewhere in the object, or just under
    /// serde_json's limit, changes nothing.
    #[test]
    fn an_unread_spec_fails_only_when_it_cannot_be_built() {
        let settings = json!({"modifyImagesWithDigest": false, "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": "with-spec"},
            "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "includeSpec": true, "includeObjectMeta": true,
                                "data": "package sigstore\nisCompliant { input.image != \"\" }\n"}}}]});
        let nested = |d: usize| format!("{}1{}", "[".repeat(d), "]".repeat(d));
        let run_with_extra = |field: &str, depth: usize| {
            let request = pod_request("nginx").to_string();
            let target = format!(r#""{field}":{{"#);
            let request = request.replacen(
                &target,
                &format!(r#""{field}":{{"extra":{},"#, nested(depth)),
                1,
            );
            assert!(request.contains("extra"), "{field}");
            let payload = format!(r#"{{"request":{request},"settings":{settings}}}"#);
            validate_with_host(payload.as_bytes(), &FakeHost::default())
        };
        // Within the object: spec at depth 1, its field at 2, so 125 more levels reach 127.
        for depth in [1, 98, 99, 100, 125] {
            for field in ["spec", "metadata"] {
                let r = run_with_extra(field, depth);
                assert!(r.accepted, "{field} {depth}: {:?}", r.message);
            }
        }
        for depth in [127, 200] {
            for field in ["spec", "metadata"] {
                let r = run_with_extra(field, depth);
                let message = r.message.unwrap_or_default();
                assert!(
                    message.contains(&format!(
                        "failed evaluating rego policy for type ClusterImagePolicy: cannot decode {field}: recursion limit exceeded"
                    )),
                    "{field} {depth}: {message}"
                );
            }
        }
        // Deep nesting outside spec and metadata (here under `status`) is never built.
        let mut deep = json!(1);
        for _ in 0..500 {
            deep = json!([deep]);
        }
        let mut request = pod_request("nginx");
        request["object"]["status"] = json!({ "deep": deep });
        let payload = format!(r#"{{"request":{request},"settings":{settings}}}"#);
        let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
        assert!(r.accepted, "{:?}", r.message);
    }

    /// Regression (review of 1bd4eeb): an unread spec or metadata is checked by a byte scan
    /// only when nothing in the object can fail a full read. serde_json keeps the object as
    /// raw JSON without decoding `\\u` escapes or number values, so a lone surrogate escape or
    /// a number past `f64` (`1e400`), in a field the policy never reads, used to admit where
    /// building the part fails the CIP; in warn mode the warning went missing.
    #[test]
    fn an_unread_part_that_cannot_be_built_fails_alike() {
        let settings = |mode: &str| {
            json!({"modifyImagesWithDigest": false, "policies": [{
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": "parts"},
            "spec": {"mode": mode, "images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                     "policy": {"type": "rego", "includeSpec": true, "includeObjectMeta": true,
                                "data": "package sigstore\nisCompliant { input.image != \"\" }\n"}}}]})
        };
        let request = |spec_extra: &str, annotation: &str| {
            let request = pod_request("ghcr.io/a/b:v1").to_string();
            let request =
                request.replacen(r#""spec":{"#, &format!(r#""spec":{{"x":{spec_extra},"#), 1);
            request.replacen(
                r#""metadata":{"#,
                &format!(r#""metadata":{{"annotations":{{"a":"{annotation}"}},"#),
                1,
            )
        };
        for (spec_extra, annotation, part) in [
            ("1e400", "ok", "spec"),
            ("-1e400", "ok", "spec"),
            (&format!("1{}", "0".repeat(400)) as &str, "ok", "spec"),
            ("1", r"\ud800", "metadata"),
            ("1", r"\udc00", "metadata"),
            ("1", r"\ud800\u0041", "metadata"),
        ] {
            let request = request(spec_extra, annotation);
            assert!(request.contains("\"x\":"), "{request}");
            // Not JSON serde_json can build a value of; the payload still decodes (the object is
            // kept raw).
            assert!(serde_json::from_str::<serde_json::Value>(&request).is_err());
            let text =
                |mode: &str| format!(r#"{{"request":{request},"settings":{}}}"#, settings(mode));
            let r = validate_with_host(text("enforce").as_bytes(), &FakeHost::default());
            let message = r.message.unwrap_or_default();
            assert!(!r.accepted, "{part}: {spec_extra} {annotation}");
            assert!(
                message.contains(&format!(
                    "failed evaluating rego policy for type ClusterImagePolicy: cannot decode {part}: "
                )),
                "{part}: {message}"
            );
            let r = validate_with_host(text("warn").as_bytes(), &FakeHost::default());
            assert!(r.accepted);
            assert_eq!(r.warnings.map(|w| w.len()), Some(1), "{part}: warn mode");
        }
        // A valid surrogate pair, `\u` escapes of other characters and small exponents build.
        for (spec_extra, annotation) in [
            ("1e5", r"\ud83d\ude00"),
            ("0.5E-3", r"\u003c\u0026"),
            ("-1e-400", "x"),
        ] {
            let request = request(spec_extra, annotation);
            let payload = format!(
                r#"{{"request":{request},"settings":{}}}"#,
                settings("enforce")
            );
            let r = validate_with_host(payload.as_bytes(), &FakeHost::default());
            assert!(r.accepted, "{spec_extra} {annotation}: {:?}", r.message);
        }
    }

    #[test]
    fn validate_settings_responses() {
        let ok = validate_settings(b"{}").unwrap();
        assert_eq!(
            String::from_utf8(ok).unwrap(),
            r#"{"valid":true,"message":null}"#
        );
        let bad = validate_settings(br#"{"noMatchPolicy":"x"}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bad).unwrap();
        assert_eq!(v["valid"], false);
        assert_eq!(
            v["message"],
            "noMatchPolicy: unknown variant `x`, expected one of `deny`, `warn`, `allow`"
        );
    }
}
