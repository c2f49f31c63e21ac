#!/usr/bin/env python3
"""A/B of two builds of one model, step by step, on a noisy machine.

Alternates the two runner binaries that `xcc run`/`xcc profile` leave in the
cache (`~/.cache/xcc/target/release/<name>_<hash>`; the newest one is the
last build) in `profile:N` mode, `--rounds` times, and prints each step's
median of the per-round medians for A and B and their ratio (below 1: B is
faster), then the totals. Interleaving makes both see the same machine
state, and the order alternates from round to round (use an even number of
rounds); trust shifts that hold over many steps, not one step's ratio.

    python3 benches/tools/ab_steps.py A_RUNNER B_RUNNER INPUT.f32 [--rounds 4] [--runs 5]

INPUT.f32: the model input as raw little-endian float32 (NHWC).
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict


def profile(runner, inp, runs):
    """Per-step median microseconds from one `profile:N` run of a runner."""
    with tempfile.NamedTemporaryFile(suffix=".f32") as out:
        p = subprocess.run([runner, inp, out.name, f"profile:{runs}"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {runner} failed ({p.returncode}): {p.stderr.strip()}")
    steps = {}
    for line in p.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "step":
            steps[int(fields[1])] = float(fields[2])
    return steps


def main():
    """Parses arguments, alternates the runners, prints the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("input")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per step and round")
    args = ap.parse_args()
    times = (defaultdict(list), defaultdict(list))
    for r in range(args.rounds):
        # A first in even rounds, B first in odd ones: on a shared machine
        # whichever runs second can be slower across the board.
        pairs = list(zip(times, (args.a, args.b)))
        for side, runner in pairs if r % 2 == 0 else pairs[::-1]:
            for step, us in profile(runner, args.input, args.runs).items():
                side[step].append(us)
    total_a = total_b = 0.0
    print(" step          A us          B us   B/A")
    for step in sorted(times[0]):
        a, b = statistics.median(times[0][step]), statistics.median(times[1][step])
        total_a, total_b = total_a + a, total_b + b
        print(f"{step:5d} {a:13.1f} {b:13.1f} {b / a:6.3f}")
    print(f"total {total_a / 1e3:.2f} ms {total_b / 1e3:.2f} ms ratio {total_b / total_a:.3f}")


if __name__ == "__main__":
    main()
