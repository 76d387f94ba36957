//! policy-server's limits on a policy's execution, as the runner enforces them (`run
//! --policy-timeout`, `--disable-timeout-protection`, `--policy-memory-limit`).
//!
//! **Execution time.** policy-server (kubewarden-controller 3460bb71) enables wasmtime's epoch
//! interruption when `--policy-timeout` / `KUBEWARDEN_POLICY_TIMEOUT` is set (2 seconds by
//! default, `crates/policy-server/src/cli.rs` L171-176; off with `--disable-timeout-protection`,
//! L165-169, `src/config.rs` L77-90), gives every instance an epoch deadline of that many
//! ticks (`crates/policy-server/src/evaluation/evaluation_environment.rs` L742,
//! `enable_epoch_interruptions(limit, limit)`), which wasmtime-provider sets before `wapc_init`
//! and before each waPC call (wasmtime-provider 2.25 `src/provider.rs` L209-211, L259-261),
//! and increments the engine's epoch once a second from a tokio task
//! (`crates/policy-server/src/lib.rs` L162, L192-219, `MissedTickBehavior::Skip`). A call past its
//! deadline traps (`wasmtime::Trap::Interrupt`, which wasmtime-provider reports as `guest code
//! interrupted, execution deadline exceeded`, `src/provider.rs` L224-228), and policy-evaluator
//! answers `Policy execution interrupted because it exceeded the allowed execution time` with
//! code 500 (`crates/policy-evaluator/src/runtimes/wapc/runtime.rs` L26, L84-126). The epoch
//! counts wall time, host calls included.
//!
//! The runner does the same with a finer clock: its thread increments the epoch every [`TICK`]
//! (10 ms) and the deadline is the timeout in those ticks, so it interrupts a call
//! `--policy-timeout` seconds after it started (to within a tick), the latest policy-server
//! would; policy-server's one-second ticks interrupt between `N - 1` and `N` seconds, which the
//! policy's settings account for (`requestBudgetMilliseconds` must end before `N - 1`). The
//! runner also takes fractions of a second (`--policy-timeout 0.5`), which policy-server does
//! not (it parses a whole number).
//!
//! **Memory.** Kubewarden 1.38 caps a policy's memory during evaluation at 256 MiB by default
//! (`../shared/reference/upstream-2026-12.md` §1.2; its source was not in the mirrors read,
//! which end before 1.38). The runner caps each linear memory of the instance at
//! `--policy-memory-limit` MiB through wasmtime-provider's `ResourceLimits` (wasmtime's
//! `StoreLimits`, wasmtime-provider 2.25 `src/lib.rs` L134-189): a `memory.grow` past it fails,
//! the module's allocator aborts, and the call traps, which policy-evaluator answers with
//! `internal server error: <the waPC error>`, code 500 (`runtime.rs` L127-128).

use std::time::Duration;

use wasmtime_provider::wasmtime;

/// policy-server's default `--policy-timeout`, in seconds.
pub const DEFAULT_POLICY_TIMEOUT_SECONDS: f64 = 2.0;

/// Kubewarden 1.38's default per-policy memory cap, in MiB.
pub const DEFAULT_MEMORY_LIMIT_MIB: u64 = 256;

/// How often the runner's clock ticks (policy-server's ticks once a second).
pub const TICK: Duration = Duration::from_millis(10);

/// What wasmtime-provider reports for a waPC call past its epoch deadline.
pub const INTERRUPTED_CALL: &str = "guest code interrupted, execution deadline exceeded";

/// What wasmtime-provider reports for a `wapc_init` past its epoch deadline (wasmtime-provider
/// 2.25 `src/errors.rs` L16).
pub const INTERRUPTED_INIT: &str = "init interrupted, execution deadline exceeded";

/// policy-evaluator's answer to an interrupted call (code 500).
pub const INTERRUPTED_MESSAGE: &str =
    "Policy execution interrupted because it exceeded the allowed execution time";

/// The limits a module runs under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostLimits {
    /// Wall time each waPC call (and `wapc_init`) may take; `None`: no limit.
    pub policy_timeout: Option<Duration>,
    /// Largest size of each linear memory, in bytes; `None`: wasm's own 4 GiB.
    pub memory_limit: Option<usize>,
}

impl Default for HostLimits {
    /// policy-server's defaults: 2 s and 256 MiB.
    fn default() -> Self {
        HostLimits {
            policy_timeout: Some(Duration::from_secs_f64(DEFAULT_POLICY_TIMEOUT_SECONDS)),
            memory_limit: Some(mib(DEFAULT_MEMORY_LIMIT_MIB)),
        }
    }
}

/// `n` MiB in bytes (saturating).
fn mib(n: u64) -> usize {
    usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

impl HostLimits {
    /// No limit at all (what kwctl run enforces: kubewarden-controller
    /// `crates/kwctl/src/command/run/evaluator.rs` L128 passes no epoch deadline).
    pub fn none() -> Self {
        HostLimits {
            policy_timeout: None,
            memory_limit: None,
        }
    }

    /// From the flags: `timeout_seconds` (`None` when timeout protection is disabled) and
    /// `memory_mib` (0: no cap).
    ///
    /// # Errors
    /// A timeout that is not a positive, finite number of seconds.
    pub fn from_flags(timeout_seconds: Option<f64>, memory_mib: u64) -> Result<Self, String> {
        let policy_timeout = match timeout_seconds {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                Some(Duration::from_secs_f64(s))
            }
            Some(s) => {
                return Err(format!(
                    "--policy-timeout {s}: expected a number of seconds above 0, at most 86400"
                ));
            }
        };
        Ok(HostLimits {
            policy_timeout,
            memory_limit: (memory_mib > 0).then(|| mib(memory_mib)),
        })
    }

    /// The epoch deadline, in [`TICK`]s, for the timeout (at least one tick).
    pub fn deadline_ticks(&self) -> Option<u64> {
        self.policy_timeout.map(|t| {
            let ticks = t.as_nanos().div_ceil(TICK.as_nanos());
            u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
        })
    }

    /// wasmtime-provider's epoch deadlines for the instance (`wapc_init` and each call get the
    /// same, as policy-server gives them).
    pub fn epoch_deadlines(&self) -> Option<wasmtime_provider::EpochDeadlines> {
        self.deadline_ticks()
            .map(|ticks| wasmtime_provider::EpochDeadlines {
                wapc_init: ticks,
                wapc_func: ticks,
            })
    }

    /// wasmtime-provider's resource limits for the instance.
    pub fn resource_limits(&self) -> Option<wasmtime_provider::ResourceLimits> {
        self.memory_limit
            .map(|bytes| wasmtime_provider::ResourceLimits {
                max_memory_size: Some(bytes),
                max_table_elements: None,
            })
    }
}

/// Increments `engine`'s epoch every [`TICK`] from a thread of its own, until the engine is
/// dropped (the thread holds only a weak reference).
pub fn start_clock(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("cip-runner-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    // Without a thread no deadline is ever reached: the run is then as without a timeout.
    if let Err(e) = spawned {
        eprintln!("warning: cannot start the execution-time clock ({e}): no policy timeout");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_policy_servers() {
        let d = HostLimits::default();
        assert_eq!(d.policy_timeout, Some(Duration::from_secs(2)));
        assert_eq!(d.memory_limit, Some(256 * 1024 * 1024));
        assert_eq!(d.deadline_ticks(), Some(200));
        assert_eq!(HostLimits::none().deadline_ticks(), None);
        assert!(HostLimits::none().resource_limits().is_none());
    }

    #[test]
    fn flags() {
        let l = HostLimits::from_flags(Some(0.5), 64).unwrap();
        assert_eq!(l.deadline_ticks(), Some(50));
        assert_eq!(l.memory_limit, Some(64 << 20));
        assert_eq!(
            HostLimits::from_flags(Some(0.001), 0).unwrap(),
            HostLimits {
                policy_timeout: Some(Duration::from_millis(1)),
                memory_limit: None
            }
        );
        assert_eq!(
            HostLimits::from_flags(Some(0.001), 0)
                .unwrap()
                .deadline_ticks(),
            Some(1)
        );
        assert_eq!(HostLimits::from_flags(None, 0).unwrap(), HostLimits::none());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(HostLimits::from_flags(Some(bad), 256).is_err(), "{bad}");
        }
    }
}
