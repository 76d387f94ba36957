//! The report of `cip-runner bench`: the targets, the machine, the markdown of
//! `BENCHMARKS.md`'s generated block and the helpers that replace it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::{ModuleFigures, Sampling, ScenarioResult, Stats, ratio};

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

/// Largest module size allowed (4 MB, decimal), after wasm-opt (`make policy.wasm`): the ceiling
/// issue 10 set for the time builtins.
///
/// It was 3 MB until regorus' `time` builtins were built in (issue 10): policy.wasm went from
/// 2,653,577 to 3,610,127 bytes with them (chrono, chrono-tz's time-zone database) and to
/// 3,639,256 bytes with the static checks of CIP policies (`src/rego/check.rs`). It was 3.7 MB
/// then, and the canonical image names, keyless identities, bundles and image configurations
/// of issues 11-13 took the module to 3,744,926 bytes (main at 14c897d): past 3.7 MB, hence
/// the ceiling itself. BENCHMARKS.md has the history.
pub const MAX_MODULE_BYTES: u64 = 4_000_000;

/// Most minor page faults (4 KiB pages touched for the first time) one fresh-instance rego-20
/// request may take (issue 14; the floor takes about 10).
pub const MAX_REGO_PAGE_FAULTS: u64 = 40;

/// The targets of `make bench`, on the scenarios that were run: issue 14's (fresh instance,
/// ratio to the floor in the same run): seed ≤ 2.0×, static-20 ≤ 1.4×, rego-20 ≤ 3.5× and at
/// most [`MAX_REGO_PAGE_FAULTS`] page faults per fresh rego-20 request, settings-50 validation
/// ≤ 1 ms; plus one host call per distinct verification (key-3) and the module size. They were
/// static-20 ≤ 2×, rego-20 ≤ 4× and settings-50 ≤ 10 ms before issue 14.
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
    ratio_target("seed", "the seed scenario", 2.0);
    ratio_target("static-20", "static/glob-only", 1.4);
    ratio_target("rego-20", "Rego on every CIP", 3.5);
    if let Some(faults) = find("rego-20").and_then(|r| r.policy.fresh_page_faults) {
        out.push(Target {
            name: format!(
                "page faults per fresh-instance request (rego-20): median ≤ {MAX_REGO_PAGE_FAULTS}"
            ),
            measured: format!("{faults}"),
            holds: faults <= MAX_REGO_PAGE_FAULTS,
        });
    }
    if let Some(r) = find("settings-50") {
        let ms = r.policy.fresh.median_us / 1000.0;
        out.push(Target {
            name: "settings validation of 50 CIPs (settings-50): fresh-instance median ≤ 1 ms"
                .into(),
            measured: format!("{ms:.2} ms (p95 {:.2} ms)", r.policy.fresh.p95_us / 1000.0),
            holds: ms <= 1.0,
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
    const LOCK: &str = include_str!("../../../Cargo.lock");
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

    fn figures(fresh_us: f64, faults: Option<u64>) -> ModuleFigures {
        let stats = |us: f64| Stats {
            samples: 1,
            median_us: us,
            p95_us: us,
        };
        ModuleFigures {
            instantiate: stats(10.0),
            fresh: stats(fresh_us),
            reused: stats(fresh_us / 2.0),
            host_calls: (0, 0),
            outcome: "allowed".into(),
            fresh_page_faults: faults,
        }
    }

    fn scenario(id: &str, policy_us: f64, floor_us: f64, faults: Option<u64>) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            title: id.into(),
            policy: figures(policy_us, faults),
            floor: figures(floor_us, Some(10)),
            expected_host_calls: None,
        }
    }

    /// Issue 14's limits, each checked on both sides of it.
    #[test]
    fn targets_are_issue_14s() {
        let holds = |results: &[ScenarioResult]| -> Vec<(String, bool)> {
            targets(results, MAX_MODULE_BYTES)
                .into_iter()
                .map(|t| (t.name, t.holds))
                .collect()
        };
        let at_limit = [
            scenario("seed", 200.0, 100.0, Some(20)),
            scenario("static-20", 140.0, 100.0, Some(10)),
            scenario("rego-20", 350.0, 100.0, Some(40)),
            scenario("settings-50", 1000.0, 100.0, Some(40)),
        ];
        assert_eq!(
            holds(&at_limit),
            vec![
                (
                    "the seed scenario (seed): fresh-instance median ≤ 2× the no-op floor"
                        .to_string(),
                    true
                ),
                (
                    "static/glob-only (static-20): fresh-instance median ≤ 1.4× the no-op floor"
                        .to_string(),
                    true
                ),
                (
                    "Rego on every CIP (rego-20): fresh-instance median ≤ 3.5× the no-op floor"
                        .to_string(),
                    true
                ),
                (
                    "page faults per fresh-instance request (rego-20): median ≤ 40".to_string(),
                    true
                ),
                (
                    "settings validation of 50 CIPs (settings-50): fresh-instance median ≤ 1 ms"
                        .to_string(),
                    true
                ),
                ("module size ≤ 4000000 bytes".to_string(), true),
            ]
        );
        let over = [
            scenario("seed", 201.0, 100.0, Some(20)),
            scenario("static-20", 141.0, 100.0, Some(10)),
            scenario("rego-20", 351.0, 100.0, Some(41)),
            scenario("settings-50", 1001.0, 100.0, Some(40)),
        ];
        assert!(holds(&over).iter().take(5).all(|(_, holds)| !holds));
        assert!(!targets(&over, MAX_MODULE_BYTES + 1)[5].holds);
    }

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
