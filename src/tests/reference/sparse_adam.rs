//! `torch.optim.SparseAdam`, `sparse_adam` (`torch/optim/_functional.py:24-80`), with a dense
//! gradient whose exact zeros are absent (as after `to_sparse()`).

use crate::rules::SparseAdam;

/// One SparseAdam step of one tensor: entries with `g == 0` keep `p`, `m`, `v`.
pub fn sparse_adam_step(
    h: &SparseAdam,
    step: u64,
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let bias_correction1 = 1.0 - beta1.powf(t);
    let bias_correction2 = 1.0 - beta2.powf(t);
    let step_size = h.lr * bias_correction2.sqrt() / bias_correction1;
    for i in 0..p.len() {
        if g[i] == 0.0 {
            continue;
        }
        let gi = if h.maximize { -g[i] } else { g[i] };
        let m_update = (gi - m[i]) * (1.0 - beta1);
        let v_update = (gi * gi - v[i]) * (1.0 - beta2);
        let numer = m_update + m[i];
        let denom = (v_update + v[i]).sqrt() + h.eps;
        m[i] += m_update;
        v[i] += v_update;
        p[i] += -step_size * (numer / denom);
    }
}
