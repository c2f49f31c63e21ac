//! Weight tensors from the Keras HDF5 layouts, matched to a graph's variables.

use hdf5_reader::group::Group;
use hdf5_reader::{Dataset, Hdf5File};
use xception_spec::{Graph, Op, Tensor, WeightMap, WeightSpec};

use super::{h5, KerasError, LoadedWeights};

/// How file layers are matched to spec layers, and what unmatched file layers mean.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Match by layer name instead of by order.
    pub by_name: bool,
    /// Whether file layers with weights that no spec layer takes are an error
    /// (otherwise a warning).
    pub extra_is_error: bool,
}

/// A full model file: config and weights come from the same file, so names must
/// agree and nothing may be left over.
pub(crate) const FULL_MODEL: Policy = Policy {
    by_name: true,
    extra_is_error: true,
};

/// A spec layer that owns weights.
struct Target<'g> {
    layer: &'g str,
    class: &'static str,
    vars: &'g [WeightSpec],
    /// Where Keras 3 keeps this layer's variables: `conv2d`, `conv2d_1`, ...
    keras3_group: String,
}

/// The spec's layers with weights, in spec layer order (for a spec imported from
/// Keras, the order of `model.layers`, which is the order Keras saves and loads in).
fn targets(graph: &Graph) -> Vec<Target<'_>> {
    let mut nodes = vec![None; graph.spec.layers.len()];
    for node in &graph.nodes {
        nodes[node.index] = Some(node);
    }
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for (layer, node) in graph.spec.layers.iter().zip(nodes) {
        // Keras 3 names each layer's group after its class, numbering repeats in
        // `model.layers` order (saving_lib `_save_container_state`).
        let base = keras3_group_base(&layer.op);
        let count = seen.entry(base).or_insert(0);
        let keras3_group = match *count {
            0 => base.to_string(),
            n => format!("{base}_{n}"),
        };
        *count += 1;
        let node = node.expect("a validated graph has a node per layer");
        if !node.weights.is_empty() {
            out.push(Target {
                layer: &layer.name,
                class: layer.op.type_name(),
                vars: &node.weights,
                keras3_group,
            });
        }
    }
    out
}

/// `keras.src.utils.naming.to_snake_case` of the op's Keras class name.
fn keras3_group_base(op: &Op) -> &'static str {
    match op {
        Op::Conv2D(_) => "conv2d",
        Op::DepthwiseConv2D(_) => "depthwise_conv2d",
        Op::SeparableConv2D(_) => "separable_conv2d",
        Op::BatchNormalization(_) => "batch_normalization",
        Op::Activation(_) => "activation",
        Op::ReLU {} => "re_lu",
        Op::MaxPooling2D(_) => "max_pooling2d",
        Op::AveragePooling2D(_) => "average_pooling2d",
        Op::GlobalAveragePooling2D {} => "global_average_pooling2d",
        Op::GlobalMaxPooling2D {} => "global_max_pooling2d",
        Op::Add {} => "add",
        Op::Dense(_) => "dense",
    }
}

/// What a spec layer needs, for messages: `kernel [3, 3, 3, 8], bias [8]`.
fn needs(t: &Target) -> String {
    t.vars
        .iter()
        .map(|v| format!("{} {:?}", v.var, v.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads one variable whose dataset is `ds`, after checking its shape.
fn read_tensor(
    shown: &str,
    t: &Target,
    var: &WeightSpec,
    ds: &Dataset,
    stored: &str,
) -> Result<Tensor, KerasError> {
    let err = |msg: String| {
        KerasError::new(shown, msg)
            .in_layer(t.layer)
            .in_tensor(&var.name)
    };
    let shape = h5::shape_of(ds);
    if shape != var.shape {
        return Err(err(format!(
            "stored as '{stored}' with shape {shape:?}, but the spec's {} needs {:?}",
            t.class, var.shape
        )));
    }
    let data = h5::read_f32(ds, var.len()).map_err(|e| err(format!("'{stored}': {e}")))?;
    Ok(Tensor {
        shape: var.shape.clone(),
        data,
    })
}

/// Pairs spec layers with file layers (by name or by order), with warnings for
/// name differences and unmatched file layers.
fn pair<'t, 'g, F>(
    shown: &str,
    targets: &'t [Target<'g>],
    file_layers: &'t [F],
    name_of: impl Fn(&F) -> Option<&str>,
    describe: impl Fn(&F) -> String,
    policy: Policy,
    warnings: &mut Vec<String>,
) -> Result<Vec<(&'t Target<'g>, &'t F)>, KerasError> {
    let mut pairs = Vec::with_capacity(targets.len());
    let mut used = vec![false; file_layers.len()];
    if policy.by_name {
        for t in targets {
            let k = file_layers
                .iter()
                .position(|f| name_of(f) == Some(t.layer))
                .ok_or_else(|| {
                    KerasError::new(
                        shown,
                        format!(
                            "the file has no weights for this layer (the spec's {} needs {})",
                            t.class,
                            needs(t)
                        ),
                    )
                    .in_layer(t.layer)
                })?;
            used[k] = true;
            pairs.push((t, &file_layers[k]));
        }
    } else {
        if targets.len() != file_layers.len() {
            let spec: Vec<&str> = targets.iter().map(|t| t.layer).collect();
            let file: Vec<String> = file_layers.iter().map(&describe).collect();
            let first = spec
                .iter()
                .zip(file_layers)
                .position(|(s, f)| name_of(f) != Some(*s))
                .map(|i| {
                    format!(
                        "; the first difference is at position {i}: spec '{}', file {}",
                        spec[i], file[i]
                    )
                })
                .unwrap_or_default();
            return Err(KerasError::new(
                shown,
                format!(
                    "the file has {} layers with weights and the spec {} (they are matched by \
                     order, as Keras load_weights does){first}. Spec layers: {spec:?}; file \
                     layers: {file:?}",
                    file.len(),
                    spec.len()
                ),
            ));
        }
        for (k, (t, f)) in targets.iter().zip(file_layers).enumerate() {
            used[k] = true;
            if name_of(f) != Some(t.layer) {
                warnings.push(format!(
                    "{shown}: spec layer '{}' ({}) takes the weights of file layer {} \
                     (matched by order; the names differ)",
                    t.layer,
                    t.class,
                    describe(f)
                ));
            }
            pairs.push((t, f));
        }
    }
    for (f, _) in file_layers.iter().zip(&used).filter(|(_, u)| !**u) {
        let msg = format!(
            "file layer {} has weights that no layer of the spec takes",
            describe(f)
        );
        if policy.extra_is_error {
            let err = KerasError::new(shown, msg);
            return Err(match name_of(f) {
                Some(name) => err.in_layer(name),
                None => err,
            });
        }
        warnings.push(format!("{shown}: {msg}"));
    }
    Ok(pairs)
}

/// A layer group of a legacy file that has weights.
struct LegacyLayer {
    name: String,
    group: Group,
    /// Dataset paths relative to `group`, in weight order.
    weight_names: Vec<String>,
}

/// The variable name in a Keras weight name: `conv2d_1_1/kernel:0` -> `kernel`.
fn var_name(weight_name: &str) -> &str {
    let last = weight_name.rsplit('/').next().unwrap_or(weight_name);
    match last.rsplit_once(':') {
        Some((var, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => var,
        _ => last,
    }
}

/// Keras 2 calls a DepthwiseConv2D kernel `depthwise_kernel`; the spec (as Keras 3) `kernel`.
fn same_var(class: &str, spec_var: &str, file_var: &str) -> bool {
    spec_var == file_var
        || (class == "DepthwiseConv2D" && spec_var == "kernel" && file_var == "depthwise_kernel")
}

/// Reads legacy (Keras 2 layout) weights: from the root group of a weights-only
/// file, or from `model_weights` of a full-model file.
pub(crate) fn load_legacy(
    file: &Hdf5File,
    in_model_weights: bool,
    shown: &str,
    graph: &Graph,
    policy: Policy,
) -> Result<LoadedWeights, KerasError> {
    let err = |msg: String| KerasError::new(shown, msg);
    let root = file
        .root_group()
        .map_err(|e| err(h5::hdf5_error("the root group", e)))?;
    let (top, where_) = if in_model_weights {
        let g = root
            .group("model_weights")
            .map_err(|e| err(h5::hdf5_error("the `model_weights` group", e)))?;
        (g, "`model_weights` group")
    } else {
        (root, "root group")
    };
    let layer_names = h5::string_list_attr(&top, "layer_names")
        .map_err(&err)?
        .ok_or_else(|| err(format!("the {where_} has no `layer_names` attribute")))?;
    let (groups, _) = top
        .member_names()
        .map_err(|e| err(h5::hdf5_error(&format!("the {where_} listing"), e)))?;
    let mut file_layers = Vec::new();
    for name in layer_names {
        let layer_err = |msg: String| err(msg).in_layer(&name);
        if !groups.contains(&name) {
            return Err(layer_err(format!(
                "`layer_names` of the {where_} lists this layer, but it has no group"
            )));
        }
        let group = top
            .group(&name)
            .map_err(|e| layer_err(h5::hdf5_error("the layer group", e)))?;
        let weight_names = h5::string_list_attr(&group, "weight_names")
            .map_err(&layer_err)?
            .ok_or_else(|| layer_err("the layer group has no `weight_names` attribute".into()))?;
        if !weight_names.is_empty() {
            file_layers.push(LegacyLayer {
                name,
                group,
                weight_names,
            });
        }
    }
    let targets = targets(graph);
    let mut warnings = Vec::new();
    let pairs = pair(
        shown,
        &targets,
        &file_layers,
        |f| Some(f.name.as_str()),
        |f| format!("'{}'", f.name),
        policy,
        &mut warnings,
    )?;
    let mut weights = WeightMap::new();
    for (t, f) in pairs {
        let file_vars: Vec<&str> = f.weight_names.iter().map(|w| var_name(w)).collect();
        if file_vars.len() != t.vars.len() {
            return Err(err(format!(
                "file layer '{}' has {} weights {:?}, but the spec's {} needs {} ({}); \
                 check use_bias / center / scale",
                f.name,
                file_vars.len(),
                f.weight_names,
                t.class,
                t.vars.len(),
                needs(t)
            ))
            .in_layer(t.layer));
        }
        // By variable name where the names match up one to one, else by position.
        let by_name: Option<Vec<usize>> = t
            .vars
            .iter()
            .map(|v| {
                let mut hits = file_vars
                    .iter()
                    .enumerate()
                    .filter(|(_, fv)| same_var(t.class, v.var, fv));
                match (hits.next(), hits.next()) {
                    (Some((k, _)), None) => Some(k),
                    _ => None,
                }
            })
            .collect();
        let order = by_name.unwrap_or_else(|| {
            warnings.push(format!(
                "{shown}: layer '{}': the file's weight names {:?} do not match the spec's \
                 variables ({}); taken by position",
                t.layer,
                f.weight_names,
                needs(t)
            ));
            (0..t.vars.len()).collect()
        });
        for (var, k) in t.vars.iter().zip(order) {
            let stored = &f.weight_names[k];
            let ds = h5::dataset_at(&f.group, stored).map_err(|e| {
                err(format!("weight '{stored}' of file layer '{}': {e}", f.name))
                    .in_layer(t.layer)
                    .in_tensor(&var.name)
            })?;
            let path = format!("{}/{stored}", f.name);
            weights.insert(var.name.clone(), read_tensor(shown, t, var, &ds, &path)?);
        }
    }
    check_weights(shown, graph, &weights)?;
    Ok(LoadedWeights { weights, warnings })
}

/// A `layers/<group>` of a Keras 3 weights file.
struct Keras3Group {
    group: String,
    /// `layers/<group>/vars`, when there is one.
    vars: Option<Group>,
    /// Number of datasets `vars/0`, `vars/1`, ...
    count: usize,
    /// The layer name newer Keras versions store as attribute `name` of `vars`.
    layer: Option<String>,
}

/// Reads Keras 3 `.weights.h5` weights (`layers/<group>/vars/<i>`).
pub(crate) fn load_keras3(
    file: &Hdf5File,
    shown: &str,
    graph: &Graph,
    policy: Policy,
) -> Result<LoadedWeights, KerasError> {
    let err = |msg: String| KerasError::new(shown, msg);
    let root = file
        .root_group()
        .map_err(|e| err(h5::hdf5_error("the root group", e)))?;
    let (root_groups, _) = root
        .member_names()
        .map_err(|e| err(h5::hdf5_error("the root group listing", e)))?;
    if !root_groups.iter().any(|g| g == "layers") {
        return Err(err(format!(
            "no `layers` group: not a Keras 3 weights file (root groups: {root_groups:?})"
        )));
    }
    let layers = root
        .group("layers")
        .map_err(|e| err(h5::hdf5_error("the `layers` group", e)))?;
    let (names, _) = layers
        .member_names()
        .map_err(|e| err(h5::hdf5_error("the `layers` group listing", e)))?;
    let mut groups = Vec::with_capacity(names.len());
    for name in names {
        let path = format!("layers/{name}");
        let group = layers
            .group(&name)
            .map_err(|e| err(h5::hdf5_error(&format!("group `{path}`"), e)))?;
        let (sub, _) = group
            .member_names()
            .map_err(|e| err(h5::hdf5_error(&format!("the `{path}` listing"), e)))?;
        let mut entry = Keras3Group {
            group: name,
            vars: None,
            count: 0,
            layer: None,
        };
        if sub.iter().any(|s| s == "vars") {
            let vars = group
                .group("vars")
                .map_err(|e| err(h5::hdf5_error(&format!("group `{path}/vars`"), e)))?;
            let (_, datasets) = vars
                .member_names()
                .map_err(|e| err(h5::hdf5_error(&format!("the `{path}/vars` listing"), e)))?;
            let mut indices: Vec<usize> = datasets.iter().filter_map(|d| d.parse().ok()).collect();
            indices.sort_unstable();
            if indices.len() != datasets.len() || indices.iter().enumerate().any(|(i, &k)| i != k) {
                return Err(err(format!(
                    "`{path}/vars` should hold datasets 0, 1, ... but holds {datasets:?}"
                )));
            }
            entry.count = indices.len();
            entry.layer = h5::string_attr(&vars, "name")
                .map_err(|e| err(format!("group `{path}/vars`: {e}")))?;
            entry.vars = Some(vars);
        }
        groups.push(entry);
    }
    let with_vars: Vec<&Keras3Group> = groups.iter().filter(|g| g.count > 0).collect();
    let targets = targets(graph);
    let mut warnings = Vec::new();
    let describe = |g: &&Keras3Group| match &g.layer {
        Some(layer) => format!("'{layer}' (group layers/{})", g.group),
        None => format!("layers/{}", g.group),
    };
    let pairs = if policy.by_name {
        if with_vars.iter().any(|g| g.layer.is_none()) {
            return Err(err(
                "this Keras 3 weights file does not record layer names (`vars` groups have no \
                 `name` attribute; older Keras 3): load it by order instead of by name"
                    .to_string(),
            ));
        }
        pair(
            shown,
            &targets,
            &with_vars,
            |g| g.layer.as_deref(),
            describe,
            policy,
            &mut warnings,
        )?
    } else {
        // Keras 3 order: each spec layer's class-derived group.
        let mut pairs = Vec::with_capacity(targets.len());
        for t in &targets {
            let g = with_vars
                .iter()
                .find(|g| g.group == t.keras3_group)
                .ok_or_else(|| {
                    err(format!(
                        "the file has no variables in group `layers/{}`, where Keras 3 keeps \
                         this layer's (the spec's {} needs {})",
                        t.keras3_group,
                        t.class,
                        needs(t)
                    ))
                    .in_layer(t.layer)
                })?;
            if let Some(layer) = g.layer.as_deref().filter(|l| *l != t.layer) {
                warnings.push(format!(
                    "{shown}: spec layer '{}' ({}) takes the weights of file layer '{layer}' \
                     (group layers/{}; matched by class and order; the names differ)",
                    t.layer, t.class, g.group
                ));
            }
            pairs.push((t, g));
        }
        for g in &with_vars {
            if !pairs.iter().any(|(_, p)| p.group == g.group) {
                let msg = format!(
                    "file layer {} has {} variables that no layer of the spec takes",
                    describe(g),
                    g.count
                );
                if policy.extra_is_error {
                    return Err(err(msg));
                }
                warnings.push(format!("{shown}: {msg}"));
            }
        }
        pairs
    };
    let mut weights = WeightMap::new();
    for (t, g) in pairs {
        if g.count != t.vars.len() {
            return Err(err(format!(
                "file group layers/{} has {} variables, but the spec's {} needs {} ({}); \
                 check use_bias / center / scale",
                g.group,
                g.count,
                t.class,
                t.vars.len(),
                needs(t)
            ))
            .in_layer(t.layer));
        }
        let vars = g.vars.as_ref().expect("groups with variables have `vars`");
        for (i, var) in t.vars.iter().enumerate() {
            let stored = format!("layers/{}/vars/{i}", g.group);
            let ds = vars.dataset(&i.to_string()).map_err(|e| {
                err(h5::hdf5_error(&format!("dataset `{stored}`"), e))
                    .in_layer(t.layer)
                    .in_tensor(&var.name)
            })?;
            weights.insert(var.name.clone(), read_tensor(shown, t, var, &ds, &stored)?);
        }
    }
    check_weights(shown, graph, &weights)?;
    Ok(LoadedWeights { weights, warnings })
}

/// Checks that `weights` holds exactly the graph's variables, with the right
/// shapes and only finite values; errors name `file`, the layer and the tensor.
pub fn check_weights(file: &str, graph: &Graph, weights: &WeightMap) -> Result<(), KerasError> {
    for node in &graph.nodes {
        let layer = graph.layer(node);
        for w in &node.weights {
            let err = |msg: String| {
                KerasError::new(file, msg)
                    .in_layer(&layer.name)
                    .in_tensor(&w.name)
            };
            let Some(t) = weights.get(&w.name) else {
                return Err(err(format!(
                    "missing weight tensor: the spec's {} needs {} with shape {:?}",
                    layer.op.type_name(),
                    w.var,
                    w.shape
                )));
            };
            if t.shape != w.shape {
                return Err(err(format!(
                    "weight has shape {:?}, but the spec's {} needs {:?}",
                    t.shape,
                    layer.op.type_name(),
                    w.shape
                )));
            }
            if t.data.len() != w.len() {
                return Err(err(format!(
                    "weight has {} values for shape {:?} ({} expected)",
                    t.data.len(),
                    w.shape,
                    w.len()
                )));
            }
            if let Some(k) = t.data.iter().position(|v| !v.is_finite()) {
                return Err(err(format!(
                    "non-finite weight value {} at flat index {k}",
                    t.data[k]
                )));
            }
        }
    }
    let known: std::collections::HashSet<&str> =
        graph.weight_specs().map(|w| w.name.as_str()).collect();
    if let Some(extra) = weights.keys().find(|k| !known.contains(k.as_str())) {
        let err = KerasError::new(
            file,
            "extra weight tensor: it belongs to no variable of the spec",
        )
        .in_tensor(extra);
        let layer = extra.rsplit_once('/').map(|(l, _)| l);
        return Err(match layer {
            Some(l) if graph.node_by_name(l).is_some() => err.in_layer(l),
            _ => err,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_names_lose_prefix_and_index() {
        assert_eq!(var_name("conv2d_1_1/kernel:0"), "kernel");
        assert_eq!(var_name("t_conv1/kernel"), "kernel");
        assert_eq!(var_name("block1_conv1_bn/moving_mean:0"), "moving_mean");
        assert_eq!(var_name("bias"), "bias");
    }

    #[test]
    fn depthwise_kernel_alias_only_for_depthwise() {
        assert!(same_var("DepthwiseConv2D", "kernel", "depthwise_kernel"));
        assert!(!same_var("Conv2D", "kernel", "depthwise_kernel"));
        assert!(same_var(
            "SeparableConv2D",
            "depthwise_kernel",
            "depthwise_kernel"
        ));
    }
}
