//! Random sequences of commits on several refs and branches give the same
//! answers (checkout, as-of, param history, diff) as a naive in-memory model.

use std::collections::BTreeMap;

use karma_core::{Component, Graph, Key, ManualClock, Removal, Snapshot, Timestamp, Value};
use karma_store::{CommitId, CommitInfo, MemoryStore, RefName, Repository, Revision};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// On ref `r`: set param `p` of component `c` to `v` (inserting it if
    /// absent), or remove the component when `v` is `None`; then commit.
    Commit { r: usize, c: usize, p: usize, v: Option<i64>, dt: i64 },
    /// Creates branch `to` at the head of `from` if `to` does not exist.
    Branch { from: usize, to: usize },
    /// Merges the pending index segments into the sorted index.
    Flush,
    /// Checks one param's history against the model now.
    Probe(usize, usize),
}

/// The model's history of param `p` of component `c`.
fn model_history(commits: &[ModelCommit], c: usize, p: &str) -> Vec<(CommitId, Option<Value>)> {
    let mut want = Vec::new();
    for m in commits {
        let before = m.parent.as_ref().and_then(|s| s.get(&key(c))).and_then(|c| c.param_value(p).cloned());
        let after = m.snapshot.get(&key(c)).and_then(|c| c.param_value(p).cloned());
        if before != after {
            want.push((m.id, after));
        }
    }
    want
}

const REFS: [&str; 4] = ["env/prod", "env/staging", "branch/a", "branch/b"];
const PARAMS: [&str; 2] = ["replicas", "port"];

fn key(c: usize) -> Key {
    Key::new("Service", &format!("s{c}")).unwrap()
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0usize..4, 0usize..5, 0usize..2, prop::option::weighted(0.85, -3i64..3), 0i64..3)
            .prop_map(|(r, c, p, v, dt)| Step::Commit { r, c, p, v, dt }),
        1 => (0usize..4, 0usize..4).prop_map(|(from, to)| Step::Branch { from, to }),
        1 => Just(Step::Flush),
        1 => (0usize..5, 0usize..2).prop_map(|(c, p)| Step::Probe(c, p)),
    ]
}

/// What the model remembers of each commit.
struct ModelCommit {
    id: CommitId,
    reference: usize,
    time: Timestamp,
    parent: Option<Snapshot>,
    snapshot: Snapshot,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn repository_matches_model(steps in prop::collection::vec(step(), 1..40), probes in prop::collection::vec(0i64..200, 5)) {
        let repo = Repository::open(MemoryStore::new()).unwrap();
        let refs: Vec<RefName> = REFS.iter().map(|r| RefName::parse(r).unwrap()).collect();
        let mut heads: BTreeMap<usize, (CommitId, Snapshot)> = BTreeMap::new();
        let mut commits: Vec<ModelCommit> = Vec::new();
        let mut now = 0i64;

        for s in &steps {
            match *s {
                Step::Flush => repo.flush_index().unwrap(),
                Step::Probe(c, p) => {
                    let got: Vec<(CommitId, Option<Value>)> =
                        repo.param_history(&key(c), PARAMS[p]).unwrap().into_iter().map(|h| (h.commit, h.value)).collect();
                    prop_assert_eq!(got, model_history(&commits, c, PARAMS[p]));
                }
                Step::Branch { from, to } => {
                    if let (Some((id, snap)), false) = (heads.get(&from).cloned(), heads.contains_key(&to)) {
                        repo.set_ref(&refs[to], None, id).unwrap();
                        heads.insert(to, (id, snap));
                    }
                }
                Step::Commit { r, c, p, v, dt } => {
                    now += dt;
                    let parent = heads.get(&r).map(|(_, s)| s.clone());
                    let mut g = Graph::from_snapshot(parent.clone().unwrap_or_default(), ManualClock::new(Timestamp::from_secs(now)));
                    let k = key(c);
                    match v {
                        Some(v) if g.contains(&k) => g.set_param(&k, PARAMS[p], v).unwrap(),
                        Some(v) => {
                            g.insert(Component::new("Service", &format!("s{c}")).unwrap().with_param(PARAMS[p], v)).unwrap();
                        }
                        None if g.contains(&k) => {
                            g.remove(&k, Removal::Restrict).unwrap();
                        }
                        None => {}
                    }
                    let commit = repo.commit(&refs[r], &g, CommitInfo::new("model", "step").at(Timestamp::from_secs(now))).unwrap();
                    let snapshot = g.snapshot();
                    heads.insert(r, (commit.id, snapshot.clone()));
                    commits.push(ModelCommit { id: commit.id, reference: r, time: Timestamp::from_secs(now), parent, snapshot });
                }
            }
        }

        // Checkout of every commit.
        for m in &commits {
            prop_assert_eq!(repo.checkout(m.id).unwrap().root_hash(), m.snapshot.root_hash());
        }
        // Heads.
        for (r, (id, _)) in &heads {
            prop_assert_eq!(repo.head(&refs[*r]).unwrap(), Some(*id));
        }
        // As-of: the last commit made on the ref at or before t.
        for (r, name) in refs.iter().enumerate() {
            for &t in &probes {
                let t = Timestamp::from_secs(t);
                let want = commits.iter().rfind(|m| m.reference == r && m.time <= t).map(|m| m.id);
                prop_assert_eq!(repo.as_of(name, t).unwrap().map(|c| c.id), want);
            }
        }
        // Param history: every change of the param, commit by commit.
        for c in 0..5 {
            for p in PARAMS {
                let got: Vec<(CommitId, Option<Value>)> =
                    repo.param_history(&key(c), p).unwrap().into_iter().map(|h| (h.commit, h.value)).collect();
                prop_assert_eq!(got, model_history(&commits, c, p), "history of s{}.{}", c, p);
            }
        }
        // Diff between any two commits.
        if let (Some(first), Some(last)) = (commits.first(), commits.last()) {
            let got = repo.diff(&Revision::Commit(first.id), &Revision::Commit(last.id)).unwrap();
            prop_assert_eq!(got, first.snapshot.diff(&last.snapshot));
        }
        prop_assert!(repo.verify().unwrap().is_ok());
    }
}
