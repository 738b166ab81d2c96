//! The run folder's plain arrays (NumPy `.npy`, metres, HR grid except `lr.npy`), the same arrays in
//! the session file, and the comparison figure.

use super::{ModelStage, PipelineError};
use crate::figures::sr_comparison_png;
use crate::io::npy::write_array;
use crate::io::session::Session;
use crate::reconstruct::mask_as_f32;
use afm_drivers::PixelRect;
use ndarray::Array2;
use std::path::Path;

/// Files [`write_outputs`] writes into the run folder.
pub const OUTPUT_FILES: [&str; 7] =
    ["lr.npy", "sr.npy", "sr_unpasted.npy", "bicubic.npy", "acquired_mask.npy", "ground_truth.npy", "panels.png"];

/// Writes the arrays (`ground_truth.npy` only when known) into `dir` and the session, and
/// `panels.png` (LR | SR | HR | |SR − HR|, picks outlined).
pub fn write_outputs(
    dir: &Path,
    session: &Session,
    stage: &ModelStage,
    ground_truth: Option<&Array2<f32>>,
    picks: &[PixelRect],
) -> Result<(), PipelineError> {
    let mask = mask_as_f32(&stage.acquired);
    let mut arrays: Vec<(&str, &Array2<f32>)> = vec![
        ("lr", &stage.lr),
        ("sr", &stage.sr),
        ("sr_unpasted", &stage.sr_unpasted),
        ("bicubic", &stage.bicubic),
        ("acquired_mask", &mask),
    ];
    if let Some(t) = ground_truth {
        arrays.push(("ground_truth", t));
    }
    for (name, data) in &arrays {
        write_array(&dir.join(format!("{name}.npy")), data).map_err(|e| PipelineError::Output(e.to_string()))?;
    }
    let with_units: Vec<(&str, &Array2<f32>, &str)> =
        arrays.iter().map(|(n, a)| (*n, *a, if *n == "acquired_mask" { "1" } else { "m" })).collect();
    session.write_arrays(&with_units).map_err(|e| PipelineError::Output(e.to_string()))?;
    sr_comparison_png(&dir.join("panels.png"), stage.lr.view(), stage.sr.view(), ground_truth.map(|t| t.view()), picks)
        .map_err(|e| PipelineError::Output(format!("{}: {e}", dir.join("panels.png").display())))?;
    Ok(())
}
