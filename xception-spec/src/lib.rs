//! The Xception spec crate: a declarative JSON format for CNN layer graphs,
//! its validation and shape inference, model statistics, the deterministic
//! synthetic weight generator and a plain reference interpreter.
//!
//! Everything the compiler (`xcc-codegen`) emits is checked against the
//! interpreter in this crate, which shares no code with the compiler's passes.

pub mod detgen;
pub mod error;
pub mod graph;
pub mod interp;
pub mod parse;
pub mod spec;
pub mod stats;
pub mod weights;
pub mod zoo;

pub use error::SpecError;
pub use graph::{validate, Graph, Node, Shape, WeightKind, WeightSpec};
pub use parse::{from_file, from_json_str};
pub use spec::{Layer, Op, Padding, Spec};
pub use weights::{Tensor, WeightMap};
