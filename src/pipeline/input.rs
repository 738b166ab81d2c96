//! What every front end hands the pipeline: the LR frame and the HR frames as acquired (or read from
//! files), each with the geometry it came with, and the HR grid the reconstruction is made on. A front
//! end adds only how its frames arrive: the closed loop from an instrument, `train` from an HR/LR file
//! pair, `fuse` from an overview and its zooms.

use crate::geo_image::GeoImage;
use afm_drivers::{PixelRect, Raster, ScanRegion};

/// Whether a channel measures height (levelled with a plane and line alignment by default, each HR
/// frame's offset and tilt fitted to the LR) or something else (amplitude, phase, deflection …:
/// the LR is brought onto the HR frames' gain and offset instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Height (topography, Z sensor).
    Height,
    /// Any other channel.
    Other,
}

impl ChannelKind {
    /// The kind of a channel named `name` (e.g. "Height", "HeightRetrace", "ZSensor", "Amplitude").
    pub fn of(name: &str) -> Self {
        let n = name.to_ascii_lowercase();
        if n.contains("height") || n.starts_with("zsensor") || n == "z" || n == "topography" {
            ChannelKind::Height
        } else {
            ChannelKind::Other
        }
    }

    /// Whether this is a height channel.
    pub fn is_height(self) -> bool {
        self == ChannelKind::Height
    }
}

/// One HR frame as acquired: a patch of the closed loop, a tile of an HR file, a zoom of `fuse`.
#[derive(Debug, Clone, PartialEq)]
pub struct HrFrameInput {
    /// How reports name it, e.g. "patch 3/20 (tile 17)".
    pub label: String,
    /// The raw values with the geometry the instrument (or file) reported.
    pub image: GeoImage,
    /// What was asked for, when the frame was requested (the closed loop): reported beside the
    /// returned geometry, never used in its place.
    pub requested: Option<ScanRegion>,
    /// The pieces that become training pairs and pasted patches, in the frame's own pixels (a patch:
    /// the whole frame; a zoom: its tiles).
    pub pieces: Vec<PixelRect>,
}

impl HrFrameInput {
    /// A frame used whole as one piece.
    pub fn whole(label: impl Into<String>, image: GeoImage, requested: Option<ScanRegion>) -> Self {
        let rect = PixelRect { col: 0, row: 0, cols: image.raster.points, rows: image.raster.lines };
        Self { label: label.into(), image, requested, pieces: vec![rect] }
    }
}

/// Everything the pipeline starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineInput {
    /// The LR frame as acquired (raw, with its reported geometry).
    pub lr: GeoImage,
    /// The channel's name, e.g. "Height" (decides [`ChannelKind`]).
    pub channel: String,
    /// The HR grid the reconstruction is made on.
    pub hr_region: ScanRegion,
    /// Its raster.
    pub hr_raster: Raster,
    /// The HR frames, in acquisition order.
    pub frames: Vec<HrFrameInput>,
    /// When and where each frame was scanned (frames from an instrument): lets a motion model of
    /// drift and creep fill in shift components the image content cannot pin down.
    pub motion: Option<super::motion::MotionLog>,
    /// Another channel of the same frames to register with (`[register] channel`), when not the one
    /// reconstructed.
    pub register_on: Option<RegistrationImages>,
}

/// The LR frame and every HR frame in the channel registration runs on, index-aligned with
/// [`PipelineInput::frames`] and with the same geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationImages {
    /// The channel's name (decides how it is levelled).
    pub channel: String,
    /// The LR frame in that channel, raw.
    pub lr: GeoImage,
    /// Every HR frame in that channel, raw.
    pub frames: Vec<GeoImage>,
}

impl PipelineInput {
    /// The channel's kind.
    pub fn kind(&self) -> ChannelKind {
        ChannelKind::of(&self.channel)
    }
}
