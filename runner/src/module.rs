//! Loading a policy module and running its waPC functions.
//!
//! Two separate steps, so that later subcommands (e.g. a benchmark) can reuse
//! them:
//! - [`PolicyModule::load`] compiles the wasm once per process (wasmtime,
//!   through `wasmtime-provider`'s `WasmtimeEngineProviderPre`, with WASI
//!   preview 1 linked: the module is `wasm32-wasip1`);
//! - [`PolicyModule::instantiate`] creates a fresh store + instance (and runs
//!   the guest's `wapc_init`) cheaply from that compiled module, bound to a
//!   [`Host`].
//!
//! Compiling goes through a [`CompileCache`] (wasmtime's on-disk cache of
//! compiled code, see [`crate::cache`]): the first run of a module pays for
//! the compilation, later runs of the same bytes load the compiled code.
//! Instantiation is never cached.
//!
//! This is how kwctl's policy-evaluator builds its waPC stack
//! (kubewarden-controller `crates/policy-evaluator/src/runtimes/wapc/stack_pre.rs`
//! L11-41 and `stack.rs` L53-64). [`PolicyInstance::validate_settings`] and
//! [`PolicyInstance::validate`] mirror `runtimes/wapc/runtime.rs` L29-150.
//! kwctl runs both calls on the same instance; so does `cip-runner run`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use wasmtime_provider::wasmtime;

use crate::cache::CompileCache;
use crate::host::{ContextAwareResource, Host};
use crate::limits::{self, HostLimits};
use crate::request::AdmissionRequest;
use crate::response::{AdmissionResponse, SettingsValidationResponse, ValidationResponse};
use crate::settings::PolicySettings;
pub use crate::wasm::custom_section;

/// Name of the wasm custom section where `kwctl annotate` stores the policy
/// metadata as JSON (kwctl `annotate.rs`).
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The part of a module's Kubewarden metadata this runner uses (upstream
/// `policy_metadata::Metadata`, camelCase). Unannotated modules have none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMetadata {
    /// Kubernetes resources the policy may read when `--allow-context-aware` is given.
    #[serde(default)]
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    /// `kubewarden-wapc` (default), `opa`, `gatekeeper` or `wasi`.
    #[serde(default)]
    pub execution_mode: Option<String>,
    /// `kubernetes` (default) or `raw`.
    #[serde(default)]
    pub policy_type: Option<String>,
}

/// A compiled policy module. Cheap to share; compile it once per process.
#[derive(Clone)]
pub struct PolicyModule {
    pre: wasmtime_provider::WasmtimeEngineProviderPre,
    metadata: Option<PolicyMetadata>,
    limits: HostLimits,
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl PolicyModule {
    /// Reads and compiles a `.wasm` file, through the compilation cache the
    /// environment selects ([`CompileCache::from_env`]), to run under policy-server's default
    /// limits ([`HostLimits::default`]).
    ///
    /// # Errors
    /// When the file cannot be read, is not wasm, cannot be compiled or
    /// linked (e.g. imports other than WASI preview 1 and waPC), or its
    /// metadata asks for something this runner does not do (see
    /// [`PolicyModule::from_bytes`]).
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_cache(path, &CompileCache::from_env())
    }

    /// [`PolicyModule::load`] with an explicit compilation cache.
    ///
    /// # Errors
    /// As [`PolicyModule::load`]; the cache itself never makes it fail.
    pub fn load_with_cache(path: &Path, cache: &CompileCache) -> Result<Self> {
        Self::load_with(path, cache, HostLimits::default())
    }

    /// [`PolicyModule::load_with_cache`] under `limits` ([`crate::limits`]).
    ///
    /// # Errors
    /// As [`PolicyModule::load`].
    pub fn load_with(path: &Path, cache: &CompileCache, limits: HostLimits) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read policy module {}", path.display()))?;
        Self::from_bytes_with(&bytes, cache, limits)
            .with_context(|| format!("cannot load policy module {}", path.display()))
    }

    /// Compiles a module from its bytes (binary wasm, or WAT text).
    ///
    /// # Errors
    /// As [`PolicyModule::load`]; also when the metadata (if any) says the
    /// policy is not a `kubewarden-wapc` one or is a `raw` policy (neither is
    /// supported here).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with_cache(bytes, &CompileCache::from_env())
    }

    /// [`PolicyModule::from_bytes`] with an explicit compilation cache: a
    /// module compiled before (same bytes, same wasmtime version and
    /// settings) is loaded from the cache instead of being compiled again.
    /// The `io.kubewarden.metadata` section is left out of what is compiled
    /// (and so of the cache key): annotating a module does not make it
    /// compile again.
    ///
    /// # Errors
    /// As [`PolicyModule::from_bytes`]; the cache itself never makes it fail.
    pub fn from_bytes_with_cache(bytes: &[u8], cache: &CompileCache) -> Result<Self> {
        Self::from_bytes_with(bytes, cache, HostLimits::default())
    }

    /// [`PolicyModule::from_bytes_with_cache`] under `limits`: an execution-time limit compiles
    /// with wasmtime's epoch interruption and starts the module's clock
    /// ([`limits::start_clock`]); a memory limit caps each instance's memory.
    ///
    /// # Errors
    /// As [`PolicyModule::from_bytes`].
    pub fn from_bytes_with(bytes: &[u8], cache: &CompileCache, limits: HostLimits) -> Result<Self> {
        // WAT text (accepted by wasmtime, handy for tests) carries no metadata.
        let section = if bytes.starts_with(b"\0asm") {
            custom_section(bytes, METADATA_SECTION)?
        } else {
            None
        };
        let metadata = match section {
            Some(json) => Some(
                serde_json::from_slice::<PolicyMetadata>(json)
                    .context("cannot parse the policy metadata")?,
            ),
            None => None,
        };
        if let Some(meta) = &metadata {
            if let Some(mode) = meta.execution_mode.as_deref()
                && mode != "kubewarden-wapc"
            {
                bail!(
                    "the policy metadata says executionMode {mode:?}; cip-runner runs only kubewarden-wapc policies"
                );
            }
            if meta.policy_type.as_deref() == Some("raw") {
                bail!(
                    "the policy metadata says policyType \"raw\"; cip-runner runs only kubernetes policies"
                );
            }
        }
        // The metadata section has no effect on the code: compile the module
        // without it, so that an annotated module and the module it was made
        // from (or re-annotated copies) share one cache entry.
        let stripped;
        let code = if metadata.is_some() {
            stripped = crate::wasm::without_custom_section(bytes, METADATA_SECTION)?;
            &stripped[..]
        } else {
            bytes
        };
        let engine = cache.engine_with(limits.policy_timeout.is_some());
        let module = wasmtime::Module::new(&engine, code)
            .map_err(|e| anyhow!("cannot compile the WebAssembly module: {e:?}"))?;
        let mut builder = wasmtime_provider::WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module(module);
        if let Some(resource_limits) = limits.resource_limits() {
            builder = builder.enable_resource_limits(resource_limits);
        }
        let pre = builder
            .build_pre()
            .context("cannot build Wasmtime engine")?;
        if limits.policy_timeout.is_some() {
            limits::start_clock(&engine);
        }
        Ok(Self {
            pre,
            metadata,
            limits,
        })
    }

    /// The module's Kubewarden metadata, when it was annotated.
    pub fn metadata(&self) -> Option<&PolicyMetadata> {
        self.metadata.as_ref()
    }

    /// The limits its instances run under.
    pub fn limits(&self) -> HostLimits {
        self.limits
    }

    /// A fresh instance (new store, new memory; the guest's `wapc_init` runs), with the
    /// module's limits: the execution-time deadline is set before `wapc_init` and before each
    /// call, as wasmtime-provider does for policy-server.
    ///
    /// # Errors
    /// When instantiation or the guest's initialization fails (e.g. it traps, or is
    /// interrupted: `init interrupted, execution deadline exceeded`).
    pub fn instantiate(&self, host: Arc<Host>) -> Result<PolicyInstance> {
        let provider = self
            .pre
            .rehydrate(self.limits.epoch_deadlines())
            .context("cannot build Wasmtime engine")?;
        let callback =
            move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                host.call(binding, namespace, operation, payload)
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
            };
        let wapc = wapc::WapcHost::new(Box::new(provider), Some(Box::new(callback)))
            .map_err(|e| anyhow!("cannot build Wapc host: {e}"))?;
        Ok(PolicyInstance { wapc })
    }
}

/// One live instance of a policy module.
pub struct PolicyInstance {
    wapc: wapc::WapcHost,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("id", &self.wapc.id())
            .finish()
    }
}

impl PolicyInstance {
    /// Calls a waPC function by name.
    ///
    /// # Errors
    /// The waPC error: a guest error or a trap is `Guest call failure: <text>`.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, wapc::errors::Error> {
        self.wapc.call(operation, payload)
    }

    /// Calls `validate_settings` with the settings JSON, as kwctl
    /// (`runtimes/wapc/runtime.rs` L133-150). Never fails: a failed call gives
    /// `valid: false` with `Error invoking settings validation callback: <waPC
    /// error, Debug>`, an unreadable answer gives `valid: false` with
    /// `error: InvalidResponseWithError(<serde error, Debug>)`.
    pub fn validate_settings(&self, settings: &PolicySettings) -> SettingsValidationResponse {
        let json = match settings.to_json() {
            Ok(json) => json,
            Err(e) => {
                return SettingsValidationResponse {
                    valid: false,
                    message: Some(format!("could not marshal settings: {e}")),
                };
            }
        };
        match self.call("validate_settings", json.as_bytes()) {
            Ok(answer) => serde_json::from_slice::<SettingsValidationResponse>(&answer)
                .unwrap_or_else(|e| SettingsValidationResponse {
                    valid: false,
                    message: Some(format!("error: InvalidResponseWithError({e:?})")),
                }),
            Err(err) => SettingsValidationResponse {
                valid: false,
                message: Some(format!(
                    "Error invoking settings validation callback: {err:?}"
                )),
            },
        }
    }

    /// Calls `validate` with `{"request": <request>, "settings": <settings>}`
    /// and builds kwctl's response (`runtimes/wapc/runtime.rs` L29-131).
    /// Never fails: a call interrupted by the execution-time limit gives
    /// [`limits::INTERRUPTED_MESSAGE`] with code 500 (L84-126); another failed call (guest
    /// error or trap, e.g. past the memory limit) gives
    /// `internal server error: <waPC error>` with code 500; an unreadable
    /// answer gives `internal server error: invalid response from policy:
    /// <serde error>` with code 500.
    pub fn validate(
        &self,
        request: &AdmissionRequest,
        settings: &PolicySettings,
    ) -> AdmissionResponse {
        let uid = request.uid.clone();
        let params = serde_json::json!({ "request": request, "settings": settings });
        let payload = match serde_json::to_string(&params) {
            Ok(p) => p,
            Err(e) => return AdmissionResponse::reject_internal_server_error(uid, &e.to_string()),
        };
        match self.call("validate", payload.as_bytes()) {
            Ok(answer) => match serde_json::from_slice::<ValidationResponse>(&answer) {
                Ok(response) => AdmissionResponse::from_validation_response(
                    uid.clone(),
                    request.object.as_ref(),
                    &response,
                )
                .unwrap_or_else(|e| {
                    AdmissionResponse::reject_internal_server_error(
                        uid,
                        &format!("invalid response format: {e}"),
                    )
                }),
                Err(e) => AdmissionResponse::reject_internal_server_error(
                    uid,
                    &format!("invalid response from policy: {e}"),
                ),
            },
            Err(e) if e.to_string().contains(limits::INTERRUPTED_CALL) => {
                AdmissionResponse::reject(uid, limits::INTERRUPTED_MESSAGE.to_string(), 500)
            }
            Err(e) => AdmissionResponse::reject_internal_server_error(uid, &e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal wasm binary: header + one custom section.
    fn wasm_with_custom(name: &str, payload: &[u8]) -> Vec<u8> {
        let mut section = vec![u8::try_from(name.len()).expect("short name")];
        section.extend_from_slice(name.as_bytes());
        section.extend_from_slice(payload);
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.push(0);
        bytes.push(u8::try_from(section.len()).expect("short section"));
        bytes.extend(section);
        bytes
    }

    #[test]
    fn finds_metadata_section() {
        let json = br#"{"contextAwareResources":[{"apiVersion":"v1","kind":"Pod"}],"rules":[]}"#;
        let bytes = wasm_with_custom(METADATA_SECTION, json);
        let found = custom_section(&bytes, METADATA_SECTION)
            .expect("parse")
            .expect("present");
        let meta: PolicyMetadata = serde_json::from_slice(found).expect("json");
        assert_eq!(
            meta.context_aware_resources.into_iter().collect::<Vec<_>>(),
            vec![ContextAwareResource {
                api_version: "v1".into(),
                kind: "Pod".into()
            }]
        );
        assert_eq!(custom_section(&bytes, "other").expect("parse"), None);
    }

    #[test]
    fn rejects_non_wasm_and_truncated() {
        assert!(custom_section(b"hello world!", METADATA_SECTION).is_err());
        let mut bytes = wasm_with_custom("x", b"abc");
        bytes.truncate(bytes.len() - 1);
        assert!(custom_section(&bytes, METADATA_SECTION).is_err());
    }

    #[test]
    fn load_missing_file_fails_with_path() {
        let e = PolicyModule::load(Path::new("/nonexistent/policy.wasm")).expect_err("missing");
        assert!(
            format!("{e:#}").contains("/nonexistent/policy.wasm"),
            "{e:#}"
        );
    }

    #[test]
    fn garbage_module_is_refused() {
        let cache = CompileCache::disabled();
        assert!(PolicyModule::from_bytes_with_cache(b"\0asm\x01\0\0\0\x01\x01", &cache).is_err());
    }

    #[test]
    fn annotated_non_wapc_module_is_refused() {
        let bytes = wasm_with_custom(METADATA_SECTION, br#"{"executionMode":"opa"}"#);
        let e = PolicyModule::from_bytes_with_cache(&bytes, &CompileCache::disabled())
            .expect_err("opa");
        assert!(e.to_string().contains("kubewarden-wapc"), "{e}");
    }
}
