//! Results a microscopist opens in the programs they already use: one call per saved image writes
//! `<stem>.ibw` (Igor binary wave v5, for Igor / Asylum Research software: x/y scaling in metres, the
//! value unit, and a note with the scan parameters, the title and the caller's entries) and
//! `<stem>.gwy` (Gwyddion: physical size, offsets, units, title and the same entries as metadata).
//! Both hold the `f32` values unchanged, so reading either back gives the array bit for bit.
//!
//! Units are the channel's own ("m", "V", "deg", "Hz" …): an amplitude reconstruction in volts is
//! written in volts, never labelled "m".

use super::IoError;
use afm_drivers::frame::unix_now_s;
use afm_drivers::ibw::{split_label, ByteOrder, WriteOptions};
use afm_drivers::{ChannelImage, Frame, Raster, ScanRegion};
use ndarray::ArrayView2;
use std::path::{Path, PathBuf};

/// One image to save for the lab.
#[derive(Debug, Clone)]
pub struct LabImage<'a> {
    /// The values, `[line, point]`, row 0 the bottom line (as every array of a run).
    pub data: ArrayView2<'a, f32>,
    /// The physical region the image covers (first and last points on its edges, Asylum's
    /// convention); its pitch is `width_m / (points − 1)`.
    pub region: ScanRegion,
    /// The channel: a name ("Height", "Amplitude") or an Asylum label ("HeightRetrace"), which sets
    /// the direction.
    pub channel: &'a str,
    /// Unit of the values: "m", "V", "deg", "Hz" … (the source channel's unit).
    pub unit: &'a str,
    /// What the image is, e.g. "SR reconstruction": the note's `Title` entry.
    pub title: &'a str,
    /// Further note / metadata entries (run, picks, source file …), written in this order. Line
    /// breaks and NULs become spaces, ':' in a key becomes '_' (Igor notes are `Key: Value` lines).
    pub note: &'a [(String, String)],
}

/// Note key holding [`LabImage::title`].
pub const TITLE_NOTE_KEY: &str = "Title";
/// Note key naming the software that wrote the files.
pub const SOFTWARE_NOTE_KEY: &str = "Software";

/// An Igor wave name for `stem`: ASCII letters, digits and '_' (others become '_'), starting with a
/// letter (else prefixed "w"), at most 31 bytes.
pub fn igor_wave_name(stem: &str) -> String {
    let mut name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert(0, 'w');
    }
    name.truncate(31);
    name
}

/// `text` on one line without NULs, trimmed.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if matches!(c, '\r' | '\n' | '\0') { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// The note entries written to both files: title, software, then the caller's, cleaned for a
/// `Key: Value` line; empty keys are dropped and a repeated key keeps its last value (at its last place).
fn note_entries(image: &LabImage<'_>) -> Vec<(String, String)> {
    let mut all = vec![
        (TITLE_NOTE_KEY.to_string(), one_line(image.title)),
        (SOFTWARE_NOTE_KEY.to_string(), format!("afm-spark {}", env!("CARGO_PKG_VERSION"))),
    ];
    all.extend(image.note.iter().map(|(k, v)| (one_line(k).replace(':', "_"), one_line(v))));
    let mut out: Vec<(String, String)> = Vec::with_capacity(all.len());
    for (k, v) in all.into_iter().filter(|(k, _)| !k.is_empty()) {
        out.retain(|(seen, _)| *seen != k);
        out.push((k, v));
    }
    out
}

/// Writes `image` as `dir/<stem>.ibw` and `dir/<stem>.gwy` and returns their paths in that order.
///
/// Errors (naming the file) if `stem` is empty or holds a path separator, the image is empty, the
/// region is not finite, a value is NaN or infinite (Gwyddion cannot hold it), the channel name
/// cannot be an Igor label, or a file cannot be written.
pub fn write_lab_image(dir: &Path, stem: &str, image: &LabImage<'_>) -> Result<Vec<PathBuf>, IoError> {
    let ibw_path = dir.join(format!("{stem}.ibw"));
    let gwy_path = dir.join(format!("{stem}.gwy"));
    if stem.is_empty() || stem.contains(['/', '\\', '\0']) {
        return Err(IoError::Unwritable { path: ibw_path, what: format!("file stem {stem:?} is empty or holds a path separator") });
    }
    let (lines, points) = image.data.dim();
    let (name, direction) = split_label(image.channel.trim());
    let frame = Frame {
        region: image.region,
        raster: Raster::new(points, lines),
        line_rate_hz: 0.0,
        channels: vec![ChannelImage { name, direction, unit: image.unit.trim().to_string(), data: image.data.to_owned() }],
        instrument_time_s: 0.0,
        acquired_at_unix_s: unix_now_s(),
    };
    let bad = image.data.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(IoError::Unwritable {
            path: gwy_path,
            what: format!("{bad} NaN or infinite values (Gwyddion fields cannot hold them)"),
        });
    }
    let note = note_entries(image);
    let options = WriteOptions { wave_name: igor_wave_name(stem), extra_note: note.clone(), byte_order: ByteOrder::Little };
    super::ibw::write_file(&ibw_path, &frame, &options)?;
    super::gwy::write_file(&gwy_path, &frame, &note)?;
    Ok(vec![ibw_path, gwy_path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn wave_names_are_igor_names() {
        assert_eq!(igor_wave_name("sr"), "sr");
        assert_eq!(igor_wave_name("bicubic-fair"), "bicubic_fair");
        assert_eq!(igor_wave_name("0n8"), "w0n8");
        assert_eq!(igor_wave_name(&"x".repeat(40)).len(), 31);
    }

    #[test]
    fn note_entries_are_one_line_and_last_wins() {
        let note = vec![("Run: id".to_string(), "a\r\nb".to_string()), ("Picks".into(), "1".into()), ("Picks".into(), "2".into())];
        let img = Array2::<f32>::zeros((2, 2));
        let image = LabImage {
            data: img.view(),
            region: ScanRegion::square(0.0, 0.0, 1e-6),
            channel: "Height",
            unit: "m",
            title: "SR\nreconstruction",
            note: &note,
        };
        let entries = note_entries(&image);
        assert_eq!(entries[0], ("Title".to_string(), "SR reconstruction".to_string()));
        assert!(entries.contains(&("Run_ id".to_string(), "a  b".to_string())));
        assert_eq!(entries.iter().filter(|(k, _)| k == "Picks").collect::<Vec<_>>(), vec![&("Picks".to_string(), "2".to_string())]);
    }

    #[test]
    fn bad_stems_and_values_name_the_file() {
        let dir = std::env::temp_dir();
        let mut img = Array2::<f32>::zeros((2, 2));
        fn image(data: ndarray::ArrayView2<'_, f32>) -> LabImage<'_> {
            LabImage { data, region: ScanRegion::square(0.0, 0.0, 1e-6), channel: "Height", unit: "m", title: "t", note: &[] }
        }
        let err = write_lab_image(&dir, "a/b", &image(img.view())).unwrap_err().to_string();
        assert!(err.contains("a/b"), "{err}");
        img[[1, 0]] = f32::NAN;
        let err = write_lab_image(&dir, "afm-spark-lab-nan", &image(img.view())).unwrap_err().to_string();
        assert!(err.contains("afm-spark-lab-nan.gwy") && err.contains("NaN"), "{err}");
        assert!(!dir.join("afm-spark-lab-nan.ibw").exists());
    }
}
