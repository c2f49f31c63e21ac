//! Removes `Identity` steps (linear activations) by renaming their output to their input.

use crate::ir::{Kernel, Program};

/// Runs the pass.
pub fn run(p: &mut Program) {
    while let Some(i) = p.steps.iter().position(|s| {
        s.kernel == Kernel::Identity && !(s.output == p.output && s.inputs[0] == p.input)
    }) {
        let s = p.steps.remove(i);
        p.rename_tensor(s.output, s.inputs[0]);
    }
}
