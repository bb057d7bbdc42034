//! Micro-benchmarks of huntlake's functions: `cargo bench --bench functions`.
//!
//! - make_set over 1M groups: update (raw rows) and merge (partial states), the shape of the
//!   rule's final aggregation on a large lake;
//! - the ASCII-case-insensitive `contains` kernel on a low-cardinality column (string views, as
//!   DataFusion reads Parquet) and on plain strings;
//! - the HostName / DnsDomain split.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, StringArray, StringViewArray};
use datafusion::logical_expr::EmitTo;
use huntlake::functions::case_insensitive::contains_ascii_ci;
use huntlake::functions::make_set::string_groups_accumulator;
use huntlake::functions::split_device_name;

const GROUPS: usize = 1_000_000;

fn values(n: usize) -> (ArrayRef, Vec<usize>) {
    // Three rows per group, two of them equal: distinct handling, not just insertion.
    let strings: Vec<String> = (0..n)
        .map(|i| format!("C:\\Windows\\Temp\\file{:06}.tmp", (i * 7) % (n / 2)))
        .collect();
    let groups = (0..n).map(|i| i % GROUPS).collect();
    (Arc::new(StringArray::from(strings)), groups)
}

fn make_set(c: &mut Criterion) {
    let (array, groups) = values(3 * GROUPS);
    let mut group = c.benchmark_group("make_set");
    group.sample_size(10);
    group.bench_function("update 3M rows into 1M groups", |b| {
        b.iter(|| {
            let mut acc = string_groups_accumulator(100_000);
            acc.update_batch(std::slice::from_ref(&array), &groups, None, GROUPS)
                .unwrap();
            black_box(acc.evaluate(EmitTo::All).unwrap())
        })
    });
    let mut partial = string_groups_accumulator(100_000);
    partial
        .update_batch(std::slice::from_ref(&array), &groups, None, GROUPS)
        .unwrap();
    let state = partial.state(EmitTo::All).unwrap();
    let identity: Vec<usize> = (0..GROUPS).collect();
    group.bench_function("merge 1M partial states", |b| {
        b.iter(|| {
            let mut acc = string_groups_accumulator(100_000);
            acc.merge_batch(&state, &identity, GROUPS).unwrap();
            black_box(acc.evaluate(EmitTo::All).unwrap())
        })
    });
    group.finish();
}

fn parents(n: usize) -> Vec<&'static str> {
    const NAMES: [&str; 5] = [
        "services.exe",
        "explorer.exe",
        "userinit.exe",
        "C:\\Windows\\System32\\SERVICES.EXE",
        "svchost.exe",
    ];
    (0..n).map(|i| NAMES[(i * 31) % NAMES.len()]).collect()
}

fn contains(c: &mut Criterion) {
    let names = parents(1 << 20);
    let plain = StringArray::from(names.clone());
    let views: ArrayRef = Arc::new(StringViewArray::from(names.clone()));
    let udf = huntlake::functions::case_insensitive::ContainsCi::default();
    let mut group = c.benchmark_group("contains_ci");
    group.bench_function("kernel, 1M plain strings", |b| {
        b.iter(|| {
            black_box(
                plain
                    .iter()
                    .filter(|s| contains_ascii_ci(s.unwrap_or("").as_bytes(), b"services.exe"))
                    .count(),
            )
        })
    });
    group.bench_function("function, 1M string views", |b| {
        use datafusion::arrow::datatypes::{DataType, Field};
        use datafusion::common::ScalarValue;
        use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};
        b.iter(|| {
            let args = ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(Arc::clone(&views)),
                    ColumnarValue::Scalar(ScalarValue::Utf8(Some("services.exe".into()))),
                ],
                arg_fields: vec![
                    Arc::new(Field::new("a", DataType::Utf8View, true)),
                    Arc::new(Field::new("b", DataType::Utf8, true)),
                ],
                number_rows: views.len(),
                return_field: Arc::new(Field::new("r", DataType::Boolean, true)),
                config_options: Default::default(),
            };
            black_box(udf.invoke_with_args(args).unwrap())
        })
    });
    group.finish();
}

fn host_split(c: &mut Criterion) {
    let names: Vec<String> = (0..1 << 20)
        .map(|i| {
            if i % 20 == 7 {
                format!("ws-{i:07}")
            } else {
                format!("ws-{i:07}.corp.contoso.local")
            }
        })
        .collect();
    c.bench_function("host split, 1M device names", |b| {
        b.iter(|| {
            black_box(
                names
                    .iter()
                    .map(|n| split_device_name(n).1.len())
                    .sum::<usize>(),
            )
        })
    });
}

criterion_group!(benches, make_set, contains, host_split);
criterion_main!(benches);
