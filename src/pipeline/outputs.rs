//! The run folder's plain arrays (NumPy `.npy`, the channel's unit, HR grid except `lr*.npy`), the same
//! arrays in the session file, `registration.json` and the comparison figure.

use super::model_stage::ModelOutcome;
use super::prepare::Prepared;
use super::PipelineError;
use crate::figures::sr_comparison_png;
use crate::io::npy::write_array;
use crate::io::session::Session;
use crate::reconstruct::mask_as_f32;
use afm_drivers::PixelRect;
use ndarray::Array2;
use std::path::Path;

/// Files [`write_outputs`] writes into the run folder (`sr_model.npy`, `sr_unpasted.npy` only with a
/// model, `ground_truth.npy` only with a ground truth).
pub const OUTPUT_FILES: [&str; 11] = [
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

/// Writes the arrays into `dir` (and `session`, when given), `registration.json` and `panels.png`
/// (LR | delivered | ground truth | error, picks outlined). `sr.npy` is what the run delivers: the
/// model's reconstruction, or the fair baseline when there is no model or the guard rejected it.
pub fn write_outputs(
    dir: &Path,
    session: Option<&Session>,
    prepared: &Prepared,
    model: Option<&ModelOutcome>,
    truth: Option<&Array2<f32>>,
    outlines: &[PixelRect],
    seam_px: usize,
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
    let path = dir.join("registration.json");
    let text = serde_json::to_string_pretty(&prepared.registrations()).map_err(|e| out(&path, &e))?;
    std::fs::write(&path, text + "\n").map_err(|e| out(&path, &e))?;
    let path = dir.join("panels.png");
    sr_comparison_png(&path, prepared.lr.view(), delivered.view(), truth.map(|t| t.view()), outlines).map_err(|e| out(&path, &e))?;
    Ok(())
}
