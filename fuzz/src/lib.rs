//! Shared code of the fuzz targets: the scripted [`Host`], the settings and admission requests
//! of `validate_request`, the response invariants, and the input layout (also used by
//! `examples/make_seeds.rs` to write the seed corpora).
//!
//! `validate_request` input layout:
//!
//! ```text
//! byte 0        mode: 0 raw request, 1 structured request, 2 raw payload (modulo 3)
//! byte 1        settings: index into `settings_choices()` (modulo its length)
//! byte 2        n, the length of the host script
//! bytes 3..3+n  host script: drives every answer of `ScriptedHost` (exhausted: plausible success)
//! rest          body: the `request` JSON (raw), the `Unstructured` bytes describing the request
//!               (structured), or the whole waPC `validate` payload (raw payload)
//! ```

use arbitrary::Unstructured;
use cluster_image_policy::host::{Host, HostError};
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/test_settings.rs"));

/// test_data/keys/k1.pub.
pub const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
/// test_data/keys/k2.pub.
pub const K2: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFB2vRB56GkNlssONMXhgnaP6ukgc\nOR0gBt+icXhzHA7QOKpKbI5TGx9nd/9tbOilk8LqsvBfkhd97c4lANfL1A==\n-----END PUBLIC KEY-----\n";
const K1_B64: &str = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFazJTSUFGTDNOanNPa1R2anQyUUc1NFg3TnpZNQo3S0ZlNFdTQVdzYW1acXREMnVJLzdidlFEUVd3eDUrWjlVOHo5dWNWNThSQjNjL3pJODd2Z3JaSjlRPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==";
const K2_B64: &str = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFRkIydlJCNTZHa05sc3NPTk1YaGduYVA2dWtnYwpPUjBnQnQraWNYaHpIQTdRT0twS2JJNVRHeDluZC85dGJPaWxrOExxc3ZCZmtoZDk3YzRsQU5mTDFBPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==";
/// A Fulcio certificate for alice@example.com, issuer https://accounts.example.com (from
/// `src/certificate.rs`).
pub const ALICE: &str = "-----BEGIN CERTIFICATE-----\nMIIByzCCAXKgAwIBAgIUEavIMiKpwWeDmFLgFc5JkvWzxdQwCgYIKoZIzj0EAwIw\nMzEUMBIGA1UECgwLY29uZm9ybWFuY2UxGzAZBgNVBAMMEmNvbmZvcm1hbmNlLWZ1\nbGNpbzAeFw0yNjExMjkwOTA4MDZaFw0yNjExMjkwOTIzMDZaMAAwWTATBgcqhkjO\nPQIBBggqhkjOPQMBBwNCAAT0IZ3X6vx/7pltXMxNv7uMQNy7A9Usn6vp1yMNP5wv\nb+4sBF9/AxbR0jJxQAOO19p/B6v5f1Z5w5RBT+76L5AOo4GWMIGTMA4GA1UdDwEB\n/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAzAfBgNVHREBAf8EFTATgRFhbGlj\nZUBleGFtcGxlLmNvbTAfBgNVHSMEGDAWgBRoyF3MMIeBi7I4VvuXFAROKq/xNTAq\nBgorBgEEAYO/MAEBBBxodHRwczovL2FjY291bnRzLmV4YW1wbGUuY29tMAoGCCqG\nSM49BAMCA0cAMEQCIAWcQKbG+DeCusmjRS88IsNqRIwMvE0EbWLM2OWozyTxAiAA\nkhilZ3RB7cfDHJQOi2NG9zYSxRDRuZNnuPltinS8mQ==\n-----END CERTIFICATE-----\n";

/// Digests the scripted host answers with.
pub const DIGESTS: [&str; 4] = [
    "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32",
    "sha256:54d7a68826810e6b10a084c2058086101483de45bd698c380d34a69dddfab10e",
    "sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350",
    "sha512:0d2b0b1b6cc0e1d7cbbf44f3bd4e8fb9b2cf3a55f8b6c7f23c61d0e1b3e3a9c1c60c5f5d4b1f6a2e8d3b7c9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c",
];

/// Images written in README.md, e2e.bats, test_data and the src tests, plus broken ones.
pub const IMAGES: &[&str] = &[
    "nginx",
    "nginx:1.25",
    "nginx:latest",
    "busybox",
    "cgr.dev/chainguard/nginx:latest",
    "cgr.dev/chainguard/nginx:latest-dev",
    "cgr.dev/chainguard/nginx:1.27",
    "cgr.dev/chainguard/nginx",
    "127.0.0.1:5000/demo/app:signed",
    "127.0.0.1:5000/demo/app:unsigned",
    "127.0.0.1:5000/demo/multi:v1",
    "127.0.0.1:5000/keyless/app:v1",
    "127.0.0.1:5000/either/app:v1",
    "127.0.0.1:5000/warn/app:v1",
    "127.0.0.1:5000/demo/app:signed@sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32",
    "ghcr.io/foo@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350",
    "ghcr.io/foo:v1@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350",
    "ghcr.io/org/app:v1.2",
    "docker.io/library/nginx",
    "docker.io/bitnami/redis:7",
    "index.docker.io/library/foo:1",
    "index.docker.io/bitnami/nginx:latest",
    "localhost/app",
    "localhost:5000/app:v1",
    "registry.local:5000/demo-abc@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "k8s.gcr.io/pause:3.9",
    "quay.io/org/app:v1",
    "bad:1",
    "good:1",
    "NGINX",
    "invalid&name",
    "",
    "a:b:c:d",
    "ghcr.io/foo@sha256:abc",
    "ghcr.io/foo@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
];

const REGISTRIES: &[&str] = &[
    "",
    "docker.io/",
    "index.docker.io/library/",
    "cgr.dev/chainguard/",
    "127.0.0.1:5000/demo/",
    "127.0.0.1:5000/keyless/",
    "127.0.0.1:5000/either/",
    "127.0.0.1:5000/warn/",
    "localhost:5000/",
    "localhost/",
    "ghcr.io/foo/",
    "registry.local:5000/",
    "k8s.gcr.io/",
    "quay.io/org/",
    "index.docker.io/bitnami/",
    "Ghcr.io/",
];
const REPOS: &[&str] = &[
    "nginx", "app", "multi", "busybox", "redis", "Nginx", "a-b_c.d", "x/y",
];
const TAGS: &[&str] = &[
    "",
    ":latest",
    ":v1",
    ":signed",
    ":1.25",
    ":latest-dev",
    ":",
    ":V1",
];

/// The combined settings of `validate_request`: one CIP of every kind, on mostly disjoint globs.
pub fn combined_settings(no_match: &str, modify: bool) -> Value {
    let cip = |name: &str, spec: Value| {
        json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
               "metadata": {"name": name}, "spec": spec})
    };
    let pass = json!([{"static": {"action": "pass"}}]);
    json!({
        "noMatchPolicy": no_match,
        "modifyImagesWithDigest": modify,
        "regoTimeoutMilliseconds": 1000,
        "policies": [
            cip("chainguard-image-policy", json!({"images": [{"glob": "cgr.dev/chainguard/**"}], "authorities": pass})),
            cip("disallow-latest-tag", json!({"images": [{"glob": "cgr.dev/**"}], "authorities": pass, "mode": "enforce",
                "policy": {"includeSpec": true, "type": "rego", "data": "package sigstore\ndefault isCompliant = false\nisCompliant {\n  parts := split(input.image, \":\")\n  count(parts) == 2\n  parts[1] != \"latest\"\n}\n"}})),
            cip("quarantine", json!({"mode": "warn", "images": [{"glob": "index.docker.io/library/**"}],
                "authorities": [{"static": {"action": "fail", "message": "library images are being phased out"}}]})),
            cip("signed-by-k1", json!({"images": [{"glob": "127.0.0.1:5000/demo/**"}], "authorities": [{"key": {"data": K1}}]})),
            cip("either-key", json!({"images": [{"glob": "127.0.0.1:5000/either/**"}], "authorities": [{"key": {"data": format!("{K2}{K1}")}}]})),
            cip("signed-by-k1-warn", json!({"mode": "warn", "images": [{"glob": "127.0.0.1:5000/warn/**"}], "authorities": [{"key": {"data": K1}}]})),
            cip("two-authorities", json!({"images": [{"glob": "quay.io/**"}], "authorities": [{"name": "k2", "key": {"data": K2}}, {"name": "k1", "key": {"data": K1}}]})),
            cip("alice", json!({"images": [{"glob": "127.0.0.1:5000/keyless/**"}], "authorities": [{"keyless": {"identities": [{"issuer": "https://accounts.example.com", "subject": "alice@example.com"}]}}]})),
            cip("example-com", json!({"images": [{"glob": "127.0.0.1:5000/keyless/**"}, {"glob": "ghcr.io/**"}], "authorities": [{"keyless": {"identities": [
                {"issuerRegExp": "^https://accounts\\.example\\.com$", "subjectRegExp": "@example\\.com$"},
                {"issuer": "https://accounts.example.com", "subjectRegExp": "^bob@"}]}}]})),
            cip("non-root", json!({"images": [{"glob": "127.0.0.1:5000/demo/multi*"}], "authorities": pass,
                "policy": {"type": "rego", "fetchConfigFile": true, "data": "package sigstore\nisCompliant[result] {\n  cfg := input.config[\"linux/amd64\"]\n  cfg.architecture == \"amd64\"\n  cfg.config.User == \"\"\n  result := {\"result\": false, \"error\": \"the image runs as root\", \"warning\": \"\"}\n}\nisCompliant[result] {\n  cfg := input.config[\"linux/amd64\"]\n  cfg.config.User != \"\"\n  result := {\"result\": true, \"error\": \"\", \"warning\": \"\"}\n}\n"}})),
            cip("policy-from-configmap", json!({"images": [{"glob": "registry.local:5000/**"}], "authorities": pass,
                "policy": {"type": "rego", "configMapRef": {"name": "image-policy", "namespace": "kubewarden", "key": "policy"}}})),
            cip("secret-key", json!({"images": [{"glob": "localhost:5000/**"}], "authorities": [{"key": {"secretRef": {"name": "cosign-key", "namespace": "kubewarden"}}}]})),
            cip("registry-rules", json!({"images": [{"glob": "k8s.gcr.io/**"}, {"glob": "docker.io/**"}], "authorities": pass,
                "policy": {"type": "rego", "data": "package sigstore\nisCompliant[r] {\n  startswith(input.image, \"k8s.gcr.io/\")\n  r := {\"result\": true, \"error\": \"\", \"warning\": \"k8s.gcr.io is frozen\"}\n}\nisCompliant[r] {\n  startswith(input.image, \"docker.io/\")\n  r := {\"result\": false, \"error\": \"write images as index.docker.io\", \"warning\": \"\"}\n}\n"}})),
            cip("pods-owned-by-team", json!({"images": [{"glob": "index.docker.io/bitnami/**"}], "authorities": pass,
                "policy": {"type": "rego", "includeSpec": true, "includeObjectMeta": true, "includeTypeMeta": true,
                           "data": "package sigstore\nimport rego.v1\ndefault isCompliant := false\nisCompliant if {\n  input.typemeta.kind == \"Pod\"\n  input.metadata.labels.team == \"payments\"\n  input.spec.containers[0].image == input.image\n}\n"}})),
            cip("frozen-databases", json!({"images": [{"glob": "**"}], "authorities": [{"static": {"action": "fail", "message": "database pods are frozen"}}],
                "match": [{"group": "", "version": "*", "resource": "pods", "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]}]}},
                          {"group": "apps", "version": "v1", "resource": "deployments", "selector": {"matchLabels": {"tier": "db"}}}]})),
        ]
    })
}

/// The settings `validate_request` chooses from: the combined settings with every
/// (noMatchPolicy, modifyImagesWithDigest), then every test_data/settings file but
/// `runaway-rego` (which spends its whole 50 ms Rego budget on every image). Invalid test
/// settings are kept: `validate` decodes settings but does not validate them.
pub fn settings_choices() -> &'static [(String, String)] {
    static CHOICES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CHOICES.get_or_init(|| {
        let mut out = Vec::new();
        for no_match in ["deny", "warn", "allow"] {
            for modify in [true, false] {
                out.push((
                    format!("combined-{no_match}-{modify}"),
                    combined_settings(no_match, modify).to_string(),
                ));
            }
        }
        for (name, json) in TEST_SETTINGS {
            if *name != "runaway-rego" {
                out.push((name.to_string(), json.to_string()));
            }
        }
        out
    })
}

/// The decoded layout of a `validate_request` input.
pub struct Case<'a> {
    /// 0 raw request, 1 structured request, 2 raw payload.
    pub mode: u8,
    /// Index into [`settings_choices`].
    pub settings: usize,
    /// Drives [`ScriptedHost`].
    pub host_script: &'a [u8],
    /// See the module documentation.
    pub body: &'a [u8],
}

impl<'a> Case<'a> {
    /// Splits an input; `None` when it is too short.
    pub fn split(data: &'a [u8]) -> Option<Self> {
        let [mode, settings, n, rest @ ..] = data else {
            return None;
        };
        let n = (*n as usize).min(rest.len());
        Some(Case {
            mode: mode % 3,
            settings: *settings as usize % settings_choices().len(),
            host_script: &rest[..n],
            body: &rest[n..],
        })
    }

    /// The inverse of [`Case::split`].
    pub fn encode(mode: u8, settings: usize, host_script: &[u8], body: &[u8]) -> Vec<u8> {
        let n = host_script.len().min(255);
        let mut out = vec![mode, settings as u8, n as u8];
        out.extend_from_slice(&host_script[..n]);
        out.extend_from_slice(body);
        out
    }

    /// The waPC `validate` payload this case sends.
    pub fn payload(&self) -> Vec<u8> {
        let settings = &settings_choices()[self.settings].1;
        match self.mode {
            0 => {
                let mut p = format!("{{\"settings\":{settings},\"request\":").into_bytes();
                p.extend_from_slice(self.body);
                p.push(b'}');
                p
            }
            1 => {
                let mut u = Unstructured::new(self.body);
                let request = structured_request(&mut u);
                format!("{{\"settings\":{settings},\"request\":{request}}}").into_bytes()
            }
            _ => self.body.to_vec(),
        }
    }
}

fn pick<'b, T>(u: &mut Unstructured, items: &'b [T]) -> &'b T {
    let i = u.arbitrary::<u8>().unwrap_or(0) as usize % items.len();
    &items[i]
}

fn small(u: &mut Unstructured, max: u8) -> usize {
    (u.arbitrary::<u8>().unwrap_or(0) % (max + 1)) as usize
}

fn arbitrary_str(u: &mut Unstructured) -> String {
    <&str as arbitrary::Arbitrary>::arbitrary(u)
        .unwrap_or("")
        .to_string()
}

/// An image: from the dictionary, assembled from parts, or arbitrary.
pub fn image(u: &mut Unstructured) -> Value {
    match u.arbitrary::<u8>().unwrap_or(0) % 16 {
        0..=7 => json!(pick(u, IMAGES)),
        8..=12 => {
            let digest = match small(u, 5) {
                0..=2 => String::new(),
                3 => format!("@{}", pick(u, &DIGESTS[..3])),
                4 => "@sha256:abc".to_string(),
                _ => format!("@{}", pick(u, &DIGESTS)),
            };
            json!(format!(
                "{}{}{}{}",
                pick(u, REGISTRIES),
                pick(u, REPOS),
                pick(u, TAGS),
                digest
            ))
        }
        13 | 14 => json!(arbitrary_str(u)),
        _ => match small(u, 3) {
            0 => Value::Null,
            1 => json!(5),
            2 => json!({"reference": "nginx"}),
            _ => json!([pick(u, IMAGES)]),
        },
    }
}

fn container(u: &mut Unstructured, prefix: &str, i: usize) -> Value {
    let mut c = json!({"name": format!("{prefix}{i}"), "image": image(u)});
    match small(u, 31) {
        31 => {
            c.as_object_mut().unwrap().remove("image");
        }
        30 => {
            c.as_object_mut().unwrap().remove("name");
        }
        29 => c["targetContainerName"] = json!("c0"),
        _ => {}
    }
    c
}

fn pod_spec(u: &mut Unstructured) -> Value {
    let mut spec = serde_json::Map::new();
    let containers: Vec<Value> = (0..small(u, 4)).map(|i| container(u, "c", i)).collect();
    spec.insert("containers".into(), json!(containers));
    let init = small(u, 3);
    if init > 1 {
        let list: Vec<Value> = (0..init - 1).map(|i| container(u, "i", i)).collect();
        spec.insert("initContainers".into(), json!(list));
    }
    let eph = small(u, 3);
    if eph > 1 {
        let list: Vec<Value> = (0..eph - 1).map(|i| container(u, "e", i)).collect();
        spec.insert("ephemeralContainers".into(), json!(list));
    }
    let vols = small(u, 3);
    if vols > 1 {
        let list: Vec<Value> = (0..vols - 1)
            .map(|i| {
                if small(u, 3) == 0 {
                    json!({"name": format!("v{i}"), "emptyDir": {}})
                } else {
                    json!({"name": format!("v{i}"), "image": {"reference": image(u), "pullPolicy": "IfNotPresent"}})
                }
            })
            .collect();
        spec.insert("volumes".into(), json!(list));
    }
    Value::Object(spec)
}

/// (group, version, kind, nesting: 0 pod spec, 1 template, 2 job template, 3 none)
const KINDS: &[(&str, &str, &str, u8)] = &[
    ("", "v1", "Pod", 0),
    ("apps", "v1", "Deployment", 1),
    ("apps", "v1", "ReplicaSet", 1),
    ("apps", "v1", "StatefulSet", 1),
    ("apps", "v1", "DaemonSet", 1),
    ("", "v1", "ReplicationController", 1),
    ("batch", "v1", "Job", 1),
    ("batch", "v1", "CronJob", 2),
    ("", "v1", "Service", 3),
    ("apps", "v1beta1", "Deployment", 1),
    ("extensions", "v1beta1", "Deployment", 1),
    ("", "v1", "Deployment", 1),
];

fn object(u: &mut Unstructured, api_version: &str, kind: &str, nesting: u8) -> Value {
    let mut metadata = json!({"name": "demo", "namespace": "default"});
    let mut labels = serde_json::Map::new();
    if small(u, 1) == 1 {
        labels.insert("tier".into(), json!(pick(u, &["db", "cache", "web"])));
    }
    if small(u, 1) == 1 {
        labels.insert("team".into(), json!(pick(u, &["payments", "web"])));
    }
    match small(u, 15) {
        15 => {
            labels.insert("tier".into(), json!(5));
        }
        14 => metadata["deletionTimestamp"] = json!("2025-01-01T00:00:00Z"),
        _ => {}
    }
    if !labels.is_empty() {
        metadata["labels"] = Value::Object(labels);
    }
    let spec = pod_spec(u);
    let template = json!({"metadata": {"labels": {"app": "demo"}}, "spec": spec});
    let mut object = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    match nesting {
        0 => object["spec"] = spec,
        1 => {
            object["spec"] =
                json!({"template": template, "selector": {"matchLabels": {"app": "demo"}}});
            if small(u, 1) == 1 {
                object["spec"]["replicas"] = json!(*pick(u, &[0, 1, 3, -1, 5]));
            }
        }
        2 => {
            object["spec"] =
                json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}})
        }
        _ => {}
    }
    object
}

/// An admission request built from a small vocabulary: kind, operation, subresource, labels,
/// containers of every list, image volumes, replicas; sometimes inconsistent on purpose.
pub fn structured_request(u: &mut Unstructured) -> Value {
    let &(group, version, kind, consistent) = pick(u, KINDS);
    let nesting = if small(u, 7) == 7 {
        small(u, 3) as u8
    } else {
        consistent
    };
    let operation = *pick(
        u,
        &[
            "CREATE", "CREATE", "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT",
        ],
    );
    let sub_resource = *pick(
        u,
        &["", "", "", "", "", "ephemeralcontainers", "status", "scale"],
    );
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let obj = object(u, &api_version, kind, nesting);
    let old = match (operation, small(u, 3)) {
        ("UPDATE", 0) => Value::Null,
        ("UPDATE", 1) => obj.clone(),
        ("UPDATE", _) => {
            let mut old = obj.clone();
            old["spec"]["replicas"] = json!(*pick(u, &[1, 3, 10]));
            old
        }
        _ => Value::Null,
    };
    let mut request = json!({
        "uid": "fuzz",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
        "operation": operation,
        "userInfo": {"username": "fuzz"},
        "object": obj,
        "oldObject": old,
    });
    if !sub_resource.is_empty() {
        request["subResource"] = json!(sub_resource);
    }
    match small(u, 31) {
        31 => {
            request.as_object_mut().unwrap().remove("object");
        }
        30 => request["object"] = json!(arbitrary_str(u)),
        29 => request["kind"] = json!(null),
        _ => {}
    }
    request
}

const ERRORS: &[&str] = &[
    "no signatures found for image: 127.0.0.1:5000/demo/app:unsigned ",
    "error invoking host capability oci.verify: Host error: Callback evaluation failure: Image verification failed: missing signatures\nThe following constraints were not satisfied:\nkind: pubKey\n\nStack backtrace:\n   0: anyhow::error\n   1: foo\n",
    "error invoking host capability kubernetes.get_resource: Host error: Policy has not been granted access to Kubernetes v1/ConfigMap resources. The violation has been reported.",
    "Callback evaluation failure: upstream said: Callback evaluation failure: x",
    "Callback evaluation failure: ",
    "Stack backtrace:",
    "Host error: Stack backtrace:\n 0: x",
    "error invoking host capability : ",
    "error invoking host capability ",
    "",
    "   \n\t",
    "Fail to interact with OCI registry: manifest unknown",
    "configmaps \"image-policy\" not found",
    "\u{0}\u{fffd}é",
];

const BAD_DIGESTS: &[&str] = &[
    "",
    "sha256:",
    "sha256:xyz",
    "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "md5:1",
    "no-colon",
    "sha256:abc@def",
    "sha256:../../etc/passwd",
    "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32\n",
    " sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32",
    "@",
    ":",
    "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32@sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32",
    "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32/x",
];

fn bad_json() -> Vec<Value> {
    vec![
        Value::Null,
        json!(42),
        json!("sha256:1"),
        json!([]),
        json!([1, {"layers": []}]),
        json!({}),
        json!({"layers": 5}),
        json!({"layers": [5, null, {"annotations": 5}, {"annotations": {"dev.sigstore.cosign/certificate": 7}}]}),
        json!({"layers": [{"annotations": {"dev.sigstore.cosign/certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}]}),
        json!({"manifests": 5}),
        json!({"manifests": [5, {"platform": 5, "digest": 7}, {"platform": {"os": 1, "architecture": []}}]}),
        json!({"manifests": [{"platform": {"os": "linux", "architecture": "amd64"}, "digest": "../../x"}]}),
        json!({"manifests": [{"platform": {"os": "linux", "architecture": "amd64", "variant": ""}, "digest": ""}]}),
        json!({"manifests": []}),
        json!({"config": null}),
        json!({"config": {"os": "linux", "architecture": 5}}),
        json!({"data": 5}),
        json!({"data": {"policy": 5}}),
        json!({"data": {"k": "!!!"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": 5}}),
        json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "/w=="}}),
        json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "bm90IGEga2V5"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"k": K1}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": "package sigstore\nisCompliant {"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": ""}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": "package other\nx := 1\n"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": "package sigstore\nisCompliant := 5\n"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": "package sigstore\nisCompliant[r] { r := {\"result\": 5} }\n"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": "package sigstore\nisCompliant[r] { r := {\"result\": false, \"error\": 5, \"warning\": []} }\n"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"policy": "package sigstore\nisCompliant { numbers.range(1, 100000)[_] == 0 }\n"}}),
    ]
}

fn signature_manifest(certs: &[&str]) -> Value {
    let layers: Vec<Value> = certs
        .iter()
        .map(|c| json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": DIGESTS[1], "size": 242,
                        "annotations": {"dev.cosignproject.cosign/signature": "MEYC", "dev.sigstore.cosign/certificate": c}}))
        .collect();
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGESTS[2], "size": 2},
           "layers": layers})
}

fn multi_index() -> Value {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGESTS[0], "size": 395, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGESTS[1], "size": 395, "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:aaaa", "platform": {"architecture": "unknown", "os": "unknown"}}]})
}

fn config(arch: &str, variant: Option<&str>, user: &str) -> Value {
    let mut c = json!({"architecture": arch, "os": "linux", "config": {"User": user}});
    if let Some(v) = variant {
        c["variant"] = json!(v);
    }
    json!({"manifest": {"schemaVersion": 2, "layers": []}, "digest": DIGESTS[0], "config": c})
}

/// A [`Host`] whose every answer is read from the fuzz input: a plausible success (the
/// default once the script is exhausted), a host error (from a dictionary of real host texts,
/// or arbitrary, through the SDK's trimming or not), or garbage (invalid digests, JSON of the
/// wrong shape, arbitrary text).
pub struct ScriptedHost<'a> {
    u: RefCell<Unstructured<'a>>,
    /// Calls made so far.
    pub calls: Cell<usize>,
}

enum Choice {
    Success(usize),
    Error(HostError),
    Garbage(usize),
    GarbageText(String),
}

impl<'a> ScriptedHost<'a> {
    /// A host reading its answers from `script`.
    pub fn new(script: &'a [u8]) -> Self {
        ScriptedHost {
            u: RefCell::new(Unstructured::new(script)),
            calls: Cell::new(0),
        }
    }

    fn byte(&self) -> usize {
        self.u.borrow_mut().arbitrary::<u8>().unwrap_or(0) as usize
    }

    fn text(&self) -> String {
        arbitrary_str(&mut self.u.borrow_mut())
    }

    fn choose(&self) -> Choice {
        self.calls.set(self.calls.get() + 1);
        match self.byte() % 8 {
            0..=2 => Choice::Success(self.byte()),
            3 => Choice::Error(HostError::from_sdk_text(ERRORS[self.byte() % ERRORS.len()])),
            4 => Choice::Error(HostError::from_sdk_text(&self.text())),
            5 => Choice::Error(HostError(self.text())),
            6 => Choice::Garbage(self.byte()),
            _ => Choice::GarbageText(self.text()),
        }
    }

    fn digest(&self, image: &str) -> Result<String, HostError> {
        match self.choose() {
            Choice::Success(i) => {
                // Variant 0: the image's own digest when pinned (what a real host verifies).
                let own = image.rsplit_once('@').map(|(_, d)| d.to_string());
                match (i % 5, own) {
                    (0, Some(d)) => Ok(d),
                    (0, None) => Ok(DIGESTS[0].to_string()),
                    (i, _) => Ok(DIGESTS[i - 1].to_string()),
                }
            }
            Choice::Error(e) => Err(e),
            Choice::Garbage(i) => Ok(BAD_DIGESTS[i % BAD_DIGESTS.len()].to_string()),
            Choice::GarbageText(t) => Ok(t),
        }
    }

    fn json(&self, successes: Vec<Value>) -> Result<Value, HostError> {
        match self.choose() {
            Choice::Success(i) => Ok(successes[i % successes.len()].clone()),
            Choice::Error(e) => Err(e),
            Choice::Garbage(i) => {
                let bad = bad_json();
                Ok(bad[i % bad.len()].clone())
            }
            Choice::GarbageText(t) => Ok(serde_json::from_str(&t).unwrap_or(Value::String(t))),
        }
    }
}

impl Host for ScriptedHost<'_> {
    fn manifest_digest(&self, image: &str) -> Result<String, HostError> {
        self.digest(image)
    }

    fn verify_pub_key(&self, image: &str, _pem_key: &str) -> Result<String, HostError> {
        self.digest(image)
    }

    fn verify_keyless_exact(
        &self,
        image: &str,
        _issuer: &str,
        _subject: &str,
    ) -> Result<String, HostError> {
        self.digest(image)
    }

    fn verify_keyless_prefix(
        &self,
        image: &str,
        _issuer: &str,
        _url_prefix: &str,
    ) -> Result<String, HostError> {
        self.digest(image)
    }

    fn oci_manifest(&self, image: &str) -> Result<Value, HostError> {
        let sig = signature_manifest(&[ALICE]);
        let single = json!({"schemaVersion": 2, "config": {"digest": DIGESTS[2]}, "layers": []});
        let mut successes = vec![
            sig,
            single,
            multi_index(),
            signature_manifest(&[
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                ALICE,
            ]),
            signature_manifest(&[]),
        ];
        if !image.ends_with(".sig") {
            successes.swap(0, 2);
        }
        self.json(successes)
    }

    fn manifest_and_config(&self, _image: &str) -> Result<Value, HostError> {
        self.json(vec![
            config("amd64", None, "65532"),
            config("amd64", None, ""),
            config("arm", Some("v7"), "1000"),
            config("arm64", Some(""), "0"),
            json!({"manifest": {}, "digest": DIGESTS[0], "config": {"config": {}}}),
        ])
    }

    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Value, HostError> {
        let meta = json!({"name": name, "namespace": namespace});
        let secret = |data: Value| json!({"apiVersion": api_version, "kind": "Secret", "metadata": meta, "data": data});
        let cm = |data: Value| json!({"apiVersion": api_version, "kind": "ConfigMap", "metadata": meta, "data": data});
        let secrets = vec![
            secret(json!({"cosign.pub": K1_B64})),
            secret(json!({"cosign.pub": K2_B64})),
            secret(json!({"a": K1_B64, "b": K2_B64})),
            secret(json!({})),
            json!({"apiVersion": api_version, "kind": "Secret", "metadata": meta}),
        ];
        let configmaps = vec![
            cm(json!({"policy": "package sigstore\nisCompliant { input.image != \"bad:1\" }\n"})),
            cm(
                json!({"policy": "package sigstore\nisCompliant[r] {\n  r := {\"result\": true, \"error\": \"\", \"warning\": \"from a configmap\"}\n}\n"}),
            ),
            cm(json!({"policy": "package sigstore\ndefault isCompliant = false\n"})),
            cm(json!({"other": "x"})),
            json!({"apiVersion": api_version, "kind": "ConfigMap", "metadata": meta}),
        ];
        match kind {
            "Secret" => self.json(secrets),
            "ConfigMap" => self.json(configmaps),
            _ => self.json(secrets.into_iter().chain(configmaps).collect()),
        }
    }
}

/// The invariants every `validate` response must hold.
pub fn check_response(response: &ValidationResponse, payload: &[u8]) {
    let show = || String::from_utf8_lossy(payload).into_owned();
    if !response.accepted {
        assert!(
            response.message.as_deref().is_some_and(|m| !m.is_empty()),
            "a rejection without a message: {response:?}\npayload: {}",
            show()
        );
    }
    if response.mutated_object.is_some() {
        assert!(
            response.accepted,
            "a rejection with a mutated object: {response:?}\npayload: {}",
            show()
        );
    }
    serde_json::to_vec(response).expect("the response serialises");
}
