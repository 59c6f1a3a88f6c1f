//! YAML as written in the wild, into a small located tree: multi-document
//! streams, anchors and aliases (expansion bounded by saphyr), merge keys
//! (`<<: *common`, `<<: [*a, *b]`) applied, every node with its line and
//! column.

use std::collections::BTreeMap;

use karma_core::{Name, Value};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::error::{ImportError, Location};
use crate::json::Ctx;

/// A YAML node and where it starts (1-based line and column).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) data: Data,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order, merge keys applied.
    Map(Vec<(String, Node)>),
}

impl Node {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.data {
            Data::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.data {
            Data::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn entries(&self) -> &[(String, Node)] {
        match &self.data {
            Data::Map(entries) => entries,
            _ => &[],
        }
    }

    pub(crate) fn items(&self) -> &[Node] {
        match &self.data {
            Data::Seq(items) => items,
            _ => &[],
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        self.data == Data::Null
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self.data {
            Data::Null => "null",
            Data::Bool(_) => "a boolean",
            Data::Int(_) | Data::Float(_) => "a number",
            Data::Str(_) => "a string",
            Data::Seq(_) => "a sequence",
            Data::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (numbers and booleans written out), if a scalar.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.data {
            Data::Str(s) => Some(s.clone()),
            Data::Int(i) => Some(i.to_string()),
            Data::Float(x) => Some(x.to_string()),
            Data::Bool(b) => Some(b.to_string()),
            Data::Null => Some(String::new()),
            _ => None,
        }
    }
}

/// A path inside a YAML document, for locations: `services.web.ports[0]`.
pub(crate) fn key_path(path: &str, key: &str) -> String {
    let simple = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/'));
    match (path.is_empty(), simple) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

pub(crate) fn index_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

impl Ctx<'_> {
    pub(crate) fn yloc(&self, node: &Node, path: &str) -> Location {
        self.loc(path).at(node.line, node.column)
    }

    pub(crate) fn ywrong(&self, node: &Node, path: &str, expected: &'static str) -> ImportError {
        ImportError::UnexpectedType { location: self.yloc(node, path), expected, found: node.type_name() }
    }

    pub(crate) fn ymap<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [(String, Node)], ImportError> {
        match &node.data {
            Data::Map(entries) => Ok(entries),
            _ => Err(self.ywrong(node, path, "a mapping")),
        }
    }

    pub(crate) fn ystr<'n>(&self, node: &'n Node, path: &str) -> Result<&'n str, ImportError> {
        node.as_str().ok_or_else(|| self.ywrong(node, path, "a string"))
    }

    /// Parses a stream into its documents (empty ones skipped).
    pub(crate) fn parse_yaml(&self, text: &str) -> Result<Vec<Node>, ImportError> {
        let docs = MarkedYaml::load_from_str(text).map_err(|e| ImportError::Syntax {
            location: self.loc("").at(e.marker().line() as u32, e.marker().col() as u32 + 1),
            message: e.info().to_string(),
        })?;
        let mut out = Vec::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate() {
            let node = self.convert(d, &format!("[doc {i}]"), 0)?;
            if !node.is_null() {
                out.push(node);
            }
        }
        Ok(out)
    }

    fn convert(&self, y: &MarkedYaml<'_>, path: &str, depth: usize) -> Result<Node, ImportError> {
        let (line, column) = (y.span.start.line() as u32, y.span.start.col() as u32 + 1);
        let at = |data| Node { line, column, data };
        if depth > 256 {
            return Err(ImportError::Unsupported {
                location: self.loc(path).at(line, column),
                message: "nested deeper than 256 levels".into(),
            });
        }
        Ok(match &y.data {
            YamlData::Value(s) => at(scalar(s)),
            YamlData::Representation(text, _, _) => at(Data::Str(text.to_string())),
            YamlData::Tagged(_, inner) => self.convert(inner, path, depth + 1)?,
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.convert(item, &index_path(path, i), depth + 1)?);
                }
                at(Data::Seq(out))
            }
            YamlData::Mapping(map) => {
                let mut own: Vec<(String, Node)> = Vec::with_capacity(map.len());
                let mut merged: Vec<(String, Node)> = Vec::new();
                for (k, v) in map {
                    let key = match &k.data {
                        YamlData::Value(s) => match scalar(s) {
                            Data::Str(s) => s,
                            Data::Int(i) => i.to_string(),
                            Data::Float(x) => x.to_string(),
                            Data::Bool(b) => b.to_string(),
                            _ => "null".to_string(),
                        },
                        YamlData::Representation(text, _, _) => text.to_string(),
                        _ => {
                            return Err(ImportError::Unsupported {
                                location: self.loc(path).at(k.span.start.line() as u32, k.span.start.col() as u32 + 1),
                                message: "a mapping key that is not a scalar".into(),
                            });
                        }
                    };
                    let vpath = key_path(path, &key);
                    let value = self.convert(v, &vpath, depth + 1)?;
                    if key == "<<" {
                        // Merge key: the mapping(s) it names supply keys this one lacks;
                        // of several, the earlier wins.
                        let sources: Vec<&Node> = match &value.data {
                            Data::Map(_) => vec![&value],
                            Data::Seq(items) => items.iter().collect(),
                            _ => return Err(self.ywrong(&value, &vpath, "a mapping or a sequence of mappings")),
                        };
                        for s in sources {
                            let entries = self.ymap(s, &vpath)?;
                            for (mk, mv) in entries {
                                if !merged.iter().any(|(k, _)| k == mk) {
                                    merged.push((mk.clone(), mv.clone()));
                                }
                            }
                        }
                    } else {
                        own.push((key, value));
                    }
                }
                for (k, v) in merged {
                    if !own.iter().any(|(o, _)| *o == k) {
                        own.push((k, v));
                    }
                }
                at(Data::Map(own))
            }
            YamlData::Alias(_) | YamlData::BadValue => {
                return Err(ImportError::Syntax {
                    location: self.loc(path).at(line, column),
                    message: "an unresolved alias or a malformed value".into(),
                });
            }
        })
    }

    /// Converts a node to a param value, strings checked against the size
    /// limit.
    pub(crate) fn yvalue(&self, node: &Node, path: &str) -> Result<Value, ImportError> {
        Ok(match &node.data {
            Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(*b),
            Data::Int(i) => Value::Int(*i),
            Data::Float(x) => Value::Float(*x),
            Data::Str(s) => {
                let limit = self.options.max_value_bytes;
                if s.len() > limit {
                    return Err(ImportError::ValueTooLarge { location: self.yloc(node, path), bytes: s.len(), limit });
                }
                Value::String(s.as_str().into())
            }
            Data::Seq(items) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.yvalue(n, &index_path(path, i)))
                    .collect::<Result<_, _>>()?,
            ),
            Data::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    out.insert(Name::from(k.as_str()), self.yvalue(v, &key_path(path, k))?);
                }
                Value::Map(out)
            }
        })
    }
}

fn scalar(s: &Scalar<'_>) -> Data {
    match s {
        Scalar::Null => Data::Null,
        Scalar::Boolean(b) => Data::Bool(*b),
        Scalar::Integer(i) => Data::Int(*i),
        Scalar::FloatingPoint(x) => Data::Float(x.into_inner()),
        Scalar::String(s) => Data::Str(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    fn parse(text: &str) -> Result<Vec<Node>, ImportError> {
        let options = Options::file("t.yaml");
        Ctx::new(&options).parse_yaml(text)
    }

    #[test]
    fn merge_keys_and_aliases() {
        let docs = parse("base: &b {a: 1, b: 2}\nother: &o {b: 9, c: 3}\nx:\n  <<: [*b, *o]\n  a: 0\n").unwrap();
        let x = docs[0].get("x").unwrap();
        let got: Vec<(&str, i64)> =
            x.entries().iter().map(|(k, v)| (k.as_str(), if let Data::Int(i) = v.data { i } else { -1 })).collect();
        assert_eq!(got, vec![("a", 0), ("b", 2), ("c", 3)]);
    }

    #[test]
    fn documents_and_positions() {
        let docs = parse("a: 1\n---\n---\nb:\n  - x\n").unwrap();
        assert_eq!(docs.len(), 2);
        let item = &docs[1].get("b").unwrap().items()[0];
        assert_eq!((item.line, item.column), (5, 5));
    }

    #[test]
    fn errors_are_located() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(matches!(e, ImportError::Syntax { .. }), "{e}");
        assert!(e.location().line.is_some());
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(matches!(e, ImportError::Syntax { .. }), "duplicate keys are refused: {e}");
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        assert!(matches!(parse(bomb), Err(ImportError::Syntax { .. })), "alias expansion is bounded");
    }
}
