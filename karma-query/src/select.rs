//! Selectors: which components a query starts from, ends at or keeps.

use std::fmt;

use karma_core::{Key, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::view::{NodeId, View};

/// A comparison in a param predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `==` (also written `=`).
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    /// Whether `actual op expected` holds. Numbers compare as numbers (ints
    /// and floats together), strings and booleans by equality and order of
    /// their own type; values of different types are only ever `!=`.
    pub fn holds(self, actual: &Value, expected: &Value) -> bool {
        use std::cmp::Ordering;
        let ordering = match (actual, expected) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (a, b) if a.as_float().is_some() && b.as_float().is_some() => {
                a.as_float().and_then(|a| b.as_float().and_then(|b| a.partial_cmp(&b)))
            }
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        };
        match (self, ordering) {
            (Self::Eq, Some(o)) => o == Ordering::Equal,
            (Self::Ne, Some(o)) => o != Ordering::Equal,
            (Self::Ne, None) => true,
            (Self::Lt, Some(o)) => o == Ordering::Less,
            (Self::Le, Some(o)) => o != Ordering::Greater,
            (Self::Gt, Some(o)) => o == Ordering::Greater,
            (Self::Ge, Some(o)) => o != Ordering::Less,
            _ => false,
        }
    }
}

/// Which components a query is about. Composable with [`and`](Self::and),
/// [`or`](Self::or) and [`not`](Self::not); a plain value, so the builder
/// API and the text language produce the same thing.
///
/// ```
/// use karma_core::{Component, Graph};
/// use karma_query::{CmpOp, Selector, View};
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Database", "orders")?.with_param("engine", "postgres"))?;
/// g.insert(Component::new("Database", "cache")?.with_param("engine", "redis"))?;
/// g.insert(Component::new("Service", "api")?.with_param("replicas", 5))?;
/// let view = View::new(&g);
/// let postgres = Selector::kind("Database").and(Selector::param("engine", CmpOp::Eq, "postgres"));
/// let keys: Vec<_> = postgres.select(&view).into_iter().map(|id| view.key(id).to_string()).collect();
/// assert_eq!(keys, ["Database/orders"]);
/// assert_eq!(Selector::param("replicas", CmpOp::Gt, 3).select(&view).len(), 1);
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// Every component.
    All,
    /// The component with this key.
    Key(Key),
    /// Components of this kind.
    Kind(String),
    /// Components whose name matches a glob (`*` any run, `?` one char).
    Name(String),
    /// Components with label `name` (and, if given, that value).
    Label {
        /// The label.
        name: String,
        /// The value it must have; `None`: any.
        value: Option<String>,
    },
    /// Components whose param `name` compares to `value` by `op`; a missing
    /// param never matches.
    Param {
        /// The param.
        name: String,
        /// The comparison.
        op: CmpOp,
        /// The value compared with.
        value: Value,
    },
    /// Components with an edge (in or out) of this kind (`depends-on`,
    /// `reference` or a custom kind).
    EdgeKind(String),
    /// Both.
    And(Box<Selector>, Box<Selector>),
    /// Either.
    Or(Box<Selector>, Box<Selector>),
    /// Not.
    Not(Box<Selector>),
}

impl Selector {
    /// The component with `key`.
    pub fn key(key: Key) -> Self {
        Self::Key(key)
    }

    /// Components of `kind`.
    pub fn kind(kind: impl Into<String>) -> Self {
        Self::Kind(kind.into())
    }

    /// Components whose name matches `glob`.
    pub fn name(glob: impl Into<String>) -> Self {
        Self::Name(glob.into())
    }

    /// Components with label `name`, whatever its value.
    pub fn has_label(name: impl Into<String>) -> Self {
        Self::Label { name: name.into(), value: None }
    }

    /// Components whose label `name` is `value`.
    pub fn label(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Label { name: name.into(), value: Some(value.into()) }
    }

    /// Components whose param `name` compares to `value` by `op`.
    pub fn param(name: impl Into<String>, op: CmpOp, value: impl Into<Value>) -> Self {
        Self::Param { name: name.into(), op, value: value.into() }
    }

    /// Components with an edge of this kind.
    pub fn edge_kind(kind: impl Into<String>) -> Self {
        Self::EdgeKind(kind.into())
    }

    /// Both `self` and `other`.
    pub fn and(self, other: Self) -> Self {
        Self::And(Box::new(self), Box::new(other))
    }

    /// Either `self` or `other`.
    pub fn or(self, other: Self) -> Self {
        Self::Or(Box::new(self), Box::new(other))
    }

    /// Not `self`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Self::Not(Box::new(self))
    }

    /// Whether component `id` of `view` matches.
    pub fn matches(&self, view: &View, id: NodeId) -> bool {
        match self {
            Self::All => true,
            Self::Key(k) => view.key(id) == k,
            Self::Kind(k) => view.kind(id) == k,
            Self::Name(glob) => glob_match(glob, view.component(id).name()),
            Self::Label { name, value } => view.label(id, name).is_some_and(|v| value.as_ref().is_none_or(|w| w == v)),
            Self::Param { name, op, value } => view.component(id).param_value(name).is_some_and(|v| op.holds(v, value)),
            Self::EdgeKind(k) => {
                view.dependencies_of(id).any(|(_, kind)| kind == k) || view.dependents_of(id).any(|(_, kind)| kind == k)
            }
            Self::And(a, b) => a.matches(view, id) && b.matches(view, id),
            Self::Or(a, b) => a.matches(view, id) || b.matches(view, id),
            Self::Not(a) => !a.matches(view, id),
        }
    }

    /// A membership flag per id of `view`, evaluated in parallel (kinds and
    /// labels are read from the view's columns).
    pub fn mask(&self, view: &View) -> Vec<bool> {
        match self {
            Self::All => vec![true; view.len()],
            Self::Key(k) => {
                let mut m = vec![false; view.len()];
                if let Some(id) = view.id(k) {
                    m[id as usize] = true;
                }
                m
            }
            Self::Kind(k) => match view.kind_id(k) {
                Some(kind) => view.ids().into_par_iter().map(|id| view.kind_of(id) == kind).collect(),
                None => vec![false; view.len()],
            },
            Self::Label { name, value } => {
                let sets = view.label_sets_matching(name, value.as_deref());
                view.ids().into_par_iter().map(|id| sets[view.labels_of(id) as usize]).collect()
            }
            Self::And(a, b) => zip(a.mask(view), &b.mask(view), |x, y| x && y),
            Self::Or(a, b) => zip(a.mask(view), &b.mask(view), |x, y| x || y),
            Self::Not(a) => {
                let mut m = a.mask(view);
                m.par_iter_mut().for_each(|x| *x = !*x);
                m
            }
            _ => view.ids().into_par_iter().map(|id| self.matches(view, id)).collect(),
        }
    }

    /// The matching ids, in key order.
    pub fn select(&self, view: &View) -> Vec<NodeId> {
        if let Self::Key(k) = self {
            return view.id(k).into_iter().collect();
        }
        let mask = self.mask(view);
        view.ids().into_par_iter().filter(|&id| mask[id as usize]).collect()
    }
}

fn zip(mut a: Vec<bool>, b: &[bool], f: impl Fn(bool, bool) -> bool + Sync) -> Vec<bool> {
    a.par_iter_mut().zip(b.par_iter()).for_each(|(x, &y)| *x = f(*x, y));
    a
}

/// Glob matching over characters: `*` matches any run, `?` any one.
pub(crate) fn glob_match(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

impl fmt::Display for Selector {
    /// The selector in the query language; parses back to an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => write!(f, "all"),
            Self::Key(k) => write!(f, "key = {}", crate::parse::word(k.as_str())),
            Self::Kind(k) => write!(f, "kind = {}", crate::parse::word(k)),
            Self::Name(g) => write!(f, "name ~ {}", crate::parse::word(g)),
            Self::Label { name, value: None } => write!(f, "label {}", crate::parse::word(name)),
            Self::Label { name, value: Some(v) } => {
                write!(f, "label {} = {}", crate::parse::word(name), crate::parse::word(v))
            }
            Self::Param { name, op, value } => {
                write!(f, "param {} {} {}", crate::parse::word(name), op.symbol(), crate::parse::literal(value))
            }
            Self::EdgeKind(k) => write!(f, "edge = {}", crate::parse::word(k)),
            Self::And(a, b) => write!(f, "({a} and {b})"),
            Self::Or(a, b) => write!(f, "({a} or {b})"),
            Self::Not(a) => write!(f, "not {a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("orders*", "orders-eu"));
        assert!(glob_match("*-eu", "orders-eu"));
        assert!(glob_match("o?ders", "orders"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("orders", "orders-eu"));
        assert!(!glob_match("?", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn comparisons_across_number_types() {
        assert!(CmpOp::Gt.holds(&Value::Int(5), &Value::Int(3)));
        assert!(CmpOp::Gt.holds(&Value::Float(3.5), &Value::Int(3)));
        assert!(CmpOp::Eq.holds(&Value::Int(3), &Value::Float(3.0)));
        assert!(!CmpOp::Eq.holds(&Value::String("3".into()), &Value::Int(3)));
        assert!(CmpOp::Ne.holds(&Value::String("3".into()), &Value::Int(3)));
        assert!(!CmpOp::Lt.holds(&Value::Bool(true), &Value::Int(3)));
    }
}
