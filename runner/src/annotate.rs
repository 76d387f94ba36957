//! `cip-runner annotate`: embed a policy's metadata in its module, as
//! `kwctl annotate -m metadata.yml [-u README.md] -o out.wasm policy.wasm`.
//!
//! Mirrors kubewarden-controller `crates/kwctl/src/annotate.rs`
//! (`write_annotation`, `prepare_metadata`, `write_annotated_wasm_file`,
//! `warn_on_capabilities_mismatch`), `crates/kwctl/src/backend.rs` (backend
//! detection) and `crates/kwctl/src/wasm_scanner.rs` (capability scan), in
//! the same order and with the same error texts:
//! 1. read the usage file (`Error reading usage file: …`), the module
//!    (`Error reading wasm file: …`), parse it (`Error parsing wasm module:
//!    …`) and scan its data segments for host capabilities;
//! 2. read `metadata.yml` (`Error opening metadata file: …`, `Error
//!    unmarshalling metadata …`);
//! 3. set `protocolVersion`: a module exporting an `opa_*` symbol is Rego
//!    (`Unknown`, and only with `executionMode: opa|gatekeeper`), a `wasi`
//!    policy gets `Unknown`, a `kubewarden-wapc` one is instantiated and its
//!    `protocol_version` waPC function called (`"v1"`);
//! 4. add the annotations `io.kubewarden.kwctl` (kwctl writes its own version
//!    there; this runner writes `cip-runner <version>`) and, with `-u`,
//!    `io.kubewarden.policy.usage` (the file's text);
//! 5. validate the metadata ([`Metadata::validate`], `Metadata is invalid: …`);
//! 6. warn on stderr when the declared `hostCapabilities` differ from the
//!    detected ones;
//! 7. write the module with the metadata, serialized as JSON, in the custom
//!    section `io.kubewarden.metadata`.
//!
//! Differences from kwctl:
//! - the module is not re-encoded (kwctl goes through walrus): existing
//!   `io.kubewarden.metadata` sections are dropped, one is appended at the
//!   end, every other byte is kept;
//! - kwctl's JavaScript-only rewrite of the `kubewarden:javy/host` import is
//!   not done (a waPC policy has no such import);
//! - the warnings are plain lines (`WARN cip_runner::annotate: <kwctl's
//!   message> capabilities={…}`), kwctl logs the same through `tracing`
//!   (with a timestamp);
//! - validation messages are sentences, not `validator`'s `Debug` output.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use memchr::memmem;

use crate::capabilities::{self, HostCapabilities};
use crate::host::{Backend, Host};
use crate::metadata::{ExecutionMode, Metadata, ProtocolVersion};
use crate::module::{METADATA_SECTION, PolicyModule};
use crate::wasm;

/// Annotation key where kwctl records its version (upstream `constants.rs`
/// `KUBEWARDEN_ANNOTATION_KWCTL_VERSION`).
pub const ANNOTATION_KWCTL_VERSION: &str = "io.kubewarden.kwctl";

/// Annotation key for the policy's usage text (upstream `constants.rs`
/// `KUBEWARDEN_ANNOTATION_POLICY_USAGE`).
pub const ANNOTATION_POLICY_USAGE: &str = "io.kubewarden.policy.usage";

/// The value this runner writes under [`ANNOTATION_KWCTL_VERSION`] (kwctl
/// writes its bare version, e.g. `1.36.0`).
pub fn tool_version() -> String {
    format!("cip-runner {}", env!("CARGO_PKG_VERSION"))
}

/// `cip-runner annotate`: see the module documentation.
///
/// # Errors
/// Any step above failing; nothing is written then.
pub fn annotate(
    wasm_path: &Path,
    metadata_path: &Path,
    output_path: &Path,
    usage_path: Option<&Path>,
) -> Result<()> {
    let usage = usage_path
        .map(|path| {
            std::fs::read_to_string(path).map_err(|e| anyhow!("Error reading usage file: {e}"))
        })
        .transpose()?;
    let wasm_bytes =
        std::fs::read(wasm_path).map_err(|e| anyhow!("Error reading wasm file: {e}"))?;
    let contents = wasm::module_contents(&wasm_bytes)
        .map_err(|e| anyhow!("Error parsing wasm module: {e}"))?;
    // The module as it was before any earlier annotation: what is
    // instantiated for the protocol version, and what the new section goes on.
    let unannotated = wasm::without_custom_section(&wasm_bytes, METADATA_SECTION)
        .map_err(|e| anyhow!("Error parsing wasm module: {e}"))?;
    let detected = scan_capabilities(&contents.data);

    let metadata = prepare_metadata(
        metadata_path,
        &contents.exports,
        &unannotated,
        usage.as_deref(),
    )?;
    for warning in capability_warnings(&detected, &metadata) {
        eprintln!("{warning}");
    }
    let json = serde_json::to_vec(&metadata)?;
    let annotated = wasm::with_custom_section(&unannotated, METADATA_SECTION, &json)?;
    std::fs::write(output_path, annotated)
        .with_context(|| format!("cannot write {}", output_path.display()))?;
    Ok(())
}

/// Steps 2-5: the metadata to embed (upstream `prepare_metadata`).
/// `exports` are the module's export names, `module` its bytes without
/// metadata (instantiated to ask a waPC policy for its protocol version).
///
/// # Errors
/// Unreadable or invalid metadata, a backend mismatch, a waPC module whose
/// protocol version cannot be obtained.
pub fn prepare_metadata(
    metadata_path: &Path,
    exports: &[String],
    module: &[u8],
    usage: Option<&str>,
) -> Result<Metadata> {
    let yaml =
        std::fs::read(metadata_path).map_err(|e| anyhow!("Error opening metadata file: {e}"))?;
    let mut metadata: Metadata =
        serde_yaml::from_slice(&yaml).map_err(|e| anyhow!("Error unmarshalling metadata {e}"))?;

    metadata.protocol_version = Some(detect_protocol_version(
        metadata.execution_mode,
        exports,
        module,
    )?);

    let mut annotations = metadata.annotations.take().unwrap_or_default();
    annotations.insert(ANNOTATION_KWCTL_VERSION.to_owned(), tool_version());
    if let Some(usage) = usage {
        annotations.insert(ANNOTATION_POLICY_USAGE.to_owned(), usage.to_owned());
    }
    metadata.annotations = Some(annotations);

    metadata
        .validate()
        .map_err(|problems| anyhow!("Metadata is invalid: {}", problems.join("; ")))?;
    Ok(metadata)
}

/// Upstream `BackendDetector::detect` (kwctl `backend.rs`): a module is Rego
/// when one of its exports starts with `opa_`.
fn detect_protocol_version(
    mode: ExecutionMode,
    exports: &[String],
    module: &[u8],
) -> Result<ProtocolVersion> {
    let is_rego = exports.iter().any(|name| name.starts_with("opa_"));
    match mode {
        ExecutionMode::Wasi => Ok(ProtocolVersion::Unknown),
        ExecutionMode::Opa | ExecutionMode::OpaGatekeeper if is_rego => {
            Ok(ProtocolVersion::Unknown)
        }
        ExecutionMode::Opa | ExecutionMode::OpaGatekeeper => Err(anyhow!(
            "Wrong value inside of policy's metadata for 'executionMode'. The policy has not been created using Rego"
        )),
        ExecutionMode::KubewardenWapc if is_rego => Err(anyhow!(
            "Wrong value inside of policy's metadata for 'executionMode'. This policy has been created using Rego"
        )),
        ExecutionMode::KubewardenWapc => wapc_protocol_version(module)
            .map_err(|e| anyhow!("Error while detecting Kubewarden protocol version: {e:#}")),
    }
}

/// Instantiates the module and calls its `protocol_version` waPC function
/// with an empty payload; the answer is a JSON [`ProtocolVersion`]
/// (policy-evaluator `runtimes/wapc/runtime.rs` `protocol_version`).
///
/// # Errors
/// The module cannot be compiled or instantiated, the call fails, or the
/// answer is not a known version.
pub fn wapc_protocol_version(module: &[u8]) -> Result<ProtocolVersion> {
    let module = PolicyModule::from_bytes(module)?;
    let host = Arc::new(Host::new(
        HostCapabilities::AllowAll,
        BTreeSet::new(),
        Backend::Offline,
    ));
    let instance = module.instantiate(host)?;
    let answer = instance
        .call("protocol_version", &[])
        .map_err(|e| anyhow!("Cannot compute ProtocolVersion used by the policy: {e}"))?;
    serde_json::from_slice(&answer).map_err(|e| {
        anyhow!(
            "Cannot compute ProtocolVersion used by the policy: invalid answer {:?}: {e}",
            String::from_utf8_lossy(&answer)
        )
    })
}

/// Whether `needle` occurs in `data` somewhere that is not the start of an
/// occurrence of `longer` (which starts with `needle`).
fn occurs_outside(data: &[u8], needle: &[u8], longer: &[u8]) -> bool {
    memmem::find_iter(data, needle).any(|at| !data[at..].starts_with(longer))
}

/// The capabilities (`namespace/operation`) whose namespace and operation
/// strings both occur in the module's data segments: kwctl's
/// `wasm_scanner::scan`. An operation that is a prefix of another one (e.g.
/// `v1/oci_manifest` of `v1/oci_manifest_config`) only counts where it is not
/// the start of every such longer one.
pub fn scan_capabilities(data: &[u8]) -> BTreeSet<String> {
    let operations = capabilities::operations();
    operations
        .iter()
        .filter(|(namespace, operation)| {
            if memmem::find(data, namespace.as_bytes()).is_none() {
                return false;
            }
            let mut longer = operations
                .iter()
                .map(|(_, other)| *other)
                .filter(|other| other != operation && other.starts_with(operation))
                .peekable();
            if longer.peek().is_none() {
                memmem::find(data, operation.as_bytes()).is_some()
            } else {
                longer.all(|l| occurs_outside(data, operation.as_bytes(), l.as_bytes()))
            }
        })
        .map(|(namespace, operation)| format!("{namespace}/{operation}"))
        .collect()
}

/// kwctl's `warn_on_capabilities_mismatch`: one line for capabilities found
/// in the module but not declared, one for declared ones not found.
pub fn capability_warnings(detected: &BTreeSet<String>, metadata: &Metadata) -> Vec<String> {
    let declared = metadata.host_capabilities.clone().unwrap_or_default();
    let undeclared: BTreeSet<&String> = detected.difference(&declared).collect();
    let unused: BTreeSet<&String> = declared.difference(detected).collect();
    let mut warnings = Vec::new();
    if !undeclared.is_empty() {
        warnings.push(format!(
            "WARN cip_runner::annotate: host capabilities used by the policy but not declared in metadata capabilities={undeclared:?}"
        ));
    }
    if !unused.is_empty() {
        warnings.push(format!(
            "WARN cip_runner::annotate: host capabilities declared in metadata but not detected in the policy capabilities={unused:?}"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(strings: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in strings {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        out
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scanner_as_kwctl() {
        assert!(scan_capabilities(&data(&["hello", "world"])).is_empty());
        assert!(scan_capabilities(&data(&["kubewarden"])).is_empty());
        assert_eq!(
            scan_capabilities(&data(&[
                "kubewarden",
                "crypto",
                "v1/is_certificate_trusted"
            ])),
            set(&["crypto/v1/is_certificate_trusted"])
        );
        // The namespace is needed too.
        assert!(scan_capabilities(&data(&["kubewarden", "can_i"])).is_empty());
        // A prefix of a longer operation only counts on its own.
        assert_eq!(
            scan_capabilities(&data(&["oci", "v1/oci_manifest_config"])),
            set(&["oci/v1/oci_manifest_config"])
        );
        assert_eq!(
            scan_capabilities(&data(&["oci", "v1/oci_manifest_config", "v1/oci_manifest"])),
            set(&["oci/v1/oci_manifest", "oci/v1/oci_manifest_config"])
        );
        let everything: Vec<String> = capabilities::operations()
            .iter()
            .flat_map(|(ns, op)| [(*ns).to_owned(), (*op).to_owned()])
            .collect();
        let refs: Vec<&str> = everything.iter().map(String::as_str).collect();
        assert_eq!(scan_capabilities(&data(&refs)).len(), 11);
    }

    #[test]
    fn mismatch_warnings() {
        let mut metadata: Metadata =
            serde_yaml::from_str("rules: []\nmutating: false\n").expect("metadata");
        assert!(capability_warnings(&BTreeSet::new(), &metadata).is_empty());
        metadata.host_capabilities = Some(set(&["oci/v2/verify", "kubernetes/get_resource"]));
        let warnings = capability_warnings(&set(&["oci/v2/verify", "oci/v1/verify"]), &metadata);
        assert_eq!(
            warnings,
            vec![
                r#"WARN cip_runner::annotate: host capabilities used by the policy but not declared in metadata capabilities={"oci/v1/verify"}"#,
                r#"WARN cip_runner::annotate: host capabilities declared in metadata but not detected in the policy capabilities={"kubernetes/get_resource"}"#,
            ]
        );
    }

    #[test]
    fn backend_detection() {
        let rego = vec!["opa_eval".to_owned()];
        assert_eq!(
            detect_protocol_version(ExecutionMode::Opa, &rego, b"").expect("rego"),
            ProtocolVersion::Unknown
        );
        assert_eq!(
            detect_protocol_version(ExecutionMode::Wasi, &[], b"").expect("wasi"),
            ProtocolVersion::Unknown
        );
        let e =
            detect_protocol_version(ExecutionMode::OpaGatekeeper, &[], b"").expect_err("not rego");
        assert!(
            e.to_string().contains("has not been created using Rego"),
            "{e}"
        );
        let e =
            detect_protocol_version(ExecutionMode::KubewardenWapc, &rego, b"").expect_err("rego");
        assert!(e.to_string().contains("has been created using Rego"), "{e}");
    }
}
