//! `torch.optim.RMSprop`, `_single_tensor_rmsprop` (`torch/optim/rmsprop.py:266-340`).

use super::lerp;
use crate::rules::RmsProp;

/// One RMSprop step of one tensor. `buf` (momentum_buffer) is empty unless `momentum > 0`, `ga`
/// (grad_avg) empty unless `centered`.
pub fn rmsprop_step(
    h: &RmsProp,
    p: &mut [f64],
    g: &[f64],
    v: &mut [f64],
    buf: &mut [f64],
    ga: &mut [f64],
) {
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            gi += h.weight_decay * p[i]; // grad = grad.add(param, alpha=weight_decay)
        }
        v[i] = h.alpha * v[i] + (1.0 - h.alpha) * gi * gi; // .mul_(alpha).addcmul_(g, g, 1 - alpha)
        let avg = if h.centered {
            ga[i] = lerp(ga[i], gi, 1.0 - h.alpha); // grad_avg.lerp_(grad, 1 - alpha)
            (v[i] - ga[i] * ga[i]).sqrt() // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        } else {
            v[i].sqrt()
        } + h.eps;
        if h.momentum > 0.0 {
            buf[i] = h.momentum * buf[i] + gi / avg; // buf.mul_(momentum).addcdiv_(grad, avg)
            p[i] -= h.lr * buf[i]; // param.add_(buf, alpha=-lr)
        } else {
            p[i] -= h.lr * gi / avg; // param.addcdiv_(grad, avg, value=-lr)
        }
    }
}
