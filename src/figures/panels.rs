//! A row of image panels (e.g. LR | SR | HR | |SR − HR|): panels marked `Shared` use one colour scale,
//! others their own; every panel is shown at the size of the largest (nearest-neighbour), **row 0 at
//! the bottom** (row 0 is the first, bottom scan line), with the picks outlined. Colour scales span the
//! 0.5–99.5 percentiles, so a few spikes do not wash out the image; the range is printed under each panel.

use super::colormap::Colormap;
use super::font::text_available;
use super::{draw_err, write_png, FigureError};
use afm_drivers::PixelRect;
use ndarray::ArrayView2;
use plotters::prelude::*;
use std::path::Path;

/// Which colour scale a panel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelScale {
    /// The scale shared by all `Shared` panels.
    Shared,
    /// Its own scale.
    Own,
}

/// One image of the row.
#[derive(Debug, Clone)]
pub struct ImagePanel<'a> {
    /// Title above the panel.
    pub title: String,
    /// The image, `[row, col]`, row 0 drawn at the bottom.
    pub data: ArrayView2<'a, f32>,
    /// Its colour scale.
    pub scale: PanelScale,
    /// Its colour map.
    pub colormap: Colormap,
}

const MARGIN: u32 = 10;
const TITLE_BAND: u32 = 30;
const RANGE_BAND: u32 = 24;
const MIN_SIDE: usize = 256;
const OUTLINE: RGBColor = RGBColor(0, 200, 255);

/// Draws `panels` side by side to a PNG at `path`. `outlines` are rectangles on the pixel grid of the
/// largest panel (the HR grid), drawn on every panel scaled to its size.
pub fn image_row_png(path: &Path, panels: &[ImagePanel<'_>], outlines: &[PixelRect]) -> Result<(), FigureError> {
    draw_image_row(path, panels, outlines, text_available())
}

/// The standard comparison row: LR | SR | HR | |SR − HR| — the first three on one shared height scale
/// (afmhot), the error on its own (grey) — or LR | SR without a ground truth. `picks` are on the HR grid.
pub fn sr_comparison_png<'a>(
    path: &Path,
    lr: ArrayView2<'a, f32>,
    sr: ArrayView2<'a, f32>,
    hr: Option<ArrayView2<'a, f32>>,
    picks: &[PixelRect],
) -> Result<(), FigureError> {
    fn panel<'a>(title: &str, data: ArrayView2<'a, f32>, scale: PanelScale, colormap: Colormap) -> ImagePanel<'a> {
        ImagePanel { title: title.into(), data, scale, colormap }
    }
    if hr.is_some_and(|h| h.dim() != sr.dim()) {
        return Err(FigureError::Empty("SR and HR of different shapes"));
    }
    let err = hr.map(|h| (&sr - &h).mapv(f32::abs));
    // views re-borrowed to one local lifetime (ArrayView is invariant in its lifetime)
    let mut panels =
        vec![panel("LR", lr.view(), PanelScale::Shared, Colormap::AfmHot), panel("SR", sr.view(), PanelScale::Shared, Colormap::AfmHot)];
    if let (Some(hr), Some(err)) = (hr.as_ref(), err.as_ref()) {
        panels.push(panel("HR (ground truth)", hr.view(), PanelScale::Shared, Colormap::AfmHot));
        panels.push(panel("|SR − HR|", err.view(), PanelScale::Own, Colormap::Grey));
    }
    image_row_png(path, &panels, picks)
}

/// The (lo, hi) of the 0.5–99.5 percentiles of the finite values; (v − 1, v + 1) for a flat image.
fn robust_range<'a>(images: impl Iterator<Item = ArrayView2<'a, f32>>) -> (f64, f64) {
    let mut v: Vec<f32> = images.flat_map(|a| a.iter().copied().filter(|x| x.is_finite()).collect::<Vec<_>>()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64;
    let (lo, hi) = (at(0.005), at(0.995));
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    }
}

pub(super) fn draw_image_row(path: &Path, panels: &[ImagePanel<'_>], outlines: &[PixelRect], text: bool) -> Result<(), FigureError> {
    let (ref_rows, ref_cols) = panels.iter().map(|p| p.data.dim()).max_by_key(|d| d.0 * d.1).unwrap_or((0, 0));
    if ref_rows == 0 || ref_cols == 0 || panels.iter().any(|p| p.data.is_empty()) {
        return Err(FigureError::Empty("an image row without panels or with an empty image"));
    }
    let zoom = MIN_SIDE.div_ceil(ref_rows.max(ref_cols)).max(1);
    let (dh, dw) = ((ref_rows * zoom) as u32, (ref_cols * zoom) as u32);
    let (top, bottom) = if text { (TITLE_BAND, RANGE_BAND) } else { (MARGIN, 0) };
    let n = panels.len() as u32;
    let (w, h) = (MARGIN + n * (dw + MARGIN), top + dh + bottom + MARGIN);
    let shared = robust_range(panels.iter().filter(|p| p.scale == PanelScale::Shared).map(|p| p.data));
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut ranges = Vec::new();
    for (i, p) in panels.iter().enumerate() {
        let (lo, hi) = match p.scale {
            PanelScale::Shared => shared,
            PanelScale::Own => robust_range(std::iter::once(p.data)),
        };
        ranges.push((lo, hi));
        let (rows, cols) = p.data.dim();
        let ox = MARGIN + i as u32 * (dw + MARGIN);
        for y in 0..dh {
            let r = ((dh - 1 - y) as usize * rows) / dh as usize; // row 0 at the bottom
            for x in 0..dw {
                let c = (x as usize * cols) / dw as usize;
                let rgb = p.colormap.rgb((p.data[[r, c]] as f64 - lo) / (hi - lo));
                let k = (((top + y) * w + ox + x) * 3) as usize;
                buf[k..k + 3].copy_from_slice(&rgb);
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        for (i, p) in panels.iter().enumerate() {
            let ox = (MARGIN + i as u32 * (dw + MARGIN)) as i32;
            let (sx, sy) = (dw as f64 / ref_cols as f64, dh as f64 / ref_rows as f64);
            for rect in outlines {
                let x0 = ox + (rect.col as f64 * sx) as i32;
                let x1 = ox + ((rect.col + rect.cols) as f64 * sx) as i32 - 1;
                let y0 = top as i32 + dh as i32 - ((rect.row + rect.rows) as f64 * sy) as i32;
                let y1 = top as i32 + dh as i32 - (rect.row as f64 * sy) as i32 - 1;
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], OUTLINE.stroke_width(2))).map_err(draw_err)?;
            }
            if text {
                let title = ("sans-serif", 18).into_font().color(&BLACK);
                root.draw(&Text::new(p.title.clone(), (ox, 6), title)).map_err(draw_err)?;
                let (lo, hi) = ranges[i];
                let label = format!("{lo:.3e} … {hi:.3e}");
                let small = ("sans-serif", 13).into_font().color(&BLACK);
                root.draw(&Text::new(label, (ox, (top + dh + 5) as i32), small)).map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    write_png(path, w, h, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn row_zero_is_drawn_at_the_bottom_and_picks_are_outlined() {
        let img = Array2::from_shape_fn((8, 8), |(r, _)| if r == 0 { 1.0f32 } else { 0.0 });
        let panel = |scale| ImagePanel { title: "HR".into(), data: img.view(), scale, colormap: Colormap::Grey };
        let path = std::env::temp_dir().join(format!("afm-spark-panels-{}.png", std::process::id()));
        let pick = PixelRect { col: 4, row: 4, cols: 4, rows: 4 };
        draw_image_row(&path, &[panel(PanelScale::Shared), panel(PanelScale::Own)], &[pick], false).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        // zoom 32 → 256-px panels, no text bands
        assert_eq!((png.width(), png.height()), (10 + 2 * 266, 10 + 256 + 10));
        assert_eq!(png.get_pixel(20, 10 + 255).0, [255, 255, 255]); // bottom line = row 0 = bright
        assert_eq!(png.get_pixel(20, 10).0, [0, 0, 0]); // top line = row 7 = dark
                                                        // the pick (rows 4–7, cols 4–7) is outlined in the upper-right quarter
        let (r, g, b) = OUTLINE.rgb();
        assert_eq!(png.get_pixel(10 + 200, 10).0, [r, g, b]);
        assert_eq!(png.get_pixel(10 + 200, 10 + 200).0, [0, 0, 0]);
        let hr = Array2::from_shape_fn((32, 32), |(r, c)| (r + c) as f32);
        sr_comparison_png(&path, img.view(), hr.view(), Some(hr.view()), &[pick]).unwrap();
        let png = image::open(&path).unwrap();
        assert_eq!(png.width(), 10 + 4 * 266);
        std::fs::remove_file(&path).unwrap();
    }
}
