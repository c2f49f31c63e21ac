//! `keras.applications.Xception` (Chollet 2017) as a [`Spec`].
//!
//! The layers, their names and their order are those of
//! `keras.applications.Xception(weights=None)` built in a fresh Keras 3
//! process: the input is `input_layer`; the four unnamed residual shortcuts
//! get Keras' automatic names `conv2d`, `conv2d_1`, ... and
//! `batch_normalization`, `batch_normalization_1`, ...; the twelve residual
//! sums are `add` ... `add_11`; an unnamed global pooling head (no top) is
//! `global_average_pooling2d` or `global_max_pooling2d`. Layers are listed in
//! Keras' `model.layers` order, so the weight variables of the validated
//! graph come out in `model.weights` order.

use crate::error::SpecError;
use crate::graph::validate;
use crate::spec::{
    Activation, ActivationLayer, BatchNormalization, Conv2D, DType, Dense, Input, Layer, Op,
    Padding, Pool2D, SeparableConv2D, Spec,
};

/// Smallest input height and width Keras accepts for Xception (`min_size`).
pub const MIN_INPUT_SIZE: usize = 71;

/// Default (ImageNet) input height and width.
pub const DEFAULT_INPUT_SIZE: usize = 299;

/// Global pooling after the last block when there is no classifier
/// (Keras' `pooling` argument; ignored when `include_top` is true).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// No pooling: the output is the 4-D `block14_sepconv2_act` feature map.
    #[default]
    None,
    /// `GlobalAveragePooling2D` (named `global_average_pooling2d`).
    Avg,
    /// `GlobalMaxPooling2D` (named `global_max_pooling2d`).
    Max,
}

/// The arguments of `keras.applications.Xception(weights=None, ...)` that
/// change the graph. `Default` is the ImageNet model: 299x299x3 input,
/// 1000 classes, softmax classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XceptionOptions {
    /// Input height; at least [`MIN_INPUT_SIZE`].
    pub height: usize,
    /// Input width; at least [`MIN_INPUT_SIZE`].
    pub width: usize,
    /// Number of classes of the `predictions` layer (used when `include_top`).
    pub classes: usize,
    /// Whether to end with `avg_pool` (global average pooling) and the dense `predictions` layer.
    pub include_top: bool,
    /// Global pooling when `include_top` is false.
    pub pooling: Pooling,
    /// Activation of `predictions`: `Softmax` (default) or `Linear` (Keras'
    /// `classifier_activation=None`, i.e. logits).
    pub classifier_activation: Activation,
}

impl Default for XceptionOptions {
    fn default() -> Self {
        XceptionOptions {
            height: DEFAULT_INPUT_SIZE,
            width: DEFAULT_INPUT_SIZE,
            classes: 1000,
            include_top: true,
            pooling: Pooling::None,
            classifier_activation: Activation::Softmax,
        }
    }
}

/// Builds Xception with the given options; the result passes [`validate`].
///
/// Errors, naming the JSON path of the offending spec value, when the input
/// is smaller than 71x71 (Keras refuses it too), when `classes` is 0 with a
/// top, or when the input is so large that a tensor exceeds
/// [`crate::graph::MAX_TENSOR_ELEMENTS`].
pub fn xception(opts: &XceptionOptions) -> Result<Spec, SpecError> {
    for (axis, what, size) in [(0, "height", opts.height), (1, "width", opts.width)] {
        if size < MIN_INPUT_SIZE {
            return Err(SpecError {
                field: Some("shape".into()),
                ..SpecError::at(
                    format!("input.shape[{axis}]"),
                    format!(
                        "Xception needs an input of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} \
                         (as Keras requires); got {what} {size} (input {}x{})",
                        opts.height, opts.width
                    ),
                )
            });
        }
    }
    let mut b = Builder::default();
    let x = "input_layer";

    // Entry flow.
    let x = b.conv("block1_conv1", 32, [3, 3], [2, 2], Padding::Valid, x);
    let x = b.bn("block1_conv1_bn", &x);
    let x = b.relu("block1_conv1_act", &x);
    let x = b.conv("block1_conv2", 64, [3, 3], [1, 1], Padding::Valid, &x);
    let x = b.bn("block1_conv2_bn", &x);
    let mut x = b.relu("block1_conv2_act", &x);
    for (block, filters) in [(2, 128), (3, 256), (4, 728)] {
        let p = format!("block{block}");
        let residual = x.clone();
        // Keras' block2 starts with the separable conv: its input is already a ReLU output.
        let mut y = if block == 2 {
            x
        } else {
            b.relu(&format!("{p}_sepconv1_act"), &x)
        };
        y = b.sepconv(&format!("{p}_sepconv1"), filters, &y);
        y = b.bn(&format!("{p}_sepconv1_bn"), &y);
        y = b.relu(&format!("{p}_sepconv2_act"), &y);
        y = b.sepconv(&format!("{p}_sepconv2"), filters, &y);
        y = b.bn(&format!("{p}_sepconv2_bn"), &y);
        x = b.downsample_sum(&p, &y, &residual, filters);
    }

    // Middle flow: eight identity-shortcut blocks.
    for block in 5..=12 {
        let p = format!("block{block}");
        let residual = x.clone();
        let mut y = x;
        for k in 1..=3 {
            y = b.relu(&format!("{p}_sepconv{k}_act"), &y);
            y = b.sepconv(&format!("{p}_sepconv{k}"), 728, &y);
            y = b.bn(&format!("{p}_sepconv{k}_bn"), &y);
        }
        x = b.add(&[&y, &residual]);
    }

    // Exit flow.
    let residual = x.clone();
    let y = b.relu("block13_sepconv1_act", &x);
    let y = b.sepconv("block13_sepconv1", 728, &y);
    let y = b.bn("block13_sepconv1_bn", &y);
    let y = b.relu("block13_sepconv2_act", &y);
    let y = b.sepconv("block13_sepconv2", 1024, &y);
    let y = b.bn("block13_sepconv2_bn", &y);
    let x = b.downsample_sum("block13", &y, &residual, 1024);
    let x = b.sepconv("block14_sepconv1", 1536, &x);
    let x = b.bn("block14_sepconv1_bn", &x);
    let x = b.relu("block14_sepconv1_act", &x);
    let x = b.sepconv("block14_sepconv2", 2048, &x);
    let x = b.bn("block14_sepconv2_bn", &x);
    let mut x = b.relu("block14_sepconv2_act", &x);

    if opts.include_top {
        x = b.push("avg_pool", Op::GlobalAveragePooling2D {}, &[&x]);
        x = b.push(
            "predictions",
            Op::Dense(Dense {
                units: opts.classes,
                use_bias: true,
                activation: opts.classifier_activation,
            }),
            &[&x],
        );
    } else {
        match opts.pooling {
            Pooling::None => {}
            Pooling::Avg => {
                let name = b.auto_name("global_average_pooling2d");
                x = b.push(&name, Op::GlobalAveragePooling2D {}, &[&x]);
            }
            Pooling::Max => {
                let name = b.auto_name("global_max_pooling2d");
                x = b.push(&name, Op::GlobalMaxPooling2D {}, &[&x]);
            }
        }
    }

    let spec = Spec {
        name: "xception".into(),
        input: Input {
            name: "input_layer".into(),
            shape: [opts.height, opts.width, 3],
            dtype: DType::F32,
        },
        layers: b.layers,
        output: x,
    };
    if opts.include_top && opts.classes == 0 {
        return Err(SpecError::layer_field(
            spec.layers.len() - 1,
            "predictions",
            "units",
            "Xception with a top needs at least one class, got classes = 0",
        ));
    }
    validate(&spec)?;
    Ok(spec)
}

/// Appends layers in call order and hands out Keras' automatic layer names.
#[derive(Default)]
struct Builder {
    layers: Vec<Layer>,
    /// Automatic names already given, per Keras class-derived prefix.
    counts: Vec<(&'static str, usize)>,
}

impl Builder {
    /// Adds a layer and returns its name (the name of its output tensor).
    fn push(&mut self, name: &str, op: Op, inputs: &[&str]) -> String {
        self.layers.push(Layer {
            name: name.to_string(),
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        });
        name.to_string()
    }

    /// Keras' automatic name: `prefix`, then `prefix_1`, `prefix_2`, ...
    fn auto_name(&mut self, prefix: &'static str) -> String {
        let k = match self.counts.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((prefix, 0));
                0
            }
        };
        if k == 0 {
            prefix.to_string()
        } else {
            format!("{prefix}_{k}")
        }
    }

    fn conv(
        &mut self,
        name: &str,
        filters: usize,
        kernel_size: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
        input: &str,
    ) -> String {
        let op = Op::Conv2D(Conv2D {
            filters,
            kernel_size,
            strides,
            padding,
            dilation_rate: [1, 1],
            use_bias: false,
            activation: Activation::Linear,
        });
        self.push(name, op, &[input])
    }

    fn bn(&mut self, name: &str, input: &str) -> String {
        let op = Op::BatchNormalization(BatchNormalization {
            epsilon: 1e-3,
            center: true,
            scale: true,
        });
        self.push(name, op, &[input])
    }

    fn relu(&mut self, name: &str, input: &str) -> String {
        let op = Op::Activation(ActivationLayer {
            activation: Activation::Relu,
        });
        self.push(name, op, &[input])
    }

    /// 3x3 `same` separable conv without bias, depth multiplier 1.
    fn sepconv(&mut self, name: &str, filters: usize, input: &str) -> String {
        let op = Op::SeparableConv2D(SeparableConv2D {
            filters,
            kernel_size: [3, 3],
            strides: [1, 1],
            padding: Padding::Same,
            depth_multiplier: 1,
            dilation_rate: [1, 1],
            use_bias: false,
            activation: Activation::Linear,
        });
        self.push(name, op, &[input])
    }

    fn add(&mut self, inputs: &[&str]) -> String {
        let name = self.auto_name("add");
        self.push(&name, Op::Add {}, inputs)
    }

    /// The end of a downsampling block, in Keras' layer order: the 1x1/2
    /// shortcut conv, the 3x3/2 max pool of the main path, the shortcut's BN
    /// and the sum.
    fn downsample_sum(
        &mut self,
        block: &str,
        main: &str,
        residual: &str,
        filters: usize,
    ) -> String {
        let conv = self.auto_name("conv2d");
        let shortcut = self.conv(&conv, filters, [1, 1], [2, 2], Padding::Same, residual);
        let pool = self.push(
            &format!("{block}_pool"),
            Op::MaxPooling2D(Pool2D {
                pool_size: [3, 3],
                strides: Some([2, 2]),
                padding: Padding::Same,
            }),
            &[main],
        );
        let bn = self.auto_name("batch_normalization");
        let shortcut = self.bn(&bn, &shortcut);
        self.add(&[&pool, &shortcut])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_names_follow_keras() {
        let mut b = Builder::default();
        assert_eq!(b.auto_name("add"), "add");
        assert_eq!(b.auto_name("conv2d"), "conv2d");
        assert_eq!(b.auto_name("add"), "add_1");
        assert_eq!(b.auto_name("add"), "add_2");
    }
}
