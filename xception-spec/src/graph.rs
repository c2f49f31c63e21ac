//! Validation and shape inference: a [`Spec`] becomes a [`Graph`] whose layers
//! are in a topological order, each with its input and output shapes.

use std::collections::HashMap;

use crate::error::SpecError;
use crate::spec::{Op, Padding, Spec};

/// Largest element count accepted for any one tensor (2^30, i.e. 4 GiB of f32).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 30;

/// Shape of a tensor (batch 1 is implicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// An image `[h, w, c]`, NHWC.
    Image {
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
    /// A vector `[c]` (after global pooling or dense).
    Vector {
        /// Length.
        c: usize,
    },
}

impl Shape {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image { h, w, c } => h * w * c,
            Shape::Vector { c } => c,
        }
    }

    /// Always false for a validated shape (every dimension is positive).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last (channel) dimension.
    pub fn channels(&self) -> usize {
        match *self {
            Shape::Image { c, .. } | Shape::Vector { c } => c,
        }
    }

    /// Dimensions as in Keras without the batch axis.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Image { h, w, c } => vec![h, w, c],
            Shape::Vector { c } => vec![c],
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Shape::Image { h, w, c } => write!(f, "{h}x{w}x{c}"),
            Shape::Vector { c } => write!(f, "{c}"),
        }
    }
}

/// Output size and padding of one spatial axis of a window op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisGeometry {
    /// Output size.
    pub out: usize,
    /// Padding before (top or left).
    pub pad_before: usize,
    /// Padding after (bottom or right): gets the odd pixel under `same`.
    pub pad_after: usize,
}

/// TensorFlow window arithmetic for one axis. `None` when a `valid` window is
/// larger than the input. Arguments must be positive.
pub fn axis_geometry(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<AxisGeometry> {
    let k_eff = (kernel - 1).checked_mul(dilation)?.checked_add(1)?;
    match padding {
        Padding::Valid => {
            if k_eff > input {
                return None;
            }
            Some(AxisGeometry {
                out: (input - k_eff) / stride + 1,
                pad_before: 0,
                pad_after: 0,
            })
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let needed = (out - 1).checked_mul(stride)?.checked_add(k_eff)?;
            let total = needed.saturating_sub(input);
            Some(AxisGeometry {
                out,
                pad_before: total / 2,
                pad_after: total - total / 2,
            })
        }
    }
}

/// Spatial geometry of a 2-D window op (conv, depthwise, pooling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window2D {
    /// Kernel / pool size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]`.
    pub strides: [usize; 2],
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Rows.
    pub rows: AxisGeometry,
    /// Columns.
    pub cols: AxisGeometry,
}

/// A weight variable a layer owns, in Keras order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSpec {
    /// Full name `<layer>/<variable>`, e.g. `block2_sepconv1/pointwise_kernel`.
    pub name: String,
    /// Variable name, e.g. `pointwise_kernel`.
    pub var: &'static str,
    /// Shape in the Keras layout.
    pub shape: Vec<usize>,
    /// What the variable is (decides synthetic initialisation).
    pub kind: WeightKind,
}

impl WeightSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the shape has a zero dimension (never for a validated graph).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Kind of a weight variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightKind {
    /// Convolution or dense kernel whose per-output fan-in is the field.
    Kernel {
        /// Fan-in of one output: kh*kw*cin (conv), kh*kw (depthwise), cin (pointwise), in (dense).
        fan_in: usize,
    },
    /// Bias.
    Bias,
    /// BatchNorm gamma.
    Gamma,
    /// BatchNorm beta.
    Beta,
    /// BatchNorm moving mean.
    MovingMean,
    /// BatchNorm moving variance.
    MovingVariance,
}

/// Multiply-accumulates of one layer, by kind of work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Macs {
    /// Dense convolutions with a kernel larger than 1x1.
    pub conv: u64,
    /// Dense 1x1 convolutions (Xception's shortcuts).
    pub conv1x1: u64,
    /// Depthwise convolutions (standalone or inside a separable conv).
    pub depthwise: u64,
    /// Pointwise 1x1 step of separable convolutions.
    pub pointwise: u64,
    /// Dense layers.
    pub dense: u64,
}

impl Macs {
    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.conv + self.conv1x1 + self.depthwise + self.pointwise + self.dense
    }

    fn add(&mut self, o: &Macs) {
        self.conv += o.conv;
        self.conv1x1 += o.conv1x1;
        self.depthwise += o.depthwise;
        self.pointwise += o.pointwise;
        self.dense += o.dense;
    }
}

/// A validated layer with its shapes.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index into `spec.layers`.
    pub index: usize,
    /// Input shapes, in the order of `inputs`.
    pub input_shapes: Vec<Shape>,
    /// Output shape.
    pub output_shape: Shape,
    /// Window geometry for conv/depthwise/separable/pool layers.
    pub window: Option<Window2D>,
    /// Weight variables in Keras order.
    pub weights: Vec<WeightSpec>,
    /// Multiply-accumulates.
    pub macs: Macs,
}

impl Node {
    /// Parameter count (every weight variable, trainable or not, as Keras counts them).
    pub fn params(&self) -> u64 {
        self.weights.iter().map(|w| w.len() as u64).sum()
    }
}

/// A validated spec: layers in topological order with shapes, weights and MACs.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The spec as given.
    pub spec: Spec,
    /// Input shape.
    pub input_shape: Shape,
    /// Nodes in a topological order (the order of `spec.layers` where it is one).
    pub nodes: Vec<Node>,
}

impl Graph {
    /// The spec layer of a node.
    pub fn layer(&self, node: &Node) -> &crate::spec::Layer {
        &self.spec.layers[node.index]
    }

    /// The node producing the named tensor, `None` for the model input.
    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| self.spec.layers[n.index].name == name)
    }

    /// Shape of the named tensor (a layer output or the model input).
    pub fn shape_of(&self, name: &str) -> Option<Shape> {
        if name == self.spec.input.name {
            return Some(self.input_shape);
        }
        self.node_by_name(name).map(|n| n.output_shape)
    }

    /// The output node.
    pub fn output_node(&self) -> &Node {
        self.node_by_name(&self.spec.output)
            .expect("validated graph has its output layer")
    }

    /// Total parameter count.
    pub fn params(&self) -> u64 {
        self.nodes.iter().map(Node::params).sum()
    }

    /// Total MACs by kind.
    pub fn macs(&self) -> Macs {
        let mut m = Macs::default();
        for n in &self.nodes {
            m.add(&n.macs);
        }
        m
    }

    /// Every weight variable of the model, in layer (topological) then Keras order.
    pub fn weight_specs(&self) -> impl Iterator<Item = &WeightSpec> {
        self.nodes.iter().flat_map(|n| n.weights.iter())
    }
}

fn checked_len(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_TENSOR_ELEMENTS)
}

/// Validates a spec and infers every shape. Errors name the JSON path, the layer and the field.
///
/// Checked, in this order: the input shape (positive, at most
/// [`MAX_TENSOR_ELEMENTS`]); layer names (non-empty, unique, not the input's);
/// input counts and references; the output is a layer; no cycle (the error
/// lists one); every layer feeds the output; then per layer in topological
/// order: attributes positive, a window's dilated span at most
/// [`MAX_TENSOR_ELEMENTS`], a `valid` window fits its input, `Add` shapes
/// agree, every output and weight at most [`MAX_TENSOR_ELEMENTS`] elements,
/// and MAC counts (per layer and the model total) fit in `u64`.
pub fn validate(spec: &Spec) -> Result<Graph, SpecError> {
    let [h, w, c] = spec.input.shape;
    for (i, (d, what)) in [(h, "height"), (w, "width"), (c, "channels")]
        .into_iter()
        .enumerate()
    {
        if d == 0 {
            return Err(SpecError {
                field: Some("shape".into()),
                ..SpecError::at(
                    format!("input.shape[{i}]"),
                    format!("input {what} must be positive"),
                )
            });
        }
    }
    if checked_len(&[h, w, c]).is_none() {
        return Err(SpecError {
            field: Some("shape".into()),
            ..SpecError::at(
                "input.shape",
                format!("input {h}x{w}x{c} exceeds {MAX_TENSOR_ELEMENTS} elements"),
            )
        });
    }
    if spec.input.name.is_empty() {
        return Err(SpecError::at("input.name", "input name is empty"));
    }
    let input_shape = Shape::Image { h, w, c };

    // Names: unique, non-empty, distinct from the input.
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, l) in spec.layers.iter().enumerate() {
        if l.name.is_empty() {
            return Err(SpecError::layer_field(i, "", "name", "layer name is empty"));
        }
        if l.name == spec.input.name {
            return Err(SpecError::layer_field(
                i,
                &l.name,
                "name",
                "layer name equals the input name",
            ));
        }
        if let Some(&j) = by_name.get(l.name.as_str()) {
            return Err(SpecError::layer_field(
                i,
                &l.name,
                "name",
                format!("duplicate layer name (also layers[{j}])"),
            ));
        }
        by_name.insert(&l.name, i);
    }

    // Inputs: count per op, no dangling names.
    for (i, l) in spec.layers.iter().enumerate() {
        let arity_ok = match l.op {
            Op::Add {} => l.inputs.len() >= 2,
            _ => l.inputs.len() == 1,
        };
        if !arity_ok {
            let want = if matches!(l.op, Op::Add {}) {
                "at least 2"
            } else {
                "exactly 1"
            };
            return Err(SpecError::layer_field(
                i,
                &l.name,
                "inputs",
                format!(
                    "{} takes {want} input(s), got {}",
                    l.op.type_name(),
                    l.inputs.len()
                ),
            ));
        }
        for (k, src) in l.inputs.iter().enumerate() {
            if src != &spec.input.name && !by_name.contains_key(src.as_str()) {
                return Err(SpecError::layer_field(
                    i,
                    &l.name,
                    &format!("inputs[{k}]"),
                    format!(
                        "refers to '{}', which is neither a layer nor the input",
                        src.escape_debug()
                    ),
                ));
            }
        }
    }
    let Some(&out_idx) = by_name.get(spec.output.as_str()) else {
        let why = if spec.output == spec.input.name {
            "it is the model input; the output must be a layer"
        } else {
            "no layer has this name"
        };
        return Err(SpecError {
            field: Some("output".into()),
            ..SpecError::at(
                "output",
                format!(
                    "output '{}' is not a layer: {why}",
                    spec.output.escape_debug()
                ),
            )
        });
    };

    let order = topological_order(spec, &by_name)?;

    // Every layer must feed the output.
    let mut used = vec![false; spec.layers.len()];
    used[out_idx] = true;
    for &i in order.iter().rev() {
        if used[i] {
            for src in &spec.layers[i].inputs {
                if let Some(&j) = by_name.get(src.as_str()) {
                    used[j] = true;
                }
            }
        }
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(SpecError::layer_field(
            i,
            &spec.layers[i].name,
            "name",
            format!(
                "layer does not contribute to the output '{}'",
                spec.output.escape_debug()
            ),
        ));
    }

    let mut shapes: HashMap<&str, Shape> = HashMap::new();
    shapes.insert(&spec.input.name, input_shape);
    let mut nodes = Vec::with_capacity(order.len());
    // Each layer's MACs fit in u64 (checked in `infer_node`); so must their
    // sum, which `Graph::macs` and the statistics compute unchecked.
    let mut total_macs = 0u64;
    for &i in &order {
        let l = &spec.layers[i];
        let input_shapes: Vec<Shape> = l.inputs.iter().map(|s| shapes[s.as_str()]).collect();
        let node = infer_node(i, spec, &input_shapes)?;
        total_macs = total_macs.checked_add(node.macs.total()).ok_or_else(|| {
            SpecError::layer_field(
                i,
                &l.name,
                "op",
                "size arithmetic overflows: the model's total MACs exceed 2^64 at this layer",
            )
        })?;
        shapes.insert(&l.name, node.output_shape);
        nodes.push(node);
    }
    Ok(Graph {
        spec: spec.clone(),
        input_shape,
        nodes,
    })
}

/// Kahn's algorithm, stable: among ready layers the one listed first goes first.
fn topological_order(spec: &Spec, by_name: &HashMap<&str, usize>) -> Result<Vec<usize>, SpecError> {
    let n = spec.layers.len();
    let mut indegree = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, l) in spec.layers.iter().enumerate() {
        for src in &l.inputs {
            if let Some(&j) = by_name.get(src.as_str()) {
                indegree[i] += 1;
                consumers[j].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &k in &consumers[i] {
            indegree[k] -= 1;
            if indegree[k] == 0 {
                ready.insert(k);
            }
        }
    }
    if order.len() < n {
        let cycle = find_cycle(spec, by_name, &indegree);
        let i = cycle[0];
        let names: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&i))
            .map(|&k| format!("'{}'", spec.layers[k].name.escape_debug()))
            .collect();
        return Err(SpecError::layer_field(
            i,
            &spec.layers[i].name,
            "inputs",
            format!(
                "layer is part of a cycle: {} (each reads the next)",
                names.join(" <- ")
            ),
        ));
    }
    Ok(order)
}

/// A cycle among the layers Kahn's algorithm could not order (`indegree > 0`),
/// as layer indices where each reads the next and the last reads the first,
/// rotated to start at the lowest index. Every such layer reads another such
/// layer, so walking along those inputs must revisit a layer.
fn find_cycle(spec: &Spec, by_name: &HashMap<&str, usize>, indegree: &[usize]) -> Vec<usize> {
    let stuck = |k: usize| {
        spec.layers[k]
            .inputs
            .iter()
            .filter_map(|src| by_name.get(src.as_str()).copied())
            .find(|&j| indegree[j] > 0)
    };
    let n = spec.layers.len();
    let mut seen_at = vec![usize::MAX; n];
    let mut walk = Vec::new();
    let mut k = (0..n).find(|&i| indegree[i] > 0).unwrap_or(0);
    while seen_at[k] == usize::MAX {
        seen_at[k] = walk.len();
        walk.push(k);
        match stuck(k) {
            Some(j) => k = j,
            None => break,
        }
    }
    let mut cycle = walk.split_off(seen_at[k]);
    let lowest = (0..cycle.len()).min_by_key(|&p| cycle[p]).unwrap_or(0);
    cycle.rotate_left(lowest);
    cycle
}

fn positive2(i: usize, name: &str, field: &str, v: [usize; 2]) -> Result<(), SpecError> {
    if v[0] == 0 || v[1] == 0 {
        return Err(SpecError::layer_field(
            i,
            name,
            field,
            format!("must be positive, got {v:?}"),
        ));
    }
    Ok(())
}

fn positive(i: usize, name: &str, field: &str, v: usize) -> Result<(), SpecError> {
    if v == 0 {
        return Err(SpecError::layer_field(
            i,
            name,
            field,
            "must be positive, got 0",
        ));
    }
    Ok(())
}

fn image(i: usize, name: &str, op: &str, s: Shape) -> Result<(usize, usize, usize), SpecError> {
    match s {
        Shape::Image { h, w, c } => Ok((h, w, c)),
        Shape::Vector { .. } => Err(SpecError::layer_field(
            i,
            name,
            "inputs",
            format!("{op} needs an HxWxC input, got a vector of {s}"),
        )),
    }
}

/// Checks a window op's attributes and computes its geometry. `model_input`
/// is the spec's input `[h, w, c]`, named when the window does not fit.
#[allow(clippy::too_many_arguments)]
fn window(
    i: usize,
    name: &str,
    (h, w): (usize, usize),
    kernel: [usize; 2],
    kernel_field: &str,
    strides: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
    model_input: [usize; 3],
) -> Result<Window2D, SpecError> {
    positive2(i, name, kernel_field, kernel)?;
    positive2(i, name, "strides", strides)?;
    positive2(i, name, "dilation_rate", dilation)?;
    if dilation != [1, 1] && strides != [1, 1] {
        return Err(SpecError::layer_field(
            i,
            name,
            "dilation_rate",
            "dilation_rate > 1 together with strides > 1 is not supported (nor by Keras)",
        ));
    }
    let axis = |input: usize, a: usize| {
        let what = if a == 0 { "height" } else { "width" };
        // The span of the dilated window; bounded so that padding and index
        // arithmetic downstream cannot overflow.
        let span = (kernel[a] - 1)
            .checked_mul(dilation[a])
            .and_then(|x| x.checked_add(1))
            .filter(|&x| x <= MAX_TENSOR_ELEMENTS);
        let Some(span) = span else {
            let field = if dilation[a] > 1 {
                "dilation_rate"
            } else {
                kernel_field
            };
            return Err(SpecError::layer_field(
                i,
                name,
                field,
                format!(
                    "window {what} of {} with dilation {} spans more than {MAX_TENSOR_ELEMENTS} pixels",
                    kernel[a], dilation[a]
                ),
            ));
        };
        axis_geometry(input, kernel[a], strides[a], dilation[a], padding).ok_or_else(|| {
            let [mh, mw, mc] = model_input;
            let model = model_input[a];
            let fit = if input == model {
                format!("the model input {what} {input} (input {mh}x{mw}x{mc})")
            } else {
                format!(
                    "this layer's input {what} {input}: the model input {mh}x{mw}x{mc} is \
                     too small for the network up to here"
                )
            };
            SpecError::layer_field(
                i,
                name,
                kernel_field,
                format!(
                    "'valid' window {what} {span} (kernel {}, dilation {}) is larger than {fit}",
                    kernel[a], dilation[a]
                ),
            )
        })
    };
    Ok(Window2D {
        kernel,
        strides,
        dilation,
        rows: axis(h, 0)?,
        cols: axis(w, 1)?,
    })
}

fn weight(layer: &str, var: &'static str, shape: Vec<usize>, kind: WeightKind) -> WeightSpec {
    WeightSpec {
        name: format!("{layer}/{var}"),
        var,
        shape,
        kind,
    }
}

fn mul(i: usize, name: &str, field: &str, factors: &[usize]) -> Result<u64, SpecError> {
    factors
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .ok_or_else(|| SpecError::layer_field(i, name, field, "size arithmetic overflows"))
}

fn infer_node(i: usize, spec: &Spec, ins: &[Shape]) -> Result<Node, SpecError> {
    let l = &spec.layers[i];
    let name = l.name.as_str();
    let ty = l.op.type_name();
    let mut weights = Vec::new();
    let mut macs = Macs::default();
    let mut win = None;
    let out = match &l.op {
        Op::Conv2D(c) => {
            let (h, w, cin) = image(i, name, ty, ins[0])?;
            positive(i, name, "filters", c.filters)?;
            let g = window(
                i,
                name,
                (h, w),
                c.kernel_size,
                "kernel_size",
                c.strides,
                c.dilation_rate,
                c.padding,
                spec.input.shape,
            )?;
            let [kh, kw] = c.kernel_size;
            let fan_in = mul(i, name, "kernel_size", &[kh, kw, cin])? as usize;
            let m = mul(
                i,
                name,
                "filters",
                &[g.rows.out, g.cols.out, kh, kw, cin, c.filters],
            )?;
            if [kh, kw] == [1, 1] {
                macs.conv1x1 = m;
            } else {
                macs.conv = m;
            }
            weights.push(weight(
                name,
                "kernel",
                vec![kh, kw, cin, c.filters],
                WeightKind::Kernel { fan_in },
            ));
            if c.use_bias {
                weights.push(weight(name, "bias", vec![c.filters], WeightKind::Bias));
            }
            win = Some(g);
            Shape::Image {
                h: g.rows.out,
                w: g.cols.out,
                c: c.filters,
            }
        }
        Op::DepthwiseConv2D(d) => {
            let (h, w, cin) = image(i, name, ty, ins[0])?;
            positive(i, name, "depth_multiplier", d.depth_multiplier)?;
            let g = window(
                i,
                name,
                (h, w),
                d.kernel_size,
                "kernel_size",
                d.strides,
                d.dilation_rate,
                d.padding,
                spec.input.shape,
            )?;
            let [kh, kw] = d.kernel_size;
            let cout = mul(i, name, "depth_multiplier", &[cin, d.depth_multiplier])? as usize;
            macs.depthwise = mul(
                i,
                name,
                "kernel_size",
                &[g.rows.out, g.cols.out, kh, kw, cout],
            )?;
            weights.push(weight(
                name,
                "kernel",
                vec![kh, kw, cin, d.depth_multiplier],
                WeightKind::Kernel { fan_in: kh * kw },
            ));
            if d.use_bias {
                weights.push(weight(name, "bias", vec![cout], WeightKind::Bias));
            }
            win = Some(g);
            Shape::Image {
                h: g.rows.out,
                w: g.cols.out,
                c: cout,
            }
        }
        Op::SeparableConv2D(s) => {
            let (h, w, cin) = image(i, name, ty, ins[0])?;
            positive(i, name, "filters", s.filters)?;
            positive(i, name, "depth_multiplier", s.depth_multiplier)?;
            let g = window(
                i,
                name,
                (h, w),
                s.kernel_size,
                "kernel_size",
                s.strides,
                s.dilation_rate,
                s.padding,
                spec.input.shape,
            )?;
            let [kh, kw] = s.kernel_size;
            let mid = mul(i, name, "depth_multiplier", &[cin, s.depth_multiplier])? as usize;
            macs.depthwise = mul(
                i,
                name,
                "kernel_size",
                &[g.rows.out, g.cols.out, kh, kw, mid],
            )?;
            macs.pointwise = mul(
                i,
                name,
                "filters",
                &[g.rows.out, g.cols.out, mid, s.filters],
            )?;
            weights.push(weight(
                name,
                "depthwise_kernel",
                vec![kh, kw, cin, s.depth_multiplier],
                WeightKind::Kernel { fan_in: kh * kw },
            ));
            weights.push(weight(
                name,
                "pointwise_kernel",
                vec![1, 1, mid, s.filters],
                WeightKind::Kernel { fan_in: mid },
            ));
            if s.use_bias {
                weights.push(weight(name, "bias", vec![s.filters], WeightKind::Bias));
            }
            win = Some(g);
            Shape::Image {
                h: g.rows.out,
                w: g.cols.out,
                c: s.filters,
            }
        }
        Op::BatchNormalization(b) => {
            if !(b.epsilon.is_finite() && b.epsilon > 0.0) {
                return Err(SpecError::layer_field(
                    i,
                    name,
                    "epsilon",
                    format!("must be finite and positive, got {}", b.epsilon),
                ));
            }
            let c = ins[0].channels();
            if b.scale {
                weights.push(weight(name, "gamma", vec![c], WeightKind::Gamma));
            }
            if b.center {
                weights.push(weight(name, "beta", vec![c], WeightKind::Beta));
            }
            weights.push(weight(name, "moving_mean", vec![c], WeightKind::MovingMean));
            weights.push(weight(
                name,
                "moving_variance",
                vec![c],
                WeightKind::MovingVariance,
            ));
            ins[0]
        }
        Op::Activation(_) | Op::ReLU {} => ins[0],
        Op::MaxPooling2D(p) | Op::AveragePooling2D(p) => {
            let (h, w, c) = image(i, name, ty, ins[0])?;
            let g = window(
                i,
                name,
                (h, w),
                p.pool_size,
                "pool_size",
                p.strides(),
                [1, 1],
                p.padding,
                spec.input.shape,
            )?;
            win = Some(g);
            Shape::Image {
                h: g.rows.out,
                w: g.cols.out,
                c,
            }
        }
        Op::GlobalAveragePooling2D {} | Op::GlobalMaxPooling2D {} => {
            let (_, _, c) = image(i, name, ty, ins[0])?;
            Shape::Vector { c }
        }
        Op::Add {} => {
            for (k, s) in ins.iter().enumerate().skip(1) {
                if *s != ins[0] {
                    return Err(SpecError::layer_field(
                        i,
                        name,
                        &format!("inputs[{k}]"),
                        format!(
                            "Add shape mismatch: '{}' is {} but '{}' is {}",
                            l.inputs[k].escape_debug(),
                            s,
                            l.inputs[0].escape_debug(),
                            ins[0]
                        ),
                    ));
                }
            }
            ins[0]
        }
        Op::Dense(d) => {
            positive(i, name, "units", d.units)?;
            let cin = ins[0].channels();
            let rows = ins[0].len() / cin;
            macs.dense = mul(i, name, "units", &[rows, cin, d.units])?;
            weights.push(weight(
                name,
                "kernel",
                vec![cin, d.units],
                WeightKind::Kernel { fan_in: cin },
            ));
            if d.use_bias {
                weights.push(weight(name, "bias", vec![d.units], WeightKind::Bias));
            }
            match ins[0] {
                Shape::Image { h, w, .. } => Shape::Image { h, w, c: d.units },
                Shape::Vector { .. } => Shape::Vector { c: d.units },
            }
        }
    };
    // The attribute that sets the size of the output and weights (only these
    // ops can make a tensor larger than their input).
    let size_field = match &l.op {
        Op::Conv2D(_) | Op::SeparableConv2D(_) => "filters",
        Op::DepthwiseConv2D(_) => "depth_multiplier",
        Op::Dense(_) => "units",
        _ => "op",
    };
    if checked_len(&out.dims()).is_none() {
        return Err(SpecError::layer_field(
            i,
            name,
            size_field,
            format!("output {out} exceeds {MAX_TENSOR_ELEMENTS} elements"),
        ));
    }
    for wspec in &weights {
        if checked_len(&wspec.shape).is_none() {
            return Err(SpecError::layer_field(
                i,
                name,
                size_field,
                format!(
                    "weight {} of shape {:?} exceeds {MAX_TENSOR_ELEMENTS} elements",
                    wspec.var, wspec.shape
                ),
            ));
        }
    }
    Ok(Node {
        index: i,
        input_shapes: ins.to_vec(),
        output_shape: out,
        window: win,
        weights,
        macs,
    })
}
