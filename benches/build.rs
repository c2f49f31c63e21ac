//! Compiles the models that `benches/models.rs` times, once per x86 backend
//! (scalar, AVX2, AVX-512), with the xcc Builder:
//!
//! - `xception_*`: `xception-spec/specs/xception.json` with the seed-42 weights;
//! - `fer_*`: the fer2013 mini-Xception from its Keras file.
//!
//! Only the `models` bench target includes them; other targets of this
//! package compile none of the generated code.

use std::path::Path;
use std::process::ExitCode;

use xcc_codegen::{Builder, Target};

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec = root.join("xception-spec/specs/xception.json");
    let fer = root.join("xception-spec/fixtures/emotion_model.hdf5");
    for (suffix, target) in [
        ("scalar", Target::Scalar),
        ("avx2", Target::Avx2),
        ("avx512", Target::Avx512),
    ] {
        let builders = [
            Builder::new(&spec)
                .name(format!("xception_{suffix}"))
                .seed(42)
                .target(target),
            Builder::new(&fer)
                .name(format!("fer_{suffix}"))
                .target(target),
        ];
        for b in builders {
            if let Err(e) = b.generate() {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
