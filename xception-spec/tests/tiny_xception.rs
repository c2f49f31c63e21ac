//! `specs/tiny_xception.json` against the Keras 3.15 run in
//! `fixtures/tiny_xception_reference.json`: same layers, shapes and weights,
//! and the interpreter's probabilities and logits within 1e-6 of Keras.

mod common;

use common::{bits, f32_bits, f64s, fixture, max_abs_diff, spec_graph, usizes};
use serde_json::Value;
use xception_spec::spec::{Activation, Op};
use xception_spec::{detgen, interp};

const SEED: u64 = 7;

/// A Keras output shape `[None, d...]` without its batch axis.
fn batch_dims(shape: &Value) -> Vec<usize> {
    let dims = shape.as_array().unwrap();
    assert!(dims[0].is_null(), "batch axis of {shape}");
    usizes(&Value::Array(dims[1..].to_vec()))
}

#[test]
fn spec_matches_the_keras_layer_list() {
    let reference = fixture("tiny_xception_reference.json");
    let g = spec_graph("tiny_xception.json");
    let keras = reference["layers"].as_array().unwrap();
    assert_eq!(keras[0]["class_name"], "InputLayer");
    assert_eq!(keras[0]["name"], g.spec.input.name.as_str());
    assert_eq!(batch_dims(&keras[0]["output_shape"]), g.input_shape.dims());
    assert_eq!(keras.len() - 1, g.nodes.len());
    for (k, node) in keras[1..].iter().zip(&g.nodes) {
        let layer = g.layer(node);
        assert_eq!(k["name"], layer.name.as_str());
        assert_eq!(k["class_name"], layer.op.type_name(), "{}", layer.name);
        let inbound: Vec<&str> = k["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(inbound, layer.inputs, "{}", layer.name);
        assert_eq!(
            batch_dims(&k["output_shape"]),
            node.output_shape.dims(),
            "{}",
            layer.name
        );
        let names: Vec<&str> = node.weights.iter().map(|w| w.name.as_str()).collect();
        let keras_names: Vec<&str> = k["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, keras_names, "weights of {}", layer.name);
    }
    assert_eq!(g.spec.output, "t_predictions");
    assert_eq!(g.params(), reference["n_params"].as_u64().unwrap());
}

#[test]
fn probabilities_and_logits_match_keras() {
    let reference = fixture("tiny_xception_reference.json");
    let g = spec_graph("tiny_xception.json");
    let weights = detgen::weights(&g, SEED);
    let input = detgen::input(&g, SEED);
    assert_eq!(
        bits(&input[..8]),
        f32_bits(&reference["input"]["first8"]),
        "detgen input"
    );

    let probs: Vec<f64> = interp::run(&g, &weights, &input)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let d_probs = max_abs_diff(&probs, &f64s(&reference["probs"]));
    let d_probs64 = max_abs_diff(&probs, &f64s(&reference["float64"]["probs"]));

    let mut linear = g.spec.clone();
    let head = linear
        .layers
        .iter_mut()
        .find(|l| l.name == "t_predictions")
        .unwrap();
    let Op::Dense(dense) = &mut head.op else {
        panic!("t_predictions is not Dense")
    };
    assert_eq!(dense.activation, Activation::Softmax);
    dense.activation = Activation::Linear;
    let linear = xception_spec::validate(&linear).unwrap();
    let logits: Vec<f64> = interp::run(&linear, &weights, &input)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let d_logits = max_abs_diff(&logits, &f64s(&reference["logits"]));
    let d_logits64 = max_abs_diff(&logits, &f64s(&reference["float64"]["logits"]));
    println!(
        "tiny_xception max |diff|: probs {d_probs:.3e} (vs f64 {d_probs64:.3e}), \
         logits {d_logits:.3e} (vs f64 {d_logits64:.3e})"
    );
    assert!(d_probs <= 1e-6, "probs differ from Keras by {d_probs}");
    assert!(d_logits <= 1e-6, "logits differ from Keras by {d_logits}");
    assert!(
        d_logits64 <= 1e-6,
        "logits differ from Keras f64 by {d_logits64}"
    );
    let top1 = common::top_k(&probs, 1)[0];
    assert_eq!(top1 as u64, reference["top1"].as_u64().unwrap());
}
