//! Helpers shared by the integration tests: fixture paths and JSON loading.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use serde_json::Value;
use xception_spec::graph::Graph;

/// `xception-spec/<rel>`.
pub fn crate_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A JSON fixture from `xception-spec/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = crate_path("fixtures").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses and validates a spec file under `xception-spec/specs/`.
pub fn spec_graph(name: &str) -> Graph {
    let spec =
        xception_spec::from_file(crate_path("specs").join(name)).unwrap_or_else(|e| panic!("{e}"));
    xception_spec::validate(&spec).unwrap_or_else(|e| panic!("{e}"))
}

/// A JSON array of numbers as f64.
pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
}

/// Bit patterns of a JSON array of numbers that are f32 values printed as f64.
/// Rounding to f32 first makes the comparison immune to serde_json's default
/// float parsing, which can be one f64 ulp off for 17-digit numbers.
pub fn f32_bits(v: &Value) -> Vec<u32> {
    f64s(v).into_iter().map(|x| (x as f32).to_bits()).collect()
}

/// Bit patterns of f32 values.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A JSON array of non-negative integers.
pub fn usizes(v: &Value) -> Vec<usize> {
    f64s(v).into_iter().map(|x| x as usize).collect()
}

/// Largest absolute element-wise difference.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Indices of the `k` largest values, largest first (ties: lower index first).
pub fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}
