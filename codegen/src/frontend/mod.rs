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

/// How a model file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A JSON spec (weights come from elsewhere).
    Spec,
    /// A Keras file with a model config (and weights).
    Keras,
}

/// Tells a JSON spec from a Keras file by the first bytes (not the name).
pub fn model_kind(path: &Path) -> Result<ModelKind, CompileError> {
    use std::io::Read;
    let io = |error| CompileError::Io {
        path: path.display().to_string(),
        error,
    };
    if path.is_dir() {
        return Err(CompileError::Keras(format!(
            "{}: is a directory, not a model file",
            path.display()
        )));
    }
    let mut head = [0u8; 4096];
    let mut f = std::fs::File::open(path).map_err(io)?;
    let n = f.read(&mut head).map_err(io)?;
    let text = head[..n]
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&head[..n]);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    Ok(if first == Some(&b'{') {
        ModelKind::Spec
    } else {
        ModelKind::Keras
    })
}

/// Loads a model file: a JSON spec (no weights) or a Keras full-model file
/// (`.h5`/`.hdf5` with a config, or `.keras`) with its weights.
pub fn load_model_file(path: &Path) -> Result<(Graph, Option<WeightMap>), CompileError> {
    let shown = path.display().to_string();
    match model_kind(path)? {
        ModelKind::Spec => {
            let spec = xception_spec::from_file(path)?;
            let graph = xception_spec::validate(&spec)
                .map_err(|e| CompileError::Spec(e.in_file(&shown)))?;
            Ok((graph, None))
        }
        ModelKind::Keras => {
            let (spec, weights) =
                keras::load_model(path).map_err(|e| CompileError::Keras(e.to_string()))?;
            let graph = xception_spec::validate(&spec)
                .map_err(|e| CompileError::Spec(e.in_file(&shown)))?;
            Ok((graph, Some(weights)))
        }
    }
}

fn is_safetensors(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 9];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head[8] == b'{')
}

/// Loads the weights of `graph` from a file: `.safetensors` (recognised by
/// its header) or any Keras weights or model file (matched the way Keras'
/// `load_weights` does, by layer order). Keras name mismatches are printed as
/// warnings on stderr. Errors name the file, layer and tensor.
pub fn load_weights_file(path: &Path, graph: &Graph) -> Result<WeightMap, CompileError> {
    if is_safetensors(path) {
        let w = safetensors::read(path).map_err(|e| CompileError::Weights(e.to_string()))?;
        xception_spec::weights::check(graph, &w)
            .map_err(|e| CompileError::Weights(format!("{}: {e}", path.display())))?;
        return Ok(w);
    }
    let loaded = keras::load_weights(path, graph, keras::LoadOptions::default())
        .map_err(|e| CompileError::Keras(e.to_string()))?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded.weights)
}
