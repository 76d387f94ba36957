//! Regressions from a hostile review of the evaluator (each input passed here and fails in
//! cuelang, or exhausted the module's memory): the expected results are cuelang's, from the
//! CUE spec (cue-lang/cue `doc/ref/spec.md`, section named in each test).

use super::CuePolicy;
use serde_json::{Value, json};

fn eval(policy: &str, input: Value) -> Result<(), String> {
    CuePolicy::compile(policy, 1000)
        .map_err(|e| format!("compile: {e}"))?
        .evaluate(&input)
}

/// Spec "Bottom and errors": `_|_` is one token (`bottom_lit`), not `_ | _` (top). It was
/// read as top, so `deny: _|_` passed every input; bottom is outside the subset, so it is
/// refused with its position.
#[test]
fn bottom_is_refused_not_read_as_top() {
    for (policy, at) in [
        ("deny: _|_\n", "1:7"),
        (
            "image: string\nif image =~ \":latest$\" { deny: _|_ }\n",
            "2:32",
        ),
        (
            "metadata: {}\nif metadata.labels.team == _|_ { deny: 1 }\ndeny: 2\n",
            "2:28",
        ),
    ] {
        let e = CuePolicy::compile(policy, 1000).unwrap_err();
        assert_eq!(
            e,
            format!("{at}: bottom (_|_) is not supported"),
            "{policy}"
        );
    }
    // `_ | _` written apart is a disjunction of top, as in cuelang.
    assert_eq!(eval("a: _ | _\n", json!({"a": 1})), Ok(()));
}

/// Spec "Structs" (a struct is bottom if any field is, recursively) and "Disjunction" (failed
/// alternatives drop out): an alternative with a conflict inside a field or an element is
/// gone, so a value whose fields each match a different alternative fails.
#[test]
fn a_disjunction_drops_alternatives_with_a_conflict_inside() {
    let policy = "metadata: {namespace: \"prod\", labels: env: \"prod\"} | {namespace: \"dev\", labels: env: \"dev\"}\n";
    let mixed = json!({"metadata": {"namespace": "prod", "labels": {"env": "dev"}}});
    let e = eval(policy, mixed).unwrap_err();
    assert!(
        e.starts_with("metadata: 2 errors in empty disjunction:"),
        "{e}"
    );
    assert_eq!(
        eval(
            policy,
            json!({"metadata": {"namespace": "dev", "labels": {"env": "dev"}}})
        ),
        Ok(())
    );
    for (policy, input) in [
        (
            "a: {b: 1, c: 1} | {b: 2, c: 2}\n",
            json!({"a": {"b": 1, "c": 2}}),
        ),
        (
            "a: {b: 1, c: 1} | {b: 2, c: 2}\na: {b: 1, c: 2}\n",
            json!({}),
        ),
        ("a: [1, 1] | [2, 2]\n", json!({"a": [1, 2]})),
        ("a: [...int] | [...string]\n", json!({"a": [1, "x"]})),
        (
            "spec: containers: [...{image: =~\"^ghcr.io/\"}] | [...{image: =~\"^quay.io/\"}]\n",
            json!({"spec": {"containers": [{"image": "ghcr.io/a"}, {"image": "quay.io/b"}]}}),
        ),
    ] {
        assert!(eval(policy, input.clone()).is_err(), "{policy} {input}");
    }
    assert_eq!(
        eval("a: [...int] | [...string]\n", json!({"a": ["x", "y"]})),
        Ok(())
    );
}

/// Spec "Index expressions" (`[1,2][2]` is `_|_`) and "Selectors": an index past a closed
/// list's end, or a selector on a scalar, is an error, not an undefined field.
#[test]
fn an_index_out_of_range_or_a_selector_on_a_scalar_fails() {
    let input = json!({"spec": {"containers": [{"image": "y"}], "image": "x"}});
    for policy in [
        "spec: {}\nb: spec.containers[1].image & =~\"^ghcr.io/\"\n",
        "spec: {}\nb: spec.image.foo\n",
        "a: [1, 2]\nx: a[5]\n",
    ] {
        let e = eval(policy, input.clone()).unwrap_err();
        assert!(
            e.contains("index out of range [") || e.contains("invalid selector"),
            "{policy}: {e}"
        );
    }
    // A field the input lacks is still only undefined (incomplete), as before.
    assert_eq!(eval("spec: {}\nb: spec.missing.x\n", input), Ok(()));
}

/// Spec "Regular expressions": RE2 syntax, where `\d` is ASCII (Go `regexp/syntax`
/// `perl_groups.go`); the `regex` crate's `\d` is Unicode, so Arabic-Indic digits matched.
#[test]
fn perl_classes_are_ascii_as_in_go() {
    let policy = "a: =~\"^\\\\d+$\"\n";
    assert_eq!(eval(policy, json!({"a": "123"})), Ok(()));
    assert!(eval(policy, json!({"a": "\u{661}\u{662}\u{663}"})).is_err());
    // A spelling Go refuses is an error, not a match.
    assert!(eval("a: !~\"x{1001}\"\n", json!({"a": "y"})).is_err());
}

/// A 31-line policy doubling a string through `let` aborted the module (1 GiB allocation)
/// before the time budget was read: strings an operator or builtin builds are limited.
#[test]
fn doubling_a_string_fails_instead_of_exhausting_memory() {
    let mut policy = String::from("let s0 = \"ab\"\n");
    for i in 1..=30 {
        policy.push_str(&format!("let s{i} = s{} + s{}\n", i - 1, i - 1));
    }
    policy.push_str("x: len(s30)\n");
    let e = eval(&policy, json!({})).unwrap_err();
    assert!(e.contains("longer than 1048576 bytes"), "{e}");
    let mut split = String::from("import \"strings\"\nlet s0 = [\"a\", \"b\"]\n");
    for i in 1..=30 {
        split.push_str(&format!(
            "let s{i} = strings.Split(strings.Join(s{}, \",,\"), \",\")\n",
            i - 1
        ));
    }
    split.push_str("x: len(s30)\n");
    assert!(eval(&split, json!({})).is_err());
}

/// Spec "Integer and number literals": a decimal literal does not start with `0`; a float
/// past f64's range would be infinite here (cuelang's decimals are exact).
#[test]
fn literals_cuelang_refuses_are_refused() {
    assert!(CuePolicy::compile("a: 017\n", 1000).is_err());
    assert!(CuePolicy::compile("a: 1e400\n", 1000).is_err());
    assert_eq!(eval("a: 0\nb: 10\n", json!({"a": 0, "b": 10})), Ok(()));
}

/// Go's `time.Parse(time.RFC3339, …)` matches the layout's `T` and `Z` exactly (Go
/// `time/format_rfc3339.go` `parseRFC3339`, then the layout parser): lower-case ones are not a
/// time there.
#[test]
fn rfc3339_letters_are_upper_case_as_in_go() {
    let policy = "import \"time\"\nt: time.Parse(time.RFC3339, created)\ncreated: string\n";
    assert_eq!(
        eval(policy, json!({"created": "2024-01-01T00:00:00Z"})),
        Ok(())
    );
    assert!(eval(policy, json!({"created": "2024-01-01t00:00:00z"})).is_err());
    assert!(eval(policy, json!({"created": "2024-01-01T00:00:00z"})).is_err());
}
