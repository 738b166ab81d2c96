//! The learned linear input filter in the pipeline (see [`crate::linear_input`]): fitted on the
//! training pieces, from the fair baseline around each piece to what it measured, it makes the
//! network's input x0 and the anchor's reference on the whole grid and on every piece.

use super::prepare::Prepared;
use super::PipelineError;
use crate::linear_input::{InputFilter, NormalEquations};
use crate::upsample::Interpolation;
use afm_drivers::{Raster, ScanRegion};
use ndarray::Array2;

impl Prepared {
    /// The fair baseline (the LR's bicubic on the acquired scale) over `region`/`raster` grown by
    /// `margin_px` of its own pixels on each side; beyond the LR's edge its border values continue.
    fn fair_with_margin(&self, region: &ScanRegion, raster: &Raster, margin_px: usize) -> Result<Array2<f32>, PipelineError> {
        let (px, py) = region.pitch_m(raster);
        let m = margin_px as f64;
        let grown = ScanRegion { width_m: region.width_m + 2.0 * m * px, height_m: region.height_m + 2.0 * m * py, ..*region };
        let grown_raster = Raster::new(raster.points + 2 * margin_px, raster.lines + 2 * margin_px);
        let bicubic = self.lr.resample_onto(&grown, &grown_raster, Interpolation::Bicubic)?;
        Ok(self.mapping.apply(bicubic.view()))
    }

    /// The input filter's least-squares data for the pieces `pieces` (indices into `pieces`; those
    /// out of range are skipped): the fair baseline around each, grown by `radius_px`, and its
    /// normal equations from there to the piece's measured values.
    pub fn input_filter_samples(&self, pieces: &[usize], radius_px: usize) -> Result<FilterSamples, PipelineError> {
        let mut samples = Vec::with_capacity(pieces.len());
        for &i in pieces.iter().filter(|&&i| i < self.pieces.len()) {
            let piece = &self.pieces[i];
            let input = self.fair_with_margin(&piece.image.region, &piece.image.raster, radius_px)?;
            let equations = NormalEquations::of_sample(input.view(), piece.image.data.view(), radius_px).map_err(fit_error)?;
            samples.push((i, input, equations));
        }
        Ok(FilterSamples { radius_px, samples })
    }

    /// Fits an input filter of half-width `radius_px` on the pieces `fit_on` (indices into
    /// `pieces`): from the fair baseline around each to its measured values.
    pub fn fit_input_filter(&self, fit_on: &[usize], radius_px: usize) -> Result<InputFilter, PipelineError> {
        self.input_filter_samples(fit_on, radius_px)?.fit(fit_on)
    }

    /// Each of the pieces `pieces` predicted by the input filter fitted on the others (see
    /// [`FilterSamples::left_out`]).
    pub fn input_filter_left_out(&self, pieces: &[usize], radius_px: usize) -> Result<Vec<(usize, Array2<f32>)>, PipelineError> {
        Ok(self.input_filter_samples(pieces, radius_px)?.left_out())
    }

    /// A copy whose model input x0 and anchor reference — on the HR grid and on every piece — are
    /// the fair baseline run through `filter` (the fair baseline itself, the reference the guard and
    /// the scores compare with, is unchanged).
    pub fn with_input_filter(&self, filter: &InputFilter) -> Result<Prepared, PipelineError> {
        let r = filter.radius_px;
        let mut out = self.clone();
        let frame = filter.apply(self.fair_with_margin(&self.hr_region, &self.hr_raster, r)?.view());
        (out.x0, out.reference) = (frame.clone(), frame);
        for piece in &mut out.pieces {
            let filtered = filter.apply(self.fair_with_margin(&piece.image.region, &piece.image.raster, r)?.view());
            (piece.x0, piece.reference) = (filtered.clone(), filtered);
        }
        Ok(out)
    }
}

/// A fitting error as the pipeline reports it.
fn fit_error(e: crate::linear_input::InputFilterError) -> PipelineError {
    PipelineError::NoTraining(format!("fitting the input filter: {e}"))
}

/// The input filter's least-squares data for some pieces, computed once: each piece's index, the fair
/// baseline around it and its normal equations. Fits on any subset, and the fits leaving one piece
/// out, are sums of them.
pub struct FilterSamples {
    radius_px: usize,
    samples: Vec<(usize, Array2<f32>, NormalEquations)>,
}

impl FilterSamples {
    /// The filter fitted on the pieces `on` (those among the samples), their equations summed in the
    /// order given.
    pub fn fit(&self, on: &[usize]) -> Result<InputFilter, PipelineError> {
        let parts = on.iter().filter_map(|i| self.samples.iter().find(|(j, ..)| j == i)).map(|(_, _, e)| e);
        NormalEquations::sum(parts, self.radius_px).solve().map_err(fit_error)
    }

    /// Each sampled piece predicted by the filter fitted on the other sampled pieces — leave one
    /// piece out — as (index, prediction on the piece's pixels): what the filter does on data it has
    /// not seen, for every piece. A piece whose fit fails (too few pixels without it) is left out.
    pub fn left_out(&self) -> Vec<(usize, Array2<f32>)> {
        let mut left_out = Vec::with_capacity(self.samples.len());
        for (k, (i, input, _)) in self.samples.iter().enumerate() {
            let others = self.samples.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, (_, _, e))| e);
            match NormalEquations::sum(others, self.radius_px).solve() {
                Ok(filter) => left_out.push((*i, filter.apply(input.view()))),
                Err(e) => tracing::debug!("input filter without piece {i}: {e}"),
            }
        }
        left_out
    }
}
