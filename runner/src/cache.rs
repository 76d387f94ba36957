//! The on-disk cache of compiled modules.
//!
//! Compiling the policy module with wasmtime (Cranelift) is by far the most
//! expensive part of a `cip-runner run` (seconds for a few MB of wasm), and the
//! result only depends on the module's bytes, the wasmtime version and the
//! engine settings. This is wasmtime's own compilation cache (the `cache`
//! feature of `wasmtime-provider`, which turns on `wasmtime/cache`): the same
//! mechanism `WasmtimeEngineProviderBuilder::enable_cache` sets up
//! (wasmtime-provider 2.25 `src/builder.rs`) and kwctl enables through
//! policy-evaluator. It is configured here directly on the engine because
//! [`crate::module::PolicyModule`] builds the engine and the module itself.
//!
//! # Where
//! - `$CIP_RUNNER_CACHE_DIR` when set and not empty; the value `off` disables
//!   the cache (e.g. to time compilation);
//! - else `$XDG_CACHE_HOME/cip-runner` (when that is an absolute path);
//! - else `$HOME/.cache/cip-runner`;
//! - else no cache.
//!
//! Entries live in `<dir>/modules/wasmtime-<version>/<key>`, where the key is
//! a SHA-256 over the wasm bytes and the engine's compilation settings, so a
//! new wasmtime version or different settings never load stale code. Entries
//! are zstd-compressed, written atomically (temporary file + rename), and
//! wasmtime's background worker evicts old ones past its soft limits (64 Ki
//! files / 512 MiB).
//!
//! # Failure never fails the run
//! - a cache that cannot be set up (unusable directory, …) gives an engine
//!   without cache ([`CompileCache::engine`]);
//! - wasmtime ignores entries it cannot read, decompress or load (corrupt,
//!   truncated, from another build) and compiles normally; a failed write
//!   is ignored too (`wasmtime-internal-cache` `ModuleCacheEntry::get_data_raw`).
//!
//! Nothing is printed about the cache (wasmtime reports through `log`, which
//! this binary does not install; kwctl silences `wasmtime_cache` as well).
//!
//! Only compilation is cached: [`crate::module::PolicyModule::instantiate`]
//! still creates every instance from the in-memory compiled module, so a
//! benchmark can time instantiation on its own.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use wasmtime_provider::wasmtime;

/// The environment variable that selects the cache directory (`off`: none).
pub const CACHE_DIR_ENV: &str = "CIP_RUNNER_CACHE_DIR";

/// The sub-directory used under `$XDG_CACHE_HOME` or `$HOME/.cache`.
const CACHE_SUBDIR: &str = "cip-runner";

/// Which cache, if any, compilation goes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// No cache: every load compiles.
    pub fn disabled() -> Self {
        Self { dir: None }
    }

    /// A cache in `dir` (created when needed).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
        }
    }

    /// The cache the environment selects (see the module documentation).
    pub fn from_env() -> Self {
        Self::from_vars(
            std::env::var_os(CACHE_DIR_ENV),
            std::env::var_os("XDG_CACHE_HOME"),
            std::env::var_os("HOME"),
        )
    }

    /// [`CompileCache::from_env`] on explicit values of
    /// `CIP_RUNNER_CACHE_DIR`, `XDG_CACHE_HOME` and `HOME`.
    pub fn from_vars(
        cip_runner_cache_dir: Option<OsString>,
        xdg_cache_home: Option<OsString>,
        home: Option<OsString>,
    ) -> Self {
        let non_empty = |v: Option<OsString>| v.filter(|v| !v.is_empty());
        if let Some(dir) = non_empty(cip_runner_cache_dir) {
            if dir == "off" {
                return Self::disabled();
            }
            return Self::at(dir);
        }
        if let Some(xdg) = non_empty(xdg_cache_home).map(PathBuf::from)
            && xdg.is_absolute()
        {
            return Self::at(xdg.join(CACHE_SUBDIR));
        }
        match non_empty(home) {
            Some(home) => Self::at(PathBuf::from(home).join(".cache").join(CACHE_SUBDIR)),
            None => Self::disabled(),
        }
    }

    /// The cache directory, if the cache is enabled.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// A wasmtime engine with default settings that compiles through this
    /// cache; without a cache, or when the cache cannot be set up, a plain
    /// `Engine::default()`.
    pub fn engine(&self) -> wasmtime::Engine {
        self.engine_with(false)
    }

    /// [`CompileCache::engine`], with wasmtime's epoch interruption on when `epochs` (what an
    /// execution-time limit needs, [`crate::limits`]; the compiled code differs, so the cache
    /// keeps both kinds apart).
    pub fn engine_with(&self, epochs: bool) -> wasmtime::Engine {
        let cached = self
            .dir
            .as_deref()
            .and_then(|dir| cached_engine(dir, epochs));
        cached.unwrap_or_else(|| {
            let mut config = wasmtime::Config::new();
            config.epoch_interruption(epochs);
            wasmtime::Engine::new(&config).unwrap_or_default()
        })
    }
}

/// An engine with the default settings plus wasmtime's cache in `dir`;
/// `None` when the cache cannot be set up.
fn cached_engine(dir: &Path, epochs: bool) -> Option<wasmtime::Engine> {
    // wasmtime wants an absolute directory; it creates it and canonicalizes it.
    let dir = std::path::absolute(dir).ok()?;
    let mut cache_config = wasmtime::CacheConfig::new();
    cache_config
        .with_directory(dir)
        // wasmtime's worker re-compresses an entry at zstd level 20 after 256
        // hits, in a background thread; a short-lived CLI would be killed in
        // the middle of it (and a benchmark would share the CPU with it).
        .with_optimized_compression_usage_counter_threshold(u64::MAX);
    let cache = wasmtime::Cache::new(cache_config).ok()?;
    let mut config = wasmtime::Config::new();
    config.cache(Some(cache));
    config.epoch_interruption(epochs);
    wasmtime::Engine::new(&config).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(cip: Option<&str>, xdg: Option<&str>, home: Option<&str>) -> CompileCache {
        CompileCache::from_vars(
            cip.map(Into::into),
            xdg.map(Into::into),
            home.map(Into::into),
        )
    }

    #[test]
    fn directory_selection() {
        assert_eq!(
            vars(Some("/c"), Some("/x"), Some("/h")),
            CompileCache::at("/c")
        );
        assert_eq!(
            vars(Some("off"), Some("/x"), Some("/h")),
            CompileCache::disabled()
        );
        assert_eq!(
            vars(Some("rel/dir"), None, None),
            CompileCache::at("rel/dir")
        );
        assert_eq!(
            vars(Some(""), Some("/x"), Some("/h")),
            CompileCache::at("/x/cip-runner")
        );
        assert_eq!(
            vars(None, Some("relative"), Some("/h")),
            CompileCache::at("/h/.cache/cip-runner")
        );
        assert_eq!(
            vars(None, Some(""), Some("/h")),
            CompileCache::at("/h/.cache/cip-runner")
        );
        assert_eq!(vars(None, None, None), CompileCache::disabled());
        assert_eq!(CompileCache::disabled().dir(), None);
    }

    #[test]
    fn unusable_directory_gives_a_plain_engine() {
        let file =
            std::env::temp_dir().join(format!("cip-runner-cache-file-{}", std::process::id()));
        std::fs::write(&file, b"not a directory").expect("write");
        let cache = CompileCache::at(file.join("sub"));
        assert!(cached_engine(cache.dir().expect("dir"), false).is_none());
        let engine = cache.engine();
        assert!(wasmtime::Module::new(&engine, "(module)").is_ok());
        std::fs::remove_file(&file).expect("cleanup");
    }
}
