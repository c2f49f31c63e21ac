//! The build-script API, in the manner of `prost-build`:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     xcc_codegen::Builder::new("specs/xception.json")
//!         .seed(42)
//!         .target(xcc_codegen::Target::Scalar)
//!         .generate()?;
//!     Ok(())
//! }
//! // lib.rs: include!(concat!(env!("OUT_DIR"), "/xception.rs"));
//! ```
//!
//! `generate` writes `<name>.rs` and `<name>.weights.bin` into `OUT_DIR` (or
//! the directory given to [`Builder::out_dir`]) and prints
//! `cargo:rerun-if-changed` for every input file.

use std::path::{Path, PathBuf};

use xception_spec::{Graph, WeightMap};

use crate::emit::{Generated, WeightsLocation};
use crate::error::CompileError;
use crate::package::write_if_changed;
use crate::passes::PassOptions;
use crate::{compile, CompileOptions, Cpu, Target};

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsSource {
    /// The deterministic generator (`xception_spec::detgen`) with this seed.
    Synthetic {
        /// Seed (42 reproduces the fixtures' Xception goldens).
        seed: u64,
    },
    /// A weights file: safetensors, or a Keras file (`.h5`, `.hdf5`, `.weights.h5`, `.keras`).
    File(PathBuf),
}

/// Configures and runs one compilation from a build script or a tool.
#[derive(Debug, Clone)]
pub struct Builder {
    model: PathBuf,
    weights: Option<WeightsSource>,
    target: Target,
    cpu: Cpu,
    passes: PassOptions,
    out_dir: Option<PathBuf>,
    name: Option<String>,
    cargo_directives: bool,
}

/// What [`Builder::generate`] wrote.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The generated Rust source file.
    pub source_path: PathBuf,
    /// The weight blob it includes.
    pub weights_path: PathBuf,
    /// The emitted code, blob, plan and per-step facts.
    pub generated: Generated,
}

impl Builder {
    /// A builder for the model at `model`: a JSON spec or a full-model Keras
    /// file (legacy `.h5`/`.hdf5` with a config, or `.keras`). Defaults: the
    /// Keras file's own weights, or synthetic seed-42 weights for a spec;
    /// scalar target; generic CPU; all passes; output to `OUT_DIR`.
    pub fn new(model: impl AsRef<Path>) -> Self {
        Builder {
            model: model.as_ref().to_path_buf(),
            weights: None,
            target: Target::Scalar,
            cpu: Cpu::Generic,
            passes: PassOptions::default(),
            out_dir: None,
            name: None,
            cargo_directives: true,
        }
    }

    /// Where the weights come from.
    pub fn weights(mut self, w: WeightsSource) -> Self {
        self.weights = Some(w);
        self
    }

    /// Synthetic weights with this seed.
    pub fn seed(self, seed: u64) -> Self {
        self.weights(WeightsSource::Synthetic { seed })
    }

    /// Weights from a file.
    pub fn weights_file(self, path: impl AsRef<Path>) -> Self {
        self.weights(WeightsSource::File(path.as_ref().to_path_buf()))
    }

    /// The instruction set.
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }

    /// The CPU family the x86 cache blocking is tuned for (default
    /// [`Cpu::Generic`]; [`Cpu::Native`] tunes for the machine running the
    /// build script). Outputs are the same for every choice.
    pub fn cpu(mut self, cpu: Cpu) -> Self {
        self.cpu = cpu;
        self
    }

    /// Which passes run.
    pub fn passes(mut self, p: PassOptions) -> Self {
        self.passes = p;
        self
    }

    /// Writes into `dir` instead of `OUT_DIR`; the source then includes the
    /// blob by a path relative to itself.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Base name of the output files (default: the model file's stem).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default true).
    pub fn cargo_directives(mut self, on: bool) -> Self {
        self.cargo_directives = on;
        self
    }

    /// Loads the model and its weights: the validated graph and weight map.
    pub fn load(&self) -> Result<(Graph, WeightMap), CompileError> {
        let (graph, own) = crate::frontend::load_model_file(&self.model)?;
        let weights = match (&self.weights, own) {
            (Some(WeightsSource::Synthetic { seed }), _) => {
                xception_spec::detgen::weights(&graph, *seed)
            }
            (Some(WeightsSource::File(path)), _) => {
                crate::frontend::load_weights_file(path, &graph)?
            }
            (None, Some(w)) => w,
            (None, None) => xception_spec::detgen::weights(&graph, 42),
        };
        Ok((graph, weights))
    }

    /// Runs the compilation and writes the files.
    pub fn generate(self) -> Result<BuildOutput, CompileError> {
        let (graph, weights) = self.load()?;
        let (dir, location_in_out_dir) = match &self.out_dir {
            Some(d) => (d.clone(), false),
            None => (
                PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                    CompileError::Target(
                        "OUT_DIR is not set: call from a build script or set Builder::out_dir"
                            .into(),
                    )
                })?),
                true,
            ),
        };
        let name = match &self.name {
            Some(n) => n.clone(),
            None => sanitize_file_stem(&self.model),
        };
        let blob_name = format!("{name}.weights.bin");
        let opts = CompileOptions {
            target: self.target,
            cpu: self.cpu,
            passes: self.passes,
            weights_location: if location_in_out_dir {
                WeightsLocation::OutDir(blob_name.clone())
            } else {
                WeightsLocation::Relative(blob_name.clone())
            },
        };
        let generated = compile(&graph, &weights, &opts)?;
        let source_path = dir.join(format!("{name}.rs"));
        let weights_path = dir.join(&blob_name);
        write_if_changed(&source_path, generated.source.as_bytes())?;
        write_if_changed(&weights_path, &generated.weights)?;
        if self.cargo_directives {
            println!("cargo:rerun-if-changed={}", self.model.display());
            if let Some(WeightsSource::File(p)) = &self.weights {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
        Ok(BuildOutput {
            source_path,
            weights_path,
            generated,
        })
    }
}

/// A file stem made of `[A-Za-z0-9_-]` only (default output name).
fn sanitize_file_stem(p: &Path) -> String {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let s: String = stem
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "model".into()
    } else {
        s
    }
}
