//! The JSON layer-graph format: plain serde types, unknown fields rejected.
//!
//! A spec is one NHWC f32 input, a list of named layers (each with an `op`
//! and the names of its `inputs`) and the name of the output layer. Attribute
//! names and defaults follow Keras (`kernel_size`, `strides`, `padding`,
//! `dilation_rate`, `use_bias`, ...), so a Keras layer config maps onto a spec
//! layer field by field. See the crate README for an example.

use serde::{Deserialize, Serialize};

/// A whole model: one input, layers in any order (validation sorts them), one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Model name (free text; turned into an identifier before it reaches code).
    pub name: String,
    /// The single model input.
    pub input: Input,
    /// The layers; each name is unique and distinct from the input name.
    pub layers: Vec<Layer>,
    /// Name of the layer whose output is the model output.
    pub output: String,
}

/// The model input: a single image tensor, batch 1, NHWC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Name layers use to refer to the input.
    pub name: String,
    /// `[height, width, channels]`.
    pub shape: [usize; 3],
    /// Element type; only `f32` is supported.
    #[serde(default)]
    pub dtype: DType,
}

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE-754 binary32.
    #[default]
    F32,
}

/// One layer of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Unique layer name (weight tensors are named `<layer name>/<variable>`).
    pub name: String,
    /// The operation and its attributes.
    pub op: Op,
    /// Names of the layers (or the input) this layer reads, in order.
    pub inputs: Vec<String>,
}

/// Convolution padding, with TensorFlow semantics for `same`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: output = floor((in - effective_kernel) / stride) + 1.
    #[default]
    Valid,
    /// Output = ceil(in / stride); total pad = max((out - 1) * stride + k_eff - in, 0),
    /// split with the odd pixel at the bottom/right.
    Same,
}

/// An activation function, as in `keras.activations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Identity.
    #[default]
    Linear,
    /// max(x, 0).
    Relu,
    /// Softmax over the last axis.
    Softmax,
}

fn one_one() -> [usize; 2] {
    [1, 1]
}
fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn bn_epsilon() -> f64 {
    1e-3
}
fn two_two() -> [usize; 2] {
    [2, 2]
}

/// `Conv2D`: weights `kernel` `[kh, kw, cin, filters]` and `bias` `[filters]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2D {
    /// Output channels.
    pub filters: usize,
    /// `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// `[sh, sw]`, default `[1, 1]`.
    #[serde(default = "one_one")]
    pub strides: [usize; 2],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// `[dh, dw]`, default `[1, 1]`.
    #[serde(default = "one_one")]
    pub dilation_rate: [usize; 2],
    /// Whether a bias is added (default true, as in Keras).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Activation applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
}

/// `DepthwiseConv2D`: weights `kernel` `[kh, kw, cin, depth_multiplier]` and
/// `bias` `[cin * depth_multiplier]`; output channel `c * m + j` reads input channel `c`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthwiseConv2D {
    /// `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// `[sh, sw]`, default `[1, 1]`.
    #[serde(default = "one_one")]
    pub strides: [usize; 2],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Output channels per input channel (default 1).
    #[serde(default = "one")]
    pub depth_multiplier: usize,
    /// `[dh, dw]`, default `[1, 1]`.
    #[serde(default = "one_one")]
    pub dilation_rate: [usize; 2],
    /// Whether a bias is added (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Activation applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
}

/// `SeparableConv2D`: a depthwise conv then a 1x1 conv. Weights
/// `depthwise_kernel` `[kh, kw, cin, m]`, `pointwise_kernel` `[1, 1, cin * m, filters]`,
/// `bias` `[filters]` (added after the pointwise step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeparableConv2D {
    /// Output channels of the pointwise step.
    pub filters: usize,
    /// Depthwise `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Depthwise `[sh, sw]`, default `[1, 1]`.
    #[serde(default = "one_one")]
    pub strides: [usize; 2],
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Depthwise channel multiplier (default 1).
    #[serde(default = "one")]
    pub depth_multiplier: usize,
    /// Depthwise `[dh, dw]`, default `[1, 1]`.
    #[serde(default = "one_one")]
    pub dilation_rate: [usize; 2],
    /// Whether a bias is added (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Activation applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
}

/// `BatchNormalization` over the channel (last) axis, inference mode:
/// `y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta`.
/// Weights in Keras order: `gamma` (if `scale`), `beta` (if `center`),
/// `moving_mean`, `moving_variance`, each `[channels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormalization {
    /// Added to the variance (default 1e-3, as in Keras).
    #[serde(default = "bn_epsilon")]
    pub epsilon: f64,
    /// Whether `beta` exists (default true).
    #[serde(default = "yes")]
    pub center: bool,
    /// Whether `gamma` exists (default true).
    #[serde(default = "yes")]
    pub scale: bool,
}

/// `Activation` layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationLayer {
    /// `relu`, `linear` or `softmax`.
    pub activation: Activation,
}

/// `MaxPooling2D` / `AveragePooling2D`. Average pooling with `same` padding
/// divides by the number of in-bounds pixels, as Keras does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool2D {
    /// `[ph, pw]`, default `[2, 2]`.
    #[serde(default = "two_two")]
    pub pool_size: [usize; 2],
    /// `[sh, sw]`; defaults to `pool_size` as in Keras.
    #[serde(default)]
    pub strides: Option<[usize; 2]>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
}

impl Pool2D {
    /// The effective strides (`pool_size` when unset).
    pub fn strides(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size)
    }
}

/// `Dense` over the last axis: weights `kernel` `[in, units]`, `bias` `[units]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Output features.
    pub units: usize,
    /// Whether a bias is added (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Activation applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
}

/// An operation and its attributes, tagged by `"type"` with the Keras class name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Op {
    /// See [`Conv2D`].
    Conv2D(Conv2D),
    /// See [`DepthwiseConv2D`].
    DepthwiseConv2D(DepthwiseConv2D),
    /// See [`SeparableConv2D`].
    SeparableConv2D(SeparableConv2D),
    /// See [`BatchNormalization`].
    BatchNormalization(BatchNormalization),
    /// See [`ActivationLayer`].
    Activation(ActivationLayer),
    /// `ReLU` layer with Keras defaults (no max value, slope 0, threshold 0).
    ReLU {},
    /// See [`Pool2D`].
    MaxPooling2D(Pool2D),
    /// See [`Pool2D`].
    AveragePooling2D(Pool2D),
    /// Mean over H and W; output `[channels]`.
    GlobalAveragePooling2D {},
    /// Max over H and W; output `[channels]`.
    GlobalMaxPooling2D {},
    /// Element-wise sum of two or more tensors of equal shape.
    Add {},
    /// See [`Dense`].
    Dense(Dense),
}

impl Op {
    /// The Keras class name of the op (the `"type"` tag).
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::Conv2D(_) => "Conv2D",
            Op::DepthwiseConv2D(_) => "DepthwiseConv2D",
            Op::SeparableConv2D(_) => "SeparableConv2D",
            Op::BatchNormalization(_) => "BatchNormalization",
            Op::Activation(_) => "Activation",
            Op::ReLU {} => "ReLU",
            Op::MaxPooling2D(_) => "MaxPooling2D",
            Op::AveragePooling2D(_) => "AveragePooling2D",
            Op::GlobalAveragePooling2D {} => "GlobalAveragePooling2D",
            Op::GlobalMaxPooling2D {} => "GlobalMaxPooling2D",
            Op::Add {} => "Add",
            Op::Dense(_) => "Dense",
        }
    }
}
