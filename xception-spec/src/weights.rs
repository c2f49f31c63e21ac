//! Weight maps: tensor name (`<layer>/<variable>`) to shape and data, in Keras layouts.

use std::collections::BTreeMap;

use crate::graph::Graph;

/// A dense f32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major data; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

/// Tensor name to tensor; names are `<layer>/<variable>` as in Keras 3 (`block1_conv1/kernel`).
pub type WeightMap = BTreeMap<String, Tensor>;

/// A weight map that does not fit a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightMismatch(pub String);

impl std::fmt::Display for WeightMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WeightMismatch {}

/// Checks that `weights` holds exactly the graph's variables with the right
/// shapes and only finite values; errors name the layer and the tensor.
pub fn check(graph: &Graph, weights: &WeightMap) -> Result<(), WeightMismatch> {
    for node in &graph.nodes {
        let layer = &graph.layer(node).name;
        for w in &node.weights {
            let t = weights.get(&w.name).ok_or_else(|| {
                WeightMismatch(format!(
                    "layer '{layer}': missing weight tensor '{}' (shape {:?})",
                    w.name, w.shape
                ))
            })?;
            if t.shape != w.shape {
                return Err(WeightMismatch(format!(
                    "layer '{layer}': weight '{}' has shape {:?}, the spec needs {:?}",
                    w.name, t.shape, w.shape
                )));
            }
            if t.data.len() != w.len() {
                return Err(WeightMismatch(format!(
                    "layer '{layer}': weight '{}' has {} values for shape {:?}",
                    w.name,
                    t.data.len(),
                    w.shape
                )));
            }
            if let Some(k) = t.data.iter().position(|v| !v.is_finite()) {
                return Err(WeightMismatch(format!(
                    "layer '{layer}': weight '{}' has a non-finite value ({}) at flat index {k}",
                    w.name, t.data[k]
                )));
            }
        }
    }
    let known: std::collections::HashSet<&str> =
        graph.weight_specs().map(|w| w.name.as_str()).collect();
    if let Some(extra) = weights.keys().find(|k| !known.contains(k.as_str())) {
        return Err(WeightMismatch(format!(
            "weight tensor '{extra}' belongs to no layer variable of the spec"
        )));
    }
    Ok(())
}
