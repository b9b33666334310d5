//! A `#![no_std]` user of the kernel layer, without `alloc`: state lives in `static` buffers whose
//! lengths come from the rules' `const fn state_len`. `.ci/run` builds this for
//! `thumbv7em-none-eabihf` (Cortex-M4F) and `thumbv6m-none-eabi` (Cortex-M0+, no FPU).
#![no_std]
#![forbid(unsafe_code)]
#![deny(warnings)]

use optim_kernels::rules::{
    Adafactor, Adam, AdamW, AdamWScheduleFree, Lbfgs, LbfgsState, LineSearch, Lion, Muon, NAdam,
    NAdamScalars, Rule, Schedule, Sgd, ShapedRule, SparseAdam,
};
use optim_kernels::{Error, bf16};

/// Parameters of the layer being fine-tuned.
pub const N: usize = 96;

const ADAMW: AdamW = AdamW { lr: 1e-3, ..AdamW::DEFAULT };
const SGD: Sgd = Sgd { lr: 1e-2, momentum: 0.9, nesterov: true, ..Sgd::DEFAULT };
const SF: AdamWScheduleFree = AdamWScheduleFree { warmup_steps: 10, ..AdamWScheduleFree::DEFAULT };

/// The same `N` parameters seen as a matrix, for the shape-aware rules.
pub const SHAPE: [usize; 2] = [8, 12];

const MUON: Muon = Muon { lr: 0.02, ..Muon::DEFAULT };

/// L-BFGS with a short history and the strong-Wolfe line search.
const LBFGS: Lbfgs = Lbfgs { history_size: 4, line_search_fn: LineSearch::StrongWolfe, max_iter: 5, ..Lbfgs::DEFAULT };

/// All optimizer state a device needs for one tensor of `N` elements per rule.
pub struct Buffers {
    /// AdamW: `exp_avg | exp_avg_sq`.
    pub adamw: [f32; ADAMW.state_len(N)],
    /// SGD with momentum: `momentum_buffer`.
    pub sgd: [f32; SGD.state_len(N)],
    /// Lion over bf16 parameters: `exp_avg` in f32.
    pub lion: [f32; Lion::DEFAULT.state_len(N)],
    /// Adam with AMSGrad, bf16 state to halve the memory.
    pub adam: [bf16; Adam { amsgrad: true, ..Adam::ADAM }.state_len(N)],
    /// Schedule-free AdamW over bf16 parameters: `z | exp_avg_sq` in f32.
    pub sf: [f32; SF.state_len(N)],
    /// The schedule-free group's schedule.
    pub schedule: Schedule,
    /// Adafactor over the `SHAPE` matrix: row and column factors (8 + 12 instead of 96).
    pub adafactor: [f32; Adafactor::DEFAULT.state_len(&SHAPE)],
    /// Adafactor's scratch: one f64 column sum per column.
    pub adafactor_work: [f64; Adafactor::DEFAULT.workspace_len(&SHAPE)],
    /// Muon over the `SHAPE` matrix: `momentum_buffer`.
    pub muon: [f32; MUON.state_len(&SHAPE)],
    /// Muon's Newton–Schulz scratch (X, Xᵀ and two r×r matrices).
    pub muon_work: [f32; MUON.workspace_len(&SHAPE)],
    /// NAdam: `exp_avg | exp_avg_sq`.
    pub nadam: [f32; NAdam::DEFAULT.state_len(N)],
    /// NAdam's per-tensor scalar (`mu_product`), carried like the step counter.
    pub nadam_scalars: NAdamScalars,
    /// SparseAdam over the `SHAPE` matrix (an embedding table): `exp_avg | exp_avg_sq`.
    pub sparse_adam: [f32; SparseAdam::DEFAULT.state_len(N)],
    /// L-BFGS: `d`, gradients, 4 history pairs, line-search scratch (in f32).
    pub lbfgs: [f32; LBFGS.state_len(N)],
    /// L-BFGS's scalars between steps.
    pub lbfgs_state: LbfgsState,
    /// Step counters.
    pub steps: [u64; 9],
}

impl Buffers {
    /// Zeroed state (the reference's initial state).
    pub const fn new() -> Self {
        Buffers {
            adamw: [0.0; ADAMW.state_len(N)],
            sgd: [0.0; SGD.state_len(N)],
            lion: [0.0; N],
            adam: [bf16::ZERO; Adam { amsgrad: true, ..Adam::ADAM }.state_len(N)],
            sf: [0.0; SF.state_len(N)],
            schedule: Schedule { k: 0, lr_max: -1.0, weight_sum: 0.0 },
            adafactor: [0.0; Adafactor::DEFAULT.state_len(&SHAPE)],
            adafactor_work: [0.0; Adafactor::DEFAULT.workspace_len(&SHAPE)],
            muon: [0.0; MUON.state_len(&SHAPE)],
            muon_work: [0.0; MUON.workspace_len(&SHAPE)],
            nadam: [0.0; NAdam::DEFAULT.state_len(N)],
            nadam_scalars: NAdamScalars { mu_product: 1.0 },
            sparse_adam: [0.0; SparseAdam::DEFAULT.state_len(N)],
            lbfgs: [0.0; LBFGS.state_len(N)],
            lbfgs_state: LbfgsState::new(),
            steps: [0; 9],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// One step of each rule on caller-owned slices; no allocation, no panics on bad lengths.
///
/// # Errors
/// A length mismatch between `p`, `g` and the state.
pub fn train_step(b: &mut Buffers, p: &mut [f32; N], g: &[f32; N], pb: &mut [bf16; N], gb: &[bf16; N]) -> Result<(), Error> {
    ADAMW.step(&mut b.steps[0], p, g, &mut b.adamw)?;
    SGD.step(&mut b.steps[1], p, g, &mut b.sgd)?;
    Lion::DEFAULT.step(&mut b.steps[2], pb, gb, &mut b.lion)?;
    Adam { amsgrad: true, ..Adam::ADAM }.step(&mut b.steps[3], p, g, &mut b.adam)?;
    let sc = SF.begin_step(&mut b.schedule);
    SF.step_with(&sc, &mut b.steps[4], pb, gb, &mut b.sf)?;
    Adafactor::DEFAULT.step(&mut b.steps[5], &SHAPE, p, g, &mut b.adafactor, &mut b.adafactor_work)?;
    MUON.step(&mut b.steps[6], &SHAPE, pb, gb, &mut b.muon, &mut b.muon_work)?;
    let sc = NAdam::DEFAULT.begin_step(&mut ());
    NAdam::DEFAULT.step_tensor_with(&sc, &mut b.steps[7], &mut b.nadam_scalars, p, g, &mut b.nadam)?;
    // SparseAdam: the dense gradient (zeros absent), then rows 1 (twice, summed) and 5 of the
    // `SHAPE` table from the first rows of `g`.
    SparseAdam::DEFAULT.step(&mut b.steps[8], p, g, &mut b.sparse_adam)?;
    let row = SHAPE[1];
    SparseAdam::DEFAULT.step_rows(&mut b.steps[8], &SHAPE, p, &[1, 1, 5], &g[..3 * row], &mut b.sparse_adam)?;
    Ok(())
}

/// Schedule-free evaluation: the averaged parameters `x` into `out`, without touching `pb`.
///
/// # Errors
/// A length mismatch.
pub fn eval_params(b: &Buffers, pb: &[bf16; N], out: &mut [bf16; N]) -> Result<(), Error> {
    SF.eval_params_into(b.steps[4], pb, &b.sf, out)
}

/// One L-BFGS step on `p` (split in two tensors) against the quadratic `Σ (p − target)²/2`, whose
/// closure writes the gradient into `g`. Returns the loss before the step.
///
/// # Errors
/// A length mismatch.
pub fn lbfgs_step(b: &mut Buffers, p: &mut [f32; N], g: &mut [f32; N], target: &[f32; N]) -> Result<f64, Error> {
    let (p0, p1) = p.split_at_mut(N / 2);
    let (g0, g1) = g.split_at_mut(N / 2);
    let mut params = [p0, p1];
    let mut grads = [g0, g1];
    LBFGS.step(&mut b.lbfgs_state, &mut b.lbfgs, &mut params, &mut grads, |p, g| {
        let mut f = 0.0f64;
        let mut k = 0;
        for (p, g) in p.iter().zip(g.iter_mut()) {
            for (&x, gi) in p.iter().zip(g.iter_mut()) {
                let e = x - target[k];
                *gi = e;
                f += f64::from(e * e) * 0.5;
                k += 1;
            }
        }
        f
    })
}
