//! The optimised, planned IR (BN folded, ReLU and residual fused, scheduled,
//! arena-placed) executed with the scalar kernels against the reference
//! interpreter, which shares no code with the compiler.

use std::path::PathBuf;

use xcc_codegen::frontend::keras;
use xcc_codegen::ir::Kernel;
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

fn spec_check(json: &str, seed: u64) {
    let spec = xception_spec::from_json_str(json).unwrap();
    let graph = xception_spec::validate(&spec).unwrap();
    let weights = xception_spec::detgen::weights(&graph, seed);
    let x = xception_spec::detgen::input(&graph, seed);
    check(&graph, &weights, &x, 2e-5);
}

#[test]
fn tiny_xception_steps_match_interpreter() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../xception-spec/specs/tiny_xception.json"),
    )
    .unwrap();
    spec_check(&text, 7);
}

/// Every op and fusion case on awkward shapes: odd sizes, stride 2 'same'
/// (extra pad bottom/right), depth multiplier 2, dilation, avg-pool edges,
/// a BN that cannot fold (after an Add), a ReLU feeding both a conv and an Add,
/// a three-input Add, global max pooling, Dense with ReLU, softmax on a conv.
#[test]
fn every_op_and_fusion_matches_interpreter() {
    let l = |name: &str, op: &str, inputs: &[&str]| {
        let ins: Vec<String> = inputs.iter().map(|i| format!("\"{i}\"")).collect();
        format!(
            "{{\"name\": \"{name}\", \"op\": {op}, \"inputs\": [{}]}}",
            ins.join(", ")
        )
    };
    let layers = [
        l(
            "c1",
            r#"{"type": "Conv2D", "filters": 5, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}"#,
            &["in"],
        ),
        l("b1", r#"{"type": "BatchNormalization"}"#, &["c1"]),
        l("r1", r#"{"type": "ReLU"}"#, &["b1"]),
        l(
            "d1",
            r#"{"type": "DepthwiseConv2D", "kernel_size": [3, 3], "padding": "same", "depth_multiplier": 2}"#,
            &["r1"],
        ),
        l(
            "s1",
            r#"{"type": "SeparableConv2D", "filters": 10, "kernel_size": [3, 3], "padding": "same", "dilation_rate": [2, 2]}"#,
            &["d1"],
        ),
        l("a1", r#"{"type": "Add"}"#, &["d1", "s1"]),
        l(
            "b2",
            r#"{"type": "BatchNormalization", "center": false}"#,
            &["a1"],
        ),
        l(
            "r2",
            r#"{"type": "Activation", "activation": "relu"}"#,
            &["b2"],
        ),
        l(
            "c2",
            r#"{"type": "Conv2D", "filters": 10, "kernel_size": [1, 1], "use_bias": false}"#,
            &["r2"],
        ),
        l("a2", r#"{"type": "Add"}"#, &["r2", "c2", "b2"]),
        l(
            "p1",
            r#"{"type": "AveragePooling2D", "pool_size": [3, 3], "strides": [2, 2], "padding": "same"}"#,
            &["a2"],
        ),
        l(
            "p2",
            r#"{"type": "MaxPooling2D", "pool_size": [2, 2], "padding": "valid"}"#,
            &["a2"],
        ),
        l(
            "s2",
            r#"{"type": "SeparableConv2D", "filters": 10, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "use_bias": false}"#,
            &["a2"],
        ),
        l("a3", r#"{"type": "Add"}"#, &["p1", "s2"]),
        l(
            "c3",
            r#"{"type": "Conv2D", "filters": 4, "kernel_size": [2, 2], "activation": "softmax"}"#,
            &["p2"],
        ),
        l("g1", r#"{"type": "GlobalMaxPooling2D"}"#, &["a3"]),
        l("g2", r#"{"type": "GlobalAveragePooling2D"}"#, &["c3"]),
        l(
            "f1",
            r#"{"type": "Dense", "units": 6, "activation": "relu"}"#,
            &["g1"],
        ),
        l(
            "f2",
            r#"{"type": "Dense", "units": 6, "use_bias": false}"#,
            &["g2"],
        ),
        l("a4", r#"{"type": "Add"}"#, &["f1", "f2"]),
        l(
            "out",
            r#"{"type": "Activation", "activation": "softmax"}"#,
            &["a4"],
        ),
    ];
    for (h, w) in [(13, 11), (9, 16), (8, 8)] {
        let json = format!(
            "{{\"name\": \"every_op\", \"input\": {{\"name\": \"in\", \"shape\": [{h}, {w}, 3]}}, \"layers\": [{}], \"output\": \"out\"}}",
            layers.join(", ")
        );
        spec_check(&json, 3);
    }
}

/// Graphs whose steps read one tensor twice (`Add(x, x)`, a conv whose input
/// is also its fused residual, max-pool + add of the same tensor, an unfolded
/// BN added to its own input) and a Dense with ReLU-on-load and an in-place
/// residual: `generated/specs/awkward.json`, also compiled by `generated/`.
#[test]
fn repeated_operands_and_in_place_residuals_match_interpreter() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../generated/specs/awkward.json"),
    )
    .unwrap();
    spec_check(&text, 5);
}

/// Row streaming takes exactly Xception's four pooled blocks (entry flow
/// blocks 2-4 and exit block 13: separable, separable, max-pool + shortcut
/// add), each as one step, and nothing else; the shortcut convolutions of
/// blocks 2 and 3 (32 and 128 KiB of weights) join their steps as a first
/// stage, those of blocks 4 and 13 (0.7 and 2.8 MiB) stay apart. Without
/// the pass the steps stay apart.
#[test]
fn xception_pooled_blocks_stream_by_rows() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../xception-spec/specs/xception.json"),
    )
    .unwrap();
    let graph = xception_spec::validate(&xception_spec::from_json_str(&text).unwrap()).unwrap();
    let weights = xception_spec::detgen::weights(&graph, 42);
    let streamed = |stream_rows: bool| {
        let passes = PassOptions {
            stream_rows,
            ..PassOptions::default()
        };
        let p = xcc_codegen::optimize(&graph, &weights, passes).unwrap();
        p.steps
            .iter()
            .filter_map(|s| match &s.kernel {
                Kernel::Streamed { stages } => Some(
                    stages
                        .iter()
                        .map(|st| st.kernel.kind())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let (with, without) = (
        "conv separable separable maxpool",
        "separable separable maxpool",
    );
    assert_eq!(streamed(true), vec![with, with, without, without]);
    assert!(streamed(false).is_empty());
}
