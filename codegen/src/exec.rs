//! Executes an optimised, planned program in process with the scalar kernel
//! library, using exactly the arena layout the emitter would use. It lets
//! tests check the passes and the memory plan against the reference
//! interpreter on many graphs without compiling generated code.

use crate::backends::kernels::scalar::{self as k, Epilogue, Residual};
use crate::emit::{self, Source};
use crate::ir::{separables_pool_shapes, streamed_shortcut, Kernel, Program, Step};
use crate::plan::{self, MemoryPlan};

/// The memory plan the scalar backend uses for `p`.
pub fn scalar_plan(p: &Program) -> MemoryPlan {
    let scratch: Vec<usize> = p
        .steps
        .iter()
        .map(|s| crate::backends::scalar::scalar_scratch(p, s))
        .collect();
    plan::plan(p, &scratch)
}

/// Runs `p` on `input`; returns the output and, per step, a copy of its output.
pub fn run(p: &Program, input: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>) {
    let mp = scalar_plan(p);
    let mut arena = vec![0f32; mp.arena_floats];
    let mut outs = Vec::with_capacity(p.steps.len());
    for (i, s) in p.steps.iter().enumerate() {
        run_step(p, &mp, i, s, input, &mut arena);
        let r = mp.region(s.output);
        outs.push(arena[r.offset..r.offset + r.len].to_vec());
    }
    let r = mp.region(p.output);
    (arena[r.offset..r.offset + r.len].to_vec(), outs)
}

fn run_step(p: &Program, mp: &MemoryPlan, i: usize, s: &Step, input: &[f32], arena: &mut [f32]) {
    // The same bindings as emitted code, held to the same rule as
    // `xcc_runtime::regions::many`: the step's regions are pairwise disjoint.
    let b = emit::bindings(p, mp, i);
    for (k, r) in b.regions.iter().enumerate() {
        for q in &b.regions[k + 1..] {
            let disjoint = r.len == 0
                || q.len == 0
                || r.offset + r.len <= q.offset
                || q.offset + q.len <= r.offset;
            assert!(disjoint, "step {i} '{}': regions overlap", s.name);
        }
    }
    let out_r = b.regions[0];
    let read = |arena: &[f32], src: Source| -> Vec<f32> {
        match src {
            Source::ModelInput => input.to_vec(),
            Source::Output => arena[out_r.offset..out_r.offset + out_r.len].to_vec(),
            Source::Region(k) => {
                arena[b.regions[k].offset..b.regions[k].offset + b.regions[k].len].to_vec()
            }
            Source::Nothing => Vec::new(),
        }
    };
    let aliased = b.inputs.iter().position(|&src| src == Source::Output);
    let xs: Vec<Vec<f32>> = b.inputs.iter().map(|&src| read(arena, src)).collect();
    let (res, res_mode) = match b.residual {
        Source::Nothing => (Vec::new(), Residual::None),
        Source::Output => (Vec::new(), Residual::InPlace),
        src => (read(arena, src), Residual::Separate),
    };
    let mut scratch = vec![0f32; mp.scratch[i].len];
    let y = &mut arena[out_r.offset..out_r.offset + out_r.len];
    run_kernel(p, s, (&xs, aliased), (&res, res_mode), &mut scratch, y);
}

/// Runs one step's kernel: inputs `xs` (`aliased`: the one that is the
/// output itself), residual and its mode, scratch, output.
fn run_kernel(
    p: &Program,
    s: &Step,
    (xs, aliased): (&[Vec<f32>], Option<usize>),
    (res, res_mode): (&[f32], Residual),
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let ep = Epilogue {
        relu_in: s.relu_in,
        bias: s.epilogue.bias.is_some(),
        residual: res_mode,
        relu: s.epilogue.relu,
    };
    let bias: &[f32] = s.epilogue.bias.map_or(&[], |b| &p.consts[b].data);
    let c = |id: usize| p.consts[id].data.as_slice();
    let x = xs[0].as_slice();
    match s.kernel {
        Kernel::Conv { g, cout, weights } => {
            k::conv2d(&g.window(), cout, &ep, x, c(weights), bias, res, y)
        }
        Kernel::Depthwise { g, mult, weights } => {
            k::depthwise(&g.window(), mult, &ep, x, c(weights), bias, res, y)
        }
        Kernel::Separable {
            g,
            mult,
            cout,
            dw,
            pw,
        } => k::separable(
            &g.window(),
            mult,
            cout,
            &ep,
            x,
            c(dw),
            c(pw),
            bias,
            res,
            scratch,
            y,
        ),
        Kernel::Dense { cin, cout, weights } => {
            k::dense(cin, cout, &ep, x, c(weights), bias, res, y)
        }
        Kernel::Affine {
            c: ch,
            scale,
            shift,
        } => {
            if aliased.is_some() {
                k::affine_in_place(ch, &ep, y, c(scale), c(shift));
            } else {
                k::affine(ch, &ep, x, c(scale), c(shift), res, y);
            }
        }
        Kernel::MaxPool { g } => k::max_pool(&g.window(), &ep, x, res, y),
        Kernel::AvgPool { g } => k::avg_pool(&g.window(), &ep, x, res, y),
        Kernel::GlobalPool { hw, c: ch, is_max } => k::global_pool(hw, ch, is_max, s.relu_in, x, y),
        Kernel::Add => {
            let relu = s.epilogue.relu;
            match aliased {
                Some(a) => {
                    let others: Vec<&Vec<f32>> = xs
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != a)
                        .map(|(_, v)| v)
                        .collect();
                    for (n, o) in others.iter().enumerate() {
                        k::add_in_place(relu && n + 1 == others.len(), y, o);
                    }
                }
                None => {
                    k::add(relu && xs.len() == 2, x, &xs[1], y);
                    for (n, o) in xs[2..].iter().enumerate() {
                        k::add_in_place(relu && n + 3 == xs.len(), y, o);
                    }
                }
            }
        }
        Kernel::Relu => k::relu(x, y),
        Kernel::Softmax { c: ch } => {
            y.copy_from_slice(x);
            k::softmax_in_place(ch, y);
        }
        Kernel::Identity => y.copy_from_slice(x),
        Kernel::Streamed { ref stages } => {
            if let Some((conv, chain)) = streamed_shortcut(stages) {
                // The shortcut into the output, then the chain with the
                // residual in place (as the backends run it).
                let mut conv_scratch = vec![0f32; crate::backends::scalar::scalar_scratch(p, conv)];
                let none = (&[][..], Residual::None);
                run_kernel(p, conv, (xs, None), none, &mut conv_scratch, y);
                let chain = Step::streamed(chain.to_vec());
                let in_place = (&[][..], Residual::InPlace);
                run_kernel(p, &chain, (xs, None), in_place, scratch, y);
                return;
            }
            match separables_pool_shapes(stages) {
                Some(((g1, co1), (g2, co2), pg)) => {
                    let stage = |st: &Step| {
                        let ep = Epilogue {
                            relu_in: st.relu_in,
                            bias: st.epilogue.bias.is_some(),
                            residual: Residual::None,
                            relu: st.epilogue.relu,
                        };
                        // A separable's constants: depthwise, pointwise, bias.
                        let ids = crate::ir::step_consts(st);
                        let bias: &[f32] = st.epilogue.bias.map_or(&[], |b| &p.consts[b].data);
                        (ep, (c(ids[0]), c(ids[1]), bias))
                    };
                    let ((e1, w1), (e2, w2)) = (stage(&stages[0]), stage(&stages[1]));
                    let pool = &stages[2];
                    let pep = Epilogue {
                        relu_in: pool.relu_in,
                        bias: false,
                        residual: res_mode,
                        relu: pool.epilogue.relu,
                    };
                    let is_max = matches!(pool.kernel, Kernel::MaxPool { .. });
                    k::separables_pool(
                        (&g1.window(), co1, &e1, w1),
                        (&g2.window(), co2, &e2, w2),
                        (&pg.window(), is_max, &pep),
                        x,
                        res,
                        scratch,
                        y,
                    );
                }
                None => {
                    // The stages one after another, each intermediate whole.
                    let mut cur = xs[0].clone();
                    for (n, st) in stages.iter().enumerate() {
                        let mut scratch =
                            vec![0f32; crate::backends::scalar::scalar_scratch(p, st)];
                        let input = [std::mem::take(&mut cur)];
                        if n + 1 == stages.len() {
                            run_kernel(p, st, (&input, None), (res, res_mode), &mut scratch, y);
                        } else {
                            let mut out = vec![0f32; p.len(st.output)];
                            run_kernel(
                                p,
                                st,
                                (&input, None),
                                (&[], Residual::None),
                                &mut scratch,
                                &mut out,
                            );
                            cur = out;
                        }
                    }
                }
            }
        }
    }
}
