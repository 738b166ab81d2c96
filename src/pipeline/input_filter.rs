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

    /// Fits an input filter of half-width `radius_px` on the pieces `fit_on` (indices into
    /// `pieces`): from the fair baseline around each to its measured values.
    pub fn fit_input_filter(&self, fit_on: &[usize], radius_px: usize) -> Result<InputFilter, PipelineError> {
        let inputs = fit_on
            .iter()
            .filter_map(|&i| self.pieces.get(i))
            .map(|p| Ok((self.fair_with_margin(&p.image.region, &p.image.raster, radius_px)?, p)))
            .collect::<Result<Vec<_>, PipelineError>>()?;
        let samples: Vec<_> = inputs.iter().map(|(input, p)| (input.view(), p.image.data.view())).collect();
        InputFilter::fit(&samples, radius_px).map_err(|e| PipelineError::NoTraining(format!("fitting the input filter: {e}")))
    }

    /// Each of the pieces `pieces` (indices into `pieces`) predicted by the input filter fitted on
    /// the others — leave one piece out — as (index, prediction on the piece's pixels): what the
    /// filter does on data it has not seen, for every piece. A piece whose fit fails (too few pixels
    /// without it) is left out.
    pub fn input_filter_left_out(&self, pieces: &[usize], radius_px: usize) -> Result<Vec<(usize, Array2<f32>)>, PipelineError> {
        let fit_error = |e: crate::linear_input::InputFilterError| PipelineError::NoTraining(format!("fitting the input filter: {e}"));
        let mut inputs = Vec::with_capacity(pieces.len());
        let mut equations = Vec::with_capacity(pieces.len());
        for &i in pieces.iter().filter(|&&i| i < self.pieces.len()) {
            let piece = &self.pieces[i];
            let input = self.fair_with_margin(&piece.image.region, &piece.image.raster, radius_px)?;
            equations.push(NormalEquations::of_sample(input.view(), piece.image.data.view(), radius_px).map_err(fit_error)?);
            inputs.push((i, input));
        }
        let mut left_out = Vec::with_capacity(inputs.len());
        for (k, (i, input)) in inputs.iter().enumerate() {
            let others = equations.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, e)| e);
            match NormalEquations::sum(others, radius_px).solve() {
                Ok(filter) => left_out.push((*i, filter.apply(input.view()))),
                Err(e) => tracing::debug!("input filter without piece {i}: {e}"),
            }
        }
        Ok(left_out)
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
