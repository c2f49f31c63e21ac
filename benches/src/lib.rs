//! Helpers shared by the benchmarks in `benches/`: deterministic data, FLOP
//! accounting, and (x86) the register-only FMA loop that is the kernels'
//! yardstick.

/// The middle flow's separable convolution as the backend sees it:
/// 19x19x728, 3x3 'same', 728 out (`MIDDLE.window()` for the kernels).
pub const MIDDLE: xcc_codegen::ir::Geom = xcc_codegen::ir::Geom {
    h: 19,
    w: 19,
    c: 728,
    oh: 19,
    ow: 19,
    kh: 3,
    kw: 3,
    sh: 1,
    sw: 1,
    dh: 1,
    dw: 1,
    pt: 1,
    pl: 1,
    pb: 1,
    pr: 1,
};

/// One cache line of floats: the unit [`Aligned`] allocates in.
type Line = xcc_runtime::Aligned64<[f32; 16]>;

/// Floats starting on a cache line (64 bytes), as a generated model places
/// every tensor in its arena and every packed constant in its weight blob.
/// A `Vec<f32>` this large comes from `mmap` 16 bytes past a page boundary,
/// so that every AVX-512 load or store of it would straddle two lines: on
/// the Intel guest (2026-12-04) criterion's block-2 depthwise ran 40%
/// faster once its buffers were aligned.
pub struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    /// A copy of `v`.
    pub fn from_slice(v: &[f32]) -> Self {
        let mut a = Aligned::zeroed(v.len());
        a.copy_from_slice(v);
        a
    }

    /// `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        Aligned {
            lines: vec![xcc_runtime::Aligned64([0.0; 16]); len.div_ceil(16)],
            len,
        }
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `lines` holds at least `len` initialised floats, contiguous
        // (`Line` is `repr(C)` of 16 floats, 64 bytes with no padding).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as `deref`, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

/// [`data`] in an [`Aligned`] buffer.
pub fn aligned_data(n: usize, seed: u64) -> Aligned {
    Aligned::from_slice(&data(n, seed))
}

/// `n` deterministic floats in `[-1, 1)` (SplitMix64).
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Whether the CPU has the instruction set (AVX-512 when `is512`, else AVX2
/// with FMA); prints a note naming the skipped case when it does not.
#[cfg(target_arch = "x86_64")]
pub fn supported(is512: bool, name: &str) -> bool {
    use xcc_codegen::backends::kernels::{avx2, avx512};
    let ok = if is512 {
        avx512::supported()
    } else {
        avx2::supported()
    };
    if !ok {
        eprintln!("note: skipping {name}: this CPU lacks the instruction set");
    }
    ok
}

/// The attainable FP32 peak: a register-only FMA loop, no memory traffic, so
/// its rate is the peak this core gives in this run (the machine's other
/// load included), the yardstick for the kernels' GFLOP/s.
#[cfg(target_arch = "x86_64")]
pub mod peak {
    use xcc_codegen::backends::kernels::{avx2 as isa2, avx512 as isa512, x86};

    /// Multiply-add rounds per call.
    const ROUNDS: usize = 10_000;

    /// Independent accumulators: enough to keep two FMA pipes of latency 4
    /// busy, few enough to stay in registers on AVX2.
    const ACCS: usize = 12;

    /// FLOPs of one call with `lanes` floats per vector.
    pub fn flops(lanes: usize) -> u64 {
        (2 * ROUNDS * ACCS * lanes) as u64
    }

    #[inline(always)]
    unsafe fn fma_loop<I: x86::Isa>(seed: f32) -> f32 {
        // SAFETY: the caller checked the CPU.
        unsafe {
            let mut acc = [I::splat(seed); ACCS];
            let (m, c) = (I::splat(1.000_000_1), I::splat(-1.0e-7));
            for _ in 0..ROUNDS {
                for a in acc.iter_mut() {
                    *a = I::fmadd(*a, m, c);
                }
            }
            let sum = acc.into_iter().fold(I::zero(), |s, a| I::add(s, a));
            let mut out = [0f32; 16];
            I::store(out.as_mut_ptr(), sum);
            out[0]
        }
    }

    /// One call of the AVX-512 loop ([`flops`]`(16)` FLOPs).
    ///
    /// # Safety
    ///
    /// The CPU supports AVX-512F ([`super::supported`]).
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    pub unsafe fn avx512(seed: f32) -> f32 {
        // SAFETY: the caller checked the CPU.
        unsafe { fma_loop::<isa512::Avx512>(seed) }
    }

    /// One call of the AVX2 loop ([`flops`]`(8)` FLOPs).
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and FMA ([`super::supported`]).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(seed: f32) -> f32 {
        // SAFETY: the caller checked the CPU.
        unsafe { fma_loop::<isa2::Avx2>(seed) }
    }
}
