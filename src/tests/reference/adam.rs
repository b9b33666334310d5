//! `torch.optim.Adam` / `torch.optim.AdamW`, `_single_tensor_adam` (`torch/optim/adam.py:348-551`).

use super::{lerp, maximum};
use crate::rules::{Adam, AdamW};

/// One Adam step of one tensor. `vmax` (max_exp_avg_sq) is empty unless `amsgrad`.
pub fn adam_step(
    h: &Adam,
    step: u64,
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    vmax: &mut [f64],
) {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let bias_correction1 = 1.0 - beta1.powf(t); // Python: 1 - beta1 ** step
    let bias_correction2 = 1.0 - beta2.powf(t);
    let step_size = h.lr / bias_correction1;
    let bias_correction2_sqrt = bias_correction2.sqrt();
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            if h.decoupled_weight_decay {
                p[i] *= 1.0 - h.lr * h.weight_decay; // param.mul_(1 - lr * weight_decay)
            } else {
                gi += h.weight_decay * p[i]; // grad = grad.add(param, alpha=weight_decay)
            }
        }
        m[i] = lerp(m[i], gi, 1.0 - beta1); // exp_avg.lerp_(grad, 1 - beta1)
        v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi; // .mul_(beta2).addcmul_(grad, grad, 1 - beta2)
        let second = if h.amsgrad {
            vmax[i] = maximum(vmax[i], v[i]);
            vmax[i]
        } else {
            v[i]
        };
        let denom = second.sqrt() / bias_correction2_sqrt + h.eps;
        p[i] -= step_size * m[i] / denom; // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
}

/// One AdamW step: `torch.optim.AdamW` is `Adam` with `decoupled_weight_decay=True`
/// (`torch/optim/adamw.py:48`). Built field by field here, not through the crate's conversion.
pub fn adamw_step(
    h: &AdamW,
    step: u64,
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    vmax: &mut [f64],
) {
    let adam = Adam {
        lr: h.lr,
        betas: h.betas,
        eps: h.eps,
        weight_decay: h.weight_decay,
        amsgrad: h.amsgrad,
        maximize: h.maximize,
        decoupled_weight_decay: true,
        ..Adam::ADAM
    };
    adam_step(&adam, step, p, g, m, v, vmax);
}
