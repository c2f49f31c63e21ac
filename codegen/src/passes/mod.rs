//! Graph passes over the IR, run in this order by [`optimize`]:
//! 1. [`identity`]: drop linear activations;
//! 2. [`fold_batchnorm`]: fold BatchNormalization into the preceding conv/dense;
//! 3. [`fuse_residual`]: turn `Add(a, b)` into an epilogue of `a`'s producer;
//! 4. [`fuse_relu`]: ReLU into the producer's epilogue, or into the consumers' input loads;
//! 5. [`schedule`]: a topological order that keeps the memory peak low;
//! 6. [`stream_rows`]: separable → separable → pooling chains (with a small shortcut convolution) into one step streamed by rows.

pub mod fold_batchnorm;
pub mod fuse_relu;
pub mod fuse_residual;
pub mod identity;
pub mod schedule;
pub mod stream_rows;

use crate::ir::Program;

/// Which passes run (all by default); a disabled pass leaves its pattern as separate steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassOptions {
    /// Fold BatchNormalization into convolutions.
    pub fold_batchnorm: bool,
    /// Fuse residual adds into epilogues.
    pub fuse_residual: bool,
    /// Fuse ReLU into epilogues and input loads.
    pub fuse_relu: bool,
    /// Stream separable → separable → pooling chains by rows.
    pub stream_rows: bool,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            fold_batchnorm: true,
            fuse_residual: true,
            fuse_relu: true,
            stream_rows: true,
        }
    }
}

/// Runs the passes and the scheduler.
pub fn optimize(p: &mut Program, opts: PassOptions) {
    identity::run(p);
    if opts.fold_batchnorm {
        fold_batchnorm::run(p);
    }
    if opts.fuse_residual {
        fuse_residual::run(p);
    }
    if opts.fuse_relu {
        fuse_relu::run(p);
    }
    p.gc_consts();
    schedule::run(p);
    if opts.stream_rows {
        stream_rows::run(p);
    }
}
