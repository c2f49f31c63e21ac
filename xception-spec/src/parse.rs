//! Reading a spec from JSON text or a file, with errors that carry the JSON
//! path and, inside `layers`, the name of the layer.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::SpecError;
use crate::spec::{self, Spec};

/// Largest spec file accepted (64 MiB): a spec is a graph description, not weights.
pub const MAX_SPEC_BYTES: u64 = 64 << 20;

/// Parses (but does not validate) a spec from JSON text.
///
/// Errors carry the JSON path of the offending value (for a missing or
/// unknown field, the path that field has or would have), the layer name
/// when the value is inside `layers`, and the field.
pub fn from_json_str(text: &str) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut path = e.path().to_string();
        let mut message = e.into_inner().to_string();
        let raw: Option<Value> = serde_json::from_str(text).ok();
        let op_of_layer = match layer_index(&path) {
            Some((i, "op")) => Some(i),
            _ => None,
        };

        // An op is an internally tagged enum: serde reads it whole and an error
        // inside it loses its path (`layers[i].op`). Read that op again on its
        // own to find the exact attribute.
        if let (Some(i), Some(raw)) = (op_of_layer, &raw) {
            if let Some((sub, msg)) = diagnose_op(&raw["layers"][i]["op"]) {
                if !sub.is_empty() && sub != "." {
                    path = format!("layers[{i}].op.{sub}");
                }
                // Keep serde's original text (it has the line and column) when it is the same error.
                if !message.starts_with(&msg) {
                    message = msg;
                }
            }
        }

        // A missing or unknown field: point at where the field is or would be.
        if let Some(name) = named_field(&message) {
            if path.is_empty() || path == "." {
                path = name.to_string();
            } else if path != name && !path.ends_with(&format!(".{name}")) {
                path = format!("{path}.{name}");
            }
        }

        let mut err = SpecError::at(path.clone(), message);
        match layer_index(&path) {
            Some((i, tail)) => {
                err.layer = raw.as_ref().and_then(|v| layer_name_at(v, i));
                let field = tail.strip_prefix("op.").unwrap_or(tail);
                if !field.is_empty() {
                    err.field = Some(field.to_string());
                }
            }
            None if !path.is_empty() && path != "." => {
                err.field = Some(path.rsplit('.').next().unwrap_or(&path).to_string());
            }
            None => {}
        }
        err
    })?;
    // Anything but whitespace after the spec object is an error, not ignored.
    de.end()
        .map_err(|e| SpecError::at(".", format!("after the spec object: {e}")))?;
    Ok(spec)
}

/// `layers[i].rest` -> `(i, "rest")`; `layers[i]` -> `(i, "")`.
fn layer_index(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("layers[")?;
    let (idx, tail) = rest.split_once(']')?;
    Some((idx.parse().ok()?, tail.trim_start_matches('.')))
}

/// The field a serde "missing field `x`" / "unknown field `x`" message is about.
fn named_field(message: &str) -> Option<&str> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|marker| message.split_once(marker))
        .and_then(|(_, rest)| rest.split('`').next())
}

/// Re-reads one op's attributes as its own struct to find the path (relative
/// to the op) and message of the first error; `None` when the op has no valid
/// `type` or nothing is wrong with its attributes.
fn diagnose_op(op: &Value) -> Option<(String, String)> {
    fn first_error<T: DeserializeOwned>(v: Value) -> Option<(String, String)> {
        serde_path_to_error::deserialize::<_, T>(v)
            .err()
            .map(|e| (e.path().to_string(), e.into_inner().to_string()))
    }
    let mut attrs = op.as_object()?.clone();
    let ty = attrs.remove("type")?;
    let v = Value::Object(attrs);
    match ty.as_str()? {
        "Conv2D" => first_error::<spec::Conv2D>(v),
        "DepthwiseConv2D" => first_error::<spec::DepthwiseConv2D>(v),
        "SeparableConv2D" => first_error::<spec::SeparableConv2D>(v),
        "BatchNormalization" => first_error::<spec::BatchNormalization>(v),
        "Activation" => first_error::<spec::ActivationLayer>(v),
        "MaxPooling2D" | "AveragePooling2D" => first_error::<spec::Pool2D>(v),
        "Dense" => first_error::<spec::Dense>(v),
        // Attribute-less ops can only have unknown fields, which serde's message names.
        _ => None,
    }
}

/// Best-effort layer name for error messages, from the raw JSON.
fn layer_name_at(v: &Value, index: usize) -> Option<String> {
    v.get("layers")?
        .get(index)?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// Reads and parses (but does not validate) a spec file; errors name the file.
pub fn from_file(path: impl AsRef<Path>) -> Result<Spec, SpecError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| SpecError::at("", format!("cannot read spec: {e}")).in_file(&shown))?;
    if meta.is_dir() {
        return Err(SpecError::at("", "is a directory, not a spec file").in_file(&shown));
    }
    if meta.len() > MAX_SPEC_BYTES {
        return Err(SpecError::at(
            "",
            format!(
                "spec file is {} bytes, more than {MAX_SPEC_BYTES}",
                meta.len()
            ),
        )
        .in_file(&shown));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecError::at("", format!("cannot read spec: {e}")).in_file(&shown))?;
    // A UTF-8 byte-order mark (some editors write one) is not JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    from_json_str(text).map_err(|e| e.in_file(&shown))
}

impl Spec {
    /// The spec as pretty JSON (the format `from_json_str` reads).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("spec serialises");
        s.push('\n');
        s
    }
}
