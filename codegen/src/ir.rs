//! The compiler's own IR: a list of steps over tensors and constants.
//!
//! A [`Program`] is made from a validated spec by [`crate::frontend::lower`],
//! rewritten by [`crate::passes`], scheduled and placed in memory by
//! [`crate::plan`], and turned into Rust by [`crate::emit`] with a backend's
//! kernels. Constants are kept in the logical (Keras-derived) layout here;
//! backends pack them for their kernels at emission time.

use xception_spec::Shape;

/// Index into [`Program::tensors`].
pub type TensorId = usize;
/// Index into [`Program::consts`].
pub type ConstId = usize;

/// A value flowing between steps.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The spec layer whose output this is (or the input name).
    pub name: String,
    /// Shape (batch 1 implicit).
    pub shape: Shape,
}

/// A constant tensor (weights after folding), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Where it came from, e.g. `block2_sepconv1/pointwise_kernel (BN folded)`.
    pub name: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
}

/// Geometry of a window op, all padding resolved (TF 'same': extra at bottom/right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geom {
    /// Input height, width, channels.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Top padding.
    pub pt: usize,
    /// Left padding.
    pub pl: usize,
    /// Bottom padding.
    pub pb: usize,
    /// Right padding.
    pub pr: usize,
}

impl Geom {
    /// The kernels' window of this geometry.
    pub const fn window(&self) -> crate::backends::kernels::scalar::Window {
        crate::backends::kernels::scalar::Window {
            h: self.h,
            w: self.w,
            c: self.c,
            oh: self.oh,
            ow: self.ow,
            kh: self.kh,
            kw: self.kw,
            sh: self.sh,
            sw: self.sw,
            dh: self.dh,
            dw: self.dw,
            pt: self.pt,
            pl: self.pl,
        }
    }
}

/// The computation of one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Kernel {
    /// Dense convolution; `weights` is `[kh, kw, c, cout]`.
    Conv {
        /// Geometry.
        g: Geom,
        /// Output channels.
        cout: usize,
        /// Kernel constant.
        weights: ConstId,
    },
    /// Depthwise convolution; `weights` is `[kh, kw, c * mult]`.
    Depthwise {
        /// Geometry.
        g: Geom,
        /// Depth multiplier.
        mult: usize,
        /// Kernel constant.
        weights: ConstId,
    },
    /// Depthwise then pointwise, fused; `dw` is `[kh, kw, c * mult]`, `pw` is `[c * mult, cout]`.
    Separable {
        /// Depthwise geometry.
        g: Geom,
        /// Depth multiplier.
        mult: usize,
        /// Output channels.
        cout: usize,
        /// Depthwise kernel constant.
        dw: ConstId,
        /// Pointwise kernel constant.
        pw: ConstId,
    },
    /// Dense over the last axis; `weights` is `[cin, cout]`.
    Dense {
        /// Input features.
        cin: usize,
        /// Output features.
        cout: usize,
        /// Kernel constant.
        weights: ConstId,
    },
    /// Per-channel `x * scale + shift` (an unfolded BatchNormalization).
    Affine {
        /// Channels.
        c: usize,
        /// Scale constant `[c]`.
        scale: ConstId,
        /// Shift constant `[c]`.
        shift: ConstId,
    },
    /// Max pooling.
    MaxPool {
        /// Geometry.
        g: Geom,
    },
    /// Average pooling (count of in-bounds pixels).
    AvgPool {
        /// Geometry.
        g: Geom,
    },
    /// Global average (or max) pooling over H and W.
    GlobalPool {
        /// Pixels.
        hw: usize,
        /// Channels.
        c: usize,
        /// Max instead of mean.
        is_max: bool,
    },
    /// Element-wise sum of all inputs.
    Add,
    /// ReLU.
    Relu,
    /// Softmax over the last axis of length `c`.
    Softmax {
        /// Row length.
        c: usize,
    },
    /// Copies its input (a linear activation; removed by a pass).
    Identity,
    /// Steps run as one, streamed by rows: each stage reads the previous
    /// stage's output, which lives only in the step's scratch (see
    /// [`crate::passes::stream_rows`]). The step reads the first stage's
    /// input and the last stage's residual, and writes the last stage's
    /// output. A pooled block's shortcut convolution may come first (see
    /// [`streamed_shortcut`]): it reads the step's input and writes the
    /// last stage's residual, into the step's output.
    Streamed {
        /// The stages, in order.
        stages: Vec<Step>,
    },
}

impl Kernel {
    /// Whether the kernel can apply ReLU to its primary input as it loads it.
    pub fn accepts_relu_in(&self) -> bool {
        matches!(
            self,
            Kernel::Conv { .. }
                | Kernel::Depthwise { .. }
                | Kernel::Separable { .. }
                | Kernel::Dense { .. }
                | Kernel::MaxPool { .. }
                | Kernel::AvgPool { .. }
                | Kernel::GlobalPool { .. }
        )
    }

    /// Whether the kernel has an epilogue (bias, residual, ReLU).
    pub fn has_epilogue(&self) -> bool {
        matches!(
            self,
            Kernel::Conv { .. }
                | Kernel::Depthwise { .. }
                | Kernel::Separable { .. }
                | Kernel::Dense { .. }
                | Kernel::Affine { .. }
                | Kernel::MaxPool { .. }
                | Kernel::AvgPool { .. }
        )
    }

    /// Whether the output may overwrite a residual operand in place (each output
    /// element reads the residual only at its own index, after its inputs).
    pub fn residual_in_place_ok(&self) -> bool {
        matches!(
            self,
            Kernel::Conv { .. }
                | Kernel::Separable { .. }
                | Kernel::Dense { .. }
                | Kernel::MaxPool { .. }
                | Kernel::AvgPool { .. }
                | Kernel::Streamed { .. }
        )
    }

    /// Whether the output may overwrite the primary input in place (element-wise ops).
    pub fn elementwise(&self) -> bool {
        matches!(
            self,
            Kernel::Affine { .. } | Kernel::Add | Kernel::Relu | Kernel::Softmax { .. }
        )
    }

    /// Short kind name, for tables and generated comments.
    pub fn kind(&self) -> &'static str {
        match self {
            Kernel::Conv { .. } => "conv",
            Kernel::Depthwise { .. } => "depthwise",
            Kernel::Separable { .. } => "separable",
            Kernel::Dense { .. } => "dense",
            Kernel::Affine { .. } => "affine",
            Kernel::MaxPool { .. } => "maxpool",
            Kernel::AvgPool { .. } => "avgpool",
            Kernel::GlobalPool { is_max: false, .. } => "global_avgpool",
            Kernel::GlobalPool { is_max: true, .. } => "global_maxpool",
            Kernel::Add => "add",
            Kernel::Relu => "relu",
            Kernel::Softmax { .. } => "softmax",
            Kernel::Identity => "identity",
            Kernel::Streamed { .. } => "streamed",
        }
    }

    /// Multiply-accumulates of the step.
    pub fn macs(&self) -> u64 {
        let m = |v: &[usize]| v.iter().map(|&x| x as u64).product::<u64>();
        match *self {
            Kernel::Streamed { ref stages } => stages.iter().map(|s| s.kernel.macs()).sum(),
            Kernel::Conv { g, cout, .. } => m(&[g.oh, g.ow, g.kh, g.kw, g.c, cout]),
            Kernel::Depthwise { g, mult, .. } => m(&[g.oh, g.ow, g.kh, g.kw, g.c, mult]),
            Kernel::Separable { g, mult, cout, .. } => {
                m(&[g.oh, g.ow, g.kh, g.kw, g.c, mult]) + m(&[g.oh, g.ow, g.c, mult, cout])
            }
            Kernel::Dense { cin, cout, .. } => m(&[cin, cout]),
            _ => 0,
        }
    }
}

/// A separable (geometry, output channels).
pub type SeparableShape = (Geom, usize);

/// The shapes of a [`Kernel::Streamed`] step's stages when they are what the
/// `separables_pool` kernels run (what [`crate::passes::stream_rows`]
/// makes): two separables with multiplier 1, then a max or average
/// pooling; `None` otherwise (backends then run the stages one after
/// another).
pub fn separables_pool_shapes(stages: &[Step]) -> Option<(SeparableShape, SeparableShape, Geom)> {
    match stages {
        [a, b, c] => match (&a.kernel, &b.kernel, &c.kernel) {
            (
                &Kernel::Separable {
                    g: g1,
                    mult: 1,
                    cout: co1,
                    ..
                },
                &Kernel::Separable {
                    g: g2,
                    mult: 1,
                    cout: co2,
                    ..
                },
                &Kernel::MaxPool { g: pg } | &Kernel::AvgPool { g: pg },
            ) => Some(((g1, co1), (g2, co2), pg)),
            _ => None,
        },
        _ => None,
    }
}

/// A streamed step's shortcut and the chain after it: when the first stage
/// is a convolution whose output is the last stage's residual (a pooled
/// block's 1x1 shortcut, absorbed by [`crate::passes::stream_rows`]), that
/// convolution and the remaining stages. Backends run it into the step's
/// output, then the chain with the residual in place (the x86 kernels by
/// rows, just before the pooling reads them).
pub fn streamed_shortcut(stages: &[Step]) -> Option<(&Step, &[Step])> {
    match stages {
        [conv, rest @ ..] if matches!(conv.kernel, Kernel::Conv { .. }) => {
            let last = rest.last()?;
            (last.epilogue.residual == Some(conv.output)).then_some((conv, rest))
        }
        _ => None,
    }
}

/// What a step does around its main computation:
/// `y = relu?(kernel(relu_in?(x)) + bias + residual)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Epilogue {
    /// Per-output-channel bias.
    pub bias: Option<ConstId>,
    /// A tensor added element-wise.
    pub residual: Option<TensorId>,
    /// ReLU on the result.
    pub relu: bool,
}

/// One unit of work: a kernel with its fused prologue and epilogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Name (the spec layers it came from, joined by `+` after fusion).
    pub name: String,
    /// The computation.
    pub kernel: Kernel,
    /// Tensors read (the primary input first).
    pub inputs: Vec<TensorId>,
    /// Tensor written.
    pub output: TensorId,
    /// ReLU applied to the primary input as it is loaded.
    pub relu_in: bool,
    /// Bias, residual and ReLU.
    pub epilogue: Epilogue,
}

impl Step {
    /// The [`Kernel::Streamed`] step running `stages` (at least one): it
    /// reads the first stage's input and the last stage's residual (unless a
    /// first-stage shortcut writes it, see [`streamed_shortcut`]), and
    /// writes the last stage's output.
    pub fn streamed(stages: Vec<Step>) -> Step {
        let name = stages
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("+");
        let (first, last) = (&stages[0], &stages[stages.len() - 1]);
        let residual = match streamed_shortcut(&stages) {
            Some(_) => None,
            None => last.epilogue.residual,
        };
        Step {
            name,
            inputs: vec![first.inputs[0]],
            output: last.output,
            relu_in: false,
            epilogue: Epilogue {
                bias: None,
                residual,
                relu: false,
            },
            kernel: Kernel::Streamed { stages },
        }
    }

    /// Every tensor the step reads, residual included.
    pub fn reads(&self) -> impl Iterator<Item = TensorId> + '_ {
        self.inputs.iter().copied().chain(self.epilogue.residual)
    }
}

/// A whole model in IR form.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Model name (free text from the spec).
    pub name: String,
    /// All tensors.
    pub tensors: Vec<TensorInfo>,
    /// All constants.
    pub consts: Vec<Const>,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// The model input (read from the caller's buffer).
    pub input: TensorId,
    /// The model output (copied to the caller's buffer).
    pub output: TensorId,
}

impl Program {
    /// Steps reading tensor `t` (as input or residual).
    pub fn consumers(&self, t: TensorId) -> Vec<usize> {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.reads().any(|r| r == t))
            .map(|(i, _)| i)
            .collect()
    }

    /// The step writing tensor `t`.
    pub fn producer(&self, t: TensorId) -> Option<usize> {
        self.steps.iter().position(|s| s.output == t)
    }

    /// Replaces every read of tensor `from` by `to`, and the output if it was `from`.
    pub fn rename_tensor(&mut self, from: TensorId, to: TensorId) {
        for s in &mut self.steps {
            for i in &mut s.inputs {
                if *i == from {
                    *i = to;
                }
            }
            if s.epilogue.residual == Some(from) {
                s.epilogue.residual = Some(to);
            }
        }
        if self.output == from {
            self.output = to;
        }
    }

    /// Element count of tensor `t`.
    pub fn len(&self, t: TensorId) -> usize {
        self.tensors[t].shape.len()
    }

    /// Drops constants no step refers to and renumbers the rest.
    pub fn gc_consts(&mut self) {
        let mut used = vec![false; self.consts.len()];
        for s in &self.steps {
            for c in step_consts(s) {
                used[c] = true;
            }
        }
        let mut map = vec![usize::MAX; self.consts.len()];
        let mut kept = Vec::new();
        for (i, c) in std::mem::take(&mut self.consts).into_iter().enumerate() {
            if used[i] {
                map[i] = kept.len();
                kept.push(c);
            }
        }
        self.consts = kept;
        for s in &mut self.steps {
            for_each_const_mut(s, &mut |c: &mut ConstId| *c = map[*c]);
        }
    }
}

/// Constants a step refers to.
pub fn step_consts(s: &Step) -> Vec<ConstId> {
    let mut v = Vec::new();
    let mut s = s.clone();
    for_each_const_mut(&mut s, &mut |c: &mut ConstId| v.push(*c));
    v
}

fn for_each_const_mut(s: &mut Step, f: &mut impl FnMut(&mut ConstId)) {
    match &mut s.kernel {
        Kernel::Conv { weights, .. }
        | Kernel::Depthwise { weights, .. }
        | Kernel::Dense { weights, .. } => f(weights),
        Kernel::Separable { dw, pw, .. } => {
            f(dw);
            f(pw);
        }
        Kernel::Affine { scale, shift, .. } => {
            f(scale);
            f(shift);
        }
        Kernel::Streamed { stages } => {
            for stage in stages {
                for_each_const_mut(stage, &mut *f);
            }
        }
        _ => {}
    }
    if let Some(b) = &mut s.epilogue.bias {
        f(b);
    }
}
