//! Ready-made specs of published architectures, built layer by layer exactly
//! as `keras.applications` builds them (same layer names, order and weights).

pub mod xception;

pub use xception::{xception, Pooling, XceptionOptions};
