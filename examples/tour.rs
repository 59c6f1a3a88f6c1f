//! The Karma tour: a platform of 60 typed components over dev, staging and
//! prod plus a real Terraform state, 32 deployments over simulated days
//! committed to a redb file, and the questions a platform team asks of it.
//!
//! `cargo run --release --example tour`
//!
//! It leaves behind only the files it names: the history
//! (`karma-tour.redb`) and the blast radius drawn as DOT and Mermaid, in the
//! system's temporary directory.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use karma::core::{ComponentChange, Error, Key, Snapshot};
use karma::import::terraform;
use karma::ml::{
    Adjacency, AnomalyConfig, Blueprint, Connections, Embeddings, FeatureConfig, FeatureExtractor, Intent,
    PatternConfig, ProposeOptions, Sage, SageConfig, Tolerance, TrainOptions, mine_patterns, recommend, scan_anomalies,
    scan_drift, train_unsupervised,
};
use karma::prelude::*;
use karma::query::{GroupBy, Subgraph, change_impact, plan_change};
use karma::store::{Commit, CommitInfo, RedbStore, RefName, Repository, Revision};

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

/// A cache.
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

/// Where data comes from: a bucket of events, a partner's feed.
#[derive(Component, Debug, Clone)]
struct DataSource {
    bucket: String,
    format: String,
    #[karma(output, derives_from = "bucket")]
    uri: Option<String>,
}

/// A batch pipeline reading a source and producing a table.
#[derive(Component, Debug, Clone)]
struct Pipeline {
    schedule: String,
    source: Ref<String>,
    sink: Option<Ref<String>>,
    #[karma(output, derives_from = "source, sink")]
    table: Option<String>,
}

/// A service.
#[derive(Component, Debug, Clone)]
struct Service {
    image: String,
    replicas: u32,
    database: Option<Ref<String>>,
    cache: Option<Ref<String>>,
    queue: Option<Ref<String>>,
    feed: Option<Ref<String>>,
    #[karma(output, derives_from = "image, replicas")]
    url: Option<String>,
}

/// A public API gateway in front of services.
#[derive(Component, Debug, Clone)]
struct Gateway {
    hostname: String,
    upstreams: Vec<Ref<String>>,
    public: bool,
    rate_limit: u32,
}

const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];
/// 2026-11-18T16:53:20Z: when the simulated history starts.
const START: i64 = 1_795_000_000;

type Change = Box<dyn FnOnce(&mut Graph) -> Result<(), Error>>;

fn key(text: &str) -> Result<Key, Error> {
    text.parse()
}

/// A reference to `output` of `<kind>/<env>-<name>`.
fn at(kind: &str, env: &str, name: &str, output: &str) -> Result<Ref<String>, Error> {
    Ok(Ref::new(key(&format!("{kind}/{env}-{name}"))?, output))
}

/// One environment: 20 components named `<env>-<name>`.
fn build_environment(graph: &mut Graph, env: &str, salt: &SecretSalt) -> Result<(), Error> {
    let n = |name: &str| format!("{env}-{name}");
    let scale = match env {
        "prod" => 3,
        "staging" => 2,
        _ => 1,
    };
    graph.insert_typed(&n("vpc"), &Network { cidr: "10.0.0.0/16".into(), id: Some(format!("vpc-{env}")) })?;
    for db in ["orders", "users", "analytics"] {
        graph.insert_typed(
            &n(db),
            &Database {
                engine: "postgres".into(),
                version: "15.4".into(),
                port: 5432,
                replicas: scale,
                password: Secret::with_salt(salt, format!("{env}-{db}-initial-password")),
                network: at("Network", env, "vpc", "id")?,
                endpoint: Some(format!("{db}.{env}.internal:5432")),
            },
        )?;
    }
    for (cache, size) in [("sessions", 256), ("catalog", 512)] {
        graph.insert_typed(
            &n(cache),
            &Cache {
                size_mib: size * scale,
                network: at("Network", env, "vpc", "id")?,
                endpoint: Some(format!("{cache}.{env}.internal:6379")),
            },
        )?;
    }
    for q in ["jobs", "events", "legacy"] {
        graph.insert_typed(&n(q), &Queue { partitions: 4 * scale, url: Some(format!("amqp://{q}.{env}")) })?;
    }
    for (source, format) in [("clickstream", "json"), ("partner-feed", "csv")] {
        graph.insert_typed(
            &n(source),
            &DataSource {
                bucket: format!("s3://{env}-{source}"),
                format: format.into(),
                uri: Some(format!("s3://{env}-{source}/")),
            },
        )?;
    }
    graph.insert_typed(
        &n("etl"),
        &Pipeline {
            schedule: "hourly".into(),
            source: at("DataSource", env, "clickstream", "uri")?,
            sink: Some(at("Database", env, "analytics", "endpoint")?),
            table: Some(format!("analytics.{env}.sessions")),
        },
    )?;
    graph.insert_typed(
        &n("reporting"),
        &Pipeline {
            schedule: "daily".into(),
            source: at("DataSource", env, "partner-feed", "uri")?,
            sink: None,
            table: Some(format!("analytics.{env}.partners")),
        },
    )?;
    build_services(graph, env, scale)
}

/// One environment's services and its gateway, and the environment label on all.
fn build_services(graph: &mut Graph, env: &str, scale: u32) -> Result<(), Error> {
    let n = |name: &str| format!("{env}-{name}");
    let services = [
        ("orders-api", Some("orders"), Some("sessions"), Some("jobs"), None),
        ("users-api", Some("users"), Some("sessions"), None, None),
        ("billing", Some("orders"), None, Some("events"), None),
        ("worker", None, None, Some("jobs"), None),
        ("notifications", Some("users"), None, Some("events"), None),
        ("recommendations", Some("analytics"), Some("catalog"), None, Some("etl")),
    ];
    for (name, db, cache, queue, feed) in services {
        graph.insert_typed(
            &n(name),
            &Service {
                image: format!("registry/{name}:1.0.0"),
                replicas: scale,
                database: db.map(|d| at("Database", env, d, "endpoint")).transpose()?,
                cache: cache.map(|c| at("Cache", env, c, "endpoint")).transpose()?,
                queue: queue.map(|q| at("Queue", env, q, "url")).transpose()?,
                feed: feed.map(|p| at("Pipeline", env, p, "table")).transpose()?,
                url: Some(format!("http://{name}.{env}.svc")),
            },
        )?;
        let team = match name {
            "users-api" | "notifications" => "identity",
            "recommendations" => "data",
            _ => "commerce",
        };
        graph.set_label(format!("Service/{env}-{name}"), "team", team)?;
    }
    graph.insert_typed(
        &n("gateway"),
        &Gateway {
            hostname: format!("api.{env}.example.com"),
            upstreams: ["orders-api", "users-api", "recommendations"]
                .iter()
                .map(|s| at("Service", env, s, "url"))
                .collect::<Result<_, _>>()?,
            public: env == "prod",
            rate_limit: 1000,
        },
    )?;
    // A plain dependency with attributes, besides the reference edges.
    graph.connect(
        format!("Service/{env}-worker"),
        format!("Service/{env}-billing"),
        EdgeKind::custom("calls"),
        [("latency_ms".into(), Value::Int(12))],
    )?;
    for c in graph.snapshot().components().filter(|c| c.name().starts_with(&format!("{env}-"))) {
        graph.set_label(c.key().clone(), "env", env)?;
    }
    Ok(())
}

/// `set` on `<kind>/<env>-<name>` in each of `envs`, one deployment each.
fn rollout(
    out: &mut Vec<(String, Change)>,
    what: &str,
    kind: &'static str,
    name: &'static str,
    param: &'static str,
    value: &Value,
) {
    for env in ENVIRONMENTS {
        let v = value.clone();
        out.push((
            format!("{env}: {what}"),
            Box::new(move |g: &mut Graph| g.set_param(format!("{kind}/{env}-{name}"), param, v)),
        ));
    }
}

/// The 32 deployments, in order: rollouts from dev to prod, scale-ups, a new
/// service, a retired queue, a rotated secret, a database fail-over, a typo
/// and a replica that died.
fn deployments(salt: &SecretSalt) -> Vec<(String, Change)> {
    let mut d: Vec<(String, Change)> = Vec::new();
    rollout(&mut d, "orders-api 1.1.0", "Service", "orders-api", "image", &"registry/orders-api:1.1.0".into());
    d.push(("prod: scale orders-api to 6".into(), Box::new(|g| g.set_param("Service/prod-orders-api", "replicas", 6))));
    for env in ENVIRONMENTS {
        d.push((
            format!("{env}: postgres 15.4 -> 16.2"),
            Box::new(move |g| {
                for db in ["orders", "users", "analytics"] {
                    g.set_param(format!("Database/{env}-{db}"), "version", "16.2")?;
                }
                Ok(())
            }),
        ));
    }
    d.push(("prod: new search service behind the gateway".into(), Box::new(add_search)));
    d.push((
        "all: retire the legacy queue".into(),
        Box::new(|g| {
            for env in ENVIRONMENTS {
                g.remove(format!("Queue/{env}-legacy"), Removal::Restrict)?;
            }
            Ok(())
        }),
    ));
    let rotated = Secret::with_salt(salt, "rotated-2026-11");
    d.push((
        "prod: rotate the orders database password".into(),
        Box::new(move |g| g.set_param("Database/prod-orders", "password", rotated)),
    ));
    rollout(&mut d, "users-api 2.0.0", "Service", "users-api", "image", &"registry/users-api:2.0.0".into());
    d.push((
        "prod: sessions cache to 1536 MiB".into(),
        Box::new(|g| g.set_param("Cache/prod-sessions", "size_mib", 1536)),
    ));
    d.push((
        "staging: billing replicas 30 (meant 3)".into(),
        Box::new(|g| g.set_param("Service/staging-billing", "replicas", 30)),
    ));
    d.push((
        "prod: jobs queue to 24 partitions".into(),
        Box::new(|g| g.set_param("Queue/prod-jobs", "partitions", 24)),
    ));
    rollout(&mut d, "etl every 15 minutes", "Pipeline", "etl", "schedule", &"*/15 * * * *".into());
    d.push((
        "prod: orders database fails over to its replica (new endpoint)".into(),
        Box::new(|g| g.set_output("Database/prod-orders", "endpoint", "orders-replica.prod.internal:5432")),
    ));
    rollout(&mut d, "notifications 1.3.0", "Service", "notifications", "image", &"registry/notifications:1.3.0".into());
    d.push((
        "prod: orders-api 1.2.0".into(),
        Box::new(|g| g.set_param("Service/prod-orders-api", "image", "registry/orders-api:1.2.0")),
    ));
    d.push((
        "prod: catalog cache to 2048 MiB".into(),
        Box::new(|g| g.set_param("Cache/prod-catalog", "size_mib", 2048)),
    ));
    rollout(
        &mut d,
        "recommendations model v7",
        "Service",
        "recommendations",
        "image",
        &"registry/recommendations:7.0.0".into(),
    );
    d.push(("prod: worker to 5 replicas".into(), Box::new(|g| g.set_param("Service/prod-worker", "replicas", 5))));
    d.push((
        "prod: partner feed switches to parquet".into(),
        Box::new(|g| g.set_param("DataSource/prod-partner-feed", "format", "parquet")),
    ));
    d.push((
        "prod: gateway rate limit to 2000/s".into(),
        Box::new(|g| g.set_param("Gateway/prod-gateway", "rate_limit", 2000)),
    ));
    d.push((
        "prod: users database 16.2 -> 16.3".into(),
        Box::new(|g| g.set_param("Database/prod-users", "version", "16.3")),
    ));
    d.push((
        "runtime: prod orders-api observed at 4 replicas".into(),
        Box::new(|g| g.observe("Service/prod-orders-api", "replicas", 4)),
    ));
    d
}

/// A new service in prod, added to the gateway's upstreams.
fn add_search(g: &mut Graph) -> Result<(), Error> {
    g.insert_typed(
        "prod-search",
        &Service {
            image: "registry/search:0.9.0".into(),
            replicas: 2,
            database: Some(at("Database", "prod", "orders", "endpoint")?),
            cache: None,
            queue: Some(at("Queue", "prod", "events", "url")?),
            feed: None,
            url: Some("http://search.prod.svc".into()),
        },
    )?;
    g.set_label("Service/prod-search", "env", "prod")?;
    g.set_label("Service/prod-search", "team", "commerce")?;
    let mut gateway: Gateway = g.get_typed("Gateway/prod-gateway")?;
    gateway.upstreams.push(at("Service", "prod", "search", "url")?);
    g.upsert_typed("prod-gateway", &gateway).map(drop)
}

/// Applies one deployment as a transaction; what it changed is redeployed
/// (its references take the producers' current values) and observed running
/// as declared.
fn deploy(graph: &mut Graph, change: Change) -> Result<(), Error> {
    let before = graph.snapshot();
    graph.transaction(change)?;
    let delta = before.diff(&graph.snapshot());
    let touched: Vec<Key> = delta
        .components
        .iter()
        .filter_map(|c| match c {
            ComponentChange::Added(c) => Some(c.key().clone()),
            ComponentChange::Changed(d) if d.changed_params().next().is_some() => Some(d.key.clone()),
            _ => None,
        })
        .collect();
    for k in touched {
        graph.resolve_references(k.clone())?;
        observe_as_declared(graph, &k)?;
    }
    Ok(())
}

/// Monitoring: records a component's `replicas` running as declared, when
/// what was last seen differs.
fn observe_as_declared(graph: &mut Graph, key: &Key) -> Result<(), Error> {
    let Some(c) = graph.get(key) else { return Ok(()) };
    match c.param_value("replicas") {
        Some(declared) if c.runtime("replicas").map(|o| &o.value) != Some(declared) => {
            let declared = declared.clone();
            graph.observe(key.clone(), "replicas", declared)
        }
        _ => Ok(()),
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_message(what.to_string());
    bar.set_style(ProgressStyle::with_template("  {msg:<28} [{bar:30}] {pos}/{len} {elapsed}").expect("template"));
    bar
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let clock = ManualClock::new(Timestamp::from_secs(START));
    let mut graph = Graph::with_clock(clock.clone());
    let salt = SecretSalt::derive(b"tour salt: keep yours in a secret manager");

    println!("Karma tour\n==========\n");
    for env in ENVIRONMENTS {
        build_environment(&mut graph, env, &salt)?;
    }
    let typed = graph.len();
    // Every consumer is deployed against its producers' current outputs,
    // and observed running as declared.
    for c in graph.snapshot().components() {
        graph.resolve_references(c.key().clone())?;
        observe_as_declared(&mut graph, c.key())?;
    }
    // A real Terraform state joins the platform: cycloid's inframap Azure test state.
    let tf_text = include_str!("../karma-import/tests/data/terraform/inframap-azure.tfstate");
    let options = karma::import::Options {
        file: Some("inframap-azure.tfstate".into()),
        time: clock.now(),
        salt: salt.clone(),
        ..Default::default()
    };
    let imported = terraform::import_state(tf_text, &options)?;
    graph.apply(&Snapshot::default().diff(&imported.snapshot))?;
    let initial = graph.snapshot();
    println!(
        "Built {typed} typed components over {} environments, plus {} imported from a Terraform state ({} warnings):\n  \
         {} components, {} edges, root hash {}",
        ENVIRONMENTS.len(),
        imported.report.components,
        imported.report.warnings.len(),
        initial.len(),
        initial.edge_count(),
        &initial.root_hash().to_hex()[..16]
    );

    // The history lives in a redb file.
    let path = std::env::temp_dir().join("karma-tour.redb");
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let repo = Repository::open(RedbStore::open(&path)?)?;
    let platform = RefName::environment("platform")?;
    let mut commits =
        vec![repo.commit(&platform, &initial, CommitInfo::new("tour", "initial platform").at(clock.now()))?];

    println!("\nDeployments, one every simulated six hours:");
    let plan = deployments(&salt);
    let progress = bar(plan.len(), "deploying and committing");
    let mut log = Vec::new();
    for (i, (what, change)) in plan.into_iter().enumerate() {
        clock.advance(Duration::from_secs(6 * 3600));
        deploy(&mut graph, change)?;
        let commit =
            repo.commit(&platform, &graph.snapshot(), CommitInfo::new("tour", what.as_str()).at(clock.now()))?;
        repo.set_ref(&RefName::tag(&format!("deploy-{}", i + 1))?, None, commit.id)?;
        log.push(format!("  #{:<2} {}  {what}", i + 1, clock.now()));
        commits.push(commit);
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!("{}", log.join("\n"));

    // A deployment that fails leaves nothing behind.
    let head = graph.root_hash();
    let failed = graph.transaction(|g| {
        g.set_param("Service/prod-billing", "replicas", 9)?;
        g.remove("Database/prod-orders", Removal::Restrict).map(drop)
    });
    println!("  (a deployment removing Database/prod-orders was refused, nothing applied: {})", failed.unwrap_err());
    assert_eq!(graph.root_hash(), head);
    println!(
        "\nHistory: {} commits in {} ({} KiB)",
        commits.len(),
        path.display(),
        std::fs::metadata(&path)?.len() / 1024
    );

    let last = graph.snapshot();
    questions(&repo, &commits, &last)?;
    machine_learning(&last)?;
    let report = repo.verify()?;
    println!(
        "\nverify: {} objects and {} commits checked against their blake3 ids, {} problems",
        report.objects,
        report.commits,
        report.problems.len()
    );
    println!("\nDone in {:.2?}.", started.elapsed());
    Ok(())
}

/// Questions of the graph and its history.
fn questions(
    repo: &Repository<RedbStore>,
    commits: &[Commit],
    last: &Snapshot,
) -> Result<(), Box<dyn std::error::Error>> {
    let view = View::new(last);

    section("Which components depend on the bucket of DataSource/prod-clickstream, and through what?");
    print!("{}", indent(&parse("impact of DataSource/prod-clickstream.bucket")?.run(&view)?.to_string()));

    section("What changed between deployment 8 and deployment 11?");
    let tag = |n: usize| RefName::tag(&format!("deploy-{n}")).map(Revision::Head);
    let delta = repo.diff(&tag(8)?, &tag(11)?)?;
    println!(
        "  {} added, {} removed, {} changed, {} edge changes (the password shows as a digest, never in plaintext):",
        delta.added().count(),
        delta.removed().count(),
        delta.changed().count(),
        delta.edges.len()
    );
    print!("{}", indent(&delta.to_string()));

    section("The shortest path from a data source to a public API");
    print!(
        "{}",
        indent(
            &parse("path from kind = DataSource and name ~ prod-* to param public == true")?.run(&view)?.to_string()
        )
    );

    section("The latest change: its blast radius and deploy plan");
    let before = repo.checkout(commits[commits.len() - 3].id)?;
    let after = repo.checkout(commits[commits.len() - 2].id)?;
    let change = before.diff(&after);
    let after_view = View::new(&after);
    let radius = change_impact(&before, &after_view, &change)?;
    println!("  {} (deployment {})", commits[commits.len() - 2].message, commits.len() - 2);
    for a in &radius.affected {
        let path: Vec<&str> = a.path.iter().map(Key::as_str).collect();
        println!("    distance {}  {:<32} via {}", a.distance, a.key.as_str(), path.join(" <- "));
    }
    for (i, wave) in plan_change(&after_view, &radius).waves.iter().enumerate() {
        println!("    wave {}: {}", i + 1, wave.iter().map(Key::as_str).collect::<Vec<_>>().join(", "));
    }
    let sub = Subgraph::of_blast_radius(&after_view, &radius, &GroupBy::Kind);
    let dot = std::env::temp_dir().join("karma-tour-blast-radius.dot");
    std::fs::write(&dot, sub.to_dot())?;
    std::fs::write(dot.with_extension("mmd"), sub.to_mermaid())?;
    println!("  drawn to {} (Graphviz) and {} (Mermaid)", dot.display(), dot.with_extension("mmd").display());

    section("The history of Service/prod-orders-api's image and replicas");
    let api = key("Service/prod-orders-api")?;
    for param in ["image", "replicas"] {
        for change in repo.param_history(&api, param)? {
            let value = change.value.map_or_else(|| "(unset)".to_string(), |v| v.to_string());
            println!("  {}  {param:<8} {value}", change.timestamp);
        }
    }
    let then = Timestamp::from_secs(START + 5 * 24 * 3600 + 1800);
    let at = repo.as_of(&RefName::environment("platform")?, then)?.ok_or("no commit then")?;
    println!("  deployed at {then}: \"{}\"", at.message);
    let lineage = repo.lineage(&key("Queue/prod-legacy")?)?;
    if let (Some(created), Some(removed)) = (lineage.created(), lineage.removed()) {
        println!("  Queue/prod-legacy: created {}, removed {}", created.timestamp, removed.timestamp);
    }
    Ok(())
}

/// Embeddings, anomalies, drift and recommendations on the last state.
fn machine_learning(last: &Snapshot) -> Result<(), Box<dyn std::error::Error>> {
    let view = View::new(last);
    let extractor = FeatureExtractor::fit(last, FeatureConfig::default());
    let x = extractor.transform(&view, None)?;
    let adj = Adjacency::undirected_from_view(&view);
    let mut model = Sage::new(&[x.ncols(), 64, 32], SageConfig { normalize: true, ..SageConfig::default() }, 7)?;
    let options = TrainOptions { epochs: 60, walks_per_node: 4, walk_length: 3, ..TrainOptions::default() };
    let progress = bar(options.epochs, "training GraphSAGE");
    let losses = train_unsupervised(&mut model, x.view(), &adj, &options, |p| {
        if p.batch + 1 == p.batches {
            progress.inc(1);
        }
    })?;
    progress.finish_and_clear();
    let embeddings = Embeddings::new(&view, model.forward(x.view(), &adj)?)?;

    section(&format!(
        "Similar components, from GraphSAGE embeddings ({} features, loss {:.3} -> {:.3})",
        x.ncols(),
        losses[0],
        losses[losses.len() - 1]
    ));
    for probe in ["Service/prod-orders-api", "Pipeline/staging-etl"] {
        let similar = embeddings.similar(&key(probe)?, 4)?;
        let list: Vec<String> = similar.iter().map(|(k, s)| format!("{k} ({s:.2})")).collect();
        println!("  {probe}: {}", list.join(", "));
    }

    section("Anomalies: values unlike their peers'");
    let anomalies = scan_anomalies(last, &AnomalyConfig { min_peers: 5, ..AnomalyConfig::default() });
    for a in anomalies.iter().take(6) {
        println!("  {a}");
    }

    section("Drift");
    let drift = scan_drift(last, &Tolerance::default());
    for d in &drift.declared {
        println!("  {}.{} declared {} but observed {} at {}", d.key, d.param, d.declared, d.observed, d.observed_at);
    }
    for s in &drift.stale {
        println!(
            "  {}.{} still uses {} as of v{} (now v{}: {})",
            s.consumer,
            s.param,
            s.reference.component,
            s.taken_at(),
            s.producer_version,
            s.current.as_ref().map_or_else(|| "gone".to_string(), ToString::to_string)
        );
    }

    section("A recommendation for a new payments service in prod, using orders and events");
    let partial = Component::new("Service", "prod-payments")?
        .with_param("image", "registry/payments:0.1.0")
        .with_label("env", "prod")
        .with_label("team", "commerce");
    let neighbours: Vec<u32> =
        ["Database/prod-orders", "Queue/prod-events"].iter().filter_map(|k| view.id(&k.parse().ok()?)).collect();
    let vector = model.embed_new(x.view(), &adj, &extractor.row(&partial), &neighbours)?;
    for s in recommend(&embeddings, last, &partial, vector.view(), 8, &[]) {
        let from: Vec<&str> = s.sources.iter().take(3).map(|(k, _)| k.as_str()).collect();
        println!(
            "  {:<10} {:<28} confidence {:.2}  from {}",
            s.param,
            s.value.to_string(),
            s.confidence,
            from.join(", ")
        );
    }
    let proposals = Connections::learn(last).propose(
        &embeddings,
        last,
        &partial,
        vector.view(),
        &ProposeOptions { per_param: 1, neighbours: 10 },
    );
    for p in proposals {
        println!("  connect {:<9} -> {:<40} score {:.2}", p.param, p.target.to_string(), p.score);
    }

    section("From an intent: \"a public service backed by postgres and a queue in staging\"");
    let intent = Intent::parse("a public service backed by postgres and a queue in staging", last);
    let patterns = mine_patterns(last, &PatternConfig::default());
    let blueprint = Blueprint::draft(&intent, &patterns, "staging-payments", |_| Vec::new())?;
    if let Some(p) = &blueprint.pattern {
        println!("  following the pattern {} + {} parts (seen {} times)", p.anchor, p.parts.len(), p.support);
    }
    for c in &blueprint.components {
        let params: Vec<String> = c.params().iter().map(|(n, p)| format!("{n}={}", p.value)).collect();
        println!("  {}  {}", c.key(), params.join(" "));
    }
    Ok(())
}

fn section(title: &str) {
    println!("\n{title}\n{}", "-".repeat(title.chars().count().min(78)));
}

fn indent(text: &str) -> String {
    text.lines().flat_map(|l| ["  ", l, "\n"]).collect()
}

#[cfg(test)]
mod tests {
    /// The whole tour runs, end to end, without an error.
    #[test]
    fn tour_runs() {
        super::main().expect("the tour runs");
    }
}
