//! Line alignment by the median of differences (Gwyddion's "median of differences" row alignment):
//! each scan line is shifted so that the median of its pixel-wise difference to the previous line is
//! zero. Robust to features that span a few lines, exact for pure line offsets.

use ndarray::{Array2, ArrayView2};

/// The offset of every line (index = line) that [`align_lines`] removes: cumulative medians of the
/// differences to the previous line over the pixels masked in both lines, shifted to sum to zero.
/// A line with no usable pixel pair keeps the previous line's offset.
pub fn line_offsets(image: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Vec<f64> {
    let (lines, points) = image.dim();
    let mut offsets = vec![0.0f64; lines];
    let mut diffs = Vec::with_capacity(points);
    for r in 1..lines {
        diffs.clear();
        for c in 0..points {
            let usable = mask.is_none_or(|m| m[[r, c]] && m[[r - 1, c]]);
            let d = image[[r, c]] as f64 - image[[r - 1, c]] as f64;
            if usable && d.is_finite() {
                diffs.push(d);
            }
        }
        offsets[r] = offsets[r - 1] + median(&mut diffs).unwrap_or(0.0);
    }
    let mean = offsets.iter().sum::<f64>() / lines.max(1) as f64;
    offsets.iter_mut().for_each(|o| *o -= mean);
    offsets
}

/// `image` with its line offsets removed (see [`line_offsets`]).
pub fn align_lines(image: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Array2<f32> {
    let offsets = line_offsets(image, mask);
    let mut out = image.to_owned();
    for (mut row, o) in out.rows_mut().into_iter().zip(offsets) {
        row.mapv_inplace(|v| (v as f64 - o) as f32);
    }
    out
}

/// `image` with each line shifted so that the median of its difference to the same line of
/// `reference` (same shape) is zero: line offsets removed against a reference that has none, which
/// features crossing the lines cannot bias.
pub fn align_lines_to(image: ArrayView2<f32>, reference: ArrayView2<f32>) -> Array2<f32> {
    let mut out = image.to_owned();
    let mut diffs = Vec::with_capacity(image.ncols());
    for (mut row, ref_row) in out.rows_mut().into_iter().zip(reference.rows()) {
        diffs.clear();
        diffs.extend(row.iter().zip(ref_row.iter()).map(|(&a, &b)| a as f64 - b as f64).filter(|d| d.is_finite()));
        let offset = median(&mut diffs).unwrap_or(0.0);
        row.mapv_inplace(|v| (v as f64 - offset) as f32);
    }
    out
}

/// The median (mean of the two middle values for an even count), or `None` for no values.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_line_offsets_are_removed_exactly_and_features_survive() {
        let offsets = [0.0, 3.0, -2.0, 5.0, 5.0, -1.0];
        // a bump spanning two lines in a few columns must not be flattened
        let truth = Array2::from_shape_fn((6, 40), |(r, c)| if (2..4).contains(&r) && (10..14).contains(&c) { 7.0 } else { 0.0f32 });
        let raw = Array2::from_shape_fn((6, 40), |(r, c)| truth[[r, c]] + offsets[r] as f32);
        let aligned = align_lines(raw.view(), None);
        let shift = aligned[[0, 0]] - truth[[0, 0]];
        for ((r, c), &v) in aligned.indexed_iter() {
            assert!((v - shift - truth[[r, c]]).abs() < 1e-5, "line {r} point {c}: {v}");
        }
        let removed = line_offsets(raw.view(), None);
        assert!(removed.iter().sum::<f64>().abs() < 1e-9, "offsets sum to zero");
    }

    #[test]
    fn lines_aligned_to_a_reference_lose_their_offsets_even_under_wide_features() {
        // a feature wider than half the lines: line-to-line medians take its edge for a line offset, the
        // difference to a reference without offsets does not
        let truth = Array2::from_shape_fn((16, 16), |(r, c)| if (4..12).contains(&r) && c < 12 { 3.0f32 } else { 0.0 });
        let raw = Array2::from_shape_fn((16, 16), |(r, c)| truth[[r, c]] + (r as f32 * 0.7).sin());
        let aligned = align_lines_to(raw.view(), truth.view());
        assert!(aligned.iter().zip(truth.iter()).all(|(a, t)| (a - t).abs() < 1e-5));
        let naive = align_lines(raw.view(), None);
        let shift = naive[[0, 0]] - truth[[0, 0]];
        assert!(naive.iter().zip(truth.iter()).any(|(a, t)| (a - shift - t).abs() > 0.5), "line-to-line medians are fooled here");
    }

    #[test]
    fn masked_pixels_are_ignored() {
        // line 1 has a tall feature over most of it; the mask hides it
        let raw = Array2::from_shape_fn((3, 10), |(r, c)| if r == 1 && c < 7 { 10.0 } else { r as f32 });
        let mask = Array2::from_shape_fn((3, 10), |(r, c)| !(r == 1 && c < 7));
        let off = line_offsets(raw.view(), Some(mask.view()));
        assert!((off[1] - off[0] - 1.0).abs() < 1e-9 && (off[2] - off[1] - 1.0).abs() < 1e-9, "{off:?}");
        assert!(median(&mut []).is_none());
    }
}
