//! The bootstrap test (after prost-build): the generated source of
//! tiny_xception is committed under `tests/golden/`, regenerated here and
//! compared byte for byte, so emitted code never drifts unnoticed.
//! After an intended change, regenerate with `XCC_BLESS=1 cargo test --test generated_golden`.

use std::path::PathBuf;

use xcc_codegen::emit::WeightsLocation;
use xcc_codegen::{compile, CompileOptions, Target};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(target: Target) -> xcc_codegen::emit::Generated {
    let spec =
        xception_spec::from_file(root().join("../xception-spec/specs/tiny_xception.json")).unwrap();
    let graph = xception_spec::validate(&spec).unwrap();
    let weights = xception_spec::detgen::weights(&graph, 7);
    let opts = CompileOptions {
        target,
        weights_location: WeightsLocation::OutDir("tiny_xception.weights.bin".into()),
        ..CompileOptions::default()
    };
    compile(&graph, &weights, &opts).unwrap()
}

#[test]
fn tiny_xception_scalar_source_matches_golden() {
    let g = generate(Target::Scalar);
    let path = root().join("tests/golden/tiny_xception.scalar.rs");
    if std::env::var_os("XCC_BLESS").is_some() {
        std::fs::write(&path, &g.source).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    if golden != g.source {
        let line = golden
            .lines()
            .zip(g.source.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| golden.lines().count().min(g.source.lines().count()));
        panic!(
            "generated source differs from {} at line {} (rerun with XCC_BLESS=1 if intended)",
            path.display(),
            line + 1
        );
    }
}

#[test]
fn emission_is_deterministic() {
    let a = generate(Target::Scalar);
    let b = generate(Target::Scalar);
    assert_eq!(a.source, b.source);
    assert_eq!(a.weights, b.weights);
    assert_eq!(a.weights.len() % 64, 0);
}
