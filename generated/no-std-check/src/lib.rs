//! A `#![no_std]` crate with no `alloc`: if the generated models or the
//! runtime needed either, this crate would not compile. The arena lives in a
//! `static`, as on a microcontroller.

#![no_std]

use core::sync::atomic::{AtomicBool, Ordering};

use xception_generated::tiny_xception as model;

static mut ARENA: model::Arena = model::Arena::new();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Runs the tiny model on `input` with the static arena; `false` if the arena is in use.
pub fn classify(input: &[f32; model::INPUT_LEN], probs: &mut [f32; model::OUTPUT_LEN]) -> bool {
    if TAKEN.swap(true, Ordering::Acquire) {
        return false;
    }
    // SAFETY: the `TAKEN` flag makes this the only live reference to ARENA.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    model::infer(arena, input, probs);
    TAKEN.store(false, Ordering::Release);
    true
}
