//! The model: a 3-layer MLP whose first layer is frozen (f32 weights in flash) and whose last two
//! layers (the "head") are fine-tuned on the device, in parameter type `P` (f32 or bf16).
//!
//! ```text
//! h1 = relu(W1·x + b1)      frozen, [H1, D_IN], flash
//! h2 = relu(W2·h1 + b2)     trainable, [H2, H1]
//! z  = W3·h2 + b3           trainable, [CLASSES, H2]
//! loss = cross_entropy(softmax(z), y)
//! ```
//!
//! Forward and backward are written out here (no autograd on a microcontroller); they compute in
//! f32 whatever `P` is, reading each weight with [`Element::to_compute`].

use optim_kernels::Element;

mod data {
    include!(concat!(env!("OUT_DIR"), "/model_data.rs"));
}
use data::{B1, B2_INIT, B3_INIT, N_EVAL, W1, W2_INIT, W3_INIT, X_EVAL, X_TRAIN, Y_EVAL, Y_TRAIN};
pub use data::{CLASSES, D_IN, H1, H2, N_TRAIN, SEED};

/// Elements of each trainable tensor, in [`Head::tensors`] order.
pub const TENSOR_LENS: [usize; 4] = [H2 * H1, H2, CLASSES * H2, CLASSES];
/// Tensor names, for messages.
pub const TENSOR_NAMES: [&str; 4] = ["fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"];
/// Whether a tensor gets weight decay (weights do, biases do not, as in the usual param groups).
pub const TENSOR_DECAY: [bool; 4] = [true, false, true, false];
/// Trainable parameters.
pub const N_PARAMS: usize = H2 * H1 + H2 + CLASSES * H2 + CLASSES;

/// Sum of `$rule.state_len(n)` over the head's tensors: the state a rule needs for the whole head,
/// from the crate's `const fn state_len` (usable as an array length).
#[macro_export]
macro_rules! head_state_len {
    ($rule:expr) => {
        $rule.state_len($crate::model::TENSOR_LENS[0])
            + $rule.state_len($crate::model::TENSOR_LENS[1])
            + $rule.state_len($crate::model::TENSOR_LENS[2])
            + $rule.state_len($crate::model::TENSOR_LENS[3])
    };
}

/// The trainable head, one field per tensor (PyTorch's `[out, in]` row-major weights).
pub struct Head<P> {
    /// `fc2.weight`, `[H2, H1]`.
    pub w2: [P; H2 * H1],
    /// `fc2.bias`, `[H2]`.
    pub b2: [P; H2],
    /// `fc3.weight`, `[CLASSES, H2]`.
    pub w3: [P; CLASSES * H2],
    /// `fc3.bias`, `[CLASSES]`.
    pub b3: [P; CLASSES],
}

impl<P: Copy> Head<P> {
    /// Every element set to `zero` (a `const` initialiser for `static` buffers).
    pub const fn filled(zero: P) -> Self {
        Head {
            w2: [zero; H2 * H1],
            b2: [zero; H2],
            w3: [zero; CLASSES * H2],
            b3: [zero; CLASSES],
        }
    }

    /// Sets every element to `value`, in place.
    pub fn fill(&mut self, value: P) {
        for t in self.tensors_mut() {
            t.fill(value);
        }
    }

    /// The tensors, in [`TENSOR_LENS`] order.
    pub fn tensors(&self) -> [&[P]; 4] {
        [&self.w2, &self.b2, &self.w3, &self.b3]
    }

    /// The tensors, mutably, in [`TENSOR_LENS`] order.
    pub fn tensors_mut(&mut self) -> [&mut [P]; 4] {
        [&mut self.w2, &mut self.b2, &mut self.w3, &mut self.b3]
    }
}

impl<P: Element<Compute = f32>> Head<P> {
    /// Loads the initial head weights from flash (rounded once to `P`).
    pub fn load_initial(&mut self) {
        let init: [&[f32]; 4] = [&W2_INIT, &B2_INIT, &W3_INIT, &B3_INIT];
        for (dst, src) in self.tensors_mut().into_iter().zip(init) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = P::from_compute(*s);
            }
        }
    }

    /// Rounds f32 gradients into this head (one rounding per element; exact for f32).
    pub fn round_from(&mut self, src: &Head<f32>) {
        for (dst, src) in self.tensors_mut().into_iter().zip(src.tensors()) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = P::from_compute(*s);
            }
        }
    }
}

/// Which data set a sample comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `N_TRAIN` samples.
    Train,
    /// `N_EVAL` held-out samples.
    Eval,
}

/// Sample `i` of a split (input, label), or `None` past the end.
pub fn sample(split: Split, i: usize) -> Option<(&'static [f32; D_IN], usize)> {
    let (x, y): (&[f32], &[u8]) = match split {
        Split::Train => (&X_TRAIN, &Y_TRAIN),
        Split::Eval => (&X_EVAL, &Y_EVAL),
    };
    let row = x.as_chunks::<D_IN>().0.get(i)?;
    Some((row, usize::from(*y.get(i)?)))
}

/// `out[j] = relu(b[j] + Σᵢ w[j·n + i]·x[i])` for a `[out.len(), n]` weight matrix.
fn dense_relu<P: Element<Compute = f32>>(w: &[P], b: &[P], x: &[f32], out: &mut [f32]) {
    for ((o, row), bias) in out.iter_mut().zip(w.chunks_exact(x.len())).zip(b) {
        let mut acc = bias.to_compute();
        for (wi, xi) in row.iter().zip(x) {
            acc += wi.to_compute() * xi;
        }
        *o = acc.max(0.0);
    }
}

/// The frozen feature extractor, `relu(W1·x + b1)`.
fn features(x: &[f32; D_IN]) -> [f32; H1] {
    let mut h1 = [0.0; H1];
    dense_relu(&W1, &B1, x, &mut h1);
    h1
}

/// The forward pass through the head: hidden activations and class probabilities.
fn forward<P: Element<Compute = f32>>(
    head: &Head<P>,
    h1: &[f32; H1],
) -> ([f32; H2], [f32; CLASSES]) {
    let mut h2 = [0.0; H2];
    dense_relu(&head.w2, &head.b2, h1, &mut h2);
    let mut z = [0.0f32; CLASSES];
    for ((zk, row), bias) in z.iter_mut().zip(head.w3.chunks_exact(H2)).zip(&head.b3) {
        let mut acc = bias.to_compute();
        for (wi, hi) in row.iter().zip(&h2) {
            acc += wi.to_compute() * hi;
        }
        *zk = acc;
    }
    // Softmax, shifted by the maximum for range.
    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for zk in &mut z {
        *zk = libm::expf(*zk - max);
        sum += *zk;
    }
    for zk in &mut z {
        *zk /= sum;
    }
    (h2, z)
}

/// Cross-entropy of probabilities `probs` for class `label` (clamped away from `ln 0`).
fn cross_entropy(probs: &[f32; CLASSES], label: usize) -> f32 {
    let p = probs.get(label).copied().unwrap_or(0.0);
    -libm::logf(p.max(1e-30))
}

/// Loss of one training sample; adds `scale ×` its gradient to `grad` (backward pass).
pub fn loss_and_grad<P: Element<Compute = f32>>(
    head: &Head<P>,
    x: &[f32; D_IN],
    label: usize,
    scale: f32,
    grad: &mut Head<f32>,
) -> f32 {
    let h1 = features(x);
    let (h2, probs) = forward(head, &h1);
    // dL/dz = softmax − onehot
    let mut dz = probs;
    if let Some(d) = dz.get_mut(label) {
        *d -= 1.0;
    }
    // fc3: dW3 += dz ⊗ h2, db3 += dz; dh2 = W3ᵀ·dz, through the ReLU.
    let mut dh2 = [0.0f32; H2];
    for (((dzk, grow), wrow), gb) in dz
        .iter()
        .zip(grad.w3.chunks_exact_mut(H2))
        .zip(head.w3.chunks_exact(H2))
        .zip(&mut grad.b3)
    {
        let d = scale * dzk;
        *gb += d;
        for (((g, w), h), dh) in grow.iter_mut().zip(wrow).zip(&h2).zip(&mut dh2) {
            *g += d * h;
            *dh += dzk * w.to_compute();
        }
    }
    // fc2: dW2 += dh2 ⊗ h1, db2 += dh2 (where h2 > 0).
    for (((dh, h), grow), gb) in dh2
        .iter()
        .zip(&h2)
        .zip(grad.w2.chunks_exact_mut(H1))
        .zip(&mut grad.b2)
    {
        if *h <= 0.0 {
            continue;
        }
        let d = scale * dh;
        *gb += d;
        for (g, x1) in grow.iter_mut().zip(&h1) {
            *g += d * x1;
        }
    }
    cross_entropy(&probs, label)
}

/// Mean loss and accuracy of the head on a split.
#[derive(Clone, Copy)]
pub struct Metrics {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
}

/// Evaluates the head on every sample of the held-out split.
pub fn evaluate<P: Element<Compute = f32>>(head: &Head<P>) -> Metrics {
    let (mut loss, mut correct) = (0.0f32, 0u32);
    for (x, label) in (0..N_EVAL).filter_map(|i| sample(Split::Eval, i)) {
        let (_, probs) = forward(head, &features(x));
        loss += cross_entropy(&probs, label);
        let best =
            probs.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (k, &p)| if p > b.1 { (k, p) } else { b },
            );
        correct += u32::from(best.0 == label);
    }
    let n = N_EVAL as f32;
    Metrics {
        loss: loss / n,
        accuracy: correct as f32 / n,
    }
}
