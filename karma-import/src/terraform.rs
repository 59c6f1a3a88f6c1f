//! Terraform: states (`terraform show -json` and raw `terraform.tfstate`
//! version 4), plans (`terraform show -json <planfile>`), histories of
//! states, and export back to state-shaped JSON.
//!
//! # Mapping
//!
//! - A resource instance is a component keyed by its address
//!   (`module.vpc.aws_subnet.private[0]`), of kind its resource type
//!   (`aws_subnet`), named `private[0]`, labelled `tf.mode` (`managed` or
//!   `data`), `tf.module` (when in a module) and `tf.provider`.
//! - Each attribute is a param, unknown ones included; sensitive values
//!   (`sensitive_values`, `sensitive_attributes`, `*_sensitive`) are held as
//!   secrets. Instance fields other than the attributes become params named
//!   `tf:<field>` (e.g. `tf:status` for a tainted instance), except the
//!   provider's opaque `private` blob, which is not imported.
//! - `dependencies` / `depends_on` become depends-on edges to every
//!   instance of the named resource.
//! - With a configuration (plans), each attribute's `references` become
//!   **attribute-level** references: where the attribute's value is the
//!   producer attribute's value (or is unknown until apply), the param is
//!   set to a reference to the producer's output of that name
//!   (`subnet_id = aws_subnet.main.id`), list and map elements likewise; the
//!   producer gets that output with its value. Where the value is computed
//!   from the reference (string interpolation, `jsonencode`...), the
//!   concrete value is kept and a companion param `<attribute>@refs` holds
//!   the references. `var.*` and `module.*` references are followed through
//!   module calls and module outputs to the resources behind them.
//! - Root outputs are components of kind `output` keyed `output.<name>`,
//!   their value in param `value`.
//!
//! ```
//! use karma_import::{terraform, Options};
//!
//! let state = r#"{"version": 4, "serial": 1, "resources": [
//!   {"mode": "managed", "type": "aws_vpc", "name": "main", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
//!    "instances": [{"attributes": {"id": "vpc-1", "cidr_block": "10.0.0.0/16"}}]},
//!   {"mode": "managed", "type": "aws_subnet", "name": "a", "each": "list", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
//!    "instances": [{"index_key": 0, "attributes": {"id": "subnet-1", "vpc_id": "vpc-1"}, "dependencies": ["aws_vpc.main"]}]}
//! ]}"#;
//! let import = terraform::import_state(state, &Options::file("terraform.tfstate"))?;
//! let subnet = import.snapshot.get(&"aws_subnet.a[0]".parse()?).unwrap();
//! assert_eq!(subnet.kind(), "aws_subnet");
//! assert_eq!(import.snapshot.dependencies(subnet.key())[0].as_str(), "aws_vpc.main");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

use karma_core::{Component, Delta, EdgeKind, Graph, Key, ManualClock, Name, Snapshot, Timestamp, Value};
use serde_json::{Map, Value as Json};

use crate::draft::{Draft, DraftEdge};
use crate::error::{ImportError, Location, WarningKind};
use crate::json::{Ctx, child};
use crate::{Format, Import, ImportReport, Options, Result};

/// Label naming the resource mode (`managed` or `data`).
pub const LABEL_MODE: &str = "tf.mode";
/// Label naming the module a resource is in (`module.vpc`), absent at the root.
pub const LABEL_MODULE: &str = "tf.module";
/// Label naming the provider.
pub const LABEL_PROVIDER: &str = "tf.provider";
/// The kind of components made from root outputs.
pub const OUTPUT_KIND: &str = "output";

/// Imports a state: `terraform show -json` output or a raw
/// `terraform.tfstate` (version 4), told apart by their shape.
pub fn import_state(text: &str, options: &Options) -> Result<Import> {
    let mut ctx = Ctx::new(options);
    let doc = ctx.parse(text)?;
    let root = ctx.object(&doc, "")?;
    let (format, state) = if root.contains_key("resources") || root.contains_key("version") {
        (Format::TerraformStateV4, read_raw_state(&ctx, root)?)
    } else if root.contains_key("planned_values") || root.contains_key("resource_changes") {
        return Err(ImportError::Unsupported {
            location: ctx.loc(""),
            message: "this is a plan; use terraform::import_plan".into(),
        });
    } else {
        (Format::TerraformShowState, read_show_state(&ctx, root, "")?)
    };
    let draft = build(&mut ctx, format, &state, None, &Unknowns::default())?;
    drop(state);
    // The parsed document is large and no longer needed: free it on the
    // other core while the graph is built.
    let (import, ()) = rayon::join(|| draft.finish(format, options.time), move || drop(doc));
    import
}

/// A plan: the state before, the state planned, and what differs.
#[derive(Clone, Debug)]
pub struct PlanImport {
    /// The prior state (empty for a first apply).
    pub base: Import,
    /// The planned state; values known only after apply are null, or
    /// references where the configuration says where they come from.
    pub planned: Import,
    /// `base` → `planned`: feed it to karma-query's change impact for the
    /// plan's parameter-level blast radius.
    pub delta: Delta,
    /// Every `resource_changes` entry that is not a no-op.
    pub changes: Vec<ResourceChange>,
    /// Every `resource_drift` entry: changes made outside Terraform.
    pub drift: Vec<DriftFinding>,
}

/// What the plan does to one resource instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    /// Its address.
    pub address: String,
    /// Its component key.
    pub key: Key,
    /// Terraform's actions, e.g. `["update"]`, `["delete", "create"]`.
    pub actions: Vec<String>,
    /// Attributes whose change forces replacement (`replace_paths`), as
    /// paths like `ami` or `ebs_block_device[0].size`.
    pub replace_paths: Vec<String>,
    /// Top-level attributes known only after apply.
    pub unknown_after: Vec<String>,
    /// Terraform's `action_reason`, when given.
    pub reason: Option<String>,
}

impl ResourceChange {
    /// Whether the instance is destroyed and created again.
    pub fn is_replace(&self) -> bool {
        self.actions.iter().any(|a| a == "delete") && self.actions.iter().any(|a| a == "create")
    }
}

/// A resource that changed outside Terraform (`resource_drift`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftFinding {
    /// Its address.
    pub address: String,
    /// Its component key.
    pub key: Key,
    /// The attributes that differ, with the recorded and the found value
    /// (secrets as digests).
    pub params: Vec<DriftedParam>,
    /// Where in the plan.
    pub location: Location,
}

/// One drifted attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftedParam {
    /// The attribute.
    pub name: Name,
    /// What the state recorded (`None`: absent).
    pub recorded: Option<Value>,
    /// What the refresh found (`None`: absent).
    pub found: Option<Value>,
}

/// Imports a plan (`terraform show -json <planfile>`): the prior state, the
/// planned state (with attribute-level references from the
/// configuration), the delta between them, the changes and the drift.
pub fn import_plan(text: &str, options: &Options) -> Result<PlanImport> {
    let mut ctx = Ctx::new(options);
    let doc = ctx.parse(text)?;
    let root = ctx.object(&doc, "")?;
    if !root.contains_key("planned_values") && !root.contains_key("resource_changes") {
        return Err(ImportError::Missing { location: ctx.loc(""), field: "planned_values" });
    }
    let config = match ctx.opt_object(root, "configuration", "")? {
        Some(c) => Some(Config::read(&ctx, c)?),
        None => None,
    };
    let prior = match ctx.opt_object(root, "prior_state", "")? {
        Some(p) => read_show_state(&ctx, p, "/prior_state")?,
        None => State::default(),
    };
    let mut planned = match ctx.opt_object(root, "planned_values", "")? {
        Some(p) => read_values(&ctx, p, "/planned_values")?,
        None => State::default(),
    };
    // Dependencies: the planned values carry none; take the prior state's and
    // the configuration's `depends_on`.
    let prior_deps: HashMap<&str, &Vec<Cow<'_, str>>> =
        prior.instances.iter().map(|i| (i.address.as_str(), &i.depends_on)).collect();
    for inst in &mut planned.instances {
        if let Some(deps) = prior_deps.get(inst.address.as_str()) {
            inst.depends_on.clone_from(*deps);
        }
        if let Some(config) = &config {
            for dep in config.depends_on(inst) {
                if !inst.depends_on.iter().any(|d| *d == dep) {
                    inst.depends_on.push(Cow::Owned(dep));
                }
            }
        }
    }
    let mut unknowns = Unknowns::default();
    let mut changes = Vec::new();
    if let Some(rcs) = ctx.opt_array(root, "resource_changes", "")? {
        for (i, rc) in rcs.iter().enumerate() {
            let path = child("/resource_changes", &i.to_string());
            let rc = ctx.object(rc, &path)?;
            let address = ctx.str_field(rc, "address", &path)?.to_string();
            let change = ctx.object(ctx.field(rc, "change", &path)?, &child(&path, "change"))?;
            let cpath = child(&path, "change");
            let actions: Vec<String> = ctx
                .array(ctx.field(change, "actions", &cpath)?, &child(&cpath, "actions"))?
                .iter()
                .enumerate()
                .map(|(j, a)| ctx.string(a, &child(&child(&cpath, "actions"), &j.to_string())).map(str::to_string))
                .collect::<Result<_>>()?;
            let after_unknown = change.get("after_unknown").cloned().unwrap_or(Json::Null);
            let mut unknown_after: Vec<String> = match &after_unknown {
                Json::Object(o) => o.iter().filter(|(_, v)| **v == Json::Bool(true)).map(|(k, _)| k.clone()).collect(),
                _ => Vec::new(),
            };
            unknown_after.sort();
            if let Some(after_sensitive) = change.get("after_sensitive") {
                unknowns.sensitive.insert(address.clone(), after_sensitive.clone());
            }
            unknowns.after.insert(address.clone(), after_unknown);
            if actions == ["no-op"] || actions == ["read"] && rc.get("mode").and_then(Json::as_str) == Some("data") {
                continue;
            }
            let replace_paths = match ctx.opt_array(change, "replace_paths", &cpath)? {
                Some(ps) => ps.iter().map(path_text).collect(),
                None => Vec::new(),
            };
            let key = Key::parse(&address).map_err(|source| ImportError::model(ctx.loc(&path), source))?;
            let reason = rc.get("action_reason").and_then(Json::as_str).map(str::to_string);
            changes.push(ResourceChange { address, key, actions, replace_paths, unknown_after, reason });
        }
    }
    if let Some(ocs) = ctx.opt_object(root, "output_changes", "")? {
        for (name, oc) in ocs {
            if let Some(u) = oc.get("after_unknown") {
                unknowns.outputs.insert(name.clone(), u.clone());
            }
        }
    }
    let drift = read_drift(&mut ctx, root)?;

    let secrets_before = ctx.secrets;
    let base = build(&mut ctx, Format::TerraformPlan, &prior, config.as_ref(), &Unknowns::default())?
        .finish(Format::TerraformPlan, options.time)?;
    ctx.secrets = secrets_before;
    let planned = build(&mut ctx, Format::TerraformPlan, &planned, config.as_ref(), &unknowns)?
        .finish(Format::TerraformPlan, options.time)?;
    let delta = base.snapshot.diff(&planned.snapshot);
    Ok(PlanImport { base, planned, delta, changes, drift })
}

/// One state of a history, as committed.
#[derive(Clone, Debug)]
pub struct HistoryStep {
    /// When this state was recorded.
    pub time: Timestamp,
    /// The state's `serial`, when it has one.
    pub serial: Option<u64>,
    /// The graph at this step: versions and change times carried over from
    /// the step before.
    pub snapshot: Snapshot,
    /// What changed since the step before (everything, for the first).
    pub delta: Delta,
    /// This state's import report.
    pub report: ImportReport,
}

/// Imports several states of one workspace, oldest first, into a history:
/// each step's snapshot continues the one before, so versions count and
/// each param remembers when it last changed. Commit the steps to a
/// `karma_store::Repository` with `commit_delta` or `commit` to keep them.
///
/// States whose `lineage` differs from the first one's (another workspace),
/// or whose `serial` goes backwards, are refused.
pub fn history<'a>(
    states: impl IntoIterator<Item = (Timestamp, &'a str)>,
    options: &Options,
) -> Result<Vec<HistoryStep>> {
    let mut steps: Vec<HistoryStep> = Vec::new();
    let mut graph: Option<(Graph, ManualClock)> = None;
    let mut lineage: Option<String> = None;
    for (n, (time, text)) in states.into_iter().enumerate() {
        let mut opts = options.clone();
        opts.time = time;
        let location = Location::new(crate::draft::file_name(opts.file.as_deref()).as_ref(), format!("state {n}"));
        let import = import_state(text, &opts)?;
        let head: Json = serde_json::from_str(text).unwrap_or(Json::Null);
        let serial = head.get("serial").and_then(Json::as_u64);
        if let Some(l) = head.get("lineage").and_then(Json::as_str) {
            match &lineage {
                Some(first) if first != l => {
                    return Err(ImportError::Unsupported {
                        location,
                        message: format!("lineage {l} differs from the first state's {first}: another workspace"),
                    });
                }
                None => lineage = Some(l.to_string()),
                Some(_) => {}
            }
        }
        if let (Some(prev), Some(s)) = (steps.last().and_then(|p| p.serial), serial)
            && s < prev
        {
            return Err(ImportError::Unsupported {
                location,
                message: format!("serial {s} comes after serial {prev}: states must be in time order"),
            });
        }
        let (graph, clock) = graph.get_or_insert_with(|| {
            let clock = ManualClock::new(time);
            (Graph::with_clock(clock.clone()), clock)
        });
        clock.set(time);
        let before = graph.snapshot();
        crate::draft::advance(graph, &import.snapshot).map_err(|source| ImportError::model(location, source))?;
        let snapshot = graph.snapshot();
        let delta = before.diff(&snapshot);
        steps.push(HistoryStep { time, serial, snapshot, delta, report: import.report });
    }
    Ok(steps)
}

// ---------------------------------------------------------------------------
// Reading: both state formats and the plan's values into one shape.

/// Instances and outputs, borrowing their values from the parsed document.
#[derive(Default)]
struct State<'a> {
    instances: Vec<Instance<'a>>,
    outputs: Vec<Output<'a>>,
}

struct Instance<'a> {
    address: String,
    /// The module instance path, e.g. `module.a[0].module.b`; empty at the root.
    module: String,
    data: bool,
    ty: String,
    name: String,
    index: Option<Json>,
    provider: Option<String>,
    values: Cow<'a, Json>,
    sensitive: Cow<'a, Json>,
    /// Resource addresses (no index) it depends on.
    depends_on: Vec<Cow<'a, str>>,
    /// Its resource's address (no index), shared by the resource's instances.
    resource: Arc<str>,
    /// Instance fields that are neither attributes nor known bookkeeping.
    extra: Vec<(&'a str, &'a Json)>,
    path: String,
}

impl Instance<'_> {
    /// The module path without instance keys (`module.a.module.b`).
    fn config_module(&self) -> String {
        strip_indexes(&self.module)
    }
}

struct Output<'a> {
    name: String,
    value: Cow<'a, Json>,
    sensitive: bool,
    path: String,
}

fn resource_address(module: &str, data: bool, ty: &str, name: &str) -> String {
    let mut out = String::new();
    if !module.is_empty() {
        out.push_str(module);
        out.push('.');
    }
    if data {
        out.push_str("data.");
    }
    out.push_str(ty);
    out.push('.');
    out.push_str(name);
    out
}

fn index_suffix(index: Option<&Json>) -> String {
    match index {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => format!("[{}]", Json::String(s.clone())),
        Some(other) => format!("[{other}]"),
    }
}

/// `module.a[0].module.b["x"]` → `module.a.module.b`.
fn strip_indexes(module: &str) -> String {
    let mut out = String::with_capacity(module.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for c in module.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '"' if depth > 0 => in_string = true,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn read_raw_state<'a>(ctx: &Ctx<'_>, root: &'a Map<String, Json>) -> Result<State<'a>> {
    if let Some(v) = root.get("version") {
        match v.as_u64() {
            Some(4) => {}
            Some(n) => {
                return Err(ImportError::Unsupported {
                    location: ctx.loc("/version"),
                    message: format!("state version {n}; version 4 (Terraform 0.12 and later) is supported"),
                });
            }
            None => return Err(ctx.wrong(v, "/version", "a number")),
        }
    }
    let mut state = State::default();
    for (i, r) in ctx.opt_array(root, "resources", "")?.into_iter().flatten().enumerate() {
        let path = child("/resources", &i.to_string());
        let r = ctx.object(r, &path)?;
        let mode = ctx.str_field(r, "mode", &path)?;
        let ty = ctx.str_field(r, "type", &path)?.to_string();
        let name = ctx.str_field(r, "name", &path)?.to_string();
        let module = match r.get("module") {
            None | Some(Json::Null) => String::new(),
            Some(m) => ctx.string(m, &child(&path, "module"))?.to_string(),
        };
        let provider = r.get("provider").and_then(Json::as_str).map(str::to_string);
        let data = mode == "data";
        let resource: Arc<str> = Arc::from(resource_address(&module, data, &ty, &name));
        let instances = ctx.array(ctx.field(r, "instances", &path)?, &child(&path, "instances"))?;
        for (j, inst) in instances.iter().enumerate() {
            let ipath = child(&child(&path, "instances"), &j.to_string());
            let o = ctx.object(inst, &ipath)?;
            let values = ctx.field(o, "attributes", &ipath)?;
            ctx.object(values, &child(&ipath, "attributes"))?;
            let mut sensitive = Json::Null;
            if let Some(paths) = ctx.opt_array(o, "sensitive_attributes", &ipath)? {
                for (k, p) in paths.iter().enumerate() {
                    mark_sensitive(
                        ctx,
                        &mut sensitive,
                        p,
                        &child(&child(&ipath, "sensitive_attributes"), &k.to_string()),
                    )?;
                }
            }
            let depends_on = str_list(ctx, o, "dependencies", &ipath)?;
            let index = o.get("index_key").filter(|v| !v.is_null()).cloned();
            let extra = extra_fields(
                o,
                &["attributes", "sensitive_attributes", "dependencies", "index_key", "private", "schema_version"],
            );
            let address = format!("{resource}{}", index_suffix(index.as_ref()));
            state.instances.push(Instance {
                address,
                module: module.clone(),
                data,
                ty: ty.clone(),
                name: name.clone(),
                index,
                provider: provider.clone(),
                values: Cow::Borrowed(values),
                sensitive: Cow::Owned(sensitive),
                depends_on,
                resource: Arc::clone(&resource),
                extra,
                path: ipath,
            });
        }
    }
    if let Some(outputs) = ctx.opt_object(root, "outputs", "")? {
        read_outputs(ctx, outputs, "/outputs", &mut state)?;
    }
    Ok(state)
}

/// The fields of `o` not in `known`: kept as `tf:` params.
fn extra_fields<'a>(o: &'a Map<String, Json>, known: &[&str]) -> Vec<(&'a str, &'a Json)> {
    o.iter().filter(|(k, _)| !known.contains(&k.as_str())).map(|(k, v)| (k.as_str(), v)).collect()
}

/// Builds the sensitivity mask from one `sensitive_attributes` path: a list
/// of steps `{"type": "get_attr", "value": "password"}` or
/// `{"type": "index", "value": {"value": 0, "type": "number"}}`.
fn mark_sensitive(ctx: &Ctx<'_>, mask: &mut Json, steps: &Json, path: &str) -> Result<()> {
    let steps = ctx.array(steps, path)?;
    let mut here = mask;
    for (i, step) in steps.iter().enumerate() {
        let spath = child(path, &i.to_string());
        let s = ctx.object(step, &spath)?;
        let value = ctx.field(s, "value", &spath)?;
        let key = match value {
            Json::String(name) => Step::Key(name.clone()),
            Json::Object(o) => match o.get("value") {
                Some(Json::Number(n)) => Step::Index(n.as_u64().unwrap_or(0) as usize),
                Some(Json::String(k)) => Step::Key(k.clone()),
                Some(other) => return Err(ctx.wrong(other, &child(&spath, "value"), "a number or a string")),
                None => {
                    return Err(ImportError::Missing { location: ctx.loc(&child(&spath, "value")), field: "value" });
                }
            },
            other => return Err(ctx.wrong(other, &child(&spath, "value"), "a string or an object")),
        };
        here = match key {
            Step::Key(k) => {
                if !here.is_object() {
                    *here = Json::Object(Map::new());
                }
                here.as_object_mut().expect("made an object").entry(k).or_insert(Json::Null)
            }
            Step::Index(n) => {
                if !here.is_array() {
                    *here = Json::Array(Vec::new());
                }
                let a = here.as_array_mut().expect("made an array");
                if a.len() <= n {
                    a.resize(n + 1, Json::Null);
                }
                &mut a[n]
            }
        };
    }
    *here = Json::Bool(true);
    Ok(())
}

enum Step {
    Key(String),
    Index(usize),
}

/// A list of strings, borrowed from the document.
fn str_list<'a>(ctx: &Ctx<'_>, o: &'a Map<String, Json>, name: &str, path: &str) -> Result<Vec<Cow<'a, str>>> {
    let Some(items) = ctx.opt_array(o, name, path)? else { return Ok(Vec::new()) };
    let lpath = child(path, name);
    items.iter().enumerate().map(|(i, v)| ctx.string(v, &child(&lpath, &i.to_string())).map(Cow::Borrowed)).collect()
}

fn string_list(ctx: &Ctx<'_>, o: &Map<String, Json>, name: &str, path: &str) -> Result<Vec<String>> {
    let Some(items) = ctx.opt_array(o, name, path)? else { return Ok(Vec::new()) };
    let lpath = child(path, name);
    items.iter().enumerate().map(|(i, v)| ctx.string(v, &child(&lpath, &i.to_string())).map(str::to_string)).collect()
}

/// Refuses modules nested past 64 levels (a guard against malicious or
/// corrupt input recursing without end).
fn module_depth(ctx: &Ctx<'_>, path: &str, depth: usize) -> Result<()> {
    if depth > 64 {
        return Err(ImportError::Unsupported {
            location: ctx.loc(path),
            message: "modules nested deeper than 64".into(),
        });
    }
    Ok(())
}

/// `terraform show -json` of a state: `{"values": {"root_module": ..., "outputs": ...}}`.
fn read_show_state<'a>(ctx: &Ctx<'_>, root: &'a Map<String, Json>, path: &str) -> Result<State<'a>> {
    match ctx.opt_object(root, "values", path)? {
        Some(values) => read_values(ctx, values, &child(path, "values")),
        None => Ok(State::default()), // an empty state has no `values`
    }
}

/// A values object: `root_module` (recursively `child_modules`) and `outputs`.
fn read_values<'a>(ctx: &Ctx<'_>, values: &'a Map<String, Json>, path: &str) -> Result<State<'a>> {
    let mut state = State::default();
    if let Some(root) = ctx.opt_object(values, "root_module", path)? {
        read_module(ctx, root, &child(path, "root_module"), &mut state, 0)?;
    }
    if let Some(outputs) = ctx.opt_object(values, "outputs", path)? {
        read_outputs(ctx, outputs, &child(path, "outputs"), &mut state)?;
    }
    Ok(state)
}

fn read_module<'a>(
    ctx: &Ctx<'_>,
    m: &'a Map<String, Json>,
    path: &str,
    state: &mut State<'a>,
    depth: usize,
) -> Result<()> {
    module_depth(ctx, path, depth)?;
    let module = m.get("address").and_then(Json::as_str).unwrap_or("").to_string();
    for (i, r) in ctx.opt_array(m, "resources", path)?.into_iter().flatten().enumerate() {
        let rpath = child(&child(path, "resources"), &i.to_string());
        let r = ctx.object(r, &rpath)?;
        let address = ctx.str_field(r, "address", &rpath)?.to_string();
        let data = r.get("mode").and_then(Json::as_str) == Some("data");
        let ty = ctx.str_field(r, "type", &rpath)?.to_string();
        let name = ctx.str_field(r, "name", &rpath)?.to_string();
        let resource = Arc::from(resource_address(&module, data, &ty, &name));
        let values = match r.get("values") {
            None | Some(Json::Null) => Cow::Owned(Json::Object(Map::new())),
            Some(v) => {
                ctx.object(v, &child(&rpath, "values"))?;
                Cow::Borrowed(v)
            }
        };
        let index = r.get("index").filter(|v| !v.is_null()).cloned();
        let extra = extra_fields(
            r,
            &[
                "address",
                "mode",
                "type",
                "name",
                "index",
                "provider_name",
                "schema_version",
                "values",
                "sensitive_values",
                "depends_on",
            ],
        );
        state.instances.push(Instance {
            address,
            module: module.clone(),
            data,
            ty,
            name,
            index,
            provider: r.get("provider_name").and_then(Json::as_str).map(str::to_string),
            values,
            sensitive: r.get("sensitive_values").map_or(Cow::Owned(Json::Null), Cow::Borrowed),
            depends_on: str_list(ctx, r, "depends_on", &rpath)?,
            resource,
            extra,
            path: rpath,
        });
    }
    for (i, c) in ctx.opt_array(m, "child_modules", path)?.into_iter().flatten().enumerate() {
        let cpath = child(&child(path, "child_modules"), &i.to_string());
        read_module(ctx, ctx.object(c, &cpath)?, &cpath, state, depth + 1)?;
    }
    Ok(())
}

fn read_outputs<'a>(ctx: &Ctx<'_>, outputs: &'a Map<String, Json>, path: &str, state: &mut State<'a>) -> Result<()> {
    for (name, o) in outputs {
        let opath = child(path, name);
        let o = ctx.object(o, &opath)?;
        state.outputs.push(Output {
            name: name.clone(),
            value: o.get("value").map_or(Cow::Owned(Json::Null), Cow::Borrowed),
            sensitive: o.get("sensitive").and_then(Json::as_bool).unwrap_or(false),
            path: opath,
        });
    }
    Ok(())
}

fn read_drift(ctx: &mut Ctx<'_>, root: &Map<String, Json>) -> Result<Vec<DriftFinding>> {
    let mut out = Vec::new();
    let Some(entries) = ctx.opt_array(root, "resource_drift", "")? else { return Ok(out) };
    for (i, d) in entries.iter().enumerate() {
        let path = child("/resource_drift", &i.to_string());
        let d = ctx.object(d, &path)?;
        let address = ctx.str_field(d, "address", &path)?.to_string();
        let cpath = child(&path, "change");
        let change = ctx.object(ctx.field(d, "change", &path)?, &cpath)?;
        let empty = Map::new();
        let before = change.get("before").and_then(Json::as_object).unwrap_or(&empty);
        let after = change.get("after").and_then(Json::as_object).unwrap_or(&empty);
        let (bs, as_) = (change.get("before_sensitive"), change.get("after_sensitive"));
        let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let mut params = Vec::new();
        for name in names {
            let (b, a) = (before.get(name), after.get(name));
            if b == a {
                continue;
            }
            let recorded = match b {
                Some(v) => Some(ctx.value(v, bs.and_then(|m| m.get(name)), || child(&child(&cpath, "before"), name))?),
                None => None,
            };
            let found = match a {
                Some(v) => Some(ctx.value(v, as_.and_then(|m| m.get(name)), || child(&child(&cpath, "after"), name))?),
                None => None,
            };
            params.push(DriftedParam { name: name.as_str().into(), recorded, found });
        }
        let key = Key::parse(&address).map_err(|source| ImportError::model(ctx.loc(&path), source))?;
        out.push(DriftFinding { address, key, params, location: ctx.loc(&path) });
    }
    Ok(out)
}

fn path_text(steps: &Json) -> String {
    let mut out = String::new();
    for step in steps.as_array().into_iter().flatten() {
        match step {
            Json::String(s) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(s);
            }
            other => {
                out.push('[');
                out.push_str(&other.to_string());
                out.push(']');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The configuration: where attribute values come from.

/// Resources and modules of a plan's `configuration`, by module path.
struct Config {
    /// (module path, config address) → the resource's configuration.
    resources: HashMap<(String, String), ConfigResource>,
    /// module path → output name → references.
    outputs: HashMap<String, HashMap<String, Vec<String>>>,
    /// module path → (call name → input variable → references), i.e. the
    /// arguments a module passes to its child `call name`.
    calls: HashMap<String, HashMap<String, HashMap<String, Vec<String>>>>,
}

struct ConfigResource {
    /// Attribute → the references its expression makes (nested blocks
    /// collected under the block's name).
    expressions: Vec<(String, Vec<String>)>,
    depends_on: Vec<String>,
}

impl Config {
    fn read(ctx: &Ctx<'_>, c: &Map<String, Json>) -> Result<Self> {
        let mut config = Self { resources: HashMap::default(), outputs: HashMap::default(), calls: HashMap::default() };
        if let Some(root) = ctx.opt_object(c, "root_module", "/configuration")? {
            config.read_module(ctx, root, "", "/configuration/root_module", 0)?;
        }
        Ok(config)
    }

    fn read_module(
        &mut self,
        ctx: &Ctx<'_>,
        m: &Map<String, Json>,
        module: &str,
        path: &str,
        depth: usize,
    ) -> Result<()> {
        module_depth(ctx, path, depth)?;
        for (i, r) in ctx.opt_array(m, "resources", path)?.into_iter().flatten().enumerate() {
            let rpath = child(&child(path, "resources"), &i.to_string());
            let r = ctx.object(r, &rpath)?;
            let address = ctx.str_field(r, "address", &rpath)?.to_string();
            let mut expressions = Vec::new();
            if let Some(ex) = ctx.opt_object(r, "expressions", &rpath)? {
                for (attr, e) in ex {
                    let mut refs = Vec::new();
                    collect_references(e, &mut refs, 0);
                    if !refs.is_empty() {
                        expressions.push((attr.clone(), most_specific(refs)));
                    }
                }
            }
            let depends_on = string_list(ctx, r, "depends_on", &rpath)?;
            self.resources.insert((module.to_string(), address), ConfigResource { expressions, depends_on });
        }
        if let Some(outputs) = ctx.opt_object(m, "outputs", path)? {
            let entry = self.outputs.entry(module.to_string()).or_default();
            for (name, o) in outputs {
                let mut refs = Vec::new();
                if let Some(e) = o.get("expression") {
                    collect_references(e, &mut refs, 0);
                }
                entry.insert(name.clone(), most_specific(refs));
            }
        }
        if let Some(calls) = ctx.opt_object(m, "module_calls", path)? {
            for (call, body) in calls {
                let cpath = child(&child(path, "module_calls"), call);
                let body = ctx.object(body, &cpath)?;
                let mut inputs = HashMap::default();
                if let Some(ex) = ctx.opt_object(body, "expressions", &cpath)? {
                    for (var, e) in ex {
                        let mut refs = Vec::new();
                        collect_references(e, &mut refs, 0);
                        inputs.insert(var.clone(), most_specific(refs));
                    }
                }
                self.calls.entry(module.to_string()).or_default().insert(call.clone(), inputs);
                let child_module =
                    if module.is_empty() { format!("module.{call}") } else { format!("{module}.module.{call}") };
                if let Some(inner) = ctx.opt_object(body, "module", &cpath)? {
                    self.read_module(ctx, inner, &child_module, &child(&cpath, "module"), depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// The resources (module path, config address, attribute, index) that
    /// reference `r`, written in module `module`, stands for.
    fn resolve(&self, module: &str, r: &str, out: &mut Vec<Target>, depth: usize) {
        if depth > 32 {
            return;
        }
        let parts = split_reference(r);
        let Some(first) = parts.first() else { return };
        match first.as_str() {
            "var" => {
                let Some(var) = parts.get(1) else { return };
                let Some((parent, call)) = parent_call(module) else { return };
                if let Some(refs) = self.calls.get(&parent).and_then(|c| c.get(&call)).and_then(|i| i.get(var)) {
                    for r in refs {
                        self.resolve(&parent, r, out, depth + 1);
                    }
                }
            }
            "module" => {
                let (Some(call), Some(output)) = (parts.get(1), parts.get(2)) else { return };
                let call = call.split('[').next().unwrap_or(call);
                let output = output.split('[').next().unwrap_or(output);
                let inner =
                    if module.is_empty() { format!("module.{call}") } else { format!("{module}.module.{call}") };
                if let Some(refs) = self.outputs.get(&inner).and_then(|o| o.get(output)) {
                    for r in refs {
                        self.resolve(&inner, r, out, depth + 1);
                    }
                }
            }
            "local" | "each" | "count" | "path" | "self" | "terraform" => {}
            first => {
                // `data.TYPE.NAME[.attr]` or `TYPE.NAME[.attr]`.
                let (prefix, rest) = if first == "data" { ("data.", &parts[1..]) } else { ("", &parts[..]) };
                if let (Some(ty), Some(name)) = (rest.first(), rest.get(1)) {
                    let (name, index) = split_index(name);
                    out.push(Target {
                        module: module.to_string(),
                        address: format!("{prefix}{ty}.{name}"),
                        attribute: rest.get(2).cloned(),
                        index,
                    });
                }
            }
        }
    }

    /// Explicit `depends_on` of the instance's resource, as resource addresses.
    fn depends_on(&self, inst: &Instance<'_>) -> Vec<String> {
        let module = inst.config_module();
        let address = resource_address("", inst.data, &inst.ty, &inst.name);
        let Some(r) = self.resources.get(&(module.clone(), address)) else { return Vec::new() };
        let mut out = Vec::new();
        for d in &r.depends_on {
            let mut targets = Vec::new();
            self.resolve(&module, d, &mut targets, 0);
            for t in targets {
                let full = if t.module.is_empty() { t.address } else { format!("{}.{}", t.module, t.address) };
                if !out.contains(&full) {
                    out.push(full);
                }
            }
        }
        out
    }
}

/// What a reference points at.
struct Target {
    module: String,
    address: String,
    attribute: Option<String>,
    index: Option<Json>,
}

/// `module.a.module.b` → (`module.a`, `b`).
fn parent_call(module: &str) -> Option<(String, String)> {
    let (parent, call) = match module.rfind(".module.") {
        Some(i) => (&module[..i], &module[i + ".module.".len()..]),
        None => ("", module.strip_prefix("module.")?),
    };
    Some((parent.to_string(), call.to_string()))
}

/// Every `references` list inside an expression (nested blocks are arrays
/// of objects of expressions).
fn collect_references(e: &Json, out: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    match e {
        Json::Object(o) => {
            if let Some(Json::Array(refs)) = o.get("references") {
                out.extend(refs.iter().filter_map(Json::as_str).map(str::to_string));
            }
            for (k, v) in o {
                if k != "references" && k != "constant_value" {
                    collect_references(v, out, depth + 1);
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|v| collect_references(v, out, depth + 1)),
        _ => {}
    }
}

/// Drops references that a longer one in the list refines
/// (`aws_subnet.main` beside `aws_subnet.main.id`).
fn most_specific(mut refs: Vec<String>) -> Vec<String> {
    refs.sort();
    refs.dedup();
    let all = refs.clone();
    refs.retain(|r| {
        !all.iter().any(|o| o.len() > r.len() && o.starts_with(r.as_str()) && o[r.len()..].starts_with(['.', '[']))
    });
    refs
}

/// Splits `aws_instance.web["a"].network_interface[0].id` into
/// `["aws_instance", "web[\"a\"]", "network_interface[0]", "id"]`.
fn split_reference(r: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_string = false;
    for c in r.chars() {
        if in_string {
            cur.push(c);
            if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                cur.push(c);
            }
            '.' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// `web[0]` → (`web`, Some(0)); `web["a"]` → (`web`, Some("a")).
fn split_index(name: &str) -> (String, Option<Json>) {
    match name.split_once('[') {
        Some((n, rest)) => {
            let inner = rest.strip_suffix(']').unwrap_or(rest);
            (n.to_string(), serde_json::from_str(inner).ok())
        }
        None => (name.to_string(), None),
    }
}

// ---------------------------------------------------------------------------
// Building the graph.

/// Per-address unknown and sensitivity masks of the planned values.
#[derive(Default)]
struct Unknowns {
    after: HashMap<String, Json>,
    sensitive: HashMap<String, Json>,
    outputs: HashMap<String, Json>,
}

fn build(
    ctx: &mut Ctx<'_>,
    format: Format,
    state: &State<'_>,
    config: Option<&Config>,
    unknowns: &Unknowns,
) -> Result<Draft> {
    let mut draft = Draft::default();
    // Resource address (no index) → its instances.
    let mut by_resource: HashMap<&str, Vec<usize>> = HashMap::default();
    for (i, inst) in state.instances.iter().enumerate() {
        by_resource.entry(&inst.resource).or_default().push(i);
    }
    let keys: Vec<Key> = state
        .instances
        .iter()
        .map(|inst| Key::parse(&inst.address).map_err(|source| ImportError::model(ctx.loc(&inst.path), source)))
        .collect::<Result<_>>()?;
    // Components are built in parallel (converting attributes is most of
    // the work), then added in order.
    let built: Vec<(Component, usize)> = state
        .instances
        .par_iter()
        .zip(keys.par_iter())
        .map(|(inst, key)| {
            let mut local = Ctx { file: ctx.file.clone(), options: ctx.options, secrets: 0 };
            let c = component(&mut local, format, inst, key, unknowns)?;
            Ok((c, local.secrets))
        })
        .collect::<Result<_>>()?;
    for ((c, secrets), (inst, key)) in built.into_iter().zip(state.instances.iter().zip(&keys)) {
        ctx.secrets += secrets;
        let location = Arc::new(ctx.loc(&inst.path));
        draft.add(c, (*location).clone())?;
        for dep in &inst.depends_on {
            // A resource names all its instances; anything else (an instance
            // address, a module) is kept by name, visible if unresolved.
            let targets: Vec<Key> = match by_resource.get(&**dep) {
                Some(targets) => targets.iter().map(|&t| keys[t].clone()).collect(),
                None => vec![Key::parse(dep).map_err(|source| ImportError::model((*location).clone(), source))?],
            };
            for to in targets {
                draft.edge(DraftEdge {
                    from: key.clone(),
                    to,
                    kind: EdgeKind::DependsOn,
                    attributes: Vec::new(),
                    relation: "depends_on",
                    location: Arc::clone(&location),
                });
            }
        }
    }
    for out in &state.outputs {
        let key = Key::parse(&format!("{OUTPUT_KIND}.{}", out.name))
            .map_err(|source| ImportError::model(ctx.loc(&out.path), source))?;
        let mask = out.sensitive.then_some(Json::Bool(true));
        let value = ctx.value(&out.value, mask.as_ref(), || child(&out.path, "value"))?;
        let c = Component::with_key(key, OUTPUT_KIND, out.name.as_str()).with_param("value", value);
        draft.add(c, ctx.loc(&out.path))?;
    }
    draft.check_acyclic(&EdgeKind::DependsOn)?;
    if let Some(config) = config {
        link_references(ctx, &mut draft, state, &keys, &by_resource, config, unknowns);
    }
    draft.secrets = ctx.secrets;
    Ok(draft)
}

/// One attribute (or root output) whose expression makes references.
struct Consumer {
    key: Key,
    attr: String,
    targets: Vec<Target>,
    location: Location,
    index: Option<Json>,
    module: String,
    value: Json,
    unknown: Json,
}

/// The component of one instance: attributes as params (secrets where
/// sensitive), unknown attributes as nulls, other instance fields as
/// `tf:` params, and the `tf.*` labels.
fn component(
    ctx: &mut Ctx<'_>,
    format: Format,
    inst: &Instance<'_>,
    key: &Key,
    unknowns: &Unknowns,
) -> Result<Component> {
    let vpath = || child(&inst.path, if format == Format::TerraformStateV4 { "attributes" } else { "values" });
    let values = inst.values.as_object().ok_or_else(|| ctx.wrong(&inst.values, &vpath(), "an object"))?;
    let name = format!("{}{}", inst.name, index_suffix(inst.index.as_ref()));
    let mut c = Component::with_key(key.clone(), inst.ty.as_str(), name.as_str());
    let sensitive =
        if inst.sensitive.is_null() { unknowns.sensitive.get(&inst.address) } else { Some(&*inst.sensitive) };
    for (attr, v) in values {
        let value = ctx.value(v, sensitive.and_then(|s| s.get(attr)), || child(&vpath(), attr))?;
        c = c.with_param(attr.as_str(), value);
    }
    if let Some(Json::Object(u)) = unknowns.after.get(&inst.address) {
        for (attr, flag) in u {
            if *flag == Json::Bool(true) && !values.contains_key(attr) {
                c = c.with_param(attr.as_str(), Value::Null);
            }
        }
    }
    for (field, v) in &inst.extra {
        let value = ctx.value(v, None, || child(&inst.path, field))?;
        c = c.with_param(format!("tf:{field}"), value);
    }
    c = c.with_label(LABEL_MODE, if inst.data { "data" } else { "managed" });
    if !inst.module.is_empty() {
        c = c.with_label(LABEL_MODULE, inst.module.as_str());
    }
    if let Some(p) = &inst.provider {
        c = c.with_label(LABEL_PROVIDER, p.as_str());
    }
    Ok(c)
}

/// Attribute-level references from the configuration.
fn link_references(
    ctx: &Ctx<'_>,
    draft: &mut Draft,
    state: &State<'_>,
    keys: &[Key],
    by_resource: &HashMap<&str, Vec<usize>>,
    config: &Config,
    unknowns: &Unknowns,
) {
    for consumer in consumers(ctx, state, keys, config, unknowns) {
        let candidates = candidates(&consumer, state, keys, by_resource, unknowns);
        if candidates.is_empty() {
            continue;
        }
        let outputs_of = |used: &BTreeSet<usize>| -> Vec<(Key, Name, Value)> {
            used.iter()
                .map(|&i| {
                    let c = &candidates[i];
                    let v = if c.sensitive {
                        crate::secrets::secret(&ctx.options.salt, c.value.to_string())
                    } else {
                        Value::from_json(c.value.clone())
                    };
                    (c.key.clone(), c.output.clone(), v)
                })
                .collect()
        };
        let mut used: BTreeSet<usize> = BTreeSet::new();
        if let Some(v) = substitute(&consumer.value, &consumer.unknown, &candidates, &mut used) {
            draft.reference(consumer.key, consumer.attr.as_str().into(), v, outputs_of(&used));
            continue;
        }
        // Not reproducible from the producers' values: keep the concrete value
        // and name the references beside it.
        let mut chosen: Vec<usize> = (0..candidates.len()).collect();
        let distinct: BTreeSet<&Key> = candidates.iter().map(|c| &c.key).collect();
        if distinct.len() > 1 {
            let same_index: Vec<usize> = (0..candidates.len())
                .filter(|&i| consumer.index.is_some() && candidates[i].index == consumer.index)
                .collect();
            if !same_index.is_empty() {
                chosen = same_index;
            } else if !consumer.value.is_null() && consumer.targets.iter().all(|t| t.index.is_none()) {
                let reference = format!("{}.{}", consumer.key, consumer.attr);
                draft.warn(
                    consumer.location.clone(),
                    WarningKind::AmbiguousReference { reference, candidates: distinct.len() },
                );
            }
        }
        let used: BTreeSet<usize> = chosen.into_iter().collect();
        let mut refs: Vec<Value> =
            used.iter().map(|&i| Value::reference(candidates[i].key.clone(), candidates[i].output.clone())).collect();
        refs.dedup();
        let v = if refs.len() == 1 { refs.pop().expect("one") } else { Value::List(refs) };
        draft.reference(consumer.key, format!("{}@refs", consumer.attr).into(), v, outputs_of(&used));
    }
}

/// Every attribute of every instance, and every root output, whose
/// configuration expression makes references, with what they resolve to.
fn consumers(ctx: &Ctx<'_>, state: &State<'_>, keys: &[Key], config: &Config, unknowns: &Unknowns) -> Vec<Consumer> {
    let mut out = Vec::new();
    for (i, inst) in state.instances.iter().enumerate() {
        let module = inst.config_module();
        let address = resource_address("", inst.data, &inst.ty, &inst.name);
        let Some(r) = config.resources.get(&(module.clone(), address)) else { continue };
        for (attr, refs) in &r.expressions {
            let mut targets = Vec::new();
            for reference in refs {
                config.resolve(&module, reference, &mut targets, 0);
            }
            out.push(Consumer {
                key: keys[i].clone(),
                attr: attr.clone(),
                targets,
                location: ctx.loc(&inst.path),
                index: inst.index.clone(),
                module: inst.module.clone(),
                value: inst.values.get(attr).cloned().unwrap_or(Json::Null),
                unknown: unknowns.after.get(&inst.address).and_then(|u| u.get(attr)).cloned().unwrap_or(Json::Null),
            });
        }
    }
    for o in state.outputs.iter().filter(|o| !o.sensitive) {
        // A sensitive output's value is a secret: it is kept whole.
        let Some(refs) = config.outputs.get("").and_then(|outputs| outputs.get(&o.name)) else { continue };
        let Ok(key) = Key::parse(&format!("{OUTPUT_KIND}.{}", o.name)) else { continue };
        let mut targets = Vec::new();
        for reference in refs {
            config.resolve("", reference, &mut targets, 0);
        }
        out.push(Consumer {
            key,
            attr: "value".into(),
            targets,
            location: ctx.loc(&o.path),
            index: None,
            module: String::new(),
            value: o.value.clone().into_owned(),
            unknown: unknowns.outputs.get(&o.name).cloned().unwrap_or(Json::Null),
        });
    }
    out
}

/// The producer instances and attributes a consumer's references may mean.
fn candidates(
    consumer: &Consumer,
    state: &State<'_>,
    keys: &[Key],
    by_resource: &HashMap<&str, Vec<usize>>,
    unknowns: &Unknowns,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for t in &consumer.targets {
        // Older Terraform writes `null_resource.foo` for `null_resource.foo.id`:
        // a whole-resource reference is read as its `id`.
        let (attribute, _) = split_index(t.attribute.as_deref().unwrap_or("id"));
        let full = if t.module.is_empty() { t.address.clone() } else { format!("{}.{}", t.module, t.address) };
        let instances = by_resource
            .get(full.as_str())
            .or_else(|| by_resource.get(with_module_instances(&full, &consumer.module).as_str()));
        for &p in instances.into_iter().flatten() {
            let producer = &state.instances[p];
            // In the same module, an instance reads the producer in its own module instance.
            let other_module_instance =
                t.module == strip_indexes(&consumer.module) && producer.module != consumer.module;
            if (t.index.is_some() && producer.index != t.index) || other_module_instance || keys[p] == consumer.key {
                continue;
            }
            let sensitive = producer.sensitive.get(&attribute) == Some(&Json::Bool(true))
                || unknowns.sensitive.get(&producer.address).and_then(|s| s.get(&attribute)) == Some(&Json::Bool(true));
            out.push(Candidate {
                key: keys[p].clone(),
                output: Name::from(attribute.as_str()),
                value: producer.values.get(&attribute).cloned().unwrap_or(Json::Null),
                index: producer.index.clone(),
                sensitive,
            });
        }
    }
    out
}

struct Candidate {
    key: Key,
    output: Name,
    value: Json,
    index: Option<Json>,
    sensitive: bool,
}

/// `module.a.aws_x.y` with the consumer's module instance `module.a[0]` →
/// `module.a[0].aws_x.y`.
fn with_module_instances(full: &str, module_instance: &str) -> String {
    let base = strip_indexes(module_instance);
    match full.strip_prefix(&base) {
        Some(rest) if !base.is_empty() => format!("{module_instance}{rest}"),
        _ => full.to_string(),
    }
}

/// The consumer's value with producer values replaced by references, if
/// any part of it is one (or unknown with exactly one candidate).
fn substitute(value: &Json, unknown: &Json, candidates: &[Candidate], used: &mut BTreeSet<usize>) -> Option<Value> {
    let matches = |v: &Json| -> Option<usize> {
        if v.is_null() || v.as_str() == Some("") {
            return None;
        }
        candidates.iter().position(|c| &c.value == v)
    };
    if *unknown == Json::Bool(true) {
        let keys: BTreeSet<&Key> = candidates.iter().map(|c| &c.key).collect();
        if keys.len() == 1 {
            used.insert(0);
            return Some(Value::reference(candidates[0].key.clone(), candidates[0].output.clone()));
        }
        return None;
    }
    if let Some(i) = matches(value) {
        used.insert(i);
        return Some(Value::reference(candidates[i].key.clone(), candidates[i].output.clone()));
    }
    match value {
        Json::Array(items) => {
            let mut any = false;
            let out: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let u = unknown.get(i).unwrap_or(&Json::Null);
                    match substitute(item, u, candidates, used) {
                        Some(v) => {
                            any = true;
                            v
                        }
                        None => Value::from_json(item.clone()),
                    }
                })
                .collect();
            any.then_some(Value::List(out))
        }
        Json::Object(o) => {
            let mut any = false;
            let out: BTreeMap<Name, Value> = o
                .iter()
                .map(|(k, item)| {
                    let u = unknown.get(k).unwrap_or(&Json::Null);
                    let v = match substitute(item, u, candidates, used) {
                        Some(v) => {
                            any = true;
                            v
                        }
                        None => Value::from_json(item.clone()),
                    };
                    (Name::from(k.as_str()), v)
                })
                .collect();
            any.then_some(Value::Map(out))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Export.

/// Writes a graph as a `terraform.tfstate` (version 4) document: components
/// become resource instances (kind → type; the `tf.*` labels give mode,
/// module and provider; a name like `web[0]` gives the index), params their
/// attributes, depends-on edges their `dependencies`; components of kind
/// `output` become root outputs. Importing the result with
/// [`import_state`] gives the graph back.
///
/// What a state cannot hold is not written: other labels, edges of other
/// kinds, outputs and runtime values. References are written as the value
/// they resolve to. Secrets are written as their digest (the plaintext is
/// never held) and listed in `sensitive_attributes`.
pub fn export_state(snapshot: &Snapshot) -> Json {
    // (module, mode, type, name) → resource object under construction.
    let mut resources: BTreeMap<ResourceId, (Option<String>, Vec<Json>)> = BTreeMap::new();
    let mut outputs = Map::new();
    for c in snapshot.components_sorted() {
        if c.kind() == OUTPUT_KIND {
            let (value, sensitive) = match c.param_value("value") {
                Some(Value::Secret(s)) => (Json::String(s.digest().to_hex()), true),
                Some(v) => (resolved(snapshot, v), false),
                None => (Json::Null, false),
            };
            outputs.insert(
                c.name().to_string(),
                serde_json::json!({"value": value, "type": "string", "sensitive": sensitive}),
            );
            continue;
        }
        let module = c.label(LABEL_MODULE).unwrap_or("").to_string();
        let mode = c.label(LABEL_MODE).unwrap_or("managed").to_string();
        let (name, index) = split_index(c.name());
        let mut attributes = Map::new();
        let mut sensitive = Vec::new();
        for (pname, p) in c.params().iter() {
            if let Some(field) = pname.strip_prefix("tf:") {
                let _ = field; // written below, beside the attributes
                continue;
            }
            if let Value::Secret(s) = &p.value {
                attributes.insert(pname.to_string(), Json::String(s.digest().to_hex()));
                sensitive.push(serde_json::json!([{"type": "get_attr", "value": pname.as_str()}]));
            } else {
                attributes.insert(pname.to_string(), resolved(snapshot, &p.value));
            }
        }
        let mut deps: Vec<String> = snapshot
            .edges_from(c.key())
            .filter(|e| *e.kind() == EdgeKind::DependsOn)
            .filter_map(|e| snapshot.get(e.to()))
            .map(|d| {
                let (dname, _) = split_index(d.name());
                resource_address(
                    d.label(LABEL_MODULE).unwrap_or(""),
                    d.label(LABEL_MODE) == Some("data"),
                    d.kind(),
                    &dname,
                )
            })
            .collect();
        deps.sort();
        deps.dedup();
        let mut instance = Map::new();
        if let Some(i) = &index {
            instance.insert("index_key".into(), i.clone());
        }
        instance.insert("schema_version".into(), Json::from(0));
        instance.insert("attributes".into(), Json::Object(attributes));
        instance.insert("sensitive_attributes".into(), Json::Array(sensitive));
        if !deps.is_empty() {
            instance.insert("dependencies".into(), Json::Array(deps.into_iter().map(Json::String).collect()));
        }
        for (pname, p) in c.params().iter() {
            if let Some(field) = pname.strip_prefix("tf:") {
                instance.insert(field.to_string(), resolved(snapshot, &p.value));
            }
        }
        let entry = resources
            .entry((module, mode, c.kind().to_string(), name))
            .or_insert_with(|| (c.label(LABEL_PROVIDER).map(str::to_string), Vec::new()));
        entry.1.push(Json::Object(instance));
    }
    let resources: Vec<Json> = resources
        .into_iter()
        .map(|((module, mode, ty, name), (provider, instances))| {
            let mut r = Map::new();
            if !module.is_empty() {
                r.insert("module".into(), Json::String(module));
            }
            r.insert("mode".into(), Json::String(mode));
            r.insert("type".into(), Json::String(ty));
            r.insert("name".into(), Json::String(name));
            if let Some(p) = provider {
                r.insert("provider".into(), Json::String(p));
            }
            r.insert("instances".into(), Json::Array(instances));
            Json::Object(r)
        })
        .collect();
    serde_json::json!({
        "version": 4,
        "terraform_version": "1.9.0",
        "serial": 1,
        "lineage": "karma-export",
        "outputs": outputs,
        "resources": resources,
    })
}

/// (module, mode, type, name): one resource of a state.
type ResourceId = (String, String, String, String);

/// A value with its references replaced by what they point at.
fn resolved(snapshot: &Snapshot, v: &Value) -> Json {
    match v {
        Value::Ref(r) => {
            snapshot.get(&r.component).and_then(|c| c.output(&r.output)).map_or(Json::Null, Value::to_json)
        }
        Value::List(items) => Json::Array(items.iter().map(|i| resolved(snapshot, i)).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, i)| (k.to_string(), resolved(snapshot, i))).collect()),
        other => other.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(strip_indexes(r#"module.a[0].module.b["x.y"]"#), "module.a.module.b");
        assert_eq!(index_suffix(Some(&Json::from(3))), "[3]");
        assert_eq!(index_suffix(Some(&Json::from("a"))), r#"["a"]"#);
        assert_eq!(parent_call("module.a.module.b"), Some(("module.a".into(), "b".into())));
        assert_eq!(parent_call("module.a"), Some((String::new(), "a".into())));
        assert_eq!(split_reference(r#"aws_instance.web["a.b"].id"#), vec!["aws_instance", r#"web["a.b"]"#, "id"]);
        assert_eq!(split_index(r#"web["a"]"#), ("web".into(), Some(Json::from("a"))));
        assert_eq!(
            most_specific(vec!["aws_subnet.main".into(), "aws_subnet.main.id".into(), "var.x".into()]),
            vec!["aws_subnet.main.id".to_string(), "var.x".to_string()]
        );
    }
}
