//! Errors of the compiler, each naming the file, layer or tensor at fault.

use std::fmt;

use xception_spec::SpecError;

/// Anything that stops a compilation.
#[derive(Debug)]
pub enum CompileError {
    /// The spec is malformed or invalid.
    Spec(SpecError),
    /// The weights do not fit the spec (missing, extra, wrong shape, non-finite).
    Weights(String),
    /// A Keras file could not be read or converted.
    Keras(String),
    /// A file could not be read or written.
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The requested target cannot be used here.
    Target(String),
    /// The generated code failed to parse (a compiler bug).
    Emit(String),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Spec(e) => write!(f, "invalid spec: {e}"),
            CompileError::Weights(m) => write!(f, "weights: {m}"),
            CompileError::Keras(m) => write!(f, "keras: {m}"),
            CompileError::Io { path, error } => write!(f, "{path}: {error}"),
            CompileError::Target(m) => write!(f, "target: {m}"),
            CompileError::Emit(m) => write!(f, "internal error while emitting code: {m}"),
        }
    }
}

impl std::error::Error for CompileError {}

impl From<SpecError> for CompileError {
    fn from(e: SpecError) -> Self {
        CompileError::Spec(e)
    }
}
