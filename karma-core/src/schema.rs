//! Schemas: what a kind of component declares.

use serde::{Deserialize, Serialize};

use crate::component::Component;
use crate::error::{Error, Result};
use crate::hash::{Canonical, ContentHash};
use crate::key::Name;
use crate::value::{Value, ValueType};

/// A kind's declaration: its params (types, required or not, defaults) and
/// outputs (types, and which params each derives from).
///
/// Typed components get theirs from `#[derive(Component)]`; dynamic ones can
/// register one with [`Graph::register_schema`](crate::Graph::register_schema).
/// Once registered, every component of that kind is checked against it.
///
/// ```
/// use karma_core::{Schema, ParamSpec, OutputSpec, ValueType, Value};
///
/// let schema = Schema::new("Database")
///     .param(ParamSpec::new("engine", ValueType::String))
///     .param(ParamSpec::new("port", ValueType::Int).default(Value::Int(5432)))
///     .output(OutputSpec::new("endpoint", ValueType::String).derives_from(["port"]));
/// assert_eq!(schema.outputs_derived_from("port").count(), 1);
/// assert_eq!(schema.outputs_derived_from("engine").count(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The kind this schema declares.
    pub kind: Name,
    /// Declared params, in declaration order.
    pub params: Vec<ParamSpec>,
    /// Declared outputs, in declaration order.
    pub outputs: Vec<OutputSpec>,
}

/// One declared param.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Its name.
    pub name: Name,
    /// Its type.
    pub ty: ValueType,
    /// Whether a component must set it (a default counts as set).
    pub required: bool,
    /// The value used when a component does not set it.
    pub default: Option<Value>,
}

/// One declared output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Its name.
    pub name: Name,
    /// Its type.
    pub ty: ValueType,
    /// The params it is derived from; `None` when undeclared, which impact
    /// analysis reads as "all of them".
    pub derives_from: Option<Vec<Name>>,
}

impl ParamSpec {
    /// A required param of type `ty` (an `Optional` type makes it optional).
    pub fn new(name: impl Into<Name>, ty: ValueType) -> Self {
        let required = !matches!(ty, ValueType::Optional(_) | ValueType::Any);
        Self { name: name.into(), ty, required, default: None }
    }

    /// Makes the param optional.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Gives the param a default value (used when a component omits it).
    #[must_use]
    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }
}

impl OutputSpec {
    /// An output of type `ty`, derived from undeclared params.
    pub fn new(name: impl Into<Name>, ty: ValueType) -> Self {
        Self { name: name.into(), ty, derives_from: None }
    }

    /// Declares the params this output is derived from.
    #[must_use]
    pub fn derives_from<I, N>(mut self, params: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Name>,
    {
        self.derives_from = Some(params.into_iter().map(Into::into).collect());
        self
    }

    /// Whether this output derives from `param` (always, when undeclared).
    pub fn derives_from_param(&self, param: &str) -> bool {
        self.derives_from.as_ref().is_none_or(|ps| ps.iter().any(|p| p == param))
    }
}

impl Schema {
    /// An empty schema for `kind`.
    pub fn new(kind: impl Into<Name>) -> Self {
        Self { kind: kind.into(), params: Vec::new(), outputs: Vec::new() }
    }

    /// Adds a param.
    #[must_use]
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.params.push(spec);
        self
    }

    /// Adds an output.
    #[must_use]
    pub fn output(mut self, spec: OutputSpec) -> Self {
        self.outputs.push(spec);
        self
    }

    /// The declared param `name`.
    pub fn param_spec(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The declared output `name`.
    pub fn output_spec(&self, name: &str) -> Option<&OutputSpec> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// The outputs that derive from `param`.
    pub fn outputs_derived_from<'a>(&'a self, param: &'a str) -> impl Iterator<Item = &'a OutputSpec> + 'a {
        self.outputs.iter().filter(move |o| o.derives_from_param(param))
    }

    /// Checks one param value against the schema.
    pub(crate) fn check_param(&self, component: &Component, name: &str, value: &Value) -> Result<()> {
        let spec = self.param_spec(name).ok_or_else(|| Error::UndeclaredParam {
            component: component.key().clone(),
            kind: self.kind.clone(),
            param: name.into(),
        })?;
        if spec.ty.accepts(value) {
            Ok(())
        } else {
            Err(Error::TypeMismatch {
                component: component.key().clone(),
                field: spec.name.clone(),
                expected: spec.ty.clone(),
                found: value.type_name(),
            })
        }
    }

    /// Checks one output value against the schema (undeclared outputs are
    /// allowed: deployments often produce more than is declared).
    pub(crate) fn check_output(&self, component: &Component, name: &str, value: &Value) -> Result<()> {
        match self.output_spec(name) {
            Some(spec) if !spec.ty.accepts(value) => Err(Error::TypeMismatch {
                component: component.key().clone(),
                field: spec.name.clone(),
                expected: spec.ty.clone(),
                found: value.type_name(),
            }),
            _ => Ok(()),
        }
    }

    /// Fills in defaults, then checks every param and output of `component`.
    pub(crate) fn conform(&self, component: &mut Component) -> Result<()> {
        for spec in &self.params {
            if let Some(default) = &spec.default
                && component.param(&spec.name).is_none()
            {
                component.put_param(spec.name.clone(), default.clone(), component.updated());
            }
        }
        for (name, param) in component.params() {
            self.check_param(component, name, &param.value)?;
        }
        for spec in &self.params {
            if spec.required && component.param(&spec.name).is_none() {
                return Err(Error::MissingParam { component: component.key().clone(), param: spec.name.clone() });
            }
        }
        for (name, value) in component.outputs() {
            self.check_output(component, name, value)?;
        }
        Ok(())
    }

    /// The schema's content hash.
    pub fn content_hash(&self) -> ContentHash {
        let mut c = Canonical::new("karma.schema.v1");
        c.str(&self.kind).u64(self.params.len() as u64);
        for p in &self.params {
            c.str(&p.name).tag(u8::from(p.required));
            p.ty.write_canonical(&mut c);
            match &p.default {
                Some(v) => {
                    c.tag(1);
                    v.write_canonical(&mut c);
                }
                None => {
                    c.tag(0);
                }
            }
        }
        c.u64(self.outputs.len() as u64);
        for o in &self.outputs {
            c.str(&o.name);
            o.ty.write_canonical(&mut c);
            match &o.derives_from {
                Some(ps) => {
                    c.tag(1).u64(ps.len() as u64);
                    for p in ps {
                        c.str(p);
                    }
                }
                None => {
                    c.tag(0);
                }
            }
        }
        c.finish()
    }
}
