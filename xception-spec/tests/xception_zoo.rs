//! The Xception zoo spec against Keras itself: `fixtures/keras_xception_layers.json`
//! (layers, wiring, configs, shapes, parameter counts and weights of
//! `keras.applications.Xception(weights=None, ...)`, Keras 3.15.1) and
//! `fixtures/xception_seed42_manifest.json` (the 236 weight tensors).

use std::path::PathBuf;

use serde_json::{json, Value};
use xception_spec::spec::{Activation, Op};
use xception_spec::stats::stats;
use xception_spec::zoo::xception::{xception, Pooling, XceptionOptions};
use xception_spec::{from_json_str, validate};

fn crate_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(crate_path(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The options matching a Keras `Xception(weights=None, **kwargs)` call.
fn options_from_kwargs(kwargs: &Value) -> XceptionOptions {
    let mut o = XceptionOptions::default();
    for (k, v) in kwargs.as_object().unwrap() {
        match k.as_str() {
            "include_top" => o.include_top = v.as_bool().unwrap(),
            "pooling" => {
                o.pooling = match v.as_str().unwrap() {
                    "avg" => Pooling::Avg,
                    "max" => Pooling::Max,
                    other => panic!("pooling {other}"),
                }
            }
            "input_shape" => {
                o.height = v[0].as_u64().unwrap() as usize;
                o.width = v[1].as_u64().unwrap() as usize;
                assert_eq!(v[2], 3);
            }
            "classes" => o.classes = v.as_u64().unwrap() as usize,
            "classifier_activation" => {
                assert!(v.is_null());
                o.classifier_activation = Activation::Linear;
            }
            other => panic!("unexpected kwarg {other}"),
        }
    }
    o
}

fn act(a: Activation) -> &'static str {
    match a {
        Activation::Linear => "linear",
        Activation::Relu => "relu",
        Activation::Softmax => "softmax",
    }
}

fn padding(p: xception_spec::Padding) -> &'static str {
    match p {
        xception_spec::Padding::Valid => "valid",
        xception_spec::Padding::Same => "same",
    }
}

/// Our op's attributes in the shape of the Keras config subset the fixture records.
fn keras_config(op: &Op) -> Option<Value> {
    Some(match op {
        Op::Conv2D(c) => json!({
            "filters": c.filters, "kernel_size": c.kernel_size, "strides": c.strides,
            "padding": padding(c.padding), "dilation_rate": c.dilation_rate,
            "use_bias": c.use_bias, "activation": act(c.activation),
        }),
        Op::SeparableConv2D(s) => json!({
            "filters": s.filters, "kernel_size": s.kernel_size, "strides": s.strides,
            "padding": padding(s.padding), "dilation_rate": s.dilation_rate,
            "depth_multiplier": s.depth_multiplier, "use_bias": s.use_bias,
            "activation": act(s.activation),
        }),
        Op::BatchNormalization(b) => json!({
            "axis": -1, "epsilon": b.epsilon, "center": b.center, "scale": b.scale,
        }),
        Op::Activation(a) => json!({ "activation": act(a.activation) }),
        Op::MaxPooling2D(p) => json!({
            "pool_size": p.pool_size, "strides": p.strides(), "padding": padding(p.padding),
        }),
        Op::Dense(d) => json!({
            "units": d.units, "use_bias": d.use_bias, "activation": act(d.activation),
        }),
        _ => return None,
    })
}

#[test]
fn every_variant_matches_keras_layer_by_layer() {
    let fixture = read_json("fixtures/keras_xception_layers.json");
    let variants = [
        "default",
        "notop_avg",
        "notop_max_100x120",
        "notop_none_71x80",
        "top_10_linear",
    ];
    for variant in variants {
        let keras = &fixture[variant];
        let opts = options_from_kwargs(&keras["kwargs"]);
        let spec = xception(&opts).unwrap();
        let graph = validate(&spec).unwrap();
        let klayers = keras["layers"].as_array().unwrap();

        // Input layer.
        assert_eq!(klayers[0]["class"], "InputLayer", "{variant}");
        assert_eq!(spec.input.name, klayers[0]["name"], "{variant}");
        assert_eq!(json!(spec.input.shape), klayers[0]["output_shape"]);

        // Every other layer: same name, class, inbound layers, config, shape and params, same order.
        assert_eq!(spec.layers.len(), klayers.len() - 1, "{variant}");
        assert_eq!(graph.nodes.len(), spec.layers.len());
        for (k, (node, kl)) in graph.nodes.iter().zip(&klayers[1..]).enumerate() {
            let layer = graph.layer(node);
            let at = format!("{variant}: layer {k} {}", layer.name);
            assert_eq!(node.index, k, "{at}: listed in Keras order");
            assert_eq!(layer.name, kl["name"], "{at}");
            assert_eq!(layer.op.type_name(), kl["class"], "{at}");
            assert_eq!(json!(layer.inputs), kl["inbound"], "{at}");
            assert_eq!(json!(node.output_shape.dims()), kl["output_shape"], "{at}");
            assert_eq!(json!(node.params()), kl["params"], "{at}");
            let ours = keras_config(&layer.op);
            assert_eq!(ours.as_ref(), kl.get("config"), "{at}");
        }
        assert_eq!(spec.output, klayers.last().unwrap()["name"], "{variant}");

        // Weights in model.weights order, parameter totals.
        let ours: Vec<Value> = graph
            .weight_specs()
            .map(|w| json!([w.name, w.shape]))
            .collect();
        assert_eq!(Value::Array(ours), keras["weights"], "{variant}");
        assert_eq!(json!(graph.params()), keras["params"], "{variant}");
        let s = stats(&graph);
        assert_eq!(json!(s.non_trainable_params), keras["non_trainable_params"]);
        assert_eq!(
            json!(s.params - s.non_trainable_params),
            keras["trainable_params"]
        );
    }
}

#[test]
fn default_weights_match_the_seed42_manifest() {
    let manifest = read_json("fixtures/xception_seed42_manifest.json");
    let tensors = manifest["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 236);
    let graph = validate(&xception(&XceptionOptions::default()).unwrap()).unwrap();
    let ours: Vec<(String, Vec<usize>)> = graph
        .weight_specs()
        .map(|w| (w.name.clone(), w.shape.clone()))
        .collect();
    let theirs: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|t| {
            let shape = t["shape"].as_array().unwrap();
            (
                t["name"].as_str().unwrap().to_string(),
                shape.iter().map(|d| d.as_u64().unwrap() as usize).collect(),
            )
        })
        .collect();
    assert_eq!(ours, theirs);
}

/// The committed spec files are exactly the function's output. To rewrite
/// them after an intended change: `XCEPTION_SPEC_BLESS=1 cargo test -p xception-spec`.
#[test]
fn committed_specs_equal_the_function_output() {
    let notop_avg = XceptionOptions {
        include_top: false,
        pooling: Pooling::Avg,
        ..XceptionOptions::default()
    };
    for (file, opts) in [
        ("specs/xception.json", XceptionOptions::default()),
        ("specs/xception_notop_avg.json", notop_avg),
    ] {
        let want = xception(&opts).unwrap().to_json();
        let path = crate_path(file);
        if std::env::var_os("XCEPTION_SPEC_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap();
        assert!(
            have == want,
            "{file} differs from xception({opts:?}); see the test doc to rewrite it"
        );
        assert_eq!(from_json_str(&have).unwrap(), xception(&opts).unwrap());
    }
}

#[test]
fn smallest_input_builds_and_one_less_is_refused() {
    let opts = XceptionOptions {
        height: 71,
        width: 71,
        ..XceptionOptions::default()
    };
    let graph = validate(&xception(&opts).unwrap()).unwrap();
    assert_eq!(
        graph.shape_of("block14_sepconv2_act").unwrap().dims(),
        vec![3, 3, 2048]
    );
    assert_eq!(graph.params(), 22_910_480);

    for (h, w, path, what) in [
        (70, 70, "input.shape[0]", "height 70"),
        (71, 70, "input.shape[1]", "width 70"),
        (0, 299, "input.shape[0]", "height 0"),
    ] {
        let opts = XceptionOptions {
            height: h,
            width: w,
            ..XceptionOptions::default()
        };
        let err = xception(&opts).unwrap_err();
        assert_eq!(err.path, path);
        let msg = err.to_string();
        assert!(msg.contains("at least 71x71"), "{msg}");
        assert!(msg.contains(what), "{msg}");
        assert!(msg.contains(&format!("input {h}x{w}")), "{msg}");
    }
}

#[test]
fn zero_classes_is_refused_with_the_predictions_layer() {
    let opts = XceptionOptions {
        classes: 0,
        ..XceptionOptions::default()
    };
    let err = xception(&opts).unwrap_err();
    assert_eq!(err.layer.as_deref(), Some("predictions"));
    assert_eq!(err.field.as_deref(), Some("units"));
    assert_eq!(err.path, "layers[132].op.units");
    assert!(err.to_string().contains("classes = 0"), "{err}");
    // Without a top the class count is unused, as in Keras.
    let notop = XceptionOptions {
        include_top: false,
        ..opts
    };
    assert!(xception(&notop).is_ok());
}
