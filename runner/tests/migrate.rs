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

use serde_yaml::Value;

use common::{
    Run, annotated_policy, cip_runner_in, noop_wasm, temp_dir, test_cache_dir, workspace_root,
    write,
};

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
    let run = migrate(&["-", "seed"], Some(UNKNOWN_NO_MATCH_CONFIG));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        "warning: <stdin>, document 1: config-policy-controller has an unknown no-match-policy \"Allow\"; policy-controller treats any value but deny, warn and allow as deny, and so does the migrated policy\n\
         note: <stdin>, document 1: config-policy-controller data.fail-on-empty-authorities is not carried over: this policy always requires authorities (policy-controller's default); a CIP without any is dropped\n\
         summary: 2 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy deny (from <stdin>, document 1: ConfigMap config-policy-controller, data.no-match-policy)\n"
    );
    let cap = yaml(&run.stdout);
    assert_eq!(cap["spec"]["settings"]["noMatchPolicy"], "deny");
    assert_eq!(validate_settings(&cap), VALID);
}

/// policy-controller's ConfigMap with a no-match-policy it does not know.
const UNKNOWN_NO_MATCH_CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-policy-controller, namespace: cosign-system}\ndata:\n  no-match-policy: Allow\n  fail-on-empty-authorities: \"false\"\n";

/// Without any ClusterImagePolicy the ClusterAdmissionPolicy would only apply the no-match
/// policy to every image (deny everything, by default): nothing is written, exit 1.
#[test]
fn no_cluster_image_policy_writes_nothing_and_exits_1() {
    let dir = temp_dir("migrate-no-cip");
    let out = dir.join("cap.yaml");
    let run = migrate(&["-o", s(&out), "-"], Some(UNKNOWN_NO_MATCH_CONFIG));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(!out.exists(), "nothing is written");
    assert_eq!(
        run.stderr,
        "warning: <stdin>, document 1: config-policy-controller has an unknown no-match-policy \"Allow\"; policy-controller treats any value but deny, warn and allow as deny, and so does the migrated policy\n\
         note: <stdin>, document 1: config-policy-controller data.fail-on-empty-authorities is not carried over: this policy always requires authorities (policy-controller's default); a CIP without any is dropped\n\
         summary: 0 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy deny (from <stdin>, document 1: ConfigMap config-policy-controller, data.no-match-policy)\n\
         Error: no ClusterImagePolicy in the input: nothing written; a ClusterAdmissionPolicy without ClusterImagePolicies would deny every image (noMatchPolicy deny)\n"
    );

    // An empty directory, the no-match policy from the flag.
    let empty = temp_dir("migrate-empty-dir");
    let run = migrate(&["--no-match-policy", "allow", s(&empty)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "note: {}: no *.yaml, *.yml or *.json file in this directory\n\
             summary: 0 ClusterImagePolicies carried over, 0 dropped; noMatchPolicy allow (from --no-match-policy)\n\
             Error: no ClusterImagePolicy in the input: nothing written; a ClusterAdmissionPolicy without ClusterImagePolicies would admit every image (noMatchPolicy allow)\n",
            s(&empty)
        )
    );

    // Every CIP dropped: nothing written either, after the reasons.
    let run = migrate(&["--no-match-policy", "warn", "-"], Some(KMS_ONLY));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "dropped: ClusterImagePolicy kms-key (<stdin>, document 1):\n\
         \x20 not supported: spec.authorities[0].key.kms\n\
         \x20 the host verifies key signatures with PEM public keys only and cannot reach a KMS: export the public key with `cosign public-key --key <this kms URI>` and put it in key.data\n\
         summary: 0 ClusterImagePolicies carried over, 1 dropped; noMatchPolicy warn (from --no-match-policy)\n\
         Error: no ClusterImagePolicy could be carried over (0 ClusterImagePolicies carried over, 1 dropped; noMatchPolicy warn): nothing written; a ClusterAdmissionPolicy without ClusterImagePolicies would admit every image with a warning (noMatchPolicy warn)\n"
    );
}

/// One CIP that cannot be carried over.
const KMS_ONLY: &str = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: kms-key}\nspec:\n  images: [{glob: '**'}]\n  authorities: [{key: {kms: 'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k'}}]\n";

#[test]
fn cips_that_cannot_be_carried_over_are_dropped_with_the_modules_reasons() {
    // The module's reasons, as the policy crate words them.
    use cluster_image_policy::cip::host_limits::{ATTESTATIONS, KMS};
    let run = migrate(&["unsupported.yaml"], None);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "dropped: ClusterImagePolicy cue-policy (unsupported.yaml, document 1, items[1]):\n\
             \x20 invalid cue policy: spec.policy.data\n\
             \x20 1:1: definitions (#Statement) are not supported\n\
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
        "Error: cannot read missing.yaml: No such file or directory (os error 2)\n"
    );
    assert!(!out.exists(), "nothing is written on a fatal error");

    // Whatever RUST_BACKTRACE says, an error is one line, never a backtrace.
    for (variable, value) in [("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "full")] {
        let cache = test_cache_dir();
        let run = cip_runner_in(
            Some(&data_dir()),
            &["migrate", "--policy", s(annotated_policy()), "missing.yaml"],
            None,
            &[("CIP_RUNNER_CACHE_DIR", s(&cache)), (variable, value)],
        );
        assert_eq!(run.code, Some(1), "{run:?}");
        assert_eq!(
            run.stderr, "Error: cannot read missing.yaml: No such file or directory (os error 2)\n",
            "{variable}={value}"
        );
    }
}

/// The hint after a `\.` escape error.
const BACKSLASH_HINT: &str = "in a double-quoted YAML string a backslash starts an escape sequence: write \\\\ for a backslash (\"https://github\\\\.com/.*\"), or single-quote the string ('https://github\\.com/.*')";

/// Real CIPs that are not valid YAML (`not-yaml/`: 034, 070, 078 of the project's real-world
/// CIP collection, a `\.` escape inside double quotes) and a file whose second document is
/// not: each is reported with its file, document, line and column, counted as dropped (exit
/// 2), and every other document is still read and carried over.
#[test]
fn documents_that_are_not_yaml_are_reported_and_the_others_carried_over() {
    let run = migrate(&["not-yaml", "bad-document.yaml", "seed"], None);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "dropped: a document that is not valid YAML (not-yaml/034.yaml, document 1):\n\
             \x20 found unknown escape character at line 23 column 41, while parsing a quoted scalar at line 23 column 26\n\
             \x20 {BACKSLASH_HINT}\n\
             dropped: a document that is not valid YAML (not-yaml/070.yaml, document 1):\n\
             \x20 found unknown escape character at line 13 column 36, while parsing a quoted scalar at line 13 column 24\n\
             \x20 {BACKSLASH_HINT}\n\
             dropped: a document that is not valid YAML (not-yaml/078.yaml, document 1):\n\
             \x20 found unknown escape character at line 13 column 26, while parsing a quoted scalar at line 13 column 23\n\
             \x20 {BACKSLASH_HINT}\n\
             dropped: a document that is not valid YAML (bad-document.yaml, document 2):\n\
             \x20 found unknown escape character at line 25 column 43, while parsing a quoted scalar at line 25 column 28\n\
             \x20 {BACKSLASH_HINT}\n\
             summary: 4 ClusterImagePolicies carried over, 0 dropped, 4 documents dropped as not valid YAML; {DEFAULT_NO_MATCH}\n"
        )
    );
    assert!(run.stdout.contains(
        "\n# 4 ClusterImagePolicies carried over, 0 dropped, 4 documents dropped as not valid YAML; noMatchPolicy deny\n"
    ), "{}", run.stdout);
    assert!(run.stdout.contains(
        "\n# Not valid YAML: not-yaml/034.yaml, document 1; not-yaml/070.yaml, document 1; not-yaml/078.yaml, document 1; bad-document.yaml, document 2.\n"
    ), "{}", run.stdout);
    let cap = yaml(&run.stdout);
    assert_eq!(
        policy_names(&cap),
        [
            "first",
            "third",
            "chainguard-image-policy",
            "disallow-latest-tag"
        ]
    );
    assert_eq!(validate_settings(&cap), VALID);

    // Nothing but documents that are not YAML: nothing to write.
    let run = migrate(&["not-yaml/070.yaml"], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.ends_with(
            "summary: 0 ClusterImagePolicies carried over, 0 dropped, 1 document dropped as not valid YAML; noMatchPolicy deny (from policy-controller's default: no config-policy-controller ConfigMap given)\n\
             Error: no ClusterImagePolicy could be carried over (0 ClusterImagePolicies carried over, 0 dropped, 1 document dropped as not valid YAML; noMatchPolicy deny): nothing written; a ClusterAdmissionPolicy without ClusterImagePolicies would deny every image (noMatchPolicy deny)\n"
        ),
        "{}",
        run.stderr
    );

    // On stdin too; the broken document's own line numbers are the stream's.
    let stdin = format!(
        "kind: ClusterImagePolicy\nspec: [\n---\n{}",
        std::fs::read_to_string(data_dir().join("seed/chainguard-image-policy.yaml"))
            .expect("read")
    );
    let run = migrate(&["-"], Some(&stdin));
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "dropped: a document that is not valid YAML (<stdin>, document 1):\n\
             \x20 did not find expected node content at line 3 column 1, while parsing a flow node\n\
             summary: 1 ClusterImagePolicy carried over, 0 dropped, 1 document dropped as not valid YAML; {DEFAULT_NO_MATCH}\n"
        )
    );
    assert_eq!(
        policy_names(&yaml(&run.stdout)),
        ["chainguard-image-policy"]
    );
}

/// Review finding: of two CIPs named alike (from two repositories), the first unsupported, the
/// second was dropped too, as the duplicate of a CIP that was not carried over.
#[test]
fn a_twin_of_a_dropped_cip_is_carried_over() {
    let cip = |authority: &str| {
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: same\nspec:\n  images:\n  - glob: \"ghcr.io/**\"\n  authorities:\n  - {authority}\n"
        )
    };
    let stdin = format!(
        "{}---\n{}",
        cip(
            "keyless: {url: https://fulcio.sigstore.dev, identities: [{issuer: https://x, subject: y}]}\n    attestations:\n    - {name: a, predicateType: vuln}"
        ),
        cip("static: {action: pass}")
    );
    let run = migrate(&["-"], Some(&stdin));
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.starts_with(
            "dropped: ClusterImagePolicy same (<stdin>, document 1):\n  not supported: spec.authorities[0].attestations\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("duplicate name"), "{}", run.stderr);
    assert!(
        run.stderr.ends_with(&format!(
            "summary: 1 ClusterImagePolicy carried over, 1 dropped; {DEFAULT_NO_MATCH}\n"
        )),
        "{}",
        run.stderr
    );
    let cap = yaml(&run.stdout);
    assert_eq!(policy_names(&cap), ["same"]);
    assert_eq!(validate_settings(&cap), VALID);
}
