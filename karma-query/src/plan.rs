//! Deployment plans (topological waves) and cycle detection; graph checks.

use karma_core::Key;
use petgraph::visit::NodeFiltered;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::select::Selector;
use crate::traverse::{Direction, Traversal};
use crate::view::{NodeId, View};

/// A deployment order: each wave's components depend only on components of
/// earlier waves, so a wave can deploy in parallel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The waves, first to deploy first; each in key order.
    pub waves: Vec<Vec<Key>>,
    /// Dependency cycles that keep their components (and whatever depends on
    /// them) out of the plan: each lists the components of one strongly
    /// connected set, in key order. Empty when the plan is complete.
    pub cycles: Vec<Vec<Key>>,
    /// Components left out because they depend (transitively) on a cycle.
    pub blocked: Vec<Key>,
}

/// A deployment plan for the components `scope` selects (all when `None`):
/// dependencies deploy before their dependents; edges to components outside
/// the scope are taken as already deployed. Cycles are found (Tarjan's
/// algorithm, petgraph's, run on the view) and named rather than looped on.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::{View, plan};
///
/// let mut g = Graph::new();
/// for name in ["db", "cache", "api", "web"] {
///     g.insert(Component::new("Node", name)?)?;
/// }
/// g.connect("Node/api", "Node/db", EdgeKind::DependsOn, [])?;
/// g.connect("Node/api", "Node/cache", EdgeKind::DependsOn, [])?;
/// g.connect("Node/web", "Node/api", EdgeKind::DependsOn, [])?;
/// let p = plan(&View::new(&g), None)?;
/// assert_eq!(p.waves.len(), 3);
/// assert_eq!(p.waves[0].iter().map(|k| k.as_str()).collect::<Vec<_>>(), ["Node/cache", "Node/db"]);
/// assert!(p.cycles.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan(view: &View, scope: Option<&Selector>) -> Result<Plan> {
    let in_scope = scope.map_or_else(|| vec![true; view.len()], |s| s.mask(view));
    Ok(plan_masked(view, &in_scope))
}

/// A deployment plan for what a change touches: the components of a blast
/// radius (changed ones and everything depending on them), in waves.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::{View, change_impact, plan_change};
///
/// let mut g = Graph::new();
/// for name in ["db", "api", "web", "batch"] {
///     g.insert(Component::new("Node", name)?.with_param("v", 1))?;
/// }
/// g.connect("Node/api", "Node/db", EdgeKind::DependsOn, [])?;
/// g.connect("Node/web", "Node/api", EdgeKind::DependsOn, [])?;
/// let before = g.snapshot();
/// g.set_param("Node/api", "v", 2)?;
/// let view = View::new(&g.snapshot());
/// let radius = change_impact(&before, &view, &before.diff(&view.snapshot()))?;
/// let p = plan_change(&view, &radius);
/// let waves: Vec<Vec<&str>> = p.waves.iter().map(|w| w.iter().map(|k| k.as_str()).collect()).collect();
/// assert_eq!(waves, [vec!["Node/api"], vec!["Node/web"]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_change(view: &View, radius: &crate::impact::BlastRadius) -> Plan {
    let mut in_scope = vec![false; view.len()];
    for a in &radius.affected {
        if let Some(id) = view.id(&a.key) {
            in_scope[id as usize] = true;
        }
    }
    plan_masked(view, &in_scope)
}

pub(crate) fn plan_masked(view: &View, in_scope: &[bool]) -> Plan {
    let n = view.len();
    // Unmet dependencies per in-scope component (edges of several kinds
    // between the same pair count once).
    let mut pending: Vec<u32> = view
        .ids()
        .into_par_iter()
        .map(|id| {
            if !in_scope[id as usize] {
                return 0;
            }
            let row = view.forward.row(id);
            row.iter().enumerate().filter(|&(i, &t)| in_scope[t as usize] && (i == 0 || row[i - 1] != t)).count() as u32
        })
        .collect();
    let mut wave: Vec<NodeId> =
        (0..n as NodeId).filter(|&id| in_scope[id as usize] && pending[id as usize] == 0).collect();
    let mut placed = vec![false; n];
    let mut waves = Vec::new();
    while !wave.is_empty() {
        let mut next = Vec::new();
        for &id in &wave {
            placed[id as usize] = true;
        }
        for &id in &wave {
            let row = view.reverse.row(id);
            for (i, &dependent) in row.iter().enumerate() {
                if !in_scope[dependent as usize] || (i > 0 && row[i - 1] == dependent) {
                    continue;
                }
                pending[dependent as usize] -= 1;
                if pending[dependent as usize] == 0 {
                    next.push(dependent);
                }
            }
        }
        next.sort_unstable();
        waves.push(wave.iter().map(|&id| view.key(id).clone()).collect());
        wave = next;
    }
    let left: Vec<bool> = (0..n).map(|i| in_scope[i] && !placed[i]).collect();
    let mut cycles = Vec::new();
    let mut on_cycle = vec![false; n];
    if left.iter().any(|&x| x) {
        let filtered = NodeFiltered::from_fn(view, |id: NodeId| left[id as usize]);
        for mut scc in petgraph::algo::tarjan_scc(&filtered) {
            if scc.len() > 1 {
                scc.sort_unstable();
                for &id in &scc {
                    on_cycle[id as usize] = true;
                }
                cycles.push(scc.iter().map(|&id| view.key(id).clone()).collect::<Vec<_>>());
            }
        }
        cycles.sort();
    }
    let blocked = (0..n as NodeId)
        .filter(|&id| left[id as usize] && !on_cycle[id as usize])
        .map(|id| view.key(id).clone())
        .collect();
    Plan { waves, cycles, blocked }
}

/// What a graph check found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Components with no edges at all, in key order.
    pub orphans: Vec<Key>,
    /// References whose component or output does not exist: the holder,
    /// its param, and the reference as written.
    pub dangling: Vec<DanglingRef>,
    /// Components no entry point reaches through dependencies, in key order.
    pub unreachable: Vec<Key>,
}

/// A reference to a missing component or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DanglingRef {
    /// The component holding the reference.
    pub holder: Key,
    /// The param holding it.
    pub param: String,
    /// The referenced component.
    pub target: Key,
    /// The referenced output.
    pub output: String,
    /// Whether the component exists (so only the output is missing).
    pub target_exists: bool,
}

/// Components with no edge in or out.
pub fn orphans(view: &View) -> Vec<Key> {
    view.ids()
        .into_par_iter()
        .filter(|&id| view.forward.degree(id) == 0 && view.reverse.degree(id) == 0)
        .map(|id| view.key(id).clone())
        .collect()
}

/// References (in params, including inside lists and maps) to a component
/// or output that does not exist.
pub fn dangling_references(view: &View) -> Vec<DanglingRef> {
    let mut out: Vec<DanglingRef> = view
        .ids()
        .into_par_iter()
        .flat_map_iter(|id| {
            let c = view.component(id);
            c.references()
                .into_iter()
                .filter_map(|(param, r)| {
                    let target = view.snapshot().get(&r.component);
                    if target.is_some_and(|t| t.output(&r.output).is_some()) {
                        return None;
                    }
                    Some(DanglingRef {
                        holder: c.key().clone(),
                        param: param.to_string(),
                        target: r.component.clone(),
                        output: r.output.to_string(),
                        target_exists: target.is_some(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_by(|a, b| (&a.holder, &a.param, &a.target, &a.output).cmp(&(&b.holder, &b.param, &b.target, &b.output)));
    out
}

/// Components that no entry point (a component `entries` selects, e.g.
/// `label public`) reaches through its dependencies, transitively; the
/// entry points themselves count as reached.
pub fn unreachable_from(view: &View, entries: &Selector) -> Vec<Key> {
    let sources = entries.select(view);
    let reach = view.reach(&sources, Direction::Dependencies, &Traversal::default());
    view.ids().into_par_iter().filter(|&id| !reach.seen(id)).map(|id| view.key(id).clone()).collect()
}

/// Every check at once; `entries` picks the public entry points (by
/// default, components labelled `public`).
pub fn check(view: &View, entries: Option<&Selector>) -> CheckReport {
    let default = Selector::has_label("public");
    CheckReport {
        orphans: orphans(view),
        dangling: dangling_references(view),
        unreachable: unreachable_from(view, entries.unwrap_or(&default)),
    }
}
