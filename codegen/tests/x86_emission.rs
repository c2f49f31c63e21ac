//! The x86 targets as the compiler sees them: names, `native` resolution,
//! and what the emitted source of a model contains (SIMD kernels inside
//! `#[target_feature]` functions, the CPU check in `cpu_supported` asserted
//! by `run_step`, packed constants).

use std::path::Path;

use xcc_codegen::emit::WeightsLocation;
use xcc_codegen::{Builder, CompileOptions, Cpu, Target};

/// The source without whitespace (the emitter's formatting breaks long generic lists).
fn squash(s: &str) -> String {
    s.split_whitespace().collect()
}

/// The generated source of a bundled spec with synthetic weights.
fn source(spec: &str, seed: u64, target: Target, cpu: Cpu) -> String {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../xception-spec/specs")
        .join(spec);
    let (graph, weights) = Builder::new(&spec)
        .seed(seed)
        .load()
        .unwrap_or_else(|e| panic!("{} loads: {e}", spec.display()));
    let opts = CompileOptions {
        target,
        cpu,
        weights_location: WeightsLocation::Relative("weights.bin".into()),
        ..CompileOptions::default()
    };
    let g = xcc_codegen::compile(&graph, &weights, &opts).expect("compiles");
    g.source
}

fn tiny_source(target: Target) -> String {
    source("tiny_xception.json", 7, target, Cpu::Generic)
}

#[test]
fn target_names_round_trip() {
    for (name, t) in [
        ("avx2", Target::Avx2),
        ("avx512", Target::Avx512),
        ("native", Target::Native),
    ] {
        assert_eq!(Target::parse(name), Some(t));
        assert_eq!(t.name(), name);
    }
    assert_eq!(Target::Avx512.resolve(), Target::Avx512);
    let native = Target::Native.resolve();
    assert_ne!(native, Target::Native);
    assert_eq!(Target::Native.backend(Cpu::Generic).target(), native);
    // What runs here, checked against std's own CPU detection.
    assert!(Target::Scalar.runs_here() && Target::Native.runs_here() && native.runs_here());
    assert_eq!(Target::Neon.runs_here(), cfg!(target_arch = "aarch64"));
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 = avx2
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512dq");
        assert_eq!(Target::Avx2.runs_here(), avx2);
        assert_eq!(Target::Avx512.runs_here(), avx512);
    }
}

#[test]
fn avx512_source_checks_the_cpu_and_uses_simd_kernels() {
    let src = tiny_source(Target::Avx512);
    assert!(src.contains("pub const TARGET: &str = \"avx512\";"));
    assert!(src.contains("pub fn cpu_supported() -> bool"));
    assert!(src.contains("kernels::avx512::supported()"));
    let run_step = src.split("pub fn run_step").nth(1).expect("run_step");
    let body = &run_step[..run_step.find("match i").expect("dispatch")];
    assert!(
        body.contains("cpu_supported()") && body.contains("xcc_runtime::UnsupportedCpu"),
        "run_step asserts the CPU check"
    );
    let try_infer = src.split("pub fn try_infer").nth(1).expect("try_infer");
    assert!(
        squash(try_infer).contains("returnErr(xcc_runtime::UnsupportedCpu{target:TARGET,});"),
        "try_infer returns the CPU error"
    );
    assert!(
        src.contains("#[target_feature(enable = \"avx512f,avx512vl,avx512bw,avx512dq,avx2,fma\")]")
    );
    assert!(squash(&src).contains("kernels::x86::separable::<kernels::avx512::Avx512,"));
    assert!(src.contains("pub mod avx512"));
    assert!(!src.contains("pub mod avx2 "));
}

#[test]
fn avx2_source_uses_avx2_kernels() {
    let src = tiny_source(Target::Avx2);
    assert!(src.contains("kernels::avx2::supported()"));
    assert!(src.contains("#[target_feature(enable = \"avx2,fma\")]"));
    assert!(squash(&src).contains("kernels::x86::separable::<kernels::avx2::Avx2,"));
    assert!(!src.contains("pub mod avx512"));
}

#[test]
fn scalar_source_has_no_cpu_assertion() {
    let src = tiny_source(Target::Scalar);
    assert!(src.contains("pub fn cpu_supported() -> bool {\n    true\n}"));
    let run_step = src.split("pub fn run_step").nth(1).expect("run_step");
    let body = &run_step[..run_step.find("match i").expect("dispatch")];
    assert!(!body.contains("panic!"), "no CPU assertion in run_step");
    assert!(!src.contains("target_feature"));
}

#[test]
fn cpu_names_round_trip_and_native_is_this_vendor() {
    for (name, c) in [
        ("generic", Cpu::Generic),
        ("intel", Cpu::Intel),
        ("amd", Cpu::Amd),
        ("native", Cpu::Native),
    ] {
        assert_eq!(Cpu::parse(name), Some(c));
        assert_eq!(c.name(), name);
    }
    assert_eq!(Cpu::parse("zen5"), None);
    assert_eq!(Cpu::Intel.resolve(), Cpu::Intel);
    // Checked against the kernel's reading of CPUID where there is one.
    let vendor = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("vendor_id")?.split(':').nth(1))
            .map(|v| v.trim().to_string())
    });
    let want = match vendor.as_deref() {
        Some("GenuineIntel") => Cpu::Intel,
        Some("AuthenticAMD") => Cpu::Amd,
        _ => Cpu::Generic,
    };
    if cfg!(target_arch = "x86_64") && vendor.is_some() {
        assert_eq!(Cpu::Native.resolve(), want);
    }
    assert_ne!(Cpu::Native.resolve(), Cpu::Native);
}

/// Xception's source for a target and CPU family, squashed.
fn xception_source(target: Target, cpu: Cpu) -> String {
    squash(&source("xception.json", 42, target, cpu))
}

#[test]
fn cpu_family_sets_the_blocking_of_the_emitted_calls() {
    // Separables with 728 outputs, as `(rows per block, k block)`: the
    // middle flow's 24 and block 13's first (19x19x728) take the image in
    // one block of 19 rows with `k` unblocked for generic, in blocks of 7
    // rows with `k` blocks of 128 for Intel (AVX-512); block 4's first
    // (37x37x256) blocks of 19 rows (generic) and 10 (Intel), its second
    // (37x37x728) 10 and 3.
    let calls = |src: &str, rows: usize, kc: usize| {
        src.matches(&format!("}},728usize,({rows}usize,{kc}usize),"))
            .count()
    };
    let generic = xception_source(Target::Avx512, Cpu::Generic);
    let intel = xception_source(Target::Avx512, Cpu::Intel);
    assert_eq!(calls(&generic, 19, 1024), 24 + 1 + 1);
    assert_eq!(calls(&generic, 10, 1024), 1);
    assert_eq!(calls(&intel, 7, 128), 24 + 1);
    assert_eq!(calls(&intel, 10, 128), 1);
    assert_eq!(calls(&intel, 3, 128), 1);
    assert_eq!(calls(&intel, 19, 1024), 0);
    assert_eq!(xception_source(Target::Avx512, Cpu::Amd), generic);
    // AVX2 has one blocking.
    assert_eq!(
        xception_source(Target::Avx2, Cpu::Intel),
        xception_source(Target::Avx2, Cpu::Generic)
    );
}
