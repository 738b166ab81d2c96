//! Registering in another channel (`[register] channel`, `fuse --register-channel`) on the real
//! overview + zoom pair `../shared/data/PTO_Funakubo0004.h5` (overview) + `PTO_Funakubo0005.h5` (zoom):
//! the films' height is all but featureless at the overview's pitch, so its own registration is too
//! uncertain to train on, while the deflection channel of the same scans places the zoom sharply.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_spark::level::LevelConfig;
use afm_spark::offline::fuse::{prepare_fused, FuseOptions, FuseReport};
use afm_spark::pipeline::Prepared;
use afm_spark::reconstruct::ReconstructConfig;
use afm_spark::register::RegisterConfig;
use afm_spark::train::TrainConfig;
use afm_spark::upsample::Interpolation;
use std::path::{Path, PathBuf};

/// The overview and the zoom, or `None` (with a message) when `../shared/data` is absent.
fn pair() -> Option<(PathBuf, Vec<PathBuf>)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let (overview, zoom) = (data.join("PTO_Funakubo0004.h5"), data.join("PTO_Funakubo0005.h5"));
    if overview.exists() && zoom.exists() {
        Some((overview, vec![zoom]))
    } else {
        eprintln!("SKIPPED: {} not found (the shared test data folder is absent)", overview.display());
        None
    }
}

fn options(channel: &str, register_channel: Option<&str>) -> FuseOptions {
    FuseOptions {
        channel: Some(channel.into()),
        tile_px: 64,
        level: LevelConfig::default(),
        register: RegisterConfig { channel: register_channel.map(Into::into), ..RegisterConfig::default() },
        train: TrainConfig::cpu_dry_run(),
        reconstruct: ReconstructConfig::cpu_dry_run(),
        model_input: Interpolation::Bicubic,
        device: tch::Device::Cpu,
        score_folds: None,
    }
}

fn prepared(channel: &str, register_channel: Option<&str>) -> Prepared {
    let (overview, zooms) = pair().unwrap();
    prepare_fused(&overview, &zooms, &options(channel, register_channel)).unwrap()
}

#[test]
fn a_flat_height_zoom_is_placed_by_its_deflection_channel() {
    if pair().is_none() {
        return;
    }
    let own = prepared("HeightRetrace", None).frames[0].registration;
    let deflection = prepared("DeflectionRetrace", None).frames[0].registration;
    let by_deflection = prepared("HeightRetrace", Some("DeflectionRetrace"));
    let placed = by_deflection.frames[0].registration;
    eprintln!(
        "height alone: shift {:?} overview px, standard error {:.2} zoom px, ambiguous {}; deflection: {:?}, {:.3} px; height by deflection: {:?}",
        own.shift_lr_px, own.sigma_frame_px, own.ambiguous, deflection.shift_lr_px, deflection.sigma_frame_px, placed.shift_lr_px
    );
    // On its own the height is too uncertain to be trained on …
    assert!(own.ambiguous && own.sigma_frame_px > RegisterConfig::default().max_shift_sigma_frame_px, "{own:?}");
    // … the deflection pins the zoom down, within one overview pixel of the metadata …
    assert!(!deflection.ambiguous && deflection.sigma_frame_px < 0.1, "{deflection:?}");
    assert!(deflection.shift_lr_px.iter().all(|v| v.abs() < 1.0), "{deflection:?}");
    // … and the height's zoom takes exactly that shift, and its tiles are trained on.
    assert_eq!(placed, deflection);
    assert!(by_deflection.pieces.iter().all(|p| p.trainable) && !by_deflection.pieces.is_empty());
    assert_eq!((by_deflection.channel.as_str(), by_deflection.registration_channel.as_str()), ("HeightRetrace", "DeflectionRetrace"));
    // the same channel named as the registration channel changes nothing
    assert_eq!(prepared("DeflectionRetrace", Some("DeflectionRetrace")).frames[0].registration, deflection);
}

#[test]
fn a_registration_channel_the_files_lack_is_refused_by_name() {
    let Some((overview, zooms)) = pair() else { return };
    let err = prepare_fused(&overview, &zooms, &options("HeightRetrace", Some("NoSuchChannel"))).unwrap_err().to_string();
    assert!(err.contains("NoSuchChannel") && err.contains("PTO_Funakubo0004.h5"), "{err}");
}

/// `fuse` of the real pair's deflection, 2 folds scored, 20 training steps (the tests check the
/// report, not the quality), into a fresh folder named `name`; the report and the folder.
fn scored_fuse(name: &str, cross_fit: bool) -> (FuseReport, PathBuf) {
    let (overview, zooms) = pair().unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&out);
    let mut opts = options("DeflectionRetrace", None);
    opts.train.max_steps = 20;
    opts.train.cross_fit = cross_fit;
    opts.score_folds = Some(2);
    let report = afm_spark::offline::fuse::fuse(&overview, &zooms, &opts, &out, &mut |_, _| {}).unwrap();
    (report, out)
}

#[test]
fn each_scored_fold_says_why_it_delivered_what_it_did() {
    if pair().is_none() {
        return;
    }
    let (report, out) = scored_fuse("fuse-folds-reason", false);
    assert_eq!(report.folds.len(), 2);
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for (fold, json) in report.folds.iter().zip(written["folds"].as_array().unwrap()) {
        let reason = &fold.output_reason;
        assert!(reason.contains("held-out"), "fold {}: {reason}", fold.fold);
        // the reason matches the choice: only the fair baseline's reason ends by delivering it
        let says_baseline = reason.ends_with("delivering the fair baseline with the measured patches");
        assert_eq!(says_baseline, fold.output == afm_spark::pipeline::OutputChoice::Baseline, "fold {}: {reason}", fold.fold);
        assert_eq!(json["output_reason"].as_str(), Some(reason.as_str()));
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// The number in "… on N held-out patches …" of a guard's reason.
fn held_out_count(reason: &str) -> usize {
    let before = reason.split(" held-out patches").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap_or_else(|e| panic!("{e}: {reason}"))
}

#[test]
fn cross_fitted_folds_hold_out_every_tile_they_train_on() {
    if pair().is_none() {
        return;
    }
    let (report, out) = scored_fuse("fuse-folds-cross-fit", true);
    let whole = report.run.output_reason.clone().unwrap();
    assert!(whole.contains("two cross-fitted networks"), "{whole}");
    // each fold trains on the other fold's tiles and the guard sees every one of them held out once:
    // the two folds' counts add up to the whole run's, which holds out every tile
    let counts: Vec<usize> = report.folds.iter().map(|f| held_out_count(&f.output_reason)).collect();
    assert!(report.folds.iter().all(|f| f.output_reason.contains("two cross-fitted networks")), "{:?}", report.folds);
    assert!(counts.iter().all(|&n| n >= 4), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), held_out_count(&whole), "{counts:?} vs {whole}");
    std::fs::remove_dir_all(&out).unwrap();
}
