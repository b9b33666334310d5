//! `torch.optim.Adamax`, `_single_tensor_adamax` (`torch/optim/adamax.py:227-304`).

use super::{lerp, maximum};
use crate::rules::Adamax;

/// One Adamax step of one tensor (`m` is exp_avg, `u` exp_inf).
pub fn adamax_step(h: &Adamax, step: u64, p: &mut [f64], g: &[f64], m: &mut [f64], u: &mut [f64]) {
    let (beta1, beta2) = h.betas;
    let clr = h.lr / (1.0 - beta1.powf(step as f64)); // lr / (1 - beta1 ** step)
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            gi += h.weight_decay * p[i]; // grad = grad.add(param, alpha=weight_decay)
        }
        m[i] = lerp(m[i], gi, 1.0 - beta1); // exp_avg.lerp_(grad, 1 - beta1)
        u[i] = maximum(beta2 * u[i], gi.abs() + h.eps); // torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps))
        p[i] -= clr * m[i] / u[i]; // param.addcdiv_(exp_avg, exp_inf, value=-clr)
    }
}
