//! Helpers shared by the integration tests: running the `cip-runner` binary,
//! temporary files, building the noop policy, and a tiny scripted waPC guest
//! written in WAT.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The workspace root (parent of `runner/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runner/ has a parent")
        .to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Builds `noop-policy` for wasm32-wasip1 (once per test binary; a no-op when
/// up to date) and returns the path of `noop_policy.wasm`. Panics with the
/// cargo output and the manual command if the build fails.
pub fn noop_wasm() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let args = [
            "build",
            "--target",
            "wasm32-wasip1",
            "--release",
            "-p",
            "noop-policy",
            "--locked",
        ];
        let out = Command::new(cargo)
            .args(args)
            .current_dir(workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("cannot start `{cargo} {}`: {e}", args.join(" ")));
        let wasm = target_dir().join("wasm32-wasip1/release/noop_policy.wasm");
        assert!(
            out.status.success() && wasm.is_file(),
            "building the noop policy failed; build it first with `cargo {}` (expected {}):\n{}",
            args.join(" "),
            wasm.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        wasm
    })
}

/// `annotated-policy.wasm` at the repository root; `make annotated-policy.wasm`
/// builds it when missing (the Makefile annotates with cip-runner when kwctl
/// is not installed). Panics with make's output when that fails.
pub fn annotated_policy() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let root = workspace_root();
        let wasm = root.join("annotated-policy.wasm");
        if !wasm.is_file() {
            let out = Command::new("make")
                .arg("-C")
                .arg(&root)
                .arg("annotated-policy.wasm")
                .output()
                .unwrap_or_else(|e| panic!("cannot run `make -C {} annotated-policy.wasm`: {e}", root.display()));
            assert!(
                out.status.success() && wasm.is_file(),
                "the migrate tests need the annotated policy module and `make -C {} annotated-policy.wasm` failed; build it by hand (needs Rust's wasm32-wasip1 target):\n{}\n{}",
                root.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        wasm
    })
}

/// A fresh, unique temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("cip-runner-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

/// The result of one `cip-runner` invocation.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The compiled-module cache the tests use unless they pick their own (kept
/// under cargo's target tmp dir, not in the user's cache).
pub fn test_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cip-runner-cache")
}

/// Runs the `cip-runner` binary with `args`, feeding `stdin`.
pub fn cip_runner(args: &[&str], stdin: Option<&str>) -> Run {
    let cache = test_cache_dir();
    cip_runner_env(
        args,
        stdin,
        &[("CIP_RUNNER_CACHE_DIR", cache.to_str().expect("utf8 path"))],
    )
}

/// [`cip_runner`] with extra environment variables.
pub fn cip_runner_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    cip_runner_in(None, args, stdin, env)
}

/// Runs the `cip-runner` binary with `args` in `dir` (the tests' own directory when `None`),
/// with extra environment variables, feeding `stdin`.
pub fn cip_runner_in(
    dir: Option<&Path>,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Run {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_cip-runner"));
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    // anyhow appends a backtrace to `Error: ...` when these are set (kwctl
    // too); the tests compare stderr exactly, so unset them.
    let mut child = command
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cip-runner");
    {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
    }
    child
        .wait_with_output()
        .expect("wait for cip-runner")
        .into()
}

/// A bare AdmissionRequest for a Pod.
pub const POD_REQUEST: &str = r#"{
  "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
  "kind": {"group": "", "version": "v1", "kind": "Pod"},
  "resource": {"group": "", "version": "v1", "resource": "pods"},
  "operation": "CREATE",
  "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
  "name": "nginx",
  "namespace": "default",
  "object": {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "nginx", "namespace": "default"},
    "spec": {"containers": [{"name": "nginx", "image": "ghcr.io/acme/nginx:1.27"}]}
  }
}"#;

/// The request's UID.
pub const POD_UID: &str = "1299d386-525b-4032-98ae-1949f69f9cfc";

/// kwctl's line for an accepted request without extras.
pub fn accepted_line(uid: &str) -> String {
    format!(r#"{{"uid":"{uid}","allowed":true,"auditAnnotations":null,"warnings":null}}"#)
}

/// Escapes bytes for a WAT string literal.
fn wat_string(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:02x}"));
        }
    }
    out
}

/// What the scripted guest does in `validate`.
pub enum Validate<'a> {
    /// Return this text as the validate answer.
    Answer(&'a str),
    /// Make one host call `kubewarden`/`namespace`/`operation` with `payload`;
    /// return the host's payload as the validate answer, or fail the call with
    /// the host's error text (the runner then prints
    /// `internal server error: Guest call failure: <host error>`).
    HostCall {
        /// waPC namespace, e.g. `oci`.
        namespace: &'a str,
        /// waPC operation, e.g. `v2/verify`.
        operation: &'a str,
        /// Request payload (JSON).
        payload: &'a str,
    },
    /// Trap (`unreachable`).
    Trap,
    /// Loop forever (until the host interrupts it).
    Spin,
    /// Grow the memory by this many 64 KiB pages; trap (as an allocator's abort) when the
    /// host refuses, answer the text otherwise.
    Grow {
        /// Pages to add.
        pages: u32,
        /// The answer once grown.
        answer: &'a str,
    },
}

/// A waPC guest in WAT. `validate_settings` answers `settings_answer`;
/// `protocol_version` answers `"v1"`; `validate` does what [`Validate`]
/// says; `trap_in_init` makes `wapc_init` trap.
pub fn scripted_guest(
    settings_answer: &str,
    validate: &Validate<'_>,
    trap_in_init: bool,
) -> String {
    let (ns, op, payload, mode) = match validate {
        Validate::Answer(a) => ("", "", *a, 0),
        Validate::HostCall {
            namespace,
            operation,
            payload,
        } => (*namespace, *operation, *payload, 1),
        Validate::Trap => ("", "", "", 2),
        Validate::Spin => ("", "", "", 3),
        Validate::Grow { answer, .. } => ("", "", *answer, 4),
    };
    let pages = match validate {
        Validate::Grow { pages, .. } => *pages,
        _ => 0,
    };
    let init_body = if trap_in_init { "unreachable" } else { "nop" };
    format!(
        r#"(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 8)
  (data (i32.const 0) "kubewarden")
  (data (i32.const 16) "{ns}")
  (data (i32.const 64) "{op}")
  (data (i32.const 128) "\22v1\22")
  (data (i32.const 1024) "{settings}")
  (data (i32.const 16384) "{payload}")
  (func (export "wapc_init") {init_body})
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (local $len i32)
    (call $guest_request (i32.const 262144) (i32.const 327680))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then
        (call $guest_response (i32.const 1024) (i32.const {settings_len}))
        (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then
        (call $guest_response (i32.const 128) (i32.const 4))
        (return (i32.const 1))))
    (if (i32.eq (i32.const {mode}) (i32.const 2)) (then unreachable))
    (if (i32.eq (i32.const {mode}) (i32.const 3)) (then (loop $spin (br $spin))))
    (if (i32.eq (i32.const {mode}) (i32.const 4))
      (then
        (if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)) (then unreachable))
        (call $guest_response (i32.const 16384) (i32.const {payload_len}))
        (return (i32.const 1))))
    (if (i32.eq (i32.const {mode}) (i32.const 0))
      (then
        (call $guest_response (i32.const 16384) (i32.const {payload_len}))
        (return (i32.const 1))))
    (if (i32.eqz (call $host_call
          (i32.const 0) (i32.const 10)
          (i32.const 16) (i32.const {ns_len})
          (i32.const 64) (i32.const {op_len})
          (i32.const 16384) (i32.const {payload_len})))
      (then
        (local.set $len (call $host_error_len))
        (call $host_error (i32.const 65536))
        (call $guest_error (i32.const 65536) (local.get $len))
        (return (i32.const 0))))
    (local.set $len (call $host_response_len))
    (call $host_response (i32.const 65536))
    (call $guest_response (i32.const 65536) (local.get $len))
    (i32.const 1))
)
"#,
        ns = wat_string(ns.as_bytes()),
        op = wat_string(op.as_bytes()),
        settings = wat_string(settings_answer.as_bytes()),
        payload = wat_string(payload.as_bytes()),
        settings_len = settings_answer.len(),
        payload_len = payload.len(),
        ns_len = ns.len(),
        op_len = op.len(),
    )
}

/// `{"valid":true,"message":null}`.
pub const SETTINGS_OK: &str = r#"{"valid":true,"message":null}"#;
