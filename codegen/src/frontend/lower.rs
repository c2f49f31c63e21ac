//! Lowering a validated spec and its weights into the IR, one step per layer.
//!
//! No optimisation happens here: BatchNormalization becomes an `Affine` step,
//! activations become their own steps (or a conv/dense epilogue when the layer
//! has an `activation` attribute). The passes fuse afterwards.

use std::collections::HashMap;

use xception_spec::graph::{Graph, Window2D};
use xception_spec::spec::{Activation, Conv2D, Dense, DepthwiseConv2D, Op, SeparableConv2D};
use xception_spec::{Shape, WeightMap};

use crate::error::CompileError;
use crate::ir::{Const, ConstId, Epilogue, Geom, Kernel, Program, Step, TensorId, TensorInfo};

fn geom(w: &Window2D, input: Shape) -> Geom {
    let Shape::Image { h, w: iw, c } = input else {
        unreachable!("validated window ops have image inputs")
    };
    Geom {
        h,
        w: iw,
        c,
        oh: w.rows.out,
        ow: w.cols.out,
        kh: w.kernel[0],
        kw: w.kernel[1],
        sh: w.strides[0],
        sw: w.strides[1],
        dh: w.dilation[0],
        dw: w.dilation[1],
        pt: w.rows.pad_before,
        pl: w.cols.pad_before,
        pb: w.rows.pad_after,
        pr: w.cols.pad_after,
    }
}

struct Lowering<'a> {
    weights: &'a WeightMap,
    p: Program,
}

impl Lowering<'_> {
    fn tensor(&mut self, name: &str, shape: Shape) -> TensorId {
        self.p.tensors.push(TensorInfo {
            name: name.to_string(),
            shape,
        });
        self.p.tensors.len() - 1
    }

    fn constant(&mut self, layer: &str, var: &str) -> Result<ConstId, CompileError> {
        let name = format!("{layer}/{var}");
        let t = self.weights.get(&name).ok_or_else(|| {
            CompileError::Weights(format!("layer '{layer}': missing weight tensor '{name}'"))
        })?;
        self.p.consts.push(Const {
            name,
            shape: t.shape.clone(),
            data: t.data.clone(),
        });
        Ok(self.p.consts.len() - 1)
    }

    fn push(
        &mut self,
        name: &str,
        kernel: Kernel,
        inputs: Vec<TensorId>,
        output: TensorId,
        epilogue: Epilogue,
    ) {
        self.p.steps.push(Step {
            name: name.to_string(),
            kernel,
            inputs,
            output,
            relu_in: false,
            epilogue,
        });
    }

    /// Adds the step for a layer's `activation` attribute after `t`; returns the final tensor.
    fn activation(
        &mut self,
        layer: &str,
        act: Activation,
        t: TensorId,
        ep: &mut Epilogue,
    ) -> TensorId {
        match act {
            Activation::Linear => t,
            Activation::Relu => {
                ep.relu = true;
                t
            }
            Activation::Softmax => {
                let shape = self.p.tensors[t].shape;
                let out = self.tensor(layer, shape);
                let c = shape.channels();
                self.push(
                    &format!("{layer}_softmax"),
                    Kernel::Softmax { c },
                    vec![t],
                    out,
                    Epilogue::default(),
                );
                out
            }
        }
    }
}

/// Lowers `graph` with `weights` (checked against the graph first).
pub fn lower(graph: &Graph, weights: &WeightMap) -> Result<Program, CompileError> {
    xception_spec::weights::check(graph, weights)
        .map_err(|e| CompileError::Weights(e.to_string()))?;
    let mut l = Lowering {
        weights,
        p: Program {
            name: graph.spec.name.clone(),
            tensors: Vec::new(),
            consts: Vec::new(),
            steps: Vec::new(),
            input: 0,
            output: 0,
        },
    };
    let input = l.tensor(&graph.spec.input.name, graph.input_shape);
    l.p.input = input;
    let mut by_name: HashMap<String, TensorId> = HashMap::new();
    by_name.insert(graph.spec.input.name.clone(), input);

    for node in &graph.nodes {
        let layer = graph.layer(node);
        let name = layer.name.as_str();
        let ins: Vec<TensorId> = layer.inputs.iter().map(|s| by_name[s]).collect();
        let in_shape = node.input_shapes[0];
        let mut ep = Epilogue::default();
        // The step's own output tensor; an activation may add a step after it.
        let softmax_after = matches!(
            &layer.op,
            Op::Conv2D(Conv2D {
                activation: Activation::Softmax,
                ..
            }) | Op::DepthwiseConv2D(DepthwiseConv2D {
                activation: Activation::Softmax,
                ..
            }) | Op::SeparableConv2D(SeparableConv2D {
                activation: Activation::Softmax,
                ..
            }) | Op::Dense(Dense {
                activation: Activation::Softmax,
                ..
            })
        );
        let pre_name = if softmax_after {
            format!("{name} (before softmax)")
        } else {
            name.to_string()
        };
        let pre = l.tensor(&pre_name, node.output_shape);
        let (kernel, act) = match &layer.op {
            Op::Conv2D(c) => {
                let weights = l.constant(name, "kernel")?;
                if c.use_bias {
                    ep.bias = Some(l.constant(name, "bias")?);
                }
                let g = geom(node.window.as_ref().expect("conv window"), in_shape);
                (
                    Kernel::Conv {
                        g,
                        cout: c.filters,
                        weights,
                    },
                    c.activation,
                )
            }
            Op::DepthwiseConv2D(d) => {
                let weights = l.constant(name, "kernel")?;
                if d.use_bias {
                    ep.bias = Some(l.constant(name, "bias")?);
                }
                let g = geom(node.window.as_ref().expect("depthwise window"), in_shape);
                (
                    Kernel::Depthwise {
                        g,
                        mult: d.depth_multiplier,
                        weights,
                    },
                    d.activation,
                )
            }
            Op::SeparableConv2D(s) => {
                let dw = l.constant(name, "depthwise_kernel")?;
                let pw = l.constant(name, "pointwise_kernel")?;
                if s.use_bias {
                    ep.bias = Some(l.constant(name, "bias")?);
                }
                let g = geom(node.window.as_ref().expect("separable window"), in_shape);
                (
                    Kernel::Separable {
                        g,
                        mult: s.depth_multiplier,
                        cout: s.filters,
                        dw,
                        pw,
                    },
                    s.activation,
                )
            }
            Op::Dense(d) => {
                let weights = l.constant(name, "kernel")?;
                if d.use_bias {
                    ep.bias = Some(l.constant(name, "bias")?);
                }
                (
                    Kernel::Dense {
                        cin: in_shape.channels(),
                        cout: d.units,
                        weights,
                    },
                    d.activation,
                )
            }
            Op::BatchNormalization(b) => {
                let c = in_shape.channels();
                let get = |var: &str| {
                    weights
                        .get(&format!("{name}/{var}"))
                        .map(|t| t.data.clone())
                };
                let gamma = if b.scale { get("gamma") } else { None };
                let beta = if b.center { get("beta") } else { None };
                let mean = get("moving_mean").unwrap_or_default();
                let var = get("moving_variance").unwrap_or_default();
                let mut scale = Vec::with_capacity(c);
                let mut shift = Vec::with_capacity(c);
                for k in 0..c {
                    let s = gamma.as_ref().map_or(1.0, |g| f64::from(g[k]))
                        / (f64::from(var[k]) + b.epsilon).sqrt();
                    scale.push(s as f32);
                    shift.push(
                        (beta.as_ref().map_or(0.0, |v| f64::from(v[k])) - f64::from(mean[k]) * s)
                            as f32,
                    );
                }
                let mk = |p: &mut Program, suffix: &str, data: Vec<f32>| {
                    p.consts.push(Const {
                        name: format!("{name}/{suffix}"),
                        shape: vec![c],
                        data,
                    });
                    p.consts.len() - 1
                };
                let scale = mk(
                    &mut l.p,
                    "scale (from gamma, moving_variance, epsilon)",
                    scale,
                );
                let shift = mk(&mut l.p, "shift (from beta, moving_mean, scale)", shift);
                (Kernel::Affine { c, scale, shift }, Activation::Linear)
            }
            Op::Activation(a) => match a.activation {
                Activation::Linear => (Kernel::Identity, Activation::Linear),
                Activation::Relu => (Kernel::Relu, Activation::Linear),
                Activation::Softmax => (
                    Kernel::Softmax {
                        c: in_shape.channels(),
                    },
                    Activation::Linear,
                ),
            },
            Op::ReLU {} => (Kernel::Relu, Activation::Linear),
            Op::MaxPooling2D(_) => (
                Kernel::MaxPool {
                    g: geom(node.window.as_ref().expect("pool window"), in_shape),
                },
                Activation::Linear,
            ),
            Op::AveragePooling2D(_) => (
                Kernel::AvgPool {
                    g: geom(node.window.as_ref().expect("pool window"), in_shape),
                },
                Activation::Linear,
            ),
            Op::GlobalAveragePooling2D {} | Op::GlobalMaxPooling2D {} => {
                let Shape::Image { h, w, c } = in_shape else {
                    unreachable!("validated global pooling has an image input")
                };
                (
                    Kernel::GlobalPool {
                        hw: h * w,
                        c,
                        is_max: matches!(layer.op, Op::GlobalMaxPooling2D {}),
                    },
                    Activation::Linear,
                )
            }
            Op::Add {} => (Kernel::Add, Activation::Linear),
        };
        let mut ep_final = ep;
        let out = if act == Activation::Softmax {
            l.push(name, kernel, ins, pre, ep_final);
            let mut unused = Epilogue::default();
            l.activation(name, act, pre, &mut unused)
        } else {
            let out = l.activation(name, act, pre, &mut ep_final);
            l.push(name, kernel, ins, pre, ep_final);
            out
        };
        by_name.insert(name.to_string(), out);
    }
    l.p.output = by_name[&graph.spec.output];
    Ok(l.p)
}
