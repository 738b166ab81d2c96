//! The loss history of a training run: one row per evaluation (step, mean training loss since the
//! previous row, validation gain over the fair baseline, elapsed time), written as CSV for anyone to plot.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossRecord {
    /// Optimiser steps done.
    pub step: usize,
    /// Mean training loss over the steps since the previous record.
    pub train_loss: f64,
    /// Validation by reconstruction: PSNR gain of SR over the fair baseline on the held-out acquired
    /// patches, dB; `None` without held-out patches.
    pub val_gain_db: Option<f64>,
    /// PSNR of SR on the held-out patches, dB (data range of the measured patches).
    pub val_psnr_sr_db: Option<f64>,
    /// PSNR of the fair baseline on the same pixels, dB.
    pub val_psnr_fair_db: Option<f64>,
    /// Wall time since training started, seconds.
    pub elapsed_s: f64,
}

/// All evaluations of a run, in step order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossHistory {
    /// The rows.
    pub records: Vec<LossRecord>,
}

impl LossHistory {
    /// CSV text: header `step,train_loss,val_gain_db,elapsed_s`; an empty field where there is no
    /// validation gain.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("step,train_loss,val_gain_db,val_psnr_sr_db,val_psnr_fair_db,elapsed_s\n");
        for r in &self.records {
            let db = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{:.6e},{},{},{},{:.3}",
                r.step,
                r.train_loss,
                db(r.val_gain_db),
                db(r.val_psnr_sr_db),
                db(r.val_psnr_fair_db),
                r.elapsed_s
            );
        }
        out
    }

    /// Writes [`LossHistory::to_csv`] to `path`.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_csv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_empty_val_fields() {
        let h = LossHistory {
            records: vec![
                LossRecord {
                    step: 10,
                    train_loss: 0.5,
                    val_gain_db: Some(0.25),
                    val_psnr_sr_db: Some(30.25),
                    val_psnr_fair_db: Some(30.0),
                    elapsed_s: 1.0,
                },
                LossRecord { step: 20, train_loss: 0.125, val_gain_db: None, val_psnr_sr_db: None, val_psnr_fair_db: None, elapsed_s: 2.0 },
            ],
        };
        let csv = h.to_csv();
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines[0], "step,train_loss,val_gain_db,val_psnr_sr_db,val_psnr_fair_db,elapsed_s");
        assert_eq!(lines[1], "10,5.000000e-1,0.2500,30.2500,30.0000,1.000");
        assert_eq!(lines[2], "20,1.250000e-1,,,,2.000");
    }
}
