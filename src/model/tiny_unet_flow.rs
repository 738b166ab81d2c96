//! TinyUNetFlow: a two-level U-Net over `cat[x_t, x0]` that outputs the velocity, conditioned on t
//! through a per-channel bias in every residual block. Layout (base b, time width c):
//!
//! ```text
//! t_mlp   Linear(1,c) SiLU Linear(c,c)
//! in_conv conv3×3 2→b, SiLU                      [B, b, H, W]
//! rb1     ResBlock b→b                           [B, b, H, W]   (skip h1)
//! down1   AvgPool2d(2), conv3×3 b→b, SiLU        [B, b, H/2, W/2]
//! rb2     ResBlock b→2b                          [B, 2b, H/2, W/2] (skip h2)
//! down2   AvgPool2d(2), conv3×3 2b→2b, SiLU      [B, 2b, H/4, W/4]
//! mid     ResBlock 2b→2b                         [B, 2b, H/4, W/4]
//! up2     nearest ×2, conv3×3 2b→2b, SiLU        [B, 2b, H/2, W/2]
//! rb_up2  ResBlock cat[up2, h2] 4b→2b            [B, 2b, H/2, W/2]
//! up1     nearest ×2, conv3×3 2b→2b, SiLU        [B, 2b, H, W]
//! rb_up1  ResBlock cat[up1, h1] 3b→b             [B, b, H, W]
//! out     conv3×3 b→1                            [B, 1, H, W]
//! ```
//!
//! With b = 64, c = 128 this has exactly 1,798,529 parameters, the original's count.

use super::blocks::{Down, ResBlock, TimeMlp, Up};
use super::{ModelConfig, VelocityField};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The TinyUNetFlow network (DESIGN.md §2). Tile sides must be divisible by 4.
#[derive(Debug)]
pub struct TinyUNetFlow {
    t_mlp: TimeMlp,
    in_conv: nn::Conv2D,
    rb1: ResBlock,
    down1: Down,
    rb2: ResBlock,
    down2: Down,
    mid: ResBlock,
    up2: Up,
    rb_up2: ResBlock,
    up1: Up,
    rb_up1: ResBlock,
    out_conv: nn::Conv2D,
    center_heights: bool,
}

impl TinyUNetFlow {
    /// Creates the layers under `p` (their names are the checkpoint keys).
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let (b, c) = (cfg.base, cfg.t_ch);
        let conv3 = nn::ConvConfig { padding: 1, ..Default::default() };
        Self {
            t_mlp: TimeMlp::new(&(p / "t_mlp"), c),
            in_conv: nn::conv2d(p / "in_conv", 2, b, 3, conv3),
            rb1: ResBlock::new(&(p / "rb1"), b, b, c),
            down1: Down::new(&(p / "down1"), b),
            rb2: ResBlock::new(&(p / "rb2"), b, 2 * b, c),
            down2: Down::new(&(p / "down2"), 2 * b),
            mid: ResBlock::new(&(p / "mid"), 2 * b, 2 * b, c),
            up2: Up::new(&(p / "up2"), 2 * b),
            rb_up2: ResBlock::new(&(p / "rb_up2"), 4 * b, 2 * b, c),
            up1: Up::new(&(p / "up1"), 2 * b),
            rb_up1: ResBlock::new(&(p / "rb_up1"), 3 * b, b, c),
            out_conv: nn::conv2d(p / "out_conv", b, 1, 3, conv3),
            center_heights: cfg.center_heights,
        }
    }

    /// `x_t`, `x0`: `[B, 1, H, W]` with H, W divisible by 4; `t`: `[B]` → velocity `[B, 1, H, W]`.
    pub fn forward(&self, x_t: &Tensor, x0: &Tensor, t: &Tensor) -> Tensor {
        // [B, 2, H, W]; centred: both channels less the mean of x0 ([B, 1, 1, 1], broadcast)
        let input = Tensor::cat(&[x_t, x0], 1);
        let input = if self.center_heights { &input - x0.mean_dim(&[2i64, 3][..], true, Kind::Float) } else { input };
        let t_emb = self.t_mlp.forward(t); // [B, c]
        let h0 = self.in_conv.forward(&input).silu(); // [B, b, H, W]
        let h1 = self.rb1.forward(&h0, &t_emb); // [B, b, H, W]
        let h2 = self.rb2.forward(&self.down1.forward(&h1), &t_emb); // [B, 2b, H/2, W/2]
        let m = self.mid.forward(&self.down2.forward(&h2), &t_emb); // [B, 2b, H/4, W/4]
        let u2 = Tensor::cat(&[self.up2.forward(&m), h2], 1); // [B, 4b, H/2, W/2]
        let u2 = self.rb_up2.forward(&u2, &t_emb); // [B, 2b, H/2, W/2]
        let u1 = Tensor::cat(&[self.up1.forward(&u2), h1], 1); // [B, 3b, H, W]
        let u1 = self.rb_up1.forward(&u1, &t_emb); // [B, b, H, W]
        self.out_conv.forward(&u1) // [B, 1, H, W]
    }
}

impl VelocityField for TinyUNetFlow {
    fn velocity(&self, x_t: &Tensor, x0: &Tensor, t: &Tensor) -> Tensor {
        self.forward(x_t, x0, t)
    }
}

/// Number of scalar parameters in a variable store.
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(Tensor::numel).map(|n| n as i64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_size_has_the_originals_parameter_count() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _net = TinyUNetFlow::new(&vs.root(), &ModelConfig::PAPER);
        assert_eq!(parameter_count(&vs), 1_798_529);
    }

    #[test]
    fn output_has_the_input_shape() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = TinyUNetFlow::new(&vs.root(), &ModelConfig { base: 8, t_ch: 16, center_heights: false });
        let x = Tensor::randn([3, 1, 20, 12], (tch::Kind::Float, tch::Device::Cpu));
        let t = Tensor::rand([3], (tch::Kind::Float, tch::Device::Cpu));
        let v = net.forward(&x, &x, &t);
        assert_eq!(v.size(), vec![3, 1, 20, 12]);
    }

    #[test]
    fn a_centred_network_ignores_each_windows_height_level() {
        let (cpu, float) = (tch::Device::Cpu, tch::Kind::Float);
        tch::manual_seed(3);
        let x0 = Tensor::randn([2, 1, 16, 16], (float, cpu));
        let x_t = &x0 + Tensor::randn([2, 1, 16, 16], (float, cpu)) * 0.1;
        let t = Tensor::from_slice(&[0.2f32, 0.7]);
        // a different height level per window of the batch
        let lift = Tensor::from_slice(&[3.0f32, -5.0]).view([2, 1, 1, 1]);
        let change = |center_heights: bool| {
            let vs = nn::VarStore::new(cpu);
            let net = TinyUNetFlow::new(&vs.root(), &ModelConfig { base: 4, t_ch: 8, center_heights });
            let v = net.forward(&x_t, &x0, &t);
            let lifted = net.forward(&(&x_t + &lift), &(&x0 + &lift), &t);
            ((lifted - &v).abs().max().double_value(&[]), v.abs().max().double_value(&[]))
        };
        let (centred, scale) = change(true);
        assert!(centred < 1e-5 * scale.max(1.0), "centred network changed by {centred}");
        let (absolute, _) = change(false);
        assert!(absolute > 1e-3, "an absolute-height network should see the lift (changed by {absolute})");
    }
}
