//! The `xcc` binary end to end: exit codes, messages, and the files it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xcc(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xcc"))
        .args(args)
        .env("XCC_CACHE_DIR", cache)
        .output()
        .expect("run xcc")
}

fn repo(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
        .display()
        .to_string()
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn spec_inspect_and_errors() {
    let d = tmp("cli_spec");
    let out = d.join("x.json");
    let o = xcc(&["spec", "--out", out.to_str().unwrap()], &d);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(repo("xception-spec/specs/xception.json")).unwrap(),
        "`xcc spec` with defaults writes the committed Xception spec"
    );
    let o = xcc(&["inspect", out.to_str().unwrap()], &d);
    let (stdout, _) = text(&o);
    assert!(o.status.success());
    assert!(stdout.contains("22,910,480"), "total params in:\n{stdout}");
    assert!(stdout.contains("8,357,403,496"), "total MACs in:\n{stdout}");
    assert!(
        stdout.contains("arena 8900096 bytes"),
        "memory plan in:\n{stdout}"
    );
    assert!(stdout.contains("(target scalar, cpu generic)"), "{stdout}");
    // `native` is reported as the instruction set it stands for here.
    let tiny = repo("xception-spec/specs/tiny_xception.json");
    let o = xcc(&["inspect", &tiny, "--target", "native"], &d);
    let (stdout, _) = text(&o);
    assert!(o.status.success());
    let best = xcc_codegen::Target::Native.resolve().name();
    assert_ne!(best, "native");
    // So is the CPU family that `--target native` tunes for by default.
    let cpu = xcc_codegen::Cpu::Native.resolve().name();
    assert!(
        stdout.contains(&format!("(target {best}, cpu {cpu})")),
        "{stdout}"
    );
    let o = xcc(
        &["inspect", &tiny, "--target", "avx2", "--cpu", "intel"],
        &d,
    );
    assert!(text(&o).0.contains("(target avx2, cpu intel)"));

    let o = xcc(
        &[
            "spec",
            "--height",
            "70",
            "--out",
            d.join("y.json").to_str().unwrap(),
        ],
        &d,
    );
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("input.shape[0]") && stderr.contains("71"),
        "{stderr}"
    );

    let bad = d.join("bad.json");
    std::fs::write(&bad, r#"{"name": "m", "input": {"name": "i", "shape": [8, 8, 3]}, "layers": [{"name": "c", "op": {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "strides": [0, 1]}, "inputs": ["i"]}], "output": "c"}"#).unwrap();
    let o = xcc(&["inspect", bad.to_str().unwrap()], &d);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    for part in ["bad.json", "layer 'c'", "strides"] {
        assert!(stderr.contains(part), "{part} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"));

    let o = xcc(
        &[
            "run",
            out.to_str().unwrap(),
            "--input",
            "detgen:1",
            "--target",
            "sparc",
        ],
        &d,
    );
    assert!(text(&o).1.contains("unknown target 'sparc'"));
    let o = xcc(&["inspect", &tiny, "--cpu", "pentium"], &d);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("unknown cpu 'pentium'"),
        "{:?}",
        text(&o)
    );
}

/// `xcc import` of the fer Keras file into `d`: the spec and weights paths.
fn import_fer(d: &Path) -> (PathBuf, PathBuf) {
    let spec = d.join("fer.json");
    let st = d.join("fer.safetensors");
    let o = xcc(
        &[
            "import",
            &repo("xception-spec/fixtures/emotion_model.hdf5"),
            "--out",
            spec.to_str().unwrap(),
            "--weights",
            st.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{:?}", text(&o));
    (spec, st)
}

#[test]
fn import_then_compile_and_run_fer() {
    let d = tmp("cli_fer");
    let (spec, st) = import_fer(&d);
    let npy = d.join("probs.npy");
    let o = xcc(
        &[
            "run",
            spec.to_str().unwrap(),
            "--weights",
            st.to_str().unwrap(),
            "--input",
            &repo("xception-spec/fixtures/astronaut_face_64.png"),
            "--preprocess",
            "fer",
            "--labels",
            "fer",
            "--top",
            "7",
            "--runs",
            "2",
            "--output",
            npy.to_str().unwrap(),
        ],
        &d,
    );
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("happy        0.9968"), "{stdout}");
    assert!(stdout.contains("arena: 238208 bytes"), "{stdout}");
    let (shape, probs) =
        xcc_codegen::tensor_io::parse_npy(&npy, &std::fs::read(&npy).unwrap()).unwrap();
    assert_eq!(shape, vec![7]);
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("xception-spec/fixtures/fer_keras_reference.json")).unwrap(),
    )
    .unwrap();
    let png = &reference["inputs"][0];
    assert_eq!(png["file"], "astronaut_face_64.png");
    let keras: Vec<f32> = png["probs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(keras.len(), 7);
    for (a, b) in probs.iter().zip(keras) {
        assert!((a - b).abs() <= 1e-6, "{probs:?}");
    }
}

/// A model for AVX-512 runs where the CPU has it; elsewhere `xcc run` fails
/// at once, before compiling, with an error naming the target, and the
/// runner of a crate from `xcc compile` exits 3 with the model's CPU error.
#[cfg(target_arch = "x86_64")]
#[test]
fn run_for_a_target_this_cpu_lacks_fails_cleanly() {
    let d = tmp("cli_fer_avx512");
    let (spec, st) = import_fer(&d);
    let (spec, st) = (spec.to_str().unwrap(), st.to_str().unwrap());
    let model = [spec, "--weights", st, "--target", "avx512"];
    let face = repo("xception-spec/fixtures/astronaut_face_64.png");
    let run = [
        "--input",
        &face,
        "--preprocess",
        "fer",
        "--labels",
        "fer",
        "--runs",
        "1",
    ];
    let o = xcc(&[&["run"], &model[..], &run].concat(), &d);
    let (stdout, stderr) = text(&o);
    if xcc_codegen::Target::Avx512.runs_here() {
        assert!(o.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("happy"), "{stdout}");
    } else {
        assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("this CPU does not run target `avx512`"),
            "{stderr}"
        );
        assert!(!stderr.contains("compiling"), "{stderr}");
        assert!(!stdout.contains("happy"), "{stdout}");
        // `xcc compile` still builds the crate (for another machine); its
        // runner, run here, reports the model's own CPU error (`try_infer`).
        let krate = d.join("crate");
        let out = ["--out", krate.to_str().unwrap()];
        let o = xcc(&[&["compile"], &model[..], &out].concat(), &d);
        assert!(o.status.success(), "{:?}", text(&o));
        let input = d.join("zeros.f32");
        std::fs::write(&input, vec![0u8; 64 * 64 * 4]).unwrap();
        let o = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
            .args(["run", "--release", "-q", "--manifest-path"])
            .arg(krate.join("Cargo.toml"))
            .arg("--")
            .arg(&input)
            .arg(d.join("out.f32"))
            .arg("1")
            .env("CARGO_TARGET_DIR", d.join("target"))
            .output()
            .expect("run cargo");
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(3), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("compiled for target `avx512`, which this CPU does not support"),
            "{stderr}"
        );
        assert!(!d.join("out.f32").exists());
    }
}
