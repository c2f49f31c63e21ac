//! Cache blocking per CPU family: the one place where the x86 backends'
//! schedule depends on the machine the model will run on (XNNPACK keeps
//! such choices in its per-CPU configs). Everything else (register tiles,
//! depthwise strips, streamed blocks of small-weight steps) measured the
//! same way on every machine the project ran on.

use super::Simd;
use crate::backends::Cpu;

/// The cache blocking of the GEMM-based x86 kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// The GEMM's block of `k`: a panel's partial sums go through memory
    /// between blocks, and a block of a panel's weights is reused across
    /// all the row tiles.
    pub gemm_kc: usize,
    /// Bytes of depthwise output a fused separable block aims at: the block
    /// is consumed by the GEMM while it is in L2 (with the weight panel in
    /// use); each block streams the pointwise weights once.
    pub separable_block_bytes: usize,
}

impl Blocking {
    /// For an unknown x86 CPU, and for AMD Zen 4 and Zen 5, where it was
    /// tuned (interleaved whole-model rounds, AVX-512 and AVX2):
    ///
    /// - `k` in blocks of 1024, so Xception's `k` up to 1024 goes unblocked
    ///   and the partial sums stay in registers (1536 splits in two). On Zen
    ///   4 (32 KiB L1d) the model ran 3.3% faster than with 128-deep blocks
    ///   (16 of 16 rounds; the middle flow's steps 3-6%); 256, 512 and 2048
    ///   were 1-2% slower than 1024, 48-96 slower than 128. On Zen 5 (48 KiB
    ///   L1d) 128 and 1024 were within noise. AVX2's 6x2 tile reads only
    ///   64 B of weights per step, which L2 keeps up with (the middle flow
    ///   2-3% faster than with 512-deep blocks).
    /// - Separable blocks of 1100 KiB, which take the middle flow's
    ///   19x19x728 (1026 KiB) in one block, so each weight panel streams from
    ///   memory once per step: on Zen 5 (1 MiB L2) ~1% faster than two
    ///   blocks of 10 and 9 rows (output bit-identical); on Zen 4 576 KiB
    ///   was within noise.
    pub const GENERIC: Blocking = Blocking {
        gemm_kc: 1024,
        separable_block_bytes: 1100 * 1024,
    };

    /// For AVX-512 on Intel CPUs, tuned on a Xeon guest (Sapphire Rapids,
    /// family 6 model 207: 48 KiB L1d, 2 MiB L2 per core) whose sibling
    /// hyperthread is usually busy with another tenant: `k` in blocks of 128
    /// (a 6x4 panel's block is 32 KiB, held in L1) and separable blocks of
    /// 384 KiB (the middle flow in 7 + 7 + 5 rows). The smaller working set
    /// is what counts there (2026-12-03, interleaved, the order rotated):
    ///
    /// - 128 and 576 KiB against [`Blocking::GENERIC`], whole-model medians
    ///   0.946 (12 of 18 rounds faster), 0.916 (22 of 24) and 0.939 (16 of
    ///   18), the least contended runs level (0.97-1.00); `k` blocks of 128
    ///   or 576 KiB blocks alone were level (0.99-1.00).
    /// - 384 KiB against 576 KiB (both with 128): whole-model medians 0.963
    ///   (13 of 18 rounds); per step, in both orders, the middle flow 0.952
    ///   and 0.957, block 4 0.98 and 0.968, the model 0.965 and 0.973, the
    ///   steps it does not change within 3%. In a quieter window on
    ///   2026-11-28, 7-row blocks had measured 1.2-1.6% slower than 10.
    /// - The large-weight streamed steps (blocks 4 and 13) kept at 1100 KiB
    ///   under this blocking were 4-6% slower per step.
    ///
    /// On the same guest on 2026-11-28, per-step A/Bs had the middle flow's
    /// `k` blocks of 64, 256 and 728 1.7-3.7% slower than 128. AVX2 keeps
    /// [`Blocking::GENERIC`]: with `k` blocks of 128 and 576 KiB it ran 1.10x
    /// slower (9 rounds, 4 slower, 3 faster), as its 6x2 tile reads only
    /// 64 B of weights per step, which L2 feeds.
    pub const INTEL_AVX512: Blocking = Blocking {
        gemm_kc: 128,
        separable_block_bytes: 384 * 1024,
    };

    /// The blocking for an instruction set on a CPU family ([`Cpu::Native`]
    /// is resolved first).
    pub fn for_cpu(simd: Simd, cpu: Cpu) -> Blocking {
        match (simd, cpu.resolve()) {
            (Simd::Avx512, Cpu::Intel) => Blocking::INTEL_AVX512,
            _ => Blocking::GENERIC,
        }
    }
}
