//! Fuses a two-input `Add` into the epilogue of the producer of one operand
//! (the one produced last), which then reads the other operand as a residual:
//! `y = relu?(kernel(x) + bias + residual)`. Legal when that operand has no
//! other reader and the producer has no ReLU or residual yet.

use crate::ir::{Kernel, Program};

/// Runs the pass.
pub fn run(p: &mut Program) {
    let mut i = 0;
    while i < p.steps.len() {
        if try_fuse(p, i) {
            continue;
        }
        i += 1;
    }
}

fn try_fuse(p: &mut Program, i: usize) -> bool {
    let add = &p.steps[i];
    if add.kernel != Kernel::Add || add.inputs.len() != 2 || add.relu_in || add.epilogue.relu {
        return false;
    }
    let mut best: Option<(usize, usize)> = None; // (operand, producer)
    for (j, &t) in add.inputs.iter().enumerate() {
        let Some(pi) = p.producer(t) else { continue };
        let prod = &p.steps[pi];
        let ok = prod.kernel.has_epilogue()
            && prod.epilogue.residual.is_none()
            && !prod.epilogue.relu
            && p.consumers(t) == [i]
            && t != p.output
            && add.inputs[1 - j] != t;
        if ok && best.is_none_or(|(_, bp)| pi > bp) {
            best = Some((j, pi));
        }
    }
    let Some((j, pi)) = best else { return false };
    let other = add.inputs[1 - j];
    let out = add.output;
    let add_name = add.name.clone();
    let prod = &mut p.steps[pi];
    prod.epilogue.residual = Some(other);
    prod.output = out;
    prod.name = format!("{}+{}", prod.name, add_name);
    p.steps.remove(i);
    true
}
