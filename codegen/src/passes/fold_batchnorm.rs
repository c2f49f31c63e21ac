//! Folds an `Affine` step (an inference BatchNormalization) into the conv,
//! depthwise, separable or dense step that feeds it, when that step's output
//! has no other reader: `w' = w * s` per output channel, `b' = b * s + t`.

use crate::ir::{Const, Kernel, Program};

/// Runs the pass.
pub fn run(p: &mut Program) {
    let mut i = 0;
    while i < p.steps.len() {
        if try_fold(p, i) {
            continue;
        }
        i += 1;
    }
}

fn try_fold(p: &mut Program, i: usize) -> bool {
    let Kernel::Affine { c, scale, shift } = p.steps[i].kernel else {
        return false;
    };
    let a = &p.steps[i];
    if a.relu_in || a.epilogue.residual.is_some() || a.epilogue.relu {
        return false;
    }
    let t = a.inputs[0];
    let Some(pi) = p.producer(t) else {
        return false;
    };
    let prod = &p.steps[pi];
    let foldable = matches!(
        prod.kernel,
        Kernel::Conv { .. }
            | Kernel::Depthwise { .. }
            | Kernel::Separable { .. }
            | Kernel::Dense { .. }
    );
    if !foldable
        || prod.epilogue.relu
        || prod.epilogue.residual.is_some()
        || p.consumers(t) != [i]
        || t == p.output
    {
        return false;
    }
    let s = p.consts[scale].data.clone();
    let sh = p.consts[shift].data.clone();
    let wid = match prod.kernel {
        Kernel::Conv { weights, .. }
        | Kernel::Depthwise { weights, .. }
        | Kernel::Dense { weights, .. } => weights,
        Kernel::Separable { pw, .. } => pw,
        _ => unreachable!("checked above"),
    };
    // Every kernel layout here has the output channel as its fastest axis.
    let w = &mut p.consts[wid];
    for (k, v) in w.data.iter_mut().enumerate() {
        *v = (f64::from(*v) * f64::from(s[k % c])) as f32;
    }
    w.name.push_str(" (BN folded)");
    let bias: Vec<f32> = match prod.epilogue.bias {
        Some(b) => p.consts[b]
            .data
            .iter()
            .enumerate()
            .map(|(k, &v)| (f64::from(v) * f64::from(s[k]) + f64::from(sh[k])) as f32)
            .collect(),
        None => sh,
    };
    let bn_name = p.steps[i].name.clone();
    let out = p.steps[i].output;
    p.consts.push(Const {
        name: format!("{bn_name}/folded_bias"),
        shape: vec![c],
        data: bias,
    });
    let bid = p.consts.len() - 1;
    let prod = &mut p.steps[pi];
    prod.epilogue.bias = Some(bid);
    prod.output = out;
    prod.name = format!("{}+{}", prod.name, bn_name);
    p.steps.remove(i);
    true
}
