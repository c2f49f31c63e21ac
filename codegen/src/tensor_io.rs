//! Reading model inputs and writing outputs for the `xcc` tool: `.npy`
//! float32 arrays, and PNG/JPEG images with an explicit preprocessing.

use std::path::Path;

/// How image pixels (0..=255) become model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preprocess {
    /// `x / 127.5 - 1` (Keras `preprocess_input` mode "tf", Xception's).
    Tf,
    /// `(x / 255 - 0.5) * 2`, each step rounded to f32 (the fer package's mini-Xception).
    Fer,
    /// `x / 255`.
    Unit,
    /// The raw pixel value.
    Raw,
}

impl Preprocess {
    /// Parses a `--preprocess` value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tf" => Preprocess::Tf,
            "fer" => Preprocess::Fer,
            "unit" => Preprocess::Unit,
            "raw" => Preprocess::Raw,
            _ => return None,
        })
    }

    /// Applies the mapping to one pixel value.
    pub fn apply(self, p: u8) -> f32 {
        let x = f32::from(p);
        match self {
            Preprocess::Tf => x / 127.5 - 1.0,
            Preprocess::Fer => (x / 255.0 - 0.5) * 2.0,
            Preprocess::Unit => x / 255.0,
            Preprocess::Raw => x,
        }
    }
}

/// An error reading or writing a tensor file; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorIoError(pub String);

impl std::fmt::Display for TensorIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TensorIoError {}

fn err(path: &Path, msg: impl std::fmt::Display) -> TensorIoError {
    TensorIoError(format!("{}: {msg}", path.display()))
}

/// Parses a little-endian float32 C-order `.npy` file: `(shape, data)`.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), TensorIoError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err(path, "not a .npy file (bad magic)"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (
            usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            10usize,
        ),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(err(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart.saturating_add(hlen))
        .ok_or_else(|| err(path, "truncated .npy header"))?;
    let header = std::str::from_utf8(header).map_err(|_| err(path, "non-UTF-8 .npy header"))?;
    let descr =
        dict_value(header, "descr").ok_or_else(|| err(path, "no 'descr' in .npy header"))?;
    let descr = descr.split(',').next().unwrap_or("").trim();
    if !matches!(descr.trim_matches(|c| c == '\'' || c == '"'), "<f4" | "=f4") {
        return Err(err(
            path,
            format!("dtype {descr} is not little-endian float32 ('<f4')"),
        ));
    }
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(err(path, "Fortran-order arrays are not supported"));
    }
    let shape_txt =
        dict_value(header, "shape").ok_or_else(|| err(path, "no 'shape' in .npy header"))?;
    let inner = shape_txt
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| err(path, "malformed shape"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| err(path, format!("bad dimension {s:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(path, "shape overflows"))?;
    let data = &bytes[hstart + hlen..];
    if data.len()
        != n.checked_mul(4)
            .ok_or_else(|| err(path, "shape overflows"))?
    {
        return Err(err(
            path,
            format!(
                "shape {shape:?} needs {} bytes of data, file has {}",
                n * 4,
                data.len()
            ),
        ));
    }
    let v = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, v))
}

fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let i = header.find(&format!("'{key}'"))?;
    let rest = &header[i + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Serialises a float32 array as `.npy` (version 1.0, C order).
pub fn to_npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes a PNG or JPEG into 8-bit pixels `(height, width, channels, pixels)`, channels 1 or 3.
pub fn decode_image(
    path: &Path,
    bytes: &[u8],
) -> Result<(usize, usize, usize, Vec<u8>), TensorIoError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| err(path, format!("cannot decode image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if img.color().has_color() {
        Ok((h, w, 3, img.to_rgb8().into_raw()))
    } else {
        Ok((h, w, 1, img.to_luma8().into_raw()))
    }
}

/// Reads a model input of `want` = `[h, w, c]`: a `.npy` (taken as already
/// preprocessed; shape `[h,w,c]` or `[1,h,w,c]`) or an image (channels
/// converted as Pillow's `convert("L")` does, gray = (19595 R + 38470 G +
/// 7471 B + 32768) >> 16, or gray replicated to RGB), then `pre` per pixel.
///
/// `detgen:SEED` instead of a file gives the deterministic generator's input
/// (tensor `input`, uniform [-1, 1)), the input of the fixtures' Keras goldens.
pub fn read_input(path: &Path, want: &[usize], pre: Preprocess) -> Result<Vec<f32>, TensorIoError> {
    if let Some(seed) = path.to_str().and_then(|s| s.strip_prefix("detgen:")) {
        let seed: u64 = seed
            .parse()
            .map_err(|_| err(path, "expected detgen:SEED with an unsigned integer seed"))?;
        let n = want.iter().product();
        return Ok(xception_spec::detgen::generate("input", n, 0.0, 1.0, seed));
    }
    let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
    let n: usize = want.iter().product();
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        let (shape, data) = parse_npy(path, &bytes)?;
        let squeezed: Vec<usize> = if shape.first() == Some(&1) && shape.len() == want.len() + 1 {
            shape[1..].to_vec()
        } else {
            shape.clone()
        };
        if squeezed != want {
            return Err(err(
                path,
                format!("input shape {shape:?} does not match the model's {want:?}"),
            ));
        }
        return Ok(data);
    }
    let (h, w, c, px) = decode_image(path, &bytes)?;
    let [wh, ww, wc] = [want[0], want[1], want[2]];
    if (h, w) != (wh, ww) {
        return Err(err(
            path,
            format!("image is {h}x{w}, the model wants {wh}x{ww} (resize it first)"),
        ));
    }
    let pixels: Vec<u8> = match (c, wc) {
        (a, b) if a == b => px,
        (3, 1) => px
            .chunks_exact(3)
            .map(|p| {
                // Pillow's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point.
                let l = u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471;
                ((l + 0x8000) >> 16) as u8
            })
            .collect(),
        (1, 3) => px.iter().flat_map(|&g| [g, g, g]).collect(),
        _ => {
            return Err(err(
                path,
                format!("image has {c} channels, the model wants {wc}"),
            ))
        }
    };
    debug_assert_eq!(pixels.len(), n);
    Ok(pixels.into_iter().map(|p| pre.apply(p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let data = [1.0f32, -2.5, 3.25, 0.0, 7.0, 8.0];
        let bytes = to_npy(&[1, 2, 3], &data);
        assert_eq!(
            bytes.len() % 64,
            24,
            "header padded to 64 bytes, then 6 floats"
        );
        let (shape, back) = parse_npy(Path::new("t.npy"), &bytes).unwrap();
        assert_eq!(shape, vec![1, 2, 3]);
        assert_eq!(back, data);
        let (shape, _) = parse_npy(Path::new("v.npy"), &to_npy(&[6], &data)).unwrap();
        assert_eq!(shape, vec![6]);
    }

    #[test]
    fn npy_rejects_bad_files() {
        let p = Path::new("bad.npy");
        assert!(parse_npy(p, b"hello").unwrap_err().0.contains("bad.npy"));
        let mut b = to_npy(&[2], &[1.0, 2.0]);
        b.truncate(b.len() - 1);
        assert!(parse_npy(p, &b).unwrap_err().0.contains("needs 8 bytes"));
        let mut f8 = to_npy(&[2], &[1.0, 2.0]);
        f8[23] = b'8';
        assert!(parse_npy(p, &f8).unwrap_err().0.contains("float32"));
    }

    #[test]
    fn preprocessing_formulas() {
        assert_eq!(Preprocess::Tf.apply(0), -1.0);
        assert_eq!(Preprocess::Tf.apply(255), 1.0);
        assert_eq!(Preprocess::Fer.apply(255), 1.0);
        assert_eq!(Preprocess::Unit.apply(51), 0.2);
        assert_eq!(Preprocess::Raw.apply(7), 7.0);
    }
}
