//! The Rego builtins a CIP policy can call here, and why the others cannot be.
//!
//! The table is regorus' own, as compiled into this module (`regorus::unstable::BUILTINS`,
//! regorus 0.14.1 `src/builtins/mod.rs:72`: the builtins of the crate features enabled in
//! `Cargo.toml`), plus `print`, which the interpreter handles itself (`src/interpreter.rs:2695`).
//! regorus finds a builtin only when an evaluation reaches the call (`could not find function
//! …`, `src/interpreter.rs:2868`), so [`super::check`] looks every call up here beforehand.
//!
//! Not counted as available although regorus registers them:
//! - `http.send`: a stub that returns undefined (`src/builtins/http.rs:13-21`, feature `http`);
//!   the module has no network, and a policy that relies on it would silently never be
//!   compliant, or always be, under `not`;
//! - `__builtin_*`: regorus' internal helpers (`__builtin_sets.union`), not Rego builtins: OPA
//!   would refuse them.

/// Builtins regorus registers that a policy must not call (see the module docs).
const STUBS: [&str; 1] = ["http.send"];

/// Whether `path` names a builtin a policy can call here.
pub fn is_available(path: &str) -> bool {
    path == "print"
        || (regorus::unstable::BUILTINS.contains_key(path)
            && !STUBS.contains(&path)
            && !path.starts_with("__builtin"))
}

/// Why a group of OPA builtins is not available, by name prefix (`crypto.` covers
/// `crypto.x509.parse_certificates`); the first match wins.
const REASONS: [(&str, &str); 14] = [
    (
        "http.send",
        "the module has no network access (regorus provides `http.send` only as a stub that returns undefined)",
    ),
    ("crypto.", "regorus has no cryptographic builtins"),
    (
        "io.jwt.",
        "regorus has no JWT builtins (they need cryptography)",
    ),
    (
        "net.",
        "regorus' `net` builtins are not built into this module",
    ),
    (
        "uuid.",
        "regorus' `uuid` builtins are not built into this module",
    ),
    (
        "yaml.",
        "regorus' `yaml` builtins are not built into this module",
    ),
    (
        "json.match_schema",
        "regorus' JSON Schema builtins are not built into this module",
    ),
    (
        "json.verify_schema",
        "regorus' JSON Schema builtins are not built into this module",
    ),
    (
        "json.patch",
        "regorus' `jsonpatch` builtin is not built into this module",
    ),
    (
        "opa.runtime",
        "the module is not an OPA runtime (regorus' `opa-runtime` builtin is not built in)",
    ),
    (
        "walk",
        "regorus' `graph` builtins are not built into this module",
    ),
    (
        "graph.",
        "regorus' `graph` builtins are not built into this module",
    ),
    ("rego.", "regorus 0.14.1 does not implement it"),
    (
        "__builtin",
        "it is an internal helper of regorus, not a Rego builtin",
    ),
];

/// The problem with a call of `path` that is neither a function of the policy nor an available
/// builtin (one line, without position).
pub fn unavailable(path: &str) -> String {
    let reason = REASONS
        .iter()
        .find(|(prefix, _)| {
            path == *prefix
                || (prefix.ends_with('.') && path.starts_with(prefix))
                || (*prefix == "__builtin" && path.starts_with(prefix))
        })
        .map(|(_, reason)| *reason)
        .unwrap_or(
            "it is neither a function of the policy nor a builtin of this module's Rego engine (regorus 0.14.1)",
        );
    format!(
        "`{path}` cannot be called here: {reason}; every evaluation that reaches it would fail with `could not find function {path}`. The README's Rego section lists the builtins available"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the features of `Cargo.toml` compile in, and what they leave out (a feature turned
    /// on or off changes this test, and the README's Rego section with it).
    #[test]
    fn available_builtins_follow_the_features() {
        for name in [
            "print",
            "trace",
            "count",
            "sprintf",
            "startswith",
            "contains",
            "regex.match",
            "glob.match",
            "base64.decode",
            "semver.compare",
            "json.unmarshal",
            "object.get",
            "units.parse_bytes",
            "time.now_ns",
            "time.parse_rfc3339_ns",
            "time.parse_ns",
            "time.parse_duration_ns",
            "time.add_date",
            "time.diff",
            "time.date",
            "time.clock",
            "time.weekday",
            "time.format",
        ] {
            assert!(is_available(name), "{name}");
        }
        for name in [
            "http.send",
            "crypto.sha256",
            "crypto.x509.parse_certificates",
            "io.jwt.decode",
            "net.cidr_contains",
            "uuid.rfc4122",
            "yaml.unmarshal",
            "json.match_schema",
            "json.patch",
            "opa.runtime",
            "walk",
            "graph.reachable",
            "base64url.encode",
            "hex.encode",
            "urlquery.encode",
            "rego.metadata.rule",
            "regex.globs_match",
            "strings.render_template",
            "re_match",
            "set_diff",
            "__builtin_sets.union",
            "no_such_function",
        ] {
            assert!(!is_available(name), "{name}");
        }
        // http.send is registered only with regorus' `http` feature, and is a stub even then.
        assert!(!regorus::unstable::BUILTINS.contains_key("http.send"));
    }

    #[test]
    fn reasons_name_the_builtin() {
        assert_eq!(
            unavailable("http.send"),
            "`http.send` cannot be called here: the module has no network access (regorus provides `http.send` only as a stub that returns undefined); every evaluation that reaches it would fail with `could not find function http.send`. The README's Rego section lists the builtins available"
        );
        assert!(
            unavailable("crypto.x509.parse_certificates").starts_with(
                "`crypto.x509.parse_certificates` cannot be called here: regorus has no cryptographic builtins;"
            )
        );
        assert!(unavailable("walk").contains("`graph` builtins"));
        assert!(unavailable("walker").contains("neither a function of the policy"));
        assert!(unavailable("net").contains("neither a function of the policy"));
        assert!(unavailable("__builtin_sets.union").contains("internal helper"));
        assert!(unavailable("rego.metadata.chain").contains("does not implement it"));
    }
}
