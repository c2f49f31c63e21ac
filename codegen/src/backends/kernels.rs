//! The kernel libraries, laid out exactly as in generated code
//! (`mod kernels { pub mod scalar { .. } .. }`), so a SIMD module can use
//! `super::scalar::Window` in both places.

#[path = "scalar/kernels.rs"]
pub mod scalar;
