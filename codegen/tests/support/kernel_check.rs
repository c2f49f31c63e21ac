//! Shared by the SIMD kernel tests (`codegen/tests/simd_kernels.rs`, x86;
//! `generated/tests/neon_kernels.rs`, aarch64): a deterministic generator,
//! random epilogues, and the check of a kernel's output against the scalar
//! kernel's within `1e-5` of the magnitude (see the tests' docs), and TF
//! windows. The including file provides `Epilogue`, `Residual` and `Window`
//! (its scalar kernels').

use super::{Epilogue, Residual, Window};

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
