//! Generated code against the reference interpreter on graphs without Keras
//! goldens: `generated/specs/awkward.json` (one tensor read twice by a step,
//! in-place residuals, ReLU-on-load, a 7x7 → 3x3 separable → max-pool + add
//! chain streamed by rows).

use xception_generated::awkward;
use xception_spec::{detgen, interp};

#[test]
fn awkward_graph_matches_interpreter() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/awkward.json");
    let graph = xception_spec::validate(&xception_spec::from_file(path).unwrap()).unwrap();
    let weights = detgen::weights(&graph, 5);
    let x = detgen::input(&graph, 5);
    let want = interp::run(&graph, &weights, &x).unwrap();
    let mut arena = awkward::Arena::boxed();
    let mut got = [0f32; awkward::OUTPUT_LEN];
    awkward::infer(&mut arena, x.as_slice().try_into().unwrap(), &mut got);
    let d = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("awkward: max |generated - interpreter| = {d:.3e}");
    assert!(d <= 1e-6, "max diff {d}: {got:?} vs {want:?}");
}
