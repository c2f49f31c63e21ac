//! The deterministic synthetic weight and input generator, bit-exact with
//! `detgen.py` (fixtures): SplitMix64 over FNV-1a-64(tensor name) xor seed.
//!
//! `u(name, i) = (splitmix64((seed ^ fnv1a64(name)) + i) >> 40) / 2^24` and
//! `value(i) = f32(center + half * (2u - 1))` evaluated in f64. The index `i`
//! is the flat row-major index in the Keras layout.

use crate::graph::{Graph, WeightKind, WeightSpec};
use crate::weights::{Tensor, WeightMap};

/// FNV-1a, 64-bit, over the UTF-8 bytes of `s`.
pub fn fnv1a64(s: &str) -> u64 {
    fnv1a64_bytes(s.as_bytes())
}

/// FNV-1a, 64-bit, over `bytes`.
pub fn fnv1a64_bytes(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The SplitMix64 output function.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` values of the tensor `name` with the given (center, half).
pub fn generate(name: &str, n: usize, center: f64, half: f64, seed: u64) -> Vec<f32> {
    let key = seed ^ fnv1a64(name);
    (0..n as u64)
        .map(|i| {
            let u = (splitmix64(key.wrapping_add(i)) >> 40) as f64 / (1u64 << 24) as f64;
            (center + half * (2.0 * u - 1.0)) as f32
        })
        .collect()
}

/// (center, half) of a variable kind, as in the fixtures' `make_xception.spec_for`.
pub fn center_half(kind: WeightKind) -> (f64, f64) {
    match kind {
        WeightKind::Kernel { fan_in } => (0.0, (3.0 / fan_in as f64).sqrt()),
        WeightKind::Bias | WeightKind::Beta | WeightKind::MovingMean => (0.0, 0.1),
        WeightKind::Gamma | WeightKind::MovingVariance => (1.0, 0.5),
    }
}

/// One synthetic weight tensor.
pub fn weight(spec: &WeightSpec, seed: u64) -> Tensor {
    let (c, h) = center_half(spec.kind);
    Tensor {
        shape: spec.shape.clone(),
        data: generate(&spec.name, spec.len(), c, h, seed),
    }
}

/// Synthetic weights for every variable of a graph.
pub fn weights(graph: &Graph, seed: u64) -> WeightMap {
    graph
        .weight_specs()
        .map(|w| (w.name.clone(), weight(w, seed)))
        .collect()
}

/// The synthetic input image (tensor name `input`, uniform [-1, 1)), NHWC row-major.
pub fn input(graph: &Graph, seed: u64) -> Vec<f32> {
    generate("input", graph.input_shape.len(), 0.0, 1.0, seed)
}
