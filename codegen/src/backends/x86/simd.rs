// SIMD kernels shared by the x86 instruction sets, written once over the
// `Isa` trait and instantiated with `super::avx2::Avx2` or
// `super::avx512::Avx512`.
//
// This file is compiled twice: as a module of xcc-codegen (for tests) and
// verbatim inside every generated model for an x86 target. It must therefore
// use only `core` and `super::scalar`, have no inner attributes or `//!` docs.
//
// Nothing here carries `#[target_feature]`: every function is
// `#[inline(always)]`, and the caller (an emitted step, or a test wrapper) is
// a `#[target_feature]` function into which these, and then the `core::arch`
// intrinsics, inline. Geometry arrives as constants from generated code, so
// after inlining every loop bound, stride and offset is a per-layer constant.
//
// Constant layouts (packed by the backend at compile time, see
// `xcc_codegen::backends::x86`):
// - GEMM weights `[k, n]` (pointwise, dense, and dense convolutions viewed as
//   `[kh * kw * c, co]`): column panels of `NV * LANES` columns, each `k` rows
//   of the panel's width, one after the other; the last panel is narrowed to
//   the whole vectors it needs and zero-padded;
// - Winograd F(2x2, 3x3) weights: for each of the 16 positions, the
//   transformed `[c, co]` (`G g G^T`) packed as GEMM weights;
// - depthwise weights `[kh * kw, c]`: each tap's row zero-padded to whole
//   vectors, or repeated in both halves when it fills half a vector;
// - biases: zero-padded to whole vectors.

use super::scalar::{
    check_separables_pool, conv1x1_in_place, conv1x1_scratch, residual_ptr, separable_epilogues,
    stream_separables_pool, winograd_scratch, Epilogue, Residual, SeparableWeights,
    SeparablesPoolStages, Window,
};

/// One x86 vector instruction set: the few operations the kernels use.
///
/// # Safety
///
/// Every method executes the instruction set's instructions: the CPU must
/// support them (see the implementing module's `supported`). Pointer
/// arguments must be valid for the lanes accessed.
pub trait Isa: Copy {
    /// A vector of `LANES` floats.
    type V: Copy;
    /// Floats per vector.
    const LANES: usize;
    /// All zeros.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn zero() -> Self::V;
    /// Every lane `v`.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn splat(v: f32) -> Self::V;
    /// `LANES` floats from `p` (unaligned).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn load(p: *const f32) -> Self::V;
    /// The first `n < LANES` floats from `p`, the other lanes zero; reads only `n`.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn load_n(p: *const f32, n: usize) -> Self::V;
    /// Stores `LANES` floats at `p` (unaligned).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Stores the first `n < LANES` lanes at `p`; writes only `n`.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn store_n(p: *mut f32, v: Self::V, n: usize);
    /// `a * b + c`, fused.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// Prefetches the cache line holding `p` into L2 (never faults).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn prefetch(p: *const f32);
    /// Lane-wise maximum (`b` when either is NaN, as `maxps`).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// The two floats at `p` repeated across the vector: `[p[0], p[1], p[0],
    /// p[1], ..]` (one 64-bit broadcast).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn splat_pair(p: *const f32) -> Self::V;
    /// Sums of neighbouring lanes, packed low: lane `j < LANES / 2` is
    /// `v[2j] + v[2j + 1]`; the upper lanes are unspecified.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn fold_pairs(v: Self::V) -> Self::V;
}

/// Loads `n` floats (`n == LANES`: a full vector).
#[inline(always)]
unsafe fn load_upto<I: Isa>(p: *const f32, n: usize) -> I::V {
    // SAFETY: the caller guarantees `n` readable floats at `p` and the ISA.
    unsafe {
        if n == I::LANES {
            I::load(p)
        } else {
            I::load_n(p, n)
        }
    }
}

/// Stores `n` floats (`n == LANES`: a full vector).
#[inline(always)]
unsafe fn store_upto<I: Isa>(p: *mut f32, v: I::V, n: usize) {
    // SAFETY: the caller guarantees `n` writable floats at `p` and the ISA.
    unsafe {
        if n == I::LANES {
            I::store(p, v)
        } else {
            I::store_n(p, v, n)
        }
    }
}

/// `max(v, 0)` when `on`.
#[inline(always)]
unsafe fn relu_if<I: Isa>(on: bool, v: I::V) -> I::V {
    // SAFETY: the caller guarantees the ISA.
    unsafe {
        if on {
            I::max(v, I::zero())
        } else {
            v
        }
    }
}

/// Runs `$body` for the rows of a tail of `$mt` (< 16) rows, split into
/// tiles of 8, 4, 2 and 1 rows: `$r` is bound to the tile's rows (a
/// constant) and `$at` to the rows before it. Four tile sizes cover every
/// tail, so a kernel instantiated for unknown shapes (tests) stays small;
/// with shapes known at compile time only the pieces used remain.
macro_rules! for_tail_rows {
    ($mt:expr, $at:ident, $r:ident => $body:expr) => {{
        let mt: usize = $mt;
        let mut $at = 0usize;
        if mt & 8 != 0 {
            const $r: usize = 8;
            $body;
            $at += 8;
        }
        if mt & 4 != 0 {
            const $r: usize = 4;
            $body;
            $at += 4;
        }
        if mt & 2 != 0 {
            const $r: usize = 2;
            $body;
            $at += 2;
        }
        if mt & 1 != 0 {
            const $r: usize = 1;
            $body;
        }
    }};
}

/// Calls `$body` with `$v` bound to the constant `$nv` (1..=4): the vectors of
/// the narrowed last column panel.
macro_rules! with_vectors {
    ($nv:expr, $v:ident => $body:expr) => {
        match $nv {
            1 => {
                const $v: usize = 1;
                $body
            }
            2 => {
                const $v: usize = 2;
                $body
            }
            3 => {
                const $v: usize = 3;
                $body
            }
            _ => {
                const $v: usize = 4;
                $body
            }
        }
    };
}

/// Floats per cache line (what one prefetch fetches).
const LINE: usize = 16;

/// The register tile: `acc[m][v] += relu_in?(a[m * lda + kk]) * b[kk][v]` for
/// `kk < k`, with `b` a panel of `NV` vectors per row. Iteration `kk <
/// pf.1` also prefetches line `kk` from `pf.0` into L2 (the next weights).
/// With `PAIRS` (see [`conv2d_pairs`]), step `kk` broadcasts the pair of
/// floats at `a + m * lda + 2 * kk` instead, to the two channels' interleaved
/// weights.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<I: Isa, const MR: usize, const NV: usize, const PAIRS: bool>(
    acc: &mut [[I::V; NV]; MR],
    a: *const f32,
    lda: usize,
    k: usize,
    relu_in: bool,
    b: *const f32,
    pf: (*const f32, usize),
) {
    // SAFETY: the caller guarantees `MR` rows of `k` floats (`2 * k` with
    // `PAIRS`) at `a` (rows `lda` apart), `k * NV * LANES` floats at `b`, and
    // the ISA; prefetches never fault.
    unsafe {
        let zero = I::zero();
        for kk in 0..k {
            if kk < pf.1 {
                I::prefetch(pf.0.wrapping_add(kk * LINE));
            }
            let bp = b.add(kk * NV * I::LANES);
            let mut bv = [zero; NV];
            for (v, slot) in bv.iter_mut().enumerate() {
                *slot = I::load(bp.add(v * I::LANES));
            }
            for (m, row) in acc.iter_mut().enumerate() {
                let av = if PAIRS {
                    I::splat_pair(a.add(m * lda + 2 * kk))
                } else {
                    I::splat(*a.add(m * lda + kk))
                };
                let av = relu_if::<I>(relu_in, av);
                for (r, bvv) in row.iter_mut().zip(bv.iter()) {
                    *r = I::fmadd(av, *bvv, *r);
                }
            }
        }
    }
}

/// Applies the epilogue to a tile and stores it: `c[m][v] = relu?(acc + bias +
/// res)`; the last vector of each row holds `nlast` valid lanes. `res` is the
/// residual (the output itself when in place); unused when there is none.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn finish<I: Isa, const MR: usize, const NV: usize>(
    acc: &[[I::V; NV]; MR],
    ep: &Epilogue,
    nlast: usize,
    bias: *const f32,
    res: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    // SAFETY: the caller guarantees `MR` rows of `(NV - 1) * LANES + nlast`
    // floats at `c` and `res` (rows `ldc` apart), `NV` padded vectors at
    // `bias` when the epilogue has one, and the ISA.
    unsafe {
        let l = I::LANES;
        let mut bv = [I::zero(); NV];
        if ep.bias {
            for (v, slot) in bv.iter_mut().enumerate() {
                *slot = I::load(bias.add(v * l));
            }
        }
        for (m, row) in acc.iter().enumerate() {
            for (v, &a) in row.iter().enumerate() {
                let n = if v + 1 == NV { nlast } else { l };
                let mut t = a;
                if ep.bias {
                    t = I::add(t, bv[v]);
                }
                if ep.residual != Residual::None {
                    t = I::add(t, load_upto::<I>(res.add(m * ldc + v * l), n));
                }
                t = relu_if::<I>(ep.relu, t);
                store_upto::<I>(c.add(m * ldc + v * l), t, n);
            }
        }
    }
}

/// The starting accumulators of a GEMM tile: on the first block of `k`, the
/// bias plus the residual (`res`, the output itself when in place); on later
/// blocks, the partial sums stored in `c`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_start<I: Isa, const MR: usize, const NV: usize>(
    first: bool,
    ep: &Epilogue,
    nlast: usize,
    bias: *const f32,
    res: *const f32,
    c: *const f32,
    ldc: usize,
) -> [[I::V; NV]; MR] {
    // SAFETY: the caller guarantees `MR` rows of `(NV - 1) * LANES + nlast`
    // floats at `c` and `res` (rows `ldc` apart), `NV` padded vectors at
    // `bias` when the epilogue has one, and the ISA.
    unsafe {
        let l = I::LANES;
        let mut acc = [[I::zero(); NV]; MR];
        if !first {
            for (m, row) in acc.iter_mut().enumerate() {
                for (v, a) in row.iter_mut().enumerate() {
                    let n = if v + 1 == NV { nlast } else { l };
                    *a = load_upto::<I>(c.add(m * ldc + v * l), n);
                }
            }
            return acc;
        }
        if ep.bias {
            for row in acc.iter_mut() {
                for (v, a) in row.iter_mut().enumerate() {
                    *a = I::load(bias.add(v * l));
                }
            }
        }
        if ep.residual != Residual::None {
            for (m, row) in acc.iter_mut().enumerate() {
                for (v, a) in row.iter_mut().enumerate() {
                    let n = if v + 1 == NV { nlast } else { l };
                    *a = I::add(*a, load_upto::<I>(res.add(m * ldc + v * l), n));
                }
            }
        }
        acc
    }
}

/// Stores a GEMM tile, with the output ReLU on the last block of `k`.
#[inline(always)]
unsafe fn tile_store<I: Isa, const MR: usize, const NV: usize>(
    acc: &[[I::V; NV]; MR],
    relu: bool,
    nlast: usize,
    c: *mut f32,
    ldc: usize,
) {
    // SAFETY: as `tile_start`, for `c`.
    unsafe {
        let l = I::LANES;
        for (m, row) in acc.iter().enumerate() {
            for (v, &a) in row.iter().enumerate() {
                let n = if v + 1 == NV { nlast } else { l };
                store_upto::<I>(c.add(m * ldc + v * l), relu_if::<I>(relu, a), n);
            }
        }
    }
}

/// Where a GEMM block stands in the `k` loop: `(first, last)` block.
type KPhase = (bool, bool);

/// No prefetching.
const NO_PREFETCH: (*const f32, usize) = (core::ptr::null(), 0);

/// One column panel of a GEMM over `m` rows and one block of `k`; the row
/// tiles prefetch the `pf.1` lines at `pf.0` (the next panel block) into L2,
/// `k` lines each, so the weights stream from memory ahead of their use.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_panel<I: Isa, const MR: usize, const NV: usize>(
    m: usize,
    k: usize,
    (first, last): KPhase,
    pf: (*const f32, usize),
    relu_in: bool,
    ep: &Epilogue,
    nlast: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    bias: *const f32,
    res: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    // SAFETY: as `gemm`, restricted to this panel and block.
    unsafe {
        let relu = last && ep.relu;
        // Rows `row..` as one tile of `R` rows, prefetching as tile `t`.
        macro_rules! rows {
            ($r:ident, $row:expr, $t:expr) => {{
                let (row, t) = ($row, $t);
                let (r, ct) = (res.wrapping_add(row * ldc), c.add(row * ldc));
                let tpf = (pf.0.wrapping_add(t * k * LINE), pf.1.saturating_sub(t * k));
                let mut acc = tile_start::<I, $r, NV>(first, ep, nlast, bias, r, ct, ldc);
                tile::<I, $r, NV, false>(&mut acc, a.add(row * lda), lda, k, relu_in, b, tpf);
                tile_store::<I, $r, NV>(&acc, relu, nlast, ct, ldc);
            }};
        }
        let tiles = m / MR;
        let tail = m - tiles * MR;
        // A one-row tile keeps only `NV` chains of dependent multiply-adds in
        // flight: the last whole tile and that row go as `MR - 2` rows and 3.
        let split = tail == 1 && tiles > 0 && MR >= 4 && MR.is_multiple_of(2);
        let whole = tiles - usize::from(split);
        for t in 0..whole {
            rows!(MR, t * MR, t);
        }
        // The tail's pieces prefetch on as if they were whole tiles: the
        // pieces before one are `at`'s set bits (distinct powers of two).
        let row0 = whole * MR;
        let piece = |at: usize| whole + at.count_ones() as usize;
        if split {
            for_tail_rows!(MR - 2, at, R => rows!(R, row0 + at, piece(at)));
            rows!(SPLIT_ROWS, row0 + MR - 2, piece(MR - 2));
        } else {
            for_tail_rows!(tail, at, R => rows!(R, row0 + at, piece(at)));
        }
    }
}

/// The second piece of a GEMM panel's last whole tile and one-row tail (see
/// `gemm_panel`): 3 rows, with the first `MR - 2` (even) leaving no row alone.
const SPLIT_ROWS: usize = 3;

/// `c[m x n] = epilogue(relu_in?(a[m x k]) * b)` with `b` packed in panels of
/// `NV` vectors; `a` rows are `lda` apart, `c` (and `res`) rows `ldc` apart.
/// `res` is the residual (the output itself when in place). `k` is split into
/// even blocks of at most `kc` so that a panel's block stays in L1 across the
/// row tiles; partial sums go through `c`. Weights of at most
/// [`L1_WEIGHTS_BYTES`] go tile by tile instead (all panels of a tile in
/// turn): fer's small separables 3-5% faster, block2_sepconv1 about 5%.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<I: Isa, const MR: usize, const NV: usize>(
    (m, k, n, kc): (usize, usize, usize, usize),
    relu_in: bool,
    ep: &Epilogue,
    a: *const f32,
    lda: usize,
    b: *const f32,
    bias: *const f32,
    res: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    const {
        assert!(
            MR >= 1 && MR <= 15 && NV >= 1 && NV <= 4,
            "tile out of range"
        )
    };
    // SAFETY: the caller guarantees `m` rows of `k` floats at `a`, `m` rows of
    // `n` floats at `c` (and at `res` with a residual), the packed panels at
    // `b`, the padded bias, and the ISA.
    unsafe {
        let l = I::LANES;
        let nr = NV * l;
        let full = n / nr;
        let rem = n - full * nr;
        let blocks = k.div_ceil(kc.max(1)).max(1);
        let kb = k.div_ceil(blocks);
        let panels = full + usize::from(rem > 0);
        // The weights block `(blk, p)` of panel `p` (`full`: the narrowed last
        // one), with its length in lines.
        let chunk = |blk: usize, p: usize| {
            let k0 = blk * kb;
            let kl = kb.min(k - k0);
            let width = if p < full { nr } else { rem.div_ceil(l) * l };
            (b.add(p * k * nr + k0 * width), kl * width / LINE)
        };
        // Panel by panel, so each weight streams from memory once for all
        // `m` rows; within a panel, block by block of `k` (the panel's
        // partial sums, `m` rows of its width, stay in L2). Each block
        // prefetches the next one's weights.
        let next = |p: usize, blk: usize| {
            let i = (p * blocks + blk + 1) % (blocks * panels);
            chunk(i % blocks, i / blocks)
        };
        let k_of = |blk: usize| {
            (
                blk * kb,
                kb.min(k - blk * kb),
                (blk == 0, blk + 1 == blocks),
            )
        };
        // Weights that fit L1 whole stay there: then go tile by tile, all
        // panels of a tile in turn, so each input row is read once.
        let small = blocks == 1 && k * n.div_ceil(l) * l * 4 <= L1_WEIGHTS_BYTES;
        let step = if small { MR } else { m.max(1) };
        // A lone last row joins the strip before it (see `gemm_panel`).
        for r0 in (0..m).step_by(step).filter(|&r0| r0 == 0 || m - r0 > 1) {
            let rest = m - r0;
            let m = if rest == step + 1 {
                rest
            } else {
                step.min(rest)
            };
            let (a, res, c) = (a.add(r0 * lda), res.wrapping_add(r0 * ldc), c.add(r0 * ldc));
            for p in 0..full {
                let (bias, res, c) = (
                    bias.wrapping_add(p * nr),
                    res.wrapping_add(p * nr),
                    c.add(p * nr),
                );
                for blk in 0..blocks {
                    let (k0, kl, phase) = k_of(blk);
                    let (b, pf) = (chunk(blk, p).0, next(p, blk));
                    gemm_panel::<I, MR, NV>(
                        m,
                        kl,
                        phase,
                        pf,
                        relu_in,
                        ep,
                        l,
                        a.add(k0),
                        lda,
                        b,
                        bias,
                        res,
                        c,
                        ldc,
                    );
                }
            }
            if rem > 0 {
                let nvt = rem.div_ceil(l);
                let nlast = rem - (nvt - 1) * l;
                let (bias, res, c) = (
                    bias.wrapping_add(full * nr),
                    res.wrapping_add(full * nr),
                    c.add(full * nr),
                );
                with_vectors!(nvt, V => {
                    for blk in 0..blocks {
                        let (k0, kl, phase) = k_of(blk);
                        let (b, pf) = (chunk(blk, full).0, next(full, blk));
                        gemm_panel::<I, MR, V>(
                            m, kl, phase, pf, relu_in, ep, nlast, a.add(k0), lda, b, bias, res, c, ldc,
                        );
                    }
                })
            }
        }
    }
}

/// Weights up to this size (bytes) are reused from L1 across all of a
/// GEMM's tiles.
const L1_WEIGHTS_BYTES: usize = 32 * 1024;

/// The outputs `[lo, hi)` along one axis whose every tap is inside the input.
#[inline(always)]
fn interior(
    size: usize,
    out: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pad: usize,
) -> (usize, usize) {
    let lo = pad.div_ceil(stride);
    let span = (k - 1) * dil;
    let hi = if size + pad > span {
        ((size + pad - 1 - span) / stride + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Whether every vertical tap of output row `oy` is inside the input.
#[inline(always)]
fn row_inside(g: &Window, oy: usize) -> bool {
    oy * g.sh >= g.pt && oy * g.sh + (g.kh - 1) * g.dh < g.h + g.pt
}

/// Output vectors per row of a depthwise register strip (pixels, or pixel
/// pairs in [`dw_paired`]'s case): with stride 1
/// neighbouring pixels share input vectors, loaded (and ReLU'd) once. The
/// depthwise waits on its loads (inputs from L2), so strips with fewer loads
/// per FMA pay. See [`DW_ROWS`] for the strip's shape.
const DW_STRIP: usize = 4;

/// Output rows of a depthwise register strip: rows whose taps overlap load
/// the shared input rows once, so a 4x2 strip of a 3x3 kernel loads 24
/// input vectors for 72 FMAs where an 8x1 strip loads 30. On the AMD Zen 4
/// machine (criterion `kernels -- depthwise`, run side by side) the middle
/// flow's depthwise went from 54-60 to 67-70 GFLOP/s on AVX-512 and from
/// 47-52 to 54-59 on AVX2, block 2's from memory about equal; 8x2, 4x4 and
/// 2x4 strips measured slower on AVX2 (spills at 16 registers), 4x3 slower
/// on AVX2 and within noise on AVX-512. On the earlier Intel guest, 8x1
/// had measured 0.84x the time of 4x1 on the middle flow.
const DW_ROWS: usize = 2;

/// How many pixels ahead the depthwise prefetches its input.
const DW_AHEAD: usize = 8;

/// Input images above this size (bytes; about an L2) are prefetched by the
/// depthwise kernel; smaller ones are in cache already, where the prefetch
/// instructions measured 1-2% slower.
const DW_PREFETCH_BYTES: usize = 2 << 20;

/// `P` depthwise output vectors of rows `oy..oy + R`, each `S` pixels
/// (`ox0 + S * p`, the next `S - 1` pixels with it), one channel vector
/// (`n` valid lanes; `x`, `res` and `out` already offset to it), with the
/// epilogue. `rows_ok` / `cols_ok` promise every vertical / horizontal tap
/// of those rows is inside the input. `out` and `res` point at pixel 0 of
/// row `oy`, pixels `ld.0` and rows `ld.1` floats apart. The rows share the
/// input rows their taps overlap on, loaded once. With `S = 2` (see
/// [`dw_paired`]) a vector holds two neighbouring pixels of `n / 2`
/// channels, which stride 1 makes neighbours in the input too.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_strip<
    I: Isa,
    const KH: usize,
    const KW: usize,
    const P: usize,
    const R: usize,
    const S: usize,
>(
    g: &Window,
    ep: &Epilogue,
    (wv, bv): (&[[I::V; KW]; KH], I::V),
    (oy, ox0): (usize, usize),
    (rows_ok, cols_ok): (bool, bool),
    n: usize,
    x: *const f32,
    res: *const f32,
    out: *mut f32,
    (ldo, ldr): (usize, usize),
) {
    // SAFETY: the caller guarantees the input image at `x`, `n` lanes per
    // pixel at `out` and `res`, and the ISA; taps outside the image are
    // skipped unless promised inside.
    unsafe {
        // An image larger than L2 comes from L3: the bottom tap row is new
        // to the last output row (the others were read by earlier ones), so
        // fetch its pixels `DW_AHEAD` ahead into L2.
        if g.h * g.w * g.c * 4 > DW_PREFETCH_BYTES {
            let iy = ((oy + R - 1) * g.sh + (KH - 1) * g.dh).wrapping_sub(g.pt);
            for p in 0..P {
                let ix = ((ox0 + S * p + DW_AHEAD) * g.sw + (KW - 1) * g.dw).wrapping_sub(g.pl);
                I::prefetch(x.wrapping_add((iy * g.w + ix) * g.c));
            }
        }
        let mut acc = [[I::zero(); P]; R];
        for (r, racc) in acc.iter_mut().enumerate() {
            for (ky, wrow) in wv.iter().enumerate() {
                let iy = ((oy + r) * g.sh + ky * g.dh).wrapping_sub(g.pt);
                if !rows_ok && iy >= g.h {
                    continue;
                }
                let xr = x.add(iy * g.w * g.c);
                for (kx, &wk) in wrow.iter().enumerate() {
                    for (p, a) in racc.iter_mut().enumerate() {
                        let ix = ((ox0 + S * p) * g.sw + kx * g.dw).wrapping_sub(g.pl);
                        if !cols_ok && ix >= g.w {
                            continue;
                        }
                        let v = relu_if::<I>(ep.relu_in, load_upto::<I>(xr.add(ix * g.c), n));
                        *a = I::fmadd(v, wk, *a);
                    }
                }
            }
        }
        for (r, racc) in acc.iter().enumerate() {
            for (p, &a) in racc.iter().enumerate() {
                let o = r * ldr + (ox0 + S * p) * ldo;
                let mut t = a;
                if ep.bias {
                    t = I::add(t, bv);
                }
                if ep.residual == Residual::Separate {
                    t = I::add(t, load_upto::<I>(res.add(o), n));
                }
                store_upto::<I>(out.add(o), relu_if::<I>(ep.relu, t), n);
            }
        }
    }
}

/// Pointers of a depthwise pass: input image, packed weights, padded bias,
/// residual and output (both at pixel 0 of the output row).
type DwIo = (*const f32, *const f32, *const f32, *const f32, *mut f32);

/// `P * S` depthwise output pixels from `ox0` (`S` per vector, see
/// [`dw_strip`]) of rows `oy..oy + R`, every channel vector in turn: a
/// vector's weights come from L1 into registers once per pixel group, and
/// the pixels' input and output are read and written whole, so the image
/// streams through the cache in order. `ok` as in [`dw_strip`].
#[inline(always)]
unsafe fn dw_pixels<
    I: Isa,
    const KH: usize,
    const KW: usize,
    const P: usize,
    const R: usize,
    const S: usize,
>(
    g: &Window,
    ep: &Epilogue,
    at: (usize, usize),
    ok: (bool, bool),
    (x, w, bias, res, out): DwIo,
) {
    // SAFETY: as `dw_rows`, for these pixels.
    unsafe {
        let l = I::LANES;
        let cp = g.c.div_ceil(l) * l;
        let full = g.c / l;
        let vectors = full + usize::from(g.c > full * l);
        debug_assert!(
            S == 1 || 2 * g.c == l,
            "pixel pairs need half a vector of channels"
        );
        for v in 0..vectors {
            let (cv, n) = (v * l, if v < full { l } else { S * (g.c - full * l) });
            let mut wv = [[I::zero(); KW]; KH];
            for (ky, wrow) in wv.iter_mut().enumerate() {
                for (kx, slot) in wrow.iter_mut().enumerate() {
                    *slot = I::load(w.add((ky * KW + kx) * cp + cv));
                }
            }
            let bv = if ep.bias {
                I::load(bias.add(cv))
            } else {
                I::zero()
            };
            dw_strip::<I, KH, KW, P, R, S>(
                g,
                ep,
                (&wv, bv),
                at,
                ok,
                n,
                x.add(cv),
                res.wrapping_add(cv),
                out.add(cv),
                (g.c, g.ow * g.c),
            );
        }
    }
}

/// Depthwise (multiplier 1) output rows `r0..r0 + nr` into `out` (pointing
/// at row `r0`), with the epilogue (residual separate or none), pixel group
/// by pixel group: borders one pixel at a time, the interior in strips of
/// [`DW_STRIP`] vectors (see [`dw_row`]). `w` is packed `[kh * kw, cp]`,
/// `bias` padded.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_rows<I: Isa, const KH: usize, const KW: usize>(
    g: &Window,
    ep: &Epilogue,
    (r0, nr): (usize, usize),
    x: *const f32,
    w: *const f32,
    bias: *const f32,
    res: *const f32,
    out: *mut f32,
) {
    // SAFETY: the caller guarantees the image at `x`, the packed weights and
    // bias, `nr` rows of `ow` pixels of `c` floats at `out` (and `res`), and
    // the ISA.
    unsafe {
        let ldr = g.ow * g.c;
        let groups = nr / DW_ROWS;
        for q in 0..groups {
            let r = q * DW_ROWS;
            let oy = r0 + r;
            let rows_ok = row_inside(g, oy) && row_inside(g, oy + DW_ROWS - 1);
            let io = (x, w, bias, res.wrapping_add(r * ldr), out.add(r * ldr));
            dw_row::<I, KH, KW, DW_ROWS>(g, ep, (oy, rows_ok), io);
        }
        for r in groups * DW_ROWS..nr {
            let oy = r0 + r;
            let io = (x, w, bias, res.wrapping_add(r * ldr), out.add(r * ldr));
            dw_row::<I, KH, KW, 1>(g, ep, (oy, row_inside(g, oy)), io);
        }
    }
}

/// Depthwise output rows `oy..oy + R` (`io` at pixel 0 of row `oy`): borders
/// one pixel at a time, the interior in strips of [`DW_STRIP`] vectors, each
/// a pixel or, when [`dw_paired`], a pair of pixels; leftovers one vector at
/// a time. `rows_ok` promises every vertical tap of the rows is inside the
/// input.
#[inline(always)]
unsafe fn dw_row<I: Isa, const KH: usize, const KW: usize, const R: usize>(
    g: &Window,
    ep: &Epilogue,
    (oy, rows_ok): (usize, bool),
    io: DwIo,
) {
    // SAFETY: as `dw_rows`, for these rows.
    unsafe {
        let (lo, hi) = interior(g.w, g.ow, KW, g.sw, g.dw, g.pl);
        for ox in (0..lo).chain(hi..g.ow) {
            dw_pixels::<I, KH, KW, 1, R, 1>(g, ep, (oy, ox), (rows_ok, false), io);
        }
        if dw_paired::<I>(g, ep) {
            dw_interior::<I, KH, KW, R, 2>(g, ep, (oy, rows_ok), (lo, hi), io);
        } else {
            dw_interior::<I, KH, KW, R, 1>(g, ep, (oy, rows_ok), (lo, hi), io);
        }
    }
}

/// The interior pixels `lo..hi` of [`dw_row`]'s rows, `S` pixels per vector:
/// strips of [`DW_STRIP`] vectors, then single vectors, then (with `S = 2`
/// and an odd count) the last pixel alone.
#[inline(always)]
unsafe fn dw_interior<I: Isa, const KH: usize, const KW: usize, const R: usize, const S: usize>(
    g: &Window,
    ep: &Epilogue,
    (oy, rows_ok): (usize, bool),
    (lo, hi): (usize, usize),
    io: DwIo,
) {
    // SAFETY: as `dw_rows`, for these pixels, all of whose horizontal taps
    // are inside the input.
    unsafe {
        let vectors = (hi - lo) / S;
        let strips = vectors / DW_STRIP;
        for s in 0..strips {
            let at = (oy, lo + S * s * DW_STRIP);
            if rows_ok {
                dw_pixels::<I, KH, KW, DW_STRIP, R, S>(g, ep, at, (true, true), io);
            } else {
                dw_pixels::<I, KH, KW, DW_STRIP, R, S>(g, ep, at, (false, true), io);
            }
        }
        for v in strips * DW_STRIP..vectors {
            dw_pixels::<I, KH, KW, 1, R, S>(g, ep, (oy, lo + S * v), (rows_ok, true), io);
        }
        for ox in lo + S * vectors..hi {
            dw_pixels::<I, KH, KW, 1, R, 1>(g, ep, (oy, ox), (rows_ok, true), io);
        }
    }
}

/// Whether a depthwise runs its interior two pixels per vector: channels
/// that fill half a vector (fer's 8 on AVX-512), horizontal stride and
/// dilation 1 (the two pixels' taps are neighbours in the input), and no
/// bias (the packed bias fills only the low half). The packed weights fill
/// both halves (see `pack_depthwise`). Each output sums its taps in the same order either
/// way, so results are bit-identical. On the Intel guest (2026-12-04) fer's
/// 60x60x8 depthwise went from 10.4 µs (0.96-1.01x the time of the
/// 60x60x16 one beside it) to 6.2 µs (0.575x), and the whole model ran
/// 0.985x (median of 60 alternated rounds, 39 faster).
#[inline(always)]
fn dw_paired<I: Isa>(g: &Window, ep: &Epilogue) -> bool {
    2 * g.c == I::LANES && g.sw == 1 && g.dw == 1 && !ep.bias
}

/// Depthwise convolution (multiplier 1, a `KH` x `KW` kernel), NHWC, weights
/// packed by `pack_depthwise` (`[kh * kw, cp]`), bias padded; the residual, if
/// any, must be [`Residual::Separate`].
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn depthwise<I: Isa, const KH: usize, const KW: usize>(
    g: &Window,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let cp = g.c.div_ceil(I::LANES) * I::LANES;
    let n = g.oh * g.ow * g.c;
    assert!(g.kh == KH && g.kw == KW && ep.residual != Residual::InPlace);
    assert!(x.len() >= g.h * g.w * g.c && w.len() >= KH * KW * cp);
    assert!(y.len() >= n && (!ep.bias || bias.len() >= cp));
    assert!(ep.residual == Residual::None || res.len() >= n);
    let (xp, wp, bp, rp) = (x.as_ptr(), w.as_ptr(), bias.as_ptr(), res.as_ptr());
    // SAFETY: the lengths are checked above; the ISA is the caller's promise.
    unsafe { dw_rows::<I, KH, KW>(g, ep, (0, g.oh), xp, wp, bp, rp, y.as_mut_ptr()) };
}

/// Separable convolution, fused by blocks of `rows` output rows (the GEMM's
/// `k` in blocks of at most `kc`, see `gemm`): the depthwise output of a
/// block goes to `scratch` (`rows * ow * c` floats) and the pointwise GEMM
/// (`MR` x `NV` vectors tiles) consumes it while it is in cache. `relu_in`
/// applies to the depthwise input; bias, residual and ReLU to the pointwise
/// output. Multiplier 1, a `KH` x `KW` depthwise kernel. Weights: depthwise
/// packed as in [`depthwise`], pointwise `[c, co]` packed in panels of `NV`
/// vectors.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn separable<
    I: Isa,
    const MR: usize,
    const NV: usize,
    const KH: usize,
    const KW: usize,
>(
    g: &Window,
    co: usize,
    (rows, kc): (usize, usize),
    ep: &Epilogue,
    x: &[f32],
    dw: &[f32],
    pw: &[f32],
    bias: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let l = I::LANES;
    let (cp, cop) = (g.c.div_ceil(l) * l, co.div_ceil(l) * l);
    assert!(g.kh == KH && g.kw == KW && rows >= 1);
    assert!(x.len() >= g.h * g.w * g.c && dw.len() >= KH * KW * cp);
    assert!(pw.len() >= g.c * cop && (!ep.bias || bias.len() >= cop));
    assert!(y.len() >= g.oh * g.ow * co && scratch.len() >= rows.min(g.oh) * g.ow * g.c);
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * g.ow * co);
    let (dw_ep, pw_ep) = separable_epilogues(ep);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    let (x, dw, pw, bias, sp) = (
        x.as_ptr(),
        dw.as_ptr(),
        pw.as_ptr(),
        bias.as_ptr(),
        scratch.as_mut_ptr(),
    );
    let eps = (&dw_ep, &pw_ep);
    let row = g.ow * co;
    let mut r0 = 0;
    while r0 < g.oh {
        let nr = rows.min(g.oh - r0);
        let io = (
            x,
            dw,
            pw,
            bias,
            rp.wrapping_add(r0 * row),
            sp,
            yp.wrapping_add(r0 * row),
        );
        // SAFETY: the block's rows are inside the output, the lengths are
        // checked above; the ISA is the caller's promise.
        unsafe { separable_block::<I, MR, NV, KH, KW>(g, (co, kc), eps, io, (r0, nr)) };
        r0 += nr;
    }
}

/// Pointers of a separable block: input, depthwise and pointwise weights,
/// bias, residual (the output when in place) and output (both at the
/// block's first row), scratch.
type SepIo = (
    *const f32,
    *const f32,
    *const f32,
    *const f32,
    *const f32,
    *mut f32,
    *mut f32,
);

/// Output rows `r0..r0 + nr` of [`separable`]; the output and the residual
/// point at row `r0`.
#[inline(always)]
unsafe fn separable_block<
    I: Isa,
    const MR: usize,
    const NV: usize,
    const KH: usize,
    const KW: usize,
>(
    g: &Window,
    (co, kc): (usize, usize),
    (dw_ep, pw_ep): (&Epilogue, &Epilogue),
    (x, dw, pw, bias, res, scratch, y): SepIo,
    (r0, nr): (usize, usize),
) {
    // SAFETY: the caller guarantees rows `r0..r0 + nr` are inside the output,
    // `nr` depthwise rows fit the scratch, the operands' lengths, the ISA.
    unsafe {
        dw_rows::<I, KH, KW>(g, dw_ep, (r0, nr), x, dw, dw, dw, scratch);
        gemm::<I, MR, NV>(
            (nr * g.ow, g.c, co, kc),
            false,
            pw_ep,
            scratch,
            g.c,
            pw,
            bias,
            res,
            y,
            co,
        );
    }
}

/// One stage of [`separables_pool`]: window, output channels, rows per
/// block and `k` block (see [`separable`]), epilogue, and the packed
/// depthwise weights, pointwise weights and bias.
pub type SeparableStage<'a> = (
    &'a Window,
    usize,
    (usize, usize),
    &'a Epilogue,
    SeparableWeights<'a>,
);

/// A pooled block's shortcut convolution as [`separables_pool`] takes it:
/// window (over the chain's input, with the pooling's output size), output
/// channels, epilogue (no residual), weights packed as [`conv2d`]'s for the
/// second stage's tile, padded bias.
pub type ShortcutConv<'a> = (&'a Window, usize, &'a Epilogue, &'a [f32], &'a [f32]);

/// Two separable convolutions and a pooling (Xception's pooled block:
/// separable, separable, max-pool + residual) streamed by rows with
/// [`stream_separables_pool`]: each separable's output lives in a ring of a
/// few rows in `scratch` (see [`super::scalar::separables_pool_scratch`];
/// blocks of `rows` rows, as [`separable`] takes them, with room for `spare`
/// more blocks) and is consumed while in cache, instead of going through
/// whole images. Residual (separate or in place)
/// and ReLU of the pooling as in [`pool`]; results are identical to running
/// the three kernels one after another. With a `shortcut` (the pooling's
/// residual then in place), each group of output rows is first written by
/// the shortcut convolution ([`conv2d`]'s rows, with `MR2 x NV2` tiles), so
/// its input rows are read while in cache and its output is added by the
/// pooling straight after; results are identical to running [`conv2d`]
/// first.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn separables_pool<
    I: Isa,
    const MR1: usize,
    const NV1: usize,
    const MR2: usize,
    const NV2: usize,
    const KH1: usize,
    const KW1: usize,
    const KH2: usize,
    const KW2: usize,
>(
    (g1, co1, (rows1, kc1), ep1, w1): SeparableStage,
    (g2, co2, (rows2, kc2), ep2, w2): SeparableStage,
    (pg, is_max, pep): (&Window, bool, &Epilogue),
    x: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
    shortcut: Option<ShortcutConv>,
    spare: usize,
) {
    assert!(g1.kh == KH1 && g1.kw == KW1 && g2.kh == KH2 && g2.kw == KW2);
    if let Some((g, co, ep, w, bias)) = shortcut {
        let cop = co.div_ceil(I::LANES) * I::LANES;
        assert!((g.h, g.w, g.c, g.oh, g.ow, co) == (g1.h, g1.w, g1.c, pg.oh, pg.ow, pg.c));
        assert!(ep.residual == Residual::None && pep.residual == Residual::InPlace);
        assert!(w.len() >= g.kh * g.kw * g.c * cop && (!ep.bias || bias.len() >= cop));
    }
    check_separables_pool(
        I::LANES,
        [(g1, co1, rows1, ep1, w1), (g2, co2, rows2, ep2, w2)],
        (pg, pep),
        (x.len(), res.len(), scratch.len(), y.len()),
        spare,
    );
    let (rows1, rows2) = (rows1.min(g1.oh), rows2.min(g2.oh));
    let (e1, e2) = (separable_epilogues(ep1), separable_epilogues(ep2));
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(pep, res, yp);
    let mut stages = X86Stages::<I, MR1, NV1, MR2, NV2, KH1, KW1, KH2, KW2> {
        first: (g1, (co1, kc1), (e1.0, e1.1), w1),
        second: ((co2, kc2), (e2.0, e2.1), w2),
        x: x.as_ptr(),
        pool: (is_max, pep, rp, yp),
        shortcut: shortcut.map(|(g, co, ep, w, b)| (g, co, ep, w.as_ptr(), b.as_ptr())),
        isa: core::marker::PhantomData,
    };
    let (s1, s2) = ((g1, co1, rows1), (g2, co2, rows2));
    // SAFETY: the lengths are checked above (the stages' blocks stay in
    // the rings and the output); the ISA is the caller's promise.
    unsafe { stream_separables_pool(&mut stages, s1, s2, pg, scratch, spare) };
}

/// The x86 stages of [`separables_pool`]: each separable's window (the
/// first's; the second's comes per call), output channels and `k` block,
/// depthwise and pointwise epilogues, weights; the input; the pooling's
/// kind, epilogue, residual and output; the shortcut convolution, with its
/// weights and bias.
struct X86Stages<
    'a,
    I: Isa,
    const MR1: usize,
    const NV1: usize,
    const MR2: usize,
    const NV2: usize,
    const KH1: usize,
    const KW1: usize,
    const KH2: usize,
    const KW2: usize,
> {
    first: (
        &'a Window,
        (usize, usize),
        (Epilogue, Epilogue),
        SeparableWeights<'a>,
    ),
    second: ((usize, usize), (Epilogue, Epilogue), SeparableWeights<'a>),
    x: *const f32,
    pool: (bool, &'a Epilogue, *const f32, *mut f32),
    shortcut: Option<(&'a Window, usize, &'a Epilogue, *const f32, *const f32)>,
    isa: core::marker::PhantomData<I>,
}

impl<
        I: Isa,
        const MR1: usize,
        const NV1: usize,
        const MR2: usize,
        const NV2: usize,
        const KH1: usize,
        const KW1: usize,
        const KH2: usize,
        const KW2: usize,
    > SeparablesPoolStages for X86Stages<'_, I, MR1, NV1, MR2, NV2, KH1, KW1, KH2, KW2>
{
    #[inline(always)]
    unsafe fn first(&mut self, rows: (usize, usize), scratch: &mut [f32], out: &mut [f32]) {
        let (g, co_kc, (dw_ep, pw_ep), (dw, pw, bias)) = self.first;
        let o = out.as_mut_ptr();
        let io = (
            self.x,
            dw.as_ptr(),
            pw.as_ptr(),
            bias.as_ptr(),
            o as *const f32,
            scratch.as_mut_ptr(),
            o,
        );
        // SAFETY: the caller (`separables_pool`) checked the operands; the
        // block fits the scratch and the ring; the ISA is its promise.
        unsafe { separable_block::<I, MR1, NV1, KH1, KW1>(g, co_kc, (&dw_ep, &pw_ep), io, rows) }
    }

    #[inline(always)]
    unsafe fn second(
        &mut self,
        g: &Window,
        input: &[f32],
        rows: (usize, usize),
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let (co_kc, (dw_ep, pw_ep), (dw, pw, bias)) = self.second;
        let o = out.as_mut_ptr();
        let io = (
            input.as_ptr(),
            dw.as_ptr(),
            pw.as_ptr(),
            bias.as_ptr(),
            o as *const f32,
            scratch.as_mut_ptr(),
            o,
        );
        // SAFETY: as `first`; `g` reads the rows the first ring holds.
        unsafe { separable_block::<I, MR2, NV2, KH2, KW2>(g, co_kc, (&dw_ep, &pw_ep), io, rows) }
    }

    #[inline(always)]
    unsafe fn pool(&mut self, g: &Window, input: &[f32], rows: (usize, usize)) {
        let (is_max, ep, rp, yp) = self.pool;
        if let Some((sg, co, sep, w, bias)) = self.shortcut {
            let io = (self.x, w, bias, yp as *const f32, yp);
            // SAFETY: `separables_pool` checked the shortcut's operands and
            // that its output rows are the pooling's; the ISA is its promise.
            unsafe { conv_block::<I, MR2, NV2, false>(sg, co, sep, io, rows.0, rows.1 - rows.0) };
        }
        // SAFETY: `g` reads the rows the second ring holds; the output and
        // residual were checked by `separables_pool`.
        unsafe { pool_rows::<I>(g, is_max, ep, input.as_ptr(), rp, yp, rows) }
    }
}

/// Dense layer over the last axis: `x.len() / ci` rows, weights `[ci, co]`
/// packed in panels of `NV` vectors, bias padded; `ci` in blocks of at most
/// `kc` (see `gemm`).
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn dense<I: Isa, const MR: usize, const NV: usize>(
    ci: usize,
    co: usize,
    kc: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let cop = co.div_ceil(I::LANES) * I::LANES;
    let rows = x.len() / ci;
    assert!(w.len() >= ci * cop && (!ep.bias || bias.len() >= cop));
    assert!(y.len() >= rows * co);
    assert!(ep.residual != Residual::Separate || res.len() >= rows * co);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    // SAFETY: the lengths are checked above; the ISA is the caller's promise.
    unsafe {
        gemm::<I, MR, NV>(
            (rows, ci, co, kc),
            ep.relu_in,
            ep,
            x.as_ptr(),
            ci,
            w.as_ptr(),
            bias.as_ptr(),
            rp,
            yp,
            co,
        );
    }
}

/// `R` output pixels `ox0..ox0 + R` of row `oy` of a dense convolution, one
/// column panel of `NV` vectors; `cols_ok` promises every horizontal tap is
/// inside the input (required when `R > 1`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_tile<I: Isa, const R: usize, const NV: usize, const PAIRS: bool>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    nlast: usize,
    oy: usize,
    ox0: usize,
    rows_ok: bool,
    cols_ok: bool,
    pf: (*const f32, usize),
    x: *const f32,
    b: *const f32,
    bias: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    // SAFETY: the caller guarantees the image at `x`, the panel at `b`, the
    // output row at `y` (and `res`) offset by the panel, and the ISA;
    // prefetches never fault.
    unsafe {
        // A tap's weights: `c` rows of `NV` vectors, or `c / 2` vectors of
        // channel pairs.
        let steps = if PAIRS { g.c / 2 } else { g.c };
        let mut acc = [[I::zero(); NV]; R];
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
            if !rows_ok && iy >= g.h {
                continue;
            }
            for kx in 0..g.kw {
                let ix = (ox0 * g.sw + kx * g.dw).wrapping_sub(g.pl);
                if !cols_ok && ix >= g.w {
                    continue;
                }
                let t = ky * g.kw + kx;
                let a = x.add((iy * g.w + ix) * g.c);
                let bt = b.add(t * steps * NV * I::LANES);
                let tpf = (
                    pf.0.wrapping_add(t * steps * LINE),
                    pf.1.saturating_sub(t * steps),
                );
                tile::<I, R, NV, PAIRS>(&mut acc, a, g.sw * g.c, steps, ep.relu_in, bt, tpf);
            }
        }
        if PAIRS {
            for row in acc.iter_mut() {
                for v in row.iter_mut() {
                    *v = I::fold_pairs(*v);
                }
            }
        }
        let o = ox0 * co;
        finish::<I, R, NV>(&acc, ep, nlast, bias, res.wrapping_add(o), y.add(o), co);
    }
}

/// Output row `oy` of a dense convolution, one column panel of `NV` vectors:
/// border pixels one at a time, the interior in tiles of `MR` pixels, which
/// prefetch the `pf.1` lines at `pf.0` into L2 (one per multiply-add step).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_row<I: Isa, const MR: usize, const NV: usize, const PAIRS: bool>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    nlast: usize,
    oy: usize,
    pf: (*const f32, usize),
    x: *const f32,
    b: *const f32,
    bias: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    // SAFETY: as `conv_tile`, for every pixel of the row.
    unsafe {
        let rows_ok = row_inside(g, oy);
        let (lo, hi) = interior(g.w, g.ow, g.kw, g.sw, g.dw, g.pl);
        for ox in (0..lo).chain(hi..g.ow) {
            conv_tile::<I, 1, NV, PAIRS>(
                g,
                co,
                ep,
                nlast,
                oy,
                ox,
                rows_ok,
                false,
                NO_PREFETCH,
                x,
                b,
                bias,
                res,
                y,
            );
        }
        let kk = g.kh * g.kw * g.c;
        let tiles = (hi - lo) / MR;
        for t in 0..tiles {
            let ox = lo + t * MR;
            let tpf = (
                pf.0.wrapping_add(t * kk * LINE),
                pf.1.saturating_sub(t * kk),
            );
            conv_tile::<I, MR, NV, PAIRS>(
                g, co, ep, nlast, oy, ox, rows_ok, true, tpf, x, b, bias, res, y,
            );
        }
        for_tail_rows!(hi - lo - tiles * MR, at, RT => {
            let (ox, t) = (lo + tiles * MR + at, tiles + at);
            let tpf = (pf.0.wrapping_add(t * kk * LINE), pf.1.saturating_sub(t * kk));
            conv_tile::<I, RT, NV, PAIRS>(
                g, co, ep, nlast, oy, ox, rows_ok, true, tpf, x, b, bias, res, y,
            )
        })
    }
}

/// Dense 2-D convolution, NHWC, weights `[kh * kw * c, co]` packed in panels
/// of `NV` vectors, bias padded. Output rows go by blocks of `rows`; within a
/// block, column panel by column panel (so a panel stays in cache across the
/// block), each row in tiles of `MR` pixels.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn conv2d<I: Isa, const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    rows: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    const {
        assert!(
            MR >= 1 && MR <= 15 && NV >= 1 && NV <= 4,
            "tile out of range"
        )
    };
    let cop = co.div_ceil(I::LANES) * I::LANES;
    let kk = g.kh * g.kw * g.c;
    let row = g.ow * co;
    assert!(rows >= 1 && x.len() >= g.h * g.w * g.c && w.len() >= kk * cop);
    assert!(y.len() >= g.oh * row && (!ep.bias || bias.len() >= cop));
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * row);
    // SAFETY: the lengths are checked above; the ISA is the caller's promise.
    unsafe { conv_blocks::<I, MR, NV, false>(g, co, rows, ep, (x, w, bias, res, y)) };
}

/// A 1x1 convolution without padding as one GEMM over all output pixels:
/// with stride 1 straight on the image, otherwise on the strided pixels
/// first copied into `scratch` (`oh * ow * c` floats, see
/// [`conv1x1_scratch`]), so each weight streams once for all pixels with
/// `k` blocked by `kc` (where [`conv2d`] streams a weight panel once per
/// block of output rows). Weights `[c, co]` packed in panels of `NV`
/// vectors, bias padded; the epilogue as [`conv2d`]'s.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn conv1x1<I: Isa, const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    kc: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (c, m) = (g.c, g.oh * g.ow);
    assert!(g.kh == 1 && g.kw == 1 && g.pt == 0 && g.pl == 0);
    assert!(g.oh == 0 || ((g.oh - 1) * g.sh < g.h && (g.ow - 1) * g.sw < g.w));
    assert!(x.len() >= g.h * g.w * c && scratch.len() >= conv1x1_scratch(g));
    let a = if conv1x1_in_place(g) {
        &x[..m * c]
    } else {
        for (oy, rows) in scratch.chunks_exact_mut(g.ow * c).take(g.oh).enumerate() {
            for (ox, px) in rows.chunks_exact_mut(c).enumerate() {
                let at = (oy * g.sh * g.w + ox * g.sw) * c;
                px.copy_from_slice(&x[at..at + c]);
            }
        }
        &scratch[..m * c]
    };
    // SAFETY: the ISA is the caller's promise; `dense` checks the lengths.
    unsafe { dense::<I, MR, NV>(c, co, kc, ep, a, w, bias, res, y) }
}

/// The operands of a convolution: input, packed weights, bias, residual,
/// output.
type ConvArgs<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a [f32], &'a mut [f32]);

/// The output of [`conv2d`] (or [`conv2d_pairs`]) by blocks of `rows`.
///
/// # Safety
///
/// The operands hold what the caller asserts for its layout: the image, the
/// weights (`kh * kw * c` rows of the padded outputs, or `kh * kw * c / 2`
/// pair vectors), the padded bias, the output (and a separate residual) of
/// `oh * ow * co` floats; the CPU supports `I`'s instruction set.
#[inline(always)]
unsafe fn conv_blocks<I: Isa, const MR: usize, const NV: usize, const PAIRS: bool>(
    g: &Window,
    co: usize,
    rows: usize,
    ep: &Epilogue,
    (x, w, bias, res, y): ConvArgs,
) {
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    let io = (x.as_ptr(), w.as_ptr(), bias.as_ptr(), rp, yp);
    let nb = g.oh / rows;
    for b in 0..nb {
        // SAFETY: the block's rows are inside the output; the caller checked
        // the lengths and promises the ISA.
        unsafe { conv_block::<I, MR, NV, PAIRS>(g, co, ep, io, b * rows, rows) };
    }
    if g.oh > nb * rows {
        // SAFETY: as above, for the last, shorter block.
        unsafe { conv_block::<I, MR, NV, PAIRS>(g, co, ep, io, nb * rows, g.oh - nb * rows) };
    }
}

/// [`conv2d`] for at most `LANES / 2` output channels and an even number of
/// input channels: each vector holds two input channels' products for the
/// `LANES / 2` outputs (weights packed `[kh * kw][c / 2][LANES]`, lane `2j +
/// s` the weight of input channel `2i + s` for output `j`, zero past `co`),
/// fed by one 64-bit broadcast of the pair of inputs, so `2 * co` lanes work
/// where [`conv2d`] would use `co`; neighbouring lanes are summed before the
/// epilogue. Output rows go by blocks of `rows`, each row in
/// tiles of `MR` pixels.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn conv2d_pairs<I: Isa, const MR: usize>(
    g: &Window,
    co: usize,
    rows: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    const { assert!(MR >= 1 && MR <= 15, "tile out of range") };
    let l = I::LANES;
    let row = g.ow * co;
    assert!(co >= 1 && 2 * co <= l && g.c.is_multiple_of(2) && rows >= 1);
    assert!(x.len() >= g.h * g.w * g.c && w.len() >= g.kh * g.kw * g.c / 2 * l);
    assert!(y.len() >= g.oh * row && (!ep.bias || bias.len() >= l));
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * row);
    // SAFETY: the lengths are checked above; the ISA is the caller's promise.
    unsafe { conv_blocks::<I, MR, 1, true>(g, co, rows, ep, (x, w, bias, res, y)) };
}

/// Winograd's input transform of one tile row, `B^T r` along one axis
/// (`B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`).
#[inline(always)]
unsafe fn winograd_bt<I: Isa>(r: [I::V; 4]) -> [I::V; 4] {
    // SAFETY: the caller guarantees the ISA.
    unsafe {
        [
            I::sub(r[0], r[2]),
            I::add(r[1], r[2]),
            I::sub(r[2], r[1]),
            I::sub(r[1], r[3]),
        ]
    }
}

/// Winograd's output transform along one axis, `A^T r` (`A^T = [[1, 1, 1,
/// 0], [0, 1, -1, -1]]`).
#[inline(always)]
unsafe fn winograd_at<I: Isa>(r: [I::V; 4]) -> [I::V; 2] {
    // SAFETY: the caller guarantees the ISA.
    unsafe {
        [
            I::add(I::add(r[0], r[1]), r[2]),
            I::sub(I::sub(r[1], r[2]), r[3]),
        ]
    }
}

/// The transformed input tiles `B^T d B` of tile row `ty` of
/// [`conv3x3_winograd`]: tile `tx`'s 4x4 input pixels from row `2 ty - pt`
/// and column `2 tx - pl` (zero outside the image, input ReLU on load) go
/// to `v[pos][tx][..c]`, `pos = 4 i + j`.
#[inline(always)]
unsafe fn winograd_inputs<I: Isa>(
    g: &Window,
    relu_in: bool,
    ty: usize,
    tw: usize,
    x: *const f32,
    v: *mut f32,
) {
    // SAFETY: the caller guarantees the image at `x`, `16 * tw * c` floats
    // at `v` and the ISA; only in-bounds pixels are loaded.
    unsafe {
        let (l, c) = (I::LANES, g.c);
        for tx in 0..tw {
            for cv in (0..c).step_by(l) {
                let n = l.min(c - cv);
                let mut d = [[I::zero(); 4]; 4];
                for (i, row) in d.iter_mut().enumerate() {
                    let iy = (2 * ty + i).wrapping_sub(g.pt);
                    if iy >= g.h {
                        continue;
                    }
                    for (j, px) in row.iter_mut().enumerate() {
                        let ix = (2 * tx + j).wrapping_sub(g.pl);
                        if ix < g.w {
                            let p = x.add((iy * g.w + ix) * c + cv);
                            *px = relu_if::<I>(relu_in, load_upto::<I>(p, n));
                        }
                    }
                }
                // `B^T d` column by column, then `(B^T d) B` row by row.
                let mut t = [[I::zero(); 4]; 4];
                for j in 0..4 {
                    let col = winograd_bt::<I>([d[0][j], d[1][j], d[2][j], d[3][j]]);
                    for i in 0..4 {
                        t[i][j] = col[i];
                    }
                }
                for (i, row) in t.iter().enumerate() {
                    for (j, &e) in winograd_bt::<I>(*row).iter().enumerate() {
                        store_upto::<I>(v.add(((4 * i + j) * tw + tx) * c + cv), e, n);
                    }
                }
            }
        }
    }
}

/// The output transform `A^T m A` of tile row `ty` of [`conv3x3_winograd`]
/// from the products `m[pos][tx][..cop]`, with the epilogue (bias, residual
/// at `res`, which is the output itself when in place, ReLU); stores the
/// in-bounds pixels of each 2x2 tile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn winograd_outputs<I: Isa>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    ty: usize,
    tw: usize,
    m: *const f32,
    (bias, res, y): (*const f32, *const f32, *mut f32),
) {
    // SAFETY: the caller guarantees `16 * tw * cop` floats at `m`, the
    // padded bias, the output (and residual) of `oh * ow * co` floats, and
    // the ISA; only in-bounds pixels are stored.
    unsafe {
        let l = I::LANES;
        let cop = co.div_ceil(l) * l;
        for tx in 0..tw {
            for cv in (0..co).step_by(l) {
                let n = l.min(co - cv);
                let at = |i: usize, j: usize| m.add(((4 * i + j) * tw + tx) * cop + cv);
                // `A^T m` column by column, then `(A^T m) A` row by row.
                let col = |j: usize| {
                    winograd_at::<I>([
                        I::load(at(0, j)),
                        I::load(at(1, j)),
                        I::load(at(2, j)),
                        I::load(at(3, j)),
                    ])
                };
                let [c0, c1, c2, c3] = [col(0), col(1), col(2), col(3)];
                let s = [[c0[0], c1[0], c2[0], c3[0]], [c0[1], c1[1], c2[1], c3[1]]];
                let b = if ep.bias {
                    I::load(bias.add(cv))
                } else {
                    I::zero()
                };
                for (a, row) in s.iter().enumerate() {
                    let oy = 2 * ty + a;
                    if oy >= g.oh {
                        break;
                    }
                    for (bx, &e) in winograd_at::<I>(*row).iter().enumerate() {
                        let ox = 2 * tx + bx;
                        if ox >= g.ow {
                            break;
                        }
                        let o = (oy * g.ow + ox) * co + cv;
                        let mut e = e;
                        if ep.bias {
                            e = I::add(e, b);
                        }
                        if ep.residual != Residual::None {
                            e = I::add(e, load_upto::<I>(res.add(o), n));
                        }
                        store_upto::<I>(y.add(o), relu_if::<I>(ep.relu, e), n);
                    }
                }
            }
        }
    }
}

/// A 3x3, stride-1 dense convolution by Winograd's F(2x2, 3x3) (Lavin and
/// Gray, 2016): each 2x2 output tile is `A^T [U ⊙ (B^T d B)] A` over its
/// 4x4 input tile `d`, with `U = G g G^T` the weights transformed at compile
/// time, so each tile takes 16 products per channel pair where direct
/// convolution takes 36 (2.25x fewer multiply-adds). One row of tiles at a
/// time: the input transform writes `scratch`'s `[16][tw][c]`, each of the
/// 16 positions is a GEMM (`tw` x `c` by `c` x `co`, weights `u`: per
/// position `[c, co]` packed in panels of `NV` vectors) into `[16][tw][cop]`,
/// and the output transform applies the epilogue (bias, residual separate
/// or in place, ReLU) and stores the in-bounds pixels. Input ReLU on load;
/// any padding. Results differ from direct convolution by rounding only.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn conv3x3_winograd<I: Isa, const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    x: &[f32],
    u: &[f32],
    bias: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (l, c) = (I::LANES, g.c);
    let cop = co.div_ceil(l) * l;
    let tw = g.ow.div_ceil(2);
    let row = g.ow * co;
    assert!(g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1);
    assert!(x.len() >= g.h * g.w * c && u.len() >= 16 * c * cop);
    assert!(y.len() >= g.oh * row && (!ep.bias || bias.len() >= cop));
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * row);
    assert!(scratch.len() >= winograd_scratch(g.ow, c, co, l));
    let (v, m) = scratch.split_at_mut(16 * tw * c);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    let plain = Epilogue {
        relu_in: false,
        bias: false,
        residual: Residual::None,
        relu: false,
    };
    let none = core::ptr::null();
    for ty in 0..g.oh.div_ceil(2) {
        // SAFETY: the lengths are checked above (the tile row's pixels are
        // inside the output, its input pixels are bounds-checked); the ISA
        // is the caller's promise.
        unsafe {
            winograd_inputs::<I>(g, ep.relu_in, ty, tw, x.as_ptr(), v.as_mut_ptr());
            for pos in 0..16 {
                gemm::<I, MR, NV>(
                    (tw, c, cop, c),
                    false,
                    &plain,
                    v.as_ptr().add(pos * tw * c),
                    c,
                    u.as_ptr().add(pos * c * cop),
                    none,
                    none,
                    m.as_mut_ptr().add(pos * tw * cop),
                    cop,
                );
            }
            winograd_outputs::<I>(g, co, ep, ty, tw, m.as_ptr(), (bias.as_ptr(), rp, yp));
        }
    }
}

/// Pointers of a convolution step: input, packed weights, bias, residual
/// (the output when in place), output.
type ConvIo = (*const f32, *const f32, *const f32, *const f32, *mut f32);

/// Output rows `r0..r0 + nrows` of [`conv2d`], panel by panel.
#[inline(always)]
unsafe fn conv_block<I: Isa, const MR: usize, const NV: usize, const PAIRS: bool>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    (x, w, bias, res, y): ConvIo,
    r0: usize,
    nrows: usize,
) {
    // SAFETY: the caller guarantees rows `r0..r0 + nrows` are inside the
    // output, the operands' lengths, the ISA.
    unsafe {
        let l = I::LANES;
        let (kk, row, nr) = (g.kh * g.kw * g.c, g.ow * co, NV * l);
        let full = co / nr;
        let rem = co - full * nr;
        let panels = full + usize::from(rem > 0);
        // Panel `p` (`full`: the narrowed last one) and its length in lines.
        let panel = |p: usize| {
            let width = if p < full { nr } else { rem.div_ceil(l) * l };
            (w.add(p * kk * nr), kk * width / LINE)
        };
        // The first row of a panel prefetches the next one (channel pairs
        // have a single panel, already in cache after the first row).
        let pf = |p: usize, oy: usize| {
            if oy == r0 && !PAIRS {
                panel((p + 1) % panels)
            } else {
                NO_PREFETCH
            }
        };
        for p in 0..full {
            let (b, bi) = (panel(p).0, bias.wrapping_add(p * nr));
            for oy in r0..r0 + nrows {
                let o = oy * row + p * nr;
                let (r, yo) = (res.wrapping_add(o), y.add(o));
                conv_row::<I, MR, NV, PAIRS>(g, co, ep, l, oy, pf(p, oy), x, b, bi, r, yo);
            }
        }
        if rem > 0 {
            let nvt = rem.div_ceil(l);
            let nlast = rem - (nvt - 1) * l;
            let (b, bi) = (panel(full).0, bias.wrapping_add(full * nr));
            for oy in r0..r0 + nrows {
                let o = oy * row + full * nr;
                let (r, yo, f) = (res.wrapping_add(o), y.add(o), pf(full, oy));
                if PAIRS {
                    // Pairs have `co <= LANES / 2`: one vector.
                    conv_row::<I, MR, 1, true>(g, co, ep, nlast, oy, f, x, b, bi, r, yo)
                } else {
                    with_vectors!(nvt, V => conv_row::<I, MR, V, false>(
                        g, co, ep, nlast, oy, f, x, b, bi, r, yo
                    ))
                }
            }
        }
    }
}

/// Max or average pooling (average over the in-bounds taps), NHWC, with the
/// epilogue's input ReLU, residual (separate or in place) and ReLU; sums in
/// the scalar kernel's order, so results are identical to it.
///
/// # Safety
///
/// The CPU supports `I`'s instruction set.
#[inline(always)]
pub unsafe fn pool<I: Isa>(
    g: &Window,
    is_max: bool,
    ep: &Epilogue,
    x: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let c = g.c;
    assert!(x.len() >= g.h * g.w * c && y.len() >= g.oh * g.ow * c);
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * g.ow * c);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    // SAFETY: the lengths are checked above; the ISA is the caller's promise.
    unsafe { pool_rows::<I>(g, is_max, ep, x.as_ptr(), rp, yp, (0, g.oh)) }
}

/// Output rows `rows.0..rows.1` of [`pool`], from raw pointers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pool_rows<I: Isa>(
    g: &Window,
    is_max: bool,
    ep: &Epilogue,
    xp: *const f32,
    rp: *const f32,
    yp: *mut f32,
    rows: (usize, usize),
) {
    let (l, c) = (I::LANES, g.c);
    let full = c / l;
    let (lo, hi) = interior(g.w, g.ow, g.kw, g.sw, g.dw, g.pl);
    for oy in rows.0..rows.1 {
        let rows_ok = row_inside(g, oy);
        for ox in 0..g.ow {
            let inside = rows_ok && (lo..hi).contains(&ox);
            for v in 0..full + usize::from(c > full * l) {
                let (cv, n) = (v * l, if v < full { l } else { c - full * l });
                let at = (oy, ox);
                // SAFETY: the caller guarantees the rows' taps, output and
                // residual, and the ISA.
                unsafe {
                    if inside {
                        pool_vec::<I, true>(g, is_max, ep, at, xp, rp, yp, cv, n)
                    } else {
                        pool_vec::<I, false>(g, is_max, ep, at, xp, rp, yp, cv, n)
                    }
                }
            }
        }
    }
}

/// One channel vector (float offset `cv`, `n` lanes) of output pixel
/// `(oy, ox)` of [`pool`]; `INSIDE` promises every tap is inside the input.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pool_vec<I: Isa, const INSIDE: bool>(
    g: &Window,
    is_max: bool,
    ep: &Epilogue,
    (oy, ox): (usize, usize),
    x: *const f32,
    res: *const f32,
    y: *mut f32,
    cv: usize,
    n: usize,
) {
    // SAFETY: the caller guarantees the input image, the output pixel (and
    // its residual) and the ISA.
    unsafe {
        let c = g.c;
        let o = (oy * g.ow + ox) * c + cv;
        let mut acc = I::splat(if is_max { f32::NEG_INFINITY } else { 0.0 });
        let mut count = 0usize;
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
            if !INSIDE && iy >= g.h {
                continue;
            }
            for kx in 0..g.kw {
                let ix = (ox * g.sw + kx * g.dw).wrapping_sub(g.pl);
                if !INSIDE && ix >= g.w {
                    continue;
                }
                let v = load_upto::<I>(x.add((iy * g.w + ix) * c + cv), n);
                let v = relu_if::<I>(ep.relu_in, v);
                acc = if is_max {
                    I::max(v, acc)
                } else {
                    I::add(acc, v)
                };
                count += 1;
            }
        }
        if !is_max {
            acc = I::div(acc, I::splat(count as f32));
        }
        if ep.residual != Residual::None {
            acc = I::add(acc, load_upto::<I>(res.add(o), n));
        }
        store_upto::<I>(y.add(o), relu_if::<I>(ep.relu, acc), n);
    }
}
