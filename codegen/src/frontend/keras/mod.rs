//! The Keras frontend: Keras model and weight files to a [`Spec`] and a [`WeightMap`].
//!
//! Four file formats are read:
//!
//! - **legacy full-model HDF5** (`model.save("x.h5")` in Keras 2, or Keras 3's legacy
//!   writer): root attribute `model_config` (the model's JSON config) and group
//!   `model_weights` laid out as below;
//! - **legacy weights-only HDF5** (`model.save_weights("x.h5")` in Keras 2, e.g. the
//!   official `xception_weights_tf_dim_ordering_tf_kernels.h5`): root attribute
//!   `layer_names`, one group per layer with attribute `weight_names` listing the
//!   datasets (relative to the layer group) in weight order;
//! - **Keras 3 weights** (`model.save_weights("x.weights.h5")`): datasets
//!   `layers/<group>/vars/<i>` where `<group>` is derived from the layer *class*
//!   (`conv2d`, `conv2d_1`, ... in the order of `model.layers`), not the layer name;
//! - **Keras 3 archives** (`model.save("x.keras")`): a zip holding `config.json` and
//!   `model.weights.h5` (Keras 3 weights layout).
//!
//! Files are read into memory whole and handed to `hdf5-reader` as bytes (no memory
//! map, so a file changing underneath cannot fault the process). Every error names
//! the file and, where there is one, the layer and the weight tensor.

mod archive;
mod config;
mod h5;
mod weights;

use std::fmt;
use std::path::Path;

use xception_spec::{Graph, Spec, WeightMap};

pub use config::spec_from_config;
pub use weights::check_weights;

/// Largest model or weights file accepted: 4 GiB (Keras Xception is 88 MB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// A problem with a Keras file: what is wrong, in which file, layer and tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerasError {
    /// The file as given by the caller (for `.keras` archives, with the member).
    pub file: String,
    /// The layer concerned, when there is one.
    pub layer: Option<String>,
    /// The weight tensor concerned (`<layer>/<variable>` or its path in the file).
    pub tensor: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl KerasError {
    pub(crate) fn new(file: &str, message: impl Into<String>) -> Self {
        KerasError {
            file: file.to_string(),
            layer: None,
            tensor: None,
            message: message.into(),
        }
    }

    pub(crate) fn in_layer(mut self, layer: &str) -> Self {
        self.layer = Some(layer.to_string());
        self
    }

    pub(crate) fn in_tensor(mut self, tensor: &str) -> Self {
        self.tensor = Some(tensor.to_string());
        self
    }
}

impl fmt::Display for KerasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(layer) = &self.layer {
            write!(f, "layer '{}': ", layer.escape_debug())?;
        }
        if let Some(tensor) = &self.tensor {
            write!(f, "tensor '{}': ", tensor.escape_debug())?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for KerasError {}

/// The kind of a Keras file, as recognised from its contents (never its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// HDF5 with a `model_config` root attribute and a `model_weights` group.
    LegacyModelH5,
    /// HDF5 with a `layer_names` root attribute (Keras 2 `save_weights`).
    LegacyWeightsH5,
    /// HDF5 with a `layers/<group>/vars/<i>` tree (Keras 3 `save_weights`).
    Keras3WeightsH5,
    /// A zip archive with `config.json` and `model.weights.h5` (Keras 3 `save`).
    KerasArchive,
}

impl Format {
    /// Whether the file holds a model config (and so can go to [`load_model`]).
    pub fn has_config(self) -> bool {
        matches!(self, Format::LegacyModelH5 | Format::KerasArchive)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::LegacyModelH5 => "legacy Keras full-model HDF5 file",
            Format::LegacyWeightsH5 => "legacy Keras weights-only HDF5 file",
            Format::Keras3WeightsH5 => "Keras 3 .weights.h5 file",
            Format::KerasArchive => "Keras 3 .keras archive",
        })
    }
}

/// How weight-file layers are matched to the spec's layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `false` (the default, as Keras `load_weights`): the i-th layer with weights in
    /// the file goes to the i-th layer with weights in the spec (spec layer order);
    /// differing layer names become warnings. `true`: layers are matched by name
    /// (for Keras 3 files by the `name` attribute newer Keras versions store); file
    /// layers no spec layer asks for become warnings.
    pub by_name: bool,
}

/// Weights read from a file, and what the reader noticed without failing.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedWeights {
    /// Every weight variable of the graph, checked: right shapes, finite values.
    pub weights: WeightMap,
    /// Things worth telling the user, e.g. layers matched by order whose names differ.
    pub warnings: Vec<String>,
}

/// Recognises a Keras file from its contents.
pub fn detect_format(path: impl AsRef<Path>) -> Result<Format, KerasError> {
    let (shown, bytes) = read_file(path.as_ref())?;
    guarded(&shown, || Ok(open(&shown, bytes)?.format()))
}

/// Reads a full model (legacy `.h5` with a config, or a `.keras` archive): the
/// model config becomes a validated [`Spec`] and the weights are read, matched by
/// layer name and checked against it.
pub fn load_model(path: impl AsRef<Path>) -> Result<(Spec, WeightMap), KerasError> {
    let (shown, bytes) = read_file(path.as_ref())?;
    guarded(&shown, || match open(&shown, bytes)? {
        Opened::Archive(a) => {
            let graph = config::convert(&a.config, &a.config_name)?;
            let file = h5::open(&a.weights_name, a.weights)?;
            let loaded = weights::load_keras3(&file, &a.weights_name, &graph, weights::FULL_MODEL)?;
            Ok((graph.spec, loaded.weights))
        }
        Opened::H5(file, Format::LegacyModelH5) => {
            let text = h5::root_string_attr(&file, "model_config")
                .map_err(|e| KerasError::new(&shown, e))?
                .ok_or_else(|| {
                    KerasError::new(
                        &shown,
                        "this legacy model file has a `model_weights` group but no \
                         `model_config` attribute (saved without its config?): read it with \
                         load_weights and a spec",
                    )
                })?;
            let graph = config::convert(&text, &shown)?;
            let loaded = weights::load_legacy(&file, true, &shown, &graph, weights::FULL_MODEL)?;
            Ok((graph.spec, loaded.weights))
        }
        Opened::H5(_, format) => Err(KerasError::new(
            &shown,
            format!(
                "this is a {format}: it holds weights but no model config; \
                 load it with load_weights and a spec"
            ),
        )),
    })
}

/// Reads the weights of `graph` from a weights-only file (legacy `.h5` or Keras 3
/// `.weights.h5`) or from the weights inside a full model file, and checks them:
/// every variable present, right shape, finite values; errors name the file, the
/// layer and the tensor.
pub fn load_weights(
    path: impl AsRef<Path>,
    graph: &Graph,
    options: LoadOptions,
) -> Result<LoadedWeights, KerasError> {
    let (shown, bytes) = read_file(path.as_ref())?;
    let policy = weights::Policy {
        by_name: options.by_name,
        extra_is_error: !options.by_name,
    };
    guarded(&shown, || match open(&shown, bytes)? {
        Opened::Archive(a) => {
            let file = h5::open(&a.weights_name, a.weights)?;
            weights::load_keras3(&file, &a.weights_name, graph, policy)
        }
        Opened::H5(file, Format::Keras3WeightsH5) => {
            weights::load_keras3(&file, &shown, graph, policy)
        }
        Opened::H5(file, format) => weights::load_legacy(
            &file,
            format == Format::LegacyModelH5,
            &shown,
            graph,
            policy,
        ),
    })
}

/// An opened file: a `.keras` archive's members, or an HDF5 file and its kind.
enum Opened {
    Archive(archive::Archive),
    H5(hdf5_reader::Hdf5File, Format),
}

impl Opened {
    fn format(&self) -> Format {
        match self {
            Opened::Archive(_) => Format::KerasArchive,
            Opened::H5(_, format) => *format,
        }
    }
}

/// Reads a whole file, refusing directories, empty and oversized files.
fn read_file(path: &Path) -> Result<(String, Vec<u8>), KerasError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| KerasError::new(&shown, format!("cannot read file: {e}")))?;
    if meta.is_dir() {
        let hint = if path.join("saved_model.pb").exists() {
            " (a TensorFlow SavedModel, which is not supported: save the model with \
             model.save(\"x.keras\") or model.save(\"x.h5\"))"
        } else {
            ""
        };
        return Err(KerasError::new(
            &shown,
            format!("is a directory, not a Keras model or weights file{hint}"),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(KerasError::new(
            &shown,
            format!(
                "file is {} bytes, more than the {MAX_FILE_BYTES} accepted",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| KerasError::new(&shown, format!("cannot read file: {e}")))?;
    if bytes.is_empty() {
        return Err(KerasError::new(
            &shown,
            "file is empty (0 bytes), not a Keras model or weights file",
        ));
    }
    Ok((shown, bytes))
}

/// Recognises and opens a file's bytes.
fn open(shown: &str, bytes: Vec<u8>) -> Result<Opened, KerasError> {
    if archive::is_zip(&bytes) {
        return Ok(Opened::Archive(archive::read(shown, &bytes)?));
    }
    if h5::has_signature(&bytes) {
        let file = h5::open(shown, bytes)?;
        let format = h5::classify(&file).map_err(|e| KerasError::new(shown, e))?;
        return Ok(Opened::H5(file, format));
    }
    if bytes.len() < 8 && (h5::SIGNATURE.starts_with(&bytes) || b"PK\x03\x04".starts_with(&bytes)) {
        return Err(KerasError::new(
            shown,
            format!(
                "file is truncated: its {} bytes are the start of an HDF5 or zip signature",
                bytes.len()
            ),
        ));
    }
    let head: String = bytes
        .iter()
        .take(16)
        .map(|b| std::ascii::escape_default(*b).to_string())
        .collect();
    let hint = if bytes.first() == Some(&b'{') {
        " (it looks like JSON: a Keras config.json alone has no weights, and a spec \
         JSON is not a Keras file)"
    } else {
        ""
    };
    Err(KerasError::new(
        shown,
        format!(
            "not a Keras file: neither HDF5 (no HDF5 signature) nor a .keras zip archive; \
             it starts with \"{head}\"{hint}"
        ),
    ))
}

/// Runs `f`, turning a panic inside it into an error about the file.
///
/// `hdf5-reader` bounds-checks its reads and is fuzzed, and the frontend checks what
/// it can before calling it (signature, end-of-file address, shapes before reads), but
/// a panic on some malformed file cannot be ruled out in a third-party decoder; this is
/// the last resort so that a corrupt file is an error, never a crash. (The default panic
/// hook still prints the panic message to stderr.)
fn guarded<T>(shown: &str, f: impl FnOnce() -> Result<T, KerasError>) -> Result<T, KerasError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(KerasError::new(
            shown,
            format!("the file is corrupt: the HDF5 decoder failed on it ({what})"),
        ))
    })
}
