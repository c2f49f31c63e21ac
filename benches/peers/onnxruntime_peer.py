#!/usr/bin/env python3
"""Peer benchmark: ONNX Runtime vs xcc on the same spec, weights and input.

Builds an ONNX graph (NCHW, BatchNormalization kept as nodes) from an xcc JSON
spec and its Keras-layout weights (detgen seed or a .safetensors file), checks
ONNX Runtime's output against `xcc run`'s on the detgen:42 input, then times
both in interleaved rounds and prints the latency ratio. Optional: nothing in
the test suite uses it. See benches/peers/README.md.
"""
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "xception-spec" / "fixtures"))
import detgen  # noqa: E402  (the generator the Rust side is bit-exact with)

INPUT_SEED = 42  # `xcc run --input detgen:42`: detgen tensor "input", uniform [-1, 1)
OPSET = 17
POOLS = {"MaxPooling2D": "MaxPool", "AveragePooling2D": "AveragePool",
         "GlobalAveragePooling2D": "GlobalAveragePool", "GlobalMaxPooling2D": "GlobalMaxPool"}


class Weights:
    """Keras-layout weight tensors `<layer>/<variable>`, synthetic or from a file."""

    def __init__(self, seed=None, path=None):
        self.seed, self.file = seed, None
        if path is not None:
            from safetensors.numpy import load_file
            self.file = load_file(path)

    def get(self, name, shape, center, half):
        """The tensor `name`; (center, half) define the detgen distribution."""
        if self.file is None:
            return detgen.gen(name, tuple(shape), center, half, self.seed)
        if name not in self.file:
            sys.exit(f"error: weights file has no tensor '{name}'")
        t = self.file[name].astype(np.float32)
        if list(t.shape) != list(shape):
            sys.exit(f"error: tensor '{name}' has shape {list(t.shape)}, expected {list(shape)}")
        return t

    def kernel(self, name, shape, fan_in):
        """A conv/depthwise/pointwise/dense kernel: detgen (0, sqrt(3/fan_in))."""
        return self.get(name, shape, 0.0, math.sqrt(3.0 / fan_in))


def axis(n, k, s, d, padding):
    """TensorFlow's rule for one spatial axis: (output size, pad before, pad after)."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return (n - k_eff) // s + 1, 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return out, total // 2, total - total // 2


class OnnxBuilder:
    """Accumulates ONNX nodes and initializers; tracks NHWC-style shapes per tensor."""

    def __init__(self, weights):
        self.w, self.nodes, self.inits, self.shapes = weights, [], [], {}

    def const(self, name, array):
        """Adds an initializer and returns its name."""
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def node(self, op, inputs, output, **attrs):
        """Adds one node producing `output`; returns `output`."""
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def activation(self, x, act, out):
        """relu/softmax (softmax over Keras' last axis = ONNX axis 1); linear = Identity."""
        if act == "linear":
            return self.node("Identity", [x], out)
        if act == "relu":
            return self.node("Relu", [x], out)
        if act == "softmax":
            return self.node("Softmax", [x], out, axis=1)
        sys.exit(f"error: activation '{act}' is not handled by this script")

    def conv(self, name, x, w_oihw, bias, op, group=1):
        """Conv with TF 'same'/'valid' padding as explicit pads (odd pad bottom/right)."""
        h, w, _ = self.shapes[x]
        (kh, kw), (sh, sw) = op["kernel_size"], op.get("strides", [1, 1])
        dh, dw = op.get("dilation_rate", [1, 1])
        pad = op.get("padding", "valid")
        oh, t, b = axis(h, kh, sh, dh, pad)
        ow, l, r = axis(w, kw, sw, dw, pad)
        ins = [x, self.const(name + "/W", w_oihw)] + ([self.const(name + "/B", bias)] if bias is not None else [])
        self.node("Conv", ins, name, kernel_shape=[kh, kw], strides=[sh, sw],
                  dilations=[dh, dw], pads=[t, l, b, r], group=group)
        self.shapes[name] = (oh, ow, w_oihw.shape[0])
        return name

    def bias(self, layer, op, n):
        """The layer's bias, or None when `use_bias` is false."""
        return self.w.get(f"{layer}/bias", [n], 0.0, 0.1) if op.get("use_bias", True) else None

    def depthwise(self, x, layer, var, op):
        """Keras depthwise [kh,kw,c,m] -> ONNX [c*m,1,kh,kw], group=c (out c*m+j reads c)."""
        (kh, kw), c, m = op["kernel_size"], self.shapes[x][2], op.get("depth_multiplier", 1)
        k = self.w.kernel(f"{layer}/{var}", [kh, kw, c, m], kh * kw)
        return k.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), c

    def layer(self, L):
        """Emits the ONNX nodes of one spec layer (output tensor named after it)."""
        name, op, ins = L["name"], L["op"], L["inputs"]
        kind, x = op["type"], ins[0]
        shape = self.shapes[x]
        self.shapes[name] = shape  # shape-preserving ops; the others overwrite it
        act = op.get("activation") if kind not in ("Activation", "ReLU") else None
        pre = name if act in (None, "linear") else name + "/pre"  # before the fused activation
        if kind == "Conv2D":
            (kh, kw), ci, co = op["kernel_size"], shape[2], op["filters"]
            k = self.w.kernel(f"{name}/kernel", [kh, kw, ci, co], kh * kw * ci)
            self.conv(pre, x, k.transpose(3, 2, 0, 1), self.bias(name, op, co), op)
        elif kind == "DepthwiseConv2D":
            k, c = self.depthwise(x, name, "kernel", op)
            self.conv(pre, x, k, self.bias(name, op, k.shape[0]), op, group=c)
        elif kind == "SeparableConv2D":
            k, c = self.depthwise(x, name, "depthwise_kernel", op)
            mid = self.conv(name + "/dw", x, k, None, op, group=c)
            pk = self.w.kernel(f"{name}/pointwise_kernel", [1, 1, k.shape[0], op["filters"]], k.shape[0])
            self.conv(pre, mid, pk.transpose(3, 2, 0, 1), self.bias(name, op, op["filters"]),
                      {"kernel_size": [1, 1]})
        elif kind == "BatchNormalization":
            c, g = shape[-1], self.w.get
            gamma = g(f"{name}/gamma", [c], 1.0, 0.5) if op.get("scale", True) else np.ones(c)
            beta = g(f"{name}/beta", [c], 0.0, 0.1) if op.get("center", True) else np.zeros(c)
            stats = [g(f"{name}/moving_mean", [c], 0.0, 0.1), g(f"{name}/moving_variance", [c], 1.0, 0.5)]
            consts = [self.const(f"{name}/{v}", a) for v, a in
                      zip(("scale", "B", "mean", "var"), [gamma, beta] + stats)]
            return self.node("BatchNormalization", [x] + consts, name, epsilon=op.get("epsilon", 1e-3))
        elif kind in ("Activation", "ReLU"):
            return self.activation(x, op.get("activation", "relu"), name)
        elif kind == "Add":
            acc = x
            for i, y in enumerate(ins[1:], 1):
                acc = self.node("Add", [acc, y], name if i == len(ins) - 1 else f"{name}/{i}")
            return acc
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            (ph, pw) = op.get("pool_size", [2, 2])
            (sh, sw) = op.get("strides") or [ph, pw]
            oh, t, b = axis(shape[0], ph, sh, 1, op.get("padding", "valid"))
            ow, l, r = axis(shape[1], pw, sw, 1, op.get("padding", "valid"))
            extra = {"count_include_pad": 0} if kind == "AveragePooling2D" else {}
            self.shapes[name] = (oh, ow, shape[2])
            return self.node(POOLS[kind], [x], name, kernel_shape=[ph, pw],
                             strides=[sh, sw], pads=[t, l, b, r], **extra)
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            pooled = self.node(POOLS[kind], [x], name + "/pool")
            self.shapes[name] = (shape[2],)
            return self.node("Flatten", [pooled], name, axis=1)
        elif kind == "Dense":
            ci, co = shape[-1], op["units"]
            k = self.w.kernel(f"{name}/kernel", [ci, co], ci)
            b = self.bias(name, op, co)
            if len(shape) == 3:  # on an image: a 1x1 conv over the channels
                self.conv(pre, x, k.T.reshape(co, ci, 1, 1), b, {"kernel_size": [1, 1]})
            else:
                bias = [self.const(pre + "/C", b)] if b is not None else []
                self.node("Gemm", [x, self.const(pre + "/B", k)] + bias, pre)
                self.shapes[pre] = (co,)
        else:
            sys.exit(f"error: layer '{name}': op '{kind}' is not handled by this script")
        self.shapes[name] = self.shapes[pre]
        return name if pre == name else self.activation(pre, act, name)


def build_onnx(spec, weights):
    """The ONNX model of `spec`: NHWC input 'input' [1,H,W,C], output 'output'."""
    b = OnnxBuilder(weights)
    inp = spec["input"]
    h, w, c = inp["shape"]
    b.node("Transpose", ["input"], inp["name"], perm=[0, 3, 1, 2])
    b.shapes[inp["name"]] = (h, w, c)
    # Layers are listed in a topological order for Keras-made specs; keep re-trying otherwise.
    pending = list(spec["layers"])
    while pending:
        ready = [L for L in pending if all(i in b.shapes for i in L["inputs"])]
        if not ready:
            sys.exit("error: the spec has a cycle or an unknown input")
        for L in ready:
            b.layer(L)
        pending = [L for L in pending if L not in ready]
    out = spec["output"]
    shape = b.shapes[out]
    b.node("Transpose" if len(shape) == 3 else "Identity", [out], "output",
           **({"perm": [0, 2, 3, 1]} if len(shape) == 3 else {}))
    graph = helper.make_graph(
        b.nodes, spec.get("name", "model"),
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, h, w, c])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, *shape])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="xcc onnxruntime_peer.py")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def ort_session(model, profile_prefix=None):
    """A single-threaded, sequential, fully optimised ONNX Runtime session
    (profiling every node when `profile_prefix` is given)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def node_times(sess):
    """Ends a profiling session: ({node: [ms per call]}, {node: op}), in
    execution order."""
    events = json.loads(Path(sess.end_profiling()).read_text())
    times, ops = {}, {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            name = e["name"][: -len("_kernel_time")]
            times.setdefault(name, []).append(e["dur"] / 1e3)
            ops[name] = e["args"].get("op_name", "")
    return times, ops


def print_ort_nodes(model, x, runs, tmp):
    """Prints ONNX Runtime's per-node median time over `runs` calls, in
    execution order (after its own fusions), to compare with `xcc profile`."""
    sess = ort_session(model, str(Path(tmp) / "ort"))
    for _ in range(runs):
        sess.run(None, {"input": x})
    times, ops = node_times(sess)
    total = sum(statistics.median(v) for v in times.values())
    print(f"ONNX Runtime per node (median of {runs} runs, ms; sum {total:.3f} ms):")
    for name, v in times.items():
        print(f"  {statistics.median(v):9.3f}  {ops[name]:<18} {name}")


LAYOUT_OPS = {"Transpose", "ReorderInput", "ReorderOutput"}


def xcc(args, command, target, extra):
    """Runs `xcc COMMAND SPEC` on a `--target` entry (`TARGET[:CPU]`) with the
    weights source and `extra` arguments; exits on failure, else returns the
    completed process."""
    target, _, cpu = target.partition(":")
    cmd = [args.xcc, command, str(args.spec), "--target", target, *extra]
    cmd += ["--cpu", cpu] if cpu else []
    cmd += ["--weights", str(args.weights)] if args.weights else ["--seed", str(args.seed)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
    return p


def xcc_profile(args, target, runs):
    """`xcc profile` once: [(step name, median us)] in execution order."""
    p = xcc(args, "profile", target, ["--runs", str(runs)])
    rows = re.findall(r"^\s*\d+\s+\S+\s+([0-9.]+)\s+[0-9.]+%\s+[0-9.]+\s+(.+)$", p.stdout, re.M)
    return [(name, float(us)) for us, name in rows]


def group_of(step):
    """The row a step is reported in: its first Keras `blockN` layer, else the
    step itself (a classifier's separate softmax step, `<layer>_softmax`, joins
    `<layer>`: ORT's Softmax node carries the layer's name)."""
    m = re.search(r"(?:^|\+)(block\d+)_", step)
    return m.group(1) if m else step.removesuffix("_softmax")


def compare_steps(args, model, x, target, tmp):
    """Per-block comparison in interleaved rounds: `--rounds` rounds, each
    `--runs` profiled ORT calls then one `xcc profile --runs` (ORT's per-node
    medians pooled over all rounds, xcc's the median of its rounds). ORT's nodes (after its own fusions)
    are charged to the xcc step holding the spec layer they come from (a node
    with no layer of its own, like a separate Relu, to the next one that has
    one); its layout conversions, which xcc does not need, get a row of their
    own. Per-node profiling adds ORT some overhead, so the sums exceed its
    unprofiled latency; the rows show where the time goes on each side."""
    sess = ort_session(model, str(Path(tmp) / "steps"))
    for _ in range(args.warmup):
        sess.run(None, {"input": x})
    xcc_rounds = []
    for r in range(1, args.rounds + 1):
        for _ in range(args.runs):
            sess.run(None, {"input": x})
        xcc_rounds.append(xcc_profile(args, target, args.runs))
        print(f"profile round {r} of {args.rounds}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    times, ops = node_times(sess)
    steps = [name for name, _ in xcc_rounds[0]]
    if not steps or not times:
        sys.exit("error: no per-step times from `xcc profile` or no per-node times from ORT")
    step_of = {layer: i for i, s in enumerate(steps) for layer in s.split("+")}
    rows = list(dict.fromkeys(group_of(s) for s in steps))
    ort_ms, pending = dict.fromkeys(rows + ["layout (ORT only)"], 0.0), 0.0
    for name, v in times.items():  # execution order; the warm-up calls left out
        t = statistics.median(v[args.warmup:] or v)
        if ops[name] in LAYOUT_OPS:
            ort_ms["layout (ORT only)"] += t
            continue
        layer = name.split("/")[0].removesuffix("_nchwc")
        if layer not in step_of:
            pending += t
            continue
        ort_ms[group_of(steps[step_of[layer]])] += t + pending
        pending = 0.0
    ort_ms[rows[-1]] += pending
    xcc_ms = {row: statistics.median(sum(us for s, us in rnd if group_of(s) == row) / 1e3
                                     for rnd in xcc_rounds) for row in rows}
    print(f"per block, {args.rounds} interleaved rounds of {args.runs} runs (ms; ORT per-node "
          f"medians, xcc {target} per-step medians):")
    print(f"  {'block':<40} {'ORT':>8} {'xcc':>8} {'xcc/ORT':>8}")
    for row in rows + ["layout (ORT only)"]:
        o, m = ort_ms[row], xcc_ms.get(row, 0.0)
        ratio = f"{m / o:8.3f}" if o > 0 and m > 0 else f"{'-':>8}"
        print(f"  {row[:40]:<40} {o:8.3f} {m:8.3f} {ratio}")
    o, m = sum(ort_ms.values()), sum(xcc_ms.values())
    print(f"  {'total':<40} {o:8.3f} {m:8.3f} {m / max(o, 1e-9):8.3f}")


def time_ort(sess, x, runs):
    """Median milliseconds of `runs` timed `session.run` calls."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"input": x})
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def run_xcc(args, target, runs, out_npy):
    """`xcc run` once; returns (median ms, resolved target name) parsed from its stdout.

    `target` is a `--target` value, optionally with a CPU family: `avx512:intel`."""
    p = xcc(args, "run", target, ["--input", f"detgen:{INPUT_SEED}", "--runs", str(runs),
                                  "--output", str(out_npy), "--top", "1"])
    base, _, cpu = target.partition(":")
    # `latency: median X ms ... (target T` (xcc bin) or the runner's `"median_ms": X` JSON.
    m = re.search(r'median[ _a-z"]*[:\s]\s*"?([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)', p.stdout)
    if not m:
        sys.exit(f"error: no median latency in the output of {' '.join(p.args)}:\n{p.stdout}")
    t = re.search(r'target"?:?\s*"?([a-z0-9]+)', p.stdout)
    name = t.group(1) if t else base
    return float(m.group(1)), f"{name}:{cpu}" if cpu else name


def main():
    """Parses arguments, checks correctness, times interleaved rounds, prints the ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=REPO / "xception-spec/specs/xception.json")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--seed", type=int, default=42, help="detgen weights seed (default 42)")
    src.add_argument("--weights", type=Path, help=".safetensors, `<layer>/<variable>` in Keras layout")
    ap.add_argument("--target", nargs="+", default=["avx512"], help="xcc target(s), each optionally TARGET:CPU (e.g. avx512:intel; default avx512)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per round and engine")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--warmup", type=int, default=3, help="untimed ORT runs before round 1")
    ap.add_argument("--tol", type=float, default=1e-4, help="fail above this max |diff|")
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    ap.add_argument("--xcc", default=str(target_dir / "release/xcc"),
                    help="the xcc binary (default $CARGO_TARGET_DIR/release/xcc)")
    ap.add_argument("--save-onnx", type=Path, help="also write the ONNX model here")
    ap.add_argument("--steps", action="store_true",
                    help="instead of whole-model rounds, compare per block (per-node ORT profile "
                         "against `xcc profile` of the first --target, paired rounds)")
    ap.add_argument("--nodes", action="store_true",
                    help="also print ONNX Runtime's per-node times (compare with `xcc profile`)")
    args = ap.parse_args()
    if not Path(args.xcc).is_file():
        sys.exit(f"error: no xcc binary at {args.xcc}: build it with "
                 "`cargo build --release -p xcc-codegen --bin xcc` or pass --xcc PATH")

    spec = json.loads(args.spec.read_text())
    weights = Weights(path=args.weights) if args.weights else Weights(seed=args.seed)
    model = build_onnx(spec, weights)
    if args.save_onnx:
        onnx.save(model, str(args.save_onnx))
    h, w, c = spec["input"]["shape"]
    x = detgen.gen("input", (1, h, w, c), 0.0, 1.0, INPUT_SEED)
    sess = ort_session(model)
    y_ort = sess.run(None, {"input": x})[0].ravel()
    print(f"ONNX Runtime {ort.__version__}: {len(model.graph.node)} nodes, output {y_ort.size} values")

    names = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in args.target:  # first call compiles and builds (cached), and gives the output
            _, names[t] = run_xcc(args, t, 1, Path(tmp) / "y.npy")
            y = np.load(Path(tmp) / "y.npy").ravel()
            if y.size != y_ort.size:
                sys.exit(f"error: xcc output has {y.size} values, ORT's {y_ort.size}")
            diff = float(np.max(np.abs(y - y_ort)))
            verdict = "ok" if diff <= args.tol else f"FAIL (> {args.tol:g})"
            print(f"max |diff| ORT vs xcc {names[t]}: {diff:.3g}  {verdict}")
            if diff > args.tol:
                sys.exit(1)
        for _ in range(args.warmup):
            sess.run(None, {"input": x})
        if args.steps:
            if args.nodes:
                print("note: --nodes is ignored with --steps (its rows already come from ORT's nodes)")
            compare_steps(args, model, x, args.target[0], tmp)
            return
        med = {"ORT": []} | {t: [] for t in args.target}
        for r in range(1, args.rounds + 1):
            med["ORT"].append(time_ort(sess, x, args.runs))
            for t in args.target:
                med[t].append(run_xcc(args, t, args.runs, Path(tmp) / "y.npy")[0])
            line = " | ".join(f"xcc {names[t]} {med[t][-1]:.4g} ms" for t in args.target)
            print(f"round {r}: ORT {med['ORT'][-1]:.4g} ms | {line}", flush=True)
        if args.nodes:
            print_ort_nodes(model, x, args.runs, tmp)

    o = statistics.median(med["ORT"])
    for t in args.target:
        m = statistics.median(med[t])
        # Paired: each round's own ratio (the engines ran seconds apart), whose
        # median resists a shared machine's load changing from round to round.
        paired = statistics.median(x / y for x, y in zip(med[t], med["ORT"]))
        print(f"{spec.get('name', args.spec.stem)}  ORT {ort.__version__} median {o:.4g} ms | "
              f"xcc {names[t]} median {m:.4g} ms | ratio xcc/ORT {m / o:.3f} "
              f"(median of the rounds' ratios {paired:.3f})")


if __name__ == "__main__":
    main()
