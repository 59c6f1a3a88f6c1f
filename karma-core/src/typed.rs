//! Typed components: Rust structs with `#[derive(Component)]`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::component::Component;
use crate::error::{Error, Result};
use crate::key::{Key, Name};
use crate::schema::Schema;
use crate::secret::Secret;
use crate::value::{OutputRef, Value, ValueType};

/// A Rust type that is a kind of component. Implement it with
/// `#[derive(Component)]`:
///
/// ```
/// use karma_core::{Component, Graph, Ref, TypedComponent};
///
/// #[derive(Component, Debug, PartialEq)]
/// struct Database {
///     engine: String,
///     #[karma(default)]
///     port: u16,
///     #[karma(output, derives_from = "port")]
///     endpoint: Option<String>,
/// }
///
/// #[derive(Component, Debug, PartialEq)]
/// #[karma(kind = "Service")]
/// struct Api {
///     replicas: u32,
///     database: Ref<String>,
/// }
///
/// let mut graph = Graph::new();
/// let db = Database { engine: "postgres".into(), port: 5432, endpoint: Some("db:5432".into()) };
/// graph.insert_typed("orders", &db)?;
/// let api = Api { replicas: 3, database: Ref::new("Database/orders".parse()?, "endpoint") };
/// graph.insert_typed("api", &api)?;
///
/// assert_eq!(graph.get_typed::<Database>("Database/orders")?, db);
/// assert_eq!(graph.dependents(&"Database/orders".parse()?).len(), 1);
/// assert_eq!(Database::schema().outputs_derived_from("port").count(), 1);
/// # Ok::<(), karma_core::Error>(())
/// ```
///
/// Supported field types: integers, floats, `bool`, `String`, `Option<T>`,
/// `Vec<T>`, maps with `String` keys, [`Ref<T>`], [`Secret`], [`Value`], and
/// any other type implementing serde's `Serialize` and `Deserialize` (stored
/// as a nested value; its schema type is `any`).
///
/// Attributes: `#[karma(kind = "...")]` on the struct (default: its name);
/// on fields `output` (an output instead of a param; add
/// `derives_from = "a, b"` to name the params it derives from), `skip` (not
/// stored; read back as `Default::default()`), `rename = "..."` (its name in
/// the graph) and `default` (optional; read back as `Default::default()` when
/// absent).
pub trait TypedComponent: Sized {
    /// The kind's name.
    const KIND: &'static str;

    /// The kind's schema: params, outputs and what derives from what.
    fn schema() -> Schema;

    /// The params this value sets, by graph name (nulls omitted).
    fn params(&self) -> Result<Vec<(Name, Value)>>;

    /// The outputs this value sets, by graph name (nulls omitted).
    fn outputs(&self) -> Result<Vec<(Name, Value)>>;

    /// Reads a component back as this type. Fails with
    /// [`Error::KindMismatch`] for another kind and [`Error::Field`], naming
    /// the field, for a missing or mistyped value.
    fn from_component(component: &Component) -> Result<Self>;

    /// The dynamic form, named `name` (key `KIND/name`).
    fn to_component(&self, name: &str) -> Result<Component> {
        let mut c = Component::new(Self::KIND, name)?;
        for (n, v) in self.params()? {
            c = c.with_param(n, v);
        }
        for (n, v) in self.outputs()? {
            c = c.with_output(n, v);
        }
        Ok(c)
    }

    /// Every output reference among its params: `(param, reference)`.
    fn references(&self) -> Result<Vec<(Name, OutputRef)>> {
        Ok(self
            .params()?
            .into_iter()
            .flat_map(|(n, v)| v.references().into_iter().cloned().map(move |r| (n.clone(), r)).collect::<Vec<_>>())
            .collect())
    }
}

/// A typed reference to output `T` of another component.
///
/// ```
/// use karma_core::Ref;
/// let r: Ref<String> = "Database/orders.endpoint".parse()?;
/// assert_eq!(r.component().as_str(), "Database/orders");
/// assert_eq!(r.output(), "endpoint");
/// # Ok::<(), karma_core::Error>(())
/// ```
pub struct Ref<T> {
    target: OutputRef,
    _output: PhantomData<fn() -> T>,
}

impl<T> Ref<T> {
    /// A reference to `output` of `component`.
    pub fn new(component: Key, output: impl Into<Name>) -> Self {
        Self { target: OutputRef::new(component, output), _output: PhantomData }
    }

    /// The producing component.
    pub fn component(&self) -> &Key {
        &self.target.component
    }

    /// The output's name.
    pub fn output(&self) -> &str {
        &self.target.output
    }

    /// The untyped reference.
    pub fn as_output_ref(&self) -> &OutputRef {
        &self.target
    }
}

impl<T> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Self { target: self.target.clone(), _output: PhantomData }
    }
}

impl<T> PartialEq for Ref<T> {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
    }
}

impl<T> Eq for Ref<T> {}

impl<T> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref({})", self.target)
    }
}

impl<T> fmt::Display for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.target, f)
    }
}

impl<T> std::str::FromStr for Ref<T> {
    type Err = Error;
    /// Parses `component-key.output`, splitting at the last dot.
    fn from_str(text: &str) -> Result<Self> {
        let (key, output) = text.rsplit_once('.').ok_or_else(|| Error::InvalidKey {
            key: text.to_string(),
            reason: "a reference is written component-key.output",
        })?;
        if output.is_empty() {
            return Err(Error::InvalidKey { key: text.to_string(), reason: "the output name is empty" });
        }
        Ok(Self::new(Key::parse(key)?, output))
    }
}

impl<T> Serialize for Ref<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.target.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Ref<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        OutputRef::deserialize(d).map(|target| Self { target, _output: PhantomData })
    }
}

/// A Rust type that converts to and from a [`Value`] with a known
/// [`ValueType`]: what a typed component's fields are made of.
pub trait FieldValue: Sized {
    /// The schema type.
    fn value_type() -> ValueType;
    /// The value.
    fn to_value(&self) -> Value;
    /// Reads a value back, or says what was wrong.
    fn from_value(value: &Value) -> Result<Self, String>;
    /// What an absent field reads as: an error, except for options.
    fn missing() -> Result<Self, String> {
        Err("missing".into())
    }
}

fn mismatch(expected: &str, found: &Value) -> String {
    format!("expected {expected}, found {} {found}", found.type_name())
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn value_type() -> ValueType {
                ValueType::Int
            }
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
            fn from_value(value: &Value) -> Result<Self, String> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i)
                        .map_err(|_| format!("{i} does not fit in {}", stringify!($t))),
                    other => Err(mismatch("int", other)),
                }
            }
        }
    )*};
}
int_field!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn value_type() -> ValueType {
                ValueType::Int
            }
            fn to_value(&self) -> Value {
                // Values beyond i64 cannot be represented: keep them as text
                // rather than lose them; reading back accepts both.
                i64::try_from(*self).map_or_else(|_| Value::String(self.to_string().into()), Value::Int)
            }
            fn from_value(value: &Value) -> Result<Self, String> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i)
                        .map_err(|_| format!("{i} does not fit in {}", stringify!($t))),
                    Value::String(s) => s.parse().map_err(|_| mismatch("int", value)),
                    other => Err(mismatch("int", other)),
                }
            }
        }
    )*};
}
wide_int_field!(u64, usize, isize);

impl FieldValue for f64 {
    fn value_type() -> ValueType {
        ValueType::Float
    }
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_float().ok_or_else(|| mismatch("float", value))
    }
}

impl FieldValue for f32 {
    fn value_type() -> ValueType {
        ValueType::Float
    }
    fn to_value(&self) -> Value {
        Value::Float(f64::from(*self))
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_float().map(|x| x as f32).ok_or_else(|| mismatch("float", value))
    }
}

impl FieldValue for bool {
    fn value_type() -> ValueType {
        ValueType::Bool
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| mismatch("bool", value))
    }
}

impl FieldValue for String {
    fn value_type() -> ValueType {
        ValueType::String
    }
    fn to_value(&self) -> Value {
        Value::String(self.as_str().into())
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_str().map(str::to_string).ok_or_else(|| mismatch("string", value))
    }
}

impl FieldValue for SmolStr {
    fn value_type() -> ValueType {
        ValueType::String
    }
    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(mismatch("string", other)),
        }
    }
}

impl FieldValue for Secret {
    fn value_type() -> ValueType {
        ValueType::Secret
    }
    fn to_value(&self) -> Value {
        Value::Secret(Box::new(*self))
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_secret().copied().ok_or_else(|| mismatch("secret", value))
    }
}

impl<T> FieldValue for Ref<T> {
    fn value_type() -> ValueType {
        ValueType::Ref
    }
    fn to_value(&self) -> Value {
        Value::Ref(Box::new(self.target.clone()))
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        value.as_ref().map(|r| Self { target: r.clone(), _output: PhantomData }).ok_or_else(|| mismatch("ref", value))
    }
}

impl FieldValue for Value {
    fn value_type() -> ValueType {
        ValueType::Any
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }
    fn missing() -> Result<Self, String> {
        Ok(Value::Null)
    }
}

impl<T: FieldValue> FieldValue for Option<T> {
    fn value_type() -> ValueType {
        ValueType::Optional(Box::new(T::value_type()))
    }
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn missing() -> Result<Self, String> {
        Ok(None)
    }
}

impl<T: FieldValue> FieldValue for Vec<T> {
    fn value_type() -> ValueType {
        ValueType::List(Box::new(T::value_type()))
    }
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(T::to_value).collect())
    }
    fn from_value(value: &Value) -> Result<Self, String> {
        let items = value.as_list().ok_or_else(|| mismatch("list", value))?;
        items.iter().enumerate().map(|(i, v)| T::from_value(v).map_err(|e| format!("[{i}]: {e}"))).collect()
    }
}

/// Maps with `String` keys: `BTreeMap` and `HashMap` alike.
macro_rules! map_field {
    ($map:ident $(, $hasher:ident)?) => {
        impl<T: FieldValue $(, $hasher: std::hash::BuildHasher + Default)?> FieldValue for $map<String, T $(, $hasher)?> {
            fn value_type() -> ValueType {
                ValueType::Map(Box::new(T::value_type()))
            }
            fn to_value(&self) -> Value {
                Value::Map(self.iter().map(|(k, v)| (Name::from(k.as_str()), v.to_value())).collect())
            }
            fn from_value(value: &Value) -> Result<Self, String> {
                let map = value.as_map().ok_or_else(|| mismatch("map", value))?;
                map.iter()
                    .map(|(k, v)| Ok((k.to_string(), T::from_value(v).map_err(|e| format!("[{k:?}]: {e}"))?)))
                    .collect()
            }
        }
    };
}
map_field!(BTreeMap);
map_field!(HashMap, S);

/// Support for the code `#[derive(Component)]` generates. Not public API.
#[doc(hidden)]
#[allow(clippy::wrong_self_convention, missing_docs)]
pub mod __private {
    use std::marker::PhantomData;

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::FieldValue;
    use crate::error::Error;
    use crate::value::{Value, ValueType};

    pub use crate::key::Name;

    /// Chooses, per field type, between [`FieldValue`] (preferred) and serde
    /// (fallback) by auto-ref specialisation: `(&Wrap::<T>::new()).to_value(..)`
    /// finds `ViaField` on `Wrap<T>` first and `ViaSerde` on `&Wrap<T>` only
    /// when `T` is not a `FieldValue`.
    pub struct Wrap<T>(PhantomData<fn() -> T>);

    impl<T> Wrap<T> {
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(PhantomData)
        }
    }

    pub trait ViaField<T> {
        fn value_type(&self) -> ValueType;
        fn to_value(&self, v: &T) -> Result<Value, String>;
        fn from_value(&self, v: &Value) -> Result<T, String>;
        fn missing(&self) -> Result<T, String>;
    }

    impl<T: FieldValue> ViaField<T> for Wrap<T> {
        fn value_type(&self) -> ValueType {
            T::value_type()
        }
        fn to_value(&self, v: &T) -> Result<Value, String> {
            Ok(v.to_value())
        }
        fn from_value(&self, v: &Value) -> Result<T, String> {
            T::from_value(v)
        }
        fn missing(&self) -> Result<T, String> {
            T::missing()
        }
    }

    pub trait ViaSerde<T> {
        fn value_type(&self) -> ValueType;
        fn to_value(&self, v: &T) -> Result<Value, String>;
        fn from_value(&self, v: &Value) -> Result<T, String>;
        fn missing(&self) -> Result<T, String>;
    }

    impl<T: Serialize + DeserializeOwned> ViaSerde<T> for &Wrap<T> {
        fn value_type(&self) -> ValueType {
            ValueType::Any
        }
        fn to_value(&self, v: &T) -> Result<Value, String> {
            serde_json::to_value(v).map(Value::from_json).map_err(|e| e.to_string())
        }
        fn from_value(&self, v: &Value) -> Result<T, String> {
            serde_json::from_value(v.to_json()).map_err(|e| e.to_string())
        }
        fn missing(&self) -> Result<T, String> {
            serde_json::from_value(serde_json::Value::Null).map_err(|_| "missing".to_string())
        }
    }

    pub fn field_error(kind: &str, field: &str, message: String) -> Error {
        Error::Field { kind: kind.into(), field: field.into(), message }
    }

    pub fn kind_mismatch(component: &crate::Component, expected: &str) -> Error {
        Error::KindMismatch { key: component.key().clone(), expected: expected.into(), found: component.kind().clone() }
    }
}
