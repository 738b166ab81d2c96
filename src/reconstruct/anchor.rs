//! Low-frequency data consistency: the reconstruction keeps its own detail but takes its low
//! frequencies from the fair baseline, i.e. from the LR measurement. The LR samples the surface well
//! far below its Nyquist frequency, so there it is the better witness; a network that has only seen
//! the picked tiles can add a smooth offset where it never saw similar content (a flat background
//! between particles), which held-out patches of that content cannot reveal.

use crate::filter::gaussian_blur;
use ndarray::{Array2, ArrayView2};

/// `sr − G(sr) + G(fair)` with `G` a Gaussian of `sigma_px` (along a line, across lines) pixels;
/// `sr` unchanged when either σ is 0.
pub fn anchor_low_frequencies(sr: ArrayView2<f32>, fair: ArrayView2<f32>, sigma_px: (f64, f64)) -> Array2<f32> {
    if sigma_px.0 <= 0.0 || sigma_px.1 <= 0.0 || sr.dim() != fair.dim() {
        return sr.to_owned();
    }
    let low = |a: ArrayView2<f32>| gaussian_blur(&a.mapv(f64::from), sigma_px.0, sigma_px.1);
    let (low_sr, low_fair) = (low(sr), low(fair));
    Array2::from_shape_fn(sr.dim(), |i| (sr[i] as f64 - low_sr[i] + low_fair[i]) as f32)
}

/// The anchor's σ in the pixels of a grid of pitch `pitch_m`, for `sigma_lr_px` LR pixels of pitch
/// `lr_pitch_m` (points, lines); 0 where a pitch is unknown.
pub fn sigma_on_grid(sigma_lr_px: f64, lr_pitch_m: (f64, f64), pitch_m: (f64, f64)) -> (f64, f64) {
    let on = |lr: f64, p: f64| if lr > 0.0 && p > 0.0 { sigma_lr_px * lr / p } else { 0.0 };
    (on(lr_pitch_m.0, pitch_m.0), on(lr_pitch_m.1, pitch_m.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchor_takes_the_offset_from_the_fair_baseline_and_keeps_the_detail() {
        let detail = |r: usize, c: usize| ((r * 7 + c * 3) % 5) as f32 - 2.0; // fine, zero-mean texture
        let fair = Array2::from_shape_fn((96, 96), |(r, _)| 0.01 * r as f32);
        let sr = Array2::from_shape_fn((96, 96), |(r, c)| fair[[r, c]] + detail(r, c) + 3.0);
        let anchored = anchor_low_frequencies(sr.view(), fair.view(), (8.0, 8.0));
        let worst = (24..72)
            .flat_map(|r| (24..72).map(move |c| (r, c)))
            .map(|(r, c)| (anchored[[r, c]] - (fair[[r, c]] + detail(r, c))).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.05, "the offset of 3 should be gone and the detail kept: {worst}");
        assert_eq!(anchor_low_frequencies(sr.view(), fair.view(), (0.0, 8.0)), sr);
        assert_eq!(sigma_on_grid(4.0, (80e-9, 80e-9), (20e-9, 40e-9)), (16.0, 8.0));
    }
}
