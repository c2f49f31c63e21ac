//! The interpreter on small cases whose answers are worked out by hand or by
//! brute-force formulas written independently here (explicitly padded images,
//! plain nested loops), not by the interpreter's own helpers.

use serde_json::{json, Value};
use xception_spec::detgen;
use xception_spec::graph::Graph;
use xception_spec::interp::{self, InterpError};
use xception_spec::weights::{Tensor, WeightMap};

/// A validated graph with one input `x` of shape `[h, w, c]`.
fn graph(shape: [usize; 3], layers: Value, output: &str) -> Graph {
    let spec = json!({
        "name": "unit",
        "input": {"name": "x", "shape": shape},
        "layers": layers,
        "output": output,
    });
    let spec = xception_spec::from_json_str(&spec.to_string()).unwrap();
    xception_spec::validate(&spec).unwrap()
}

fn tensor(shape: &[usize], data: Vec<f32>) -> Tensor {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    Tensor {
        shape: shape.to_vec(),
        data,
    }
}

fn weights(entries: Vec<(&str, Tensor)>) -> WeightMap {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Pseudo-random values in [-1, 1) (via the detgen hash; any values would do).
fn values(name: &str, n: usize) -> Vec<f32> {
    detgen::generate(name, n, 0.0, 1.0, 1)
}

/// 1..=n as f32.
fn ramp(n: usize) -> Vec<f32> {
    (1..=n).map(|v| v as f32).collect()
}

fn assert_close(got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= tol,
            "element {i}: got {g}, want {w}"
        );
    }
}

/// TF 'same' padding of one axis: (before, after), computed from the TF docs' formula.
fn tf_same_pad(input: usize, k_eff: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + k_eff).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// An `[h, w, c]` image padded with `fill`; returns the padded data and size.
fn pad_image(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    (top, bottom, left, right): (usize, usize, usize, usize),
    fill: f64,
) -> (Vec<f64>, usize, usize) {
    let (ph, pw) = (h + top + bottom, w + left + right);
    let mut p = vec![fill; ph * pw * c];
    for i in 0..h {
        for j in 0..w {
            for ch in 0..c {
                p[((i + top) * pw + j + left) * c + ch] = f64::from(x[(i * w + j) * c + ch]);
            }
        }
    }
    (p, ph, pw)
}

/// Brute-force conv parameters.
struct ConvCase {
    h: usize,
    w: usize,
    cin: usize,
    cout: usize,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    same: bool,
}

impl ConvCase {
    fn pads(&self) -> (usize, usize, usize, usize) {
        if !self.same {
            return (0, 0, 0, 0);
        }
        let keh = (self.k[0] - 1) * self.dil[0] + 1;
        let kew = (self.k[1] - 1) * self.dil[1] + 1;
        let (t, b) = tf_same_pad(self.h, keh, self.stride[0]);
        let (l, r) = tf_same_pad(self.w, kew, self.stride[1]);
        (t, b, l, r)
    }

    /// Output size after explicit padding, by the 'valid' formula.
    fn out_hw(&self) -> (usize, usize) {
        let (t, b, l, r) = self.pads();
        let keh = (self.k[0] - 1) * self.dil[0] + 1;
        let kew = (self.k[1] - 1) * self.dil[1] + 1;
        (
            (self.h + t + b - keh) / self.stride[0] + 1,
            (self.w + l + r - kew) / self.stride[1] + 1,
        )
    }

    /// Dense conv on the explicitly zero-padded image; kernel `[kh, kw, cin, cout]`.
    fn conv(&self, x: &[f32], kernel: &[f32], bias: &[f32], relu: bool) -> Vec<f64> {
        let (p, _, pw) = pad_image(x, (self.h, self.w, self.cin), self.pads(), 0.0);
        let (oh, ow) = self.out_hw();
        let mut out = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..self.cout {
                    let mut s = f64::from(bias[co]);
                    for ky in 0..self.k[0] {
                        for kx in 0..self.k[1] {
                            let iy = oy * self.stride[0] + ky * self.dil[0];
                            let ix = ox * self.stride[1] + kx * self.dil[1];
                            for ci in 0..self.cin {
                                let kv = kernel
                                    [((ky * self.k[1] + kx) * self.cin + ci) * self.cout + co];
                                s += p[(iy * pw + ix) * self.cin + ci] * f64::from(kv);
                            }
                        }
                    }
                    out.push(if relu { s.max(0.0) } else { s });
                }
            }
        }
        out
    }

    /// Depthwise conv on the padded image; kernel `[kh, kw, cin, m]`, output channel `c * m + j`.
    fn depthwise(&self, x: &[f32], kernel: &[f32], m: usize) -> Vec<f64> {
        let (p, _, pw) = pad_image(x, (self.h, self.w, self.cin), self.pads(), 0.0);
        let (oh, ow) = self.out_hw();
        let mut out = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                for c in 0..self.cin {
                    for j in 0..m {
                        let mut s = 0.0;
                        for ky in 0..self.k[0] {
                            for kx in 0..self.k[1] {
                                let iy = oy * self.stride[0] + ky * self.dil[0];
                                let ix = ox * self.stride[1] + kx * self.dil[1];
                                let kv = kernel[((ky * self.k[1] + kx) * self.cin + c) * m + j];
                                s += p[(iy * pw + ix) * self.cin + c] * f64::from(kv);
                            }
                        }
                        out.push(s);
                    }
                }
            }
        }
        out
    }
}

#[test]
fn conv_same_stride2_puts_the_odd_pad_at_bottom_right() {
    // 4x4 input 1..16, 3x3 all-ones kernel, stride 2, 'same': out 2x2, total pad 1,
    // all of it after. Windows: rows/cols {0,1,2} and {2,3,(pad)}.
    let g = graph(
        [4, 4, 1],
        json!([{"name": "c", "op": {"type": "Conv2D", "filters": 1, "kernel_size": [3, 3],
            "strides": [2, 2], "padding": "same", "use_bias": false}, "inputs": ["x"]}]),
        "c",
    );
    let w = weights(vec![("c/kernel", tensor(&[3, 3, 1, 1], vec![1.0; 9]))]);
    let out = interp::run(&g, &w, &ramp(16)).unwrap();
    // [1+2+3+5+6+7+9+10+11, 3+4+7+8+11+12, 9+10+11+13+14+15, 11+12+15+16]
    assert_eq!(out, vec![54.0, 45.0, 72.0, 54.0]);

    // Kernel 1..9 (row-major [ky, kx]) picks the orientation: top-left window is
    // 1*1+2*2+3*3 + 5*4+6*5+7*6 + 9*7+10*8+11*9 = 348.
    let w = weights(vec![("c/kernel", tensor(&[3, 3, 1, 1], ramp(9)))]);
    let out = interp::run(&g, &w, &ramp(16)).unwrap();
    // Bottom-right window: rows 2,3 x cols 2,3 against kernel taps (0,0),(0,1),(1,0),(1,1).
    assert_eq!(out[3], 11.0 + 12.0 * 2.0 + 15.0 * 4.0 + 16.0 * 5.0);
    assert_eq!(out[0], 348.0);
}

#[test]
fn conv_matches_brute_force_with_bias_relu_channels_and_dilation() {
    let cases = [
        // (h, w, cin, cout, k, stride, dilation, same)
        (5, 6, 3, 4, [3, 3], [2, 2], [1, 1], true),
        (5, 5, 2, 3, [3, 3], [1, 1], [2, 2], true),
        (7, 5, 2, 3, [3, 2], [2, 1], [1, 1], false),
        (6, 6, 3, 5, [1, 1], [2, 2], [1, 1], true),
        (4, 4, 2, 2, [5, 5], [1, 1], [1, 1], true),
        (3, 3, 1, 2, [4, 4], [3, 3], [1, 1], true),
        (6, 6, 2, 2, [2, 3], [1, 1], [2, 1], false),
    ];
    for (h, w, cin, cout, k, stride, dil, same) in cases {
        let case = ConvCase {
            h,
            w,
            cin,
            cout,
            k,
            stride,
            dil,
            same,
        };
        let g = graph(
            [h, w, cin],
            json!([{"name": "c", "op": {"type": "Conv2D", "filters": cout, "kernel_size": k,
                "strides": stride, "dilation_rate": dil, "activation": "relu",
                "padding": if same { "same" } else { "valid" }}, "inputs": ["x"]}]),
            "c",
        );
        let kernel = values("k", k[0] * k[1] * cin * cout);
        let bias = values("b", cout);
        let x = values("x", h * w * cin);
        let wm = weights(vec![
            ("c/kernel", tensor(&[k[0], k[1], cin, cout], kernel.clone())),
            ("c/bias", tensor(&[cout], bias.clone())),
        ]);
        let out = interp::run(&g, &wm, &x).unwrap();
        let (oh, ow) = case.out_hw();
        assert_eq!(
            out.len(),
            oh * ow * cout,
            "case {h}x{w} k{k:?} s{stride:?} d{dil:?}"
        );
        assert_close(&out, &case.conv(&x, &kernel, &bias, true), 1e-6);
    }
}

#[test]
fn conv_blocks_cover_many_pixels_and_channels() {
    // 12 pixels and 300 output channels cross the interpreter's pixel tiles and channel blocks.
    let case = ConvCase {
        h: 3,
        w: 4,
        cin: 5,
        cout: 300,
        k: [1, 1],
        stride: [1, 1],
        dil: [1, 1],
        same: false,
    };
    let g = graph(
        [3, 4, 5],
        json!([{"name": "c", "op": {"type": "Conv2D", "filters": 300, "kernel_size": [1, 1],
            "use_bias": false}, "inputs": ["x"]}]),
        "c",
    );
    let kernel = values("k", 5 * 300);
    let x = values("x", 60);
    let wm = weights(vec![("c/kernel", tensor(&[1, 1, 5, 300], kernel.clone()))]);
    let out = interp::run(&g, &wm, &x).unwrap();
    assert_close(&out, &case.conv(&x, &kernel, &[0.0; 300], false), 1e-6);
}

#[test]
fn depthwise_multiplier_orders_channels_c_times_m_plus_j() {
    // Hand case: 1x1 input [2, 3], 1x1 kernel, multiplier 2: out [2*k00, 2*k01, 3*k10, 3*k11] + bias.
    let g = graph(
        [1, 1, 2],
        json!([{"name": "d", "op": {"type": "DepthwiseConv2D", "kernel_size": [1, 1],
            "depth_multiplier": 2}, "inputs": ["x"]}]),
        "d",
    );
    let wm = weights(vec![
        (
            "d/kernel",
            tensor(&[1, 1, 2, 2], vec![10.0, 20.0, 30.0, 40.0]),
        ),
        ("d/bias", tensor(&[4], vec![0.5, 0.25, 0.125, 1.0])),
    ]);
    let out = interp::run(&g, &wm, &[2.0, 3.0]).unwrap();
    assert_eq!(out, vec![20.5, 40.25, 90.125, 121.0]);

    for (stride, dil, same) in [
        ([2, 2], [1, 1], true),
        ([1, 1], [2, 2], true),
        ([2, 1], [1, 1], false),
    ] {
        let case = ConvCase {
            h: 6,
            w: 5,
            cin: 3,
            cout: 6,
            k: [3, 3],
            stride,
            dil,
            same,
        };
        let g = graph(
            [6, 5, 3],
            json!([{"name": "d", "op": {"type": "DepthwiseConv2D", "kernel_size": [3, 3],
                "strides": stride, "dilation_rate": dil, "depth_multiplier": 2, "use_bias": false,
                "padding": if same { "same" } else { "valid" }}, "inputs": ["x"]}]),
            "d",
        );
        let kernel = values("dk", 3 * 3 * 3 * 2);
        let x = values("x", 6 * 5 * 3);
        let wm = weights(vec![("d/kernel", tensor(&[3, 3, 3, 2], kernel.clone()))]);
        let out = interp::run(&g, &wm, &x).unwrap();
        assert_close(&out, &case.depthwise(&x, &kernel, 2), 1e-6);
    }
}

#[test]
fn separable_is_depthwise_then_pointwise_then_bias_and_activation() {
    let case = ConvCase {
        h: 5,
        w: 4,
        cin: 3,
        cout: 6,
        k: [3, 3],
        stride: [2, 2],
        dil: [1, 1],
        same: true,
    };
    let g = graph(
        [5, 4, 3],
        json!([{"name": "s", "op": {"type": "SeparableConv2D", "filters": 4, "kernel_size": [3, 3],
            "strides": [2, 2], "padding": "same", "depth_multiplier": 2, "activation": "relu"},
            "inputs": ["x"]}]),
        "s",
    );
    let dk = values("dk", 3 * 3 * 3 * 2);
    let pk = values("pk", 6 * 4);
    let bias = values("b", 4);
    let x = values("x", 5 * 4 * 3);
    let wm = weights(vec![
        ("s/depthwise_kernel", tensor(&[3, 3, 3, 2], dk.clone())),
        ("s/pointwise_kernel", tensor(&[1, 1, 6, 4], pk.clone())),
        ("s/bias", tensor(&[4], bias.clone())),
    ]);
    let out = interp::run(&g, &wm, &x).unwrap();
    let mid = case.depthwise(&x, &dk, 2);
    let mut want = Vec::new();
    for pixel in mid.chunks(6) {
        for f in 0..4 {
            let s: f64 = (0..6)
                .map(|c| pixel[c] * f64::from(pk[c * 4 + f]))
                .sum::<f64>()
                + f64::from(bias[f]);
            want.push(s.max(0.0));
        }
    }
    assert_eq!(out.len(), 3 * 2 * 4);
    assert_close(&out, &want, 1e-6);
}

#[test]
fn average_pool_same_divides_by_in_bounds_count() {
    // 4x4 input 1..16, pool 3, stride 2, 'same': pad only at bottom/right.
    let g = graph(
        [4, 4, 1],
        json!([{"name": "p", "op": {"type": "AveragePooling2D", "pool_size": [3, 3],
            "strides": [2, 2], "padding": "same"}, "inputs": ["x"]}]),
        "p",
    );
    let out = interp::run(&g, &WeightMap::new(), &ramp(16)).unwrap();
    assert_eq!(out, vec![54.0 / 9.0, 45.0 / 6.0, 72.0 / 6.0, 54.0 / 4.0]);

    // 3x3 input, pool 3, stride 1, 'same' (pad 1 all round): corner windows hold 4
    // pixels, edge windows 6, the centre 9.
    let g = graph(
        [3, 3, 1],
        json!([{"name": "p", "op": {"type": "AveragePooling2D", "pool_size": [3, 3],
            "strides": [1, 1], "padding": "same"}, "inputs": ["x"]}]),
        "p",
    );
    let out = interp::run(&g, &WeightMap::new(), &ramp(9)).unwrap();
    let want = [
        (1 + 2 + 4 + 5) as f64 / 4.0,
        (1 + 2 + 3 + 4 + 5 + 6) as f64 / 6.0,
        (2 + 3 + 5 + 6) as f64 / 4.0,
        (1 + 2 + 4 + 5 + 7 + 8) as f64 / 6.0,
        45.0 / 9.0,
        (2 + 3 + 5 + 6 + 8 + 9) as f64 / 6.0,
        (4 + 5 + 7 + 8) as f64 / 4.0,
        (4 + 5 + 6 + 7 + 8 + 9) as f64 / 6.0,
        (5 + 6 + 8 + 9) as f64 / 4.0,
    ];
    assert_close(&out, &want, 1e-6);

    // 'valid' with the default strides (= pool size) drops the last row/column.
    let g = graph(
        [5, 5, 1],
        json!([{"name": "p", "op": {"type": "AveragePooling2D"}, "inputs": ["x"]}]),
        "p",
    );
    let out = interp::run(&g, &WeightMap::new(), &ramp(25)).unwrap();
    assert_eq!(out, vec![4.0, 6.0, 14.0, 16.0]);
}

#[test]
fn max_pool_same_ignores_padding() {
    // All inputs negative: a zero-padded max would return 0 at the edges.
    let g = graph(
        [4, 4, 2],
        json!([{"name": "p", "op": {"type": "MaxPooling2D", "pool_size": [3, 3],
            "strides": [2, 2], "padding": "same"}, "inputs": ["x"]}]),
        "p",
    );
    // Channel 0 is -(1..16); channel 1 is -(17 - (1..16)).
    let x: Vec<f32> = (1..=16)
        .flat_map(|v| [-(v as f32), -(17 - v) as f32])
        .collect();
    let out = interp::run(&g, &WeightMap::new(), &x).unwrap();
    assert_eq!(out, vec![-1.0, -6.0, -3.0, -5.0, -9.0, -2.0, -11.0, -1.0]);

    // Brute force against an image padded with -inf, for an odd size and stride 1.
    let g = graph(
        [5, 4, 1],
        json!([{"name": "p", "op": {"type": "MaxPooling2D", "pool_size": [2, 3],
            "strides": [1, 2], "padding": "same"}, "inputs": ["x"]}]),
        "p",
    );
    let x = values("x", 20);
    let out = interp::run(&g, &WeightMap::new(), &x).unwrap();
    let (t, b) = tf_same_pad(5, 2, 1);
    let (l, r) = tf_same_pad(4, 3, 2);
    let (p, _, pw) = pad_image(&x, (5, 4, 1), (t, b, l, r), f64::NEG_INFINITY);
    let mut want = Vec::new();
    for oy in 0..5 {
        for ox in 0..2 {
            let mut m = f64::NEG_INFINITY;
            for ky in 0..2 {
                for kx in 0..3 {
                    m = m.max(p[(oy + ky) * pw + ox * 2 + kx]);
                }
            }
            want.push(m);
        }
    }
    assert_close(&out, &want, 0.0);
}

#[test]
fn batch_norm_with_and_without_center_and_scale() {
    // x = [1, 2] per pixel, two pixels; gamma [2, 3], beta [0.5, -1], mean [1, 0],
    // var [3, 15], eps 1: scale = gamma / sqrt(var + eps) = [1, 0.75].
    let layers = |center: bool, scale: bool| {
        json!([{"name": "bn", "op": {"type": "BatchNormalization", "epsilon": 1.0,
            "center": center, "scale": scale}, "inputs": ["x"]}])
    };
    let x = [1.0, 2.0, 5.0, -2.0];
    let all = |center: bool, scale: bool| {
        let mut v = vec![
            ("bn/moving_mean", tensor(&[2], vec![1.0, 0.0])),
            ("bn/moving_variance", tensor(&[2], vec![3.0, 15.0])),
        ];
        if scale {
            v.push(("bn/gamma", tensor(&[2], vec![2.0, 3.0])));
        }
        if center {
            v.push(("bn/beta", tensor(&[2], vec![0.5, -1.0])));
        }
        weights(v)
    };
    let run = |center: bool, scale: bool| {
        let g = graph([1, 2, 2], layers(center, scale), "bn");
        interp::run(&g, &all(center, scale), &x).unwrap()
    };
    assert_eq!(run(true, true), vec![0.5, 0.5, 4.5, -2.5]);
    assert_eq!(run(false, true), vec![0.0, 1.5, 4.0, -1.5]);
    assert_eq!(run(true, false), vec![0.5, -0.5, 2.5, -1.5]);
    assert_eq!(run(false, false), vec![0.0, 0.5, 2.0, -0.5]);
}

#[test]
fn activations_softmax_relu_and_add() {
    let ln = |v: f64| v.ln() as f32;
    let g = graph(
        [1, 2, 3],
        json!([
            {"name": "sm", "op": {"type": "Activation", "activation": "softmax"}, "inputs": ["x"]},
            {"name": "relu", "op": {"type": "ReLU"}, "inputs": ["x"]},
            {"name": "act", "op": {"type": "Activation", "activation": "relu"}, "inputs": ["x"]},
            {"name": "lin", "op": {"type": "Activation", "activation": "linear"}, "inputs": ["x"]},
            {"name": "sum", "op": {"type": "Add"}, "inputs": ["sm", "relu", "act", "lin"]},
        ]),
        "sum",
    );
    // Pixel 0: logs of 1, 2, 3 (softmax 1/6, 2/6, 3/6, shift-invariant); pixel 1 = -1, 0, 2.
    let x = vec![
        ln(1.0) + 10.0,
        ln(2.0) + 10.0,
        ln(3.0) + 10.0,
        -1.0,
        0.0,
        2.0,
    ];
    let out =
        interp::run_with_outputs(&g, &WeightMap::new(), &x, &["sm", "relu", "act", "x"]).unwrap();
    let e = [(-1f64).exp(), 1.0, 2f64.exp()];
    let z: f64 = e.iter().sum();
    assert_close(
        &out.kept["sm"],
        &[
            1.0 / 6.0,
            2.0 / 6.0,
            3.0 / 6.0,
            e[0] / z,
            e[1] / z,
            e[2] / z,
        ],
        1e-6,
    );
    let relu: Vec<f32> = x.iter().map(|&v| v.max(0.0)).collect();
    assert_eq!(out.kept["relu"], relu);
    assert_eq!(out.kept["act"], relu);
    assert_eq!(out.kept["x"], x);
    let want: Vec<f64> = (0..6)
        .map(|i| f64::from(out.kept["sm"][i]) + 2.0 * f64::from(relu[i]) + f64::from(x[i]))
        .collect();
    assert_close(&out.output, &want, 1e-5);
}

#[test]
fn dense_acts_on_the_last_axis_with_f64_sums() {
    // Image input 1x2x3 -> Dense(2): each pixel times the [3, 2] kernel, plus bias.
    let g = graph(
        [1, 2, 3],
        json!([{"name": "d", "op": {"type": "Dense", "units": 2}, "inputs": ["x"]}]),
        "d",
    );
    let wm = weights(vec![
        (
            "d/kernel",
            tensor(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, -1.0]),
        ),
        ("d/bias", tensor(&[2], vec![0.5, 0.25])),
    ]);
    let out = interp::run(&g, &wm, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    assert_eq!(out, vec![4.5, -0.75, 10.5, -0.75]);

    // 1e8 + 1 - 1e8: f32 running sums give 0, f64 sums give 1.
    let g = graph(
        [1, 1, 3],
        json!([{"name": "d", "op": {"type": "Dense", "units": 1, "use_bias": false}, "inputs": ["x"]}]),
        "d",
    );
    let wm = weights(vec![("d/kernel", tensor(&[3, 1], vec![1.0; 3]))]);
    assert_eq!(interp::run(&g, &wm, &[1e8, 1.0, -1e8]).unwrap(), vec![1.0]);
}

#[test]
fn global_pools_and_dense_softmax_on_vectors() {
    let g = graph(
        [2, 2, 2],
        json!([
            {"name": "gap", "op": {"type": "GlobalAveragePooling2D"}, "inputs": ["x"]},
            {"name": "gmp", "op": {"type": "GlobalMaxPooling2D"}, "inputs": ["x"]},
            {"name": "sum", "op": {"type": "Add"}, "inputs": ["gap", "gmp"]},
            {"name": "d", "op": {"type": "Dense", "units": 3, "activation": "softmax",
                "use_bias": false}, "inputs": ["sum"]},
        ]),
        "d",
    );
    // Kernel: unit 0 reads channel 0, unit 1 channel 1, unit 2 nothing.
    let wm = weights(vec![(
        "d/kernel",
        tensor(&[2, 3], vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
    )]);
    let x = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 6.0, -4.0];
    let out = interp::run_with_outputs(&g, &wm, &x, &["gap", "gmp"]).unwrap();
    assert_eq!(out.kept["gap"], vec![3.0, -2.5]);
    assert_eq!(out.kept["gmp"], vec![6.0, -1.0]);
    let e = [9f64.exp(), (-3.5f64).exp(), 1.0];
    let z: f64 = e.iter().sum();
    assert_close(&out.output, &[e[0] / z, e[1] / z, e[2] / z], 1e-7);
}

#[test]
fn observer_sees_input_then_layers_in_order() {
    let g = graph(
        [1, 1, 1],
        json!([
            {"name": "b", "op": {"type": "ReLU"}, "inputs": ["a"]},
            {"name": "a", "op": {"type": "ReLU"}, "inputs": ["x"]},
        ]),
        "b",
    );
    let mut seen = Vec::new();
    let out = interp::run_observed(&g, &WeightMap::new(), &[-3.0], |name, shape, data| {
        seen.push((name.to_string(), shape.dims(), data.to_vec()));
    })
    .unwrap();
    assert_eq!(out, vec![0.0]);
    assert_eq!(
        seen,
        vec![
            ("x".to_string(), vec![1, 1, 1], vec![-3.0]),
            ("a".to_string(), vec![1, 1, 1], vec![0.0]),
            ("b".to_string(), vec![1, 1, 1], vec![0.0]),
        ]
    );
}

#[test]
fn bad_weights_inputs_and_names_are_errors() {
    let g = graph(
        [2, 2, 1],
        json!([{"name": "c", "op": {"type": "Conv2D", "filters": 1, "kernel_size": [1, 1]},
            "inputs": ["x"]}]),
        "c",
    );
    let good = || {
        weights(vec![
            ("c/kernel", tensor(&[1, 1, 1, 1], vec![2.0])),
            ("c/bias", tensor(&[1], vec![1.0])),
        ])
    };
    let x = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(
        interp::run(&g, &good(), &x).unwrap(),
        vec![3.0, 5.0, 7.0, 9.0]
    );

    let err = interp::run(&g, &good(), &x[..3]).unwrap_err();
    assert_eq!(
        err,
        InterpError::InputLength {
            expected: 4,
            got: 3
        }
    );
    assert!(err.to_string().contains("3 values"), "{err}");

    let mut missing = good();
    missing.remove("c/bias");
    let err = interp::run(&g, &missing, &x).unwrap_err();
    assert!(matches!(err, InterpError::Weights(_)), "{err:?}");
    assert!(err.to_string().contains("c/bias"), "{err}");

    let mut extra = good();
    extra.insert("z/kernel".into(), tensor(&[1], vec![0.0]));
    let err = interp::run(&g, &extra, &x).unwrap_err();
    assert!(err.to_string().contains("z/kernel"), "{err}");

    let mut wrong_shape = good();
    wrong_shape.insert("c/kernel".into(), tensor(&[1, 1, 1, 2], vec![0.0; 2]));
    let err = interp::run(&g, &wrong_shape, &x).unwrap_err();
    assert!(err.to_string().contains("c/kernel"), "{err}");

    let mut nan = good();
    nan.insert("c/kernel".into(), tensor(&[1, 1, 1, 1], vec![f32::NAN]));
    assert!(matches!(
        interp::run(&g, &nan, &x),
        Err(InterpError::Weights(_))
    ));

    let err = interp::run_with_outputs(&g, &good(), &x, &["c", "nope"]).unwrap_err();
    assert_eq!(err, InterpError::UnknownTensor("nope".into()));
}
