//! Reading a spec from JSON text or a file, with errors that carry the JSON
//! path and, inside `layers`, the name of the layer.

use std::path::Path;

use crate::error::SpecError;
use crate::spec::Spec;

/// Largest spec file accepted (64 MiB): a spec is a graph description, not weights.
pub const MAX_SPEC_BYTES: u64 = 64 << 20;

/// Parses (but does not validate) a spec from JSON text.
pub fn from_json_str(text: &str) -> Result<Spec, SpecError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut err = SpecError::at(path.clone(), inner.to_string());
        if let Some(rest) = path.strip_prefix("layers[") {
            if let Some((idx, tail)) = rest.split_once(']') {
                if let Ok(i) = idx.parse::<usize>() {
                    err.layer = layer_name_at(text, i);
                    let field = tail.trim_start_matches('.');
                    let field = field.strip_prefix("op.").unwrap_or(field);
                    err.field = Some(field_of(field, &err.message));
                }
            }
        } else if !path.is_empty() && path != "." {
            err.field = Some(path.rsplit('.').next().unwrap_or(&path).to_string());
        }
        err
    })
}

/// The field a serde message is about: "unknown field `x`" names it, otherwise the path's last part.
fn field_of(path_tail: &str, message: &str) -> String {
    for marker in ["unknown field `", "missing field `", "unknown variant `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            if let Some(name) = rest.split('`').next() {
                if marker == "unknown variant `" {
                    return path_tail.to_string();
                }
                return name.to_string();
            }
        }
    }
    if path_tail.is_empty() || path_tail == "op" {
        "op".to_string()
    } else {
        path_tail.to_string()
    }
}

/// Best-effort layer name for error messages, from the raw JSON.
fn layer_name_at(text: &str, index: usize) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
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
    from_json_str(&text).map_err(|e| e.in_file(&shown))
}

impl Spec {
    /// The spec as pretty JSON (the format `from_json_str` reads).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("spec serialises");
        s.push('\n');
        s
    }
}
