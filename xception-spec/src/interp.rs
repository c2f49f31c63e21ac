//! A plain reference interpreter: runs a validated [`Graph`] on one NHWC input
//! with a [`WeightMap`] in Keras layouts, with Keras inference semantics.
//!
//! Tensors between layers are stored as f32 (as Keras stores them); inside
//! each layer every sum, the batch-norm arithmetic, pooling and softmax are
//! done in f64 and rounded to f32 once, at the end of the layer. A
//! `SeparableConv2D` keeps its depthwise result in f64 for the pointwise step.
//!
//! Semantics, all as in Keras / TensorFlow:
//! * `same` padding pads `pad_before` zeros at the top/left and the rest (the odd
//!   pixel) at the bottom/right, as computed by [`crate::graph::axis_geometry`];
//!   padded taps are skipped, which equals adding zeros.
//! * Kernels: conv `[kh, kw, cin, cout]`; depthwise `[kh, kw, cin, m]` with output
//!   channel `c * m + j`; pointwise `[1, 1, cin * m, filters]`; dense `[in, units]`.
//! * Batch norm: `gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta`,
//!   with `gamma = 1` when `scale` is off and `beta = 0` when `center` is off.
//! * Max pooling ignores padded pixels; average pooling divides by the number of
//!   in-bounds pixels of each window.
//! * Softmax is taken over the last (channel) axis; `Dense` acts on the last axis.
//!
//! The interpreter shares no code with the compiler; it is deliberately simple.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::graph::{Graph, Node, Shape, Window2D};
use crate::spec::{Activation, Op};
use crate::weights::{self, WeightMap, WeightMismatch};

/// Why the interpreter refused to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    /// The weight map does not fit the graph (see [`weights::check`]).
    Weights(WeightMismatch),
    /// The input does not have `h * w * c` values.
    InputLength {
        /// Values the graph's input shape needs.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A requested tensor is neither a layer of the graph nor its input.
    UnknownTensor(String),
    /// The graph is internally inconsistent (it was not made by [`crate::graph::validate`]).
    InvalidGraph(String),
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::Weights(e) => write!(f, "weights do not fit the spec: {e}"),
            InterpError::InputLength { expected, got } => write!(
                f,
                "input has {got} values, the spec's input shape needs {expected}"
            ),
            InterpError::UnknownTensor(name) => write!(
                f,
                "'{}' is neither a layer of the spec nor its input",
                name.escape_debug()
            ),
            InterpError::InvalidGraph(msg) => write!(f, "inconsistent graph: {msg}"),
        }
    }
}

impl std::error::Error for InterpError {}

/// The model output and the requested intermediate tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// The output layer's tensor, NHWC row-major (or a vector).
    pub output: Vec<f32>,
    /// Each requested tensor by name (layer name or the input name).
    pub kept: BTreeMap<String, Vec<f32>>,
}

/// Runs the graph on `input` (NHWC row-major, `graph.input_shape.len()` values)
/// and returns the output layer's tensor.
pub fn run(graph: &Graph, weights: &WeightMap, input: &[f32]) -> Result<Vec<f32>, InterpError> {
    run_observed(graph, weights, input, |_, _, _| {})
}

/// Like [`run`], and also returns copies of the tensors named in `keep`
/// (layer names, or the input name). Unknown names are an error.
pub fn run_with_outputs(
    graph: &Graph,
    weights: &WeightMap,
    input: &[f32],
    keep: &[&str],
) -> Result<Outputs, InterpError> {
    if let Some(unknown) = keep.iter().find(|k| graph.shape_of(k).is_none()) {
        return Err(InterpError::UnknownTensor(unknown.to_string()));
    }
    let mut kept = BTreeMap::new();
    let output = run_observed(graph, weights, input, |name, _, data| {
        if keep.contains(&name) {
            kept.insert(name.to_string(), data.to_vec());
        }
    })?;
    Ok(Outputs { output, kept })
}

/// Like [`run`], calling `observe(name, shape, data)` for the input and then for
/// every layer output, in the graph's topological order, as soon as it is computed.
pub fn run_observed(
    graph: &Graph,
    weights: &WeightMap,
    input: &[f32],
    mut observe: impl FnMut(&str, Shape, &[f32]),
) -> Result<Vec<f32>, InterpError> {
    weights::check(graph, weights).map_err(InterpError::Weights)?;
    let expected = graph.input_shape.len();
    if input.len() != expected {
        return Err(InterpError::InputLength {
            expected,
            got: input.len(),
        });
    }
    let input_name = graph.spec.input.name.as_str();
    let output_name = graph.spec.output.as_str();

    // Position of the last node reading each tensor, to free tensors early.
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (pos, node) in graph.nodes.iter().enumerate() {
        for src in &graph.layer(node).inputs {
            last_use.insert(src, pos);
        }
    }

    observe(input_name, graph.input_shape, input);
    let mut live: HashMap<&str, Vec<f32>> = HashMap::new();
    live.insert(input_name, input.to_vec());
    for (pos, node) in graph.nodes.iter().enumerate() {
        let layer = graph.layer(node);
        if node.input_shapes.len() != layer.inputs.len() {
            return Err(InterpError::InvalidGraph(format!(
                "layer '{}' has {} inputs but {} input shapes",
                layer.name,
                layer.inputs.len(),
                node.input_shapes.len()
            )));
        }
        let mut args = Vec::with_capacity(layer.inputs.len());
        for (src, shape) in layer.inputs.iter().zip(&node.input_shapes) {
            let data = live.get(src.as_str()).ok_or_else(|| {
                InterpError::InvalidGraph(format!(
                    "layer '{}' reads '{src}' before it is computed",
                    layer.name
                ))
            })?;
            if data.len() != shape.len() {
                return Err(InterpError::InvalidGraph(format!(
                    "layer '{}': input '{src}' has {} values, its shape {shape} needs {}",
                    layer.name,
                    data.len(),
                    shape.len()
                )));
            }
            args.push(data.as_slice());
        }
        let out = eval(node, &layer.name, &layer.op, &args, weights)?;
        if out.len() != node.output_shape.len() {
            return Err(InterpError::InvalidGraph(format!(
                "layer '{}' produced {} values, its shape {} needs {}",
                layer.name,
                out.len(),
                node.output_shape,
                node.output_shape.len()
            )));
        }
        observe(&layer.name, node.output_shape, &out);
        for src in &layer.inputs {
            if last_use.get(src.as_str()) == Some(&pos) && src != output_name {
                live.remove(src.as_str());
            }
        }
        live.insert(&layer.name, out);
    }
    live.remove(output_name).ok_or_else(|| {
        InterpError::InvalidGraph(format!("output layer '{output_name}' was never computed"))
    })
}

/// Output pixels handled together by [`matmul_acc`] (each kernel row is reused this often).
const ROW_TILE: usize = 8;
/// Output channels handled together by [`matmul_acc`] (keeps the tile of sums in L1).
const COL_BLOCK: usize = 256;

/// Evaluates one layer on its inputs.
fn eval(
    node: &Node,
    name: &str,
    op: &Op,
    args: &[&[f32]],
    weights: &WeightMap,
) -> Result<Vec<f32>, InterpError> {
    let x = args.first().copied().unwrap_or(&[]);
    let in_shape = node
        .input_shapes
        .first()
        .copied()
        .unwrap_or(node.output_shape);
    let out_channels = node.output_shape.channels();
    let out = match op {
        Op::Conv2D(c) => {
            let g = window(node, name)?;
            let kernel = widen(tensor(weights, name, "kernel")?);
            let sums = conv2d(x, hwc(in_shape), &g, &kernel, c.filters);
            finish(
                sums,
                bias(weights, name, c.use_bias)?,
                c.activation,
                out_channels,
            )
        }
        Op::DepthwiseConv2D(d) => {
            let g = window(node, name)?;
            let kernel = tensor(weights, name, "kernel")?;
            let sums = depthwise(x, hwc(in_shape), &g, kernel, d.depth_multiplier);
            finish(
                sums,
                bias(weights, name, d.use_bias)?,
                d.activation,
                out_channels,
            )
        }
        Op::SeparableConv2D(s) => {
            let g = window(node, name)?;
            let dw = tensor(weights, name, "depthwise_kernel")?;
            let mid = depthwise(x, hwc(in_shape), &g, dw, s.depth_multiplier);
            let pw = widen(tensor(weights, name, "pointwise_kernel")?);
            let pixels = g.rows.out * g.cols.out;
            let mut sums = vec![0.0; pixels * s.filters];
            matmul_acc(
                &mid,
                hwc(in_shape).2 * s.depth_multiplier,
                &pw,
                s.filters,
                &mut sums,
            );
            finish(
                sums,
                bias(weights, name, s.use_bias)?,
                s.activation,
                out_channels,
            )
        }
        Op::BatchNormalization(b) => {
            let gamma = if b.scale {
                Some(tensor(weights, name, "gamma")?)
            } else {
                None
            };
            let beta = if b.center {
                Some(tensor(weights, name, "beta")?)
            } else {
                None
            };
            let mean = tensor(weights, name, "moving_mean")?;
            let var = tensor(weights, name, "moving_variance")?;
            batch_norm(x, out_channels, gamma, beta, mean, var, b.epsilon)
        }
        Op::Activation(a) => finish(widen(x), None, a.activation, out_channels),
        Op::ReLU {} => finish(widen(x), None, Activation::Relu, out_channels),
        Op::MaxPooling2D(_) => pool(x, hwc(in_shape), &window(node, name)?, PoolKind::Max),
        Op::AveragePooling2D(_) => pool(x, hwc(in_shape), &window(node, name)?, PoolKind::Avg),
        Op::GlobalAveragePooling2D {} => global_pool(x, out_channels, PoolKind::Avg),
        Op::GlobalMaxPooling2D {} => global_pool(x, out_channels, PoolKind::Max),
        Op::Add {} => {
            let mut sums = vec![0.0f64; x.len()];
            for arg in args {
                for (s, &v) in sums.iter_mut().zip(arg.iter()) {
                    *s += f64::from(v);
                }
            }
            narrow(&sums)
        }
        Op::Dense(d) => {
            let kernel = widen(tensor(weights, name, "kernel")?);
            let cin = in_shape.channels();
            let mut sums = vec![0.0; x.len() / cin * d.units];
            matmul_acc(&widen(x), cin, &kernel, d.units, &mut sums);
            finish(
                sums,
                bias(weights, name, d.use_bias)?,
                d.activation,
                out_channels,
            )
        }
    };
    Ok(out)
}

/// `(h, w, c)` of a shape; a vector counts as a 1x1 image.
fn hwc(shape: Shape) -> (usize, usize, usize) {
    match shape {
        Shape::Image { h, w, c } => (h, w, c),
        Shape::Vector { c } => (1, 1, c),
    }
}

fn window(node: &Node, name: &str) -> Result<Window2D, InterpError> {
    node.window
        .ok_or_else(|| InterpError::InvalidGraph(format!("layer '{name}' has no window geometry")))
}

/// The data of weight `<layer>/<var>` (present after [`weights::check`]).
fn tensor<'a>(weights: &'a WeightMap, layer: &str, var: &str) -> Result<&'a [f32], InterpError> {
    let full = format!("{layer}/{var}");
    weights
        .get(&full)
        .map(|t| t.data.as_slice())
        .ok_or_else(|| InterpError::Weights(WeightMismatch(format!("missing weight '{full}'"))))
}

fn bias<'a>(
    weights: &'a WeightMap,
    layer: &str,
    use_bias: bool,
) -> Result<Option<&'a [f32]>, InterpError> {
    if use_bias {
        tensor(weights, layer, "bias").map(Some)
    } else {
        Ok(None)
    }
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Rounds to nearest f32 (the layer's single output rounding).
fn narrow(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Adds the per-channel bias, applies the activation over the last axis and rounds to f32.
fn finish(
    mut sums: Vec<f64>,
    bias: Option<&[f32]>,
    activation: Activation,
    channels: usize,
) -> Vec<f32> {
    for row in sums.chunks_mut(channels) {
        if let Some(b) = bias {
            for (s, &bv) in row.iter_mut().zip(b) {
                *s += f64::from(bv);
            }
        }
        match activation {
            Activation::Linear => {}
            Activation::Relu => {
                for s in row.iter_mut() {
                    // `<` keeps NaN as NaN, like max(x, 0) in TF and JAX.
                    if *s < 0.0 {
                        *s = 0.0;
                    }
                }
            }
            Activation::Softmax => softmax(row),
        }
    }
    narrow(&sums)
}

/// Softmax of one row, in place: `exp(x - max) / sum(exp(x - max))`.
fn softmax(row: &mut [f64]) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for s in row.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    for s in row.iter_mut() {
        *s /= total;
    }
}

/// Input coordinate read by output coordinate `out` at kernel tap `tap` on one
/// axis, or `None` when it falls in the padding.
fn source(
    out: usize,
    tap: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
    size: usize,
) -> Option<usize> {
    (out * stride + tap * dilation)
        .checked_sub(pad_before)
        .filter(|&i| i < size)
}

/// The in-bounds input pixels `(iy, ix)` of the window of output pixel `(oy, ox)`,
/// with the kernel tap index `ky * kw + kx` of each.
fn taps(g: &Window2D, (h, w): (usize, usize), oy: usize, ox: usize) -> Vec<(usize, usize, usize)> {
    let [kh, kw] = g.kernel;
    let mut v = Vec::with_capacity(kh * kw);
    for ky in 0..kh {
        let Some(iy) = source(oy, ky, g.strides[0], g.dilation[0], g.rows.pad_before, h) else {
            continue;
        };
        for kx in 0..kw {
            if let Some(ix) = source(ox, kx, g.strides[1], g.dilation[1], g.cols.pad_before, w) {
                v.push((iy, ix, ky * kw + kx));
            }
        }
    }
    v
}

/// `out[r][j] += sum_i a[r][i] * b[i][j]` for row-major `a` (rows x k), `b` (k x n)
/// and `out` (rows x n); each sum runs over `i` in increasing order.
fn matmul_acc(a: &[f64], k: usize, b: &[f64], n: usize, out: &mut [f64]) {
    for (a_tile, out_tile) in a.chunks(ROW_TILE * k).zip(out.chunks_mut(ROW_TILE * n)) {
        for j0 in (0..n).step_by(COL_BLOCK) {
            let j1 = (j0 + COL_BLOCK).min(n);
            for i in 0..k {
                let b_row = &b[i * n + j0..i * n + j1];
                for (a_row, out_row) in a_tile.chunks(k).zip(out_tile.chunks_mut(n)) {
                    let av = a_row[i];
                    for (o, &bv) in out_row[j0..j1].iter_mut().zip(b_row) {
                        *o += av * bv;
                    }
                }
            }
        }
    }
}

/// Dense convolution without bias: each output pixel's patch (taps in
/// `[ky, kx, cin]` order, zeros for padding) times the kernel `[kh * kw * cin, cout]`.
fn conv2d(
    x: &[f32],
    (h, w, cin): (usize, usize, usize),
    g: &Window2D,
    kernel: &[f64],
    cout: usize,
) -> Vec<f64> {
    let k = g.kernel[0] * g.kernel[1] * cin;
    let pixels = g.rows.out * g.cols.out;
    let mut out = vec![0.0; pixels * cout];
    let mut patches = vec![0.0; ROW_TILE * k];
    for p0 in (0..pixels).step_by(ROW_TILE) {
        let p1 = (p0 + ROW_TILE).min(pixels);
        for (p, patch) in (p0..p1).zip(patches.chunks_mut(k)) {
            patch.fill(0.0);
            for (iy, ix, tap) in taps(g, (h, w), p / g.cols.out, p % g.cols.out) {
                let src = &x[(iy * w + ix) * cin..][..cin];
                for (d, &v) in patch[tap * cin..][..cin].iter_mut().zip(src) {
                    *d = f64::from(v);
                }
            }
        }
        matmul_acc(
            &patches[..(p1 - p0) * k],
            k,
            kernel,
            cout,
            &mut out[p0 * cout..p1 * cout],
        );
    }
    out
}

/// Depthwise convolution without bias: output channel `c * m + j` sums input
/// channel `c` times kernel `[ky, kx, c, j]`.
fn depthwise(
    x: &[f32],
    (h, w, cin): (usize, usize, usize),
    g: &Window2D,
    kernel: &[f32],
    m: usize,
) -> Vec<f64> {
    let cout = cin * m;
    let pixels = g.rows.out * g.cols.out;
    let mut out = vec![0.0; pixels * cout];
    for (p, acc) in out.chunks_mut(cout).enumerate() {
        for (iy, ix, tap) in taps(g, (h, w), p / g.cols.out, p % g.cols.out) {
            let src = &x[(iy * w + ix) * cin..][..cin];
            let ker = &kernel[tap * cout..][..cout];
            for ((acc_c, ker_c), &xv) in acc.chunks_mut(m).zip(ker.chunks(m)).zip(src) {
                for (a, &kv) in acc_c.iter_mut().zip(ker_c) {
                    *a += f64::from(xv) * f64::from(kv);
                }
            }
        }
    }
    out
}

fn batch_norm(
    x: &[f32],
    channels: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(channels) {
        for (c, &v) in row.iter().enumerate() {
            let g = gamma.map_or(1.0, |g| f64::from(g[c]));
            let b = beta.map_or(0.0, |b| f64::from(b[c]));
            let y =
                g * (f64::from(v) - f64::from(mean[c])) / (f64::from(var[c]) + epsilon).sqrt() + b;
            out.push(y as f32);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum PoolKind {
    Max,
    Avg,
}

/// Max or average pooling over the in-bounds pixels of each window.
fn pool(x: &[f32], (h, w, c): (usize, usize, usize), g: &Window2D, kind: PoolKind) -> Vec<f32> {
    let pixels = g.rows.out * g.cols.out;
    let mut out = Vec::with_capacity(pixels * c);
    let mut acc = vec![0.0f64; c];
    for p in 0..pixels {
        let inside = taps(g, (h, w), p / g.cols.out, p % g.cols.out);
        acc.fill(match kind {
            PoolKind::Max => f64::NEG_INFINITY,
            PoolKind::Avg => 0.0,
        });
        for &(iy, ix, _) in &inside {
            let src = &x[(iy * w + ix) * c..][..c];
            for (a, &v) in acc.iter_mut().zip(src) {
                let v = f64::from(v);
                match kind {
                    PoolKind::Max => *a = max_nan(*a, v),
                    PoolKind::Avg => *a += v,
                }
            }
        }
        let divisor = match kind {
            PoolKind::Max => 1.0,
            PoolKind::Avg => inside.len() as f64,
        };
        out.extend(acc.iter().map(|&a| (a / divisor) as f32));
    }
    out
}

/// Mean or max over all pixels, per channel.
fn global_pool(x: &[f32], c: usize, kind: PoolKind) -> Vec<f32> {
    let mut acc = vec![
        match kind {
            PoolKind::Max => f64::NEG_INFINITY,
            PoolKind::Avg => 0.0,
        };
        c
    ];
    for row in x.chunks(c) {
        for (a, &v) in acc.iter_mut().zip(row) {
            let v = f64::from(v);
            match kind {
                PoolKind::Max => *a = max_nan(*a, v),
                PoolKind::Avg => *a += v,
            }
        }
    }
    let divisor = match kind {
        PoolKind::Max => 1.0,
        PoolKind::Avg => (x.len() / c) as f64,
    };
    acc.iter().map(|&a| (a / divisor) as f32).collect()
}

/// Maximum where a NaN on either side gives NaN (a NaN is never silently dropped).
fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
