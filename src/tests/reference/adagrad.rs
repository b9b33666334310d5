//! `torch.optim.Adagrad`, `_single_tensor_adagrad` (`torch/optim/adagrad.py:364-430`), dense
//! gradients.

use crate::rules::Adagrad;

/// One Adagrad step of one tensor (`sum` is state_sum).
pub fn adagrad_step(h: &Adagrad, step: u64, p: &mut [f64], g: &[f64], sum: &mut [f64]) {
    let clr = h.lr / (1.0 + (step as f64 - 1.0) * h.lr_decay); // lr / (1 + (step - 1) * lr_decay)
    for i in 0..p.len() {
        let mut gi = if h.maximize { -g[i] } else { g[i] };
        if h.weight_decay != 0.0 {
            gi += h.weight_decay * p[i]; // grad = grad.add(param, alpha=weight_decay)
        }
        sum[i] += gi * gi; // state_sum.addcmul_(grad, grad, value=1)
        let std = sum[i].sqrt() + h.eps; // state_sum.sqrt().add_(eps)
        p[i] -= clr * gi / std; // param.addcdiv_(grad, std, value=-clr)
    }
}
