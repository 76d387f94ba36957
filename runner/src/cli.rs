//! Command line, a compatible subset of `kwctl run`
//! (kubewarden-controller `crates/kwctl/src/cli.rs` L253-388).
//!
//! Compatibility notes, all as in kwctl:
//! - `--allowed-host-capabilities` takes zero or more values after one flag
//!   (`num_args(0..)`, default `*`); giving the flag twice is an error in
//!   kwctl, and here too. With no value at all, nothing is allowed.
//!   Because it takes several values, put the policy path before it or end
//!   its values with `--`.
//! - `--settings-path` wins over `--settings-json` when both are given.
//! - `--record-host-capabilities-interactions` is not offered (recording needs
//!   the network); `--replay-host-capabilities-interactions` is.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kwctl-compatible runner for Kubewarden waPC policies, offline.
#[derive(Debug, Parser)]
#[command(name = "cip-runner", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a policy on one admission request (as `kwctl run`) and print the
    /// AdmissionResponse as one JSON line.
    #[command(
        after_help = "Exit codes: 0 a response was printed (allowed or not); 1 an error, invalid settings included (`Error: Provided settings are not valid: …`); 2 a usage error."
    )]
    Run(RunArgs),
    /// Call only the policy's `validate_settings`: print its answer when the
    /// settings are valid, fail with its message when they are not.
    #[command(
        after_help = "Exit codes: 0 valid (the answer on stdout); 1 invalid (`Error: Provided settings are not valid: <message>` on stderr, as `run`) or any other error; 2 a usage error."
    )]
    ValidateSettings(ValidateSettingsArgs),
    /// Print the AdmissionRequest for creating the object of a Kubernetes
    /// manifest (a Pod, a Deployment, …), for `run --request-path`.
    #[command(
        after_help = "Exit codes: 0 the request was printed; 1 an error (the manifest cannot be read or parsed, holds no object or several without --object); 2 a usage error."
    )]
    Request(crate::manifest::RequestArgs),
    /// Add Kubewarden metadata to a WebAssembly module (as `kwctl annotate`).
    #[command(after_help = "Exit codes: 0 written; 1 an error; 2 a usage error.")]
    Annotate(AnnotateArgs),
    /// Turn policy-controller ClusterImagePolicies into a ClusterAdmissionPolicy.
    #[command(
        after_help = "Exit codes: 0 every ClusterImagePolicy carried over; 2 some ClusterImagePolicies or documents dropped (reported on stderr; the output is still written) or a usage error; 1 an error, or no ClusterImagePolicy to carry over (nothing written)."
    )]
    Migrate(crate::migrate::MigrateArgs),
    /// Per-request cost of a policy module, fresh instance per request (as
    /// policy-server) and reused instance (as kwctl bench), against a no-op floor.
    #[command(after_help = "Exit codes: 0 measured (and written); 1 an error; 2 a usage error.")]
    Bench(crate::bench::BenchArgs),
    /// Pre-initialise a policy module with Wizer: run its initialisation function once and
    /// write the resulting state into a new module (`make preinit-policy.wasm`; measured, not
    /// used for `policy.wasm`: BENCHMARKS.md).
    Preinit(crate::preinit::PreinitArgs),
}

/// `--settings-path` / `--settings-json`.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// File containing the settings for this policy (YAML or JSON).
    #[arg(short = 's', long, value_name = "PATH")]
    pub settings_path: Option<PathBuf>,
    /// JSON string containing the settings for this policy.
    #[arg(long, value_name = "VALUE")]
    pub settings_json: Option<String>,
}

/// Arguments of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// File containing the Kubernetes admission request object in JSON format
    /// (`-` reads stdin). A bare AdmissionRequest or an AdmissionReview.
    #[arg(short = 'r', long, value_name = "PATH")]
    pub request_path: String,
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Answer host-capability calls from this recorded session (kwctl format).
    #[arg(long, value_name = "FILE")]
    pub replay_host_capabilities_interactions: Option<PathBuf>,
    /// Grant access to the Kubernetes resources listed in the policy's
    /// `contextAwareResources` metadata (none for an unannotated module).
    #[arg(long)]
    pub allow_context_aware: bool,
    /// Host capabilities the policy is allowed to use. '*' allows all.
    /// Examples: 'oci/*', 'oci/v2/verify', 'net/v1/dns_lookup_host'.
    #[arg(
        long,
        num_args = 0..,
        action = clap::ArgAction::Set,
        default_values_t = [String::from("*")],
        value_name = "PATTERN"
    )]
    pub allowed_host_capabilities: Vec<String>,
    /// policy-server's limits on the evaluation.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The policy module (.wasm).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
}

/// policy-server's limits, as `run` enforces them ([`crate::limits`]; kwctl has none of these
/// flags and enforces no limit).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Interrupt policy evaluation after the given time, in seconds, as policy-server's
    /// --policy-timeout (KUBEWARDEN_POLICY_TIMEOUT); fractions are accepted (0.5)
    #[arg(long, value_name = "MAXIMUM_EXECUTION_TIME_SECONDS", default_value_t = crate::limits::DEFAULT_POLICY_TIMEOUT_SECONDS)]
    pub policy_timeout: f64,
    /// Disable policy timeout protection, as policy-server's flag
    #[arg(long)]
    pub disable_timeout_protection: bool,
    /// Cap the policy's memory at this many MiB during evaluation, as Kubewarden 1.38's
    /// policy-server (256 by default); 0: no cap
    #[arg(long, value_name = "MIB", default_value_t = crate::limits::DEFAULT_MEMORY_LIMIT_MIB)]
    pub policy_memory_limit: u64,
}

impl LimitArgs {
    /// The limits the flags say.
    ///
    /// # Errors
    /// A `--policy-timeout` that is not a positive number of seconds (at most a day).
    pub fn limits(&self) -> Result<crate::limits::HostLimits, String> {
        let timeout = (!self.disable_timeout_protection).then_some(self.policy_timeout);
        crate::limits::HostLimits::from_flags(timeout, self.policy_memory_limit)
    }
}

/// Arguments of `validate-settings`.
#[derive(Debug, Clone, Args)]
pub struct ValidateSettingsArgs {
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The policy module (.wasm).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
}

/// Arguments of `annotate`, as kwctl's (`crates/kwctl/src/cli.rs`
/// `subcommand_annotate`).
#[derive(Debug, Clone, Args)]
pub struct AnnotateArgs {
    /// File containing the metadata.
    #[arg(short = 'm', long, value_name = "PATH")]
    pub metadata_path: PathBuf,
    /// Output file.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output_path: PathBuf,
    /// File containing the usage information of the policy.
    #[arg(short = 'u', long, value_name = "PATH")]
    pub usage_path: Option<PathBuf>,
    /// Path to WebAssembly module to be annotated.
    #[arg(value_name = "WASM_PATH")]
    pub wasm_path: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cip-runner").chain(args.iter().copied()))
    }

    fn run(args: &[&str]) -> RunArgs {
        match parse(args).expect("valid").command {
            Command::Run(r) => r,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn run_defaults() {
        let r = run(&["run", "--request-path", "req.json", "p.wasm"]);
        assert_eq!(r.allowed_host_capabilities, vec!["*"]);
        assert!(!r.allow_context_aware);
        assert_eq!(r.policy, PathBuf::from("p.wasm"));
        assert_eq!(r.settings.settings_path, None);
        assert_eq!(
            r.limits.limits(),
            Ok(crate::limits::HostLimits::default()),
            "policy-server's defaults"
        );
    }

    #[test]
    fn limit_flags_as_policy_server() {
        let r = run(&[
            "run",
            "-r",
            "req.json",
            "--policy-timeout",
            "0.5",
            "--policy-memory-limit",
            "64",
            "p.wasm",
        ]);
        let limits = r.limits.limits().expect("valid");
        assert_eq!(
            limits.policy_timeout,
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(limits.memory_limit, Some(64 << 20));
        let r = run(&[
            "run",
            "-r",
            "req.json",
            "--disable-timeout-protection",
            "--policy-memory-limit",
            "0",
            "p.wasm",
        ]);
        assert_eq!(r.limits.limits(), Ok(crate::limits::HostLimits::none()));
        let r = run(&["run", "-r", "req.json", "--policy-timeout", "0", "p.wasm"]);
        assert!(r.limits.limits().is_err());
    }

    #[test]
    fn several_patterns_after_one_flag() {
        let r = run(&[
            "run",
            "-r",
            "-",
            "p.wasm",
            "--allowed-host-capabilities",
            "oci/*",
            "net/v1/dns_lookup_host",
        ]);
        assert_eq!(r.request_path, "-");
        assert_eq!(
            r.allowed_host_capabilities,
            vec!["oci/*", "net/v1/dns_lookup_host"]
        );
        let r = run(&[
            "run",
            "-r",
            "x",
            "--allowed-host-capabilities",
            "--",
            "p.wasm",
        ]);
        assert!(r.allowed_host_capabilities.is_empty());
    }

    #[test]
    fn repeating_the_capability_flag_is_refused_like_kwctl() {
        let e = parse(&[
            "run",
            "-r",
            "x",
            "--allowed-host-capabilities",
            "oci/*",
            "--allowed-host-capabilities",
            "net/*",
            "--",
            "p.wasm",
        ])
        .expect_err("repeated flag");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn annotate_flags_as_kwctl() {
        let Command::Annotate(a) = parse(&[
            "annotate",
            "-m",
            "metadata.yml",
            "-u",
            "README.md",
            "-o",
            "out.wasm",
            "in.wasm",
        ])
        .expect("valid")
        .command
        else {
            panic!("not annotate")
        };
        assert_eq!(a.metadata_path, PathBuf::from("metadata.yml"));
        assert_eq!(a.usage_path, Some(PathBuf::from("README.md")));
        assert_eq!(a.output_path, PathBuf::from("out.wasm"));
        assert_eq!(a.wasm_path, PathBuf::from("in.wasm"));
        assert!(parse(&["annotate", "-m", "m.yml", "in.wasm"]).is_err());
        assert!(parse(&["annotate", "-o", "o.wasm", "in.wasm"]).is_err());
    }

    #[test]
    fn request_path_is_required() {
        assert!(parse(&["run", "p.wasm"]).is_err());
    }
}
