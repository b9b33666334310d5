//! `torch.optim.Adadelta`, `_single_tensor_adadelta` (`torch/optim/adadelta.py:246-303`).

use crate::rules::Adadelta;

/// One Adadelta step of one tensor (`v` is square_avg, `a` acc_delta).
pub fn adadelta_step(h: &Adadelta, p: &mut [f64], g: &[f64], v: &mut [f64], a: &mut [f64]) {
    let rho = h.rho;
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            gi += h.weight_decay * p[i]; // grad = grad.add(param, alpha=weight_decay)
        }
        v[i] = rho * v[i] + (1.0 - rho) * gi * gi; // square_avg.mul_(rho).addcmul_(g, g, 1 - rho)
        let std = (v[i] + h.eps).sqrt(); // square_avg.add(eps).sqrt_()
        let delta = (a[i] + h.eps).sqrt() / std * gi; // acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
        a[i] = rho * a[i] + (1.0 - rho) * delta * delta; // acc_delta.mul_(rho).addcmul_(d, d, 1 - rho)
        p[i] -= h.lr * delta; // param.add_(delta, alpha=-lr)
    }
}
