//! Euler integration of a velocity field from x = x0 at t = 0 to t = 1 in uniform steps.

use crate::model::VelocityField;
use tch::{Kind, Tensor};

/// Integrates `dx/dt = v(x, x0, t)` from `x(0) = x0` (`[B, 1, H, W]`) with `steps` steps of
/// `dt = 1/steps` at `t = k·dt`, k = 0 … steps − 1, so the last step ends at t = 1 exactly.
pub fn euler(field: &dyn VelocityField, x0: &Tensor, steps: usize) -> Tensor {
    tch::no_grad(|| {
        let b = x0.size()[0];
        let dt = 1.0 / steps as f64;
        let mut x = x0.copy();
        for k in 0..steps {
            let t = Tensor::full([b], k as f64 * dt, (Kind::Float, x0.device()));
            x = &x + field.velocity(&x, x0, &t) * dt;
        }
        x
    })
}
