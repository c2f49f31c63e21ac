// NEON kernels for aarch64 (128-bit vectors of 4 floats, 32 vector registers).
//
// This file is compiled twice: as a module of xcc-codegen on aarch64 (for
// tests) and verbatim inside every generated model for the `neon` target. It
// must therefore use only `core` and `super::scalar`, have no inner
// attributes or `//!` docs.
//
// NEON (Advanced SIMD) is part of the aarch64 baseline, so the public kernels
// are safe functions: no `#[target_feature]`, no run-time detection. Every
// function is `#[inline(always)]`; generated code passes constant geometry,
// so after inlining every loop bound, stride and offset is a per-layer
// constant. Raw-pointer code is only reached after the public kernel has
// checked every slice length it relies on.
//
// Constant layouts (packed by the backend at compile time, see
// `xcc_codegen::backends::arm`; the same layouts as the x86 backends with
// 4-lane vectors):
// - GEMM weights `[k, n]` (pointwise, dense, and dense convolutions viewed as
//   `[kh * kw * c, co]`): column panels of `NV * 4` columns, each `k` rows of
//   the panel's width, one after the other; the last panel is narrowed to the
//   whole vectors it needs and zero-padded;
// - depthwise weights `[kh * kw, c]`: each tap's row zero-padded to whole vectors;
// - biases: zero-padded to whole vectors.
//
// The GEMM register tile is `MR` pixels by `NV` vectors (the backend uses
// 8 x 3, i.e. 8 pixels by 12 output channels): 24 accumulators, 3 weight
// vectors and the pixel values, loaded as scalars (`ldr s`) and used through
// the by-element multiply-add (`fmla v.4s, v.4s, v.s[0]`), so the broadcast
// costs no vector instruction.

use core::arch::aarch64::*;

use super::scalar::{
    check_separables_pool, residual_ptr, separable_epilogues, stream_separables_pool, Epilogue,
    Residual, SeparableWeights, SeparablesPoolStages, Window,
};

const _: () = assert!(
    cfg!(target_feature = "neon"),
    "the `neon` kernels need an aarch64 target with NEON (Advanced SIMD)"
);

/// Floats per vector.
pub const LANES: usize = 4;

/// Taps a depthwise kernel keeps in registers (up to 5x5).
pub const MAX_DW_TAPS: usize = 25;

/// Output pixels a depthwise row block computes together (interior, up to
/// 3x3 taps): their overlapping input columns are loaded, and ReLU'd, once.
const DW_BLOCK: usize = 4;

/// Input columns a depthwise row block may span (a 3x3 block of
/// [`DW_BLOCK`] pixels spans 6 at stride 1 and 9 at stride 2).
const DW_SPAN: usize = 12;

type V = float32x4_t;

/// All lanes zero.
#[inline(always)]
#[allow(unused_unsafe)]
fn zero() -> V {
    // SAFETY: NEON is baseline on aarch64 (checked above).
    unsafe { vdupq_n_f32(0.0) }
}

/// `a + b`.
#[inline(always)]
#[allow(unused_unsafe)]
fn add(a: V, b: V) -> V {
    // SAFETY: NEON is baseline on aarch64.
    unsafe { vaddq_f32(a, b) }
}

/// `acc + a * b`, fused.
#[inline(always)]
#[allow(unused_unsafe)]
fn fma(acc: V, a: V, b: V) -> V {
    // SAFETY: NEON is baseline on aarch64.
    unsafe { vfmaq_f32(acc, a, b) }
}

/// `max(v, 0)` when `on` (`fmaxnm`: a NaN gives 0, as `f32::max`).
#[inline(always)]
#[allow(unused_unsafe)]
fn relu_if(on: bool, v: V) -> V {
    if on {
        // SAFETY: NEON is baseline on aarch64.
        unsafe { vmaxnmq_f32(v, zero()) }
    } else {
        v
    }
}

/// The first `n <= 4` floats from `p`, the other lanes zero; reads only `n`.
#[inline(always)]
unsafe fn load_n(p: *const f32, n: usize) -> V {
    // SAFETY: the caller guarantees `n` readable floats at `p`.
    unsafe {
        if n == LANES {
            vld1q_f32(p)
        } else {
            let mut t = [0.0f32; LANES];
            core::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
            vld1q_f32(t.as_ptr())
        }
    }
}

/// Stores the first `n <= 4` lanes at `p`; writes only `n`.
#[inline(always)]
unsafe fn store_n(p: *mut f32, v: V, n: usize) {
    // SAFETY: the caller guarantees `n` writable floats at `p`.
    unsafe {
        if n == LANES {
            vst1q_f32(p, v)
        } else {
            let mut t = [0.0f32; LANES];
            vst1q_f32(t.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(t.as_ptr(), p, n);
        }
    }
}

/// Rows of the tile for the row tails of a GEMM (and pixels for the tail of
/// a convolution row's interior) before single rows: a 4 x 12 tile still
/// keeps both FMA pipes busy (12 FMAs for 7 loads per `k` step), a single row
/// is load-bound (3 FMAs for 4 loads).
const TAIL: usize = 4;

/// Calls `$body` with `$v` bound to the constant `$nv`, the vectors (1..=3)
/// of a narrowed last column panel (fewer than the tile's `NV <= 4`).
/// Together with [`TAIL`]-row and single-row tiles for the row tails (no tile
/// per tail size), this keeps a GEMM to a handful of tile instances, so
/// generated code compiles quickly.
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
            _ => {
                const $v: usize = 3;
                $body
            }
        }
    };
}

/// The register tile: `acc[m][v] += relu_in?(a[m * lda + kk]) * b[kk][v]` for
/// `kk < k`, with `b` a panel of `NV` vectors per row. Per `kk`: `NV` vector
/// loads, `MR` scalar loads and `MR * NV` by-element multiply-adds.
#[inline(always)]
unsafe fn tile<const MR: usize, const NV: usize>(
    acc: &mut [[V; NV]; MR],
    a: *const f32,
    lda: usize,
    k: usize,
    relu_in: bool,
    b: *const f32,
) {
    // SAFETY: the caller guarantees `MR` rows of `k` floats at `a` (rows `lda`
    // apart) and `k * NV * 4` floats at `b`.
    unsafe {
        for kk in 0..k {
            let bp = b.add(kk * NV * LANES);
            let mut bv = [zero(); NV];
            for (v, slot) in bv.iter_mut().enumerate() {
                *slot = vld1q_f32(bp.add(v * LANES));
            }
            for (m, row) in acc.iter_mut().enumerate() {
                let s = *a.add(m * lda + kk);
                let s = if relu_in { s.max(0.0) } else { s };
                for (r, &bvv) in row.iter_mut().zip(bv.iter()) {
                    *r = vfmaq_n_f32(*r, bvv, s);
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
unsafe fn finish<const MR: usize, const NV: usize>(
    acc: &[[V; NV]; MR],
    ep: &Epilogue,
    nlast: usize,
    bias: *const f32,
    res: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    // SAFETY: the caller guarantees `MR` rows of `(NV - 1) * 4 + nlast`
    // floats at `c` and `res` (rows `ldc` apart) and `NV` padded vectors at
    // `bias` when the epilogue has one.
    unsafe {
        let mut bv = [zero(); NV];
        if ep.bias {
            for (v, slot) in bv.iter_mut().enumerate() {
                *slot = vld1q_f32(bias.add(v * LANES));
            }
        }
        for (m, row) in acc.iter().enumerate() {
            for (v, &a) in row.iter().enumerate() {
                let n = if v + 1 == NV { nlast } else { LANES };
                let mut t = a;
                if ep.bias {
                    t = add(t, bv[v]);
                }
                if ep.residual != Residual::None {
                    t = add(t, load_n(res.add(m * ldc + v * LANES), n));
                }
                store_n(c.add(m * ldc + v * LANES), relu_if(ep.relu, t), n);
            }
        }
    }
}

/// One column panel of a GEMM over `m` rows: `c = epilogue(a * b)`, in
/// tiles of `MR` rows, the last `m % MR` rows by [`TAIL`] and then one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_panel<const MR: usize, const NV: usize>(
    m: usize,
    k: usize,
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
    // SAFETY: as `gemm`, restricted to this panel.
    unsafe {
        let tiles = m / MR;
        for t in 0..tiles {
            let mut acc = [[zero(); NV]; MR];
            tile::<MR, NV>(&mut acc, a.add(t * MR * lda), lda, k, relu_in, b);
            let o = t * MR * ldc;
            finish::<MR, NV>(&acc, ep, nlast, bias, res.wrapping_add(o), c.add(o), ldc);
        }
        let mut r = tiles * MR;
        while MR > TAIL && m - r >= TAIL {
            let mut acc = [[zero(); NV]; TAIL];
            tile::<TAIL, NV>(&mut acc, a.add(r * lda), lda, k, relu_in, b);
            let o = r * ldc;
            finish::<TAIL, NV>(&acc, ep, nlast, bias, res.wrapping_add(o), c.add(o), ldc);
            r += TAIL;
        }
        for r in r..m {
            let mut acc = [[zero(); NV]; 1];
            tile::<1, NV>(&mut acc, a.add(r * lda), lda, k, relu_in, b);
            let o = r * ldc;
            finish::<1, NV>(&acc, ep, nlast, bias, res.wrapping_add(o), c.add(o), ldc);
        }
    }
}

/// `c[m x n] = epilogue(relu_in?(a[m x k]) * b)` with `b` packed in panels of
/// `NV` vectors; `a` rows are `lda` apart, `c` (and `res`) rows `ldc` apart.
/// `res` is the residual (the output itself when in place). Panel by panel,
/// so a panel (`k * NV * 16` bytes) stays in L1 while every row tile uses it.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<const MR: usize, const NV: usize>(
    m: usize,
    k: usize,
    n: usize,
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
            MR >= 1 && MR <= 12 && NV >= 1 && NV <= 4,
            "tile out of range"
        )
    };
    // SAFETY: the caller guarantees `m` rows of `k` floats at `a`, `m` rows of
    // `n` floats at `c` (and at `res` with a residual), the packed panels at
    // `b` and the padded bias.
    unsafe {
        let nr = NV * LANES;
        let full = n / nr;
        for p in 0..full {
            gemm_panel::<MR, NV>(
                m,
                k,
                relu_in,
                ep,
                LANES,
                a,
                lda,
                b.add(p * k * nr),
                bias.wrapping_add(p * nr),
                res.wrapping_add(p * nr),
                c.add(p * nr),
                ldc,
            );
        }
        let rem = n - full * nr;
        if rem > 0 {
            let nvt = rem.div_ceil(LANES);
            let nlast = rem - (nvt - 1) * LANES;
            let b = b.add(full * k * nr);
            let bias = bias.wrapping_add(full * nr);
            let res = res.wrapping_add(full * nr);
            let c = c.add(full * nr);
            if nvt == NV {
                gemm_panel::<MR, NV>(m, k, relu_in, ep, nlast, a, lda, b, bias, res, c, ldc)
            } else {
                with_vectors!(nvt, VT => gemm_panel::<MR, VT>(
                    m, k, relu_in, ep, nlast, a, lda, b, bias, res, c, ldc
                ))
            }
        }
    }
}

/// Input index of output `o` and tap `k`, or `None` in the padding.
#[inline(always)]
fn tap(o: usize, k: usize, stride: usize, dil: usize, pad: usize, size: usize) -> Option<usize> {
    let i = (o * stride + k * dil).wrapping_sub(pad);
    if i < size {
        Some(i)
    } else {
        None
    }
}

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

/// What one depthwise channel vector needs: the weights of every tap, the
/// bias, the valid lanes `n`, and the pixel stride of the output and residual.
struct DwVec {
    w: [V; MAX_DW_TAPS],
    bias: V,
    n: usize,
    ldo: usize,
}

/// Bias, residual, ReLU and store of one depthwise output pixel `ox`.
#[inline(always)]
unsafe fn dw_store(ep: &Epilogue, d: &DwVec, acc: V, ox: usize, res: *const f32, out: *mut f32) {
    // SAFETY: the caller guarantees `n` lanes at pixel `ox` of `out` and `res`.
    unsafe {
        let mut acc = acc;
        if ep.bias {
            acc = add(acc, d.bias);
        }
        if ep.residual == Residual::Separate {
            acc = add(acc, load_n(res.add(ox * d.ldo), d.n));
        }
        store_n(out.add(ox * d.ldo), relu_if(ep.relu, acc), d.n);
    }
}

/// Depthwise output pixels `[x0, x1)` of row `oy`, one at a time, every tap
/// checked against the borders unless `rows_ok` / `cols_ok` promise it is inside.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_pixels(
    g: &Window,
    ep: &Epilogue,
    d: &DwVec,
    oy: usize,
    (rows_ok, cols_ok): (bool, bool),
    (x0, x1): (usize, usize),
    x: *const f32,
    res: *const f32,
    out: *mut f32,
) {
    // SAFETY: the caller guarantees the input image at `x` (offset by the
    // channel vector) and the row's pixels at `out` and `res`.
    unsafe {
        for ox in x0..x1 {
            let mut acc = zero();
            for ky in 0..g.kh {
                let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
                if !rows_ok && iy >= g.h {
                    continue;
                }
                for kx in 0..g.kw {
                    let ix = (ox * g.sw + kx * g.dw).wrapping_sub(g.pl);
                    if !cols_ok && ix >= g.w {
                        continue;
                    }
                    let v = load_n(x.add((iy * g.w + ix) * g.c), d.n);
                    acc = fma(acc, relu_if(ep.relu_in, v), d.w[ky * g.kw + kx]);
                }
            }
            dw_store(ep, d, acc, ox, res, out);
        }
    }
}

/// [`DW_BLOCK`] interior depthwise pixels `ox0..ox0 + DW_BLOCK` of row `oy`
/// (every row tap inside when `rows_ok`, every column tap inside): per tap
/// row, the `span` input columns the block reads are loaded (and ReLU'd) once
/// and shared by the pixels and taps that use them.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_block(
    g: &Window,
    ep: &Epilogue,
    d: &DwVec,
    oy: usize,
    rows_ok: bool,
    ox0: usize,
    span: usize,
    x: *const f32,
    res: *const f32,
    out: *mut f32,
) {
    // SAFETY: the caller guarantees the block's input columns are inside the
    // image at `x` and its pixels inside the row at `out` and `res`.
    unsafe {
        let mut acc = [zero(); DW_BLOCK];
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pt);
            if !rows_ok && iy >= g.h {
                continue;
            }
            let row = x.add((iy * g.w + ox0 * g.sw - g.pl) * g.c);
            let mut cols = [zero(); DW_SPAN];
            for (j, col) in cols.iter_mut().enumerate().take(span) {
                *col = relu_if(ep.relu_in, load_n(row.add(j * g.c), d.n));
            }
            for kx in 0..g.kw {
                let wk = d.w[ky * g.kw + kx];
                for (p, a) in acc.iter_mut().enumerate() {
                    *a = fma(*a, cols[p * g.sw + kx * g.dw], wk);
                }
            }
        }
        for (p, &a) in acc.iter().enumerate() {
            dw_store(ep, d, a, ox0 + p, res, out);
        }
    }
}

/// Depthwise (multiplier 1) output row `oy` into `out` (pixels `ldo` floats
/// apart), with the epilogue (residual separate or none). `w` is packed
/// `[kh * kw, cp]`, `bias` padded to whole vectors; `res` points at the
/// row's residual. Channel vector by channel vector (its tap weights stay in
/// registers): the left and right borders pixel by pixel with checks, the
/// interior in blocks of [`DW_BLOCK`] pixels without.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_row(
    g: &Window,
    ep: &Epilogue,
    x: *const f32,
    w: *const f32,
    bias: *const f32,
    oy: usize,
    res: *const f32,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: the caller guarantees the image at `x`, the packed weights and
    // bias, and a row of `ow` pixels of `c` floats at `out` (and `res`).
    unsafe {
        let cp = g.c.div_ceil(LANES) * LANES;
        let taps = g.kh * g.kw;
        let rows_ok = row_inside(g, oy);
        let (lo, hi) = interior(g.w, g.ow, g.kw, g.sw, g.dw, g.pl);
        let span = (DW_BLOCK - 1) * g.sw + (g.kw - 1) * g.dw + 1;
        let block = taps <= 9 && span <= DW_SPAN;
        let blocks = if block { (hi - lo) / DW_BLOCK } else { 0 };
        let mid = lo + blocks * DW_BLOCK;
        let mut cv = 0;
        while cv < g.c {
            let mut d = DwVec {
                w: [zero(); MAX_DW_TAPS],
                bias: zero(),
                n: (g.c - cv).min(LANES),
                ldo,
            };
            for (t, slot) in d.w.iter_mut().enumerate().take(taps) {
                *slot = vld1q_f32(w.add(t * cp + cv));
            }
            if ep.bias {
                d.bias = vld1q_f32(bias.add(cv));
            }
            let (x, res, out) = (x.add(cv), res.wrapping_add(cv), out.add(cv));
            dw_pixels(g, ep, &d, oy, (rows_ok, false), (0, lo), x, res, out);
            for b in 0..blocks {
                dw_block(g, ep, &d, oy, rows_ok, lo + b * DW_BLOCK, span, x, res, out);
            }
            dw_pixels(g, ep, &d, oy, (rows_ok, true), (mid, hi), x, res, out);
            dw_pixels(g, ep, &d, oy, (rows_ok, false), (hi, g.ow), x, res, out);
            cv += LANES;
        }
    }
}

/// Depthwise convolution (multiplier 1, up to [`MAX_DW_TAPS`] taps), NHWC,
/// weights packed `[kh * kw, c]` with zero-padded rows, bias padded; the
/// residual, if any, must be [`Residual::Separate`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    g: &Window,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let cp = g.c.div_ceil(LANES) * LANES;
    let row = g.ow * g.c;
    assert!(g.kh * g.kw <= MAX_DW_TAPS && ep.residual != Residual::InPlace);
    assert!(x.len() >= g.h * g.w * g.c && w.len() >= g.kh * g.kw * cp);
    assert!(y.len() >= g.oh * row && (!ep.bias || bias.len() >= cp));
    assert!(ep.residual == Residual::None || res.len() >= g.oh * row);
    let yp = y.as_mut_ptr();
    for oy in 0..g.oh {
        // SAFETY: the lengths are checked above.
        unsafe {
            dw_row(
                g,
                ep,
                x.as_ptr(),
                w.as_ptr(),
                bias.as_ptr(),
                oy,
                res.as_ptr().wrapping_add(oy * row),
                yp.add(oy * row),
                g.c,
            );
        }
    }
}

/// Separable convolution, fused by blocks of `rows` output rows: the
/// depthwise output of a block goes to `scratch` (`rows * ow * c` floats) and
/// the pointwise GEMM (`MR` x `NV` vectors tiles) consumes it while it is in
/// cache. `relu_in` applies to the depthwise input; bias, residual and ReLU to
/// the pointwise output. Multiplier 1 only. Weights: depthwise packed as in
/// [`depthwise`], pointwise `[c, co]` packed in panels of `NV` vectors.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn separable<const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    rows: usize,
    ep: &Epilogue,
    x: &[f32],
    dw: &[f32],
    pw: &[f32],
    bias: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (cp, cop) = (g.c.div_ceil(LANES) * LANES, co.div_ceil(LANES) * LANES);
    assert!(g.kh * g.kw <= MAX_DW_TAPS && rows >= 1);
    assert!(x.len() >= g.h * g.w * g.c && dw.len() >= g.kh * g.kw * cp);
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
        // checked above.
        unsafe { separable_block::<MR, NV>(g, co, &dw_ep, &pw_ep, io, r0, nr) };
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
#[allow(clippy::too_many_arguments)]
unsafe fn separable_block<const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    dw_ep: &Epilogue,
    pw_ep: &Epilogue,
    (x, dw, pw, bias, res, scratch, y): SepIo,
    r0: usize,
    nr: usize,
) {
    // SAFETY: the caller guarantees rows `r0..r0 + nr` are inside the output,
    // `nr` depthwise rows fit the scratch, and the operands' lengths.
    unsafe {
        for r in 0..nr {
            let out = scratch.add(r * g.ow * g.c);
            dw_row(g, dw_ep, x, dw, dw, r0 + r, out, out, g.c);
        }
        gemm::<MR, NV>(
            nr * g.ow,
            g.c,
            co,
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

/// Dense layer over the last axis: `x.len() / ci` rows, weights `[ci, co]`
/// packed in panels of `NV` vectors, bias padded.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn dense<const MR: usize, const NV: usize>(
    ci: usize,
    co: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let cop = co.div_ceil(LANES) * LANES;
    let rows = x.len() / ci;
    assert!(w.len() >= ci * cop && (!ep.bias || bias.len() >= cop));
    assert!(y.len() >= rows * co);
    assert!(ep.residual != Residual::Separate || res.len() >= rows * co);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    // SAFETY: the lengths are checked above.
    unsafe {
        gemm::<MR, NV>(
            rows,
            ci,
            co,
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
unsafe fn conv_tile<const R: usize, const NV: usize>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    nlast: usize,
    oy: usize,
    ox0: usize,
    (rows_ok, cols_ok): (bool, bool),
    x: *const f32,
    b: *const f32,
    bias: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    // SAFETY: the caller guarantees the image at `x`, the panel at `b`, and
    // the output row at `y` (and `res`) offset by the panel.
    unsafe {
        let mut acc = [[zero(); NV]; R];
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
                let bt = b.add((ky * g.kw + kx) * g.c * NV * LANES);
                let a = x.add((iy * g.w + ix) * g.c);
                tile::<R, NV>(&mut acc, a, g.sw * g.c, g.c, ep.relu_in, bt);
            }
        }
        let o = ox0 * co;
        finish::<R, NV>(&acc, ep, nlast, bias, res.wrapping_add(o), y.add(o), co);
    }
}

/// Output row `oy` of a dense convolution, one column panel of `NV` vectors:
/// the interior in tiles of `MR` pixels (its tail by [`TAIL`] pixels, then
/// one at a time), border pixels one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_row<const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    nlast: usize,
    oy: usize,
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
            let ok = (rows_ok, false);
            conv_tile::<1, NV>(g, co, ep, nlast, oy, ox, ok, x, b, bias, res, y);
        }
        let ok = (rows_ok, true);
        let tiles = (hi - lo) / MR;
        for t in 0..tiles {
            let ox = lo + t * MR;
            conv_tile::<MR, NV>(g, co, ep, nlast, oy, ox, ok, x, b, bias, res, y);
        }
        let mut ox = lo + tiles * MR;
        while MR > TAIL && hi - ox >= TAIL {
            conv_tile::<TAIL, NV>(g, co, ep, nlast, oy, ox, ok, x, b, bias, res, y);
            ox += TAIL;
        }
        for ox in ox..hi {
            conv_tile::<1, NV>(g, co, ep, nlast, oy, ox, ok, x, b, bias, res, y);
        }
    }
}

/// Dense 2-D convolution, NHWC, weights `[kh * kw * c, co]` packed in panels
/// of `NV` vectors, bias padded. Output rows go by blocks of `rows`; within a
/// block, column panel by column panel (so a panel stays in cache across the
/// block), each row in tiles of `MR` pixels.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d<const MR: usize, const NV: usize>(
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
            MR >= 1 && MR <= 12 && NV >= 1 && NV <= 4,
            "tile out of range"
        )
    };
    let cop = co.div_ceil(LANES) * LANES;
    let kk = g.kh * g.kw * g.c;
    let row = g.ow * co;
    assert!(rows >= 1 && x.len() >= g.h * g.w * g.c && w.len() >= kk * cop);
    assert!(y.len() >= g.oh * row && (!ep.bias || bias.len() >= cop));
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * row);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    let io = (x.as_ptr(), w.as_ptr(), bias.as_ptr(), rp, yp);
    let mut r0 = 0;
    while r0 < g.oh {
        let nr = rows.min(g.oh - r0);
        // SAFETY: the block's rows are inside the output, the lengths are
        // checked above.
        unsafe { conv_block::<MR, NV>(g, co, ep, io, r0, nr) };
        r0 += nr;
    }
}

/// Pointers of a convolution step: input, packed weights, bias, residual
/// (the output when in place), output.
type ConvIo = (*const f32, *const f32, *const f32, *const f32, *mut f32);

/// Output rows `r0..r0 + nrows` of [`conv2d`], panel by panel.
#[inline(always)]
unsafe fn conv_block<const MR: usize, const NV: usize>(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    (x, w, bias, res, y): ConvIo,
    r0: usize,
    nrows: usize,
) {
    // SAFETY: the caller guarantees rows `r0..r0 + nrows` are inside the
    // output and the operands' lengths.
    unsafe {
        let (kk, row, nr) = (g.kh * g.kw * g.c, g.ow * co, NV * LANES);
        let full = co / nr;
        for p in 0..full {
            let (b, bi) = (w.add(p * kk * nr), bias.wrapping_add(p * nr));
            for oy in r0..r0 + nrows {
                let o = oy * row + p * nr;
                let (r, yo) = (res.wrapping_add(o), y.add(o));
                conv_row::<MR, NV>(g, co, ep, LANES, oy, x, b, bi, r, yo);
            }
        }
        let rem = co - full * nr;
        if rem > 0 {
            let nvt = rem.div_ceil(LANES);
            let nlast = rem - (nvt - 1) * LANES;
            let (b, bi) = (w.add(full * kk * nr), bias.wrapping_add(full * nr));
            for oy in r0..r0 + nrows {
                let o = oy * row + full * nr;
                let (r, yo) = (res.wrapping_add(o), y.add(o));
                if nvt == NV {
                    conv_row::<MR, NV>(g, co, ep, nlast, oy, x, b, bi, r, yo)
                } else {
                    with_vectors!(nvt, VT => conv_row::<MR, VT>(
                        g, co, ep, nlast, oy, x, b, bi, r, yo
                    ))
                }
            }
        }
    }
}

/// Max or average pooling (average over the in-bounds taps), NHWC, with the
/// epilogue's input ReLU, residual (separate or in place) and ReLU; sums in
/// the scalar kernel's order, so results are identical to it.
#[inline(always)]
pub fn pool(g: &Window, is_max: bool, ep: &Epilogue, x: &[f32], res: &[f32], y: &mut [f32]) {
    let c = g.c;
    assert!(x.len() >= g.h * g.w * c && y.len() >= g.oh * g.ow * c);
    assert!(ep.residual != Residual::Separate || res.len() >= g.oh * g.ow * c);
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(ep, res, yp);
    // SAFETY: the lengths are checked above.
    unsafe { pool_rows(g, is_max, ep, x.as_ptr(), rp, yp, (0, g.oh)) };
}

/// Output rows `rows.0..rows.1` of [`pool`], from raw pointers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pool_rows(
    g: &Window,
    is_max: bool,
    ep: &Epilogue,
    xp: *const f32,
    rp: *const f32,
    yp: *mut f32,
    rows: (usize, usize),
) {
    for oy in rows.0..rows.1 {
        for ox in 0..g.ow {
            let mut cv = 0;
            while cv < g.c {
                let n = (g.c - cv).min(LANES);
                // SAFETY: the caller guarantees the rows' taps, output and
                // residual.
                unsafe { pool_vec(g, is_max, ep, (oy, ox), xp, rp, yp, cv, n) };
                cv += LANES;
            }
        }
    }
}

/// One stage of [`separables_pool`]: window, output channels, rows per
/// block (see [`separable`]), epilogue, and the packed depthwise weights,
/// pointwise weights and bias.
pub type SeparableStage<'a> = (&'a Window, usize, usize, &'a Epilogue, SeparableWeights<'a>);

/// Two separable convolutions (multiplier 1) and a pooling streamed by
/// rows, as the x86 kernel of the same name: each separable's output lives
/// in a ring of a few rows in `scratch` (see `separables_pool_scratch`;
/// blocks of `rows` rows) and is consumed while in cache. Results are
/// identical to running the three kernels one after another.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn separables_pool<const MR: usize, const NV: usize>(
    (g1, co1, rows1, ep1, w1): SeparableStage,
    (g2, co2, rows2, ep2, w2): SeparableStage,
    (pg, is_max, pep): (&Window, bool, &Epilogue),
    x: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    assert!(g1.kh * g1.kw <= MAX_DW_TAPS && g2.kh * g2.kw <= MAX_DW_TAPS);
    check_separables_pool(
        LANES,
        [(g1, co1, rows1, ep1, w1), (g2, co2, rows2, ep2, w2)],
        (pg, pep),
        (x.len(), res.len(), scratch.len(), y.len()),
        0,
    );
    let (rows1, rows2) = (rows1.min(g1.oh), rows2.min(g2.oh));
    let yp = y.as_mut_ptr();
    let rp = residual_ptr(pep, res, yp);
    let mut stages = NeonStages::<MR, NV> {
        first: (g1, co1, separable_epilogues(ep1), w1),
        second: (co2, separable_epilogues(ep2), w2),
        x: x.as_ptr(),
        pool: (is_max, pep, rp, yp),
    };
    let (s1, s2) = ((g1, co1, rows1), (g2, co2, rows2));
    // SAFETY: the lengths are checked above (the stages' blocks stay in the
    // rings and the output).
    unsafe { stream_separables_pool(&mut stages, s1, s2, pg, scratch, 0) };
}

/// The NEON stages of [`separables_pool`]: the first separable's window,
/// each separable's output channels, depthwise and pointwise epilogues and
/// weights; the input; the pooling's kind, epilogue, residual and output.
struct NeonStages<'a, const MR: usize, const NV: usize> {
    first: (
        &'a Window,
        usize,
        (Epilogue, Epilogue),
        SeparableWeights<'a>,
    ),
    second: (usize, (Epilogue, Epilogue), SeparableWeights<'a>),
    x: *const f32,
    pool: (bool, &'a Epilogue, *const f32, *mut f32),
}

impl<const MR: usize, const NV: usize> SeparablesPoolStages for NeonStages<'_, MR, NV> {
    #[inline(always)]
    unsafe fn first(&mut self, (r0, nr): (usize, usize), scratch: &mut [f32], out: &mut [f32]) {
        let (g, co, (dw_ep, pw_ep), (dw, pw, bias)) = self.first;
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
        // SAFETY: `separables_pool` checked the operands; the block fits the
        // scratch and the ring.
        unsafe { separable_block::<MR, NV>(g, co, &dw_ep, &pw_ep, io, r0, nr) }
    }

    #[inline(always)]
    unsafe fn second(
        &mut self,
        g: &Window,
        input: &[f32],
        (r0, nr): (usize, usize),
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let (co, (dw_ep, pw_ep), (dw, pw, bias)) = self.second;
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
        unsafe { separable_block::<MR, NV>(g, co, &dw_ep, &pw_ep, io, r0, nr) }
    }

    #[inline(always)]
    unsafe fn pool(&mut self, g: &Window, input: &[f32], rows: (usize, usize)) {
        let (is_max, ep, rp, yp) = self.pool;
        // SAFETY: `g` reads the rows the second ring holds; the output and
        // residual were checked by `separables_pool`.
        unsafe { pool_rows(g, is_max, ep, input.as_ptr(), rp, yp, rows) }
    }
}

/// One channel vector (float offset `cv`, `n` lanes) of output pixel
/// `(oy, ox)` of [`pool`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pool_vec(
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
    // its residual).
    unsafe {
        let c = g.c;
        let o = (oy * g.ow + ox) * c + cv;
        let mut acc = vdupq_n_f32(if is_max { f32::NEG_INFINITY } else { 0.0 });
        let mut count = 0usize;
        for ky in 0..g.kh {
            let Some(iy) = tap(oy, ky, g.sh, 1, g.pt, g.h) else {
                continue;
            };
            for kx in 0..g.kw {
                let Some(ix) = tap(ox, kx, g.sw, 1, g.pl, g.w) else {
                    continue;
                };
                let v = relu_if(ep.relu_in, load_n(x.add((iy * g.w + ix) * c + cv), n));
                acc = if is_max {
                    vmaxnmq_f32(acc, v)
                } else {
                    add(acc, v)
                };
                count += 1;
            }
        }
        if !is_max {
            acc = vdivq_f32(acc, vdupq_n_f32(count as f32));
        }
        if ep.residual != Residual::None {
            acc = add(acc, load_n(res.add(o), n));
        }
        store_n(y.add(o), relu_if(ep.relu, acc), n);
    }
}
