// AVX-512F (with FMA) instances of the shared x86 kernels in `super::x86`, and
// run-time detection.
//
// This file is compiled twice: as a module of xcc-codegen (for tests) and
// verbatim inside every generated model for the `avx512` target. It must
// therefore use only `core` and sibling kernel modules, have no inner
// attributes or `//!` docs.

use core::arch::x86_64::*;
use core::sync::atomic::{AtomicU8, Ordering};

use super::x86::Isa;

/// AVX-512F: 16 lanes, 32 vector registers, mask registers for tails.
#[derive(Debug, Clone, Copy)]
pub struct Avx512;

/// Lanes `0..n` set.
#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

impl Isa for Avx512 {
    type V = __m512;
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn zero() -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 16 readable floats and AVX-512F.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> __m512 {
        // SAFETY: masked-off lanes are not accessed; the caller guarantees `n`
        // readable floats and AVX-512F.
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: the caller guarantees 16 writable floats and AVX-512F.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_n(p: *mut f32, v: __m512, n: usize) {
        // SAFETY: masked-off lanes are not accessed; the caller guarantees `n`
        // writable floats and AVX-512F.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        // SAFETY: a prefetch is a hint: it never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast::<i8>()) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn splat_pair(p: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 2 readable floats and AVX-512F.
        unsafe { _mm512_castpd_ps(_mm512_set1_pd(p.cast::<f64>().read_unaligned())) }
    }
    #[inline(always)]
    unsafe fn fold_pairs(v: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
            _mm512_add_ps(
                _mm512_permutexvar_ps(even, v),
                _mm512_permutexvar_ps(odd, v),
            )
        }
    }
}

/// Whether this CPU and OS run AVX-512F/VL/BW/DQ, AVX2 and FMA code. Cached
/// after the first call; a constant `true` when the crate is compiled with
/// those target features enabled (e.g. `-C target-cpu=native` on such a CPU).
pub fn supported() -> bool {
    if cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512vl",
        target_feature = "avx512bw",
        target_feature = "avx512dq",
        target_feature = "avx2",
        target_feature = "fma"
    )) {
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

/// CPUID and XCR0: the instructions, and the OS saving the ZMM and mask state.
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
    // SSE, AVX, opmask, ZMM_Hi256 and Hi16_ZMM state enabled by the OS.
    if xcr0 & 0xe6 != 0xe6 {
        return false;
    }
    let b = __cpuid_count(7, 0).ebx;
    let bits = [5, 16, 17, 30, 31]; // AVX2, AVX512F, DQ, BW, VL
    bits.iter().all(|&i| b & (1 << i) != 0)
}
