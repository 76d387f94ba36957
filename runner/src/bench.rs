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
use std::fmt::Write as _;
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
    /// settings-50); repeatable. All of them by default.
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

/// The scenarios of `make bench`, with their data under `root`
/// (`test_data/bench/`, `test_data/settings/`, `test_data/sessions/`).
///
/// # Errors
/// A data file cannot be read or parsed.
pub fn standard_scenarios(root: &Path) -> Result<Vec<Scenario>> {
    let path = |p: &str| root.join(p);
    let request = |p: &str| {
        let p = path(p);
        AdmissionRequest::load(p.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?)
    };
    let settings = |p: &str| PolicySettings::from_path(&path(p));

    let deployment = request("test_data/bench/deployment-5-containers.json")?;
    let key_request = request("test_data/bench/pod-key-3-images.json")?;
    let mut key_session = Vec::new();
    for name in ["signed.yml", "key-multi.yml", "unsigned.yml"] {
        key_session.extend(load_exchanges(&path(&format!(
            "test_data/sessions/{name}"
        )))?);
    }
    // One key authority (k1) in one CIP matching every image: one call per
    // distinct image.
    let key_calls = distinct_images(&key_request).len();

    Ok(vec![
        Scenario {
            id: "seed".into(),
            title: "seed Pod (cgr.dev/chainguard/nginx:latest-dev), both seed CIPs (static + Rego disallow-latest-tag)".into(),
            call: Call::Validate {
                request: Box::new(request("test_data/bench/pod-seed.json")?),
                settings: settings("test_data/settings/seed-step3.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "static-20".into(),
            title: "Deployment, 5 containers, 20 CIPs with static authorities only (6 glob matches), no digest pinning".into(),
            call: Call::Validate {
                request: Box::new(deployment.clone()),
                settings: settings("test_data/bench/cips-20-static.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "rego-20".into(),
            title: "the same with a Rego policy on every CIP (6 of them compiled and evaluated)".into(),
            call: Call::Validate {
                request: Box::new(deployment),
                settings: settings("test_data/bench/cips-20-rego.yaml")?,
                expect_allowed: Some(true),
            },
            session: None,
            expected_host_calls: Some(0),
        },
        Scenario {
            id: "key-3".into(),
            title: format!(
                "key (k1) verification of {key_calls} distinct images (4 containers) through a replayed session (signed, multi-arch, unsigned: denied)"
            ),
            call: Call::Validate {
                request: Box::new(key_request),
                settings: settings("test_data/settings/key-k1.yaml")?,
                expect_allowed: Some(false),
            },
            session: Some(key_session),
            expected_host_calls: Some(key_calls),
        },
        Scenario {
            id: "settings-50".into(),
            title: "validate_settings of 50 CIPs (static, key, keyless, Rego, key + Rego)".into(),
            call: Call::ValidateSettings {
                settings: settings("test_data/bench/cips-50-mixed.yaml")?,
            },
            session: None,
            expected_host_calls: Some(0),
        },
    ])
}

/// One benchmark target and whether it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is required.
    pub name: String,
    /// What was measured.
    pub measured: String,
    /// Whether it holds.
    pub holds: bool,
}

/// Largest module size allowed (3.7 MB, decimal), after wasm-opt (`make policy.wasm`).
///
/// It was 3 MB until regorus' `time` builtins were built in (issue 10): policy.wasm went from
/// 2,653,577 to 3,610,127 bytes with them (chrono, chrono-tz's time-zone database) and to
/// 3,639,256 bytes with the static checks of CIP policies (`src/rego/check.rs`); 3.7 MB leaves
/// about 60 KB for what comes next. Never above 4 MB (BENCHMARKS.md).
pub const MAX_MODULE_BYTES: u64 = 3_700_000;

/// The targets of `make bench`, on the scenarios that were run.
pub fn targets(results: &[ScenarioResult], policy_bytes: u64) -> Vec<Target> {
    let find = |id: &str| results.iter().find(|r| r.id == id);
    let mut out = Vec::new();
    let mut ratio_target = |id: &str, what: &str, limit: f64| {
        if let Some(r) = find(id) {
            let fresh = r.fresh_ratio();
            out.push(Target {
                name: format!("{what} ({id}): fresh-instance median ≤ {limit}× the no-op floor"),
                measured: format!(
                    "{:.2}× ({:.0} µs vs {:.0} µs; p95 {:.2}×)",
                    fresh,
                    r.policy.fresh.median_us,
                    r.floor.fresh.median_us,
                    ratio(r.policy.fresh.p95_us, r.floor.fresh.p95_us)
                ),
                holds: fresh <= limit,
            });
        }
    };
    ratio_target("static-20", "static/glob-only", 2.0);
    ratio_target("rego-20", "Rego on every CIP", 4.0);
    if let Some(r) = find("settings-50") {
        let ms = r.policy.fresh.median_us / 1000.0;
        out.push(Target {
            name: "settings validation of 50 CIPs (settings-50): fresh-instance median ≤ 10 ms"
                .into(),
            measured: format!("{ms:.2} ms (p95 {:.2} ms)", r.policy.fresh.p95_us / 1000.0),
            holds: ms <= 10.0,
        });
    }
    if let Some(r) = find("key-3")
        && let Some(expected) = r.expected_host_calls
    {
        let (min, max) = r.policy.host_calls;
        out.push(Target {
            name: format!(
                "exactly one host call per distinct (image, authority, key/identity) (key-3): {expected} per request"
            ),
            measured: if min == max {
                format!("{min} per request, every request")
            } else {
                format!("{min} to {max} per request")
            },
            holds: min == expected && max == expected,
        });
    }
    out.push(Target {
        name: format!("module size ≤ {MAX_MODULE_BYTES} bytes"),
        measured: format!("{policy_bytes} bytes"),
        holds: policy_bytes <= MAX_MODULE_BYTES,
    });
    out
}

/// Facts about the machine and toolchain, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Logical CPUs.
    pub cores: usize,
    /// Total memory (`/proc/meminfo`).
    pub memory: String,
    /// Load averages (1, 5, 15 min) when the benchmark started
    /// (`/proc/loadavg`): other work on the machine shows up in the figures.
    pub load: String,
    /// `rustc --version` of the toolchain on the PATH.
    pub rustc: String,
    /// The wasmtime version this runner is built with (from `Cargo.lock`).
    pub wasmtime: String,
    /// When the benchmark ran (UTC).
    pub date: String,
}

impl Machine {
    /// Reads the facts of this machine.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
        };
        let cpu = match (field("model name"), field("cpu MHz")) {
            (Some(model), Some(mhz)) => format!("{model} ({mhz} MHz)"),
            (Some(model), None) => model,
            _ => "unknown".into(),
        };
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(
                || "unknown".into(),
                |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0),
            );
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu,
            cores,
            memory,
            load,
            rustc,
            wasmtime: wasmtime_version().to_owned(),
            date: utc_now(),
        }
    }
}

/// The wasmtime version in the workspace's `Cargo.lock` (what this binary
/// was built with).
pub fn wasmtime_version() -> &'static str {
    const LOCK: &str = include_str!("../../Cargo.lock");
    let mut lines = LOCK.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return v.trim_end_matches('"');
        }
    }
    "unknown"
}

/// `YYYY-MM-DD HH:MM UTC` now.
fn utc_now() -> String {
    utc_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time.
fn utc_date(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Everything `cip-runner bench` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// Iterations.
    pub sampling: Sampling,
    /// Policy module path and size in bytes.
    pub policy: (String, u64),
    /// No-op module path and size in bytes.
    pub noop: (String, u64),
    /// Per-scenario figures.
    pub results: Vec<ScenarioResult>,
    /// Targets.
    pub targets: Vec<Target>,
}

fn us(s: &Stats) -> String {
    format!("{:.0} / {:.0}", s.median_us, s.p95_us)
}

fn times(policy: &Stats, floor: &Stats) -> String {
    format!(
        "{:.2}× / {:.2}×",
        ratio(policy.median_us, floor.median_us),
        ratio(policy.p95_us, floor.p95_us)
    )
}

impl Report {
    /// The report as markdown (the generated part of `BENCHMARKS.md`).
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let s = &self.sampling;
        let mut out = String::new();
        let _ = writeln!(out, "## Results ({})\n", m.date);
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| CPU | {} |", m.cpu);
        let _ = writeln!(out, "| Cores | {} |", m.cores);
        let _ = writeln!(out, "| Memory | {} |", m.memory);
        let _ = writeln!(out, "| Load average at start (1/5/15 min) | {} |", m.load);
        let _ = writeln!(out, "| rustc | {} |", m.rustc);
        let _ = writeln!(out, "| wasmtime | {} |", m.wasmtime);
        let _ = writeln!(
            out,
            "| Policy module | `{}`, {} bytes |",
            self.policy.0, self.policy.1
        );
        let _ = writeln!(
            out,
            "| No-op module (floor) | `{}`, {} bytes ({:.1}× smaller) |",
            self.noop.0,
            self.noop.1,
            ratio(self.policy.1 as f64, self.noop.1 as f64)
        );
        let _ = writeln!(
            out,
            "| Iterations | {} fresh-instance requests and {} instantiations, {} requests on one reused instance, {} warm-up each; per module, interleaved with the floor |",
            s.fresh, s.fresh, s.reused, s.warmup
        );
        let _ = writeln!(out, "\n### Targets\n");
        let _ = writeln!(out, "| Target | Measured | Holds |\n|---|---|---|");
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                t.name,
                t.measured,
                if t.holds { "yes" } else { "**NO**" }
            );
        }
        let _ = writeln!(out, "\n### Scenarios\n");
        let _ = writeln!(
            out,
            "Microseconds, median / p95. *fresh*: instantiate + call + drop, a new instance per request (policy-server); *reused*: the call on one instance (kwctl bench); *instantiate*: creating the instance alone. Ratios are to the no-op floor on the same request and settings.\n"
        );
        let _ = writeln!(
            out,
            "| Scenario | Module | fresh µs | reused µs | instantiate µs | host calls / request | answer |\n|---|---|---|---|---|---|---|"
        );
        for r in &self.results {
            let calls = |f: &ModuleFigures| {
                let (min, max) = f.host_calls;
                if min == max {
                    format!("{min}")
                } else {
                    format!("{min}–{max}")
                }
            };
            let _ = writeln!(
                out,
                "| **{}** | policy | {} | {} | {} | {}{} | {} |",
                r.id,
                us(&r.policy.fresh),
                us(&r.policy.reused),
                us(&r.policy.instantiate),
                calls(&r.policy),
                r.expected_host_calls
                    .map(|e| format!(" (expected {e})"))
                    .unwrap_or_default(),
                r.policy.outcome.replace('|', "\\|")
            );
            let _ = writeln!(
                out,
                "| | no-op floor | {} | {} | {} | {} | {} |",
                us(&r.floor.fresh),
                us(&r.floor.reused),
                us(&r.floor.instantiate),
                calls(&r.floor),
                r.floor.outcome
            );
            let _ = writeln!(
                out,
                "| | **ratio** | **{}** | {} | {} | | |",
                times(&r.policy.fresh, &r.floor.fresh),
                times(&r.policy.reused, &r.floor.reused),
                times(&r.policy.instantiate, &r.floor.instantiate)
            );
        }
        let _ = writeln!(
            out,
            "\n### Where a fresh-instance request goes (wasm)\n\nMedians, µs. *one-time work* = fresh − instantiate − reused: what a request on a new instance costs on top of creating it and of the same call on a warm instance — the first call's extra work (statics built lazily, e.g. in a `OnceLock`, which start empty in every instance; first growth and page faults of the linear memory) and the instance's teardown. *page faults*: minor page faults of the process during one fresh-instance request (median), i.e. 4 KiB pages touched for the first time.\n"
        );
        let _ = writeln!(
            out,
            "| Scenario | Module | fresh | instantiate | call (reused) | one-time work | one-time share | page faults / fresh request |\n|---|---|---|---|---|---|---|---|"
        );
        for r in &self.results {
            for (module, f) in [("policy", &r.policy), ("no-op floor", &r.floor)] {
                let once = f.fresh.median_us - f.instantiate.median_us - f.reused.median_us;
                let _ = writeln!(
                    out,
                    "| {} | {module} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} % | {} |",
                    if module == "policy" {
                        r.id.as_str()
                    } else {
                        ""
                    },
                    f.fresh.median_us,
                    f.instantiate.median_us,
                    f.reused.median_us,
                    once,
                    100.0 * ratio(once, f.fresh.median_us),
                    f.fresh_page_faults
                        .map_or_else(|| "n/a".to_owned(), |n| n.to_string())
                );
            }
        }
        let _ = writeln!(out, "\nScenarios:\n");
        for r in &self.results {
            let _ = writeln!(out, "- **{}**: {}", r.id, r.title);
        }
        out
    }
}

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
    let policy = PolicyModule::load(&args.policy)?;
    let noop = PolicyModule::load(&args.noop)?;
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

/// `text` with the block `<!-- {name}:begin -->` … `<!-- {name}:end -->`
/// holding `content` (the markers kept): the block replaced when `text` has
/// it, appended otherwise.
pub fn replace_markdown_block(text: &str, name: &str, content: &str) -> String {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let block = format!("{begin}\n{}\n{end}", content.trim_end());
    if let Some(start) = text.find(&begin)
        && let Some(stop) = text[start..].find(&end)
    {
        let stop = start + stop + end.len();
        return format!("{}{block}{}", &text[..start], &text[stop..]);
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
    out.push_str(&block);
    out.push('\n');
    out
}

/// Puts `content` in the `name` block of the markdown file at `path`
/// ([`replace_markdown_block`]); the rest of the file (hand-written analysis)
/// is kept. A missing file is created.
///
/// # Errors
/// The file cannot be read (other than missing) or written.
pub fn update_markdown_block(path: &Path, name: &str, content: &str) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    std::fs::write(path, replace_markdown_block(&text, name, content))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_blocks_are_replaced_or_appended() {
        let text = replace_markdown_block("", "results", "A\n");
        assert_eq!(text, "<!-- results:begin -->\nA\n<!-- results:end -->\n");
        let text = replace_markdown_block(
            &format!("# Title\n\n{text}\nHand-written.\n"),
            "results",
            "B",
        );
        assert_eq!(
            text,
            "# Title\n\n<!-- results:begin -->\nB\n<!-- results:end -->\n\nHand-written.\n"
        );
        let text = replace_markdown_block(&text, "breakdown", "C");
        assert!(
            text.ends_with(
                "Hand-written.\n\n<!-- breakdown:begin -->\nC\n<!-- breakdown:end -->\n"
            ),
            "{text}"
        );
    }

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

    #[test]
    fn wasmtime_version_comes_from_the_lock_file() {
        let v = wasmtime_version();
        assert!(v.split('.').count() == 3, "{v}");
    }

    #[test]
    fn date_format() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        let date = utc_now();
        assert!(date.ends_with(" UTC") && date.len() == 20, "{date}");
        assert!(date.starts_with("20"), "{date}");
    }
}
