//! The terminal progress display of a run: consumes engine events from a crossbeam channel on its own
//! thread and shows a bar over planned instrument time (with the instrument time remaining), then a
//! bar over training steps and reconstruction windows.

use afm_spark::engine::ProgressEvent;
use crossbeam::channel::Receiver;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::thread::JoinHandle;

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Starts the display thread; it ends when it receives `Finished` or the channel closes.
pub fn spawn_display(events: Receiver<ProgressEvent>, quiet: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut bar: Option<ProgressBar> = None;
        let mut bar_kind = "";
        let new_bar = |len: u64, tmpl: &str| {
            let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
            let b = ProgressBar::with_draw_target(Some(len), target);
            b.set_style(style(tmpl));
            b
        };
        let (mut last_message, mut training_note) = (String::new(), String::new());
        for event in events.iter() {
            match event {
                ProgressEvent::PlanReady { instrument_s, .. } => {
                    let b = new_bar(instrument_s.ceil().max(1.0) as u64, "{prefix:>10} [{bar:30}] {msg}");
                    b.set_prefix("acquire");
                    bar = Some(b);
                    bar_kind = "acquire";
                }
                ProgressEvent::Stage(s) => {
                    if let Some(b) = &bar {
                        b.set_message(format!("{s}{training_note}"));
                    }
                    last_message = s;
                }
                ProgressEvent::TrainingWhileScanning { steps, patches } => {
                    training_note = format!(" · trained {steps} steps on {patches} patches");
                    if let Some(b) = &bar {
                        b.set_message(format!("{last_message}{training_note}"));
                    }
                }
                ProgressEvent::Skipped { label, instrument_s } => {
                    if let Some(b) = &bar {
                        b.set_message(format!("{label}: already journaled"));
                        b.inc(instrument_s.round() as u64);
                    }
                }
                ProgressEvent::ScanStarted { label, remaining_instrument_s } => {
                    if let Some(b) = &bar {
                        let total = b.position() + remaining_instrument_s.ceil() as u64;
                        b.set_length(total.max(b.position() + 1));
                        last_message = format!("scanning {label} — instrument time left ≈ {}", human_s(remaining_instrument_s));
                        b.set_message(format!("{last_message}{training_note}"));
                    }
                }
                ProgressEvent::ScanFinished { label, planned_s, .. } => {
                    if let Some(b) = &bar {
                        b.inc(planned_s.round() as u64);
                        last_message = format!("{label} journaled");
                        b.set_message(format!("{last_message}{training_note}"));
                    }
                }
                ProgressEvent::Training { step, max_steps, loss, val_gain_db } => {
                    if bar_kind != "train" {
                        if let Some(b) = bar.take() {
                            b.finish_and_clear();
                        }
                        let b = new_bar(max_steps as u64, "{prefix:>10} [{bar:30}] step {pos}/{len} {msg} ({elapsed}, eta {eta})");
                        b.set_prefix("train");
                        bar = Some(b);
                        bar_kind = "train";
                    }
                    if let Some(b) = &bar {
                        b.set_position(step as u64);
                        let val = val_gain_db.map(|v| format!(", held-out gain {v:+.2} dB")).unwrap_or_default();
                        b.set_message(format!("loss {loss:.4}{val}"));
                    }
                }
                ProgressEvent::Reconstructing { done, total } => {
                    if bar_kind != "reconstruct" {
                        if let Some(b) = bar.take() {
                            b.finish_and_clear();
                        }
                        let b = new_bar(total as u64, "{prefix:>10} [{bar:30}] window {pos}/{len} ({elapsed})");
                        b.set_prefix("reconstruct");
                        bar = Some(b);
                        bar_kind = "reconstruct";
                    }
                    if let Some(b) = &bar {
                        b.set_position(done as u64);
                    }
                }
                ProgressEvent::Finished => break,
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}

/// "1 h 02 min", "3 min 20 s", "12 s".
pub fn human_s(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}
