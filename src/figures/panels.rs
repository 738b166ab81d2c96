//! A row of image panels (e.g. LR | SR | HR | |SR − HR|): panels marked `Shared` use one colour scale,
//! others their own; every panel is shown at the size of the largest (nearest-neighbour), **row 0 at
//! the bottom** (row 0 is the first, bottom scan line), with the picks outlined and numbered in pick
//! order. Colour scales span the 0.5–99.5 percentiles, so a few spikes do not wash out the image.
//!
//! Under each panel a colour bar with labelled ticks shows its scale in the channel's unit with an SI
//! prefix chosen from the data (heights in metres are shown in nm or pm, volts in mV …); with the
//! pixel pitch known, a scale bar (e.g. "500 nm") sits in the lower-left corner of each image.

use super::colormap::Colormap;
use super::font::text_available;
use super::units::{nice_ticks, scale_bar_length, tick_label, DisplayUnit};
use super::{draw_err, write_png, FigureError};
use afm_drivers::PixelRect;
use ndarray::ArrayView2;
use plotters::coord::Shift;
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

/// What the values and pixels of a row of panels are, physically.
#[derive(Debug, Clone, PartialEq)]
pub struct RowOptions {
    /// Unit of the values of every panel: "m" (heights), "V", "deg", "Hz" … Colour bars show it with an
    /// SI prefix chosen from the data ("nm", "mV" …).
    pub unit: String,
    /// Pixel pitch along x and along y (between lines) of the largest panel (the grid the outlines
    /// are on), metres. Panels are drawn in proportion to it — a grid of 256 points × 128 lines over a
    /// square region is drawn square — with a scale bar; `None` draws square pixels and no scale bar.
    pub pixel_pitch_xy_m: Option<(f64, f64)>,
}

impl Default for RowOptions {
    /// Heights in metres, pitch unknown (square pixels, no scale bar).
    fn default() -> Self {
        Self { unit: "m".into(), pixel_pitch_xy_m: None }
    }
}

impl RowOptions {
    /// The pitch along x when it is usable (finite, > 0): the scale bar's.
    fn pitch_x_m(&self) -> Option<f64> {
        self.pixel_pitch_xy_m.and_then(|(x, _)| usable_pitch(x))
    }

    /// How tall a pixel is drawn for its width: pitch y ÷ pitch x, 1 when either is unusable and held
    /// to [`MAX_PIXEL_ASPECT`] either way so a degenerate pitch cannot make a sliver of a panel.
    fn pixel_aspect(&self) -> f64 {
        match self.pixel_pitch_xy_m.and_then(|(x, y)| Some((usable_pitch(x)?, usable_pitch(y)?))) {
            Some((x, y)) => (y / x).clamp(1.0 / MAX_PIXEL_ASPECT, MAX_PIXEL_ASPECT),
            None => 1.0,
        }
    }
}

/// A pitch that can be drawn by: finite and > 0.
fn usable_pitch(pitch_m: f64) -> Option<f64> {
    (pitch_m.is_finite() && pitch_m > 0.0).then_some(pitch_m)
}

const MARGIN: u32 = 10;
const TITLE_BAND: u32 = 30;
/// Gap between the image and its colour bar, the bar's height, and its tick marks, pixels.
const BAR_GAP: u32 = 6;
const BAR_H: u32 = 12;
const TICK_LEN: u32 = 4;
/// Height of the tick-label line and width kept right of the bar for the unit, pixels.
const TICK_TEXT: u32 = 18;
const UNIT_W: u32 = 46;
const MIN_SIDE: usize = 256;
/// The most a pixel is drawn taller than wide, or wider than tall.
const MAX_PIXEL_ASPECT: f64 = 16.0;
const OUTLINE: RGBColor = RGBColor(0, 200, 255);

/// Draws `panels` side by side to a PNG at `path`, values in metres, no scale bar. `outlines` are
/// rectangles on the pixel grid of the largest panel (the HR grid), drawn and numbered 1, 2, … in
/// the order given on every panel scaled to its size.
pub fn image_row_png(path: &Path, panels: &[ImagePanel<'_>], outlines: &[PixelRect]) -> Result<(), FigureError> {
    image_row_png_with(path, panels, outlines, &RowOptions::default())
}

/// [`image_row_png`] with the values' unit and the pixel pitch (for the scale bar).
pub fn image_row_png_with(path: &Path, panels: &[ImagePanel<'_>], outlines: &[PixelRect], options: &RowOptions) -> Result<(), FigureError> {
    draw_image_row(path, panels, outlines, options, text_available())
}

/// The standard comparison row, values in metres, no scale bar: see [`sr_comparison_png_with`].
pub fn sr_comparison_png<'a>(
    path: &Path,
    lr: ArrayView2<'a, f32>,
    sr: ArrayView2<'a, f32>,
    hr: Option<ArrayView2<'a, f32>>,
    picks: &[PixelRect],
) -> Result<(), FigureError> {
    sr_comparison_png_with(path, lr, sr, hr, picks, &RowOptions::default())
}

/// The standard comparison row: LR | SR | HR | |SR − HR| — the first three on one shared scale
/// (afmhot), the error on its own (grey) — or LR | SR without a ground truth. `picks` are on the HR
/// grid, numbered in pick order; `options.pixel_pitch_xy_m` is the HR pitch.
pub fn sr_comparison_png_with<'a>(
    path: &Path,
    lr: ArrayView2<'a, f32>,
    sr: ArrayView2<'a, f32>,
    hr: Option<ArrayView2<'a, f32>>,
    picks: &[PixelRect],
    options: &RowOptions,
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
    image_row_png_with(path, &panels, picks, options)
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
        let pad = if lo != 0.0 { lo.abs() * 1e-3 } else { 1.0 };
        (lo - pad, lo + pad)
    }
}

/// Where things go, pixels.
struct Layout {
    /// Width and height of every drawn panel.
    dw: u32,
    dh: u32,
    /// Height above the images (title band).
    top: u32,
    /// Width of each colour bar.
    bar_w: u32,
}

impl Layout {
    fn panel_x(&self, i: usize) -> u32 {
        MARGIN + i as u32 * (self.dw + MARGIN)
    }
    fn bar_y(&self) -> u32 {
        self.top + self.dh + BAR_GAP
    }
}

/// Height of the band under the images: colour bar, ticks, and tick labels when there is text.
fn bottom_band(text: bool) -> u32 {
    BAR_GAP + BAR_H + TICK_LEN + if text { TICK_TEXT } else { 0 }
}

pub(super) fn draw_image_row(
    path: &Path,
    panels: &[ImagePanel<'_>],
    outlines: &[PixelRect],
    options: &RowOptions,
    text: bool,
) -> Result<(), FigureError> {
    let (ref_rows, ref_cols) = panels.iter().map(|p| p.data.dim()).max_by_key(|d| d.0 * d.1).unwrap_or((0, 0));
    if ref_rows == 0 || ref_cols == 0 || panels.iter().any(|p| p.data.is_empty()) {
        return Err(FigureError::Empty("an image row without panels or with an empty image"));
    }
    // Whole-pixel zoom along x; y follows the pixels' physical proportion.
    let aspect = options.pixel_aspect();
    let shown_rows = ref_rows as f64 * aspect;
    let zoom = (MIN_SIDE as f64 / shown_rows.max(ref_cols as f64)).ceil().max(1.0);
    let (dh, dw) = (((shown_rows * zoom).round() as u32).max(1), (ref_cols as f64 * zoom) as u32);
    let top = if text { TITLE_BAND } else { MARGIN };
    let layout = Layout { dw, dh, top, bar_w: if text { dw.saturating_sub(UNIT_W).max(16) } else { dw } };
    let n = panels.len() as u32;
    let (w, h) = (MARGIN + n * (dw + MARGIN), top + dh + bottom_band(text) + MARGIN);
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
        let ox = layout.panel_x(i);
        for y in 0..dh {
            let r = ((dh - 1 - y) as usize * rows) / dh as usize; // row 0 at the bottom
            for x in 0..dw {
                let c = (x as usize * cols) / dw as usize;
                let rgb = p.colormap.rgb((p.data[[r, c]] as f64 - lo) / (hi - lo));
                let k = (((top + y) * w + ox + x) * 3) as usize;
                buf[k..k + 3].copy_from_slice(&rgb);
            }
        }
        // The colour bar: the map left to right.
        for x in 0..layout.bar_w {
            let rgb = p.colormap.rgb(f64::from(x) / f64::from(layout.bar_w.max(2) - 1));
            for y in layout.bar_y()..layout.bar_y() + BAR_H {
                let k = ((y * w + ox + x) * 3) as usize;
                buf[k..k + 3].copy_from_slice(&rgb);
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        for (i, p) in panels.iter().enumerate() {
            let ox = layout.panel_x(i) as i32;
            draw_outlines(&root, &layout, ox, (ref_rows, ref_cols), outlines, text)?;
            draw_colour_bar(&root, &layout, ox, ranges[i], &options.unit, text)?;
            if let Some(pitch) = options.pitch_x_m() {
                draw_scale_bar(&root, &layout, ox, pitch * ref_cols as f64, text)?;
            }
            if text {
                draw_title(&root, &p.title, ox, layout.dw)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    write_png(path, w, h, &buf)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A panel's title above it at `ox`, in 18-pt type, or smaller (down to 10 pt) where that would run
/// past the panel's `width` into its neighbour or off the figure; cut short with "…" where even
/// 10 pt does.
fn draw_title(root: &Area<'_>, title: &str, ox: i32, width: u32) -> Result<(), FigureError> {
    let fits = |text: &str, size: u32| {
        root.estimate_text_size(text, &TextStyle::from(("sans-serif", size).into_font())).is_ok_and(|(w, _)| w <= width)
    };
    let (text, size) = match (10..=18u32).rev().find(|&size| fits(title, size)) {
        Some(size) => (title.to_string(), size),
        None => {
            let chars: Vec<char> = title.chars().collect();
            let cut = (0..chars.len()).rev().map(|n| chars[..n].iter().collect::<String>() + "…").find(|t| fits(t, 10));
            (cut.unwrap_or_default(), 10)
        }
    };
    let font = ("sans-serif", size).into_font().color(&BLACK);
    root.draw(&Text::new(text, (ox, 6), font)).map_err(draw_err)
}

/// Outlines of the picks on one panel, numbered 1, 2, … in the order given.
fn draw_outlines(
    root: &Area<'_>,
    l: &Layout,
    ox: i32,
    (ref_rows, ref_cols): (usize, usize),
    outlines: &[PixelRect],
    text: bool,
) -> Result<(), FigureError> {
    let (sx, sy) = (l.dw as f64 / ref_cols as f64, l.dh as f64 / ref_rows as f64);
    let (top, dh) = (l.top as i32, l.dh as i32);
    for (k, rect) in outlines.iter().enumerate() {
        let x0 = ox + (rect.col as f64 * sx) as i32;
        let x1 = ox + ((rect.col + rect.cols) as f64 * sx) as i32 - 1;
        let y0 = top + dh - ((rect.row + rect.rows) as f64 * sy) as i32;
        let y1 = top + dh - (rect.row as f64 * sy) as i32 - 1;
        root.draw(&Rectangle::new([(x0, y0), (x1, y1)], OUTLINE.stroke_width(2))).map_err(draw_err)?;
        if text {
            let size = ((y1 - y0) / 4).clamp(11, 22);
            let font = ("sans-serif", size).into_font();
            let label = (k + 1).to_string();
            let (tw, th) = root.estimate_text_size(&label, &TextStyle::from(font.clone())).map_err(draw_err)?;
            let (bx, by) = (x0 + 2, y0 + 2);
            root.draw(&Rectangle::new([(bx, by), (bx + tw as i32 + 3, by + th as i32 + 2)], BLACK.mix(0.65).filled())).map_err(draw_err)?;
            root.draw(&Text::new(label, (bx + 2, by + 1), font.color(&OUTLINE))).map_err(draw_err)?;
        }
    }
    Ok(())
}

/// Ticks and labels of a panel's colour bar (the gradient itself is painted into the buffer), and
/// the unit right of it.
fn draw_colour_bar(root: &Area<'_>, l: &Layout, ox: i32, (lo, hi): (f64, f64), unit: &str, text: bool) -> Result<(), FigureError> {
    let shown = DisplayUnit::for_range(unit, lo, hi);
    let (a, b) = (lo * shown.factor, hi * shown.factor);
    let ticks = nice_ticks(a, b, 4);
    let step = if ticks.len() > 1 { ticks[1] - ticks[0] } else { (b - a).abs() };
    let y = l.bar_y() as i32;
    root.draw(&Rectangle::new([(ox, y), (ox + l.bar_w as i32 - 1, y + BAR_H as i32 - 1)], BLACK.stroke_width(1))).map_err(draw_err)?;
    let small = ("sans-serif", 12).into_font();
    for t in ticks {
        let x = ox + ((t - a) / (b - a) * f64::from(l.bar_w - 1)).round() as i32;
        let y_end = y + (BAR_H + TICK_LEN) as i32;
        root.draw(&PathElement::new(vec![(x, y), (x, y_end)], BLACK.stroke_width(1))).map_err(draw_err)?;
        if text {
            let label = tick_label(t, step);
            let (tw, _) = root.estimate_text_size(&label, &TextStyle::from(small.clone())).map_err(draw_err)?;
            let lx = (x - tw as i32 / 2).clamp(ox, ox + l.bar_w as i32 - tw as i32);
            root.draw(&Text::new(label, (lx, y_end + 2), small.color(&BLACK))).map_err(draw_err)?;
        }
    }
    if text {
        let label = if shown.label.is_empty() { "(no unit)".to_string() } else { shown.label };
        root.draw(&Text::new(label, (ox + l.bar_w as i32 + 6, y - 1), ("sans-serif", 14).into_font().color(&BLACK))).map_err(draw_err)?;
    }
    Ok(())
}

/// A white scale bar of a round length (at most 30 % of the width) in the lower-left corner of the
/// image, with its length written above it, on a dark translucent box so it reads on bright images.
fn draw_scale_bar(root: &Area<'_>, l: &Layout, ox: i32, width_m: f64, text: bool) -> Result<(), FigureError> {
    let Some((len_m, label)) = scale_bar_length(0.3 * width_m) else { return Ok(()) };
    let len_px = (len_m / width_m * f64::from(l.dw)).round() as i32;
    if len_px < 4 {
        return Ok(());
    }
    let (x0, y1) = (ox + 12, (l.top + l.dh) as i32 - 12);
    let y0 = y1 - 5;
    let font = ("sans-serif", 14).into_font();
    let (tw, th) = if text { root.estimate_text_size(&label, &TextStyle::from(font.clone())).map_err(draw_err)? } else { (0, 0) };
    let ty = y0 - th as i32 - 4;
    // (a filled rectangle covers x0..x1 with x1 excluded)
    let box_top = if text { ty - 3 } else { y0 - 4 };
    let box_right = x0 + len_px.max(tw as i32) + 5;
    root.draw(&Rectangle::new([(x0 - 5, box_top), (box_right, y1 + 5)], BLACK.mix(0.55).filled())).map_err(draw_err)?;
    root.draw(&Rectangle::new([(x0, y0), (x0 + len_px, y1)], WHITE.filled())).map_err(draw_err)?;
    if text {
        root.draw(&Text::new(label, (x0, ty), font.color(&WHITE))).map_err(draw_err)?;
    }
    Ok(())
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
        draw_image_row(&path, &[panel(PanelScale::Shared), panel(PanelScale::Own)], &[pick], &RowOptions::default(), false).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        // zoom 32 → 256-px panels, no text bands; colour bar and ticks under the images
        assert_eq!((png.width(), png.height()), (10 + 2 * 266, 10 + 256 + bottom_band(false) + 10));
        assert_eq!(png.get_pixel(20, 10 + 255).0, [255, 255, 255]); // bottom line = row 0 = bright
        assert_eq!(png.get_pixel(20, 10).0, [0, 0, 0]); // top line = row 7 = dark
                                                        // the pick (rows 4–7, cols 4–7) is outlined in the upper-right quarter
        let (r, g, b) = OUTLINE.rgb();
        assert_eq!(png.get_pixel(10 + 200, 10).0, [r, g, b]);
        assert_eq!(png.get_pixel(10 + 200, 10 + 200).0, [0, 0, 0]);
        // the grey colour bar runs dark (left) to bright (right)
        let bar_y = 10 + 256 + BAR_GAP + BAR_H / 2;
        assert!(png.get_pixel(10 + 3, bar_y).0[0] < 10 && png.get_pixel(10 + 252, bar_y).0[0] > 245);
        let hr = Array2::from_shape_fn((32, 32), |(r, c)| (r + c) as f32);
        sr_comparison_png(&path, img.view(), hr.view(), Some(hr.view()), &[pick]).unwrap();
        let png = image::open(&path).unwrap();
        assert_eq!(png.width(), 10 + 4 * 266);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn pixels_are_drawn_in_their_physical_proportion() {
        // 128 lines × 256 points over a square region: pixels twice as tall as wide, drawn square;
        // the pick covering the upper half of the right half is outlined in the upper-right quarter.
        let img = Array2::from_shape_fn((128, 256), |(r, _)| r as f32);
        let panels = [ImagePanel { title: "HR".into(), data: img.view(), scale: PanelScale::Shared, colormap: Colormap::Grey }];
        let path = std::env::temp_dir().join(format!("afm-spark-aspect-{}.png", std::process::id()));
        let draw = |pitch| {
            let options = RowOptions { unit: "m".into(), pixel_pitch_xy_m: pitch };
            draw_image_row(&path, &panels, &[PixelRect { col: 128, row: 64, cols: 128, rows: 64 }], &options, false).unwrap();
            image::open(&path).unwrap().to_rgb8()
        };
        let png = draw(Some((4e-9, 8e-9)));
        assert_eq!((png.width(), png.height()), (10 + 266, 10 + 256 + bottom_band(false) + 10));
        let (r, g, b) = OUTLINE.rgb();
        assert_eq!(png.get_pixel(10 + 200, 10).0, [r, g, b]); // top edge of the pick
        assert_eq!(png.get_pixel(10 + 128, 10 + 64).0, [r, g, b]); // its left edge, halfway up
        assert_ne!(png.get_pixel(10 + 200, 10 + 200).0, [r, g, b]);
        // square pixels (pitch unknown, or a degenerate one): twice as wide as tall, as before
        for pitch in [None, Some((4e-9, 0.0)), Some((f64::NAN, 8e-9))] {
            let png = draw(pitch);
            assert_eq!((png.width(), png.height()), (10 + 266, 10 + 128 + bottom_band(false) + 10), "{pitch:?}");
        }
        // an absurd proportion is held to 16:1, never a sliver
        let png = draw(Some((1e-9, 1e-3)));
        assert_eq!(png.height(), 10 + 128 * 16 + bottom_band(false) + 10);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_long_title_is_set_smaller_to_stay_above_its_panel() {
        if !text_available() {
            eprintln!("SKIPPED: no font for text");
            return;
        }
        let img = Array2::<f32>::zeros((64, 64));
        let title = "20 picks on the LR, levelled plane+lines, and then some more words";
        let panels = [ImagePanel { title: title.into(), data: img.view(), scale: PanelScale::Shared, colormap: Colormap::Grey }];
        let path = std::env::temp_dir().join(format!("afm-spark-title-{}.png", std::process::id()));
        draw_image_row(&path, &panels, &[], &RowOptions::default(), true).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        // ink in the title band, none right of the 256-px panel (the figure's right margin)
        let inked = |png: &image::RgbImage, x: u32| (0..TITLE_BAND).any(|y| png.get_pixel(x, y).0[0] < 128);
        assert!((10..10 + 256).any(|x| inked(&png, x)), "no title drawn");
        assert!(!(10 + 256..png.width()).any(|x| inked(&png, x)), "the title runs past its panel");
        // one that fits at 18 pt keeps it: its ink is taller than the shrunk one's
        let height = |png: &image::RgbImage| (0..TITLE_BAND).filter(|&y| (10..10 + 256).any(|x| png.get_pixel(x, y).0[0] < 128)).count();
        let long = height(&png);
        let short = [ImagePanel { title: "SR".into(), ..panels[0].clone() }];
        draw_image_row(&path, &short, &[], &RowOptions::default(), true).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        std::fs::remove_file(&path).unwrap();
        assert!(height(&png) > long, "18 pt {} px tall vs the long title's {long}", height(&png));
    }

    #[test]
    fn scale_bar_is_drawn_when_the_pitch_is_known() {
        // 64 × 64 px at 10 nm: 640 nm wide → a 100 nm bar (≤ 30 %) = 10 px × zoom 4 = 40 px.
        let img = Array2::<f32>::zeros((64, 64));
        let panels = [ImagePanel { title: "SR".into(), data: img.view(), scale: PanelScale::Shared, colormap: Colormap::Grey }];
        let path = std::env::temp_dir().join(format!("afm-spark-scalebar-{}.png", std::process::id()));
        let options = RowOptions { unit: "m".into(), pixel_pitch_xy_m: Some((10e-9, 10e-9)) };
        draw_image_row(&path, &panels, &[], &options, false).unwrap();
        let png = image::open(&path).unwrap().to_rgb8();
        let y = 10 + 256 - 12 - 2;
        let white: Vec<u32> = (10..10 + 256).filter(|&x| png.get_pixel(x, y).0 == [255, 255, 255]).collect();
        assert_eq!((white.first(), white.len()), (Some(&(10 + 12)), 40), "{white:?}");
        std::fs::remove_file(&path).unwrap();
    }
}
