//! `afm-spark eval --quick` end to end (what CI runs): every grid point leaves a run folder with its
//! metrics.json; the guard delivers exactly the fair baseline on the unacquired region whenever the
//! held-out patches do not support SR, and SR only when they do; on the terraces farthest-first never
//! falls below the fair baseline; the acquisition-time fraction in results.csv is the plan's own
//! accounting, recomputed here from each run folder's configuration and picks.
//!
//! Not asserted, because it does not hold: on the particles surface SR is delivered (the held-out
//! patches, all particle-dense, show +1.5 … +3 dB) yet loses 0.2–1.2 dB to the fair baseline on the
//! unacquired region, almost all of it on the flat background that no patch samples (README
//! "Results", known limits).

#![allow(clippy::unwrap_used)]

use afm_spark::backend;
use afm_spark::config::RunSpec;
use afm_spark::eval::{read_results_csv, PLOT_FILE, REPORT_FILE, RESULTS_FILE};
use afm_spark::plan::AcquisitionPlan;
use afm_spark::report::MetricsReport;
use std::path::Path;
use std::process::Command;

/// How far below the fair baseline the delivered image may fall on the unacquired region of the
/// terraces with farthest-first picks (measured with seed 7 on a 2-core CPU: +0.85 dB with 8 picks, SR
/// delivered; 0.00 dB with 16, the guard delivered the baseline).
const TOLERANCE_DB: f64 = 0.1;

#[test]
fn quick_eval_guards_sr_and_accounts_time_like_the_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("afm-spark-eval-quick-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_afm-spark"))
        .args(["-q", "eval", "--quick", "--out"])
        .arg(&out)
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "afm-spark eval --quick failed");

    let rows = read_results_csv(&out.join(RESULTS_FILE)).unwrap();
    // 2 surfaces × (budgets 8, 16 × farthest-first, random, uniform + the full-scan reference)
    assert_eq!(rows.len(), 2 * (2 * 3 + 1), "{rows:#?}");
    let surfaces: Vec<&str> = rows.iter().map(|r| r.surface.as_str()).collect();
    assert!(surfaces.contains(&"terraces") && surfaces.contains(&"particles"));

    let mut smallest_gain = f64::INFINITY;
    for r in &rows {
        assert_eq!(r.status, "ok", "{}: {}", r.run_dir, r.status);
        let dir = out.join(&r.run_dir);
        let metrics = MetricsReport::read(&dir.join("metrics.json")).unwrap();
        let fraction = r.fraction.unwrap();
        // results.csv carries metrics.json's accounting …
        let a = metrics.acquisition.as_ref().unwrap();
        assert!((fraction - a.plan_s / a.full_hr_s).abs() < 1e-6, "{}: {fraction} vs {}", r.run_dir, a.plan_s / a.full_hr_s);
        assert_eq!((r.n_patches, a.picks.len()), (a.n_patches, a.n_patches));
        // … which is the plan's own accounting of the run's configuration and picks
        let spec = RunSpec::load(&dir.join("config.toml")).unwrap();
        let sim = backend::simulator(&spec, backend::run_surface(&spec).unwrap()).unwrap();
        let plan = AcquisitionPlan::build(&spec, sim.instrument_limits()).unwrap();
        let acc = plan.accounting(&a.picks);
        assert!((acc.fraction - fraction).abs() < 1e-6, "{}: plan says {}, results.csv {fraction}", r.run_dir, acc.fraction);
        assert_eq!(acc.n_patches, r.n_patches);

        if r.strategy == "all" {
            assert_eq!(r.n_patches, 64);
            assert!(fraction > 1.0, "64 patches with a settle each cost more than one full frame: {fraction}");
            assert!(r.psnr_sr_unacquired_db.is_none() && r.psnr_sr_whole_db.is_some());
            continue;
        }
        assert_eq!(r.n_val, 2, "min(n_val 2, picks / 4)");
        assert!(fraction > 0.05 && fraction < 0.5, "{}: fraction {fraction}", r.run_dir);
        let gain = r.gain_unacquired_db().unwrap();
        // The guard: SR only with held-out support, else exactly the fair baseline where nothing was scanned.
        let record = metrics.training.as_ref().unwrap();
        let (pooled, worst, t) = (record.val_gain_db.unwrap(), record.val_worst_gain_db.unwrap(), record.val_gain_t.unwrap());
        // the guard's t allows for neighbouring blocks alike: never further from 0 than the plain t over them
        let blocks = record.val_blocks.unwrap_or_else(|| panic!("{}: the blocks' correlation is not on record", r.run_dir));
        assert!(
            blocks.t == t && blocks.t_effective.abs() <= t.abs() + 1e-12 && blocks.n_effective <= blocks.n_blocks as f64,
            "{}: {blocks:?}",
            r.run_dir
        );
        let sure = blocks.is_sure(spec.config.reconstruct.guard_min_t);
        let recon = &spec.config.reconstruct;
        // The input filter is tested in every run (eval-quick.toml turns it on), and its left-out
        // test is on record whether it passed or not.
        let used = record.input_filter_used.unwrap_or_else(|| panic!("{}: the input filter's test is not on record", r.run_dir));
        assert!(
            record.input_filter_gain_db.is_some() && record.input_filter_gain_t.is_some() && record.input_filter_piece_t.is_some(),
            "{}: filter test figures missing",
            r.run_dir
        );
        if r.output == "filtered_baseline" {
            assert!(used, "{}: the filtered baseline delivered with the filter refused", r.run_dir);
            assert_eq!(
                record.input_filter_deliverable,
                Some(true),
                "{}: the filtered baseline delivered without its delivery test",
                r.run_dir
            );
        }
        assert_eq!(
            record.input_filter_deliverable.is_some(),
            used,
            "{}: the delivery test is on record exactly when the filter is used",
            r.run_dir
        );
        match r.output.as_str() {
            "sr" => assert!(
                pooled > recon.guard_min_gain_db && worst > -recon.guard_max_patch_loss_db && sure,
                "{}: SR delivered against held-out {pooled:+.2} dB pooled (t = {t:.1}, {blocks:?}), {worst:+.2} dB worst",
                r.run_dir
            ),
            "baseline" => {
                assert!(
                    pooled <= recon.guard_min_gain_db || worst <= -recon.guard_max_patch_loss_db || !sure,
                    "{}: SR refused despite held-out support",
                    r.run_dir
                );
                assert!(
                    gain.abs() < 1e-3,
                    "{}: the delivered baseline differs from the fair baseline by {gain} dB where nothing was scanned",
                    r.run_dir
                );
            }
            "filtered_baseline" => {
                // the learned input filter alone passed the guard's test on every patch left out of its fit
                let (alone, alone_t) = (record.input_filter_gain_db.unwrap(), record.input_filter_gain_t.unwrap());
                let piece_t = record.input_filter_piece_t.unwrap();
                assert!(
                    alone > recon.guard_filter_min_gain_db && alone_t > recon.guard_min_t && piece_t > recon.guard_min_t,
                    "{}: the filtered baseline delivered on {alone:+.2} dB (t = {alone_t:.1} over blocks, {piece_t:.1} over patches) left out one at a time",
                    r.run_dir
                );
            }
            other => panic!("{}: output {other}", r.run_dir),
        }
        eprintln!(
            "{:<32} delivered {:<8} {gain:+.2} dB vs the fair baseline (held out {pooled:+.2} dB, t = {t:.1}, worst {worst:+.2} dB)",
            r.run_dir, r.output
        );
        if r.surface == "terraces" && r.strategy == "farthest_first" {
            smallest_gain = smallest_gain.min(gain);
            assert!(
                gain > -TOLERANCE_DB,
                "{}: delivered {:.2} dB vs fair baseline {:.2} dB on the unacquired region",
                r.run_dir,
                r.psnr_sr_unacquired_db.unwrap(),
                r.psnr_fair_unacquired_db.unwrap()
            );
        }
    }
    eprintln!("terraces, farthest-first: smallest delivered − fair gain on the unacquired region {smallest_gain:+.2} dB (asserted > −{TOLERANCE_DB} dB)");
    // more picks cost more time, same surface and strategy
    for r8 in rows.iter().filter(|r| r.n_select == 8) {
        let r16 = rows.iter().find(|r| r.surface == r8.surface && r.strategy == r8.strategy && r.n_select == 16).unwrap();
        assert!(r16.fraction > r8.fraction);
    }
    let report = std::fs::read_to_string(out.join(REPORT_FILE)).unwrap();
    assert!(report.contains("afm-spark -q eval --quick") && report.contains("logical cores"), "{report}");
    assert!(std::fs::metadata(out.join(PLOT_FILE)).unwrap().len() > 1000);
    std::fs::remove_dir_all(&out).unwrap();
}
