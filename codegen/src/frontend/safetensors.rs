//! Weight maps as `.safetensors` files: one little-endian F32 tensor per weight
//! variable, named `<layer>/<variable>`, in the Keras layouts of the spec (e.g.
//! conv kernels `[kh, kw, cin, filters]`). `xcc import` writes them so that later
//! runs need not read Keras files again.
//!
//! Reading does not check the tensors against a spec; use
//! [`crate::frontend::keras::check_weights`] for that.

use std::fmt;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use xception_spec::{Tensor, WeightMap};

/// Largest `.safetensors` file read (4 GiB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// A problem reading or writing a `.safetensors` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsError {
    /// The file (or `<memory>` for byte buffers).
    pub file: String,
    /// The tensor concerned, when there is one.
    pub tensor: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl SafetensorsError {
    fn new(file: &str, message: impl Into<String>) -> Self {
        SafetensorsError {
            file: file.to_string(),
            tensor: None,
            message: message.into(),
        }
    }

    fn in_tensor(mut self, tensor: &str) -> Self {
        self.tensor = Some(tensor.to_string());
        self
    }
}

impl fmt::Display for SafetensorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(t) = &self.tensor {
            write!(f, "tensor '{}': ", t.escape_debug())?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SafetensorsError {}

/// Serialises a weight map (F32, little-endian).
pub fn to_bytes(weights: &WeightMap) -> Result<Vec<u8>, SafetensorsError> {
    serialize(weights, "<memory>")
}

fn serialize(weights: &WeightMap, shown: &str) -> Result<Vec<u8>, SafetensorsError> {
    let bytes: Vec<(&str, &Tensor, Vec<u8>)> = weights
        .iter()
        .map(|(name, t)| {
            let data = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.as_str(), t, data)
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, t, data) in &bytes {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), data).map_err(|e| {
            SafetensorsError::new(
                shown,
                format!(
                    "{} values do not fill shape {:?}: {e}",
                    t.data.len(),
                    t.shape
                ),
            )
            .in_tensor(name)
        })?;
        views.push((*name, view));
    }
    safetensors::serialize(views, &None)
        .map_err(|e| SafetensorsError::new(shown, format!("cannot serialise: {e}")))
}

/// Writes a weight map to a `.safetensors` file.
pub fn write(path: impl AsRef<Path>, weights: &WeightMap) -> Result<(), SafetensorsError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let bytes = serialize(weights, &shown)?;
    std::fs::write(path, bytes)
        .map_err(|e| SafetensorsError::new(&shown, format!("cannot write: {e}")))
}

/// Parses a `.safetensors` buffer; every tensor must be F32. `shown` names the
/// buffer in errors.
pub fn from_bytes(bytes: &[u8], shown: &str) -> Result<WeightMap, SafetensorsError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        SafetensorsError::new(
            shown,
            format!("not a valid .safetensors file (corrupt or truncated?): {e}"),
        )
    })?;
    let mut weights = WeightMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(SafetensorsError::new(
                shown,
                format!("dtype {:?} is not supported (only F32)", view.dtype()),
            )
            .in_tensor(&name));
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        weights.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(weights)
}

/// Reads a `.safetensors` file written by [`write()`] (or any with only F32 tensors).
pub fn read(path: impl AsRef<Path>) -> Result<WeightMap, SafetensorsError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| SafetensorsError::new(&shown, format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(SafetensorsError::new(
            &shown,
            "is a directory, not a .safetensors file",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(SafetensorsError::new(
            &shown,
            format!(
                "file is {} bytes, more than the {MAX_FILE_BYTES} accepted",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| SafetensorsError::new(&shown, format!("cannot read: {e}")))?;
    from_bytes(&bytes, &shown)
}
