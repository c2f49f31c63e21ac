//! The bundled models, compiled at build time by `xcc_codegen::Builder`
//! (see `build.rs`). `#![no_std]` and without `alloc`: inference needs only
//! the caller's arena (`ARENA_BYTES`, a constant) and the embedded weights.
//!
//! ```no_run
//! use xception_generated::xception as model;
//! // A `static`, or on the heap with xcc-runtime's `alloc` feature:
//! let mut arena = model::Arena::boxed();
//! let input = [0.0f32; model::INPUT_LEN];
//! let mut probs = [0.0f32; model::OUTPUT_LEN];
//! model::infer(&mut arena, &input, &mut probs);
//! ```

#![no_std]

/// `keras.applications.Xception` (299x299x3 -> 1000, softmax), seed-42 weights by default.
pub mod xception {
    include!(concat!(env!("OUT_DIR"), "/xception.rs"));
}

/// The tiny Xception-style test model of the fixtures (32x32x3 -> 5), seed-7 weights.
pub mod tiny_xception {
    include!(concat!(env!("OUT_DIR"), "/tiny_xception.rs"));
}

/// The fer2013 mini-Xception (64x64x1 gray face -> 7 emotions, softmax) with
/// its real weights, compiled from the Keras file `emotion_model.hdf5`.
pub mod fer {
    include!(concat!(env!("OUT_DIR"), "/fer.rs"));
}

/// A small graph of awkward cases (a tensor read twice by one step, in-place
/// residuals after ReLU-on-load), seed-5 weights; tested against the interpreter.
pub mod awkward {
    include!(concat!(env!("OUT_DIR"), "/awkward.rs"));
}
