// AVX2+FMA instances of the shared x86 kernels in `super::x86`, and run-time
// detection.
//
// This file is compiled twice: as a module of xcc-codegen (for tests) and
// verbatim inside every generated model for the `avx2` target. It must
// therefore use only `core` and sibling kernel modules, have no inner
// attributes or `//!` docs.

use core::arch::x86_64::*;
use core::sync::atomic::{AtomicU8, Ordering};

use super::x86::Isa;

/// AVX2 with FMA: 8 lanes, 16 vector registers, masked moves for tails.
#[derive(Debug, Clone, Copy)]
pub struct Avx2;

/// Lanes `0..n` set (all bits of each lane).
#[inline(always)]
unsafe fn mask(n: usize) -> __m256i {
    // SAFETY: the caller guarantees AVX2.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

impl Isa for Avx2 {
    type V = __m256;
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: the caller guarantees AVX.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m256 {
        // SAFETY: the caller guarantees AVX.
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable floats and AVX.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> __m256 {
        // SAFETY: masked-off lanes are not accessed; the caller guarantees `n`
        // readable floats and AVX2.
        unsafe { _mm256_maskload_ps(p, mask(n)) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: the caller guarantees 8 writable floats and AVX.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_n(p: *mut f32, v: __m256, n: usize) {
        // SAFETY: masked-off lanes are not accessed; the caller guarantees `n`
        // writable floats and AVX2.
        unsafe { _mm256_maskstore_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the caller guarantees FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller guarantees AVX.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller guarantees AVX.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller guarantees AVX.
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        // SAFETY: a prefetch is a hint: it never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast::<i8>()) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller guarantees AVX.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn splat_pair(p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 2 readable floats and AVX.
        unsafe { _mm256_castpd_ps(_mm256_set1_pd(p.cast::<f64>().read_unaligned())) }
    }
    #[inline(always)]
    unsafe fn fold_pairs(v: __m256) -> __m256 {
        // SAFETY: the caller guarantees AVX2.
        unsafe {
            let even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
            let odd = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
            _mm256_add_ps(
                _mm256_permutevar8x32_ps(v, even),
                _mm256_permutevar8x32_ps(v, odd),
            )
        }
    }
}

/// Whether this CPU and OS run AVX2 and FMA code. Cached after the first
/// call; a constant `true` when the crate is compiled with those target
/// features enabled (e.g. `-C target-feature=+avx2,+fma`).
pub fn supported() -> bool {
    if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        return true;
    }
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = detect();
            STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// CPUID and XCR0: the instructions, and the OS saving the YMM state.
fn detect() -> bool {
    if __cpuid(0).eax < 7 {
        return false;
    }
    let l1 = __cpuid(1);
    let (fma, osxsave) = (l1.ecx & (1 << 12) != 0, l1.ecx & (1 << 27) != 0);
    if !(fma && osxsave) {
        return false;
    }
    // SAFETY: OSXSAVE is set, so XGETBV is available and XCR0 readable.
    let xcr0 = unsafe { _xgetbv(0) };
    // SSE and AVX state enabled by the OS.
    if xcr0 & 0x6 != 0x6 {
        return false;
    }
    __cpuid_count(7, 0).ebx & (1 << 5) != 0
}
