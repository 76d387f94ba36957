//! The input document of a CIP-level Rego evaluation, built directly as regorus values.
//!
//! Shape (upstream `PolicyResult`, policy-controller `pkg/webhook/validator_result.go`
//! L36-142, plus this policy's `image` and `imageAsWritten`; README, "Rego"):
//! `{"authorityMatches": {…}, "image": "…", "imageAsWritten": "…", "spec": …, "metadata": …,
//! "typemeta": {…}, "config": {…}}`, each of the last four only when the CIP asks for it.
//!
//! The object's `spec` and `metadata` are the large parts (a Deployment's `spec` is most of its
//! 20 KB). Each is parsed from the object's JSON text straight into a regorus value, once per
//! request, and shared by every evaluation of the request: a regorus `Value` is
//! reference-counted, so putting it in another document copies a pointer. Before, each
//! evaluation decoded the text into a `serde_json::Value`, cloned it into the input and
//! converted the whole input into regorus values; for a rego-20 request that was more than half
//! of the policy's instructions and most of the heap it touched (BENCHMARKS.md, "Touch fewer
//! pages").

use regorus::{Rc, Value};
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

/// One evaluation's input document, under construction.
#[derive(Debug, Default)]
pub struct Document {
    fields: BTreeMap<Value, Value>,
}

impl Document {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to a string.
    pub fn string(&mut self, key: &str, value: &str) {
        self.fields.insert(Value::from(key), Value::from(value));
    }

    /// Sets `key` to a JSON value (converted with [`from_json`]).
    pub fn json(&mut self, key: &str, value: &serde_json::Value) {
        self.fields.insert(Value::from(key), from_json(value));
    }

    /// Sets `key` to a regorus value (shared, not copied: see the module documentation).
    pub fn value(&mut self, key: &str, value: Value) {
        self.fields.insert(Value::from(key), value);
    }

    /// The document, as regorus' `set_input` takes it.
    pub fn into_value(self) -> Value {
        Value::from(self.fields)
    }
}

/// A part of the object (`spec`, `metadata`) as a regorus value, parsed on first use and then
/// shared by every evaluation of the request.
#[derive(Debug, Default)]
pub struct SharedPart {
    value: OnceCell<Result<Value, String>>,
    /// What [`SharedPart::check`] found, when it ran before any parse.
    checked: OnceCell<Result<(), String>>,
}

impl SharedPart {
    /// Nothing parsed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The part, parsed from the JSON text `text` gives on the first call (later calls return
    /// the first result, without calling `text`).
    ///
    /// Errors: `text`'s, or serde_json's message when the text cannot be built as a value
    /// (nesting deeper than serde_json's recursion limit of 128: `recursion limit exceeded at
    /// line 1 column N`; a number past an `f64`: `number out of range at …`; a surrogate escape
    /// that does not pair up: `lone leading surrogate in hex escape at …`).
    pub fn get<'t>(&self, text: impl FnOnce() -> Result<&'t str, String>) -> Result<Value, String> {
        self.value
            .get_or_init(|| parse(text()?))
            .as_ref()
            .cloned()
            .map_err(Clone::clone)
    }

    /// Whether the part could be parsed, without building it: for a CIP that includes the part
    /// but whose policy never reads it (`RegoPolicy::reads_input`), so that a part that cannot
    /// be built (too deep, a number past an `f64`, a lone surrogate escape: [`parse`]) fails
    /// that CIP as it would if the part were built, with the same message. Once
    /// the part is parsed, its result; otherwise the text is checked once (see [`check`]).
    pub fn check<'t>(&self, text: impl FnOnce() -> Result<&'t str, String>) -> Result<(), String> {
        if let Some(parsed) = self.value.get() {
            return parsed.as_ref().map(|_| ()).map_err(Clone::clone);
        }
        self.checked.get_or_init(|| check(text()?)).clone()
    }
}

/// Nesting no deeper than this is never what makes [`parse`] or [`check`] fail: serde_json
/// refuses only nesting deeper than its recursion limit of 128 (arrays and objects alike).
/// What else they refuse, [`Scan::plain`] tells.
pub const SHALLOW_DEPTH: usize = 100;

/// Digits in one number (integer and fraction together) from which [`scan`] no longer calls it
/// plain: well before a number stops fitting an `f64` (the largest is below 1e309), counting
/// fraction digits too, which only errs towards decoding.
const LONG_NUMBER: usize = 300;

/// What one byte scan of a JSON text tells without decoding it ([`scan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Deepest nesting of arrays and objects (`0` for a scalar, `1` for `{}` or `[1]`).
    pub depth: usize,
    /// Whether the text has nothing but its nesting that a full read could refuse: no `\u`
    /// escape of a UTF-16 surrogate (valid only in a pair, which serde_json checks when it
    /// decodes the string), no number with an exponent and none of [`LONG_NUMBER`] digits
    /// (serde_json refuses a number past an `f64`, `1e400`, when it decodes it).
    pub plain: bool,
}

impl Scan {
    /// Whether [`parse`] and [`check`] accept every value in the scanned text, known from the
    /// scan alone: a plain text no deeper than [`SHALLOW_DEPTH`]. `false` says nothing: decode
    /// to know.
    pub fn always_builds(&self) -> bool {
        self.plain && self.depth <= SHALLOW_DEPTH
    }
}

/// Scans the JSON text `text` byte by byte: its nesting outside strings, and whether anything
/// in it other than nesting could make a full read fail ([`Scan`]).
///
/// Meant for texts serde_json has already read as one valid JSON value (the admission request's
/// object, kept as raw JSON): reading a value as raw JSON checks its syntax (escapes have four
/// hex digits) but decodes neither strings nor numbers (serde_json 1.0 `src/read.rs`
/// `ignore_escape`: "we don't care if the codepoint is valid"), so what a full read can still
/// refuse is deep nesting, surrogate escapes that do not pair up, and numbers past an `f64`.
/// [`Scan::always_builds`] then decides whether [`check`] has anything to find in a part of the
/// text (a part is never deeper nor less plain than the text holding it) at a fraction of its
/// cost (BENCHMARKS.md, "Nesting checked by a byte scan"). On other text it still returns,
/// without meaning.
pub fn scan(text: &str) -> Scan {
    let (mut depth, mut deepest, mut plain) = (0usize, 0usize, true);
    let mut bytes = text.as_bytes().iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                while let Some(&s) = bytes.next() {
                    match s {
                        b'"' => break,
                        b'\\' => {
                            plain &= bytes.next() != Some(&b'u') || plain_escape(bytes.as_slice())
                        }
                        _ => {}
                    }
                }
            }
            // A number (its sign is skipped as any other byte): its digits, fraction and
            // exponent, read to its end.
            b'0'..=b'9' => {
                let (mut digits, mut read) = (1, 0);
                for &d in bytes.as_slice() {
                    match d {
                        b'0'..=b'9' => digits += 1,
                        b'e' | b'E' => plain = false,
                        b'.' | b'+' | b'-' => {}
                        _ => break,
                    }
                    read += 1;
                }
                if read > 0 {
                    bytes.nth(read - 1);
                }
                plain &= digits < LONG_NUMBER;
            }
            _ => {}
        }
    }
    Scan {
        depth: deepest,
        plain,
    }
}

/// Whether the four bytes after a `\u` (the start of `rest`) are hex digits naming a UTF-16
/// unit other than a surrogate. They are left to the scan, which finds nothing in them.
fn plain_escape(rest: &[u8]) -> bool {
    rest.get(..4)
        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u16::from_str_radix(h, 16).ok())
        .is_some_and(|unit| !(0xD800..=0xDFFF).contains(&unit))
}

/// Whether [`parse`] would accept `text`, with its error if not, without building anything:
/// serde_json's parser over the text, with the nesting limit it applies when building values.
pub fn check(text: &str) -> Result<(), String> {
    serde_json::from_str::<Nesting>(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A JSON value read and dropped, every array and object entered as [`parse`] enters them
/// (serde_json counts the nesting in `deserialize_any`).
struct Nesting;

impl<'de> serde::Deserialize<'de> for Nesting {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(NestingVisitor)
    }
}

struct NestingVisitor;

impl<'de> serde::de::Visitor<'de> for NestingVisitor {
    type Value = Nesting;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Nesting, E> {
        Ok(Nesting)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Nesting, E> {
        Ok(Nesting)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Nesting, E> {
        Ok(Nesting)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Nesting, E> {
        Ok(Nesting)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Nesting, E> {
        Ok(Nesting)
    }

    fn visit_str<E>(self, _: &str) -> Result<Nesting, E> {
        Ok(Nesting)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Nesting, A::Error> {
        while seq.next_element::<Nesting>()?.is_some() {}
        Ok(Nesting)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Nesting, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, Nesting>()?
            .is_some()
        {}
        Ok(Nesting)
    }
}

/// A JSON text as a regorus value, every object key an ordinary key (see [`from_json`]); object
/// keys are interned while parsing, as regorus' own `Value::from_json_str` does (regorus 0.14.1
/// `src/value/mod.rs:494-505`), so the `name`, `image`, `resources`, … of every container share
/// one string each. The value equals what the text gives as a `serde_json::Value` converted
/// with [`from_json`] (`tests::parsing_matches_the_conversion_of_a_json_value`).
///
/// Errors: serde_json's message (`recursion limit exceeded at line 1 column 2345`: serde_json
/// refuses nesting deeper than 128; `number out of range at …` past an `f64`; `lone leading
/// surrogate in hex escape at …` and the like for a `\u` escape of half a UTF-16 pair;
/// `trailing characters at …`).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Visitor::default()
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// The regorus value of a JSON value, every object key an ordinary key.
///
/// Unlike regorus' own conversions (`Value::from(serde_json::Value)` and its `Deserialize`,
/// regorus 0.14.1 `src/value/mod.rs:316-327`), an object whose first key is
/// `$serde_json::private::Number` (serde_json's token for arbitrary-precision numbers, which
/// this crate does not enable) is not read as a number: OPA, which upstream runs, has no such
/// token, and regorus' reading made a whole document fail to convert when the token held
/// something other than a number. Before, that turned the whole input into `undefined`, which
/// a policy written with `not` took as compliant, and an image's configuration (its labels,
/// `fetchConfigFile`) is written by whoever pushed the image
/// (`tests::the_private_number_token_is_an_ordinary_key`).
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => number(n),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(from_json).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// A serde_json number as regorus reads one: `u64`, then `i64`, then `f64` (serde_json's
/// numbers are finite), as regorus' visitor does (`visit_u64`, `visit_i64`, `visit_f64`).
fn number(n: &serde_json::Number) -> Value {
    if let Some(u) = n.as_u64() {
        Value::from(u)
    } else if let Some(i) = n.as_i64() {
        Value::from(i)
    } else {
        Value::from(n.as_f64().unwrap_or_default())
    }
}

/// Builds regorus values from JSON, interning object keys for one document.
struct Visitor {
    keys: RefCell<BTreeSet<Rc<str>>>,
    /// The keys last interned, by [`recent_slot`]: a Kubernetes object repeats a few dozen
    /// field names (`name`, `image`, `resources`, …), most of which this answers with one
    /// comparison instead of a walk of `keys` (BENCHMARKS.md, "Interning keys").
    recent: RefCell<[Option<Rc<str>>; RECENT_SLOTS]>,
}

impl Default for Visitor {
    fn default() -> Self {
        Visitor {
            keys: RefCell::default(),
            recent: RefCell::new(std::array::from_fn(|_| None)),
        }
    }
}

/// Slots of [`Visitor::recent`].
const RECENT_SLOTS: usize = 64;

/// The slot of [`Visitor::recent`] a key goes to: from its length and its first and last bytes.
/// Any slot is correct (a slot holding another key is a miss, and `keys` is asked), so keys a
/// workload author chose to collide cost at most that walk, as without the slots.
fn recent_slot(key: &str) -> usize {
    let bytes = key.as_bytes();
    let first = bytes.first().copied().unwrap_or(0) as usize;
    let last = bytes.last().copied().unwrap_or(0) as usize;
    (bytes.len() * 7 + first * 3 + last) % RECENT_SLOTS
}

impl Visitor {
    fn deserialize<'de, D: serde::Deserializer<'de>>(&self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }

    /// The one shared copy of `key` in this document.
    fn key(&self, key: &str) -> Value {
        let slot = recent_slot(key);
        let mut recent = self.recent.borrow_mut();
        if let Some(shared) = &recent[slot]
            && shared.as_ref() == key
        {
            return Value::String(Rc::clone(shared));
        }
        let mut keys = self.keys.borrow_mut();
        let shared = match keys.get(key) {
            Some(shared) => Rc::clone(shared),
            None => {
                let shared: Rc<str> = Rc::from(key);
                keys.insert(Rc::clone(&shared));
                shared
            }
        };
        recent[slot] = Some(Rc::clone(&shared));
        Value::String(shared)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for &Visitor {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

/// An object key, interned.
struct Key<'v>(&'v Visitor);

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(self.0.key(v))
    }
}

impl<'de> serde::de::Visitor<'de> for &Visitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::from(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key_seed(Key(self))? {
            let value = map.next_value_seed(self)?;
            fields.insert(key, value);
        }
        Ok(Value::from(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn deployment_spec_text() -> String {
        let request: serde_json::Value = serde_json::from_str(include_str!(
            "../../test_data/bench/deployment-5-containers.json"
        ))
        .unwrap();
        request["object"]["spec"].to_string()
    }

    /// Without the private number token, the conversion is regorus' own.
    #[test]
    fn conversion_matches_regorus() {
        let spec: serde_json::Value = serde_json::from_str(&deployment_spec_text()).unwrap();
        for input in [
            json!({"image": "a:1", "spec": spec}),
            json!({"n": [0, -1, 1.5, 18446744073709551615u64, -9223372036854775808i64, 1e300, -0.0], "e": {}, "a": [], "z": null, "t": true}),
            json!([1, "two", {"three": 3.5}]),
            json!("text"),
        ] {
            assert_eq!(from_json(&input), Value::from(input.clone()), "{input}");
        }
    }

    /// Regression: regorus reads an object whose first key is serde_json's private number token
    /// as a number, and fails on the whole document when the token holds anything else; the
    /// input then became `undefined`, and `not …` held. Here it is an ordinary key, as in OPA.
    #[test]
    fn the_private_number_token_is_an_ordinary_key() {
        let token = "$serde_json::private::Number";
        for input in [
            json!({"config": {"linux/amd64": {"config": {"User": "root", "Labels": {token: "bad"}}}}}),
            json!({token: "12"}),
            json!({"x": {"a": 1, token: "1"}}),
        ] {
            let value = from_json(&input);
            assert_eq!(parse(&input.to_string()), Ok(value.clone()), "{input}");
            let text = value.to_json_str().unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, input, "{input}");
        }
        // What regorus itself makes of them.
        let bad = json!({"config": {"Labels": {token: "bad"}}});
        assert!(Value::deserialize(&bad).is_err());
        assert_eq!(Value::from(json!({token: "12"})), Value::from(12u64));
        // A policy written with `not` sees the configuration.
        let policy = crate::rego::RegoPolicy::compile(
            "package sigstore\nisCompliant { not input.config[\"linux/amd64\"].config.User == \"root\" }\n",
            1000,
        )
        .unwrap();
        let mut doc = Document::new();
        doc.json(
            "config",
            &json!({"linux/amd64": {"config": {"User": "root", "Labels": {token: "bad"}}}}),
        );
        assert!(policy.evaluate_value(doc.into_value()).is_err());
    }

    /// Parsing the text gives what the text decoded as a `serde_json::Value` and converted
    /// gives, on every shape a JSON text can take (duplicate keys: the last one wins in both;
    /// big numbers; escapes).
    #[test]
    fn parsing_matches_the_conversion_of_a_json_value() {
        let spec = deployment_spec_text();
        for text in [
            spec.as_str(),
            r#"{"a": 1, "a": 2, "b": {"c": [1, 2.50, -0, -0.0, 1e3, 18446744073709551616, -9223372036854775809]}}"#,
            r#"{"s": "\u00e9\n\"", "k\u00e9y": 1, "empty": {}, "list": [], "n": null, "t": true, "f": false}"#,
            r#"[{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]"#,
            "null",
            "\"text\"",
            "7",
        ] {
            let via_json: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text), Ok(from_json(&via_json)), "{text}");
            assert_eq!(parse(text), Ok(Value::from(via_json.clone())), "{text}");
        }
        assert!(
            parse("{} x")
                .unwrap_err()
                .starts_with("trailing characters")
        );
        assert!(parse("{\"a\": }").is_err());
    }

    /// `check` accepts and refuses what `parse` does, with the same words.
    #[test]
    fn checking_agrees_with_parsing() {
        let spec = deployment_spec_text();
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        let deep_object = format!("{}{}", "{\"a\":".repeat(129), "}".repeat(129));
        let ok_object = format!("{}1{}", "{\"a\":".repeat(127), "}".repeat(127));
        for text in [
            spec.as_str(),
            deep.as_str(),
            deep_object.as_str(),
            ok_object.as_str(),
            "{} x",
            "{\"a\": }",
            "[1, 2",
            "\"unterminated",
            "null",
        ] {
            assert_eq!(check(text), parse(text).map(|_| ()), "{text}");
        }
        let part = SharedPart::new();
        assert!(
            part.check(|| Ok(&deep))
                .unwrap_err()
                .starts_with("recursion limit exceeded")
        );
        let parsed = SharedPart::new();
        parsed.get(|| Ok("{}")).unwrap();
        assert_eq!(parsed.check(|| Err("not called".into())), Ok(()));
    }

    /// [`scan`]'s `depth` alone.
    fn nesting_depth(text: &str) -> usize {
        scan(text).depth
    }

    /// `scan` counts arrays and objects outside strings.
    #[test]
    fn nesting_depth_counts_outside_strings() {
        for (text, depth) in [
            ("7", 0),
            ("\"[{\"", 0),
            ("{}", 1),
            ("[1, [2], {\"a\": [3]}]", 3),
            (r#"{"a": "[[[", "b": "\"[{", "c\"[": ["\\", [{}]]}"#, 4),
            (r#"["\u005b\u007b", "é[", {"k": "}}}}"}]"#, 2),
            (r#"[[["]]]"]]]"#, 3),
        ] {
            assert_eq!(nesting_depth(text), depth, "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text}"
            );
        }
        // On a real object, the depth a walk of its decoded value finds.
        fn walked(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Array(a) => 1 + a.iter().map(walked).max().unwrap_or(0),
                serde_json::Value::Object(o) => 1 + o.values().map(walked).max().unwrap_or(0),
                _ => 0,
            }
        }
        let spec = deployment_spec_text();
        let value: serde_json::Value = serde_json::from_str(&spec).unwrap();
        assert_eq!(nesting_depth(&spec), walked(&value));
        assert_eq!(nesting_depth(&spec), 10);
    }

    /// Every text over `[]{}",\\eu:1` of up to five bytes: no panic, the depth a walk of the
    /// decoded value finds whenever serde_json reads the text as JSON, and `check` accepting
    /// what `scan` calls buildable.
    #[test]
    fn nesting_depth_agrees_with_serde_json_on_small_texts() {
        fn walked(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Array(a) => 1 + a.iter().map(walked).max().unwrap_or(0),
                serde_json::Value::Object(o) => 1 + o.values().map(walked).max().unwrap_or(0),
                _ => 0,
            }
        }
        let alphabet = ['[', ']', '{', '}', '"', ',', '\\', 'e', 'u', ':', '1'];
        let mut texts = vec![String::new()];
        let mut json = 0;
        for _ in 0..5 {
            let mut longer = Vec::new();
            for text in &texts {
                for c in alphabet {
                    let t = format!("{text}{c}");
                    let depth = nesting_depth(&t);
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                        assert_eq!(depth, walked(&v), "{t}");
                        if scan(&t).always_builds() {
                            assert_eq!(check(&t), Ok(()), "{t}");
                        }
                        json += 1;
                    }
                    longer.push(t);
                }
            }
            texts = longer;
        }
        assert!(json > 100, "{json}");
    }

    /// `scan` tells apart what a full read can refuse beyond nesting: surrogate escapes and
    /// numbers past an `f64`; whatever it calls buildable, `check` and `parse` accept.
    #[test]
    fn scan_knows_what_a_full_read_refuses() {
        let long = |n: usize| format!("[{}]", "9".repeat(n));
        let cases: Vec<(String, bool)> = vec![
            (r#"{"a": 1, "b": [true, false, null, -0.5]}"#.into(), true),
            (r#"{"a": 1e5}"#.into(), false),
            (r#"{"a": 1.5E+2}"#.into(), false),
            (r#"{"a": 1e400}"#.into(), false),
            (r#"["e", "1e400", "E"]"#.into(), true),
            (r#"{"a": "\u003c\u0026\u00e9\uFFFF"}"#.into(), true),
            (r#"{"a": "\ud83d\ude00"}"#.into(), false),
            (r#"{"a": "\ud800"}"#.into(), false),
            (r#"{"a": "\uDC00x"}"#.into(), false),
            (r#"{"a": "\\ud800"}"#.into(), true),
            (r#"{"\ud800": 1}"#.into(), false),
            (long(299), true),
            (long(300), false),
            (long(400), false),
        ];
        for (text, plain) in &cases {
            let scanned = scan(text);
            assert_eq!(scanned.plain, *plain, "{text}");
            if scanned.always_builds() {
                assert_eq!(check(text), Ok(()), "{text}");
                assert!(parse(text).is_ok(), "{text}");
            }
        }
        // What a full read refuses, among them, is never called buildable.
        for (text, _) in &cases {
            if check(text).is_err() {
                assert!(!scan(text).always_builds(), "{text}");
            }
        }
        assert!(check(r#"{"a": 1e400}"#).is_err());
        assert!(check(r#"{"a": "\ud800"}"#).is_err());
        assert!(check(&long(400)).is_err());
    }

    /// What `Scan::always_builds` lets the admission path skip: every plain text no deeper than
    /// `SHALLOW_DEPTH` is accepted by `check` (and `parse`); serde_json's limit is further on.
    #[test]
    fn shallow_texts_always_build() {
        let arrays = |d: usize| format!("{}1{}", "[".repeat(d), "]".repeat(d));
        let objects = |d: usize| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d));
        let mixed = |d: usize| {
            let open: String = (0..d)
                .map(|i| if i % 2 == 0 { "[" } else { "{\"k\":" })
                .collect();
            let close: String = (0..d)
                .rev()
                .map(|i| if i % 2 == 0 { "]" } else { "}" })
                .collect();
            format!("{open}\"x\"{close}")
        };
        for d in 0..=SHALLOW_DEPTH {
            for text in [arrays(d), objects(d), mixed(d)] {
                assert_eq!(nesting_depth(&text), d);
                assert_eq!(check(&text), Ok(()), "depth {d}");
                assert!(parse(&text).is_ok(), "depth {d}");
            }
        }
        // The first depth serde_json refuses is well past it.
        let refused = (SHALLOW_DEPTH..200)
            .find(|d| check(&arrays(*d)).is_err())
            .unwrap();
        assert_eq!(refused, 128);
        assert_eq!(check(&objects(127)), Ok(()));
        assert!(check(&objects(128)).is_err());
    }

    /// Keys that share a slot of the recent keys evict each other there and are still
    /// interned: the second `first` is the first one's string.
    #[test]
    fn keys_sharing_a_recent_slot_are_still_interned() {
        let first = "image";
        let second = (0..10_000)
            .map(|i| format!("k{i}"))
            .find(|k| recent_slot(k) == recent_slot(first) && k != first)
            .unwrap();
        let text = format!(r#"[{{"{first}": 1}}, {{"{second}": 2}}, {{"{first}": 3}}]"#);
        let value = parse(&text).unwrap();
        let key = |i: usize| match value[i].as_object().unwrap().keys().next().unwrap() {
            Value::String(s) => Rc::clone(s),
            other => panic!("{other:?}"),
        };
        assert_eq!(key(0).as_ref(), first);
        assert_eq!(key(1).as_ref(), second);
        assert!(Rc::ptr_eq(&key(0), &key(2)));
        let via_json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, from_json(&via_json));
    }

    /// Keys are shared within a document.
    #[test]
    fn object_keys_are_interned() {
        let value = parse(r#"[{"name": "a"}, {"name": "b"}]"#).unwrap();
        let key = |i: usize| {
            let object = value[i].as_object().unwrap();
            match object.keys().next().unwrap() {
                Value::String(s) => Rc::clone(s),
                other => panic!("{other:?}"),
            }
        };
        assert!(Rc::ptr_eq(&key(0), &key(1)));
    }

    #[test]
    fn too_deep_a_text_is_an_error_with_serde_jsons_words() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let err = parse(&deep).unwrap_err();
        assert!(
            err.starts_with("recursion limit exceeded at line 1 column "),
            "{err}"
        );
        let fine = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn a_shared_part_is_parsed_once() {
        let part = SharedPart::new();
        let mut calls = 0;
        let mut text = || {
            calls += 1;
            Ok(r#"{"containers": [{"image": "nginx"}]}"#)
        };
        let first = part.get(&mut text).unwrap();
        let second = part.get(&mut text).unwrap();
        assert_eq!(calls, 1);
        assert_eq!(first, second);
        assert_eq!(first["containers"][0]["image"], Value::from("nginx"));
        let failing = SharedPart::new();
        assert_eq!(
            failing.get(|| Err("no object".into())),
            Err("no object".into())
        );
        assert_eq!(failing.get(|| Ok("{}")), Err("no object".into()));
    }

    #[test]
    fn documents_hold_what_was_set() {
        let mut doc = Document::new();
        doc.string("image", "a:1");
        doc.json(
            "authorityMatches",
            &json!({"authority-0": {"static": true}}),
        );
        doc.value("spec", parse(r#"{"replicas": 2}"#).unwrap());
        assert_eq!(
            doc.into_value(),
            Value::from(
                json!({"image": "a:1", "authorityMatches": {"authority-0": {"static": true}}, "spec": {"replicas": 2}})
            )
        );
    }
}
