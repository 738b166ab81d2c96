//! Numbers a reader can take in at a glance: values shown in the channel's unit with an SI prefix
//! chosen from the data (heights of 840 nm as "840 nm", not "8.4e-7 m"), "nice" tick positions
//! (1, 2, 5 × 10ᵏ) for colour bars, and scale-bar lengths.

/// Units that take an SI prefix; any other unit ("deg", "", "a.u.") is shown as it is.
const PREFIXABLE: [&str; 8] = ["m", "V", "A", "Hz", "N", "s", "W", "F"];
/// SI prefixes from 10⁻¹⁵ to 10⁹, in steps of 10³.
const PREFIXES: [(i32, &str); 9] = [(-15, "f"), (-12, "p"), (-9, "n"), (-6, "µ"), (-3, "m"), (0, ""), (3, "k"), (6, "M"), (9, "G")];

/// How values of one unit are shown: `shown = value · factor`, labelled `label`.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayUnit {
    /// Multiply a value in the base unit by this to get the shown number.
    pub factor: f64,
    /// The unit as shown, e.g. "nm", "mV", "deg".
    pub label: String,
}

impl DisplayUnit {
    /// The display unit for values of `unit` whose magnitude is up to `magnitude` (e.g. the largest
    /// |value| of an image): an SI prefix that puts `magnitude` in [1, 1000) when `unit` takes one
    /// (m → pm, nm, µm, mm, m, km …), else `unit` unchanged with factor 1.
    pub fn for_magnitude(unit: &str, magnitude: f64) -> Self {
        let unit = unit.trim();
        if !PREFIXABLE.contains(&unit) || !magnitude.is_finite() || magnitude <= 0.0 {
            return Self { factor: 1.0, label: unit.to_string() };
        }
        let exp3 = ((magnitude.log10() + 1e-9).floor() as i32).div_euclid(3) * 3;
        let (e, prefix) = PREFIXES.iter().copied().find(|(e, _)| *e == exp3.clamp(-15, 9)).unwrap_or((0, ""));
        Self { factor: 10f64.powi(-e), label: format!("{prefix}{unit}") }
    }

    /// The display unit for values in `lo..=hi` of `unit` (the magnitude is the larger of |lo|, |hi|).
    pub fn for_range(unit: &str, lo: f64, hi: f64) -> Self {
        Self::for_magnitude(unit, lo.abs().max(hi.abs()))
    }
}

/// A "nice" step (1, 2 or 5 × 10ᵏ) giving about `target` intervals over `span`.
pub fn nice_step(span: f64, target: usize) -> f64 {
    if !span.is_finite() || span <= 0.0 {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.5 {
        2.0
    } else if norm < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Tick positions at multiples of a nice step inside `lo..=hi` (about `target` intervals).
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return if lo.is_finite() { vec![lo] } else { Vec::new() };
    }
    let step = nice_step(hi - lo, target);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).take(100).map(|k| k as f64 * step).map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v }).collect()
}

/// A tick label with just enough decimals for `step` ("0.5", "840", "-2.25").
pub fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step < 1.0 { (-step.log10().floor()) as usize + usize::from(step_has_fraction(step)) } else { 0 };
    let decimals = decimals.min(6);
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string() // "-0" → "0"
    } else {
        s
    }
}

/// True when `step`'s leading digit is not enough (e.g. 0.25).
fn step_has_fraction(step: f64) -> bool {
    let mag = 10f64.powf(step.log10().floor());
    ((step / mag) - (step / mag).round()).abs() > 1e-6
}

/// A scale-bar length (1, 2 or 5 × 10ᵏ metres) at most `max_m`, as (metres, label like "500 nm").
pub fn scale_bar_length(max_m: f64) -> Option<(f64, String)> {
    if !max_m.is_finite() || max_m <= 0.0 {
        return None;
    }
    let mag = 10f64.powf(max_m.log10().floor());
    let len = [5.0, 2.0, 1.0].into_iter().map(|n| n * mag).find(|&l| l <= max_m * (1.0 + 1e-9))?;
    let unit = DisplayUnit::for_magnitude("m", len);
    let shown = len * unit.factor;
    Some((len, format!("{} {}", tick_label(shown, shown), unit.label)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_magnitude() {
        let label = |unit: &str, m: f64| DisplayUnit::for_magnitude(unit, m).label;
        assert_eq!(label("m", 8.4e-7), "nm");
        assert_eq!(label("m", 2e-6), "µm");
        assert_eq!(label("m", 3e-10), "pm");
        assert_eq!(label("m", 1e-9), "nm");
        assert_eq!(label("V", 0.02), "mV");
        assert_eq!(label("V", 5e-6), "µV");
        assert_eq!(label("V", 3.0), "V");
        assert_eq!(label("Hz", 3.2e5), "kHz");
        assert_eq!(label("deg", 46.5), "deg");
        assert_eq!(label("m", 0.0), "m");
        let u = DisplayUnit::for_range("m", -8.424e-7, -8.237e-7);
        assert_eq!(u.label, "nm");
        assert!((-8.424e-7 * u.factor + 842.4).abs() < 1e-9);
    }

    #[test]
    fn ticks_are_nice_and_inside() {
        assert_eq!(nice_ticks(-842.4, -823.7, 4), vec![-840.0, -835.0, -830.0, -825.0]);
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(nice_ticks(3.0, 3.0, 4), vec![3.0]);
        assert_eq!(tick_label(-840.0, 5.0), "-840");
        assert_eq!(tick_label(0.6000000000000001, 0.2), "0.6");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(-0.0001, 0.5), "0.0");
    }

    #[test]
    fn scale_bars_are_round_lengths() {
        assert_eq!(scale_bar_length(0.6e-6), Some((5e-7, "500 nm".to_string())));
        assert_eq!(scale_bar_length(2.1e-6), Some((2e-6, "2 µm".to_string())));
        assert_eq!(scale_bar_length(1.4e-8).map(|b| b.1), Some("10 nm".to_string()));
        assert_eq!(scale_bar_length(0.0), None);
    }
}
