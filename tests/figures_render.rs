//! The figures a run writes, drawn from dry-run-like data (the simulator's 10 µm, 512² HR / 128² LR
//! scan through `afm-spark simulate`) and from the real Asylum file: LR | SR | HR | |SR − HR| with
//! colour bars in nm, a scale bar in µm, 20 picks outlined and numbered; an amplitude row in volts;
//! the loss curve with the validation PSNR. The PNGs stay in `target/tmp/figures_render/` to be
//! looked at; the test checks what can be checked by pixels.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod lab_support;

use afm_drivers::PixelRect;
use afm_spark::figures::{self, ImagePanel, PanelScale, RowOptions, ValidationCurve};
use afm_spark::io;
use afm_spark::train::{LossHistory, LossRecord};
use lab_support::{data_file, scratch};
use ndarray::{s, Array2};
use std::path::Path;
use std::process::Command;

/// `hr` decimated by `f` and blown back up by nearest neighbour: a stand-in reconstruction.
fn coarse(hr: &Array2<f32>, f: usize) -> (Array2<f32>, Array2<f32>) {
    let lr = hr.slice(s![..;f, ..;f]).to_owned();
    let up = Array2::from_shape_fn(hr.dim(), |(r, c)| lr[[(r / f).min(lr.nrows() - 1), (c / f).min(lr.ncols() - 1)]]);
    (lr, up)
}

/// 20 tiles of a `grid`×`grid` tiling of an `n`-px image, in a scattered "pick order".
fn picks(n: usize, grid: usize, count: usize) -> Vec<PixelRect> {
    let t = n / grid;
    (0..count)
        .map(|k| (k * 37 + 11) % (grid * grid))
        .map(|tile| PixelRect { col: (tile % grid) * t, row: (tile / grid) * t, cols: t, rows: t })
        .collect()
}

/// Length of the run of white pixels starting at (x0, y).
fn white_run_at(png: &image::RgbImage, y: u32, x0: u32) -> usize {
    (x0..png.width()).take_while(|&x| png.get_pixel(x, y).0 == [255, 255, 255]).count()
}

#[test]
fn dry_run_like_panels_have_nm_colour_bars_scale_bar_and_numbered_picks() {
    let dir = scratch("figures_render");
    let h5 = dir.join("dry.h5");
    let out = Command::new(env!("CARGO_BIN_EXE_afm-spark"))
        .args(["-q", "simulate", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/dry-run.toml"))
        .arg("--out")
        .arg(&h5)
        .args(["--rate-factors", "1,4", "--npy"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hr = io::npy::read_array(&dir.join("dry_1x.npy")).unwrap();
    let lr = io::npy::read_array(&dir.join("dry_4x.npy")).unwrap();
    assert_eq!((hr.dim(), lr.dim()), ((512, 512), (128, 128)));
    let (_, sr) = coarse(&hr, 4);
    let rects = picks(512, 8, 20);
    let pitch = 10e-6 / 511.0;
    let png = dir.join("dry_panels.png");
    let options = RowOptions { unit: "m".into(), pixel_pitch_xy_m: Some((pitch, pitch)) };
    figures::sr_comparison_png_with(&png, lr.view(), sr.view(), Some(hr.view()), &rects, &options).unwrap();
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.width(), 10 + 4 * (512 + 10));
    // A white scale bar of 2 µm (≤ 30 % of 10 µm) = 2 µm / pitch ≈ 102 px, in the lower-left corner.
    let top = if figures::text_available() { 30 } else { 10 };
    let bar_y = top + 512 - 12 - 2;
    let run = white_run_at(&img, bar_y, 10 + 12);
    assert!((100..=104).contains(&run), "scale bar {run} px");
    // Pick 1's outline colour appears on every panel.
    let outline = [0u8, 200, 255];
    for i in 0..4u32 {
        let x0 = 10 + i * 522;
        assert!((x0..x0 + 512).any(|x| (top..top + 512).any(|y| img.get_pixel(x, y).0 == outline)), "panel {i} has no outlines");
    }
    // The same image as the picks figure (one panel).
    let panel = [ImagePanel {
        title: "LR, 20 picks in scan order".into(),
        data: sr.view(),
        scale: PanelScale::Shared,
        colormap: figures::Colormap::AfmHot,
    }];
    figures::image_row_png_with(&dir.join("dry_picks.png"), &panel, &rects, &options).unwrap();
    // The old entry point still works: metres, no scale bar.
    figures::sr_comparison_png(&dir.join("dry_panels_default.png"), lr.view(), sr.view(), None, &rects).unwrap();
}

#[test]
fn real_replay_panels_in_nm_and_an_amplitude_row_in_volts() {
    let Some(path) = data_file("P0089OP0027.ibw") else { return };
    let dir = scratch("figures_render_real");
    let loaded = io::load(&path).unwrap();
    let hr = loaded.channel(Some("Height")).unwrap().data.clone();
    let (lr, sr) = coarse(&hr, 4);
    let pitch = loaded.frame.region.pitch_m(&loaded.frame.raster);
    let options = RowOptions { unit: "m".into(), pixel_pitch_xy_m: Some(pitch) };
    figures::sr_comparison_png_with(&dir.join("real_panels.png"), lr.view(), sr.view(), Some(hr.view()), &picks(256, 8, 8), &options)
        .unwrap();
    let user = loaded.channel(Some("UserIn0Retrace")).unwrap();
    let (ulr, usr) = coarse(&user.data, 4);
    let v_options = RowOptions { unit: user.unit.clone(), pixel_pitch_xy_m: Some(pitch) };
    assert_eq!(v_options.unit, "V");
    figures::sr_comparison_png_with(&dir.join("real_userin0_panels.png"), ulr.view(), usr.view(), Some(user.data.view()), &[], &v_options)
        .unwrap();
    let phase = loaded.channel(Some("PhaseRetrace")).unwrap();
    let p_options = RowOptions { unit: phase.unit.clone(), pixel_pitch_xy_m: Some(pitch) };
    let (plr, psr) = coarse(&phase.data, 4);
    figures::sr_comparison_png_with(&dir.join("real_phase_panels.png"), plr.view(), psr.view(), None, &[], &p_options).unwrap();
}

#[test]
fn loss_curve_with_validation_psnr() {
    let dir = scratch("figures_render_loss");
    let records = (1..=60)
        .map(|i| LossRecord {
            step: 25 * i,
            train_loss: 0.8 / (i as f64).sqrt() + 0.02,
            val_gain_db: (i % 5 == 0).then_some(0.2 * i as f64),
            val_psnr_sr_db: (i % 5 == 0).then_some(24.1 + 0.2 * i as f64),
            val_psnr_fair_db: (i % 5 == 0).then_some(24.1),
            elapsed_s: i as f64,
        })
        .collect();
    let validation = ValidationCurve {
        psnr_db: (1..=12).map(|k| (125.0 * k as f64, 22.0 + 3.0 * (1.0 - (-(k as f64) / 4.0).exp()))).collect(),
        baseline_psnr_db: Some(24.1),
    };
    let png = dir.join("loss.png");
    figures::loss_curve_with_validation_png(&png, &LossHistory { records }, Some(&validation)).unwrap();
    assert_eq!(image::image_dimensions(&png).unwrap(), (800, 500));
}

#[test]
fn plain_loss_curve() {
    let dir = scratch("figures_render_loss_plain");
    let records = (1..=60)
        .map(|i| LossRecord {
            step: 25 * i,
            train_loss: 0.8 / (i as f64).sqrt() + 0.02,
            val_gain_db: None,
            val_psnr_sr_db: None,
            val_psnr_fair_db: None,
            elapsed_s: i as f64,
        })
        .collect();
    figures::loss_curve_png(&dir.join("loss.png"), &LossHistory { records }).unwrap();
}
