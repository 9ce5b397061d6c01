//! The core's JSON policy, on top of `serde` and `serde_json`.
//!
//! Every document the core reads (metadata, registration and token
//! responses, OAuth error bodies, the state document) is a `serde`-derived
//! type read in two passes:
//!
//! 1. [`parse`]: `serde_json` parses the bytes (strict RFC 8259: UTF-8, no
//!    comments, no trailing commas or content, no lone surrogates) into a
//!    [`serde_json::Value`] through `Strict`, a visitor that also refuses
//!    what `serde_json` accepts: **duplicate member names** at any depth
//!    (RFC 8259 §4 says they SHOULD be unique; parsers that disagree on
//!    which one wins open the door to confusion attacks on metadata, and
//!    `serde_json` keeps the last one) and nesting deeper than
//!    [`MAX_DEPTH`].
//! 2. [`from_value`]: the derived `Deserialize` of the document type reads
//!    that tree through `Node`, a deserializer whose errors name the
//!    member (`tokens[0].expires_at is not a non-negative integer`), which
//!    treats `null` as an absent optional member, and which reads structs
//!    from objects only (`serde_json`'s own `Value` deserializer also fills a
//!    struct from an array, by position).
//!
//! Document types mark their `Option` members `#[serde(default)]`: absent
//! is `None` either way, and the derive then uses `Default` instead of its
//! generic missing-member path (a smaller component).
//!
//! These two small pieces are the only hand-written JSON code: `serde_json`
//! has no switch for duplicates or for a depth other than its 128, and its
//! type errors (`invalid type: integer 7, expected a string`) say what but
//! not where. `serde_path_to_error` would add the where, but around
//! `serde_json`'s deserializers, which fill a struct from an array too and
//! word errors as above; `Node` is smaller than that dependency. Body size
//! caps stay with each HTTP step (`max_response_body`).
//!
//! Writing is `serde_json`'s compact form of the derived `Serialize`
//! ([`to_vec`]): members in declaration order, `"`, `\` and control
//! characters escaped, everything else (non-ASCII included) as is.
//!
//! Numbers: integers are exact (`u64`/`i64`); anything else is an `f64` in
//! the tree, which no document type reads as an integer (`3600.0` is not a
//! non-negative integer). Unlike the module this replaces, a number beyond
//! the `f64` range (`1e400`) is refused even in a member the core ignores.

use crate::prelude::*;
use core::fmt;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Expected, IntoDeserializer, MapAccess,
    SeqAccess, Unexpected, Visitor,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted by [`parse`].
pub const MAX_DEPTH: usize = 64;

/// Why bytes are not an acceptable JSON document: the byte offset where
/// parsing stopped and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    position: usize,
    reason: String,
}

impl JsonError {
    /// Byte offset in the input (at or just after the offending byte).
    #[cfg(test)]
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong.
    #[cfg(test)]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// `serde_json`'s error with its line and column turned into a byte
    /// offset into `bytes`.
    fn new(e: &serde_json::Error, bytes: &[u8]) -> JsonError {
        let text = e.to_string();
        let (line, column) = (e.line(), e.column());
        let suffix = format!(" at line {line} column {column}");
        let reason = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        // `column` counts bytes from the start of the line, 1 at its first.
        let line_start = match line {
            0 | 1 => 0,
            n => bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(n - 2)
                .map_or(bytes.len(), |(i, _)| i + 1),
        };
        JsonError {
            position: (line_start + column.saturating_sub(1)).min(bytes.len()),
            reason,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.position)
    }
}

impl core::error::Error for JsonError {}

/// Parses one JSON document strictly (see the module documentation).
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| JsonError::new(&e, bytes))?;
    Ok(value)
}

/// Parses a document that must be a JSON object (see [`parse`]); the error
/// is a reason for a message.
pub fn parse_object(bytes: &[u8]) -> Result<Value, String> {
    match parse(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses a document that must be a JSON object into `T` (see the module
/// documentation); the error is a reason for a message.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    from_value(&parse_object(bytes)?).map_err(|e| e.to_string())
}

/// Reads `T` from a parsed tree; errors name the member.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, MemberError> {
    T::deserialize(Node(value))
}

/// The compact JSON text of `value`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // serde_json fails only for a map with non-string keys or a `Serialize`
    // impl that fails on purpose; the core's document types have neither
    // (and an empty document would be refused by any reader, never misread).
    serde_json::to_vec(value).unwrap_or_default()
}

/// For `#[serde(default, deserialize_with = "…")]`: an optional member
/// whose `null` means the same as its absence, the type's default.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The pass-1 visitor: builds a [`Value`], refusing duplicate member names
/// and nesting deeper than [`MAX_DEPTH`].
#[derive(Clone, Copy)]
struct Strict {
    /// Arrays and objects around the value being read.
    depth: usize,
}

impl Strict {
    fn inner<E: de::Error>(self) -> Result<Strict, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom("nesting too deep"));
        }
        Ok(Strict {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // serde_json hands out finite numbers only.
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            // Names are compared unescaped: `"a"` and `"\u0061"` are one.
            if members.contains_key(&name) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = map.next_value_seed(inner)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// A document that parsed but does not have the expected members: where
/// (a path such as `tokens[0].expires_at`) and what is wrong there.
///
/// Boxed: one pointer is what every derived visitor moves through its `?`s
/// (a smaller component than two `String`s would make).
#[derive(Clone, PartialEq, Eq)]
pub struct MemberError(Box<Where>);

#[derive(Clone, PartialEq, Eq)]
struct Where {
    /// `.name` and `[index]` segments, outermost first.
    path: String,
    what: String,
}

impl fmt::Debug for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberError")
            .field("path", &self.0.path)
            .field("what", &self.0.what)
            .finish()
    }
}

impl MemberError {
    fn new(what: String) -> MemberError {
        MemberError(Box::new(Where {
            path: String::new(),
            what,
        }))
    }

    /// The same error inside member `name` of an object.
    fn in_member(mut self, name: &str) -> MemberError {
        self.push_member(name);
        self
    }

    /// Puts the error inside member `name` of an object (in place: not
    /// generic, no error moved).
    #[inline(never)]
    fn push_member(&mut self, name: &str) {
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        self.0.path = if plain {
            format!(".{name}{}", self.0.path)
        } else {
            format!("[{name:?}]{}", self.0.path)
        };
    }

    /// The same error inside item `index` of an array.
    fn in_item(mut self, index: usize) -> MemberError {
        self.0.path = format!("[{index}]{}", self.0.path);
        self
    }

    /// Where, `tokens[0].expires_at`; empty for the document itself.
    pub fn path(&self) -> &str {
        let path = &self.0.path;
        path.strip_prefix('.').unwrap_or(path)
    }
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            "" => f.write_str(&self.0.what),
            path => write!(f, "{path} {}", self.0.what),
        }
    }
}

impl core::error::Error for MemberError {}

/// What a type serde describes as `exp` is called in messages.
fn described(exp: &dyn Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "u8" | "u16" | "u32" | "u64" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" => "an integer".into(),
        "a sequence" => "an array".into(),
        "a map" => "an object".into(),
        _ if text.starts_with("struct ") => "an object".into(),
        _ => text,
    }
}

impl de::Error for MemberError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        MemberError::new(msg.to_string())
    }

    fn invalid_type(_: Unexpected<'_>, exp: &dyn Expected) -> Self {
        MemberError::new(format!("is not {}", described(exp)))
    }

    fn invalid_value(_: Unexpected<'_>, exp: &dyn Expected) -> Self {
        MemberError::new(format!("is not {}", described(exp)))
    }

    fn unknown_variant(variant: &str, _: &'static [&'static str]) -> Self {
        MemberError::new(format!("{variant:?} is not known"))
    }

    fn missing_field(field: &'static str) -> Self {
        MemberError::new("is missing".into()).in_member(field)
    }
}

/// The pass-2 deserializer over a parsed tree (see the module
/// documentation).
#[derive(Clone, Copy)]
struct Node<'a>(&'a Value);

impl<'de> IntoDeserializer<'de, MemberError> for Node<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Node<'_> {
    type Error = MemberError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, f) => visitor.visit_f64(f.unwrap_or_default()),
            },
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Items::new(items)),
            Value::Object(members) => visitor.visit_map(Members::new(members)),
        }
    }

    // The typed entry points below hand the visitor the one value it can
    // take and refuse anything else with the visitor's own description:
    // the message `deserialize_any` would give through the visitor's
    // default `visit_*` methods, without instantiating all of them for
    // every visitor type.

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(wrong_type(&visitor)),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.deserialize_u64(visitor)
    }

    /// Unsigned integers only: `-1` and `3600.0` are refused here, as the
    /// visitor would refuse them.
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0.as_u64() {
            Some(n) => visitor.visit_u64(n),
            None => Err(wrong_type(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::String(s) => visitor.visit_str(s),
            _ => Err(wrong_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items::new(items)),
            _ => Err(wrong_type(&visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::Object(members) => visitor.visit_map(Members::new(members)),
            _ => Err(wrong_type(&visitor)),
        }
    }

    /// `null` is an absent value.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// Objects only: no struct from an array by position.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        // Straight to `visit_map`: a struct visitor's other `visit_*`
        // methods (errors all) would only add code.
        match self.0 {
            Value::Object(members) => visitor.visit_map(Members::new(members)),
            _ => Err(wrong_type(&"a map")),
        }
    }

    /// Unit variants, by name: `"none"`, `"private_key_jwt"`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(wrong_type(&"a string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u128 f32 f64 char
        bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct
        identifier
    }
}

/// The error for a value of the wrong type, in the words of `exp`; shared
/// by every visitor type.
#[cold]
#[inline(never)]
fn wrong_type(exp: &dyn Expected) -> MemberError {
    de::Error::invalid_type(Unexpected::Other("?"), exp)
}

/// The items of an array, errors marked with their index.
struct Items<'a> {
    items: core::iter::Enumerate<core::slice::Iter<'a, Value>>,
}

impl<'a> Items<'a> {
    fn new(items: &'a [Value]) -> Self {
        Items {
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = MemberError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, MemberError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, item)) => seed
                .deserialize(Node(item))
                .map(Some)
                .map_err(|e| e.in_item(i)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The members of an object, errors marked with their name.
struct Members<'a> {
    members: serde_json::map::Iter<'a>,
    /// The member whose name was just read.
    value: Option<(&'a str, &'a Value)>,
}

impl<'a> Members<'a> {
    fn new(members: &'a Map<String, Value>) -> Self {
        Members {
            members: members.iter(),
            value: None,
        }
    }

    /// The next member's name, its value kept for `next_value_seed`
    /// (not generic: one copy for every key type).
    #[inline(never)]
    fn next_name(&mut self) -> Option<&'a str> {
        let (name, value) = self.members.next()?;
        self.value = Some((name, value));
        Some(name)
    }

    /// The value of the member whose name was just read.
    #[inline(never)]
    fn take_value(&mut self) -> Result<(&'a str, &'a Value), MemberError> {
        self.value
            .take()
            .ok_or_else(|| MemberError::new("a value without a name".into()))
    }
}

impl<'de> MapAccess<'de> for Members<'_> {
    type Error = MemberError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, MemberError> {
        match self.next_name() {
            None => Ok(None),
            Some(name) => seed.deserialize(name.into_deserializer()).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, MemberError> {
        let (name, value) = self.take_value()?;
        let mut result = seed.deserialize(Node(value));
        if let Err(e) = &mut result {
            e.push_member(name);
        }
        result
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(s: &str) -> Value {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn bad(s: &str) -> JsonError {
        match parse(s.as_bytes()) {
            Err(e) => e,
            Ok(v) => panic!("{s:?} parsed as {v:?}"),
        }
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn text(v: &impl Serialize) -> String {
        String::from_utf8(to_vec(v)).unwrap()
    }

    #[test]
    fn rfc8259_examples() {
        // §13, first example.
        let doc = r#"
      {
        "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
                "Url":    "http://www.example.com/image/481989943",
                "Height": 125,
                "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
      }"#;
        let v = ok(doc);
        let image = &v["Image"];
        assert_eq!(image["Width"].as_u64(), Some(800));
        assert_eq!(image["Title"].as_str(), Some("View from 15th Floor"));
        assert_eq!(
            image["Thumbnail"]["Url"].as_str(),
            Some("http://www.example.com/image/481989943")
        );
        assert_eq!(image["Animated"], Value::Bool(false));
        assert_eq!(image["IDs"][3].as_u64(), Some(38793));
        // Written compactly (a tree's members in name order) and read back.
        assert_eq!(
            text(&v),
            r#"{"Image":{"Animated":false,"Height":600,"IDs":[116,943,234,38793],"Thumbnail":{"Height":125,"Url":"http://www.example.com/image/481989943","Width":100},"Title":"View from 15th Floor","Width":800}}"#
        );
        assert_eq!(ok(&text(&v)), v);
        // §13, second example: fractions are numbers, never integers.
        let doc = r#"[
        {
           "precision": "zip",
           "Latitude":  37.7668,
           "Longitude": -122.3959,
           "Address":   "",
           "City":      "SAN FRANCISCO",
           "State":     "CA",
           "Zip":       "94107",
           "Country":   "US"
        },
        {
           "precision": "zip",
           "Latitude":  37.371991,
           "Longitude": -122.026020,
           "Address":   "",
           "City":      "SUNNYVALE",
           "State":     "CA",
           "Zip":       "94085",
           "Country":   "US"
        }
      ]"#;
        let v = ok(doc);
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[1]["Longitude"].as_f64(), Some(-122.02602));
        assert_eq!(v[0]["Latitude"].as_u64(), None);
        assert_eq!(v[0]["Address"].as_str(), Some(""));
        // §13: scalars are documents too.
        assert_eq!(ok(r#""Hello world!""#), s("Hello world!"));
        assert_eq!(ok("42"), json!(42));
        assert_eq!(ok("true"), Value::Bool(true));
        assert_eq!(ok("null"), Value::Null);
    }

    #[test]
    fn whitespace_and_trailing_content() {
        assert_eq!(ok(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n "), ok(r#"{"a":[1,2]}"#));
        assert_eq!(ok("[]"), json!([]));
        assert_eq!(ok("{}"), json!({}));
        for doc in [
            "",
            "   ",
            "{} {}",
            "1 2",
            "[1,]",
            "[,1]",
            "[1 2]",
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "{'a':1}",
            "[1] // comment",
            "/* c */ [1]",
            "[1]#",
            "\u{feff}[1]",
            "[1",
            r#"{"a":1"#,
            r#"{"a":"#,
            r#"{"a""#,
            "[\u{a0}1]",
            "tru",
            "True",
            "nul",
            "falsey",
            "undefined",
        ] {
            bad(doc);
        }
        let e = bad("[1] x");
        assert_eq!(e.position(), 4);
        assert_eq!(e.to_string(), "trailing characters at byte 4");
        // Positions count bytes across lines.
        let e = bad("{\n  \"a\": 1,\n  x\n}");
        assert_eq!(e.position(), 14);
        assert_eq!(e.reason(), "key must be a string");
        assert_eq!(bad("").position(), 0);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            ok(r#""\"\\\/\b\f\n\r\t\u0041\u00e9\u00E9 \u20AC""#),
            s("\"\\/\u{8}\u{c}\n\r\tAéé €")
        );
        assert_eq!(ok("\"héllo ✓ 𝄞\""), s("héllo ✓ 𝄞"));
        assert_eq!(ok(r#""\u0000""#), s("\0"));
        assert_eq!(ok("\"\u{7f}\""), s("\u{7f}"));
        for doc in [
            "\"unterminated",
            "\"a\\",
            r#""\x""#,
            r#""\'""#,
            r#""\u12""#,
            r#""\u12G4""#,
            r#""\U0041""#,
            "\"tab\there\"",
            "\"new\nline\"",
            "\"\u{1f}\"",
        ] {
            bad(doc);
        }
        assert!(bad("\"ab\ncd\"").reason().starts_with("control character"));
    }

    #[test]
    fn surrogate_pairs_and_lone_surrogates() {
        assert_eq!(ok(r#""\uD834\uDD1E""#), s("𝄞"));
        assert_eq!(ok(r#""\ud83d\ude00!""#), s("😀!"));
        assert_eq!(ok(r#""\uDBFF\uDFFF""#), s("\u{10FFFF}"));
        for doc in [
            r#""\uD834""#,
            r#""\uD834x""#,
            r#""\uD834\u0041""#,
            r#""\uD834\uD834""#,
            r#""\uDD1E""#,
            r#""\uDD1E\uD834""#,
            r#""\uD834\n""#,
        ] {
            let reason = bad(doc).reason().to_string();
            assert!(
                reason == "lone leading surrogate in hex escape"
                    || reason == "unexpected end of hex escape",
                "{doc}: {reason}"
            );
        }
        // At the end of the escape (bytes 2..8).
        assert_eq!(bad(r#"["\uDD1E"]"#).position(), 7);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let e = parse(b"[\"a\xff\"]").unwrap_err();
        assert_eq!(e.position(), 3);
        assert_eq!(e.reason(), "invalid unicode code point");
        assert!(parse(b"\"\xc3\"").is_err()); // truncated sequence
        assert!(parse(b"\"\xed\xa0\x80\"").is_err()); // encoded surrogate
        assert!(parse(b"\"\xc0\xaf\"").is_err()); // overlong
        assert!(parse(b"[1]\xff").is_err()); // outside a string
    }

    #[test]
    fn nesting_is_limited() {
        // `nested(n)` nests `n` deep: the limit is accepted, one more is not.
        let limited = |nested: &dyn Fn(usize) -> String| {
            assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
            assert_eq!(
                parse(nested(MAX_DEPTH + 1).as_bytes())
                    .unwrap_err()
                    .reason(),
                "nesting too deep"
            );
        };
        limited(&|n| format!("{}{}", "[".repeat(n), "]".repeat(n)));
        limited(&|n| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n)));
        // Hostile input: no stack overflow, just an error where the limit
        // was passed.
        let e = parse("[".repeat(1_000_000).as_bytes()).unwrap_err();
        assert_eq!(e.reason(), "nesting too deep");
        assert_eq!(e.position(), MAX_DEPTH);
        assert!(parse(r#"{"a":"#.repeat(100_000).as_bytes()).is_err());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let e = bad(r#"{"a":1,"b":2,"a":3}"#);
        assert_eq!(e.reason(), "duplicate member name");
        // At the end of the second name (bytes 13..16).
        assert_eq!(e.position(), 15);
        bad(r#"{"issuer":"https://a","x":{},"issuer":"https://b"}"#);
        bad(r#"{"x":{"a":1,"a":1}}"#);
        // At any depth, in arrays too.
        bad(r#"{"x":[{"y":[{"a":1,"a":1}]}]}"#);
        // Equal after unescaping is equal.
        bad(r#"{"a":1,"\u0061":2}"#);
        // The same name in different objects is fine.
        ok(r#"{"a":{"a":1},"b":{"a":2},"c":[{"a":1},{"a":1}]}"#);
        // Many names: still refused, still fast.
        let many: Vec<String> = (0..20_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let doc = format!("{{{}}}", many.join(","));
        assert_eq!(ok(&doc).as_object().unwrap().len(), 20_000);
        let doc = format!("{{{},\"k7\":0}}", many.join(","));
        assert_eq!(bad(&doc).reason(), "duplicate member name");
    }

    #[test]
    fn numbers() {
        let n = |s: &str| match ok(s) {
            Value::Number(n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n("0").as_u64(), Some(0));
        assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(n("-1").as_i64(), Some(-1));
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(n("-9223372036854775808").as_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775807").as_i64(), Some(i64::MAX));
        assert_eq!(n("9223372036854775808").as_i64(), None);
        // Not integers in u64 / i64 range: accepted, never read as integers.
        for text in [
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1.5",
            "0.0",
            "-0.25",
            "1e10",
            "1E+2",
            "2e-3",
            "-1.25e-3",
            "3600.0",
        ] {
            let v = n(text);
            assert_eq!(v.as_u64(), None, "{text}");
            assert_eq!(v.as_i64(), None, "{text}");
            let member = format!(r#"{{"n":{text}}}"#);
            assert_eq!(
                from_slice::<Counter>(member.as_bytes()).unwrap_err(),
                "n is not a non-negative integer"
            );
        }
        // Beyond f64: refused (the module this replaced kept the text).
        assert!(bad("1.7976931348623157e309")
            .reason()
            .contains("out of range"));
        for text in [
            "01",
            "-01",
            "00",
            "1.",
            "-",
            "--1",
            ".5",
            "+1",
            "1e",
            "1e+",
            "1E-",
            "1.e5",
            "0x10",
            "Infinity",
            "-Infinity",
            "NaN",
            "1_000",
            "1.5.",
            "-.5",
            "- 1",
        ] {
            bad(text);
            bad(&format!("[{text}]"));
        }
    }

    #[test]
    fn writer_escapes() {
        let v = "q\" b\\ / \n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 𝄞";
        assert_eq!(
            text(&v),
            "\"q\\\" b\\\\ / \\n\\r\\t\\b\\f\\u0000\\u001f\u{7f} é 𝄞\""
        );
        assert_eq!(ok(&text(&v)), s(v));
    }

    #[test]
    fn round_trips() {
        for doc in [
            r#"{"a":[1,-2,"x",true,false,null,{},[]],"b":{"c":"\u0001"}}"#,
            r#"[18446744073709551615,-9223372036854775808,0]"#,
            r#""é\"\\""#,
            r#"{"":""}"#,
        ] {
            let v = ok(doc);
            assert_eq!(text(&v), doc);
            assert_eq!(ok(&text(&v)), v);
        }
        // Escapes that need not be written come back unescaped.
        assert_eq!(text(&ok(r#""\/\u00e9""#)), "\"/é\"");
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Counter {
        n: u64,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Members {
        s: Option<String>,
        req: String,
        n: Option<u64>,
        b: Option<bool>,
        l: Option<Vec<String>>,
        #[serde(default, deserialize_with = "null_as_default")]
        flag: bool,
        #[serde(default)]
        inner: Vec<Counter>,
        method: Option<Method>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Method {
        None,
        ClientSecretBasic,
    }

    #[test]
    fn typed_members_and_errors_that_name_them() {
        let m: Members = from_slice(
            br#"{"s":"x","req":"r","n":3,"b":true,"l":["a","b"],"flag":true,"inner":[{"n":1}],"method":"client_secret_basic","unknown":{"x":[1.5,{"y":null}]}}"#,
        )
        .unwrap();
        assert_eq!(m.s.as_deref(), Some("x"));
        assert_eq!(m.req, "r");
        assert_eq!((m.n, m.b, m.flag), (Some(3), Some(true), true));
        assert_eq!(m.l, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(m.inner, [Counter { n: 1 }]);
        assert_eq!(m.method, Some(Method::ClientSecretBasic));
        // null is absent; absent optional members are None or the default.
        let m: Members = from_slice(
            br#"{"s":null,"req":"r","n":null,"b":null,"l":null,"flag":null,"method":null}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Members {
                s: None,
                req: "r".into(),
                n: None,
                b: None,
                l: None,
                flag: false,
                inner: vec![],
                method: None,
            }
        );
        let m: Members = from_slice(br#"{"req":"r","method":"none"}"#).unwrap();
        assert_eq!((m.s, m.flag, m.method), (None, false, Some(Method::None)));

        let err = |doc: &str| from_slice::<Members>(doc.as_bytes()).unwrap_err();
        for (doc, message) in [
            (r#"{}"#, "req is missing"),
            (r#"{"req":null}"#, "req is not a string"),
            (r#"{"req":"r","s":5}"#, "s is not a string"),
            (r#"{"req":"r","n":-3}"#, "n is not a non-negative integer"),
            (r#"{"req":"r","n":1.5}"#, "n is not a non-negative integer"),
            (r#"{"req":"r","n":"3"}"#, "n is not a non-negative integer"),
            (r#"{"req":"r","b":"true"}"#, "b is not a boolean"),
            (r#"{"req":"r","flag":1}"#, "flag is not a boolean"),
            (r#"{"req":"r","l":"a"}"#, "l is not an array"),
            (r#"{"req":"r","l":["a",1]}"#, "l[1] is not a string"),
            (r#"{"req":"r","inner":{}}"#, "inner is not an array"),
            (
                r#"{"req":"r","inner":[{"n":1},{}]}"#,
                "inner[1].n is missing",
            ),
            // No struct from an array, by position.
            (r#"{"req":"r","inner":[[1]]}"#, "inner[0] is not an object"),
            (
                r#"{"req":"r","method":"tls_client_auth"}"#,
                r#"method "tls_client_auth" is not known"#,
            ),
            (r#"{"req":"r","method":1}"#, "method is not a string"),
            ("[]", "not a JSON object"),
            (r#"["r"]"#, "not a JSON object"),
            (
                r#"{"req":"r","req":"s"}"#,
                "duplicate member name at byte 15",
            ),
            (r#"{"req":"#, "EOF while parsing a value at byte 6"),
        ] {
            assert_eq!(err(doc), message, "{doc}");
        }
        // Names that are not identifiers are quoted in paths.
        let e =
            from_value::<alloc::collections::BTreeMap<String, Members>>(&json!({"https://a": {}}))
                .unwrap_err();
        assert_eq!(e.to_string(), r#"["https://a"].req is missing"#);
        assert_eq!(e.path(), r#"["https://a"].req"#);
    }
}
