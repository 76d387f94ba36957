//! `cip-runner migrate` end to end, on the real annotated cluster-image-policy
//! module (`annotated-policy.wasm` at the repository root, built with `make
//! annotated-policy.wasm` when missing): the seed scenario gives the
//! project's example ClusterAdmissionPolicy, upstream-style inputs (`kubectl
//! get -o yaml` Lists, multi-document files, directories, the
//! `config-policy-controller` ConfigMap) are read and cleaned, and CIPs the
//! module refuses are dropped with its reasons and exit code 2.
//!
//! The inputs are under `tests/data/migrate/`; the binary runs there, so the
//! file names in its messages are relative.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_yaml::Value;

use common::{Run, cip_runner_in, noop_wasm, temp_dir, test_cache_dir, workspace_root, write};

/// `annotated-policy.wasm` at the repository root; `make annotated-policy.wasm`
/// builds it when missing (the Makefile annotates with cip-runner when kwctl
/// is not installed). Panics with make's output when that fails.
fn annotated_policy() -> &'static Path {
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

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Runs `cip-runner migrate --policy <annotated module> <args>` in
/// `tests/data/migrate/`, feeding `stdin`.
fn migrate(args: &[&str], stdin: Option<&str>) -> Run {
    migrate_with(annotated_policy(), args, stdin)
}

fn migrate_with(policy: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let cache = test_cache_dir();
    let args: Vec<&str> = ["migrate", "--policy", s(policy)]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    cip_runner_in(
        Some(&data_dir()),
        &args,
        stdin,
        &[("CIP_RUNNER_CACHE_DIR", s(&cache))],
    )
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"))
}

fn read_yaml(path: &Path) -> Value {
    yaml(&std::fs::read_to_string(path).expect("read"))
}

/// `spec.settings.policies[*].metadata.name`.
fn policy_names(cap: &Value) -> Vec<String> {
    cap["spec"]["settings"]["policies"]
        .as_sequence()
        .expect("policies")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The runner's own `validate-settings` on the ClusterAdmissionPolicy's
/// `spec.settings`: the guest's JSON answer.
fn validate_settings(cap: &Value) -> String {
    let dir = temp_dir("migrate-settings");
    let settings = write(
        &dir,
        "settings.yaml",
        &serde_yaml::to_string(&cap["spec"]["settings"]).expect("yaml"),
    );
    let run = common::cip_runner(
        &[
            "validate-settings",
            "--settings-path",
            s(&settings),
            s(annotated_policy()),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    run.stdout
}

const VALID: &str = "{\"valid\":true,\"message\":null}\n";

const DEFAULT_NO_MATCH: &str = "noMatchPolicy deny (from policy-controller's default: no config-policy-controller ConfigMap given)";

/// An example ClusterAdmissionPolicy of the project without the
/// `modifyImagesWithDigest: false` it adds to the settings (migrate writes
/// only `noMatchPolicy` and `policies`).
fn example(name: &str) -> Value {
    let mut cap = read_yaml(&workspace_root().join("examples").join(name));
    cap["spec"]["settings"]
        .as_mapping_mut()
        .expect("settings")
        .remove("modifyImagesWithDigest")
        .expect("the example sets modifyImagesWithDigest");
    cap
}

#[test]
fn seed_scenario_gives_the_example_cluster_admission_policy() {
    let run = migrate(&["seed"], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        format!("summary: 2 ClusterImagePolicies carried over, 0 dropped; {DEFAULT_NO_MATCH}\n")
    );
    assert!(
        run.stdout.starts_with(
            "# ClusterAdmissionPolicy written by `cip-runner migrate` from policy-controller manifests:\n\
             #   seed/chainguard-image-policy.yaml\n\
             #   seed/disallow-latest-tag.yaml\n\
             # 2 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy deny\n\
             # (policy-controller's default: no config-policy-controller ConfigMap given).\n\
             # Opt-in, as policy-controller: only namespaces labelled policy.sigstore.dev/include=true.\n\
             apiVersion: policies.kubewarden.io/v1\n"
        ),
        "{}",
        run.stdout
    );
    let cap = yaml(&run.stdout);
    // Everything examples/cluster-admission-policy.yaml has: module, mode,
    // failurePolicy, timeoutSeconds, rules, mutating, backgroundAudit,
    // contextAwareResources, the opt-in namespaceSelector, the annotations
    // and the seed's two CIPs, unchanged.
    assert_eq!(cap, example("cluster-admission-policy.yaml"));
    assert_eq!(
        cap["spec"]["module"],
        "registry://ghcr.io/cluster-image-policy/policies/cluster-image-policy:v0.1.0"
    );
    assert_eq!(
        cap["spec"]["namespaceSelector"],
        yaml(
            "matchExpressions: [{key: policy.sigstore.dev/include, operator: In, values: ['true']}]"
        )
    );
    let metadata = read_yaml(&workspace_root().join("metadata.yml"));
    assert_eq!(cap["spec"]["rules"], metadata["rules"]);
    assert_eq!(cap["spec"]["mutating"], metadata["mutating"]);
    assert_eq!(cap["spec"]["backgroundAudit"], metadata["backgroundAudit"]);
    assert_eq!(
        cap["spec"]["contextAwareResources"],
        yaml("[{apiVersion: v1, kind: ConfigMap}, {apiVersion: v1, kind: Secret}]")
    );
    for (n, file) in ["chainguard-image-policy.yaml", "disallow-latest-tag.yaml"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            cap["spec"]["settings"]["policies"][n],
            read_yaml(&workspace_root().join("test_data/cips").join(file))
        );
    }
    assert_eq!(validate_settings(&cap), VALID);
}

#[test]
fn opt_out_name_and_module_flags() {
    let run = migrate(&["--opt-out", "seed"], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains(
        "\n# Opt-out: every namespace is checked but those labelled policy.sigstore.dev/exclude.\napiVersion: "
    ));
    assert_eq!(
        yaml(&run.stdout),
        example("cluster-admission-policy-opt-out.yaml")
    );

    let run = migrate(
        &[
            "--name",
            "signed-images",
            "--module",
            "registry://registry.internal/policies/cluster-image-policy:v0.1.0",
            "seed",
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let cap = yaml(&run.stdout);
    assert_eq!(cap["metadata"]["name"], "signed-images");
    assert_eq!(
        cap["spec"]["module"],
        "registry://registry.internal/policies/cluster-image-policy:v0.1.0"
    );

    let run = migrate(&["--name", "Not_A_Name", "seed"], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "Error: invalid --name \"Not_A_Name\": a Kubernetes name is lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters\n"
    );
}

#[test]
fn kubectl_list_is_cleaned_of_server_side_metadata() {
    let dir = temp_dir("migrate-list");
    let out = dir.join("cap.yaml");
    let run = migrate(&["kubectl-list.yaml", "-o", s(&out)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "", "-o writes the file, not stdout");
    assert_eq!(
        run.stderr,
        format!("summary: 2 ClusterImagePolicies carried over, 0 dropped; {DEFAULT_NO_MATCH}\n")
    );
    let text = std::fs::read_to_string(&out).expect("output file");
    for server_side in [
        "uid",
        "resourceVersion",
        "managedFields",
        "creationTimestamp",
        "generation",
        "last-applied-configuration",
        "status",
        "team: platform",
    ] {
        assert!(
            !text.contains(server_side),
            "{server_side} left in:\n{text}"
        );
    }
    let cap = yaml(&text);
    assert_eq!(
        cap["spec"]["settings"],
        yaml(
            r#"
noMatchPolicy: deny
policies:
- apiVersion: policy.sigstore.dev/v1beta1
  kind: ClusterImagePolicy
  metadata:
    name: chainguard-image-policy
  spec:
    authorities:
    - name: authority-0
      static:
        action: pass
    images:
    - glob: cgr.dev/chainguard/**
    mode: enforce
- apiVersion: policy.sigstore.dev/v1beta1
  kind: ClusterImagePolicy
  metadata:
    name: signed-by-release-key
  spec:
    authorities:
    - key:
        data: |
          -----BEGIN PUBLIC KEY-----
          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5
          7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==
          -----END PUBLIC KEY-----
        hashAlgorithm: sha256
      name: release-key
    images:
    - glob: ghcr.io/example-org/**
    match:
    - resource: pods
      version: v1
    mode: warn
"#
        )
    );
    assert_eq!(validate_settings(&cap), VALID);
}

#[test]
fn multi_document_file_skips_other_kinds_with_a_note() {
    let run = migrate(&["multi-document.yaml"], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "note: multi-document.yaml, document 2: skipped Namespace demo: not a ClusterImagePolicy, a List of them or the config-policy-controller ConfigMap\n\
             summary: 2 ClusterImagePolicies carried over, 0 dropped; {DEFAULT_NO_MATCH}\n"
        )
    );
    let cap = yaml(&run.stdout);
    assert_eq!(policy_names(&cap), ["distroless", "warn-on-docker-hub"]);
    // v1alpha1 is kept as written.
    assert_eq!(
        cap["spec"]["settings"]["policies"][0]["apiVersion"],
        "policy.sigstore.dev/v1alpha1"
    );
    // kubectl reads YAML 1.1, where a bare `no` is `false`: it stays quoted.
    assert!(
        run.stdout.contains("\n            message: 'no'\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        cap["spec"]["settings"]["policies"][1]["spec"]["authorities"][0]["static"]["message"],
        "no"
    );
    assert_eq!(validate_settings(&cap), VALID);
}

#[test]
fn directory_means_its_yaml_yml_and_json_files_sorted() {
    // dir/README.txt is not YAML: it is not read.
    let run = migrate(&["dir"], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        format!("summary: 3 ClusterImagePolicies carried over, 0 dropped; {DEFAULT_NO_MATCH}\n")
    );
    assert!(run.stdout.starts_with(
        "# ClusterAdmissionPolicy written by `cip-runner migrate` from policy-controller manifests:\n\
         #   dir/02-first.yml\n\
         #   dir/05-second.json\n\
         #   dir/10-last.yaml\n"
    ));
    let cap = yaml(&run.stdout);
    assert_eq!(policy_names(&cap), ["first", "second", "last"]);
    assert_eq!(
        cap["spec"]["settings"]["policies"][1],
        yaml(
            "{apiVersion: policy.sigstore.dev/v1beta1, kind: ClusterImagePolicy, metadata: {name: second}, spec: {images: [{glob: registry.k8s.io/**}], authorities: [{static: {action: pass}}]}}"
        )
    );
}

#[test]
fn config_map_gives_the_no_match_policy() {
    let run = migrate(&["config-policy-controller.yaml", "seed"], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        "summary: 2 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy warn (from config-policy-controller.yaml, document 1: ConfigMap config-policy-controller, data.no-match-policy)\n"
    );
    let cap = yaml(&run.stdout);
    assert_eq!(cap["spec"]["settings"]["noMatchPolicy"], "warn");
    assert_eq!(
        policy_names(&cap),
        ["chainguard-image-policy", "disallow-latest-tag"]
    );
    assert_eq!(validate_settings(&cap), VALID);

    // --no-match-policy wins, and says what it overrides; stdin is `-`.
    let config =
        std::fs::read_to_string(data_dir().join("config-policy-controller.yaml")).expect("read");
    let run = migrate(&["--no-match-policy", "allow", "seed", "-"], Some(&config));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        "note: --no-match-policy allow overrides warn (<stdin>, document 1: ConfigMap config-policy-controller, data.no-match-policy)\n\
         summary: 2 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy allow (from --no-match-policy)\n"
    );
    assert_eq!(
        yaml(&run.stdout)["spec"]["settings"]["noMatchPolicy"],
        "allow"
    );
}

#[test]
fn unknown_no_match_policy_is_reported_and_means_deny() {
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-policy-controller, namespace: cosign-system}\ndata:\n  no-match-policy: Allow\n  fail-on-empty-authorities: \"false\"\n";
    let run = migrate(&["-"], Some(config));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        "warning: <stdin>, document 1: config-policy-controller has an unknown no-match-policy \"Allow\"; policy-controller treats any value but deny, warn and allow as deny, and so does the migrated policy\n\
         note: <stdin>, document 1: config-policy-controller data.fail-on-empty-authorities is not carried over: this policy always requires authorities (policy-controller's default); a CIP without any is dropped\n\
         note: no ClusterImagePolicy in the input: every image falls to noMatchPolicy deny\n\
         summary: 0 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy deny (from <stdin>, document 1: ConfigMap config-policy-controller, data.no-match-policy)\n"
    );
    let cap = yaml(&run.stdout);
    assert_eq!(
        cap["spec"]["settings"],
        yaml("{noMatchPolicy: deny, policies: []}")
    );
    assert_eq!(validate_settings(&cap), VALID);
}

#[test]
fn cips_that_cannot_be_carried_over_are_dropped_with_the_modules_reasons() {
    // The module's reasons, as the policy crate words them.
    use cluster_image_policy::cip::host_limits::{ATTESTATIONS, CUE, KMS};
    let run = migrate(&["unsupported.yaml"], None);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "dropped: ClusterImagePolicy cue-policy (unsupported.yaml, document 1, items[1]):\n\
             \x20 not supported: spec.policy.type\n\
             \x20 {CUE}\n\
             dropped: ClusterImagePolicy vuln-attestation (unsupported.yaml, document 1, items[2]):\n\
             \x20 not supported: spec.authorities[0].attestations\n\
             \x20 {ATTESTATIONS}\n\
             dropped: ClusterImagePolicy private-sigstore (unsupported.yaml, document 1, items[3]):\n\
             \x20 invalid value: internal-sigstore: spec.authorities[0].keyless.trustRootRef\n\
             \x20 TrustRoot \"internal-sigstore\" is not declared in hostSigstoreTrust.trustRoots: the host verifies with its own Sigstore trust configuration (PolicyServer spec.sigstoreTrustConfig, kwctl --sigstore-trust-config) and cannot be given another per call; once that configuration holds it, declare it in the settings (`cip-runner migrate` turns a TrustRoot with sigstoreKeys into that configuration and this declaration): hostSigstoreTrust: {{trustRoots: [\"internal-sigstore\"]}}\n\
             dropped: ClusterImagePolicy kms-key (unsupported.yaml, document 1, items[4]):\n\
             \x20 not supported: spec.authorities[0].key.kms\n\
             \x20 {KMS}\n\
             dropped: ClusterImagePolicy typo (unsupported.yaml, document 1, items[5]):\n\
             \x20 spec.authorities[0].staticc: unknown field `staticc`, expected one of `name`, `key`, `keyless`, `static`, `source`, `ctlog`, `rfc3161timestamp`, `attestations`, `signatureFormat`\n\
             summary: 2 ClusterImagePolicies carried over, 5 dropped; {DEFAULT_NO_MATCH}\n"
        )
    );
    // The output is still written, with the CIPs that could be kept.
    assert!(run.stdout.contains(
        "\n# Not carried over (`cip-runner migrate` reports why): cue-policy, vuln-attestation, private-sigstore, kms-key, typo.\n"
    ));
    let cap = yaml(&run.stdout);
    assert_eq!(
        policy_names(&cap),
        ["chainguard-image-policy", "disallow-latest-tag"]
    );
    assert_eq!(validate_settings(&cap), VALID);

    // A duplicate name (the same CIP exported twice) is the module's error too.
    let run = migrate(&["seed", "seed/disallow-latest-tag.yaml"], None);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "dropped: ClusterImagePolicy disallow-latest-tag (seed/disallow-latest-tag.yaml, document 1):\n\
             \x20 invalid value: disallow-latest-tag: metadata.name\n\
             \x20 duplicate name: policies[1] has the same name\n\
             summary: 2 ClusterImagePolicies carried over, 1 dropped; {DEFAULT_NO_MATCH}\n"
        )
    );
    assert_eq!(
        policy_names(&yaml(&run.stdout)),
        ["chainguard-image-policy", "disallow-latest-tag"]
    );
}

#[test]
fn fatal_errors_exit_1_and_write_nothing() {
    // A module without metadata.
    let noop = noop_wasm();
    let run = migrate_with(noop, &["seed"], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "Error: {} has no Kubewarden metadata (no io.kubewarden.metadata section); migrate takes the rules, mutating, backgroundAudit, contextAwareResources and the module URL from it: build the annotated module with `make annotated-policy.wasm` and pass --policy annotated-policy.wasm\n",
            noop.display()
        )
    );

    let dir = temp_dir("migrate-fatal");
    let out = dir.join("cap.yaml");
    let run = migrate(&["seed", "missing.yaml", "-o", s(&out)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "Error: cannot read missing.yaml\n\nCaused by:\n    No such file or directory (os error 2)\n"
    );
    assert!(!out.exists(), "nothing is written on a fatal error");

    let run = migrate(&["-"], Some("kind: ClusterImagePolicy\n---\nspec: [\n"));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("Error: cannot parse <stdin>, document 2: "),
        "{}",
        run.stderr
    );
}
