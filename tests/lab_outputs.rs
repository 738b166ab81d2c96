//! `write_lab_image`: `<stem>.ibw` and `<stem>.gwy` for Igor and Gwyddion. Read back by our readers
//! they equal the `.npy` of the same array bit for bit; read back by independent readers (Python
//! `igor2` and `gwyfile`) they are equal to float32 precision with the right physical size and units;
//! Gwyddion itself (`gwyddion-thumbnailer`) renders both.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod lab_support;

use afm_drivers::ScanRegion;
use afm_spark::io::{self, lab_outputs::write_lab_image, lab_outputs::LabImage, FileFormat};
use lab_support::{data_file, python_with, render_with_gwyddion, run_python, scratch, thumbnailer};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// A synthetic "reconstruction": 96 × 80 (points × lines), distinct values, 1.5 µm × 1.2 µm.
fn synthetic() -> (Array2<f32>, ScanRegion) {
    let data = Array2::from_shape_fn((80, 96), |(l, p)| -8.3e-7 + 1e-10 * (l as f32 * 0.7 + (p as f32 * 0.37).sin() * 20.0));
    let region = ScanRegion { center_x_m: 5e-7, center_y_m: -2.5e-7, width_m: 1.5e-6, height_m: 1.2e-6, angle_deg: 0.0 };
    (data, region)
}

fn bits_equal(a: &Array2<f32>, b: &Array2<f32>) -> bool {
    a.dim() == b.dim() && a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn write(dir: &Path, stem: &str, data: &Array2<f32>, region: ScanRegion, channel: &str, unit: &str) -> Vec<PathBuf> {
    let note = vec![("Run".to_string(), "lab-test".to_string()), ("Picks".to_string(), "5, 12, 3".to_string())];
    let image = LabImage { data: data.view(), region, channel, unit, title: "SR reconstruction", note: &note };
    write_lab_image(dir, stem, &image).unwrap()
}

#[test]
fn our_readers_read_back_the_npy_bit_for_bit() {
    let dir = scratch("lab_outputs_ours");
    let (data, region) = synthetic();
    io::npy::write_array(&dir.join("sr.npy"), &data).unwrap();
    let npy = io::npy::read_array(&dir.join("sr.npy")).unwrap();
    let paths = write(&dir, "sr", &data, region, "Height", "m");
    assert_eq!(paths, vec![dir.join("sr.ibw"), dir.join("sr.gwy")]);
    for (path, format) in paths.iter().zip([FileFormat::Ibw, FileFormat::Gwy]) {
        let loaded = io::load(path).unwrap();
        assert_eq!(loaded.format, format);
        assert!(loaded.geometry_known);
        let ch = loaded.channel(None).unwrap();
        assert!(bits_equal(&ch.data, &npy), "{}: values differ from sr.npy", path.display());
        assert_eq!((ch.name.as_str(), ch.unit.as_str()), ("Height", "m"));
        let r = loaded.frame.region;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * 1.5e-6;
        assert!(close(r.width_m, region.width_m) && close(r.height_m, region.height_m), "{}: {r:?}", path.display());
        assert!(close(r.center_x_m, region.center_x_m) && close(r.center_y_m, region.center_y_m), "{}: {r:?}", path.display());
        assert_eq!(loaded.metadata.get("Title").map(String::as_str), Some("SR reconstruction"));
        assert_eq!(loaded.metadata.get("Picks").map(String::as_str), Some("5, 12, 3"));
    }
}

#[test]
fn units_are_carried_through_never_labelled_m() {
    let dir = scratch("lab_outputs_units");
    let (data, region) = synthetic();
    for (stem, channel, unit) in [("amp", "Amplitude", "V"), ("phase", "PhaseRetrace", "deg"), ("freq", "Frequency", "Hz")] {
        for path in write(&dir, stem, &data, region, channel, unit) {
            let loaded = io::load(&path).unwrap();
            let ch = &loaded.frame.channels[0];
            assert_eq!(
                (ch.label(), ch.unit.as_str()),
                (if stem == "phase" { "PhaseRetrace".to_string() } else { format!("{channel}Trace") }, unit)
            );
        }
    }
}

#[test]
fn independent_readers_igor2_and_gwyfile_agree() {
    let Some(python) = python_with("igor2, gwyfile, numpy") else { return };
    let dir = scratch("lab_outputs_independent");
    let (data, region) = synthetic();
    io::npy::write_array(&dir.join("sr.npy"), &data).unwrap();
    write(&dir, "sr", &data, region, "Height", "m");
    write(&dir, "amp", &data, region, "Amplitude", "V");
    // Both readers compare with sr.npy in NumPy (float32), and report geometry and units.
    let script = r#"
import sys, json, numpy as np, gwyfile
from igor2 import binarywave
d = sys.argv[1]
ref = np.load(d + '/sr.npy')
out = {}
for stem in ('sr', 'amp'):
    w = binarywave.load(d + '/' + stem + '.ibw')['wave']
    h = w['wave_header']
    img = w['wData'][:, :, 0].T          # Igor [points, lines] -> [lines, points], row 0 the bottom line
    units = lambda a: b''.join(a).decode()
    out[stem + '.ibw'] = dict(equal=bool(np.array_equal(img.astype(np.float32), ref)),
                             dtype=str(w['wData'].dtype), sfA=list(h['sfA'][:2]),
                             xy=[units(h['dimUnits'][0]), units(h['dimUnits'][1])], z=units(h['dataUnits']),
                             name=h['bname'].decode(), title_in_note=b'Title: SR reconstruction' in w['note'])
    g = gwyfile.load(d + '/' + stem + '.gwy')
    f = g['/0/data']
    out[stem + '.gwy'] = dict(equal=bool(np.array_equal(f.data[::-1].astype(np.float32), ref)),
                             max_abs_diff=float(np.max(np.abs(f.data[::-1] - ref.astype(np.float64)))),
                             xreal=f.xreal, yreal=f.yreal, xy=f.si_unit_xy.unitstr, z=f.si_unit_z.unitstr,
                             title=g['/0/data/title'], meta_title=g['/0/meta']['Title'])
print(json.dumps(out))
"#;
    let stdout = run_python(&python, script, &[&dir]);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&v).unwrap());
    let pitch = 1.5e-6 / 95.0;
    for (stem, unit) in [("sr", "m"), ("amp", "V")] {
        let ibw = &v[format!("{stem}.ibw")];
        assert_eq!(ibw["equal"], true, "{stem}.ibw: igor2 reads other values");
        assert_eq!(ibw["dtype"], "float32");
        let sfa: Vec<f64> = ibw["sfA"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert!((sfa[0] - pitch).abs() < 1e-20 && (sfa[1] - 1.2e-6 / 79.0).abs() < 1e-20, "{ibw}");
        assert_eq!((ibw["xy"][0].as_str(), ibw["xy"][1].as_str(), ibw["z"].as_str()), (Some("m"), Some("m"), Some(unit)));
        assert_eq!(ibw["name"], stem);
        assert_eq!(ibw["title_in_note"], true);
        let gwy = &v[format!("{stem}.gwy")];
        assert_eq!(gwy["equal"], true, "{stem}.gwy: gwyfile reads other values");
        assert_eq!(gwy["max_abs_diff"].as_f64(), Some(0.0));
        let (xreal, yreal) = (gwy["xreal"].as_f64().unwrap(), gwy["yreal"].as_f64().unwrap());
        assert!((xreal - 96.0 * pitch).abs() < 1e-18 && (yreal - 80.0 * 1.2e-6 / 79.0).abs() < 1e-18, "{gwy}");
        assert_eq!((gwy["xy"].as_str(), gwy["z"].as_str()), (Some("m"), Some(unit)));
        assert_eq!(gwy["meta_title"], "SR reconstruction");
    }
    assert_eq!(v["sr.gwy"]["title"], "Height");
    assert_eq!(v["amp.gwy"]["title"], "Amplitude");
}

#[test]
fn gwyddion_renders_our_gwy_and_ibw() {
    let Some(thumbnailer) = thumbnailer() else { return };
    let dir = scratch("lab_outputs_gwyddion");
    let (data, region) = synthetic();
    let mut paths: Vec<(PathBuf, (u32, u32))> =
        write(&dir, "sr", &data, region, "Height", "m").into_iter().map(|p| (p, (96, 80))).collect();
    // And the real 256² height channel of the Asylum file, as the pipeline would save it.
    if let Some(real) = data_file("P0089OP0027.ibw") {
        let loaded = io::load(&real).unwrap();
        let ch = loaded.channel(Some("Height")).unwrap();
        paths.extend(write(&dir, "real", &ch.data, loaded.frame.region, "Height", &ch.unit).into_iter().map(|p| (p, (256, 256))));
    }
    // The thumbnailer scales down to 256 px, never up: the PNG has the image's own size here.
    let mut pixels = std::collections::BTreeMap::new();
    for (path, size) in &paths {
        let png = path.with_extension(format!("{}.png", path.extension().unwrap().to_string_lossy()));
        let (bytes, (w, h)) = render_with_gwyddion(&thumbnailer, path, &png);
        eprintln!("{} → {} ({bytes} bytes, {w}×{h})", path.display(), png.display());
        assert!(bytes > 1000 && (w, h) == *size, "{}: {bytes} bytes, {w}×{h}", png.display());
        pixels.insert(path.file_name().unwrap().to_string_lossy().into_owned(), image::open(&png).unwrap().to_rgb8().into_raw());
    }
    // Gwyddion shows our .gwy exactly as it shows our .ibw (which it flips on import itself): the
    // rows of the .gwy are in Gwyddion's order.
    assert!(pixels["sr.gwy"] == pixels["sr.ibw"], "Gwyddion draws sr.gwy and sr.ibw differently");
    // …and as it shows the instrument's own file.
    if let Some(real) = data_file("P0089OP0027.ibw") {
        let png = dir.join("P0089OP0027.ibw.png");
        render_with_gwyddion(&thumbnailer, &real, &png);
        let original = image::open(&png).unwrap().to_rgb8().into_raw();
        assert!(
            pixels["real.gwy"] == original && pixels["real.ibw"] == original,
            "Gwyddion draws our copies of the real image differently"
        );
    }
}
