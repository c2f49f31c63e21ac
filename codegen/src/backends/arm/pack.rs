//! Constant layouts of the NEON kernels: the register tile and the packing
//! of weights and biases for 4-lane vectors.
//!
//! Also included by path in the aarch64 kernel tests
//! (`generated/tests/neon_kernels.rs`), which are cross-compiled without
//! building xcc-codegen for aarch64, so it uses nothing but the standard prelude.

/// Floats per NEON vector.
pub const LANES: usize = 4;

/// Rows (pixels) of the GEMM register tile (see the module docs of
/// `backends::arm` for the choice of 8 x 12).
pub const MR: usize = 8;

/// Vectors (of [`LANES`] output channels) of the GEMM register tile.
pub const NV: usize = 3;

/// Packs GEMM weights `[k, n]` (row-major) into column panels of `nv`
/// vectors: each panel is `k` rows of its width, panels one after the other;
/// the last panel is narrowed to the whole vectors it needs, padding zero.
pub fn pack_gemm(w: &[f32], k: usize, n: usize, nv: usize) -> Vec<f32> {
    assert_eq!(w.len(), k * n, "GEMM weights are [k, n]");
    let (nr, np) = (nv * LANES, n.div_ceil(LANES) * LANES);
    let mut out = Vec::with_capacity(k * np);
    let mut c0 = 0;
    while c0 < n {
        let width = nr.min(np - c0);
        for row in w.chunks_exact(n) {
            out.extend((c0..c0 + width).map(|j| row.get(j).copied().unwrap_or(0.0)));
        }
        c0 += width;
    }
    out
}

/// Packs depthwise weights `[taps, c]` with each tap's row zero-padded to
/// whole vectors.
pub fn pack_depthwise(w: &[f32], taps: usize, c: usize) -> Vec<f32> {
    assert_eq!(w.len(), taps * c, "depthwise weights are [taps, c]");
    let cp = c.div_ceil(LANES) * LANES;
    let mut out = vec![0.0; taps * cp];
    for (dst, src) in out.chunks_exact_mut(cp).zip(w.chunks_exact(c)) {
        dst[..c].copy_from_slice(src);
    }
    out
}

/// A per-channel vector (a bias) zero-padded to whole vectors.
pub fn pad_lanes(v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    out.resize(v.len().div_ceil(LANES) * LANES, 0.0);
    out
}
