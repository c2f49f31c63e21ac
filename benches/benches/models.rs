//! Whole-model latency per backend (1 thread, batch 1): Xception 299x299 with
//! the seed-42 weights and the fer2013 mini-Xception with its real weights,
//! each compiled for scalar, AVX2 and AVX-512 by `build.rs`; and Xception's
//! layer groups (entry, middle and exit flow) per backend, timed by running
//! their steps on an arena holding the state before the group. The weights
//! are on huge pages, as in the `xcc` runner.
//! Instruction sets the CPU lacks are skipped with a note.
//!
//! `cargo bench -p xcc-benches --bench models [-- FILTER]`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::ops::Range;
use std::time::Duration;
use xcc_benches::data;

/// Includes a generated model from `OUT_DIR` as a module (of whose API the
/// benchmarks use only a part).
macro_rules! model {
    ($name:ident) => {
        #[allow(dead_code)]
        mod $name {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".rs"));
        }
    };
}

model!(xception_scalar);
model!(xception_avx2);
model!(xception_avx512);
model!(fer_scalar);
model!(fer_avx2);
model!(fer_avx512);

/// Benchmarks one compiled model: the whole `infer`, then (with `groups`)
/// each layer group's steps.
macro_rules! bench_model {
    ($c:expr, $group:literal, $backend:literal, $m:ident, $groups:expr) => {{
        use $m as m;
        if !m::cpu_supported() {
            eprintln!(
                "note: skipping {} {}: this CPU lacks the instruction set",
                $group, $backend
            );
        } else {
            let input: Box<[f32; m::INPUT_LEN]> = data(m::INPUT_LEN, 42)
                .into_boxed_slice()
                .try_into()
                .expect("input length");
            // As the `xcc` runner: the weights on huge pages.
            m::relocate_weights(xcc_runtime::huge_pages::leak_zeroed_f32(m::WEIGHT_FLOATS))
                .expect("a buffer of WEIGHT_FLOATS floats");
            let mut arena = m::Arena::boxed();
            let mut out = [0f32; m::OUTPUT_LEN];
            let mut g = $c.benchmark_group($group);
            g.bench_function(format!("{} infer", $backend), |b| {
                b.iter(|| m::infer(&mut arena, black_box(&input), &mut out))
            });
            for (name, steps) in $groups(&m::STEP_NAMES) {
                let mut before = m::Arena::boxed();
                for i in 0..steps.start {
                    m::run_step(i, &mut before, &input);
                }
                g.bench_function(format!("{} {name}", $backend), |b| {
                    b.iter_batched_ref(
                        || {
                            let mut a = m::Arena::boxed();
                            a.0.copy_from_slice(&before.0);
                            a
                        },
                        |a| {
                            for i in steps.clone() {
                                m::run_step(i, a, &input);
                            }
                        },
                        BatchSize::LargeInput,
                    )
                });
            }
            g.finish();
        }
    }};
}

/// Xception's flows, by the first step of blocks 5 (middle) and 13 (exit).
fn flows(names: &[&str]) -> Vec<(&'static str, Range<usize>)> {
    let first = |prefix: &str| {
        names
            .iter()
            .position(|n| n.starts_with(prefix))
            .expect("Xception has blocks 5 and 13")
    };
    let (middle, exit) = (first("block5_"), first("block13_"));
    vec![
        ("entry flow", 0..middle),
        ("middle flow", middle..exit),
        ("exit flow", exit..names.len()),
    ]
}

/// No layer groups.
fn whole(_: &[&str]) -> Vec<(&'static str, Range<usize>)> {
    Vec::new()
}

fn xception(c: &mut Criterion) {
    bench_model!(c, "xception", "scalar", xception_scalar, flows);
    bench_model!(c, "xception", "avx2", xception_avx2, flows);
    bench_model!(c, "xception", "avx512", xception_avx512, flows);
}

fn fer(c: &mut Criterion) {
    bench_model!(c, "fer", "scalar", fer_scalar, whole);
    bench_model!(c, "fer", "avx2", fer_avx2, whole);
    bench_model!(c, "fer", "avx512", fer_avx512, whole);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = xception, fer
}
criterion_main!(benches);
