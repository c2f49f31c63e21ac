//! Writing a compiled model as a ready Cargo crate (`xcc compile --out DIR`):
//!
//! ```text
//! DIR/Cargo.toml       package `<name>`, depends on xcc-runtime (path)
//! DIR/src/lib.rs       the generated model (#![no_std])
//! DIR/src/weights.bin  its weight blob
//! DIR/src/main.rs      a std runner: raw f32 input file -> raw f32 output file + timing
//! ```

use std::path::{Path, PathBuf};

use crate::emit::Generated;
use crate::error::CompileError;

/// The runtime crate this compiler was built with (path dependency of generated crates).
pub fn runtime_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime")
}

/// Names a crate may not take: Rust keywords and the crates generated code
/// and its runner refer to.
const RESERVED: [&str; 58] = [
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "xcc_runtime",
    "union",
];

/// A crate name made of `[a-z0-9_]`, starting with a letter, not a keyword
/// nor the name of a crate the generated code uses.
pub fn crate_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) || RESERVED.contains(&s.as_str()) {
        s.insert_str(0, "model_");
    }
    s
}

const RUNNER: &str = r#"//! Runs the model on a raw little-endian f32 input file and writes the raw
//! f32 output; prints one JSON line with the arena size and latencies.
//! With RUNS given as `profile:N`, it instead times every step N times and
//! prints one line per step: `step<TAB>index<TAB>median microseconds`.
//! The weights are first copied to huge pages (`relocate_weights`) unless
//! XCC_STATIC_WEIGHTS is set, which keeps them in the executable's blob.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} INPUT.f32 OUTPUT.f32 RUNS", args[0]);
        std::process::exit(2);
    }
    let bytes = std::fs::read(&args[1]).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[1]);
        std::process::exit(1)
    });
    if bytes.len() != MODEL::INPUT_LEN * 4 {
        eprintln!("{}: {} bytes, expected {}", args[1], bytes.len(), MODEL::INPUT_LEN * 4);
        std::process::exit(1);
    }
    let mut input = vec![0f32; MODEL::INPUT_LEN];
    for (v, c) in input.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    let input: &[f32; MODEL::INPUT_LEN] = input.as_slice().try_into().expect("length checked");
    let relocated = std::env::var_os("XCC_STATIC_WEIGHTS").is_none();
    if relocated {
        let copy = xcc_runtime::huge_pages::leak_zeroed_f32(MODEL::WEIGHT_FLOATS);
        MODEL::relocate_weights(copy).expect("buffer of WEIGHT_FLOATS floats");
    }
    let mut arena = MODEL::Arena::boxed();
    let mut output = [0f32; MODEL::OUTPUT_LEN];
    if let Err(e) = MODEL::try_infer(&mut arena, input, &mut output) {
        eprintln!("{e}");
        std::process::exit(3);
    }
    if let Some(n) = args[3].strip_prefix("profile:") {
        let runs: usize = n.parse().unwrap_or(10).max(1);
        let mut times = vec![Vec::with_capacity(runs); MODEL::STEPS];
        for r in 0..=runs {
            for (i, t) in times.iter_mut().enumerate() {
                let start = Instant::now();
                MODEL::run_step(i, &mut arena, input);
                if r > 0 {
                    t.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
        for (i, t) in times.iter_mut().enumerate() {
            t.sort_by(f64::total_cmp);
            println!("step\t{i}\t{:.3}", t[runs / 2]);
        }
        return;
    }
    let runs: usize = args[3].parse().unwrap_or(10).max(1);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        MODEL::infer(&mut arena, input, &mut output);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let out: Vec<u8> = output.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&args[2], out).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[2]);
        std::process::exit(1)
    });
    println!(
        "{{\"arena_bytes\": {}, \"target\": \"{}\", \"weights\": \"{}\", \"runs\": {}, \"median_ms\": {:.4}, \"min_ms\": {:.4}}}",
        MODEL::ARENA_BYTES,
        MODEL::TARGET,
        if relocated { "huge pages" } else { "static" },
        runs,
        times[runs / 2],
        times[0]
    );
}
"#;

/// Writes `bytes` to `path` (creating its directory) only when the content
/// differs, so cargo does not rebuild needlessly.
pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), CompileError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|error| CompileError::Io {
            path: dir.display().to_string(),
            error,
        })?;
    }
    std::fs::write(path, bytes).map_err(|error| CompileError::Io {
        path: path.display().to_string(),
        error,
    })
}

/// Writes `generated` (emitted with `WeightsLocation::Relative("weights.bin")`)
/// as a crate named `name` in `dir`. Returns the crate name.
pub fn write_crate(dir: &Path, name: &str, generated: &Generated) -> Result<String, CompileError> {
    let krate = crate_name(name);
    let runtime = runtime_dir();
    let runtime = runtime.canonicalize().unwrap_or(runtime);
    let runtime_path = runtime.display().to_string();
    let cargo_toml = format!(
        "[package]\nname = \"{krate}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nxcc-runtime = {{ path = {runtime_path:?}, features = [\"hugepages\"] }}\n\n\
         [profile.release]\ncodegen-units = 16\n\n\
         [workspace]\n"
    );
    write_if_changed(&dir.join("Cargo.toml"), cargo_toml.as_bytes())?;
    let lib = format!(
        "#![no_std]\n//! Model generated by `xcc compile`; see `MODEL` and `infer`.\n\n{}",
        generated.source
    );
    write_if_changed(&dir.join("src/lib.rs"), lib.as_bytes())?;
    write_if_changed(&dir.join("src/weights.bin"), &generated.weights)?;
    write_if_changed(
        &dir.join("src/main.rs"),
        RUNNER.replace("MODEL", &krate).as_bytes(),
    )?;
    Ok(krate)
}

#[cfg(test)]
mod tests {
    use super::crate_name;

    #[test]
    fn crate_names_are_safe() {
        assert_eq!(crate_name("xception"), "xception");
        assert_eq!(crate_name("Fn"), "model_fn");
        assert_eq!(crate_name("self"), "model_self");
        assert_eq!(crate_name("std"), "model_std");
        assert_eq!(crate_name("xcc-runtime"), "model_xcc_runtime");
        assert_eq!(crate_name("9lives"), "model_9lives");
        assert_eq!(crate_name("a\"); b"), "a____b");
    }
}
