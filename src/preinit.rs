//! What the module would build once at build time, before any instance exists
//! (`make preinit-policy.wasm`: `cip-runner preinit`, Wizer, calls the `wizer.initialize` export
//! of `src/lib.rs`, then writes the instance's memory into the module; every instance then
//! starts from it). Measured and not used for `policy.wasm` (below).
//!
//! policy-server creates a fresh instance for every admission request, so a lazily built static
//! is otherwise built on every request. The settings-independent lazies a request can reach,
//! found by reading the sources (`OnceLock`, `LazyLock`, `lazy_static!`, `once_cell`,
//! `thread_local!`) of the policy and of what it links:
//!
//! | lazy | built here | why |
//! |---|---|---|
//! | regorus `BUILTINS`, the builtin table (0.14.1 `src/builtins/mod.rs:71`) | no | with regorus' `std` feature its `Map` is std's `HashMap` (`src/lib.rs:227`), keyed by a `RandomState`; the first `RandomState` of an instance draws std's per-thread SipHash keys from `random_get`, and every later map of the instance derives its keys from them. Built here, those keys would be the same in every instance and readable in the module, and the policy's own maps keyed by what workloads hold (image names, `verdict::Evaluator`) could be flooded with colliding keys. `cip-runner preinit` refuses it: preparing a Rego policy here failed the build with `the initialisation called wasi_snapshot_preview1::random_get` |
//! | every other table regorus' parser and preparation build (rule and function maps, schedules) | no | `HashMap`s and `HashSet`s too (same reason); they are per policy anyway |
//! | wapc-guest's `REGISTRY` of handlers (1.2.0 `src/protocol.rs:88`, a `HashMap`) | no | filled by `wapc_init`, which the host calls on each instance; same reason |
//! | regorus' `REGEX_CACHE` / `GLOB_CACHE` (`src/cache.rs:126`, `:136`) | no | hold what a request's policies compile; empty until then |
//! | this crate's compiled `regex.match` patterns ([`crate::rego::regex`], a `const` thread-local) | no | hold what a request's policies compile; empty until then |
//! | regorus' execution-timer anchor (`src/utils/limits/time.rs:84-95`, `OnceLock<Instant>`) | no | a clock reading: the build machine's would be baked in |
//! | regorus' thread-locals (intern table, memory-limit counters, `src/value/interning.rs:49`, `src/utils/limits/memory.rs:33`) | no | `const`-initialised: nothing to build |
//! | oci-spec's `REFERENCE_REGEXP` | no | not reached: [`crate::reference::grammar`] parses references by hand |
//! | the allocator's heap (dlmalloc, std's allocator on `wasm32-wasip1`) | **yes**: [`HEAP_WARM_UP_BYTES`] reserved and freed | a request then finds its heap already grown (fewer `memory.grow` calls); the pages stay zero, so the module gains no data and a request still touches each page it uses for the first time |
//!
//! So what can be built once is the grown heap alone. Measured, it made no difference
//! (BENCHMARKS.md, "Lever 1: Wizer pre-initialisation"), so `policy.wasm` is not
//! pre-initialised; `make preinit-policy.wasm` builds the snapshot for measuring. A throw-away
//! build that let `random_get` through to snapshot `BUILTINS` and wapc-guest's registry saved
//! 9.5 % of the seed scenario's instructions and about 4 % of its time, and nothing elsewhere
//! (same section): not worth hash keys known to every workload author.
//!
//! `cip-runner preinit` makes every call whose answer is per instance (`random_get`, the
//! clocks, the environment, any host call) trap during the initialisation, so the build fails
//! rather than bake one in (runner `src/preinit.rs`).

/// Bytes the initialisation has the allocator reserve and free: about the native peak heap of a
/// rego-20 request (374 KiB, BENCHMARKS.md), rounded up to 64 KiB wasm pages.
pub const HEAP_WARM_UP_BYTES: usize = 512 * 1024;

/// Builds what can be built once (module docs): the allocator's heap grown by
/// [`HEAP_WARM_UP_BYTES`] and left free. Never fails.
pub fn initialize() {
    // Reserved without being written: the pages stay zero, so the snapshot holds no data for
    // them. Freed at once, the block stays with the allocator (a wasm memory never shrinks).
    drop(std::hint::black_box(Vec::<u8>::with_capacity(
        HEAP_WARM_UP_BYTES,
    )));
}

// Tested on the built module: runner `tests/preinit.rs` checks that the snapshot's memory
// starts grown and that the pre-initialised policy answers as `policy.wasm` does.
