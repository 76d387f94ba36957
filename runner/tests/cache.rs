//! The compiled-module cache, through the binary: where it goes, that a
//! second run reuses the entry, and that no cache problem ever changes a run.

mod common;

use std::path::{Path, PathBuf};

use common::{POD_REQUEST, POD_UID, accepted_line, cip_runner_env, noop_wasm, temp_dir, write};

/// The cache entries (compiled modules) under `dir`, without wasmtime's
/// bookkeeping files (`*.stats`, `*.wip-*`, `.cleanup*`).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(versions) = std::fs::read_dir(dir.join("modules")) else {
        return out;
    };
    for version in versions {
        let version = version.expect("dir entry").path();
        for file in std::fs::read_dir(&version).expect("read dir") {
            let file = file.expect("dir entry").path();
            let name = file
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            if !name.contains('.') {
                out.push(file);
            }
        }
    }
    out
}

/// Runs the noop policy on the Pod request with `env`; checks the accepted
/// line and a silent stderr.
fn run_noop(dir: &Path, env: &[(&str, &str)]) {
    let request = write(dir, "request.json", POD_REQUEST);
    let run = cip_runner_env(
        &[
            "run",
            "-r",
            request.to_str().expect("utf8"),
            noop_wasm().to_str().expect("utf8"),
        ],
        None,
        env,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
    assert_eq!(run.stderr, "");
}

#[test]
fn second_run_reuses_the_entry_and_corrupt_entries_are_recompiled() {
    let dir = temp_dir("cache-reuse");
    let cache = dir.join("cache");
    let env = [("CIP_RUNNER_CACHE_DIR", cache.to_str().expect("utf8"))];
    run_noop(&dir, &env);
    let first = entries(&cache);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0]
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|v| v.to_string_lossy().starts_with("wasmtime-")),
        "{first:?}"
    );
    run_noop(&dir, &env);
    assert_eq!(entries(&cache), first);

    std::fs::write(&first[0], b"garbage").expect("corrupt the entry");
    run_noop(&dir, &env);
    assert_eq!(entries(&cache), first);
    assert!(std::fs::metadata(&first[0]).expect("entry").len() > 7);
}

#[test]
fn default_location_and_off() {
    let dir = temp_dir("cache-default");
    let xdg = dir.join("xdg");
    let home = dir.join("home");
    let xdg_s = xdg.to_str().expect("utf8");
    let home_s = home.to_str().expect("utf8");
    // An empty CIP_RUNNER_CACHE_DIR counts as unset.
    run_noop(
        &dir,
        &[
            ("CIP_RUNNER_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", xdg_s),
            ("HOME", home_s),
        ],
    );
    assert_eq!(entries(&xdg.join("cip-runner")).len(), 1);
    run_noop(
        &dir,
        &[
            ("CIP_RUNNER_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", ""),
            ("HOME", home_s),
        ],
    );
    assert_eq!(entries(&home.join(".cache/cip-runner")).len(), 1);

    let off = temp_dir("cache-off");
    run_noop(
        &off,
        &[
            ("CIP_RUNNER_CACHE_DIR", "off"),
            ("XDG_CACHE_HOME", off.join("xdg").to_str().expect("utf8")),
            ("HOME", off.join("home").to_str().expect("utf8")),
        ],
    );
    assert!(!off.join("xdg").exists());
    assert!(!off.join("home").exists());
}

#[test]
fn unusable_cache_directory_does_not_change_the_run() {
    let dir = temp_dir("cache-unusable");
    let file = write(&dir, "not-a-dir", "x");
    let below_a_file = file.join("cache");
    run_noop(
        &dir,
        &[("CIP_RUNNER_CACHE_DIR", below_a_file.to_str().expect("utf8"))],
    );
}

#[test]
fn annotated_module_shares_the_entry_of_the_module_it_was_made_from() {
    let dir = temp_dir("cache-annotated");
    let cache = dir.join("cache");
    let env = [("CIP_RUNNER_CACHE_DIR", cache.to_str().expect("utf8"))];
    run_noop(&dir, &env);
    let first = entries(&cache);
    assert_eq!(first.len(), 1, "{first:?}");

    let metadata = write(&dir, "metadata.yml", "rules: []\nmutating: false\n");
    let annotated = dir.join("annotated.wasm");
    let run = cip_runner_env(
        &[
            "annotate",
            "-m",
            metadata.to_str().expect("utf8"),
            "-o",
            annotated.to_str().expect("utf8"),
            noop_wasm().to_str().expect("utf8"),
        ],
        None,
        &env,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let request = write(&dir, "request.json", POD_REQUEST);
    let run = cip_runner_env(
        &[
            "run",
            "-r",
            request.to_str().expect("utf8"),
            annotated.to_str().expect("utf8"),
        ],
        None,
        &env,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
    assert_eq!(entries(&cache), first);
}
