//! Native per-phase breakdown of the policy's `validate`, for `make bench`.
//!
//! The headline figures of `cip-runner bench` come from the wasm module under
//! wasmtime; this example links the policy crate natively to split one
//! request into its phases, on the same scenarios and data
//! ([`cip_runner::bench::standard_scenarios`]):
//!
//! - **decode**: the settings JSON (`Settings::from_json`), the admission
//!   request (`workload::AdmissionRequest`, the objects kept as raw JSON), the
//!   fields of the object the policy reads (`workload::extract`);
//! - **compile**: the globs (`Evaluator::new`: checked and classified; a
//!   regex is compiled later, during evaluation, only for a glob with a
//!   wildcard before its end whose literal prefix a name passes), the Rego
//!   policies of the matching CIPs, each distinct source once, parsed and
//!   prepared (`RegoPolicy::compile` + `RegoPolicy::prepare`);
//! - **evaluate**: the image references (`ImageRef::parse`), the Rego
//!   evaluations on the prepared policies (`RegoPolicy::evaluate` on the input
//!   the policy builds), and
//!   the rest of `Evaluator::evaluate` (authorities, host calls through
//!   `CachedHost`, messages);
//! - **encode**: the `ValidationResponse` JSON;
//!
//! each warm (median of `--iterations`), plus the **one-time work of a fresh
//! instance**: a wasm instance starts with fresh memory, so every lazily
//! initialised static (a `OnceLock`) is built again on every admission
//! request. Natively that only happens once per process, so it is measured in
//! child processes (`--cold` of them, this same binary re-executed): the first
//! `ImageRef::parse` of the process, and the first and second
//! `validate_with_host`. A counting allocator gives the peak heap of one
//! request (in wasm: linear memory the fresh instance grows and touches).
//!
//! ```text
//! cargo run --locked --profile runner -p cip-runner --example breakdown -- [--output BENCHMARKS.md]
//! ```
//!
//! With `--output`, the `breakdown` block of that markdown file is replaced
//! ([`cip_runner::bench::update_markdown_block`]); otherwise the markdown is
//! printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use cip_runner::bench::{Call, Scenario, Stats, standard_scenarios, update_markdown_block};
use cip_runner::callback_request::CallbackRequestType;
use cip_runner::replay::Replayer;
use cluster_image_policy::glob::GlobMatcher;
use cluster_image_policy::host::{CachedHost, Host, HostError};
use cluster_image_policy::reference::ImageRef;
use cluster_image_policy::rego::{RegoPolicy, input};
use cluster_image_policy::settings::Settings;
use cluster_image_policy::verdict::Evaluator;
use cluster_image_policy::workload::{self, AdmissionRequest, Extraction};
use serde_json::Value;

/// Environment variable that turns the process into a cold-measurement child.
const COLD_ENV: &str = "CIP_BREAKDOWN_COLD";

/// Environment variable (`<scenario>:<n>`) that runs `validate_with_host`
/// in a loop, for a profiler.
const LOOP_ENV: &str = "CIP_BREAKDOWN_LOOP";

/// The system allocator, counting the live heap while [`heap_peak`] runs:
/// how much memory one request needs (in wasm, linear memory the instance
/// must grow and touch).
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
        let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

fn shrank(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_sub(isize::try_from(bytes).unwrap_or(0), Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are
// updated around it.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Peak live heap (bytes) while `f` runs, counted from zero at its start.
fn heap_peak<T>(f: impl FnOnce() -> T) -> usize {
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    drop(out);
    usize::try_from(PEAK.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Answers the policy's host calls from a recorded session, like the runner
/// (same exchanges, same order, same equality), and counts them.
struct ReplayHost {
    replayer: RefCell<Option<Replayer>>,
    calls: RefCell<usize>,
}

impl ReplayHost {
    fn new(replayer: Option<Replayer>) -> Self {
        Self {
            replayer: RefCell::new(replayer),
            calls: RefCell::new(0),
        }
    }

    fn answer(&self, request: CallbackRequestType) -> Result<Value, HostError> {
        *self.calls.borrow_mut() += 1;
        let mut replayer = self.replayer.borrow_mut();
        let replayer = replayer
            .as_mut()
            .ok_or_else(|| HostError("no session: host capabilities are offline".into()))?;
        let payload = replayer
            .answer(&request)
            .map_err(|e| HostError(e.to_string()))?;
        serde_json::from_slice(&payload).map_err(|e| HostError(e.to_string()))
    }

    fn digest(&self, request: CallbackRequestType) -> Result<String, HostError> {
        let answer = self.answer(request)?;
        answer["digest"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| HostError("no digest in the answer".into()))
    }
}

impl Host for ReplayHost {
    fn manifest_digest(&self, image: &str) -> Result<String, HostError> {
        self.digest(CallbackRequestType::OciManifestDigest {
            image: image.into(),
        })
    }
    fn verify_pub_key(&self, image: &str, pem_key: &str) -> Result<String, HostError> {
        self.digest(CallbackRequestType::SigstorePubKeyVerify {
            image: image.into(),
            pub_keys: vec![pem_key.into()],
            annotations: None,
        })
    }
    fn verify_keyless_exact(
        &self,
        image: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<String, HostError> {
        self.digest(CallbackRequestType::SigstoreKeylessVerify {
            image: image.into(),
            keyless: vec![cip_runner::callback_request::KeylessInfo {
                issuer: issuer.into(),
                subject: subject.into(),
            }],
            annotations: None,
        })
    }
    fn verify_keyless_prefix(
        &self,
        image: &str,
        issuer: &str,
        url_prefix: &str,
    ) -> Result<String, HostError> {
        self.digest(CallbackRequestType::SigstoreKeylessPrefixVerify {
            image: image.into(),
            keyless_prefix: vec![cip_runner::callback_request::KeylessPrefixInfo {
                issuer: issuer.into(),
                url_prefix: url_prefix.into(),
            }],
            annotations: None,
        })
    }
    fn oci_manifest(&self, image: &str) -> Result<Value, HostError> {
        self.answer(CallbackRequestType::OciManifest {
            image: image.into(),
        })
    }
    fn manifest_and_config(&self, image: &str) -> Result<Value, HostError> {
        self.answer(CallbackRequestType::OciManifestAndConfig {
            image: image.into(),
        })
    }
    fn get_resource(
        &self,
        _api_version: &str,
        _kind: &str,
        _name: &str,
        _namespace: Option<&str>,
    ) -> Result<Value, HostError> {
        Err(HostError(
            "the breakdown does not replay Kubernetes reads".into(),
        ))
    }
}

/// One validate scenario, ready to run natively.
struct Prepared {
    id: String,
    /// `{"request":…,"settings":…}` exactly as the runner sends it.
    payload: Vec<u8>,
    settings_json: String,
    request_json: String,
    session: Option<Replayer>,
}

impl Prepared {
    fn new(scenario: &Scenario) -> Result<Option<Self>> {
        let Call::Validate {
            request, settings, ..
        } = &scenario.call
        else {
            return Ok(None);
        };
        let session = match &scenario.session {
            Some(exchanges) => Some(Replayer::from_exchanges(exchanges.clone())?),
            None => None,
        };
        Ok(Some(Self {
            id: scenario.id.clone(),
            payload: serde_json::to_vec(
                &serde_json::json!({ "request": request, "settings": settings }),
            )?,
            settings_json: settings.to_json()?,
            request_json: serde_json::to_string(request)?,
            session,
        }))
    }

    fn host(&self) -> ReplayHost {
        ReplayHost::new(self.session.clone())
    }
}

/// Median of `n` runs of `f`, in microseconds.
fn median_us(n: usize, mut f: impl FnMut() -> Duration) -> f64 {
    let samples: Vec<Duration> = (0..n).map(|_| f()).collect();
    Stats::from_durations(&samples).median_us
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

/// Warm phase timings of one scenario, microseconds (median).
#[derive(Debug)]
struct Warm {
    decode_settings: f64,
    decode_request: f64,
    extract: f64,
    globs: f64,
    parse_images: f64,
    rego_compile: f64,
    rego_compiled: usize,
    rego_cips: usize,
    rego_evaluate: f64,
    rego_evaluated: usize,
    evaluate_total: f64,
    encode: f64,
    total: f64,
    host_calls: usize,
    heap_total: usize,
    heap_globs: usize,
}

fn warm(p: &Prepared, n: usize) -> Result<Warm> {
    let decode_settings = median_us(n, || {
        timed(|| Settings::from_json(p.settings_json.as_bytes())).0
    });
    let settings = Settings::from_json(p.settings_json.as_bytes()).map_err(|e| anyhow!(e))?;
    let decode_request = median_us(n, || {
        timed(|| serde_json::from_str::<AdmissionRequest>(&p.request_json)).0
    });
    let request: AdmissionRequest = serde_json::from_str(&p.request_json)?;
    let extract = median_us(n, || timed(|| workload::extract(&request)).0);
    let Extraction::Check(workload) = workload::extract(&request) else {
        bail!("{}: the request is not checked", p.id);
    };
    let owners = || {
        settings.policies.iter().enumerate().flat_map(|(i, cip)| {
            cip.spec
                .images
                .iter()
                .map(move |img| (i, img.glob.as_str()))
        })
    };
    let globs = median_us(n, || timed(|| GlobMatcher::new(owners())).0);
    let parse_images = median_us(n, || {
        timed(|| {
            workload.images.iter().for_each(|i| {
                std::hint::black_box(ImageRef::parse(&i.image).is_ok());
            })
        })
        .0
    });
    // The CIPs whose Rego the request compiles: those matching an image.
    let matcher = GlobMatcher::new(owners()).map_err(|(_, g, e)| anyhow!("{g}: {e}"))?;
    let pairs: Vec<(ImageRef, usize)> = workload
        .images
        .iter()
        .filter_map(|i| ImageRef::parse(&i.image).ok())
        .flat_map(|r| {
            matcher
                .matching_owners(&r.glob_candidates())
                .into_iter()
                .map(move |cip| (r.clone(), cip))
        })
        .collect();
    let mut matching: Vec<usize> = pairs.iter().map(|(_, cip)| *cip).collect();
    matching.sort_unstable();
    matching.dedup();
    // As the policy does: each distinct source compiled and prepared once. Only Rego is
    // broken down; a CUE policy's compilation and evaluation are in "evaluate: the rest".
    let is_rego = |i: usize| {
        settings.policies[i]
            .spec
            .policy
            .as_ref()
            .is_some_and(|p| p.type_ == "rego")
    };
    let mut sources: Vec<String> = matching
        .iter()
        .filter(|&&i| is_rego(i))
        .filter_map(|&i| settings.policies[i].spec.policy.as_ref()?.data.clone())
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let timeout = settings.rego_timeout_milliseconds;
    let rego_compiled = sources.len();
    let rego_cips = matching.iter().filter(|&&i| is_rego(i)).count();
    let rego_compile = median_us(n, || {
        timed(|| {
            sources.iter().for_each(|src| {
                if let Ok(policy) = RegoPolicy::compile(src, timeout) {
                    policy.prepare();
                    std::hint::black_box(policy);
                }
            })
        })
        .0
    });
    let mut compiled: std::collections::HashMap<&str, RegoPolicy> =
        std::collections::HashMap::new();
    for src in &sources {
        let policy = RegoPolicy::compile(src, timeout).map_err(|e| anyhow!(e))?;
        policy.prepare();
        compiled.insert(src.as_str(), policy);
    }
    // Rego evaluation: each (image, matching CIP with Rego) once, on the input
    // the policy builds (authority matches, image, and what the CIP includes).
    let host = p.host();
    let checker = cluster_image_policy::authority::Checker::new(&host);
    let mut evaluations = Vec::new();
    let (spec, metadata) = (input::SharedPart::new(), input::SharedPart::new());
    for (image, index) in &pairs {
        let cip = &settings.policies[*index];
        let Some(policy) = cip.spec.policy.as_ref().filter(|p| p.type_ == "rego") else {
            continue;
        };
        let Some(source) = &policy.data else {
            continue;
        };
        let compiled = compiled[source.as_str()].clone();
        let mut matches = serde_json::Map::new();
        for authority in &cip.spec.authorities {
            if let Ok(pass) = checker.check(authority, image) {
                matches.insert(authority.name().to_owned(), pass.matches);
            }
        }
        // As the policy builds it: `spec` and `metadata` parsed once, shared (`rego::input`).
        let mut input = input::Document::new();
        input.json("authorityMatches", &Value::Object(matches));
        input.string("image", &image.canonical(false));
        input.string("imageAsWritten", image.raw());
        // Only what the policy can read is built (the rest is only checked, in the policy).
        if policy.include_spec == Some(true) && compiled.reads_input("spec") {
            input.value(
                "spec",
                spec.get(|| workload.spec_json()).map_err(|e| anyhow!(e))?,
            );
        }
        if policy.include_object_meta == Some(true) && compiled.reads_input("metadata") {
            input.value(
                "metadata",
                metadata
                    .get(|| workload.metadata_json())
                    .map_err(|e| anyhow!(e))?,
            );
        }
        if policy.include_type_meta == Some(true) {
            input.json(
                "typemeta",
                &serde_json::json!({"kind": workload.kind, "apiVersion": workload.api_version}),
            );
        }
        evaluations.push((compiled, input.into_value()));
    }
    let rego_evaluated = evaluations.len();
    let rego_evaluate = median_us(n, || {
        timed(|| {
            evaluations.iter().for_each(|(policy, input)| {
                std::hint::black_box(policy.evaluate_value(input.clone()).is_ok());
            })
        })
        .0
    });
    let evaluate_total = median_us(n, || {
        let host = p.host();
        let cached = CachedHost::new(&host);
        timed(|| Evaluator::new(&settings, &cached).evaluate(&workload, &request.kind)).0
    });
    let host = p.host();
    let response = cluster_image_policy::validate_with_host(&p.payload, &host);
    let host_calls = *host.calls.borrow();
    let host = p.host();
    let heap_total = heap_peak(|| cluster_image_policy::validate_with_host(&p.payload, &host));
    let heap_globs = heap_peak(|| GlobMatcher::new(owners()));
    let encode = median_us(n, || timed(|| serde_json::to_vec(&response)).0);
    let total = median_us(n, || {
        let host = p.host();
        timed(|| cluster_image_policy::validate_with_host(&p.payload, &host)).0
    });
    Ok(Warm {
        decode_settings,
        decode_request,
        extract,
        globs,
        parse_images,
        rego_compile,
        rego_compiled,
        rego_cips,
        rego_evaluate,
        rego_evaluated,
        evaluate_total,
        encode,
        total,
        host_calls,
        heap_total,
        heap_globs,
    })
}

/// One cold child: `first ImageRef::parse`, `first validate`, `second
/// validate`, in microseconds, on one line.
fn cold_child(p: &Prepared) -> Result<()> {
    let (parse, _) = timed(|| ImageRef::parse("ghcr.io/example/app:1.0"));
    let host = p.host();
    let (first, _) = timed(|| cluster_image_policy::validate_with_host(&p.payload, &host));
    let host = p.host();
    let (second, _) = timed(|| cluster_image_policy::validate_with_host(&p.payload, &host));
    println!(
        "{} {} {}",
        parse.as_secs_f64() * 1e6,
        first.as_secs_f64() * 1e6,
        second.as_secs_f64() * 1e6
    );
    Ok(())
}

/// Cold figures (median over `k` child processes): first parse, first
/// validate (after the first parse), second validate.
fn cold(args: &[String], id: &str, k: usize) -> Result<[f64; 3]> {
    let exe = std::env::current_exe()?;
    let mut columns: [Vec<Duration>; 3] = Default::default();
    for _ in 0..k {
        let out = std::process::Command::new(&exe)
            .args(args)
            .env(COLD_ENV, id)
            .output()
            .context("cannot re-execute the breakdown")?;
        if !out.status.success() {
            bail!(
                "cold child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8(out.stdout)?;
        for (column, v) in columns.iter_mut().zip(text.split_whitespace()) {
            column.push(Duration::from_secs_f64(v.parse::<f64>()? / 1e6));
        }
    }
    Ok(columns.map(|c| Stats::from_durations(&c).median_us))
}

struct Args {
    root: PathBuf,
    iterations: usize,
    cold: usize,
    output: Option<PathBuf>,
}

fn parse_args(raw: &[String]) -> Result<Args> {
    let mut args = Args {
        root: PathBuf::from("."),
        iterations: 200,
        cold: 15,
        output: None,
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--root" => args.root = value()?.into(),
            "--iterations" => args.iterations = value()?.parse()?,
            "--cold" => args.cold = value()?.parse()?,
            "--output" | "-o" => args.output = Some(value()?.into()),
            other => bail!(
                "unknown argument {other:?} (--root DIR, --iterations N, --cold N, --output FILE)"
            ),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = parse_args(&raw)?;
    let scenarios = standard_scenarios(&args.root)?;
    let prepared: Vec<Prepared> = scenarios
        .iter()
        .map(Prepared::new)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if let Ok(spec) = std::env::var(LOOP_ENV) {
        // Profiling aid: `CIP_BREAKDOWN_LOOP=static-20:1000 valgrind --tool=callgrind …`
        // runs one cold `validate_with_host`, then the given number of warm ones.
        let (id, n) = spec.split_once(':').unwrap_or((spec.as_str(), "1"));
        let n: usize = n.parse()?;
        // A settings scenario: `validate_settings`'s logic on its settings.
        if let Some(Call::ValidateSettings { settings }) =
            scenarios.iter().find(|s| s.id == id).map(|s| &s.call)
        {
            let json = settings.to_json()?;
            for _ in 0..=n {
                std::hint::black_box(
                    cluster_image_policy::settings::validate_settings_payload(json.as_bytes())
                        .is_ok(),
                );
            }
            return Ok(());
        }
        let p = prepared
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| anyhow!("unknown scenario {id}"))?;
        for _ in 0..=n {
            let host = p.host();
            std::hint::black_box(cluster_image_policy::validate_with_host(&p.payload, &host));
        }
        return Ok(());
    }
    if let Ok(id) = std::env::var(COLD_ENV) {
        let p = prepared
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| anyhow!("unknown scenario {id}"))?;
        return cold_child(p);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Native per-request breakdown\n\n`cargo run --locked --profile runner -p cip-runner --example breakdown`: the policy crate built natively (opt-level 3), on the same requests and settings; {} warm iterations per phase, {} fresh processes for the one-time work. Microseconds, medians; the phases are timed one by one, so they add up to the warm total only roughly. Natively a lazily built static (`OnceLock`) is built once per process; in wasm it is built once per **instance**, i.e. on every admission request under policy-server: the *cold* columns are what a fresh instance pays.\n",
        args.iterations, args.cold
    );
    let _ = writeln!(
        out,
        "| Scenario | decode: settings | decode: request | decode: the fields read from the object (`workload::extract`) | compile: globs (`Evaluator::new`) | compile + prepare: Rego (distinct sources / matching CIPs with Rego) | evaluate: parse images | evaluate: Rego (evaluations) | evaluate: the rest | encode | **warm total** (`validate_with_host`) | cold: first `ImageRef::parse` | cold: rest of the first `validate` | **cold total** | peak heap of one `validate` (of which the glob matcher) | host calls |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let us = |v: f64| {
        if v < 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    };
    for p in &prepared {
        eprintln!("breakdown: {} ...", p.id);
        let w = warm(p, args.iterations)?;
        let [first_parse, first_validate, second_validate] = cold(&raw, &p.id, args.cold)?;
        let evaluate_rest =
            (w.evaluate_total - w.globs - w.parse_images - w.rego_compile - w.rego_evaluate)
                .max(0.0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} ({} / {}) | {} | {} ({}) | {} | {} | **{}** | {} | {} | **{}** | {} KiB ({} KiB) | {} |",
            p.id,
            us(w.decode_settings),
            us(w.decode_request),
            us(w.extract),
            us(w.globs),
            us(w.rego_compile),
            w.rego_compiled,
            w.rego_cips,
            us(w.parse_images),
            us(w.rego_evaluate),
            w.rego_evaluated,
            us(evaluate_rest),
            us(w.encode),
            us(w.total),
            us(first_parse),
            us((first_validate - second_validate).max(0.0)),
            us(first_parse + first_validate),
            w.heap_total / 1024,
            w.heap_globs / 1024,
            w.host_calls
        );
    }
    match &args.output {
        Some(path) => update_markdown_block(path, "breakdown", &out)?,
        None => print!("{out}"),
    }
    Ok(())
}
