//! Tests of [`super::check::InputReads`]: which fields of `input` a policy can read, decided by
//! [`RegoPolicy::compile`]. A policy judged not to read `input.spec` is evaluated without it,
//! so every way Rego has of reaching a field must count as reading it.

use super::RegoPolicy;
use serde_json::json;

fn reads_spec(source: &str) -> bool {
    RegoPolicy::compile(source, 1000)
        .unwrap_or_else(|e| panic!("{source}\n{e}"))
        .reads_input("spec")
}

/// Policies that never read `input.spec`.
const WITHOUT_SPEC: [&str; 9] = [
    "package sigstore\ndefault isCompliant = false\nisCompliant {\n  parts := split(input.image, \":\")\n  count(parts) == 2\n  parts[1] != \"latest\"\n}\n",
    "package sigstore\nisCompliant { input[\"image\"] != \"a\" }\n",
    "package sigstore\nimport input.image as img\nisCompliant { img != \"a\" }\n",
    "package sigstore\nisCompliant { count([n | input.authorityMatches[n]]) > 0 }\n",
    "package sigstore\nisCompliant { not input.specs }\n",
    "package sigstore\nisCompliant { input.imageAsWritten == input.image }\n",
    "package sigstore\nisCompliant { x := \"spec\"; x != input.image }\n",
    "package sigstore\nimport rego.v1\nisCompliant if { every m in input.authorityMatches { m.static } }\n",
    "package sigstore\nisCompliant { input.metadata.labels.app == \"web\" }\n",
];

#[test]
fn policies_that_read_only_other_fields() {
    for source in WITHOUT_SPEC {
        assert!(!reads_spec(source), "{source}");
    }
    let p = RegoPolicy::compile(WITHOUT_SPEC[8], 1000).unwrap();
    assert!(p.reads_input("metadata") && !p.reads_input("image"));
}

/// Every spelling that reaches `input.spec`, directly or through something that can.
#[test]
fn every_way_to_reach_the_spec_counts() {
    let reaching = [
        "isCompliant { input.spec.replicas > 1 }",
        "isCompliant { input[\"spec\"].replicas > 1 }",
        "isCompliant { input[\"sp\\u0065c\"].replicas > 1 }",
        "isCompliant { input[`spec`].replicas > 1 }",
        "isCompliant { k := \"spec\"; input[k].replicas > 1 }",
        "isCompliant { input[_].replicas > 1 }",
        "isCompliant { x := input; x.spec.replicas > 1 }",
        "isCompliant { object.get(input, \"spec\", {}).replicas > 1 }",
        "isCompliant { object.keys(input)[_] == \"spec\" }",
        "isCompliant { json.marshal(input) != \"\" }",
        "isCompliant { f(input) }\nf(x) { x.spec.replicas > 1 }",
        "isCompliant { f(input.spec) }\nf(x) { x.replicas > 1 }",
        "isCompliant { allow with input as {\"spec\": 1} }\nallow { input.spec }",
        "isCompliant { allow with input.spec as 1 }\nallow { true }",
        "isCompliant = input.spec.replicas",
        "isCompliant[x] { x := input.spec }",
        "isCompliant := {\"a\": input.spec}",
        "isCompliant = true { false } else = x { x := input.spec }",
        "isCompliant { count([x | x := input.spec.template]) > 0 }",
        "isCompliant { not input.spec }",
        "isCompliant { input.spec[_] }",
        "isCompliant { some k; input.spec[k] }",
        "isCompliant { some input; input == 1 }",
        "isCompliant { input == {} }",
        "isCompliant { print(input) }",
        "import input\nisCompliant { input.spec }",
        "import input.spec as s\nisCompliant { s.replicas > 1 }",
        "import input as i\nisCompliant { i.spec }",
        "import rego.v1\nisCompliant if \"spec\" in object.keys(input)",
        "import rego.v1\nisCompliant if { some x in input; x }",
        "import rego.v1\nisCompliant if { every input in [1] { input == 1 } }",
        "pod := input.spec.template.spec\nisCompliant { pod.securityContext.runAsNonRoot }",
        "default isCompliant = false\nisCompliant { data.sigstore.helper }\nhelper { input.spec }",
    ];
    for body in reaching {
        let source = format!("package sigstore\n{body}\n");
        match RegoPolicy::compile(&source, 1000) {
            Ok(p) => assert!(p.reads_input("spec"), "{source}"),
            // A policy the checks refuse is never evaluated.
            Err(e) => panic!("{source}\n{e}"),
        }
    }
}

/// A policy judged not to read `input.spec` decides the same with and without it.
#[test]
fn without_the_spec_the_verdict_is_the_same() {
    let spec = json!({"replicas": 3, "template": {"spec": {"containers": [{"image": "a"}]}}});
    for source in WITHOUT_SPEC {
        let p = RegoPolicy::compile(source, 1000).unwrap();
        for image in ["cgr.dev/chainguard/nginx:latest", "a:1", "a"] {
            let base = json!({"image": image, "imageAsWritten": image,
                "authorityMatches": {"authority-0": {"static": true}},
                "metadata": {"labels": {"app": "web"}}});
            let mut with_spec = base.clone();
            with_spec["spec"] = spec.clone();
            assert_eq!(
                p.evaluate(&base),
                p.evaluate(&with_spec),
                "{source}\n{image}"
            );
        }
    }
}

/// A policy that was not checked (regorus alone) is taken to read everything.
#[test]
fn an_unchecked_policy_reads_everything() {
    let p = RegoPolicy::parse(WITHOUT_SPEC[0], 1000).unwrap();
    assert!(p.reads_input("spec"));
}
