//! Reading pyNSID files: finding the IMAGE datasets, their scales and metadata, and building a
//! frame from them.

use super::attrs::{read_attr, read_attrs, AttrValue, Attrs};
use super::{ChannelSelector, NsidChannel, NsidScale};
use crate::io::{FileFormat, IoError, LoadedFile, DEFAULT_PIXEL_PITCH_M};
use afm_drivers::ibw::{split_label, AsylumScan, Note};
use afm_drivers::{ChannelImage, Frame, Raster, ScanRegion};
use hdf5::{Dataset, File, Group};
use std::collections::BTreeMap;
use std::path::Path;

/// Largest image or scale we read, in values (2^28: a 16384² image is 2^28). HDF5 datasets can
/// declare storage they do not hold (fill values), so a tiny corrupt file could otherwise make us
/// allocate terabytes.
const MAX_VALUES: usize = 1 << 28;

/// `Err(Shape)` if `ds` declares more than [`MAX_VALUES`] values.
fn check_size(path: &Path, ds: &Dataset) -> Result<(), IoError> {
    if ds.size() > MAX_VALUES {
        return Err(IoError::Shape {
            path: path.to_path_buf(),
            what: format!("dataset {}", ds.name()),
            found: ds.shape(),
            expected: format!("at most {MAX_VALUES} values"),
        });
    }
    Ok(())
}

/// Splits a name into text and number runs so that Channel_2 sorts before Channel_10.
fn natural_key(name: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut chars = name.chars().peekable();
    while chars.peek().is_some() {
        let text: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_ascii_digit())).collect();
        let digits: String = std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
        key.push((text, digits.parse().unwrap_or(0)));
    }
    key
}

fn is_image(ds: &Dataset) -> bool {
    ds.ndim() == 2
        && ds
            .attr("data_type")
            .ok()
            .and_then(|a| read_attr(&a).ok().flatten())
            .and_then(|v| v.as_str().map(|s| s.eq_ignore_ascii_case("IMAGE")))
            .unwrap_or(false)
}

/// Every IMAGE dataset under `group` with the group holding it, depth first in natural name order.
fn find_images(group: &Group, depth: usize, out: &mut Vec<(Group, Dataset)>) -> hdf5::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    let mut datasets = group.datasets()?;
    datasets.sort_by_key(|d| natural_key(&d.name()));
    out.extend(datasets.into_iter().filter(is_image).map(|d| (group.clone(), d)));
    let mut groups = group.groups()?;
    groups.sort_by_key(|g| natural_key(&g.name()));
    for g in groups.iter().filter(|g| !g.name().ends_with("/original_metadata")) {
        find_images(g, depth + 1, out)?;
    }
    Ok(())
}

fn open(path: &Path) -> Result<File, IoError> {
    if std::fs::metadata(path).map_err(|e| IoError::os(path, "cannot open", e))?.len() == 0 {
        return Err(IoError::Empty { path: path.to_path_buf() });
    }
    File::open(path).map_err(|e| IoError::hdf5(path, "cannot open as HDF5", e))
}

fn read_scale(path: &Path, parent: &Group, name: &str, len: usize, image: &str) -> Result<NsidScale, IoError> {
    let ds = parent.dataset(name).map_err(|_| IoError::nsid(path, format!("no dimension scale {name:?} next to {image}")))?;
    check_size(path, &ds)?;
    let values = ds.read_raw::<f64>().map_err(|e| IoError::hdf5(path, format!("reading scale {}", ds.name()), e))?;
    if ds.ndim() != 1 || values.len() != len {
        return Err(IoError::Shape {
            path: path.to_path_buf(),
            what: format!("dimension scale {}", ds.name()),
            found: ds.shape(),
            expected: format!("[{len}], the length of that axis of {image}"),
        });
    }
    let attrs = read_attrs(&ds).map_err(|e| IoError::hdf5(path, format!("reading attributes of {}", ds.name()), e))?;
    Ok(NsidScale { name: name.to_string(), values, attrs })
}

fn read_image(path: &Path, parent: &Group, ds: &Dataset) -> Result<NsidChannel, IoError> {
    let name = ds.name();
    let h5 = |what: &str| {
        let what = format!("{what} {name}");
        move |e| IoError::hdf5(path, what, e)
    };
    check_size(path, ds)?;
    let raw = ds.read_2d::<f32>().map_err(h5("reading"))?;
    let mut attrs = read_attrs(ds).map_err(h5("reading attributes of"))?;
    let labels = match ds.attr("DIMENSION_LABELS").ok().and_then(|a| read_attr(&a).ok().flatten()) {
        Some(AttrValue::StrArray(l)) if l.len() == 2 && l.iter().all(|s| !s.is_empty()) => l,
        _ => vec!["x".to_string(), "y".to_string()],
    };
    let y_first = labels[0].eq_ignore_ascii_case("y") && labels[1].eq_ignore_ascii_case("x");
    let (x_label, y_label) = if y_first { (&labels[1], &labels[0]) } else { (&labels[0], &labels[1]) };
    let data = if y_first { raw } else { raw.t().as_standard_layout().into_owned() };
    let (lines, points) = data.dim();
    let x = read_scale(path, parent, x_label, points, &name)?;
    let y = read_scale(path, parent, y_label, lines, &name)?;
    let take_str = |attrs: &mut Attrs, key: &str| attrs.remove(key).map(|v| v.to_text());
    let quantity = take_str(&mut attrs, "quantity").unwrap_or_else(|| name.rsplit('/').next().unwrap_or("").to_string());
    let units = take_str(&mut attrs, "units").unwrap_or_default();
    let group_attrs = read_attrs(parent).map_err(h5("reading attributes of the group of"))?;
    let original_metadata = match parent.group("original_metadata") {
        Ok(g) => read_attrs(&g).map_err(h5("reading original_metadata next to"))?,
        Err(_) => Attrs::new(),
    };
    Ok(NsidChannel { quantity, units, data, x, y, attrs, group_attrs, original_metadata })
}

/// Every IMAGE channel of a pyNSID file, in file order.
pub fn read_channels(path: &Path) -> Result<Vec<NsidChannel>, IoError> {
    let file = open(path)?;
    let mut images = Vec::new();
    find_images(&file, 0, &mut images).map_err(|e| IoError::hdf5(path, "listing groups and datasets", e))?;
    if images.is_empty() {
        return Err(IoError::nsid(path, "no 2-D dataset with data_type = \"IMAGE\""));
    }
    images.iter().map(|(group, ds)| read_image(path, group, ds)).collect()
}

/// One IMAGE channel, by index or `quantity`.
pub fn read_channel(path: &Path, which: ChannelSelector) -> Result<NsidChannel, IoError> {
    let channels = read_channels(path)?;
    let available = || channels.iter().map(|c| c.quantity.clone()).collect::<Vec<_>>();
    let found = match which {
        ChannelSelector::Index(k) => channels.get(k),
        ChannelSelector::Quantity(q) => channels.iter().find(|c| c.quantity == q),
    };
    match found {
        Some(c) => Ok(c.clone()),
        None => Err(IoError::NoSuchChannel {
            path: path.to_path_buf(),
            wanted: match which {
                ChannelSelector::Index(k) => format!("#{k}"),
                ChannelSelector::Quantity(q) => q.to_string(),
            },
            available: available(),
        }),
    }
}

/// Metres per unit of a length unit name; `None` for anything else.
fn metres_per(unit: &str) -> Option<f64> {
    match unit {
        "m" => Some(1.0),
        "mm" => Some(1e-3),
        "um" | "µm" | "μm" => Some(1e-6),
        "nm" => Some(1e-9),
        "pm" => Some(1e-12),
        _ => None,
    }
}

/// Region from a channel's x/y scales, if they are in a length unit and span the image.
fn region_from_scales(ch: &NsidChannel) -> Option<ScanRegion> {
    let extent = |s: &NsidScale| {
        let unit = s.attrs.get("units").and_then(AttrValue::as_str).unwrap_or("m");
        let k = metres_per(unit)?;
        let (first, last) = (*s.values.first()?, *s.values.last()?);
        (first.is_finite() && last.is_finite()).then_some((first * k, last * k))
    };
    let ((x0, x1), (y0, y1)) = (extent(&ch.x)?, extent(&ch.y)?);
    Some(ScanRegion {
        center_x_m: (x0 + x1) / 2.0,
        center_y_m: (y0 + y1) / 2.0,
        width_m: (x1 - x0).abs(),
        height_m: (y1 - y0).abs(),
        angle_deg: 0.0,
    })
}

pub use crate::io::OTHER_CHANNELS_KEY;

/// Builds a frame from channels read from `path`: the channels with the first one's shape (the others
/// are listed under [`OTHER_CHANNELS_KEY`] in the returned metadata).
/// Geometry and rate from the first channel's `original_metadata` when it holds Asylum keys
/// (`ScanSize`, `XOffset`, …, the same rules as `.ibw` notes), else from its x/y scales when they
/// are in a length unit, else [`DEFAULT_PIXEL_PITCH_M`] (returned flag false). Also returns the
/// first channel's `original_metadata` as text.
pub fn frame_from_channels(path: &Path, channels: &[NsidChannel]) -> Result<(Frame, BTreeMap<String, String>, bool), IoError> {
    let first = channels.first().ok_or_else(|| IoError::nsid(path, "no IMAGE channel"))?;
    let (lines, points) = first.data.dim();
    let mut images = Vec::with_capacity(channels.len());
    let mut others = Vec::new();
    for ch in channels {
        if ch.data.dim() != (lines, points) {
            // A file may hold scans of several rasters (e.g. `afm-spark simulate`): the frame is made
            // of the channels shaped like the first; the others are named in the metadata.
            others.push(format!("{} {}×{}", ch.quantity, ch.data.dim().1, ch.data.dim().0));
            continue;
        }
        let (name, direction) = split_label(&ch.quantity);
        images.push(ChannelImage { name, direction, unit: ch.units.clone(), data: ch.data.clone() });
    }
    let mut metadata: BTreeMap<String, String> = first.original_metadata.iter().map(|(k, v)| (k.clone(), v.to_text())).collect();
    if !others.is_empty() {
        metadata.insert(OTHER_CHANNELS_KEY.to_string(), others.join(", "));
    }
    let note = Note::from_pairs(&metadata);
    let scan = AsylumScan::from_note(&note).map_err(|e| IoError::nsid(path, format!("original_metadata: {e}")))?;
    let (region, known) = match (&scan, region_from_scales(first)) {
        (Some(s), _) => (s.region, true),
        (None, Some(r)) => (r, true),
        (None, None) => {
            let span = |n: usize| DEFAULT_PIXEL_PITCH_M * n.saturating_sub(1) as f64;
            (ScanRegion { width_m: span(points), height_m: span(lines), ..ScanRegion::square(0.0, 0.0, 0.0) }, false)
        }
    };
    let line_rate_hz = scan.as_ref().and_then(|s| s.line_rate_hz).unwrap_or(0.0);
    let instrument_time_s =
        scan.as_ref().and_then(|s| s.instrument_time_s).unwrap_or(if line_rate_hz > 0.0 { lines as f64 / line_rate_hz } else { 0.0 });
    let acquired_at_unix_s = scan.as_ref().and_then(|s| s.acquired_at_unix_s).unwrap_or(0.0);
    let frame = Frame { region, raster: Raster::new(points, lines), line_rate_hz, channels: images, instrument_time_s, acquired_at_unix_s };
    Ok((frame, metadata, known))
}

/// Reads a pyNSID file for [`load`](crate::io::load): every IMAGE channel, see [`frame_from_channels`].
pub fn read_file(path: &Path) -> Result<LoadedFile, IoError> {
    let channels = read_channels(path)?;
    let (frame, metadata, geometry_known) = frame_from_channels(path, &channels)?;
    Ok(LoadedFile { path: path.to_path_buf(), format: FileFormat::Nsid, frame, metadata, geometry_known })
}
