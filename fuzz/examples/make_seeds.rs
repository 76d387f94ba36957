//! Writes the seed corpora of every target into `fuzz/corpus/<target>/` from test_data/, the
//! images and globs of README.md, e2e.bats and the src tests, and the dictionaries of
//! `cluster_image_policy_fuzz`. Run from `fuzz/`: `cargo run --example make_seeds`.
//! Existing files are kept; seeds are named `seed-<what>`.

use cluster_image_policy_fuzz::{Case, IMAGES, TEST_SETTINGS, combined_settings, settings_choices};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn files(dir: &str, ext: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(Path::new("..").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| ext.iter().any(|x| e == *x)))
        .collect();
    out.sort();
    out
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// A tiny deterministic generator for the structured-mode bodies.
struct XorShift(u64);
impl XorShift {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}

fn main() {
    // settings_json and settings_yaml.
    for (name, json) in TEST_SETTINGS {
        write("settings_json", name, json.as_bytes());
        write("settings_yaml", &format!("{name}-json"), json.as_bytes());
    }
    for no_match in ["deny", "warn", "allow"] {
        let s = serde_json::to_string_pretty(&combined_settings(no_match, true)).unwrap();
        write(
            "settings_json",
            &format!("combined-{no_match}"),
            s.as_bytes(),
        );
    }
    for (name, text) in [
        ("empty", ""),
        ("empty-object", "{}"),
        ("null", "null"),
        ("list", "[1]"),
    ] {
        write("settings_json", name, text.as_bytes());
        write("settings_yaml", name, text.as_bytes());
    }
    for path in files("test_data/settings", &["yaml", "yml"]) {
        write("settings_yaml", &stem(&path), &fs::read(&path).unwrap());
    }
    let cips = files("test_data/cips", &["yaml", "yml"]);
    let mut all_cips = Vec::new();
    for path in &cips {
        let text = fs::read_to_string(path).unwrap();
        let indented: String = text.lines().map(|l| format!("    {l}\n")).collect();
        let yaml = format!("policies:\n  -\n{indented}");
        write(
            "settings_yaml",
            &format!("cip-{}", stem(path)),
            yaml.as_bytes(),
        );
        let cip: Value = serde_yaml::from_str(&text).unwrap();
        write(
            "settings_json",
            &format!("cip-{}", stem(path)),
            json!({"policies": [cip]}).to_string().as_bytes(),
        );
        all_cips.push(cip);
    }
    write(
        "settings_json",
        "cips-all",
        json!({"noMatchPolicy": "warn", "policies": all_cips})
            .to_string()
            .as_bytes(),
    );

    // validate_request.
    let choices = settings_choices();
    let index = |name: &str| choices.iter().position(|(n, _)| n == name).unwrap();
    let scripts: [(&str, Vec<u8>); 6] = [
        ("ok", vec![]),
        ("ok-alt", vec![0, 2, 1, 3, 2, 1]),
        ("error", vec![3, 1, 3, 4, 3, 1]),
        (
            "error-text",
            vec![
                4, 12, b'C', b'a', b'l', b'l', b'b', b'a', b'c', b'k', b' ', b'e', b'v', b'a',
            ],
        ),
        ("garbage", vec![6, 3, 6, 7, 6, 11]),
        (
            "mixed",
            vec![0, 0, 3, 2, 6, 8, 1, 4, 5, 3, b'x', b'y', b'z'],
        ),
    ];
    let requests = files("test_data/requests", &["json"]);
    for path in &requests {
        let body = fs::read(path).unwrap();
        for (settings, script) in [
            ("combined-deny-true", 0),
            ("combined-warn-false", 5),
            ("combined-allow-true", 1),
            ("seed-step3", 2),
        ] {
            let (sname, sbytes) = &scripts[script];
            let data = Case::encode(0, index(settings), sbytes, &body);
            write(
                "validate_request",
                &format!("raw-{}-{settings}-{sname}", stem(path)),
                &data,
            );
        }
    }
    // pod.json with every dictionary image, on the combined settings.
    let pod: Value =
        serde_json::from_slice(&fs::read("../test_data/requests/pod.json").unwrap()).unwrap();
    for (i, image) in IMAGES.iter().enumerate() {
        let mut request = pod.clone();
        request["object"]["spec"]["containers"][0]["image"] = json!(image);
        let (sname, sbytes) = &scripts[i % scripts.len()];
        let body = serde_json::to_vec(&request).unwrap();
        let data = Case::encode(0, i % 2, sbytes, &body);
        write("validate_request", &format!("pod-image-{i}-{sname}"), &data);
    }
    // Every test settings file on a Pod with the images its tests use.
    for (i, (name, _)) in choices.iter().enumerate().skip(6) {
        let mut request = pod.clone();
        request["object"]["spec"]["containers"] = json!([
            {"name": "a", "image": "127.0.0.1:5000/demo/app:signed"},
            {"name": "b", "image": "cgr.dev/chainguard/nginx:latest"},
            {"name": "c", "image": "127.0.0.1:5000/keyless/app:v1"}]);
        let (sname, sbytes) = &scripts[i % scripts.len()];
        let body = serde_json::to_vec(&request).unwrap();
        write(
            "validate_request",
            &format!("settings-{name}-{sname}"),
            &Case::encode(0, i, sbytes, &body),
        );
    }
    // Structured mode.
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    for i in 0..64 {
        let script = rng.bytes(i % 24);
        let body = rng.bytes(16 + i * 3);
        write(
            "validate_request",
            &format!("structured-{i}"),
            &Case::encode(1, i % choices.len(), &script, &body),
        );
    }
    // Raw payload mode.
    let settings_text = &choices[0].1;
    for path in requests.iter().take(4) {
        let request = fs::read_to_string(path).unwrap();
        let payload = format!("{{\"request\": {request}, \"settings\": {settings_text}}}");
        write(
            "validate_request",
            &format!("payload-{}", stem(path)),
            &Case::encode(2, 0, &[], payload.as_bytes()),
        );
    }
    write("validate_request", "payload-no-settings", &Case::encode(2, 0, &[], br#"{"request": {"uid": "1", "operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}"#));

    // reference_and_glob: upstream's glob test vectors, admission vectors, reference tests.
    const H: &str = "sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350";
    let digest_image = format!("ghcr.io/foo@{H}");
    let pairs: Vec<(&str, String)> = vec![
        ("index.docker.io/library/foo:latest", "foo".into()),
        ("index.docker.io/library/foo:*", "foo".into()),
        ("index.docker.io/library/*", "foo".into()),
        ("index.docker.io/library/*:latest", "foo".into()),
        ("index.docker.io/*/*", "myuser/myapp".into()),
        ("index.docker.io/**", "myuser/myapp".into()),
        ("index.docker.**", "foo".into()),
        ("inde**", "myuser/myapp".into()),
        ("**", "foo".into()),
        ("foo*", "foo".into()),
        ("foo**", "foo".into()),
        ("myuser/myapp**", "myuser/myapp".into()),
        ("ghcr.io/*/*", "ghcr.io/foo/bar".into()),
        ("ghcr.io/**", "ghcr.io/foo".into()),
        ("*/**", "ghcr.io/foo".into()),
        ("ghcr.io/foo", "prefix-ghcr.io/foo".into()),
        ("ghcr.io/foo", "ghcr.io/foo-suffix".into()),
        ("ghcr.io/**", "ghcrxio/foo".into()),
        ("**", "invalid&name".into()),
        (".+", "invalid-glob".into()),
        ("[a-z]*", "invalid-glob".into()),
        ("*", "foo".into()),
        ("*/*", "myuser/myapp".into()),
        ("ghcr.io/foo@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350", digest_image.clone()),
        ("ghcr.io/foo:**", format!("ghcr.io/foo:v1@{H}")),
        ("index.docker.io/library/nginx:latest", format!("nginx:latest@{H}")),
        ("nginx*", format!("nginx@{H}")),
        ("docker.io/**", format!("docker.io/library/nginx@{H}")),
        ("localhost:5000/**", format!("localhost:5000/app@{H}")),
        ("index.docker.io/localhost/**", format!("localhost/app@{H}")),
        ("**demo**", "registry.local:5000/demo-abc@sha256:0000000000000000000000000000000000000000000000000000000000000000".into()),
        ("ghcr.io/org/app:v1*", "ghcr.io/org/app:v1.2".into()),
        ("ghcr.io/**/app:*", "ghcr.io/x/app:latest".into()),
        ("a***", "a/b/c".into()),
        ("GHCR.io/org/*", "ghcr.io/org/app:latest".into()),
        ("cgr.dev/chainguard/**", "cgr.dev/chainguard/nginx:latest".into()),
        ("127.0.0.1:5000/**", "127.0.0.1:5000/demo/app:signed".into()),
        ("[", "nginx".into()),
        ("a\\", "nginx".into()),
        ("$FOO*", "nginx".into()),
        ("{a,b}", "a".into()),
        ("ap?", "app".into()),
        ("", "".into()),
        ("**", "NGINX".into()),
        ("**", "a:b:c:d".into()),
        ("**", "ghcr.io/foo@sha256:abc".into()),
        ("**", format!("ghcr.io/foo@sha256:{}", "A".repeat(64))),
        ("**", "docker.io/bitnami/redis:7".into()),
        ("**", "localhost/app".into()),
        ("**", format!("localhost:5000/a/b:v1@{H}")),
        ("[^a]x", "ax".into()),
        ("[]a]", "a".into()),
        ("\\*", "*".into()),
    ];
    for (i, (glob, image)) in pairs.iter().enumerate() {
        write(
            "reference_and_glob",
            &format!("pair-{i}"),
            format!("{glob}\n{image}").as_bytes(),
        );
    }
    for (i, image) in IMAGES.iter().enumerate() {
        write(
            "reference_and_glob",
            &format!("image-{i}"),
            format!("index.docker.io/library/*\n{image}").as_bytes(),
        );
    }
    println!("seeds written under fuzz/corpus/");
}
