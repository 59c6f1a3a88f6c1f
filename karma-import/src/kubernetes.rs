//! Kubernetes manifests: multi-document YAML (and `kind: List`) into
//! components and the relations between objects.
//!
//! # Mapping
//!
//! - Each object is a component of kind `<apiVersion>/<kind>` (e.g.
//!   `apps/v1/Deployment`, `v1/Service`), keyed `<namespace>/<Kind>/<name>`
//!   (`<Kind>/<name>` for cluster-scoped kinds such as `Namespace` or
//!   `ClusterRole`); objects that name no namespace are in
//!   [`Options::default_namespace`].
//! - `metadata.labels` are the component's labels; every other top-level
//!   field (`spec`, `data`, `rules`...) is a param, as is
//!   `metadata.annotations`. Secret `data` (base64-decoded) and `stringData`
//!   values, and environment values that are credentials, are held as
//!   secrets.
//! - Edges (*from depends on to*): a Service `selects` the workloads whose
//!   pod template labels match its selector; an Ingress `routes-to` its
//!   backend Services; workloads have `uses-config` / `uses-secret` edges to
//!   the `ConfigMap`s and Secrets their containers read (`envFrom`, `valueFrom`, volumes,
//!   projected volumes, `imagePullSecrets`) with the container, variable and
//!   key as edge attributes; `mounts` their `PersistentVolumeClaim`s;
//!   `runs-as` their `ServiceAccount`; an object is `owned-by` its owner
//!   references; a `HorizontalPodAutoscaler` `scales` its target; a
//!   (Cluster)RoleBinding `binds` its role and subjects; a workload has an
//!   `env` edge to each Service of its namespace that a literal environment
//!   value names as a host (`DB_HOST: wordpress-mysql`).
//!
//! References to objects that are not in the input are warnings, except
//! those marked `optional: true` and the implicit `default` `ServiceAccount`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use karma_core::{Component, EdgeKind, Key, Name, Value};

use crate::draft::{Draft, DraftEdge};
use crate::error::{ImportError, WarningKind};
use crate::json::Ctx;
use crate::secrets::{env_value, secret};
use crate::yaml::{Data, Node, index_path, key_path};
use crate::{Format, Import, Options, Result};

/// Kinds that are not namespaced.
const CLUSTER_SCOPED: [&str; 14] = [
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "CustomResourceDefinition",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "RuntimeClass",
    "CSIDriver",
];

/// Workload kinds and where their pod template is.
fn pod_template<'n>(kind: &str, obj: &'n Node) -> Option<(&'n Node, &'static str)> {
    let spec = obj.get("spec")?;
    match kind {
        "Pod" => Some((obj, "")),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
            spec.get("template").map(|t| (t, "spec.template"))
        }
        "CronJob" => {
            spec.get("jobTemplate")?.get("spec")?.get("template").map(|t| (t, "spec.jobTemplate.spec.template"))
        }
        _ => None,
    }
}

struct Object<'n> {
    node: &'n Node,
    path: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    key: Key,
}

/// Imports a stream of manifests.
pub fn import(text: &str, options: &Options) -> Result<Import> {
    let ctx = Ctx::new(options);
    let docs = ctx.parse_yaml(text)?;
    let mut draft = Draft::default();
    // Flatten `kind: List`.
    let mut nodes: Vec<(&Node, String)> = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let path = format!("[doc {i}]");
        if doc.get("kind").and_then(Node::as_str).is_some_and(|k| k.ends_with("List")) && doc.get("items").is_some() {
            for (j, item) in doc.get("items").map(Node::items).unwrap_or_default().iter().enumerate() {
                nodes.push((item, index_path(&key_path(&path, "items"), j)));
            }
        } else {
            nodes.push((doc, path));
        }
    }
    let objects: Vec<Object<'_>> =
        nodes.into_iter().map(|(node, path)| read_object(&ctx, node, path, &mut draft)).collect::<Result<_>>()?;
    let by_name: ByName<'_> =
        objects.iter().map(|o| ((o.namespace.as_deref(), o.kind.as_str(), o.name.as_str()), &o.key)).collect();
    for o in &objects {
        let mut linker = Linker { ctx: &ctx, by_name: &by_name, from: o, draft: &mut draft };
        linker.owner_links();
        linker.workload_links();
        linker.kind_links();
    }
    for o in objects.iter().filter(|o| o.kind == "Service") {
        selector_links(&ctx, o, &objects, &mut draft);
    }
    draft.finish(Format::Kubernetes, options.time)
}

/// A backend node, its path, and the edge attributes it gives.
type Backend<'n> = (&'n Node, String, Vec<(Name, Value)>);

type ByName<'a> = HashMap<(Option<&'a str>, &'a str, &'a str), &'a Key>;

/// One object: a component, checked and converted.
fn read_object<'n>(ctx: &Ctx<'_>, node: &'n Node, path: String, draft: &mut Draft) -> Result<Object<'n>> {
    ctx.ymap(node, &path)?;
    let field = |name: &'static str| -> Result<&str> {
        let v = node.get(name).ok_or_else(|| ImportError::Missing { location: ctx.yloc(node, &path), field: name })?;
        ctx.ystr(v, &key_path(&path, name))
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    let mpath = key_path(&path, "metadata");
    let metadata = node
        .get("metadata")
        .ok_or_else(|| ImportError::Missing { location: ctx.yloc(node, &path), field: "metadata" })?;
    ctx.ymap(metadata, &mpath)?;
    let name = match (metadata.get("name"), metadata.get("generateName")) {
        (Some(n), _) => ctx.ystr(n, &key_path(&mpath, "name"))?.to_string(),
        (None, Some(g)) => ctx.ystr(g, &key_path(&mpath, "generateName"))?.to_string(),
        (None, None) => return Err(ImportError::Missing { location: ctx.yloc(metadata, &mpath), field: "name" }),
    };
    let namespace = if CLUSTER_SCOPED.contains(&kind) {
        None
    } else {
        Some(match metadata.get("namespace") {
            Some(n) => ctx.ystr(n, &key_path(&mpath, "namespace"))?.to_string(),
            None => ctx.options.default_namespace.clone(),
        })
    };
    let key = object_key(namespace.as_deref(), kind, &name)
        .map_err(|source| ImportError::model(ctx.yloc(node, &path), source))?;
    let mut c = Component::with_key(key.clone(), format!("{api_version}/{kind}"), name.as_str());
    for (label, v) in metadata.get("labels").map(Node::entries).unwrap_or_default() {
        let lpath = key_path(&key_path(&mpath, "labels"), label);
        let text = v.scalar_text().ok_or_else(|| ctx.ywrong(v, &lpath, "a string"))?;
        c = c.with_label(label.as_str(), text);
    }
    if let Some(a) = metadata.get("annotations") {
        c = c.with_param("annotations", ctx.yvalue(a, &key_path(&mpath, "annotations"))?);
    }
    for (field, v) in node.entries() {
        let fpath = key_path(&path, field);
        let value = match (kind, field.as_str()) {
            (_, "apiVersion" | "kind" | "metadata") => continue,
            ("Secret", "data") => secret_map(ctx, v, &fpath, true, &mut draft.secrets)?,
            ("Secret", "stringData") => secret_map(ctx, v, &fpath, false, &mut draft.secrets)?,
            _ => params_value(ctx, v, &fpath, &mut draft.secrets)?,
        };
        c = c.with_param(field.as_str(), value);
    }
    draft.add(c, ctx.yloc(node, &path))?;
    Ok(Object { node, path, kind: kind.to_string(), namespace, name, key })
}

/// Makes the edges of one object.
struct Linker<'a, 'o> {
    ctx: &'a Ctx<'o>,
    by_name: &'a ByName<'a>,
    from: &'a Object<'a>,
    draft: &'a mut Draft,
}

impl Linker<'_, '_> {
    /// An edge `edge` to the object `kind`/`name` of this object's namespace
    /// (or cluster-scoped); when it is not in the input, a warning, unless
    /// the reference is optional.
    #[allow(clippy::too_many_arguments)] // each is one part of what the edge says
    fn link(
        &mut self,
        kind: &str,
        name: &str,
        edge: &str,
        attributes: Vec<(Name, Value)>,
        at: &Node,
        path: &str,
        optional: bool,
    ) {
        let ns = if CLUSTER_SCOPED.contains(&kind) { None } else { self.from.namespace.as_deref() };
        self.link_in(ns, kind, name, edge, attributes, at, path, optional);
    }

    #[allow(clippy::too_many_arguments)]
    fn link_in(
        &mut self,
        ns: Option<&str>,
        kind: &str,
        name: &str,
        edge: &str,
        attributes: Vec<(Name, Value)>,
        at: &Node,
        path: &str,
        optional: bool,
    ) {
        let to = match self.by_name.get(&(ns, kind, name)) {
            Some(k) => (*k).clone(),
            None if optional => return,
            None => match object_key(ns, kind, name) {
                Ok(k) => k,
                Err(_) => return,
            },
        };
        self.draft.edge(DraftEdge {
            from: self.from.key.clone(),
            to,
            kind: EdgeKind::custom(edge),
            attributes,
            relation: "reference",
            location: Arc::new(self.ctx.yloc(at, path)),
        });
    }

    fn owner_links(&mut self) {
        let o = self.from;
        let opath = key_path(&key_path(&o.path, "metadata"), "ownerReferences");
        let owners = o.node.get("metadata").and_then(|m| m.get("ownerReferences"));
        for (i, r) in owners.map(Node::items).unwrap_or_default().iter().enumerate() {
            if let (Some(kind), Some(name)) =
                (r.get("kind").and_then(Node::as_str), r.get("name").and_then(Node::as_str))
            {
                self.link(kind, name, "owned-by", vec![], r, &index_path(&opath, i), false);
            }
        }
    }

    /// What a workload's pod spec uses, and the Services its literal
    /// environment values name as hosts (`DB_HOST: wordpress-mysql`,
    /// `http://api.shop.svc:80`).
    fn workload_links(&mut self) {
        let o = self.from;
        let Some((template, tpath)) = pod_template(&o.kind, o.node) else { return };
        let Some(spec) = template.get("spec") else { return };
        let base = if tpath.is_empty() { o.path.clone() } else { format!("{}.{tpath}", o.path) };
        let spath = key_path(&base, "spec");
        pod_spec_links(spec, &spath, self);
        pod_volume_links(spec, &spath, self);
        for field in ["containers", "initContainers"] {
            for (i, container) in spec.get(field).map(Node::items).unwrap_or_default().iter().enumerate() {
                let cpath = index_path(&key_path(&spath, field), i);
                for (j, env) in container.get("env").map(Node::items).unwrap_or_default().iter().enumerate() {
                    let (Some(var), Some(value)) =
                        (env.get("name").and_then(Node::as_str), env.get("value").and_then(Node::as_str))
                    else {
                        continue;
                    };
                    let mut named: Vec<&str> = Vec::new();
                    for token in value.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))) {
                        let host = token.split('.').next().unwrap_or(token);
                        if !host.is_empty()
                            && !named.contains(&host)
                            && self.by_name.contains_key(&(o.namespace.as_deref(), "Service", host))
                        {
                            named.push(host);
                            let attributes = vec![(Name::from("variable"), Value::String(var.into()))];
                            let epath = index_path(&key_path(&cpath, "env"), j);
                            self.link("Service", host, "env", attributes, env, &epath, true);
                        }
                    }
                }
            }
        }
    }

    /// Edges particular to a kind: Ingress backends, autoscaler targets,
    /// role bindings, storage classes.
    fn kind_links(&mut self) {
        let o = self.from;
        let spec = o.node.get("spec");
        let spath = key_path(&o.path, "spec");
        match o.kind.as_str() {
            "Ingress" => self.ingress_links(),
            "HorizontalPodAutoscaler" => {
                if let Some(t) = spec.and_then(|s| s.get("scaleTargetRef"))
                    && let (Some(kind), Some(name)) =
                        (t.get("kind").and_then(Node::as_str), t.get("name").and_then(Node::as_str))
                {
                    self.link(kind, name, "scales", vec![], t, &key_path(&spath, "scaleTargetRef"), false);
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                if let Some(r) = o.node.get("roleRef")
                    && let (Some(kind), Some(name)) =
                        (r.get("kind").and_then(Node::as_str), r.get("name").and_then(Node::as_str))
                {
                    self.link(kind, name, "binds", vec![], r, &key_path(&o.path, "roleRef"), false);
                }
                for (i, s) in o.node.get("subjects").map(Node::items).unwrap_or_default().iter().enumerate() {
                    if s.get("kind").and_then(Node::as_str) == Some("ServiceAccount")
                        && let Some(name) = s.get("name").and_then(Node::as_str)
                    {
                        let ns =
                            s.get("namespace").and_then(Node::as_str).or(o.namespace.as_deref()).unwrap_or("default");
                        let p = index_path(&key_path(&o.path, "subjects"), i);
                        self.link_in(Some(ns), "ServiceAccount", name, "binds", vec![], s, &p, false);
                    }
                }
            }
            "PersistentVolumeClaim" => {
                if let Some(spec) = spec
                    && let Some(sc) = spec.get("storageClassName").and_then(Node::as_str)
                    && self.by_name.contains_key(&(None, "StorageClass", sc))
                {
                    self.link("StorageClass", sc, "uses", vec![], spec, &spath, false);
                }
            }
            _ => {}
        }
    }

    /// An Ingress routes to the Services of its default backend and rules,
    /// with host, path and port as edge attributes.
    fn ingress_links(&mut self) {
        let o = self.from;
        let spec = o.node.get("spec");
        let spath = key_path(&o.path, "spec");
        let mut backends: Vec<Backend<'_>> = Vec::new();
        for field in ["defaultBackend", "backend"] {
            if let Some(b) = spec.and_then(|s| s.get(field)) {
                backends.push((b, key_path(&spath, field), Vec::new()));
            }
        }
        for (i, rule) in spec.and_then(|s| s.get("rules")).map(Node::items).unwrap_or_default().iter().enumerate() {
            let rpath = index_path(&key_path(&spath, "rules"), i);
            let paths = rule.get("http").and_then(|h| h.get("paths")).map(Node::items).unwrap_or_default();
            for (j, p) in paths.iter().enumerate() {
                if let Some(b) = p.get("backend") {
                    let ppath = index_path(&key_path(&key_path(&rpath, "http"), "paths"), j);
                    let mut attrs = Vec::new();
                    for (name, v) in [("host", rule.get("host")), ("path", p.get("path"))] {
                        if let Some(text) = v.and_then(Node::as_str) {
                            attrs.push((Name::from(name), Value::String(text.into())));
                        }
                    }
                    backends.push((b, key_path(&ppath, "backend"), attrs));
                }
            }
        }
        for (b, bpath, mut attributes) in backends {
            // networking.k8s.io/v1: backend.service.name; v1beta1: backend.serviceName.
            let service = b.get("service");
            let name = service.and_then(|s| s.get("name")).or_else(|| b.get("serviceName")).and_then(Node::as_str);
            let port = service
                .and_then(|s| s.get("port"))
                .and_then(|p| p.get("number").or_else(|| p.get("name")))
                .or_else(|| b.get("servicePort"))
                .and_then(Node::scalar_text);
            if let Some(name) = name {
                attributes.extend(port.map(|p| (Name::from("port"), Value::String(p.into()))));
                self.link("Service", name, "routes-to", attributes, b, &bpath, false);
            }
        }
    }
}

/// A Service selects the workloads of its namespace whose pod template
/// labels include its selector.
fn selector_links(ctx: &Ctx<'_>, service: &Object<'_>, objects: &[Object<'_>], draft: &mut Draft) {
    let spath = key_path(&key_path(&service.path, "spec"), "selector");
    let Some(selector) = service.node.get("spec").and_then(|s| s.get("selector")) else { return };
    let wanted: BTreeMap<&str, String> =
        selector.entries().iter().filter_map(|(k, v)| v.scalar_text().map(|t| (k.as_str(), t))).collect();
    if wanted.is_empty() {
        return;
    }
    let mut matched = 0;
    for w in objects.iter().filter(|w| w.namespace == service.namespace) {
        let Some((template, _)) = pod_template(&w.kind, w.node) else { continue };
        let labels = template.get("metadata").and_then(|m| m.get("labels"));
        let has = |k: &str, v: &String| labels.and_then(|l| l.get(k)).and_then(Node::scalar_text).as_ref() == Some(v);
        if wanted.iter().all(|(k, v)| has(k, v)) {
            matched += 1;
            draft.edge(DraftEdge {
                from: service.key.clone(),
                to: w.key.clone(),
                kind: EdgeKind::custom("selects"),
                attributes: vec![],
                relation: "selector",
                location: Arc::new(ctx.yloc(selector, &spath)),
            });
        }
    }
    if matched == 0 {
        draft.warn(ctx.yloc(selector, &spath), WarningKind::SelectsNothing { service: service.key.to_string() });
    }
}

fn object_key(namespace: Option<&str>, kind: &str, name: &str) -> std::result::Result<Key, karma_core::Error> {
    match namespace {
        Some(ns) => Key::parse(&format!("{ns}/{kind}/{name}")),
        None => Key::new(kind, name),
    }
}

/// The `ConfigMap`s, Secrets, claims and service account a pod spec uses.
fn pod_spec_links(spec: &Node, path: &str, linker: &mut Linker<'_, '_>) {
    let optional = |n: &Node| matches!(n.get("optional").map(|o| &o.data), Some(Data::Bool(true)));
    for field in ["containers", "initContainers", "ephemeralContainers"] {
        for (i, container) in spec.get(field).map(Node::items).unwrap_or_default().iter().enumerate() {
            let cpath = index_path(&key_path(path, field), i);
            let cname = container.get("name").and_then(Node::as_str).unwrap_or("").to_string();
            let attr = |pairs: &[(&str, &str)]| -> Vec<(Name, Value)> {
                let mut out = vec![(Name::from("container"), Value::String(cname.as_str().into()))];
                out.extend(pairs.iter().map(|(k, v)| (Name::from(*k), Value::String((*v).into()))));
                out
            };
            for (j, from) in container.get("envFrom").map(Node::items).unwrap_or_default().iter().enumerate() {
                let fpath = index_path(&key_path(&cpath, "envFrom"), j);
                for (field, kind, edge) in
                    [("configMapRef", "ConfigMap", "uses-config"), ("secretRef", "Secret", "uses-secret")]
                {
                    if let Some(r) = from.get(field)
                        && let Some(name) = r.get("name").and_then(Node::as_str)
                    {
                        linker.link(
                            kind,
                            name,
                            edge,
                            attr(&[("via", "envFrom")]),
                            r,
                            &key_path(&fpath, field),
                            optional(r),
                        );
                    }
                }
            }
            for (j, env) in container.get("env").map(Node::items).unwrap_or_default().iter().enumerate() {
                let epath = index_path(&key_path(&cpath, "env"), j);
                let var = env.get("name").and_then(Node::as_str).unwrap_or("");
                let Some(from) = env.get("valueFrom") else { continue };
                for (field, kind, edge) in
                    [("configMapKeyRef", "ConfigMap", "uses-config"), ("secretKeyRef", "Secret", "uses-secret")]
                {
                    if let Some(r) = from.get(field)
                        && let Some(name) = r.get("name").and_then(Node::as_str)
                    {
                        let key = r.get("key").and_then(Node::as_str).unwrap_or("");
                        let p = key_path(&key_path(&epath, "valueFrom"), field);
                        linker.link(kind, name, edge, attr(&[("variable", var), ("key", key)]), r, &p, optional(r));
                    }
                }
            }
        }
    }
    for (i, s) in spec.get("imagePullSecrets").map(Node::items).unwrap_or_default().iter().enumerate() {
        if let Some(name) = s.get("name").and_then(Node::as_str) {
            let p = index_path(&key_path(path, "imagePullSecrets"), i);
            linker.link(
                "Secret",
                name,
                "uses-secret",
                vec![(Name::from("via"), Value::String("imagePullSecrets".into()))],
                s,
                &p,
                false,
            );
        }
    }
    let account = spec.get("serviceAccountName").or_else(|| spec.get("serviceAccount"));
    if let Some(a) = account
        && let Some(name) = a.as_str()
    {
        linker.link(
            "ServiceAccount",
            name,
            "runs-as",
            vec![],
            a,
            &key_path(path, "serviceAccountName"),
            name == "default",
        );
    }
}

/// The `ConfigMap`s, Secrets and claims a pod spec's volumes use.
fn pod_volume_links(spec: &Node, path: &str, linker: &mut Linker<'_, '_>) {
    let optional = |n: &Node| matches!(n.get("optional").map(|o| &o.data), Some(Data::Bool(true)));
    for (i, v) in spec.get("volumes").map(Node::items).unwrap_or_default().iter().enumerate() {
        let vpath = index_path(&key_path(path, "volumes"), i);
        let vname = v.get("name").and_then(Node::as_str).unwrap_or("");
        let attrs = || vec![(Name::from("volume"), Value::String(vname.into()))];
        if let Some(c) = v.get("configMap")
            && let Some(name) = c.get("name").and_then(Node::as_str)
        {
            linker.link("ConfigMap", name, "uses-config", attrs(), c, &key_path(&vpath, "configMap"), optional(c));
        }
        if let Some(s) = v.get("secret")
            && let Some(name) = s.get("secretName").and_then(Node::as_str)
        {
            linker.link("Secret", name, "uses-secret", attrs(), s, &key_path(&vpath, "secret"), optional(s));
        }
        if let Some(c) = v.get("persistentVolumeClaim")
            && let Some(name) = c.get("claimName").and_then(Node::as_str)
        {
            linker.link(
                "PersistentVolumeClaim",
                name,
                "mounts",
                attrs(),
                c,
                &key_path(&vpath, "persistentVolumeClaim"),
                false,
            );
        }
        if let Some(p) = v.get("projected") {
            for (j, s) in p.get("sources").map(Node::items).unwrap_or_default().iter().enumerate() {
                let ppath = index_path(&key_path(&key_path(&vpath, "projected"), "sources"), j);
                for (field, kind, edge) in
                    [("configMap", "ConfigMap", "uses-config"), ("secret", "Secret", "uses-secret")]
                {
                    if let Some(r) = s.get(field)
                        && let Some(name) = r.get("name").and_then(Node::as_str)
                    {
                        linker.link(kind, name, edge, attrs(), r, &key_path(&ppath, field), optional(r));
                    }
                }
            }
        }
    }
}

/// Secret data: each value a secret (base64-decoded first for `data`).
fn secret_map(ctx: &Ctx<'_>, v: &Node, path: &str, base64: bool, secrets: &mut usize) -> Result<Value> {
    let entries = ctx.ymap(v, path).or_else(|e| if v.is_null() { Ok(&[][..]) } else { Err(e) })?;
    let mut out = BTreeMap::new();
    for (k, item) in entries {
        let kpath = key_path(path, k);
        let text = item.scalar_text().ok_or_else(|| ctx.ywrong(item, &kpath, "a string"))?;
        let limit = ctx.options.max_value_bytes;
        if text.len() > limit {
            return Err(ImportError::ValueTooLarge { location: ctx.yloc(item, &kpath), bytes: text.len(), limit });
        }
        let bytes = if base64 {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|e| {
                ImportError::UnexpectedType {
                    location: ctx.yloc(item, &kpath),
                    expected: "base64 data",
                    found: if matches!(e, base64::DecodeError::InvalidLength(_)) {
                        "text of a wrong length"
                    } else {
                        "other text"
                    },
                }
            })?
        } else {
            text.into_bytes()
        };
        *secrets += 1;
        out.insert(Name::from(k.as_str()), secret(&ctx.options.salt, bytes));
    }
    Ok(Value::Map(out))
}

/// A field's value, with literal environment values that are credentials
/// held as secrets (`env: [{name: DB_PASSWORD, value: ...}]`).
fn params_value(ctx: &Ctx<'_>, v: &Node, path: &str, secrets: &mut usize) -> Result<Value> {
    match &v.data {
        Data::Map(entries) => {
            let mut out = BTreeMap::new();
            for (k, item) in entries {
                let kpath = key_path(path, k);
                let value = if k == "env" && matches!(item.data, Data::Seq(_)) {
                    let mut list = Vec::new();
                    for (i, e) in item.items().iter().enumerate() {
                        let epath = index_path(&kpath, i);
                        let mut value = ctx.yvalue(e, &epath)?;
                        if let (Some(name), Some(text)) =
                            (e.get("name").and_then(Node::as_str), e.get("value").and_then(Node::as_str))
                            && let Value::Map(m) = &mut value
                        {
                            m.insert(Name::from("value"), env_value(&ctx.options.salt, name, text, secrets));
                        }
                        list.push(value);
                    }
                    Value::List(list)
                } else {
                    params_value(ctx, item, &kpath, secrets)?
                };
                out.insert(Name::from(k.as_str()), value);
            }
            Ok(Value::Map(out))
        }
        Data::Seq(items) => Ok(Value::List(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| params_value(ctx, n, &index_path(path, i), secrets))
                .collect::<Result<_>>()?,
        )),
        _ => ctx.yvalue(v, path),
    }
}
