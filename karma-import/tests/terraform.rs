//! Terraform import: genuine documents (see tests/data/SOURCES.md) checked
//! against facts read off them by hand, and a hand-written plan that
//! exercises modules, attribute-level references, secrets and drift.

use karma_core::{EdgeKind, Key, Timestamp, Value};
use karma_import::{Format, ImportError, Options, WarningKind, terraform};
use karma_query::{Traversal, View, change_impact, param_impact};

fn data(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).expect("test data")
}

fn key(text: &str) -> Key {
    Key::parse(text).unwrap()
}

#[test]
fn raw_state_v4_with_modules_counts_and_sensitive_outputs() {
    let import = terraform::import_state(&data("terraform/110_sensitive_values.tfstate"), &Options::file("sv.tfstate"))
        .expect("imports");
    let (snap, report) = (&import.snapshot, &import.report);
    assert_eq!(report.format, Format::TerraformStateV4);
    // 7 resource instances (bar, baz[0..3], foo, module.foo's aliased and foo) + 8 root outputs.
    assert_eq!(report.components, 15);
    assert_eq!(snap.len(), 15);
    // bar and the three baz instances each list `null_resource.foo`.
    assert_eq!(report.edges, 4);
    assert!(report.warnings.is_empty(), "{report}");
    for k in ["null_resource.bar", "null_resource.baz[0]", "null_resource.baz[1]", "null_resource.baz[2]"] {
        assert_eq!(snap.dependencies(&key(k)), vec![&key("null_resource.foo")], "{k}");
    }
    let baz1 = snap.get(&key("null_resource.baz[1]")).unwrap();
    assert_eq!(baz1.kind(), "null_resource");
    assert_eq!(baz1.name(), "baz[1]");
    assert_eq!(baz1.param_value("id").and_then(Value::as_str), Some("4055263173373670778"));
    let trigger = baz1.param_value("triggers").and_then(Value::as_map).unwrap();
    assert_eq!(trigger["foo_id"].as_str(), Some("7914344597979736746"));
    // Module path kept, in the key and as a label; the module's foo is not the root's foo.
    let mfoo = snap.get(&key("module.foo.null_resource.foo")).unwrap();
    assert_eq!(mfoo.label(terraform::LABEL_MODULE), Some("module.foo"));
    assert_eq!(mfoo.param_value("id").and_then(Value::as_str), Some("712346592830392361"));
    assert_eq!(snap.get(&key("null_resource.foo")).unwrap().label(terraform::LABEL_MODULE), None);
    // `"triggers": null` is kept as a null param, not dropped.
    let aliased = snap.get(&key("module.foo.null_resource.aliased")).unwrap();
    assert_eq!(aliased.param_value("triggers"), Some(&Value::Null));
    // The sensitive output is a secret; the others are values.
    let foo = snap.get(&key("output.foo")).unwrap();
    assert!(matches!(foo.param_value("value"), Some(Value::Secret(_))));
    assert_eq!(report.secrets, 1);
    let deep = snap.get(&key("output.interpolated_deep")).unwrap().param_value("value").unwrap();
    assert_eq!(deep.as_map().unwrap()["number"], Value::Int(42));
    // The provider's opaque `private` blob is not a param.
    assert!(baz1.param("private").is_none() && baz1.param("tf:private").is_none());
}

#[test]
fn a_pruned_state_reports_each_missing_dependency() {
    let import = terraform::import_state(&data("terraform/inframap-azure.tfstate"), &Options::file("azure.tfstate"))
        .expect("imports");
    let (snap, report) = (&import.snapshot, &import.report);
    // 5 resources + 1 output.
    assert_eq!(report.components, 6);
    // Present targets: the peering depends on both networks. Everything else
    // (resource group, NICs, subnets, storage, random_id, tls key) is absent.
    // The two VMs depend on their networks; the peering on both networks.
    assert_eq!(report.edges, 4);
    let peering = key("azurerm_virtual_network_peering.example-1");
    let mut deps: Vec<String> = snap.dependencies(&peering).iter().map(ToString::to_string).collect();
    deps.sort();
    assert_eq!(deps, ["azurerm_virtual_network.myterraformnetwork", "azurerm_virtual_network.myterraformnetwork2"]);
    // Missing: 6 of each VM's 7 dependencies, each network's resource group,
    // the peering's resource group: 6 + 6 + 1 + 1 + 1 = 15.
    assert_eq!(report.warnings.len(), 15, "{report}");
    let w = &report.warnings[0];
    assert_eq!(w.location.file.as_deref(), Some("azure.tfstate"));
    assert_eq!(w.location.path, "/resources/0/instances/0");
    assert!(
        matches!(&w.kind, WarningKind::UnresolvedTarget { target, .. } if target == "azurerm_network_interface.myterraformnic")
    );
    let vm = snap.get(&key("azurerm_linux_virtual_machine.myterraformvm")).unwrap();
    assert_eq!(vm.label(terraform::LABEL_PROVIDER), Some("provider.azurerm"));
}

#[test]
fn plan_with_references_from_the_configuration() {
    let plan = terraform::import_plan(&data("terraform/120_basic.plan.json"), &Options::file("plan.json")).unwrap();
    // The prior state holds only outputs.
    assert_eq!(plan.base.report.components, 4);
    assert_eq!(plan.planned.report.components, 15);
    // Seven creates; the data source is absent from this plan.
    assert_eq!(plan.changes.len(), 7);
    assert!(plan.changes.iter().all(|c| c.actions == ["create"] && c.unknown_after.contains(&"id".to_string())));
    let snap = &plan.planned.snapshot;
    // `triggers = { foo_id = null_resource.foo.id }`, unknown until apply:
    // the param is the reference, the producer has the output.
    for k in ["null_resource.bar", "null_resource.baz[0]", "null_resource.baz[1]", "null_resource.baz[2]"] {
        let c = snap.get(&key(k)).unwrap();
        let r = c.param_value("triggers").and_then(Value::as_ref).unwrap_or_else(|| panic!("{k}"));
        assert_eq!((r.component.as_str(), r.output.as_str()), ("null_resource.foo", "id"));
    }
    assert!(snap.get(&key("null_resource.foo")).unwrap().output("id").is_some());
    // Outputs referencing null_resource.foo.id, unknown in the plan, read it.
    let r = snap.get(&key("output.referenced")).unwrap().param_value("value").and_then(Value::as_ref).unwrap();
    assert_eq!(r.component.as_str(), "null_resource.foo");
    // 4 resources + 4 outputs read foo.id: 8 reference params and edges.
    assert_eq!(plan.planned.report.references, 8);
    assert_eq!(snap.edges().filter(|e| matches!(e.kind(), EdgeKind::Reference { .. })).count(), 8);
    // Parameter-level impact of the plan: who reads foo's id?
    let view = View::new(snap);
    let hit = param_impact(&view, &key("null_resource.foo"), "id", &Traversal::default()).unwrap();
    let mut reached: Vec<String> = hit.iter().map(|i| i.target.to_string()).collect();
    reached.sort();
    assert_eq!(reached.len(), 8, "{reached:?}");
    assert!(reached.contains(&"null_resource.baz[2].triggers".to_string()));
    // The delta adds the resources and four outputs; the sensitive output and
    // the constant ones are unchanged.
    assert_eq!(plan.delta.added().count(), 11);
    assert_eq!(plan.delta.changed().count(), 0);
}

#[test]
fn plan_replacing_a_resource() {
    let plan =
        terraform::import_plan(&data("terraform/config_resource_depends_on.plan.json"), &Options::default()).unwrap();
    assert_eq!(plan.changes.len(), 1, "the no-op is not a change");
    let change = &plan.changes[0];
    assert_eq!(change.address, "null_resource.bar");
    assert!(change.is_replace());
    // The explicit depends_on survives into the planned graph.
    let bar = key("null_resource.bar");
    assert_eq!(plan.planned.snapshot.dependencies(&bar), vec![&key("null_resource.foo")]);
    // The delta: bar's id becomes unknown, its triggers null.
    let changed: Vec<_> = plan.delta.changed().collect();
    assert_eq!(changed.len(), 1);
    let after = plan.planned.snapshot.get(&bar).unwrap();
    assert_eq!(after.param_value("id"), Some(&Value::Null));
    assert_eq!(after.param_value("triggers"), Some(&Value::Null));
    let before = plan.base.snapshot.get(&bar).unwrap();
    assert_eq!(before.param_value("id").and_then(Value::as_str), Some("8595481736657951026"));
}

/// A plan written by hand in the shape `terraform show -json` gives:
/// a VPC, a module making subnets from `var.vpc_id`, a security group,
/// an instance reading a module output, a list and an interpolation, a
/// database with a sensitive password, and drift.
const AWS_PLAN: &str = r#"{
  "format_version": "1.2",
  "prior_state": {"values": {"root_module": {
    "resources": [
      {"address": "aws_vpc.main", "mode": "managed", "type": "aws_vpc", "name": "main",
       "values": {"id": "vpc-1", "cidr_block": "10.0.0.0/16"}},
      {"address": "aws_security_group.web", "mode": "managed", "type": "aws_security_group", "name": "web",
       "values": {"id": "sg-1", "vpc_id": "vpc-1", "description": "web"}, "depends_on": ["aws_vpc.main"]},
      {"address": "aws_instance.web", "mode": "managed", "type": "aws_instance", "name": "web",
       "values": {"id": "i-1", "instance_type": "t3.micro", "subnet_id": "subnet-a0",
                  "vpc_security_group_ids": ["sg-1", "sg-external"], "user_data": "echo 10.0.0.0/16"},
       "depends_on": ["aws_security_group.web", "module.net.aws_subnet.a", "aws_vpc.main"]},
      {"address": "aws_db_instance.db", "mode": "managed", "type": "aws_db_instance", "name": "db",
       "values": {"id": "db-1", "password": "hunter2", "vpc_security_group_ids": ["sg-1"]},
       "sensitive_values": {"password": true}, "depends_on": ["aws_security_group.web"]}
    ],
    "child_modules": [{"address": "module.net", "resources": [
      {"address": "module.net.aws_subnet.a[0]", "mode": "managed", "type": "aws_subnet", "name": "a", "index": 0,
       "values": {"id": "subnet-a0", "vpc_id": "vpc-1"}, "depends_on": ["aws_vpc.main"]},
      {"address": "module.net.aws_subnet.a[1]", "mode": "managed", "type": "aws_subnet", "name": "a", "index": 1,
       "values": {"id": "subnet-a1", "vpc_id": "vpc-1"}, "depends_on": ["aws_vpc.main"]}
    ]}]
  }}},
  "planned_values": {"root_module": {
    "resources": [
      {"address": "aws_vpc.main", "mode": "managed", "type": "aws_vpc", "name": "main",
       "values": {"id": "vpc-1", "cidr_block": "10.0.0.0/16"}},
      {"address": "aws_security_group.web", "mode": "managed", "type": "aws_security_group", "name": "web",
       "values": {"id": "sg-1", "vpc_id": "vpc-1", "description": "web"}},
      {"address": "aws_instance.web", "mode": "managed", "type": "aws_instance", "name": "web",
       "values": {"id": "i-1", "instance_type": "t3.large", "subnet_id": "subnet-a0",
                  "vpc_security_group_ids": ["sg-1", "sg-external"], "user_data": "echo 10.0.0.0/16"}},
      {"address": "aws_db_instance.db", "mode": "managed", "type": "aws_db_instance", "name": "db",
       "values": {"id": "db-1", "password": "hunter2", "vpc_security_group_ids": ["sg-1"]},
       "sensitive_values": {"password": true}}
    ],
    "child_modules": [{"address": "module.net", "resources": [
      {"address": "module.net.aws_subnet.a[0]", "mode": "managed", "type": "aws_subnet", "name": "a", "index": 0,
       "values": {"id": "subnet-a0", "vpc_id": "vpc-1"}},
      {"address": "module.net.aws_subnet.a[1]", "mode": "managed", "type": "aws_subnet", "name": "a", "index": 1,
       "values": {"id": "subnet-a1", "vpc_id": "vpc-1"}}
    ]}]
  }},
  "resource_changes": [
    {"address": "aws_instance.web", "mode": "managed", "type": "aws_instance", "name": "web",
     "change": {"actions": ["update"], "before": {}, "after": {}, "after_unknown": {}}}
  ],
  "resource_drift": [
    {"address": "aws_security_group.web", "mode": "managed", "type": "aws_security_group", "name": "web",
     "change": {"actions": ["update"], "before": {"id": "sg-1", "description": "web"},
                "after": {"id": "sg-1", "description": "edited in the console"}}}
  ],
  "configuration": {"root_module": {
    "resources": [
      {"address": "aws_vpc.main", "mode": "managed", "type": "aws_vpc", "name": "main",
       "expressions": {"cidr_block": {"constant_value": "10.0.0.0/16"}}},
      {"address": "aws_security_group.web", "mode": "managed", "type": "aws_security_group", "name": "web",
       "expressions": {"vpc_id": {"references": ["aws_vpc.main.id", "aws_vpc.main"]}}},
      {"address": "aws_instance.web", "mode": "managed", "type": "aws_instance", "name": "web",
       "expressions": {
         "subnet_id": {"references": ["module.net.subnet_ids[0]", "module.net.subnet_ids", "module.net"]},
         "vpc_security_group_ids": {"references": ["aws_security_group.web.id", "aws_security_group.web"]},
         "user_data": {"references": ["aws_vpc.main.cidr_block", "aws_vpc.main"]}}},
      {"address": "aws_db_instance.db", "mode": "managed", "type": "aws_db_instance", "name": "db",
       "expressions": {"vpc_security_group_ids": {"references": ["aws_security_group.web.id", "aws_security_group.web"]}}}
    ],
    "module_calls": {"net": {"source": "./net",
      "expressions": {"vpc_id": {"references": ["aws_vpc.main.id", "aws_vpc.main"]}},
      "module": {
        "resources": [{"address": "aws_subnet.a", "mode": "managed", "type": "aws_subnet", "name": "a",
                       "expressions": {"vpc_id": {"references": ["var.vpc_id"]}}, "count_expression": {"constant_value": 2}}],
        "outputs": {"subnet_ids": {"expression": {"references": ["aws_subnet.a"]}}}
      }}}
  }}
}"#;

#[test]
fn attribute_level_references_through_modules_lists_and_interpolation() {
    let plan = terraform::import_plan(AWS_PLAN, &Options::file("aws.json")).unwrap();
    let snap = &plan.planned.snapshot;
    let param = |k: &str, p: &str| snap.get(&key(k)).unwrap().param_value(p).cloned().unwrap();
    let reference = |v: &Value| v.as_ref().map(|r| format!("{}.{}", r.component, r.output));
    // var.vpc_id in the module resolves through the module call to aws_vpc.main.id.
    assert_eq!(reference(&param("module.net.aws_subnet.a[1]", "vpc_id")).as_deref(), Some("aws_vpc.main.id"));
    assert_eq!(reference(&param("aws_security_group.web", "vpc_id")).as_deref(), Some("aws_vpc.main.id"));
    // module.net.subnet_ids[0] resolves through the module output to the
    // subnet instance whose id the instance holds.
    assert_eq!(reference(&param("aws_instance.web", "subnet_id")).as_deref(), Some("module.net.aws_subnet.a[0].id"));
    // A list: the element that is the group's id becomes the reference, the other stays.
    let groups = param("aws_instance.web", "vpc_security_group_ids");
    let items = groups.as_list().unwrap();
    assert_eq!(reference(&items[0]).as_deref(), Some("aws_security_group.web.id"));
    assert_eq!(items[1], Value::String("sg-external".into()));
    // An interpolation keeps its value, and names what it reads beside it.
    assert_eq!(param("aws_instance.web", "user_data"), Value::String("echo 10.0.0.0/16".into()));
    assert_eq!(reference(&param("aws_instance.web", "user_data@refs")).as_deref(), Some("aws_vpc.main.cidr_block"));
    // Producers carry the outputs read, with their values.
    let vpc = snap.get(&key("aws_vpc.main")).unwrap();
    assert_eq!(vpc.output("id").and_then(Value::as_str), Some("vpc-1"));
    assert_eq!(vpc.output("cidr_block").and_then(Value::as_str), Some("10.0.0.0/16"));
    // The password is a secret, and the plaintext is nowhere.
    assert!(matches!(param("aws_db_instance.db", "password"), Value::Secret(_)));
    assert!(!snap.to_json().unwrap().contains("hunter2"));
    // Dependencies come from the prior state for the planned graph too.
    assert_eq!(snap.dependencies(&key("aws_db_instance.db")), vec![&key("aws_security_group.web")]);
    // Drift: the description edited outside Terraform.
    assert_eq!(plan.drift.len(), 1);
    let d = &plan.drift[0];
    assert_eq!(d.address, "aws_security_group.web");
    assert_eq!(d.params.len(), 1);
    assert_eq!(d.params[0].name, "description");
    assert_eq!(d.params[0].found, Some(Value::String("edited in the console".into())));
    assert_eq!(d.location.path, "/resource_drift/0");

    // What the VPC's id reaches, parameter by parameter.
    let view = View::new(snap);
    let reached = param_impact(&view, &key("aws_vpc.main"), "id", &Traversal::default()).unwrap();
    let names: Vec<String> = reached.iter().map(|r| r.target.to_string()).collect();
    for expected in [
        "aws_security_group.web.vpc_id",
        "module.net.aws_subnet.a[0].vpc_id",
        "module.net.aws_subnet.a[1].vpc_id",
        "aws_instance.web.subnet_id",
        "aws_instance.web.vpc_security_group_ids",
        "aws_db_instance.db.vpc_security_group_ids",
    ] {
        assert!(names.contains(&expected.to_string()), "{expected} not in {names:?}");
    }
    // The chain explains the instance's subnet: vpc id → subnet a[0].vpc_id → instance subnet_id.
    let subnet = reached.iter().find(|r| r.target.to_string() == "aws_instance.web.subnet_id").unwrap();
    let chain: Vec<String> = subnet.chain.iter().map(ToString::to_string).collect();
    assert_eq!(chain, ["aws_vpc.main.id", "module.net.aws_subnet.a[0].vpc_id", "aws_instance.web.subnet_id"]);

    // The plan's blast radius: the instance type changes.
    let radius = change_impact(&plan.base.snapshot, &view, &plan.delta).unwrap();
    assert_eq!(radius.changed, vec![key("aws_instance.web")]);
    assert_eq!(plan.changes.len(), 1);
}

#[test]
fn states_in_time_order_become_a_history() {
    let v1 = r#"{"version": 4, "serial": 1, "lineage": "L", "resources": [
        {"mode": "managed", "type": "aws_s3_bucket", "name": "logs", "instances": [{"attributes": {"id": "logs", "versioning": false}}]}]}"#;
    let v2 = r#"{"version": 4, "serial": 2, "lineage": "L", "resources": [
        {"mode": "managed", "type": "aws_s3_bucket", "name": "logs", "instances": [{"attributes": {"id": "logs", "versioning": true}}]},
        {"mode": "managed", "type": "aws_sqs_queue", "name": "jobs", "instances": [{"attributes": {"id": "jobs"}, "dependencies": ["aws_s3_bucket.logs"]}]}]}"#;
    let v3 = r#"{"version": 4, "serial": 5, "lineage": "L", "resources": [
        {"mode": "managed", "type": "aws_s3_bucket", "name": "logs", "instances": [{"attributes": {"id": "logs", "versioning": true}}]}]}"#;
    let (t1, t2, t3) = (Timestamp::from_secs(100), Timestamp::from_secs(200), Timestamp::from_secs(300));
    let steps = terraform::history([(t1, v1), (t2, v2), (t3, v3)], &Options::default()).unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1].serial, Some(2));
    let bucket = key("aws_s3_bucket.logs");
    let b = steps[1].snapshot.get(&bucket).unwrap();
    assert_eq!(b.version(), 2, "one change since the first state");
    assert_eq!(b.param("versioning").unwrap().changed_at, t2);
    assert_eq!(b.created(), t1);
    assert_eq!(steps[1].delta.added().count(), 1);
    assert_eq!(steps[2].delta.removed().count(), 1, "the queue went away");
    let b3 = steps[2].snapshot.get(&bucket).unwrap();
    assert_eq!(b3.version(), 2, "unchanged in the third state");

    // Out of order, or another workspace: refused with a location.
    let err = terraform::history([(t1, v2), (t2, v1)], &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
    let other = v2.replace("\"L\"", "\"M\"");
    let err = terraform::history([(t1, v1), (t2, other.as_str())], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("lineage"), "{err}");
}

#[test]
fn sensitive_attributes_of_raw_states_and_unknown_instance_fields() {
    let state = r#"{"version": 4, "resources": [
      {"mode": "managed", "type": "aws_db_instance", "name": "db", "instances": [{
        "status": "tainted",
        "attributes": {"id": "db-1", "password": "hunter2", "tags": {"owner": "team-a", "token": "abc"}, "ports": [5432, 6432]},
        "sensitive_attributes": [
          [{"type": "get_attr", "value": "password"}],
          [{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "token", "type": "string"}}],
          [{"type": "get_attr", "value": "ports"}, {"type": "index", "value": {"value": 1, "type": "number"}}]
        ]}]},
      {"mode": "data", "type": "aws_ami", "name": "ubuntu", "instances": [{"attributes": {"id": "ami-1"}}]}
    ]}"#;
    let import = terraform::import_state(state, &Options::default()).unwrap();
    let db = import.snapshot.get(&key("aws_db_instance.db")).unwrap();
    assert!(matches!(db.param_value("password"), Some(Value::Secret(_))));
    let tags = db.param_value("tags").and_then(Value::as_map).unwrap();
    assert_eq!(tags["owner"].as_str(), Some("team-a"));
    assert!(matches!(tags["token"], Value::Secret(_)));
    let ports = db.param_value("ports").and_then(Value::as_list).unwrap();
    assert_eq!(ports[0], Value::Int(5432));
    assert!(matches!(ports[1], Value::Secret(_)));
    assert_eq!(import.report.secrets, 3);
    // Instance fields other than the attributes are kept, namespaced.
    assert_eq!(db.param_value("tf:status").and_then(Value::as_str), Some("tainted"));
    // Data sources are components too, marked by mode.
    let ami = import.snapshot.get(&key("data.aws_ami.ubuntu")).unwrap();
    assert_eq!(ami.label(terraform::LABEL_MODE), Some("data"));
    assert!(!import.snapshot.to_json().unwrap().contains("hunter2"));
}

#[test]
fn a_history_of_states_committed_to_a_repository() {
    use karma_store::{CommitInfo, MemoryStore, RefName, Repository};
    let states: Vec<(Timestamp, String)> = (1..=4)
        .map(|i| {
            let text = format!(
                r#"{{"version": 4, "serial": {i}, "lineage": "L", "resources": [
                  {{"mode": "managed", "type": "aws_db_instance", "name": "db",
                    "instances": [{{"attributes": {{"id": "db-1", "allocated_storage": {}}}}}]}}]}}"#,
                20 * (i / 2 + 1)
            );
            (Timestamp::from_secs(i64::from(i) * 3600), text)
        })
        .collect();
    let steps = terraform::history(states.iter().map(|(t, s)| (*t, s.as_str())), &Options::default()).unwrap();
    let repo = Repository::open(MemoryStore::new()).unwrap();
    let prod = RefName::environment("prod").unwrap();
    for step in &steps {
        let info = CommitInfo::new("terraform", format!("serial {}", step.serial.unwrap())).at(step.time);
        repo.commit(&prod, &step.snapshot, info).unwrap();
    }
    // Storage 20 → 40 (serial 2) → 40 (serial 3, no change) → 60 (serial 4).
    let history = repo.param_history(&key("aws_db_instance.db"), "allocated_storage").unwrap();
    let values: Vec<(i64, Option<i64>)> =
        history.iter().map(|c| (c.timestamp.as_secs() / 3600, c.value.as_ref().and_then(Value::as_int))).collect();
    assert_eq!(values, [(1, Some(20)), (2, Some(40)), (4, Some(60))]);
}

#[test]
fn an_imported_plan_drawn_as_dot_and_mermaid() {
    use karma_query::{GroupBy, Subgraph};
    let plan = terraform::import_plan(AWS_PLAN, &Options::default()).unwrap();
    let view = View::new(&plan.planned.snapshot);
    let radius = change_impact(&plan.base.snapshot, &view, &plan.delta).unwrap();
    let sub = Subgraph::of_blast_radius(&view, &radius, &GroupBy::Label(terraform::LABEL_MODULE.into()));
    let dot = sub.to_dot();
    assert!(dot.starts_with("digraph karma {"), "{dot}");
    assert!(dot.contains("\"aws_instance.web\""), "{dot}");
    let everything =
        Subgraph::induced(&view, plan.planned.snapshot.components().map(|c| c.key().clone()), &GroupBy::Kind);
    let dot = everything.to_dot();
    assert!(dot.contains("\"module.net.aws_subnet.a[1]\""), "{dot}");
    assert!(dot.contains("label=\"reference\""), "{dot}");
    let mermaid = everything.to_mermaid();
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("module.net.aws_subnet.a[0]"), "{mermaid}");
    // Keys with quotes (for_each) are escaped.
    let state = r#"{"version": 4, "resources": [{"mode": "managed", "type": "aws_s3_bucket", "name": "b", "each": "map",
        "instances": [{"index_key": "logs", "attributes": {"id": "x"}}]}]}"#;
    let import = terraform::import_state(state, &Options::default()).unwrap();
    let view = View::new(&import.snapshot);
    let sub = Subgraph::induced(&view, [key(r#"aws_s3_bucket.b["logs"]"#)], &GroupBy::None);
    assert!(sub.to_dot().contains(r#"label="aws_s3_bucket.b[\"logs\"]""#), "{}", sub.to_dot());
    assert!(sub.to_mermaid().contains("aws_s3_bucket.b[#quot;logs#quot;]"), "{}", sub.to_mermaid());
}
