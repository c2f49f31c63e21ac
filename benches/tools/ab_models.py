#!/usr/bin/env python3
"""Whole-model A/B of several builds of one model, on a noisy machine.

Runs the runner binaries that `xcc run`/`xcc profile` leave in the cache
(`~/.cache/xcc/target/release/<name>_<hash>`) or that `xcc compile` crates
build, `--runs` inferences each, round after round, the order rotated every
round (on a shared machine whichever runs last can be slower). Prints each
round's medians, then per runner the median of the round medians and its
ratio to the first runner, how many rounds it beat the first, and the best
round's minimum (the least contended sample) with its ratio.

    python3 benches/tools/ab_models.py INPUT.f32 A_RUNNER B_RUNNER... [--rounds 12] [--runs 10]

INPUT.f32: the model input as raw little-endian float32 (NHWC).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile


def run(runner, inp, runs):
    """(median ms, min ms) from one runner invocation of `runs` inferences."""
    with tempfile.NamedTemporaryFile(suffix=".f32") as out:
        p = subprocess.run([runner, inp, out.name, str(runs)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {runner} failed ({p.returncode}): {p.stderr.strip()}")
    report = json.loads(p.stdout.strip().splitlines()[-1])
    return report["median_ms"], report["min_ms"]


def main():
    """Parses arguments, rotates the runners, prints the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("runners", nargs="+")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--runs", type=int, default=10, help="inferences per runner and round")
    args = ap.parse_args()
    names = args.runners
    medians = {r: [] for r in names}
    mins = {r: [] for r in names}
    for i in range(args.rounds):
        k = i % len(names)
        for r in names[k:] + names[:k]:
            med, low = run(r, args.input, args.runs)
            medians[r].append(med)
            mins[r].append(low)
        print(f"round {i + 1}: " + " | ".join(f"{medians[r][-1]:.2f}" for r in names), flush=True)
    base, base_min = statistics.median(medians[names[0]]), min(mins[names[0]])
    for r in names:
        m = statistics.median(medians[r])
        wins = sum(b < a for a, b in zip(medians[names[0]], medians[r]))
        print(f"{r}: median {m:.2f} ms ({m / base:.3f}), faster in {wins}/{args.rounds} rounds; "
              f"min {min(mins[r]):.2f} ms ({min(mins[r]) / base_min:.3f})")


if __name__ == "__main__":
    main()
