//! `torch.optim.RAdam`, `_single_tensor_radam` (`torch/optim/radam.py:257-359`).

use super::lerp;
use crate::rules::RAdam;

/// One RAdam step of one tensor.
pub fn radam_step(h: &RAdam, step: u64, p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let bias_correction1 = 1.0 - beta1.powf(t);
    let bias_correction2 = 1.0 - beta2.powf(t);
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / bias_correction2;
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            if h.decoupled_weight_decay {
                p[i] *= 1.0 - h.lr * h.weight_decay;
            } else {
                gi += h.weight_decay * p[i];
            }
        }
        m[i] = lerp(m[i], gi, 1.0 - beta1);
        v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi;
        let corrected = m[i] / bias_correction1;
        if rho_t > 5.0 {
            let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                .powf(0.5);
            let adaptive_lr = bias_correction2.powf(0.5) / (v[i].sqrt() + h.eps);
            p[i] -= corrected * h.lr * adaptive_lr * rect;
        } else {
            p[i] -= corrected * h.lr;
        }
    }
}
