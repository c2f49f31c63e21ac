//! Shared by the SIMD kernel tests (`codegen/tests/simd_kernels.rs`, x86;
//! `generated/tests/neon_kernels.rs`, aarch64): a deterministic generator,
//! random epilogues, and the check of a kernel's output against the scalar
//! kernel's within `1e-5` of the magnitude (see the tests' docs), TF
//! windows, and random separable → separable → pooling chains with their
//! scalar results. The including file provides `scalar` (its scalar kernel
//! module) and its `Epilogue`, `Residual` and `Window`.

use super::{scalar, Epilogue, Residual, Window};

/// SplitMix64: small, deterministic.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

pub fn epilogue(rng: &mut Rng, in_place_ok: bool) -> Epilogue {
    let residual = match rng.below(3) {
        0 => Residual::None,
        1 => Residual::Separate,
        _ if in_place_ok => Residual::InPlace,
        _ => Residual::Separate,
    };
    Epilogue {
        relu_in: rng.below(2) == 0,
        bias: rng.below(3) != 0,
        residual,
        relu: rng.below(2) == 0,
    }
}

/// The same epilogue on absolute values: no ReLUs (so every term counts).
pub fn magnitude_epilogue(ep: &Epilogue) -> Epilogue {
    Epilogue {
        relu_in: false,
        relu: false,
        ..*ep
    }
}

pub fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// Asserts `got` is within `1e-5 * mag` of `want`, element by element.
pub fn check(what: &str, got: &[f32], want: &[f32], mag: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        let tol = 1e-5 * m + 1e-30;
        assert!(
            (g - w).abs() <= tol,
            "{what}: element {i}: got {g}, want {w} (tolerance {tol})"
        );
    }
}

/// Prefills the output with the residual when it is added in place.
pub fn output(ep: &Epilogue, n: usize, res: &[f32]) -> Vec<f32> {
    if ep.residual == Residual::InPlace {
        res.to_vec()
    } else {
        vec![f32::NAN; n]
    }
}

/// The residual slice a kernel sees.
pub fn res_arg<'a>(ep: &Epilogue, res: &'a [f32]) -> &'a [f32] {
    if ep.residual == Residual::Separate {
        res
    } else {
        &[]
    }
}

/// The window of a `k` x `k` kernel over an `h` x `w` x `c` image: stride,
/// dilation, 'same' (TF: the odd pad at the bottom/right) or 'valid' (the
/// image at least as large as the kernel's span).
pub fn window_of(
    (h, w, c): (usize, usize, usize),
    k: usize,
    stride: usize,
    dil: usize,
    same: bool,
) -> Window {
    let span = (k - 1) * dil + 1;
    let out = |i: usize| {
        if same {
            i.div_ceil(stride)
        } else {
            (i - span) / stride + 1
        }
    };
    let pad = |i: usize, o: usize| {
        if same {
            ((o - 1) * stride + span).saturating_sub(i) / 2
        } else {
            0
        }
    };
    let (oh, ow) = (out(h), out(w));
    Window {
        h,
        w,
        c,
        oh,
        ow,
        kh: k,
        kw: k,
        sh: stride,
        sw: stride,
        dh: dil,
        dw: dil,
        pt: pad(h, oh),
        pl: pad(w, ow),
    }
}

/// One separable stage of a chain: window, output channels, rows per
/// block, epilogue, and depthwise, pointwise and bias weights (logical
/// layouts).
pub type Stage = (Window, usize, usize, Epilogue, Vec<f32>, Vec<f32>, Vec<f32>);

/// A random separable stage over an `h` x `w` x `c` image: `k` x `k` (3x3
/// with stride 1 or 2 or dilation 2, or 1x1), 'same' or 'valid' (when it
/// fits), output channels from `channels`, no residual.
fn stage(rng: &mut Rng, (h, w, c): (usize, usize, usize), k: usize, channels: &[usize]) -> Stage {
    let (stride, dil) = if k == 1 {
        (1, 1)
    } else {
        rng.pick(&[(1, 1), (1, 1), (2, 1), (1, 2)])
    };
    let span = (k - 1) * dil + 1;
    let same = h < span || w < span || rng.below(2) == 0;
    let g = window_of((h, w, c), k, stride, dil, same);
    let co = rng.pick(channels);
    let mut ep = epilogue(rng, false);
    ep.residual = Residual::None;
    let rows = rng.pick(&[1, 2, 3, 5, g.oh]).min(g.oh);
    let (dw, pw, bias) = (rng.vec(k * k * c), rng.vec(c * co), rng.vec(co));
    (g, co, rows, ep, dw, pw, bias)
}

/// Whether two results are identical, bit for bit.
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The scalar kernels' separable stage (`mag`: on absolute values, without
/// ReLUs).
fn scalar_stage((g, co, _, ep, dw, pw, bias): &Stage, x: &[f32], mag: bool) -> Vec<f32> {
    let (ep, dw, pw, bias) = if mag {
        (magnitude_epilogue(ep), abs(dw), abs(pw), abs(bias))
    } else {
        (*ep, dw.clone(), pw.clone(), bias.clone())
    };
    let mut y = vec![0.0; g.oh * g.ow * co];
    let mut scratch = vec![0.0; g.ow * g.c];
    scalar::separable(
        g,
        1,
        *co,
        &ep,
        x,
        &dw,
        &pw,
        &bias,
        &[],
        &mut scratch,
        &mut y,
    );
    y
}

/// A random separable → separable → pooling chain (what the
/// `separables_pool` kernels run; each separable 3x3 or 1x1) with its
/// scalar result and magnitude.
pub struct Chain {
    /// The first separable.
    pub st1: Stage,
    /// The second separable.
    pub st2: Stage,
    /// The pooling's window.
    pub pg: Window,
    /// Max (else average) pooling.
    pub is_max: bool,
    /// The pooling's epilogue (residual none, separate or in place).
    pub pep: Epilogue,
    /// The chain's input.
    pub x: Vec<f32>,
    /// The pooling's residual.
    pub res: Vec<f32>,
    /// The scalar kernels run one after another.
    pub want: Vec<f32>,
    /// The same on absolute values (the tolerance's scale).
    pub mag: Vec<f32>,
}

/// A random chain over an image up to 23 pixels wide with channels from
/// `channels`: 3x3 separables with stride 2 or dilation 2, or 1x1 ones,
/// 'same' and 'valid', max or average pooling 3x3/2 ('same': the extra pad
/// at bottom/right), 3x3/1 or 2x2/2, row blocks of 1 row up to the image.
pub fn chain(rng: &mut Rng, channels: &[usize]) -> Chain {
    let c = rng.pick(channels);
    let (k1, k2) = rng.pick(&[(3, 3), (3, 3), (3, 1), (1, 3), (1, 1)]);
    let (h, w) = (1 + rng.below(12), 1 + rng.below(23));
    let st1 = stage(rng, (h, w, c), k1, channels);
    let st2 = stage(rng, (st1.0.oh, st1.0.ow, st1.1), k2, channels);
    let (g2, co2) = (st2.0, st2.1);
    let (pk, ps) = rng.pick(&[(3, 2), (3, 1), (2, 2)]);
    let same = g2.oh < pk || g2.ow < pk || rng.below(2) == 0;
    let pg = window_of((g2.oh, g2.ow, co2), pk, ps, 1, same);
    let mut pep = epilogue(rng, true);
    pep.bias = false;
    let is_max = rng.below(2) == 0;
    let n = pg.oh * pg.ow * co2;
    let (x, res) = (rng.vec(h * w * c), rng.vec(n));
    let r = res_arg(&pep, &res);
    let pool = |ep: &Epilogue, x: &[f32], r: &[f32], y: &mut [f32]| {
        if is_max {
            scalar::max_pool(&pg, ep, x, r, y);
        } else {
            scalar::avg_pool(&pg, ep, x, r, y);
        }
    };
    let mut want = output(&pep, n, &res);
    let t2 = scalar_stage(&st2, &scalar_stage(&st1, &x, false), false);
    pool(&pep, &t2, r, &mut want);
    let mut mag = output(&pep, n, &abs(&res));
    let t2 = scalar_stage(&st2, &scalar_stage(&st1, &abs(&x), true), true);
    pool(&magnitude_epilogue(&pep), &t2, &abs(r), &mut mag);
    Chain {
        st1,
        st2,
        pg,
        is_max,
        pep,
        x,
        res,
        want,
        mag,
    }
}
