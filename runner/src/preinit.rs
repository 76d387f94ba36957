//! `cip-runner preinit`: pre-initialises a policy module at build time with Wizer.
//!
//! policy-server creates a fresh instance of the module for every admission request, so
//! whatever the policy builds lazily (a table in a `OnceLock`, the allocator's first growth of
//! the heap) is built again on every request. Wizer (the `wasmtime-wizer` crate, the same
//! wasmtime 48.0.8 as the runner) runs an initialisation function once, here, and writes the
//! instance's memory and globals back into a new module, whose instances then start from that
//! state:
//!
//! 1. [`Wizer::instrument`] checks the module (no imported memory, table or global; no
//!    `table.*`, `data.drop` or other instruction whose effect a snapshot could not hold) and
//!    exports its memory and mutable globals;
//! 2. the instrumented module is instantiated here, with WASI preview 1 linked as the runner
//!    links it (wasmtime-wasi's `p1::add_to_linker_sync`, through `wasmtime-provider`) and
//!    every other import stubbed, then the init function runs (after `_initialize`, when the
//!    module exports one, as Wizer itself does: `wasmtime-wizer` 48.0.8 `src/wasmtime.rs`
//!    L54-84);
//! 3. [`Wizer::snapshot`] reads the memory and globals through [`InstanceState`] and rewrites
//!    the module: data segments hold the memory as it is, the memory's minimum size is the
//!    memory's size, mutable globals start at their values, the init function's export (and
//!    `_initialize`'s) is removed (`src/rewrite.rs` L125-157). Every other export, the imports
//!    and the code are kept, so the result runs under any waPC host as the module did.
//!
//! # What the init function may not do
//! Whatever the host gives an instance is per instance, and a snapshot would give every
//! instance the value the build machine gave once. During the initialisation, these calls
//! therefore trap (the build fails, naming the call):
//! - `random_get`: std's `HashMap`s take their SipHash keys from it (`RandomState`, seeded
//!   once per instance); baked in, the keys would be the same in every instance and public in
//!   the module, and any map keyed by what a workload holds (image names) could be flooded
//!   with colliding keys;
//! - `clock_time_get`, `clock_res_get`: a clock reading kept in memory (regorus' execution
//!   timer anchors its monotonic clock in a `OnceLock`, regorus 0.14.1
//!   `src/utils/limits/time.rs` L84-95) would be the build machine's;
//! - `environ_get`, `environ_sizes_get`, `args_get`, `args_sizes_get`: a decision taken on the
//!   environment (std and anyhow cache whether to capture backtraces) would be the build's;
//! - every waPC import (`wapc::__host_call`, …): a host call at build time has no host.
//!
//! `fd_write` and `proc_exit` stay linked, so that a panic during the initialisation prints its
//! message before the build fails.
//!
//! Wizer's own caveat applies: the initialisation function takes no arguments and returns
//! nothing (`[] -> []`).
//!
//! # Measured, not in the build
//! On the policy (`src/preinit.rs` there: with regorus' `std` feature its tables are `HashMap`s
//! keyed by `RandomState`, so only the allocator's heap can be grown beforehand), the snapshot
//! was no faster than the module it came from (BENCHMARKS.md, "Lever 1: Wizer
//! pre-initialisation"), so `make policy.wasm` does not run this; `make preinit-policy.wasm`
//! builds the snapshot to measure it again. It is tested (`tests/preinit.rs`: the policy's
//! snapshot answers as `policy.wasm` does and `annotate` works on it).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use wasmtime_provider::{wasmtime, wasmtime_wasi};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

/// The export the policy's initialisation function has (`src/lib.rs`, `wizer_initialize`).
pub const DEFAULT_INIT_FUNC: &str = "wizer.initialize";

/// The WASI preview 1 functions that trap during the initialisation (see the module
/// documentation).
pub const HOST_STATE_CALLS: [&str; 7] = [
    "random_get",
    "clock_time_get",
    "clock_res_get",
    "environ_get",
    "environ_sizes_get",
    "args_get",
    "args_sizes_get",
];

/// The WASI preview 1 import module.
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Arguments of `cip-runner preinit`.
#[derive(Debug, Clone, Args)]
pub struct PreinitArgs {
    /// The module to pre-initialise (`cargo build`'s output).
    #[arg(value_name = "WASM")]
    pub input: PathBuf,
    /// Where to write the pre-initialised module.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: PathBuf,
    /// The export to run once (`[] -> []`).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_INIT_FUNC)]
    pub init_func: String,
}

/// `cip-runner preinit`: reads the module, pre-initialises it ([`preinitialize`]) and writes
/// the result.
///
/// # Errors
/// The module cannot be read or written, or [`preinitialize`] fails.
pub fn run(args: &PreinitArgs) -> Result<()> {
    let wasm = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let snapshot = preinitialize(&wasm, &args.init_func)
        .with_context(|| format!("cannot pre-initialise {}", args.input.display()))?;
    std::fs::write(&args.output, snapshot)
        .with_context(|| format!("cannot write {}", args.output.display()))
}

/// The module `wasm` with `init_func` run once and its state written back (module docs).
///
/// # Errors
/// - Wizer refuses the module (`wasm validation failed`, `imported memories are not
///   supported`, `unsupported \`table.grow\` instruction`, …);
/// - the module does not export `init_func` as a `[] -> []` function;
/// - the module imports something other than functions;
/// - the initialisation traps, for instance on a call it may not make:
///   `the initialisation called wasi_snapshot_preview1::random_get, …`.
pub fn preinitialize(wasm: &[u8], init_func: &str) -> Result<Vec<u8>> {
    let mut wizer = Wizer::new();
    wizer.init_func(init_func);
    let (cx, instrumented) = wizer
        .instrument(wasm)
        .map_err(|e| anyhow!("{e:?}"))
        .context("Wizer cannot instrument the module")?;
    let mut state = initialize(&instrumented, init_func)?;
    let snapshot = ready(wizer.snapshot(&cx, &mut state))
        .ok_or_else(|| anyhow!("Wizer's snapshot did not complete"))?
        .map_err(|e| anyhow!("{e:?}"))
        .context("Wizer cannot snapshot the instance")?;
    if let Some(missing) = state.missing {
        bail!("Wizer asked for {missing}, which the instrumented module does not export");
    }
    Ok(snapshot)
}

/// Instantiates the instrumented module, runs `_initialize` (if exported) and `init_func`,
/// and captures every exported memory and global.
fn initialize(instrumented: &[u8], init_func: &str) -> Result<Captured> {
    let mut config = wasmtime::Config::new();
    // The module runs once: compiling fast matters more than running fast.
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow!("{e:?}"))?;
    let module = wasmtime::Module::new(&engine, instrumented)
        .map_err(|e| anyhow!("cannot compile the module: {e:?}"))?;
    match module.get_export(init_func) {
        Some(wasmtime::ExternType::Func(ty))
            if ty.params().len() == 0 && ty.results().len() == 0 => {}
        Some(_) => bail!("the module's export {init_func:?} is not a function of type [] -> []"),
        None => bail!("the module does not export {init_func:?}"),
    }
    let mut linker: wasmtime::Linker<Wasi> = wasmtime::Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |wasi: &mut Wasi| &mut wasi.0)
        .map_err(|e| anyhow!("cannot link WASI: {e:?}"))?;
    linker.allow_shadowing(true);
    for import in module.imports() {
        let (module_name, name) = (import.module(), import.name());
        let wasmtime::ExternType::Func(ty) = import.ty() else {
            bail!("the module imports {module_name}::{name}, which is not a function");
        };
        if module_name == WASI_MODULE && !HOST_STATE_CALLS.contains(&name) {
            continue;
        }
        let what = format!("{module_name}::{name}");
        linker
            .func_new(module_name, name, ty, move |_, _, _| {
                Err(wasmtime::Error::msg(format!(
                    "the initialisation called {what}, which a pre-initialised module may not call: its answer would be the same in every instance (cip-runner's preinit module documentation)"
                )))
            })
            .map_err(|e| anyhow!("cannot stub {module_name}::{name}: {e:?}"))?;
    }
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .inherit_stdout()
        .inherit_stderr()
        .build_p1();
    let mut store = wasmtime::Store::new(&engine, Wasi(wasi));
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| anyhow!("cannot instantiate the module: {e:?}"))?;
    let mut order = Vec::new();
    if init_func != "_initialize" && instance.get_export(&mut store, "_initialize").is_some() {
        order.push("_initialize");
    }
    order.push(init_func);
    for func in order {
        instance
            .get_typed_func::<(), ()>(&mut store, func)
            .and_then(|f| f.call(&mut store, ()))
            .map_err(|e| anyhow!("{e:?}"))
            .with_context(|| format!("the initialisation function {func:?} failed"))?;
    }
    let mut captured = Captured::default();
    let exports: Vec<(String, wasmtime::Extern)> = instance
        .exports(&mut store)
        .map(|e| (e.name().to_owned(), e.into_extern()))
        .collect();
    for (name, export) in exports {
        match export {
            wasmtime::Extern::Global(global) => {
                let value = match global.get(&mut store) {
                    wasmtime::Val::I32(x) => SnapshotVal::I32(x),
                    wasmtime::Val::I64(x) => SnapshotVal::I64(x),
                    wasmtime::Val::F32(x) => SnapshotVal::F32(x),
                    wasmtime::Val::F64(x) => SnapshotVal::F64(x),
                    wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
                    _ => continue,
                };
                captured.globals.insert(name, value);
            }
            wasmtime::Extern::Memory(memory) => {
                captured.memories.insert(name, memory.data(&store).to_vec());
            }
            _ => {}
        }
    }
    Ok(captured)
}

/// The store's data: WASI preview 1's context.
struct Wasi(wasmtime_wasi::p1::WasiP1Ctx);

/// The instance's globals and memories after the initialisation, by export name.
#[derive(Default)]
struct Captured {
    globals: BTreeMap<String, SnapshotVal>,
    memories: BTreeMap<String, Vec<u8>>,
    /// A global or memory Wizer asked for and the instance did not export (Wizer's trait
    /// cannot fail: this is reported after the snapshot).
    missing: Option<String>,
}

impl InstanceState for Captured {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        match self.globals.get(name) {
            Some(value) => copy(value),
            None => {
                self.missing = Some(format!("the global {name:?}"));
                SnapshotVal::I32(0)
            }
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.memories.get(name) {
            Some(bytes) => contents(bytes),
            None => {
                self.missing = Some(format!("the memory {name:?}"));
                contents(&[]);
            }
        }
    }
}

/// `SnapshotVal` is not `Clone`.
fn copy(value: &SnapshotVal) -> SnapshotVal {
    match value {
        SnapshotVal::I32(x) => SnapshotVal::I32(*x),
        SnapshotVal::I64(x) => SnapshotVal::I64(*x),
        SnapshotVal::F32(x) => SnapshotVal::F32(*x),
        SnapshotVal::F64(x) => SnapshotVal::F64(*x),
        SnapshotVal::V128(x) => SnapshotVal::V128(*x),
    }
}

/// The output of a future that is ready at its first poll (Wizer's snapshot over
/// [`Captured`], which never waits), or `None`.
fn ready<T>(future: impl Future<Output = T>) -> Option<T> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module whose initialisation writes memory, a global, and grows the memory.
    const COUNTER: &str = r#"(module
        (memory (export "memory") 1)
        (global $count (mut i32) (i32.const 0))
        (data (i32.const 16) "seed")
        (func (export "wizer.initialize")
            (global.set $count (i32.const 42))
            (i32.store (i32.const 1024) (i32.const 7))
            (drop (memory.grow (i32.const 2))))
        (func (export "count") (result i32) (global.get $count))
        (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#;

    fn exports(wasm: &[u8]) -> Vec<String> {
        crate::wasm::module_contents(wasm).expect("module").exports
    }

    #[test]
    fn the_snapshot_starts_where_the_initialisation_ended() {
        let wasm = wat::parse_str(COUNTER).expect("wat");
        let snapshot = preinitialize(&wasm, DEFAULT_INIT_FUNC).expect("preinit");
        assert_eq!(exports(&snapshot), vec!["memory", "count", "load"]);
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, &snapshot).expect("module");
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instance");
        let count = instance
            .get_typed_func::<(), i32>(&mut store, "count")
            .expect("count");
        assert_eq!(count.call(&mut store, ()).expect("call"), 42);
        let load = instance
            .get_typed_func::<i32, i32>(&mut store, "load")
            .expect("load");
        assert_eq!(load.call(&mut store, 1024).expect("call"), 7);
        assert_eq!(
            load.call(&mut store, 16).expect("call"),
            i32::from_le_bytes(*b"seed")
        );
        let memory = instance.get_memory(&mut store, "memory").expect("memory");
        assert_eq!(
            memory.size(&store),
            3,
            "the grown memory is the new minimum"
        );
    }

    #[test]
    fn a_module_without_the_init_function_is_refused() {
        let wasm = wat::parse_str(r#"(module (memory (export "memory") 1))"#).expect("wat");
        let e = preinitialize(&wasm, DEFAULT_INIT_FUNC).expect_err("no init");
        assert_eq!(
            format!("{e:#}"),
            "the module does not export \"wizer.initialize\""
        );
        let wasm = wat::parse_str(r#"(module (func (export "wizer.initialize") (param i32)))"#)
            .expect("wat");
        let e = preinitialize(&wasm, DEFAULT_INIT_FUNC).expect_err("wrong type");
        assert_eq!(
            format!("{e:#}"),
            "the module's export \"wizer.initialize\" is not a function of type [] -> []"
        );
    }

    /// Every host-state call and every waPC import traps, naming itself; what WASI gives
    /// for printing is linked.
    #[test]
    fn calls_whose_answer_would_be_baked_in_fail_the_build() {
        let calls = [
            (
                "wasi_snapshot_preview1",
                "random_get",
                "(param i32 i32) (result i32)",
                "(call $f (i32.const 0) (i32.const 8))",
            ),
            (
                "wasi_snapshot_preview1",
                "clock_time_get",
                "(param i32 i64 i32) (result i32)",
                "(call $f (i32.const 1) (i64.const 0) (i32.const 0))",
            ),
            (
                "wasi_snapshot_preview1",
                "environ_sizes_get",
                "(param i32 i32) (result i32)",
                "(call $f (i32.const 0) (i32.const 8))",
            ),
            (
                "wapc",
                "__host_call",
                "(param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)",
                "(call $f (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))",
            ),
        ];
        for (module, name, ty, call) in calls {
            let wasm = wat::parse_str(format!(
                r#"(module (import "{module}" "{name}" (func $f {ty})) (memory (export "memory") 1)
                   (func (export "wizer.initialize") (drop {call})))"#
            ))
            .expect("wat");
            let e = preinitialize(&wasm, DEFAULT_INIT_FUNC).expect_err(name);
            let text = format!("{e:#}");
            assert!(
                text.starts_with("the initialisation function \"wizer.initialize\" failed: ")
                    && text.contains(&format!(
                        "the initialisation called {module}::{name}, which a pre-initialised module may not call"
                    )),
                "{text}"
            );
        }
        // fd_write is linked: writing to stderr works during the initialisation.
        let wasm = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (data (i32.const 0) "\08\00\00\00\00\00\00\00")
                (func (export "wizer.initialize") (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 64)))))"#,
        )
        .expect("wat");
        assert!(preinitialize(&wasm, DEFAULT_INIT_FUNC).is_ok());
    }

    #[test]
    fn what_a_snapshot_cannot_hold_is_refused() {
        let wasm = wat::parse_str(
            r#"(module (table 1 funcref) (func $g) (memory (export "memory") 1)
                (func (export "wizer.initialize") (drop (table.grow (ref.func $g) (i32.const 1)))) (elem declare func $g))"#,
        )
        .expect("wat");
        let e = preinitialize(&wasm, DEFAULT_INIT_FUNC).expect_err("table.grow");
        assert!(
            format!("{e:#}").contains("unsupported `table.grow` instruction"),
            "{e:#}"
        );
    }
}
