//! The Karma tour: build a small platform, deploy changes to it, and ask what
//! changed.
//!
//! `cargo run --release --example tour`
//!
//! This first version covers the data model (typed components, reference
//! edges, versions, time, secrets, snapshots and deltas). History, queries and
//! ML join it as their crates land.

use std::time::{Duration, Instant};

use karma::core::{Error, Key, Snapshot};
use karma::prelude::*;
use karma::query::{GroupBy, KeyMapping, QueryResult, Selector, Subgraph, Transform, View, change_impact, parse};
use karma::store::{Commit, CommitInfo, RedbStore, RefName, Repository, Revision, StoreError};

/// A network the platform's components live in.
#[derive(Component, Debug, Clone)]
struct Network {
    cidr: String,
    #[karma(output)]
    id: Option<String>,
}

/// A managed database.
#[derive(Component, Debug, Clone)]
struct Database {
    engine: String,
    version: String,
    port: u16,
    replicas: u32,
    password: Secret,
    network: Ref<String>,
    #[karma(output, derives_from = "port, engine")]
    endpoint: Option<String>,
}

/// A cache in front of a database.
#[derive(Component, Debug, Clone)]
struct Cache {
    size_mib: u32,
    network: Ref<String>,
    #[karma(output, derives_from = "size_mib")]
    endpoint: Option<String>,
}

/// A message queue.
#[derive(Component, Debug, Clone)]
struct Queue {
    partitions: u32,
    #[karma(output)]
    url: Option<String>,
}

/// A service.
#[derive(Component, Debug, Clone)]
struct Service {
    image: String,
    replicas: u32,
    database: Option<Ref<String>>,
    cache: Option<Ref<String>>,
    queue: Option<Ref<String>>,
    #[karma(output, derives_from = "image, replicas")]
    url: Option<String>,
}

/// A public API gateway in front of services.
#[derive(Component, Debug, Clone)]
struct Gateway {
    hostname: String,
    upstreams: Vec<Ref<String>>,
    public: bool,
}

const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

fn key(text: &str) -> Result<Key, Error> {
    text.parse()
}

/// Builds one environment's components, named `<env>-<name>`.
fn build_environment(graph: &mut Graph, env: &str, salt: &SecretSalt) -> Result<(), Error> {
    let n = |name: &str| format!("{env}-{name}");
    let at = |kind: &str, name: &str| key(&format!("{kind}/{env}-{name}"));
    let scale = match env {
        "prod" => 3,
        "staging" => 2,
        _ => 1,
    };
    graph.insert_typed(&n("vpc"), &Network { cidr: "10.0.0.0/16".into(), id: Some(format!("vpc-{env}")) })?;
    for db in ["orders", "users"] {
        graph.insert_typed(
            &n(db),
            &Database {
                engine: "postgres".into(),
                version: "15.4".into(),
                port: 5432,
                replicas: scale,
                password: Secret::with_salt(salt, format!("{env}-{db}-initial-password")),
                network: Ref::new(at("Network", "vpc")?, "id"),
                endpoint: Some(format!("{db}.{env}.internal:5432")),
            },
        )?;
    }
    graph.insert_typed(
        &n("sessions"),
        &Cache {
            size_mib: 256 * scale,
            network: Ref::new(at("Network", "vpc")?, "id"),
            endpoint: Some(format!("sessions.{env}.internal:6379")),
        },
    )?;
    for q in ["jobs", "events", "legacy"] {
        graph.insert_typed(&n(q), &Queue { partitions: 4 * scale, url: Some(format!("amqp://{q}.{env}")) })?;
    }
    let services = [
        ("orders-api", Some("orders"), Some("sessions"), Some("jobs")),
        ("users-api", Some("users"), Some("sessions"), None),
        ("billing", Some("orders"), None, Some("events")),
        ("worker", None, None, Some("jobs")),
    ];
    for (name, db, cache, queue) in services {
        graph.insert_typed(
            &n(name),
            &Service {
                image: format!("registry/{name}:1.0.0"),
                replicas: scale,
                database: db.map(|d| at("Database", d).map(|k| Ref::new(k, "endpoint"))).transpose()?,
                cache: cache.map(|c| at("Cache", c).map(|k| Ref::new(k, "endpoint"))).transpose()?,
                queue: queue.map(|q| at("Queue", q).map(|k| Ref::new(k, "url"))).transpose()?,
                url: Some(format!("http://{name}.{env}.svc")),
            },
        )?;
    }
    graph.insert_typed(
        &n("gateway"),
        &Gateway {
            hostname: format!("api.{env}.example.com"),
            upstreams: vec![
                Ref::new(at("Service", "orders-api")?, "url"),
                Ref::new(at("Service", "users-api")?, "url"),
            ],
            public: env == "prod",
        },
    )?;
    // A plain dependency with attributes, besides the reference edges.
    graph.connect(
        at("Service", "worker")?,
        at("Service", "billing")?,
        EdgeKind::custom("calls"),
        [("latency_ms".into(), Value::Int(12))],
    )?;
    for name in ["orders-api", "users-api", "billing", "worker"] {
        graph.set_label(at("Service", name)?, "team", if name == "users-api" { "identity" } else { "commerce" })?;
    }
    Ok(())
}

/// One deployment: a set of changes applied as one transaction at `clock`'s time.
/// One deployment: a set of changes applied as one transaction at `clock`'s
/// time, then committed to the repository.
fn deploy(
    graph: &mut Graph,
    clock: &ManualClock,
    what: &str,
    change: impl FnOnce(&mut Graph) -> Result<(), Error>,
) -> Result<Snapshot, Error> {
    clock.advance(Duration::from_secs(3600));
    graph.transaction(change)?;
    println!("  {}  {what}", clock.now());
    Ok(graph.snapshot())
}

/// Commits `snapshot` as one deployment of the platform.
fn record(repo: &Repository<RedbStore>, snapshot: &Snapshot, what: &str, at: Timestamp) -> Result<Commit, StoreError> {
    let platform = RefName::environment("platform")?;
    repo.commit(&platform, snapshot, CommitInfo::new("tour", what).at(at))
}

/// Six deployments with realistic changes, one simulated hour apart; returns
/// the snapshot before them and after each.
fn run_deployments(
    graph: &mut Graph,
    clock: &ManualClock,
    salt: &SecretSalt,
    initial: Snapshot,
) -> Result<Vec<Snapshot>, Error> {
    let mut snapshots = vec![initial];
    snapshots.push(deploy(graph, clock, "scale prod orders-api to 6", |g| {
        g.set_param("Service/prod-orders-api", "replicas", 6)
    })?);
    snapshots.push(deploy(graph, clock, "postgres 15.4 -> 16.2 in prod", |g| {
        g.set_param("Database/prod-orders", "version", "16.2")?;
        g.set_param("Database/prod-users", "version", "16.2")
    })?);
    snapshots.push(deploy(graph, clock, "new search service in prod", |g| {
        g.insert_typed(
            "prod-search",
            &Service {
                image: "registry/search:0.9.0".into(),
                replicas: 2,
                database: Some(Ref::new(key("Database/prod-orders")?, "endpoint")),
                cache: None,
                queue: Some(Ref::new(key("Queue/prod-events")?, "url")),
                url: Some("http://search.prod.svc".into()),
            },
        )?;
        g.upsert_typed(
            "prod-gateway",
            &Gateway {
                hostname: "api.prod.example.com".into(),
                upstreams: vec![
                    Ref::new(key("Service/prod-orders-api")?, "url"),
                    Ref::new(key("Service/prod-users-api")?, "url"),
                    Ref::new(key("Service/prod-search")?, "url"),
                ],
                public: true,
            },
        )
        .map(drop)
    })?);
    snapshots.push(deploy(graph, clock, "retire the legacy queue everywhere", |g| {
        for env in ENVIRONMENTS {
            g.remove(format!("Queue/{env}-legacy"), Removal::Restrict)?;
        }
        Ok(())
    })?);
    snapshots.push(deploy(graph, clock, "rotate the prod orders password", |g| {
        g.set_param("Database/prod-orders", "password", Secret::with_salt(salt, "rotated-2026-11"))
    })?);
    snapshots.push(deploy(graph, clock, "runtime: prod orders-api observed at 4 replicas", |g| {
        g.observe("Service/prod-orders-api", "replicas", 4)
    })?);

    Ok(snapshots)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let clock = ManualClock::new(Timestamp::from_secs(1_764_000_000));
    let mut graph = Graph::with_clock(clock.clone());
    let salt = SecretSalt::derive(b"tour salt: keep yours in a secret manager");

    println!("Karma tour\n==========\n");
    for env in ENVIRONMENTS {
        build_environment(&mut graph, env, &salt)?;
    }
    let initial = graph.snapshot();
    println!(
        "Built {} components and {} edges over {} environments; root hash {}",
        initial.len(),
        initial.edge_count(),
        ENVIRONMENTS.len(),
        &initial.root_hash().to_hex()[..16]
    );

    println!("\nDeployments:");
    let snapshots = run_deployments(&mut graph, &clock, &salt, initial)?;

    // A deployment that fails leaves nothing behind.
    let failed = graph.transaction(|g| {
        g.set_param("Service/prod-billing", "replicas", 9)?;
        g.remove("Database/prod-orders", Removal::Restrict).map(drop)
    });
    println!("  (a deployment removing Database/prod-orders was refused: {})", failed.unwrap_err());
    assert_eq!(Some(graph.root_hash()), snapshots.last().map(Snapshot::root_hash));

    let (first, last) = (&snapshots[0], &snapshots[snapshots.len() - 1]);
    let delta = first.diff(last);
    println!(
        "\nWhat changed between the first and the last deployment ({} added, {} removed, {} changed, {} edge changes):",
        delta.added().count(),
        delta.removed().count(),
        delta.changed().count(),
        delta.edges.len()
    );
    print!("{}", indent(&delta.to_string()));

    let orders = key("Database/prod-orders")?;
    println!("\nWho depends on Database/prod-orders directly:");
    for dependent in graph.dependents(&orders) {
        let via: Vec<String> =
            graph.edges_from(dependent).filter(|e| e.to() == &orders).map(|e| e.kind().to_string()).collect();
        println!("  {dependent}  via {}", via.join(", "));
    }

    let db: Database = graph.get_typed("Database/prod-orders")?;
    println!(
        "\nTyped read-back of Database/prod-orders: engine {} {} on port {}, {} replicas, password {}",
        db.engine, db.version, db.port, db.replicas, db.password
    );
    let component = graph.get(&orders).expect("present");
    println!(
        "  version {}, created {}, updated {}, version param last changed {}",
        component.version(),
        component.created(),
        component.updated(),
        component.param("version").map(|p| p.changed_at).unwrap_or_default()
    );

    // Deltas go both ways and travel well.
    let back = last.apply(&delta.invert())?;
    assert_eq!(back.root_hash(), first.root_hash());
    let bytes = delta.to_bincode()?;
    println!(
        "\nThe delta inverts back to the first deployment exactly (root hash {}), and encodes to {} bytes of bincode.",
        &back.root_hash().to_hex()[..16],
        bytes.len()
    );
    history(&snapshots, Timestamp::from_secs(1_764_000_000))?;
    questions(first, last)?;
    println!("\nDone in {:.2?}.", started.elapsed());
    Ok(())
}

/// Asks the query engine about the last deployment, in the text language.
fn questions(first: &Snapshot, last: &Snapshot) -> Result<(), Box<dyn std::error::Error>> {
    let view = View::new(last);
    println!(
        "\nQuestions about the last deployment ({} components, {} edges in the view):",
        view.len(),
        view.edge_count()
    );
    for text in [
        "dependents of Database/prod-orders depth 2 where kind = Service",
        "impact of Database/prod-orders.port",
        "path from kind = Database and name ~ prod-* to param public == true",
        "plan where name ~ prod-*",
        "check unreachable from param public == true",
    ] {
        let query = parse(text)?;
        let result = query.run(&view)?;
        println!("\n  > {query}");
        print!("{}", indent(&result.to_string()));
    }

    // The blast radius of everything deployed since the first state.
    let delta = first.diff(last);
    let radius = change_impact(first, &view, &delta)?;
    let kinds: Vec<String> = radius.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "\nBlast radius of the deployments since the first: {} changed, {} affected ({})",
        radius.changed.len(),
        radius.affected.len(),
        kinds.join(", ")
    );
    let sub = Subgraph::of_blast_radius(&view, &radius, &GroupBy::Kind);
    let dot = std::env::temp_dir().join("karma-tour-blast-radius.dot");
    std::fs::write(&dot, sub.to_dot())?;
    std::fs::write(dot.with_extension("mmd"), sub.to_mermaid())?;
    println!("  drawn to {} (Graphviz) and .mmd (Mermaid)", dot.display());

    // A what-if: staging's shape cloned into a new `canary` environment.
    let clone = Transform::Clone {
        select: Selector::name("staging-*"),
        mapping: KeyMapping { replace: "staging-".into(), with: "canary-".into() },
        labels: [("env".into(), "canary".into())].into(),
        overrides: std::collections::BTreeMap::new(),
    };
    let preview = clone.preview(&view)?;
    println!(
        "\nPreviewing a canary environment cloned from staging: {} components and {} edges would be added (nothing applied).",
        preview.added().count(),
        preview.edges.len()
    );
    if let QueryResult::Components(keys) = parse("select kind = Gateway")?.run(&View::new(&clone.apply_to(&view)?))? {
        println!("  gateways after it: {}", keys.iter().map(Key::as_str).collect::<Vec<_>>().join(", "));
    }
    Ok(())
}

/// Records every deployment in a `RedbStore` and asks history questions.
fn history(snapshots: &[Snapshot], start: Timestamp) -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("karma-tour.redb");
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let repo = Repository::open(RedbStore::open(&path)?)?;
    let hour = |i: usize| start.plus(Duration::from_secs(3600 * i as u64));
    let mut commits = Vec::new();
    for (i, snapshot) in snapshots.iter().enumerate() {
        let what = if i == 0 { "initial platform".to_string() } else { format!("deployment {i}") };
        commits.push(record(&repo, snapshot, &what, hour(i))?);
    }
    println!(
        "\nHistory: {} deployments committed to {} ({} KiB)",
        commits.len(),
        path.display(),
        std::fs::metadata(&path)?.len() / 1024
    );

    let api: Key = "Service/prod-orders-api".parse()?;
    println!("  Service/prod-orders-api.replicas over time:");
    for change in repo.param_history(&api, "replicas")? {
        let value = change.value.map_or_else(|| "(unset)".to_string(), |v| v.to_string());
        println!("    {}  {value}  (commit {})", change.timestamp, change.commit);
    }

    let platform = RefName::environment("platform")?;
    let then = hour(2).plus(Duration::from_secs(1800));
    let at = repo.as_of(&platform, then)?.ok_or("no commit at that time")?;
    let since = repo.diff(&Revision::AsOf(platform.clone(), then), &Revision::Head(platform.clone()))?;
    println!("  Deployed at {then}: commit {} ({}); {} changes since then", at.id, at.message, since.len());

    let legacy: Key = "Queue/prod-legacy".parse()?;
    let lineage = repo.lineage(&legacy)?;
    if let (Some(created), Some(removed)) = (lineage.created(), lineage.removed()) {
        println!(
            "  Queue/prod-legacy: created {} (commit {}), removed {} (commit {})",
            created.timestamp, created.commit, removed.timestamp, removed.commit
        );
    }
    let report = repo.verify()?;
    println!(
        "  verify: {} objects and {} commits checked, {} problems",
        report.objects,
        report.commits,
        report.problems.len()
    );
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().flat_map(|l| ["  ", l, "\n"]).collect()
}
