//! Structs decoded only from JSON objects.
//!
//! serde's derived `Deserialize` for a struct also accepts a sequence of the struct's fields in
//! declaration order (`[false]` for `{"publicGoodInstance": false}`), and with
//! `#[serde(default)]` fields even an empty one (`[]` for the all-default struct). Neither a
//! Kubernetes object nor a ClusterImagePolicy is ever written so (their schemas have objects
//! there, and policy-controller's Go decoder refuses an array for a struct), so a sequence in
//! such a place is a mistake that must be a settings or request error, not a meaning the user
//! never wrote. Every struct of the settings (the CIP model included) and of the workload
//! object's views is decoded through this module (the envelope the host writes, the `validate`
//! payload and its admission request's fields, is not: the host always writes objects there,
//! and a workload author cannot change its shape):
//!
//! - [`Strict`], a wrapper type (the settings document in `validate`'s payload, the workload
//!   views);
//! - the `deserialize_with` helpers [`object`], [`optional_object`], [`objects`] and
//!   [`optional_objects`], for fields whose type stays the plain struct.
//!
//! Errors are the deserializer's for a map (`invalid type: sequence, expected struct Spec`);
//! `null` where the field is an `Option` is still `None`.

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::marker::PhantomData;

/// A `T` that must be decoded from a JSON object.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct Strict<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Strict<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(ObjectOnly(deserializer)).map(Strict)
    }
}

/// A deserializer that decodes anything asked of it as a map.
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// `deserialize_with` for a struct field: a JSON object.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Strict::<T>::deserialize(deserializer).map(|s| s.0)
}

/// `deserialize_with` for an optional struct field: a JSON object or `null`.
pub(crate) fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Strict<T>>::deserialize(deserializer).map(|o| o.map(|s| s.0))
}

/// `deserialize_with` for a list of structs: a JSON array of objects. The `Vec` reserves room
/// for one element first, then grows by doubling: serde's own `Vec` reserves four at the
/// first element when the format gives no length (JSON does not), and the CIP model's structs
/// are large (an `Authority` is about 0.5 KB): with one authority and one glob per CIP, as most
/// CIPs have, that tripled the heap a fresh instance touches to decode 20 CIPs
/// (BENCHMARKS.md, "Fixed: lists reserving room for four large structs"). Errors as serde's
/// `Vec` (`invalid type: …, expected a sequence`).
pub(crate) fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    struct List<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for List<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            // A length the format announces is trusted up to 64 elements (serde's own caution).
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).clamp(1, 64));
            while let Some(Strict(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(List(PhantomData))
}

/// `deserialize_with` for an optional list of structs: a JSON array of objects, or `null`.
pub(crate) fn optional_objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Vec<T>>, D::Error> {
    /// [`objects`] as a type, for `Option`'s `Deserialize`.
    struct Objects<T>(Vec<T>);
    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Objects<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            objects(deserializer).map(Objects)
        }
    }
    Option::<Objects<T>>::deserialize(deserializer).map(|o| o.map(|l| l.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        on: bool,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        #[serde(deserialize_with = "object")]
        one: Inner,
        #[serde(deserialize_with = "optional_object")]
        maybe: Option<Inner>,
        #[serde(deserialize_with = "objects")]
        many: Vec<Inner>,
        #[serde(deserialize_with = "optional_objects")]
        maybe_many: Option<Vec<Inner>>,
    }

    fn decode(text: &str) -> Result<Outer, String> {
        serde_json::from_str::<Strict<Outer>>(text)
            .map(|s| s.0)
            .map_err(|e| e.to_string())
    }

    /// What plain serde accepts and these refuse: a struct as an array of its fields, or empty.
    #[test]
    fn plain_serde_takes_an_array_for_a_struct() {
        let plain: Inner = serde_json::from_str("[true]").unwrap();
        assert_eq!(plain, Inner { on: true });
        let plain: Inner = serde_json::from_str("[]").unwrap();
        assert_eq!(plain, Inner { on: false });
    }

    #[test]
    fn objects_decode_as_plain_serde_does() {
        let o = decode(
            r#"{"one":{"on":true},"maybe":{"on":true},"many":[{"on":true},{}],"maybe_many":[{}]}"#,
        )
        .unwrap();
        assert_eq!(
            o,
            Outer {
                one: Inner { on: true },
                maybe: Some(Inner { on: true }),
                many: vec![Inner { on: true }, Inner { on: false }],
                maybe_many: Some(vec![Inner { on: false }]),
            }
        );
        assert_eq!(
            decode(r#"{"maybe":null,"maybe_many":null}"#).unwrap(),
            Outer::default()
        );
        assert_eq!(decode(r#"{"many":[]}"#).unwrap().many, Vec::<Inner>::new());
    }

    #[test]
    fn arrays_for_structs_are_refused() {
        let refused = |text: &str, expected: &str| {
            let e = decode(text).unwrap_err();
            assert!(e.starts_with(expected), "{text}: {e}");
        };
        refused("[]", "invalid type: sequence, expected struct Outer");
        refused("[[true]]", "invalid type: sequence, expected struct Outer");
        refused(
            r#"{"one":[true]}"#,
            "invalid type: sequence, expected struct Inner",
        );
        refused(
            r#"{"one":[]}"#,
            "invalid type: sequence, expected struct Inner",
        );
        refused(
            r#"{"maybe":[true]}"#,
            "invalid type: sequence, expected struct Inner",
        );
        refused(
            r#"{"many":[[true]]}"#,
            "invalid type: sequence, expected struct Inner",
        );
        refused(
            r#"{"many":[{}, []]}"#,
            "invalid type: sequence, expected struct Inner",
        );
        refused(
            r#"{"maybe_many":[[]]}"#,
            "invalid type: sequence, expected struct Inner",
        );
        refused(
            r#"{"many":{"on":true}}"#,
            "invalid type: map, expected a sequence",
        );
        refused(
            r#"{"one":null}"#,
            "invalid type: null, expected struct Inner",
        );
    }

    /// One element reserves room for one (the heap a fresh request touches).
    #[test]
    fn a_list_of_one_reserves_one() {
        let o = decode(r#"{"many":[{}]}"#).unwrap();
        assert_eq!(o.many.capacity(), 1);
        let o = decode(r#"{"many":[{},{},{}]}"#).unwrap();
        assert_eq!(o.many.len(), 3);
    }
}
