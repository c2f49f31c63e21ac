//! Bad input never panics: hundreds of deterministic mutations of a small
//! valid spec (structural edits of its JSON value and raw text edits) go
//! through parsing, validation and, when still valid, statistics and a JSON
//! round trip. Run it without `--release` too: debug builds also turn integer
//! overflow into a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};
use xception_spec::stats::render;
use xception_spec::{from_json_str, validate};

/// A valid spec using every op type.
const BASE: &str = r#"{
  "name": "every_op",
  "input": {"name": "img", "shape": [12, 10, 3]},
  "layers": [
    {"name": "conv", "op": {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "use_bias": false}, "inputs": ["img"]},
    {"name": "bn", "op": {"type": "BatchNormalization", "epsilon": 0.001}, "inputs": ["conv"]},
    {"name": "act", "op": {"type": "Activation", "activation": "relu"}, "inputs": ["bn"]},
    {"name": "dw", "op": {"type": "DepthwiseConv2D", "kernel_size": [3, 3], "padding": "same", "depth_multiplier": 2, "dilation_rate": [2, 1]}, "inputs": ["act"]},
    {"name": "sep", "op": {"type": "SeparableConv2D", "filters": 8, "kernel_size": [3, 3], "padding": "same"}, "inputs": ["act"]},
    {"name": "pw", "op": {"type": "Conv2D", "filters": 8, "kernel_size": [1, 1]}, "inputs": ["dw"]},
    {"name": "sum", "op": {"type": "Add"}, "inputs": ["sep", "pw", "act"]},
    {"name": "relu", "op": {"type": "ReLU"}, "inputs": ["sum"]},
    {"name": "maxp", "op": {"type": "MaxPooling2D", "pool_size": [3, 3], "strides": [2, 2], "padding": "same"}, "inputs": ["relu"]},
    {"name": "avgp", "op": {"type": "AveragePooling2D", "padding": "valid"}, "inputs": ["maxp"]},
    {"name": "gmp", "op": {"type": "GlobalMaxPooling2D"}, "inputs": ["avgp"]},
    {"name": "gap", "op": {"type": "GlobalAveragePooling2D"}, "inputs": ["relu"]},
    {"name": "both", "op": {"type": "Add"}, "inputs": ["gmp", "gap"]},
    {"name": "fc", "op": {"type": "Dense", "units": 5, "activation": "softmax"}, "inputs": ["both"]}
  ],
  "output": "fc"
}"#;

/// SplitMix64: a tiny deterministic generator, so every run tests the same mutants.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A replacement for `old`: mostly of the same JSON type (to get past the
/// parser and stress validation and size arithmetic), sometimes anything.
fn interesting(old: &Value, rng: &mut Rng) -> Value {
    let numbers = [
        json!(0),
        json!(1),
        json!(2),
        json!(3),
        json!(7),
        json!(65535),
        json!(1u64 << 31),
        json!((1u64 << 32) + 1),
        json!(1u64 << 53),
        json!(1u64 << 62),
        json!(u64::MAX),
    ];
    let strings = [
        json!("img"),
        json!("conv"),
        json!("act"),
        json!("sum"),
        json!("gap"),
        json!("fc"),
        json!("ghost"),
        json!(""),
        json!("same"),
        json!("valid"),
        json!("relu"),
        json!("softmax"),
        json!("linear"),
    ];
    let arrays = [
        json!([3, 3]),
        json!([1, 1]),
        json!([0, 1]),
        json!([5, 1]),
        json!([1, 1u64 << 40]),
        json!([u64::MAX, 2]),
        json!([2, 2, 2]),
        json!(["img"]),
        json!(["img", "img"]),
        json!(["act", "conv"]),
        json!(["fc"]),
        json!(["sum", "relu"]),
        json!([]),
    ];
    let odd = [
        json!(-1),
        json!(1e20),
        json!(0.5),
        json!(null),
        json!(true),
        json!({}),
        json!({"type": "ReLU"}),
        json!("Conv2D"),
    ];
    let same_type = match old {
        Value::Number(_) => Some(&numbers[..]),
        Value::String(_) => Some(&strings[..]),
        Value::Array(_) => Some(&arrays[..]),
        _ => None,
    };
    match same_type {
        Some(pool) if rng.below(5) != 0 => rng.pick(pool).clone(),
        _ => {
            let pools = [&numbers[..], &strings[..], &arrays[..], &odd[..]];
            let pool = *rng.pick(&pools);
            rng.pick(pool).clone()
        }
    }
}

/// JSON pointers to every node of `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                pointers(child, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// One structural edit of the spec value.
fn mutate_value(v: &mut Value, rng: &mut Rng) {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    // Mostly edit values inside the spec (numbers, names, lists), which the
    // parser accepts, so that validation sees most mutants.
    let leaves: Vec<String> = all
        .iter()
        .filter(|p| !v.pointer(p).is_some_and(Value::is_object))
        .cloned()
        .collect();
    let target = if rng.below(4) != 0 && !leaves.is_empty() {
        rng.pick(&leaves).clone()
    } else {
        rng.pick(&all).clone()
    };
    let Some(node) = v.pointer_mut(&target) else {
        return;
    };
    match rng.below(8) {
        0..=3 => *node = interesting(node, rng),
        4 => match node {
            // Drop a key or an element.
            Value::Object(m) if !m.is_empty() => {
                let key = m.keys().nth(rng.below(m.len())).cloned().unwrap();
                m.remove(&key);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.below(a.len()));
            }
            _ => *node = interesting(node, rng),
        },
        5 => match node {
            // Duplicate an element (e.g. a layer: duplicate names) or add a key.
            Value::Array(a) if !a.is_empty() => {
                let copy = a[rng.below(a.len())].clone();
                a.insert(rng.below(a.len() + 1), copy);
            }
            Value::Object(m) => {
                m.insert("bogus".into(), json!(1));
            }
            _ => *node = interesting(node, rng),
        },
        6 => {
            // Reorder: swap two elements of the nearest array (layers, inputs, dims).
            if let Value::Array(a) = node {
                if a.len() >= 2 {
                    let (i, j) = (rng.below(a.len()), rng.below(a.len()));
                    a.swap(i, j);
                }
            } else {
                *node = interesting(node, rng);
            }
        }
        _ => {
            // Give a layer another op type, keeping its attributes.
            let types = [
                "Conv2D",
                "DepthwiseConv2D",
                "SeparableConv2D",
                "BatchNormalization",
                "Activation",
                "ReLU",
                "MaxPooling2D",
                "AveragePooling2D",
                "GlobalAveragePooling2D",
                "GlobalMaxPooling2D",
                "Add",
                "Dense",
                "Conv1D",
            ];
            let ty = json!(rng.pick(&types));
            if let Some(layers) = v.get_mut("layers").and_then(Value::as_array_mut) {
                if !layers.is_empty() {
                    let k = rng.below(layers.len());
                    if let Some(op) = layers[k].get_mut("op").and_then(Value::as_object_mut) {
                        op.insert("type".into(), ty);
                    }
                }
            }
        }
    }
}

/// One raw text edit: cut a range, insert a token, or overwrite a byte.
fn mutate_text(text: &str, rng: &mut Rng) -> String {
    let mut b = text.as_bytes().to_vec();
    if b.is_empty() {
        return "{".to_string();
    }
    let at = rng.below(b.len());
    match rng.below(3) {
        0 => {
            let end = (at + 1 + rng.below(12)).min(b.len());
            b.drain(at..end);
        }
        1 => {
            let tokens = [
                "-",
                "0",
                "9999999999999999999999",
                "1e400",
                "null",
                "\"",
                ",",
                "]",
                "}",
                "{",
                "[",
                "\\u0000",
                "é",
                ":",
            ];
            let token = rng.pick(&tokens);
            b.splice(at..at, token.bytes());
        }
        _ => b[at] = *rng.pick(b"{}[],:\"0123456789-.aeE "),
    }
    String::from_utf8_lossy(&b).into_owned()
}

#[derive(Debug, Default)]
struct Outcomes {
    parse_errors: usize,
    validation_errors: usize,
    valid: usize,
}

/// Everything a tool does with a spec file; returns how far it got.
fn exercise(text: &str, seen: &mut Outcomes) {
    let spec = match from_json_str(text) {
        Ok(spec) => spec,
        Err(e) => {
            assert!(!e.message.is_empty() && !e.to_string().is_empty());
            seen.parse_errors += 1;
            return;
        }
    };
    match validate(&spec) {
        Err(e) => {
            assert!(!e.message.is_empty() && !e.to_string().is_empty());
            seen.validation_errors += 1;
        }
        Ok(graph) => {
            let table = render(&graph);
            assert!(table.contains("Total MACs"));
            let _ = graph.macs().total();
            let _ = graph.weight_specs().map(|w| w.len()).sum::<usize>();
            assert_eq!(from_json_str(&spec.to_json()).unwrap(), spec);
            seen.valid += 1;
        }
    }
}

#[test]
fn base_spec_is_valid() {
    let graph = validate(&from_json_str(BASE).unwrap()).unwrap();
    assert_eq!(graph.output_node().output_shape.dims(), vec![5]);
}

#[test]
fn mutated_specs_never_panic() {
    let base: Value = serde_json::from_str(BASE).unwrap();
    let mut rng = Rng(0x5EED);
    let mut seen = Outcomes::default();
    let mut panicked = Vec::new();
    for case in 0..650 {
        let text = if case < 500 {
            let mut v = base.clone();
            for _ in 0..1 + rng.below(2) {
                mutate_value(&mut v, &mut rng);
            }
            serde_json::to_string(&v).unwrap()
        } else {
            let mut t = BASE.to_string();
            for _ in 0..1 + rng.below(2) {
                t = mutate_text(&t, &mut rng);
            }
            t
        };
        if catch_unwind(AssertUnwindSafe(|| exercise(&text, &mut seen))).is_err() {
            panicked.push((case, text));
        }
    }
    assert!(panicked.is_empty(), "panics on {panicked:#?}");
    // The mutants reach every stage: parse errors, validation errors and valid specs.
    assert!(seen.parse_errors >= 100, "{seen:?}");
    assert!(seen.validation_errors >= 100, "{seen:?}");
    assert!(seen.valid >= 30, "{seen:?}");
}
