//! Writing pyNSID files: one IMAGE channel with its dimension scales (attached the way HDF5's
//! dimension-scale API attaches them) and `original_metadata`; whole files, appended channels, and
//! frames.

use super::attrs::{write_attrs, write_c_string_attr, AttrValue, Attrs};
use super::{NsidChannel, NsidScale, MEASUREMENT_GROUP, PYNSID_LAYOUT_VERSION};
use crate::io::IoError;
use afm_drivers::{ChannelImage, Frame};
use hdf5::types::{VarLenArray, VarLenAscii};
use hdf5::{File, Group, ObjectReference1};
use std::collections::BTreeMap;
use std::path::Path;

/// `REFERENCE_LIST` entry of a dimension scale: which dataset uses it, along which axis.
#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct ScaleUse {
    dataset: ObjectReference1,
    dimension: u32,
}

fn str_attr(s: &str) -> AttrValue {
    AttrValue::Str(s.to_string())
}

/// Writes `channel` as `parent/<name>/<name>` with its scales and `original_metadata`, in the
/// layout above. `parent` is usually `/Measurement_000` and `name` `Channel_<k>`; a session file
/// can use this to store e.g. a ground-truth image in pyNSID form inside its own groups.
/// Missing attributes that pyNSID's reader requires are filled in: data_type "IMAGE",
/// main_data_name (the quantity), modality "AFM", source "afm-spark", pyNSID_version; on the scales
/// name, quantity, units "m", dimension_type "SPATIAL".
pub fn write_channel_in(parent: &Group, name: &str, channel: &NsidChannel) -> hdf5::Result<()> {
    let g = parent.create_group(name)?.create_group(name)?;
    write_attrs(&g, &channel.group_attrs)?;
    let xy = channel.data.t().as_standard_layout().into_owned();
    let ds = g.new_dataset_builder().with_data(&xy).create(name)?;
    let mut attrs = channel.attrs.clone();
    attrs.insert("quantity".into(), str_attr(&channel.quantity));
    attrs.insert("units".into(), str_attr(&channel.units));
    let required = [
        ("data_type", "IMAGE"),
        ("main_data_name", channel.quantity.as_str()),
        ("modality", "AFM"),
        ("source", "afm-spark"),
        ("pyNSID_version", PYNSID_LAYOUT_VERSION),
    ];
    for (k, v) in required {
        attrs.entry(k.to_string()).or_insert_with(|| str_attr(v));
    }
    write_attrs(&ds, &attrs)?;
    let labels = [&channel.x.name, &channel.y.name]
        .iter()
        .map(|s| VarLenAscii::from_ascii(s.as_str()).map_err(|e| hdf5::Error::from(format!("scale name {s:?}: {e}"))))
        .collect::<hdf5::Result<Vec<_>>>()?;
    ds.new_attr::<VarLenAscii>().shape(2).create("DIMENSION_LABELS")?.write_raw(&labels)?;
    let mut refs = Vec::with_capacity(2);
    for (axis, scale) in [(0u32, &channel.x), (1, &channel.y)] {
        let s = g.new_dataset_builder().with_data(&scale.values).create(scale.name.as_str())?;
        let mut sattrs = scale.attrs.clone();
        for (k, v) in [("name", scale.name.as_str()), ("quantity", scale.name.as_str()), ("units", "m"), ("dimension_type", "SPATIAL")] {
            sattrs.entry(k.to_string()).or_insert_with(|| str_attr(v));
        }
        write_attrs(&s, &sattrs)?;
        write_c_string_attr(&s, "CLASS", "DIMENSION_SCALE")?;
        write_c_string_attr(&s, "NAME", &scale.name)?;
        let uses = [ScaleUse { dataset: g.reference::<ObjectReference1>(name)?, dimension: axis }];
        s.new_attr::<ScaleUse>().shape(1).create("REFERENCE_LIST")?.write_raw(&uses)?;
        refs.push(VarLenArray::from(&[g.reference::<ObjectReference1>(scale.name.as_str())?][..]));
    }
    ds.new_attr::<VarLenArray<ObjectReference1>>().shape(2).create("DIMENSION_LIST")?.write_raw(&refs)?;
    let meta = g.create_group("original_metadata")?;
    write_attrs(&meta, &channel.original_metadata)
}

fn check_channel(path: &Path, ch: &NsidChannel) -> Result<(), IoError> {
    let (lines, points) = ch.data.dim();
    if lines == 0 || points == 0 || ch.x.values.len() != points || ch.y.values.len() != lines {
        return Err(IoError::Unwritable {
            path: path.to_path_buf(),
            what: format!(
                "channel {} is {lines} lines × {points} points but its scales have {} (y) and {} (x) values",
                ch.quantity,
                ch.y.values.len(),
                ch.x.values.len()
            ),
        });
    }
    if ch.x.name == ch.y.name || ch.x.name.is_empty() || ch.x.name == "original_metadata" || ch.y.name == "original_metadata" {
        return Err(IoError::Unwritable {
            path: path.to_path_buf(),
            what: format!("scale names {:?} and {:?} must differ and be usable names", ch.x.name, ch.y.name),
        });
    }
    Ok(())
}

/// Creates (or truncates) `path` and writes `channels` as `/Measurement_000/Channel_<k>`.
/// Files use the HDF5 1.8 format (readable by HDF5 ≥ 1.8, so by h5py, SciFiReaders, DTMicroscope).
pub fn write_channels(path: &Path, channels: &[NsidChannel]) -> Result<(), IoError> {
    channels.iter().try_for_each(|c| check_channel(path, c))?;
    let file = File::with_options()
        .with_fapl(|p| p.libver_bounds(hdf5::file::LibraryVersion::V18, hdf5::file::LibraryVersion::V18))
        .create(path)
        .map_err(|e| IoError::hdf5(path, "cannot create", e))?;
    let meas = file.create_group(MEASUREMENT_GROUP).map_err(|e| IoError::hdf5(path, "creating /Measurement_000", e))?;
    for (k, ch) in channels.iter().enumerate() {
        let name = format!("Channel_{k}");
        write_channel_in(&meas, &name, ch).map_err(|e| IoError::hdf5(path, format!("writing /{MEASUREMENT_GROUP}/{name}"), e))?;
    }
    file.flush().map_err(|e| IoError::hdf5(path, "flushing", e))
}

/// Adds `channel` to an existing file as the next free `/Measurement_000/Channel_<k>` and returns
/// the path of its image dataset (e.g. a ground-truth image written beside the measured ones).
pub fn append_channel(path: &Path, channel: &NsidChannel) -> Result<String, IoError> {
    check_channel(path, channel)?;
    let file = File::open_rw(path).map_err(|e| IoError::hdf5(path, "cannot open for writing", e))?;
    let meas = match file.group(MEASUREMENT_GROUP) {
        Ok(g) => g,
        Err(_) => file.create_group(MEASUREMENT_GROUP).map_err(|e| IoError::hdf5(path, "creating /Measurement_000", e))?,
    };
    let name = (0..).map(|k| format!("Channel_{k}")).find(|n| !meas.link_exists(n)).unwrap_or_default();
    write_channel_in(&meas, &name, channel).map_err(|e| IoError::hdf5(path, format!("writing /{MEASUREMENT_GROUP}/{name}"), e))?;
    file.flush().map_err(|e| IoError::hdf5(path, "flushing", e))?;
    Ok(format!("/{MEASUREMENT_GROUP}/{name}/{name}/{name}"))
}

/// One frame channel in pyNSID form: scales from 0 in metres along x and y at the frame's pitch
/// (as SciFiReaders writes them), and `original_metadata` = the Asylum-style scan parameters of the
/// frame (so reading it back gives the same geometry and rate) plus `metadata`.
pub fn channel_from_image(
    image: &ChannelImage,
    frame: &Frame,
    metadata: &BTreeMap<String, String>,
) -> Result<NsidChannel, afm_drivers::ibw::IbwError> {
    let (px, py) = frame.region.pitch_m(&frame.raster);
    let scale = |name: &str, n: usize, pitch: f64| NsidScale {
        name: name.to_string(),
        values: (0..n).map(|i| i as f64 * pitch).collect(),
        attrs: [("name", name), ("quantity", name), ("units", "m"), ("dimension_type", "SPATIAL")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), str_attr(v)))
            .collect(),
    };
    let mut original_metadata: Attrs = metadata.iter().map(|(k, v)| (k.clone(), AttrValue::from_text(v))).collect();
    for (k, v) in afm_drivers::ibw::asylum_note_entries(frame)? {
        original_metadata.insert(k, AttrValue::from_text(&v));
    }
    let attrs: Attrs = [
        ("data_type", "IMAGE".to_string()),
        ("main_data_name", image.label()),
        ("modality", "AFM".to_string()),
        ("source", "afm-spark".to_string()),
        ("pyNSID_version", PYNSID_LAYOUT_VERSION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), AttrValue::Str(v)))
    .collect();
    Ok(NsidChannel {
        quantity: image.label(),
        units: image.unit.clone(),
        data: image.data.clone(),
        x: scale("x", frame.raster.points, px),
        y: scale("y", frame.raster.lines, py),
        attrs,
        group_attrs: Attrs::from([("source".to_string(), str_attr("afm-spark"))]),
        original_metadata,
    })
}

/// Writes every channel of `frame` to a new pyNSID file (see [`channel_from_image`]).
pub fn write_frame(path: &Path, frame: &Frame, metadata: &BTreeMap<String, String>) -> Result<(), IoError> {
    let channels = frame
        .channels
        .iter()
        .map(|c| {
            check_finite_geometry(path, frame)?;
            channel_from_image(c, frame, metadata).map_err(|cause| IoError::Ibw { path: path.to_path_buf(), cause })
        })
        .collect::<Result<Vec<_>, _>>()?;
    write_channels(path, &channels)
}

fn check_finite_geometry(path: &Path, frame: &Frame) -> Result<(), IoError> {
    let r = &frame.region;
    if [r.center_x_m, r.center_y_m, r.width_m, r.height_m, r.angle_deg, frame.line_rate_hz].iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(IoError::Unwritable { path: path.to_path_buf(), what: format!("region or rate not finite: {r:?}") })
    }
}
