//! x–y line plots with several named series (PSNR vs acquisition-time fraction per strategy, …) and
//! the loss curve (train and validation loss vs step, log scale) built on them — optionally with the
//! validation-by-reconstruction PSNR (and the fair baseline's) on a second y axis.

use super::font::text_available;
use super::{draw_err, write_png, FigureError};
use crate::train::LossHistory;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
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

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `plot` to a PNG at `path`.
pub fn line_plot_png(path: &Path, plot: &LinePlot) -> Result<(), FigureError> {
    draw_line_plot(path, plot, text_available())
}

/// Draws the loss history (train and, where present, validation loss vs step; log y) to `path`.
pub fn loss_curve_png(path: &Path, history: &LossHistory) -> Result<(), FigureError> {
    let train = history.records.iter().map(|r| (r.step as f64, r.train_loss)).collect();
    let val: Vec<_> = history.records.iter().filter_map(|r| r.val_loss.map(|v| (r.step as f64, v))).collect();
    let mut series = vec![Series { name: "train".into(), points: train }];
    if !val.is_empty() {
        series.push(Series { name: "validation (held-out acquired)".into(), points: val });
    }
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

fn draw_loss_and_psnr(path: &Path, history: &LossHistory, psnr: &[(f64, f64)], baseline: Option<f64>, text: bool) -> Result<(), FigureError> {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let train: Vec<(f64, f64)> = history.records.iter().map(|r| (r.step as f64, r.train_loss)).filter(finite).collect();
    let val: Vec<(f64, f64)> = history.records.iter().filter_map(|r| r.val_loss.map(|v| (r.step as f64, v))).filter(finite).collect();
    let losses: Vec<f64> = train.iter().chain(&val).map(|p| p.1).collect();
    if losses.is_empty() {
        return Err(FigureError::Empty("a loss curve without finite losses"));
    }
    let (x0, x1) = pad(train.iter().chain(&val).chain(psnr).map(|p| p.0));
    let (p0, p1) = pad(psnr.iter().map(|p| p.1).chain(baseline));
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (lo, hi) = losses.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(15)
            .x_label_area_size(if text { 45 } else { 10 })
            .y_label_area_size(if text { 75 } else { 10 })
            .right_y_label_area_size(if text { 75 } else { 10 });
        if text {
            builder.caption("Flow-matching loss and validation by reconstruction", ("sans-serif", 20));
        }
        let series = LossSeries { train: &train, val: &val, psnr, baseline, text };
        if lo > 0.0 {
            draw_loss_chart(&mut builder, x0..x1, (lo / 1.2..hi * 1.2).log_scale(), p0..p1, &series)?;
        } else {
            let (y0, y1) = pad(losses.iter().copied());
            draw_loss_chart(&mut builder, x0..x1, y0..y1, p0..p1, &series)?;
        }
        root.present().map_err(draw_err)?;
    }
    write_png(path, w, h, &buf)
}

/// The series of [`draw_loss_and_psnr`].
struct LossSeries<'s> {
    train: &'s [(f64, f64)],
    val: &'s [(f64, f64)],
    psnr: &'s [(f64, f64)],
    baseline: Option<f64>,
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
    let mut mesh = chart.configure_mesh();
    if s.text {
        mesh.x_desc("step").y_desc("loss").label_style(("sans-serif", 14)).x_label_formatter(&tick).y_label_formatter(&tick);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(draw_err)?;
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
        drawn.label("SR PSNR, held-out patches (right axis)").legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
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
            drawn.label("fair baseline PSNR, same pixels").legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], dashed));
        }
    }
    if s.text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

pub(super) fn draw_line_plot(path: &Path, plot: &LinePlot, text: bool) -> Result<(), FigureError> {
    let finite = |&&(x, y): &&(f64, f64)| x.is_finite() && y.is_finite();
    let pts: Vec<(f64, f64)> = plot.series.iter().flat_map(|s| s.points.iter().filter(finite).copied()).collect();
    if pts.is_empty() {
        return Err(FigureError::Empty("a line plot without finite points"));
    }
    let (x0, x1) = pad(pts.iter().map(|p| p.0));
    let (w, h) = (plot.width_px.max(64), plot.height_px.max(64));
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let (lo, hi) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        if plot.log_y && lo > 0.0 {
            draw_chart(&root, plot, x0..x1, (lo / 1.2..hi * 1.2).log_scale(), text)?;
        } else {
            let (y0, y1) = pad(pts.iter().map(|p| p.1));
            draw_chart(&root, plot, x0..x1, y0..y1, text)?;
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
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(plot.x_label.as_str())
            .y_desc(plot.y_label.as_str())
            .label_style(("sans-serif", 14))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(draw_err)?;
    for (i, s) in plot.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<_> = s.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).copied().collect();
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
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(draw_err)?;
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
    fn ticks_are_compact() {
        assert_eq!([tick(&0.0), tick(&50.0), tick(&0.25), tick(&1.5e-3), tick(&2e6)], ["0", "50", "0.25", "1.5e-3", "2.0e6"]);
    }

    #[test]
    fn loss_curve_with_validation_psnr_is_written() {
        let records = (1..=20)
            .map(|i| LossRecord { step: 10 * i, train_loss: 1.0 / i as f64, val_loss: Some(1.5 / i as f64), elapsed_s: i as f64 })
            .collect();
        let history = LossHistory { records };
        let validation = ValidationCurve { psnr_db: vec![(50.0, 21.0), (100.0, 23.5), (150.0, f64::NAN), (200.0, 24.2)], baseline_psnr_db: Some(23.0) };
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
            .map(|i| LossRecord { step: 10 * i, train_loss: 1.0 / i as f64, val_loss: Some(1.5 / i as f64), elapsed_s: i as f64 })
            .collect();
        let p = tmp("loss.png");
        loss_curve_png(&p, &LossHistory { records }).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 1000);
        std::fs::remove_file(&p).unwrap();
    }
}
