//! The conditional flow-matching loss (DESIGN.md §2):
//!
//! ```text
//! x_t = (1 − t)·x0 + t·x1,  v = x1 − x0,  v̂ = field(x_t, x0, t),  x̂1 = x_t + (1 − t)·v̂
//! L = MSE(v̂, v) + λ_grad·L1(∇x̂1, ∇x1) + λ_lap·L1(Δx̂1, Δx1)
//! ```
//!
//! x̂1 is the one-jump estimate of the HR patch, so `x̂1 − x1 = (1 − t)·(v̂ − v)`: the auxiliary terms
//! penalise velocity errors in gradient and curvature, weighted by 1 − t. (The original scaled them by
//! dt = 1/200, so they did nothing.) ∇ is the forward difference along each axis, Δ the 5-point
//! Laplacian on interior pixels; each L1 is a mean absolute difference.

use crate::model::VelocityField;
use tch::Tensor;

/// Weights of the auxiliary terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    /// Weight of the gradient L1 term.
    pub lambda_grad: f64,
    /// Weight of the Laplacian L1 term.
    pub lambda_lap: f64,
}

/// The loss and its parts (the parts detached).
#[derive(Debug)]
pub struct Loss {
    /// The total, differentiable.
    pub total: Tensor,
    /// MSE(v̂, v).
    pub velocity: f64,
    /// L1(∇x̂1, ∇x1), unweighted.
    pub gradient: f64,
    /// L1(Δx̂1, Δx1), unweighted.
    pub laplacian: f64,
}

/// Loss of `field` on pairs `x0`, `x1` (`[B, 1, H, W]`) at times `t` (`[B]`, in [0, 1)).
pub fn flow_matching_loss(field: &dyn VelocityField, x0: &Tensor, x1: &Tensor, t: &Tensor, w: LossWeights) -> Loss {
    let tb = t.view([-1, 1, 1, 1]);
    let x_t = (1.0 - &tb) * x0 + &tb * x1;
    let v = x1 - x0;
    let v_hat = field.velocity(&x_t, x0, t);
    let x1_hat = &x_t + (1.0 - &tb) * &v_hat;
    let velocity = (&v_hat - &v).square().mean(None);
    let gradient = gradient_l1(&x1_hat, x1);
    let laplacian = (laplacian(&x1_hat) - laplacian(x1)).abs().mean(None);
    let total = &velocity + w.lambda_grad * &gradient + w.lambda_lap * &laplacian;
    Loss { velocity: velocity.double_value(&[]), gradient: gradient.double_value(&[]), laplacian: laplacian.double_value(&[]), total }
}

/// Mean over both axes of |∇a − ∇b| with forward differences.
fn gradient_l1(a: &Tensor, b: &Tensor) -> Tensor {
    let diff = |x: &Tensor, dim: i64| {
        let n = x.size()[dim as usize];
        x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
    };
    let along_rows = (diff(a, 2) - diff(b, 2)).abs().mean(None);
    let along_cols = (diff(a, 3) - diff(b, 3)).abs().mean(None);
    (along_rows + along_cols) * 0.5
}

/// 5-point Laplacian on the interior: `[B, 1, H, W]` → `[B, 1, H − 2, W − 2]`.
pub fn laplacian(x: &Tensor) -> Tensor {
    let s = x.size();
    let (h, w) = (s[2], s[3]);
    let at = |dr: i64, dc: i64| x.narrow(2, 1 + dr, h - 2).narrow(3, 1 + dc, w - 2);
    at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1) - at(0, 0) * 4.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ZeroField;
    use tch::{Device, Kind};

    #[test]
    fn laplacian_of_a_paraboloid_is_constant() {
        let r = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([1, 1, 6, 1]);
        let c = Tensor::arange(7, (Kind::Float, Device::Cpu)).view([1, 1, 1, 7]);
        let x = r.square() + c.square() * 3.0; // Δ = 2 + 6
        let lap = laplacian(&x);
        assert_eq!(lap.size(), vec![1, 1, 4, 5]);
        assert_eq!(lap.min().double_value(&[]), 8.0);
        assert_eq!(lap.max().double_value(&[]), 8.0);
    }

    #[test]
    fn zero_field_loss_is_the_mean_squared_velocity() {
        let x0 = Tensor::zeros([1, 1, 4, 4], (Kind::Float, Device::Cpu));
        let x1 = Tensor::ones([1, 1, 4, 4], (Kind::Float, Device::Cpu)) * 2.0;
        let t = Tensor::from_slice(&[0.5f32]);
        let l = flow_matching_loss(&ZeroField, &x0, &x1, &t, LossWeights { lambda_grad: 1.0, lambda_lap: 1.0 });
        // v = 2 everywhere; x̂1 = x_t = 1 is flat like x1, so the auxiliary terms vanish
        assert_eq!(l.velocity, 4.0);
        assert_eq!((l.gradient, l.laplacian), (0.0, 0.0));
        assert_eq!(l.total.double_value(&[]), 4.0);
    }
}
