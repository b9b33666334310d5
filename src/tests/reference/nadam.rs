//! `torch.optim.NAdam`, `_single_tensor_nadam` (`torch/optim/nadam.py:282-381`).

use super::lerp;
use crate::rules::NAdam;

/// One NAdam step of one tensor. `mu_product` is the tensor's product of the momentum schedule
/// before this step (1 before the first; torch's `state["mu_product"]`), advanced here.
#[allow(clippy::too_many_arguments)] // the tensor's full state, spelled out
pub fn nadam_step(
    h: &NAdam,
    step: u64,
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    mu_product: &mut f64,
) {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    if step == 1 {
        *mu_product = 1.0; // state["mu_product"] = 1.0 at initialisation
    }
    let bias_correction2 = 1.0 - beta2.powf(t);
    let mu = beta1 * (1.0 - 0.5 * 0.96f64.powf(t * h.momentum_decay));
    let mu_next = beta1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * h.momentum_decay));
    *mu_product *= mu;
    let mu_product_next = *mu_product * mu_next;
    let grad_coeff = -h.lr * (1.0 - mu) / (1.0 - *mu_product);
    let exp_avg_coeff = (-h.lr * mu_next) / (1.0 - mu_product_next);
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
        let denom = (v[i] / bias_correction2).sqrt() + h.eps;
        p[i] += grad_coeff * gi / denom;
        p[i] += exp_avg_coeff * m[i] / denom;
    }
}
