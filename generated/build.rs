//! Compiles the bundled models with the xcc Builder (the prost-build recipe).
//!
//! - `xception`: `xception-spec/specs/xception.json`, weights from the file named by
//!   `XCC_XCEPTION_WEIGHTS` (safetensors or Keras) or else synthetic seed 42;
//! - `tiny_xception`: `xception-spec/specs/tiny_xception.json`, synthetic seed 7;
//! - `fer`: the fer2013 mini-Xception with its real weights, straight from the
//!   Keras file `xception-spec/fixtures/emotion_model.hdf5`;
//! - `awkward`: `generated/specs/awkward.json`, synthetic seed 5: steps that read
//!   one tensor twice, in-place residuals, two 17-channel 3x3 convolutions
//!   with residuals (Winograd on AVX2 and AVX-512), and a 7x7 → 3x3 separable →
//!   max-pool + add chain streamed by rows (NEON runs its 49-tap stage with
//!   the scalar kernel, so that chain goes stage by stage there), checked
//!   against the interpreter.
//!
//! `XCC_TARGET` picks the instruction set (default `scalar`), `XCC_CPU` the
//! CPU family the x86 blocking is tuned for (default `generic`).

use std::path::Path;
use std::process::ExitCode;

use xcc_codegen::{Builder, Cpu, Target};

fn main() -> ExitCode {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xception-spec/specs");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xception-spec/fixtures");
    println!("cargo:rerun-if-env-changed=XCC_XCEPTION_WEIGHTS");
    println!("cargo:rerun-if-env-changed=XCC_TARGET");
    println!("cargo:rerun-if-env-changed=XCC_CPU");
    let target_name = std::env::var("XCC_TARGET").unwrap_or_else(|_| "scalar".into());
    let Some(target) = Target::parse(&target_name) else {
        eprintln!("error: XCC_TARGET={target_name:?} is not a known target");
        return ExitCode::FAILURE;
    };
    let cpu_name = std::env::var("XCC_CPU").unwrap_or_else(|_| "generic".into());
    let Some(cpu) = Cpu::parse(&cpu_name) else {
        eprintln!("error: XCC_CPU={cpu_name:?} is not a known CPU family");
        return ExitCode::FAILURE;
    };
    let mut xception = Builder::new(specs.join("xception.json")).name("xception");
    xception = match std::env::var_os("XCC_XCEPTION_WEIGHTS") {
        Some(p) => xception.weights_file(p),
        None => xception.seed(42),
    };
    let tiny = Builder::new(specs.join("tiny_xception.json"))
        .name("tiny_xception")
        .seed(7);
    let fer = Builder::new(fixtures.join("emotion_model.hdf5")).name("fer");
    let awkward = Builder::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/awkward.json"))
        .name("awkward")
        .seed(5);
    for b in [xception, tiny, fer, awkward] {
        if let Err(e) = b.target(target).cpu(cpu).generate() {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
