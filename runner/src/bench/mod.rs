//! `cip-runner bench`: per-request cost of a policy module, measured the way
//! policy-server runs it.
//!
//! policy-server keeps a pre-instantiated module and creates a **fresh
//! instance for every admission request**, handing the settings JSON over
//! each time. The per-request cost is therefore: instantiate + (guest) decode
//! the request and the settings + compile what the request needs (globs,
//! Rego) + evaluate + encode the answer, plus the host's own marshalling
//! (`{"request":…,"settings":…}` serialized, the answer parsed) — all of it
//! on every request. `kwctl bench` reuses one instance and hides the
//! instantiation; this harness measures both, side by side:
//!
//! - **fresh**: `instantiate` + `validate` (or `validate_settings`) + drop of
//!   the instance, timed together, `fresh` times (policy-server);
//! - **reused**: `validate` on one instance, `reused` times (kwctl bench);
//! - **instantiate**: creating the instance alone (the guest's `wapc_init`
//!   included), `fresh` times, dropped outside the timed region;
//!
//! each after `warmup` untimed iterations, with [`std::time::Instant`].
//!
//! **The floor** is the no-op module (`runner/noop-policy`: it answers with
//! constant bytes and does not read its payload), measured in the same run,
//! on the same request and settings, iteration by iteration interleaved with
//! the policy (so that both see the same machine state). Every figure is also
//! given as a ratio to the floor.
//!
//! Host-capability calls are answered from recorded sessions
//! ([`crate::replay`]): the session is parsed once, and every request gets its
//! own copy of the parsed exchanges (a clone, outside the timed region; the
//! reused instance gets one session with as many copies as it makes
//! requests). The [`Host`] counts the calls; a scenario can require an exact
//! number per request.
//!
//! Every answer is checked (allowed / denied / settings valid) so that a
//! benchmark never times an error path by mistake.
//!
//! The standard scenarios ([`standard_scenarios`]) and the targets
//! ([`targets`]) are those of `make bench`, which writes `BENCHMARKS.md`
//! ([`Report::markdown`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use crate::capabilities::HostCapabilities;
use crate::host::{Backend, Host};
use crate::module::{PolicyInstance, PolicyModule};
use crate::replay::{Exchange, Replayer};
use crate::request::AdmissionRequest;
use crate::response::{AdmissionResponse, SettingsValidationResponse};
use crate::settings::PolicySettings;

/// Arguments of `cip-runner bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The policy module under test.
    #[arg(long, value_name = "WASM", default_value = "policy.wasm")]
    pub policy: PathBuf,
    /// The no-op module: the floor every figure is compared with.
    #[arg(
        long,
        value_name = "WASM",
        default_value = "target/wasm32-wasip1/release/noop_policy.wasm"
    )]
    pub noop: PathBuf,
    /// Directory the scenarios' paths (`test_data/...`) are relative to: the
    /// repository root.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Requests per scenario on a fresh instance each (policy-server's way);
    /// also the number of timed instantiations.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub fresh: usize,
    /// Requests per scenario on one reused instance (kwctl bench's way).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub reused: usize,
    /// Untimed iterations before each measurement.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub warmup: usize,
    /// Run only these scenarios (by id: seed, static-20, rego-20, key-3,
    /// settings-50, cue-20); repeatable. All of them by default.
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Write the markdown report to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// How many iterations to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Fresh-instance requests (and timed instantiations).
    pub fresh: usize,
    /// Requests on one reused instance.
    pub reused: usize,
    /// Untimed iterations before each measurement.
    pub warmup: usize,
}

/// The waPC function a scenario calls.
#[derive(Debug, Clone)]
pub enum Call {
    /// `validate` with an admission request and the settings.
    Validate {
        /// The request, as kwctl/policy-server hand it over.
        request: Box<AdmissionRequest>,
        /// The settings, handed over with every request.
        settings: PolicySettings,
        /// The expected decision of the policy under test (`None`: not checked).
        expect_allowed: Option<bool>,
    },
    /// `validate_settings` (the policy must answer `valid: true`).
    ValidateSettings {
        /// The settings.
        settings: PolicySettings,
    },
}

/// One benchmark scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short id (`static-20`).
    pub id: String,
    /// One line saying what is measured.
    pub title: String,
    /// What is called.
    pub call: Call,
    /// Recorded host-capability exchanges answering one request, in order
    /// (parsed once; `None`: no session, every host call fails offline).
    pub session: Option<Vec<Exchange>>,
    /// Host-capability calls the policy under test must make per request
    /// (`None`: not checked).
    pub expected_host_calls: Option<usize>,
}

/// Median and 95th percentile of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Number of timed samples.
    pub samples: usize,
    /// Median (mean of the two middle samples for an even count).
    pub median_us: f64,
    /// 95th percentile, nearest rank.
    pub p95_us: f64,
}

impl Stats {
    /// Median and p95 of `durations` (all zero for none).
    pub fn from_durations(durations: &[Duration]) -> Self {
        let mut us: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let n = us.len();
        if n == 0 {
            return Self {
                samples: 0,
                median_us: 0.0,
                p95_us: 0.0,
            };
        }
        let median_us = if n % 2 == 1 {
            us[n / 2]
        } else {
            (us[n / 2 - 1] + us[n / 2]) / 2.0
        };
        // Nearest rank: the smallest sample with at least 95 % of the samples at or below it.
        let rank = (n * 95).div_ceil(100).max(1);
        Self {
            samples: n,
            median_us,
            p95_us: us[rank - 1],
        }
    }
}

/// The figures of one module on one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleFigures {
    /// Creating an instance alone.
    pub instantiate: Stats,
    /// Instantiate + call + drop, one fresh instance per request.
    pub fresh: Stats,
    /// The call alone on one reused instance.
    pub reused: Stats,
    /// Fewest and most host-capability calls one request made (fresh and
    /// reused requests, warm-up included).
    pub host_calls: (usize, usize),
    /// The answer, summarized (`allowed`, `denied: …`, `valid`).
    pub outcome: String,
    /// Median number of minor page faults of the process during one
    /// fresh-instance request (Linux only): memory the instance touched for
    /// the first time, its linear memory's growth included.
    pub fresh_page_faults: Option<u64>,
}

/// The figures of the policy and of the floor on one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioResult {
    /// [`Scenario::id`].
    pub id: String,
    /// [`Scenario::title`].
    pub title: String,
    /// The module under test.
    pub policy: ModuleFigures,
    /// The no-op module.
    pub floor: ModuleFigures,
    /// What [`Scenario::expected_host_calls`] required.
    pub expected_host_calls: Option<usize>,
}

/// `a / b`, or NaN when `b` is zero.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

impl ScenarioResult {
    /// Policy median / floor median, fresh instances.
    pub fn fresh_ratio(&self) -> f64 {
        ratio(self.policy.fresh.median_us, self.floor.fresh.median_us)
    }
    /// Policy median / floor median, reused instance.
    pub fn reused_ratio(&self) -> f64 {
        ratio(self.policy.reused.median_us, self.floor.reused.median_us)
    }
}

/// One answer of a module.
enum Outcome {
    Validate(AdmissionResponse),
    Settings(SettingsValidationResponse),
}

impl Outcome {
    fn summary(&self) -> String {
        match self {
            Self::Validate(r) if r.allowed => "allowed".to_owned(),
            Self::Validate(r) => {
                let message = r
                    .status
                    .as_ref()
                    .and_then(|s| s.message.as_deref())
                    .unwrap_or("");
                let first = message.lines().next().unwrap_or("");
                format!("denied: {first}")
            }
            Self::Settings(s) if s.valid => "valid".to_owned(),
            Self::Settings(s) => format!("invalid: {}", s.message.as_deref().unwrap_or("")),
        }
    }

    /// Whether the answer is the one the scenario expects from the policy.
    fn check(&self, call: &Call) -> Result<()> {
        let ok = match (self, call) {
            (
                Self::Validate(r),
                Call::Validate {
                    expect_allowed: Some(allowed),
                    ..
                },
            ) => r.allowed == *allowed && r.status.as_ref().and_then(|s| s.code) != Some(500),
            (Self::Validate(r), Call::Validate { .. }) => {
                r.status.as_ref().and_then(|s| s.code) != Some(500)
            }
            (Self::Settings(s), Call::ValidateSettings { .. }) => s.valid,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(anyhow!("unexpected answer: {}", self.summary()))
        }
    }
}

/// Calls the scenario's function on `instance`.
fn call(instance: &PolicyInstance, call: &Call) -> Outcome {
    match call {
        Call::Validate {
            request, settings, ..
        } => Outcome::Validate(instance.validate(request, settings)),
        Call::ValidateSettings { settings } => {
            Outcome::Settings(instance.validate_settings(settings))
        }
    }
}

/// Prepared state of one module for one scenario.
struct Subject<'a> {
    module: &'a PolicyModule,
    /// Whether answers are checked (the policy under test, not the floor).
    checked: bool,
    /// One request's session, parsed (cloned for every fresh request).
    session: Option<Replayer>,
    fresh: Vec<Duration>,
    instantiate: Vec<Duration>,
    reused: Vec<Duration>,
    faults: Vec<u64>,
    calls: (usize, usize),
    outcome: Option<String>,
}

impl<'a> Subject<'a> {
    fn new(module: &'a PolicyModule, checked: bool, scenario: &Scenario) -> Result<Self> {
        let session = match &scenario.session {
            Some(exchanges) => Some(Replayer::from_exchanges(exchanges.clone())?),
            None => None,
        };
        Ok(Self {
            module,
            checked,
            session,
            fresh: Vec::new(),
            instantiate: Vec::new(),
            reused: Vec::new(),
            faults: Vec::new(),
            calls: (usize::MAX, 0),
            outcome: None,
        })
    }

    /// A host for one request: its own copy of the session.
    fn host(&self) -> Arc<Host> {
        let backend = match &self.session {
            Some(replayer) => Backend::Replay(replayer.clone()),
            None => Backend::Offline,
        };
        Arc::new(Host::new(
            HostCapabilities::AllowAll,
            BTreeSet::new(),
            backend,
        ))
    }

    fn count_calls(&mut self, scenario: &Scenario, calls: usize) -> Result<()> {
        self.calls = (self.calls.0.min(calls), self.calls.1.max(calls));
        if self.checked
            && let Some(expected) = scenario.expected_host_calls
            && calls != expected
        {
            bail!("{calls} host-capability calls in one request, expected {expected}");
        }
        Ok(())
    }

    fn record(&mut self, scenario: &Scenario, outcome: &Outcome) -> Result<()> {
        if self.checked {
            outcome.check(&scenario.call)?;
        }
        if self.outcome.is_none() {
            self.outcome = Some(outcome.summary());
        }
        Ok(())
    }

    /// One request on a fresh instance: instantiate + call + drop, timed.
    fn fresh_once(&mut self, scenario: &Scenario, timed: bool) -> Result<()> {
        let host = self.host();
        let faults = minor_page_faults();
        let start = Instant::now();
        let instance = self.module.instantiate(host.clone())?;
        let outcome = call(&instance, &scenario.call);
        drop(instance);
        let elapsed = start.elapsed();
        if timed {
            self.fresh.push(elapsed);
            if let (Some(before), Some(after)) = (faults, minor_page_faults()) {
                self.faults.push(after.saturating_sub(before));
            }
        }
        self.count_calls(scenario, host.capability_calls())?;
        self.record(scenario, &outcome)
    }

    /// Creating one instance, timed alone.
    fn instantiate_once(&mut self, timed: bool) -> Result<()> {
        let host = self.host();
        let start = Instant::now();
        let instance = self.module.instantiate(host)?;
        let elapsed = start.elapsed();
        drop(instance);
        if timed {
            self.instantiate.push(elapsed);
        }
        Ok(())
    }

    fn figures(mut self) -> ModuleFigures {
        self.faults.sort_unstable();
        let fresh_page_faults = self.faults.get(self.faults.len() / 2).copied();
        ModuleFigures {
            fresh_page_faults,
            instantiate: Stats::from_durations(&self.instantiate),
            fresh: Stats::from_durations(&self.fresh),
            reused: Stats::from_durations(&self.reused),
            host_calls: if self.calls.0 == usize::MAX {
                (0, 0)
            } else {
                self.calls
            },
            outcome: self.outcome.unwrap_or_default(),
        }
    }
}

/// Minor page faults of this process so far (field 10 of Linux's
/// `/proc/self/stat`), when readable.
fn minor_page_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces), from field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// One reused instance with its host, for the kwctl-bench-like measurement.
struct Reused {
    instance: PolicyInstance,
    host: Arc<Host>,
}

impl Reused {
    fn new(subject: &Subject<'_>, scenario: &Scenario, requests: usize) -> Result<Self> {
        // One session holding one copy of the exchanges per request.
        let backend = match &scenario.session {
            Some(exchanges) => {
                let mut all = Vec::with_capacity(exchanges.len() * requests);
                for _ in 0..requests {
                    all.extend(exchanges.iter().cloned());
                }
                Backend::Replay(Replayer::from_exchanges(all)?)
            }
            None => Backend::Offline,
        };
        let host = Arc::new(Host::new(
            HostCapabilities::AllowAll,
            BTreeSet::new(),
            backend,
        ));
        let instance = subject.module.instantiate(host.clone())?;
        Ok(Self { instance, host })
    }

    fn once(&self, subject: &mut Subject<'_>, scenario: &Scenario, timed: bool) -> Result<()> {
        let before = self.host.capability_calls();
        let start = Instant::now();
        let outcome = call(&self.instance, &scenario.call);
        let elapsed = start.elapsed();
        if timed {
            subject.reused.push(elapsed);
        }
        subject.count_calls(scenario, self.host.capability_calls() - before)?;
        subject.record(scenario, &outcome)
    }
}

/// Measures `policy` and the floor `noop` on one scenario, interleaved
/// iteration by iteration.
///
/// # Errors
/// An instance cannot be created, the policy's answer is not the expected
/// one, or it makes another number of host calls than expected.
pub fn measure(
    policy: &PolicyModule,
    noop: &PolicyModule,
    scenario: &Scenario,
    sampling: &Sampling,
) -> Result<ScenarioResult> {
    let mut subjects = [
        Subject::new(policy, true, scenario)?,
        Subject::new(noop, false, scenario)?,
    ];
    let context = |what: &str, i: usize| {
        let module = if i == 0 { "policy" } else { "no-op floor" };
        format!("scenario {}: {module}, {what}", scenario.id)
    };
    // Fresh instances (policy-server).
    for n in 0..sampling.warmup + sampling.fresh {
        for (i, s) in subjects.iter_mut().enumerate() {
            s.fresh_once(scenario, n >= sampling.warmup)
                .with_context(|| context("fresh instance", i))?;
        }
    }
    // Instantiation alone.
    for n in 0..sampling.warmup + sampling.fresh {
        for (i, s) in subjects.iter_mut().enumerate() {
            s.instantiate_once(n >= sampling.warmup)
                .with_context(|| context("instantiation", i))?;
        }
    }
    // One reused instance each (kwctl bench).
    let requests = sampling.warmup + sampling.reused;
    let reused = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| Reused::new(s, scenario, requests).with_context(|| context("instance", i)))
        .collect::<Result<Vec<_>>>()?;
    for n in 0..requests {
        for (i, (s, r)) in subjects.iter_mut().zip(&reused).enumerate() {
            r.once(s, scenario, n >= sampling.warmup)
                .with_context(|| context("reused instance", i))?;
        }
    }
    drop(reused);
    let [policy, floor] = subjects;
    Ok(ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        policy: policy.figures(),
        floor: floor.figures(),
        expected_host_calls: scenario.expected_host_calls,
    })
}

/// Parses a recorded session file into its exchanges (once; the benchmark
/// then copies the parsed exchanges).
///
/// # Errors
/// The file cannot be read or is not a session (see [`Replayer::parse`]).
pub fn load_exchanges(path: &Path) -> Result<Vec<Exchange>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read session {}", path.display()))?;
    let exchanges: Vec<Exchange> = serde_yaml::from_str(&text)
        .with_context(|| format!("cannot parse session {}", path.display()))?;
    // Fail now, not in the middle of a measurement, on a bad recorded request.
    Replayer::from_exchanges(exchanges.clone())
        .with_context(|| format!("invalid session {}", path.display()))?;
    Ok(exchanges)
}

/// The distinct images of the pod spec of a request's object (init,
/// regular and ephemeral containers; Pods and pod templates).
pub fn distinct_images(request: &AdmissionRequest) -> BTreeSet<String> {
    let mut images = BTreeSet::new();
    let Some(object) = &request.object else {
        return images;
    };
    let spec = if object["spec"]["template"]["spec"].is_object() {
        &object["spec"]["template"]["spec"]
    } else {
        &object["spec"]
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec[list].as_array().into_iter().flatten() {
            if let Some(image) = c["image"].as_str() {
                images.insert(image.to_owned());
            }
        }
    }
    images
}

mod report;
mod scenarios;

pub use report::*;
pub use scenarios::*;

/// Runs the benchmark: loads both modules (compiled once, through the
/// compilation cache), measures every selected scenario, computes the
/// targets.
///
/// # Errors
/// A module or data file cannot be loaded, or a measurement fails (see
/// [`measure`]).
pub fn run_report(args: &BenchArgs) -> Result<Report> {
    let sampling = Sampling {
        fresh: args.fresh.max(1),
        reused: args.reused.max(1),
        warmup: args.warmup,
    };
    let machine = Machine::detect();
    // Without policy-server's limits, as before they existed: wasmtime's epoch checks (what
    // the execution-time limit needs) slowed the guest by about 10 % (rego-20 fresh 6.2x ->
    // 6.9x of the floor, reused 8.6x -> 9.8x, 3 interleaved runs; README, "Runner limits"),
    // and the benchmark's figures stay comparable with earlier runs.
    let unlimited = crate::limits::HostLimits::none();
    let cache = crate::cache::CompileCache::from_env();
    let policy = PolicyModule::load_with(&args.policy, &cache, unlimited)?;
    let noop = PolicyModule::load_with(&args.noop, &cache, unlimited)?;
    let size = |p: &Path| -> Result<u64> {
        Ok(std::fs::metadata(p)
            .with_context(|| format!("cannot stat {}", p.display()))?
            .len())
    };
    let mut scenarios = standard_scenarios(&args.root)?;
    if !args.scenarios.is_empty() {
        for id in &args.scenarios {
            if !scenarios.iter().any(|s| &s.id == id) {
                bail!("unknown scenario {id:?}");
            }
        }
        scenarios.retain(|s| args.scenarios.contains(&s.id));
    }
    let mut results = Vec::new();
    for scenario in &scenarios {
        eprintln!("bench: {} ...", scenario.id);
        let r = measure(&policy, &noop, scenario, &sampling)?;
        eprintln!(
            "bench: {}: fresh {:.0} µs (floor {:.0} µs, {:.2}×), reused {:.0} µs (floor {:.0} µs, {:.2}×), instantiate {:.0} µs (floor {:.0} µs)",
            r.id,
            r.policy.fresh.median_us,
            r.floor.fresh.median_us,
            r.fresh_ratio(),
            r.policy.reused.median_us,
            r.floor.reused.median_us,
            r.reused_ratio(),
            r.policy.instantiate.median_us,
            r.floor.instantiate.median_us,
        );
        results.push(r);
    }
    let policy_bytes = size(&args.policy)?;
    let targets = targets(&results, policy_bytes);
    Ok(Report {
        machine,
        sampling,
        policy: (args.policy.display().to_string(), policy_bytes),
        noop: (args.noop.display().to_string(), size(&args.noop)?),
        results,
        targets,
    })
}

/// `cip-runner bench`: prints the markdown report (or puts it in the
/// `results` block of `--output`, see [`update_markdown_block`]), and a
/// summary of the targets on stderr.
///
/// # Errors
/// As [`run_report`], or the output cannot be written.
pub fn run(args: &BenchArgs) -> Result<()> {
    let report = run_report(args)?;
    let markdown = report.markdown();
    match &args.output {
        Some(path) => update_markdown_block(path, "results", &markdown)?,
        None => print!("{markdown}"),
    }
    for t in &report.targets {
        eprintln!(
            "bench: target {}: {} — {}",
            if t.holds { "holds" } else { "MISSED" },
            t.name,
            t.measured
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(us: u64) -> Duration {
        Duration::from_micros(us)
    }

    #[test]
    fn stats_median_and_nearest_rank_p95() {
        let s = Stats::from_durations(&[d(3), d(1), d(2)]);
        assert_eq!((s.samples, s.median_us, s.p95_us), (3, 2.0, 3.0));
        let durations: Vec<_> = (1..=100).rev().map(d).collect();
        let s = Stats::from_durations(&durations);
        assert_eq!((s.median_us, s.p95_us), (50.5, 95.0));
        assert_eq!(Stats::from_durations(&[]).samples, 0);
    }
}
