//! Queries as plain values: built in Rust or parsed from text, run against
//! a view, printed back as text.

use std::fmt;

use karma_core::{Key, Name};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::impact::ImpactedParam;
use crate::paths::{Path, k_shortest_paths, on_paths_between, shortest_path_directed};
use crate::plan::{CheckReport, Plan, check, dangling_references, orphans, plan, unreachable_from};
use crate::select::Selector;
use crate::traverse::{Direction, Reached, Traversal};
use crate::view::View;

/// Which graph check to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Every check.
    All,
    /// Components with no edges.
    Orphans,
    /// References to missing components or outputs.
    Dangling,
    /// Components no entry point reaches.
    Unreachable,
}

/// A question about a graph. The builder API and [`parse`](crate::parse)
/// produce the same values; `Display` prints the text form, which parses
/// back to an equal query.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::{Query, QueryResult, View, parse};
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Database", "orders")?)?;
/// g.insert(Component::new("Service", "api")?)?;
/// g.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
/// let view = View::new(&g);
/// let result = parse("dependents of Database/orders where kind = Service")?.run(&view)?;
/// let QueryResult::Reached(hits) = &result else { unreachable!() };
/// assert_eq!(hits[0].key.as_str(), "Service/api");
/// println!("{result}"); // a table
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// The components a selector matches.
    Select {
        /// The selector.
        select: Selector,
    },
    /// Transitive dependents or dependencies of a component, each with a
    /// witness path; `filter` keeps only matching results (the traversal
    /// still walks through the others).
    Reach {
        /// Dependents or dependencies.
        direction: Direction,
        /// The start.
        of: Key,
        /// Depth and edge-kind limits.
        traversal: Traversal,
        /// Which results to report.
        filter: Option<Selector>,
    },
    /// Parameter-level impact: every param that depends on this one.
    Impact {
        /// The component.
        of: Key,
        /// Its param.
        param: Name,
        /// How many references to follow at most.
        max_depth: Option<u32>,
    },
    /// The `k` shortest paths from one selection to another, by hops or by
    /// the edge attribute `weight`.
    Path {
        /// Where paths start.
        from: Selector,
        /// Where they end.
        to: Selector,
        /// The edge attribute to weigh edges by; `None`: hops.
        weight: Option<String>,
        /// How many paths (at least 1).
        k: u32,
        /// `Dependents`: the way data flows, from a producer to what
        /// consumes it (the default); `Dependencies`: the reverse.
        direction: Direction,
    },
    /// Every component on some path from one selection to another.
    OnPath {
        /// Where paths start.
        from: Selector,
        /// Where they end.
        to: Selector,
    },
    /// A deployment plan in waves, for everything or a selection.
    Plan {
        /// What to plan; `None`: everything.
        scope: Option<Selector>,
    },
    /// Graph checks.
    Check {
        /// Which check.
        kind: CheckKind,
        /// Entry points for the reachability check (default `label public`).
        entries: Option<Selector>,
    },
}

/// What a query returns. Serializes with serde; `Display` prints a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryResult {
    /// Components, in key order.
    Components(Vec<Key>),
    /// Components reached, nearest first, with witness paths.
    Reached(Vec<Reached>),
    /// Params reached, nearest first, with chains.
    Params(Vec<ImpactedParam>),
    /// Paths, cheapest first.
    Paths(Vec<Path>),
    /// A deployment plan.
    Plan(Plan),
    /// Check findings.
    Check(CheckReport),
}

impl Query {
    /// Runs the query on `view`.
    pub fn run(&self, view: &View) -> Result<QueryResult> {
        Ok(match self {
            Self::Select { select } => {
                QueryResult::Components(select.select(view).into_iter().map(|id| view.key(id).clone()).collect())
            }
            Self::Reach { direction, of, traversal, filter } => {
                let start = view.require(of)?;
                let reach = view.reach(&[start], *direction, traversal);
                let ranked = reach.ranked();
                let kept = ranked.into_iter().filter(|&(id, _)| filter.as_ref().is_none_or(|f| f.matches(view, id)));
                QueryResult::Reached(
                    kept.map(|(id, depth)| Reached {
                        key: view.key(id).clone(),
                        depth,
                        path: reach.path(id).into_iter().map(|n| view.key(n).clone()).collect(),
                    })
                    .collect(),
                )
            }
            Self::Impact { of, param, max_depth } => {
                let limits = Traversal { max_depth: *max_depth, edge_kinds: None };
                QueryResult::Params(view.param_impact(&[(of.clone(), param.clone())], &limits)?.to_results())
            }
            Self::Path { from, to, weight, k, direction } => {
                let weights = weight.as_ref().map(|w| view.edge_weights(w, None)).transpose()?;
                QueryResult::Paths(if *k <= 1 {
                    shortest_path_directed(view, from, to, *direction, weights.as_ref())?.into_iter().collect()
                } else {
                    k_shortest_paths(view, from, to, *k as usize, *direction, weights.as_ref())?
                })
            }
            Self::OnPath { from, to } => {
                QueryResult::Components(on_paths_between(view, from, to, Direction::Dependents)?)
            }
            Self::Plan { scope } => QueryResult::Plan(plan(view, scope.as_ref())?),
            Self::Check { kind, entries } => {
                let default = Selector::has_label("public");
                let entries_sel = entries.as_ref().unwrap_or(&default);
                QueryResult::Check(match kind {
                    CheckKind::All => check(view, Some(entries_sel)),
                    CheckKind::Orphans => CheckReport { orphans: orphans(view), ..CheckReport::default() },
                    CheckKind::Dangling => {
                        CheckReport { dangling: dangling_references(view), ..CheckReport::default() }
                    }
                    CheckKind::Unreachable => {
                        CheckReport { unreachable: unreachable_from(view, entries_sel), ..CheckReport::default() }
                    }
                })
            }
        })
    }
}

impl std::str::FromStr for Query {
    type Err = crate::QueryError;
    fn from_str(s: &str) -> Result<Self> {
        crate::parse(s)
    }
}

impl fmt::Display for Query {
    /// The query in the text language.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::parse::word;
        match self {
            Self::Select { select } => write!(f, "select {select}"),
            Self::Reach { direction, of, traversal, filter } => {
                let verb = match direction {
                    Direction::Dependents => "dependents",
                    Direction::Dependencies => "dependencies",
                };
                write!(f, "{verb} of {}", word(of.as_str()))?;
                if let Some(d) = traversal.max_depth {
                    write!(f, " depth {d}")?;
                }
                if let Some(kinds) = &traversal.edge_kinds {
                    let kinds: Vec<String> = kinds.iter().map(|k| word(k)).collect();
                    write!(f, " via {}", kinds.join(", "))?;
                }
                if let Some(sel) = filter {
                    write!(f, " where {sel}")?;
                }
                Ok(())
            }
            Self::Impact { of, param, max_depth } => {
                write!(f, "impact of {}", word(&format!("{of}.{param}")))?;
                if let Some(d) = max_depth {
                    write!(f, " depth {d}")?;
                }
                Ok(())
            }
            Self::Path { from, to, weight, k, direction } => {
                write!(f, "path from {from} to {to}")?;
                if let Some(w) = weight {
                    write!(f, " by {}", word(w))?;
                }
                if *k != 1 {
                    write!(f, " k {k}")?;
                }
                if *direction == Direction::Dependencies {
                    write!(f, " reverse")?;
                }
                Ok(())
            }
            Self::OnPath { from, to } => write!(f, "on path from {from} to {to}"),
            Self::Plan { scope: None } => write!(f, "plan"),
            Self::Plan { scope: Some(s) } => write!(f, "plan where {s}"),
            Self::Check { kind, entries } => {
                write!(f, "check")?;
                match kind {
                    CheckKind::All => {}
                    CheckKind::Orphans => write!(f, " orphans")?,
                    CheckKind::Dangling => write!(f, " dangling")?,
                    CheckKind::Unreachable => write!(f, " unreachable")?,
                }
                if let Some(e) = entries {
                    write!(f, " from {e}")?;
                }
                Ok(())
            }
        }
    }
}
