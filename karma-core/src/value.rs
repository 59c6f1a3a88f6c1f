//! Values of params, outputs and runtime observations, and their types.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::hash::{Canonical, CanonicalReader, ContentHash};
use crate::key::{Key, Name};
use crate::secret::Secret;

/// How deeply stored values may nest lists and maps.
pub(crate) const MAX_NESTING: usize = 128;

/// A dynamic value: what params, outputs and runtime observations hold.
///
/// Floats compare by their bits (so `NaN == NaN` and `0.0 != -0.0`), which
/// makes equality total and consistent with content hashes.
///
/// ```
/// use karma_core::Value;
/// let v = Value::from(5432);
/// assert_eq!(v.as_int(), Some(5432));
/// assert_eq!(Value::from("postgres").to_string(), "\"postgres\"");
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Value {
    /// Nothing (an unset optional).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(#[serde(with = "float_serde")] f64),
    /// Text.
    String(SmolStr),
    /// An ordered list.
    List(Vec<Value>),
    /// A map with text keys (kept sorted).
    Map(BTreeMap<Name, Value>),
    /// A reference to another component's output; makes a reference edge.
    Ref(Box<OutputRef>),
    /// A secret, held only as a salted digest.
    Secret(Box<Secret>),
}

/// A reference to an output of another component: `Database/orders.endpoint`.
///
/// Once the consumer has been deployed with the output's value, the reference
/// records which [`Resolution`] it took (see
/// [`Graph::resolve_references`](crate::Graph::resolve_references)), so that
/// a consumer still running on an older value of the output can be found.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct OutputRef {
    /// The producing component.
    pub component: Key,
    /// The name of its output.
    pub output: Name,
    /// The producer's output as the consumer last took it; `None` when never
    /// resolved. (Boxed: most references are unresolved, and this keeps them
    /// small.)
    pub resolved: Option<Box<Resolution>>,
}

/// Which value of a producer's output a consumer's reference was resolved
/// to: the producer's version at the time and the digest of the value.
///
/// ```
/// use karma_core::{Key, OutputRef, Value};
///
/// let endpoint = Value::from("db-1:5432");
/// let r = OutputRef::new(Key::new("Database", "orders")?, "endpoint").resolved_to(3, &endpoint);
/// assert_eq!(r.resolved.as_ref().map(|s| s.version), Some(3));
/// assert!(r.resolved.as_ref().is_some_and(|s| s.matches(&endpoint)));
/// assert!(!r.resolved.as_ref().is_some_and(|s| s.matches(&Value::from("db-2:5432"))));
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Resolution {
    /// The producer's version when the value was taken.
    pub version: u64,
    /// The digest ([`Value::digest`]) of the output's value when taken.
    pub digest: ContentHash,
}

impl Resolution {
    /// Whether `value` is the value this resolution took.
    pub fn matches(&self, value: &Value) -> bool {
        value.digest() == self.digest
    }
}

impl OutputRef {
    /// A reference to `output` of `component`, not yet resolved.
    pub fn new(component: Key, output: impl Into<Name>) -> Self {
        Self { component, output: output.into(), resolved: None }
    }

    /// This reference, recorded as resolved to `value` at the producer's
    /// `version`.
    #[must_use]
    pub fn resolved_to(mut self, version: u64, value: &Value) -> Self {
        self.resolved = Some(Box::new(Resolution { version, digest: value.digest() }));
        self
    }

    /// Whether this reference targets the same output as `other`, resolved or
    /// not.
    pub fn same_target(&self, other: &Self) -> bool {
        self.component == other.component && self.output == other.output
    }
}

impl fmt::Display for OutputRef {
    /// `Database/orders.endpoint`, followed by `@v3` once resolved at the
    /// producer's version 3.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.component, self.output)?;
        match &self.resolved {
            Some(r) => write!(f, "@v{}", r.version),
            None => Ok(()),
        }
    }
}

impl Value {
    /// A reference to `output` of `component`.
    pub fn reference(component: Key, output: impl Into<Name>) -> Self {
        Self::Ref(Box::new(OutputRef::new(component, output)))
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer or a float.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Self::List(l) => Some(l),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&BTreeMap<Name, Value>> {
        match self {
            Self::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The reference, if this is one.
    pub fn as_ref(&self) -> Option<&OutputRef> {
        match self {
            Self::Ref(r) => Some(r),
            _ => None,
        }
    }

    /// The secret, if this is one.
    pub fn as_secret(&self) -> Option<&Secret> {
        match self {
            Self::Secret(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The name of this value's variant, for messages: `"int"`, `"string"`, ...
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::String(_) => "string",
            Self::List(_) => "list",
            Self::Map(_) => "map",
            Self::Ref(_) => "ref",
            Self::Secret(_) => "secret",
        }
    }

    /// A blake3 digest of this value's canonical encoding: equal values have
    /// equal digests, and any change changes it.
    pub fn digest(&self) -> ContentHash {
        let mut c = Canonical::new("karma.value");
        self.write_canonical(&mut c);
        c.finish()
    }

    /// Every output reference inside this value (lists and maps included), in
    /// order.
    pub fn references(&self) -> Vec<&OutputRef> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    /// Calls `f` on every output reference inside this value (lists and maps
    /// included), mutably.
    pub(crate) fn for_each_ref_mut(&mut self, f: &mut impl FnMut(&mut OutputRef)) {
        match self {
            Self::Ref(r) => f(r),
            Self::List(items) => items.iter_mut().for_each(|v| v.for_each_ref_mut(f)),
            Self::Map(map) => map.values_mut().for_each(|v| v.for_each_ref_mut(f)),
            _ => {}
        }
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a OutputRef>) {
        match self {
            Self::Ref(r) => out.push(r),
            Self::List(items) => items.iter().for_each(|v| v.collect_refs(out)),
            Self::Map(map) => map.values().for_each(|v| v.collect_refs(out)),
            _ => {}
        }
    }

    /// Converts JSON into a value (objects become maps, integers that fit
    /// `i64` become ints, other numbers floats).
    pub fn from_json(json: serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Self::Int(i),
                None => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Self::String(s.into()),
            serde_json::Value::Array(a) => Self::List(a.into_iter().map(Self::from_json).collect()),
            serde_json::Value::Object(o) => {
                Self::Map(o.into_iter().map(|(k, v)| (Name::from(k), Self::from_json(v))).collect())
            }
        }
    }

    /// Converts into JSON. References become `{"component": .., "output": ..}`,
    /// secrets their digest in hex; non-finite floats become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Int(i) => serde_json::Value::from(*i),
            Self::Float(x) => {
                serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Self::String(s) => serde_json::Value::String(s.to_string()),
            Self::List(l) => serde_json::Value::Array(l.iter().map(Self::to_json).collect()),
            Self::Map(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
            Self::Ref(r) => match &r.resolved {
                None => serde_json::json!({"component": r.component.as_str(), "output": r.output.as_str()}),
                Some(res) => serde_json::json!({
                    "component": r.component.as_str(),
                    "output": r.output.as_str(),
                    "resolved": {"version": res.version, "digest": res.digest.to_hex()},
                }),
            },
            Self::Secret(s) => serde_json::Value::String(s.digest().to_hex()),
        }
    }

    pub(crate) fn write_canonical(&self, c: &mut Canonical) {
        match self {
            Self::Null => {
                c.tag(0);
            }
            Self::Bool(b) => {
                c.tag(1).tag(u8::from(*b));
            }
            Self::Int(i) => {
                c.tag(2).int(*i);
            }
            Self::Float(x) => {
                c.tag(3).u64(x.to_bits());
            }
            Self::String(s) => {
                c.tag(4).str(s);
            }
            Self::List(items) => {
                c.tag(5).len(items.len());
                for item in items {
                    item.write_canonical(c);
                }
            }
            Self::Map(map) => {
                c.tag(6).len(map.len());
                for (k, v) in map {
                    c.str(k);
                    v.write_canonical(c);
                }
            }
            Self::Ref(r) => match &r.resolved {
                // Unresolved references keep the encoding they always had.
                None => {
                    c.tag(7).str(r.component.as_str()).str(&r.output);
                }
                Some(res) => {
                    c.tag(9).str(r.component.as_str()).str(&r.output).var(res.version).hash(&res.digest);
                }
            },
            Self::Secret(s) => {
                c.tag(8).hash(s.digest());
            }
        }
    }

    /// How deeply lists and maps nest in it: 0 for a scalar or an empty
    /// list or map, one more than its deepest item otherwise.
    pub(crate) fn nesting(&self) -> usize {
        match self {
            Self::List(items) => items.iter().map(|v| 1 + v.nesting()).max().unwrap_or(0),
            Self::Map(map) => map.values().map(|v| 1 + v.nesting()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Reads what [`Value::write_canonical`] wrote (nested at most
    /// [`MAX_NESTING`] deep, so damaged input cannot exhaust the stack).
    pub(crate) fn read_canonical(r: &mut CanonicalReader<'_>, depth: usize) -> crate::Result<Self> {
        if depth > MAX_NESTING {
            return Err(r.error("nests values too deeply"));
        }
        Ok(match r.tag()? {
            0 => Self::Null,
            1 => match r.tag()? {
                0 => Self::Bool(false),
                1 => Self::Bool(true),
                _ => return Err(r.error("has a boolean that is neither 0 nor 1")),
            },
            2 => Self::Int(r.int()?),
            3 => Self::Float(f64::from_bits(r.u64()?)),
            4 => Self::String(SmolStr::new(r.str()?)),
            5 => {
                let n = r.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Self::read_canonical(r, depth + 1)?);
                }
                Self::List(items)
            }
            6 => {
                let n = r.len()?;
                let mut map = BTreeMap::new();
                let mut last: Option<Name> = None;
                for _ in 0..n {
                    let k = Name::new(r.str()?);
                    if last.as_ref().is_some_and(|l| *l >= k) {
                        return Err(r.error("has map keys out of order"));
                    }
                    last = Some(k.clone());
                    map.insert(k, Self::read_canonical(r, depth + 1)?);
                }
                Self::Map(map)
            }
            tag @ (7 | 9) => {
                let component = Key::parse(r.str()?).map_err(|_| r.error("has an invalid reference key"))?;
                let output = Name::new(r.str()?);
                let resolved =
                    if tag == 9 { Some(Box::new(Resolution { version: r.var()?, digest: r.hash()? })) } else { None };
                Self::Ref(Box::new(OutputRef { component, output, resolved }))
            }
            8 => Self::Secret(Box::new(Secret::from_digest(r.hash()?))),
            _ => return Err(r.error("has an unknown value tag")),
        })
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Null, Self::Null) => true,
            (Self::Bool(a), Self::Bool(b)) => a == b,
            (Self::Int(a), Self::Int(b)) => a == b,
            (Self::Float(a), Self::Float(b)) => a.to_bits() == b.to_bits(),
            (Self::String(a), Self::String(b)) => a == b,
            (Self::List(a), Self::List(b)) => a == b,
            (Self::Map(a), Self::Map(b)) => a == b,
            (Self::Ref(a), Self::Ref(b)) => a == b,
            (Self::Secret(a), Self::Secret(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Value {
    /// A compact, JSON-like form: `null`, `true`, `42`, `1.5`, `"text"`,
    /// `[1, 2]`, `{a: 1}`, `&Database/orders.endpoint`, `<secret 1a2b…>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x:?}"),
            Self::String(s) => write!(f, "{:?}", s.as_str()),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Map(map) => {
                f.write_str("{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Self::Ref(r) => write!(f, "&{r}"),
            Self::Secret(s) => write!(f, "{s}"),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Self::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Self::Float(f64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::String(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::String(v.into())
    }
}

impl From<SmolStr> for Value {
    fn from(v: SmolStr) -> Self {
        Self::String(v)
    }
}

impl From<Secret> for Value {
    fn from(v: Secret) -> Self {
        Self::Secret(Box::new(v))
    }
}

impl From<OutputRef> for Value {
    fn from(v: OutputRef) -> Self {
        Self::Ref(Box::new(v))
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Self::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// The declared type of a param or output, checked against values.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueType {
    /// Any value, including null.
    Any,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A number (an integer is accepted too).
    Float,
    /// Text.
    String,
    /// A list whose items all have the given type.
    List(Box<ValueType>),
    /// A map with text keys whose values all have the given type.
    Map(Box<ValueType>),
    /// A reference to another component's output.
    Ref,
    /// A secret digest.
    Secret,
    /// The given type, or null.
    Optional(Box<ValueType>),
}

impl ValueType {
    /// Whether `value` has this type.
    ///
    /// ```
    /// use karma_core::{Value, ValueType};
    /// assert!(ValueType::Float.accepts(&Value::Int(3)));
    /// assert!(!ValueType::Int.accepts(&Value::from("3")));
    /// assert!(ValueType::Optional(Box::new(ValueType::Int)).accepts(&Value::Null));
    /// ```
    pub fn accepts(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::Any, _)
            | (Self::Bool, Value::Bool(_))
            | (Self::Int, Value::Int(_))
            | (Self::Float, Value::Int(_) | Value::Float(_))
            | (Self::String, Value::String(_))
            | (Self::Ref, Value::Ref(_))
            | (Self::Secret, Value::Secret(_))
            | (Self::Optional(_), Value::Null) => true,
            (Self::Optional(inner), v) => inner.accepts(v),
            (Self::List(item), Value::List(items)) => items.iter().all(|v| item.accepts(v)),
            (Self::Map(item), Value::Map(map)) => map.values().all(|v| item.accepts(v)),
            _ => false,
        }
    }

    pub(crate) fn write_canonical(&self, c: &mut Canonical) {
        match self {
            Self::Any => c.tag(0),
            Self::Bool => c.tag(1),
            Self::Int => c.tag(2),
            Self::Float => c.tag(3),
            Self::String => c.tag(4),
            Self::List(t) => {
                c.tag(5);
                t.write_canonical(c);
                c
            }
            Self::Map(t) => {
                c.tag(6);
                t.write_canonical(c);
                c
            }
            Self::Ref => c.tag(7),
            Self::Secret => c.tag(8),
            Self::Optional(t) => {
                c.tag(9);
                t.write_canonical(c);
                c
            }
        };
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Bool => f.write_str("bool"),
            Self::Int => f.write_str("int"),
            Self::Float => f.write_str("float"),
            Self::String => f.write_str("string"),
            Self::List(t) => write!(f, "list<{t}>"),
            Self::Map(t) => write!(f, "map<{t}>"),
            Self::Ref => f.write_str("ref"),
            Self::Secret => f.write_str("secret"),
            Self::Optional(t) => write!(f, "{t}?"),
        }
    }
}

/// Serializes floats so that NaN and infinities survive JSON (as strings).
mod float_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes a reference
    pub(super) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() && !x.is_finite() {
            s.serialize_str(if x.is_nan() {
                "NaN"
            } else if *x > 0.0 {
                "inf"
            } else {
                "-inf"
            })
        } else {
            s.serialize_f64(*x)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        if !d.is_human_readable() {
            return f64::deserialize(d);
        }
        match Repr::deserialize(d)? {
            Repr::Num(x) => Ok(x),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(serde::de::Error::custom(format!("expected a number, found {t:?}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_equals_itself_and_round_trips_json() {
        let v = Value::Float(f64::NAN);
        assert_eq!(v, v.clone());
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
    }

    #[test]
    fn collects_nested_references() {
        let a = Key::new("Db", "a").unwrap();
        let v = Value::List(vec![
            Value::reference(a.clone(), "url"),
            Value::Map(BTreeMap::from([(Name::from("x"), Value::reference(a.clone(), "port"))])),
        ]);
        let refs: Vec<String> = v.references().iter().map(ToString::to_string).collect();
        assert_eq!(refs, ["Db/a.url", "Db/a.port"]);
    }

    #[test]
    fn json_conversion_round_trips_plain_values() {
        let json = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
        assert_eq!(Value::from_json(json.clone()).to_json(), json);
    }

    #[test]
    fn optional_and_nested_types() {
        let t = ValueType::List(Box::new(ValueType::Int));
        assert!(t.accepts(&Value::from(vec![1, 2])));
        assert!(!t.accepts(&Value::List(vec![Value::from("a")])));
        assert_eq!(ValueType::Optional(Box::new(t)).to_string(), "list<int>?");
    }
}
