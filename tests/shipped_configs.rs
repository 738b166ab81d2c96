//! Every shipped config parses and validates (run configs as run configs, the benchmark suite as a
//! suite whose base config and files exist).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::config::{Backend, RunSpec};
use afm_spark::level::HrFrameLevelling;
use std::path::Path;

#[test]
fn shipped_configs_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "eval-real.toml") {
            let suite = afm_spark::eval::EvalSuite::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            RunSpec::load(&root.join(&suite.base_config)).unwrap_or_else(|e| panic!("{e}"));
            assert!(suite.replay.len() >= 4 && suite.fuse.len() >= 2 && suite.random_seeds >= 5);
            // the fuse cases run as `fuse` does by default: two cross-fitted networks
            assert!(suite.fuse.iter().all(|f| f.cross_fit));
            continue;
        }
        if path.extension().is_some_and(|e| e == "toml") {
            let spec = RunSpec::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(spec.config.select.n_select >= 1);
            // Patches keep their measured heights (levelled together) only where the z reference holds
            // from scan to scan: the simulator with neither z drift nor line offsets.
            if spec.config.level.hr_frames == HrFrameLevelling::Joint {
                let physics = &spec.config.simulator.physics;
                let z_drift = physics.drift.enabled && physics.drift.z_m_per_s != 0.0;
                assert!(spec.config.instrument.backend == Backend::Simulator, "{}", path.display());
                assert!(!z_drift && !physics.line_offsets.enabled, "{}: joint levelling with z drift or line offsets", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected the shipped configs in {}", dir.display());
    let real = RunSpec::load(&dir.join("mfp3d.toml")).unwrap();
    assert_eq!(real.config.instrument.backend, Backend::Mfp3d);
    assert_eq!(real.config.peripherals.len(), 1);
    let rehearsal = RunSpec::load(&dir.join("mfp3d-sim.toml")).unwrap();
    assert_eq!(rehearsal.config.instrument.backend, Backend::Mfp3d);
    let bridge = rehearsal.config.instrument.bridge.clone().unwrap();
    assert!(bridge.address.starts_with("tcp://127.0.0.1:"), "{}", bridge.address);
    assert!(rehearsal.config.peripherals.is_empty());
    let replay = RunSpec::load(&dir.join("replay.toml")).unwrap();
    assert_eq!(replay.config.level.hr_frames, HrFrameLevelling::Joint);
    let demo = RunSpec::load(&dir.join("dry-run.toml")).unwrap();
    assert_eq!(demo.config.level.hr_frames, HrFrameLevelling::Each);
    assert_eq!((demo.hr_raster().points, demo.lr_raster().points, demo.config.select.n_select), (512, 128, 20));
}
