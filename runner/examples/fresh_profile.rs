//! What one fresh-instance request of a `make bench` scenario costs inside the module: the
//! pages of linear memory it touches, and a hook for instruction counts and profiles.
//!
//! `cip-runner bench` times whole requests; this example looks inside one. It instantiates the
//! module under plain wasmtime with a minimal waPC host (the guest-call imports, WASI preview 1;
//! every `__host_call` fails, so scenarios that call host capabilities, `key-3`, are refused),
//! runs `wapc_init` and the scenario's call on a fresh instance, as policy-server does for every
//! admission request, and reports:
//!
//! - **pages**: the 4 KiB pages of the instance's linear memory that became present in this
//!   process between the instance's creation and the call's end, `wapc_init` included, as in
//!   policy-server's fresh instances (`/proc/self/pagemap`), by region: the shadow stack (below the
//!   initial `__stack_pointer`), the data segments (read only: still the module's copy-on-write
//!   image; written: copied), and the heap above them. A read of the data segments maps 16
//!   pages per fault (the kernel's fault-around), every other page is one fault.
//! - **instructions**: `init_call` (`wapc_init`) and `request_call` (the scenario's call) are
//!   functions of their own, so `valgrind --tool=callgrind` counts their instructions
//!   (repeatable, whatever else the machine runs). Compile once per module under valgrind with
//!   `--compiled PATH` (valgrind's CPU lacks some features of the real one, so a module compiled
//!   outside it is refused; the file is recompiled when it was made from other bytes), then dump
//!   the counts around each call:
//!
//! ```text
//! cargo build --locked --profile runner -p cip-runner --example fresh_profile
//! P=target/runner/examples/fresh_profile
//! valgrind --tool=none $P policy.wasm seed --compiled /tmp/policy.vg.cwasm   # compiles, once
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \
//!   --dump-before=fresh_profile::request_call --dump-after=fresh_profile::request_call \
//!   $P policy.wasm rego-20 --compiled /tmp/policy.vg.cwasm --rounds 4
//! for f in $(ls /tmp/cg.* | sort -V); do echo "$f $(grep '^summary' $f)"; done
//! ```
//!
//! The files numbered `.2`, `.4`, `.6`, `.8` hold rounds 1 to 4 of `request_call` alone (the
//! odd ones what came between, `wapc_init`'s 7 to 8 thousand instructions among it; the
//! unnumbered one the end of the run). Compare the rounds after the first: the answer of every
//! round is printed when it changes, and under valgrind the first round of a Rego scenario can
//! run out of its time budget (valgrind translates the code as it first runs), doing less work
//! than a request does. Building the example compiles the runner's dev-dependencies (the
//! policy crate, natively) beside the runner: several minutes more than `make runner`.
//!
//! - **profiles**: `--perfmap` has wasmtime write `/tmp/perf-<pid>.map`, so that `perf record
//!   -e cpu-clock -g` (no hardware counters needed) names the module's functions, given a module
//!   built with its name section (`CARGO_PROFILE_RELEASE_STRIP=false`, `wasm-opt -g`).
//!
//! BENCHMARKS.md ("Looking inside a fresh request") has what these found.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use cip_runner::bench::{Call, standard_scenarios};
use wasmtime_provider::{wasmtime, wasmtime_wasi};

/// A page of linear memory, as the kernel maps it.
const PAGE: usize = 4096;

/// The instance's state: WASI, and the waPC exchange of one call.
struct Guest {
    wasi: wasmtime_wasi::p1::WasiP1Ctx,
    operation: Vec<u8>,
    payload: Vec<u8>,
    response: Vec<u8>,
    error: Vec<u8>,
}

/// Arguments: `<module.wasm> <scenario> [--root DIR] [--rounds N] [--compiled PATH] [--perfmap]`.
struct Args {
    module: PathBuf,
    scenario: String,
    root: PathBuf,
    rounds: usize,
    compiled: Option<PathBuf>,
    perfmap: bool,
}

fn args() -> Result<Args> {
    let mut positional = Vec::new();
    let mut args = Args {
        module: PathBuf::new(),
        scenario: String::new(),
        root: PathBuf::from("."),
        rounds: 1,
        compiled: None,
        perfmap: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match arg.as_str() {
            "--root" => args.root = PathBuf::from(value("--root")?),
            "--rounds" => args.rounds = value("--rounds")?.parse().context("--rounds")?,
            "--compiled" => args.compiled = Some(PathBuf::from(value("--compiled")?)),
            "--perfmap" => args.perfmap = true,
            other if other.starts_with("--") => bail!("unknown option {other}"),
            _ => positional.push(arg),
        }
    }
    let [module, scenario] = <[String; 2]>::try_from(positional).map_err(|_| {
        anyhow!("usage: fresh_profile <module.wasm> <scenario> [--root DIR] [--rounds N] [--compiled PATH] [--perfmap]")
    })?;
    args.module = PathBuf::from(module);
    args.scenario = scenario;
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    Ok(args)
}

/// The waPC operation and payload of a scenario, as the host serializes them.
fn call_of(root: &Path, id: &str) -> Result<(String, Vec<u8>)> {
    let scenarios = standard_scenarios(root)?;
    let scenario = scenarios
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| anyhow!("no scenario {id}"))?;
    if scenario.expected_host_calls.is_some_and(|n| n > 0) {
        bail!("scenario {id} calls host capabilities, which this example does not answer");
    }
    Ok(match &scenario.call {
        Call::Validate {
            request, settings, ..
        } => (
            "validate".to_string(),
            serde_json::to_vec(&serde_json::json!({"request": request, "settings": settings}))?,
        ),
        Call::ValidateSettings { settings } => (
            "validate_settings".to_string(),
            settings.to_json()?.into_bytes(),
        ),
    })
}

/// Where the shadow stack ends (the initial `__stack_pointer`, the module's first global) and
/// where the data segments end, in bytes of linear memory.
fn layout(wasm: &[u8]) -> Result<(usize, usize)> {
    let (mut stack_end, mut data_end) = (0usize, 0usize);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            wasmparser::Payload::GlobalSection(globals) => {
                if let Some(global) = globals.into_iter().next() {
                    stack_end = const_address(&global?.init_expr)?;
                }
            }
            wasmparser::Payload::DataSection(data) => {
                for segment in data {
                    let segment = segment?;
                    if let wasmparser::DataKind::Active { offset_expr, .. } = segment.kind {
                        data_end = data_end.max(const_address(&offset_expr)? + segment.data.len());
                    }
                }
            }
            _ => {}
        }
    }
    Ok((stack_end, data_end))
}

fn const_address(expr: &wasmparser::ConstExpr) -> Result<usize> {
    match expr.get_operators_reader().read()? {
        wasmparser::Operator::I32Const { value } => Ok(usize::try_from(value)?),
        other => bail!("not an i32 constant: {other:?}"),
    }
}

/// Per page of `len` bytes from `base`: (present, still shared with its file or image).
fn pagemap(base: usize, len: usize) -> Result<Vec<(bool, bool)>> {
    let mut file = std::fs::File::open("/proc/self/pagemap")?;
    file.seek(SeekFrom::Start(u64::try_from(base / PAGE * 8)?))?;
    let mut entries = vec![0u8; len / PAGE * 8];
    file.read_exact(&mut entries)?;
    Ok(entries
        .chunks_exact(8)
        .map(|e| {
            let e = u64::from_le_bytes(e.try_into().unwrap_or_default());
            (e >> 63 == 1, (e >> 61) & 1 == 1)
        })
        .collect())
}

fn memory_of(caller: &mut wasmtime::Caller<Guest>) -> wasmtime::Result<wasmtime::Memory> {
    caller
        .get_export("memory")
        .and_then(wasmtime::Extern::into_memory)
        .ok_or_else(|| wasmtime::Error::msg("no exported memory"))
}

fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<wasmtime::Linker<Guest>> {
    let mut linker = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |g: &mut Guest| &mut g.wasi)?;
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut c: wasmtime::Caller<Guest>, op: i32, ptr: i32| -> wasmtime::Result<()> {
            let memory = memory_of(&mut c)?;
            let (operation, payload) = (c.data().operation.clone(), c.data().payload.clone());
            memory.write(&mut c, usize::try_from(op)?, &operation)?;
            memory.write(&mut c, usize::try_from(ptr)?, &payload)?;
            Ok(())
        },
    )?;
    for (name, is_error) in [("__guest_response", false), ("__guest_error", true)] {
        linker.func_wrap(
            "wapc",
            name,
            move |mut c: wasmtime::Caller<Guest>, ptr: i32, len: i32| -> wasmtime::Result<()> {
                let memory = memory_of(&mut c)?;
                let mut bytes = vec![0; usize::try_from(len)?];
                memory.read(&c, usize::try_from(ptr)?, &mut bytes)?;
                if is_error {
                    c.data_mut().error = bytes;
                } else {
                    c.data_mut().response = bytes;
                }
                Ok(())
            },
        )?;
    }
    // No host capabilities: every host call fails (the guest reads an empty error).
    linker.func_wrap(
        "wapc",
        "__host_call",
        |_: wasmtime::Caller<Guest>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> i32 { 0 },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response",
        |_: wasmtime::Caller<Guest>, _: i32| {},
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response_len",
        |_: wasmtime::Caller<Guest>| 0,
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |_: wasmtime::Caller<Guest>, _: i32| {},
    )?;
    linker.func_wrap("wapc", "__host_error_len", |_: wasmtime::Caller<Guest>| 0)?;
    linker.func_wrap(
        "wapc",
        "__console_log",
        |_: wasmtime::Caller<Guest>, _: i32, _: i32| {},
    )?;
    Ok(linker)
}

/// The module compiled by `engine`: from `compiled` when that file was written for these very
/// bytes (its digest, in `<compiled>.sha256`, says so), otherwise compiled and, with
/// `compiled`, written there with its digest.
fn load(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    compiled: Option<&Path>,
) -> Result<wasmtime::Module> {
    use sha2::Digest as _;
    let digest = format!("{:x}", sha2::Sha256::digest(wasm));
    let Some(path) = compiled else {
        return wasmtime::Module::new(engine, wasm)
            .map_err(|e| anyhow!("cannot compile the module: {e:?}"));
    };
    let mut stamp = path.as_os_str().to_owned();
    stamp.push(".sha256");
    if std::fs::read_to_string(&stamp).is_ok_and(|d| d == digest) {
        // SAFETY: the file was written by `Module::serialize` below, from these bytes (the
        // digest matches), for an engine of this configuration; wasmtime checks the
        // configuration and the version before using it.
        return unsafe { wasmtime::Module::deserialize_file(engine, path) }
            .map_err(|e| anyhow!("cannot load {}: {e:?}", path.display()));
    }
    let module = wasmtime::Module::new(engine, wasm)
        .map_err(|e| anyhow!("cannot compile the module: {e:?}"))?;
    let bytes = module.serialize().map_err(|e| anyhow!("{e:?}"))?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::write(&stamp, digest)
        .with_context(|| format!("cannot write {}.sha256", path.display()))?;
    Ok(module)
}

/// The guest's `wapc_init`, in a function of its own for callgrind.
#[inline(never)]
fn init_call(
    init: &wasmtime::TypedFunc<(), ()>,
    store: &mut wasmtime::Store<Guest>,
) -> wasmtime::Result<()> {
    init.call(store, ())
}

/// The scenario's call, in a function of its own for callgrind.
#[inline(never)]
fn request_call(
    call: &wasmtime::TypedFunc<(i32, i32), i32>,
    store: &mut wasmtime::Store<Guest>,
    lengths: (i32, i32),
) -> wasmtime::Result<i32> {
    call.call(store, lengths)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = args()?;
    let wasm = std::fs::read(&args.module)
        .with_context(|| format!("cannot read {}", args.module.display()))?;
    let (stack_end, data_end) = layout(&wasm)?;
    let (operation, payload) = call_of(&args.root, &args.scenario)?;
    let mut config = wasmtime::Config::new();
    if args.perfmap {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow!("{e:?}"))?;
    let module = load(&engine, &wasm, args.compiled.as_deref())?;
    let pre = linker(&engine)
        .and_then(|l| l.instantiate_pre(&module))
        .map_err(|e| anyhow!("cannot link the module: {e:?}"))?;
    let lengths = (
        i32::try_from(operation.len())?,
        i32::try_from(payload.len())?,
    );
    let mut last_answer: Option<String> = None;
    for round in 1..=args.rounds {
        let guest = Guest {
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build_p1(),
            operation: operation.as_bytes().to_vec(),
            payload: payload.clone(),
            response: Vec::new(),
            error: Vec::new(),
        };
        let mut store = wasmtime::Store::new(&engine, guest);
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| anyhow!("cannot instantiate: {e:?}"))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow!("no exported memory"))?;
        let base = memory.data_ptr(&store) as usize;
        let before = pagemap(base, memory.data_size(&store))?;
        let init = instance
            .get_typed_func::<(), ()>(&mut store, "wapc_init")
            .and_then(|f| init_call(&f, &mut store))
            .map_err(|e| anyhow!("wapc_init: {e:?}"));
        init?;
        let answer = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .and_then(|f| request_call(&f, &mut store, lengths))
            .map_err(|e| anyhow!("__guest_call: {e:?}"))?;
        // Every round's answer is printed when it differs from the previous one: a round whose
        // evaluation ran out of its time budget (the first ones under valgrind, while it
        // translates the code) does less work, and its counts are not the request's.
        let guest = store.data();
        let text = format!(
            "answer {answer}: {}{}",
            String::from_utf8_lossy(&guest.response[..guest.response.len().min(200)]),
            String::from_utf8_lossy(&guest.error),
        );
        if last_answer.as_ref() != Some(&text) {
            println!(
                "{} on {}, round {round}: {text}",
                args.scenario,
                args.module.display()
            );
            last_answer = Some(text);
        }
        if round < args.rounds {
            continue;
        }
        let after = pagemap(base, memory.data_size(&store))?;
        let (mut stack, mut read, mut written, mut heap) = (0, 0, 0, 0);
        for (page, (present, shared)) in after.iter().enumerate() {
            let was = before.get(page).is_some_and(|p| p.0);
            if !present || was {
                continue;
            }
            match page * PAGE {
                a if a < stack_end => stack += 1,
                a if a < data_end && *shared => read += 1,
                a if a < data_end => written += 1,
                _ => heap += 1,
            }
        }
        println!(
            "pages touched: {} (stack {stack}, data segments read {read} / written {written}, heap {heap}); linear memory {} KiB, stack below {stack_end:#x}, data below {data_end:#x}",
            stack + read + written + heap,
            memory.data_size(&store) / 1024,
        );
    }
    Ok(())
}
