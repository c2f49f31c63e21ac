//! The middle flow's pointwise GEMM and fused separable convolution against
//! the FP32 peak, interleaved: on a shared machine whose other tenant moves
//! timings by 20% from second to second, criterion's one-case-after-another
//! samples compare different minutes. Here every round times each case of an
//! instruction set once, the order rotated round by round, and a case's share
//! of the peak is the median over rounds of its rate against the peak loop's
//! rate in the same round (paired). The blockings are what the x86 backend
//! emits ([`Blocking::GENERIC`], [`Blocking::INTEL_AVX512`]). As in the
//! model, the cases of an instruction set share one input image (in cache
//! from call to call, like the previous step's output) and their weights
//! rotate through copies larger than L2 together, on huge pages as in the
//! `xcc` runner; AVX-512 and AVX2 run one after the other, not mixed.
//!
//! `cargo bench -p xcc-benches --bench interleaved [-- ROUNDS]` (default 200)

use std::hint::black_box;
use std::time::Instant;
use xcc_benches::{aligned_data, data, peak, supported, Aligned, MIDDLE};
use xcc_codegen::backends::kernels::scalar::{Epilogue, Residual, Window};
use xcc_codegen::backends::kernels::{avx2, avx512, x86};
use xcc_codegen::backends::x86::{pack_depthwise, pack_gemm, pad_lanes, separable_rows, Blocking};
use xcc_runtime::huge_pages::leak_zeroed_f32;

/// Pixels and channels of the middle flow.
const PX: usize = MIDDLE.oh * MIDDLE.ow;
const CH: usize = MIDDLE.c;

/// Copies of the pointwise weights (2.1 MiB each) the calls rotate through.
const WEIGHT_COPIES: usize = 4;

/// Peak-loop calls per timed sample (a few milliseconds, like the others).
const PEAK_CALLS: usize = 100;

/// The separable's epilogue in the model: ReLU on the depthwise input, bias
/// and ReLU on the output.
const SEP_EP: Epilogue = Epilogue {
    relu_in: true,
    bias: true,
    residual: Residual::None,
    relu: true,
};

/// The GEMM alone: bias and ReLU.
const GEMM_EP: Epilogue = Epilogue {
    relu_in: false,
    bias: true,
    residual: Residual::None,
    relu: true,
};

/// The operands: the kernels' window, input image, depthwise weights,
/// pointwise weight copies, bias, scratch and output.
struct Operands {
    window: Window,
    x: Aligned,
    dw: Aligned,
    pw: Vec<&'static [f32]>,
    bias: Aligned,
    scratch: Aligned,
    y: Aligned,
    next: usize,
}

impl Operands {
    fn new(nv: usize, lanes: usize) -> Self {
        let packed = pack_gemm(&data(CH * CH, 3), CH, CH, nv, lanes);
        Operands {
            window: MIDDLE.window(),
            x: aligned_data(PX * CH, 1),
            dw: Aligned::from_slice(&pack_depthwise(&data(9 * CH, 2), 9, CH, lanes)),
            pw: (0..WEIGHT_COPIES)
                .map(|_| {
                    let copy = leak_zeroed_f32(packed.len());
                    copy.copy_from_slice(&packed);
                    &*copy
                })
                .collect(),
            bias: Aligned::from_slice(&pad_lanes(&data(CH, 4), lanes)),
            scratch: Aligned::zeroed(PX * CH.div_ceil(lanes) * lanes),
            y: Aligned::zeroed(PX * CH),
            next: 0,
        }
    }

    /// The next copy of the pointwise weights.
    fn weights(&mut self) -> usize {
        self.next = (self.next + 1) % WEIGHT_COPIES;
        self.next
    }
}

/// What a case runs.
#[derive(Clone, Copy)]
enum Kernel {
    /// [`PEAK_CALLS`] calls of the peak loop.
    Peak,
    /// The GEMM alone with `k` blocks of `kc`.
    Gemm { kc: usize },
    /// The fused separable with blocks of `rows` rows and `k` blocks of `kc`.
    Separable { rows: usize, kc: usize },
}

/// One timed case: its name, FLOPs per call and kernel.
struct Case {
    name: String,
    flops: f64,
    kernel: Kernel,
}

/// The middle flow's fused separable convolution and its GEMM alone, on one
/// instruction set with an `MR x NV` tile.
macro_rules! isa_kernels {
    ($separable:ident, $gemm:ident, $isa:ty, $feat:literal, $mr:literal, $nv:literal) => {
        #[target_feature(enable = $feat)]
        unsafe fn $separable(rows: usize, kc: usize, o: &mut Operands) {
            let p = o.weights();
            // SAFETY: the caller checked the CPU.
            unsafe {
                x86::separable::<$isa, $mr, $nv, 3, 3>(
                    &o.window,
                    CH,
                    (rows, kc),
                    &SEP_EP,
                    &o.x,
                    &o.dw,
                    o.pw[p],
                    &o.bias,
                    &[],
                    &mut o.scratch,
                    &mut o.y,
                )
            }
        }

        #[target_feature(enable = $feat)]
        unsafe fn $gemm(kc: usize, o: &mut Operands) {
            let p = o.weights();
            // SAFETY: the caller checked the CPU.
            unsafe {
                x86::dense::<$isa, $mr, $nv>(
                    CH,
                    CH,
                    kc,
                    &GEMM_EP,
                    &o.x,
                    o.pw[p],
                    &o.bias,
                    &[],
                    &mut o.y,
                )
            }
        }
    };
}

isa_kernels!(
    separable512,
    gemm512,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    6,
    4
);
isa_kernels!(separable2, gemm2, avx2::Avx2, "avx2,fma", 6, 2);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The cases of one instruction set: the peak loop first, then the GEMM and
/// the separable with each blocking.
fn cases(isa: &str, lanes: usize, blockings: &[(&str, Blocking)], tile: &str) -> Vec<Case> {
    let mut cases = vec![Case {
        name: format!("peak loop {isa}"),
        flops: (PEAK_CALLS as u64 * peak::flops(lanes)) as f64,
        kernel: Kernel::Peak,
    }];
    for &(label, b) in blockings {
        let (rows, kc) = (separable_rows(&MIDDLE, &b), b.gemm_kc);
        cases.push(Case {
            name: format!("pointwise {isa} {tile} kc {kc} ({label})"),
            flops: (2 * PX * CH * CH) as f64,
            kernel: Kernel::Gemm { kc },
        });
        cases.push(Case {
            name: format!("separable {isa} rows {rows} kc {kc} ({label})"),
            flops: (2 * PX * CH * (CH + 9)) as f64,
            kernel: Kernel::Separable { rows, kc },
        });
    }
    cases
}

/// Times `rounds` rounds of `cases` (two warm-up rounds first), the order
/// rotated, with `run`; prints each case's median time, rate and median
/// share of the peak loop (case 0) in the same round.
fn measure(rounds: usize, cases: &[Case], mut run: impl FnMut(Kernel)) {
    let n = cases.len();
    let mut secs = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds + 2 {
        for j in 0..n {
            let i = (j + r) % n;
            let t = Instant::now();
            run(cases[i].kernel);
            let e = t.elapsed().as_secs_f64();
            if r >= 2 {
                secs[i].push(e);
            }
        }
    }
    for (i, c) in cases.iter().enumerate() {
        let mut share: Vec<f64> = secs[i]
            .iter()
            .zip(&secs[0])
            .map(|(s, ps)| (c.flops / s) / (cases[0].flops / ps))
            .collect();
        let m = median(&mut secs[i].clone());
        println!(
            "{:<44} {:>10.1} {:>9.1} {:>12.1}%",
            c.name,
            m * 1e6,
            c.flops / m / 1e9,
            100.0 * median(&mut share)
        );
    }
}

fn main() {
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(200)
        .max(3);
    println!("{rounds} rounds per instruction set, order rotated; share of peak = median over rounds of (rate / peak loop's rate in the round)");
    println!(
        "{:<44} {:>10} {:>9} {:>13}",
        "case", "median us", "GFLOP/s", "of peak"
    );
    if supported(true, "avx512") {
        let blockings = [
            ("generic", Blocking::GENERIC),
            ("intel", Blocking::INTEL_AVX512),
        ];
        let mut o = Operands::new(4, 16);
        // SAFETY (each call): the instruction set was checked above.
        measure(
            rounds,
            &cases("avx512", 16, &blockings, "6x4"),
            |k| match k {
                Kernel::Peak => {
                    for _ in 0..PEAK_CALLS {
                        black_box(unsafe { peak::avx512(black_box(1.0)) });
                    }
                }
                Kernel::Gemm { kc } => unsafe { gemm512(kc, &mut o) },
                Kernel::Separable { rows, kc } => unsafe { separable512(rows, kc, &mut o) },
            },
        );
    }
    if supported(false, "avx2") {
        let mut o = Operands::new(2, 8);
        let blockings = [("generic", Blocking::GENERIC)];
        // SAFETY (each call): the instruction set was checked above.
        measure(rounds, &cases("avx2", 8, &blockings, "6x2"), |k| match k {
            Kernel::Peak => {
                for _ in 0..PEAK_CALLS {
                    black_box(unsafe { peak::avx2(black_box(1.0)) });
                }
            }
            Kernel::Gemm { kc } => unsafe { gemm2(kc, &mut o) },
            Kernel::Separable { rows, kc } => unsafe { separable2(rows, kc, &mut o) },
        });
    }
}
