//! The run folder's plain arrays (NumPy `.npy`, the channel's unit, HR grid except `lr*.npy`), the same
//! arrays in the session file, the reconstruction and the fair baseline for the lab's own programs
//! (`.ibw` for Igor / Asylum, `.gwy` for Gwyddion, with their physical size, unit and a note),
//! `registration.json` and the comparison figure.

use super::model_stage::ModelOutcome;
use super::model_stage::OutputChoice;
use super::prepare::Prepared;
use super::PipelineError;
use crate::figures::{image_row_png_with, sr_comparison_png_with, Colormap, ImagePanel, PanelScale, RowOptions};
use crate::io::lab_outputs::{write_lab_image, LabImage};
use crate::io::npy::write_array;
use crate::io::session::Session;
use crate::reconstruct::mask_as_f32;
use afm_drivers::PixelRect;
use ndarray::Array2;
use std::path::Path;

/// Files [`write_outputs`] writes into the run folder (`sr_model.npy`, `sr_unpasted.npy`,
/// `uncertainty.*` only with a model, `ground_truth.npy` only with a ground truth).
pub const OUTPUT_FILES: [&str; 17] = [
    "uncertainty.npy",
    "uncertainty.png",
    "sr.ibw",
    "sr.gwy",
    "fair_baseline.ibw",
    "fair_baseline.gwy",
    "lr.npy",
    "lr_levelled.npy",
    "sr.npy",
    "sr_model.npy",
    "sr_unpasted.npy",
    "fair_baseline.npy",
    "bicubic.npy",
    "acquired_mask.npy",
    "ground_truth.npy",
    "registration.json",
    "panels.png",
];

/// Writes the arrays into `dir` (and `session`, when given), `sr` and `fair_baseline` as `.ibw` and
/// `.gwy` (with `note` — run, picks, source — in both), `registration.json` and `panels.png` (the LR
/// over the compared region | delivered | ground truth | error, in the channel's unit with a colour
/// bar and a scale bar, picks outlined and numbered). `sr` is what the run delivers: the model's
/// reconstruction, or the fair baseline when there is no model or the guard rejected it.
#[allow(clippy::too_many_arguments)]
pub fn write_outputs(
    dir: &Path,
    session: Option<&Session>,
    prepared: &Prepared,
    model: Option<&ModelOutcome>,
    truth: Option<&Array2<f32>>,
    outlines: &[PixelRect],
    seam_px: usize,
    note: &[(String, String)],
) -> Result<(), PipelineError> {
    let out = |path: &Path, e: &dyn std::fmt::Display| PipelineError::Output(format!("{}: {e}", path.display()));
    let mask = mask_as_f32(&prepared.acquired);
    let fair = prepared.fair_pasted(seam_px)?;
    let delivered = model.map(|m| &m.delivered).unwrap_or(&fair);
    let mut arrays: Vec<(&str, &Array2<f32>)> = vec![
        ("lr", &prepared.lr_raw.data),
        ("lr_levelled", &prepared.lr.data),
        ("sr", delivered),
        ("fair_baseline", &fair),
        ("bicubic", &prepared.bicubic),
        ("acquired_mask", &mask),
    ];
    if let Some(m) = model {
        arrays.push(("sr_model", &m.sr));
        arrays.push(("sr_unpasted", &m.sr_unpasted));
        arrays.push(("uncertainty", &m.uncertainty));
    }
    if let Some(t) = truth {
        arrays.push(("ground_truth", t));
    }
    for (name, data) in &arrays {
        let path = dir.join(format!("{name}.npy"));
        write_array(&path, data).map_err(|e| out(&path, &e))?;
    }
    if let Some(session) = session {
        let unit = prepared.lr.unit.as_str();
        let with_units: Vec<(&str, &Array2<f32>, &str)> =
            arrays.iter().map(|(n, a)| (*n, *a, if *n == "acquired_mask" { "1" } else { unit })).collect();
        session.write_arrays(&with_units).map_err(|e| PipelineError::Output(e.to_string()))?;
    }
    let unit = prepared.lr.unit.as_str();
    let output = model.map_or(OutputChoice::Baseline.name(), |m| m.output.name());
    for (stem, data, title) in [
        ("sr", delivered, format!("afm-spark reconstruction (delivered: {output})")),
        (
            "fair_baseline",
            &fair,
            "fair baseline (bicubic of the levelled LR, gain/offset fitted on the acquired pixels, patches pasted)".to_string(),
        ),
    ] {
        let mut entries = note.to_vec();
        entries.push(("Output".into(), output.into()));
        let image =
            LabImage { data: data.view(), region: prepared.hr_region, channel: &prepared.channel, unit, title: &title, note: &entries };
        write_lab_image(dir, stem, &image).map_err(|e| out(&dir.join(stem), &e))?;
    }
    let path = dir.join("registration.json");
    let text = serde_json::to_string_pretty(&prepared.registrations()).map_err(|e| out(&path, &e))?;
    std::fs::write(&path, text + "\n").map_err(|e| out(&path, &e))?;
    let path = dir.join("panels.png");
    let options = RowOptions { unit: unit.to_string(), pixel_pitch_xy_m: Some(prepared.hr_region.pitch_m(&prepared.hr_raster)) };
    if let Some(m) = model {
        let path = dir.join("uncertainty.png");
        let panels = [
            ImagePanel { title: "delivered".into(), data: delivered.view(), scale: PanelScale::Own, colormap: Colormap::AfmHot },
            ImagePanel {
                title: "uncertainty (flip disagreement)".into(),
                data: m.uncertainty.view(),
                scale: PanelScale::Own,
                colormap: Colormap::Grey,
            },
        ];
        image_row_png_with(&path, &panels, outlines, &options).map_err(|e| out(&path, &e))?;
    }
    // The LR as it lies on the compared region (nearest: its own pixels, no interpolation).
    sr_comparison_png_with(&path, prepared.nearest.view(), delivered.view(), truth.map(|t| t.view()), outlines, &options)
        .map_err(|e| out(&path, &e))?;
    Ok(())
}
