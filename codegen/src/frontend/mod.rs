//! Frontends: what comes into the compiler.
//! - [`lower`]: a validated spec plus a weight map into the IR;
//! - [`keras`]: Keras files (legacy HDF5, Keras 3 `.weights.h5` and `.keras`) into a spec and weights;
//! - [`safetensors`]: weight maps to and from `.safetensors` files.

pub mod keras;
pub mod lower;
pub mod safetensors;

use std::path::Path;

use xception_spec::{Graph, WeightMap};

use crate::error::CompileError;

/// Loads the weights of `graph` from a file (dispatch on the format).
pub fn load_weights_file(path: &Path, graph: &Graph) -> Result<WeightMap, CompileError> {
    let _ = graph;
    Err(CompileError::Weights(format!(
        "{}: loading weights from files is not wired yet",
        path.display()
    )))
}
