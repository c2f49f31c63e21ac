//! The x86 SIMD kernels against the scalar reference, on awkward shapes:
//! channel counts that are not multiples of the vector (1, 3, 5, 17, 33, ..),
//! odd and 1x1 images, strides 1 and 2, 'same' (extra pad bottom/right) and
//! 'valid' padding, dilation, input ReLU, bias, residual (separate and in
//! place), output ReLU, and every tail of the register tiles.
//!
//! Each ISA the CPU lacks is skipped with a printed note.
//!
//! Tolerance: the SIMD kernels accumulate with FMA (one rounding per
//! multiply-add instead of two) and in a different order than the scalar
//! kernels. The difference of two summation orders of `n` terms is bounded by
//! about `n * 2^-24 * sum |terms|`, and in practice grows like `sqrt(n)`; we
//! allow `1e-5 * sum |terms|` per output (the magnitude is the scalar kernel
//! run on absolute values), which is far above the observed error (~1e-7)
//! and far below any indexing or epilogue mistake (relative error ~1). Pooling
//! has no reordering and must match exactly.

#![cfg(target_arch = "x86_64")]

use xcc_codegen::backends::kernels::scalar::{self, Epilogue, Residual, Window};
use xcc_codegen::backends::kernels::{avx2, avx512, x86};
use xcc_codegen::backends::x86::{
    pack_conv_pairs, pack_depthwise, pack_gemm, pack_winograd, pad_lanes,
};

#[path = "support/kernel_check.rs"]
mod kernel_check;

use kernel_check::{
    abs, chain, check, epilogue, magnitude_epilogue, output, res_arg, same_bits, window_of, Chain,
    Rng, Stage,
};

macro_rules! isa_wrappers {
    ($m:ident, $isa:ty, $feat:literal) => {
        mod $m {
            use super::*;

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn separable<
                const MR: usize,
                const NV: usize,
                const KH: usize,
                const KW: usize,
            >(
                g: &Window,
                co: usize,
                blocking: (usize, usize),
                ep: &Epilogue,
                x: &[f32],
                dw: &[f32],
                pw: &[f32],
                bias: &[f32],
                res: &[f32],
                scratch: &mut [f32],
                y: &mut [f32],
            ) {
                // SAFETY: the caller checked the CPU.
                unsafe {
                    x86::separable::<$isa, MR, NV, KH, KW>(
                        g, co, blocking, ep, x, dw, pw, bias, res, scratch, y,
                    )
                }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn depthwise<const KH: usize, const KW: usize>(
                g: &Window,
                ep: &Epilogue,
                x: &[f32],
                w: &[f32],
                bias: &[f32],
                res: &[f32],
                y: &mut [f32],
            ) {
                // SAFETY: the caller checked the CPU.
                unsafe { x86::depthwise::<$isa, KH, KW>(g, ep, x, w, bias, res, y) }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn conv2d<const MR: usize, const NV: usize>(
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
                // SAFETY: the caller checked the CPU.
                unsafe { x86::conv2d::<$isa, MR, NV>(g, co, rows, ep, x, w, bias, res, y) }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn conv2d_pairs<const MR: usize>(
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
                // SAFETY: the caller checked the CPU.
                unsafe { x86::conv2d_pairs::<$isa, MR>(g, co, rows, ep, x, w, bias, res, y) }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn winograd<const MR: usize, const NV: usize>(
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
                // SAFETY: the caller checked the CPU.
                unsafe {
                    x86::conv3x3_winograd::<$isa, MR, NV>(g, co, ep, x, u, bias, res, scratch, y)
                }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn conv1x1<const MR: usize, const NV: usize>(
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
                // SAFETY: the caller checked the CPU.
                unsafe { x86::conv1x1::<$isa, MR, NV>(g, co, kc, ep, x, w, bias, res, scratch, y) }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn dense<const MR: usize, const NV: usize>(
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
                // SAFETY: the caller checked the CPU.
                unsafe { x86::dense::<$isa, MR, NV>(ci, co, kc, ep, x, w, bias, res, y) }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn separables_pool<
                const MR1: usize,
                const NV1: usize,
                const MR2: usize,
                const NV2: usize,
                const K1: usize,
                const K2: usize,
            >(
                s1: x86::SeparableStage,
                s2: x86::SeparableStage,
                pool: (&Window, bool, &Epilogue),
                x: &[f32],
                res: &[f32],
                scratch: &mut [f32],
                y: &mut [f32],
                shortcut: Option<x86::ShortcutConv>,
                spare: usize,
            ) {
                // SAFETY: the caller checked the CPU.
                unsafe {
                    x86::separables_pool::<$isa, MR1, NV1, MR2, NV2, K1, K1, K2, K2>(
                        s1, s2, pool, x, res, scratch, y, shortcut, spare,
                    )
                }
            }
            #[target_feature(enable = $feat)]
            pub unsafe fn pool(
                g: &Window,
                is_max: bool,
                ep: &Epilogue,
                x: &[f32],
                res: &[f32],
                y: &mut [f32],
            ) {
                // SAFETY: the caller checked the CPU.
                unsafe { x86::pool::<$isa>(g, is_max, ep, x, res, y) }
            }
        }
    };
}

isa_wrappers!(w2, avx2::Avx2, "avx2,fma");
isa_wrappers!(
    w512,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"
);

/// The instruction sets this CPU runs: (name, lanes).
fn isas() -> Vec<(&'static str, usize)> {
    let mut v = Vec::new();
    if avx2::supported() {
        v.push(("avx2", 8));
    } else {
        eprintln!("note: this CPU lacks AVX2+FMA; AVX2 kernels not tested");
    }
    if avx512::supported() {
        v.push(("avx512", 16));
    } else {
        eprintln!("note: this CPU lacks AVX-512; AVX-512 kernels not tested");
    }
    v
}

/// A random window: kernel `k` x `k`, stride, dilation, 'same' or 'valid'.
fn window(rng: &mut Rng, c: usize, k: usize, stride: usize, dil: usize, same: bool) -> Window {
    window_upto(rng, c, k, stride, dil, same, 11)
}

/// [`window`] with up to `wide - 1` extra input columns.
fn window_upto(
    rng: &mut Rng,
    c: usize,
    k: usize,
    stride: usize,
    dil: usize,
    same: bool,
    wide: usize,
) -> Window {
    let span = (k - 1) * dil + 1;
    let min = if same { 1 } else { span };
    let h = min + rng.below(9);
    let w = min + rng.below(wide);
    window_of((h, w, c), k, stride, dil, same)
}

const CHANNELS: [usize; 10] = [1, 3, 4, 5, 8, 16, 17, 24, 33, 40];

/// Separable arguments: window, co, (rows, kc), epilogue, x, dw, pw, bias, res.
type SepArgs<'a> = (
    &'a Window,
    usize,
    (usize, usize),
    &'a Epilogue,
    &'a [f32],
    &'a [f32],
    &'a [f32],
    &'a [f32],
    &'a [f32],
);

/// AVX2 separable with a `K` x `K` depthwise kernel.
///
/// # Safety
/// The CPU runs AVX2 and FMA.
unsafe fn sep2<const MR: usize, const NV: usize, const K: usize>(
    (g, co, b, ep, x, dw, pw, bias, res): SepArgs,
    s: &mut [f32],
    y: &mut [f32],
) {
    // SAFETY: the caller checked the CPU.
    unsafe { w2::separable::<MR, NV, K, K>(g, co, b, ep, x, dw, pw, bias, res, s, y) }
}

/// AVX-512 separable with a `K` x `K` depthwise kernel.
///
/// # Safety
/// The CPU runs AVX-512.
unsafe fn sep512<const MR: usize, const NV: usize, const K: usize>(
    (g, co, b, ep, x, dw, pw, bias, res): SepArgs,
    s: &mut [f32],
    y: &mut [f32],
) {
    // SAFETY: the caller checked the CPU.
    unsafe { w512::separable::<MR, NV, K, K>(g, co, b, ep, x, dw, pw, bias, res, s, y) }
}

#[test]
fn separable_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(1);
        for case in 0..160 {
            let c = rng.pick(&CHANNELS);
            let co = rng.pick(&CHANNELS);
            let (k, stride, dil) =
                rng.pick(&[(3, 1, 1), (3, 2, 1), (3, 1, 2), (1, 1, 1), (5, 1, 1)]);
            let same = rng.below(2) == 0;
            let g = window(&mut rng, c, k, stride, dil, same);
            let ep = epilogue(&mut rng, true);
            let rows = rng.pick(&[1, 2, 3, g.oh]).min(g.oh);
            let kc = rng.pick(&[1, 4, 7, 256]);
            let n = g.oh * g.ow * co;
            let (x, dw, pw) = (rng.vec(g.h * g.w * c), rng.vec(k * k * c), rng.vec(c * co));
            let (bias, res) = (rng.vec(co), rng.vec(n));
            let mut want = output(&ep, n, &res);
            let mut scratch = vec![0.0; g.ow * c];
            let r = res_arg(&ep, &res);
            scalar::separable(
                &g,
                1,
                co,
                &ep,
                &x,
                &dw,
                &pw,
                &bias,
                r,
                &mut scratch,
                &mut want,
            );
            let mut mag = output(&ep, n, &abs(&res));
            let (ax, adw, apw, ab, ar) = (abs(&x), abs(&dw), abs(&pw), abs(&bias), abs(r));
            let mep = magnitude_epilogue(&ep);
            scalar::separable(
                &g,
                1,
                co,
                &mep,
                &ax,
                &adw,
                &apw,
                &ab,
                &ar,
                &mut scratch,
                &mut mag,
            );
            let dwp = pack_depthwise(&dw, k * k, c, lanes);
            let bp = pad_lanes(&bias, lanes);
            let mut s = vec![0.0; rows * g.ow * c];
            let tile = case % 3;
            let (mr, nv) = match (isa, tile, k) {
                ("avx2", 0, 3) | ("avx2", _, 1 | 5) => (6, 2),
                ("avx512", 0, 3) | ("avx512", _, 1) => (6, 4),
                ("avx512", _, 5) => (14, 2),
                (_, 1, _) => (5, 3),
                _ => (1, 1),
            };
            let pwp = pack_gemm(&pw, c, co, nv, lanes);
            let mut got = output(&ep, n, &res);
            let args = (
                &g,
                co,
                (rows, kc),
                &ep,
                &x[..],
                &dwp[..],
                &pwp[..],
                &bp[..],
                r,
            );
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                match (isa, tile, k) {
                    ("avx2", 0, 3) => sep2::<6, 2, 3>(args, &mut s, &mut got),
                    ("avx2", 1, 3) => sep2::<5, 3, 3>(args, &mut s, &mut got),
                    ("avx2", _, 3) => sep2::<1, 1, 3>(args, &mut s, &mut got),
                    ("avx2", _, 1) => sep2::<6, 2, 1>(args, &mut s, &mut got),
                    ("avx2", _, _) => sep2::<6, 2, 5>(args, &mut s, &mut got),
                    (_, 0, 3) => sep512::<6, 4, 3>(args, &mut s, &mut got),
                    (_, 1, 3) => sep512::<5, 3, 3>(args, &mut s, &mut got),
                    (_, _, 3) => sep512::<1, 1, 3>(args, &mut s, &mut got),
                    (_, _, 1) => sep512::<6, 4, 1>(args, &mut s, &mut got),
                    _ => sep512::<14, 2, 5>(args, &mut s, &mut got),
                }
            }
            let what = format!("{isa} separable case {case} {g:?} co={co} rows={rows} kc={kc} {ep:?} tile {mr}x{nv}");
            check(&what, &got, &want, &mag);
        }
    }
}

#[test]
fn depthwise_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(2);
        for case in 0..120 {
            let c = rng.pick(&CHANNELS);
            let (k, stride, dil) =
                rng.pick(&[(3, 1, 1), (3, 2, 1), (3, 1, 2), (3, 2, 2), (5, 2, 1)]);
            let same = rng.below(2) == 0;
            // Up to 20 columns: interiors of up to four whole register
            // strips plus single pixels; heights both odd and even, so row
            // pairs and a last single row.
            let g = window_upto(&mut rng, c, k, stride, dil, same, 20);
            let ep = epilogue(&mut rng, false);
            check_depthwise(&mut rng, (isa, lanes), case, &g, &ep);
        }
    }
}

/// Channels that fill half a vector on one instruction set (4 on AVX2, 8 on
/// AVX-512), stride 1 and no bias: that set's interior goes two pixels per
/// vector. Against scalar, and bit for bit against the other set, whose
/// vectors hold one pixel of these channels and sum the same taps in the
/// same order (a paired path that summed differently would show; that it
/// runs shows in the timings, see `dw_paired`). Input widths up to 27 ('same'; 'valid' up to
/// 30): whole strips of pairs, single pairs, an odd pixel; 3x3 and 5x5.
#[test]
fn depthwise_paired_matches_scalar() {
    let isas = isas();
    let mut rng = Rng(12);
    for case in 0..80 {
        let c = rng.pick(&[4, 8]);
        let k = rng.pick(&[3, 5]);
        let same = rng.below(2) == 0;
        let g = window_upto(&mut rng, c, k, 1, 1, same, 27);
        let ep = Epilogue {
            bias: false,
            ..epilogue(&mut rng, false)
        };
        let seed = rng.0;
        let outs: Vec<Vec<f32>> = isas
            .iter()
            .map(|&isa| check_depthwise(&mut Rng(seed), isa, case, &g, &ep))
            .collect();
        if let [a, b] = &outs[..] {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(a) == bits(b),
                "depthwise case {case} {g:?} {ep:?}: AVX2 and AVX-512 differ"
            );
        }
    }
}

/// Runs one depthwise case on `isa` against the scalar kernel; returns
/// the kernel's output.
fn check_depthwise(
    rng: &mut Rng,
    (isa, lanes): (&str, usize),
    case: usize,
    g: &Window,
    ep: &Epilogue,
) -> Vec<f32> {
    let (c, k, n) = (g.c, g.kh, g.oh * g.ow * g.c);
    let (x, w, bias, res) = (
        rng.vec(g.h * g.w * c),
        rng.vec(k * k * c),
        rng.vec(c),
        rng.vec(n),
    );
    let r = res_arg(ep, &res);
    let mut want = vec![0.0; n];
    scalar::depthwise(g, 1, ep, &x, &w, &bias, r, &mut want);
    let mut mag = vec![0.0; n];
    let mep = magnitude_epilogue(ep);
    scalar::depthwise(
        g,
        1,
        &mep,
        &abs(&x),
        &abs(&w),
        &abs(&bias),
        &abs(r),
        &mut mag,
    );
    let (wp, bp) = (pack_depthwise(&w, k * k, c, lanes), pad_lanes(&bias, lanes));
    let mut got = vec![f32::NAN; n];
    // SAFETY: `isas()` checked the CPU.
    unsafe {
        match (isa, k) {
            ("avx2", 3) => w2::depthwise::<3, 3>(g, ep, &x, &wp, &bp, r, &mut got),
            ("avx2", _) => w2::depthwise::<5, 5>(g, ep, &x, &wp, &bp, r, &mut got),
            (_, 3) => w512::depthwise::<3, 3>(g, ep, &x, &wp, &bp, r, &mut got),
            _ => w512::depthwise::<5, 5>(g, ep, &x, &wp, &bp, r, &mut got),
        }
    }
    check(
        &format!("{isa} depthwise case {case} {g:?} {ep:?}"),
        &got,
        &want,
        &mag,
    );
    got
}

/// The vectors of the GEMM tile a convolution test case runs: its three
/// tiles per ISA are (by `case % 3`) 2, 4 and 1 vectors wide.
fn tile_vectors(tile: usize) -> usize {
    match tile {
        0 => 2,
        1 => 4,
        _ => 1,
    }
}

/// A random dense convolution with its scalar result (`want`) and magnitude
/// (`mag`, the scalar kernel on absolute values).
struct ConvCase {
    g: Window,
    ep: Epilogue,
    rows: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
    res: Vec<f32>,
    want: Vec<f32>,
    mag: Vec<f32>,
}

impl ConvCase {
    /// A `k` x `k` window (strides 1 and 2, dilation, 'same' or 'valid') over
    /// `c` channels, `co` outputs, a random epilogue and block of rows; rows
    /// up to 40 pixels wide, so that whole tiles of up to 15 pixels run.
    fn new(rng: &mut Rng, c: usize, co: usize) -> ConvCase {
        let kind = rng.pick(&[(3, 1, 1), (3, 2, 1), (1, 2, 1), (1, 1, 1), (3, 1, 2)]);
        ConvCase::with_kernel(rng, c, co, kind)
    }

    /// [`ConvCase::new`] with a given (kernel size, stride, dilation).
    fn with_kernel(
        rng: &mut Rng,
        c: usize,
        co: usize,
        (k, stride, dil): (usize, usize, usize),
    ) -> ConvCase {
        let same = rng.below(2) == 0;
        let wide = rng.pick(&[11, 40]);
        let g = window_upto(rng, c, k, stride, dil, same, wide);
        let ep = epilogue(rng, true);
        let rows = rng.pick(&[1, 2, g.oh]).min(g.oh);
        let n = g.oh * g.ow * co;
        let (x, w) = (rng.vec(g.h * g.w * c), rng.vec(k * k * c * co));
        let (bias, res) = (rng.vec(co), rng.vec(n));
        let r = res_arg(&ep, &res);
        let mut want = output(&ep, n, &res);
        scalar::conv2d(&g, co, &ep, &x, &w, &bias, r, &mut want);
        let mut mag = output(&ep, n, &abs(&res));
        let (ax, aw, ab, ar) = (abs(&x), abs(&w), abs(&bias), abs(r));
        let mep = magnitude_epilogue(&ep);
        scalar::conv2d(&g, co, &mep, &ax, &aw, &ab, &ar, &mut mag);
        ConvCase {
            g,
            ep,
            rows,
            x,
            w,
            bias,
            res,
            want,
            mag,
        }
    }

    /// The residual argument of the kernels.
    fn res_arg(&self) -> &[f32] {
        res_arg(&self.ep, &self.res)
    }
}

#[test]
fn conv2d_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(3);
        for case in 0..160 {
            let c = rng.pick(&[1, 3, 5, 17, 32]);
            let co = rng.pick(&CHANNELS);
            let t = ConvCase::new(&mut rng, c, co);
            let (g, ep, rows, k, n) = (t.g, t.ep, t.rows, t.g.kh, t.g.oh * t.g.ow * co);
            let (x, w, bias, r) = (&t.x, &t.w, &t.bias, t.res_arg());
            let (res, want, mag) = (&t.res, &t.want, &t.mag);
            let tile = case % 3;
            let nv = tile_vectors(tile);
            let wp = pack_gemm(w, k * k * c, co, nv, lanes);
            let bp = pad_lanes(bias, lanes);
            let mut got = output(&ep, n, res);
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                match (isa, tile) {
                    ("avx2", 0) => w2::conv2d::<6, 2>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                    ("avx2", 1) => w2::conv2d::<3, 4>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                    ("avx2", _) => w2::conv2d::<15, 1>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                    (_, 0) => w512::conv2d::<14, 2>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                    (_, 1) => w512::conv2d::<6, 4>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                    _ => w512::conv2d::<15, 1>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                }
            }
            let what = format!("{isa} conv2d case {case} {g:?} co={co} rows={rows} {ep:?}");
            check(&what, &got, want, mag);
        }
    }
}

/// The channel-pair convolution (at most half a vector of outputs, an even
/// number of inputs): every output count up to half a vector, 2 to 34 input
/// channels, the model's tiles (AVX-512 12 rows, AVX2 6) and others.
#[test]
fn conv2d_pairs_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(4);
        for case in 0..160 {
            let c = rng.pick(&[2, 4, 8, 18, 34]);
            let co = 1 + rng.below(lanes / 2);
            let t = ConvCase::new(&mut rng, c, co);
            let (g, ep, rows, k, n) = (t.g, t.ep, t.rows, t.g.kh, t.g.oh * t.g.ow * co);
            let (x, w, bias, r) = (&t.x, &t.w, &t.bias, t.res_arg());
            let (res, want, mag) = (&t.res, &t.want, &t.mag);
            let wp = pack_conv_pairs(w, k * k, c, co, lanes);
            let bp = pad_lanes(bias, lanes);
            let mut got = output(&ep, n, res);
            let tile = case % 2;
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                match (isa, tile) {
                    ("avx2", 0) => {
                        w2::conv2d_pairs::<6>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got)
                    }
                    ("avx2", _) => {
                        w2::conv2d_pairs::<1>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got)
                    }
                    (_, 0) => w512::conv2d_pairs::<12>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                    _ => w512::conv2d_pairs::<5>(&g, co, rows, &ep, x, &wp, &bp, r, &mut got),
                }
            }
            let what = format!("{isa} conv2d_pairs case {case} {g:?} co={co} rows={rows} {ep:?}");
            check(&what, &got, want, mag);
        }
    }
}

/// Winograd's F(2x2, 3x3) against the scalar direct convolution: 3x3
/// stride 1, 'same' and 'valid', odd widths and heights (partial 2x2 tiles
/// at the bottom and right), 1x1 outputs, channels on and off the vector,
/// every epilogue, the model's tiles and narrow ones.
#[test]
fn conv3x3_winograd_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(5);
        for case in 0..160 {
            let c = rng.pick(&[1, 3, 5, 16, 17, 32, 33]);
            let co = rng.pick(&CHANNELS);
            let t = ConvCase::with_kernel(&mut rng, c, co, (3, 1, 1));
            let (g, ep, n) = (t.g, t.ep, t.g.oh * t.g.ow * co);
            let (x, w, bias, r) = (&t.x, &t.w, &t.bias, t.res_arg());
            let (res, want, mag) = (&t.res, &t.want, &t.mag);
            let tile = case % 3;
            let nv = tile_vectors(tile);
            let wp = pack_winograd(w, c, co, nv, lanes);
            let bp = pad_lanes(bias, lanes);
            let mut scratch = vec![f32::NAN; scalar::winograd_scratch(g.ow, c, co, lanes)];
            let mut got = output(&ep, n, res);
            let s = &mut scratch;
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                match (isa, tile) {
                    ("avx2", 0) => w2::winograd::<6, 2>(&g, co, &ep, x, &wp, &bp, r, s, &mut got),
                    ("avx2", 1) => w2::winograd::<3, 4>(&g, co, &ep, x, &wp, &bp, r, s, &mut got),
                    ("avx2", _) => w2::winograd::<12, 1>(&g, co, &ep, x, &wp, &bp, r, s, &mut got),
                    (_, 0) => w512::winograd::<14, 2>(&g, co, &ep, x, &wp, &bp, r, s, &mut got),
                    (_, 1) => w512::winograd::<6, 4>(&g, co, &ep, x, &wp, &bp, r, s, &mut got),
                    _ => w512::winograd::<15, 1>(&g, co, &ep, x, &wp, &bp, r, s, &mut got),
                }
            }
            let what = format!("{isa} conv3x3_winograd case {case} {g:?} co={co} {ep:?}");
            check(&what, &got, want, mag);
        }
    }
}

/// 1x1 convolutions as one GEMM: strides 1 (the image read in place) and 2
/// (strided pixels copied first), odd sizes ('same' and 'valid' are the
/// same for 1x1), channels on and off the vector, every epilogue, blocks of
/// `k` that split the input channels unevenly, and the model's tiles.
#[test]
fn conv1x1_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(6);
        for case in 0..160 {
            let c = rng.pick(&[1, 3, 5, 16, 17, 33, 64]);
            let co = rng.pick(&CHANNELS);
            let stride = 1 + rng.below(2);
            let t = ConvCase::with_kernel(&mut rng, c, co, (1, stride, 1));
            let (g, ep, n) = (t.g, t.ep, t.g.oh * t.g.ow * co);
            let (x, w, bias, r) = (&t.x, &t.w, &t.bias, t.res_arg());
            let (res, want, mag) = (&t.res, &t.want, &t.mag);
            let kc = rng.pick(&[7, 16, 512]);
            let tile = case % 3;
            let nv = tile_vectors(tile);
            let wp = pack_gemm(w, c, co, nv, lanes);
            let bp = pad_lanes(bias, lanes);
            let mut scratch = vec![f32::NAN; scalar::conv1x1_scratch(&g)];
            let mut got = output(&ep, n, res);
            let s = &mut scratch;
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                match (isa, tile) {
                    ("avx2", 0) => {
                        w2::conv1x1::<6, 2>(&g, co, kc, &ep, x, &wp, &bp, r, s, &mut got)
                    }
                    ("avx2", 1) => {
                        w2::conv1x1::<3, 4>(&g, co, kc, &ep, x, &wp, &bp, r, s, &mut got)
                    }
                    ("avx2", _) => {
                        w2::conv1x1::<12, 1>(&g, co, kc, &ep, x, &wp, &bp, r, s, &mut got)
                    }
                    (_, 0) => w512::conv1x1::<14, 2>(&g, co, kc, &ep, x, &wp, &bp, r, s, &mut got),
                    (_, 1) => w512::conv1x1::<6, 4>(&g, co, kc, &ep, x, &wp, &bp, r, s, &mut got),
                    _ => w512::conv1x1::<15, 1>(&g, co, kc, &ep, x, &wp, &bp, r, s, &mut got),
                }
            }
            let what = format!("{isa} conv1x1 case {case} {g:?} co={co} kc={kc} {ep:?}");
            check(&what, &got, want, mag);
        }
    }
}

#[test]
fn dense_matches_scalar() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(4);
        for case in 0..160 {
            let ci = rng.pick(&[1, 3, 17, 33, 64, 100]);
            let co = rng.pick(&[1, 5, 17, 33, 64, 100]);
            // Rows that leave one row after whole tiles of 6, 8, 12 or 14,
            // which goes with the last whole tile as 4 + 3, 4 + 2 + 3,
            // 8 + 2 + 3 or 8 + 4 + 3 rows (and, with small weights, after
            // the strips of one tile each).
            let rows = rng.pick(&[1, 2, 7, 9, 13, 15, 17, 20, 25, 29]);
            let kc = rng.pick(&[1, 5, 16, 256]);
            let ep = epilogue(&mut rng, true);
            let n = rows * co;
            let (x, w, bias, res) = (
                rng.vec(rows * ci),
                rng.vec(ci * co),
                rng.vec(co),
                rng.vec(n),
            );
            let r = res_arg(&ep, &res);
            let mut want = output(&ep, n, &res);
            scalar::dense(ci, co, &ep, &x, &w, &bias, r, &mut want);
            let mut mag = output(&ep, n, &abs(&res));
            let mep = magnitude_epilogue(&ep);
            scalar::dense(
                ci,
                co,
                &mep,
                &abs(&x),
                &abs(&w),
                &abs(&bias),
                &abs(r),
                &mut mag,
            );
            // The models' tiles, and an odd one (7x4) that keeps its tail.
            let (mr, nv) = match (isa, case % 5) {
                ("avx2", 0 | 1) => (12, 1),
                ("avx2", _) => (6, 2),
                (_, 0) => (7, 4),
                (_, 1) => (6, 4),
                (_, 2) => (8, 3),
                (_, 3) => (12, 2),
                _ => (14, 2),
            };
            let (wp, bp) = (pack_gemm(&w, ci, co, nv, lanes), pad_lanes(&bias, lanes));
            let mut got = output(&ep, n, &res);
            let args = (&x[..], &wp[..], &bp[..], r);
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                let (x, wp, bp, r) = args;
                match (isa, mr) {
                    ("avx2", 12) => w2::dense::<12, 1>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                    ("avx2", _) => w2::dense::<6, 2>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                    (_, 7) => w512::dense::<7, 4>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                    (_, 6) => w512::dense::<6, 4>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                    (_, 8) => w512::dense::<8, 3>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                    (_, 12) => w512::dense::<12, 2>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                    _ => w512::dense::<14, 2>(ci, co, kc, &ep, x, wp, bp, r, &mut got),
                }
            }
            check(
                &format!("{isa} dense case {case} ci={ci} co={co} rows={rows} kc={kc} {ep:?} tile {mr}x{nv}"),
                &got,
                &want,
                &mag,
            );
        }
    }
}

/// A stage's weights packed for the x86 kernels: depthwise, pointwise, bias.
type Packed = (Vec<f32>, Vec<f32>, Vec<f32>);

/// A stage's weights packed for tiles of `nv` vectors of `lanes` floats.
fn pack_stage(st: &Stage, nv: usize, lanes: usize) -> Packed {
    (
        pack_depthwise(&st.4, st.0.kh * st.0.kw, st.0.c, lanes),
        pack_gemm(&st.5, st.0.c, st.1, nv, lanes),
        pad_lanes(&st.6, lanes),
    )
}

/// A stage as `x86::separables_pool` takes it (`k` blocks of 128).
fn stage_arg<'a>((g, co, rows, ep, ..): &'a Stage, p: &'a Packed) -> x86::SeparableStage<'a> {
    (g, *co, (*rows, 128), ep, (&p.0, &p.1, &p.2))
}

/// A stage with the x86 separable kernel (the models' tiles), whole image.
///
/// # Safety
/// The CPU runs `isa`.
unsafe fn run_stage(isa: &str, (st, p): (&Stage, &Packed), x: &[f32], y: &mut [f32]) {
    let (g, co, rows, ep, ..) = st;
    let k = g.kh;
    let a = (
        g,
        *co,
        (*rows, 128),
        ep,
        x,
        &p.0[..],
        &p.1[..],
        &p.2[..],
        &[][..],
    );
    let mut s = vec![0.0; rows * g.ow * g.c];
    // SAFETY: the caller checked the CPU.
    unsafe {
        match (isa, k) {
            ("avx2", 3) => sep2::<6, 2, 3>(a, &mut s, y),
            ("avx2", _) => sep2::<6, 2, 1>(a, &mut s, y),
            (_, 3) => sep512::<6, 4, 3>(a, &mut s, y),
            _ => sep512::<6, 4, 1>(a, &mut s, y),
        }
    }
}

/// The chain's operands as `x86::separables_pool` takes them: input,
/// residual, scratch, output.
type ChainIo<'a> = (&'a [f32], &'a [f32], &'a mut [f32], &'a mut [f32]);

/// `x86::separables_pool` on `isa` with the models' tiles for separables of
/// `k.0 x k.0` and `k.1 x k.1` windows.
///
/// # Safety
/// The CPU runs `isa`.
unsafe fn run_chain(
    isa: &str,
    k: (usize, usize),
    (s1, s2, pa): (
        x86::SeparableStage,
        x86::SeparableStage,
        (&Window, bool, &Epilogue),
    ),
    (a, b, c, d): ChainIo,
    (sc, sp): (Option<x86::ShortcutConv>, usize),
) {
    // SAFETY: the caller checked the CPU.
    unsafe {
        match (isa, k) {
            ("avx2", (3, 3)) => {
                w2::separables_pool::<6, 2, 6, 2, 3, 3>(s1, s2, pa, a, b, c, d, sc, sp)
            }
            ("avx2", (3, _)) => {
                w2::separables_pool::<6, 2, 6, 2, 3, 1>(s1, s2, pa, a, b, c, d, sc, sp)
            }
            ("avx2", (_, 3)) => {
                w2::separables_pool::<6, 2, 6, 2, 1, 3>(s1, s2, pa, a, b, c, d, sc, sp)
            }
            ("avx2", _) => w2::separables_pool::<6, 2, 6, 2, 1, 1>(s1, s2, pa, a, b, c, d, sc, sp),
            (_, (3, 3)) => {
                w512::separables_pool::<6, 4, 6, 4, 3, 3>(s1, s2, pa, a, b, c, d, sc, sp)
            }
            (_, (3, _)) => {
                w512::separables_pool::<6, 4, 6, 4, 3, 1>(s1, s2, pa, a, b, c, d, sc, sp)
            }
            (_, (_, 3)) => {
                w512::separables_pool::<6, 4, 6, 4, 1, 3>(s1, s2, pa, a, b, c, d, sc, sp)
            }
            _ => w512::separables_pool::<6, 4, 6, 4, 1, 1>(s1, s2, pa, a, b, c, d, sc, sp),
        }
    }
}

/// The streamed separable → separable → pooling chain against the same
/// x86 kernels run one after another (must be identical: only the order of
/// rows changes), and against the scalar kernels (within the separable
/// tolerance): images up to 23 pixels wide, channels off the vector, 3x3
/// separables with stride 2 or dilation 2 or 1x1 ones, 'same' and 'valid',
/// max and average pooling (3x3/2 'same' with the extra pad at
/// bottom/right, 3x3/1, 2x2/2, 'valid'), residual separate and in place,
/// and row blocks from 1 row to the whole image in rings with room for 0
/// to 3 more blocks, so the rings wrap.
#[test]
fn separables_pool_matches_stages() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(11);
        for case in 0..120 {
            let Chain {
                st1,
                st2,
                pg,
                is_max,
                pep,
                x,
                res,
                want,
                mag,
            } = chain(&mut rng, &CHANNELS);
            let (g2, co2, k2) = (st2.0, st2.1, st2.0.kh);
            let n = pg.oh * pg.ow * co2;
            let r = res_arg(&pep, &res);
            let nv = if isa == "avx2" { 2 } else { 4 };
            let (p1, p2) = (pack_stage(&st1, nv, lanes), pack_stage(&st2, nv, lanes));
            let (s1, s2) = (stage_arg(&st1, &p1), stage_arg(&st2, &p2));
            // Rings with room for 0 to 3 more blocks.
            let spare = rng.below(4);
            let (b1, b2) = ((&st1.0, st1.1, st1.2), (&g2, co2, st2.2));
            let len = scalar::separables_pool_scratch(b1, b2, &pg, spare);
            let mut scratch = vec![f32::NAN; len];
            let mut got = output(&pep, n, &res);
            // The same kernels one after another, whole images between them.
            let mut t1 = vec![0.0; st1.0.oh * st1.0.ow * st1.1];
            let mut t2 = vec![0.0; g2.oh * g2.ow * co2];
            let mut seq = output(&pep, n, &res);
            let pa = (&pg, is_max, &pep);
            let io = (&x[..], r, &mut scratch[..], &mut got[..]);
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                run_chain(isa, (st1.0.kh, k2), (s1, s2, pa), io, (None, spare));
                run_stage(isa, (&st1, &p1), &x, &mut t1);
                run_stage(isa, (&st2, &p2), &t1, &mut t2);
                if isa == "avx2" {
                    w2::pool(&pg, is_max, &pep, &t2, r, &mut seq);
                } else {
                    w512::pool(&pg, is_max, &pep, &t2, r, &mut seq);
                }
            }
            let what = format!(
                "{isa} separables_pool case {case}: {:?} co={} rows={}; {g2:?} co={co2} rows={}; pool {pg:?} max={is_max} {pep:?}",
                st1.0, st1.1, st1.2, st2.2
            );
            assert!(
                same_bits(&got, &seq),
                "{what}: differs from the kernels run one after another"
            );
            check(&what, &got, &want, &mag);
        }
    }
}

/// The streamed chain with a pooled block's shortcut convolution (1x1 or
/// 3x3, strides 1, 2 and 4, 'same' and 'valid', whatever gives the
/// pooling's output size; bias, input and output ReLU) against the same x86
/// kernels one after another: the convolution whole into the output, then
/// the chain with the residual in place. Must be identical (only the order
/// of rows changes). Both outputs start as NaN, so the pooling reads only
/// rows the shortcut wrote before it.
#[test]
fn separables_pool_with_shortcut_matches_conv_first() {
    for (isa, lanes) in isas() {
        let mut rng = Rng(13);
        let mut cases = 0;
        while cases < 80 {
            let Chain {
                st1,
                st2,
                pg,
                is_max,
                mut pep,
                x,
                ..
            } = chain(&mut rng, &CHANNELS);
            let (g1, co) = (st1.0, st2.1);
            let shapes = [(1, 1), (1, 2), (3, 2), (1, 4), (3, 1), (3, 4)];
            let fits: Vec<Window> = shapes
                .iter()
                .flat_map(|&(k, s)| [(k, s, true), (k, s, false)])
                .filter(|&(k, _, same)| same || (g1.h >= k && g1.w >= k))
                .map(|(k, s, same)| window_of((g1.h, g1.w, g1.c), k, s, 1, same))
                .filter(|g| (g.oh, g.ow) == (pg.oh, pg.ow))
                .collect();
            if fits.is_empty() {
                continue;
            }
            cases += 1;
            let g = fits[rng.below(fits.len())];
            let mut sep = epilogue(&mut rng, false);
            sep.residual = Residual::None;
            pep.residual = Residual::InPlace;
            let taps = g.kh * g.kw * g.c;
            let (w, bias) = (rng.vec(taps * co), rng.vec(co));
            let nv = if isa == "avx2" { 2 } else { 4 };
            let (wp, bp) = (pack_gemm(&w, taps, co, nv, lanes), pad_lanes(&bias, lanes));
            let (p1, p2) = (pack_stage(&st1, nv, lanes), pack_stage(&st2, nv, lanes));
            let (s1, s2) = (stage_arg(&st1, &p1), stage_arg(&st2, &p2));
            let spare = rng.below(4);
            let (b1, b2) = ((&g1, st1.1, st1.2), (&st2.0, co, st2.2));
            let len = scalar::separables_pool_scratch(b1, b2, &pg, spare);
            let mut scratch = vec![f32::NAN; len];
            let n = pg.oh * pg.ow * co;
            let (mut got, mut seq) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            let (pa, k) = ((&pg, is_max, &pep), (g1.kh, st2.0.kh));
            let rows = 1 + rng.below(g.oh);
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                let io = (&x[..], &[][..], &mut scratch[..], &mut got[..]);
                let sc = Some((&g, co, &sep, &wp[..], &bp[..]));
                run_chain(isa, k, (s1, s2, pa), io, (sc, spare));
                if isa == "avx2" {
                    w2::conv2d::<6, 2>(&g, co, rows, &sep, &x, &wp, &bp, &[], &mut seq);
                } else {
                    w512::conv2d::<6, 4>(&g, co, rows, &sep, &x, &wp, &bp, &[], &mut seq);
                }
                let io = (&x[..], &[][..], &mut scratch[..], &mut seq[..]);
                run_chain(isa, k, (s1, s2, pa), io, (None, spare));
            }
            assert!(
                same_bits(&got, &seq),
                "{isa} shortcut case {cases}: {g1:?} co={}; {:?} co={co}; pool {pg:?}; shortcut {g:?} {sep:?}",
                st1.1, st2.0
            );
        }
    }
}

#[test]
fn pool_matches_scalar_exactly() {
    for (isa, _) in isas() {
        let mut rng = Rng(5);
        for case in 0..100 {
            let c = rng.pick(&CHANNELS);
            let (k, stride) = rng.pick(&[(3, 2), (3, 1), (2, 2), (1, 1)]);
            let same = rng.below(2) == 0;
            let g = window(&mut rng, c, k, stride, 1, same);
            let mut ep = epilogue(&mut rng, true);
            ep.bias = false;
            let is_max = rng.below(2) == 0;
            let n = g.oh * g.ow * c;
            let (x, res) = (rng.vec(g.h * g.w * c), rng.vec(n));
            let r = res_arg(&ep, &res);
            let mut want = output(&ep, n, &res);
            if is_max {
                scalar::max_pool(&g, &ep, &x, r, &mut want);
            } else {
                scalar::avg_pool(&g, &ep, &x, r, &mut want);
            }
            let mut got = output(&ep, n, &res);
            // SAFETY: `isas()` checked the CPU.
            unsafe {
                if isa == "avx2" {
                    w2::pool(&g, is_max, &ep, &x, r, &mut got);
                } else {
                    w512::pool(&g, is_max, &ep, &x, r, &mut got);
                }
            }
            assert_eq!(
                got, want,
                "{isa} pool case {case} {g:?} max={is_max} {ep:?}"
            );
        }
    }
}

#[test]
fn packing_layouts() {
    // [k=2, n=5] into panels of 1 vector of 2 lanes: widths 2, 2, 2 (padded).
    let w: Vec<f32> = (0..10).map(|v| v as f32).collect();
    assert_eq!(
        pack_gemm(&w, 2, 5, 1, 2),
        [0., 1., 5., 6., 2., 3., 7., 8., 4., 0., 9., 0.]
    );
    // Panels of 2 vectors: widths 4, then the narrowed last panel of 2.
    assert_eq!(
        pack_gemm(&w, 2, 5, 2, 2),
        [0., 1., 2., 3., 5., 6., 7., 8., 4., 0., 9., 0.]
    );
    assert_eq!(
        pack_depthwise(&[1., 2., 3., 4., 5., 6.], 2, 3, 4),
        [1., 2., 3., 0., 4., 5., 6., 0.]
    );
    // Half a vector of channels: repeated in the other half.
    assert_eq!(
        pack_depthwise(&[1., 2., 3., 4.], 2, 2, 4),
        [1., 2., 1., 2., 3., 4., 3., 4.]
    );
    assert_eq!(pad_lanes(&[1., 2., 3.], 8).len(), 8);
}
