//! Damaged files: flipping or truncating random bytes of a `RedbStore` file
//! yields an error from open, read or verify — never a panic, never a
//! silently wrong answer.

mod common;

use common::Rng;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use karma_core::{Component, ContentHash, Graph, ManualClock, Timestamp, Value};
use karma_store::{CommitInfo, RedbStore, RefName, Repository};

/// Builds a small repository; returns every commit's id and root hash.
fn build(path: &Path) -> Vec<(karma_store::CommitId, ContentHash)> {
    let repo = Repository::open(RedbStore::open(path).unwrap()).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1)));
    g.insert(Component::new("Database", "db").unwrap().with_param("port", 5432).with_output("url", "db")).unwrap();
    let mut out = Vec::new();
    for i in 0..12 {
        let name = format!("s{i}");
        g.insert(
            Component::new("Service", &name)
                .unwrap()
                .with_param("replicas", i)
                .with_param("db", Value::reference("Database/db".parse().unwrap(), "url")),
        )
        .unwrap();
        g.set_param("Database/db", "port", 5432 + i).unwrap();
        let c = repo.commit(&prod, &g, CommitInfo::new("t", "step").at(Timestamp::from_secs(i))).unwrap();
        out.push((c.id, c.root_hash));
    }
    out
}

/// Opens and reads everything; `Ok` carries what was read.
fn read_all(path: &Path) -> Result<Vec<(karma_store::CommitId, ContentHash)>, String> {
    let store = RedbStore::open(path).map_err(|e| e.to_string())?;
    let repo = Repository::open(store).map_err(|e| e.to_string())?;
    let prod = RefName::environment("prod").map_err(|e| e.to_string())?;
    let log = repo.log(&prod, usize::MAX, None).map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    for c in log.iter().rev() {
        let snap = repo.checkout(c.id).map_err(|e| e.to_string())?;
        seen.push((c.id, snap.root_hash()));
    }
    let report = repo.verify().map_err(|e| e.to_string())?;
    if !report.is_ok() {
        return Err(report.problems.join("; "));
    }
    Ok(seen)
}

#[test]
fn damaged_files_give_errors_not_panics_or_wrong_answers() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.redb");
    let expected = build(&original);
    let bytes = std::fs::read(&original).unwrap();
    assert_eq!(read_all(&original).unwrap(), expected);

    // redb may panic on damaged pages; RedbStore turns that into an error.
    // Keep those (expected, caught) panics from flooding the output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut errors, mut unharmed) = (0, 0);
    let mut failures = Vec::new();
    let damaged = dir.path().join("damaged.redb");
    for case in 0..1_000 {
        let mut copy = bytes.clone();
        if case % 4 == 3 {
            copy.truncate(rng.below(bytes.len() as u64) as usize);
        } else {
            // Flip bits in 1 to 4 random bytes.
            for _ in 0..=rng.below(4) {
                let at = rng.below(copy.len() as u64) as usize;
                copy[at] ^= 1 << rng.below(8);
            }
        }
        std::fs::write(&damaged, &copy).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| read_all(&damaged)));
        match outcome {
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                failures.push(format!("case {case}: reading a damaged file panicked: {message}"));
            }
            Ok(Err(_)) => errors += 1,
            Ok(Ok(seen)) => {
                // Everything read fine: it must be exactly what was written
                // (the damage hit bytes that hold nothing live).
                if seen != expected {
                    failures.push(format!("case {case}: a damaged file gave a wrong answer"));
                }
                unharmed += 1;
            }
        }
    }
    std::panic::set_hook(default_hook);
    assert!(failures.is_empty(), "{failures:#?}");
    println!("{errors} damaged files reported, {unharmed} read back unharmed");
    assert!(errors > 100, "only {errors} of 1000 damaged files were reported ({unharmed} unharmed)");
}
