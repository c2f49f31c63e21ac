//! Model statistics: a per-layer table (name, type, output shape, parameters,
//! MACs) with totals and the MAC breakdown by kind of work, as text.
//!
//! Parameters count every weight variable, trainable or not, as Keras'
//! `count_params()` does. MACs are multiply-accumulates of the convolutions
//! and dense layers for one image (see [`Macs`]); batch normalization,
//! activations, pooling and additions are not counted.

use std::fmt::Write as _;

use crate::graph::{Graph, Macs, Shape, WeightKind};

/// One row of the table: a layer (or the model input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// Layer name.
    pub name: String,
    /// Keras class name (`InputLayer` for the model input).
    pub op: &'static str,
    /// Output shape without the batch axis.
    pub output: Shape,
    /// Parameters (all weight elements).
    pub params: u64,
    /// Multiply-accumulates.
    pub macs: u64,
}

/// The whole table and its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStats {
    /// Model name.
    pub model: String,
    /// The input first, then every layer in the graph's topological order.
    pub layers: Vec<LayerStats>,
    /// Total parameters.
    pub params: u64,
    /// Parameters Keras does not train (BatchNormalization moving mean and variance).
    pub non_trainable_params: u64,
    /// Total MACs by kind.
    pub macs: Macs,
}

/// Collects the statistics of a validated graph.
pub fn stats(graph: &Graph) -> ModelStats {
    let mut layers = Vec::with_capacity(graph.nodes.len() + 1);
    layers.push(LayerStats {
        name: graph.spec.input.name.clone(),
        op: "InputLayer",
        output: graph.input_shape,
        params: 0,
        macs: 0,
    });
    for node in &graph.nodes {
        let layer = graph.layer(node);
        layers.push(LayerStats {
            name: layer.name.clone(),
            op: layer.op.type_name(),
            output: node.output_shape,
            params: node.params(),
            macs: node.macs.total(),
        });
    }
    let non_trainable_params = graph
        .weight_specs()
        .filter(|w| matches!(w.kind, WeightKind::MovingMean | WeightKind::MovingVariance))
        .map(|w| w.len() as u64)
        .sum();
    ModelStats {
        model: graph.spec.name.clone(),
        layers,
        params: graph.params(),
        non_trainable_params,
        macs: graph.macs(),
    }
}

/// `n` with `,` between groups of three digits: `22910480` -> `22,910,480`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..head]);
    let mut i = head;
    while i < digits.len() {
        out.push(',');
        out.push_str(&digits[i..i + 3]);
        i += 3;
    }
    out
}

/// The statistics of a validated graph as a text table with totals, ready to print.
pub fn render(graph: &Graph) -> String {
    stats(graph).to_string()
}

impl std::fmt::Display for ModelStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: Vec<[String; 5]> = self
            .layers
            .iter()
            .map(|l| {
                [
                    l.name.escape_debug().to_string(),
                    l.op.to_string(),
                    l.output.to_string(),
                    thousands(l.params),
                    thousands(l.macs),
                ]
            })
            .collect();
        let header = ["layer", "type", "output", "params", "MACs"];
        let mut width = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        writeln!(out, "Model: {}", self.model.escape_debug())?;
        let line = |out: &mut String, cells: [&str; 5]| {
            writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3],
                w4 = width[4],
            )
        };
        line(&mut out, header)?;
        let rules = width.map(|w| "-".repeat(w));
        line(
            &mut out,
            [&rules[0], &rules[1], &rules[2], &rules[3], &rules[4]],
        )?;
        for row in &rows {
            line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]])?;
        }
        writeln!(
            out,
            "Layers: {} (plus the input)",
            self.layers.len().saturating_sub(1)
        )?;
        writeln!(
            out,
            "Total params: {} (trainable {}, non-trainable {}); {} bytes as f32",
            thousands(self.params),
            thousands(self.params - self.non_trainable_params),
            thousands(self.non_trainable_params),
            thousands(self.params.saturating_mul(4)),
        )?;
        let total = self.macs.total();
        writeln!(out, "Total MACs: {}", thousands(total))?;
        let parts = [
            ("pointwise (separable 1x1)", self.macs.pointwise),
            ("depthwise", self.macs.depthwise),
            ("conv kxk", self.macs.conv),
            ("conv 1x1", self.macs.conv1x1),
            ("dense", self.macs.dense),
        ];
        let num_width = thousands(total).len();
        for (what, n) in parts {
            // Share in tenths of a percent, rounded, in integers.
            let permille = (u128::from(n) * 1000 + u128::from(total) / 2)
                .checked_div(u128::from(total))
                .unwrap_or(0);
            writeln!(
                out,
                "  {what:<26}{:>num_width$}  {:>3}.{}%",
                thousands(n),
                permille / 10,
                permille % 10
            )?;
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(22_910_480), "22,910,480");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
