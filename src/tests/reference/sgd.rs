//! `torch.optim.SGD`, `_single_tensor_sgd` (`torch/optim/sgd.py:322-379`).

use crate::rules::Sgd;

/// One SGD step of one tensor. `buf` (momentum_buffer) is empty when `momentum == 0`; on
/// `step == 1` it is written from the gradient, never read.
pub fn sgd_step(h: &Sgd, step: u64, p: &mut [f64], g: &[f64], buf: &mut [f64]) {
    for i in 0..p.len() {
        let mut d = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            d += h.weight_decay * p[i]; // grad = grad.add(param, alpha=weight_decay)
        }
        if h.momentum != 0.0 {
            if step == 1 {
                buf[i] = d; // buf = torch.clone(grad).detach()
            } else {
                buf[i] = h.momentum * buf[i] + (1.0 - h.dampening) * d;
            }
            d = if h.nesterov {
                d + h.momentum * buf[i]
            } else {
                buf[i]
            };
        }
        p[i] -= h.lr * d; // param.add_(grad, alpha=-lr)
    }
}
