//! The NEON kernels against the scalar reference (aarch64 only; on x86 this
//! test is empty: `.ci/aarch64-test` runs it under qemu). Awkward shapes:
//! channel counts that are not multiples of 4 (1, 2, 3, 5, 7, 13, 17, 33),
//! odd and 1x1 images, strides 1 and 2, 'same' (the extra pad at the
//! bottom/right) and 'valid' padding, dilation, even kernels, input ReLU,
//! bias, residual (separate and in place), output ReLU, every tail of the
//! register tiles, and the depthwise interior blocks and borders.
//!
//! The kernel libraries and the packing are xcc-codegen's own files, the
//! kernels included as generated models include them (`mod kernels { pub mod
//! scalar { .. } pub mod neon { .. } }`). The test lives in this crate, which the
//! aarch64 step cross-compiles anyway, so that xcc-codegen and its
//! dependencies (hdf5, syn, zip, ...) need not be built for aarch64.
//!
//! Tolerance, as for the x86 kernels: the NEON kernels accumulate with FMA
//! and in another order than the scalar kernels; the difference of two
//! summation orders of `n` terms is bounded by about `n * 2^-24 * sum |terms|`.
//! We allow `1e-5 * sum |terms|` per output (the magnitude is the scalar
//! kernel run on absolute values), far above rounding (~1e-7) and far below
//! any indexing or epilogue mistake (relative error ~1). Pooling has no
//! reordering and must match exactly.

#![cfg(target_arch = "aarch64")]

/// The kernel libraries, laid out (and included) as in generated code.
#[allow(dead_code)]
mod kernels {
    pub mod scalar {
        include!("../../codegen/src/backends/scalar/kernels.rs");
    }
    pub mod neon {
        include!("../../codegen/src/backends/arm/neon.rs");
    }
}

#[path = "../../codegen/src/backends/arm/pack.rs"]
mod pack;

use kernels::neon;
use kernels::scalar::{self, Epilogue, Residual, Window};
use pack::{pack_depthwise, pack_gemm, pad_lanes, MR, NV};

#[path = "../../codegen/tests/support/kernel_check.rs"]
mod kernel_check;

use kernel_check::{
    abs, chain, check, epilogue, magnitude_epilogue, output, res_arg, same_bits, window_of, Chain,
    Rng, Stage,
};

/// A random window: 1x1 images (for 'same') now and then, odd and even sizes
/// up to 14 pixels wide (so the depthwise interior has whole blocks).
fn window(rng: &mut Rng, c: usize, k: usize, stride: usize, dil: usize, same: bool) -> Window {
    let span = (k - 1) * dil + 1;
    let min = if same { 1 } else { span };
    let (h, w) = if same && rng.below(8) == 0 {
        (1, 1)
    } else {
        (min + rng.below(9), min + rng.below(12))
    };
    window_of((h, w, c), k, stride, dil, same)
}

/// Channel counts: below, at and between whole vectors, a full 12-wide panel
/// (24) and a narrowed one (13, 17, 33, 40).
const CHANNELS: [usize; 12] = [1, 2, 3, 4, 5, 7, 8, 13, 17, 24, 33, 40];

/// The register tiles tested: the backend's, 12 x 2, 5 x 4 and 1 x 1.
const TILES: [(usize, usize); 4] = [(MR, NV), (12, 2), (5, 4), (1, 1)];

/// Depthwise windows: (kernel, stride, dilation); 3x3 takes the blocked
/// interior path, 2x2 / 4x4 put the odd 'same' pad at the bottom/right even
/// at stride 1, 5x5 the per-pixel path.
const DW_WINDOWS: [(usize, usize, usize); 8] = [
    (3, 1, 1),
    (3, 2, 1),
    (3, 1, 2),
    (3, 2, 2),
    (2, 1, 1),
    (4, 2, 1),
    (5, 2, 1),
    (1, 1, 1),
];

/// Packed operands of a separable step: depthwise and pointwise weights, bias.
struct SepWeights {
    dw: Vec<f32>,
    pw: Vec<f32>,
    bias: Vec<f32>,
}

/// `neon::separable` with one tile, kept out of line (one tile per function
/// keeps the test quick to compile).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn separable_with<const M: usize, const N: usize>(
    g: &Window,
    co: usize,
    rows: usize,
    ep: &Epilogue,
    x: &[f32],
    p: &SepWeights,
    res: &[f32],
    y: &mut [f32],
) {
    let mut s = vec![f32::NAN; rows * g.ow * g.c];
    neon::separable::<M, N>(g, co, rows, ep, x, &p.dw, &p.pw, &p.bias, res, &mut s, y);
}

#[allow(clippy::too_many_arguments)]
fn separable_tile(
    tile: (usize, usize),
    g: &Window,
    co: usize,
    rows: usize,
    ep: &Epilogue,
    x: &[f32],
    dw: &[f32],
    pw: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let p = SepWeights {
        dw: pack_depthwise(dw, g.kh * g.kw, g.c),
        pw: pack_gemm(pw, g.c, co, tile.1),
        bias: pad_lanes(bias),
    };
    match tile {
        (MR, NV) => separable_with::<MR, NV>(g, co, rows, ep, x, &p, res, y),
        (12, 2) => separable_with::<12, 2>(g, co, rows, ep, x, &p, res, y),
        (5, 4) => separable_with::<5, 4>(g, co, rows, ep, x, &p, res, y),
        _ => separable_with::<1, 1>(g, co, rows, ep, x, &p, res, y),
    }
}

#[test]
fn separable_matches_scalar() {
    let mut rng = Rng(1);
    for case in 0..240 {
        let c = rng.pick(&CHANNELS);
        let co = rng.pick(&CHANNELS);
        let (k, stride, dil) = rng.pick(&DW_WINDOWS);
        let same = rng.below(2) == 0;
        let g = window(&mut rng, c, k, stride, dil, same);
        let ep = epilogue(&mut rng, true);
        let rows = rng.pick(&[1, 2, 3, g.oh]).min(g.oh);
        let n = g.oh * g.ow * co;
        let (x, dw, pw) = (rng.vec(g.h * g.w * c), rng.vec(k * k * c), rng.vec(c * co));
        let (bias, res) = (rng.vec(co), rng.vec(n));
        let r = res_arg(&ep, &res);
        let mut scratch = vec![0.0; g.ow * c];
        let mut want = output(&ep, n, &res);
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
        let tile = TILES[case % TILES.len()];
        let mut got = output(&ep, n, &res);
        separable_tile(tile, &g, co, rows, &ep, &x, &dw, &pw, &bias, r, &mut got);
        let what = format!("separable case {case} {g:?} co={co} rows={rows} {ep:?} tile {tile:?}");
        check(&what, &got, &want, &mag);
    }
}

#[test]
fn depthwise_matches_scalar() {
    let mut rng = Rng(2);
    for case in 0..240 {
        let c = rng.pick(&CHANNELS);
        let (k, stride, dil) = rng.pick(&DW_WINDOWS);
        let same = rng.below(2) == 0;
        let g = window(&mut rng, c, k, stride, dil, same);
        let ep = epilogue(&mut rng, false);
        let n = g.oh * g.ow * c;
        let (x, w, bias, res) = (
            rng.vec(g.h * g.w * c),
            rng.vec(k * k * c),
            rng.vec(c),
            rng.vec(n),
        );
        let r = res_arg(&ep, &res);
        let mut want = vec![0.0; n];
        scalar::depthwise(&g, 1, &ep, &x, &w, &bias, r, &mut want);
        let mut mag = vec![0.0; n];
        let mep = magnitude_epilogue(&ep);
        scalar::depthwise(
            &g,
            1,
            &mep,
            &abs(&x),
            &abs(&w),
            &abs(&bias),
            &abs(r),
            &mut mag,
        );
        let (wp, bp) = (pack_depthwise(&w, k * k, c), pad_lanes(&bias));
        let mut got = vec![f32::NAN; n];
        neon::depthwise(&g, &ep, &x, &wp, &bp, r, &mut got);
        check(
            &format!("depthwise case {case} {g:?} {ep:?}"),
            &got,
            &want,
            &mag,
        );
    }
}

/// `neon::conv2d` with one tile, kept out of line.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn conv2d_with<const M: usize, const N: usize>(
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
    neon::conv2d::<M, N>(g, co, rows, ep, x, w, bias, res, y);
}

#[allow(clippy::too_many_arguments)]
fn conv_tile(
    tile: (usize, usize),
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
    let wp = pack_gemm(w, g.kh * g.kw * g.c, co, tile.1);
    let bp = pad_lanes(bias);
    match tile {
        (MR, NV) => conv2d_with::<MR, NV>(g, co, rows, ep, x, &wp, &bp, res, y),
        (12, 2) => conv2d_with::<12, 2>(g, co, rows, ep, x, &wp, &bp, res, y),
        (5, 4) => conv2d_with::<5, 4>(g, co, rows, ep, x, &wp, &bp, res, y),
        _ => conv2d_with::<1, 1>(g, co, rows, ep, x, &wp, &bp, res, y),
    }
}

/// `neon::dense` with one tile, kept out of line.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn dense_with<const M: usize, const N: usize>(
    ci: usize,
    co: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    neon::dense::<M, N>(ci, co, ep, x, w, bias, res, y);
}

#[test]
fn conv2d_matches_scalar() {
    let mut rng = Rng(3);
    for case in 0..200 {
        let c = rng.pick(&[1, 3, 5, 8, 17, 32]);
        let co = rng.pick(&CHANNELS);
        let (k, stride, dil) = rng.pick(&[
            (3, 1, 1),
            (3, 2, 1),
            (1, 2, 1),
            (1, 1, 1),
            (3, 1, 2),
            (2, 1, 1),
        ]);
        let same = rng.below(2) == 0;
        let g = window(&mut rng, c, k, stride, dil, same);
        let ep = epilogue(&mut rng, true);
        let rows = rng.pick(&[1, 2, g.oh]).min(g.oh);
        let n = g.oh * g.ow * co;
        let (x, w) = (rng.vec(g.h * g.w * c), rng.vec(k * k * c * co));
        let (bias, res) = (rng.vec(co), rng.vec(n));
        let r = res_arg(&ep, &res);
        let mut want = output(&ep, n, &res);
        scalar::conv2d(&g, co, &ep, &x, &w, &bias, r, &mut want);
        let mut mag = output(&ep, n, &abs(&res));
        let mep = magnitude_epilogue(&ep);
        scalar::conv2d(
            &g,
            co,
            &mep,
            &abs(&x),
            &abs(&w),
            &abs(&bias),
            &abs(r),
            &mut mag,
        );
        let tile = TILES[case % TILES.len()];
        let mut got = output(&ep, n, &res);
        conv_tile(tile, &g, co, rows, &ep, &x, &w, &bias, r, &mut got);
        let what = format!("conv2d case {case} {g:?} co={co} rows={rows} {ep:?} tile {tile:?}");
        check(&what, &got, &want, &mag);
    }
}

#[test]
fn dense_matches_scalar() {
    let mut rng = Rng(4);
    for case in 0..120 {
        let ci = rng.pick(&[1, 3, 17, 33, 64, 100]);
        let co = rng.pick(&[1, 5, 12, 17, 33, 64, 100]);
        let rows = rng.pick(&[1, 2, 7, 9, 20]);
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
        let tile = TILES[case % TILES.len()];
        let (wp, bp) = (pack_gemm(&w, ci, co, tile.1), pad_lanes(&bias));
        let mut got = output(&ep, n, &res);
        match tile {
            (MR, NV) => dense_with::<MR, NV>(ci, co, &ep, &x, &wp, &bp, r, &mut got),
            (12, 2) => dense_with::<12, 2>(ci, co, &ep, &x, &wp, &bp, r, &mut got),
            (5, 4) => dense_with::<5, 4>(ci, co, &ep, &x, &wp, &bp, r, &mut got),
            _ => dense_with::<1, 1>(ci, co, &ep, &x, &wp, &bp, r, &mut got),
        }
        let what = format!("dense case {case} ci={ci} co={co} rows={rows} {ep:?} tile {tile:?}");
        check(&what, &got, &want, &mag);
    }
}

/// A chain's stage as `neon::separables_pool` takes it, and its weights
/// packed.
fn neon_stage(st: &Stage) -> (SepWeights, (Window, usize, usize, Epilogue)) {
    let (g, co, rows, ep, dw, pw, bias) = st;
    let p = SepWeights {
        dw: pack_depthwise(dw, g.kh * g.kw, g.c),
        pw: pack_gemm(pw, g.c, *co, NV),
        bias: pad_lanes(bias),
    };
    (p, (*g, *co, *rows, *ep))
}

/// The streamed separable → separable → pooling chain (`neon::separables_pool`,
/// the models' tile) against the NEON kernels run one after another (must
/// be identical: only the order of rows changes) and the scalar ones (within
/// the separable tolerance), on the chains of `kernel_check::chain`: odd
/// images, channels off the vector, 3x3 separables with stride 2 or
/// dilation 2 or 1x1 ones, 'same' and 'valid', max and average pooling,
/// residual separate and in place, row blocks of 1 row up to the image.
#[test]
fn separables_pool_matches_stages() {
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
            ..
        } = chain(&mut rng, &CHANNELS);
        let n = pg.oh * pg.ow * pg.c;
        let r = res_arg(&pep, &res);
        let ((p1, (g1, co1, rows1, e1)), (p2, (g2, co2, rows2, e2))) =
            (neon_stage(&st1), neon_stage(&st2));
        let s1 = (&g1, co1, rows1, &e1, (&p1.dw[..], &p1.pw[..], &p1.bias[..]));
        let s2 = (&g2, co2, rows2, &e2, (&p2.dw[..], &p2.pw[..], &p2.bias[..]));
        let len = scalar::separables_pool_scratch((&g1, co1, rows1), (&g2, co2, rows2), &pg, 0);
        let mut scratch = vec![f32::NAN; len];
        let mut got = output(&pep, n, &res);
        neon::separables_pool::<MR, NV>(s1, s2, (&pg, is_max, &pep), &x, r, &mut scratch, &mut got);
        // The same kernels one after another, whole images between them.
        let mut t1 = vec![0.0; g1.oh * g1.ow * co1];
        let mut t2 = vec![0.0; g2.oh * g2.ow * co2];
        separable_with::<MR, NV>(&g1, co1, rows1, &e1, &x, &p1, &[], &mut t1);
        separable_with::<MR, NV>(&g2, co2, rows2, &e2, &t1, &p2, &[], &mut t2);
        let mut seq = output(&pep, n, &res);
        neon::pool(&pg, is_max, &pep, &t2, r, &mut seq);
        let what = format!(
            "neon separables_pool case {case}: {g1:?} co={co1} rows={rows1}; {g2:?} co={co2} rows={rows2}; pool {pg:?} max={is_max} {pep:?}"
        );
        assert!(
            same_bits(&got, &seq),
            "{what}: differs from the kernels run one after another"
        );
        check(&what, &got, &want, &mag);
    }
}

#[test]
fn pool_matches_scalar_exactly() {
    let mut rng = Rng(5);
    for case in 0..160 {
        let c = rng.pick(&CHANNELS);
        let (k, stride) = rng.pick(&[(3, 2), (3, 1), (2, 2), (1, 1), (2, 1)]);
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
        neon::pool(&g, is_max, &ep, &x, r, &mut got);
        assert_eq!(got, want, "pool case {case} {g:?} max={is_max} {ep:?}");
    }
}

/// Xception's own layer shapes, scaled down in width (the separable conv of
/// the middle flow at 19x19, the stride-2 entry shortcut, the block max-pool
/// with its residual): every kernel on a shape the model really has.
#[test]
fn xception_shapes_match_scalar() {
    let mut rng = Rng(6);
    let ep = Epilogue {
        relu_in: true,
        bias: true,
        residual: Residual::InPlace,
        relu: false,
    };
    // block5_sepconv1..3: 'same' 3x3 on 19x19, 728 channels cut to 40.
    let g = window_of((19, 19, 40), 3, 1, 1, true);
    let (c, co, n) = (40, 36, 19 * 19 * 36);
    let (x, dw, pw, bias, res) = (
        rng.vec(19 * 19 * c),
        rng.vec(9 * c),
        rng.vec(c * co),
        rng.vec(co),
        rng.vec(n),
    );
    let mut scratch = vec![0.0; g.ow * c];
    let mut want = res.clone();
    scalar::separable(
        &g,
        1,
        co,
        &ep,
        &x,
        &dw,
        &pw,
        &bias,
        &[],
        &mut scratch,
        &mut want,
    );
    let mut mag = abs(&res);
    let (ax, adw, apw, ab) = (abs(&x), abs(&dw), abs(&pw), abs(&bias));
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
        &[],
        &mut scratch,
        &mut mag,
    );
    let mut got = res.clone();
    separable_tile((MR, NV), &g, co, 5, &ep, &x, &dw, &pw, &bias, &[], &mut got);
    check("separable 19x19", &got, &want, &mag);

    // A block shortcut: 1x1 stride-2 'same' conv, 37x37 -> 19x19.
    let g = window_of((37, 37, 24), 1, 2, 1, true);
    let ep = Epilogue {
        relu_in: false,
        bias: true,
        residual: Residual::None,
        relu: false,
    };
    let (x, w, bias) = (rng.vec(37 * 37 * 24), rng.vec(24 * 28), rng.vec(28));
    let n = 19 * 19 * 28;
    let mut want = vec![0.0; n];
    scalar::conv2d(&g, 28, &ep, &x, &w, &bias, &[], &mut want);
    let mut mag = vec![0.0; n];
    scalar::conv2d(&g, 28, &ep, &abs(&x), &abs(&w), &abs(&bias), &[], &mut mag);
    let mut got = vec![f32::NAN; n];
    conv_tile((MR, NV), &g, 28, 3, &ep, &x, &w, &bias, &[], &mut got);
    check("shortcut conv 37x37 stride 2", &got, &want, &mag);

    // The block max-pool: 3x3 stride 2 'same', 37x37 -> 19x19, plus the shortcut.
    let g = window_of((37, 37, 28), 3, 2, 1, true);
    let x = rng.vec(37 * 37 * 28);
    let ep = Epilogue {
        relu_in: false,
        bias: false,
        residual: Residual::InPlace,
        relu: false,
    };
    let mut want = got.clone();
    scalar::max_pool(&g, &ep, &x, &[], &mut want);
    neon::pool(&g, true, &ep, &x, &[], &mut got);
    assert_eq!(got, want, "max-pool + add 37x37 stride 2");
}

#[test]
fn one_by_one_images() {
    // 1x1 spatial: every tap but the centre is padding ('same'), or the
    // kernel is 1x1 ('valid').
    let mut rng = Rng(7);
    for (k, same) in [(3, true), (1, false), (5, true)] {
        for c in [1, 3, 4, 6, 13] {
            let g = window_of((1, 1, c), k, 1, 1, same);
            assert_eq!((g.oh, g.ow), (1, 1));
            let ep = Epilogue {
                relu_in: true,
                bias: true,
                residual: Residual::Separate,
                relu: true,
            };
            let co = c + 2;
            let (x, dw, pw, bias, res) = (
                rng.vec(c),
                rng.vec(k * k * c),
                rng.vec(c * co),
                rng.vec(co),
                rng.vec(co),
            );
            let mut scratch = vec![0.0; c];
            let mut want = vec![0.0; co];
            scalar::separable(
                &g,
                1,
                co,
                &ep,
                &x,
                &dw,
                &pw,
                &bias,
                &res,
                &mut scratch,
                &mut want,
            );
            let mut mag = vec![0.0; co];
            let mep = magnitude_epilogue(&ep);
            let (ax, adw, apw, ab, ar) = (abs(&x), abs(&dw), abs(&pw), abs(&bias), abs(&res));
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
            let mut got = vec![f32::NAN; co];
            separable_tile(
                (MR, NV),
                &g,
                co,
                1,
                &ep,
                &x,
                &dw,
                &pw,
                &bias,
                &res,
                &mut got,
            );
            check(&format!("1x1 separable k={k} c={c}"), &got, &want, &mag);
        }
    }
}
