//! The examples in the crate README work as the README says.

use xception_spec::zoo::xception::{xception, Pooling, XceptionOptions};
use xception_spec::{from_json_str, validate};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The body of the first fenced block of the given language.
fn first_block(text: &str, lang: &str) -> String {
    let start = text.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
    let len = text[start..].find("```").unwrap();
    text[start..start + len].to_string()
}

#[test]
fn json_example_validates_with_the_stated_shapes_and_params() {
    let spec = from_json_str(&first_block(&readme(), "json")).unwrap();
    let graph = validate(&spec).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = graph
        .nodes
        .iter()
        .map(|n| (graph.layer(n).name.clone(), n.output_shape.dims()))
        .collect();
    let expect = [
        ("conv", vec![16, 16, 16]),
        ("conv_bn", vec![16, 16, 16]),
        ("pool", vec![16]),
        ("predictions", vec![10]),
    ];
    let expect: Vec<(String, Vec<usize>)> = expect
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    assert_eq!(shapes, expect);
    // 3*3*3*16 + 16, 4 * 16, 16*10 + 10.
    assert_eq!(graph.params(), 448 + 64 + 170);
}

#[test]
fn rust_example_builds_a_224_feature_extractor() {
    let text = readme();
    let snippet = first_block(&text, "rust");
    assert!(snippet.contains("height: 224") && snippet.contains("Pooling::Avg"));
    let spec = xception(&XceptionOptions {
        height: 224,
        width: 224,
        include_top: false,
        pooling: Pooling::Avg,
        ..XceptionOptions::default()
    })
    .unwrap();
    let graph = validate(&spec).unwrap();
    // Keras: Xception(include_top=False, input_shape=(224, 224, 3)) ends in 7x7x2048.
    assert_eq!(
        graph.shape_of("block14_sepconv2_act").unwrap().dims(),
        vec![7, 7, 2048]
    );
    assert_eq!(graph.output_node().output_shape.dims(), vec![2048]);
    assert_eq!(graph.params(), 20_861_480);
}

#[test]
fn error_examples_are_real_messages() {
    let text = readme();
    let examples = first_block(&text, "text");
    let unknown = from_json_str(
        r#"{"name": "m", "input": {"name": "x", "shape": [8, 8, 3]},
            "layers": [{"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "kernel_sise": [3, 3]}, "inputs": ["x"]}],
            "output": "c1"}"#,
    )
    .unwrap_err()
    .to_string();
    let first = examples.lines().next().unwrap();
    assert!(
        unknown.starts_with(first.trim_end_matches(", ...")),
        "{unknown}"
    );
    let small = validate(
        &from_json_str(
            r#"{"name": "m", "input": {"name": "x", "shape": [5, 5, 3]}, "layers": [
                {"name": "c1", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["x"]},
                {"name": "c2", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["c1"]},
                {"name": "c3", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3]}, "inputs": ["c2"]}],
                "output": "c3"}"#,
        )
        .unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(examples.lines().nth(1).unwrap(), small);
}
