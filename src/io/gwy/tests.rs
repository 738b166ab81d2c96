//! Frames through `.gwy` bytes and back: values bit for bit, rows flipped in the file, geometry,
//! units, titles, foreign layouts (prefixed units, no units, channels on another grid, masks).

use super::serial::{self, Object, Value};
use super::*;
use ndarray::Array2;

fn frame() -> Frame {
    let h = Array2::from_shape_fn((3, 4), |(l, p)| 1e-9 * (10 * l + p) as f32 + 1.234_567e-10);
    let a = Array2::from_shape_fn((3, 4), |(l, p)| 0.1 * (l * p) as f32);
    Frame {
        region: ScanRegion { center_x_m: 1.5e-6, center_y_m: -2e-7, width_m: 3e-6, height_m: 2e-6, angle_deg: 30.0 },
        raster: Raster::new(4, 3),
        line_rate_hz: 2.5,
        channels: vec![
            ChannelImage { name: "Height".into(), direction: ScanDirection::Trace, unit: "m".into(), data: h },
            ChannelImage { name: "Amplitude".into(), direction: ScanDirection::Retrace, unit: "V".into(), data: a },
        ],
        instrument_time_s: 1.2,
        acquired_at_unix_s: 1_700_000_000.5,
    }
}

fn load(bytes: &[u8]) -> LoadedFile {
    from_bytes(Path::new("mem.gwy"), bytes).unwrap()
}

#[test]
fn our_frames_round_trip_exactly() {
    let f = frame();
    let bytes = encode_frame(&f, &[("Run".into(), "r1".into()), ("ScanRate".into(), "999".into())]).unwrap();
    let loaded = load(&bytes);
    assert_eq!(loaded.format, FileFormat::Gwy);
    assert!(loaded.geometry_known);
    assert!(loaded.frame == f, "{:?}\n!=\n{f:?}", loaded.frame);
    assert_eq!(loaded.metadata.get("Run").map(String::as_str), Some("r1"));
    // The scan parameters win over a caller entry of the same key.
    assert_eq!(loaded.metadata.get("ScanRate").map(String::as_str), Some("2.5"));
    assert_eq!(loaded.metadata.get(TITLE_KEY).map(String::as_str), Some("Height"));
}

#[test]
fn the_file_holds_rows_top_first_with_gwyddion_geometry() {
    let f = frame();
    let doc = decode(&encode_frame(&f, &[]).unwrap()).unwrap();
    let titles: Vec<_> = doc.channels.iter().map(|c| (c.id, c.title.as_str(), c.field.si_unit_z.as_str())).collect();
    assert_eq!(titles, [(0, "Height", "m"), (1, "AmplitudeRetrace", "V")]);
    let field = &doc.channels[0].field;
    // Gwyddion's row 0 is our top line (line 2).
    let h = &f.channels[0].data;
    assert_eq!(field.data[0], f64::from(h[[2, 0]]));
    assert_eq!(field.data[4], f64::from(h[[1, 0]]));
    assert_eq!(field.data[11], f64::from(h[[0, 3]]));
    // Pixel areas: pitch 1 µm × 4 points, 1 µm × 3 lines; the corner half a pixel beyond the first point.
    assert_eq!((field.xres, field.yres, field.si_unit_xy.as_str()), (4, 3, "m"));
    assert!((field.xreal - 4e-6).abs() < 1e-18 && (field.yreal - 3e-6).abs() < 1e-18);
    assert!((field.xoff - (1.5e-6 - 2e-6)).abs() < 1e-18 && (field.yoff - (-2e-7 - 1.5e-6)).abs() < 1e-18);
}

#[test]
fn foreign_files_prefixed_units_other_grids_and_masks() {
    // What another program might write: nm lateral units, values in nm, a mask, a channel on another
    // grid, no metadata.
    let data = Array2::from_shape_fn((2, 3), |(l, p)| (l * 3 + p) as f32);
    let mut field = DataField::from_bottom_up(data.view());
    (field.xreal, field.yreal, field.xoff, field.yoff) = (300.0, 200.0, 50.0, 0.0);
    (field.si_unit_xy, field.si_unit_z) = ("nm".into(), "nm".into());
    let mut small = DataField::from_bottom_up(Array2::<f32>::ones((1, 1)).view());
    small.si_unit_z = "deg".into();
    let root = Object::new("GwyContainer")
        .with("/5/data", Value::Object(field.to_object().unwrap()))
        .with("/5/data/title", Value::Str("Topography".into()))
        .with("/5/mask", Value::Object(field.to_object().unwrap()))
        .with("/2/data", Value::Object(small.to_object().unwrap()))
        .with("/0/base/palette", Value::Str("Gray".into()));
    let loaded = load(&serial::encode_file(&root).unwrap());
    // Channel 2 comes first (ids in order): its grid (1 × 1, no lateral unit) is the frame's.
    assert_eq!(loaded.frame.channels.len(), 1);
    assert_eq!(loaded.frame.channels[0].label(), "Channel2Trace");
    assert!(!loaded.geometry_known);
    assert_eq!(loaded.metadata.get(OTHER_CHANNELS_KEY).map(String::as_str), Some("Topography 3×2"));
    // Alone, the nm channel converts to metres.
    let root = Object { components: root.components.into_iter().filter(|(k, _)| !k.starts_with("/2/")).collect(), ..root };
    let loaded = load(&serial::encode_file(&root).unwrap());
    let f = &loaded.frame;
    assert!(loaded.geometry_known);
    let ch = &f.channels[0];
    assert_eq!((ch.name.as_str(), ch.unit.as_str()), ("Topography", "m"));
    assert_eq!(ch.data[[1, 2]], (5.0f64 * 1e-9) as f32);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-15;
    assert!(close(f.region.width_m, 200e-9) && close(f.region.height_m, 100e-9), "{:?}", f.region);
    assert!(close(f.region.center_x_m, 200e-9) && close(f.region.center_y_m, 100e-9), "{:?}", f.region);
    assert_eq!(loaded.channel(None).unwrap().name, "Topography"); // no "Height": the first channel in metres
}

#[test]
fn units_split_into_factor_and_base() {
    assert_eq!(base_unit("m"), (1.0, "m".into()));
    assert_eq!(base_unit("nm"), (1e-9, "m".into()));
    assert_eq!(base_unit("µm"), (1e-6, "m".into()));
    assert_eq!(base_unit("um"), (1e-6, "m".into()));
    assert_eq!(base_unit("mm"), (1e-3, "m".into()));
    assert_eq!(base_unit("mV"), (1e-3, "V".into()));
    assert_eq!(base_unit("kHz"), (1e3, "Hz".into()));
    assert_eq!(base_unit("deg"), (1.0, "deg".into()));
    assert_eq!(base_unit("m/s"), (1.0, "m/s".into()));
    assert_eq!(base_unit(""), (1.0, "".into()));
}

#[test]
fn unwritable_frames_are_refused() {
    let mut f = frame();
    f.channels[1].data[[0, 0]] = f32::NAN;
    let err = encode_frame(&f, &[]).unwrap_err().to_string();
    assert!(err.contains("AmplitudeRetrace") && err.contains("NaN"), "{err}");
    let mut f = frame();
    f.channels[0].data = Array2::zeros((2, 2));
    assert!(encode_frame(&f, &[]).unwrap_err().to_string().contains("raster"));
    let mut f = frame();
    f.channels.clear();
    assert!(encode_frame(&f, &[]).is_err());
    // A single line still gets a positive yreal.
    let one = Frame {
        raster: Raster::new(4, 1),
        channels: vec![ChannelImage {
            name: "Height".into(),
            direction: ScanDirection::Trace,
            unit: "m".into(),
            data: Array2::zeros((1, 4)),
        }],
        region: ScanRegion { height_m: 0.0, ..frame().region },
        ..frame()
    };
    let doc = decode(&encode_frame(&one, &[]).unwrap()).unwrap();
    assert!(doc.channels[0].field.yreal > 0.0);
}

#[test]
fn not_a_container_or_no_field_are_clear_errors() {
    let unit = Object::new("GwySIUnit").with("unitstr", Value::Str("m".into()));
    let err = from_bytes(Path::new("x.gwy"), &serial::encode_file(&unit).unwrap()).unwrap_err().to_string();
    assert!(err.contains("x.gwy") && err.contains("GwySIUnit"), "{err}");
    let empty = Object::new("GwyContainer").with("/0/graph/graph/1", Value::Object(unit));
    let err = from_bytes(Path::new("x.gwy"), &serial::encode_file(&empty).unwrap()).unwrap_err().to_string();
    assert!(err.contains("no image channel") && err.contains("/0/graph/graph/1"), "{err}");
    let wrong = Object::new("GwyContainer").with("/0/data", Value::Str("oops".into()));
    let err = from_bytes(Path::new("x.gwy"), &serial::encode_file(&wrong).unwrap()).unwrap_err().to_string();
    assert!(err.contains("/0/data") && err.contains("oops"), "{err}");
}
