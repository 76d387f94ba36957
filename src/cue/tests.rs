//! Unit tests of the CUE evaluator, per construct. Expected results follow the CUE spec
//! (cue-lang/cue `doc/ref/spec.md`; the section is named in each test's comment) and cosign's
//! `pkg/policy/eval_test.go` (at `193d2153^`) for message texts.

use super::CuePolicy;
use serde_json::{Value, json};

fn eval(policy: &str, input: Value) -> Result<(), String> {
    CuePolicy::compile(policy, 1000)
        .map_err(|e| format!("compile: {e}"))?
        .evaluate(&input)
}

fn compile_err(policy: &str) -> String {
    match CuePolicy::compile(policy, 1000) {
        Ok(_) => panic!("compiled: {policy}"),
        Err(e) => e,
    }
}

// --- Structs and unification (spec, "Structs", "Unification") ---

#[test]
fn equal_strings_unify_and_different_ones_conflict_input_first() {
    assert_eq!(
        eval(
            r#"typemeta: kind: "Pod""#,
            json!({"typemeta": {"kind": "Pod"}})
        ),
        Ok(())
    );
    // cosign eval_test.go: `predicate.Data: conflicting values "foobar e2e test" and "invalid data here"`.
    assert_eq!(
        eval(
            r#"predicate: Data: "invalid data here""#,
            json!({"predicate": {"Data": "foobar e2e test"}})
        ),
        Err(
            r#"predicate.Data: conflicting values "foobar e2e test" and "invalid data here""#
                .into()
        )
    );
}

#[test]
fn a_field_the_input_lacks_passes() {
    // Validate() without Concrete: the policy's value simply stands.
    assert_eq!(
        eval(r#"spec: serviceAccount: "default""#, json!({"image": "x"})),
        Ok(())
    );
    assert_eq!(eval(r#"spec: serviceAccount: string"#, json!({})), Ok(()));
}

#[test]
fn mismatched_kinds_say_so() {
    assert_eq!(
        eval(r#"a: 2, a: "Error""#, json!({})),
        Err(r#"a: conflicting values 2 and "Error" (mismatched types int and string)"#.into())
    );
    assert_eq!(
        eval("a: string", json!({"a": 1})),
        Err("a: conflicting values 1 and string (mismatched types int and string)".into())
    );
    // Spec, "Numeric values": 1 and 1.0 are of different kinds.
    assert_eq!(
        eval("a: 1", json!({"a": 1.5})),
        Err("a: conflicting values 1.5 and 1 (mismatched types float and int)".into())
    );
}

#[test]
fn struct_and_scalar_conflict() {
    assert!(
        eval("a: b: 1", json!({"a": "x"}))
            .unwrap_err()
            .starts_with("a: conflicting values")
    );
}

#[test]
fn quoted_labels_and_paths_print_quoted() {
    assert_eq!(
        eval(
            r#"config: "linux/amd64": config: User: "65532""#,
            json!({"config": {"linux/amd64": {"config": {"User": "0"}}}})
        ),
        Err(r#"config."linux/amd64".config.User: conflicting values "0" and "65532""#.into())
    );
}

#[test]
fn several_errors_are_counted() {
    assert_eq!(
        eval("a: 1\nb: 2", json!({"a": 3, "b": 4})),
        Err("a: conflicting values 3 and 1 (and 1 more errors)".into())
    );
}

// --- Basic types, top, null (spec, "Top and bottom", "Basic types") ---

#[test]
fn basic_types() {
    let ok = |p: &str, v: Value| assert_eq!(eval(p, json!({"a": v.clone()})), Ok(()), "{p} {v}");
    ok("a: string", json!("x"));
    ok("a: int", json!(3));
    ok("a: float", json!(3.5));
    ok("a: number", json!(3));
    ok("a: number", json!(3.5));
    ok("a: bool", json!(true));
    ok("a: null", json!(null));
    ok("a: _", json!({"x": [1]}));
    assert!(eval("a: int", json!({"a": 3.5})).is_err());
    assert!(eval("a: bool", json!({"a": "true"})).is_err());
    assert!(eval("a: null", json!({"a": 0})).is_err());
}

// --- Bounds (spec, "Bounds") ---

#[test]
fn bounds() {
    assert_eq!(eval("a: <3", json!({"a": 2})), Ok(()));
    assert_eq!(
        eval("a: <3", json!({"a": 5})),
        Err("a: invalid value 5 (out of bound <3)".into())
    );
    assert_eq!(eval("a: >=2 & <=4", json!({"a": 4})), Ok(()));
    assert_eq!(
        eval("a: >=2 & <=4", json!({"a": 1})),
        Err("a: invalid value 1 (out of bound >=2)".into())
    );
    assert_eq!(
        eval(r#"a: !="root""#, json!({"a": "root"})),
        Err(r#"a: invalid value "root" (out of bound !="root")"#.into())
    );
    assert_eq!(eval(r#"a: !="root""#, json!({"a": "app"})), Ok(()));
    assert_eq!(
        eval(r#"a: =~"^ghcr\\.io/""#, json!({"a": "ghcr.io/x"})),
        Ok(())
    );
    assert_eq!(
        eval(r#"a: =~"^ghcr\\.io/""#, json!({"a": "docker.io/x"})),
        Err(r#"a: invalid value "docker.io/x" (out of bound =~"^ghcr\\.io/")"#.into())
    );
    assert_eq!(
        eval(r#"a: !~"latest$""#, json!({"a": "x:latest"})),
        Err(r#"a: invalid value "x:latest" (out of bound !~"latest$")"#.into())
    );
    // Strings compare lexically (spec, "Comparison operators").
    assert_eq!(
        eval(
            r#"a: <"2049-10-09T17:10:27Z""#,
            json!({"a": "2022-01-01T00:00:00Z"})
        ),
        Ok(())
    );
}

#[test]
fn a_bound_on_the_wrong_type_conflicts() {
    // A numeric bound does not hold a string, nor a regex an int.
    assert_eq!(
        eval("a: <3", json!({"a": "2"})),
        Err(r#"a: conflicting values "2" and <3 (mismatched types string and number)"#.into())
    );
    assert_eq!(
        eval(r#"a: =~"x""#, json!({"a": 1})),
        Err(r#"a: conflicting values 1 and =~"x" (mismatched types int and string)"#.into())
    );
}

// --- Disjunctions and defaults (spec, "Disjunction", "Default values") ---

#[test]
fn disjunctions() {
    let p = r#"a: "x" | "y""#;
    assert_eq!(eval(p, json!({"a": "y"})), Ok(()));
    assert_eq!(
        eval(p, json!({"a": "z"})),
        Err("a: 2 errors in empty disjunction: (and 2 more errors)".into())
    );
    // A disjunction over an absent field stays unresolved: not an error without Concrete.
    assert_eq!(eval(p, json!({})), Ok(()));
    assert_eq!(eval(r#"a: *"x" | string"#, json!({})), Ok(()));
    assert_eq!(
        eval(r#"a: int | string"#, json!({"a": true})),
        Err("a: 2 errors in empty disjunction: (and 2 more errors)".into())
    );
}

#[test]
fn a_default_decides_a_comparison() {
    let p = "mode: *\"strict\" | \"lax\"\nif mode == \"strict\" { spec: hostNetwork: false }";
    assert!(eval(p, json!({"spec": {"hostNetwork": true}})).is_err());
    assert_eq!(
        eval(p, json!({"mode": "lax", "spec": {"hostNetwork": true}})),
        Ok(())
    );
}

// --- Lists (spec, "Lists") ---

#[test]
fn open_lists_constrain_every_element() {
    let p = r#"s: [...{name: "a" | "b"}]"#;
    assert_eq!(
        eval(
            p,
            json!({"s": [{"name": "a"}, {"name": "b", "value": "1"}]})
        ),
        Ok(())
    );
    assert_eq!(eval(p, json!({"s": []})), Ok(()));
    assert_eq!(
        eval(p, json!({"s": [{"name": "a"}, {"name": "c"}]})),
        Err("s.1.name: 2 errors in empty disjunction: (and 2 more errors)".into())
    );
}

#[test]
fn closed_lists_must_have_the_same_length() {
    assert_eq!(eval("a: [1, 2]", json!({"a": [1, 2]})), Ok(()));
    assert_eq!(
        eval("a: [1, 2]", json!({"a": [1, 2, 3]})),
        Err("a: incompatible list lengths (3 and 2)".into())
    );
    assert_eq!(eval("a: [1, ...int]", json!({"a": [1, 2, 3]})), Ok(()));
    assert_eq!(
        eval("a: [1, ...int]", json!({"a": [1, 2, "x"]})),
        Err(r#"a.2: conflicting values "x" and int (mismatched types string and int)"#.into())
    );
    assert_eq!(
        eval("a: [1, ...int]", json!({"a": []})),
        Err("a: incompatible list lengths (0 and 1)".into())
    );
}

#[test]
fn a_conflict_deep_in_a_list_names_its_path() {
    let p = "spec: containers: [...{securityContext: privileged: false}]";
    let input = json!({"spec": {"containers": [
        {"name": "a", "securityContext": {"privileged": false}},
        {"name": "b", "securityContext": {"privileged": true}}]}});
    assert_eq!(
        eval(p, input),
        Err(
            "spec.containers.1.securityContext.privileged: conflicting values true and false"
                .into()
        )
    );
}

// --- References, let, comprehensions (spec, "References", "Let declarations", "Comprehensions") ---

#[test]
fn references_read_the_unified_value() {
    assert_eq!(eval("a: b\nb: 1", json!({"b": 1})), Ok(()));
    assert!(eval("a: b", json!({"a": 1, "b": 2})).is_err());
    assert_eq!(eval("let x = 3\na: x", json!({"a": 3})), Ok(()));
    assert!(eval("let x = 3\na: x", json!({"a": 4})).is_err());
}

#[test]
fn a_comprehension_reads_fields_beside_it() {
    // cosign eval_test.go, "cluster image policy main policy, fails".
    let p = r#"authorityMatches: {
  if (len(authorityMatches.keylessatt.attestations) < 2) {
    keylessattMinAttestations: 2
    keylessattMinAttestations: "Error"
  },
}"#;
    let one = json!({"authorityMatches": {"keylessatt": {"attestations": {"a": []}}}});
    assert_eq!(
        eval(p, one),
        Err(r#"authorityMatches.keylessattMinAttestations: conflicting values 2 and "Error" (mismatched types int and string)"#.into())
    );
    let two = json!({"authorityMatches": {"keylessatt": {"attestations": {"a": [], "b": []}}}});
    assert_eq!(eval(p, two), Ok(()));
    // An undecidable condition (the field is absent) leaves the comprehension out, as upstream.
    assert_eq!(eval(p, json!({"authorityMatches": {}})), Ok(()));
}

// --- Builtins ---

#[test]
fn builtins_and_validators() {
    let p = "import \"list\"\nimport \"struct\"\na: list.MaxItems(1) & list.MinItems(1)\nb: struct.MinFields(1)";
    assert_eq!(eval(p, json!({"a": [1], "b": {"x": 1}})), Ok(()));
    assert_eq!(
        eval(p, json!({"a": [], "b": {"x": 1}})),
        Err("a: invalid value [] (does not satisfy list.MinItems(1))".into())
    );
    assert_eq!(
        eval(p, json!({"a": [1], "b": {}})),
        Err("b: invalid value {} (does not satisfy struct.MinFields(1))".into())
    );
    let s = "import \"strings\"\na: strings.HasPrefix(\"ghcr.io/\")\nb: strings.Contains(a, \"sig\") & true";
    assert_eq!(eval(s, json!({"a": "ghcr.io/sigstore"})), Ok(()));
    assert!(eval(s, json!({"a": "docker.io/sigstore"})).is_err());
    assert!(eval(s, json!({"a": "ghcr.io/x"})).is_err());
    let l = "import \"list\"\nok: list.Contains(names, \"a\") & true\nnames: [...string]";
    assert_eq!(eval(l, json!({"names": ["b", "a"]})), Ok(()));
    assert!(eval(l, json!({"names": ["b"]})).is_err());
}

#[test]
fn time_parse_gives_an_rfc3339_string_in_utc() {
    let p = "import \"time\"\nbefore: time.Parse(time.RFC3339, \"2022-04-15T19:10:27+02:00\")\nt: <before";
    assert_eq!(eval(p, json!({"t": "2022-04-15T17:10:26Z"})), Ok(()));
    assert!(eval(p, json!({"t": "2022-04-15T17:10:28Z"})).is_err());
}

// --- Refused constructs, with their position ---

#[test]
fn constructs_outside_the_subset_are_named_with_their_position() {
    assert_eq!(
        compile_err("#Def: {a: int}"),
        "1:1: definitions (#Def) are not supported"
    );
    assert_eq!(
        compile_err("a: 1\nb?: int"),
        "2:1: optional fields (b?) are not supported"
    );
    assert_eq!(
        compile_err("a: [for x in b {x}]"),
        "1:5: list comprehensions are not supported"
    );
    assert_eq!(
        compile_err("for x in y {}"),
        "1:1: for comprehensions are not supported"
    );
    assert_eq!(
        compile_err("a: \"\\(b)\""),
        "1:5: string interpolation (\\(…)) is not supported"
    );
    assert_eq!(
        compile_err("[string]: int"),
        "1:1: pattern constraints ([…]: …) are not supported"
    );
    assert_eq!(
        compile_err("import \"net\"\na: net.IP"),
        "1:8: package \"net\" is not supported (supported: strings, list, struct, time)"
    );
    assert_eq!(
        compile_err("a: close({})"),
        "1:4: the builtin close is not supported"
    );
    assert_eq!(compile_err("a: b"), "1:4: reference \"b\" not found");
    assert_eq!(
        compile_err("import \"strings\"\na: 1"),
        "1:8: imported and not used: \"strings\""
    );
    assert_eq!(compile_err("a: {\n b: 1"), "2:6: expected '}', found EOF");
    assert_eq!(
        compile_err("_x: 1"),
        "1:1: hidden fields (_x) are not supported"
    );
    assert_eq!(
        compile_err("a: 1Ki"),
        "1:4: number multipliers (1K, 1Mi, …) are not supported"
    );
    assert!(
        compile_err("import \"strings\"\na: strings.Fields(\"x\")")
            .starts_with("2:11: strings.Fields is not supported (supported: Contains, HasPrefix,")
    );
}

#[test]
fn limits_before_parsing() {
    let deep = format!("a: {}1{}", "[".repeat(65), "]".repeat(65));
    assert_eq!(compile_err(&deep), "1:68: nesting deeper than 64 levels");
    let too_deep = "nesting too deep (more than 192 levels of expressions, structs and lists)";
    let unary = format!("a: {}1", "-".repeat(200));
    assert_eq!(compile_err(&unary), format!("1:195: {too_deep}"));
    let shorthand = format!("{}1", "a: ".repeat(200));
    assert_eq!(compile_err(&shorthand), format!("1:580: {too_deep}"));
    let big = format!("a: \"{}\"", "x".repeat(70_000));
    assert!(compile_err(&big).contains("more than the 65536 accepted"));
}

#[test]
fn a_reference_chain_deeper_than_the_limit_fails() {
    // Declared last first, so that evaluating f299 needs f298, …, f0 in one chain.
    let mut p = String::new();
    for i in (1..300).rev() {
        p.push_str(&format!("f{i}: f{}\n", i - 1));
    }
    p.push_str("f0: 1\n");
    assert_eq!(
        eval(&p, json!({})),
        Err("evaluation nested deeper than 200 levels".into())
    );
}

#[test]
fn the_time_budget_stops_an_evaluation() {
    let mut p = String::new();
    for i in 0..200 {
        p.push_str(&format!("f{i}: \"x\" | \"y\" | \"z\"\n"));
    }
    let policy = CuePolicy::compile(&p, 0).unwrap();
    assert_eq!(
        policy.evaluate(&json!({})),
        Err("evaluation exceeded the time budget of 0 ms".into())
    );
    // The same policy with a real budget passes (every field is an unresolved disjunction).
    assert_eq!(
        CuePolicy::compile(&p, 1000).unwrap().evaluate(&json!({})),
        Ok(())
    );
}

/// Nesting just under the limits parses and evaluates without exhausting the stack (the
/// parser counts every level; evaluation recursion is bounded by it and the input's depth).
#[test]
fn nesting_just_under_the_limits_evaluates() {
    let parens = format!("a: {}1{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(eval(&parens, json!({"a": 1})), Ok(()));
    let structs = format!("{}b: 1{}", "a: {".repeat(60), "}".repeat(60));
    let mut input = json!({"b": 2});
    for _ in 0..60 {
        input = json!({"a": input});
    }
    let err = eval(&structs, input).unwrap_err();
    assert!(err.ends_with(": conflicting values 2 and 1"), "{err}");
    assert!(err.starts_with(&"a.".repeat(59)), "{err}");
}
