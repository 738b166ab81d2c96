//! Scoring against a ground truth: the truth made comparable (levelled like the LR, brought onto the
//! measured patches' reference), then PSNR/SSIM of the delivered image, the model's reconstruction,
//! the fair baseline and the references, on the whole image and on the unacquired region.

use super::model_stage::ModelOutcome;
use super::prepare::Prepared;
use super::PipelineError;
use crate::ground_truth::comparable_truth;
use crate::level::LevelConfig;
use crate::metrics::{Quality, ScoredImages};
use crate::register::GainOffset;
use ndarray::Array2;

/// A run's scores and the truth they were computed against.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// PSNR/SSIM of every compared image.
    pub quality: Quality,
    /// The comparable ground truth on the HR grid.
    pub truth: Array2<f32>,
    /// The fit that brought the levelled truth onto the measured patches.
    pub fit: GainOffset,
}

/// Scores everything `prepared` and `model` produced against `raw_truth` (on the HR grid).
pub fn score_against(
    prepared: &Prepared,
    model: Option<&ModelOutcome>,
    raw_truth: &Array2<f32>,
    level: &LevelConfig,
    seam_px: usize,
) -> Result<Scored, PipelineError> {
    let (truth, fit) = comparable_truth(raw_truth, prepared, level)?;
    let fair = prepared.fair_pasted(seam_px)?;
    let images = ScoredImages {
        delivered: model.map(|m| m.delivered.view()).unwrap_or(fair.view()),
        sr: model.map(|m| (m.sr.view(), m.sr_unpasted.view())),
        fair_baseline: fair.view(),
        bicubic: prepared.bicubic.view(),
        nearest: prepared.nearest.view(),
    };
    let quality = Quality::of(&images, truth.view(), prepared.acquired.view())?;
    Ok(Scored { quality, truth, fit })
}
