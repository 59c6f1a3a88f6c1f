//! Output: results as readable tables, subgraphs as Graphviz DOT and
//! Mermaid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use karma_core::Key;
use serde::{Deserialize, Serialize};

use crate::impact::BlastRadius;
use crate::paths::Path;
use crate::query::QueryResult;
use crate::view::View;

/// Writes rows as an aligned text table.
fn table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: &[Vec<String>]) -> fmt::Result {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = &str>| -> fmt::Result {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let _ = write!(out, "{cell:<w$}", w = widths[i]);
        }
        writeln!(f, "{}", out.trim_end())
    };
    line(f, &mut header.iter().copied())?;
    line(
        f,
        &mut widths
            .iter()
            .map(|&w| &"--------------------------------------------------------------------------------"[..w.min(80)]),
    )?;
    for row in rows {
        line(f, &mut row.iter().map(String::as_str))?;
    }
    writeln!(f, "({} {})", rows.len(), if rows.len() == 1 { "row" } else { "rows" })
}

fn join_keys(keys: &[Key]) -> String {
    keys.iter().map(Key::as_str).collect::<Vec<_>>().join(" → ")
}

impl fmt::Display for QueryResult {
    /// The result as a table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Components(keys) => {
                table(f, &["component"], &keys.iter().map(|k| vec![k.to_string()]).collect::<Vec<_>>())
            }
            Self::Reached(hits) => table(
                f,
                &["component", "depth", "why"],
                &hits
                    .iter()
                    .map(|h| vec![h.key.to_string(), h.depth.to_string(), join_keys(&h.path)])
                    .collect::<Vec<_>>(),
            ),
            Self::Params(hits) => table(
                f,
                &["param", "depth", "chain"],
                &hits
                    .iter()
                    .map(|h| {
                        let chain: Vec<String> = h.chain.iter().map(ToString::to_string).collect();
                        vec![h.target.to_string(), h.depth.to_string(), chain.join(" → ")]
                    })
                    .collect::<Vec<_>>(),
            ),
            Self::Paths(paths) => table(
                f,
                &["#", "cost", "path"],
                &paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| vec![(i + 1).to_string(), format!("{}", p.cost), join_keys(&p.keys)])
                    .collect::<Vec<_>>(),
            ),
            Self::Plan(plan) => {
                let mut rows: Vec<Vec<String>> = plan
                    .waves
                    .iter()
                    .enumerate()
                    .map(|(i, w)| vec![(i + 1).to_string(), w.len().to_string(), abbreviate(w)])
                    .collect();
                for cycle in &plan.cycles {
                    rows.push(vec!["cycle".into(), cycle.len().to_string(), abbreviate(cycle)]);
                }
                if !plan.blocked.is_empty() {
                    rows.push(vec!["blocked".into(), plan.blocked.len().to_string(), abbreviate(&plan.blocked)]);
                }
                table(f, &["wave", "size", "components"], &rows)
            }
            Self::Check(report) => {
                let mut rows = Vec::new();
                for k in &report.orphans {
                    rows.push(vec!["orphan".into(), k.to_string(), String::new()]);
                }
                for d in &report.dangling {
                    let what = if d.target_exists { "output missing" } else { "component missing" };
                    rows.push(vec![
                        "dangling reference".into(),
                        format!("{}.{}", d.holder, d.param),
                        format!("{}.{} ({what})", d.target, d.output),
                    ]);
                }
                for k in &report.unreachable {
                    rows.push(vec!["unreachable".into(), k.to_string(), String::new()]);
                }
                table(f, &["finding", "component", "detail"], &rows)
            }
        }
    }
}

fn abbreviate(keys: &[Key]) -> String {
    const SHOWN: usize = 8;
    let mut s = keys.iter().take(SHOWN).map(Key::as_str).collect::<Vec<_>>().join(", ");
    if keys.len() > SHOWN {
        let _ = write!(s, ", … (+{})", keys.len() - SHOWN);
    }
    s
}

/// How nodes are grouped in a drawing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One box per kind.
    #[default]
    Kind,
    /// One box per value of a label (e.g. `env`); nodes without it are not
    /// boxed.
    Label(String),
    /// No boxes.
    None,
}

/// A part of the graph to draw: nodes with their kinds and groups, the edges
/// among them, and the nodes to highlight (e.g. what a change touched).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subgraph {
    /// The nodes, in key order, each with its group.
    pub nodes: BTreeMap<Key, Option<String>>,
    /// The edges: from, to, kind label.
    pub edges: BTreeSet<(Key, Key, String)>,
    /// Nodes drawn highlighted.
    pub highlighted: BTreeSet<Key>,
}

impl Subgraph {
    /// `keys` and every edge of `view` among them.
    pub fn induced(view: &View, keys: impl IntoIterator<Item = Key>, group: &GroupBy) -> Self {
        let mut s = Self::default();
        let ids: BTreeSet<u32> = keys.into_iter().filter_map(|k| view.id(&k)).collect();
        for &id in &ids {
            s.nodes.insert(view.key(id).clone(), group_of(view, id, group));
            for (to, kind) in view.dependencies_of(id) {
                if ids.contains(&to) {
                    s.edges.insert((view.key(id).clone(), view.key(to).clone(), kind.to_string()));
                }
            }
        }
        s
    }

    /// A path's nodes and the edges along it (either direction), its ends
    /// highlighted.
    pub fn of_path(view: &View, path: &Path, group: &GroupBy) -> Self {
        let mut s = Self::default();
        for k in &path.keys {
            if let Some(id) = view.id(k) {
                s.nodes.insert(k.clone(), group_of(view, id, group));
            }
        }
        for pair in path.keys.windows(2) {
            let (Some(a), Some(b)) = (view.id(&pair[0]), view.id(&pair[1])) else { continue };
            for (from, to) in [(a, b), (b, a)] {
                for (t, kind) in view.dependencies_of(from) {
                    if t == to {
                        s.edges.insert((view.key(from).clone(), view.key(to).clone(), kind.to_string()));
                    }
                }
            }
        }
        s.highlighted.extend(path.keys.first().cloned());
        s.highlighted.extend(path.keys.last().cloned());
        s
    }

    /// A blast radius: every affected component and the edges among them,
    /// the changed ones highlighted.
    pub fn of_blast_radius(view: &View, radius: &BlastRadius, group: &GroupBy) -> Self {
        let mut s = Self::induced(view, radius.affected.iter().map(|a| a.key.clone()), group);
        s.highlighted.extend(radius.changed.iter().filter(|k| s.nodes.contains_key(*k)).cloned());
        s
    }

    fn groups(&self) -> BTreeMap<Option<&str>, Vec<&Key>> {
        let mut groups: BTreeMap<Option<&str>, Vec<&Key>> = BTreeMap::new();
        for (k, g) in &self.nodes {
            groups.entry(g.as_deref()).or_default().push(k);
        }
        groups
    }

    /// Graphviz DOT: groups as clusters, highlighted nodes filled.
    pub fn to_dot(&self) -> String {
        let ids: BTreeMap<&Key, usize> = self.nodes.keys().enumerate().map(|(i, k)| (k, i)).collect();
        let mut out = String::from("digraph karma {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        for (g, (group, keys)) in self.groups().into_iter().enumerate() {
            let indent = if group.is_some() { "    " } else { "  " };
            if let Some(name) = group {
                let _ = writeln!(out, "  subgraph cluster_{g} {{\n    label={};", dot_string(name));
            }
            for k in keys {
                let style =
                    if self.highlighted.contains(k) { ", style=\"rounded,filled\", fillcolor=\"#ffd966\"" } else { "" };
                let _ = writeln!(out, "{indent}n{} [label={}{style}];", ids[k], dot_string(k.as_str()));
            }
            if group.is_some() {
                out.push_str("  }\n");
            }
        }
        for (from, to, kind) in &self.edges {
            let _ = writeln!(out, "  n{} -> n{} [label={}];", ids[from], ids[to], dot_string(kind));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid `flowchart`: groups as subgraphs, highlighted nodes styled.
    pub fn to_mermaid(&self) -> String {
        let ids: BTreeMap<&Key, usize> = self.nodes.keys().enumerate().map(|(i, k)| (k, i)).collect();
        let mut out = String::from("flowchart LR\n");
        for (g, (group, keys)) in self.groups().into_iter().enumerate() {
            if let Some(name) = group {
                let _ = writeln!(out, "  subgraph g{g} [{}]", mermaid_string(name));
            }
            for k in keys {
                let _ = writeln!(out, "    n{}[{}]", ids[k], mermaid_string(k.as_str()));
            }
            if group.is_some() {
                out.push_str("  end\n");
            }
        }
        for (from, to, kind) in &self.edges {
            let _ = writeln!(out, "  n{} -->|{}| n{}", ids[from], mermaid_string(kind), ids[to]);
        }
        if !self.highlighted.is_empty() {
            out.push_str("  classDef changed fill:#ffd966,stroke:#b45f06\n");
            let list: Vec<String> =
                self.highlighted.iter().filter_map(|k| ids.get(k)).map(|i| format!("n{i}")).collect();
            let _ = writeln!(out, "  class {} changed", list.join(","));
        }
        out
    }
}

fn group_of(view: &View, id: u32, group: &GroupBy) -> Option<String> {
    match group {
        GroupBy::Kind => Some(view.kind(id).to_string()),
        GroupBy::Label(name) => view.label(id, name).map(str::to_string),
        GroupBy::None => None,
    }
}

/// A DOT double-quoted string.
fn dot_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Mermaid quoted label (quotes become `#quot;`).
fn mermaid_string(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "#quot;").replace('\n', " "))
}
