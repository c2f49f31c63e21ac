//! The build-time generated models against Keras 3.15 goldens
//! (`xception-spec/fixtures/*_reference.json`).

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::{f64s, fixture, max_abs_diff, top_k};
use xception_generated::{fer, tiny_xception, xception};
use xception_spec::detgen;

#[test]
fn tiny_xception_matches_keras_within_1e6() {
    let r = fixture("tiny_xception_reference.json");
    let x = detgen::generate("input", tiny_xception::INPUT_LEN, 0.0, 1.0, 7);
    let mut arena = tiny_xception::Arena::boxed();
    let mut probs = [0f32; tiny_xception::OUTPUT_LEN];
    tiny_xception::infer(&mut arena, x.as_slice().try_into().unwrap(), &mut probs);
    let want = f64s(&r["probs"]);
    let d = max_abs_diff(&probs, &want);
    println!("tiny_xception: max |prob - keras| = {d:.3e}");
    assert!(d <= 1e-6, "max diff {d}");
    assert_eq!(top_k(&probs.map(f64::from), 1), top_k(&want, 1));
}

#[test]
fn xception_seed42_matches_keras_logits_and_probs() {
    let r = fixture("xception_seed42_reference.json");
    let x = detgen::generate("input", xception::INPUT_LEN, 0.0, 1.0, 42);
    let input: &[f32; xception::INPUT_LEN] = x.as_slice().try_into().unwrap();
    let mut arena = xception::Arena::boxed();
    // Logits: the output of the `predictions` Dense step, read before the softmax step runs.
    let dense = xception::STEP_NAMES
        .iter()
        .position(|n| *n == "predictions")
        .expect("predictions step");
    for i in 0..=dense {
        xception::run_step(i, &mut arena, input);
    }
    let logits = xception::step_output(&arena, dense).to_vec();
    let want_logits = f64s(&r["logits_f32"]);
    let d = max_abs_diff(&logits, &want_logits);
    println!("xception: max |logit - keras| = {d:.3e}");
    assert!(d <= 1e-5, "max logit diff {d}");
    let ours = top_k(&logits.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), 5);
    let keras: Vec<usize> = r["top5"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["index"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(ours, keras);

    // The rest of the model from there: the same as `infer`, without running
    // the whole network a second time.
    for i in dense + 1..xception::STEPS {
        xception::run_step(i, &mut arena, input);
    }
    let mut probs = [0f32; xception::OUTPUT_LEN];
    xception::read_output(&arena, &mut probs);
    let dp = max_abs_diff(&probs, &f64s(&r["probs"]));
    println!("xception: max |prob - keras| = {dp:.3e}");
    assert!(dp <= 1e-6, "max prob diff {dp}");
}

#[test]
fn fer_matches_keras_within_1e6() {
    let r = fixture("fer_keras_reference.json");
    let case = &r["inputs"][1];
    assert_eq!(case["id"], "detgen_input_seed42");
    let x = detgen::generate("input", fer::INPUT_LEN, 0.0, 1.0, 42);
    let first8: Vec<f32> = f64s(&case["input_stats"]["first8"])
        .iter()
        .map(|&v| v as f32)
        .collect();
    assert_eq!(first8, x[..8], "the reference's input");
    let mut arena = fer::Arena::boxed();
    let mut probs = [0f32; fer::OUTPUT_LEN];
    // `try_infer`: the same model run, or the CPU error instead of a panic.
    let ran = fer::try_infer(&mut arena, x.as_slice().try_into().unwrap(), &mut probs);
    if !fer::cpu_supported() {
        let want = xcc_runtime::UnsupportedCpu {
            target: fer::TARGET,
        };
        assert_eq!(ran, Err(want));
        assert!(probs.iter().all(|&p| p == 0.0), "output untouched");
        return;
    }
    assert_eq!(ran, Ok(()));
    let want = f64s(&case["probs"]);
    let d = max_abs_diff(&probs, &want);
    println!("fer: max |prob - keras| = {d:.3e}");
    assert!(d <= 1e-6, "max diff {d}");
    let top1 = case["top1"].as_u64().unwrap() as usize;
    assert_eq!(top_k(&probs.map(f64::from), 1), [top1]);
}
