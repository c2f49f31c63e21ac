//! Keras model configs (the JSON of `model.to_json()`, the `model_config` HDF5
//! attribute and `config.json` in `.keras` archives) to a [`Spec`].
//!
//! Functional and Sequential models in the Keras 2 format (`inbound_nodes` as
//! `[[["layer", 0, 0, {}], ...]]`, `batch_input_shape`, dtype strings) and the
//! Keras 3 format (`inbound_nodes` as `[{"args": [...], "kwargs": {...}}]` with
//! `__keras_tensor__` objects, `batch_shape`, `DTypePolicy` objects) are read.
//!
//! Attributes that do not change inference are ignored (initializers,
//! regularizers, constraints, `trainable`, BatchNormalization `momentum`, ...).
//! Every other attribute must be one the spec represents or have the neutral
//! value (`groups: 1`, `data_format: channels_last`, ...); anything else, and any
//! unknown attribute, is an error naming the Keras class, the layer and the file,
//! because the frontend cannot vouch for what it would compute.

use serde_json::{Map, Value};
use xception_spec::spec::{
    Activation, ActivationLayer, BatchNormalization, Conv2D, DepthwiseConv2D, Input, Layer,
    Padding, Pool2D, SeparableConv2D,
};
use xception_spec::{Graph, Op, Spec};

use super::KerasError;

/// Converts a Keras model config (JSON text) into a validated [`Spec`]; `file` is
/// what errors name as the file.
pub fn spec_from_config(json: &str, file: &str) -> Result<Spec, KerasError> {
    Ok(convert(json, file)?.spec)
}

/// Converts a Keras model config into a validated graph.
pub(crate) fn convert(json: &str, file: &str) -> Result<Graph, KerasError> {
    let root: Value = serde_json::from_str(json)
        .map_err(|e| KerasError::new(file, format!("model config is not valid JSON: {e}")))?;
    let class = root
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| KerasError::new(file, "model config has no `class_name`"))?;
    let cfg = root
        .get("config")
        .ok_or_else(|| KerasError::new(file, "model config has no `config`"))?;
    let draft = match class {
        "Functional" | "Model" => functional(cfg, file)?,
        "Sequential" => sequential(cfg, file)?,
        other => {
            return Err(KerasError::new(
                file,
                format!(
                    "model class `{other}` is not supported (only Functional/Model and \
                     Sequential; subclassed models have no config to read)"
                ),
            ))
        }
    };
    draft.finish(file)
}

/// A spec under construction plus the checks that need inferred shapes.
struct Draft {
    spec: Spec,
    /// `(layer, axis)` of each BatchNormalization: the axis must be the last one.
    bn_axes: Vec<(String, i64)>,
    /// `(layer, source, shape)`: Keras 3 configs record each input tensor's shape.
    input_shapes: Vec<(String, String, Vec<Option<usize>>)>,
}

impl Draft {
    fn finish(self, file: &str) -> Result<Graph, KerasError> {
        let graph = xception_spec::validate(&self.spec).map_err(|e| {
            let err = KerasError::new(
                file,
                format!(
                    "the converted model is not a valid spec: at `{}`: {}",
                    e.path, e.message
                ),
            );
            match &e.layer {
                Some(layer) => err.in_layer(layer),
                None => err,
            }
        })?;
        for (layer, axis) in &self.bn_axes {
            let node = graph
                .node_by_name(layer)
                .expect("every drafted layer is in the graph");
            let rank = node.input_shapes[0].dims().len() as i64 + 1;
            if *axis != -1 && *axis != rank - 1 {
                return Err(KerasError::new(
                    file,
                    format!(
                        "BatchNormalization over axis {axis} of a rank-{rank} input is not \
                         supported (only the last, channel axis: -1 or {})",
                        rank - 1
                    ),
                )
                .in_layer(layer));
            }
        }
        for (layer, source, keras) in &self.input_shapes {
            let ours = graph
                .shape_of(source)
                .expect("validated inputs have shapes")
                .dims();
            let agrees = keras.len() == ours.len()
                && keras
                    .iter()
                    .zip(&ours)
                    .all(|(k, o)| k.is_none_or(|k| k == *o));
            if !agrees {
                let keras: Vec<String> = keras
                    .iter()
                    .map(|d| d.map_or("None".to_string(), |d| d.to_string()))
                    .collect();
                return Err(KerasError::new(
                    file,
                    format!(
                        "the config says input '{source}' has shape [{}] (without batch), \
                         but the spec infers {ours:?}",
                        keras.join(", ")
                    ),
                )
                .in_layer(layer));
            }
        }
        Ok(graph)
    }
}

/// The model input, from an `InputLayer` or a first layer's `batch_input_shape`.
fn input_from_shape(
    file: &str,
    name: &str,
    class: &str,
    shape: &Value,
) -> Result<Input, KerasError> {
    let err = |msg: String| KerasError::new(file, format!("{class}: {msg}")).in_layer(name);
    let dims = shape
        .as_array()
        .ok_or_else(|| err(format!("input shape {shape} is not a list")))?;
    if dims.len() != 4 {
        return Err(err(format!(
            "input shape {shape} is not [batch, height, width, channels]: only single \
             NHWC image inputs are supported"
        )));
    }
    let mut hwc = [0usize; 3];
    for (k, d) in dims[1..].iter().enumerate() {
        hwc[k] = d
            .as_u64()
            .and_then(|d| usize::try_from(d).ok())
            .filter(|&d| d > 0)
            .ok_or_else(|| {
                err(format!(
                    "input shape {shape} must have known positive height, width and \
                     channels (the compiler fixes every shape ahead of time)"
                ))
            })?;
    }
    Ok(Input {
        name: name.to_string(),
        shape: hwc,
        dtype: Default::default(),
    })
}

/// One entry of a config's `layers` list, with the fields every format has.
struct Entry<'a> {
    class: &'a str,
    name: &'a str,
    cfg: &'a Map<String, Value>,
    raw: &'a Value,
}

fn entry<'a>(file: &str, index: usize, raw: &'a Value) -> Result<Entry<'a>, KerasError> {
    let err = |msg: &str| KerasError::new(file, format!("config layers[{index}]: {msg}"));
    let class = raw
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| err("no `class_name`"))?;
    let cfg = raw
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| err("no `config` object"))?;
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| cfg.get("name").and_then(Value::as_str))
        .ok_or_else(|| err("no layer `name`"))?;
    Ok(Entry {
        class,
        name,
        cfg,
        raw,
    })
}

fn functional(cfg: &Value, file: &str) -> Result<Draft, KerasError> {
    let layers = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| KerasError::new(file, "model config has no `layers` list"))?;
    let name = cfg.get("name").and_then(Value::as_str).unwrap_or("model");
    let mut input: Option<Input> = None;
    let mut draft = Draft {
        spec: Spec {
            name: name.to_string(),
            input: Input {
                name: String::new(),
                shape: [0; 3],
                dtype: Default::default(),
            },
            layers: Vec::new(),
            output: String::new(),
        },
        bn_axes: Vec::new(),
        input_shapes: Vec::new(),
    };
    for (index, raw) in layers.iter().enumerate() {
        let e = entry(file, index, raw)?;
        if e.class == "InputLayer" {
            if let Some(first) = &input {
                return Err(KerasError::new(
                    file,
                    format!(
                        "InputLayer: a second model input (the first is '{}'); only \
                         single-input models are supported",
                        first.name
                    ),
                )
                .in_layer(e.name));
            }
            input = Some(input_layer(file, &e)?);
            continue;
        }
        let (op, bn_axis) = convert_layer(file, &e)?;
        let sources = inbound(file, &e)?;
        if let Some(axis) = bn_axis {
            draft.bn_axes.push((e.name.to_string(), axis));
        }
        let mut inputs = Vec::with_capacity(sources.len());
        for (source, shape) in sources {
            if let Some(shape) = shape {
                draft
                    .input_shapes
                    .push((e.name.to_string(), source.clone(), shape));
            }
            inputs.push(source);
        }
        draft.spec.layers.push(Layer {
            name: e.name.to_string(),
            op,
            inputs,
        });
    }
    let input = input.ok_or_else(|| {
        KerasError::new(file, "the functional model has no InputLayer in its config")
    })?;
    for key in ["input_layers", "output_layers"] {
        let ends = tensor_list(cfg.get(key)).ok_or_else(|| {
            KerasError::new(
                file,
                format!("model config `{key}` is missing or not a list of [layer, node, tensor]"),
            )
        })?;
        let [end] = ends.as_slice() else {
            return Err(KerasError::new(
                file,
                format!(
                    "model config `{key}` lists {} tensors; only single-input, \
                     single-output models are supported",
                    ends.len()
                ),
            ));
        };
        if key == "input_layers" && *end != input.name {
            return Err(KerasError::new(
                file,
                format!(
                    "model input '{end}' is not the InputLayer '{}' of the config",
                    input.name
                ),
            ));
        }
        if key == "output_layers" {
            if *end == input.name {
                return Err(KerasError::new(
                    file,
                    "the model output is its input: there is nothing to compile",
                ));
            }
            draft.spec.output = end.clone();
        }
    }
    draft.spec.input = input;
    Ok(draft)
}

/// Layer names of `input_layers`/`output_layers`: `["a", 0, 0]` (Keras 3, one
/// tensor) or `[["a", 0, 0], ...]`.
fn tensor_list(v: Option<&Value>) -> Option<Vec<String>> {
    let list = v?.as_array()?;
    if let Some(name) = list.first().and_then(Value::as_str) {
        return Some(vec![name.to_string()]);
    }
    list.iter()
        .map(|t| t.get(0).and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn sequential(cfg: &Value, file: &str) -> Result<Draft, KerasError> {
    // Keras <= 2.2.2 stored a bare list of layers; later versions an object.
    let (name, layers, build_shape) = match cfg {
        Value::Array(list) => ("sequential", list, None),
        Value::Object(map) => (
            map.get("name")
                .and_then(Value::as_str)
                .unwrap_or("sequential"),
            map.get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| KerasError::new(file, "Sequential config has no `layers` list"))?,
            map.get("build_input_shape").filter(|v| !v.is_null()),
        ),
        _ => {
            return Err(KerasError::new(
                file,
                "Sequential config is neither a list nor an object",
            ))
        }
    };
    let mut draft = Draft {
        spec: Spec {
            name: name.to_string(),
            input: Input {
                name: String::new(),
                shape: [0; 3],
                dtype: Default::default(),
            },
            layers: Vec::new(),
            output: String::new(),
        },
        bn_axes: Vec::new(),
        input_shapes: Vec::new(),
    };
    let mut input: Option<Input> = None;
    let mut previous = String::new();
    for (index, raw) in layers.iter().enumerate() {
        let e = entry(file, index, raw)?;
        if e.class == "InputLayer" {
            if index != 0 {
                return Err(KerasError::new(
                    file,
                    "InputLayer: only the first layer of a Sequential model may be an \
                     InputLayer",
                )
                .in_layer(e.name));
            }
            let i = input_layer(file, &e)?;
            previous = i.name.clone();
            input = Some(i);
            continue;
        }
        if input.is_none() {
            // Keras names the implicit input `<first layer>_input`.
            let shape = ["batch_input_shape", "batch_shape"]
                .iter()
                .find_map(|k| e.cfg.get(*k).filter(|v| !v.is_null()))
                .or(build_shape)
                .ok_or_else(|| {
                    KerasError::new(
                        file,
                        format!(
                            "{}: the Sequential model has no InputLayer, no \
                             batch_input_shape on its first layer and no build_input_shape: \
                             the input shape is unknown",
                            e.class
                        ),
                    )
                    .in_layer(e.name)
                })?;
            let i = input_from_shape(file, &format!("{}_input", e.name), e.class, shape)?;
            previous = i.name.clone();
            input = Some(i);
        }
        let (op, bn_axis) = convert_layer(file, &e)?;
        if let Some(axis) = bn_axis {
            draft.bn_axes.push((e.name.to_string(), axis));
        }
        draft.spec.layers.push(Layer {
            name: e.name.to_string(),
            op,
            inputs: vec![previous.clone()],
        });
        previous = e.name.to_string();
    }
    draft.spec.input =
        input.ok_or_else(|| KerasError::new(file, "the Sequential model has no layers"))?;
    if draft.spec.layers.is_empty() {
        return Err(KerasError::new(
            file,
            "the Sequential model has only an InputLayer: there is nothing to compile",
        ));
    }
    draft.spec.output = previous;
    Ok(draft)
}

/// A layer input: the source layer and, in Keras 3 configs, its recorded shape
/// without the batch axis (`None` for unknown dimensions).
type Source = (String, Option<Vec<Option<usize>>>);

/// The source layers of a functional layer.
fn inbound(file: &str, e: &Entry) -> Result<Vec<Source>, KerasError> {
    let err = |msg: String| KerasError::new(file, format!("{}: {msg}", e.class)).in_layer(e.name);
    let nodes = e
        .raw
        .get("inbound_nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no `inbound_nodes` list".to_string()))?;
    let node = match nodes.as_slice() {
        [node] => node,
        [] => {
            return Err(err(
                "the layer is not connected to anything (no inbound nodes)".into(),
            ))
        }
        more => {
            return Err(err(format!(
                "the layer is called {} times (a shared layer); only layers used once are \
                 supported",
                more.len()
            )))
        }
    };
    let mut sources = Vec::new();
    match node {
        // Keras 2: [["name", node_index, tensor_index, {kwargs}], ...]
        Value::Array(tensors) => {
            for t in tensors {
                let parts = t.as_array().map(Vec::as_slice).unwrap_or_default();
                let source = history(parts).ok_or_else(|| {
                    err(format!(
                        "inbound tensor {t} is not [layer, node, tensor, kwargs]"
                    ))
                })?;
                if let Some(kwargs) = parts.get(3) {
                    neutral_kwargs(kwargs).map_err(&err)?;
                }
                sources.push((source.map_err(&err)?, None));
            }
        }
        // Keras 3: {"args": [...], "kwargs": {...}}
        Value::Object(call) => {
            let args = call
                .get("args")
                .and_then(Value::as_array)
                .ok_or_else(|| err("inbound node has no `args` list".to_string()))?;
            for arg in args {
                keras3_tensors(arg, &mut sources).map_err(&err)?;
            }
            if let Some(kwargs) = call.get("kwargs") {
                neutral_kwargs(kwargs).map_err(&err)?;
            }
        }
        other => return Err(err(format!("inbound node {other} has an unknown format"))),
    }
    Ok(sources)
}

/// `[name, node_index, tensor_index, ...]` to the source name; the nested result
/// says whether the indices are supported.
fn history(parts: &[Value]) -> Option<Result<String, String>> {
    let name = parts.first()?.as_str()?;
    let node = parts.get(1)?.as_u64()?;
    let tensor = parts.get(2)?.as_u64()?;
    Some(if node != 0 || tensor != 0 {
        Err(format!(
            "reads output {tensor} of call {node} of '{name}': only single-output layers \
             called once are supported"
        ))
    } else {
        Ok(name.to_string())
    })
}

/// Collects the `__keras_tensor__` objects of a Keras 3 call argument (possibly a list).
fn keras3_tensors(arg: &Value, out: &mut Vec<Source>) -> Result<(), String> {
    match arg {
        Value::Array(items) => items.iter().try_for_each(|a| keras3_tensors(a, out)),
        Value::Object(obj)
            if obj.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
        {
            let cfg = obj.get("config");
            let parts = cfg
                .and_then(|c| c.get("keras_history"))
                .and_then(Value::as_array)
                .ok_or_else(|| format!("keras tensor {arg} has no keras_history"))?;
            let source = history(parts)
                .ok_or_else(|| format!("keras_history {parts:?} is not [layer, node, tensor]"))??;
            let shape = cfg
                .and_then(|c| c.get("shape"))
                .and_then(Value::as_array)
                .map(|dims| {
                    dims.iter()
                        .skip(1)
                        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                        .collect()
                });
            out.push((source, shape));
            Ok(())
        }
        other => Err(format!(
            "call argument {other} is not a layer output: constant or keyword arguments in \
             layer calls are not supported"
        )),
    }
}

/// Call keyword arguments must not change inference: `mask: null`, `training: false`
/// or null are fine.
fn neutral_kwargs(kwargs: &Value) -> Result<(), String> {
    let Some(map) = kwargs.as_object() else {
        return Err(format!("call kwargs {kwargs} are not an object"));
    };
    for (k, v) in map {
        let neutral = v.is_null() || (k == "training" && v == &Value::Bool(false));
        if !neutral {
            return Err(format!(
                "the layer is called with `{k}={v}`, which is not supported"
            ));
        }
    }
    Ok(())
}

fn input_layer(file: &str, e: &Entry) -> Result<Input, KerasError> {
    let a = Attrs::new(file, e);
    a.allow(&[
        "batch_input_shape",
        "batch_shape",
        "shape",
        "sparse",
        "ragged",
        "optional",
    ])?;
    a.neutral("sparse", &Value::Bool(false))?;
    a.neutral("ragged", &Value::Bool(false))?;
    let shape = ["batch_input_shape", "batch_shape"]
        .iter()
        .find_map(|k| a.get(k))
        .ok_or_else(|| a.err("no batch_input_shape/batch_shape: the input shape is unknown"))?;
    input_from_shape(file, e.name, e.class, shape)
}

/// A layer's config attributes, with the checks every class shares.
struct Attrs<'a> {
    file: &'a str,
    class: &'a str,
    name: &'a str,
    cfg: &'a Map<String, Value>,
}

/// Attributes every layer may carry that do not change inference.
const ALWAYS_ALLOWED: &[&str] = &[
    "name",
    "trainable",
    "dtype",
    "batch_input_shape",
    "batch_shape",
    "batch_size",
    "input_shape",
    "input_dim",
];

impl<'a> Attrs<'a> {
    fn new(file: &'a str, e: &Entry<'a>) -> Self {
        Attrs {
            file,
            class: e.class,
            name: e.name,
            cfg: e.cfg,
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> KerasError {
        KerasError::new(self.file, format!("{} layer: {msg}", self.class)).in_layer(self.name)
    }

    /// Refuses attributes outside `known`, [`ALWAYS_ALLOWED`] and the
    /// initializer/regularizer/constraint families; checks the dtype.
    fn allow(&self, known: &[&str]) -> Result<(), KerasError> {
        for (key, value) in self.cfg {
            let ignorable = ALWAYS_ALLOWED.contains(&key.as_str())
                || key.ends_with("_initializer")
                || key.ends_with("_regularizer")
                || key.ends_with("_constraint");
            if !ignorable && !known.contains(&key.as_str()) {
                return Err(self.err(format!(
                    "attribute `{key}` = {value} is not understood by this importer, so it \
                     cannot tell whether it changes the layer's output"
                )));
            }
        }
        if let Some(dtype) = self.get("dtype") {
            // "float32", or a (Keras 3 DTypePolicy / Keras 2 Policy) object naming it.
            let name = dtype
                .as_str()
                .or_else(|| dtype.get("config")?.get("name")?.as_str());
            if name != Some("float32") {
                return Err(self.err(format!("dtype {dtype} is not supported (only float32)")));
            }
        }
        Ok(())
    }

    /// The attribute, treating JSON null as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.cfg.get(key).filter(|v| !v.is_null())
    }

    /// Refuses any present, non-null value other than `neutral`.
    fn neutral(&self, key: &str, neutral: &Value) -> Result<(), KerasError> {
        match self.get(key) {
            Some(v) if !json_eq(v, neutral) => {
                Err(self.err(format!("`{key}` = {v} is not supported (only {neutral})")))
            }
            _ => Ok(()),
        }
    }

    fn usize(&self, key: &str) -> Result<usize, KerasError> {
        let v = self
            .get(key)
            .ok_or_else(|| self.err(format!("`{key}` is missing")))?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.err(format!("`{key}` = {v} is not a non-negative integer")))
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize, KerasError> {
        if self.get(key).is_some() {
            self.usize(key)
        } else {
            Ok(default)
        }
    }

    /// An `[a, b]` attribute; a single integer means `[n, n]` as in Keras.
    fn pair(&self, key: &str) -> Result<Option<[usize; 2]>, KerasError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let as_usize = |x: &Value| x.as_u64().and_then(|n| usize::try_from(n).ok());
        let pair = match v {
            Value::Array(items) if items.len() == 2 => as_usize(&items[0])
                .zip(as_usize(&items[1]))
                .map(|(a, b)| [a, b]),
            _ => as_usize(v).map(|n| [n, n]),
        };
        pair.map(Some)
            .ok_or_else(|| self.err(format!("`{key}` = {v} is not an integer or a pair of them")))
    }

    fn pair_or(&self, key: &str, default: [usize; 2]) -> Result<[usize; 2], KerasError> {
        Ok(self.pair(key)?.unwrap_or(default))
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, KerasError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(format!("`{key}` = {v} is not a boolean"))),
        }
    }

    fn padding(&self) -> Result<Padding, KerasError> {
        match self.get("padding") {
            None => Ok(Padding::Valid),
            Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("valid") => Ok(Padding::Valid),
                Some("same") => Ok(Padding::Same),
                _ => Err(self.err(format!(
                    "padding {v} is not supported (only \"valid\" and \"same\")"
                ))),
            },
        }
    }

    fn channels_last(&self) -> Result<(), KerasError> {
        match self.get("data_format") {
            None => Ok(()),
            Some(v) if v.as_str() == Some("channels_last") => Ok(()),
            Some(v) => Err(self.err(format!(
                "data_format {v} is not supported (only channels_last, NHWC)"
            ))),
        }
    }

    fn activation(&self) -> Result<Activation, KerasError> {
        match self.get("activation") {
            None => Ok(Activation::Linear),
            Some(v) => match v.as_str() {
                Some("linear") => Ok(Activation::Linear),
                Some("relu") => Ok(Activation::Relu),
                Some("softmax") => Ok(Activation::Softmax),
                _ => Err(self.err(format!(
                    "activation {v} is not supported (only \"linear\", \"relu\" and \"softmax\")"
                ))),
            },
        }
    }

    /// Conv-family attributes every class shares: no groups, no LoRA, NHWC.
    fn conv_common(&self) -> Result<(), KerasError> {
        self.neutral("groups", &Value::from(1))?;
        self.neutral("lora_rank", &Value::from(0))?;
        self.channels_last()
    }
}

/// JSON equality with integers and floats compared as numbers (`0` == `0.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Converts one non-input layer; the second value is a BatchNormalization's axis.
fn convert_layer(file: &str, e: &Entry) -> Result<(Op, Option<i64>), KerasError> {
    let a = Attrs::new(file, e);
    const CONV: &[&str] = &[
        "kernel_size",
        "strides",
        "padding",
        "data_format",
        "dilation_rate",
        "groups",
        "activation",
        "use_bias",
        "lora_rank",
        "lora_alpha",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        CONV.iter().chain(extra).copied().collect()
    };
    let op = match e.class {
        "Conv2D" => {
            a.allow(&with(&["filters"]))?;
            a.conv_common()?;
            Op::Conv2D(Conv2D {
                filters: a.usize("filters")?,
                kernel_size: a
                    .pair("kernel_size")?
                    .ok_or_else(|| a.err("`kernel_size` is missing"))?,
                strides: a.pair_or("strides", [1, 1])?,
                padding: a.padding()?,
                dilation_rate: a.pair_or("dilation_rate", [1, 1])?,
                use_bias: a.bool_or("use_bias", true)?,
                activation: a.activation()?,
            })
        }
        "DepthwiseConv2D" => {
            a.allow(&with(&["depth_multiplier", "filters"]))?;
            a.conv_common()?;
            // tf.keras configs may carry the Conv2D field `filters` as null.
            a.neutral("filters", &Value::Null)?;
            Op::DepthwiseConv2D(DepthwiseConv2D {
                kernel_size: a
                    .pair("kernel_size")?
                    .ok_or_else(|| a.err("`kernel_size` is missing"))?,
                strides: a.pair_or("strides", [1, 1])?,
                padding: a.padding()?,
                depth_multiplier: a.usize_or("depth_multiplier", 1)?,
                dilation_rate: a.pair_or("dilation_rate", [1, 1])?,
                use_bias: a.bool_or("use_bias", true)?,
                activation: a.activation()?,
            })
        }
        "SeparableConv2D" => {
            a.allow(&with(&["filters", "depth_multiplier"]))?;
            a.conv_common()?;
            Op::SeparableConv2D(SeparableConv2D {
                filters: a.usize("filters")?,
                kernel_size: a
                    .pair("kernel_size")?
                    .ok_or_else(|| a.err("`kernel_size` is missing"))?,
                strides: a.pair_or("strides", [1, 1])?,
                padding: a.padding()?,
                depth_multiplier: a.usize_or("depth_multiplier", 1)?,
                dilation_rate: a.pair_or("dilation_rate", [1, 1])?,
                use_bias: a.bool_or("use_bias", true)?,
                activation: a.activation()?,
            })
        }
        "BatchNormalization" => {
            a.allow(&[
                "axis",
                "momentum",
                "epsilon",
                "center",
                "scale",
                "synchronized",
                "renorm",
                "renorm_clipping",
                "renorm_momentum",
                "fused",
                "virtual_batch_size",
                "adjustment",
            ])?;
            // Renormalisation adds variables and changes training only; refuse it
            // so the weight layout stays Keras' plain one.
            a.neutral("renorm", &Value::Bool(false))?;
            let axis = match a.get("axis") {
                None => -1,
                Some(v) => {
                    let single = match v {
                        Value::Array(items) if items.len() == 1 => items[0].as_i64(),
                        _ => v.as_i64(),
                    };
                    single.ok_or_else(|| {
                        a.err(format!(
                            "axis {v} is not supported (only the last, channel axis)"
                        ))
                    })?
                }
            };
            let epsilon = match a.get("epsilon") {
                None => 1e-3,
                Some(v) => v
                    .as_f64()
                    .ok_or_else(|| a.err(format!("`epsilon` = {v} is not a number")))?,
            };
            return Ok((
                Op::BatchNormalization(BatchNormalization {
                    epsilon,
                    center: a.bool_or("center", true)?,
                    scale: a.bool_or("scale", true)?,
                }),
                Some(axis),
            ));
        }
        "Activation" => {
            a.allow(&["activation"])?;
            Op::Activation(ActivationLayer {
                activation: a.activation()?,
            })
        }
        "ReLU" => {
            a.allow(&["max_value", "negative_slope", "threshold"])?;
            a.neutral("max_value", &Value::Null)?;
            a.neutral("negative_slope", &Value::from(0))?;
            a.neutral("threshold", &Value::from(0))?;
            Op::ReLU {}
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            a.allow(&["pool_size", "strides", "padding", "data_format"])?;
            a.channels_last()?;
            let pool = Pool2D {
                pool_size: a.pair_or("pool_size", [2, 2])?,
                strides: a.pair("strides")?,
                padding: a.padding()?,
            };
            if e.class == "MaxPooling2D" {
                Op::MaxPooling2D(pool)
            } else {
                Op::AveragePooling2D(pool)
            }
        }
        "GlobalAveragePooling2D" | "GlobalMaxPooling2D" => {
            a.allow(&["data_format", "keepdims"])?;
            a.channels_last()?;
            a.neutral("keepdims", &Value::Bool(false))?;
            if e.class == "GlobalAveragePooling2D" {
                Op::GlobalAveragePooling2D {}
            } else {
                Op::GlobalMaxPooling2D {}
            }
        }
        "Add" => {
            a.allow(&[])?;
            Op::Add {}
        }
        "Dense" => {
            a.allow(&[
                "units",
                "activation",
                "use_bias",
                "lora_rank",
                "lora_alpha",
                "quantization_config",
            ])?;
            a.neutral("lora_rank", &Value::from(0))?;
            a.neutral("quantization_config", &Value::Null)?;
            Op::Dense(xception_spec::spec::Dense {
                units: a.usize("units")?,
                use_bias: a.bool_or("use_bias", true)?,
                activation: a.activation()?,
            })
        }
        "Functional" | "Model" | "Sequential" => {
            return Err(a.err(
                "nested models are not supported: flatten the model (or save the inner \
                 model on its own)",
            ))
        }
        other => {
            return Err(a.err(format!(
                "layer class `{other}` is not supported (supported: Conv2D, \
                 DepthwiseConv2D, SeparableConv2D, BatchNormalization, Activation, ReLU, \
                 MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, \
                 GlobalMaxPooling2D, Add, Dense, InputLayer)"
            )))
        }
    };
    Ok((op, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_list_reads_both_formats() {
        let k3: Value = serde_json::json!(["out", 0, 0]);
        let k2: Value = serde_json::json!([["out", 0, 0]]);
        assert_eq!(tensor_list(Some(&k3)), Some(vec!["out".to_string()]));
        assert_eq!(tensor_list(Some(&k2)), Some(vec!["out".to_string()]));
    }

    #[test]
    fn json_eq_compares_numbers_by_value() {
        assert!(json_eq(&Value::from(0), &serde_json::json!(0.0)));
        assert!(!json_eq(&Value::from(1), &Value::from(0)));
    }
}
