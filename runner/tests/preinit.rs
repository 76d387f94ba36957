//! `cip-runner preinit` end to end: the subcommand on a small module, and the pre-initialised
//! policy module the Makefile builds (`policy.wasm`, annotated into `annotated-policy.wasm`).

mod common;

use std::path::Path;

use common::{annotated_policy, cip_runner, temp_dir};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The initial size (64 KiB pages) of the module's memory, from its memory section.
fn memory_minimum(wasm: &[u8]) -> u64 {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::MemorySection(reader) = payload.expect("module") {
            return reader
                .into_iter()
                .next()
                .expect("a memory")
                .expect("memory")
                .initial;
        }
    }
    panic!("no memory section");
}

#[test]
fn preinit_writes_the_initialised_module() {
    let dir = temp_dir("preinit");
    let input = dir.join("in.wasm");
    let output = dir.join("out.wasm");
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "wizer.initialize") (drop (memory.grow (i32.const 3))))
            (func (export "wapc_init")))"#,
    )
    .expect("wat");
    std::fs::write(&input, wasm).expect("write");
    let run = cip_runner(&["preinit", "-o", s(&output), s(&input)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    let snapshot = std::fs::read(&output).expect("output");
    assert_eq!(memory_minimum(&snapshot), 4);
    let contents = cip_runner::wasm::module_contents(&snapshot).expect("module");
    assert_eq!(contents.exports, vec!["memory", "wapc_init"]);

    // Run again on its own output, the init function is gone: an error, exit code 1.
    let again = cip_runner(
        &["preinit", "-o", s(&dir.join("again.wasm")), s(&output)],
        None,
    );
    assert_eq!(again.code, Some(1), "{again:?}");
    assert_eq!(
        again.stderr.trim_end(),
        format!(
            "Error: cannot pre-initialise {}: the module does not export \"wizer.initialize\"",
            output.display()
        )
    );
}

/// `cip-runner preinit` on the policy itself (cargo's module, which `make policy.wasm` builds):
/// the init export is gone, the waPC entry points are kept, the memory starts with the heap the
/// initialisation grew, `annotate` (which calls the `protocol_version` waPC function) works on
/// it, and it answers a request exactly as the module the Makefile builds. The snapshot is not
/// in the build (BENCHMARKS.md, "Lever 1: Wizer pre-initialisation").
#[test]
fn the_pre_initialised_policy_runs_unchanged() {
    annotated_policy();
    let root = common::workspace_root();
    let cargo = common::target_dir().join("wasm32-wasip1/release/cluster_image_policy.wasm");
    let dir = temp_dir("preinit-policy");
    let snapshot = dir.join("preinit.wasm");
    let run = cip_runner(&["preinit", "-o", s(&snapshot), s(&cargo)], None);
    assert_eq!(run.code, Some(0), "{run:?}");

    let wasm = std::fs::read(&snapshot).expect("module");
    let exports = cip_runner::wasm::module_contents(&wasm)
        .expect("module")
        .exports;
    assert_eq!(exports, vec!["memory", "wapc_init", "__guest_call"]);
    // The policy's `HEAP_WARM_UP_BYTES` (512 KiB) are 8 pages of 64 KiB.
    let before = memory_minimum(&std::fs::read(&cargo).expect("cargo's module"));
    assert!(
        memory_minimum(&wasm) >= before + 8,
        "{} pages, cargo's module {before}",
        memory_minimum(&wasm)
    );

    let annotated = dir.join("annotated.wasm");
    let metadata = root.join("metadata.yml");
    let run = cip_runner(
        &[
            "annotate",
            "-m",
            s(&metadata),
            "-o",
            s(&annotated),
            s(&snapshot),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");

    let settings = root.join("test_data/settings/seed-step3.yaml");
    let answer = |module: &Path, image: &str| {
        let request: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("test_data/requests/pod.json")).expect("request"),
        )
        .expect("json");
        let mut request = request;
        request["object"]["spec"]["containers"][0]["image"] = image.into();
        let path = dir.join("request.json");
        std::fs::write(&path, request.to_string()).expect("write");
        let run = cip_runner(
            &[
                "run",
                "-r",
                s(&path),
                "--settings-path",
                s(&settings),
                s(module),
            ],
            None,
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        run.stdout
    };
    for image in [
        "cgr.dev/chainguard/nginx:latest-dev",
        "cgr.dev/chainguard/nginx:latest",
    ] {
        let expected = answer(annotated_policy(), image);
        assert_eq!(answer(&annotated, image), expected, "{image}");
    }
    assert!(answer(&annotated, "cgr.dev/chainguard/nginx:latest").contains(r#""allowed":false"#));
    assert!(
        answer(&annotated, "cgr.dev/chainguard/nginx:latest-dev").contains(r#""allowed":true"#)
    );
}
