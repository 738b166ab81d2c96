//! x–y line plots with several named series (PSNR vs acquisition-time fraction per strategy, …) and
//! the loss curve (train and validation loss vs step, log scale) built on them — optionally with the
//! validation-by-reconstruction PSNR (and the fair baseline's) on a second y axis.

use super::font::text_available;
use super::{draw_err, write_png, FigureError};
use crate::train::LossHistory;
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::prelude::*;
use std::path::Path;

/// One named series of (x, y) points, drawn in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A line plot.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// x-axis description (with unit).
    pub x_label: String,
    /// y-axis description (with unit).
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
    /// Logarithmic y axis (ignored when some y ≤ 0).
    pub log_y: bool,
    /// Image width, pixels.
    pub width_px: u32,
    /// Image height, pixels.
    pub height_px: u32,
}

impl LinePlot {
    /// An 800 × 500 plot with linear axes.
    pub fn new(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Self {
        Self { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), series, log_y: false, width_px: 800, height_px: 500 }
    }
}

/// Ten distinct colours (matplotlib's tab10): plots of up to ten series repeat none.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `plot` to a PNG at `path`.
pub fn line_plot_png(path: &Path, plot: &LinePlot) -> Result<(), FigureError> {
    draw_line_plot(path, plot, text_available())
}

/// Draws the training loss vs step (log y) to `path`. (The validation gain over the fair baseline,
/// in dB, is in `loss.csv`.)
pub fn loss_curve_png(path: &Path, history: &LossHistory) -> Result<(), FigureError> {
    let train = history.records.iter().map(|r| (r.step as f64, r.train_loss)).collect();
    let series = vec![Series { name: "train".into(), points: train }];
    let plot = LinePlot { log_y: true, ..LinePlot::new("Flow-matching loss", "step", "loss", series) };
    line_plot_png(path, &plot)
}

/// The validation-by-reconstruction metric drawn on the loss curve's right axis: PSNR of the
/// reconstruction of the held-out acquired patches at some training steps, and the fair baseline's
/// PSNR on the same pixels (a horizontal line SR has to beat).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationCurve {
    /// (step, PSNR in dB) of the reconstruction; non-finite points are skipped.
    pub psnr_db: Vec<(f64, f64)>,
    /// PSNR of the fair baseline on the same pixels, dB.
    pub baseline_psnr_db: Option<f64>,
}

/// Colour of the validation PSNR and its baseline.
const PSNR_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// Draws the loss history like [`loss_curve_png`] and, when `validation` holds finite points, the
/// validation-by-reconstruction PSNR (and the fair baseline's, dashed) against a right-hand axis in dB.
pub fn loss_curve_with_validation_png(path: &Path, history: &LossHistory, validation: Option<&ValidationCurve>) -> Result<(), FigureError> {
    let psnr: Vec<(f64, f64)> =
        validation.map(|v| v.psnr_db.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect()).unwrap_or_default();
    let Some(validation) = validation.filter(|_| !psnr.is_empty()) else { return loss_curve_png(path, history) };
    draw_loss_and_psnr(path, history, &psnr, validation.baseline_psnr_db.filter(|b| b.is_finite()), text_available())
}

fn draw_loss_and_psnr(
    path: &Path,
    history: &LossHistory,
    psnr: &[(f64, f64)],
    baseline: Option<f64>,
    text: bool,
) -> Result<(), FigureError> {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let train: Vec<(f64, f64)> = history.records.iter().map(|r| (r.step as f64, r.train_loss)).filter(finite).collect();
    let val: Vec<(f64, f64)> = Vec::new(); // velocity MSE is not reconstruction error: only the PSNRs are validated
    let axis = if train.iter().chain(&val).all(|p| p.1 > 0.0) { YAxis::Log } else { YAxis::Linear };
    let map = |pts: &[(f64, f64)]| pts.iter().map(|&(x, y)| (x, axis.map(y))).collect::<Vec<_>>();
    let (train, val) = (map(&train), map(&val));
    if train.is_empty() && val.is_empty() {
        return Err(FigureError::Empty("a loss curve without finite losses"));
    }
    let (x0, x1) = pad(train.iter().chain(&val).chain(psnr).map(|p| p.0));
    // Head room above both curves for the legend (about a third of the plot's height).
    let headroom = |(lo, hi): (f64, f64)| (lo, hi + 0.45 * (hi - lo));
    let (y0, y1) = headroom(pad(train.iter().chain(&val).map(|p| p.1)));
    let (p0, p1) = headroom(pad(psnr.iter().map(|p| p.1).chain(baseline)));
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(15)
            .x_label_area_size(if text { 45 } else { 10 })
            .y_label_area_size(if text { 75 } else { 10 })
            .right_y_label_area_size(if text { 75 } else { 10 });
        if text {
            builder.caption("Flow-matching loss and validation by reconstruction", ("sans-serif", 20));
        }
        let series = LossSeries { train: &train, val: &val, psnr, baseline, axis, text };
        match axis {
            YAxis::Log => draw_loss_chart(&mut builder, x0..x1, KeyedAxis::log(y0, y1), p0..p1, &series)?,
            YAxis::Linear => draw_loss_chart(&mut builder, x0..x1, y0..y1, p0..p1, &series)?,
        }
        root.present().map_err(draw_err)?;
    }
    write_png(path, w, h, &buf)
}

/// The series of [`draw_loss_and_psnr`] (losses already mapped through `axis`).
struct LossSeries<'s> {
    train: &'s [(f64, f64)],
    val: &'s [(f64, f64)],
    psnr: &'s [(f64, f64)],
    baseline: Option<f64>,
    axis: YAxis,
    text: bool,
}

/// Loss (train, validation) on the left axis `y`, PSNR (and the baseline, dashed) on the right axis `p`.
fn draw_loss_chart<Y>(
    builder: &mut ChartBuilder<'_, '_, BitMapBackend<'_>>,
    x: std::ops::Range<f64>,
    y: Y,
    p: std::ops::Range<f64>,
    s: &LossSeries<'_>,
) -> Result<(), FigureError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = builder.build_cartesian_2d(x.clone(), y).map_err(draw_err)?.set_secondary_coord(x.clone(), p);
    draw_mesh(chart.configure_mesh(), "step", "loss", s.axis, s.text)?;
    let mut axes = chart.configure_secondary_axes();
    if s.text {
        axes.y_desc("validation PSNR (dB)").label_style(("sans-serif", 14)).y_label_formatter(&tick);
    } else {
        axes.y_labels(0);
    }
    axes.draw().map_err(draw_err)?;
    let loss_series = [("train loss", s.train, PALETTE[0]), ("validation loss (held-out acquired)", s.val, PALETTE[1])];
    for (name, pts, color) in loss_series.into_iter().filter(|(_, pts, _)| !pts.is_empty()) {
        let style = ShapeStyle::from(&color).stroke_width(2);
        let drawn = chart.draw_series(LineSeries::new(pts.iter().copied(), style)).map_err(draw_err)?;
        if s.text {
            drawn.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    let style = ShapeStyle::from(&PSNR_COLOUR).stroke_width(2);
    let drawn = chart.draw_secondary_series(LineSeries::new(s.psnr.iter().copied(), style)).map_err(draw_err)?;
    if s.text {
        drawn.label("SR PSNR on held-out patches (right axis)").legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart.draw_secondary_series(s.psnr.iter().map(|&q| Circle::new(q, 3, PSNR_COLOUR.filled()))).map_err(draw_err)?;
    if let Some(b) = s.baseline {
        let dashed = ShapeStyle::from(&PSNR_COLOUR.mix(0.8)).stroke_width(1);
        let n = 40;
        let dashes = (0..n).step_by(2).map(|k| {
            let at = |k: usize| x.start + (x.end - x.start) * k as f64 / n as f64;
            PathElement::new(vec![(at(k), b), (at(k + 1), b)], dashed)
        });
        let drawn = chart.draw_secondary_series(dashes).map_err(draw_err)?;
        if s.text {
            drawn
                .label("fair baseline PSNR, same pixels (right axis)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], dashed));
        }
    }
    if s.text {
        draw_legend(chart.configure_series_labels(), 13)?;
    }
    Ok(())
}

/// Grid, axes and (with text) their descriptions and tick labels, y labelled through `axis`.
fn draw_mesh<'a, X, Y>(
    mut mesh: plotters::chart::MeshStyle<'a, '_, X, Y, BitMapBackend<'a>>,
    x_desc: &str,
    y_desc: &str,
    axis: YAxis,
    text: bool,
) -> Result<(), FigureError>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let y_fmt: &'static dyn Fn(&f64) -> String = match axis {
        YAxis::Linear => &tick,
        YAxis::Log => &log_tick,
    };
    if text {
        mesh.x_desc(x_desc).y_desc(axis.describe(y_desc)).label_style(("sans-serif", 14)).x_label_formatter(&tick).y_label_formatter(y_fmt);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(draw_err)
}

/// The legend in the upper right corner, text `font_px` high, on a translucent white box.
fn draw_legend<'a, CT: plotters::coord::CoordTranslate>(
    mut labels: plotters::chart::SeriesLabelStyle<'a, '_, BitMapBackend<'a>, CT>,
    font_px: u32,
) -> Result<(), FigureError> {
    labels
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font_px))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(draw_err)
}

/// A y axis: linear, or logarithmic drawn as log₁₀ of the values on a linear axis with ticks at
/// 1, 2, 5 × 10ᵏ (plotters' own log axis draws no ticks over less than a decade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YAxis {
    Linear,
    Log,
}

impl YAxis {
    /// Where value `y` is drawn.
    fn map(self, y: f64) -> f64 {
        match self {
            YAxis::Linear => y,
            YAxis::Log => y.log10(),
        }
    }
    /// The axis description, "(log scale)" added for a log axis.
    fn describe(self, what: &str) -> String {
        match self {
            YAxis::Linear => what.to_string(),
            YAxis::Log => format!("{what} (log scale)"),
        }
    }
}

/// A linear axis over `lo..hi` with ticks at given positions (plotters' `WithKeyPoints` has no
/// default label formatting, so the y-label formatter could not be set on it).
#[derive(Debug, Clone)]
struct KeyedAxis {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl KeyedAxis {
    /// The log₁₀ axis `lo..hi` with ticks from [`log_key_points`].
    fn log(lo: f64, hi: f64) -> Self {
        Self { lo, hi, keys: log_key_points(lo, hi) }
    }
}

impl Ranged for KeyedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.hi > self.lo { (value - self.lo) / (self.hi - self.lo) } else { 0.5 };
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let step = self.keys.len().div_ceil(hint.max_num_points().max(1)).max(1);
        self.keys.iter().step_by(step).copied().collect()
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Tick positions (log₁₀ units) of a log axis spanning `lo..hi` (log₁₀ units): 1, 2, 5 × 10ᵏ inside
/// the span, or every 1…9 × 10ᵏ when those are fewer than three.
fn log_key_points(lo: f64, hi: f64) -> Vec<f64> {
    let points = |mantissas: &[f64]| -> Vec<f64> {
        let (k0, k1) = (lo.floor() as i32 - 1, hi.ceil() as i32 + 1);
        (k0..=k1).flat_map(|k| mantissas.iter().map(move |m| (m * 10f64.powi(k)).log10())).filter(|v| (lo..=hi).contains(v)).collect()
    };
    let coarse = points(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        coarse
    } else {
        points(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    }
}

pub(super) fn draw_line_plot(path: &Path, plot: &LinePlot, text: bool) -> Result<(), FigureError> {
    let finite = |&&(x, y): &&(f64, f64)| x.is_finite() && y.is_finite();
    let pts: Vec<(f64, f64)> = plot.series.iter().flat_map(|s| s.points.iter().filter(finite).copied()).collect();
    if pts.is_empty() {
        return Err(FigureError::Empty("a line plot without finite points"));
    }
    let axis = if plot.log_y && pts.iter().all(|p| p.1 > 0.0) { YAxis::Log } else { YAxis::Linear };
    let (x0, x1) = pad(pts.iter().map(|p| p.0));
    let (y0, y1) = pad(pts.iter().map(|p| axis.map(p.1)));
    // Head room above the curves for the legend: about 8 % of the data range per entry.
    let entries = if text { plot.series.len() as f64 } else { 0.0 };
    let y1 = y1 + (y1 - y0) * (0.08 * entries).min(2.0);
    let (w, h) = (plot.width_px.max(64), plot.height_px.max(64));
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        match axis {
            YAxis::Log => draw_chart(&root, plot, x0..x1, KeyedAxis::log(y0, y1), axis, text)?,
            YAxis::Linear => draw_chart(&root, plot, x0..x1, y0..y1, axis, text)?,
        }
        root.present().map_err(draw_err)?;
    }
    write_png(path, w, h, &buf)
}

/// min..max widened by 5 % (or ±1 when flat).
fn pad(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let m = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    (lo - m, hi + m)
}

/// The tick label of log₁₀ position `v`: the value 10^v, compact.
fn log_tick(v: &f64) -> String {
    tick(&10f64.powf(*v))
}

/// A compact tick label: integers plain, very large or small numbers in scientific notation.
fn tick(v: &f64) -> String {
    let v = *v;
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 || v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn draw_chart<X, Y>(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    plot: &LinePlot,
    x: X,
    y: Y,
    axis: YAxis,
    text: bool,
) -> Result<(), FigureError>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(root);
    builder.margin(15).x_label_area_size(if text { 45 } else { 10 }).y_label_area_size(if text { 75 } else { 10 });
    if text {
        builder.caption(&plot.title, ("sans-serif", 22));
    }
    let mut chart = builder.build_cartesian_2d(x, y).map_err(draw_err)?;
    draw_mesh(chart.configure_mesh(), &plot.x_label, &plot.y_label, axis, text)?;
    for (i, s) in plot.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<_> = s.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).map(|&(x, y)| (x, axis.map(y))).collect();
        let style = ShapeStyle::from(&color).stroke_width(2);
        let drawn = chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(draw_err)?;
        if text {
            drawn.label(s.name.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if pts.len() <= 40 {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(draw_err)?;
        }
    }
    if text {
        draw_legend(chart.configure_series_labels(), 14)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::LossRecord;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("afm-spark-fig-{}-{name}", std::process::id()))
    }

    #[test]
    fn plots_are_written_with_and_without_text() {
        let series = vec![
            Series { name: "SR".into(), points: vec![(0.1, 20.0), (0.2, 24.0), (0.4, 27.5)] },
            Series { name: "bicubic".into(), points: vec![(0.1, 22.0), (0.2, 22.0), (0.4, f64::NAN)] },
        ];
        let plot = LinePlot::new("PSNR vs time", "fraction of a full HR frame", "PSNR (dB)", series);
        for text in [true, false] {
            let p = tmp(&format!("line-{text}.png"));
            draw_line_plot(&p, &plot, text && text_available()).unwrap();
            let img = image::open(&p).unwrap();
            assert_eq!((img.width(), img.height()), (800, 500));
            std::fs::remove_file(&p).unwrap();
        }
        let empty = LinePlot::new("", "", "", vec![]);
        assert!(matches!(line_plot_png(&tmp("e.png"), &empty), Err(FigureError::Empty(_))));
    }

    #[test]
    fn log_axes_tick_at_round_values() {
        let labels = |lo: f64, hi: f64| log_key_points(lo.log10(), hi.log10()).iter().map(log_tick).collect::<Vec<_>>();
        assert_eq!(labels(0.06, 0.98), ["0.1", "0.2", "0.5"]);
        assert_eq!(labels(0.2, 0.45), ["0.2", "0.3", "0.4"]);
        assert_eq!(labels(0.004, 20.0), ["5.0e-3", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10", "20"]);
    }

    #[test]
    fn ticks_are_compact() {
        assert_eq!([tick(&0.0), tick(&50.0), tick(&0.25), tick(&1.5e-3), tick(&2e6)], ["0", "50", "0.25", "1.5e-3", "2.0e6"]);
    }

    #[test]
    fn loss_curve_with_validation_psnr_is_written() {
        let records = (1..=20)
            .map(|i| LossRecord {
                step: 10 * i,
                train_loss: 1.0 / i as f64,
                val_gain_db: None,
                val_psnr_sr_db: None,
                val_psnr_fair_db: None,
                elapsed_s: i as f64,
            })
            .collect();
        let history = LossHistory { records };
        let validation =
            ValidationCurve { psnr_db: vec![(50.0, 21.0), (100.0, 23.5), (150.0, f64::NAN), (200.0, 24.2)], baseline_psnr_db: Some(23.0) };
        for text in [true, false] {
            let p = tmp(&format!("loss-psnr-{text}.png"));
            draw_loss_and_psnr(&p, &history, &validation.psnr_db[..2], validation.baseline_psnr_db, text && text_available()).unwrap();
            assert_eq!(image::open(&p).unwrap().width(), 800);
            std::fs::remove_file(&p).unwrap();
        }
        let p = tmp("loss-psnr.png");
        loss_curve_with_validation_png(&p, &history, Some(&validation)).unwrap();
        // The PSNR line (red) is drawn: some pixels of its colour exist.
        let img = image::open(&p).unwrap().to_rgb8();
        let (r, g, b) = PSNR_COLOUR.rgb();
        assert!(img.pixels().filter(|px| px.0 == [r, g, b]).count() > 50);
        // Without points it is the plain loss curve.
        loss_curve_with_validation_png(&p, &history, Some(&ValidationCurve { psnr_db: vec![], baseline_psnr_db: None })).unwrap();
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn loss_curve_is_written() {
        let records = (1..=20)
            .map(|i| LossRecord {
                step: 10 * i,
                train_loss: 1.0 / i as f64,
                val_gain_db: Some(0.1 * i as f64),
                val_psnr_sr_db: None,
                val_psnr_fair_db: None,
                elapsed_s: i as f64,
            })
            .collect();
        let p = tmp("loss.png");
        loss_curve_png(&p, &LossHistory { records }).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 1000);
        std::fs::remove_file(&p).unwrap();
    }
}
