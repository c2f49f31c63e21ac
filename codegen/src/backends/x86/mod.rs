//! The x86 SIMD backends: AVX2+FMA and AVX-512.
//!
//! Both use one kernel library written over a vector trait (`simd.rs`, the
//! generated module `kernels::x86`) and a small per-ISA module implementing
//! the trait and CPU detection (`avx2.rs`, `avx512.rs`). Convolutions (3x3
//! stride-1 ones by Winograd's F(2x2, 3x3), see [`winograd`]),
//! separable convolutions (depthwise fused with the pointwise GEMM by blocks
//! of rows), dense layers and pooling use SIMD kernels; the remaining ops
//! (global pooling, softmax, element-wise ops; well under 1% of Xception's
//! time) call the scalar kernels.
//!
//! Each SIMD step is emitted as a nested `#[target_feature]` function into
//! which the `#[inline(always)]` kernel inlines with the layer's constants.
//! The generated `run_step` (and so `infer`) asserts `cpu_supported()` before
//! running any step, so a CPU without the instruction set gets a panic with a
//! clear message, never an illegal instruction. Crates compiled with the
//! features enabled (`-C target-cpu=native` on such a CPU, or
//! `-C target-feature=+avx512f,+avx512vl,+avx512bw,+avx512dq,+avx2,+fma`;
//! `+avx2,+fma` for AVX2) see the check fold to `true` at compile time.
//!
//! Constants are packed at compile time: GEMM weights (pointwise, dense, and
//! convolutions as `[kh * kw * c, co]`) in column panels of the register
//! tile's width, Winograd weights transformed (`G g G^T`, in f64) and then
//! packed likewise per position, depthwise weights and biases padded to
//! whole vectors.

mod tuning;

pub use tuning::Blocking;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::scalar::{epilogue_tokens, logical_consts, scalar_call, scalar_scratch, window_tokens};
use super::{
    next_bias, staged_call, staged_pack, staged_scratch, Backend, KernelModule, StepArgs, Target,
};
use crate::ir::{
    separables_pool_shapes, streamed_shortcut, Geom, Kernel, Program, SeparableShape, Step,
};

/// The shared kernel library (`kernels::x86`).
pub const SIMD_SOURCE: KernelModule = KernelModule {
    name: "x86",
    source: include_str!("simd.rs"),
    cfg: Some("target_arch = \"x86_64\""),
};

/// The AVX2 instances and detection (`kernels::avx2`).
pub const AVX2_SOURCE: KernelModule = KernelModule {
    name: "avx2",
    source: include_str!("avx2.rs"),
    cfg: Some("target_arch = \"x86_64\""),
};

/// The AVX-512 instances and detection (`kernels::avx512`).
pub const AVX512_SOURCE: KernelModule = KernelModule {
    name: "avx512",
    source: include_str!("avx512.rs"),
    cfg: Some("target_arch = \"x86_64\""),
};

/// A register tile of the GEMM micro-kernel: `mr` rows (pixels) by `nv`
/// vectors (output channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Rows (1..=15).
    pub mr: usize,
    /// Vectors (1..=4).
    pub nv: usize,
}

/// An x86 vector instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// AVX2 with FMA: 8 lanes, 16 registers.
    Avx2,
    /// AVX-512F (with VL/BW/DQ): 16 lanes, 32 registers.
    Avx512,
}

impl Simd {
    /// Floats per vector.
    pub fn lanes(self) -> usize {
        match self {
            Simd::Avx2 => 8,
            Simd::Avx512 => 16,
        }
    }

    /// The `#[target_feature(enable = ..)]` list of emitted kernels (what the
    /// kernel module's `supported()` checks).
    pub fn features(self) -> &'static str {
        match self {
            Simd::Avx2 => "avx2,fma",
            Simd::Avx512 => "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
        }
    }

    /// The GEMM register tile, chosen by A/B runs of the whole model
    /// (`xcc profile`, interleaved): AVX-512 6x4 (24 accumulators, 4 weight
    /// vectors and one broadcast in 32 registers; 10 loads per 24 FMAs) ran
    /// as fast as 14x2 (16 loads per 28 FMAs) on a quiet core and 19% faster
    /// with a busy sibling thread, 8x3 6% slower; AVX2 6x2 (12 accumulators of
    /// 16 registers).
    pub fn tile(self) -> Tile {
        match self {
            Simd::Avx2 => Tile { mr: 6, nv: 2 },
            Simd::Avx512 => Tile { mr: 6, nv: 4 },
        }
    }

    /// The register tile for a GEMM with `n` output channels: the widest
    /// tile ([`Simd::tile`]) when `n` fills it; narrower outputs get as many
    /// rows as the registers hold, so that enough independent accumulators
    /// hide the FMA latency (a 6x1 tile keeps only 6 FMAs in flight where
    /// two pipes of latency 4 need 8).
    pub fn tile_for(self, n: usize) -> Tile {
        let widest = self.tile();
        let nv = n.div_ceil(self.lanes()).clamp(1, widest.nv);
        let mr = match (self, nv) {
            (Simd::Avx512, 1) => 15,
            (Simd::Avx512, 2) => 14,
            (Simd::Avx512, 3) => 8,
            (Simd::Avx2, 1) => 12,
            _ => widest.mr,
        };
        Tile { mr, nv }
    }

    /// Rows (pixels) of a channel-pair convolution tile ([`conv_pairs`]):
    /// each row takes an accumulator and a broadcast register, and LLVM
    /// hoists a few steps' broadcasts, so the tile stays well below the
    /// register file. AVX-512: 12 (8 measured 7% slower on fer's 8-channel
    /// convolution; 15 spilled and ran 2.3x slower); AVX2: 6.
    pub fn pair_rows(self) -> usize {
        match self {
            Simd::Avx2 => 6,
            Simd::Avx512 => 12,
        }
    }

    fn target(self) -> Target {
        match self {
            Simd::Avx2 => Target::Avx2,
            Simd::Avx512 => Target::Avx512,
        }
    }

    fn module(self) -> KernelModule {
        match self {
            Simd::Avx2 => AVX2_SOURCE,
            Simd::Avx512 => AVX512_SOURCE,
        }
    }

    fn isa_path(self) -> TokenStream {
        match self {
            Simd::Avx2 => quote!(kernels::avx2::Avx2),
            Simd::Avx512 => quote!(kernels::avx512::Avx512),
        }
    }

    fn module_path(self) -> TokenStream {
        match self {
            Simd::Avx2 => quote!(kernels::avx2),
            Simd::Avx512 => quote!(kernels::avx512),
        }
    }
}

/// Packs GEMM weights `[k, n]` (row-major) into column panels of `nv` vectors
/// of `lanes` floats: each panel `k` rows of its width, the last panel
/// narrowed to the vectors it needs, padding zero.
pub fn pack_gemm(w: &[f32], k: usize, n: usize, nv: usize, lanes: usize) -> Vec<f32> {
    assert_eq!(w.len(), k * n, "GEMM weights are [k, n]");
    let nr = nv * lanes;
    let mut out = Vec::with_capacity(k * n.div_ceil(lanes) * lanes);
    let mut c0 = 0;
    while c0 < n {
        let width = nr.min(n.div_ceil(lanes) * lanes - c0);
        for row in w.chunks_exact(n) {
            for j in c0..c0 + width {
                out.push(row.get(j).copied().unwrap_or(0.0));
            }
        }
        c0 += width;
    }
    out
}

/// Whether a convolution with `c` input and `co` output channels runs as
/// [channel pairs](pack_conv_pairs): at most half a vector of outputs, an
/// even number of inputs. On AVX-512, fer's 8-channel 3x3 convolution (a
/// quarter of the model's time) ran 1.8x faster so (56.3 → 30.6 µs), its
/// 7-class one 2.0x, the model 15% faster (interleaved per-step A/B).
pub fn conv_pairs(c: usize, co: usize, lanes: usize) -> bool {
    2 * co <= lanes && c.is_multiple_of(2)
}

/// Packs convolution weights `[taps, c, co]` (`co <= lanes / 2`, `c` even)
/// for `conv2d_pairs`: per tap, `c / 2` vectors, lane `2j + s` of vector `i`
/// the weight of input channel `2i + s` for output `j` (zero for `j >= co`).
pub fn pack_conv_pairs(w: &[f32], taps: usize, c: usize, co: usize, lanes: usize) -> Vec<f32> {
    assert_eq!(
        w.len(),
        taps * c * co,
        "convolution weights are [taps, c, co]"
    );
    assert!(conv_pairs(c, co, lanes), "not a channel-pair convolution");
    let mut out = vec![0.0; taps * c / 2 * lanes];
    for (t, tap) in w.chunks_exact(c * co).enumerate() {
        for (ci, row) in tap.chunks_exact(co).enumerate() {
            let v = (t * c + ci) / 2 * lanes;
            for (j, &wv) in row.iter().enumerate() {
                out[v + 2 * j + ci % 2] = wv;
            }
        }
    }
    out
}

/// Whether a convolution runs by Winograd's F(2x2, 3x3)
/// (`conv3x3_winograd`): a 3x3 window of stride 1 without dilation, at
/// least 8 input channels, and outputs that are not [channel
/// pairs](conv_pairs) (those have their own kernel). Measured (interleaved
/// per-step A/Bs, both orders): Xception's block1_conv2 (32 → 64 channels,
/// 147x147) 0.62-0.64x the direct convolution's time on AVX-512 (5.1 → 3.2
/// ms; the model 0.98x) and 0.55-0.56x on AVX2 (9.8 → 5.4 ms); on AVX2,
/// fer's last convolution (128 → 7, 4x4) 0.43-0.51x and its 8-channel one
/// (46x46) 0.35-0.54x (the model 0.76-0.86x). With one input channel (fer's
/// first convolution) it was 2.4x slower: each position's GEMM is only `c`
/// deep while the transforms cost the same per channel vector.
pub fn winograd(g: &Geom, cout: usize, lanes: usize) -> bool {
    (g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) == (3, 3, 1, 1, 1, 1)
        && g.c >= 8
        && !conv_pairs(g.c, cout, lanes)
}

/// Weight bytes from which a strided 1x1 convolution runs as one GEMM
/// ([`conv1x1`]).
const CONV1X1_GEMM_WEIGHT_BYTES: usize = 256 * 1024;

/// Whether a convolution runs as one GEMM over its output pixels
/// (`conv1x1`): a 1x1 window without padding whose outputs are not [channel
/// pairs](conv_pairs), read in place (stride 1; a pointwise convolution is
/// a GEMM) or, when strided, with at least 256 KiB of weights, so that
/// streaming them once for all pixels pays for copying the strided pixels.
/// Interleaved per-step A/Bs on AVX-512 against the direct kernel, which
/// streams each weight panel once per block of rows: Xception's conv2d_2
/// (745 KiB of weights) 0.92x and conv2d_3 (2.8 MiB) 0.80x; with 32-128 KiB
/// of weights (Xception's conv2d and conv2d_1, fer's last two shortcuts)
/// 1.03-1.12x, so those stay direct.
pub fn conv1x1(g: &Geom, cout: usize, lanes: usize) -> bool {
    let strided = (g.sh, g.sw) != (1, 1);
    (g.kh, g.kw, g.pt, g.pl) == (1, 1, 0, 0)
        && !conv_pairs(g.c, cout, lanes)
        && (!strided || 4 * g.c * cout >= CONV1X1_GEMM_WEIGHT_BYTES)
}

/// Winograd's F(2x2, 3x3) weight transform `U = G g G^T` of 3x3 weights
/// `[3, 3, c, co]` (`G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0,
/// 0, 1]]`), computed in f64 and rounded once: for each of the 16 positions
/// `4 i + j`, `[c, co]` packed as [`pack_gemm`] with `nv` vectors.
pub fn pack_winograd(w: &[f32], c: usize, co: usize, nv: usize, lanes: usize) -> Vec<f32> {
    assert_eq!(w.len(), 9 * c * co, "3x3 weights are [3, 3, c, co]");
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut out = Vec::with_capacity(16 * c * co.div_ceil(lanes) * lanes);
    for gi in &G {
        for gj in &G {
            let mut u = vec![0.0f32; c * co];
            for (k, slot) in u.iter_mut().enumerate() {
                let mut sum = 0.0f64;
                for (a, &ga) in gi.iter().enumerate() {
                    for (b, &gb) in gj.iter().enumerate() {
                        sum += ga * gb * f64::from(w[(a * 3 + b) * c * co + k]);
                    }
                }
                *slot = sum as f32;
            }
            out.extend(pack_gemm(&u, c, co, nv, lanes));
        }
    }
    out
}

/// Packs depthwise weights `[taps, c]` with each tap's row zero-padded to
/// whole vectors; channels that fill half a vector fill the other half too,
/// for the kernels' two pixels per vector (a single pixel's vector loads
/// zeros there).
pub fn pack_depthwise(w: &[f32], taps: usize, c: usize, lanes: usize) -> Vec<f32> {
    assert_eq!(w.len(), taps * c, "depthwise weights are [taps, c]");
    let cp = c.div_ceil(lanes) * lanes;
    let mut out = vec![0.0; taps * cp];
    for (dst, src) in out.chunks_exact_mut(cp).zip(w.chunks_exact(c)) {
        dst[..c].copy_from_slice(src);
        if 2 * c == lanes {
            dst[c..].copy_from_slice(src);
        }
    }
    out
}

/// A per-channel vector zero-padded to whole vectors.
pub fn pad_lanes(v: &[f32], lanes: usize) -> Vec<f32> {
    let mut out = v.to_vec();
    out.resize(v.len().div_ceil(lanes) * lanes, 0.0);
    out
}

/// Bytes of input rows a convolution block aims at (reused across its panels).
const CONV_BLOCK_BYTES: usize = 512 * 1024;

/// Output rows per fused separable block: the fewest blocks whose rows fit
/// the blocking's budget, the rows spread evenly over them (19 rows at most
/// 9 per block: 7, 7, 5 rather than 9, 9, 1, whose last block streams all
/// the weights for one row).
pub fn separable_rows(g: &Geom, blocking: &Blocking) -> usize {
    rows_within(g, blocking.separable_block_bytes)
}

/// The fewest blocks of output rows whose depthwise output fits `budget`
/// bytes, the rows spread evenly over them.
fn rows_within(g: &Geom, budget: usize) -> usize {
    let most = (budget / (g.ow * g.c * 4).max(1)).clamp(1, g.oh.max(1));
    g.oh.div_ceil(g.oh.div_ceil(most))
}

/// Pointwise weights (bytes, both separables) up to which a streamed step
/// goes by small blocks of rows ([`STREAMED_BLOCK_BYTES`]): the weights stay
/// in cache from block to block, and the step's whole working set (the
/// depthwise blocks and the rings) fits L2 beside them. Xception's blocks
/// 2 and 3 (96 and 384 KiB); blocks 4 and 13 (2.8 and 4.9 MiB) keep
/// the blocking's separable blocks, which stream their weights fewer times.
const STREAMED_SMALL_WEIGHTS_BYTES: usize = 512 * 1024;

/// Bytes of depthwise output a streamed step's block aims at when its
/// weights are small: 4 and 2 rows in blocks 2 and 3, whose steps measured
/// 3-4% faster than with 15 and 7 rows (3, 2 and 1 rows alike).
const STREAMED_BLOCK_BYTES: usize = 160 * 1024;

/// Spare blocks in the rings of a streamed step with small blocks: the rows
/// the next window still reads move to the ring's front once per 4 blocks
/// instead of after every block (with 2- to 4-row blocks, the copies took
/// 4-7% of block 2's step, with this spare 2%).
const STREAMED_RING_SPARE: usize = 3;

/// Output rows per block of a streamed step's two separables (output
/// channels `co1` and `co2`), and the rings' spare blocks.
pub fn streamed_rows(
    (g1, co1): (&Geom, usize),
    (g2, co2): (&Geom, usize),
    blocking: &Blocking,
) -> (usize, usize, usize) {
    let weights = (g1.c * co1 + g2.c * co2) * 4;
    let (budget, spare) = if weights <= STREAMED_SMALL_WEIGHTS_BYTES {
        (STREAMED_BLOCK_BYTES, STREAMED_RING_SPARE)
    } else {
        (blocking.separable_block_bytes, 0)
    };
    (rows_within(g1, budget), rows_within(g2, budget), spare)
}

/// Output rows per convolution block: as many as keep their input rows
/// within the budget, at least one.
pub fn conv_rows(g: &Geom) -> usize {
    let row_bytes = g.sh * g.w * g.c * 4;
    (CONV_BLOCK_BYTES / row_bytes.max(1)).clamp(1, g.oh)
}

/// A streamed step as `kernels::x86::separables_pool` runs it: the shortcut
/// stage with its geometry and output channels, the chain's stages and
/// their shapes.
type StreamedPlan<'s> = (
    Option<(&'s Step, Geom, usize)>,
    &'s [Step],
    (SeparableShape, SeparableShape, Geom),
);

/// How the backend runs a step.
enum Plan {
    /// `kernels::x86::separable`.
    Separable,
    /// `kernels::x86::depthwise`.
    Depthwise,
    /// `kernels::x86::conv2d`.
    Conv,
    /// `kernels::x86::conv3x3_winograd`.
    Winograd,
    /// `kernels::x86::conv1x1`.
    Conv1x1,
    /// `kernels::x86::dense`.
    Dense,
    /// `kernels::x86::pool` (max or average).
    Pool,
    /// The scalar kernel.
    Scalar,
}

fn plan(step: &Step, lanes: usize) -> Plan {
    match step.kernel {
        Kernel::Separable { mult: 1, .. } => Plan::Separable,
        Kernel::Depthwise { mult: 1, .. } => Plan::Depthwise,
        Kernel::Conv { g, cout, .. } if winograd(&g, cout, lanes) => Plan::Winograd,
        Kernel::Conv { g, cout, .. } if conv1x1(&g, cout, lanes) => Plan::Conv1x1,
        Kernel::Conv { .. } => Plan::Conv,
        Kernel::Dense { .. } => Plan::Dense,
        Kernel::MaxPool { .. } | Kernel::AvgPool { .. } => Plan::Pool,
        _ => Plan::Scalar,
    }
}

/// An x86 SIMD backend.
#[derive(Debug, Clone, Copy)]
pub struct X86Backend {
    simd: Simd,
    blocking: Blocking,
}

impl X86Backend {
    /// The backend for one instruction set with the given cache blocking.
    pub fn new(simd: Simd, blocking: Blocking) -> Self {
        X86Backend { simd, blocking }
    }

    /// Wraps a kernel call in a nested `#[target_feature]` function taking the
    /// named slices, and calls it with the given expressions.
    fn wrap(&self, params: &[(&str, TokenStream, bool)], body: TokenStream) -> TokenStream {
        let features = self.simd.features();
        let names: Vec<_> = params
            .iter()
            .map(|(n, _, _)| format_ident!("{n}"))
            .collect();
        let types: Vec<TokenStream> = params
            .iter()
            .map(|(_, _, m)| {
                if *m {
                    quote!(&mut [f32])
                } else {
                    quote!(&[f32])
                }
            })
            .collect();
        let args: Vec<&TokenStream> = params.iter().map(|(_, e, _)| e).collect();
        quote! {
            #[target_feature(enable = #features)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn kernel(#(#names: #types),*) {
                // SAFETY: `kernel` is only called once `cpu_supported()` holds.
                unsafe { #body }
            }
            // SAFETY: `run_step` asserts `cpu_supported()` (the CPU runs this
            // target's instruction set) before running any step.
            unsafe { kernel(#(#args),*) }
        }
    }

    /// How `kernels::x86::separables_pool` runs a streamed step: the
    /// chain's shapes (see [`separables_pool_shapes`]), and the shortcut
    /// stage it computes by rows (see [`streamed_shortcut`]) when there is
    /// one, packed as a direct convolution (not by Winograd or as channel
    /// pairs; those run whole first, by `staged_call`).
    fn streamed_plan<'s>(&self, stages: &'s [Step]) -> Option<StreamedPlan<'s>> {
        let l = self.simd.lanes();
        match streamed_shortcut(stages) {
            Some((conv, chain)) => match (plan(conv, l), &conv.kernel) {
                (Plan::Conv | Plan::Conv1x1, &Kernel::Conv { g, cout, .. })
                    if !conv_pairs(g.c, cout, l) =>
                {
                    separables_pool_shapes(chain).map(|s| (Some((conv, g, cout)), chain, s))
                }
                _ => None,
            },
            None => separables_pool_shapes(stages).map(|s| (None, stages, s)),
        }
    }

    /// The call of `kernels::x86::separables_pool` for a streamed step (see
    /// [`Self::streamed_plan`]); constants as `staged_pack` lays them out.
    fn separables_pool_call(
        &self,
        (shortcut, stages, ((g1, co1), (g2, co2), pg)): StreamedPlan,
        a: &StepArgs,
    ) -> TokenStream {
        let isa = self.simd.isa_path();
        let mut consts = a.consts.iter();
        let mut params = vec![("x".to_string(), a.inputs[0].clone(), false)];
        // With a shortcut, the pooling adds the rows it wrote to the output.
        let (shortcut, in_place) = match shortcut {
            Some((conv, g, co)) => {
                params.push((
                    "wsc".into(),
                    consts.next().cloned().unwrap_or_default(),
                    false,
                ));
                params.push(("biassc".into(), next_bias(conv, &mut consts), false));
                let (win, ep) = (window_tokens(&g), epilogue_tokens(conv, false));
                (quote!(Some((&#win, #co, &#ep, wsc, biassc))), true)
            }
            None => (quote!(None), a.residual_in_place),
        };
        let (rows1, rows2, spare) = streamed_rows((&g1, co1), (&g2, co2), &self.blocking);
        let mut stage = |k: usize, g: &Geom, co: usize, rows: usize| {
            let st = &stages[k];
            let (tile, kc) = (self.simd.tile_for(co), self.blocking.gemm_kc);
            let (dw, pw, bias) = (
                format_ident!("dw{k}"),
                format_ident!("pw{k}"),
                format_ident!("bias{k}"),
            );
            for n in [&dw, &pw] {
                params.push((
                    n.to_string(),
                    consts.next().cloned().unwrap_or_default(),
                    false,
                ));
            }
            params.push((bias.to_string(), next_bias(st, &mut consts), false));
            let (win, ep) = (window_tokens(g), epilogue_tokens(st, false));
            (
                tile,
                quote!((&#win, #co, (#rows, #kc), &#ep, (#dw, #pw, #bias))),
            )
        };
        let (t1, s1) = stage(0, &g1, co1, rows1);
        let (t2, s2) = stage(1, &g2, co2, rows2);
        let pool = &stages[2];
        let (pwin, pep) = (window_tokens(&pg), epilogue_tokens(pool, in_place));
        let is_max = matches!(pool.kernel, Kernel::MaxPool { .. });
        params.push(("res".into(), a.residual.clone(), false));
        params.push(("scratch".into(), a.scratch.clone(), true));
        params.push(("y".into(), a.output.clone(), true));
        let params: Vec<(&str, TokenStream, bool)> = params
            .iter()
            .map(|(n, e, m)| (n.as_str(), e.clone(), *m))
            .collect();
        let (Tile { mr: mr1, nv: nv1 }, Tile { mr: mr2, nv: nv2 }) = (t1, t2);
        let (kh1, kw1, kh2, kw2) = (g1.kh, g1.kw, g2.kh, g2.kw);
        self.wrap(
            &params,
            quote!(kernels::x86::separables_pool::<#isa, #mr1, #nv1, #mr2, #nv2, #kh1, #kw1, #kh2, #kw2>(
                #s1, #s2, (&#pwin, #is_max, &#pep), x, res, scratch, y, #shortcut, #spare
            )),
        )
    }
}

impl Backend for X86Backend {
    fn target(&self) -> Target {
        self.simd.target()
    }

    fn kernel_modules(&self) -> Vec<KernelModule> {
        vec![super::scalar::SOURCE, SIMD_SOURCE, self.simd.module()]
    }

    fn scratch_floats(&self, p: &Program, step: &Step) -> usize {
        match (plan(step, self.simd.lanes()), &step.kernel) {
            (Plan::Separable, &Kernel::Separable { g, .. }) => {
                separable_rows(&g, &self.blocking) * g.ow * g.c
            }
            (Plan::Winograd, &Kernel::Conv { g, cout, .. }) => {
                super::kernels::scalar::winograd_scratch(g.ow, g.c, cout, self.simd.lanes())
            }
            (Plan::Conv1x1, &Kernel::Conv { g, .. }) => {
                super::kernels::scalar::conv1x1_scratch(&g.window())
            }
            (_, Kernel::Streamed { stages }) => match self.streamed_plan(stages) {
                Some((_, _, ((g1, co1), (g2, co2), pg))) => {
                    let (rows1, rows2, spare) =
                        streamed_rows((&g1, co1), (&g2, co2), &self.blocking);
                    super::kernels::scalar::separables_pool_scratch(
                        (&g1.window(), co1, rows1),
                        (&g2.window(), co2, rows2),
                        &pg.window(),
                        spare,
                    )
                }
                None => staged_scratch(p, stages, |s| self.scratch_floats(p, s)),
            },
            _ => scalar_scratch(p, step),
        }
    }

    fn pack(&self, p: &Program, step: &Step) -> Vec<Vec<f32>> {
        if let Kernel::Streamed { stages } = &step.kernel {
            return staged_pack(self, p, stages);
        }
        let l = self.simd.lanes();
        let nv = |cout: usize| self.simd.tile_for(cout).nv;
        let data = |id: usize| p.consts[id].data.as_slice();
        let mut v = match (plan(step, self.simd.lanes()), &step.kernel) {
            (
                Plan::Separable,
                &Kernel::Separable {
                    g, cout, dw, pw, ..
                },
            ) => vec![
                pack_depthwise(data(dw), g.kh * g.kw, g.c, l),
                pack_gemm(data(pw), g.c, cout, nv(cout), l),
            ],
            (Plan::Depthwise, &Kernel::Depthwise { g, weights, .. }) => {
                vec![pack_depthwise(data(weights), g.kh * g.kw, g.c, l)]
            }
            (Plan::Winograd, &Kernel::Conv { g, cout, weights }) => {
                vec![pack_winograd(data(weights), g.c, cout, nv(cout), l)]
            }
            (Plan::Conv1x1, &Kernel::Conv { g, cout, weights }) => {
                vec![pack_gemm(data(weights), g.c, cout, nv(cout), l)]
            }
            (Plan::Conv, &Kernel::Conv { g, cout, weights }) => {
                let taps = g.kh * g.kw;
                vec![if conv_pairs(g.c, cout, l) {
                    pack_conv_pairs(data(weights), taps, g.c, cout, l)
                } else {
                    pack_gemm(data(weights), taps * g.c, cout, nv(cout), l)
                }]
            }
            (Plan::Dense, &Kernel::Dense { cin, cout, weights }) => {
                vec![pack_gemm(data(weights), cin, cout, nv(cout), l)]
            }
            (Plan::Pool, _) => Vec::new(),
            _ => return logical_consts(p, step),
        };
        if let Some(b) = step.epilogue.bias {
            v.push(pad_lanes(data(b), l));
        }
        v
    }

    fn call(&self, p: &Program, step: &Step, a: &StepArgs) -> TokenStream {
        let (isa, l) = (self.simd.isa_path(), self.simd.lanes());
        let ep = epilogue_tokens(step, a.residual_in_place);
        let x = a.inputs.first().cloned().unwrap_or_default();
        let (y, res, scratch) = (&a.output, &a.residual, &a.scratch);
        let c = |i: usize| a.consts[i].clone();
        let bias = if step.epilogue.bias.is_some() {
            a.consts.last().cloned().unwrap_or_default()
        } else {
            quote!(&[])
        };
        let io = |consts: &[TokenStream]| {
            let mut v = vec![("x", x.clone(), false)];
            for (i, t) in consts.iter().enumerate() {
                v.push((["w0", "w1"][i], t.clone(), false));
            }
            v.push(("bias", bias.clone(), false));
            v.push(("res", res.clone(), false));
            v
        };
        match (plan(step, self.simd.lanes()), &step.kernel) {
            (Plan::Separable, &Kernel::Separable { g, cout, .. }) => {
                let win = window_tokens(&g);
                let Tile { mr, nv } = self.simd.tile_for(cout);
                let (rows, kc) = (separable_rows(&g, &self.blocking), self.blocking.gemm_kc);
                let (kh, kw) = (g.kh, g.kw);
                let mut params = io(&[c(0), c(1)]);
                params.push(("scratch", scratch.clone(), true));
                params.push(("y", y.clone(), true));
                self.wrap(
                    &params,
                    quote!(kernels::x86::separable::<#isa, #mr, #nv, #kh, #kw>(
                        &#win, #cout, (#rows, #kc), &#ep, x, w0, w1, bias, res, scratch, y
                    )),
                )
            }
            (Plan::Depthwise, &Kernel::Depthwise { g, .. }) => {
                let win = window_tokens(&g);
                let (kh, kw) = (g.kh, g.kw);
                let mut params = io(&[c(0)]);
                params.push(("y", y.clone(), true));
                self.wrap(
                    &params,
                    quote!(kernels::x86::depthwise::<#isa, #kh, #kw>(&#win, &#ep, x, w0, bias, res, y)),
                )
            }
            (Plan::Winograd, &Kernel::Conv { g, cout, .. }) => {
                let win = window_tokens(&g);
                let Tile { mr, nv } = self.simd.tile_for(cout);
                let mut params = io(&[c(0)]);
                params.push(("scratch", scratch.clone(), true));
                params.push(("y", y.clone(), true));
                self.wrap(
                    &params,
                    quote!(kernels::x86::conv3x3_winograd::<#isa, #mr, #nv>(
                        &#win, #cout, &#ep, x, w0, bias, res, scratch, y
                    )),
                )
            }
            (Plan::Conv1x1, &Kernel::Conv { g, cout, .. }) => {
                let win = window_tokens(&g);
                let (Tile { mr, nv }, kc) = (self.simd.tile_for(cout), self.blocking.gemm_kc);
                let mut params = io(&[c(0)]);
                params.push(("scratch", scratch.clone(), true));
                params.push(("y", y.clone(), true));
                self.wrap(
                    &params,
                    quote!(kernels::x86::conv1x1::<#isa, #mr, #nv>(
                        &#win, #cout, #kc, &#ep, x, w0, bias, res, scratch, y
                    )),
                )
            }
            (Plan::Conv, &Kernel::Conv { g, cout, .. }) => {
                let win = window_tokens(&g);
                let kernel = if conv_pairs(g.c, cout, l) {
                    let mr = self.simd.pair_rows();
                    quote!(conv2d_pairs::<#isa, #mr>)
                } else {
                    let Tile { mr, nv } = self.simd.tile_for(cout);
                    quote!(conv2d::<#isa, #mr, #nv>)
                };
                let rows = conv_rows(&g);
                let mut params = io(&[c(0)]);
                params.push(("y", y.clone(), true));
                self.wrap(
                    &params,
                    quote!(kernels::x86::#kernel(&#win, #cout, #rows, &#ep, x, w0, bias, res, y)),
                )
            }
            (Plan::Dense, &Kernel::Dense { cin, cout, .. }) => {
                let (Tile { mr, nv }, kc) = (self.simd.tile_for(cout), self.blocking.gemm_kc);
                let mut params = io(&[c(0)]);
                params.push(("y", y.clone(), true));
                self.wrap(
                    &params,
                    quote!(kernels::x86::dense::<#isa, #mr, #nv>(
                        #cin, #cout, #kc, &#ep, x, w0, bias, res, y
                    )),
                )
            }
            (Plan::Pool, &Kernel::MaxPool { g } | &Kernel::AvgPool { g }) => {
                let win = window_tokens(&g);
                let is_max = matches!(step.kernel, Kernel::MaxPool { .. });
                let params = vec![
                    ("x", x.clone(), false),
                    ("res", res.clone(), false),
                    ("y", y.clone(), true),
                ];
                self.wrap(
                    &params,
                    quote!(kernels::x86::pool::<#isa>(&#win, #is_max, &#ep, x, res, y)),
                )
            }
            (_, Kernel::Streamed { stages }) => match self.streamed_plan(stages) {
                Some(chain) => self.separables_pool_call(chain, a),
                None => staged_call(self, p, stages, a),
            },
            _ => scalar_call(p, step, a),
        }
    }

    fn cpu_supported(&self) -> Option<TokenStream> {
        let m = self.simd.module_path();
        Some(quote!(#m::supported()))
    }
}
