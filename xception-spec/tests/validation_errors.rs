//! One small bad spec per kind of error. Each error must name the JSON path,
//! the layer (when there is one) and the field, both in the `SpecError`
//! fields and in its message.

use xception_spec::{from_json_str, validate, SpecError};

/// The error a spec gets, from parsing or else from validation.
fn error_of(json: &str) -> SpecError {
    match from_json_str(json) {
        Err(e) => e,
        Ok(spec) => match validate(&spec) {
            Err(e) => e,
            Ok(_) => panic!("spec was accepted:\n{json}"),
        },
    }
}

/// Asserts where an error points and that its message says so and contains `phrase`.
fn check(json: &str, path: &str, layer: Option<&str>, field: Option<&str>, phrase: &str) {
    let e = error_of(json);
    let text = e.to_string();
    assert_eq!(e.path, path, "{text}");
    assert_eq!(e.layer.as_deref(), layer, "{text}");
    assert_eq!(e.field.as_deref(), field, "{text}");
    assert!(text.contains(&format!("at `{path}`")), "{text}");
    if let Some(layer) = layer {
        assert!(text.contains(&format!("layer '{layer}'")), "{text}");
    }
    if let Some(field) = field {
        assert!(text.contains(&format!("field '{field}'")), "{text}");
    }
    assert!(text.contains(phrase), "expected {phrase:?} in: {text}");
}

/// A spec with input `x` of `shape` and the given layers (a JSON array body), output `out`.
fn spec(shape: &str, layers: &str, out: &str) -> String {
    format!(
        r#"{{"name": "m", "input": {{"name": "x", "shape": {shape}}}, "layers": [{layers}], "output": "{out}"}}"#
    )
}

#[test]
fn the_test_specs_are_valid_when_not_broken() {
    // The helper's frame and the layers the error tests start from.
    let ok = spec(
        "[8, 8, 3]",
        r#"{"name": "conv", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["x"]},
           {"name": "relu", "op": {"type": "ReLU"}, "inputs": ["conv"]},
           {"name": "sum", "op": {"type": "Add"}, "inputs": ["conv", "relu"]},
           {"name": "gap", "op": {"type": "GlobalAveragePooling2D"}, "inputs": ["sum"]}"#,
        "gap",
    );
    let graph = validate(&from_json_str(&ok).unwrap()).unwrap();
    assert_eq!(graph.output_node().output_shape.dims(), vec![4]);
}

#[test]
fn unknown_op_type() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv3D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.type",
        Some("c1"),
        Some("type"),
        "unknown variant `Conv3D`, expected one of `Conv2D`",
    );
}

#[test]
fn unknown_field() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "kernel_sise": [3, 3]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.kernel_sise",
        Some("c1"),
        Some("kernel_sise"),
        "unknown field `kernel_sise`, expected one of `filters`, `kernel_size`",
    );
    // Also on the layer itself, and on an op without attributes.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"], "input": "x"}"#,
        "r",
    );
    check(
        &json,
        "layers[0].input",
        Some("r"),
        Some("input"),
        "unknown field `input`",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU", "max_value": 6}, "inputs": ["x"]}"#,
        "r",
    );
    check(
        &json,
        "layers[0].op.max_value",
        Some("r"),
        Some("max_value"),
        "unknown field `max_value`",
    );
    // Outside the layers: at the top level and in the input.
    let ok = spec(
        "[8, 8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "r",
    );
    let json = ok.replacen('{', r#"{"version": 2, "#, 1);
    check(
        &json,
        "version",
        None,
        Some("version"),
        "unknown field `version`",
    );
    let json = ok.replace(
        r#""shape": [8, 8, 3]"#,
        r#""shape": [8, 8, 3], "layout": "NHWC""#,
    );
    check(
        &json,
        "input.layout",
        None,
        Some("layout"),
        "unknown field `layout`",
    );
}

#[test]
fn duplicate_name() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "a", "op": {"type": "ReLU"}, "inputs": ["x"]},
           {"name": "a", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "a",
    );
    check(
        &json,
        "layers[1].name",
        Some("a"),
        Some("name"),
        "duplicate layer name (also layers[0])",
    );
}

#[test]
fn dangling_input_name() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "a", "op": {"type": "ReLU"}, "inputs": ["x"]},
           {"name": "b", "op": {"type": "Add"}, "inputs": ["a", "ghost"]}"#,
        "b",
    );
    check(
        &json,
        "layers[1].inputs[1]",
        Some("b"),
        Some("inputs[1]"),
        "refers to 'ghost', which is neither a layer nor the input",
    );
}

#[test]
fn cycle() {
    // 'out' depends on the cycle but is not in it; the error names the cycle itself.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "out", "op": {"type": "ReLU"}, "inputs": ["b"]},
           {"name": "a", "op": {"type": "Add"}, "inputs": ["x", "b"]},
           {"name": "b", "op": {"type": "ReLU"}, "inputs": ["a"]}"#,
        "out",
    );
    check(
        &json,
        "layers[1].inputs",
        Some("a"),
        Some("inputs"),
        "layer is part of a cycle: 'a' <- 'b' <- 'a'",
    );
    // A layer reading itself.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "s", "op": {"type": "Add"}, "inputs": ["x", "s"]}"#,
        "s",
    );
    check(
        &json,
        "layers[0].inputs",
        Some("s"),
        Some("inputs"),
        "cycle: 's' <- 's'",
    );
}

#[test]
fn add_shape_mismatch() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 3, "kernel_size": [3, 3]}, "inputs": ["x"]},
           {"name": "sum", "op": {"type": "Add"}, "inputs": ["x", "c1"]}"#,
        "sum",
    );
    check(
        &json,
        "layers[1].inputs[1]",
        Some("sum"),
        Some("inputs[1]"),
        "Add shape mismatch: 'c1' is 6x6x3 but 'x' is 8x8x3",
    );
}

#[test]
fn kernel_larger_than_a_valid_input() {
    let json = spec(
        "[4, 9, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [5, 5]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.kernel_size",
        Some("c1"),
        Some("kernel_size"),
        "'valid' window height 5 (kernel 5, dilation 1) is larger than the model input height 4",
    );
    // Dilation makes a 3-wide kernel span 7 pixels; a pool's window is its pool_size.
    let json = spec(
        "[9, 6, 3]",
        r#"{"name": "d", "op": {"type": "DepthwiseConv2D", "kernel_size": [3, 3], "dilation_rate": [1, 3]}, "inputs": ["x"]}"#,
        "d",
    );
    check(
        &json,
        "layers[0].op.kernel_size",
        Some("d"),
        Some("kernel_size"),
        "'valid' window width 7 (kernel 3, dilation 3) is larger than the model input width 6",
    );
    let json = spec(
        "[2, 2, 3]",
        r#"{"name": "p", "op": {"type": "MaxPooling2D", "pool_size": [3, 3]}, "inputs": ["x"]}"#,
        "p",
    );
    check(
        &json,
        "layers[0].op.pool_size",
        Some("p"),
        Some("pool_size"),
        "larger than the model input height 2",
    );
}

#[test]
fn zero_strides() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "SeparableConv2D", "filters": 4, "kernel_size": [3, 3], "strides": [1, 0]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.strides",
        Some("c1"),
        Some("strides"),
        "must be positive, got [1, 0]",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "p", "op": {"type": "AveragePooling2D", "strides": [0, 0]}, "inputs": ["x"]}"#,
        "p",
    );
    check(
        &json,
        "layers[0].op.strides",
        Some("p"),
        Some("strides"),
        "must be positive, got [0, 0]",
    );
}

#[test]
fn zero_or_negative_sizes() {
    let conv = |attrs: &str| {
        spec(
            "[8, 8, 3]",
            &format!(r#"{{"name": "c1", "op": {{"type": "Conv2D", {attrs}}}, "inputs": ["x"]}}"#),
            "c1",
        )
    };
    check(
        &conv(r#""filters": 0, "kernel_size": [3, 3]"#),
        "layers[0].op.filters",
        Some("c1"),
        Some("filters"),
        "must be positive, got 0",
    );
    check(
        &conv(r#""filters": -4, "kernel_size": [3, 3]"#),
        "layers[0].op.filters",
        Some("c1"),
        Some("filters"),
        "invalid value: integer `-4`, expected usize",
    );
    check(
        &conv(r#""filters": 4, "kernel_size": [0, 3]"#),
        "layers[0].op.kernel_size",
        Some("c1"),
        Some("kernel_size"),
        "must be positive, got [0, 3]",
    );
    check(
        &conv(r#""filters": 4, "kernel_size": [3, 3], "strides": [2, -2]"#),
        "layers[0].op.strides[1]",
        Some("c1"),
        Some("strides[1]"),
        "invalid value: integer `-2`, expected usize",
    );
    check(
        &conv(r#""filters": 2.5, "kernel_size": [3, 3]"#),
        "layers[0].op.filters",
        Some("c1"),
        Some("filters"),
        "invalid type: floating point `2.5`, expected usize",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "d", "op": {"type": "DepthwiseConv2D", "kernel_size": [3, 3], "depth_multiplier": 0}, "inputs": ["x"]}"#,
        "d",
    );
    check(
        &json,
        "layers[0].op.depth_multiplier",
        Some("d"),
        Some("depth_multiplier"),
        "must be positive, got 0",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "fc", "op": {"type": "Dense", "units": 0}, "inputs": ["x"]}"#,
        "fc",
    );
    check(
        &json,
        "layers[0].op.units",
        Some("fc"),
        Some("units"),
        "must be positive, got 0",
    );
    let json = spec(
        "[8, 0, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "r",
    );
    check(
        &json,
        "input.shape[1]",
        None,
        Some("shape"),
        "input width must be positive",
    );
    let json = spec(
        "[8, -8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "r",
    );
    check(
        &json,
        "input.shape[1]",
        None,
        Some("shape[1]"),
        "invalid value: integer `-8`, expected usize",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "bn", "op": {"type": "BatchNormalization", "epsilon": -0.001}, "inputs": ["x"]}"#,
        "bn",
    );
    check(
        &json,
        "layers[0].op.epsilon",
        Some("bn"),
        Some("epsilon"),
        "must be finite and positive, got -0.001",
    );
}

#[test]
fn size_arithmetic_overflow() {
    // 6*6 outputs * 3*3*3 taps * 2^62 filters overflows u64.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4611686018427387904, "kernel_size": [3, 3]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.filters",
        Some("c1"),
        Some("filters"),
        "size arithmetic overflows",
    );
    // Fits u64 but not in memory.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "fc", "op": {"type": "Dense", "units": 3000000000000}, "inputs": ["x"]}"#,
        "fc",
    );
    check(
        &json,
        "layers[0].op.units",
        Some("fc"),
        Some("units"),
        "output 8x8x3000000000000 exceeds 1073741824 elements",
    );
    // A dilated 'same' window whose span overflows.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "padding": "same", "dilation_rate": [1, 18446744073709551615]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.dilation_rate",
        Some("c1"),
        Some("dilation_rate"),
        "window width of 3 with dilation 18446744073709551615 spans more than 1073741824 pixels",
    );
    // Larger than any integer type.
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 100000000000000000000]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.kernel_size[1]",
        Some("c1"),
        Some("kernel_size[1]"),
        "invalid type: floating point `1e+20`, expected usize",
    );
    let json = spec(
        "[4000000000, 4000000000, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "r",
    );
    check(
        &json,
        "input.shape",
        None,
        Some("shape"),
        "input 4000000000x4000000000x3 exceeds 1073741824 elements",
    );
}

#[test]
fn input_smaller_than_the_network_allows() {
    // 5x5 -> 3x3 -> 1x1: the third 3x3 'valid' conv has nothing left to cover.
    let json = spec(
        "[5, 5, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["x"]},
           {"name": "c2", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["c1"]},
           {"name": "c3", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["c2"]}"#,
        "c3",
    );
    check(
        &json,
        "layers[2].op.kernel_size",
        Some("c3"),
        Some("kernel_size"),
        "'valid' window height 3 (kernel 3, dilation 1) is larger than this layer's input height 1: \
         the model input 5x5x3 is too small for the network up to here",
    );
}

#[test]
fn missing_field() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"type": "Conv2D", "filters": 4}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.kernel_size",
        Some("c1"),
        Some("kernel_size"),
        "missing field `kernel_size`",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "c1", "op": {"filters": 4, "kernel_size": [3, 3]}, "inputs": ["x"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[0].op.type",
        Some("c1"),
        Some("type"),
        "missing field `type`",
    );
    let json = spec("[8, 8, 3]", r#"{"name": "r", "op": {"type": "ReLU"}}"#, "r");
    check(
        &json,
        "layers[0].inputs",
        Some("r"),
        Some("inputs"),
        "missing field `inputs`",
    );
    let json = r#"{"name": "m", "input": {"name": "x", "shape": [8, 8, 3]},
                   "layers": [{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}]}"#;
    check(
        json,
        "output",
        None,
        Some("output"),
        "missing field `output`",
    );
}

#[test]
fn output_not_a_layer() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "nope",
    );
    check(
        &json,
        "output",
        None,
        Some("output"),
        "output 'nope' is not a layer: no layer has this name",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "x",
    );
    check(
        &json,
        "output",
        None,
        Some("output"),
        "output 'x' is not a layer: it is the model input",
    );
}

#[test]
fn layer_not_feeding_the_output() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "used", "op": {"type": "ReLU"}, "inputs": ["x"]},
           {"name": "dead", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "used",
    );
    check(
        &json,
        "layers[1].name",
        Some("dead"),
        Some("name"),
        "layer does not contribute to the output 'used'",
    );
}

#[test]
fn wrong_input_count_or_rank() {
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "sum", "op": {"type": "Add"}, "inputs": ["x"]}"#,
        "sum",
    );
    check(
        &json,
        "layers[0].inputs",
        Some("sum"),
        Some("inputs"),
        "Add takes at least 2 input(s), got 1",
    );
    let json = spec(
        "[8, 8, 3]",
        r#"{"name": "gap", "op": {"type": "GlobalMaxPooling2D"}, "inputs": ["x"]},
           {"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [1, 1]}, "inputs": ["gap"]}"#,
        "c1",
    );
    check(
        &json,
        "layers[1].inputs",
        Some("c1"),
        Some("inputs"),
        "Conv2D needs an HxWxC input, got a vector of 3",
    );
}

#[test]
fn trailing_text_and_syntax_errors() {
    let ok = spec(
        "[8, 8, 3]",
        r#"{"name": "r", "op": {"type": "ReLU"}, "inputs": ["x"]}"#,
        "r",
    );
    check(
        &format!("{ok} {{}}"),
        ".",
        None,
        None,
        "after the spec object: trailing characters",
    );
    // A syntax error inside a layer still names the path it reached.
    let broken = ok.replace(r#""inputs": ["x"]"#, r#""inputs": ["x""#);
    let e = error_of(&broken);
    assert_eq!(e.path, "layers[0].inputs", "{e}");
    assert!(e.message.contains("line 1 column"), "{e}");
}
