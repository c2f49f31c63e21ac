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
//!
//! The block's shortcut joins the step as a first stage (see
//! [`crate::ir::streamed_shortcut`]) when it is a convolution of the
//! chain's input whose only reader is the pooling's residual, without a
//! residual of its own, and with under 256 KiB of weights. The x86 kernels
//! then compute its rows just before the pooling adds them, while the
//! input rows are still in cache, instead of writing the whole shortcut
//! image out and reading it back (Xception's blocks 2 and 3; AVX-512, lab
//! A/Bs in both orders: each block 0.23-0.49 ms faster). Larger weights
//! (blocks 4 and 13: 0.7 and 2.8 MiB) would stream once per group of rows:
//! block 13 measured up to 1 ms slower, so those stay separate steps.

use crate::ir::{Kernel, Program, Step};

/// Weight bytes below which a shortcut convolution joins its chain.
const SHORTCUT_WEIGHT_BYTES: usize = 256 * 1024;

/// Runs the pass.
pub fn run(p: &mut Program) {
    let mut i = 0;
    while i + 2 < p.steps.len() {
        if chain_at(p, i) {
            let mut stages: Vec<Step> = p.steps.drain(i..i + 3).collect();
            p.steps.insert(i, Step::streamed(stages.clone()));
            if let Some(j) = shortcut_of(p, i) {
                stages.insert(0, p.steps.remove(j));
                i -= 1;
                p.steps[i] = Step::streamed(stages);
            }
        }
        i += 1;
    }
}

/// The step computing streamed step `i`'s residual, when it can join the
/// step as its shortcut stage (see the module docs).
fn shortcut_of(p: &Program, i: usize) -> Option<usize> {
    let step = &p.steps[i];
    let r = step.epilogue.residual?;
    let j = p.producer(r)?;
    let conv = &p.steps[j];
    let small = match conv.kernel {
        Kernel::Conv { g, cout, .. } => 4 * g.kh * g.kw * g.c * cout < SHORTCUT_WEIGHT_BYTES,
        _ => false,
    };
    (j < i
        && small
        && conv.inputs == step.inputs
        && conv.epilogue.residual.is_none()
        && r != p.output
        && p.consumers(r) == [i])
    .then_some(j)
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
