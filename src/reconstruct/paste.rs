//! Putting the measured HR patches back into the reconstruction: measured data beats inference. A
//! feathered seam of `seam_px` pixels blends the patch's outermost pixels with the reconstruction
//! (weight of the measurement `(d + 1)/(seam_px + 1)` at distance d from the patch edge, 1 deeper in);
//! `seam_px = 0` pastes hard.

use afm_drivers::PixelRect;
use ndarray::{Array2, ArrayView2};

/// A measured HR patch and where it lies on the HR grid.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredPatch {
    /// Its pixels on the HR grid.
    pub rect: PixelRect,
    /// The measured heights, `[row, col]`, `rect.rows × rect.cols`, metres.
    pub data: Array2<f32>,
}

/// A patch that does not fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PasteError {
    /// The patch's data is not shaped like its rectangle.
    #[error("patch {index}: data is {got:?} but its rectangle is {rows}×{cols}")]
    Shape {
        /// Index of the patch.
        index: usize,
        /// Shape of the data.
        got: (usize, usize),
        /// Rows of the rectangle.
        rows: usize,
        /// Columns of the rectangle.
        cols: usize,
    },
    /// The rectangle reaches outside the image.
    #[error("patch {index}: rectangle {rect:?} reaches outside the {rows}×{cols} image")]
    Outside {
        /// Index of the patch.
        index: usize,
        /// The rectangle.
        rect: PixelRect,
        /// Image rows.
        rows: usize,
        /// Image columns.
        cols: usize,
    },
}

/// Checks that every patch fits `shape` and matches its rectangle.
pub fn check_patches(patches: &[MeasuredPatch], shape: (usize, usize)) -> Result<(), PasteError> {
    let (rows, cols) = shape;
    for (index, p) in patches.iter().enumerate() {
        let r = p.rect;
        if p.data.dim() != (r.rows, r.cols) {
            return Err(PasteError::Shape { index, got: p.data.dim(), rows: r.rows, cols: r.cols });
        }
        if r.row + r.rows > rows || r.col + r.cols > cols {
            return Err(PasteError::Outside { index, rect: r, rows, cols });
        }
    }
    Ok(())
}

/// Weight of the measurement at (`r`, `c`) inside a `rows × cols` patch.
fn feather(r: usize, c: usize, rows: usize, cols: usize, seam_px: usize) -> f32 {
    let d = r.min(c).min(rows - 1 - r).min(cols - 1 - c);
    ((d + 1) as f32 / (seam_px + 1) as f32).min(1.0)
}

/// `image` with every patch pasted in, in order (later patches win where they overlap).
pub fn paste_patches(image: ArrayView2<f32>, patches: &[MeasuredPatch], seam_px: usize) -> Result<Array2<f32>, PasteError> {
    check_patches(patches, image.dim())?;
    let mut out = image.to_owned();
    for p in patches {
        let PixelRect { col, row, cols, rows } = p.rect;
        for ((r, c), &m) in p.data.indexed_iter() {
            let a = feather(r, c, rows, cols, seam_px);
            let px = &mut out[[row + r, col + c]];
            *px = a * m + (1.0 - a) * *px;
        }
    }
    Ok(out)
}

/// true where a measured patch lies, else false, on a `rows × cols` grid.
pub fn acquired_mask(shape: (usize, usize), rects: impl IntoIterator<Item = PixelRect>) -> Array2<bool> {
    let mut mask = Array2::from_elem(shape, false);
    for r in rects {
        let rows = r.row.min(shape.0)..(r.row + r.rows).min(shape.0);
        let cols = r.col.min(shape.1)..(r.col + r.cols).min(shape.1);
        mask.slice_mut(ndarray::s![rows, cols]).fill(true);
    }
    mask
}

/// The mask as the run folders store it (`acquired_mask.npy`): 1.0 where a measured patch lies, else 0.0.
pub fn mask_as_f32(mask: &Array2<bool>) -> Array2<f32> {
    mask.mapv(|a| if a { 1.0 } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_and_feathered_paste() {
        let img = Array2::<f32>::zeros((8, 8));
        let rect = PixelRect { col: 2, row: 1, cols: 5, rows: 5 };
        let p = MeasuredPatch { rect, data: Array2::from_elem((5, 5), 1.0) };
        let hard = paste_patches(img.view(), std::slice::from_ref(&p), 0).unwrap();
        assert_eq!(hard.sum(), 25.0);
        assert_eq!(hard[[1, 2]], 1.0);
        assert_eq!(hard[[0, 2]], 0.0);
        let soft = paste_patches(img.view(), std::slice::from_ref(&p), 1).unwrap();
        assert_eq!(soft[[1, 2]], 0.5); // on the patch edge
        assert_eq!(soft[[2, 3]], 1.0); // one pixel in
        let mask = acquired_mask((8, 8), [rect]);
        assert_eq!(mask.iter().filter(|&&m| m).count(), 25);
        let bad = MeasuredPatch { rect: PixelRect { col: 6, ..rect }, data: p.data.clone() };
        assert!(matches!(paste_patches(img.view(), &[bad], 0), Err(PasteError::Outside { .. })));
    }
}
