//! Malformed input gives located, typed errors; arbitrary input never
//! panics; and graphs written as Terraform state come back equal.

use std::collections::BTreeMap;

use karma_core::{Component, EdgeKind, Graph, Key, Name, Snapshot, Value};
use karma_import::{ImportError, Options, compose, kubernetes, terraform};
use proptest::prelude::*;

fn state(resources: &str) -> String {
    format!(r#"{{"version": 4, "serial": 1, "resources": [{resources}]}}"#)
}

fn resource(ty: &str, name: &str, attributes: &str, deps: &str) -> String {
    format!(
        r#"{{"mode": "managed", "type": "{ty}", "name": "{name}", "instances": [{{"attributes": {attributes}, "dependencies": [{deps}]}}]}}"#
    )
}

#[test]
fn truncated_json_says_where_it_stopped() {
    let text = state(&resource("aws_vpc", "main", r#"{"id": "vpc-1"}"#, ""));
    let cut = &text[..text.len() / 2];
    let err = terraform::import_state(cut, &Options::file("cut.tfstate")).unwrap_err();
    let ImportError::Syntax { location, .. } = &err else { panic!("{err}") };
    assert_eq!(location.file.as_deref(), Some("cut.tfstate"));
    assert_eq!(location.line, Some(1));
    assert!(location.column.unwrap() > 1);
    assert!(err.to_string().starts_with("cut.tfstate:1:"), "{err}");
    let err = terraform::import_plan("{\"planned_values\": ", &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Syntax { .. }), "{err}");
}

#[test]
fn wrong_types_are_named_with_their_pointer() {
    let err = terraform::import_state(r#"{"version": 4, "resources": {"a": 1}}"#, &Options::default()).unwrap_err();
    assert!(matches!(&err, ImportError::UnexpectedType { expected: "an array", found: "an object", .. }), "{err}");
    assert_eq!(err.location().path, "/resources");
    let text = state(r#"{"mode": "managed", "type": "aws_vpc", "name": "main", "instances": [{"attributes": [1]}]}"#);
    let err = terraform::import_state(&text, &Options::default()).unwrap_err();
    assert_eq!(err.location().path, "/resources/0/instances/0/attributes");
    let text = state(r#"{"mode": "managed", "type": 7, "name": "main", "instances": []}"#);
    let err = terraform::import_state(&text, &Options::default()).unwrap_err();
    assert_eq!(err.location().path, "/resources/0/type");
    let text = state(r#"{"mode": "managed", "name": "main", "instances": []}"#);
    let err = terraform::import_state(&text, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Missing { field: "type", .. }), "{err}");
    let err = terraform::import_state(r#"{"version": 3, "modules": []}"#, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("version 4"));
    let err = terraform::import_state(r#"{"planned_values": {}}"#, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("import_plan"), "{err}");
    let err = terraform::import_plan(r#"{"resource_changes": [{"address": "a.b"}]}"#, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Missing { field: "change", .. }), "{err}");
    assert_eq!(err.location().path, "/resource_changes/0");
}

#[test]
fn duplicate_addresses_name_both_places() {
    let one = resource("aws_vpc", "main", r#"{"id": "a"}"#, "");
    let err = terraform::import_state(&state(&format!("{one}, {one}")), &Options::default()).unwrap_err();
    let ImportError::Duplicate { key, first, second } = &err else { panic!("{err}") };
    assert_eq!(key, "aws_vpc.main");
    assert_eq!(first.path, "/resources/0/instances/0");
    assert_eq!(second.path, "/resources/1/instances/0");
}

#[test]
fn dependency_cycles_are_refused() {
    let text = state(&format!(
        "{}, {}, {}",
        resource("aws_a", "x", "{}", r#""aws_b.y""#),
        resource("aws_b", "y", "{}", r#""aws_c.z""#),
        resource("aws_c", "z", "{}", r#""aws_a.x""#)
    ));
    let err = terraform::import_state(&text, &Options::default()).unwrap_err();
    let ImportError::Cycle { members, .. } = &err else { panic!("{err}") };
    assert_eq!(members.len(), 4);
    assert!(err.to_string().contains("aws_a.x -> aws_b.y -> aws_c.z -> aws_a.x"), "{err}");
}

#[test]
fn a_ten_megabyte_attribute_is_refused_with_its_place_and_size() {
    let huge = "x".repeat(10 << 20);
    let text = state(&resource("aws_lambda_function", "f", &format!(r#"{{"code": "{huge}"}}"#), ""));
    let err = terraform::import_state(&text, &Options::default()).unwrap_err();
    let ImportError::ValueTooLarge { location, bytes, limit } = &err else { panic!("{err}") };
    assert_eq!(location.path, "/resources/0/instances/0/attributes/code");
    assert_eq!((*bytes, *limit), (10 << 20, 1 << 20));
    // A caller who expects large values raises the limit.
    let roomy = Options { max_value_bytes: 16 << 20, ..Options::default() };
    let import = terraform::import_state(&text, &roomy).unwrap();
    assert_eq!(import.report.components, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any text: an import or a located error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        for result in [
            terraform::import_state(&text, &Options::default()).map(drop),
            terraform::import_plan(&text, &Options::default()).map(drop),
            kubernetes::import(&text, &Options::default()).map(drop),
            compose::import(&text, &Options::default()).map(drop),
        ] {
            if let Err(e) = result {
                let _ = e.location();
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Structured but wrong JSON (random shapes where a state is expected).
    #[test]
    fn arbitrary_json_never_panics(json in json_value(3)) {
        let text = serde_json::json!({"version": 4, "resources": [json.clone()], "values": {"root_module": json.clone()}});
        let _ = terraform::import_state(&text.to_string(), &Options::default());
        let plan = serde_json::json!({"planned_values": {"root_module": json.clone()}, "resource_changes": [json.clone()], "configuration": {"root_module": json}});
        let _ = terraform::import_plan(&plan.to_string(), &Options::default());
    }

    /// A graph written as a state and imported again is the same graph.
    #[test]
    fn state_export_round_trips(graph in tf_graph()) {
        let before = graph.snapshot();
        let text = terraform::export_state(&before).to_string();
        let after = terraform::import_state(&text, &Options::default()).expect("imports").snapshot;
        prop_assert_eq!(content(&after), content(&before));
    }
}

fn json_value(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_.\\[\\]0-9\"]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(depth, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("address".to_string()),
                    Just("type".to_string()),
                    Just("name".to_string()),
                    Just("mode".to_string()),
                    Just("values".to_string()),
                    Just("instances".to_string()),
                    Just("resources".to_string()),
                    Just("child_modules".to_string()),
                    Just("attributes".to_string()),
                    Just("depends_on".to_string()),
                    Just("expressions".to_string()),
                    Just("references".to_string()),
                    Just("change".to_string()),
                    "[a-z]{1,4}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A param value a state can hold (no references, no secrets).
fn attribute() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Float),
        "[ -~]{0,12}".prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Map(m.into_iter().map(|(k, v)| (Name::from(k), v)).collect())),
        ]
    })
}

#[derive(Debug, Clone)]
struct Resource {
    module: Option<String>,
    data: bool,
    ty: String,
    name: String,
    /// `None`: a single instance; otherwise the index keys.
    indexes: Option<Vec<serde_json::Value>>,
    attributes: Vec<(String, Value)>,
    /// Earlier resources it depends on.
    deps: Vec<usize>,
}

fn tf_graph() -> impl Strategy<Value = Graph> {
    let resource = (
        prop::option::of("module\\.[a-z]{1,3}"),
        any::<bool>(),
        "(aws|google)_[a-z]{1,6}",
        "[a-z][a-z0-9_-]{0,6}",
        prop::option::of(prop_oneof![
            (1usize..4).prop_map(|n| (0..n).map(serde_json::Value::from).collect::<Vec<_>>()),
            prop::collection::btree_set("[a-z]{1,3}", 1..3)
                .prop_map(|s| s.into_iter().map(serde_json::Value::from).collect::<Vec<_>>()),
        ]),
        prop::collection::vec(("[a-z_]{1,8}", attribute()), 0..5),
        prop::collection::vec(0usize..64, 0..3),
    )
        .prop_map(|(module, data, ty, name, indexes, attributes, deps)| Resource {
            module,
            data,
            ty,
            name,
            indexes,
            attributes,
            deps,
        });
    (prop::collection::vec(resource, 0..10), prop::collection::vec(("[a-z]{1,6}", attribute()), 0..3)).prop_map(
        |(resources, outputs)| {
            let mut g = Graph::new();
            let mut seen: BTreeMap<String, Vec<Key>> = BTreeMap::new();
            let mut order: Vec<String> = Vec::new();
            for r in &resources {
                let base = format!(
                    "{}{}{}.{}",
                    r.module.as_ref().map(|m| format!("{m}.")).unwrap_or_default(),
                    if r.data { "data." } else { "" },
                    r.ty,
                    r.name
                );
                if seen.contains_key(&base) {
                    continue;
                }
                let instances: Vec<(String, String)> = match &r.indexes {
                    None => vec![(base.clone(), r.name.clone())],
                    Some(ix) => ix.iter().map(|i| (format!("{base}[{i}]"), format!("{}[{i}]", r.name))).collect(),
                };
                let mut keys = Vec::new();
                for (address, name) in instances {
                    let key = Key::parse(&address).unwrap();
                    let mut c = Component::with_key(key.clone(), r.ty.as_str(), name.as_str())
                        .with_label(terraform::LABEL_MODE, if r.data { "data" } else { "managed" });
                    if let Some(m) = &r.module {
                        c = c.with_label(terraform::LABEL_MODULE, m.as_str());
                    }
                    for (k, v) in &r.attributes {
                        c = c.with_param(k.as_str(), v.clone());
                    }
                    g.insert(c).unwrap();
                    keys.push(key);
                }
                // Dependencies on earlier resources, on all their instances, as a state records them.
                for &d in &r.deps {
                    if order.is_empty() {
                        break;
                    }
                    let target = &order[d % order.len()];
                    for from in &keys {
                        for to in &seen[target] {
                            g.connect(from.clone(), to.clone(), EdgeKind::DependsOn, []).unwrap();
                        }
                    }
                }
                seen.insert(base.clone(), keys);
                order.push(base);
            }
            for (name, value) in outputs {
                let key = Key::parse(&format!("output.{name}")).unwrap();
                if !g.contains(&key) {
                    g.insert(
                        Component::with_key(key, terraform::OUTPUT_KIND, name.as_str()).with_param("value", value),
                    )
                    .unwrap();
                }
            }
            g
        },
    )
}

/// What a state carries: components (kind, name, params, labels) and edges.
type Content = (BTreeMap<String, (String, String, Vec<(String, Value)>, Vec<(String, String)>)>, Vec<String>);

fn content(s: &Snapshot) -> Content {
    let components = s
        .components()
        .map(|c| {
            let params = c.params().iter().map(|(k, p)| (k.to_string(), p.value.clone())).collect();
            let labels = c.labels().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            (c.key().to_string(), (c.kind().to_string(), c.name().to_string(), params, labels))
        })
        .collect();
    let mut edges: Vec<String> =
        s.edges().map(|e| format!("{} -{}-> {}", e.from(), e.kind().label(), e.to())).collect();
    edges.sort();
    (components, edges)
}
