//! Streams Xception's pooled blocks (entry flow 2-4, exit flow 13) by rows:
//! a separable convolution whose only reader is a second separable, whose
//! only reader is a pooling (the block's max-pool with its fused residual
//! add), become one [`Kernel::Streamed`] step. Every backend runs it with a
//! `separables_pool` kernel that keeps the two intermediate images as rings
//! of a few rows in cache instead of whole images in the arena (Xception's
//! arena: scalar 23.85 → 8.49 MiB, AVX-512 24.28 → 10.86 MiB; on AVX-512
//! its block 2 about 9% faster, block 3 about 4%).
//!
//! Legal when the three steps are consecutive, each intermediate has no
//! other reader and is not the model output, the separables have no
//! residual and a depth multiplier of 1, and the pooling's residual is not
//! the chain's input.

use crate::ir::{Epilogue, Kernel, Program, Step};

/// Runs the pass.
pub fn run(p: &mut Program) {
    let mut i = 0;
    while i + 2 < p.steps.len() {
        if chain_at(p, i) {
            let stages: Vec<Step> = p.steps.drain(i..i + 3).collect();
            let name = stages
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join("+");
            let (first, last) = (&stages[0], &stages[2]);
            let step = Step {
                name,
                inputs: vec![first.inputs[0]],
                output: last.output,
                relu_in: false,
                epilogue: Epilogue {
                    bias: None,
                    residual: last.epilogue.residual,
                    relu: false,
                },
                kernel: Kernel::Streamed { stages },
            };
            p.steps.insert(i, step);
        }
        i += 1;
    }
}

/// Whether the chain can hold the step as one of its separables.
fn separable(s: &Step) -> bool {
    matches!(s.kernel, Kernel::Separable { mult: 1, .. }) && s.epilogue.residual.is_none()
}

fn chain_at(p: &Program, i: usize) -> bool {
    let (a, b, c) = (&p.steps[i], &p.steps[i + 1], &p.steps[i + 2]);
    let feeds = |from: usize, to: &Step| {
        let t = p.steps[from].output;
        to.inputs.len() == 1 && to.inputs[0] == t && p.consumers(t).len() == 1 && t != p.output
    };
    separable(a)
        && separable(b)
        && matches!(c.kernel, Kernel::MaxPool { .. } | Kernel::AvgPool { .. })
        && feeds(i, b)
        && feeds(i + 1, c)
        && c.epilogue.residual != Some(a.inputs[0])
}
