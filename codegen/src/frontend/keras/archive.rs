//! `.keras` archives: a zip with `config.json`, `metadata.json` and
//! `model.weights.h5`. Keras writes the members stored (uncompressed); deflated
//! members (an archive re-zipped by hand) are read too.

use std::io::{Cursor, Read};

use super::{KerasError, MAX_FILE_BYTES};

/// The members of a `.keras` archive the frontend uses.
pub(crate) struct Archive {
    /// `config.json`.
    pub config: String,
    /// How errors name `config.json`: `<archive>:config.json`.
    pub config_name: String,
    /// The bytes of `model.weights.h5`.
    pub weights: Vec<u8>,
    /// How errors name `model.weights.h5`: `<archive>:model.weights.h5`.
    pub weights_name: String,
}

/// Whether the bytes start like a zip archive (local file header or empty archive).
pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Reads `config.json` and `model.weights.h5` from archive bytes.
pub(crate) fn read(shown: &str, bytes: &[u8]) -> Result<Archive, KerasError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        KerasError::new(
            shown,
            format!("not a readable .keras (zip) archive (corrupt or truncated): {e}"),
        )
    })?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let mut member = |name: &str| -> Result<Vec<u8>, KerasError> {
        let mut entry = zip.by_name(name).map_err(|e| {
            let hint = if names.iter().any(|n| n == "model.weights.npz") {
                " (this archive stores its weights as .npz, which is not supported)"
            } else {
                ""
            };
            KerasError::new(
                shown,
                format!(
                    "the .keras archive has no readable `{name}` ({e}); its members are \
                     {names:?}{hint}"
                ),
            )
        })?;
        if entry.size() > MAX_FILE_BYTES {
            return Err(KerasError::new(
                shown,
                format!(
                    "archive member `{name}` is {} bytes uncompressed, more than the \
                     {MAX_FILE_BYTES} accepted",
                    entry.size()
                ),
            ));
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut data)
            .map_err(|e| {
                KerasError::new(
                    shown,
                    format!("cannot extract `{name}` from the .keras archive (corrupt?): {e}"),
                )
            })?;
        Ok(data)
    };
    let config = member("config.json")?;
    let weights = member("model.weights.h5")?;
    let config = String::from_utf8(config).map_err(|e| {
        KerasError::new(
            shown,
            format!("`config.json` in the .keras archive is not UTF-8: {e}"),
        )
    })?;
    Ok(Archive {
        config,
        config_name: format!("{shown}:config.json"),
        weights,
        weights_name: format!("{shown}:model.weights.h5"),
    })
}
