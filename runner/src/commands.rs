//! The subcommands' bodies (`run`, `validate-settings`, `annotate`, `migrate`), kept out of
//! `main.rs` so that further subcommands can share the building blocks.
//!
//! Exit codes (`main.rs`): 0 success; [`EXIT_ERROR`] (1) for every error, printed by
//! [`error_text`] (bad input, a module that cannot be loaded, invalid settings for `run` and
//! `validate-settings`); `migrate` also [`crate::migrate::EXIT_DROPPED`] (2); clap's usage
//! errors 2.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Result, anyhow};

use crate::cache::CompileCache;
use crate::capabilities::HostCapabilities;
use crate::cli::{AnnotateArgs, RunArgs, SettingsArgs, ValidateSettingsArgs};
use crate::host::{Backend, Host};
use crate::limits;
use crate::module::PolicyModule;
use crate::replay::Replayer;
use crate::request::AdmissionRequest;
use crate::response::AdmissionResponse;
use crate::settings::PolicySettings;

/// Exit code of every error.
pub const EXIT_ERROR: u8 = 1;

/// What `main` prints on stderr for an error: `Error: <message>: <cause>: …`, the message and
/// every cause on one line as anyhow's `{:#}` renders them, never a backtrace.
pub fn error_text(error: &anyhow::Error) -> String {
    format!("Error: {error:#}")
}

/// `Provided settings are not valid: <message>`, kwctl's error for settings its policy refuses
/// (kubewarden-controller `crates/kwctl/src/command/run.rs` L41).
fn settings_not_valid(message: Option<String>) -> anyhow::Error {
    anyhow!(
        "Provided settings are not valid: {}",
        message.unwrap_or_default()
    )
}

/// Resolves `--settings-path` / `--settings-json` (see [`PolicySettings::from_cli`]).
///
/// # Errors
/// The settings file or JSON cannot be read or is not a mapping.
pub fn load_settings(args: &SettingsArgs) -> Result<PolicySettings> {
    PolicySettings::from_cli(args.settings_path.as_deref(), args.settings_json.as_deref())
}

/// `cip-runner run`: see the crate documentation for the steps and exit codes.
///
/// # Errors
/// Bad inputs, a module that cannot be loaded or initialized, invalid
/// settings (`Provided settings are not valid: <message>`).
pub fn run(args: &RunArgs) -> Result<()> {
    // Same order as kwctl: settings (policy definition), then the request,
    // then the evaluation context and the module.
    let settings = load_settings(&args.settings)?;
    let request = AdmissionRequest::load(&args.request_path)?;
    let capabilities = HostCapabilities::new(&args.allowed_host_capabilities)
        .map_err(|e| anyhow!("Invalid host capabilities pattern: {e}"))?;
    let backend = match &args.replay_host_capabilities_interactions {
        Some(path) => Backend::Replay(Replayer::load(path)?),
        None => Backend::Offline,
    };
    let limits = args.limits.limits().map_err(|e| anyhow!(e))?;
    let module = PolicyModule::load_with(&args.policy, &CompileCache::from_env(), limits)?;
    let context_aware = match (args.allow_context_aware, module.metadata()) {
        (true, Some(meta)) => meta.context_aware_resources.clone(),
        (true, None) => {
            eprintln!("Policy is not annotated, access to Kubernetes resources is not allowed");
            BTreeSet::new()
        }
        (false, _) => BTreeSet::new(),
    };
    let host = Arc::new(Host::new(capabilities, context_aware, backend));
    let instance = match module.instantiate(host.clone()) {
        Ok(instance) => instance,
        // An interrupted `wapc_init`: policy-server answers the request as for an interrupted
        // call (kubewarden-controller `crates/policy-server/src/api/service.rs` L89-101).
        Err(e) if format!("{e:#}").contains(limits::INTERRUPTED_INIT) => {
            let response = AdmissionResponse::reject(
                request.uid.clone(),
                limits::INTERRUPTED_MESSAGE.to_string(),
                500,
            );
            println!("{}", response.to_line()?);
            return Ok(());
        }
        Err(e) => return Err(e),
    };

    let settings_response = instance.validate_settings(&settings);
    if !settings_response.valid {
        return Err(settings_not_valid(settings_response.message));
    }
    let response = instance.validate(&request, &settings);

    let leftovers = host.leftovers();
    if !leftovers.is_empty() {
        eprintln!(
            "warning: {} of the recorded exchanges have not been replayed: {leftovers:?}",
            leftovers.len()
        );
    }
    println!("{}", response.to_line()?);
    Ok(())
}

/// `cip-runner validate-settings`: step 2 of `run` alone, so that a CI job can gate on it.
/// Valid settings: the guest's answer, `{"valid":true,"message":null}`, on stdout (exit 0).
///
/// # Errors
/// Invalid settings: `Provided settings are not valid: <message>` (exit 1 with `Error: ` before
/// it on stderr, nothing on stdout, exactly as `run`); bad settings input, or a module that
/// cannot be loaded or initialized.
pub fn validate_settings(args: &ValidateSettingsArgs) -> Result<()> {
    let settings = load_settings(&args.settings)?;
    let module = PolicyModule::load(&args.policy)?;
    let host = Arc::new(Host::new(
        HostCapabilities::AllowAll,
        BTreeSet::new(),
        Backend::Offline,
    ));
    let instance = module.instantiate(host)?;
    let response = instance.validate_settings(&settings);
    if !response.valid {
        return Err(settings_not_valid(response.message));
    }
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}

/// `cip-runner annotate`: see [`crate::annotate`].
///
/// # Errors
/// As [`crate::annotate::annotate`].
pub fn annotate(args: &AnnotateArgs) -> Result<()> {
    crate::annotate::annotate(
        &args.wasm_path,
        &args.metadata_path,
        &args.output_path,
        args.usage_path.as_deref(),
    )
}

/// `cip-runner migrate`: see [`crate::migrate`]. Returns the exit code: 0, or
/// [`crate::migrate::EXIT_DROPPED`] (after writing the output) when ClusterImagePolicies or
/// documents were dropped.
///
/// # Errors
/// As [`crate::migrate::run`] (exit code 1).
pub fn migrate(args: &crate::migrate::MigrateArgs) -> Result<u8> {
    crate::migrate::run(args)
}
