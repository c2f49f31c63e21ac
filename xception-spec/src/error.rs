//! Errors that name where the problem is: file, JSON path, layer and field.

use std::fmt;

/// A problem with a spec: what is wrong and exactly where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file, when the spec came from one.
    pub file: Option<String>,
    /// JSON path of the offending value, e.g. `layers[3].op.strides`.
    pub path: String,
    /// Name of the offending layer, when there is one.
    pub layer: Option<String>,
    /// Name of the offending field, when there is one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// An error at a JSON path, with no layer or field yet.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            file: None,
            path: path.into(),
            layer: None,
            field: None,
            message: message.into(),
        }
    }

    /// An error about field `field` of layer number `index` named `layer`.
    /// `inputs...` and `name` are layer fields, `op` is the op object itself
    /// (path `layers[i].op`), anything else is an op attribute (`layers[i].op.<field>`).
    pub fn layer_field(index: usize, layer: &str, field: &str, message: impl Into<String>) -> Self {
        let path = if field.starts_with("inputs") || field == "name" || field == "op" {
            format!("layers[{index}].{field}")
        } else {
            format!("layers[{index}].op.{field}")
        };
        SpecError {
            file: None,
            path,
            layer: Some(layer.to_string()),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// Attaches the file the spec was read from.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        write!(f, "at `{}`", self.path)?;
        if let Some(layer) = &self.layer {
            write!(f, ", layer '{}'", layer.escape_debug())?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field '{field}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SpecError {}
