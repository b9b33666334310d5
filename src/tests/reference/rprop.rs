//! `torch.optim.Rprop`, `_single_tensor_rprop` (`torch/optim/rprop.py:224-292`).

use super::sign;
use crate::rules::Rprop;

/// One Rprop step of one tensor: `prev` and `step_size` are torch's state (zeros and lr on the
/// first step).
pub fn rprop_step(
    h: &Rprop,
    step: u64,
    p: &mut [f64],
    g: &[f64],
    prev: &mut [f64],
    step_size: &mut [f64],
) {
    let (etaminus, etaplus) = h.etas;
    let (lo, hi) = h.step_sizes;
    for i in 0..p.len() {
        if step == 1 {
            prev[i] = 0.0;
            step_size[i] = h.lr;
        }
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        let s = sign(gi * prev[i]);
        let factor = if s > 0.0 {
            etaplus
        } else if s < 0.0 {
            etaminus
        } else {
            1.0
        };
        let clamped = (step_size[i] * factor).max(lo);
        step_size[i] = if clamped > hi { hi } else { clamped };
        if factor == etaminus {
            gi = 0.0;
        }
        p[i] -= sign(gi) * step_size[i];
        prev[i] = gi;
    }
}
