//! The full Xception (`specs/xception.json`) with detgen seed-42 weights and
//! input, run by the interpreter, against the Keras 3.15 run in
//! `fixtures/xception_seed42_reference.json`: logits, top-5, probabilities and
//! the statistics of seven intermediate layers.
//!
//! Tolerances (Keras computes in f32; the interpreter sums in f64, so most of
//! the difference is Keras' own rounding: its f32 and f64 logits differ by 4.8e-6):
//! * logits: max |diff| <= 1e-5 against the f32 Keras logits (measured 5.0e-6) and
//!   <= 2e-6 against the f64 Keras logits (measured 6.7e-7); identical top-5;
//! * probabilities: max |diff| <= 1e-7 (measured 3.7e-8; they are about 1e-3);
//! * intermediate layers: |mean diff| and |std diff| <= 1e-6 * (1 + std) (measured
//!   at most 2.8e-7, std of `add_11`), first-8 values within 5e-6 * (1 + |value|)
//!   (measured at most 8.9e-7).

mod common;

use std::time::Instant;

use common::{f64s, fixture, max_abs_diff, top_k, usizes};
use serde_json::json;
use xception_spec::spec::{Activation, Op, Spec};
use xception_spec::weights::WeightMap;
use xception_spec::{detgen, interp};

const SEED: u64 = 42;

/// The Xception spec, whose `predictions` Dense is checked to be softmax and then set to `activation`.
fn xception(activation: Activation) -> Spec {
    let mut spec = xception_spec::from_file(common::crate_path("specs/xception.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let head = spec
        .layers
        .iter_mut()
        .find(|l| l.name == "predictions")
        .expect("Xception has a 'predictions' layer");
    let Op::Dense(dense) = &mut head.op else {
        panic!("'predictions' is not Dense")
    };
    assert_eq!(dense.activation, Activation::Softmax, "Keras default head");
    dense.activation = activation;
    spec
}

/// Mean and (population) standard deviation in f64.
fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Softmax probabilities from the 2048 pooled features through the `predictions`
/// Dense with softmax, as a one-layer graph on a 1x1x2048 input.
fn head_probs(features: &[f32], weights: &WeightMap) -> Vec<f64> {
    let spec = json!({
        "name": "xception_head",
        "input": {"name": "features", "shape": [1, 1, features.len()]},
        "layers": [{"name": "predictions", "op": {"type": "Dense", "units": 1000,
            "activation": "softmax"}, "inputs": ["features"]}],
        "output": "predictions",
    });
    let spec = xception_spec::from_json_str(&spec.to_string()).unwrap();
    let g = xception_spec::validate(&spec).unwrap();
    let head: WeightMap = weights
        .iter()
        .filter(|(k, _)| k.starts_with("predictions/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    interp::run(&g, &head, features)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

#[test]
fn logits_probabilities_and_intermediates_match_keras() {
    let reference = fixture("xception_seed42_reference.json");
    let g = xception_spec::validate(&xception(Activation::Linear)).unwrap();
    let weights = detgen::weights(&g, SEED);
    let input = detgen::input(&g, SEED);

    let intermediates = reference["intermediate"].as_array().unwrap();
    let mut keep: Vec<&str> = intermediates
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    keep.push("avg_pool");
    let start = Instant::now();
    let out = interp::run_with_outputs(&g, &weights, &input, &keep).unwrap();
    println!("Xception interpreter run: {:.2?}", start.elapsed());

    let logits: Vec<f64> = out.output.iter().map(|&v| f64::from(v)).collect();
    let d32 = max_abs_diff(&logits, &f64s(&reference["logits_f32"]));
    let d64 = max_abs_diff(&logits, &f64s(&reference["logits_f64"]));
    let probs = head_probs(&out.kept["avg_pool"], &weights);
    let d_probs = max_abs_diff(&probs, &f64s(&reference["probs"]));
    println!(
        "logits max |diff|: {d32:.3e} vs Keras f32, {d64:.3e} vs Keras f64; probs {d_probs:.3e}"
    );

    let mut failures = Vec::new();
    for l in intermediates {
        let name = l["layer"].as_str().unwrap();
        let data = &out.kept[name];
        let node = g.node_by_name(name).unwrap();
        let shape = usizes(&l["shape"]);
        assert_eq!(shape[0], 1);
        assert_eq!(node.output_shape.dims(), shape[1..], "shape of {name}");
        let (mean, std) = mean_std(data);
        let (k_mean, k_std) = (l["mean"].as_f64().unwrap(), l["std"].as_f64().unwrap());
        let first8: Vec<f64> = data[..8].iter().map(|&v| f64::from(v)).collect();
        let k_first8 = f64s(&l["first8"]);
        let d_first8 = first8
            .iter()
            .zip(&k_first8)
            .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
            .fold(0.0, f64::max);
        let tol = 1e-6 * (1.0 + k_std);
        println!(
            "{name:>20}: |mean diff| {:.2e}, |std diff| {:.2e}, first8 max rel diff {d_first8:.2e}",
            (mean - k_mean).abs(),
            (std - k_std).abs()
        );
        if (mean - k_mean).abs() > tol || (std - k_std).abs() > tol || d_first8 > 5e-6 {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "intermediate layers off: {failures:?}");

    assert!(d32 <= 1e-5, "logits differ from Keras f32 by {d32}");
    assert!(d64 <= 2e-6, "logits differ from Keras f64 by {d64}");
    let top5: Vec<usize> = reference["top5"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["index"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(top_k(&logits, 5), top5, "top-5 by logit");
    assert_eq!(top_k(&probs, 5), top5, "top-5 by probability");
    assert!(
        d_probs <= 1e-7,
        "probabilities differ from Keras by {d_probs}"
    );
    let sum: f64 = probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
}
