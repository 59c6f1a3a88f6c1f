//! Kubernetes import: genuine manifests (tests/data/SOURCES.md) checked
//! against facts read off them by hand, and a manifest written here that
//! exercises every relation the importer knows.

use karma_core::{Key, Snapshot, Value};
use karma_import::{ImportError, Options, WarningKind, kubernetes};

fn data(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).expect("test data")
}

fn key(text: &str) -> Key {
    Key::parse(text).unwrap()
}

/// Every edge as `from -kind-> to`, sorted.
fn edges(snap: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> =
        snap.edges().map(|e| format!("{} -{}-> {}", e.from(), e.kind().label(), e.to())).collect();
    out.sort();
    out
}

#[test]
fn guestbook_services_select_their_deployments() {
    let import = kubernetes::import(&data("kubernetes/guestbook-all-in-one.yaml"), &Options::default()).unwrap();
    assert_eq!(import.report.components, 6);
    assert!(import.report.warnings.is_empty(), "{}", import.report);
    assert_eq!(
        edges(&import.snapshot),
        [
            "default/Service/frontend -selects-> default/Deployment/frontend",
            "default/Service/redis-master -selects-> default/Deployment/redis-master",
            "default/Service/redis-replica -selects-> default/Deployment/redis-replica",
        ]
    );
    let frontend = import.snapshot.get(&key("default/Deployment/frontend")).unwrap();
    assert_eq!(frontend.kind(), "apps/v1/Deployment");
    let spec = frontend.param_value("spec").and_then(Value::as_map).unwrap();
    assert_eq!(spec["replicas"], Value::Int(3));
    let svc = import.snapshot.get(&key("default/Service/redis-master")).unwrap();
    assert_eq!(svc.label("role"), Some("master"));
}

#[test]
fn wordpress_mounts_claims_names_its_database_and_misses_a_secret() {
    let text =
        format!("{}---\n{}", data("kubernetes/mysql-deployment.yaml"), data("kubernetes/wordpress-deployment.yaml"));
    let import = kubernetes::import(&text, &Options::file("wordpress.yaml")).unwrap();
    assert_eq!(import.report.components, 6);
    assert_eq!(
        edges(&import.snapshot),
        [
            "default/Deployment/wordpress -env-> default/Service/wordpress-mysql",
            "default/Deployment/wordpress -mounts-> default/PersistentVolumeClaim/wp-pv-claim",
            "default/Deployment/wordpress-mysql -mounts-> default/PersistentVolumeClaim/mysql-pv-claim",
            "default/Service/wordpress -selects-> default/Deployment/wordpress",
            "default/Service/wordpress-mysql -selects-> default/Deployment/wordpress-mysql",
        ]
    );
    // The Secret mysql-pass is created by hand in the example, not in the files:
    // both secretKeyRefs are reported, each at its place.
    let w = &import.report.warnings;
    assert_eq!(w.len(), 2, "{}", import.report);
    assert!(w.iter().all(
        |w| matches!(&w.kind, WarningKind::UnresolvedTarget { target, .. } if target == "default/Secret/mysql-pass")
    ));
    assert_eq!(w[0].location.path, "[doc 2].spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef");
    assert_eq!(w[0].location.line, Some(54));
    assert_eq!(w[1].location.file.as_deref(), Some("wordpress.yaml"));
    // A comment that lost its `#` is part of the apiVersion, as YAML reads it.
    let mysql = import.snapshot.get(&key("default/Deployment/wordpress-mysql")).unwrap();
    assert!(mysql.kind().starts_with("apps/v1  for k8s versions"));
}

const SHOP: &str = r"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-config, namespace: shop}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
data:
  password: aHVudGVyMg==
stringData:
  user: admin
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, labels: {app: api}}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: web}}
    spec:
      serviceAccountName: api
      containers:
        - name: api
          image: shop/api:1.4
          envFrom:
            - configMapRef: {name: api-config}
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
            - name: API_TOKEN
              value: s3cr3t-token
            - name: CACHE_URL
              value: redis://cache.shop.svc:6379
            - name: OPTIONAL
              valueFrom: {configMapKeyRef: {name: not-here, key: x, optional: true}}
      volumes:
        - name: creds
          secret: {secretName: db}
        - name: bundle
          projected: {sources: [{configMap: {name: api-config}}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-5d8f
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: 1}]
spec:
  template:
    metadata: {labels: {app: api, tier: web}}
    spec: {containers: [{name: api, image: shop/api:1.4}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec: {selector: {app: cache}, ports: [{port: 6379}]}
---
apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: public, namespace: shop}
    spec:
      rules:
        - host: shop.example.com
          http:
            paths:
              - path: /api
                pathType: Prefix
                backend: {service: {name: api, port: {number: 80}}}
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: api, namespace: shop}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
      minReplicas: 2
      maxReplicas: 10
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {name: api-read, namespace: shop}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
    subjects: [{kind: ServiceAccount, name: api, namespace: shop}]
";

#[test]
fn every_relation_of_a_small_shop() {
    let import = kubernetes::import(SHOP, &Options::default()).unwrap();
    let snap = &import.snapshot;
    assert_eq!(import.report.components, 11);
    assert!(snap.contains(&key("Namespace/shop")), "cluster-scoped kinds have no namespace in their key");
    let mut got = edges(snap);
    got.dedup();
    let want = [
        "shop/Deployment/api -runs-as-> shop/ServiceAccount/api",
        "shop/Deployment/api -env-> shop/Service/cache",
        "shop/Deployment/api -uses-config-> shop/ConfigMap/api-config",
        "shop/Deployment/api -uses-secret-> shop/Secret/db",
        "shop/HorizontalPodAutoscaler/api -scales-> shop/Deployment/api",
        "shop/Ingress/public -routes-to-> shop/Service/api",
        "shop/ReplicaSet/api-5d8f -owned-by-> shop/Deployment/api",
        "shop/RoleBinding/api-read -binds-> shop/Role/reader",
        "shop/RoleBinding/api-read -binds-> shop/ServiceAccount/api",
        "shop/Service/api -selects-> shop/Deployment/api",
        "shop/Service/api -selects-> shop/ReplicaSet/api-5d8f",
    ];
    let mut want: Vec<String> = want.iter().map(ToString::to_string).collect();
    want.sort();
    // The Role is not in the input, so that edge is a warning, not an edge.
    want.retain(|e| !e.ends_with("shop/Role/reader"));
    assert_eq!(got, want);
    // One warning each: the missing Role; the cache Service selects nothing.
    let kinds: Vec<&WarningKind> = import.report.warnings.iter().map(|w| &w.kind).collect();
    assert_eq!(kinds.len(), 2, "{}", import.report);
    assert!(
        kinds.iter().any(|k| matches!(k, WarningKind::UnresolvedTarget { target, .. } if target == "shop/Role/reader"))
    );
    assert!(
        kinds.iter().any(|k| matches!(k, WarningKind::SelectsNothing { service } if service == "shop/Service/cache"))
    );
    // Edge attributes say which container, variable and key.
    let secret_edge = snap
        .edges_from(&key("shop/Deployment/api"))
        .find(|e| e.kind().label() == "uses-secret")
        .expect("edge to the Secret");
    let variables = secret_edge.attribute("variable").unwrap();
    assert!(format!("{variables:?}").contains("DB_PASSWORD"), "{variables:?}");
    let route = snap.edges_from(&key("shop/Ingress/public")).next().unwrap();
    assert_eq!(route.attribute("host").and_then(Value::as_str), Some("shop.example.com"));
    assert_eq!(route.attribute("port").and_then(Value::as_str), Some("80"));
    // Secrets: both Secret values and the literal token; no plaintext anywhere.
    assert_eq!(import.report.secrets, 3);
    let db = snap.get(&key("shop/Secret/db")).unwrap();
    let data = db.param_value("data").and_then(Value::as_map).unwrap();
    let salt = Options::default().salt;
    assert!(data["password"].as_secret().unwrap().matches(&salt, "hunter2"), "digest of the decoded bytes");
    let json = snap.to_json().unwrap();
    for plaintext in ["hunter2", "aHVudGVyMg==", "s3cr3t-token"] {
        assert!(!json.contains(plaintext), "{plaintext} leaked");
    }
}

#[test]
fn malformed_manifests_are_located() {
    let err = kubernetes::import("apiVersion: v1\nmetadata: {name: x}\n", &Options::file("m.yaml")).unwrap_err();
    assert!(matches!(err, ImportError::Missing { field: "kind", .. }), "{err}");
    assert_eq!(err.location().line, Some(1));
    let err = kubernetes::import("apiVersion: v1\nkind: Pod\nmetadata: [x]\n", &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::UnexpectedType { .. }), "{err}");
    assert_eq!(err.location().path, "[doc 0].metadata");
    assert_eq!(err.location().line, Some(3));
    let bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: '%%%'}\n";
    let err = kubernetes::import(bad, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::UnexpectedType { expected: "base64 data", .. }), "{err}");
    assert!(!err.to_string().contains("%%%"), "secret input is not echoed");
    let twice = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let err = kubernetes::import(twice, &Options::default()).unwrap_err();
    let ImportError::Duplicate { key, first, second } = &err else { panic!("{err}") };
    assert_eq!(key, "default/ConfigMap/c");
    assert_eq!((first.line, second.line), (Some(1), Some(5)));
    let err = kubernetes::import("a: [1, 2\n", &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Syntax { .. }), "{err}");
}
