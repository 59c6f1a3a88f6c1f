//! Compose files: services, networks, volumes, secrets and configs, and the
//! relations between them.
//!
//! # Mapping
//!
//! - Each service is a component of kind `service` keyed `service/<name>`
//!   (`<project>/service/<name>` with [`Options::project`]); top-level
//!   networks, volumes, secrets and configs likewise (`network/front`...).
//!   Services that name no network join the implicit `network/default`,
//!   as Compose does.
//! - Every field of a service is a param, as written (merge keys applied);
//!   `environment` in list form (`KEY=value`) becomes a map. Environment
//!   values that are credentials (by name, e.g. `POSTGRES_PASSWORD`, or a
//!   URL with a password) are held as secrets.
//! - Edges (*from depends on to*): `depends_on` in short and long form
//!   (depends-on, with `condition`, `restart` and `required` as edge
//!   attributes), `links` (`link`, with the alias), `networks` (`network`),
//!   named volumes and `volumes_from` (`volume`), `secrets` (`secret`),
//!   `configs` (`config`), `network_mode: service:x` (`network`), and
//!   environment values that name another service as a host (`env`, with the
//!   variable as attribute: `DATABASE_URL: postgres://db:5432/x` → `db`).
//! - `x-*` extension fields are templates for anchors: not imported, as the
//!   Compose specification says. `extends` is kept as a param and reported
//!   as not followed.
//!
//! A `depends_on` cycle is an error, as it is for Compose.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use karma_core::{Component, EdgeKind, Key, Name, Value};

use crate::draft::{Draft, DraftEdge};
use crate::error::{ImportError, Location, WarningKind};
use crate::json::Ctx;
use crate::secrets::env_value;
use crate::yaml::{Data, Node, index_path, key_path};
use crate::{Format, Import, Options, Result};

/// The kinds of the components a Compose file makes.
pub const KINDS: [&str; 5] = ["service", "network", "volume", "secret", "config"];

/// Imports a Compose file.
/// Imports a Compose file.
pub fn import(text: &str, options: &Options) -> Result<Import> {
    let ctx = Ctx::new(options);
    let docs = ctx.parse_yaml(text)?;
    let Some(doc) = docs.first() else {
        return Err(ImportError::Missing { location: ctx.loc(""), field: "services" });
    };
    if docs.len() > 1 {
        return Err(ImportError::Unsupported {
            location: ctx.yloc(&docs[1], "[doc 1]"),
            message: "a Compose file has one document".into(),
        });
    }
    let root = ctx.ymap(doc, "")?;
    let mut c = Compose { ctx, draft: Draft::default(), implicit_default: false, secrets: 0, hosts: BTreeMap::new() };
    c.top_level(doc, root)?;
    let services_node =
        doc.get("services").ok_or_else(|| ImportError::Missing { location: c.ctx.loc(""), field: "services" })?;
    let services = c.ctx.ymap(services_node, "services")?;
    c.hosts = hosts(services);
    for (name, body) in services {
        c.service(name, body)?;
    }
    let location = c.ctx.loc("networks");
    let default = c.key("network", "default", &location)?;
    if c.implicit_default && !c.draft.contains(&default) {
        let n = Component::with_key(default, "network", "default").with_label("compose.implicit", "true");
        c.draft.add(n, location)?;
    }
    c.draft.check_acyclic(&EdgeKind::DependsOn)?;
    c.draft.secrets = c.secrets;
    c.draft.finish(Format::Compose, options.time)
}

/// Names another service may be reached by on the network: its name,
/// `container_name`, `hostname` and network aliases.
fn hosts(services: &[(String, Node)]) -> BTreeMap<String, String> {
    let mut hosts = BTreeMap::new();
    for (name, body) in services {
        hosts.insert(name.clone(), name.clone());
        for field in ["container_name", "hostname"] {
            if let Some(h) = body.get(field).and_then(Node::as_str) {
                hosts.insert(h.to_string(), name.clone());
            }
        }
        for (_, net) in body.get("networks").map(Node::entries).unwrap_or_default() {
            for alias in net.get("aliases").map(Node::items).unwrap_or_default() {
                if let Some(a) = alias.as_str() {
                    hosts.insert(a.to_string(), name.clone());
                }
            }
        }
    }
    hosts
}

struct Compose<'o> {
    ctx: Ctx<'o>,
    draft: Draft,
    implicit_default: bool,
    secrets: usize,
    hosts: BTreeMap<String, String>,
}

/// The edges one service makes, waiting for the service to be added.
struct Edges<'a> {
    from: &'a Key,
    out: Vec<DraftEdge>,
}

impl Edges<'_> {
    fn push(&mut self, to: Key, kind: EdgeKind, attributes: Vec<(Name, Value)>, relation: &'static str, at: Location) {
        self.out.push(DraftEdge { from: self.from.clone(), to, kind, attributes, relation, location: Arc::new(at) });
    }
}

impl Compose<'_> {
    fn key(&self, kind: &str, name: &str, at: &Location) -> Result<Key> {
        let key = match &self.ctx.options.project {
            Some(p) => Key::parse(&format!("{p}/{kind}/{name}")),
            None => Key::new(kind, name),
        };
        key.map_err(|source| ImportError::model(at.clone(), source))
    }

    /// Top-level networks, volumes, secrets and configs; other unknown
    /// top-level fields are reported.
    fn top_level(&mut self, doc: &Node, root: &[(String, Node)]) -> Result<()> {
        let ctx = &self.ctx;
        for (section, kind) in
            [("networks", "network"), ("volumes", "volume"), ("secrets", "secret"), ("configs", "config")]
        {
            let Some(node) = doc.get(section).filter(|n| !n.is_null()) else { continue };
            for (name, body) in ctx.ymap(node, section)? {
                let path = key_path(section, name);
                if !body.is_null() && !matches!(body.data, Data::Map(_)) {
                    return Err(ctx.ywrong(body, &path, "a mapping"));
                }
                let location = ctx.yloc(body, &path);
                let mut c = Component::with_key(self.key(kind, name, &location)?, kind, name.as_str());
                for (field, v) in body.entries() {
                    c = c.with_param(field.as_str(), ctx.yvalue(v, &key_path(&path, field))?);
                }
                self.draft.add(c, location)?;
            }
        }
        for (field, node) in root {
            let known = matches!(
                field.as_str(),
                "services" | "networks" | "volumes" | "secrets" | "configs" | "version" | "name"
            );
            if !known && !field.starts_with("x-") {
                let what = format!("top-level field `{field}`");
                self.draft.warn(self.ctx.yloc(node, field), WarningKind::NotImported { what });
            }
        }
        Ok(())
    }

    fn service(&mut self, name: &str, body: &Node) -> Result<()> {
        let path = key_path("services", name);
        if !body.is_null() {
            self.ctx.ymap(body, &path)?;
        }
        let location = self.ctx.yloc(body, &path);
        let me = self.key("service", name, &location)?;
        let mut c = Component::with_key(me.clone(), "service", name);
        let mut edges = Edges { from: &me, out: Vec::new() };
        let mut joined_network = false;
        for (field, v) in body.entries() {
            let fpath = key_path(&path, field);
            let value = if field == "environment" {
                environment(&self.ctx, v, &fpath, &mut self.secrets)?
            } else {
                self.ctx.yvalue(v, &fpath)?
            };
            c = c.with_param(field.as_str(), value);
            joined_network |= self.field_edges(field, v, &fpath, &mut edges)?;
        }
        if !joined_network {
            self.implicit_default = true;
            edges.push(
                self.key("network", "default", &location)?,
                EdgeKind::custom("network"),
                vec![],
                "networks",
                location.clone(),
            );
        }
        if let Some(env) = body.get("environment") {
            self.env_edges(name, env, &key_path(&path, "environment"), &mut edges)?;
        }
        let edges = edges.out;
        self.draft.add(c, location)?;
        for e in edges {
            self.draft.edge(e);
        }
        Ok(())
    }

    /// The edges one field of a service makes; true if it puts the service
    /// on a network of its own choosing.
    fn field_edges(&mut self, field: &str, v: &Node, fpath: &str, edges: &mut Edges<'_>) -> Result<bool> {
        let ctx = &self.ctx;
        let mut joined = false;
        match field {
            "depends_on" | "networks" => {
                let (kind, edge) = if field == "depends_on" {
                    ("service", EdgeKind::DependsOn)
                } else {
                    joined = true;
                    ("network", EdgeKind::custom("network"))
                };
                let relation = if field == "depends_on" { "depends_on" } else { "networks" };
                // Short form: a list of names; long form: a map of name → options.
                let targets: Vec<(&str, Option<&Node>, String, &Node)> = match &v.data {
                    Data::Seq(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let ipath = index_path(fpath, i);
                            ctx.ystr(item, &ipath).map(|t| (t, None, ipath, item))
                        })
                        .collect::<Result<_>>()?,
                    Data::Map(entries) => {
                        entries.iter().map(|(t, o)| (t.as_str(), Some(o), key_path(fpath, t), o)).collect()
                    }
                    _ => return Err(ctx.ywrong(v, fpath, "a sequence or a mapping")),
                };
                for (target, opts, tpath, at) in targets {
                    self.implicit_default |= kind == "network" && target == "default";
                    let mut attributes = Vec::new();
                    for (k, o) in opts.map(Node::entries).unwrap_or_default() {
                        attributes.push((Name::from(k.as_str()), ctx.yvalue(o, &key_path(&tpath, k))?));
                    }
                    let location = ctx.yloc(at, &tpath);
                    edges.push(self.key(kind, target, &location)?, edge.clone(), attributes, relation, location);
                }
            }
            "links" => {
                for (i, item) in seq(ctx, v, fpath)?.iter().enumerate() {
                    let ipath = index_path(fpath, i);
                    let text = ctx.ystr(item, &ipath)?;
                    let (target, alias) = text.split_once(':').unwrap_or((text, text));
                    let attributes = vec![(Name::from("alias"), Value::String(alias.into()))];
                    let location = ctx.yloc(item, &ipath);
                    edges.push(
                        self.key("service", target, &location)?,
                        EdgeKind::custom("link"),
                        attributes,
                        "links",
                        location,
                    );
                }
            }
            "network_mode" => {
                joined = true;
                if let Some(target) = v.as_str().and_then(|m| m.strip_prefix("service:")) {
                    let location = ctx.yloc(v, fpath);
                    edges.push(
                        self.key("service", target, &location)?,
                        EdgeKind::custom("network"),
                        vec![],
                        "network_mode",
                        location,
                    );
                }
            }
            "volumes" | "volumes_from" | "secrets" | "configs" => self.mount_edges(field, v, fpath, edges)?,
            "extends" => {
                let what = "`extends` is kept as a param, not followed".into();
                self.draft.warn(ctx.yloc(v, fpath), WarningKind::NotImported { what });
            }
            _ => {}
        }
        Ok(joined)
    }

    /// Named volumes, `volumes_from`, secrets and configs a service uses.
    fn mount_edges(&self, field: &str, v: &Node, fpath: &str, edges: &mut Edges<'_>) -> Result<()> {
        let ctx = &self.ctx;
        match field {
            "volumes" => {
                for (i, item) in seq(ctx, v, fpath)?.iter().enumerate() {
                    let ipath = index_path(fpath, i);
                    let (source, target) = volume_mount(ctx, item, &ipath)?;
                    // A named volume: not a path (bind mounts start with `/`, `.` or `~`).
                    let named =
                        source.filter(|s| !s.is_empty() && !s.starts_with(['/', '.', '~', '$']) && !s.contains('/'));
                    if let Some(source) = named {
                        let attributes =
                            target.map(|t| vec![(Name::from("target"), Value::String(t.into()))]).unwrap_or_default();
                        let location = ctx.yloc(item, &ipath);
                        edges.push(
                            self.key("volume", &source, &location)?,
                            EdgeKind::custom("volume"),
                            attributes,
                            "volumes",
                            location,
                        );
                    }
                }
            }
            "volumes_from" => {
                for (i, item) in seq(ctx, v, fpath)?.iter().enumerate() {
                    let ipath = index_path(fpath, i);
                    let text = ctx.ystr(item, &ipath)?;
                    if !text.starts_with("container:") {
                        let target = text.split(':').next().unwrap_or(text);
                        let location = ctx.yloc(item, &ipath);
                        edges.push(
                            self.key("service", target, &location)?,
                            EdgeKind::custom("volume"),
                            vec![],
                            "volumes_from",
                            location,
                        );
                    }
                }
            }
            "secrets" | "configs" => {
                let kind = if field == "secrets" { "secret" } else { "config" };
                for (i, item) in seq(ctx, v, fpath)?.iter().enumerate() {
                    let ipath = index_path(fpath, i);
                    let source = match &item.data {
                        Data::Str(s) => s.as_str(),
                        Data::Map(_) => item.get("source").and_then(Node::as_str).ok_or_else(|| {
                            ImportError::Missing { location: ctx.yloc(item, &ipath), field: "source" }
                        })?,
                        _ => return Err(ctx.ywrong(item, &ipath, "a string or a mapping")),
                    };
                    let location = ctx.yloc(item, &ipath);
                    let relation = if field == "secrets" { "secrets" } else { "configs" };
                    edges.push(self.key(kind, source, &location)?, EdgeKind::custom(kind), vec![], relation, location);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Environment values naming another service as a host: one edge per
    /// service named, listing the variables.
    fn env_edges(&self, me: &str, env: &Node, epath: &str, edges: &mut Edges<'_>) -> Result<()> {
        let mut named: BTreeSet<(String, String)> = BTreeSet::new();
        for (var, value, _) in env_pairs(&self.ctx, env, epath)? {
            for token in value.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
                if let Some(target) = self.hosts.get(token).filter(|t| *t != me) {
                    named.insert((target.clone(), var.clone()));
                }
            }
        }
        for (target, var) in named {
            let attributes = vec![(Name::from("variable"), Value::String(var.as_str().into()))];
            let location = self.ctx.yloc(env, epath);
            edges.push(
                self.key("service", &target, &location)?,
                EdgeKind::custom("env"),
                attributes,
                "environment",
                location,
            );
        }
        Ok(())
    }
}

/// A `volumes` entry's source and target, short (`src:dst[:mode]`) or long form.
fn volume_mount(ctx: &Ctx<'_>, item: &Node, path: &str) -> Result<(Option<String>, Option<String>)> {
    Ok(match &item.data {
        Data::Str(s) => {
            let mut parts = s.splitn(3, ':');
            let source = parts.next().unwrap_or("").to_string();
            (Some(source), parts.next().map(str::to_string))
        }
        Data::Map(_) => {
            let is_volume = item.get("type").and_then(Node::as_str).is_none_or(|t| t == "volume");
            let source = if is_volume { item.get("source").and_then(Node::as_str).map(str::to_string) } else { None };
            (source, item.get("target").and_then(Node::as_str).map(str::to_string))
        }
        _ => return Err(ctx.ywrong(item, path, "a string or a mapping")),
    })
}

fn seq<'n>(ctx: &Ctx<'_>, v: &'n Node, path: &str) -> Result<&'n [Node]> {
    match &v.data {
        Data::Seq(items) => Ok(items),
        Data::Null => Ok(&[]),
        _ => Err(ctx.ywrong(v, path, "a sequence")),
    }
}

/// `environment` as (name, value, node) pairs, from the map or the
/// `KEY=value` list form.
fn env_pairs<'n>(ctx: &Ctx<'_>, env: &'n Node, path: &str) -> Result<Vec<(String, String, &'n Node)>> {
    match &env.data {
        Data::Map(entries) => {
            Ok(entries.iter().map(|(k, v)| (k.clone(), v.scalar_text().unwrap_or_default(), v)).collect())
        }
        Data::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let text = ctx.ystr(item, &index_path(path, i))?;
                let (k, v) = text.split_once('=').unwrap_or((text, ""));
                Ok((k.to_string(), v.to_string(), item))
            })
            .collect(),
        Data::Null => Ok(Vec::new()),
        _ => Err(ctx.ywrong(env, path, "a mapping or a sequence")),
    }
}

/// The `environment` param: a map, credentials as secrets.
fn environment(ctx: &Ctx<'_>, env: &Node, path: &str, secrets: &mut usize) -> Result<Value> {
    let mut out = BTreeMap::new();
    for (k, v, node) in env_pairs(ctx, env, path)? {
        let value = if node.is_null() || matches!(node.data, Data::Str(_)) || matches!(env.data, Data::Seq(_)) {
            if node.is_null() && matches!(env.data, Data::Map(_)) {
                Value::Null // `KEY:` with no value: taken from the shell
            } else {
                env_value(&ctx.options.salt, &k, &v, secrets)
            }
        } else {
            ctx.yvalue(node, &key_path(path, &k))?
        };
        out.insert(Name::from(k.as_str()), value);
    }
    Ok(Value::Map(out))
}
