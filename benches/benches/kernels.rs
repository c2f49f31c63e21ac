//! Micro-benchmarks of the x86 SIMD kernels on Xception's layer shapes, for
//! choosing register tiles and blocking. Throughput is in FLOP/s (2 per
//! multiply-accumulate): compare with the `peak` group, a register-only FMA
//! loop measured in the same run. Instruction sets the CPU lacks are skipped
//! with a note.
//!
//! `cargo bench -p xcc-benches --bench kernels [-- FILTER]`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use xcc_benches::{aligned_data, data, peak, supported, Aligned};
use xcc_codegen::backends::kernels::scalar::{
    conv1x1_scratch, winograd_scratch, Epilogue, Residual, Window,
};
use xcc_codegen::backends::kernels::{avx2, avx512, x86};
use xcc_codegen::backends::x86::{pack_depthwise, pack_gemm, pack_winograd, pad_lanes, Blocking};

/// The generic blocking's `k` block (the models' default).
const GEMM_KC: usize = Blocking::GENERIC.gemm_kc;

/// Bias and ReLU, as most Xception layers.
const EP: Epilogue = Epilogue {
    relu_in: false,
    bias: true,
    residual: Residual::None,
    relu: true,
};

/// The middle flow's separable convolution: 19x19x728, 3x3 'same', 728 out.
const MIDDLE: Window = xcc_benches::MIDDLE.window();

/// block1_conv2: 149x149x32, 3x3 'valid', 64 out.
const BLOCK1_CONV2: Window = Window {
    h: 149,
    w: 149,
    c: 32,
    oh: 147,
    ow: 147,
    pt: 0,
    pl: 0,
    ..MIDDLE
};

/// A pointwise GEMM `[m, k] x [k, n]` (the dense kernel over `m` rows) with
/// an `MR` x `NV` tile and `k` blocks of at most `kc`.
macro_rules! gemm_fn {
    ($name:ident, $isa:ty, $feat:literal, $mr:literal, $nv:literal) => {
        #[target_feature(enable = $feat)]
        unsafe fn $name(
            k: usize,
            n: usize,
            kc: usize,
            x: &[f32],
            w: &[f32],
            b: &[f32],
            y: &mut [f32],
        ) {
            // SAFETY: the caller checked the CPU.
            unsafe { x86::dense::<$isa, $mr, $nv>(k, n, kc, &EP, x, w, b, &[], y) }
        }
    };
}

gemm_fn!(
    gemm512_14x2,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    14,
    2
);
gemm_fn!(
    gemm512_12x2,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    12,
    2
);
gemm_fn!(
    gemm512_8x3,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    8,
    3
);
gemm_fn!(
    gemm512_6x4,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    6,
    4
);
gemm_fn!(gemm2_6x2, avx2::Avx2, "avx2,fma", 6, 2);
gemm_fn!(gemm2_4x3, avx2::Avx2, "avx2,fma", 4, 3);
gemm_fn!(gemm2_3x4, avx2::Avx2, "avx2,fma", 3, 4);

type GemmFn = unsafe fn(usize, usize, usize, &[f32], &[f32], &[f32], &mut [f32]);

/// `(name, is AVX-512, lanes, mr, nv, kernel)`.
type GemmCase = (&'static str, bool, usize, usize, usize, GemmFn);

const GEMMS: [GemmCase; 7] = [
    ("avx512 14x2", true, 16, 14, 2, gemm512_14x2),
    ("avx512 12x2", true, 16, 12, 2, gemm512_12x2),
    ("avx512 8x3", true, 16, 8, 3, gemm512_8x3),
    ("avx512 6x4", true, 16, 6, 4, gemm512_6x4),
    ("avx2 6x2", false, 8, 6, 2, gemm2_6x2),
    ("avx2 4x3", false, 8, 4, 3, gemm2_4x3),
    ("avx2 3x4", false, 8, 3, 4, gemm2_3x4),
];

/// The attainable FP32 peak per instruction set (FLOP/s).
fn peak(c: &mut Criterion) {
    type PeakFn = unsafe fn(f32) -> f32;
    let cases: [(&str, bool, usize, PeakFn); 2] = [
        ("avx512", true, 16, peak::avx512),
        ("avx2", false, 8, peak::avx2),
    ];
    let mut group = c.benchmark_group("peak");
    for (name, is512, lanes, f) in cases {
        if !supported(is512, name) {
            continue;
        }
        group.throughput(Throughput::Elements(peak::flops(lanes)));
        // SAFETY: the instruction set was checked above.
        group.bench_function(format!("fma {name}"), |b| {
            b.iter(|| unsafe { f(black_box(1.0)) })
        });
    }
    group.finish();
}

fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// Register tiles and `k` blocking on Xception's pointwise shapes
/// (pixels, in, out): the middle flow, block 4 and block 14; and first a GEMM
/// whose operands stay in L1 (one tile: `R` rows, one panel of `N` columns;
/// 24 KiB of weights at most), the ceiling of each micro-kernel with its
/// epilogue.
fn pointwise(c: &mut Criterion) {
    let shapes = [
        ("l1 Rx96xN", 0, 96, 0),
        ("middle 361x728x728", 361, 728, 728),
        ("block4 1369x256x728", 1369, 256, 728),
        ("block14 100x1536x2048", 100, 1536, 2048),
    ];
    let mut group = c.benchmark_group("pointwise");
    for (shape, m, k, n) in shapes {
        for (name, is512, lanes, mr, nv, f) in GEMMS {
            if !supported(is512, name) {
                continue;
            }
            let (m, n) = if m == 0 { (mr, nv * lanes) } else { (m, n) };
            // Unblocked, and the models' blocks when they split `k`.
            let kcs = if GEMM_KC < k {
                vec![k, GEMM_KC]
            } else {
                vec![k]
            };
            for kc in kcs {
                let x = aligned_data(m * k, 1);
                let w = Aligned::from_slice(&pack_gemm(&data(k * n, 2), k, n, nv, lanes));
                let b = Aligned::from_slice(&pad_lanes(&data(n, 3), lanes));
                let mut y = Aligned::zeroed(m * n);
                group.throughput(Throughput::Elements((2 * m * k * n) as u64));
                group.bench_function(format!("{shape} {name} kc {kc}"), |bench| {
                    // SAFETY: the instruction set was checked above.
                    bench.iter(|| unsafe { f(k, n, kc, black_box(&x), &w, &b, &mut y) })
                });
            }
        }
    }
    group.finish();
}

/// The fused separable convolution of the middle flow, by blocks of rows
/// (the backend picks 19 rows: one block within 1100 KiB of depthwise output).
fn separable(c: &mut Criterion) {
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn sep512(
        rows: usize,
        x: &[f32],
        w: (&[f32], &[f32], &[f32]),
        s: &mut [f32],
        y: &mut [f32],
    ) {
        let blocking = (rows, GEMM_KC);
        // SAFETY: the caller checked the CPU.
        unsafe {
            x86::separable::<avx512::Avx512, 6, 4, 3, 3>(
                &MIDDLE,
                728,
                blocking,
                &EP,
                x,
                w.0,
                w.1,
                w.2,
                &[],
                s,
                y,
            )
        }
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sep2(
        rows: usize,
        x: &[f32],
        w: (&[f32], &[f32], &[f32]),
        s: &mut [f32],
        y: &mut [f32],
    ) {
        let blocking = (rows, GEMM_KC);
        // SAFETY: the caller checked the CPU.
        unsafe {
            x86::separable::<avx2::Avx2, 6, 2, 3, 3>(
                &MIDDLE,
                728,
                blocking,
                &EP,
                x,
                w.0,
                w.1,
                w.2,
                &[],
                s,
                y,
            )
        }
    }
    type SepFn = unsafe fn(usize, &[f32], (&[f32], &[f32], &[f32]), &mut [f32], &mut [f32]);
    // The models' tiles (AVX-512 6x4, AVX2 6x2) and their `k` blocks.
    let cases: [(&str, bool, usize, usize, SepFn); 2] =
        [("avx512", true, 16, 4, sep512), ("avx2", false, 8, 2, sep2)];
    let mut group = c.benchmark_group("separable");
    let (px, ch) = (19 * 19, 728);
    for (name, is512, lanes, nv, f) in cases {
        if !supported(is512, name) {
            continue;
        }
        let x = aligned_data(px * ch, 1);
        let dw = Aligned::from_slice(&pack_depthwise(&data(9 * ch, 2), 9, ch, lanes));
        let pw = Aligned::from_slice(&pack_gemm(&data(ch * ch, 3), ch, ch, nv, lanes));
        let b = Aligned::from_slice(&pad_lanes(&data(ch, 4), lanes));
        let mut y = Aligned::zeroed(px * ch);
        group.throughput(Throughput::Elements((2 * px * ch * (ch + 9)) as u64));
        for rows in [1, 9, 10, 19] {
            let mut s = Aligned::zeroed(rows * 19 * ch);
            group.bench_function(format!("middle {name} rows {rows}"), |bench| {
                // SAFETY: the instruction set was checked above.
                bench.iter(|| unsafe { f(rows, black_box(&x), (&dw, &pw, &b), &mut s, &mut y) })
            });
        }
    }
    group.finish();
}

/// block 2's second separable: 147x147x128, 3x3 'same'.
const BLOCK2: Window = Window {
    h: 147,
    w: 147,
    c: 128,
    oh: 147,
    ow: 147,
    ..MIDDLE
};

/// The depthwise stage of a separable convolution: no bias or ReLU after it.
const DW_EP: Epilogue = Epilogue {
    relu_in: false,
    bias: false,
    residual: Residual::None,
    relu: false,
};

/// The middle flow's depthwise stage: ReLU on load.
const DW_MIDDLE_EP: Epilogue = Epilogue {
    relu_in: true,
    ..DW_EP
};

/// A depthwise 3x3 on a constant shape and epilogue, as generated code calls it.
macro_rules! dw_fn {
    ($name:ident, $isa:ty, $features:literal, $g:expr, $ep:expr) => {
        #[target_feature(enable = $features)]
        unsafe fn $name(x: &[f32], w: &[f32], y: &mut [f32]) {
            // SAFETY: the caller checked the CPU.
            unsafe { x86::depthwise::<$isa, 3, 3>(&$g, &$ep, x, w, &[], &[], y) }
        }
    };
}

dw_fn!(
    dw512_block2,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    BLOCK2,
    DW_EP
);
dw_fn!(
    dw512_middle,
    avx512::Avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma",
    MIDDLE,
    DW_MIDDLE_EP
);
dw_fn!(dw2_block2, avx2::Avx2, "avx2,fma", BLOCK2, DW_EP);
dw_fn!(dw2_middle, avx2::Avx2, "avx2,fma", MIDDLE, DW_MIDDLE_EP);

/// The depthwise 3x3 alone on block 2's second separable and the middle
/// flow's, as the separable kernels run it before their GEMM (whole image
/// here, row blocks there).
fn depthwise(c: &mut Criterion) {
    type DwFn = unsafe fn(&[f32], &[f32], &mut [f32]);
    let cases: [(&str, bool, usize, Window, DwFn); 4] = [
        ("block2 avx512", true, 16, BLOCK2, dw512_block2),
        ("middle avx512", true, 16, MIDDLE, dw512_middle),
        ("block2 avx2", false, 8, BLOCK2, dw2_block2),
        ("middle avx2", false, 8, MIDDLE, dw2_middle),
    ];
    let mut group = c.benchmark_group("depthwise");
    for (name, is512, lanes, g, f) in cases {
        if !supported(is512, name) {
            continue;
        }
        let (px, ch) = (g.h * g.w, g.c);
        let x = aligned_data(px * ch, 1);
        let w = Aligned::from_slice(&pack_depthwise(&data(9 * ch, 2), 9, ch, lanes));
        let mut y = Aligned::zeroed(px * ch);
        group.throughput(Throughput::Elements((2 * 9 * px * ch) as u64));
        group.bench_function(name, |bench| {
            // SAFETY: the instruction set was checked above.
            bench.iter(|| unsafe { f(black_box(&x), &w, &mut y) })
        });
    }
    group.finish();
}

/// block1_conv2 (5% of Xception's multiply-accumulates), direct and by
/// Winograd F(2x2, 3x3) (what the models run); both report the direct
/// convolution's FLOPs, so Winograd's is an effective rate.
fn conv(c: &mut Criterion) {
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn conv512(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        // SAFETY: the caller checked the CPU.
        unsafe { x86::conv2d::<avx512::Avx512, 6, 4>(&BLOCK1_CONV2, 64, 26, &EP, x, w, b, &[], y) }
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn conv2(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        // SAFETY: the caller checked the CPU.
        unsafe { x86::conv2d::<avx2::Avx2, 6, 2>(&BLOCK1_CONV2, 64, 26, &EP, x, w, b, &[], y) }
    }
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn wino512(x: &[f32], u: &[f32], b: &[f32], s: &mut [f32], y: &mut [f32]) {
        let g = &BLOCK1_CONV2;
        // SAFETY: the caller checked the CPU.
        unsafe { x86::conv3x3_winograd::<avx512::Avx512, 6, 4>(g, 64, &EP, x, u, b, &[], s, y) }
    }
    #[target_feature(enable = "avx2,fma")]
    unsafe fn wino2(x: &[f32], u: &[f32], b: &[f32], s: &mut [f32], y: &mut [f32]) {
        let g = &BLOCK1_CONV2;
        // SAFETY: the caller checked the CPU.
        unsafe { x86::conv3x3_winograd::<avx2::Avx2, 6, 2>(g, 64, &EP, x, u, b, &[], s, y) }
    }
    type WinoFn = unsafe fn(&[f32], &[f32], &[f32], &mut [f32], &mut [f32]);
    type ConvFn = unsafe fn(&[f32], &[f32], &[f32], &mut [f32]);
    // The models' tiles: AVX-512 6x4, AVX2 6x2.
    let cases: [(&str, bool, usize, usize, ConvFn, WinoFn); 2] = [
        ("avx512", true, 16, 4, conv512, wino512),
        ("avx2", false, 8, 2, conv2, wino2),
    ];
    let g = BLOCK1_CONV2;
    let k = g.kh * g.kw * g.c;
    let mut group = c.benchmark_group("conv");
    for (name, is512, lanes, nv, f, wino) in cases {
        if !supported(is512, name) {
            continue;
        }
        let x = aligned_data(g.h * g.w * g.c, 1);
        let weights = data(k * 64, 2);
        let w = Aligned::from_slice(&pack_gemm(&weights, k, 64, nv, lanes));
        let u = Aligned::from_slice(&pack_winograd(&weights, g.c, 64, nv, lanes));
        let b = Aligned::from_slice(&pad_lanes(&data(64, 3), lanes));
        let mut y = Aligned::zeroed(g.oh * g.ow * 64);
        let mut s = Aligned::zeroed(winograd_scratch(g.ow, g.c, 64, lanes));
        group.throughput(Throughput::Elements((2 * g.oh * g.ow * k * 64) as u64));
        group.bench_function(format!("block1_conv2 {name}"), |bench| {
            // SAFETY: the instruction set was checked above.
            bench.iter(|| unsafe { f(black_box(&x), &w, &b, &mut y) })
        });
        group.bench_function(format!("block1_conv2 {name} winograd"), |bench| {
            // SAFETY: the instruction set was checked above.
            bench.iter(|| unsafe { wino(black_box(&x), &u, &b, &mut s, &mut y) })
        });
    }
    group.finish();
}

/// conv2d_3, Xception's largest strided shortcut: 19x19x728, 1x1 stride 2,
/// 1024 out (2.8 MiB of weights).
const CONV2D_3: Window = Window {
    oh: 10,
    ow: 10,
    kh: 1,
    kw: 1,
    sh: 2,
    sw: 2,
    pt: 0,
    pl: 0,
    ..MIDDLE
};

/// conv2d_3 by the direct convolution kernel and as one GEMM over its
/// copied strided pixels (`conv1x1`, what the models run), AVX-512 6x4.
fn shortcut(c: &mut Criterion) {
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn direct(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        let g = &CONV2D_3;
        // SAFETY: the caller checked the CPU.
        unsafe { x86::conv2d::<avx512::Avx512, 6, 4>(g, 1024, 4, &EP, x, w, b, &[], y) }
    }
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    unsafe fn gemm(x: &[f32], w: &[f32], b: &[f32], s: &mut [f32], y: &mut [f32]) {
        let g = &CONV2D_3;
        let kc = GEMM_KC;
        // SAFETY: the caller checked the CPU.
        unsafe { x86::conv1x1::<avx512::Avx512, 6, 4>(g, 1024, kc, &EP, x, w, b, &[], s, y) }
    }
    if !supported(true, "avx512") {
        return;
    }
    let g = CONV2D_3;
    let x = aligned_data(g.h * g.w * g.c, 1);
    let w = Aligned::from_slice(&pack_gemm(&data(g.c * 1024, 2), g.c, 1024, 4, 16));
    let b = Aligned::from_slice(&pad_lanes(&data(1024, 3), 16));
    let mut y = Aligned::zeroed(g.oh * g.ow * 1024);
    let mut s = Aligned::zeroed(conv1x1_scratch(&g));
    let mut group = c.benchmark_group("shortcut");
    group.throughput(Throughput::Elements((2 * g.oh * g.ow * g.c * 1024) as u64));
    group.bench_function("conv2d_3 avx512 direct", |bench| {
        // SAFETY: the instruction set was checked above.
        bench.iter(|| unsafe { direct(black_box(&x), &w, &b, &mut y) })
    });
    group.bench_function("conv2d_3 avx512 gemm", |bench| {
        // SAFETY: the instruction set was checked above.
        bench.iter(|| unsafe { gemm(black_box(&x), &w, &b, &mut s, &mut y) })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = peak, pointwise, separable, depthwise, conv, shortcut
}
criterion_main!(benches);
