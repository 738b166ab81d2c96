//! Speed of one frame (ignored by default; run with `--ignored --nocapture` in release): a 512 × 512
//! frame, trace and retrace, every effect on, 4000 and 8000 controller updates per line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
#[ignore = "timing measurement, run explicitly in release"]
fn one_frame_timing() {
    for updates in [4000, 8000] {
        let r = afm_sim::bench::one_frame(512, updates).unwrap();
        println!(
            "512² frame, {updates} updates per line ({} run incl. overscan): {:.3} s scan physics, {:.3} s one-off setup (tip dilation of 1024²)",
            r.updates_run, r.frame_s, r.setup_s
        );
        assert!(r.frame_s < 1.0);
    }
}
