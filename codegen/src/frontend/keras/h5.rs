//! Thin, defensive helpers over `hdf5-reader` for the layouts Keras writes.
//!
//! Quirks handled here:
//! - string attributes are fixed-length byte strings in some files (Keras 2 on h5py 2,
//!   e.g. `emotion_model.hdf5`) and variable-length in others (Keras 3);
//! - a layer without weights stores `weight_names` as an *empty float64 array*;
//! - long string lists are split into `<name>0`, `<name>1`, ... attributes (Keras
//!   keeps each attribute under the 64 KiB object-header limit);
//! - group listings are alphabetical, so weight order always comes from
//!   `weight_names` (legacy) or the `vars/<i>` index (Keras 3), never the listing.

use hdf5_reader::group::Group;
use hdf5_reader::{Attribute, Dataset, Datatype, Hdf5File, OpenOptions, StringSize, VarLenKind};

use super::{Format, KerasError};
use xception_spec::graph::MAX_TENSOR_ELEMENTS;

/// The 8-byte HDF5 format signature.
pub(crate) const SIGNATURE: [u8; 8] = *b"\x89HDF\r\n\x1a\n";

/// Whether the HDF5 signature is at offset 0 or at a user-block offset (512, 1024, ...).
pub(crate) fn has_signature(bytes: &[u8]) -> bool {
    let mut at = 0usize;
    loop {
        match bytes.get(at..at + SIGNATURE.len()) {
            Some(s) if s == SIGNATURE => return true,
            Some(_) => at = if at == 0 { 512 } else { at * 2 },
            None => return false,
        }
    }
}

/// Opens HDF5 bytes, refusing files shorter than their superblock says (truncated).
pub(crate) fn open(shown: &str, bytes: Vec<u8>) -> Result<Hdf5File, KerasError> {
    let len = bytes.len() as u64;
    // One read never needs more than the largest tensor a spec accepts (f64 on disk).
    let options = OpenOptions::default().with_max_read_bytes(MAX_TENSOR_ELEMENTS.saturating_mul(8));
    let file = Hdf5File::from_vec_with_options(bytes, options).map_err(|e| {
        KerasError::new(
            shown,
            format!("not a readable HDF5 file (corrupt or truncated): {e}"),
        )
    })?;
    let sb = file.superblock();
    if sb.eof_address != u64::MAX {
        if let Some(end) = sb.base_address.checked_add(sb.eof_address) {
            if end > len {
                return Err(KerasError::new(
                    shown,
                    format!(
                        "HDF5 file is truncated: its superblock says it ends at byte {end}, \
                         but the file has {len} bytes"
                    ),
                ));
            }
        }
    }
    Ok(file)
}

/// Which Keras layout an HDF5 file has.
pub(crate) fn classify(file: &Hdf5File) -> Result<Format, String> {
    let root = file.root_group().map_err(|e| hdf5_error("root group", e))?;
    let attrs = root
        .attributes()
        .map_err(|e| hdf5_error("root attributes", e))?;
    let has_attr = |n: &str| attrs.iter().any(|a| a.name == n);
    let (groups, datasets) = root
        .member_names()
        .map_err(|e| hdf5_error("root group listing", e))?;
    let has_group = |n: &str| groups.iter().any(|g| g == n);
    if has_attr("model_config") || has_group("model_weights") {
        Ok(Format::LegacyModelH5)
    } else if has_attr("layer_names") || has_attr("layer_names0") {
        Ok(Format::LegacyWeightsH5)
    } else if has_group("layers") {
        Ok(Format::Keras3WeightsH5)
    } else {
        let names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
        Err(format!(
            "an HDF5 file, but not one Keras wrote: no `model_config` or `layer_names` \
             attribute and no `model_weights` or `layers` group (root attributes {names:?}, \
             groups {groups:?}, datasets {datasets:?})"
        ))
    }
}

/// An `hdf5-reader` error while reading `what`.
pub(crate) fn hdf5_error(what: &str, e: hdf5_reader::error::Error) -> String {
    format!("cannot read {what} (corrupt file?): {e}")
}

/// A string attribute of the root group, if present.
pub(crate) fn root_string_attr(file: &Hdf5File, name: &str) -> Result<Option<String>, String> {
    let root = file.root_group().map_err(|e| hdf5_error("root group", e))?;
    string_attr(&root, name)
}

/// A scalar (or one-element) string attribute of a group, if present.
pub(crate) fn string_attr(group: &Group, name: &str) -> Result<Option<String>, String> {
    let attrs = group
        .attributes()
        .map_err(|e| hdf5_error(&format!("attributes of '{}'", group.name()), e))?;
    let Some(attr) = attrs.iter().find(|a| a.name == name) else {
        return Ok(None);
    };
    let mut strings = attr_strings(attr)?;
    if strings.len() != 1 {
        return Err(format!(
            "attribute `{name}` of '{}' holds {} strings, expected one",
            group.name(),
            strings.len()
        ));
    }
    Ok(strings.pop())
}

/// A list-of-strings attribute of a group, also when Keras split it into
/// `<name>0`, `<name>1`, ...; `None` when absent.
pub(crate) fn string_list_attr(group: &Group, name: &str) -> Result<Option<Vec<String>>, String> {
    let attrs = group
        .attributes()
        .map_err(|e| hdf5_error(&format!("attributes of '{}'", group.name()), e))?;
    if let Some(attr) = attrs.iter().find(|a| a.name == name) {
        return attr_strings(attr).map(Some);
    }
    let mut all = Vec::new();
    let mut chunk = 0usize;
    while let Some(attr) = attrs.iter().find(|a| a.name == format!("{name}{chunk}")) {
        all.extend(attr_strings(attr)?);
        chunk += 1;
    }
    Ok((chunk > 0).then_some(all))
}

/// The strings of an attribute; an empty numeric array (how Keras writes an empty
/// `weight_names`) is an empty list.
fn attr_strings(attr: &Attribute) -> Result<Vec<String>, String> {
    if let Some(strings) = &attr.decoded_strings {
        return Ok(strings.clone());
    }
    match &attr.datatype {
        Datatype::String {
            size: StringSize::Fixed(_),
            ..
        } => attr
            .read_strings()
            .map_err(|e| format!("attribute `{}`: {e}", attr.name)),
        Datatype::String {
            size: StringSize::Variable,
            ..
        }
        | Datatype::VarLen {
            kind: VarLenKind::String,
            ..
        } => Err(format!(
            "attribute `{}`: its variable-length strings could not be decoded \
             (corrupt global heap?)",
            attr.name
        )),
        _ if matches!(attr.num_elements(), Ok(0)) => Ok(Vec::new()),
        other => Err(format!(
            "attribute `{}` should hold strings but has type {other:?}",
            attr.name
        )),
    }
}

/// The dataset at a `/`-separated path below `group` (weight names like
/// `conv2d_1_1/kernel:0` are such paths).
pub(crate) fn dataset_at(group: &Group, path: &str) -> Result<Dataset, String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Err("empty weight name".to_string());
    };
    let mut g = group.clone();
    for dir in dirs {
        g = g
            .group(dir)
            .map_err(|e| format!("no group '{dir}' on the way to '{path}': {e}"))?;
    }
    g.dataset(last)
        .map_err(|e| format!("no dataset '{path}' in '{}': {e}", group.name()))
}

/// The dataset's shape as `usize`s.
pub(crate) fn shape_of(ds: &Dataset) -> Vec<usize> {
    ds.shape()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect()
}

/// Reads a float dataset whose shape the caller has already checked (so the
/// allocation is bounded by the spec, not by the file); f64 data is rounded to f32
/// as Keras does when it assigns it to a float32 variable.
pub(crate) fn read_f32(ds: &Dataset, len: usize) -> Result<Vec<f32>, String> {
    match ds.dtype() {
        Datatype::FloatingPoint { size: 4, .. } => {
            let mut data = vec![0f32; len];
            ds.read_into(&mut data)
                .map_err(|e| format!("cannot read the data (corrupt file?): {e}"))?;
            Ok(data)
        }
        Datatype::FloatingPoint { size: 8, .. } => {
            let mut data = vec![0f64; len];
            ds.read_into(&mut data)
                .map_err(|e| format!("cannot read the data (corrupt file?): {e}"))?;
            Ok(data.into_iter().map(|v| v as f32).collect())
        }
        other => Err(format!("stored as {other:?}, not as 32- or 64-bit floats")),
    }
}
