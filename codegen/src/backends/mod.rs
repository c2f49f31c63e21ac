//! Backends: per-ISA kernel libraries and the code that calls them.
//!
//! A backend decides, per step, how constants are packed, how much scratch the
//! step needs, and which kernel call the emitter writes. The kernel libraries
//! themselves are plain Rust files under [`kernels`], compiled here (so they
//! are tested directly against each other) and copied verbatim into every
//! generated model.

pub mod arm;
pub mod kernels;
pub mod scalar;
pub mod x86;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{streamed_shortcut, Program, Step};

/// The instruction set the generated code is specialised for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Portable Rust, any target.
    Scalar,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// x86-64 with AVX-512 (F, VL, BW, DQ) and FMA.
    Avx512,
    /// aarch64 with NEON (Advanced SIMD, part of the aarch64 baseline).
    Neon,
    /// The best of the above on the machine running the compiler, resolved
    /// when the model is compiled (see [`Target::resolve`]).
    Native,
}

impl Target {
    /// Every target, in the order of the CLI's `--target` choices.
    pub const ALL: [Target; 5] = [
        Target::Scalar,
        Target::Avx2,
        Target::Avx512,
        Target::Neon,
        Target::Native,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Scalar => "scalar",
            Target::Avx2 => "avx2",
            Target::Avx512 => "avx512",
            Target::Neon => "neon",
            Target::Native => "native",
        }
    }

    /// Parses a `--target` value.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The concrete target: [`Target::Native`] becomes the best instruction
    /// set this machine runs; the others are themselves.
    pub fn resolve(self) -> Target {
        match self {
            Target::Native => native(),
            t => t,
        }
    }

    /// Whether the machine running the compiler runs code built for this
    /// target (`native` always does).
    pub fn runs_here(self) -> bool {
        match self.resolve() {
            Target::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Target::Avx2 => kernels::avx2::supported(),
            #[cfg(target_arch = "x86_64")]
            Target::Avx512 => kernels::avx512::supported(),
            Target::Neon => cfg!(target_arch = "aarch64"),
            _ => false,
        }
    }

    /// The backend implementing the (resolved) target, with the cache
    /// blocking for `cpu` (x86 only; the other targets have one schedule).
    pub fn backend(self, cpu: Cpu) -> Box<dyn Backend> {
        let x86 = |simd| x86::X86Backend::new(simd, x86::Blocking::for_cpu(simd, cpu));
        match self.resolve() {
            Target::Avx2 => Box::new(x86(x86::Simd::Avx2)),
            Target::Avx512 => Box::new(x86(x86::Simd::Avx512)),
            Target::Neon => Box::new(arm::NeonBackend),
            _ => Box::new(scalar::ScalarBackend),
        }
    }
}

/// The best instruction set of the machine running the compiler: the first
/// of AVX-512, AVX2 and NEON it runs, else scalar.
fn native() -> Target {
    [Target::Avx512, Target::Avx2, Target::Neon]
        .into_iter()
        .find(|t| t.runs_here())
        .unwrap_or(Target::Scalar)
}

/// The CPU family an x86 model's cache blocking is tuned for (see
/// [`x86::Blocking`]): like rustc's `-C target-cpu`, it never changes what
/// the model computes (outputs are bit-identical), only how fast it runs
/// where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cpu {
    /// Any x86 CPU (the blocking tuned on AMD Zen 4 and Zen 5).
    Generic,
    /// Intel CPUs.
    Intel,
    /// AMD CPUs.
    Amd,
    /// The family of the machine running the compiler, resolved when the
    /// model is compiled (see [`Cpu::resolve`]).
    Native,
}

impl Cpu {
    /// Every CPU family, in the order of the CLI's `--cpu` choices.
    pub const ALL: [Cpu; 4] = [Cpu::Generic, Cpu::Intel, Cpu::Amd, Cpu::Native];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Cpu::Generic => "generic",
            Cpu::Intel => "intel",
            Cpu::Amd => "amd",
            Cpu::Native => "native",
        }
    }

    /// Parses a `--cpu` value.
    pub fn parse(s: &str) -> Option<Cpu> {
        Cpu::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The concrete family: [`Cpu::Native`] becomes this machine's vendor
    /// (`GenuineIntel` or `AuthenticAMD` by CPUID; anything else, and any
    /// non-x86 machine, is [`Cpu::Generic`]); the others are themselves.
    pub fn resolve(self) -> Cpu {
        match self {
            Cpu::Native => native_cpu(),
            c => c,
        }
    }
}

/// The CPU family of the machine running the compiler.
fn native_cpu() -> Cpu {
    #[cfg(target_arch = "x86_64")]
    {
        // CPUID leaf 0 names the vendor in EBX, EDX, ECX.
        let id = core::arch::x86_64::__cpuid(0);
        let mut vendor = [0u8; 12];
        for (dst, reg) in vendor.chunks_exact_mut(4).zip([id.ebx, id.edx, id.ecx]) {
            dst.copy_from_slice(&reg.to_le_bytes());
        }
        match &vendor {
            b"GenuineIntel" => Cpu::Intel,
            b"AuthenticAMD" => Cpu::Amd,
            _ => Cpu::Generic,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    Cpu::Generic
}

/// A kernel library module copied into generated code.
#[derive(Debug, Clone, Copy)]
pub struct KernelModule {
    /// Module name under `kernels::` (also its name in [`kernels`]).
    pub name: &'static str,
    /// The module's Rust source.
    pub source: &'static str,
    /// `#[cfg(...)]` predicate for the module, if any (e.g. `target_arch = "x86_64"`).
    pub cfg: Option<&'static str>,
}

/// The slices an emitted step call can use, as expressions.
pub struct StepArgs {
    /// Primary and further inputs.
    pub inputs: Vec<TokenStream>,
    /// Residual slice (empty slice when none or in place).
    pub residual: TokenStream,
    /// Whether the residual is already in the output slice.
    pub residual_in_place: bool,
    /// Whether the output aliases input `k` (element-wise in-place ops).
    pub output_aliases_input: Option<usize>,
    /// The step's scratch slice.
    pub scratch: TokenStream,
    /// The output slice.
    pub output: TokenStream,
    /// The packed constants, in the order [`Backend::pack`] returned them.
    pub consts: Vec<TokenStream>,
}

/// One instruction set's code generation.
pub trait Backend {
    /// The target.
    fn target(&self) -> Target;
    /// Kernel library modules the generated code needs.
    fn kernel_modules(&self) -> Vec<KernelModule>;
    /// Scratch floats step `step` needs.
    fn scratch_floats(&self, p: &Program, step: &Step) -> usize;
    /// The step's constants, packed in the layout its kernel reads, in call order.
    fn pack(&self, p: &Program, step: &Step) -> Vec<Vec<f32>>;
    /// The kernel call for the step.
    fn call(&self, p: &Program, step: &Step, args: &StepArgs) -> TokenStream;
    /// An expression telling whether the running CPU supports the kernels'
    /// instructions, when that can be false (`None`: any CPU of the target
    /// architecture). The generated `cpu_supported()` returns it and
    /// `run_step` asserts it.
    fn cpu_supported(&self) -> Option<TokenStream> {
        None
    }
}

/// Scratch of a [`crate::ir::Kernel::Streamed`] step run stage by stage
/// (stages the `separables_pool` kernels do not take, see
/// [`crate::ir::separables_pool_shapes`]): every intermediate image whole,
/// then the largest stage scratch, as [`staged_call`] splits it. With a
/// [shortcut](streamed_shortcut) first, the larger of its scratch and the
/// chain's (`scratch` of the chain's own streamed step).
pub fn staged_scratch(p: &Program, stages: &[Step], scratch: impl Fn(&Step) -> usize) -> usize {
    if let Some((conv, chain)) = streamed_shortcut(stages) {
        return scratch(conv).max(scratch(&Step::streamed(chain.to_vec())));
    }
    let images: usize = stages.iter().rev().skip(1).map(|s| p.len(s.output)).sum();
    images + stages.iter().map(scratch).max().unwrap_or(0)
}

/// A stage's bias argument in a chain kernel's call: its next constant
/// (packed after its weights, as [`staged_pack`] lays them out) when it has
/// a bias, else an empty slice.
pub fn next_bias<'t>(st: &Step, consts: &mut impl Iterator<Item = &'t TokenStream>) -> TokenStream {
    match st.epilogue.bias {
        Some(_) => consts.next().cloned().unwrap_or_default(),
        None => quote!(&[]),
    }
}

/// The constants of a streamed step run stage by stage: each stage's, in turn.
pub fn staged_pack(b: &dyn Backend, p: &Program, stages: &[Step]) -> Vec<Vec<f32>> {
    stages.iter().flat_map(|s| b.pack(p, s)).collect()
}

/// A streamed step's stages called one after another with `b`'s kernels,
/// each intermediate image whole in the step's scratch (see
/// [`staged_scratch`]); the last stage writes the step's output with its
/// residual. A [shortcut](streamed_shortcut) first writes the step's
/// output whole, then the chain runs as its own streamed step (by `b`'s
/// `separables_pool` kernel when it takes it) with the residual in place.
pub fn staged_call(b: &dyn Backend, p: &Program, stages: &[Step], a: &StepArgs) -> TokenStream {
    if let Some((conv, chain)) = streamed_shortcut(stages) {
        let n = b.pack(p, conv).len();
        let args = |step: &Step, consts: &[TokenStream], in_place: bool| {
            let a = StepArgs {
                inputs: vec![a.inputs[0].clone()],
                residual: quote!(&[]),
                residual_in_place: in_place,
                output_aliases_input: None,
                scratch: a.scratch.clone(),
                output: a.output.clone(),
                consts: consts.to_vec(),
            };
            b.call(p, step, &a)
        };
        let first = args(conv, &a.consts[..n], false);
        let rest = args(&Step::streamed(chain.to_vec()), &a.consts[n..], true);
        return quote!({ { #first } { #rest } });
    }
    let scratch = &a.scratch;
    let n = stages.len();
    let mut body = quote!(let stage_rest: &mut [f32] = #scratch;);
    for (k, st) in stages.iter().take(n - 1).enumerate() {
        let (t, len) = (format_ident!("stage_out{k}"), p.len(st.output));
        body.extend(quote!(let (#t, stage_rest) = stage_rest.split_at_mut(#len);));
    }
    let mut consts = a.consts.iter().cloned();
    for (k, st) in stages.iter().enumerate() {
        let last = k + 1 == n;
        let input = if k == 0 {
            a.inputs[0].clone()
        } else {
            let t = format_ident!("stage_out{}", k - 1);
            quote!(&*#t)
        };
        let output = if last {
            a.output.clone()
        } else {
            let t = format_ident!("stage_out{k}");
            quote!(#t)
        };
        let args = StepArgs {
            inputs: vec![input],
            residual: if last {
                a.residual.clone()
            } else {
                quote!(&[])
            },
            residual_in_place: last && a.residual_in_place,
            output_aliases_input: None,
            scratch: quote!(stage_rest),
            output,
            consts: consts.by_ref().take(b.pack(p, st).len()).collect(),
        };
        let call = b.call(p, st, &args);
        body.extend(quote!({ #call }));
    }
    quote!({ #body })
}
