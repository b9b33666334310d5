//! lion-pytorch 0.2.5 `update_fn` (`lion_pytorch/lion_pytorch.py:14-26`, decay scaling `:79`).

use super::sign;
use crate::rules::Lion;

/// One Lion step of one tensor (`m` is exp_avg). lion-pytorch has no step counter.
pub fn lion_step(h: &Lion, p: &mut [f64], g: &[f64], m: &mut [f64]) {
    let (beta1, beta2) = h.betas;
    let wd = if h.decoupled_weight_decay {
        h.weight_decay / h.init_lr // wd /= init_lr
    } else {
        h.weight_decay
    };
    for i in 0..p.len() {
        p[i] *= 1.0 - h.lr * wd; // p.data.mul_(1. - lr * wd)
        let update = sign(beta1 * m[i] + (1.0 - beta1) * g[i]); // .mul_(beta1).add(grad, alpha=1-beta1).sgn_()
        p[i] -= h.lr * update; // p.add_(update, alpha=-lr)
        m[i] = beta2 * m[i] + (1.0 - beta2) * g[i]; // exp_avg.mul_(beta2).add_(grad, alpha=1-beta2)
    }
}
