//! `torch.optim.ASGD`, `_single_tensor_asgd` (`torch/optim/asgd.py:202-279`).

use crate::rules::Asgd;

/// One ASGD step of one tensor. `eta` and `mu` are the tensor's `state["eta"]`, `state["mu"]`
/// (set from lr and 1 on the first step), used and then replaced by the next step's values.
pub fn asgd_step(
    h: &Asgd,
    step: u64,
    p: &mut [f64],
    g: &[f64],
    ax: &mut [f64],
    eta: &mut f64,
    mu: &mut f64,
) {
    if step == 1 {
        *eta = h.lr;
        *mu = 1.0;
    }
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            gi += h.weight_decay * p[i];
        }
        p[i] *= 1.0 - h.lambd * *eta;
        p[i] -= *eta * gi;
        if *mu != 1.0 {
            ax[i] += (p[i] - ax[i]) * *mu;
        } else {
            ax[i] = p[i];
        }
    }
    let t = step as f64;
    *eta = h.lr / (1.0 + h.lambd * h.lr * t).powf(h.alpha);
    *mu = 1.0 / f64::max(1.0, t - h.t0);
}
