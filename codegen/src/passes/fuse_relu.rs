//! Removes `Relu` steps. Preferred: the producer applies ReLU in its epilogue
//! (once per element) when the pre-ReLU tensor has no other reader. Otherwise,
//! when the pre-ReLU tensor is also read elsewhere (Xception's
//! `add -> relu -> separable conv` with the `add` also feeding a shortcut),
//! every consumer applies ReLU as it loads its primary input.

use crate::ir::{Kernel, Program};

/// Runs the pass.
pub fn run(p: &mut Program) {
    let mut i = 0;
    while i < p.steps.len() {
        if into_producer(p, i) || into_consumers(p, i) {
            continue;
        }
        i += 1;
    }
}

fn plain_relu(p: &Program, i: usize) -> bool {
    let s = &p.steps[i];
    s.kernel == Kernel::Relu && !s.relu_in && s.epilogue.residual.is_none() && !s.epilogue.relu
}

fn into_producer(p: &mut Program, i: usize) -> bool {
    if !plain_relu(p, i) {
        return false;
    }
    let t = p.steps[i].inputs[0];
    let Some(pi) = p.producer(t) else {
        return false;
    };
    let prod = &p.steps[pi];
    let accepts = prod.kernel.has_epilogue() || prod.kernel == Kernel::Add;
    if !accepts || prod.epilogue.relu || p.consumers(t) != [i] || t == p.output {
        return false;
    }
    let out = p.steps[i].output;
    let name = p.steps[i].name.clone();
    let prod = &mut p.steps[pi];
    prod.epilogue.relu = true;
    prod.output = out;
    prod.name = format!("{}+{}", prod.name, name);
    p.steps.remove(i);
    true
}

fn into_consumers(p: &mut Program, i: usize) -> bool {
    if !plain_relu(p, i) {
        return false;
    }
    let (t, r) = (p.steps[i].inputs[0], p.steps[i].output);
    if r == p.output {
        return false;
    }
    let consumers = p.consumers(r);
    let all_ok = !consumers.is_empty()
        && consumers.iter().all(|&c| {
            let s = &p.steps[c];
            s.kernel.accepts_relu_in()
                && !s.relu_in
                && s.inputs[0] == r
                && s.inputs[1..].iter().all(|&x| x != r)
                && s.epilogue.residual != Some(r)
        });
    if !all_ok {
        return false;
    }
    for c in consumers {
        let s = &mut p.steps[c];
        s.inputs[0] = t;
        s.relu_in = true;
    }
    p.steps.remove(i);
    true
}
