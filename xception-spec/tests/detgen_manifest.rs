//! The deterministic generator against the Keras-side manifests: every weight
//! tensor of Xception (seed 42, 236 tensors) and tiny_xception (seed 7), and the
//! input images.
//!
//! * First values: bit-for-bit as f32 (the manifest prints each f32 value as an f64).
//! * f64 sums: within 1e-13 of the sum of |values| (the sum's own rounding scale).
//!   A sequential f64 sum reproduces 212 of the 236 Xception sums bit-for-bit; the
//!   rest differ in the last bit, from numpy's summation order.
//! * `detgen::center_half` of each variable's `WeightKind` in the spec gives the
//!   manifest's (center, half) exactly, and the spec has exactly the manifest's
//!   tensors with the manifest's shapes.

mod common;

use std::collections::BTreeMap;

use common::{bits, f32_bits, fixture, spec_graph, usizes};
use serde_json::Value;
use xception_spec::detgen;
use xception_spec::graph::Graph;

/// Checks every manifest entry's generated values; returns name -> (shape, center, half).
fn check_values(tensors: &[Value], seed: u64) -> BTreeMap<String, (Vec<usize>, f64, f64)> {
    let mut entries = BTreeMap::new();
    for t in tensors {
        let name = t["name"].as_str().unwrap();
        let shape = usizes(&t["shape"]);
        let (center, half) = (t["center"].as_f64().unwrap(), t["half"].as_f64().unwrap());
        let values = detgen::generate(name, shape.iter().product(), center, half, seed);
        assert_eq!(
            bits(&values[..4]),
            f32_bits(&t["first4"]),
            "first values of {name}"
        );
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let scale: f64 = values.iter().map(|&v| f64::from(v).abs()).sum();
        let want = t["sum_f64"].as_f64().unwrap();
        assert!(
            (sum - want).abs() <= 1e-13 * scale,
            "sum of {name}: {sum} vs manifest {want}"
        );
        let old = entries.insert(name.to_string(), (shape, center, half));
        assert!(old.is_none(), "{name} listed twice");
    }
    entries
}

/// The graph's weight variables are exactly the manifest's, with its shapes and
/// (center, half), and `detgen::weights` reproduces the first values.
fn check_graph(
    g: &Graph,
    tensors: &[Value],
    entries: &BTreeMap<String, (Vec<usize>, f64, f64)>,
    seed: u64,
) {
    let specs: BTreeMap<&str, _> = g.weight_specs().map(|w| (w.name.as_str(), w)).collect();
    let names: Vec<&str> = specs.keys().copied().collect();
    let manifest_names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(names, manifest_names, "weight tensor names");
    for (name, (shape, center, half)) in entries {
        let w = specs[name.as_str()];
        assert_eq!(&w.shape, shape, "shape of {name}");
        assert_eq!(
            detgen::center_half(w.kind),
            (*center, *half),
            "(center, half) of {name} ({:?})",
            w.kind
        );
    }
    let weights = detgen::weights(g, seed);
    for t in tensors {
        let data = &weights[t["name"].as_str().unwrap()].data;
        assert_eq!(bits(&data[..4]), f32_bits(&t["first4"]));
    }
}

#[test]
fn xception_manifest_values() {
    let manifest = fixture("xception_seed42_manifest.json");
    let seed = manifest["seed64"].as_u64().unwrap();
    assert_eq!(seed, 42);
    let tensors = manifest["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 236);
    check_values(tensors, seed);

    let input = &manifest["input"];
    assert_eq!(input["name"], "input");
    let shape = usizes(&input["shape"]);
    assert_eq!(shape, [1, 299, 299, 3]);
    let values = detgen::generate("input", shape.iter().product(), 0.0, 1.0, seed);
    assert_eq!(bits(&values[..4]), f32_bits(&input["first4"]));
}

#[test]
fn xception_spec_center_half_and_input() {
    let manifest = fixture("xception_seed42_manifest.json");
    let tensors = manifest["tensors"].as_array().unwrap();
    let entries = check_values(tensors, 42);
    let g = spec_graph("xception.json");
    check_graph(&g, tensors, &entries, 42);
    let input = detgen::input(&g, 42);
    assert_eq!(input.len(), 299 * 299 * 3);
    assert_eq!(bits(&input[..4]), f32_bits(&manifest["input"]["first4"]));
}

#[test]
fn tiny_xception_manifest_and_spec() {
    let reference = fixture("tiny_xception_reference.json");
    let seed = reference["seed64"].as_u64().unwrap();
    assert_eq!(seed, 7);
    let tensors = reference["weights_manifest"].as_array().unwrap();
    assert_eq!(tensors.len(), 47);
    let entries = check_values(tensors, seed);
    check_graph(&spec_graph("tiny_xception.json"), tensors, &entries, seed);
}
