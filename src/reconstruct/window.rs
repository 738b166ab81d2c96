//! Where tiles go and how they are weighted: tile origins along an axis (the last tile flush with the
//! border) and the floored 2-D Hann blending window.

use ndarray::Array2;

/// Origins of tiles of length `tile` every `stride` along an axis of length `n`, the last one at
/// `n − tile` so the border is covered. `None` when the axis is shorter than a tile.
pub fn tile_starts(n: usize, tile: usize, stride: usize) -> Option<Vec<usize>> {
    if tile == 0 || n < tile || stride == 0 {
        return None;
    }
    let mut starts: Vec<usize> = (0..).map(|k| k * stride).take_while(|&s| s + tile < n).collect();
    starts.push(n - tile);
    Some(starts)
}

/// The symmetric 2-D Hann window `h(r)·h(c)`, raised to at least `floor` everywhere (the plain window
/// is 0 on its outer rows and columns, which would leave the image border without weight).
pub fn hann_window(rows: usize, cols: usize, floor: f64) -> Array2<f64> {
    let hann = |n: usize| -> Vec<f64> {
        if n < 2 {
            return vec![1.0; n];
        }
        (0..n).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()).collect()
    };
    let (hr, hc) = (hann(rows), hann(cols));
    Array2::from_shape_fn((rows, cols), |(r, c)| (hr[r] * hc[c]).max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_with_the_last_flush() {
        assert_eq!(tile_starts(100, 64, 21), Some(vec![0, 21, 36]));
        assert_eq!(tile_starts(64, 64, 21), Some(vec![0]));
        assert_eq!(tile_starts(130, 64, 21), Some(vec![0, 21, 42, 63, 66]));
        assert_eq!(tile_starts(63, 64, 21), None);
    }

    #[test]
    fn window_is_floored_and_peaks_in_the_middle() {
        let w = hann_window(9, 9, 1e-3);
        assert_eq!(w[[0, 0]], 1e-3);
        assert_eq!(w[[0, 4]], 1e-3);
        assert!((w[[4, 4]] - 1.0).abs() < 1e-12);
        assert!(w.iter().all(|&v| v >= 1e-3));
    }
}
