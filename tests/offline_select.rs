//! `afm-spark select` end to end on the real MFP-3D image: one table row per tile, the picks numbered
//! 1 … n exactly once, identical across invocations, config `[select]` overridden by flags, a PNG of
//! the right size, and one clear error line for bad input; and `train`'s picks on a real overview/zoom
//! pair made on the overview's part over the zoom.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data_file(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/")).join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", path.display());
        None
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afm-offline-select-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn select(args: &[&str], extra: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_afm-spark"));
    cmd.arg("-q").arg("select").args(args);
    for p in extra {
        cmd.arg(p);
    }
    cmd.output().expect("cannot run afm-spark")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The table rows: (tile, pick order or None), parsed from stdout.
fn table_rows(stdout: &str) -> Vec<(usize, Option<usize>)> {
    stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("tile"))
        .skip(1)
        .take_while(|l| !l.starts_with("picks"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 10, "row {l:?}");
            assert_eq!(f[8], "yes", "every tile is eligible offline: {l:?}");
            (f[0].parse().unwrap(), f[9].parse().ok())
        })
        .collect()
}

fn picks_in_order(rows: &[(usize, Option<usize>)]) -> Vec<usize> {
    let mut picked: Vec<(usize, usize)> = rows.iter().filter_map(|&(t, p)| p.map(|p| (p, t))).collect();
    picked.sort();
    for (k, (p, _)) in picked.iter().enumerate() {
        assert_eq!(*p, k + 1, "pick orders must be 1 … n once each: {picked:?}");
    }
    picked.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn select_on_the_real_ibw_prints_every_tile_and_draws_the_picks() {
    let Some(ibw) = data_file("P0089OP0027.ibw") else { return };
    let dir = temp_dir("ibw");
    let png = dir.join("picks.png");
    let args = ["--channel", "HeightRetrace", "--png"];
    let first = select(&args, &[&png, Path::new("--lr"), &ibw]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 64, "8 × 8 tiles:\n{stdout}");
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), (0..64).collect::<Vec<_>>());
    let picks = picks_in_order(&rows);
    assert_eq!(picks.len(), 20);
    assert!(stdout.contains("grid         8×8 tiles of about 32×32 LR px, levelled plane+lines"), "{stdout}");
    let listed = format!("picks (20, scan order): {}", picks.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "));
    assert!(stdout.contains(&listed), "{stdout}");

    let png_bytes = std::fs::read(&png).unwrap();
    let image = image::load_from_memory(&png_bytes).unwrap();
    // one panel of the 256-px LR shown at least 256 px wide, with its colour bar
    assert!(image.width() >= 256 && image.height() >= 256, "{}×{}", image.width(), image.height());

    let second = select(&args, &[&png, Path::new("--lr"), &ibw]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(text(&second.stdout), stdout, "picks and table must repeat exactly");
    assert_eq!(std::fs::read(&png).unwrap(), png_bytes);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_select_section_is_used_and_flags_override_it() {
    let Some(ibw) = data_file("P0089OP0027.ibw") else { return };
    let dir = temp_dir("config");
    let cfg = dir.join("run.toml");
    std::fs::write(
        &cfg,
        "[frame]\nscan_size_m = 2e-6\n[select]\ngrid = 4\nn_select = 5\n[level]\nmode = \"plane\"\n[instrument]\nsettle_s = 1.0\n",
    )
    .unwrap();
    let out = select(&["--out"], &[&dir, Path::new("--config"), &cfg, Path::new("--lr"), &ibw]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 16);
    assert_eq!(picks_in_order(&rows).len(), 5);
    assert!(stdout.contains("4×4 tiles of about 64×64 LR px, levelled plane"), "{stdout}");
    assert!(dir.join("P0089OP0027_picks.png").exists(), "default PNG name in --out");
    let out = select(&["--n-select", "3", "--strategy", "uniform", "--out"], &[&dir, Path::new("--config"), &cfg, Path::new("--lr"), &ibw]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = table_rows(&text(&out.stdout));
    assert_eq!((rows.len(), picks_in_order(&rows).len()), (16, 3));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gives_one_clear_line_and_a_failure_status() {
    let dir = temp_dir("bad");
    let missing = dir.join("missing.npy");
    let out = select(&["--lr"], &[&missing]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains("missing.npy"), "{err}");

    let lr = dir.join("lr.npy");
    let data = ndarray::Array2::from_shape_fn((16, 16), |(r, c)| ((r * 3 + c) % 7) as f32 * 1e-9);
    afm_spark::io::npy::write_array(&lr, &data).unwrap();
    let out = select(&["--n-select", "65", "--out"], &[&dir, Path::new("--lr"), &lr]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim(), "error: n_select = 65: must be 1 … 64 (the tiles of a 8×8 grid)");
    let out = select(&["--grid", "32", "--out"], &[&dir, Path::new("--lr"), &lr]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("grid = 32: tiles of the 16×16 px LR must be at least 2 px"), "{}", text(&out.stderr));
    let out = select(&["--grid", "4", "--n-select", "2", "--out"], &[&dir, Path::new("--lr"), &lr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("4×4 tiles of about 4×4 LR px"), "{}", text(&out.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Pearson correlation of two equally shaped images (the project's own, on their values).
fn correlation(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> f64 {
    let values = |x: &ndarray::Array2<f32>| x.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    afm_spark::pipeline::pearson(&values(a), &values(b))
}

#[test]
fn the_real_overview_is_picked_on_over_its_zoom_not_as_a_whole() {
    use afm_drivers::Raster;
    use afm_spark::offline::{pair_selection, ImagePair, LrGeometry};
    use afm_spark::upsample::{GridMap, Interpolation};
    let (Some(zoom), Some(overview)) = (data_file("PTO_Funakubo0005.h5"), data_file("PTO_Funakubo0004.h5")) else { return };
    let pair = ImagePair::load(&zoom, &overview, Some("AmplitudeRetrace"), LrGeometry::Auto).unwrap();
    assert_eq!(pair.geometry, LrGeometry::Physical);
    let opts = afm_spark::select::SelectOptions::default();
    let (sel, lr) = pair_selection(&pair, &opts, &afm_spark::level::LevelConfig::default()).unwrap();
    // the zoom's 1 µm at the 3 µm overview's pitch (3 µm / 255) is 86 px: 88 px, 8 tiles of 11, on the zoom's region
    assert_eq!((lr.raster, lr.region), (Raster::square(88), pair.hr.region));
    assert_eq!(sel.tiling.rect(opts.grid * opts.grid - 1).cols, 11);
    // what the picks were made on is the zoom's area: it matches the zoom brought onto its grid, and
    // the whole overview (what they were made on before) does not
    let onto = |region, raster, data: &ndarray::Array2<f32>| {
        GridMap { src_region: region, src_raster: raster, dst_region: pair.hr.region, dst_raster: Raster::square(88) }
            .resample(data.view(), Interpolation::Bilinear)
            .unwrap()
    };
    let zoom_there = onto(pair.hr.region, pair.hr.raster, &pair.hr.data);
    let whole =
        GridMap { src_region: pair.lr.region, src_raster: pair.lr.raster, dst_region: pair.lr.region, dst_raster: Raster::square(88) }
            .resample(pair.lr.data.view(), Interpolation::Bilinear)
            .unwrap();
    let (over_zoom, as_a_whole) = (correlation(&lr.data, &zoom_there), correlation(&whole, &zoom_there));
    eprintln!("correlation with the zoom: {over_zoom:.3} (over the zoom), {as_a_whole:.3} (whole overview)");
    assert!(over_zoom > 0.6 && as_a_whole.abs() < 0.3, "over the zoom {over_zoom:.3}, whole {as_a_whole:.3}");
}
