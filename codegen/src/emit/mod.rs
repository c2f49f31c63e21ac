//! Emission: a scheduled, planned program becomes one Rust source file
//! (formatted with prettyplease) plus one little-endian weight blob.
//!
//! The source has one function per step with every shape, stride, pad and
//! offset a constant, the public API (`ARENA_BYTES`, shape constants,
//! `infer`), and the backend's kernel libraries in `mod kernels`. It uses only
//! `core` and `xcc_runtime`, so it builds in a `#![no_std]` crate. The same
//! inputs always give byte-identical output.

pub mod ident;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::backends::{Backend, KernelModule, StepArgs};
use crate::error::CompileError;
use crate::ir::{Program, TensorId};
use crate::plan::{self, MemoryPlan, ALIGN_FLOATS};

/// How the generated source finds its weight blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsLocation {
    /// `include_bytes!(concat!(env!("OUT_DIR"), "/<file>"))` (build scripts).
    OutDir(String),
    /// `include_bytes!("<file>")`, relative to the generated source file.
    Relative(String),
}

/// Per-step facts for reports and profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInfo {
    /// Step name (fused layer names joined by `+`).
    pub name: String,
    /// Kernel kind.
    pub kind: &'static str,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Live arena bytes during the step.
    pub live_bytes: usize,
}

/// The result of emission.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The Rust source.
    pub source: String,
    /// The weight blob the source includes.
    pub weights: Vec<u8>,
    /// The memory plan.
    pub plan: MemoryPlan,
    /// One entry per step, in execution order.
    pub steps: Vec<StepInfo>,
}

fn kernel_module_tokens(m: &KernelModule) -> Result<TokenStream, CompileError> {
    let file = syn::parse_file(m.source)
        .map_err(|e| CompileError::Emit(format!("kernel module {}: {e}", m.name)))?;
    let items = file.items;
    let name = format_ident!("{}", m.name);
    let cfg = match m.cfg {
        Some(c) => {
            let pred: TokenStream = c
                .parse()
                .map_err(|e| CompileError::Emit(format!("cfg of {}: {e}", m.name)))?;
            quote!(#[cfg(#pred)])
        }
        None => quote!(),
    };
    Ok(quote! {
        #cfg
        #[allow(dead_code)]
        pub mod #name {
            #(#items)*
        }
    })
}

fn region_tuple(r: plan::Region) -> TokenStream {
    let (o, l) = (r.offset, r.len);
    quote!((#o, #l))
}

/// Where a step reads one operand from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller's input buffer.
    ModelInput,
    /// The step's own output region (in place: an element-wise input, or the residual).
    Output,
    /// `regions[k]` of the step's [`StepBindings`].
    Region(usize),
    /// Nothing (no residual).
    Nothing,
}

/// The arena regions one step touches and how its operands map onto them.
/// Each tensor gets one region even when the step reads it twice (`Add(x, x)`,
/// or an input that is also the residual), so the regions are pairwise
/// disjoint, as `xcc_runtime::regions::many` requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepBindings {
    /// `regions[0]` is the output; then read regions; then the scratch, if any.
    pub regions: Vec<plan::Region>,
    /// Per input, where it is read from.
    pub inputs: Vec<Source>,
    /// Where the residual is read from.
    pub residual: Source,
    /// Index of the scratch region.
    pub scratch: Option<usize>,
}

/// The bindings of step `i` under plan `mp`.
pub fn bindings(p: &Program, mp: &MemoryPlan, i: usize) -> StepBindings {
    let s = &p.steps[i];
    let out_r = mp.region(s.output);
    let mut regions = vec![out_r];
    let mut bound: Vec<(TensorId, usize)> = Vec::new();
    let mut bind = |t: TensorId, regions: &mut Vec<plan::Region>| -> Source {
        if t == p.input {
            return Source::ModelInput;
        }
        if mp.region(t) == out_r {
            return Source::Output;
        }
        if let Some(&(_, k)) = bound.iter().find(|(b, _)| *b == t) {
            return Source::Region(k);
        }
        regions.push(mp.region(t));
        bound.push((t, regions.len() - 1));
        Source::Region(regions.len() - 1)
    };
    let inputs = s.inputs.iter().map(|&t| bind(t, &mut regions)).collect();
    let residual = match s.epilogue.residual {
        None => Source::Nothing,
        Some(t) => bind(t, &mut regions),
    };
    let scratch = (mp.scratch[i].len > 0).then(|| {
        regions.push(mp.scratch[i]);
        regions.len() - 1
    });
    StepBindings {
        regions,
        inputs,
        residual,
        scratch,
    }
}

/// Emits `p` (scheduled) for `backend`.
pub fn emit(
    p: &Program,
    backend: &dyn Backend,
    weights_at: &WeightsLocation,
) -> Result<Generated, CompileError> {
    let scratch: Vec<usize> = p
        .steps
        .iter()
        .map(|s| backend.scratch_floats(p, s))
        .collect();
    let mp = plan::plan(p, &scratch);

    // Weight blob: each packed constant 64-byte aligned.
    let mut blob: Vec<f32> = Vec::new();
    let mut step_consts: Vec<Vec<(usize, usize)>> = Vec::new();
    for s in &p.steps {
        let mut v = Vec::new();
        for data in backend.pack(p, s) {
            let off = blob.len();
            v.push((off, data.len()));
            blob.extend_from_slice(&data);
            blob.resize(blob.len().div_ceil(ALIGN_FLOATS) * ALIGN_FLOATS, 0.0);
        }
        step_consts.push(v);
    }
    if blob.is_empty() {
        blob.resize(ALIGN_FLOATS, 0.0);
    }
    let weights: Vec<u8> = blob.iter().flat_map(|v| v.to_le_bytes()).collect();

    let mut step_fns = Vec::new();
    let mut step_idents = Vec::new();
    for (i, s) in p.steps.iter().enumerate() {
        let id = ident::step_ident(i, &s.name);
        let b = bindings(p, &mp, i);
        let names: Vec<TokenStream> = b
            .regions
            .iter()
            .enumerate()
            .map(|(k, _)| match k {
                0 => quote!(y),
                k if Some(k) == b.scratch => quote!(scratch),
                k => {
                    let n = format_ident!("r{}", k);
                    quote!(#n)
                }
            })
            .collect();
        let source = |src: Source| match src {
            Source::ModelInput => quote!(input),
            Source::Output | Source::Nothing => quote!(&[]),
            Source::Region(k) => names[k].clone(),
        };
        let inputs: Vec<TokenStream> = b
            .inputs
            .iter()
            .map(|&src| match src {
                Source::Output => quote!(y),
                src => source(src),
            })
            .collect();
        let residual = source(b.residual);
        let residual_in_place = b.residual == Source::Output;
        let aliased = b.inputs.iter().position(|&src| src == Source::Output);
        let regions: Vec<TokenStream> = b.regions.iter().map(|&r| region_tuple(r)).collect();
        let scratch_expr = match b.scratch {
            Some(k) => names[k].clone(),
            None => quote!(&mut []),
        };
        let consts: Vec<TokenStream> = step_consts[i]
            .iter()
            .map(|&(o, l)| {
                let e = o + l;
                quote!(&w[#o..#e])
            })
            .collect();
        let args = StepArgs {
            inputs,
            residual,
            residual_in_place,
            output_aliases_input: aliased,
            scratch: scratch_expr,
            output: quote!(y),
            consts,
        };
        let call = backend.call(p, s, &args);
        let k = regions.len();
        let bind_reads: Vec<TokenStream> = names
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != 0 && Some(k) != b.scratch)
            .map(|(_, n)| quote!(let #n: &[f32] = #n;))
            .collect();
        let doc = Literal::string(&format!(
            "Step {i}: `{}` ({}), output {}.",
            s.name,
            s.kernel.kind(),
            p.tensors[s.output].shape
        ));
        let uses_w = !step_consts[i].is_empty();
        let w_bind = if uses_w {
            quote!(let w = weights();)
        } else {
            quote!()
        };
        let uses_input = s.reads().any(|t| t == p.input);
        let input_param = if uses_input {
            quote!(input: &[f32])
        } else {
            quote!(_input: &[f32])
        };
        step_fns.push(quote! {
            #[doc = #doc]
            #[inline(never)]
            fn #id(arena: &mut [f32], #input_param) {
                #w_bind
                let [#(#names),*] = xcc_runtime::regions::many::<#k>(arena, [#(#regions),*]);
                #(#bind_reads)*
                #call
            }
        });
        step_idents.push(id);
    }

    let n_steps = p.steps.len();
    let step_names: Vec<Literal> = p.steps.iter().map(|s| Literal::string(&s.name)).collect();
    let step_macs: Vec<u64> = p.steps.iter().map(|s| s.kernel.macs()).collect();
    let step_index: Vec<usize> = (0..n_steps).collect();
    let step_outputs: Vec<TokenStream> = p
        .steps
        .iter()
        .map(|s| region_tuple(mp.region(s.output)))
        .collect();
    let arena_floats = mp.arena_floats.max(ALIGN_FLOATS);
    let in_dims = p.tensors[p.input].shape.dims();
    let in_rank = in_dims.len();
    let in_len = p.len(p.input);
    let out_dims = p.tensors[p.output].shape.dims();
    let out_rank = out_dims.len();
    let out_len = p.len(p.output);
    let out_r = mp.region(p.output);
    let (out_off, out_end) = (out_r.offset, out_r.offset + out_r.len);
    let blob_len = weights.len();
    let include = match weights_at {
        WeightsLocation::OutDir(f) => {
            let f = Literal::string(&format!("/{f}"));
            quote!(include_bytes!(concat!(env!("OUT_DIR"), #f)))
        }
        WeightsLocation::Relative(f) => {
            let f = Literal::string(f);
            quote!(include_bytes!(#f))
        }
    };
    let relocate_doc = "Copies the weights into `dst` (exactly [`WEIGHT_FLOATS`] floats, e.g. \
         from `xcc_runtime::huge_pages::leak_zeroed_f32`) and makes every later inference read \
         them there: with an OS, memory on huge pages saves the TLB misses of streaming the \
         weights (see `xcc_runtime::Weights`). Results are bit-identical.";
    // A model without weights has an empty blob (and no `weights()`), so the
    // relocation API is the same for every model.
    let has_weights = step_consts.iter().any(|c| !c.is_empty());
    let weights_len = if has_weights { blob_len } else { 0 };
    let blob_items = if has_weights {
        quote! {
            static WEIGHT_BLOB: xcc_runtime::Aligned64<[u8; #blob_len]> = xcc_runtime::Aligned64(*#include);

            static WEIGHTS: xcc_runtime::Weights<#blob_len> = xcc_runtime::Weights::new(&WEIGHT_BLOB);

            fn weights() -> &'static [f32] {
                WEIGHTS.get()
            }
        }
    } else {
        quote! {
            static WEIGHTS: xcc_runtime::Weights<0> = xcc_runtime::Weights::new(&xcc_runtime::Aligned64([]));
        }
    };
    let weights_items = quote! {
        #blob_items

        /// Floats in the model's weights (what [`relocate_weights`] takes).
        pub const WEIGHT_FLOATS: usize = xcc_runtime::Weights::<#weights_len>::FLOATS;

        #[doc = #relocate_doc]
        pub fn relocate_weights(dst: &'static mut [f32]) -> Result<(), xcc_runtime::WeightsLen> {
            WEIGHTS.relocate(dst)
        }
    };
    let model_doc = Literal::string(&format!(
        "Model `{}` compiled by xcc for target `{}`: {} steps, arena {} bytes.",
        p.name,
        backend.target().name(),
        n_steps,
        arena_floats * 4
    ));
    let target_name = backend.target().name();
    let (cpu_check, cpu_assert) = match backend.cpu_supported() {
        Some(check) => (
            check,
            quote!(if !cpu_supported() {
                panic!("{}", xcc_runtime::UnsupportedCpu { target: TARGET });
            }),
        ),
        None => (quote!(true), quote!()),
    };
    let mut kernel_mods = Vec::new();
    for m in backend.kernel_modules() {
        kernel_mods.push(kernel_module_tokens(&m)?);
    }

    let tokens = quote! {
        #[doc = #model_doc]
        pub const MODEL: &str = #model_doc;
        /// Instruction set the kernels were generated for.
        pub const TARGET: &str = #target_name;
        /// Arena size in `f32` elements.
        pub const ARENA_FLOATS: usize = #arena_floats;
        /// Arena size in bytes: all the working memory inference needs.
        pub const ARENA_BYTES: usize = ARENA_FLOATS * 4;
        /// The working memory `infer` needs (keep it in a `static` or on the heap).
        pub type Arena = xcc_runtime::Arena<ARENA_FLOATS>;
        /// Input shape without the batch axis (NHWC: height, width, channels).
        pub const INPUT_SHAPE: [usize; #in_rank] = [#(#in_dims),*];
        /// Input length in `f32` elements.
        pub const INPUT_LEN: usize = #in_len;
        /// Output shape without the batch axis.
        pub const OUTPUT_SHAPE: [usize; #out_rank] = [#(#out_dims),*];
        /// Output length in `f32` elements.
        pub const OUTPUT_LEN: usize = #out_len;
        /// Number of steps (fused layers).
        pub const STEPS: usize = #n_steps;
        /// Step names, in execution order (fused layer names joined by `+`).
        pub const STEP_NAMES: [&str; STEPS] = [#(#step_names),*];
        /// Multiply-accumulates per step.
        pub const STEP_MACS: [u64; STEPS] = [#(#step_macs),*];

        /// Where each step's output lives in the arena, `(offset, len)` in floats
        /// (valid right after the step; later steps may reuse the memory).
        pub const STEP_OUTPUTS: [(usize, usize); STEPS] = [#(#step_outputs),*];

        /// The output of step `i` as it is in the arena now (see [`STEP_OUTPUTS`]).
        pub fn step_output(arena: &Arena, i: usize) -> &[f32] {
            let (offset, len) = STEP_OUTPUTS[i];
            &arena.0[offset..offset + len]
        }

        #weights_items

        /// Runs the whole model: `input` (NHWC, f32) to `output`. Allocates nothing.
        /// Panics when `!cpu_supported()`; [`try_infer`] returns an error instead.
        pub fn infer(arena: &mut Arena, input: &[f32; INPUT_LEN], output: &mut [f32; OUTPUT_LEN]) {
            for i in 0..STEPS {
                run_step(i, arena, input);
            }
            read_output(arena, output);
        }

        /// As [`infer`], but on a CPU without the model's instruction set
        /// (`!cpu_supported()`) it returns [`xcc_runtime::UnsupportedCpu`] and
        /// leaves `arena` and `output` untouched.
        pub fn try_infer(
            arena: &mut Arena,
            input: &[f32; INPUT_LEN],
            output: &mut [f32; OUTPUT_LEN],
        ) -> Result<(), xcc_runtime::UnsupportedCpu> {
            if !cpu_supported() {
                return Err(xcc_runtime::UnsupportedCpu { target: TARGET });
            }
            infer(arena, input, output);
            Ok(())
        }

        /// Whether this CPU runs the instruction set the model was compiled for
        /// (`TARGET`). `infer` and `run_step` panic when it does not, `try_infer`
        /// returns an error. Compiled with
        /// the target's features enabled (`-C target-cpu=...`, `-C target-feature=...`),
        /// this is a constant and the check folds away.
        pub fn cpu_supported() -> bool {
            #cpu_check
        }

        /// Runs step `i` alone (for per-step profiling); steps must run in order.
        /// Out-of-range indices do nothing. Panics when `!cpu_supported()`.
        pub fn run_step(i: usize, arena: &mut Arena, input: &[f32; INPUT_LEN]) {
            #cpu_assert
            let a = arena.as_mut_slice();
            match i {
                #(#step_index => #step_idents(a, input),)*
                _ => {}
            }
        }

        /// Copies the model output out of the arena after the last step.
        pub fn read_output(arena: &Arena, output: &mut [f32; OUTPUT_LEN]) {
            output.copy_from_slice(&arena.0[#out_off..#out_end]);
        }

        #(#step_fns)*

        /// Kernel libraries, copied from the xcc backends.
        mod kernels {
            #(#kernel_mods)*
        }
    };
    let file: syn::File = syn::parse2(tokens).map_err(|e| CompileError::Emit(e.to_string()))?;
    let source = format!(
        "// @generated by xcc {} for target `{}`. Do not edit.\n{}",
        env!("CARGO_PKG_VERSION"),
        target_name,
        prettyplease::unparse(&file)
    );
    let steps = p
        .steps
        .iter()
        .zip(&mp.live_bytes)
        .map(|(s, &live)| StepInfo {
            name: s.name.clone(),
            kind: s.kernel.kind(),
            macs: s.kernel.macs(),
            live_bytes: live,
        })
        .collect();
    Ok(Generated {
        source,
        weights,
        plan: mp,
        steps,
    })
}
