//! Orders steps to keep the memory peak low: a topological order that, among
//! the ready steps, runs the one that grows live memory least (output size
//! minus the inputs it frees), ties broken by the original order. For
//! Xception this runs each block's small 1x1 shortcut conv before the large
//! separable convs, so the block input dies early.

use crate::ir::Program;

/// Runs the pass.
pub fn run(p: &mut Program) {
    let n = p.steps.len();
    let producer: Vec<Option<usize>> = (0..p.tensors.len()).map(|t| p.producer(t)).collect();
    let mut remaining_readers = vec![0usize; p.tensors.len()];
    for s in &p.steps {
        for t in s.reads() {
            remaining_readers[t] += 1;
        }
    }
    let mut done = vec![false; n];
    let mut computed = vec![false; p.tensors.len()];
    computed[p.input] = true;
    let mut order = Vec::with_capacity(n);
    for _ in 0..n {
        let mut best: Option<(i64, usize)> = None;
        for (i, s) in p.steps.iter().enumerate() {
            if done[i] || !s.reads().all(|t| computed[t] || producer[t].is_none()) {
                continue;
            }
            let mut reads: Vec<usize> = s.reads().collect();
            reads.sort_unstable();
            reads.dedup();
            let freed: usize = reads
                .iter()
                .filter(|&&t| {
                    t != p.input && remaining_readers[t] == s.reads().filter(|&r| r == t).count()
                })
                .map(|&t| p.len(t))
                .sum();
            let score = p.len(s.output) as i64 - freed as i64;
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, i));
            }
        }
        let (_, i) = best.expect("IR steps form a DAG");
        done[i] = true;
        computed[p.steps[i].output] = true;
        for t in p.steps[i].reads() {
            remaining_readers[t] -= 1;
        }
        order.push(i);
    }
    let old = std::mem::take(&mut p.steps);
    let mut slots: Vec<Option<crate::ir::Step>> = old.into_iter().map(Some).collect();
    p.steps = order
        .into_iter()
        .map(|i| slots[i].take().expect("each step once"))
        .collect();
}
