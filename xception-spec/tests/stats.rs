//! Model statistics of the committed Xception specs against published numbers:
//! Keras' `count_params()` and the MAC counts of the issue.

use xception_spec::stats::{render, stats};
use xception_spec::{from_file, validate, Graph};

fn load(rel: &str) -> Graph {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    validate(&from_file(path).unwrap()).unwrap()
}

#[test]
fn xception_params_and_macs() {
    let graph = load("specs/xception.json");
    let s = stats(&graph);
    assert_eq!(s.params, 22_910_480);
    assert_eq!(s.non_trainable_params, 54_528);
    assert_eq!(s.macs.total(), 8_357_403_496);
    assert_eq!(s.macs.pointwise, 7_574_141_568);
    assert_eq!(s.macs.depthwise, 132_190_344);
    assert_eq!(s.macs.conv, 417_478_752);
    assert_eq!(s.macs.conv1x1, 231_544_832);
    assert_eq!(s.macs.dense, 2_048_000);

    // Keras' model.layers has 134 entries, the input layer first.
    assert_eq!(s.layers.len(), 134);
    assert_eq!(s.layers[0].name, "input_layer");
    assert_eq!(s.layers[0].op, "InputLayer");
    let conv1 = &s.layers[1];
    assert_eq!(conv1.name, "block1_conv1");
    assert_eq!(conv1.output.dims(), vec![149, 149, 32]);
    assert_eq!(conv1.params, 864);
    // 149 * 149 outputs * 32 filters * 27 taps.
    assert_eq!(conv1.macs, 19_181_664);
    let last = s.layers.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.op, last.params, last.macs),
        ("predictions", "Dense", 2_049_000, 2_048_000)
    );
}

#[test]
fn xception_table_text() {
    let text = render(&load("specs/xception.json"));
    for needle in [
        "Model: xception",
        "Total params: 22,910,480 (trainable 22,855,952, non-trainable 54,528)",
        "Total MACs: 8,357,403,496",
        "7,574,141,568",
        "132,190,344",
        "417,478,752",
        "231,544,832",
        "2,048,000",
        "Layers: 133 (plus the input)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // One line per layer: the header, the rule, 134 rows, then the totals.
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("layer "), "{}", lines[1]);
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("block1_conv1"),
        ["block1_conv1", "Conv2D", "149x149x32", "864", "19,181,664"]
    );
    assert_eq!(
        row("block4_sepconv1"),
        // 37*37*(9*256) depthwise + 37*37*256*728 pointwise.
        [
            "block4_sepconv1",
            "SeparableConv2D",
            "37x37x728",
            "188,672",
            "258,291,968"
        ]
    );
    assert_eq!(
        row("avg_pool"),
        ["avg_pool", "GlobalAveragePooling2D", "2048", "0", "0"]
    );
    // The pointwise share: 7,574,141,568 / 8,357,403,496 = 90.6%.
    let pointwise = lines.iter().find(|l| l.contains("pointwise")).unwrap();
    assert!(pointwise.ends_with("90.6%"), "{pointwise}");
}

#[test]
fn xception_notop_params() {
    let graph = load("specs/xception_notop_avg.json");
    let s = stats(&graph);
    // Keras: Xception(include_top=False, pooling="avg").count_params().
    assert_eq!(s.params, 20_861_480);
    assert_eq!(s.macs.dense, 0);
    assert_eq!(s.macs.total(), 8_357_403_496 - 2_048_000);
    assert_eq!(
        graph.output_node().output_shape.dims(),
        vec![2048],
        "global average pooled features"
    );
}
