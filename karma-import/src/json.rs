//! Typed, located access to JSON documents.

use std::collections::BTreeMap;
use std::sync::Arc;

use karma_core::{Name, Value};
use serde_json::{Map, Value as Json};

use crate::Options;
use crate::error::{ImportError, Location};
use crate::secrets::secret;

/// What every importer carries: the options and the file name for locations.
pub(crate) struct Ctx<'o> {
    pub(crate) file: Option<Arc<str>>,
    pub(crate) options: &'o Options,
    pub(crate) secrets: usize,
}

impl<'o> Ctx<'o> {
    pub(crate) fn new(options: &'o Options) -> Self {
        Self { file: crate::draft::file_name(options.file.as_deref()), options, secrets: 0 }
    }

    pub(crate) fn loc(&self, path: &str) -> Location {
        Location::new(self.file.as_ref(), path)
    }

    /// Parses JSON; a syntax error (truncated input...) says line and column.
    pub(crate) fn parse(&self, text: &str) -> Result<Json, ImportError> {
        serde_json::from_str(text).map_err(|e| ImportError::Syntax {
            location: self.loc("").at(e.line() as u32, e.column() as u32),
            message: e.to_string(),
        })
    }

    pub(crate) fn object<'a>(&self, v: &'a Json, path: &str) -> Result<&'a Map<String, Json>, ImportError> {
        v.as_object().ok_or_else(|| self.wrong(v, path, "an object"))
    }

    pub(crate) fn array<'a>(&self, v: &'a Json, path: &str) -> Result<&'a Vec<Json>, ImportError> {
        v.as_array().ok_or_else(|| self.wrong(v, path, "an array"))
    }

    pub(crate) fn string<'a>(&self, v: &'a Json, path: &str) -> Result<&'a str, ImportError> {
        v.as_str().ok_or_else(|| self.wrong(v, path, "a string"))
    }

    pub(crate) fn wrong(&self, v: &Json, path: &str, expected: &'static str) -> ImportError {
        ImportError::UnexpectedType { location: self.loc(path), expected, found: type_name(v) }
    }

    /// A required field of an object.
    pub(crate) fn field<'a>(
        &self,
        o: &'a Map<String, Json>,
        name: &'static str,
        path: &str,
    ) -> Result<&'a Json, ImportError> {
        o.get(name).ok_or_else(|| ImportError::Missing { location: self.loc(path), field: name })
    }

    /// A required string field.
    pub(crate) fn str_field<'a>(
        &self,
        o: &'a Map<String, Json>,
        name: &'static str,
        path: &str,
    ) -> Result<&'a str, ImportError> {
        self.string(self.field(o, name, path)?, &child(path, name))
    }

    /// An optional field of an expected type (`None` when absent or null).
    pub(crate) fn opt_array<'a>(
        &self,
        o: &'a Map<String, Json>,
        name: &str,
        path: &str,
    ) -> Result<Option<&'a Vec<Json>>, ImportError> {
        match o.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => self.array(v, &child(path, name)).map(Some),
        }
    }

    /// An optional object field.
    pub(crate) fn opt_object<'a>(
        &self,
        o: &'a Map<String, Json>,
        name: &str,
        path: &str,
    ) -> Result<Option<&'a Map<String, Json>>, ImportError> {
        match o.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => self.object(v, &child(path, name)).map(Some),
        }
    }

    /// Converts JSON to a param value. Where `sensitive` (a mirror of the
    /// value with `true` at sensitive places, as Terraform writes it) says
    /// so, the value becomes a secret; strings longer than the limit are an
    /// error.
    ///
    /// `path` is only called when there is an error to locate: converting
    /// hundreds of thousands of attributes builds no paths.
    pub(crate) fn value(
        &mut self,
        v: &Json,
        sensitive: Option<&Json>,
        path: impl FnOnce() -> String,
    ) -> Result<Value, ImportError> {
        let mut secrets = 0;
        match self.fast_value(v, sensitive, &mut secrets) {
            Some(value) => {
                self.secrets += secrets;
                Ok(value)
            }
            None => self.located_value(v, sensitive, &path()),
        }
    }

    /// The conversion without paths; `None` when a value is too large.
    fn fast_value(&self, v: &Json, sensitive: Option<&Json>, secrets: &mut usize) -> Option<Value> {
        if sensitive == Some(&Json::Bool(true)) && !v.is_null() {
            self.check_size(v, "").ok()?;
            *secrets += 1;
            return Some(match v {
                Json::String(s) => secret(&self.options.salt, s),
                other => secret(&self.options.salt, other.to_string()),
            });
        }
        Some(match v {
            Json::String(s) => {
                if s.len() > self.options.max_value_bytes {
                    return None;
                }
                Value::String(s.as_str().into())
            }
            Json::Array(items) => {
                let mask = sensitive.and_then(Json::as_array);
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.fast_value(item, mask.and_then(|m| m.get(i)), secrets)?);
                }
                Value::List(out)
            }
            Json::Object(o) => {
                let mask = sensitive.and_then(Json::as_object);
                let mut out = BTreeMap::new();
                for (k, item) in o {
                    out.insert(Name::from(k.as_str()), self.fast_value(item, mask.and_then(|m| m.get(k)), secrets)?);
                }
                Value::Map(out)
            }
            other => Value::from_json(other.clone()),
        })
    }

    /// The conversion with paths, which locates the error.
    fn located_value(&mut self, v: &Json, sensitive: Option<&Json>, path: &str) -> Result<Value, ImportError> {
        if sensitive == Some(&Json::Bool(true)) && !v.is_null() {
            self.check_size(v, path)?;
            self.secrets += 1;
            let plaintext = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Ok(secret(&self.options.salt, plaintext));
        }
        Ok(match v {
            Json::String(s) => {
                self.check_len(s.len(), path)?;
                Value::String(s.as_str().into())
            }
            Json::Array(items) => {
                let mask = sensitive.and_then(Json::as_array);
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.located_value(item, mask.and_then(|m| m.get(i)), &child(path, &i.to_string()))?);
                }
                Value::List(out)
            }
            Json::Object(o) => {
                let mask = sensitive.and_then(Json::as_object);
                let mut out = BTreeMap::new();
                for (k, item) in o {
                    let value = self.located_value(item, mask.and_then(|m| m.get(k)), &child(path, k))?;
                    out.insert(Name::from(k.as_str()), value);
                }
                Value::Map(out)
            }
            other => Value::from_json(other.clone()),
        })
    }

    fn check_size(&self, v: &Json, path: &str) -> Result<(), ImportError> {
        match v {
            Json::String(s) => self.check_len(s.len(), path),
            Json::Array(a) => a.iter().try_for_each(|x| self.check_size(x, path)),
            Json::Object(o) => o.values().try_for_each(|x| self.check_size(x, path)),
            _ => Ok(()),
        }
    }

    fn check_len(&self, bytes: usize, path: &str) -> Result<(), ImportError> {
        let limit = self.options.max_value_bytes;
        if bytes > limit {
            return Err(ImportError::ValueTooLarge { location: self.loc(path), bytes, limit });
        }
        Ok(())
    }
}

/// The JSON pointer of field `name` under `path`.
pub(crate) fn child(path: &str, name: &str) -> String {
    let mut out = String::with_capacity(path.len() + name.len() + 1);
    out.push_str(path);
    out.push('/');
    for c in name.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
    }

    #[test]
    fn sensitive_parts_become_secrets() {
        let options = Options::default();
        let mut ctx = Ctx::new(&options);
        let v = serde_json::json!({"user": "admin", "password": "hunter2", "list": ["a", "b"]});
        let mask = serde_json::json!({"password": true, "list": [false, true]});
        let out = ctx.value(&v, Some(&mask), String::new).unwrap();
        let m = out.as_map().unwrap();
        assert_eq!(m["user"], Value::String("admin".into()));
        assert!(matches!(m["password"], Value::Secret(_)));
        assert!(matches!(m["list"].as_list().unwrap()[1], Value::Secret(_)));
        assert_eq!(ctx.secrets, 2);
        assert!(!format!("{out:?}").contains("hunter2"));
    }

    #[test]
    fn oversized_values_are_located() {
        let options = Options { max_value_bytes: 4, ..Options::default() };
        let mut ctx = Ctx::new(&options);
        let v = serde_json::json!({"ok": "abc", "list": ["abcd", "abcde"]});
        let err = ctx.value(&v, None, || "/attributes".into()).unwrap_err();
        assert_eq!(err.location().path, "/attributes/list/1");
        assert!(matches!(err, ImportError::ValueTooLarge { bytes: 5, limit: 4, .. }));
        assert_eq!(ctx.secrets, 0);
    }
}
