//! Compose import: Apache Airflow's official compose file (anchors,
//! aliases, merge keys), checked against facts read off it by hand, and a
//! file written here for the other forms Compose allows.

use karma_core::{Key, Snapshot, Value};
use karma_import::{ImportError, Options, WarningKind, compose};

fn data(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).expect("test data")
}

fn key(text: &str) -> Key {
    Key::parse(text).unwrap()
}

fn edges_of(snap: &Snapshot, from: &str, label: &str) -> Vec<String> {
    let mut out: Vec<String> =
        snap.edges_from(&key(from)).filter(|e| e.kind().label() == label).map(|e| e.to().to_string()).collect();
    out.sort();
    out
}

#[test]
fn airflow_with_anchors_and_merge_keys() {
    let import = compose::import(&data("compose/airflow-docker-compose.yaml"), &Options::file("docker-compose.yaml"))
        .expect("imports");
    let (snap, report) = (&import.snapshot, &import.report);
    // 9 services, the named volume, and the implicit default network.
    assert_eq!(report.components, 11);
    assert!(report.warnings.is_empty(), "{report}");
    // Edges: 9 services on the default network; depends_on 3 each for the five
    // services that add airflow-init to the common two, 2 each for airflow-init
    // and airflow-cli (19); postgres and redis named in the URLs of the 7 services
    // with the common environment (14); postgres mounts its volume (1).
    assert_eq!(report.edges, 43);
    // `<<: *airflow-common` brings image, environment, volumes, user, depends_on.
    let worker = snap.get(&key("service/airflow-worker")).unwrap();
    assert!(worker.param_value("image").and_then(Value::as_str).unwrap().starts_with("${AIRFLOW_IMAGE_NAME"));
    assert_eq!(worker.param_value("command").and_then(Value::as_str), Some("celery worker"));
    // Its own environment merges the common one and adds a variable.
    let env = worker.param_value("environment").and_then(Value::as_map).unwrap();
    assert_eq!(env["DUMB_INIT_SETSID"].as_str(), Some("0"));
    assert_eq!(env["AIRFLOW__CORE__EXECUTOR"].as_str(), Some("CeleryExecutor"));
    // Connection strings carry a password: held as digests.
    assert!(matches!(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], Value::Secret(_)));
    assert_eq!(env["AIRFLOW__CORE__FERNET_KEY"].as_str(), Some(""), "an empty value is no secret");
    // depends_on: the merged common map plus its own airflow-init, with conditions.
    assert_eq!(
        edges_of(snap, "service/airflow-worker", "depends-on"),
        ["service/airflow-init", "service/postgres", "service/redis"]
    );
    let init =
        snap.edges_from(&key("service/airflow-worker")).find(|e| e.to().as_str() == "service/airflow-init").unwrap();
    assert_eq!(init.attribute("condition").and_then(Value::as_str), Some("service_completed_successfully"));
    assert_eq!(edges_of(snap, "service/airflow-init", "depends-on"), ["service/postgres", "service/redis"]);
    // The URLs name postgres (three variables) and redis.
    assert_eq!(edges_of(snap, "service/airflow-scheduler", "env"), ["service/postgres", "service/redis"]);
    let to_postgres = snap
        .edges_from(&key("service/airflow-scheduler"))
        .find(|e| e.kind().label() == "env" && e.to().as_str() == "service/postgres");
    let vars = format!("{:?}", to_postgres.unwrap().attribute("variable").unwrap());
    assert!(
        vars.contains("AIRFLOW__CELERY__RESULT_BACKEND") && vars.contains("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
        "{vars}"
    );
    assert_eq!(edges_of(snap, "service/postgres", "volume"), ["volume/postgres-db-volume"]);
    // 3 credentialed URLs × 7 services, POSTGRES_PASSWORD, _AIRFLOW_WWW_USER_PASSWORD.
    assert_eq!(report.secrets, 23);
    assert!(!snap.to_json().unwrap().contains("airflow:airflow@"), "no credential in plaintext");
}

const SHOP: &str = r#"
name: shop
services:
  web:
    image: nginx
    links: ["api:backend"]
    networks:
      front:
        aliases: [www]
    depends_on: [api]
  api:
    image: shop/api
    environment:
      - CACHE_HOST=cache
      - DB_PASSWORD=hunter2
      - PLAIN=hello
    networks: [front, back]
    volumes:
      - data:/var/lib/data
      - ./conf:/etc/conf:ro
      - type: volume
        source: logs
        target: /logs
    secrets:
      - api_key
      - source: tls
        target: cert.pem
    configs: [app_conf]
  cache:
    image: redis
    network_mode: "service:api"
    volumes_from: [api]
  worker:
    extends: {service: api}
networks:
  front: {}
  back: {driver: bridge}
volumes:
  data:
  logs: {external: true}
secrets:
  api_key: {file: ./api_key.txt}
  tls: {file: ./tls.pem}
configs:
  app_conf: {file: ./app.conf}
x-defaults: &defaults {restart: always}
unknown-field: 1
"#;

#[test]
fn the_other_forms_of_a_compose_file() {
    let import = compose::import(SHOP, &Options { project: Some("shop".into()), ..Options::default() }).unwrap();
    let snap = &import.snapshot;
    let k = |s: &str| format!("shop/{s}");
    // 4 services, 2 networks, 2 volumes, 2 secrets, 1 config, default network (worker has none).
    assert_eq!(import.report.components, 12);
    assert_eq!(edges_of(snap, &k("service/web"), "link"), [k("service/api")]);
    assert_eq!(edges_of(snap, &k("service/web"), "depends-on"), [k("service/api")]);
    assert_eq!(edges_of(snap, &k("service/api"), "network"), [k("network/back"), k("network/front")]);
    assert_eq!(edges_of(snap, &k("service/api"), "volume"), [k("volume/data"), k("volume/logs")], "not the bind mount");
    assert_eq!(edges_of(snap, &k("service/api"), "secret"), [k("secret/api_key"), k("secret/tls")]);
    assert_eq!(edges_of(snap, &k("service/api"), "config"), [k("config/app_conf")]);
    assert_eq!(edges_of(snap, &k("service/api"), "env"), [k("service/cache")]);
    assert_eq!(edges_of(snap, &k("service/cache"), "network"), [k("service/api")]);
    assert_eq!(edges_of(snap, &k("service/cache"), "volume"), [k("service/api")]);
    assert_eq!(edges_of(snap, &k("service/worker"), "network"), [k("network/default")]);
    let link = snap.edges_from(&key(&k("service/web"))).find(|e| e.kind().label() == "link").unwrap();
    assert_eq!(link.attribute("alias").and_then(Value::as_str), Some("backend"));
    // List-form environment becomes a map; the password a secret.
    let api = snap.get(&key(&k("service/api"))).unwrap();
    let env = api.param_value("environment").and_then(Value::as_map).unwrap();
    assert_eq!(env["PLAIN"].as_str(), Some("hello"));
    assert!(matches!(env["DB_PASSWORD"], Value::Secret(_)));
    assert!(!snap.to_json().unwrap().contains("hunter2"));
    let back = snap.get(&key(&k("network/back"))).unwrap();
    assert_eq!(back.param_value("driver").and_then(Value::as_str), Some("bridge"));
    // `extends` and the unknown top-level field are reported, not dropped silently.
    let what: Vec<String> = import
        .report
        .warnings
        .iter()
        .map(|w| match &w.kind {
            WarningKind::NotImported { what } => what.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(what.len(), 2, "{what:?}");
    assert!(what.iter().any(|w| w.contains("extends")) && what.iter().any(|w| w.contains("unknown-field")));
}

#[test]
fn malformed_compose_files_are_located() {
    let cycle = "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: {c: {condition: service_started}}}\n  c: {image: x, depends_on: [a]}\n";
    let err = compose::import(cycle, &Options::file("c.yaml")).unwrap_err();
    let ImportError::Cycle { members, location } = &err else { panic!("{err}") };
    assert_eq!(members.len(), 4, "{members:?}");
    assert_eq!(members.first(), members.last());
    assert_eq!(location.file.as_deref(), Some("c.yaml"));
    let err = compose::import("services:\n  a:\n    depends_on: 3\n", &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::UnexpectedType { .. }), "{err}");
    assert_eq!(err.location().path, "services.a.depends_on");
    assert_eq!(err.location().line, Some(3));
    let err = compose::import("version: '3'\n", &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Missing { field: "services", .. }), "{err}");
    let err = compose::import("services:\n  a: {image: x}\n  a: {image: y}\n", &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Syntax { .. }), "duplicate keys: {err}");
    let big = format!("services:\n  a:\n    image: \"{}\"\n", "x".repeat(2 << 20));
    let err = compose::import(&big, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::ValueTooLarge { .. }), "{err}");
    assert_eq!(err.location().path, "services.a.image");
}
