//! Tests of [`super::check`] through [`RegoPolicy::compile`], the path settings validation and
//! the ConfigMap path take.

use super::{Compliant, RegoPolicy};
use serde_json::json;

/// The problems `compile` reports for `source` (empty: it compiles).
fn problems(source: &str) -> Vec<String> {
    match RegoPolicy::compile(source, 1000) {
        Ok(_) => Vec::new(),
        Err(e) => e.lines().map(String::from).collect(),
    }
}

/// `line:col` of the first `needle` in `source` (1-based, as regorus counts).
fn pos(source: &str, needle: &str) -> String {
    let at = source.find(needle).unwrap();
    let line = source[..at].matches('\n').count() + 1;
    let col = at - source[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("{line}:{col}")
}

fn image(i: &str) -> serde_json::Value {
    json!({"image": i, "authorityMatches": {"authority-0": {"static": true}}})
}

const KEYWORD: &str = "is a Rego v1 keyword, but the policy is parsed as Rego v0 (as policy-controller does), where without its import it is a plain name, so the policy does not mean what it says; add `import rego.v1` (for Rego v1 syntax), or write Rego v0";

/// The policy of issue 10: Rego v1 without `import rego.v1`.
const V1_WITHOUT_IMPORT: &str = "package sigstore\ndefault isCompliant := false\nisCompliant if {\n  not endswith(input.image, \":latest\")\n}\n";

#[test]
fn v1_syntax_without_the_import_is_refused() {
    assert_eq!(
        problems(V1_WITHOUT_IMPORT),
        vec![format!("sigstore.rego:3:13: `if` {KEYWORD}")]
    );
    // What regorus alone makes of it: `isCompliant` (true) and a rule named `if`, so the image
    // the policy means to deny is admitted.
    let misread = RegoPolicy::parse(V1_WITHOUT_IMPORT, 1000).unwrap();
    assert_eq!(
        misread.evaluate(&image("cgr.dev/chainguard/nginx:latest")),
        Ok(Compliant { warning: None })
    );
}

/// Through settings validation: the error names the CIP, `spec.policy.data` and the fix.
#[test]
fn settings_validation_names_spec_policy_data() {
    let settings = json!({"policies": [{
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
        "metadata": {"name": "disallow-latest-v1"},
        "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}],
                 "policy": {"type": "rego", "data": V1_WITHOUT_IMPORT}}
    }]});
    let settings = crate::settings::Settings::from_json(settings.to_string().as_bytes()).unwrap();
    assert_eq!(
        settings.validate(),
        Err(vec![format!(
            "policies[0] (disallow-latest-v1): invalid rego policy: spec.policy.data\nsigstore.rego:3:13: `if` {KEYWORD}"
        )])
    );
}

#[test]
fn v1_syntax_with_its_import_is_evaluated_as_written() {
    for import in [
        "import rego.v1",
        "import future.keywords",
        "import future.keywords.if",
    ] {
        let source = V1_WITHOUT_IMPORT.replacen('\n', &format!("\n{import}\n"), 1);
        let p = RegoPolicy::compile(&source, 1000).unwrap();
        assert_eq!(
            p.evaluate(&image("cgr.dev/chainguard/nginx:latest")),
            Err(
                "policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
                    .into()
            ),
            "{import}"
        );
        assert_eq!(
            p.evaluate(&image("cgr.dev/chainguard/nginx:latest-dev")),
            Ok(Compliant { warning: None }),
            "{import}"
        );
    }
    let set = RegoPolicy::compile(
        "package sigstore\nimport rego.v1\nisCompliant contains r if {\n  some m in object.keys(input.authorityMatches)\n  every k in [m] { startswith(k, \"authority-\") }\n  r := {\"result\": true, \"error\": \"\", \"warning\": \"\"}\n}\n",
        1000,
    )
    .unwrap();
    assert_eq!(set.evaluate(&image("a:1")), Ok(Compliant { warning: None }));
    assert!(set.evaluate(&json!({"authorityMatches": {}})).is_err());
}

/// Every spelling of a v1 keyword used as a name without its import.
#[test]
fn every_keyword_used_as_a_name_is_refused() {
    let at = |pos: &str, word: &str| vec![format!("sigstore.rego:{pos}: `{word}` {KEYWORD}")];
    for (source, expected) in [
        (
            "package sigstore\nisCompliant if input.ok\n",
            at("2:13", "if"),
        ),
        // Other spellings: a tab (regorus counts it as 4 columns), a comment, a line break, a
        // partial head, an `else`.
        (
            "package sigstore\nisCompliant\tif{ true }\n",
            at("2:16", "if"),
        ),
        (
            "package sigstore\nisCompliant # why not\n  if { true }\n",
            at("3:3", "if"),
        ),
        (
            "package sigstore\nisCompliant\nif { true }\n",
            at("3:1", "if"),
        ),
        (
            "package sigstore\nisCompliant[x] if { x := 1 }\n",
            at("2:16", "if"),
        ),
        (
            "package sigstore\nisCompliant { true } else = false if { true }\n",
            at("2:35", "if"),
        ),
        (
            "package sigstore\nisCompliant = true if { input.ok }\n",
            at("2:20", "if"),
        ),
        (
            "package sigstore\nisCompliant := true if input.ok\n",
            at("2:21", "if"),
        ),
        ("package sigstore\nif { true }\nisCompliant { if }\n", {
            let mut v = at("2:1", "if");
            v.extend(at("3:15", "if"));
            v
        }),
        (
            "package sigstore\nisCompliant { in := 1; in == 1 }\n",
            vec![
                format!("sigstore.rego:2:15: `in` {KEYWORD}"),
                format!("sigstore.rego:2:24: `in` {KEYWORD}"),
            ],
        ),
        (
            "package sigstore\nisCompliant { some every; every = 1 }\n",
            vec![
                format!("sigstore.rego:2:20: `every` {KEYWORD}"),
                format!("sigstore.rego:2:27: `every` {KEYWORD}"),
            ],
        ),
        (
            "package sigstore\nisCompliant { x := {\"a\": 1}; contains := x }\n",
            at("2:30", "contains"),
        ),
        (
            "package sigstore\nimport data.sigstore.lib as in\nisCompliant { true }\n",
            at("2:29", "in"),
        ),
        (
            "package sigstore\nf(every) { every }\nisCompliant { f(true) }\n",
            vec![
                format!("sigstore.rego:2:3: `every` {KEYWORD}"),
                format!("sigstore.rego:2:12: `every` {KEYWORD}"),
            ],
        ),
    ] {
        assert_eq!(problems(source), expected, "{source}");
    }
}

/// regorus reads `p contains x` as a set rule even without the import; OPA v0 does not.
#[test]
fn contains_rule_heads_need_the_import() {
    let message = "a `contains` rule head needs `import rego.v1` (or `import future.keywords.contains`) in Rego v0, which policy-controller parses the policy as (OPA: `var cannot be used for rule name`); add `import rego.v1` (for Rego v1 syntax), or write Rego v0 (`isCompliant[x] { … }`)";
    assert_eq!(
        problems("package sigstore\nisCompliant contains r {\n  r := {\"result\": true}\n}\n"),
        vec![format!("sigstore.rego:2:1: {message}")]
    );
    assert_eq!(
        problems(
            "package sigstore\nimport future.keywords.if\nisCompliant contains r if {\n  r := {\"result\": true}\n}\n"
        ),
        vec![format!("sigstore.rego:3:1: {message}")]
    );
    // Other spellings of the same head: a comment or a line break after `contains`.
    for source in [
        "package sigstore\nisCompliant contains  # the results\n  r { r := {\"result\": true} }\n",
        "package sigstore\nisCompliant\tcontains\nr { r := {\"result\": true} }\n",
    ] {
        assert_eq!(
            problems(source),
            vec![format!("sigstore.rego:2:1: {message}")],
            "{source}"
        );
    }
    for import in [
        "import future.keywords.contains",
        "import future.keywords",
        "import rego.v1",
    ] {
        let body = if import == "import future.keywords.contains" {
            "{"
        } else {
            "if {"
        };
        let source = format!(
            "package sigstore\n{import}\nisCompliant contains r {body}\n  r := {{\"result\": true}}\n}}\n"
        );
        assert_eq!(problems(&source), Vec::<String>::new(), "{source}");
        assert!(
            RegoPolicy::compile(&source, 1000)
                .unwrap()
                .evaluate(&json!({}))
                .is_ok()
        );
    }
}

/// The v0 uses of those words that mean what they say.
#[test]
fn v0_policies_using_the_words_legitimately_pass() {
    for source in [
        "package sigstore\nisCompliant { contains(input.image, \"@sha256:\") }\n",
        "package sigstore\nisCompliant { x := {\"if\": 1, \"in\": 2}; x.if == 1; x[\"in\"] == 2 }\n",
        "package sigstore\nimport future.keywords.in\nisCompliant { \"a\" in input.list }\n",
        "package sigstore\nimport future.keywords.every\nisCompliant { every x in input.list { x } }\n",
        "package sigstore\nisCompliant[r] { r := {\"result\": contains(input.image, \"x\")} }\n",
        "package sigstore\nimport future.keywords.if\nisCompliant if contains(input.image, \"x\")\n",
        // OPA v0 reads a bare `a.b.c` as `a.b.c = true` and a bare `f(x)` as a function.
        "package sigstore\na.b.c\nf(x)\nisCompliant { a.b.c; f(1) }\n",
    ] {
        assert_eq!(problems(source), Vec::<String>::new(), "{source}");
    }
}

#[test]
fn a_rule_without_value_or_body_is_refused() {
    assert_eq!(
        problems("package sigstore\nisCompliant\n"),
        vec![
            "sigstore.rego:2:1: the rule `isCompliant` has neither a value nor a body (OPA rejects it: `var cannot be used for rule name`); write `isCompliant = true`, or give it a body"
                .to_string()
        ]
    );
    // regorus alone makes it `true`: every image admitted.
    assert!(
        RegoPolicy::parse("package sigstore\nisCompliant\n", 1000)
            .unwrap()
            .evaluate(&json!({}))
            .is_ok()
    );
}

#[test]
fn only_package_sigstore_with_is_compliant_can_pass() {
    let wrong = |pos: &str, package: &str| {
        vec![format!(
            "sigstore.rego:{pos}: the package is `{package}`: the policy must be `package sigstore`, since it is queried with `isCompliant = data.sigstore.isCompliant` (as policy-controller does), which no other package defines"
        )]
    };
    assert_eq!(
        problems("package foo\nisCompliant = true\n"),
        wrong("1:9", "foo")
    );
    assert_eq!(
        problems("package sigstore.foo\nisCompliant = true\n"),
        wrong("1:9", "sigstore.foo")
    );
    assert_eq!(
        problems("package  sigstore[\"x\"]\nisCompliant = true\n"),
        wrong("1:10", "sigstore[\"x\"]")
    );
    let none = "sigstore.rego:1:9: the policy defines no `isCompliant` rule, so it would deny every image (the query is `isCompliant = data.sigstore.isCompliant`)";
    assert_eq!(problems("package sigstore\nallow = true\n"), vec![none]);
    assert_eq!(problems("package sigstore\n"), vec![none]);
    assert_eq!(
        problems("package sigstore\nisCompliant_x = true\n"),
        vec![none]
    );
    // Defined through a reference head: regorus evaluates it (an object: never compliant, but
    // what the policy says).
    assert_eq!(
        problems("package sigstore\nisCompliant.x := true\n"),
        Vec::<String>::new()
    );
    // Several packages, or none: regorus refuses to parse them (OPA too: `unexpected package`,
    // `empty module`).
    for (source, error) in [
        (
            "package sigstore\npackage foo\nisCompliant = true\n",
            "error: unexpected keyword `package`",
        ),
        (
            "",
            "error: expecting `package` Missing package declaration.",
        ),
        (
            "# a comment only\n",
            "error: expecting `package` Missing package declaration.",
        ),
        (
            "isCompliant = true\n",
            "error: expecting `package` Missing package declaration.",
        ),
    ] {
        let e = RegoPolicy::compile(source, 1000).err().unwrap();
        assert!(e.contains(error), "{source:?}: {e}");
        assert!(e.contains("sigstore.rego:"), "{source:?}: {e}");
    }
}

fn unavailable(pos: &str, name: &str, reason: &str) -> String {
    format!(
        "sigstore.rego:{pos}: `{name}` cannot be called here: {reason}; every evaluation that reaches it would fail with `could not find function {name}`. The README's Rego section lists the builtins available"
    )
}

const CRYPTO: &str = "regorus has no cryptographic builtins";
const UNKNOWN: &str = "it is neither a function of the policy nor a builtin of this module's Rego engine (regorus 0.14.1)";

/// A call counts wherever it is: in rules never taken, functions never called, `else`
/// branches, comprehensions, `not`, `every`, `with`, rule values and keys.
#[test]
fn unavailable_builtins_are_found_everywhere() {
    for source in [
        "package sigstore\nisCompliant { input.never; crypto.sha256(\"x\") == \"y\" }\nisCompliant { true }\n",
        "package sigstore\nunused(x) = y { y := crypto.sha256(x) }\nisCompliant { true }\n",
        "package sigstore\nisCompliant = false { input.a } else = true { crypto.sha256(\"x\") }\n",
        "package sigstore\nisCompliant { count([h | h := crypto.sha256(input.list[_])]) > 0 }\n",
        "package sigstore\nisCompliant { not crypto.sha256(input.image) == \"\" }\n",
        "package sigstore\nimport future.keywords.every\nisCompliant { every x in input.l { crypto.sha256(x) } }\n",
        "package sigstore\nisCompliant { f(1) with input as {\"h\": crypto.sha256(\"x\")} }\nf(x) { x }\n",
        "package sigstore\nisCompliant := crypto.sha256(\"x\") == \"y\"\n",
        "package sigstore\nisCompliant[{\"result\": crypto.sha256(\"x\") == \"\"}] { true }\n",
        "package sigstore\nisCompliant { x := {crypto.sha256(\"k\"): 1}; x }\n",
        "package sigstore\nisCompliant { count(crypto.sha256(\"x\")) > 0 }\n",
    ] {
        assert_eq!(
            problems(source),
            vec![unavailable(
                &pos(source, "crypto.sha256"),
                "crypto.sha256",
                CRYPTO
            )],
            "{source}"
        );
    }
}

#[test]
fn unavailable_builtins_are_named_once_each_in_source_order() {
    let source = "package sigstore\nisCompliant {\n  resp := http.send({\"method\": \"get\", \"url\": \"https://example.com\"})\n  certs := crypto.x509.parse_certificates(input.pem)\n  io.jwt.decode(input.jwt)\n  walk(input, [p, v])\n  net.cidr_contains(\"10.0.0.0/8\", \"10.1.2.3\")\n  uuid.rfc4122(\"x\")\n  opa.runtime()\n  yaml.unmarshal(\"a: 1\")\n  json.match_schema(input, {})\n  my_helper(1)\n  crypto.sha256(\"again\")\n  http.send({})\n}\n";
    assert_eq!(
        problems(source),
        vec![
            unavailable(
                "3:11",
                "http.send",
                "the module has no network access (regorus provides `http.send` only as a stub that returns undefined)"
            ),
            unavailable("4:12", "crypto.x509.parse_certificates", CRYPTO),
            unavailable(
                "5:3",
                "io.jwt.decode",
                "regorus has no JWT builtins (they need cryptography)"
            ),
            unavailable(
                "6:3",
                "walk",
                "regorus' `graph` builtins are not built into this module"
            ),
            unavailable(
                "7:3",
                "net.cidr_contains",
                "regorus' `net` builtins are not built into this module"
            ),
            unavailable(
                "8:3",
                "uuid.rfc4122",
                "regorus' `uuid` builtins are not built into this module"
            ),
            unavailable(
                "9:3",
                "opa.runtime",
                "the module is not an OPA runtime (regorus' `opa-runtime` builtin is not built in)"
            ),
            unavailable(
                "10:3",
                "yaml.unmarshal",
                "regorus' `yaml` builtins are not built into this module"
            ),
            unavailable(
                "11:3",
                "json.match_schema",
                "regorus' JSON Schema builtins are not built into this module"
            ),
            unavailable("12:3", "my_helper", UNKNOWN),
            unavailable("13:3", "crypto.sha256", CRYPTO),
        ]
    );
    // Without the check, regorus reports them only when an evaluation reaches one.
    let unchecked = RegoPolicy::parse(
        "package sigstore\nisCompliant { input.never; crypto.sha256(\"x\") }\nisCompliant { true }\n",
        1000,
    )
    .unwrap();
    assert!(unchecked.evaluate(&json!({})).is_ok());
    let e = unchecked.evaluate(&json!({"never": true})).unwrap_err();
    assert!(e.contains("could not find function crypto.sha256"), "{e}");
}

/// The policy's own functions (relative, absolute, through an import, `default`) and the
/// available builtins are fine; another package's functions are not.
#[test]
fn the_policys_own_functions_and_available_builtins_pass() {
    let source = "package sigstore\nimport data.sigstore as me\nimport data.sigstore.lib\ncrypto.sha256(x) := concat(\"\", [\"h\", x])\nlib.digest(x) := crypto.sha256(x)\ndefault fallback(_) := false\ntwice(x) := y { y := x * 2 }\nisCompliant {\n  crypto.sha256(\"a\") == \"ha\"\n  data.sigstore.twice(2) == 4\n  me.twice(1) == 2\n  lib.digest(\"b\") == \"hb\"\n  not fallback(1)\n  print(\"checked\", input.image)\n  trace(\"t\")\n  time.now_ns() > time.parse_rfc3339_ns(\"2020-01-01T00:00:00Z\")\n  regex.match(\"^a\", \"ab\")\n  glob.match(\"a*\", [], \"ab\")\n  semver.compare(\"1.0.0\", \"1.0.1\") == -1\n  base64.encode(\"x\") == \"eA==\"\n  units.parse_bytes(\"1Ki\") == 1024\n}\n";
    assert_eq!(problems(source), Vec::<String>::new());
    assert_eq!(
        RegoPolicy::compile(source, 1000)
            .unwrap()
            .evaluate(&image("a:1")),
        Ok(Compliant { warning: None })
    );
    assert_eq!(
        problems("package sigstore\nisCompliant { data.other.f(1); data.sigstore.g(2) }\n"),
        vec![
            unavailable("2:15", "data.other.f", UNKNOWN),
            unavailable("2:32", "data.sigstore.g", UNKNOWN),
        ]
    );
    assert_eq!(
        problems("package sigstore\nisCompliant { __builtin_sets.union({1}, {2}) }\n"),
        vec![unavailable(
            "2:15",
            "__builtin_sets.union",
            "it is an internal helper of regorus, not a Rego builtin"
        )]
    );
}

/// The time builtins (regorus' `time` feature) evaluate, as Chainguard's image-age policies
/// use them.
#[test]
fn time_builtins_evaluate() {
    let p = RegoPolicy::compile(
        "package sigstore\nmax_age := 30 * 24 * 60 * 60 * 1000 * 1000 * 1000\nisCompliant[r] {\n  created := time.parse_rfc3339_ns(input.created)\n  r := {\"result\": time.now_ns() < created + max_age, \"error\": \"too old\"}\n}\n",
        1000,
    )
    .unwrap();
    assert!(
        p.evaluate(&json!({"created": "2250-01-01T00:00:00Z"}))
            .is_ok()
    );
    assert_eq!(
        p.evaluate(&json!({"created": "2020-01-01T00:00:00Z"})),
        Err("policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: too old".into())
    );
    let e = p.evaluate(&json!({"created": "yesterday"})).unwrap_err();
    assert!(e.contains("Failed to parse datetime"), "{e}");
}

/// All problems at once, in source order.
#[test]
fn every_problem_is_reported() {
    assert_eq!(
        problems("package foo\nisCompliant if { crypto.md5(\"x\") }\n"),
        vec![
            "sigstore.rego:1:9: the package is `foo`: the policy must be `package sigstore`, since it is queried with `isCompliant = data.sigstore.isCompliant` (as policy-controller does), which no other package defines".to_string(),
            format!("sigstore.rego:2:13: `if` {KEYWORD}"),
            unavailable("2:18", "crypto.md5", CRYPTO),
        ]
    );
}

/// Long references are walked (the walk keeps its own stack; regorus bounds the nesting of
/// expressions itself: a sum of 2000 terms is its parse error).
#[test]
fn long_expressions_are_walked_or_refused_by_the_parser() {
    let chain = vec!["a"; 30].join(".");
    let source =
        format!("package sigstore\nisCompliant {{ input.{chain}; crypto.sha256(\"x\") }}\n");
    assert_eq!(
        problems(&source),
        vec![unavailable(
            &pos(&source, "crypto"),
            "crypto.sha256",
            CRYPTO
        )]
    );
    let sum = vec!["1"; 2000].join(" + ");
    let source = format!("package sigstore\nisCompliant {{ {sum} > 0 }}\n");
    let e = RegoPolicy::compile(&source, 1000).err().unwrap();
    assert!(e.contains("error: expecting }"), "{e}");
}

/// Settings validation also has regorus prepare the policy: an unsafe variable would fail every
/// evaluation, so it is a settings error; at admission it is reported by the evaluation.
#[test]
fn validation_prepares_the_policy() {
    let unsafe_var = "package sigstore\nisCompliant { x > 1 }\n";
    let e = RegoPolicy::validate(unsafe_var, 1000).unwrap_err();
    assert!(e.contains("--> sigstore.rego:2:15"), "{e}");
    assert!(
        e.ends_with("error: use of undefined variable `x` is unsafe"),
        "{e}"
    );
    let compiled = RegoPolicy::compile(unsafe_var, 1000).unwrap();
    assert_eq!(compiled.evaluate(&json!({})).unwrap_err(), e);
    assert_eq!(
        RegoPolicy::validate(V1_WITHOUT_IMPORT, 1000).unwrap_err(),
        format!("sigstore.rego:3:13: `if` {KEYWORD}")
    );
    for fine in [
        "package sigstore\nisCompliant.x := true\n",
        "package sigstore\nisCompliant { a }\na { input.ok }\n",
    ] {
        assert_eq!(RegoPolicy::validate(fine, 1000), Ok(()), "{fine}");
    }
}

const RECURSION: &str = "(OPA refuses recursive rules and functions, `rego_recursion_error`; evaluating one would exhaust the module's stack)";

/// Review finding: a recursive function passed validation, then overflowed the module's stack
/// at admission (a trap: the host answered 500). OPA refuses recursion at compile time.
#[test]
fn recursion_is_refused() {
    let direct = "package sigstore\nf(x) = y { y := f(x) }\nisCompliant { f(1) }\n";
    assert_eq!(
        problems(direct),
        vec![format!("sigstore.rego:2:1: recursion: f -> f {RECURSION}")]
    );
    let mutual = "package sigstore\nisCompliant { p }\np { q }\nq { input.x; p }\n";
    assert_eq!(
        problems(mutual),
        vec![format!(
            "sigstore.rego:3:1: recursion: p -> q -> p {RECURSION}"
        )]
    );
    // Behind a branch only some inputs take, and through the package's path.
    let hidden = "package sigstore\ndefault isCompliant = false\nisCompliant { input.image == \"x\"; g(1) }\nisCompliant { input.image != \"x\" }\ng(n) = m { m := data.sigstore.g(n) }\n";
    assert_eq!(
        problems(hidden),
        vec![format!("sigstore.rego:5:1: recursion: g -> g {RECURSION}")]
    );
    let comprehension =
        "package sigstore\nxs[x] { x := [y | y := xs[_]][_] }\nisCompliant { count(xs) == 0 }\n";
    assert_eq!(
        problems(comprehension).len(),
        1,
        "{:?}",
        problems(comprehension)
    );
}

/// Helpers referring to other rules, defaults and incremental definitions are not recursion.
#[test]
fn rules_referring_to_other_rules_pass() {
    for source in [
        "package sigstore\nimage := input.image\nbad { endswith(image, \":latest\") }\ndefault isCompliant = false\nisCompliant { not bad }\n",
        "package sigstore\nf(x) = y { y := g(x) + 1 }\ng(x) = x\nisCompliant { f(1) == 2 }\n",
        "package sigstore\nok[x] { x := 1 }\nok[x] { x := 2 }\nisCompliant { count(ok) == 2 }\n",
        "package sigstore\nisCompliant = true { input.a } else = false\n",
    ] {
        assert_eq!(problems(source), Vec::<String>::new(), "{source}");
    }
}

/// Review finding: `sprintf("%²d", [1])` passed validation and panicked in regorus at
/// admission (its width parser takes any Unicode numeric character, then expects an ASCII
/// digit). Literal formats that would panic are refused.
#[test]
fn sprintf_formats_that_panic_regorus_are_refused() {
    let policy = |format: &str| {
        format!("package sigstore\nisCompliant {{ sprintf({format:?}, [1]) != \"\" }}\n")
    };
    let superscript = policy("%\u{b2}d");
    assert_eq!(
        problems(&superscript),
        vec![format!(
            "sigstore.rego:{}: the sprintf format has the character '\u{b2}' in a width: regorus would panic reading it as a digit; use ASCII digits",
            pos(&superscript, "%")
        )]
    );
    assert_eq!(problems(&policy("%1234567d")).len(), 1);
    for fine in ["%d", "%5d", "%05.2f", "%%\u{b2}", "%v \u{661}", "%.3s"] {
        let source = policy(fine);
        assert_eq!(problems(&source), Vec::<String>::new(), "{fine}");
        // Evaluated without a panic (compliant or not is regorus' business).
        let p = RegoPolicy::compile(&source, 1000).unwrap();
        let _ = p.evaluate(&image("a"));
    }
}

/// Fuzz finding (`settings_json`): `numbers.range(2, 207700000000.0…)` passed validation and
/// aborted the module at evaluation (regorus reserves the whole range first: 5 TB).
#[test]
fn literal_ranges_too_large_for_the_module_are_refused() {
    let policy =
        |call: &str| format!("package sigstore\nisCompliant {{\n  count({call}) > 0\n}}\n");
    let huge = policy("numbers.range(2, 207700000000.000000000000000000000000000001084450811)");
    assert_eq!(
        problems(&huge),
        vec![format!(
            "sigstore.rego:{}: this range has more than 10000000 elements: regorus reserves it whole before the first one, and would exhaust the module's memory (a trap, not a rejection); use a smaller range",
            pos(&huge, "numbers")
        )]
    );
    assert_eq!(problems(&policy("numbers.range(10000001, 0)")).len(), 1);
    assert_eq!(problems(&policy("numbers.range_step(0, 1e12, 1)")).len(), 1);
    // A step other than a positive integer is regorus' own error (`step must be a positive
    // integer`), not a trap: left to it.
    assert_eq!(
        problems(&policy("numbers.range_step(0, 10, 0)")),
        Vec::<String>::new()
    );
    for fine in [
        "numbers.range(1, 10000001)",
        "numbers.range(1, 1000)",
        "numbers.range(1, count(input.spec))",
        "numbers.range_step(0, 10, 2)",
        "numbers.range_step(0, 1e12, 1000000)",
    ] {
        let source = policy(fine);
        assert_eq!(problems(&source), Vec::<String>::new(), "{fine}");
    }
}

/// Review finding: `regex.match` with a wrong number of arguments passed the checks and failed
/// at evaluation in regorus' extension words (`incorrect number of parameters supplied to
/// extension`), not the builtin's.
#[test]
fn regex_match_with_a_wrong_number_of_arguments_is_refused() {
    let policy = |body: &str| format!("package sigstore\nisCompliant {{\n  {body}\n}}\n");
    for (body, given) in [
        (r#"regex.match("a")"#, 1),
        (r#"not regex.match("a", "a", "b", "c")"#, 4),
        ("regex.match()", 0),
    ] {
        let source = policy(body);
        assert_eq!(
            problems(&source),
            vec![format!(
                "sigstore.rego:{}: `regex.match` expects 2 arguments (given {given})",
                pos(&source, "regex")
            )],
            "{body}"
        );
        assert!(RegoPolicy::validate(&source, 1000).is_err(), "{body}");
    }
    for fine in [
        r#"regex.match("^a", input.image)"#,
        r#"regex.match("^a", input.image, true)"#,
        r#"regex.match("^a", input.image, x); x"#,
    ] {
        let source = policy(fine);
        assert_eq!(problems(&source), Vec::<String>::new(), "{fine}");
        let compiled = RegoPolicy::compile(&source, 1000).unwrap();
        assert!(compiled.evaluate(&image("a:1")).is_ok(), "{fine}");
        assert!(compiled.evaluate(&image("b:1")).is_err(), "{fine}");
    }
}
