//! The kernel libraries, laid out exactly as in generated code
//! (`mod kernels { pub mod scalar { .. } .. }`), so a SIMD module can use
//! `super::scalar::Window` in both places.

#[path = "scalar/kernels.rs"]
pub mod scalar;

#[cfg(target_arch = "x86_64")]
#[path = "x86/simd.rs"]
pub mod x86;

#[cfg(target_arch = "x86_64")]
#[path = "x86/avx2.rs"]
pub mod avx2;

#[cfg(target_arch = "x86_64")]
#[path = "x86/avx512.rs"]
pub mod avx512;

#[cfg(target_arch = "aarch64")]
#[path = "arm/neon.rs"]
pub mod neon;
