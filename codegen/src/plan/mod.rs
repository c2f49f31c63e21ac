//! The memory planner: liveness intervals over the schedule, in-place reuse
//! where a kernel allows it, and offsets in one arena by greedy best-fit in
//! decreasing size order (the "greedy by size" scheme of TFLite's planner).
//!
//! The model input is read from the caller's buffer and is not in the arena;
//! every other tensor, and every step's scratch, is.

use crate::ir::{Program, TensorId};

/// Offsets are multiples of this many floats (64 bytes).
pub const ALIGN_FLOATS: usize = 16;

/// Where a tensor or a scratch buffer lives in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Offset in floats.
    pub offset: usize,
    /// Length in floats.
    pub len: usize,
}

/// A memory plan for one program and one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Per tensor; `None` for the model input (caller's buffer) and unused tensors.
    pub tensors: Vec<Option<Region>>,
    /// Per step, its scratch (length 0 when it needs none).
    pub scratch: Vec<Region>,
    /// Arena size in floats.
    pub arena_floats: usize,
    /// Per step, the live bytes during the step (for reports).
    pub live_bytes: Vec<usize>,
}

impl MemoryPlan {
    /// Arena size in bytes.
    pub fn arena_bytes(&self) -> usize {
        self.arena_floats * 4
    }

    /// The region of a tensor that lives in the arena.
    pub fn region(&self, t: TensorId) -> Region {
        self.tensors[t].expect("tensor is in the arena")
    }
}

/// A buffer: one or more tensors sharing memory, or a scratch.
struct Buffer {
    len: usize,
    first: usize,
    last: usize,
}

fn round_up(n: usize) -> usize {
    n.div_ceil(ALIGN_FLOATS) * ALIGN_FLOATS
}

/// Plans memory for `p` (already scheduled); `scratch[i]` is step `i`'s scratch in floats.
pub fn plan(p: &Program, scratch: &[usize]) -> MemoryPlan {
    let n = p.steps.len();
    let nt = p.tensors.len();
    let mut def = vec![usize::MAX; nt];
    let mut last = vec![0usize; nt];
    for (i, s) in p.steps.iter().enumerate() {
        def[s.output] = i;
        for t in s.reads() {
            last[t] = last[t].max(i);
        }
    }
    last[p.output] = n; // copied to the caller after the last step

    // Buffer of each tensor: in-place steps reuse an input that dies with them.
    let mut buffer_of: Vec<Option<usize>> = vec![None; nt];
    let mut buffers: Vec<Buffer> = Vec::new();
    for (i, s) in p.steps.iter().enumerate() {
        let reads: Vec<TensorId> = s.reads().collect();
        let once = |t: TensorId| reads.iter().filter(|&&r| r == t).count() == 1;
        let reusable = |t: TensorId| {
            t != p.input
                && last[t] == i
                && once(t)
                && p.len(t) == p.len(s.output)
                && buffer_of[t].is_some()
        };
        let alias = if s.kernel.elementwise() && s.epilogue.residual.is_none() {
            s.inputs.iter().copied().find(|&t| reusable(t))
        } else if s.kernel.residual_in_place_ok() {
            s.epilogue.residual.filter(|&t| reusable(t))
        } else {
            None
        };
        let b = match alias.and_then(|t| buffer_of[t]) {
            Some(b) => {
                buffers[b].last = last[s.output].max(i);
                b
            }
            None => {
                buffers.push(Buffer {
                    len: p.len(s.output),
                    first: i,
                    last: last[s.output].max(i),
                });
                buffers.len() - 1
            }
        };
        buffer_of[s.output] = Some(b);
    }
    let mut scratch_buf = vec![usize::MAX; n];
    for (i, &len) in scratch.iter().enumerate() {
        if len > 0 {
            buffers.push(Buffer {
                len,
                first: i,
                last: i,
            });
            scratch_buf[i] = buffers.len() - 1;
        }
    }

    // Greedy by size: biggest first, lowest offset that fits among overlapping lifetimes.
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by(|&a, &b| buffers[b].len.cmp(&buffers[a].len).then(a.cmp(&b)));
    let mut offset = vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena = 0usize;
    for &b in &order {
        let mut taken: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&o| {
                buffers[o].first <= buffers[b].last && buffers[b].first <= buffers[o].last
            })
            .map(|&o| (offset[o], offset[o] + round_up(buffers[o].len)))
            .collect();
        taken.sort_unstable();
        let need = round_up(buffers[b].len);
        let mut at = 0usize;
        let mut best: Option<(usize, usize)> = None; // (gap size, offset)
        for &(s, e) in &taken {
            if s >= at + need {
                let gap = s - at;
                if best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, at));
                }
            }
            at = at.max(e);
        }
        let off = best.map_or(at, |(_, o)| o);
        offset[b] = off;
        arena = arena.max(off + need);
        placed.push(b);
    }

    let tensors = (0..nt)
        .map(|t| {
            buffer_of[t].map(|b| Region {
                offset: offset[b],
                len: p.len(t),
            })
        })
        .collect();
    let scratch_regions = (0..n)
        .map(|i| match scratch_buf[i] {
            usize::MAX => Region { offset: 0, len: 0 },
            b => Region {
                offset: offset[b],
                len: scratch[i],
            },
        })
        .collect();
    let live_bytes = (0..n)
        .map(|i| {
            buffers
                .iter()
                .filter(|b| b.first <= i && i <= b.last)
                .map(|b| round_up(b.len) * 4)
                .sum()
        })
        .collect();
    MemoryPlan {
        tensors,
        scratch: scratch_regions,
        arena_floats: arena,
        live_bytes,
    }
}
