//! Seeded weight initialisation independent of libtorch's global RNG: PyTorch's default for
//! `Conv2d`/`Linear` (weights and biases uniform in ±1/√fan_in, fan_in = in-channels × kernel area),
//! drawn from a ChaCha stream in variable-name order. The same seed gives the same weights on any
//! device and whatever else the process does with tch's RNG meanwhile.

use rand::Rng;
use std::collections::HashMap;
use tch::{nn, Tensor};

/// Re-initialises every variable of `vs` from `rng` (weights first, in name order, then biases).
pub fn init_pytorch_default(vs: &nn::VarStore, rng: &mut impl Rng) {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let fan_in: HashMap<&str, i64> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".weight").map(|p| (p, &vars[*n])))
        .map(|(p, w)| (p, w.size().iter().skip(1).product::<i64>().max(1)))
        .collect();
    tch::no_grad(|| {
        for name in names {
            let var = &vars[name];
            let prefix = name.rsplit_once('.').map_or(name.as_str(), |(p, _)| p);
            let fan = fan_in.get(prefix).copied().unwrap_or(1);
            let bound = 1.0 / (fan as f64).sqrt();
            let values: Vec<f32> = (0..var.numel()).map(|_| rng.random_range(-bound..bound) as f32).collect();
            let src = Tensor::from_slice(&values).view(var.size().as_slice()).to_device(var.device());
            let mut dst = var.shallow_clone();
            dst.copy_(&src);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn bounds_follow_fan_in_and_the_seed_fixes_the_weights() {
        let make = |seed| {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let conv = nn::conv2d(vs.root() / "c", 3, 5, 3, Default::default());
            init_pytorch_default(&vs, &mut ChaCha8Rng::seed_from_u64(seed));
            (vs, conv)
        };
        let (_vs, a) = make(7);
        let (_vs2, b) = make(7);
        let bound = 1.0 / 27f64.sqrt();
        assert!(a.ws.abs().max().double_value(&[]) <= bound);
        assert!(a.ws.abs().max().double_value(&[]) > 0.8 * bound);
        let bias = a.bs.as_ref().map(|b| b.abs().max().double_value(&[])).unwrap_or(0.0);
        assert!(bias > 0.0 && bias <= bound);
        assert_eq!((&a.ws - &b.ws).abs().max().double_value(&[]), 0.0);
    }
}
