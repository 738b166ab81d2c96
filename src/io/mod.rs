//! Reading and writing the data files afm-spark meets: Igor binary waves from Asylum MFP-3D / Cypher
//! (`.ibw`), Gwyddion's native files (`.gwy`, what every lab can convert anything to), pyNSID HDF5
//! (the layout the DTMicroscope digital twin reads, `.h5`), plain NumPy arrays (`.npy`), and the
//! session file of a run (HDF5). One module per format; [`load`] picks the format of a data file and
//! returns a [`LoadedFile`]; [`lab_outputs`] writes an image as `.ibw` + `.gwy` for Igor and Gwyddion.

pub mod error;
pub mod gwy;
pub mod ibw;
pub mod lab_outputs;
pub mod npy;
pub mod nsid;
pub mod session;

pub use error::IoError;

use afm_drivers::{ChannelImage, Frame};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixel pitch assumed for files that carry no geometry (plain `.npy`, an `.ibw` without Asylum
/// note or metric scaling): 1 nm between neighbouring pixels. Such files load with
/// `geometry_known = false`; pass the real pitch to [`npy::read_frame`] when it is known.
pub const DEFAULT_PIXEL_PITCH_M: f64 = 1e-9;

/// Metadata key naming the channels left out of a frame because their raster (or, for `.gwy`, their
/// physical grid) differs from the first channel's.
pub const OTHER_CHANNELS_KEY: &str = "afm_spark_other_channels";

/// The formats [`load`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// Igor binary wave (Asylum Research image).
    Ibw,
    /// Gwyddion native file (GWYP container).
    Gwy,
    /// pyNSID HDF5.
    Nsid,
    /// NumPy `.npy` array.
    Npy,
}

impl FileFormat {
    /// A human name, e.g. "Igor binary wave".
    pub fn describe(self) -> &'static str {
        match self {
            FileFormat::Ibw => "Igor binary wave (.ibw)",
            FileFormat::Gwy => "Gwyddion native file (.gwy)",
            FileFormat::Nsid => "pyNSID HDF5 (.h5)",
            FileFormat::Npy => "NumPy array (.npy)",
        }
    }
}

/// A data file read into our vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Its format.
    pub format: FileFormat,
    /// The image channels, geometry and scan rate (0 when unknown).
    pub frame: Frame,
    /// Acquisition metadata as text: the Asylum note (`.ibw`) or `original_metadata` (`.h5`); a few
    /// descriptive entries for `.npy`.
    pub metadata: BTreeMap<String, String>,
    /// False when the file carries no physical geometry and [`DEFAULT_PIXEL_PITCH_M`] was assumed.
    pub geometry_known: bool,
}

impl LoadedFile {
    /// Channel by Asylum label (`"HeightRetrace"`) or by name (`"Height"`, trace preferred); `None`
    /// picks the first height channel in file order, else (a file whose channels are titled otherwise,
    /// e.g. "Topography" in a `.gwy`) the first channel in metres. Errors if absent, or if any value of
    /// the chosen channel is NaN or infinite (we cannot train on it).
    pub fn channel(&self, wanted: Option<&str>) -> Result<&ChannelImage, IoError> {
        let channels = &self.frame.channels;
        let found = match wanted {
            Some(w) => channels
                .iter()
                .find(|c| c.label() == w)
                .or_else(|| self.frame.channel_any(w))
                .or_else(|| channels.iter().find(|c| c.label().eq_ignore_ascii_case(w) || c.name.eq_ignore_ascii_case(w))),
            None => channels.iter().find(|c| c.name.eq_ignore_ascii_case("height")).or_else(|| channels.iter().find(|c| c.unit == "m")),
        };
        let channel = found.ok_or_else(|| IoError::NoSuchChannel {
            path: self.path.clone(),
            wanted: wanted.unwrap_or("first height channel").to_string(),
            available: channels.iter().map(ChannelImage::label).collect(),
        })?;
        check_finite(&self.path, channel)?;
        Ok(channel)
    }
}

/// `Err(NonFinite)` if any value of `channel` is NaN or infinite.
pub fn check_finite(path: &Path, channel: &ChannelImage) -> Result<(), IoError> {
    let mut bad = channel.data.indexed_iter().filter(|(_, v)| !v.is_finite());
    if let Some(((line, point), _)) = bad.next() {
        return Err(IoError::NonFinite { path: path.to_path_buf(), channel: channel.label(), count: 1 + bad.count(), line, point });
    }
    Ok(())
}

/// Identifies the format: HDF5, NumPy and Gwyddion (`GWYP`) magic bytes first, then the extension
/// (`.ibw`, `.gwy`, `.h5`, `.npy`), then an Igor version number (1, 2, 3, 5 in either byte order) in
/// the first two bytes.
pub fn detect_format(path: &Path) -> Result<FileFormat, IoError> {
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|e| IoError::os(path, "cannot open", e))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IoError::os(path, "cannot read", e)),
        }
    }
    let head = &head[..n];
    if head.is_empty() {
        return Err(IoError::Empty { path: path.to_path_buf() });
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Ok(FileFormat::Nsid);
    }
    if head.starts_with(b"\x93NUMPY") {
        return Ok(FileFormat::Npy);
    }
    if head.starts_with(gwy::serial::MAGIC) {
        return Ok(FileFormat::Gwy);
    }
    match extension.as_str() {
        "ibw" => return Ok(FileFormat::Ibw),
        "gwy" => return Ok(FileFormat::Gwy),
        "h5" | "hdf5" | "hdf" => return Ok(FileFormat::Nsid),
        "npy" => return Ok(FileFormat::Npy),
        _ => {}
    }
    if let [a, b, ..] = *head {
        let igor = |v: u16| matches!(v, 1 | 2 | 3 | 5);
        if igor(u16::from_le_bytes([a, b])) || igor(u16::from_be_bytes([a, b])) {
            return Ok(FileFormat::Ibw);
        }
    }
    Err(IoError::UnknownFormat {
        path: path.to_path_buf(),
        head: head.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
        extension,
    })
}

/// Reads any supported file: format from [`detect_format`], then that format's reader.
pub fn load(path: &Path) -> Result<LoadedFile, IoError> {
    match detect_format(path)? {
        FileFormat::Ibw => ibw::read_file(path),
        FileFormat::Gwy => gwy::read_file(path),
        FileFormat::Nsid => nsid::read_file(path),
        FileFormat::Npy => npy::read_file(path),
    }
}
