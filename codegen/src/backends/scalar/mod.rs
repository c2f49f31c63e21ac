//! The portable scalar backend: every op, any target; the baseline for SIMD.

use proc_macro2::TokenStream;
use quote::quote;

use super::kernels;
use super::{Backend, KernelModule, StepArgs, Target};
use crate::ir::{separables_pool_shapes, Geom, Kernel, Program, Step};

/// Scalar backend: constants stay in their logical layout.
pub struct ScalarBackend;

/// The scalar kernel library source.
pub const SOURCE: KernelModule = KernelModule {
    name: "scalar",
    source: include_str!("kernels.rs"),
    cfg: None,
};

/// `kernels::scalar::Window { .. }` for a geometry.
pub fn window_tokens(g: &Geom) -> TokenStream {
    let Geom {
        h,
        w,
        c,
        oh,
        ow,
        kh,
        kw,
        sh,
        sw,
        dh,
        dw,
        pt,
        pl,
        ..
    } = *g;
    quote! {
        kernels::scalar::Window {
            h: #h, w: #w, c: #c, oh: #oh, ow: #ow, kh: #kh, kw: #kw,
            sh: #sh, sw: #sw, dh: #dh, dw: #dw, pt: #pt, pl: #pl,
        }
    }
}

/// `kernels::scalar::Epilogue { .. }` for a step.
pub fn epilogue_tokens(step: &Step, residual_in_place: bool) -> TokenStream {
    let relu_in = step.relu_in;
    let bias = step.epilogue.bias.is_some();
    let relu = step.epilogue.relu;
    let residual = match (step.epilogue.residual, residual_in_place) {
        (None, _) => quote!(kernels::scalar::Residual::None),
        (Some(_), false) => quote!(kernels::scalar::Residual::Separate),
        (Some(_), true) => quote!(kernels::scalar::Residual::InPlace),
    };
    quote! {
        kernels::scalar::Epilogue { relu_in: #relu_in, bias: #bias, residual: #residual, relu: #relu }
    }
}

/// The step's constants in logical layout: kernel constants, then the bias.
pub fn logical_consts(p: &Program, step: &Step) -> Vec<Vec<f32>> {
    let c = |id: usize| p.consts[id].data.clone();
    let mut v = match step.kernel {
        Kernel::Conv { weights, .. }
        | Kernel::Depthwise { weights, .. }
        | Kernel::Dense { weights, .. } => {
            vec![c(weights)]
        }
        Kernel::Separable { dw, pw, .. } => vec![c(dw), c(pw)],
        Kernel::Affine { scale, shift, .. } => vec![c(scale), c(shift)],
        Kernel::Streamed { ref stages } => {
            return stages.iter().flat_map(|s| logical_consts(p, s)).collect();
        }
        _ => Vec::new(),
    };
    if let Some(b) = step.epilogue.bias {
        v.push(c(b));
    }
    v
}

/// The scalar kernel call for any step; SIMD backends use it for the ops they
/// do not specialise.
pub fn scalar_call(p: &Program, step: &Step, a: &StepArgs) -> TokenStream {
    let ep = epilogue_tokens(step, a.residual_in_place);
    let y = &a.output;
    let res = &a.residual;
    let scratch = &a.scratch;
    let x = a.inputs.first().cloned().unwrap_or_default();
    let bias = if step.epilogue.bias.is_some() {
        a.consts.last().cloned().unwrap_or_default()
    } else {
        quote!(&[])
    };
    let w0 = a.consts.first().cloned().unwrap_or_default();
    match step.kernel {
        Kernel::Conv { g, cout, .. } => {
            let win = window_tokens(&g);
            quote!(kernels::scalar::conv2d(&#win, #cout, &#ep, #x, #w0, #bias, #res, #y);)
        }
        Kernel::Depthwise { g, mult, .. } => {
            let win = window_tokens(&g);
            quote!(kernels::scalar::depthwise(&#win, #mult, &#ep, #x, #w0, #bias, #res, #y);)
        }
        Kernel::Separable { g, mult, cout, .. } => {
            let win = window_tokens(&g);
            let w1 = &a.consts[1];
            quote!(kernels::scalar::separable(&#win, #mult, #cout, &#ep, #x, #w0, #w1, #bias, #res, #scratch, #y);)
        }
        Kernel::Dense { cin, cout, .. } => {
            quote!(kernels::scalar::dense(#cin, #cout, &#ep, #x, #w0, #bias, #res, #y);)
        }
        Kernel::Affine { c, .. } => {
            let w1 = &a.consts[1];
            if a.output_aliases_input.is_some() {
                quote!(kernels::scalar::affine_in_place(#c, &#ep, #y, #w0, #w1);)
            } else {
                quote!(kernels::scalar::affine(#c, &#ep, #x, #w0, #w1, #res, #y);)
            }
        }
        Kernel::MaxPool { g } => {
            let win = window_tokens(&g);
            quote!(kernels::scalar::max_pool(&#win, &#ep, #x, #res, #y);)
        }
        Kernel::AvgPool { g } => {
            let win = window_tokens(&g);
            quote!(kernels::scalar::avg_pool(&#win, &#ep, #x, #res, #y);)
        }
        Kernel::GlobalPool { hw, c, is_max } => {
            let relu_in = step.relu_in;
            quote!(kernels::scalar::global_pool(#hw, #c, #is_max, #relu_in, #x, #y);)
        }
        Kernel::Add => {
            let relu = step.epilogue.relu;
            match a.output_aliases_input {
                Some(k) => {
                    let others: Vec<_> = a
                        .inputs
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != k)
                        .map(|(_, t)| t)
                        .collect();
                    let n = others.len();
                    let first = others[..n - 1].iter();
                    let last = others[n - 1];
                    quote! {
                        #( kernels::scalar::add_in_place(false, #y, #first); )*
                        kernels::scalar::add_in_place(#relu, #y, #last);
                    }
                }
                None => {
                    let x1 = &a.inputs[1];
                    let rest: Vec<_> = a.inputs[2..].iter().collect();
                    if rest.is_empty() {
                        quote!(kernels::scalar::add(#relu, #x, #x1, #y);)
                    } else {
                        let n = rest.len();
                        let first = rest[..n - 1].iter();
                        let last = rest[n - 1];
                        quote! {
                            kernels::scalar::add(false, #x, #x1, #y);
                            #( kernels::scalar::add_in_place(false, #y, #first); )*
                            kernels::scalar::add_in_place(#relu, #y, #last);
                        }
                    }
                }
            }
        }
        Kernel::Relu => {
            if a.output_aliases_input.is_some() {
                quote!(kernels::scalar::relu_in_place(#y);)
            } else {
                quote!(kernels::scalar::relu(#x, #y);)
            }
        }
        Kernel::Softmax { c } => {
            if a.output_aliases_input.is_some() {
                quote!(kernels::scalar::softmax_in_place(#c, #y);)
            } else {
                quote! {
                    #y.copy_from_slice(#x);
                    kernels::scalar::softmax_in_place(#c, #y);
                }
            }
        }
        Kernel::Identity => quote!(#y.copy_from_slice(#x);),
        Kernel::Streamed { ref stages } => match separables_pool_shapes(stages) {
            Some(((g1, co1), (g2, co2), pg)) => {
                let mut consts = a.consts.iter();
                let mut stage = |st: &Step, g: &Geom, co: usize| {
                    let (win, ep) = (window_tokens(g), epilogue_tokens(st, false));
                    let (dw, pw) = (consts.next(), consts.next());
                    let bias = super::next_bias(st, &mut consts);
                    quote!((&#win, #co, &#ep, (#dw, #pw, #bias)))
                };
                let (s1, s2) = (stage(&stages[0], &g1, co1), stage(&stages[1], &g2, co2));
                let pool = &stages[2];
                let (pwin, pep) = (
                    window_tokens(&pg),
                    epilogue_tokens(pool, a.residual_in_place),
                );
                let is_max = matches!(pool.kernel, Kernel::MaxPool { .. });
                quote!(kernels::scalar::separables_pool(#s1, #s2, (&#pwin, #is_max, &#pep), #x, #res, #scratch, #y);)
            }
            None => super::staged_call(&ScalarBackend, p, stages, a),
        },
    }
}

/// Scratch the scalar kernels need: one depthwise output row for a separable
/// convolution; for a streamed step, rows of one depthwise output and rings
/// of rows (`kernels::scalar::separables_pool_scratch`).
pub fn scalar_scratch(p: &Program, step: &Step) -> usize {
    match step.kernel {
        Kernel::Separable { g, mult, .. } => g.ow * g.c * mult,
        Kernel::Streamed { ref stages } => match separables_pool_shapes(stages) {
            Some(((g1, co1), (g2, co2), pg)) => kernels::scalar::separables_pool_scratch(
                (&g1.window(), co1, 1),
                (&g2.window(), co2, 1),
                &pg.window(),
                0,
            ),
            None => super::staged_scratch(p, stages, |s| scalar_scratch(p, s)),
        },
        _ => 0,
    }
}

impl Backend for ScalarBackend {
    fn target(&self) -> Target {
        Target::Scalar
    }

    fn kernel_modules(&self) -> Vec<KernelModule> {
        vec![SOURCE]
    }

    fn scratch_floats(&self, p: &Program, step: &Step) -> usize {
        scalar_scratch(p, step)
    }

    fn pack(&self, p: &Program, step: &Step) -> Vec<Vec<f32>> {
        logical_consts(p, step)
    }

    fn call(&self, p: &Program, step: &Step, args: &StepArgs) -> TokenStream {
        scalar_call(p, step, args)
    }
}
