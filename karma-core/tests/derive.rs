//! `#[derive(Component)]`: schema, conversion both ways, references, errors.

use std::collections::{BTreeMap, HashMap};

use karma_core::{Component, Error, Graph, ParamSpec, Ref, Schema, Secret, TypedComponent, Value, ValueType};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Backup {
    schedule: String,
    retain_days: u32,
}

#[derive(Component, Debug, Clone, PartialEq)]
#[karma(kind = "Database")]
struct Db {
    engine: String,
    port: u16,
    replicas: i64,
    ratio: f64,
    public: bool,
    tags: Vec<String>,
    limits: BTreeMap<String, i32>,
    extra: HashMap<String, bool>,
    note: Option<String>,
    password: Secret,
    backup: Backup,
    #[karma(rename = "max_connections")]
    max_conn: u32,
    #[karma(default)]
    pool: u8,
    #[karma(skip)]
    cache: Vec<u8>,
    #[karma(output, derives_from = "port, engine")]
    endpoint: Option<String>,
}

#[derive(Component, Debug, Clone, PartialEq)]
struct Service {
    replicas: u32,
    database: Ref<String>,
    fallbacks: Vec<Ref<String>>,
    #[karma(output)]
    url: String,
}

fn db() -> Db {
    Db {
        engine: "postgres".into(),
        port: 5432,
        replicas: 2,
        ratio: 0.5,
        public: false,
        tags: vec!["a".into(), "b".into()],
        limits: BTreeMap::from([("cpu".into(), 2)]),
        extra: HashMap::from([("x".into(), true)]),
        note: None,
        password: Secret::new("s3cr3t-pa55"),
        backup: Backup { schedule: "daily".into(), retain_days: 7 },
        max_conn: 100,
        pool: 4,
        cache: Vec::new(),
        endpoint: Some("db.internal:5432".into()),
    }
}

#[test]
fn schema_describes_fields() {
    let s = Db::schema();
    assert_eq!(s.kind, "Database");
    assert_eq!(Db::KIND, "Database");
    let ty = |n: &str| s.param_spec(n).map(|p| p.ty.clone());
    assert_eq!(ty("engine"), Some(ValueType::String));
    assert_eq!(ty("port"), Some(ValueType::Int));
    assert_eq!(ty("ratio"), Some(ValueType::Float));
    assert_eq!(ty("tags"), Some(ValueType::List(Box::new(ValueType::String))));
    assert_eq!(ty("limits"), Some(ValueType::Map(Box::new(ValueType::Int))));
    assert_eq!(ty("note"), Some(ValueType::Optional(Box::new(ValueType::String))));
    assert_eq!(ty("password"), Some(ValueType::Secret));
    assert_eq!(ty("backup"), Some(ValueType::Any), "nested serde types are stored as values");
    assert!(s.param_spec("max_conn").is_none());
    assert!(s.param_spec("max_connections").is_some());
    assert!(s.param_spec("cache").is_none(), "skipped");
    assert!(s.param_spec("endpoint").is_none(), "outputs are not params");
    let pool = s.param_spec("pool").unwrap();
    assert!(!pool.required);
    assert_eq!(pool.default, Some(Value::Int(0)));
    assert!(s.param_spec("engine").unwrap().required);
    assert!(!s.param_spec("note").unwrap().required);
    let out = s.output_spec("endpoint").unwrap();
    assert_eq!(out.derives_from.as_deref(), Some(&["port".into(), "engine".into()][..]));
    assert_eq!(Service::schema().param_spec("database").unwrap().ty, ValueType::Ref);
    assert_eq!(Service::schema().kind, "Service");
}

#[test]
fn round_trips_through_the_graph() {
    let mut g = Graph::new();
    let value = db();
    let c = g.insert_typed("orders", &value).unwrap();
    assert_eq!(c.key().as_str(), "Database/orders");
    assert_eq!(c.param_value("backup").unwrap().as_map().unwrap().len(), 2);
    assert!(c.param_value("note").is_none(), "None is not stored");
    let back: Db = g.get_typed("Database/orders").unwrap();
    assert_eq!(back, value);
    assert!(g.schema("Database").is_some(), "insert_typed registers the schema");

    let svc = Service {
        replicas: 3,
        database: Ref::new("Database/orders".parse().unwrap(), "endpoint"),
        fallbacks: vec![],
        url: "https://api".into(),
    };
    assert_eq!(svc.references().unwrap().len(), 1);
    g.insert_typed("api", &svc).unwrap();
    assert_eq!(g.get_typed::<Service>("Service/api").unwrap(), svc);
    assert_eq!(g.dependents(&"Database/orders".parse().unwrap()).len(), 1);
}

#[test]
fn read_back_names_the_field() {
    let c = db().to_component("orders").unwrap();
    let mut g = Graph::new();
    g.insert(c).unwrap(); // no schema registered: anything goes
    g.set_param("Database/orders", "port", "not a number").unwrap();
    let err = g.get_typed::<Db>("Database/orders").unwrap_err();
    match err {
        Error::Field { kind, field, message } => {
            assert_eq!((kind.as_str(), field.as_str()), ("Database", "port"));
            assert!(message.contains("expected int"), "{message}");
        }
        other => panic!("{other}"),
    }
    g.set_param("Database/orders", "port", 70_000).unwrap();
    let err = g.get_typed::<Db>("Database/orders").unwrap_err().to_string();
    assert!(err.contains("Database.port") && err.contains("does not fit"), "{err}");
    g.unset_param("Database/orders", "engine").unwrap();
    g.set_param("Database/orders", "port", 1).unwrap();
    let err = g.get_typed::<Db>("Database/orders").unwrap_err().to_string();
    assert!(err.contains("engine") && err.contains("missing"), "{err}");
    assert!(matches!(g.get_typed::<Service>("Database/orders"), Err(Error::KindMismatch { .. })));
}

#[test]
fn schema_is_enforced_for_dynamic_components() {
    let mut g = Graph::new();
    g.register_schema(Db::schema()).unwrap();
    let err = g.insert(Component::new("Database", "x").unwrap().with_param("engine", 5)).unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { ref field, .. } if field == "engine"), "{err}");
    let err = g.insert(Component::new("Database", "x").unwrap().with_param("bogus", 1)).unwrap_err();
    assert!(matches!(err, Error::UndeclaredParam { .. }), "{err}");
    let err = g.insert(Component::new("Database", "x").unwrap()).unwrap_err();
    assert!(matches!(err, Error::MissingParam { .. }), "{err}");
    assert!(g.is_empty());

    let ok = db().to_component("ok").unwrap().with_param("pool", Value::Int(1));
    g.insert(ok).unwrap();
    let err = g.set_param("Database/ok", "port", "x").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }));
    let err = g.unset_param("Database/ok", "engine").unwrap_err();
    assert!(matches!(err, Error::MissingParam { .. }));
}

#[test]
fn defaults_fill_missing_params() {
    let mut g = Graph::new();
    g.register_schema(Schema::new("Cache").param(ParamSpec::new("size", ValueType::Int).default(Value::Int(64))))
        .unwrap();
    let c = g.insert(Component::new("Cache", "c").unwrap()).unwrap();
    assert_eq!(c.param_value("size"), Some(&Value::Int(64)));
}

fn arb_db() -> impl Strategy<Value = Db> {
    (
        ("[a-z]{0,10}", any::<u16>(), any::<i64>(), any::<f64>(), any::<bool>()),
        (
            prop::collection::vec("[a-z]{0,4}", 0..3),
            prop::collection::btree_map("[a-z]{1,4}", any::<i32>(), 0..3),
            prop::collection::hash_map("[a-z]{1,4}", any::<bool>(), 0..3),
            prop::option::of("[a-z]{0,5}"),
            "[ -~]{0,12}",
        ),
        ("[a-z]{0,6}", any::<u32>(), any::<u32>(), any::<u8>(), prop::option::of("[a-z:0-9]{0,10}")),
    )
        .prop_map(
            |((engine, port, replicas, ratio, public), (tags, limits, extra, note, pw), (s, r, m, pool, e))| Db {
                engine,
                port,
                replicas,
                ratio,
                public,
                tags,
                limits,
                extra,
                note,
                password: Secret::new(pw),
                backup: Backup { schedule: s, retain_days: r },
                max_conn: m,
                pool,
                cache: Vec::new(),
                endpoint: e,
            },
        )
}

proptest! {
    #[test]
    fn derive_round_trip(value in arb_db()) {
        let c = value.to_component("x").unwrap();
        let back = Db::from_component(&c).unwrap();
        // NaN never equals itself under f64's PartialEq: compare bits.
        prop_assert_eq!(back.ratio.to_bits(), value.ratio.to_bits());
        prop_assert_eq!(Db { ratio: 0.0, ..back }, Db { ratio: 0.0, ..value.clone() });
        // And through the dynamic form's serde.
        let json = serde_json::to_string(&c).unwrap();
        let c2: Component = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&c2, &c);
        prop_assert_eq!(Db::schema().params.iter().filter(|p| p.required).count(), 11);
    }
}
