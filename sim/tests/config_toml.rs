//! Config files: a full `SimConfig` and every `SurfaceSpec` kind parse from TOML with unit-suffixed
//! keys; unknown keys are rejected at every level; invalid values are reported with their field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use afm_sim::{ConfigError, SimConfig, SimError, SimulatedAfm, SurfaceSpec};

const SIM_TOML: &str = r#"
seed = 7
settle_s = 1.0
move_speed_m_per_s = 10e-6
realtime = false

[physics]
interpolation = "bicubic"
# overscan_s = 0.05   # default: automatic

[physics.feedback]
enabled = true
feedback_rate_hz = 2000.0
p_gain = 0.1
i_gain_per_s = 1500.0
free_amplitude_m = 20e-9
setpoint_amplitude_m = 16e-9
loss_of_contact = true
z_slew_m_per_s = 100e-6

[physics.tip]
enabled = true
tip_radius_m = 10e-9
double_tip = { offset_x_m = 30e-9, offset_y_m = 0.0, offset_z_m = 2e-9, radius_m = 15e-9 }

[physics.sensor_noise]
enabled = true
rms_m = 0.1e-9

[physics.line_offsets]
enabled = true
rms_m = 0.2e-9

[physics.drift]
enabled = true
x_m_per_s = 1.7e-11
y_m_per_s = -1.2e-11
z_m_per_s = 5e-11

[physics.creep]
enabled = true
fraction_per_decade = 0.02
tau_s = 0.5
saturation_s = 600.0

[physics.tilt]
enabled = true
slope_x_m_per_m = 0.01
slope_y_m_per_m = -0.002

[physics.bow]
enabled = true
curvature_per_m = 100.0
center_x_m = 0.0
center_y_m = 0.0

[limits]
x_range_m = [-5e-6, 5e-6]
y_range_m = [-5e-6, 5e-6]
points_range = [2, 4096]
lines_range = [2, 4096]
line_rate_range_hz = [0.01, 200.0]
"#;

#[test]
fn a_full_sim_config_parses_and_validates() {
    let cfg: SimConfig = toml::from_str(SIM_TOML).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.seed, 7);
    assert_eq!(cfg.physics.tip.double_tip.as_ref().unwrap().radius_m, 15e-9);
    assert_eq!(cfg.limits.x_range_m, Some((-5e-6, 5e-6)));
    assert_eq!((cfg.physics.creep.fraction_per_decade, cfg.physics.creep.tau_s, cfg.physics.creep.saturation_s), (0.02, 0.5, 600.0));
    assert_eq!((cfg.physics.tilt.slope_x_m_per_m, cfg.physics.tilt.slope_y_m_per_m), (0.01, -0.002));
    // Omitted sections take the documented defaults.
    let minimal: SimConfig = toml::from_str("seed = 3\n[physics.tip]\ntip_radius_m = 5e-9").unwrap();
    assert_eq!(minimal.physics.feedback.feedback_rate_hz, 2000.0);
    assert_eq!(minimal.physics.tip.tip_radius_m, 5e-9);
    assert!(minimal.physics.tip.enabled);
    assert!(minimal.physics.creep.enabled && minimal.physics.tilt.enabled, "creep and tilt are on by default");
}

#[test]
fn unknown_keys_are_rejected_everywhere() {
    for bad in [
        "seeed = 1",
        "[physics]\noverscan = 0.1",
        "[physics.feedback]\np = 0.1",
        "[physics.creep]\ngamma = 0.01",
        "[physics.tilt]\nslope_x = 0.01",
        "[physics.tip]\ndouble_tip = { offset_x_m = 1e-9, offset_y_m = 0.0, offset_z_m = 0.0, radius_m = 1e-8, tilt = 1 }",
        "[limits]\nx_range = [0.0, 1.0]",
    ] {
        assert!(toml::from_str::<SimConfig>(bad).is_err(), "accepted: {bad}");
    }
    assert!(toml::from_str::<SurfaceSpec>("kind = \"grains\"\ngrain_size = 1e-7").is_err());
    assert!(toml::from_str::<SurfaceSpec>("kind = \"sand\"").is_err());
}

#[test]
fn every_surface_kind_parses() {
    for (text, kind) in [
        ("kind = \"terraces\"\nsize_m = 5e-6\npixels = 64\nstep_heights_m = [0.335e-9]", "terraces"),
        ("kind = \"grains\"\npixels = 64\ngrain_size_m = 300e-9", "grains"),
        ("kind = \"particles\"\npixels = 64\ncount = 5\nradius_m = 80e-9", "particles"),
        ("kind = \"grating\"\npixels = 64\nlayout = \"pillars\"\npitch_m = 1e-6", "grating"),
        ("kind = \"step\"\npixels = 64\nheight_m = 5e-9\ndirection = \"up\"", "step"),
    ] {
        let spec: SurfaceSpec = toml::from_str(text).unwrap();
        assert_eq!(spec.kind(), kind);
        assert_eq!(spec.generate(1).unwrap().raster().points, 64);
    }
}

#[test]
fn invalid_values_name_their_field() {
    let surface = SurfaceSpec::default();
    let mut cfg = SimConfig::default();
    cfg.physics.tip.tip_radius_m = -1e-9;
    let err = SimulatedAfm::new(
        afm_sim::Surface::from_array(ndarray::Array2::zeros((4, 4)), afm_drivers::ScanRegion::square(0.0, 0.0, 1e-6)).unwrap(),
        cfg,
    )
    .unwrap_err();
    assert!(matches!(&err, SimError::Config(ConfigError::Invalid { field, .. }) if field == "physics.tip.tip_radius_m"), "{err}");
    let mut cfg = SimConfig::default();
    cfg.physics.feedback.feedback_rate_hz = 500.0; // i·dt = 3: unstable
    assert!(cfg.validate().unwrap_err().to_string().contains("unstable"));
    for (field, edit) in [
        ("physics.creep.tau_s", (|c: &mut SimConfig| c.physics.creep.tau_s = 0.0) as fn(&mut SimConfig)),
        ("physics.creep.fraction_per_decade", |c| c.physics.creep.fraction_per_decade = -0.01),
        ("physics.creep.saturation_s", |c| c.physics.creep.saturation_s = f64::NAN),
        ("physics.tilt.slope_y_m_per_m", |c| c.physics.tilt.slope_y_m_per_m = f64::INFINITY),
    ] {
        let mut cfg = SimConfig::default();
        edit(&mut cfg);
        let e = cfg.validate().unwrap_err();
        assert!(matches!(&e, ConfigError::Invalid { field: f, .. } if f == field), "{field}: {e}");
    }
    let SurfaceSpec::Grains(mut g) = surface else { unreachable!() };
    g.grain_size_m = 0.0;
    let e = SurfaceSpec::Grains(g).generate(0).unwrap_err();
    assert!(e.to_string().contains("grains.grain_size_m"), "{e}");
}
