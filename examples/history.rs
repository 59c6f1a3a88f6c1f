//! History: deployments committed to a redb file, read back as of a time,
//! one param's history, a diff between deployments, and a what-if branch
//! merged back (and a conflicting one refused).
//!
//! `cargo run --example history`

use std::time::Duration;

use karma::prelude::*;
use karma::store::{CommitInfo, RedbStore, RefName, Repository, Revision, StoreError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("karma-history-example.redb");
    let _ = std::fs::remove_file(&path);
    let repo = Repository::open(RedbStore::open(&path)?)?;
    let prod = RefName::environment("prod")?;

    // Three deployments, a day apart.
    let clock = ManualClock::new(Timestamp::from_secs(1_795_000_000));
    let mut graph = Graph::with_clock(clock.clone());
    graph.insert(Component::new("Service", "api")?.with_param("replicas", 2).with_param("image", "api:1.0"))?;
    let mut deployed = Vec::new();
    for (what, replicas, image) in
        [("initial", 2, "api:1.0"), ("scale up", 4, "api:1.0"), ("release 1.1", 4, "api:1.1")]
    {
        graph.set_param("Service/api", "replicas", replicas)?;
        graph.set_param("Service/api", "image", image)?;
        deployed.push(repo.commit(&prod, &graph.snapshot(), CommitInfo::new("ci", what).at(clock.now()))?);
        clock.advance(Duration::from_secs(86_400));
    }
    println!("{} deployments in {}", deployed.len(), path.display());

    // What was running a day and a half in?
    let then = deployed[0].timestamp.plus(Duration::from_secs(129_600));
    let at = repo.as_of(&prod, then)?.expect("a commit by then");
    println!(
        "As of {then}: \"{}\", replicas {}",
        at.message,
        repo.checkout(at.id)?.get(&"Service/api".parse()?).unwrap().param_value("replicas").unwrap()
    );

    // Every value one param took, from the index (no replay).
    for change in repo.param_history(&"Service/api".parse()?, "replicas")? {
        println!("  replicas = {} at {}", change.value.map_or("-".into(), |v| v.to_string()), change.timestamp);
    }
    print!(
        "Between the first and the last deployment:\n{}",
        repo.diff(&Revision::Commit(deployed[0].id), &Revision::Head(prod.clone()))?
    );

    // A what-if branch: raise the image on the branch, scale on prod, merge.
    let branch = RefName::branch("what-if")?;
    repo.set_ref(&branch, None, deployed[2].id)?;
    let mut what_if = Graph::from_snapshot(repo.checkout(deployed[2].id)?, clock.clone());
    what_if.set_param("Service/api", "image", "api:1.2-rc")?;
    repo.commit(&branch, &what_if.snapshot(), CommitInfo::new("me", "try 1.2"))?;
    graph.set_param("Service/api", "replicas", 6)?;
    repo.commit(&prod, &graph.snapshot(), CommitInfo::new("ci", "scale to 6"))?;
    let merged = repo.merge(&prod, &Revision::Head(branch.clone()), CommitInfo::new("me", "merge what-if"))?;
    let api = repo.checkout(merged.id)?.get(&"Service/api".parse()?).cloned().unwrap();
    println!("Merged: image {}, replicas {}", api.param_value("image").unwrap(), api.param_value("replicas").unwrap());

    // Both sides changing one param differently is a conflict, named, never resolved silently.
    what_if.set_param("Service/api", "replicas", 1)?;
    repo.commit(&branch, &what_if.snapshot(), CommitInfo::new("me", "scale down"))?;
    graph.set_param("Service/api", "replicas", 8)?;
    repo.commit(&prod, &graph.snapshot(), CommitInfo::new("ci", "scale to 8"))?;
    match repo.merge(&prod, &Revision::Head(branch), CommitInfo::new("me", "merge again")) {
        Err(StoreError::Merge { conflicts, .. }) => println!("Refused: {}", conflicts[0]),
        other => println!("unexpected: {other:?}"),
    }
    std::fs::remove_file(&path)?;
    Ok(())
}
