//! `cip-runner`: an offline, kwctl-compatible runner for Kubewarden waPC
//! policies, for the tests of the cluster-image-policy module.
//!
//! `cip-runner run` behaves as `kwctl run` for what the project's tests use
//! (kubewarden-controller `crates/kwctl/src/command/run.rs` L14-72):
//! 1. read the request and the settings, load the module (errors: `Error: ...`
//!    on stderr, exit 1);
//! 2. call `validate_settings`; if not valid: `Error: Provided settings are
//!    not valid: <message>` on stderr, exit 1;
//! 3. call `validate` on the same instance, print kwctl's AdmissionResponse as
//!    one JSON line on stdout, exit 0 (also when the call failed: that is an
//!    `internal server error` response, as in kwctl).
//!
//! Host capabilities are answered only from a recorded session
//! (`--replay-host-capabilities-interactions`); see [`host`] for the rules
//! and texts. Unlike kwctl, it never goes to the network.
//!
//! `cip-runner validate-settings` only runs step 2, so that a CI job can gate
//! on it: valid settings print the guest's `{"valid":true,"message":null}`
//! answer (exit 0); invalid ones `Error: Provided settings are not valid:
//! <message>` on stderr, nothing on stdout, exit 1, as `run`.
//!
//! `cip-runner annotate -m metadata.yml [-u README.md] -o out.wasm in.wasm`
//! embeds the metadata as `kwctl annotate` does ([`annotate`]); `run
//! --allow-context-aware` then grants the module's `contextAwareResources`.
//!
//! `cip-runner request deployment.yaml` prints the AdmissionRequest for
//! creating the manifest's object, for `run --request-path` ([`manifest`]).
//!
//! `cip-runner migrate --policy annotated-policy.wasm cips.yaml config.yaml`
//! turns policy-controller ClusterImagePolicies into a ClusterAdmissionPolicy
//! ([`migrate`]), and their `TrustRoot`s into the PolicyServer's Sigstore trust
//! ConfigMap ([`trustroot`]).
//!
//! Exit codes, every subcommand: 0 success; 1 any error, printed as one
//! `Error: <message>: <cause>…` text on stderr, never with a backtrace
//! (`RUST_BACKTRACE` changes nothing); 2 a usage error (clap). `run` exits 0
//! whenever it prints a response, a denial included; `migrate` also exits 2
//! when it dropped ClusterImagePolicies or documents (the output is still
//! written), and 1 when it has no ClusterImagePolicy to write.
//!
//! Compiled modules are cached on disk (`$CIP_RUNNER_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/cip-runner` or `~/.cache/cip-runner`; `off` disables it):
//! see [`cache`].
//!
//! # Layout
//! - [`cli`]: clap definitions; [`commands`]: the subcommands' bodies.
//! - [`module`]: [`module::PolicyModule::load`] compiles a module once per
//!   process (or loads it from the [`cache`]); [`module::PolicyModule::instantiate`] makes a fresh instance
//!   from it (cheap), bound to a [`host::Host`]. A benchmark can time
//!   `validate` on fresh instances or on one reused instance with these two.
//! - [`limits`]: policy-server's execution-time limit and 1.38's memory cap, enforced
//!   (`run --policy-timeout`, `--disable-timeout-protection`, `--policy-memory-limit`).
//! - [`host`]: the waPC host callback (binding check, capability gate,
//!   decoding, context-aware check, replay/offline backend).
//! - [`callback_request`], [`capabilities`], [`replay`]: kwctl's request enum,
//!   capability patterns and session format.
//! - [`request`], [`settings`], [`response`]: inputs and kwctl's output line.
//! - [`annotate`], [`metadata`], [`wasm`]: kwctl's annotate, its `Metadata`
//!   type, and the wasm section helpers.
//! - [`bench`]: `cip-runner bench` (`make bench`): per-request cost on fresh
//!   and reused instances against the no-op floor.
//! - [`preinit`]: `cip-runner preinit` (`make preinit-policy.wasm`): the
//!   module pre-initialised with Wizer (measured, not in the build: BENCHMARKS.md).

pub mod annotate;
pub mod bench;
pub mod cache;
pub mod callback_request;
pub mod capabilities;
pub mod cli;
pub mod commands;
pub mod host;
pub mod limits;
pub mod manifest;
pub mod metadata;
pub mod migrate;
pub mod module;
pub mod preinit;
pub mod replay;
pub mod request;
pub mod response;
pub mod settings;
pub mod trustroot;
pub mod wasm;
