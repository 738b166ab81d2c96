//! Seed derivation: every scan draws its randomness from a stream derived from the instrument seed,
//! the request (region, raster and line rate bits) and the effect, so the same request gives the
//! same noise whatever was scanned before, and switching one effect off leaves the others unchanged.

use afm_drivers::ScanRequest;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The independent random streams of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    SensorTrace = 1,
    SensorRetrace = 2,
    LineOffsets = 3,
}

/// SplitMix64's finaliser: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The RNG of `stream` for `request` on an instrument seeded with `seed`.
pub(crate) fn scan_rng(seed: u64, request: &ScanRequest, stream: Stream) -> ChaCha8Rng {
    let r = &request.region;
    let words = [
        r.center_x_m.to_bits(),
        r.center_y_m.to_bits(),
        r.width_m.to_bits(),
        r.height_m.to_bits(),
        r.angle_deg.to_bits(),
        request.raster.points as u64,
        request.raster.lines as u64,
        request.line_rate_hz.to_bits(),
        stream as u64,
    ];
    let h = words.iter().fold(mix(seed ^ 0x5eed_af00_0000_0001), |h, w| mix(h ^ mix(*w)));
    ChaCha8Rng::seed_from_u64(h)
}
