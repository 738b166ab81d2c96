use super::*;

const MINIMAL: &str = r#"
[frame]
scan_size_m = 10e-6
hr_points = 512
hr_lines = 512
hr_line_rate_hz = 1.0
[select]
n_select = 20
"#;

fn parse(text: &str) -> Result<RunSpec, ConfigError> {
    RunSpec::from_toml(text, Path::new("test.toml"))
}

#[test]
fn minimal_config_gets_design_defaults() {
    let spec = parse(MINIMAL).unwrap();
    assert_eq!(spec.lr_raster(), Raster::square(128));
    assert_eq!(spec.lr_line_rate_hz(), 4.0);
    assert_eq!(spec.config.select.grid, 8);
    assert_eq!(spec.config.select.weights.grad, 1.5);
    assert!((spec.hr_region().height_m - 10e-6).abs() < 1e-18);
}

#[test]
fn errors_name_file_field_and_value() {
    let err = parse(&MINIMAL.replace("n_select = 20", "n_select = 65")).unwrap_err().to_string();
    assert!(err.contains("test.toml") && err.contains("select.n_select") && err.contains("65"), "{err}");
    let err = parse(&MINIMAL.replace("hr_line_rate_hz = 1.0", "hr_line_rate_hz = -2.0")).unwrap_err().to_string();
    assert!(err.contains("frame.hr_line_rate_hz") && err.contains("-2"), "{err}");
    let err = parse(&MINIMAL.replace("[select]", "[select]\ngird = 8")).unwrap_err().to_string();
    assert!(err.contains("gird"), "unknown key must be named: {err}");
    let err = parse(&format!("{MINIMAL}[train]\nt_grid_steps = 1\n[reconstruct]\nsteps = 10\n")).unwrap_err().to_string();
    assert!(err.contains("train.t_grid_steps") && err.contains("[reconstruct] steps"), "{err}");
}

#[test]
fn hash_changes_with_any_setting_and_is_stable() {
    let a = parse(MINIMAL).unwrap();
    assert_eq!(a.hash(), parse(MINIMAL).unwrap().hash());
    let b = parse(&MINIMAL.replace("n_select = 20", "n_select = 19")).unwrap();
    assert_ne!(a.hash(), b.hash());
    let round = RunSpec::from_toml(&a.to_toml().unwrap(), Path::new("x")).unwrap();
    assert_eq!(round.hash(), a.hash());
    // a setting added later is not serialised at its default (configs journaled before it existed keep
    // their hash); set otherwise, it is part of the identity
    assert!(!a.to_toml().unwrap().contains("max_shift_sigma_frame_px"));
    let c = parse(&format!("{MINIMAL}[register]\nmax_shift_sigma_frame_px = 0.5\n")).unwrap();
    assert_ne!(a.hash(), c.hash());
    assert_eq!(parse(&format!("{MINIMAL}[register]\nmax_shift_sigma_frame_px = 0.25\n")).unwrap().hash(), a.hash());
}

#[test]
fn bridge_address_is_not_part_of_the_identity() {
    let with =
        |addr: &str| parse(&format!("{MINIMAL}[instrument]\nbackend = \"mfp3d\"\n[instrument.bridge]\naddress = \"{addr}\"\n")).unwrap();
    assert_eq!(with("tcp://127.0.0.1:5670").hash(), with("tcp://127.0.0.1:9000").hash());
    let err = parse(&format!("{MINIMAL}[instrument]\nbackend = \"mfp3d\"\n")).unwrap_err().to_string();
    assert!(err.contains("instrument.bridge"), "{err}");
}

#[test]
fn replay_side_is_the_largest_multiple_of_four_tiles() {
    assert_eq!(replay_side(512, 8), 512);
    assert_eq!(replay_side(400, 8), 384);
    assert_eq!(replay_side(350, 8), 320);
    assert_eq!(replay_side(401, 10), 400);
    // too short for one 4 px tile per grid cell: left for validate to refuse
    assert_eq!(replay_side(20, 8), 20);
}

/// An image of 401 × 350 px cannot be cut into 8 × 8 tiles of a multiple of 4 px: it is replayed on
/// its centred 384 × 320 px, on its own pixels — the replay's truth is exactly those pixels.
#[test]
fn replay_crops_an_image_the_grid_cannot_cut_to_its_centre() {
    use crate::io::lab_outputs::{write_lab_image, LabImage};
    let dir = std::env::temp_dir().join(format!("afm-spark-replay-crop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (points, lines) = (401usize, 350usize);
    let data =
        ndarray::Array2::<f32>::from_shape_fn((lines, points), |(l, p)| ((l * 7 + p * 3) % 11) as f32 * 1e-9 + (l * p) as f32 * 1e-14);
    let pitch_m = 2e-9;
    let region = ScanRegion {
        center_x_m: 0.3e-6,
        center_y_m: -0.2e-6,
        width_m: (points - 1) as f64 * pitch_m,
        height_m: (lines - 1) as f64 * pitch_m,
        angle_deg: 0.0,
    };
    let image = LabImage { data: data.view(), region, channel: "HeightRetrace", unit: "m", title: "t", note: &[] };
    write_lab_image(&dir, "odd", &image).unwrap();
    let file = dir.join("odd.gwy");
    let mut config = parse(&format!("{MINIMAL}[simulator]\nground_truth = \"surface\"\n")).unwrap().config;
    RunSpec::replay(&mut config, &file, None).unwrap();
    let spec = RunSpec::from_config(config, Path::new("test.toml")).unwrap();
    let f = &spec.config.frame;
    assert_eq!((f.hr_points, f.hr_lines), (384, 320));
    // same pixel pitch; 8 columns cut on the left and 9 on the right, 15 rows at the bottom and top
    assert!((f.scan_size_m - 383.0 * pitch_m).abs() < 1e-15 && (spec.hr_region().height_m - 319.0 * pitch_m).abs() < 1e-15);
    assert!((f.center_x_m - (region.center_x_m - 0.5 * pitch_m)).abs() < 1e-15 && (f.center_y_m - region.center_y_m).abs() < 1e-15);
    let surface = crate::backend::run_surface(&spec).unwrap();
    let truth = crate::ground_truth::simulated(&spec, &surface).unwrap();
    let expected = data.slice(ndarray::s![15..335, 8..392]);
    let worst = truth.iter().zip(expected.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-12, "the replay's truth is off the image's own pixels by up to {worst} m");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replay_takes_non_square_grids_and_rotated_scans() {
    use crate::io::lab_outputs::{write_lab_image, LabImage};
    let dir = std::env::temp_dir().join(format!("afm-spark-replay-grid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replayed = |points: usize, lines: usize, angle_deg: f64| {
        let data = ndarray::Array2::<f32>::from_shape_fn((lines, points), |(l, p)| ((l * 7 + p * 3) % 11) as f32 * 1e-9);
        let region = ScanRegion { angle_deg, ..ScanRegion::square(0.0, 0.0, 1e-6) };
        let image = LabImage { data: data.view(), region, channel: "HeightRetrace", unit: "m", title: "t", note: &[] };
        let stem = format!("grid-{points}x{lines}-{angle_deg}");
        write_lab_image(&dir, &stem, &image).unwrap();
        let file = dir.join(format!("{stem}.gwy"));
        assert_eq!(crate::io::load(&file).unwrap().frame.region.angle_deg, angle_deg);
        let mut config = parse(&format!("{MINIMAL}[train]\ncrop_px = 32\n")).unwrap().config;
        RunSpec::replay(&mut config, &file, None).unwrap();
        let spec = RunSpec::from_config(config, Path::new("test.toml")).unwrap();
        // the simulator takes the file as its surface
        crate::backend::run_surface(&spec).unwrap();
        spec
    };
    // 256 × 128 px in 8 × 8 tiles: 32 × 16 px, too small for the 32 px crop
    let tall = replayed(256, 128, 0.0);
    assert_eq!((tall.config.frame.hr_points, tall.config.frame.hr_lines, tall.config.train.crop_px), (256, 128, None));
    // 256 × 256 px: 32 px tiles keep the crop
    assert_eq!(replayed(256, 256, 0.0).config.train.crop_px, Some(32));
    // a scan taken at 90° is replayed in its own scan frame
    let rotated = replayed(256, 256, 90.0);
    assert_eq!((rotated.config.frame.angle_deg, rotated.config.frame.scan_size_m), (0.0, 1e-6));
    std::fs::remove_dir_all(&dir).ok();
}
