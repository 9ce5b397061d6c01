//! A small JSON (RFC 8259) value with a strict parser and a compact writer.
//!
//! Just what the protocol needs: metadata, registration and token documents
//! in, registration requests and the state document out. Numbers are never
//! computed with: integers are kept exactly, anything else as its source
//! text, so no floating-point code is involved.
//!
//! The parser is strict: UTF-8 input, no comments, no trailing commas, no
//! lone surrogates, nothing but whitespace after the value. Duplicate member
//! names are refused (RFC 8259 §4 says they SHOULD be unique; parsers that
//! disagree on which one wins open the door to confusion attacks on
//! metadata). Nesting is limited to [`MAX_DEPTH`] and the time taken is
//! linear in the input (duplicate detection sorts member names: n log n).

use crate::prelude::*;
use core::fmt;

/// Deepest nesting of arrays and objects accepted by [`parse`].
pub const MAX_DEPTH: usize = 64;

/// A JSON value. Object members keep their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in document order, names unique when parsed.
    Object(Vec<(String, Value)>),
}

/// A JSON number: integers that fit `u64` or `i64` exactly, anything else
/// (fractions, exponents, huge integers) as its validated source text.
/// Equality is that of the representation: `1.0` and `1.00` differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Non-negative integer.
    Unsigned(u64),
    /// Negative integer.
    Negative(i64),
    /// Any other number, as written.
    Text(String),
}

impl Number {
    /// Reads a number from its JSON text; `None` unless the whole text is one
    /// number in RFC 8259 §6 syntax.
    pub fn from_text(text: &str) -> Option<Number> {
        let mut p = Parser {
            s: text.as_bytes(),
            text,
            pos: 0,
        };
        let n = p.number().ok()?;
        (p.pos == text.len()).then_some(n)
    }

    /// The value, if it is an integer in `0..=u64::MAX`.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            Repr::Unsigned(n) => Some(n),
            _ => None,
        }
    }

    /// The value, if it is an integer in `i64` range.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            Repr::Unsigned(n) => i64::try_from(n).ok(),
            Repr::Negative(n) => Some(n),
            Repr::Text(_) => None,
        }
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Number {
        Number(Repr::Unsigned(n))
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        match u64::try_from(n) {
            Ok(u) => Number(Repr::Unsigned(u)),
            Err(_) => Number(Repr::Negative(n)),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Unsigned(n) => fmt::Display::fmt(n, f),
            Repr::Negative(n) => fmt::Display::fmt(n, f),
            Repr::Text(t) => f.write_str(t),
        }
    }
}

/// Why a document is not JSON: the byte offset where parsing stopped and
/// what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    position: usize,
    reason: &'static str,
}

impl JsonError {
    /// Byte offset in the input.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.position)
    }
}

impl core::error::Error for JsonError {}

/// Parses one JSON document (RFC 8259), strictly: see the module
/// documentation.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = core::str::from_utf8(bytes).map_err(|e| JsonError {
        position: e.valid_up_to(),
        reason: "invalid UTF-8",
    })?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("unexpected characters after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    /// The input, as bytes, for scanning.
    s: &'a [u8],
    /// The same input, as text, for slicing out strings and numbers.
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            position: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A value; `depth` is the number of enclosing arrays and objects.
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err(self.err("nesting too deep")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, JsonError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.err("unexpected end of input")),
                Some(_) => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut members: Vec<(String, Value)> = Vec::new();
        // Where each name starts, to point at a duplicate.
        let mut starts: Vec<usize> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.err("unexpected end of input")),
                Some(_) => return Err(self.err("expected a member name")),
            }
            starts.push(self.pos);
            let name = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.err("unexpected end of input")),
                Some(_) => return Err(self.err("expected ',' or '}'")),
            }
        }
        if members.len() > 1 {
            let mut names: Vec<(&str, usize)> = members
                .iter()
                .map(|(n, _)| n.as_str())
                .zip(starts.iter().copied())
                .collect();
            sort_names(&mut names);
            if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(JsonError {
                    position: w[1].1,
                    reason: "duplicate member name",
                });
            }
        }
        Ok(Value::Object(members))
    }

    /// A string; `pos` is at the opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Both ends are at ASCII bytes (or the end): char boundaries.
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'u') => self.unicode_escape()?,
                        Some(b) => {
                            let c = match b {
                                b'"' => '"',
                                b'\\' => '\\',
                                b'/' => '/',
                                b'b' => '\u{8}',
                                b'f' => '\u{c}',
                                b'n' => '\n',
                                b'r' => '\r',
                                b't' => '\t',
                                _ => return Err(self.err("invalid escape")),
                            };
                            self.pos += 1;
                            c
                        }
                        None => return Err(self.err("unterminated string")),
                    };
                    out.push(c);
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    /// `uXXXX` after a backslash (`pos` at the `u`), with the second half of
    /// a surrogate pair if needed.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let at = self.pos - 1;
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.s[self.pos..].starts_with(b"\\u") {
                    return Err(JsonError {
                        position: at,
                        reason: "lone surrogate in \\u escape",
                    });
                }
                self.pos += 1;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(JsonError {
                        position: at,
                        reason: "lone surrogate in \\u escape",
                    });
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(JsonError {
                    position: at,
                    reason: "lone surrogate in \\u escape",
                })
            }
            c => c,
        };
        char::from_u32(code).ok_or(JsonError {
            position: at,
            reason: "invalid \\u escape",
        })
    }

    /// `uXXXX`: `pos` is at the `u`; returns the code unit.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        self.pos += 1;
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number (RFC 8259 §6); `pos` is at its first character.
    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        let int_end = self.pos;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
            integer = false;
        }
        if integer {
            let mut v: Option<u64> = Some(0);
            for &b in &self.s[int_start..int_end] {
                v = v
                    .and_then(|v| v.checked_mul(10))
                    .and_then(|v| v.checked_add(u64::from(b - b'0')));
            }
            match (negative, v) {
                (false, Some(v)) => return Ok(Number(Repr::Unsigned(v))),
                // -1 ..= -2^63; "-0" stays text.
                (true, Some(v)) if v != 0 && v <= 1 << 63 => {
                    return Ok(Number(Repr::Negative((v as i64).wrapping_neg())))
                }
                _ => {}
            }
        }
        Ok(Number(Repr::Text(self.text[start..self.pos].to_string())))
    }
}

/// Sorts (name, position) pairs: a heapsort, for its small code and its
/// n log n worst case.
fn sort_names(v: &mut [(&str, usize)]) {
    fn sift_down(v: &mut [(&str, usize)], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift_down(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// Parses a document that must be an object (see [`parse`]); the error is a
/// reason for a message.
pub fn parse_object(bytes: &[u8]) -> Result<Value, String> {
    match parse(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(e.to_string()),
    }
}

static NULL: Value = Value::Null;

impl Value {
    /// An object from (name, value) pairs, in that order. Names should be
    /// unique; [`Value::insert`] keeps them so.
    pub fn object<'a>(members: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// An object from the pairs whose value is present, in that order (for
    /// optional members that are left out rather than written as `null`).
    pub fn object_opt<'a>(members: impl IntoIterator<Item = (&'a str, Option<Value>)>) -> Value {
        Value::Object(
            members
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v?)))
                .collect(),
        )
    }

    /// Sets member `name` of an object, replacing a member of that name.
    /// Has no effect on other values.
    pub fn insert(&mut self, name: &str, value: Value) {
        if let Value::Object(members) = self {
            match members.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => *v = value,
                None => members.push((name.to_string(), value)),
            }
        }
    }

    /// Member `name` of an object (`None` for other values).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a number in `0..=u64::MAX` without fraction
    /// or exponent.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The strings, if this is an array of strings only.
    pub fn as_strings(&self) -> Option<Vec<String>> {
        self.as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// An optional member: `Ok(None)` when absent or `null`, the converted
    /// value when `convert` accepts it, else an error naming the member.
    fn optional<'a, T>(
        &'a self,
        name: &str,
        expected: &str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => convert(v)
                .map(Some)
                .ok_or_else(|| format!("{name} is not {expected}")),
        }
    }

    /// Optional string member `name` (absent or `null`: `None`); any other
    /// type is an error naming the member.
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, String> {
        self.optional(name, "a string", Value::as_str)
    }

    /// Like [`Value::opt_str`], owned.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self.opt_str(name)?.map(str::to_string))
    }

    /// Required string member `name`.
    pub fn req_str(&self, name: &str) -> Result<&str, String> {
        self.opt_str(name)?
            .ok_or_else(|| format!("{name} is missing"))
    }

    /// Optional non-negative integer member `name`.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        self.optional(name, "a non-negative integer", Value::as_u64)
    }

    /// Required non-negative integer member `name`.
    pub fn req_u64(&self, name: &str) -> Result<u64, String> {
        self.opt_u64(name)?
            .ok_or_else(|| format!("{name} is missing"))
    }

    /// Optional boolean member `name`.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, String> {
        self.optional(name, "a boolean", Value::as_bool)
    }

    /// Optional array-of-strings member `name`.
    pub fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        self.optional(name, "an array of strings", Value::as_strings)
    }

    /// The compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => match &n.0 {
                Repr::Text(t) => out.push_str(t),
                _ => {
                    use fmt::Write;
                    let _ = write!(out, "{n}");
                }
            },
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string literal: quotes, backslashes and control characters
/// escaped, everything else (non-ASCII included) as is.
fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte: a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl fmt::Display for Value {
    /// The compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl core::ops::Index<&str> for Value {
    type Output = Value;

    /// Member `name`, or `null` when absent or not an object.
    fn index(&self, name: &str) -> &Value {
        self.get(name).unwrap_or(&NULL)
    }
}

impl core::ops::Index<usize> for Value {
    type Output = Value;

    /// Item `i`, or `null` when absent or not an array.
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(Number::from(n))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Number(Number::from(u64::from(n)))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Number(Number::from(n))
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<&[String]> for Value {
    fn from(items: &[String]) -> Value {
        Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is `null`.
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        Value::from(v)
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
        assert_eq!(
            v.to_json(),
            r#"{"Image":{"Width":800,"Height":600,"Title":"View from 15th Floor","Thumbnail":{"Url":"http://www.example.com/image/481989943","Height":125,"Width":100},"Animated":false,"IDs":[116,943,234,38793]}}"#
        );
        // §13, second example: fractions are kept as written.
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
        assert_eq!(v[1]["Longitude"].to_json(), "-122.026020");
        assert_eq!(v[0]["Latitude"].as_u64(), None);
        assert_eq!(v[0]["Address"].as_str(), Some(""));
        // §13: scalars are documents too.
        assert_eq!(ok(r#""Hello world!""#), s("Hello world!"));
        assert_eq!(ok("42"), Value::from(42u64));
        assert_eq!(ok("true"), Value::Bool(true));
        assert_eq!(ok("null"), Value::Null);
    }

    #[test]
    fn whitespace_and_trailing_content() {
        assert_eq!(ok(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n "), ok(r#"{"a":[1,2]}"#));
        assert_eq!(ok("[]"), Value::Array(vec![]));
        assert_eq!(ok("{}"), Value::Object(vec![]));
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
        assert_eq!(
            e.to_string(),
            "unexpected characters after the value at byte 4"
        );
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
        assert_eq!(bad("\"ab\ncd\"").reason(), "control character in string");
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
            assert_eq!(bad(doc).reason(), "lone surrogate in \\u escape", "{doc}");
        }
        assert_eq!(bad(r#"["\uDD1E"]"#).position(), 2);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let e = parse(b"[\"a\xff\"]").unwrap_err();
        assert_eq!(e.position(), 3);
        assert_eq!(e.reason(), "invalid UTF-8");
        assert!(parse(b"\"\xc3\"").is_err()); // truncated sequence
        assert!(parse(b"\"\xed\xa0\x80\"").is_err()); // encoded surrogate
        assert!(parse(b"\"\xc0\xaf\"").is_err()); // overlong
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse(nested(MAX_DEPTH + 1).as_bytes())
                .unwrap_err()
                .reason(),
            "nesting too deep"
        );
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        assert!(parse(objects(MAX_DEPTH).as_bytes()).is_ok());
        assert!(parse(objects(MAX_DEPTH + 1).as_bytes()).is_err());
        // Hostile input: no stack overflow, just an error.
        let e = parse("[".repeat(1_000_000).as_bytes()).unwrap_err();
        assert_eq!(e.position(), MAX_DEPTH);
        assert!(parse(r#"{"a":"#.repeat(100_000).as_bytes()).is_err());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let e = bad(r#"{"a":1,"b":2,"a":3}"#);
        assert_eq!(e.reason(), "duplicate member name");
        assert_eq!(e.position(), 13);
        bad(r#"{"issuer":"https://a","x":{},"issuer":"https://b"}"#);
        bad(r#"{"x":{"a":1,"a":1}}"#);
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
    fn heapsort_sorts() {
        let words = ["m", "b", "z", "a", "b", "", "é", "aa", "m", "c", "y", "x"];
        for n in 0..=words.len() {
            let mut v: Vec<(&str, usize)> = words[..n].iter().copied().zip((0..n).rev()).collect();
            let mut expected = v.clone();
            expected.sort();
            sort_names(&mut v);
            assert_eq!(v, expected);
        }
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
        // Too big for u64 / i64: kept as text, exactly.
        for text in [
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "-0",
            "1.5",
            "0.0",
            "-0.25",
            "1e10",
            "1E+2",
            "2e-3",
            "-1.25e-3",
            "3600.0",
            "1.7976931348623157e309",
        ] {
            let v = n(text);
            assert_eq!(v.as_u64(), None, "{text}");
            assert_eq!(v.as_i64(), None, "{text}");
            assert_eq!(v.to_string(), text);
            assert_eq!(Value::Number(v).to_json(), text);
        }
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
            assert!(Number::from_text(text).is_none(), "{text}");
        }
        assert_eq!(bad("[01]").reason(), "leading zero in number");
        assert_eq!(Number::from_text("42"), Some(Number::from(42u64)));
        assert_eq!(Number::from_text("-7"), Some(Number::from(-7i64)));
        assert_eq!(Number::from_text("2.50").unwrap().to_string(), "2.50");
        assert!(Number::from_text("1 ").is_none());
        assert_eq!(Number::from(5i64), Number::from(5u64));
    }

    #[test]
    fn writer_escapes() {
        let v = s("q\" b\\ / \n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 𝄞");
        assert_eq!(
            v.to_json(),
            "\"q\\\" b\\\\ / \\n\\r\\t\\b\\f\\u0000\\u001f\u{7f} é 𝄞\""
        );
        assert_eq!(ok(&v.to_json()), v);
        assert_eq!(v.to_string(), v.to_json());
    }

    #[test]
    fn round_trips() {
        for doc in [
            r#"{"a":[1,-2,3.5e-7,"x",true,false,null,{},[]],"b":{"c":"\u0001"}}"#,
            r#"[18446744073709551616,-9223372036854775808,0]"#,
            r#""é\"\\""#,
            r#"{"":""}"#,
        ] {
            let v = ok(doc);
            assert_eq!(v.to_json(), doc);
            assert_eq!(ok(&v.to_json()), v);
        }
        // Escapes that need not be written come back unescaped.
        assert_eq!(ok(r#""\/\u00e9""#).to_json(), "\"/é\"");
    }

    #[test]
    fn builder() {
        let mut v = Value::object([
            ("name", Value::from("x")),
            ("n", Value::from(7u64)),
            ("ok", Value::from(true)),
            ("list", Value::from(vec!["a", "b"])),
            ("none", Value::from(None::<&str>)),
        ]);
        v.insert("n", Value::from(8u32));
        v.insert("extra", Value::from(vec![Value::Null, Value::from(-1i64)]));
        assert_eq!(
            v.to_json(),
            r#"{"name":"x","n":8,"ok":true,"list":["a","b"],"none":null,"extra":[null,-1]}"#
        );
        let mut other = Value::from(1u64);
        other.insert("a", Value::Null);
        assert_eq!(other, Value::from(1u64));
    }

    #[test]
    fn accessors_and_typed_members() {
        let v = ok(
            r#"{"s":"x","n":3,"neg":-3,"f":1.5,"b":true,"z":null,"l":["a","b"],"m":["a",1],"o":{"k":1}}"#,
        );
        assert_eq!(v.get("s").and_then(Value::as_str), Some("x"));
        assert!(v.get("missing").is_none());
        assert!(v["z"].is_null());
        assert!(v["missing"].is_null());
        assert!(v["s"]["deeper"][0].is_null());
        assert_eq!(v["o"].as_object().unwrap()[0].0, "k");
        assert_eq!(v["l"].as_array().unwrap().len(), 2);
        assert_eq!(s("x").get("s"), None);

        assert_eq!(v.opt_str("s"), Ok(Some("x")));
        assert_eq!(v.opt_str("z"), Ok(None));
        assert_eq!(v.opt_str("missing"), Ok(None));
        assert_eq!(v.opt_str("n"), Err("n is not a string".to_string()));
        assert_eq!(v.opt_string("s"), Ok(Some("x".to_string())));
        assert_eq!(v.req_str("s"), Ok("x"));
        assert_eq!(v.req_str("z"), Err("z is missing".to_string()));
        assert_eq!(v.req_str("missing"), Err("missing is missing".to_string()));
        assert_eq!(v.opt_u64("n"), Ok(Some(3)));
        assert_eq!(v.req_u64("n"), Ok(3));
        assert_eq!(
            v.opt_u64("neg"),
            Err("neg is not a non-negative integer".to_string())
        );
        assert!(v.opt_u64("f").is_err());
        assert!(v.opt_u64("s").is_err());
        assert!(v.req_u64("z").is_err());
        assert_eq!(v.opt_bool("b"), Ok(Some(true)));
        assert!(v.opt_bool("s").is_err());
        assert_eq!(
            v.opt_strings("l"),
            Ok(Some(vec!["a".to_string(), "b".to_string()]))
        );
        assert_eq!(
            v.opt_strings("m"),
            Err("m is not an array of strings".to_string())
        );
        assert!(v.opt_strings("s").is_err());
        assert_eq!(v.opt_strings("z"), Ok(None));
    }
}
