//! karma-import target: a Terraform state of 100,000 resource instances
//! imported in at most 2 s, beside the floor of parsing the same text into
//! `serde_json::Value` (which every JSON importer pays) in the same run.
//! Both are timed without dropping their result (`iter_with_large_drop`):
//! the import, not the later freeing of the graph, is what is measured.
//!
//! Run: `cargo bench --bench import`. Figures go to `docs/performance.md`.

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use karma::import::{Options, terraform};

/// How many instances resource `r` has: most resources are single, some
/// use `count` (3 or 10 instances), as in real states.
fn instances_of(r: usize) -> usize {
    match r % 20 {
        0 => 10,
        1..=3 => 3,
        _ => 1,
    }
}

/// A raw `terraform.tfstate` (v4) with at least `n` instances: resources
/// of five AWS types, a quarter in modules, seven attributes of mixed
/// types each (a nested map, a list, a password that is sensitive on every
/// tenth resource), each depending on up to three earlier resources (on
/// all their instances, as Terraform records it).
fn state(n: usize) -> (String, usize) {
    let types = ["aws_instance", "aws_subnet", "aws_security_group", "aws_db_instance", "aws_s3_bucket"];
    let address = |t: usize| {
        let m = if t.is_multiple_of(4) { format!("module.m{}.", t % 50) } else { String::new() };
        format!("{m}{}.r{t}", types[t % types.len()])
    };
    let mut out = String::with_capacity(n * 480);
    out.push_str(r#"{"version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": "bench", "outputs": {}, "resources": ["#);
    let (mut r, mut total) = (0, 0);
    while total < n {
        if r > 0 {
            out.push(',');
        }
        let ty = types[r % types.len()];
        let module = if r.is_multiple_of(4) { format!(r#""module": "module.m{}", "#, r % 50) } else { String::new() };
        let count = instances_of(r);
        let each = if count > 1 { r#""each": "list", "# } else { "" };
        let _ = write!(
            out,
            r#"{{{module}"mode": "managed", "type": "{ty}", "name": "r{r}", {each}"provider": "provider[\"registry.terraform.io/hashicorp/aws\"]", "instances": ["#
        );
        let deps: Vec<String> = [3, 11, 29]
            .iter()
            .filter(|&&d| r >= d && (r + d) % 3 != 0)
            .map(|d| format!(r#""{}""#, address(r - d)))
            .collect();
        for i in 0..count {
            if i > 0 {
                out.push(',');
            }
            let index = if count > 1 { format!(r#""index_key": {i}, "#) } else { String::new() };
            let sensitive =
                if r.is_multiple_of(10) { r#"[[{"type": "get_attr", "value": "password"}]]"# } else { "[]" };
            let _ = write!(
                out,
                r#"{{{index}"schema_version": 1, "attributes": {{"id": "{ty}-{r}-{i}", "arn": "arn:aws:ec2:eu-west-1:123456789012:{ty}/{r}-{i}", "instance_type": "t3.{}", "port": {}, "enabled": {}, "tags": {{"Name": "r{r}-{i}", "team": "t{}"}}, "zones": ["eu-west-1a", "eu-west-1b"], "password": "p{r}"}}, "sensitive_attributes": {sensitive}, "private": "bnVsbA==", "dependencies": [{}]}}"#,
                ["micro", "small", "large"][(r + i) % 3],
                5000 + (r % 1000),
                r % 2 == 0,
                r % 17,
                deps.join(", ")
            );
        }
        out.push_str("]}");
        total += count;
        r += 1;
    }
    out.push_str("]}");
    (out, total)
}

fn import_state(c: &mut Criterion) {
    let n: usize = std::env::var("KARMA_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let (text, total) = state(n);
    eprintln!("state of {total} instances: {:.1} MB", text.len() as f64 / 1e6);
    let import = terraform::import_state(&text, &Options::default()).expect("imports");
    assert_eq!(import.report.components, total);
    assert!(import.report.warnings.is_empty(), "{}", import.report);
    eprintln!("{}", import.report);
    drop(import);

    let mut g = c.benchmark_group("terraform_state_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("karma_import", |b| {
        b.iter_with_large_drop(|| terraform::import_state(black_box(&text), &Options::default()).expect("imports"));
    });
    g.bench_function("baseline_serde_json_value", |b| {
        b.iter_with_large_drop(|| serde_json::from_str::<serde_json::Value>(black_box(&text)).expect("parses"));
    });
    g.finish();
}

criterion_group!(benches, import_state);
criterion_main!(benches);
