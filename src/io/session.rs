//! The session file (HDF5): the single record of a run — the validated config, the LR frame, the
//! indicator table and ordered picks, one group per acquired HR patch, the model checkpoint path, the
//! reconstruction and the metrics.
//!
//! Crash safety: every change is made on a copy of the file which is then flushed, synced and renamed
//! over the original. At any instant `session.h5` is a complete, readable file holding every patch
//! journaled so far; a run killed mid-write loses only the change being written.
//!
//! Layout:
//! ```text
//! /                     attrs format = "afm-spark session", format_version, config_hash, created_unix_s
//! /config               string: the validated run config (TOML)
//! /lr                   frame group (see below)
//! /selection            indicators [tiles, 5] f64 (attr columns), eligible [tiles] u8, picks [n] u64
//! /patches/pNNN         frame group + attrs pick_order, tile_index, rect_col/row/cols/rows
//! /model                attrs checkpoint_path
//! /reconstruction/NAME  [lines, points] f32 arrays (sr, ground_truth, …), attr unit
//! /metrics              string: metrics.json
//! ```
//! A frame group has attrs center_x_m, center_y_m, width_m, height_m, angle_deg, points, lines,
//! line_rate_hz, instrument_time_s, acquired_at_unix_s and one dataset per channel, named by its
//! label (e.g. `HeightTrace`), shaped `[lines, points]` (row 0 = bottom line), attrs name, direction, unit.
//! Peripheral readings taken right after a frame are attributes of its group:
//! `peripheral:<name>` (f64) and `peripheral:<name>:unit` (string).

use afm_drivers::peripherals::Reading;
use afm_drivers::{ChannelImage, Frame, PixelRect, Raster, ScanDirection, ScanRegion};
use hdf5::types::VarLenUnicode;
use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// Format tag stored in the root attributes.
pub const SESSION_FORMAT: &str = "afm-spark session";
/// Version of the layout above.
pub const SESSION_FORMAT_VERSION: u32 = 1;

/// What went wrong with a session file.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The file already exists (never overwritten: it holds acquisitions).
    #[error("{}: session file already exists; resume it with --resume or choose another --out", .0.display())]
    Exists(PathBuf),
    /// An operating-system error on the file.
    #[error("{}: {reason}", path.display())]
    Os {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// An HDF5 error, or a file that is not a session file.
    #[error("{}: {what}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was being read or written.
        what: String,
        /// The library's message.
        reason: String,
    },
}

/// One acquired HR patch as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRecord {
    /// Position in the pick order (0 = first pick).
    pub pick_order: usize,
    /// Index of the tile in the tiling.
    pub tile_index: usize,
    /// Pixels of the HR grid the patch covers.
    pub rect: PixelRect,
    /// The frame as acquired.
    pub frame: Frame,
    /// Peripheral readings taken right after the frame.
    pub readings: Vec<Reading>,
}

/// The indicator table and picks.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRecord {
    /// `[tiles, 5]` indicator values (mean, std, grad, lap, texture).
    pub indicators: Array2<f64>,
    /// Whether each tile may be picked.
    pub eligible: Vec<bool>,
    /// Tile indices in pick order.
    pub picks: Vec<usize>,
}

/// An open session file.
#[derive(Debug, Clone)]
pub struct Session {
    path: PathBuf,
}

type H5Result<T> = hdf5::Result<T>;

fn vstr(s: &str) -> H5Result<VarLenUnicode> {
    // Interior NULs cannot be stored; replace them rather than fail.
    VarLenUnicode::from_str(&s.replace('\0', " ")).map_err(|e| hdf5::Error::from(e.to_string().as_str()))
}

fn set_attr_f64(loc: &hdf5::Location, name: &str, v: f64) -> H5Result<()> {
    loc.new_attr::<f64>().create(name)?.write_scalar(&v)
}
fn set_attr_u64(loc: &hdf5::Location, name: &str, v: u64) -> H5Result<()> {
    loc.new_attr::<u64>().create(name)?.write_scalar(&v)
}
fn set_attr_str(loc: &hdf5::Location, name: &str, v: &str) -> H5Result<()> {
    loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&vstr(v)?)
}
fn attr_f64(loc: &hdf5::Location, name: &str) -> H5Result<f64> {
    loc.attr(name)?.read_scalar::<f64>()
}
fn attr_u64(loc: &hdf5::Location, name: &str) -> H5Result<u64> {
    loc.attr(name)?.read_scalar::<u64>()
}
fn attr_str(loc: &hdf5::Location, name: &str) -> H5Result<String> {
    Ok(loc.attr(name)?.read_scalar::<VarLenUnicode>()?.as_str().to_string())
}
fn write_string(g: &hdf5::Group, name: &str, text: &str) -> H5Result<()> {
    if g.link_exists(name) {
        g.unlink(name)?;
    }
    g.new_dataset::<VarLenUnicode>().create(name)?.write_scalar(&vstr(text)?)
}
fn read_string(g: &hdf5::Group, name: &str) -> H5Result<String> {
    Ok(g.dataset(name)?.read_scalar::<VarLenUnicode>()?.as_str().to_string())
}

/// Writes `frame` into a new group `name` under `parent`.
pub fn write_frame(parent: &hdf5::Group, name: &str, frame: &Frame) -> H5Result<hdf5::Group> {
    let g = parent.create_group(name)?;
    let r = &frame.region;
    for (k, v) in [
        ("center_x_m", r.center_x_m),
        ("center_y_m", r.center_y_m),
        ("width_m", r.width_m),
        ("height_m", r.height_m),
        ("angle_deg", r.angle_deg),
        ("line_rate_hz", frame.line_rate_hz),
        ("instrument_time_s", frame.instrument_time_s),
        ("acquired_at_unix_s", frame.acquired_at_unix_s),
    ] {
        set_attr_f64(&g, k, v)?;
    }
    set_attr_u64(&g, "points", frame.raster.points as u64)?;
    set_attr_u64(&g, "lines", frame.raster.lines as u64)?;
    for ch in &frame.channels {
        let ds = g.new_dataset_builder().with_data(&ch.data).create(ch.label().as_str())?;
        set_attr_str(&ds, "name", &ch.name)?;
        set_attr_str(&ds, "direction", ch.direction.suffix())?;
        set_attr_str(&ds, "unit", &ch.unit)?;
    }
    Ok(g)
}

const READING_PREFIX: &str = "peripheral:";

/// Stores peripheral readings as attributes of a frame group.
pub fn write_readings(g: &hdf5::Group, readings: &[Reading]) -> H5Result<()> {
    for r in readings {
        set_attr_f64(g, &format!("{READING_PREFIX}{}", r.name), r.value)?;
        set_attr_str(g, &format!("{READING_PREFIX}{}:unit", r.name), &r.unit)?;
    }
    Ok(())
}

/// Peripheral readings stored on a frame group, sorted by name.
pub fn read_readings(g: &hdf5::Group) -> H5Result<Vec<Reading>> {
    let mut out = Vec::new();
    let mut names = g.attr_names()?;
    names.sort();
    for n in names {
        if let Some(name) = n.strip_prefix(READING_PREFIX).filter(|r| !r.ends_with(":unit")) {
            out.push(Reading { name: name.to_string(), value: attr_f64(g, &n)?, unit: attr_str(g, &format!("{n}:unit"))? });
        }
    }
    Ok(out)
}

/// Reads a frame group written by [`write_frame`].
pub fn read_frame(g: &hdf5::Group) -> H5Result<Frame> {
    let region = ScanRegion {
        center_x_m: attr_f64(g, "center_x_m")?,
        center_y_m: attr_f64(g, "center_y_m")?,
        width_m: attr_f64(g, "width_m")?,
        height_m: attr_f64(g, "height_m")?,
        angle_deg: attr_f64(g, "angle_deg")?,
    };
    let raster = Raster::new(attr_u64(g, "points")? as usize, attr_u64(g, "lines")? as usize);
    let mut channels = Vec::new();
    let mut names = g.member_names()?;
    names.sort();
    for label in names {
        let ds = g.dataset(&label)?;
        let data: Array2<f32> = ds.read_2d()?;
        if data.dim() != (raster.lines, raster.points) {
            return Err(format!("channel {label} is {:?}, raster says {}×{}", data.dim(), raster.lines, raster.points).as_str().into());
        }
        let direction = match attr_str(&ds, "direction")?.as_str() {
            "Trace" => ScanDirection::Trace,
            "Retrace" => ScanDirection::Retrace,
            other => return Err(format!("channel {label}: unknown direction {other:?}").as_str().into()),
        };
        channels.push(ChannelImage { name: attr_str(&ds, "name")?, direction, unit: attr_str(&ds, "unit")?, data });
    }
    Ok(Frame {
        region,
        raster,
        line_rate_hz: attr_f64(g, "line_rate_hz")?,
        channels,
        instrument_time_s: attr_f64(g, "instrument_time_s")?,
        acquired_at_unix_s: attr_f64(g, "acquired_at_unix_s")?,
    })
}

impl Session {
    /// Creates a new session file for a run with this validated config. Refuses to overwrite.
    pub fn create(path: &Path, config_toml: &str, config_hash: &str) -> Result<Self, SessionError> {
        if path.exists() {
            return Err(SessionError::Exists(path.to_path_buf()));
        }
        let session = Self { path: path.to_path_buf() };
        let tmp = session.tmp_path();
        let _ = std::fs::remove_file(&tmp);
        let file = hdf5::File::create(&tmp).map_err(|e| session.h5("creating the session file", e))?;
        (|| -> H5Result<()> {
            set_attr_str(&file, "format", SESSION_FORMAT)?;
            set_attr_u64(&file, "format_version", SESSION_FORMAT_VERSION as u64)?;
            set_attr_str(&file, "config_hash", config_hash)?;
            set_attr_f64(&file, "created_unix_s", afm_drivers::frame::unix_now_s())?;
            write_string(&file, "config", config_toml)?;
            file.create_group("patches")?;
            Ok(())
        })()
        .map_err(|e| session.h5("writing the session header", e))?;
        file.flush().map_err(|e| session.h5("flushing", e))?;
        drop(file);
        session.commit_tmp()?;
        Ok(session)
    }

    /// Opens an existing session file, checking that it is one.
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        let session = Self { path: path.to_path_buf() };
        session.read(
            |f| {
                let format = attr_str(f, "format")?;
                if format != SESSION_FORMAT {
                    return Err(format!("format attribute is {format:?}, not {SESSION_FORMAT:?}").as_str().into());
                }
                let v = attr_u64(f, "format_version")?;
                if v != SESSION_FORMAT_VERSION as u64 {
                    return Err(format!("format_version {v} is not supported (expected {SESSION_FORMAT_VERSION})").as_str().into());
                }
                Ok(())
            },
            "checking the session header",
        )?;
        Ok(session)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn os(&self, what: &str, e: std::io::Error) -> SessionError {
        SessionError::Os { path: self.path.clone(), reason: format!("{what}: {e}") }
    }

    fn h5(&self, what: &str, e: hdf5::Error) -> SessionError {
        SessionError::Format { path: self.path.clone(), what: what.into(), reason: e.to_string() }
    }

    fn commit_tmp(&self) -> Result<(), SessionError> {
        let tmp = self.tmp_path();
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| self.os("syncing", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.os("replacing the session file", e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Applies `change` to a copy of the file, then atomically replaces the file with it.
    fn update(&self, what: &str, change: impl FnOnce(&hdf5::File) -> H5Result<()>) -> Result<(), SessionError> {
        let tmp = self.tmp_path();
        std::fs::copy(&self.path, &tmp).map_err(|e| self.os("copying for an update", e))?;
        {
            let file = hdf5::File::open_rw(&tmp).map_err(|e| self.h5(what, e))?;
            change(&file).map_err(|e| self.h5(what, e))?;
            file.flush().map_err(|e| self.h5("flushing", e))?;
        }
        self.commit_tmp()
    }

    fn read<T>(&self, read: impl FnOnce(&hdf5::File) -> H5Result<T>, what: &str) -> Result<T, SessionError> {
        if !self.path.exists() {
            return Err(SessionError::Os { path: self.path.clone(), reason: "no such file".into() });
        }
        let file = hdf5::File::open(&self.path).map_err(|e| self.h5("opening", e))?;
        read(&file).map_err(|e| self.h5(what, e))
    }

    /// The hash of the config the session was created with.
    pub fn config_hash(&self) -> Result<String, SessionError> {
        self.read(|f| attr_str(f, "config_hash"), "reading config_hash")
    }

    /// The validated config (TOML) the session was created with.
    pub fn config_toml(&self) -> Result<String, SessionError> {
        self.read(|f| read_string(f, "config"), "reading /config")
    }

    /// Journals the LR frame and the peripheral readings taken with it.
    pub fn write_lr(&self, frame: &Frame, readings: &[Reading]) -> Result<(), SessionError> {
        self.update("writing /lr", |f| write_readings(&write_frame(f, "lr", frame)?, readings))
    }

    /// The peripheral readings journaled with the LR frame.
    pub fn lr_readings(&self) -> Result<Vec<Reading>, SessionError> {
        self.read(|f| if f.link_exists("lr") { read_readings(&f.group("lr")?) } else { Ok(Vec::new()) }, "reading /lr")
    }

    /// The LR frame, if journaled.
    pub fn lr(&self) -> Result<Option<Frame>, SessionError> {
        self.read(|f| if f.link_exists("lr") { read_frame(&f.group("lr")?).map(Some) } else { Ok(None) }, "reading /lr")
    }

    /// Journals the indicator table and picks.
    pub fn write_selection(&self, sel: &SelectionRecord) -> Result<(), SessionError> {
        self.update("writing /selection", |f| {
            let g = f.create_group("selection")?;
            let ind = g.new_dataset_builder().with_data(&sel.indicators).create("indicators")?;
            set_attr_str(&ind, "columns", "mean,std,grad,lap,texture")?;
            let eligible: Array1<u8> = sel.eligible.iter().map(|&e| e as u8).collect();
            g.new_dataset_builder().with_data(&eligible).create("eligible")?;
            let picks: Array1<u64> = sel.picks.iter().map(|&p| p as u64).collect();
            g.new_dataset_builder().with_data(&picks).create("picks")?;
            Ok(())
        })
    }

    /// The indicator table and picks, if journaled.
    pub fn selection(&self) -> Result<Option<SelectionRecord>, SessionError> {
        self.read(
            |f| {
                if !f.link_exists("selection") {
                    return Ok(None);
                }
                let g = f.group("selection")?;
                Ok(Some(SelectionRecord {
                    indicators: g.dataset("indicators")?.read_2d()?,
                    eligible: g.dataset("eligible")?.read_raw::<u8>()?.into_iter().map(|e| e != 0).collect(),
                    picks: g.dataset("picks")?.read_raw::<u64>()?.into_iter().map(|p| p as usize).collect(),
                }))
            },
            "reading /selection",
        )
    }

    fn patch_name(pick_order: usize) -> String {
        format!("p{pick_order:03}")
    }

    /// Journals one acquired patch (flushed and committed before this returns).
    pub fn append_patch(&self, patch: &PatchRecord) -> Result<(), SessionError> {
        self.update(&format!("writing patch {}", patch.pick_order), |f| {
            let g = write_frame(&f.group("patches")?, &Self::patch_name(patch.pick_order), &patch.frame)?;
            set_attr_u64(&g, "pick_order", patch.pick_order as u64)?;
            set_attr_u64(&g, "tile_index", patch.tile_index as u64)?;
            for (k, v) in
                [("rect_col", patch.rect.col), ("rect_row", patch.rect.row), ("rect_cols", patch.rect.cols), ("rect_rows", patch.rect.rows)]
            {
                set_attr_u64(&g, k, v as u64)?;
            }
            write_readings(&g, &patch.readings)
        })
    }

    /// Every journaled patch, in pick order.
    pub fn patches(&self) -> Result<Vec<PatchRecord>, SessionError> {
        self.read(
            |f| {
                let g = f.group("patches")?;
                let mut names = g.member_names()?;
                names.sort();
                names
                    .iter()
                    .map(|n| {
                        let p = g.group(n)?;
                        let u = |k: &str| attr_u64(&p, k).map(|v| v as usize);
                        Ok(PatchRecord {
                            pick_order: u("pick_order")?,
                            tile_index: u("tile_index")?,
                            rect: PixelRect { col: u("rect_col")?, row: u("rect_row")?, cols: u("rect_cols")?, rows: u("rect_rows")? },
                            frame: read_frame(&p)?,
                            readings: read_readings(&p)?,
                        })
                    })
                    .collect()
            },
            "reading /patches",
        )
    }

    /// Records where the model checkpoint was written.
    pub fn write_checkpoint_path(&self, checkpoint: &Path) -> Result<(), SessionError> {
        self.update("writing /model", |f| {
            let g = if f.link_exists("model") { f.group("model")? } else { f.create_group("model")? };
            if g.attr("checkpoint_path").is_ok() {
                g.delete_attr("checkpoint_path")?;
            }
            set_attr_str(&g, "checkpoint_path", &checkpoint.display().to_string())
        })
    }

    /// Stores reconstruction arrays (e.g. "sr", "ground_truth") under /reconstruction, replacing any
    /// of the same name.
    pub fn write_arrays(&self, arrays: &[(&str, &Array2<f32>, &str)]) -> Result<(), SessionError> {
        self.update("writing /reconstruction", |f| {
            let g = if f.link_exists("reconstruction") { f.group("reconstruction")? } else { f.create_group("reconstruction")? };
            for (name, data, unit) in arrays {
                if g.link_exists(name) {
                    g.unlink(name)?;
                }
                let ds = g.new_dataset_builder().with_data(*data).create(*name)?;
                set_attr_str(&ds, "unit", unit)?;
            }
            Ok(())
        })
    }

    /// A reconstruction array by name, if stored.
    pub fn array(&self, name: &str) -> Result<Option<Array2<f32>>, SessionError> {
        self.read(
            |f| {
                let path = format!("reconstruction/{name}");
                if f.link_exists("reconstruction") && f.group("reconstruction")?.link_exists(name) {
                    f.dataset(&path)?.read_2d().map(Some)
                } else {
                    Ok(None)
                }
            },
            "reading /reconstruction",
        )
    }

    /// Stores the metrics JSON.
    pub fn write_metrics(&self, json: &str) -> Result<(), SessionError> {
        self.update("writing /metrics", |f| write_string(f, "metrics", json))
    }

    /// The metrics JSON, if stored.
    pub fn metrics(&self) -> Result<Option<String>, SessionError> {
        self.read(|f| if f.link_exists("metrics") { read_string(f, "metrics").map(Some) } else { Ok(None) }, "reading /metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use afm_drivers::frame::unix_now_s;

    fn frame(n: usize, v: f32) -> Frame {
        Frame {
            region: ScanRegion::square(1e-6, 2e-6, 3e-6),
            raster: Raster::new(n, n + 1),
            line_rate_hz: 2.5,
            channels: vec![ChannelImage {
                name: "Height".into(),
                direction: ScanDirection::Retrace,
                unit: "m".into(),
                data: Array2::from_shape_fn((n + 1, n), |(r, c)| v + (r * n + c) as f32),
            }],
            instrument_time_s: 12.5,
            acquired_at_unix_s: unix_now_s(),
        }
    }

    #[test]
    fn journal_round_trips_and_lists_partial_state() {
        let dir = std::env::temp_dir().join(format!("afm-session-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("session.h5");
        let s = Session::create(&path, "[frame]\nx = 1\n", "abc123").unwrap();
        assert!(matches!(Session::create(&path, "", ""), Err(SessionError::Exists(_))));
        assert_eq!(s.lr().unwrap(), None);
        let lr = frame(8, 0.5);
        let temp = Reading { name: "stage_temperature".into(), value: 23.5, unit: "degC".into() };
        s.write_lr(&lr, std::slice::from_ref(&temp)).unwrap();
        let rect = PixelRect { col: 8, row: 16, cols: 4, rows: 5 };
        for k in 0..3 {
            let readings = vec![Reading { value: 23.5 + k as f64, ..temp.clone() }];
            s.append_patch(&PatchRecord { pick_order: k, tile_index: 10 + k, rect, frame: frame(4, k as f32), readings }).unwrap();
        }
        let reopened = Session::open(&path).unwrap();
        assert_eq!(reopened.config_hash().unwrap(), "abc123");
        assert_eq!(reopened.config_toml().unwrap(), "[frame]\nx = 1\n");
        assert_eq!(reopened.lr().unwrap().unwrap(), lr);
        let patches = reopened.patches().unwrap();
        assert_eq!(patches.len(), 3);
        assert_eq!(patches[2].tile_index, 12);
        assert_eq!(patches[2].rect, rect);
        assert_eq!(patches[2].readings[0].value, 25.5);
        assert_eq!(reopened.lr_readings().unwrap(), vec![temp]);
        assert_eq!(patches[1].frame, frame(4, 1.0).clone_with_time(patches[1].frame.acquired_at_unix_s));
        assert!(!dir.join("session.h5.tmp").exists());
        std::fs::write(dir.join("junk.h5"), b"not hdf5").unwrap();
        assert!(Session::open(&dir.join("junk.h5")).is_err());
        drop(reopened);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    trait WithTime {
        fn clone_with_time(self, t: f64) -> Self;
    }
    impl WithTime for Frame {
        fn clone_with_time(mut self, t: f64) -> Self {
            self.acquired_at_unix_s = t;
            self
        }
    }
}
