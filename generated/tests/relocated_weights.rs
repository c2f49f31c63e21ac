//! `relocate_weights`: a model run on a copy of its weights (here on huge
//! pages, as the `xcc` runner does) gives bit-identical results, and a
//! buffer of the wrong length is refused (one test: the relocation is global
//! to each model and one-way); and the huge-page buffers themselves.

use xcc_runtime::huge_pages::leak_zeroed_f32;
use xcc_runtime::WeightsLen;
use xception_generated::{fer, xception};

/// Runs a generated model module on `input`, returning the output.
macro_rules! run {
    ($m:ident, $input:expr) => {{
        let mut arena = $m::Arena::boxed();
        let input: &[f32; $m::INPUT_LEN] = $input.as_slice().try_into().unwrap();
        let mut out = vec![0f32; $m::OUTPUT_LEN];
        let out_arr: &mut [f32; $m::OUTPUT_LEN] = out.as_mut_slice().try_into().unwrap();
        $m::infer(&mut arena, input, out_arr);
        out
    }};
}

/// Deterministic inputs in [-1, 1).
fn input(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn relocated_weights_give_identical_results() {
    let short = leak_zeroed_f32(fer::WEIGHT_FLOATS - 1);
    assert_eq!(
        fer::relocate_weights(short),
        Err(WeightsLen {
            expected: fer::WEIGHT_FLOATS,
            got: fer::WEIGHT_FLOATS - 1
        })
    );

    let (fx, xx) = (input(fer::INPUT_LEN), input(xception::INPUT_LEN));
    let (fer_static, x_static) = (run!(fer, fx), run!(xception, xx));
    fer::relocate_weights(leak_zeroed_f32(fer::WEIGHT_FLOATS)).unwrap();
    xception::relocate_weights(leak_zeroed_f32(xception::WEIGHT_FLOATS)).unwrap();
    assert_eq!(bits(&run!(fer, fx)), bits(&fer_static), "fer");
    assert_eq!(bits(&run!(xception, xx)), bits(&x_static), "xception");
}

#[test]
fn huge_page_buffers_are_zeroed_and_aligned() {
    assert!(leak_zeroed_f32(0).is_empty());
    let b = leak_zeroed_f32(3 << 20);
    assert_eq!(b.len(), 3 << 20);
    assert!(b.iter().all(|&x| x == 0.0));
    if cfg!(target_os = "linux") {
        assert_eq!(b.as_ptr() as usize % (2 << 20), 0, "starts on a huge page");
    }
    b[b.len() - 1] = 1.0;
}
