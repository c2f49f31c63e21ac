//! Inference allocates nothing: a counting global allocator sees zero
//! allocations (and zero bytes) during `infer` of both bundled models.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use xception_generated::{tiny_xception, xception};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        BYTES.fetch_add(new_size, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted(f: impl FnOnce()) -> (usize, usize) {
    let (a0, b0) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    f();
    (
        ALLOCS.load(Ordering::SeqCst) - a0,
        BYTES.load(Ordering::SeqCst) - b0,
    )
}

// One test function: the counters are global, and tests in one binary run in parallel.
#[test]
fn inference_allocates_nothing() {
    let mut tiny_arena = tiny_xception::Arena::boxed();
    let tiny_in = vec![0.25f32; tiny_xception::INPUT_LEN];
    let tiny_in: &[f32; tiny_xception::INPUT_LEN] = tiny_in.as_slice().try_into().unwrap();
    let mut tiny_out = [0f32; tiny_xception::OUTPUT_LEN];
    let (n, bytes) = counted(|| tiny_xception::infer(&mut tiny_arena, tiny_in, &mut tiny_out));
    assert_eq!((n, bytes), (0, 0), "tiny_xception inference allocated");
    assert!(
        (tiny_out.iter().sum::<f32>() - 1.0).abs() < 1e-5,
        "softmax output sums to 1"
    );

    let mut arena = xception::Arena::boxed();
    let x = vec![0.5f32; xception::INPUT_LEN];
    let x: &[f32; xception::INPUT_LEN] = x.as_slice().try_into().unwrap();
    let mut out = vec![0f32; xception::OUTPUT_LEN];
    let out: &mut [f32; xception::OUTPUT_LEN] = out.as_mut_slice().try_into().unwrap();
    let (n, bytes) = counted(|| xception::infer(&mut arena, x, out));
    assert_eq!((n, bytes), (0, 0), "xception inference allocated");
    assert!(out.iter().all(|v| v.is_finite()));
}
