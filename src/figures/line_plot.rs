//! x–y line plots with several named series (PSNR vs acquisition-time fraction per strategy, …) and
//! the loss curve (train and validation loss vs step, log scale) built on them.

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

/// Draws the training loss vs step (log y) to `path`. (The validation gain over the fair baseline,
/// in dB, is in `loss.csv`.)
pub fn loss_curve_png(path: &Path, history: &LossHistory) -> Result<(), FigureError> {
    let train = history.records.iter().map(|r| (r.step as f64, r.train_loss)).collect();
    let series = vec![Series { name: "train".into(), points: train }];
    let plot = LinePlot { log_y: true, ..LinePlot::new("Flow-matching loss", "step", "loss", series) };
    line_plot_png(path, &plot)
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
    fn loss_curve_is_written() {
        let records = (1..=20)
            .map(|i| LossRecord { step: 10 * i, train_loss: 1.0 / i as f64, val_gain_db: Some(0.1 * i as f64), elapsed_s: i as f64 })
            .collect();
        let p = tmp("loss.png");
        loss_curve_png(&p, &LossHistory { records }).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 1000);
        std::fs::remove_file(&p).unwrap();
    }
}
