//! Quickstart: typed components, a graph, snapshots, a diff and a query.
//!
//! `cargo run --example quickstart`

use karma::prelude::*;

/// A database; `endpoint` is an output other components can reference.
#[derive(Component)]
struct Database {
    engine: String,
    port: u16,
    #[karma(output, derives_from = "port")]
    endpoint: Option<String>,
}

/// A service reading the database's endpoint.
#[derive(Component)]
struct Service {
    replicas: u32,
    db: Ref<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = Graph::new();
    let db = Database { engine: "postgres".into(), port: 5432, endpoint: Some("orders:5432".into()) };
    graph.insert_typed("orders", &db)?;
    let endpoint = Ref::new("Database/orders".parse()?, "endpoint");
    graph.insert_typed("api", &Service { replicas: 2, db: endpoint })?; // makes the edge api -> orders

    let before = graph.snapshot(); // O(1): snapshots share structure
    graph.set_param("Database/orders", "port", 6432)?;
    graph.set_param("Service/api", "replicas", 4)?;
    let after = graph.snapshot();

    println!("What changed:\n{}", before.diff(&after)); // O(changes)

    let view = View::new(&after);
    let impact = parse("impact of Database/orders.port")?.run(&view)?;
    println!("Who depends on the port:\n{impact}");
    Ok(())
}
