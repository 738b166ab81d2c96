//! pyNSID HDF5 files — the layout SciFiReaders writes and the DTMicroscope digital twin reads:
//!
//! ```text
//! /Measurement_000/Channel_k/            group
//!     Channel_k/                         group (attrs: machine_id, platform, timestamp, …)
//!         Channel_k                      float32 [x, y] image; attrs quantity (e.g. "HeightRetrace"),
//!                                        units, data_type = "IMAGE", main_data_name, modality, source,
//!                                        DIMENSION_LABELS = ["x", "y"], DIMENSION_LIST
//!         x, y                           float64 dimension scales in metres (CLASS, NAME,
//!                                        REFERENCE_LIST, name, quantity, units, dimension_type)
//!         original_metadata/             group whose attributes hold the Asylum note
//! ```
//!
//! Axis 0 of an image is x (points along a line), axis 1 is y (lines): we transpose on reading and
//! writing so that [`NsidChannel::data`] is `[line, point]` like every image in afm-spark. (A dataset
//! labelled `["y", "x"]` is read without the transpose.)
//!
//! Attribute values keep their HDF5 type class ([`AttrValue`]): integers, floats and strings read from
//! a file are written back as 64-bit integers, 64-bit floats and variable-length UTF-8 strings — what
//! pyNSID/h5py write — so a file read and written again holds the same data, scales and attributes.
//! Structural attributes (`DIMENSION_LIST`, `DIMENSION_LABELS`, `CLASS`, `NAME`, `REFERENCE_LIST`)
//! are rebuilt by the writer, not copied, exactly as HDF5's dimension-scale API (`H5DSset_scale`,
//! `H5DSattach_scale`) writes them — pyNSID's reader asks HDF5 for the scale names
//! (`dset.dims[i].keys()`), which only works when `CLASS` is a NUL-terminated fixed-length string.

mod attrs;
mod read;
mod write;

pub use attrs::{write_attr, AttrValue, Attrs};
pub use read::{frame_from_channels, read_channel, read_channels, read_file, OTHER_CHANNELS_KEY};
pub use write::{append_channel, channel_from_image, write_channel_in, write_channels, write_frame};

use ndarray::Array2;

/// Name of the measurement group our writer creates.
pub const MEASUREMENT_GROUP: &str = "Measurement_000";

/// The pyNSID version whose layout we write (the one that wrote the DTMicroscope data); its reader
/// requires a `pyNSID_version` attribute on every image.
pub const PYNSID_LAYOUT_VERSION: &str = "0.0.7.2";

/// A dimension scale: the coordinate of every index along one image axis.
#[derive(Debug, Clone, PartialEq)]
pub struct NsidScale {
    /// Dataset name and dimension label, e.g. "x".
    pub name: String,
    /// Coordinates, in the scale's `units` attribute (pyNSID writes metres).
    pub values: Vec<f64>,
    /// Its attributes (name, quantity, units, dimension_type, …), structural ones excluded.
    pub attrs: Attrs,
}

/// One IMAGE channel of a pyNSID file.
#[derive(Debug, Clone, PartialEq)]
pub struct NsidChannel {
    /// The `quantity` attribute: the Asylum label, e.g. "HeightRetrace".
    pub quantity: String,
    /// The `units` attribute of the values, e.g. "m".
    pub units: String,
    /// Values `[line, point]` = `[y, x]` (the file stores `[x, y]`).
    pub data: Array2<f32>,
    /// Scale along the points of a line (file axis 0).
    pub x: NsidScale,
    /// Scale along the lines (file axis 1).
    pub y: NsidScale,
    /// Other attributes of the image dataset (data_type, main_data_name, modality, source, …).
    pub attrs: Attrs,
    /// Attributes of the group holding the dataset (machine_id, platform, timestamp, …).
    pub group_attrs: Attrs,
    /// Attributes of the sibling `original_metadata` group (the Asylum note).
    pub original_metadata: Attrs,
}

/// Which channel to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSelector<'a> {
    /// The k-th IMAGE dataset in file order (Channel_0, Channel_1, … in natural order).
    Index(usize),
    /// The first IMAGE dataset whose `quantity` is this, e.g. "HeightRetrace".
    Quantity(&'a str),
}
