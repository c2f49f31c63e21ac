//! `xcc`: compile, run and inspect CNN models (Xception first).
//!
//! ```text
//! xcc compile MODEL --out DIR [--seed N | --weights FILE] [--target T] [--cpu C]
//! xcc run MODEL --input FILE.npy|.png|.jpg [--seed N | --weights FILE] [--output out.npy] [--top K]
//! xcc inspect MODEL [--target T] [--cpu C]
//! xcc profile MODEL [--target T] [--cpu C] [--runs N] [--peak GFLOPS]
//! xcc import KERAS_FILE --out spec.json [--weights weights.safetensors]
//! xcc spec [--height H --width W --classes N --no-top --pooling avg|max] --out spec.json
//! ```
//!
//! MODEL is a JSON spec or a full-model Keras file (`.h5`/`.hdf5` with a
//! config, `.keras`); weights default to the Keras file's own, or to the
//! synthetic generator with seed 42 for a spec.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Args, Parser, Subcommand};
use xcc_codegen::emit::WeightsLocation;
use xcc_codegen::frontend::keras;
use xcc_codegen::tensor_io::{self, Preprocess};
use xcc_codegen::{package, Builder, CompileError, CompileOptions, Cpu, Target, WeightsSource};

#[derive(Parser)]
#[command(
    name = "xcc",
    version,
    about = "Ahead-of-time compiler from a CNN spec (or Keras file) to shape-fixed Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile a model into a ready Cargo crate.
    Compile {
        /// The model: a JSON spec or a Keras model file.
        spec: PathBuf,
        /// Output directory for the crate.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Crate name (default: the model's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Compile (cached), build with cargo, run on one input, print the top classes.
    Run {
        /// The model: a JSON spec or a Keras model file.
        spec: PathBuf,
        /// Input: .npy (already preprocessed, float32), .png/.jpg, or `detgen:SEED`
        /// (the deterministic generator's input, as in the Keras goldens).
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Write the output tensor as float32 .npy.
        #[arg(long)]
        output: Option<PathBuf>,
        /// How many classes to print.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Image preprocessing: tf (x/127.5-1), fer ((x/255-0.5)*2), unit (x/255), raw.
        #[arg(long, default_value = "tf")]
        preprocess: String,
        /// Class labels: a text file with one label per line, or `fer` (the 7 fer2013 emotions).
        #[arg(long)]
        labels: Option<String>,
        /// Timed runs (the median is reported).
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Print the per-layer table, the totals, the fused steps and the memory plan.
    Inspect {
        /// The model: a JSON spec or a Keras model file.
        spec: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Compile (cached), build and time every step: median, GFLOP/s, share of the total.
    Profile {
        /// The model: a JSON spec or a Keras model file.
        spec: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Timed runs per step.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// The machine's peak GFLOP/s for the target, to print each step's share of it.
        #[arg(long)]
        peak: Option<f64>,
    },
    /// Write the spec of `keras.applications.Xception` with the given options.
    Spec {
        /// Input height (at least 71).
        #[arg(long, default_value_t = 299)]
        height: usize,
        /// Input width (at least 71).
        #[arg(long, default_value_t = 299)]
        width: usize,
        /// Number of classes.
        #[arg(long, default_value_t = 1000)]
        classes: usize,
        /// Leave out the classifier (`include_top=False`).
        #[arg(long)]
        no_top: bool,
        /// Global pooling without the top: none, avg or max.
        #[arg(long, default_value = "none")]
        pooling: String,
        /// Classifier activation: softmax or linear (logits).
        #[arg(long, default_value = "softmax")]
        classifier_activation: String,
        /// Where to write the spec.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert a Keras model file into a JSON spec and a safetensors weights file.
    Import {
        /// A full-model Keras file (`.h5`/`.hdf5` with a config, or `.keras`).
        model: PathBuf,
        /// Where to write the spec.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the weights (safetensors, tensors named `<layer>/<variable>`).
        #[arg(long)]
        weights: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Synthetic weights from the deterministic generator with this seed
    /// (the default for a spec without --weights: 42).
    #[arg(long, conflicts_with = "weights")]
    seed: Option<u64>,
    /// Weights file.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Instruction set: scalar, avx2, avx512, neon (aarch64) or native (the best this machine runs).
    #[arg(long, default_value = "scalar")]
    target: String,
    /// CPU family the x86 cache blocking is tuned for: generic, intel, amd or
    /// native (this machine's vendor). Default: native with `--target
    /// native`, else generic. Outputs are the same for every choice.
    #[arg(long)]
    cpu: Option<String>,
}

impl ModelArgs {
    fn source(&self) -> Option<WeightsSource> {
        match (&self.weights, self.seed) {
            (Some(p), _) => Some(WeightsSource::File(p.clone())),
            (None, Some(seed)) => Some(WeightsSource::Synthetic { seed }),
            (None, None) => None,
        }
    }

    /// The `--cpu` choice, `native` resolved to this machine's vendor.
    fn cpu(&self) -> Result<Cpu, String> {
        let name = match (&self.cpu, self.target.as_str()) {
            (Some(c), _) => c.as_str(),
            (None, "native") => "native",
            (None, _) => "generic",
        };
        Cpu::parse(name).map(Cpu::resolve).ok_or_else(|| {
            let names: Vec<&str> = Cpu::ALL.iter().map(|c| c.name()).collect();
            format!("unknown cpu '{name}' (choose one of: {})", names.join(", "))
        })
    }

    fn builder(&self, model: &Path, target: Target) -> Builder {
        let b = Builder::new(model).target(target);
        match self.source() {
            Some(w) => b.weights(w),
            None => b,
        }
    }
}

/// Parses `--target`, with `native` resolved to this machine's best
/// instruction set, so that messages and the cache name the real one.
fn parse_target(s: &str) -> Result<Target, String> {
    Target::parse(s).map(Target::resolve).ok_or_else(|| {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        format!("unknown target '{s}' (choose one of: {})", names.join(", "))
    })
}

const FER_LABELS: [&str; 7] = [
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xcc: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Cmd::Compile {
            spec,
            out,
            model,
            name,
        } => {
            let target = parse_target(&model.target)?;
            let (graph, weights) = model
                .builder(&spec, target)
                .load()
                .map_err(|e| e.to_string())?;
            let opts = CompileOptions {
                target,
                cpu: model.cpu()?,
                weights_location: WeightsLocation::Relative("weights.bin".into()),
                ..CompileOptions::default()
            };
            let generated =
                xcc_codegen::compile(&graph, &weights, &opts).map_err(|e| e.to_string())?;
            let name = name.unwrap_or_else(|| graph.spec.name.clone());
            let krate = package::write_crate(&out, &name, &generated).map_err(|e| e.to_string())?;
            println!(
                "wrote crate `{krate}` to {} ({} steps, arena {} bytes = {:.2} MiB, weights {} bytes)",
                out.display(),
                generated.steps.len(),
                generated.plan.arena_bytes(),
                generated.plan.arena_bytes() as f64 / 1048576.0,
                generated.weights.len()
            );
            Ok(())
        }
        Cmd::Profile {
            spec,
            model,
            runs,
            peak,
        } => {
            let target = parse_target(&model.target)?;
            profile_model(&spec, &model, target, runs, peak)
        }
        Cmd::Spec {
            height,
            width,
            classes,
            no_top,
            pooling,
            classifier_activation,
            out,
        } => {
            use xception_spec::spec::Activation;
            use xception_spec::zoo::{xception, Pooling, XceptionOptions};
            let pooling = match pooling.as_str() {
                "none" => Pooling::None,
                "avg" => Pooling::Avg,
                "max" => Pooling::Max,
                p => return Err(format!("unknown --pooling '{p}' (none, avg, max)")),
            };
            let classifier_activation = match classifier_activation.as_str() {
                "softmax" => Activation::Softmax,
                "linear" => Activation::Linear,
                a => {
                    return Err(format!(
                        "unknown --classifier-activation '{a}' (softmax, linear)"
                    ))
                }
            };
            let spec = xception(&XceptionOptions {
                height,
                width,
                classes,
                include_top: !no_top,
                pooling,
                classifier_activation,
            })
            .map_err(|e| e.to_string())?;
            std::fs::write(&out, spec.to_json()).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "wrote Xception spec ({} layers, input {height}x{width}x3) to {}",
                spec.layers.len(),
                out.display()
            );
            Ok(())
        }
        Cmd::Import {
            model,
            out,
            weights,
        } => {
            let (spec, w) = keras::load_model(&model).map_err(|e| e.to_string())?;
            std::fs::write(&out, spec.to_json()).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "wrote spec `{}` ({} layers) to {}",
                spec.name,
                spec.layers.len(),
                out.display()
            );
            if let Some(path) = weights {
                xcc_codegen::frontend::safetensors::write(&path, &w).map_err(|e| e.to_string())?;
                println!("wrote {} weight tensors to {}", w.len(), path.display());
            }
            Ok(())
        }
        Cmd::Inspect { spec, model } => {
            let target = parse_target(&model.target)?;
            let (graph, weights) = model
                .builder(&spec, target)
                .load()
                .map_err(|e| e.to_string())?;
            print!("{}", xception_spec::stats::render(&graph));
            let opts = CompileOptions {
                target,
                cpu: model.cpu()?,
                ..CompileOptions::default()
            };
            let generated =
                xcc_codegen::compile(&graph, &weights, &opts).map_err(|e| e.to_string())?;
            println!(
                "\nSteps after passes (target {}, cpu {}):",
                target.name(),
                opts.cpu.name()
            );
            println!(
                "{:>4}  {:<12} {:>14} {:>12}  name",
                "#", "kind", "MACs", "live KiB"
            );
            for (i, s) in generated.steps.iter().enumerate() {
                println!(
                    "{i:>4}  {:<12} {:>14} {:>12}  {}",
                    s.kind,
                    s.macs,
                    s.live_bytes / 1024,
                    s.name
                );
            }
            let bytes = generated.plan.arena_bytes();
            println!(
                "\nMemory plan: arena {bytes} bytes ({:.2} MiB), peak live {:.2} MiB; weight blob {} bytes",
                bytes as f64 / 1048576.0,
                generated.steps.iter().map(|s| s.live_bytes).max().unwrap_or(0) as f64 / 1048576.0,
                generated.weights.len()
            );
            Ok(())
        }
        Cmd::Run {
            spec,
            input,
            model,
            output,
            top,
            preprocess,
            labels,
            runs,
        } => {
            let target = parse_target(&model.target)?;
            let pre = Preprocess::parse(&preprocess).ok_or_else(|| {
                format!("unknown --preprocess '{preprocess}' (tf, fer, unit, raw)")
            })?;
            let labels = load_labels(labels.as_deref())?;
            run_model(
                &spec,
                &input,
                &model,
                target,
                pre,
                output.as_deref(),
                top,
                labels,
                runs,
            )
        }
    }
}

fn load_labels(arg: Option<&str>) -> Result<Option<Vec<String>>, String> {
    match arg {
        None => Ok(None),
        Some("fer") => Ok(Some(FER_LABELS.iter().map(|s| s.to_string()).collect())),
        Some(path) => std::fs::read_to_string(path)
            .map(|t| Some(t.lines().map(str::to_string).collect()))
            .map_err(|e| format!("{path}: {e}")),
    }
}

fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("XCC_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("xcc")
}

/// Cache key: the spec text, the weights source (seed, or the file's path, size
/// and modification time), the target, the CPU family and the compiler
/// version.
fn cache_key(
    spec: &Path,
    weights: Option<&WeightsSource>,
    target: Target,
    cpu: Cpu,
) -> Result<String, String> {
    let text = std::fs::read(spec).map_err(|e| format!("{}: {e}", spec.display()))?;
    // The compiler's own build (size and time of this executable) is part of the
    // key, so a rebuilt xcc never reuses code generated by an older one.
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            format!("{} {}", m.len(), t.map_or(0, |d| d.as_nanos()))
        })
        .unwrap_or_default();
    let mut key = format!(
        "xcc {} {exe} {} {}\n",
        env!("CARGO_PKG_VERSION"),
        target.resolve().name(),
        cpu.resolve().name()
    );
    match weights {
        None => key.push_str("own weights\n"),
        Some(WeightsSource::Synthetic { seed }) => key.push_str(&format!("seed {seed}\n")),
        Some(WeightsSource::File(p)) => {
            let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let abs = p.canonicalize().unwrap_or_else(|_| p.clone());
            key.push_str(&format!("file {} {} {mtime}\n", abs.display(), m.len()));
        }
    }
    let h1 = xception_spec::detgen::fnv1a64(&key) ^ xception_spec::detgen::fnv1a64_bytes(&text);
    let h2 = xception_spec::detgen::splitmix64(h1 ^ text.len() as u64);
    Ok(format!("{h1:016x}{h2:016x}"))
}

/// A model compiled and built in the cache, ready to run.
struct Prepared {
    graph: xception_spec::Graph,
    cpu: Cpu,
    bin: PathBuf,
    dir: PathBuf,
}

/// Compiles (unless cached) and builds (cargo caches) the model's runner crate;
/// first checks that this machine runs the target, since the runner runs here.
fn prepare(spec: &Path, model: &ModelArgs, target: Target) -> Result<Prepared, String> {
    if !target.runs_here() {
        return Err(format!(
            "this CPU does not run target `{}` (here `--target native` is `{}`); \
             `xcc compile` builds a crate for another machine",
            target.name(),
            Target::Native.resolve().name()
        ));
    }
    let root = cache_root();
    let cpu = model.cpu()?;
    let key = cache_key(spec, model.source().as_ref(), target, cpu)?;
    let dir = root.join(&key);
    let marker = dir.join("xcc-complete");
    // A cached model needs only its graph (the weights are in the built crate);
    // a Keras file is still read whole, a spec is not given weights at all.
    let (graph, loaded) = if marker.exists() {
        let (graph, _) = xcc_codegen::frontend::load_model_file(spec).map_err(|e| e.to_string())?;
        (graph, None)
    } else {
        let (graph, weights) = model
            .builder(spec, target)
            .load()
            .map_err(|e: CompileError| e.to_string())?;
        (graph, Some(weights))
    };
    // The key in the crate name keeps binaries of different models apart in the shared target dir.
    let krate = format!("{}_{}", package::crate_name(&graph.spec.name), &key[..12]);
    if !marker.exists() {
        eprintln!(
            "xcc: compiling {} for {} (cpu {}) into {}",
            spec.display(),
            target.name(),
            cpu.name(),
            dir.display()
        );
        let opts = CompileOptions {
            target,
            cpu,
            weights_location: WeightsLocation::Relative("weights.bin".into()),
            ..CompileOptions::default()
        };
        let weights = loaded
            .as_ref()
            .ok_or("internal: weights not loaded for a new compile")?;
        let generated = xcc_codegen::compile(&graph, weights, &opts).map_err(|e| e.to_string())?;
        package::write_crate(&dir, &krate, &generated).map_err(|e| e.to_string())?;
        let steps: String = generated
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{}\t{}\t{}\n",
                    s.kind,
                    s.macs,
                    s.name.replace(['\t', '\n'], " ")
                )
            })
            .collect();
        let f = dir.join("steps.tsv");
        std::fs::write(&f, steps).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    drop(loaded);
    let target_dir = root.join("target");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("build")
        .arg("--release")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of the generated crate in {} failed",
            dir.display()
        ));
    }
    std::fs::write(&marker, b"ok").map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(Prepared {
        graph,
        cpu,
        bin: target_dir
            .join("release")
            .join(format!("{krate}{}", std::env::consts::EXE_SUFFIX)),
        dir,
    })
}

/// Writes the input for the runner and runs it with `mode` (a run count or `profile:N`).
fn invoke(p: &Prepared, x: &[f32], mode: &str) -> Result<(String, Vec<f32>), String> {
    let tmp = p.dir.join("io");
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    // Per-process names: concurrent runs of one cached model never share files.
    let pid = std::process::id();
    let in_f = tmp.join(format!("input-{pid}.f32"));
    let out_f = tmp.join(format!("output-{pid}.f32"));
    let raw: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&in_f, raw).map_err(|e| format!("{}: {e}", in_f.display()))?;
    let out = Command::new(&p.bin)
        .arg(&in_f)
        .arg(&out_f)
        .arg(mode)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", p.bin.display()));
    let _ = std::fs::remove_file(&in_f);
    let out = out?;
    if !out.status.success() {
        return Err(format!(
            "the model binary failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let y = match std::fs::read(&out_f) {
        Ok(bytes) => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Err(_) if mode.starts_with("profile:") => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", out_f.display())),
    };
    let _ = std::fs::remove_file(&out_f);
    Ok((String::from_utf8_lossy(&out.stdout).to_string(), y))
}

/// `xcc profile`: per-step medians, GFLOP/s and share of the total.
fn profile_model(
    spec: &Path,
    model: &ModelArgs,
    target: Target,
    runs: usize,
    peak: Option<f64>,
) -> Result<(), String> {
    let p = prepare(spec, model, target)?;
    let x = xception_spec::detgen::input(&p.graph, 42);
    let (report, _) = invoke(&p, &x, &format!("profile:{runs}"))?;
    let f = p.dir.join("steps.tsv");
    let steps = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
    let steps: Vec<Vec<&str>> = steps.lines().map(|l| l.splitn(3, '\t').collect()).collect();
    let times: Vec<f64> = report
        .lines()
        .filter_map(|l| l.strip_prefix("step\t"))
        .filter_map(|l| l.split('\t').nth(1)?.parse().ok())
        .collect();
    if times.len() != steps.len() {
        return Err("the runner's profile does not match the compiled steps".into());
    }
    let total: f64 = times.iter().sum();
    println!(
        "{:>4}  {:<15} {:>11} {:>7} {:>9}{}  name",
        "#",
        "kind",
        "median us",
        "share",
        "GFLOP/s",
        if peak.is_some() { "  of peak" } else { "" }
    );
    let mut total_macs = 0u64;
    for (i, (s, t)) in steps.iter().zip(&times).enumerate() {
        let macs: u64 = s.get(1).and_then(|m| m.parse().ok()).unwrap_or(0);
        total_macs += macs;
        let gflops = 2.0 * macs as f64 / (t * 1e3);
        let of_peak = peak.map_or(String::new(), |pk| {
            format!("  {:>6.1}%", 100.0 * gflops / pk)
        });
        println!(
            "{i:>4}  {:<15} {t:>11.1} {:>6.1}% {gflops:>9.1}{of_peak}  {}",
            s.first().unwrap_or(&""),
            100.0 * t / total,
            s.get(2).unwrap_or(&"")
        );
    }
    println!(
        "total: {:.3} ms (sum of step medians, {runs} runs, target {}, cpu {}), {:.1} GFLOP/s",
        total / 1e3,
        target.resolve().name(),
        p.cpu.name(),
        2.0 * total_macs as f64 / (total * 1e3)
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_model(
    spec: &Path,
    input: &Path,
    model: &ModelArgs,
    target: Target,
    pre: Preprocess,
    output: Option<&Path>,
    top: usize,
    labels: Option<Vec<String>>,
    runs: usize,
) -> Result<(), String> {
    let p = prepare(spec, model, target)?;
    let graph = &p.graph;
    let in_dims = graph.input_shape.dims();
    let x = tensor_io::read_input(input, &in_dims, pre).map_err(|e| e.to_string())?;
    let (report, y) = invoke(&p, &x, &runs.to_string())?;
    let out_dims = graph.output_node().output_shape.dims();
    if let Some(path) = output {
        std::fs::write(path, tensor_io::to_npy(&out_dims, &y))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|&a, &b| y[b].total_cmp(&y[a]).then(a.cmp(&b)));
    println!("top-{}:", top.min(y.len()));
    for &i in idx.iter().take(top) {
        match labels.as_ref().and_then(|l| l.get(i)) {
            Some(l) => println!("  {l:<12} {:.4}   (class {i})", y[i]),
            None => println!("  class {i:<6} {:.4}", y[i]),
        }
    }
    let field = |k: &str| -> String {
        report
            .split(&format!("\"{k}\": "))
            .nth(1)
            .map(|r| {
                r.split([',', '}'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
            .unwrap_or_default()
    };
    let arena: usize = field("arena_bytes").parse().unwrap_or(0);
    println!(
        "arena: {arena} bytes ({:.2} MiB); latency: median {} ms, min {} ms over {} runs (target {}, 1 thread)",
        arena as f64 / 1048576.0,
        field("median_ms"),
        field("min_ms"),
        field("runs"),
        field("target")
    );
    Ok(())
}
