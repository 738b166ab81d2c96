//! Building blocks of TinyUNetFlow: the time-conditioned residual block, the pooled and upsampled
//! convolutions, and the time-embedding MLP. Parameter names (`conv1`, `tproj`, …) are the checkpoint
//! keys.

use tch::nn::{self, Module};
use tch::Tensor;

fn conv3x3(p: &nn::Path, c_in: i64, c_out: i64) -> nn::Conv2D {
    nn::conv2d(p, c_in, c_out, 3, nn::ConvConfig { padding: 1, ..Default::default() })
}

/// ResBlock: `h = SiLU(conv3×3(x)) + tproj(t_emb)` (per-channel bias), `h = SiLU(conv3×3(h))`,
/// output `h + skip(x)` where `skip` is a 1×1 convolution when the channel count changes.
#[derive(Debug)]
pub(crate) struct ResBlock {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    tproj: nn::Linear,
    skip: Option<nn::Conv2D>,
}

impl ResBlock {
    pub(crate) fn new(p: &nn::Path, c_in: i64, c_out: i64, t_ch: i64) -> Self {
        let skip = (c_in != c_out).then(|| nn::conv2d(p / "skip", c_in, c_out, 1, Default::default()));
        Self {
            conv1: conv3x3(&(p / "conv1"), c_in, c_out),
            conv2: conv3x3(&(p / "conv2"), c_out, c_out),
            tproj: nn::linear(p / "tproj", t_ch, c_out, Default::default()),
            skip,
        }
    }

    /// `x`: `[B, c_in, H, W]`, `t_emb`: `[B, t_ch]` → `[B, c_out, H, W]`.
    pub(crate) fn forward(&self, x: &Tensor, t_emb: &Tensor) -> Tensor {
        let bias = self.tproj.forward(t_emb).unsqueeze(-1).unsqueeze(-1); // [B, c_out, 1, 1]
        let h = self.conv1.forward(x).silu() + bias;
        let h = self.conv2.forward(&h).silu();
        match &self.skip {
            Some(skip) => h + skip.forward(x),
            None => h + x,
        }
    }
}

/// AvgPool2d(2) then SiLU(conv3×3), channels unchanged: `[B, C, H, W]` → `[B, C, H/2, W/2]`.
#[derive(Debug)]
pub(crate) struct Down {
    conv: nn::Conv2D,
}

impl Down {
    pub(crate) fn new(p: &nn::Path, ch: i64) -> Self {
        Self { conv: conv3x3(&(p / "conv"), ch, ch) }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        self.conv.forward(&x.avg_pool2d_default(2)).silu()
    }
}

/// Nearest ×2 upsampling then SiLU(conv3×3), channels unchanged: `[B, C, H, W]` → `[B, C, 2H, 2W]`.
#[derive(Debug)]
pub(crate) struct Up {
    conv: nn::Conv2D,
}

impl Up {
    pub(crate) fn new(p: &nn::Path, ch: i64) -> Self {
        Self { conv: conv3x3(&(p / "conv"), ch, ch) }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let (_, _, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let up = x.upsample_nearest2d([2 * h, 2 * w], None, None);
        self.conv.forward(&up).silu()
    }
}

/// Time embedding: `Linear(1, t_ch)`, SiLU, `Linear(t_ch, t_ch)`: `[B]` → `[B, t_ch]`.
#[derive(Debug)]
pub(crate) struct TimeMlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl TimeMlp {
    pub(crate) fn new(p: &nn::Path, t_ch: i64) -> Self {
        Self { fc1: nn::linear(p / "fc1", 1, t_ch, Default::default()), fc2: nn::linear(p / "fc2", t_ch, t_ch, Default::default()) }
    }

    pub(crate) fn forward(&self, t: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(&t.unsqueeze(-1)).silu())
    }
}
