//! The Keras frontend on the fixtures: tiny_xception from its four files (legacy
//! full model, legacy weights, Keras 3 weights, `.keras`), the real Keras 2.0.5 fer
//! mini-Xception, the reference interpreter against the Keras probabilities, and
//! one test per kind of bad file.

use std::path::{Path, PathBuf};

use serde_json::Value;
use xcc_codegen::frontend::keras::{
    check_weights, detect_format, load_model, load_weights, spec_from_config, Format, KerasError,
    LoadOptions,
};
use xcc_codegen::frontend::safetensors;
use xception_spec::{detgen, interp, validate, Graph, Spec, WeightMap};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../xception-spec/fixtures");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn reference(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xcc-keras-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Bit-exact equality of two weight maps, with the first differing tensor in the message.
fn assert_same_weights(got: &WeightMap, want: &WeightMap, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: tensor names"
    );
    for (name, t) in want {
        let g = &got[name];
        assert_eq!(g.shape, t.shape, "{what}: shape of {name}");
        let same = g
            .data
            .iter()
            .zip(&t.data)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{what}: values of {name} differ");
    }
}

fn tiny_graph() -> Graph {
    let (spec, _) = load_model(fixture("tiny_xception_legacy_model.h5")).unwrap();
    validate(&spec).unwrap()
}

// ---------------------------------------------------------------- tiny_xception

/// The spec imported from a tiny_xception file against the Keras layer list.
fn assert_tiny_spec(spec: &Spec, what: &str) {
    let r = reference("tiny_xception_reference.json");
    let g = validate(spec).unwrap();
    let keras = r["layers"].as_array().unwrap();
    assert_eq!(keras[0]["class_name"], "InputLayer", "{what}");
    assert_eq!(
        spec.input.name,
        keras[0]["name"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(spec.input.shape, [32, 32, 3], "{what}");
    assert_eq!(spec.name, "tiny_xception", "{what}");
    assert_eq!(spec.output, "t_predictions", "{what}");
    assert_eq!(spec.layers.len(), keras.len() - 1, "{what}");
    for (layer, k) in spec.layers.iter().zip(&keras[1..]) {
        assert_eq!(layer.name, k["name"].as_str().unwrap(), "{what}");
        assert_eq!(
            layer.op.type_name(),
            k["class_name"].as_str().unwrap(),
            "{what}"
        );
        let inbound: Vec<&str> = k["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(layer.inputs, inbound, "{what}: inputs of {}", layer.name);
        let node = g.node_by_name(&layer.name).unwrap();
        let dims: Vec<usize> = k["output_shape"].as_array().unwrap()[1..]
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            node.output_shape.dims(),
            dims,
            "{what}: shape of {}",
            layer.name
        );
        let weights: Vec<&str> = node.weights.iter().map(|w| w.name.as_str()).collect();
        let keras_weights: Vec<&str> = k["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(weights, keras_weights, "{what}: weights of {}", layer.name);
    }
    assert_eq!(g.params(), r["n_params"].as_u64().unwrap(), "{what}");
}

/// Weights from a tiny_xception file: bit-equal to detgen seed 7 and to the
/// manifest's first values.
fn assert_tiny_weights(graph: &Graph, weights: &WeightMap, what: &str) {
    assert_same_weights(weights, &detgen::weights(graph, 7), what);
    let r = reference("tiny_xception_reference.json");
    let manifest = r["weights_manifest"].as_array().unwrap();
    assert_eq!(manifest.len(), weights.len(), "{what}");
    for m in manifest {
        let name = m["name"].as_str().unwrap();
        let t = &weights[name];
        let shape: Vec<usize> = m["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{what}: {name}");
        for (got, want) in t.data.iter().zip(f32s(&m["first4"])) {
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{what}: first values of {name}"
            );
        }
    }
}

#[test]
fn formats_are_detected_from_contents() {
    for (file, format) in [
        ("tiny_xception_legacy_model.h5", Format::LegacyModelH5),
        ("emotion_model.hdf5", Format::LegacyModelH5),
        ("tiny_xception_legacy_weights.h5", Format::LegacyWeightsH5),
        ("tiny_xception.weights.h5", Format::Keras3WeightsH5),
        ("tiny_xception.keras", Format::KerasArchive),
    ] {
        assert_eq!(detect_format(fixture(file)).unwrap(), format, "{file}");
        assert_eq!(
            format.has_config(),
            file != "tiny_xception_legacy_weights.h5" && file != "tiny_xception.weights.h5"
        );
    }
}

#[test]
fn tiny_xception_full_model_files_give_the_keras_spec_and_weights() {
    let mut specs = Vec::new();
    for file in ["tiny_xception_legacy_model.h5", "tiny_xception.keras"] {
        let (spec, weights) = load_model(fixture(file)).unwrap();
        assert_tiny_spec(&spec, file);
        assert_tiny_weights(&validate(&spec).unwrap(), &weights, file);
        specs.push(spec);
    }
    assert_eq!(
        specs[0], specs[1],
        "legacy .h5 and .keras configs give the same spec"
    );
}

#[test]
fn tiny_xception_spec_equals_the_hand_written_one() {
    let written = xception_spec::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../xception-spec/specs/tiny_xception.json"
    ))
    .unwrap();
    assert_eq!(tiny_graph().spec, written);
}

#[test]
fn tiny_xception_weights_from_every_file_by_order_and_by_name() {
    let graph = tiny_graph();
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
        "tiny_xception_legacy_model.h5",
        "tiny_xception.keras",
    ] {
        for by_name in [false, true] {
            let what = format!("{file} (by_name {by_name})");
            let loaded = load_weights(fixture(file), &graph, LoadOptions { by_name }).unwrap();
            assert!(loaded.warnings.is_empty(), "{what}: {:?}", loaded.warnings);
            assert_tiny_weights(&graph, &loaded.weights, &what);
        }
    }
}

#[test]
fn renamed_layers_load_by_order_with_warnings_and_fail_by_name() {
    let mut spec = tiny_graph().spec;
    for layer in &mut spec.layers {
        if layer.name == "t_conv2" {
            layer.name = "renamed_conv".into();
        }
        for input in &mut layer.inputs {
            if input == "t_conv2" {
                *input = "renamed_conv".into();
            }
        }
    }
    let graph = validate(&spec).unwrap();
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let loaded = load_weights(fixture(file), &graph, LoadOptions::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{file}: {:?}", loaded.warnings);
        let w = &loaded.warnings[0];
        assert!(
            w.contains("renamed_conv") && w.contains("t_conv2"),
            "{file}: {w}"
        );
        assert_eq!(
            loaded.weights["renamed_conv/kernel"].data,
            detgen::generate(
                "t_conv2/kernel",
                3 * 3 * 8 * 16,
                0.0,
                (3.0f64 / 72.0).sqrt(),
                7
            ),
            "{file}"
        );
        let err = load_weights(fixture(file), &graph, LoadOptions { by_name: true }).unwrap_err();
        assert_eq!(err.layer.as_deref(), Some("renamed_conv"), "{file}: {err}");
        assert!(
            err.to_string().contains("no weights for this layer"),
            "{err}"
        );
    }
}

#[test]
fn tiny_xception_interpreter_matches_keras_from_every_format() {
    let r = reference("tiny_xception_reference.json");
    let probs = f32s(&r["probs"]);
    let graph = tiny_graph();
    let input = detgen::input(&graph, 7);
    let mut runs = Vec::new();
    for file in ["tiny_xception_legacy_model.h5", "tiny_xception.keras"] {
        let (spec, weights) = load_model(fixture(file)).unwrap();
        runs.push((file, validate(&spec).unwrap(), weights));
    }
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let loaded = load_weights(fixture(file), &graph, LoadOptions::default()).unwrap();
        runs.push((file, graph.clone(), loaded.weights));
    }
    for (file, g, w) in runs {
        let out = interp::run(&g, &w, &input).unwrap();
        let d = max_abs_diff(&out, &probs);
        assert!(d <= 1e-6, "{file}: max |p - p_keras| = {d:e}");
    }
}

// ---------------------------------------------------------------- fer mini-Xception

fn fer() -> (Graph, WeightMap) {
    let (spec, weights) = load_model(fixture("emotion_model.hdf5")).unwrap();
    (validate(&spec).unwrap(), weights)
}

#[test]
fn fer_model_imports_with_all_weights() {
    let (graph, weights) = fer();
    assert_eq!(graph.spec.input.shape, [64, 64, 1]);
    assert_eq!(graph.spec.input.name, "input_1");
    assert_eq!(graph.output_node().output_shape.dims(), vec![7]);
    assert_eq!(graph.spec.output, "predictions");
    check_weights("emotion_model.hdf5", &graph, &weights).unwrap();
    assert_eq!(weights.len(), graph.weight_specs().count());
    // The weights inside the full model, read by order as a weights file would be.
    let loaded = load_weights(
        fixture("emotion_model.hdf5"),
        &graph,
        LoadOptions::default(),
    )
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_same_weights(&loaded.weights, &weights, "fer by order");
}

/// The fer preprocessing of the fixture PNG: gray, p / 255, (x - 0.5) * 2 in f32.
fn fer_png_input() -> Vec<f32> {
    let img = image::open(fixture("astronaut_face_64.png")).unwrap();
    assert_eq!(
        img.color(),
        image::ColorType::L8,
        "the fixture is 8-bit gray"
    );
    let gray = img.to_luma8();
    assert_eq!(gray.dimensions(), (64, 64));
    gray.as_raw()
        .iter()
        .map(|&p| {
            let x = f32::from(p) / 255.0;
            (x - 0.5) * 2.0
        })
        .collect()
}

#[test]
fn fer_model_matches_keras_on_the_png_and_the_detgen_input() {
    let r = reference("fer_keras_reference.json");
    let (graph, weights) = fer();
    let inputs = r["inputs"].as_array().unwrap();
    let png = fer_png_input();
    let first8 = f32s(&inputs[0]["input_stats"]["first8"]);
    assert_eq!(
        &png[..8],
        first8.as_slice(),
        "preprocessing as in the reference"
    );
    for (case, input) in inputs.iter().zip([png, detgen::input(&graph, 42)]) {
        let probs = f32s(&case["probs"]);
        let out = interp::run(&graph, &weights, &input).unwrap();
        let d = max_abs_diff(&out, &probs);
        let id = case["id"].as_str().unwrap();
        assert!(d <= 1e-6, "{id}: max |p - p_keras| = {d:e}");
        let top1 = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(top1 as u64, case["top1"].as_u64().unwrap(), "{id}");
    }
}

// ---------------------------------------------------------------- safetensors

#[test]
fn safetensors_round_trip_is_bit_exact() {
    let dir = scratch("safetensors");
    let (graph, weights) = fer();
    let path = dir.join("fer.safetensors");
    safetensors::write(&path, &weights).unwrap();
    let back = safetensors::read(&path).unwrap();
    assert_same_weights(&back, &weights, "safetensors");
    check_weights(&path.display().to_string(), &graph, &back).unwrap();
    assert_eq!(
        safetensors::from_bytes(&safetensors::to_bytes(&weights).unwrap(), "mem").unwrap(),
        weights
    );

    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let err = safetensors::read(&cut).unwrap_err();
    assert!(err.to_string().contains("cut.safetensors"), "{err}");
    let err = safetensors::read(&dir).unwrap_err();
    assert!(err.message.contains("directory"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- bad files

fn err_of<T>(r: Result<T, KerasError>) -> KerasError {
    match r {
        Ok(_) => panic!("a bad file must be an error"),
        Err(e) => e,
    }
}

/// Every loader refuses `path` with an error naming it.
fn assert_refused(path: &Path, what: &str) -> Vec<KerasError> {
    let graph = tiny_graph();
    let shown = path.display().to_string();
    let errs = vec![
        err_of(load_model(path)),
        err_of(load_weights(path, &graph, LoadOptions::default())),
        err_of(load_weights(path, &graph, LoadOptions { by_name: true })),
    ];
    for e in &errs {
        assert_eq!(e.file, shown, "{what}: {e}");
        assert!(e.to_string().starts_with(&shown), "{what}: {e}");
    }
    errs
}

#[test]
fn empty_file_directory_and_text_file_are_refused() {
    let dir = scratch("plain");
    let empty = dir.join("empty.h5");
    std::fs::write(&empty, b"").unwrap();
    for e in assert_refused(&empty, "empty") {
        assert!(e.message.contains("empty"), "{e}");
    }
    assert!(err_of(detect_format(&empty)).message.contains("empty"));

    for e in assert_refused(&dir, "directory") {
        assert!(e.message.contains("directory"), "{e}");
    }

    let text = dir.join("notes.h5");
    std::fs::write(&text, "these are not weights\n").unwrap();
    for e in assert_refused(&text, "text") {
        assert!(e.message.contains("not a Keras file"), "{e}");
    }
    let json = dir.join("spec.json");
    std::fs::write(&json, "{\"name\": \"x\"}").unwrap();
    for e in assert_refused(&json, "json") {
        assert!(e.message.contains("looks like JSON"), "{e}");
    }
    let missing = dir.join("missing.h5");
    for e in assert_refused(&missing, "missing") {
        assert!(e.message.contains("cannot read"), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn weights_only_files_are_refused_as_models() {
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let e = err_of(load_model(fixture(file)));
        assert!(e.message.contains("no model config"), "{e}");
    }
}

/// The weights a fixture holds.
fn detgen_or_fer(file: &str, graph: &Graph) -> WeightMap {
    if file == "emotion_model.hdf5" {
        fer().1
    } else {
        detgen::weights(graph, 7)
    }
}

#[test]
fn truncated_files_are_errors_never_panics() {
    let dir = scratch("truncated");
    for file in [
        "tiny_xception_legacy_model.h5",
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
        "tiny_xception.keras",
        "emotion_model.hdf5",
    ] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        let graph = if file == "emotion_model.hdf5" {
            fer().0
        } else {
            tiny_graph()
        };
        let original = detgen_or_fer(file, &graph);
        let n = bytes.len();
        for cut in [
            1,
            7,
            8,
            100,
            512,
            2048,
            n / 4,
            n / 2,
            n - 4096,
            n - 100,
            n - 1,
        ] {
            let path = dir.join(format!("cut{cut}-{file}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert_refused(&path, &format!("{file} cut at {cut}"));
            // With the end-of-file address of the (version 0) superblock patched to
            // the cut, the HDF5 decoder itself meets the missing bytes.
            if bytes[8] == 0 && cut >= 48 {
                let mut patched = bytes[..cut].to_vec();
                patched[40..48].copy_from_slice(&(cut as u64).to_le_bytes());
                std::fs::write(&path, &patched).unwrap();
                match load_weights(&path, &graph, LoadOptions::default()) {
                    Err(e) => assert_eq!(e.file, path.display().to_string(), "{e}"),
                    // emotion_model.hdf5 keeps its optimizer state after the model
                    // weights: a cut there leaves everything the import reads.
                    Ok(loaded) => assert_same_weights(&loaded.weights, &original, file),
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupted_files_are_errors_or_loads_that_pass_the_checks() {
    // Flipping bytes may hit raw weight data (still a valid file, different
    // values) or structure (an error); it must never panic, and whatever loads
    // must still pass the weight checks.
    let dir = scratch("flipped");
    let graph = tiny_graph();
    let mut errors = 0;
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
        "tiny_xception_legacy_model.h5",
        "tiny_xception.keras",
    ] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ bytes.len() as u64;
        for round in 0..40 {
            let mut bad = bytes.clone();
            // Structure lives at the start of these small files; hit it often.
            let span = if round % 2 == 0 {
                4096.min(bad.len())
            } else {
                bad.len()
            };
            for _ in 0..8 {
                state = detgen::splitmix64(state);
                let at = (state % span as u64) as usize;
                bad[at] ^= 0xFF;
            }
            let path = dir.join(format!("flip{round}-{file}"));
            std::fs::write(&path, &bad).unwrap();
            let shown = path.display().to_string();
            match load_weights(&path, &graph, LoadOptions::default()) {
                Ok(loaded) => check_weights(&shown, &graph, &loaded.weights).unwrap(),
                Err(e) => {
                    assert!(e.file.starts_with(&shown), "{e}");
                    errors += 1;
                }
            }
        }
    }
    assert!(errors > 0, "some flips must break the files");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_archive_member_is_caught_by_its_checksum() {
    let dir = scratch("archive");
    let bytes = std::fs::read(fixture("tiny_xception.keras")).unwrap();
    // The members are stored: overwrite the HDF5 signature of the embedded
    // model.weights.h5; the zip CRC-32 of the member no longer matches.
    let sig = b"\x89HDF\r\n\x1a\n";
    let at = bytes.windows(8).position(|w| w == sig).unwrap();
    let mut bad = bytes.clone();
    bad[at..at + 8].copy_from_slice(b"NOTHDF5!");
    let path = dir.join("bad.keras");
    std::fs::write(&path, &bad).unwrap();
    let e = err_of(load_model(&path));
    assert_eq!(e.file, path.display().to_string(), "{e}");
    assert!(
        e.message.contains("model.weights.h5") && e.message.contains("checksum"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shape_mismatch_names_file_layer_and_tensor() {
    let mut spec = tiny_graph().spec;
    for layer in &mut spec.layers {
        if let xception_spec::Op::Dense(d) = &mut layer.op {
            d.units = 6;
        }
    }
    let graph = validate(&spec).unwrap();
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let e = err_of(load_weights(fixture(file), &graph, LoadOptions::default()));
        assert_eq!(e.file, fixture(file).display().to_string());
        assert_eq!(e.layer.as_deref(), Some("t_predictions"), "{e}");
        assert_eq!(e.tensor.as_deref(), Some("t_predictions/kernel"), "{e}");
        assert!(
            e.message.contains("[48, 5]") && e.message.contains("[48, 6]"),
            "{e}"
        );
    }
    // The same on a loaded map.
    let (_, weights) = load_model(fixture("tiny_xception.keras")).unwrap();
    let e = err_of(check_weights("tiny_xception.keras", &graph, &weights));
    assert_eq!(e.tensor.as_deref(), Some("t_predictions/kernel"), "{e}");
}

#[test]
fn missing_variable_count_mismatch_names_the_layer() {
    // A spec whose conv has a bias the files do not have.
    let mut spec = tiny_graph().spec;
    for layer in &mut spec.layers {
        if layer.name == "t_conv1" {
            if let xception_spec::Op::Conv2D(c) = &mut layer.op {
                c.use_bias = true;
            }
        }
    }
    let graph = validate(&spec).unwrap();
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let e = err_of(load_weights(fixture(file), &graph, LoadOptions::default()));
        assert_eq!(e.layer.as_deref(), Some("t_conv1"), "{file}: {e}");
        assert!(e.message.contains("bias [8]"), "{e}");
    }
    let (_, weights) = load_model(fixture("tiny_xception_legacy_model.h5")).unwrap();
    let e = err_of(check_weights("x.h5", &graph, &weights));
    assert_eq!(e.file, "x.h5");
    assert_eq!(e.layer.as_deref(), Some("t_conv1"));
    assert_eq!(e.tensor.as_deref(), Some("t_conv1/bias"));
    assert!(e.message.contains("missing"), "{e}");
}

#[test]
fn extra_layers_and_tensors_are_reported() {
    // A spec without the Dense head: the files have a layer too many.
    let mut spec = tiny_graph().spec;
    spec.layers.retain(|l| l.name != "t_predictions");
    spec.output = "t_avg_pool".into();
    let graph = validate(&spec).unwrap();
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let e = err_of(load_weights(fixture(file), &graph, LoadOptions::default()));
        assert!(e.to_string().contains("t_predictions"), "{file}: {e}");
        let loaded = load_weights(fixture(file), &graph, LoadOptions { by_name: true }).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{file}: {:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].contains("t_predictions"),
            "{:?}",
            loaded.warnings
        );
    }
    // An extra tensor in a map.
    let graph = tiny_graph();
    let (_, mut weights) = load_model(fixture("tiny_xception.keras")).unwrap();
    let bias = xception_spec::Tensor {
        shape: vec![8],
        data: vec![0.0; 8],
    };
    weights.insert("t_conv1/bias".into(), bias);
    let e = err_of(check_weights("w.safetensors", &graph, &weights));
    assert_eq!(e.layer.as_deref(), Some("t_conv1"), "{e}");
    assert_eq!(e.tensor.as_deref(), Some("t_conv1/bias"), "{e}");
    assert!(e.message.contains("extra"), "{e}");
}

#[test]
fn non_finite_weights_name_the_tensor_and_index() {
    let graph = tiny_graph();
    let (_, mut weights) = load_model(fixture("tiny_xception.keras")).unwrap();
    weights
        .get_mut("t_block1_sepconv1_bn/moving_variance")
        .unwrap()
        .data[5] = f32::NAN;
    let e = err_of(check_weights("m.keras", &graph, &weights));
    assert_eq!(e.layer.as_deref(), Some("t_block1_sepconv1_bn"));
    assert_eq!(
        e.tensor.as_deref(),
        Some("t_block1_sepconv1_bn/moving_variance")
    );
    assert!(
        e.message.contains("NaN") && e.message.contains("index 5"),
        "{e}"
    );
    weights
        .get_mut("t_block1_sepconv1_bn/moving_variance")
        .unwrap()
        .data[5] = 1.0;
    weights.get_mut("t_conv1/kernel").unwrap().data[0] = f32::INFINITY;
    let e = err_of(check_weights("m.keras", &graph, &weights));
    assert_eq!(e.tensor.as_deref(), Some("t_conv1/kernel"), "{e}");
    assert!(e.message.contains("inf"), "{e}");
}

#[test]
fn non_finite_weights_in_a_file_are_refused() {
    // The weights file stores raw little-endian f32s: find t_predictions/bias
    // (its five detgen values) and overwrite one with NaN.
    let dir = scratch("nan");
    let graph = tiny_graph();
    let bias: Vec<u8> = detgen::weights(&graph, 7)["t_predictions/bias"]
        .data
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    for file in [
        "tiny_xception_legacy_weights.h5",
        "tiny_xception.weights.h5",
    ] {
        let mut bytes = std::fs::read(fixture(file)).unwrap();
        let at = bytes
            .windows(bias.len())
            .position(|w| w == bias.as_slice())
            .unwrap();
        bytes[at + 8..at + 12].copy_from_slice(&f32::NAN.to_le_bytes());
        let path = dir.join(file);
        std::fs::write(&path, &bytes).unwrap();
        let e = err_of(load_weights(&path, &graph, LoadOptions::default()));
        assert_eq!(e.file, path.display().to_string());
        assert_eq!(e.layer.as_deref(), Some("t_predictions"), "{e}");
        assert_eq!(e.tensor.as_deref(), Some("t_predictions/bias"), "{e}");
        assert!(e.message.contains("index 2"), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- synthetic files

/// How a synthetic legacy (Keras 2 layout) weights file spells things.
#[derive(Clone, Copy)]
struct Keras2Style {
    /// Split `layer_names` into `layer_names0`, `layer_names1`, ... of this many names.
    chunk: Option<usize>,
    /// Weight names `<layer>_1/<var>:0` (TF variable scopes) instead of `<layer>/<var>:0`.
    scoped: bool,
    /// Store the data as float64.
    f64_data: bool,
}

/// Writes `weights` in the layout of Keras 2 `save_weights` (like the official
/// Xception weights file): fixed-length string attributes, `:0` names,
/// `depthwise_kernel` for DepthwiseConv2D, empty float64 `weight_names`.
fn write_keras2_weights(path: &Path, graph: &Graph, weights: &WeightMap, style: Keras2Style) {
    use hdf5_writer::{AttributeBuilder, DatasetBuilder, Hdf5Builder, WriteOptions};
    let mut b = Hdf5Builder::new()
        .attribute(AttributeBuilder::fixed_string("backend", "tensorflow"))
        .attribute(AttributeBuilder::fixed_string("keras_version", "2.1.6"));
    let mut layer_names = vec![graph.spec.input.name.clone()];
    layer_names.extend(graph.spec.layers.iter().map(|l| l.name.clone()));
    match style.chunk {
        None => {
            b = b.attribute(
                AttributeBuilder::fixed_string_vector("layer_names", &layer_names).unwrap(),
            )
        }
        Some(n) => {
            for (k, chunk) in layer_names.chunks(n).enumerate() {
                let attr = AttributeBuilder::fixed_string_vector(format!("layer_names{k}"), chunk);
                b = b.attribute(attr.unwrap());
            }
        }
    }
    b = b.group_attribute(
        graph.spec.input.name.clone(),
        AttributeBuilder::vector::<f64>("weight_names", &[]).unwrap(),
    );
    for node in &graph.nodes {
        let layer = graph.layer(node);
        let mut names = Vec::new();
        for w in &node.weights {
            let var = match (&layer.op, w.var) {
                (xception_spec::Op::DepthwiseConv2D(_), "kernel") => "depthwise_kernel",
                (_, var) => var,
            };
            let scope = if style.scoped {
                format!("{}_1", layer.name)
            } else {
                layer.name.clone()
            };
            let name = format!("{scope}/{var}:0");
            let t = &weights[&w.name];
            let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
            let path = format!("{}/{name}", layer.name);
            let ds = if style.f64_data {
                let data: Vec<f64> = t.data.iter().map(|&v| f64::from(v)).collect();
                DatasetBuilder::typed_data(path, shape, &data)
            } else {
                DatasetBuilder::typed_data(path, shape, &t.data)
            };
            b = b.dataset(ds.unwrap());
            names.push(name);
        }
        let attr = if names.is_empty() {
            AttributeBuilder::vector::<f64>("weight_names", &[]).unwrap()
        } else {
            AttributeBuilder::fixed_string_vector("weight_names", &names).unwrap()
        };
        b = b.group_attribute(layer.name.clone(), attr);
    }
    let bytes = b
        .into_plan()
        .unwrap()
        .encode(WriteOptions::default())
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn official_xception_layout_loads_by_order_and_by_name() {
    // The layout of xception_weights_tf_dim_ordering_tf_kernels.h5 (Keras 2
    // save_weights), with the seed-42 weights of the committed Xception spec.
    let dir = scratch("xception");
    let spec = xception_spec::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../xception-spec/specs/xception.json"
    ))
    .unwrap();
    let graph = validate(&spec).unwrap();
    let weights = detgen::weights(&graph, 42);
    let path = dir.join("xception_weights_tf_dim_ordering_tf_kernels.h5");
    let style = Keras2Style {
        chunk: Some(50),
        scoped: false,
        f64_data: false,
    };
    write_keras2_weights(&path, &graph, &weights, style);
    assert_eq!(detect_format(&path).unwrap(), Format::LegacyWeightsH5);
    for by_name in [false, true] {
        let loaded = load_weights(&path, &graph, LoadOptions { by_name }).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_same_weights(&loaded.weights, &weights, "xception legacy layout");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keras2_naming_quirks_are_read() {
    // DepthwiseConv2D `depthwise_kernel`, scoped `dw_1/...:0` names, float64 data,
    // BatchNormalization without gamma.
    let spec = xception_spec::from_json_str(
        r#"{"name": "quirks", "input": {"name": "x", "shape": [6, 6, 2]},
        "layers": [
          {"name": "dw", "op": {"type": "DepthwiseConv2D", "kernel_size": [3, 3],
            "depth_multiplier": 2, "padding": "same"}, "inputs": ["x"]},
          {"name": "bn", "op": {"type": "BatchNormalization", "scale": false}, "inputs": ["dw"]},
          {"name": "c", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [1, 1]},
            "inputs": ["bn"]},
          {"name": "gap", "op": {"type": "GlobalAveragePooling2D"}, "inputs": ["c"]},
          {"name": "d", "op": {"type": "Dense", "units": 3}, "inputs": ["gap"]}
        ], "output": "d"}"#,
    )
    .unwrap();
    let graph = validate(&spec).unwrap();
    let weights = detgen::weights(&graph, 3);
    let dir = scratch("quirks");
    let path = dir.join("quirks.h5");
    let style = Keras2Style {
        chunk: None,
        scoped: true,
        f64_data: true,
    };
    write_keras2_weights(&path, &graph, &weights, style);
    let loaded = load_weights(&path, &graph, LoadOptions::default()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_same_weights(&loaded.weights, &weights, "keras 2 quirks");
    assert_eq!(loaded.weights["dw/kernel"].shape, vec![3, 3, 2, 2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keras3_weights_without_layer_name_attributes_load_by_order_only() {
    // Older Keras 3 versions do not store `vars@name`: only the class-derived
    // group names tell which layer a group belongs to.
    use hdf5_writer::{DatasetBuilder, Hdf5Builder, WriteOptions};
    let graph = tiny_graph();
    let weights = detgen::weights(&graph, 7);
    let groups = reference("tiny_xception_reference.json")["keras3_weights_h5_groups"].clone();
    let mut b = Hdf5Builder::new();
    for node in &graph.nodes {
        let layer = graph.layer(node);
        for (i, w) in node.weights.iter().enumerate() {
            let group = groups[&layer.name].as_str().unwrap();
            let t = &weights[&w.name];
            let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
            let ds = DatasetBuilder::typed_data(format!("{group}/{i}"), shape, &t.data);
            b = b.dataset(ds.unwrap());
        }
    }
    let dir = scratch("keras3-old");
    let path = dir.join("old.weights.h5");
    std::fs::write(
        &path,
        b.into_plan()
            .unwrap()
            .encode(WriteOptions::default())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(detect_format(&path).unwrap(), Format::Keras3WeightsH5);
    let loaded = load_weights(&path, &graph, LoadOptions::default()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_same_weights(&loaded.weights, &weights, "keras 3 without names");
    let e = err_of(load_weights(&path, &graph, LoadOptions { by_name: true }));
    assert!(e.message.contains("does not record layer names"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- configs

/// The tiny_xception Keras 3 config with one layer's config edited.
fn edited_config(layer: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut config = keras_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let entry = layers.iter_mut().find(|l| l["name"] == layer).unwrap();
    edit(entry["config"].as_object_mut().unwrap());
    config.to_string()
}

/// `config.json` of tiny_xception.keras.
fn keras_config() -> Value {
    let file = std::fs::File::open(fixture("tiny_xception.keras")).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    serde_json::from_reader(zip.by_name("config.json").unwrap()).unwrap()
}

fn config_error(layer: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> KerasError {
    let text = edited_config(layer, edit);
    let e = err_of(spec_from_config(&text, "edited.json"));
    assert_eq!(e.file, "edited.json");
    assert_eq!(e.layer.as_deref(), Some(layer), "{e}");
    e
}

#[test]
fn keras3_config_alone_gives_the_spec() {
    let spec = spec_from_config(&keras_config().to_string(), "config.json").unwrap();
    assert_eq!(spec, tiny_graph().spec);
}

#[test]
fn unsupported_configs_name_class_layer_and_file() {
    let e = config_error("t_conv1", |c| {
        c.insert("data_format".into(), "channels_first".into());
    });
    assert!(
        e.message.contains("Conv2D") && e.message.contains("channels_first"),
        "{e}"
    );
    let e = config_error("t_conv2", |c| {
        c.insert("groups".into(), 2.into());
    });
    assert!(
        e.message.contains("Conv2D") && e.message.contains("groups"),
        "{e}"
    );
    let e = config_error("t_conv1_bn", |c| {
        c.insert("axis".into(), 1.into());
    });
    assert!(
        e.message.contains("BatchNormalization") && e.message.contains("axis 1"),
        "{e}"
    );
    let e = config_error("t_conv1_act", |c| {
        c.insert("activation".into(), "tanh".into());
    });
    assert!(
        e.message.contains("Activation") && e.message.contains("tanh"),
        "{e}"
    );
    let e = config_error("t_predictions", |c| {
        c.insert("activation".into(), "sigmoid".into());
    });
    assert!(
        e.message.contains("Dense") && e.message.contains("sigmoid"),
        "{e}"
    );
    let e = config_error("t_block1_sepconv1", |c| {
        c.insert("padding".into(), "causal".into());
    });
    assert!(
        e.message.contains("SeparableConv2D") && e.message.contains("causal"),
        "{e}"
    );
    let e = config_error("t_block1_pool", |c| {
        c.insert("some_new_option".into(), true.into());
    });
    assert!(
        e.message.contains("MaxPooling2D") && e.message.contains("some_new_option"),
        "{e}"
    );
    let e = config_error("t_avg_pool", |c| {
        c.insert("keepdims".into(), true.into());
    });
    assert!(e.message.contains("keepdims"), "{e}");
    let e = config_error("t_conv1", |c| {
        c.insert(
            "dtype".into(),
            serde_json::json!({"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}),
        );
    });
    assert!(e.message.contains("mixed_float16"), "{e}");

    // Ignored: attributes that do not change inference.
    let text = edited_config("t_conv1", |c| {
        c.insert(
            "kernel_regularizer".into(),
            serde_json::json!({"class_name": "L2"}),
        );
        c.insert("trainable".into(), false.into());
    });
    spec_from_config(&text, "ok.json").unwrap();
}

#[test]
fn unsupported_layer_classes_and_relu_options_are_refused() {
    let mut config = keras_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let act = layers
        .iter_mut()
        .find(|l| l["name"] == "t_conv1_act")
        .unwrap();
    act["class_name"] = "LeakyReLU".into();
    let e = err_of(spec_from_config(&config.to_string(), "c.json"));
    assert_eq!(e.layer.as_deref(), Some("t_conv1_act"));
    assert!(
        e.message.contains("LeakyReLU") && e.message.contains("not supported"),
        "{e}"
    );

    let mut config = keras_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let act = layers
        .iter_mut()
        .find(|l| l["name"] == "t_conv1_act")
        .unwrap();
    act["class_name"] = "ReLU".into();
    act["config"] = serde_json::json!({"name": "t_conv1_act", "max_value": 6.0});
    let e = err_of(spec_from_config(&config.to_string(), "c.json"));
    assert!(
        e.message.contains("ReLU") && e.message.contains("max_value"),
        "{e}"
    );
}

#[test]
fn relu_layer_with_keras_defaults_is_accepted() {
    let mut config = keras_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let act = layers
        .iter_mut()
        .find(|l| l["name"] == "t_conv1_act")
        .unwrap();
    act["class_name"] = "ReLU".into();
    act["config"] = serde_json::json!({
        "name": "t_conv1_act", "max_value": null, "negative_slope": 0.0, "threshold": 0.0
    });
    let spec = spec_from_config(&config.to_string(), "c.json").unwrap();
    let layer = spec
        .layers
        .iter()
        .find(|l| l.name == "t_conv1_act")
        .unwrap();
    assert_eq!(layer.op, xception_spec::Op::ReLU {});
}

#[test]
fn keras2_sequential_config_is_read() {
    let text = r#"{"class_name": "Sequential", "config": [
        {"class_name": "Conv2D", "config": {"name": "c1", "batch_input_shape": [null, 8, 8, 1],
            "dtype": "float32", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
            "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
            "activation": "relu", "use_bias": true, "trainable": true,
            "kernel_initializer": {"class_name": "VarianceScaling", "config": {}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
            "kernel_constraint": null, "bias_constraint": null}},
        {"class_name": "DepthwiseConv2D", "config": {"name": "dw", "kernel_size": 3,
            "depth_multiplier": 2, "padding": "valid", "use_bias": false}},
        {"class_name": "AveragePooling2D", "config": {"name": "p", "pool_size": [2, 2],
            "strides": null, "padding": "valid", "data_format": "channels_last"}},
        {"class_name": "GlobalMaxPooling2D", "config": {"name": "g"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "softmax"}}
    ]}"#;
    let spec = spec_from_config(text, "seq.json").unwrap();
    assert_eq!(spec.input.name, "c1_input");
    assert_eq!(spec.input.shape, [8, 8, 1]);
    assert_eq!(spec.output, "d");
    let names: Vec<&str> = spec.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["c1", "dw", "p", "g", "d"]);
    assert_eq!(spec.layers[1].inputs, ["c1"]);
    let graph = validate(&spec).unwrap();
    assert_eq!(
        graph.node_by_name("dw").unwrap().output_shape.dims(),
        vec![6, 6, 8]
    );
    assert_eq!(graph.output_node().output_shape.dims(), vec![3]);
}

#[test]
fn keras_error_display_names_everything() {
    let e = KerasError {
        file: "m.h5".into(),
        layer: Some("conv".into()),
        tensor: Some("conv/kernel".into()),
        message: "bad".into(),
    };
    assert_eq!(
        e.to_string(),
        "m.h5: layer 'conv': tensor 'conv/kernel': bad"
    );
}
