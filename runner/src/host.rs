//! The waPC host callback: what a guest's `host_call` reaches.
//!
//! Mirrors kwctl's `host_callback`
//! (kubewarden-controller `crates/policy-evaluator/src/runtimes/callback.rs`
//! L50-425), in the same order:
//! 1. the binding must be `kubewarden` (`unknown binding: <binding>`);
//! 2. every namespace but `tracing` goes through the capability gate
//!    ([`HostCapabilities`], `Policy has not been granted access to the
//!    '<ns>/<op>' host capability. The violation has been reported.`);
//! 3. `tracing`/`log` is the guest's logging: accepted, answered with an empty
//!    payload; this runner prints nothing and never records or replays it;
//! 4. the payload is decoded into a [`CallbackRequestType`] (unknown
//!    namespace/operation and bad payloads give kwctl's texts);
//! 5. Kubernetes list/get requests must name a resource in the context-aware
//!    allow list (`Policy has not been granted access to Kubernetes
//!    <apiVersion>/<kind> resources. The violation has been reported.`);
//! 6. the request is answered by the [`Backend`]; a failure reaches the guest
//!    as `Callback evaluation failure: <error>` (callback.rs L411).
//!
//! The returned `Err(String)` is exactly what the guest reads after
//! wapc-guest's `Host error: ` prefix.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::callback_request::CallbackRequestType;
use crate::capabilities::HostCapabilities;
use crate::replay::Replayer;

/// A Kubernetes resource type a context-aware policy may read (upstream
/// `policy_metadata::ContextAwareResource`; same field order, so a set of
/// them sorts, and serializes, as upstream's).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    /// e.g. `v1`, `apps/v1`.
    pub api_version: String,
    /// e.g. `Pod`.
    pub kind: String,
}

/// Where host-capability requests are answered.
#[derive(Debug)]
pub enum Backend {
    /// No session file: every request fails with [`offline_message`].
    ///
    /// Deliberately different from kwctl, which would contact the registry,
    /// Sigstore, DNS or the cluster: this runner never touches the network.
    Offline,
    /// Answers from a recorded session, as `kwctl run
    /// --replay-host-capabilities-interactions`.
    Replay(Replayer),
}

/// The error text (before the `Callback evaluation failure: ` prefix) for a
/// request made without a session file.
pub fn offline_message(request: &CallbackRequestType) -> String {
    format!(
        "cip-runner does not contact OCI registries, Sigstore, DNS or Kubernetes; \
         answer this host capability request with --replay-host-capabilities-interactions FILE \
         (request: {request:?})"
    )
}

/// kwctl's wrapping of a failed callback (runtimes/callback.rs L411).
fn evaluation_failure(error: impl std::fmt::Display) -> String {
    format!("Callback evaluation failure: {error}")
}

/// Per-run host state shared by every instance created for that run.
#[derive(Debug)]
pub struct Host {
    capabilities: HostCapabilities,
    context_aware: BTreeSet<ContextAwareResource>,
    backend: Mutex<Backend>,
    /// Host-capability calls received (every namespace but `tracing`).
    capability_calls: AtomicUsize,
}

impl Host {
    /// Builds the host.
    ///
    /// `context_aware` is the allow list kwctl computes in
    /// `build_context_aware_allowed_resources`
    /// (`crates/kwctl/src/command/run/evaluator.rs` L276-303): the module's
    /// `contextAwareResources` metadata with `--allow-context-aware`, empty
    /// otherwise (and always empty for a module without metadata).
    pub fn new(
        capabilities: HostCapabilities,
        context_aware: BTreeSet<ContextAwareResource>,
        backend: Backend,
    ) -> Self {
        Self {
            capabilities,
            context_aware,
            backend: Mutex::new(backend),
            capability_calls: AtomicUsize::new(0),
        }
    }

    /// How many host-capability calls (every namespace but `tracing`, granted
    /// or not) this host has received.
    pub fn capability_calls(&self) -> usize {
        self.capability_calls.load(Ordering::Relaxed)
    }

    /// Handles one waPC host call. `Ok` is the payload returned to the guest;
    /// `Err` is the host error text the guest receives.
    ///
    /// # Errors
    /// See the module documentation for every text.
    pub fn call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if binding != "kubewarden" {
            return Err(format!("unknown binding: {binding}"));
        }
        if namespace == "tracing" {
            return match operation {
                "log" => Ok(Vec::new()),
                _ => Err(format!("unknown operation: {operation}")),
            };
        }
        self.capability_calls.fetch_add(1, Ordering::Relaxed);
        let capability_path = format!("{namespace}/{operation}");
        if !self.capabilities.is_allowed(&capability_path) {
            return Err(HostCapabilities::denied_message(&capability_path));
        }
        let request = CallbackRequestType::decode(namespace, operation, payload)
            .map_err(|e| e.to_string())?;
        if let Some((api_version, kind)) = request.kubernetes_resource() {
            let wanted = ContextAwareResource {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            };
            if !self.context_aware.contains(&wanted) {
                return Err(format!(
                    "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. The violation has been reported."
                ));
            }
        }
        let mut backend = self
            .backend
            .lock()
            .map_err(|_| "Error obtaining response over callback channel".to_owned())?;
        match &mut *backend {
            Backend::Offline => Err(evaluation_failure(offline_message(&request))),
            Backend::Replay(replayer) => replayer.answer(&request).map_err(evaluation_failure),
        }
    }

    /// Requests of the session that were never replayed (empty without a
    /// session). kwctl only warns about them.
    pub fn leftovers(&self) -> Vec<String> {
        match self.backend.lock() {
            Ok(backend) => match &*backend {
                Backend::Replay(r) => r.leftovers().map(|req| format!("{req:?}")).collect(),
                Backend::Offline => Vec::new(),
            },
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBKEY_V2: &[u8] = br#"{"type":"SigstorePubKeyVerify","image":"127.0.0.1:5000/demo/app:unsigned","pub_keys":["-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n"],"annotations":null}"#;

    fn session(name: &str) -> Replayer {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        Replayer::load(&path).expect("session")
    }

    fn host(caps: &[&str], backend: Backend) -> Host {
        Host::new(
            HostCapabilities::new(caps).expect("patterns"),
            BTreeSet::new(),
            backend,
        )
    }

    #[test]
    fn recorded_error_reaches_the_guest_as_callback_failure() {
        let h = host(&["*"], Backend::Replay(session("unsigned.yml")));
        let err = h
            .call("kubewarden", "oci", "v2/verify", PUBKEY_V2)
            .expect_err("recorded error");
        assert_eq!(
            err,
            "Callback evaluation failure: no signatures found for image: 127.0.0.1:5000/demo/app:unsigned "
        );
        let err = h
            .call("kubewarden", "oci", "v2/verify", PUBKEY_V2)
            .expect_err("exhausted");
        assert_eq!(
            err,
            "Callback evaluation failure: the list of recorded responses is empty"
        );
        assert!(h.leftovers().is_empty());
    }

    #[test]
    fn replay_mismatch_text() {
        let h = host(&["*"], Backend::Replay(session("oci-missing.yml")));
        let err = h
            .call(
                "kubewarden",
                "oci",
                "v1/oci_manifest",
                br#""127.0.0.1:5000/demo/app:nope""#,
            )
            .expect_err("mismatch");
        assert_eq!(
            err,
            r#"Callback evaluation failure: Replay error: unexpected request. Was expecting OciManifestDigest { image: "127.0.0.1:5000/demo/app:nope" }, got OciManifest { image: "127.0.0.1:5000/demo/app:nope" } instead"#
        );
        assert_eq!(
            h.leftovers(),
            vec![r#"OciManifest { image: "127.0.0.1:5000/demo/app:nope" }"#.to_owned()]
        );
    }

    #[test]
    fn gate_runs_before_decoding_and_tracing_is_never_gated() {
        let h = host(&["oci/v1/*"], Backend::Replay(session("signed.yml")));
        let err = h
            .call("kubewarden", "oci", "v2/verify", b"not json")
            .expect_err("denied");
        assert_eq!(
            err,
            "Policy has not been granted access to the 'oci/v2/verify' host capability. The violation has been reported."
        );
        let h = host(&[], Backend::Offline);
        assert_eq!(
            h.call("kubewarden", "tracing", "log", b"{}"),
            Ok(Vec::new())
        );
        assert_eq!(
            h.call("kubewarden", "tracing", "nope", b"{}"),
            Err("unknown operation: nope".to_owned())
        );
        assert_eq!(
            h.call("other", "oci", "v2/verify", b""),
            Err("unknown binding: other".to_owned())
        );
    }

    #[test]
    fn logging_does_not_consume_exchanges() {
        let h = host(&["*"], Backend::Replay(session("signed.yml")));
        h.call("kubewarden", "tracing", "log", br#"{"level":"info"}"#)
            .expect("log accepted");
        assert_eq!(h.leftovers().len(), 1);
    }

    #[test]
    fn offline_backend_explains_itself() {
        let h = host(&["*"], Backend::Offline);
        let err = h
            .call("kubewarden", "oci", "v1/manifest_digest", br#""busybox""#)
            .expect_err("offline");
        assert_eq!(
            err,
            r#"Callback evaluation failure: cip-runner does not contact OCI registries, Sigstore, DNS or Kubernetes; answer this host capability request with --replay-host-capabilities-interactions FILE (request: OciManifestDigest { image: "busybox" })"#
        );
    }

    #[test]
    fn kubernetes_reads_need_the_context_aware_allow_list() {
        let get = br#"{"api_version":"v1","kind":"Pod","name":"p","namespace":"default","disable_cache":false}"#;
        let h = host(&["*"], Backend::Offline);
        assert_eq!(
            h.call("kubewarden", "kubernetes", "get_resource", get),
            Err("Policy has not been granted access to Kubernetes v1/Pod resources. The violation has been reported.".to_owned())
        );
        let h = Host::new(
            HostCapabilities::AllowAll,
            BTreeSet::from([ContextAwareResource {
                api_version: "v1".into(),
                kind: "Pod".into(),
            }]),
            Backend::Offline,
        );
        let err = h
            .call("kubewarden", "kubernetes", "get_resource", get)
            .expect_err("offline");
        assert!(
            err.starts_with("Callback evaluation failure: cip-runner does not contact"),
            "{err}"
        );
    }

    #[test]
    fn bad_payload_gives_serde_text() {
        let h = host(&["*"], Backend::Offline);
        assert_eq!(
            h.call("kubewarden", "oci", "v1/manifest_digest", b"42"),
            Err("invalid type: integer `42`, expected a string at line 1 column 2".to_owned())
        );
    }
}
