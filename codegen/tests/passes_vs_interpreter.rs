//! The optimised, planned IR (BN folded, ReLU and residual fused, scheduled,
//! arena-placed) executed with the scalar kernels against the reference
//! interpreter, which shares no code with the compiler.

use std::path::PathBuf;

use xcc_codegen::frontend::keras;
use xcc_codegen::passes::PassOptions;
use xception_spec::{interp, Graph, WeightMap};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../xception-spec/fixtures")
        .join(name)
}

/// Compares every step's output with the interpreter's output of the last layer fused into it.
fn check(graph: &Graph, weights: &WeightMap, input: &[f32], tol: f32) {
    let p = xcc_codegen::optimize(graph, weights, PassOptions::default()).unwrap();
    let (out, steps) = xcc_codegen::exec::run(&p, input);
    let mut layer_out = std::collections::BTreeMap::new();
    let want = interp::run_observed(graph, weights, input, |name, _, data| {
        layer_out.insert(name.to_string(), data.to_vec());
    })
    .unwrap();
    for (s, got) in p.steps.iter().zip(&steps) {
        let last = p.tensors[s.output].name.clone();
        let Some(w) = layer_out.get(&last) else {
            continue;
        };
        let d = got
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let scale = w.iter().map(|v| v.abs()).fold(1f32, f32::max);
        assert!(
            d <= tol * scale,
            "step '{}' (tensor '{last}'): max diff {d} (scale {scale})",
            s.name
        );
    }
    let d = out
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(d <= tol, "output max diff {d}");
}

#[test]
fn fer_model_steps_match_interpreter() {
    let (spec, weights) = keras::load_model(fixture("emotion_model.hdf5")).unwrap();
    let graph = xception_spec::validate(&spec).unwrap();
    let x = xception_spec::detgen::input(&graph, 42);
    check(&graph, &weights, &x, 1e-5);
}
