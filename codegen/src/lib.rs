//! `xcc`: an ahead-of-time compiler from a CNN layer-graph spec (Xception
//! first) to shape-fixed Rust.
//!
//! The stages, one module each: [`frontend`] (spec or Keras file into the
//! [`ir`]), [`passes`] (BatchNorm folding, residual and ReLU fusion,
//! scheduling), [`plan`] (liveness-based arena layout), [`backends`]
//! (per-ISA kernel libraries and calls) and [`emit`] (Rust source and weight
//! blob). [`Builder`] drives them from a `build.rs`, the `xcc` binary from
//! the command line.

pub mod backends;
pub mod builder;
pub mod emit;
pub mod error;
pub mod exec;
pub mod frontend;
pub mod ir;
pub mod package;
pub mod passes;
pub mod plan;
#[cfg(feature = "cli")]
pub mod tensor_io;

pub use backends::{Cpu, Target};
pub use builder::{Builder, WeightsSource};
pub use error::CompileError;

use xception_spec::{Graph, WeightMap};

/// Options of one compilation.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Instruction set.
    pub target: Target,
    /// CPU family the x86 cache blocking is tuned for.
    pub cpu: Cpu,
    /// Which passes run.
    pub passes: passes::PassOptions,
    /// How the generated source includes its weight blob.
    pub weights_location: emit::WeightsLocation,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            target: Target::Scalar,
            cpu: Cpu::Generic,
            passes: passes::PassOptions::default(),
            weights_location: emit::WeightsLocation::Relative("weights.bin".into()),
        }
    }
}

/// Lowers and optimises a graph: the IR the backends see.
pub fn optimize(
    graph: &Graph,
    weights: &WeightMap,
    passes: passes::PassOptions,
) -> Result<ir::Program, CompileError> {
    let mut p = frontend::lower::lower(graph, weights)?;
    passes::optimize(&mut p, passes);
    Ok(p)
}

/// Compiles a validated graph with its weights into Rust source and a weight blob.
pub fn compile(
    graph: &Graph,
    weights: &WeightMap,
    opts: &CompileOptions,
) -> Result<emit::Generated, CompileError> {
    let p = optimize(graph, weights, opts.passes)?;
    emit::emit(&p, &*opts.target.backend(opts.cpu), &opts.weights_location)
}
