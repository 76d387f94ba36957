//! Times `validate_settings_payload` on settings files (or, with `--rego-brackets N…`, on a
//! Rego policy `package sigstore\np[[[…` of N nested brackets), without instrumentation:
//! `cargo run --release --example time_settings -- regressions/settings_json-…` (a `.yaml`
//! file is converted from YAML first, as `settings_yaml` does).

use std::time::Instant;

fn time(label: &str, payload: &[u8]) {
    let start = Instant::now();
    let result = cluster_image_policy::settings::validate_settings_payload(payload);
    let shown = match &result {
        Ok(()) => "valid".to_string(),
        Err(e) => e.chars().take(100).collect::<String>().replace('\n', " | "),
    };
    println!("{label}: {:?} {shown}", start.elapsed());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--rego-brackets") {
        for n in &args[1..] {
            let n: usize = n.parse().unwrap();
            let rego = format!("package sigstore\np{}", "[".repeat(n));
            let settings = serde_json::json!({"policies": [{"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                "metadata": {"name": "p"}, "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                "policy": {"type": "rego", "data": rego}}}]});
            time(&format!("{n} brackets"), settings.to_string().as_bytes());
        }
        return;
    }
    for path in args {
        let bytes = std::fs::read(&path).unwrap();
        if path.ends_with(".yaml") || path.ends_with(".yml") {
            // As settings_yaml does: YAML (yaml_serde) to JSON.
            let text = String::from_utf8_lossy(&bytes);
            match serde_yaml::from_str::<serde_json::Value>(&text) {
                Ok(value) => time(&path, value.to_string().as_bytes()),
                Err(e) => println!("{path}: not YAML: {e}"),
            }
        } else {
            time(&path, &bytes);
        }
    }
}
