//! A training phase: one optimizer fine-tunes the head from its initial weights for a few epochs.
//!
//! [`run_phase`] is generic over the optimizer ([`Optimizer`]) and the parameter type (`f32`,
//! `bf16`); optimizer state is always f32. Each phase is one call.

use optim_kernels::rules::Rule;
use optim_kernels::{Element, Error};

use crate::fmt::Dec;
use crate::model::{self, Head, Metrics, N_TRAIN, Split, TENSOR_DECAY, TENSOR_NAMES};
use cortex_m_semihosting::hprintln;

/// Samples per optimizer step.
pub const BATCH: usize = 16;

/// An optimizer as a training phase drives it: per-tensor steps over caller-owned state, and the
/// switch between the point that is trained and the point that is evaluated.
pub trait Optimizer {
    /// The rule's name, for messages.
    fn name(&self) -> &'static str;

    /// State elements (f32) for a tensor of `n` elements.
    fn state_len(&self, n: usize) -> usize;

    /// Starts one optimizer step, before the [`step`](Optimizer::step) of each tensor. A rule
    /// with a per-group schedule (Schedule-Free) advances it here, once per group and step; the
    /// others do nothing.
    fn begin_step(&mut self) {}

    /// One update of tensor `tensor` of the head, within the step [`begin_step`] started.
    ///
    /// [`begin_step`]: Optimizer::begin_step
    ///
    /// # Errors
    /// The crate's [`Error`] (e.g. a state slice of the wrong length).
    fn step<P: Element<Compute = f32>>(
        &mut self,
        tensor: usize,
        p: &mut [P],
        g: &[P],
        state: &mut [f32],
    ) -> Result<(), Error>;

    /// Before evaluation: put tensor `tensor` at the point to evaluate. The rules whose
    /// parameters are that point already (AdamW, Lion) do nothing; Schedule-Free's `eval()`
    /// moves them from y to x.
    ///
    /// # Errors
    /// The crate's [`Error`].
    fn eval<P: Element<Compute = f32>>(
        &mut self,
        _tensor: usize,
        _p: &mut [P],
        _state: &mut [f32],
    ) -> Result<(), Error> {
        Ok(())
    }

    /// After evaluation: back to the point that is trained (Schedule-Free's `train()`).
    ///
    /// # Errors
    /// The crate's [`Error`].
    fn train<P: Element<Compute = f32>>(
        &mut self,
        _tensor: usize,
        _p: &mut [P],
        _state: &mut [f32],
    ) -> Result<(), Error> {
        Ok(())
    }
}

/// An elementwise [`Rule`] applied tensor by tensor, with two parameter groups (weights with
/// weight decay, biases without) and a step counter per tensor, as `torch.optim` keeps them.
///
/// Any rule of the crate: each group has its own [`Rule::Schedule`] (Schedule-Free's `k`,
/// `lr_max` and `weight_sum`; `()` for AdamW and Lion), advanced once per optimizer step by
/// [`Optimizer::begin_step`]; a rule with modes (Schedule-Free) moves a tensor from the point it
/// trains (`y`) to the point it evaluates (`x`) in [`Optimizer::eval`] and back in
/// [`Optimizer::train`], where the others leave the parameters as they are.
pub struct PerTensor<R: Rule> {
    /// Each group's hyperparameters, `[weights (decay), biases (no decay)]`.
    rules: [R; 2],
    /// Each group's schedule.
    schedules: [R::Schedule; 2],
    /// Each group's scalars for the current step (`None` before the first `begin_step`).
    scalars: Option<[R::Scalars; 2]>,
    tensors: [TensorSlot; 4],
}

/// What [`PerTensor`] keeps per tensor.
#[derive(Clone, Copy, Default)]
struct TensorSlot {
    /// Updates so far (the rule's `step`).
    step: u64,
    /// Whether the tensor holds its evaluation point (between `eval` and `train`).
    evaluating: bool,
}

/// Tensor `tensor`'s slot, and whether it is in the weights' group (weight decay).
fn slot(tensors: &mut [TensorSlot; 4], tensor: usize) -> Result<(&mut TensorSlot, bool), Error> {
    let len = tensors.len();
    match (tensors.get_mut(tensor), TENSOR_DECAY.get(tensor)) {
        (Some(slot), Some(&decay)) => Ok((slot, decay)),
        _ => Err(Error::IndexOutOfRange {
            what: "tensor",
            index: tensor,
            len,
        }),
    }
}

/// The weights' (`decay`) or the biases' entry of a per-group pair.
fn group<T>([weights, biases]: &[T; 2], decay: bool) -> &T {
    if decay { weights } else { biases }
}

/// `step` of a tensor at its evaluation point. Built out of line: built inline, this branch
/// changed how LLVM laid out the training loop and the AdamW-only firmware grew by 6 KB of `.text`.
#[cold]
#[inline(never)]
fn in_eval_mode() -> Error {
    Error::Mode {
        what: "step",
        reason: "the tensor holds its evaluation point: call train() first",
    }
}

impl<R: Rule<TensorState = ()>> PerTensor<R> {
    /// `decay` for the weights, `no_decay` for the biases; both validated as the builder would.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] or [`Error::Conflict`] naming the key.
    pub fn new(decay: R, no_decay: R) -> Result<Self, Error> {
        decay.validate()?;
        no_decay.validate()?;
        Ok(PerTensor {
            rules: [decay, no_decay],
            schedules: Default::default(),
            scalars: None,
            tensors: [TensorSlot::default(); 4],
        })
    }
}

impl<R: Rule<TensorState = ()>> Optimizer for PerTensor<R> {
    fn name(&self) -> &'static str {
        group(&self.rules, true).name()
    }

    fn state_len(&self, n: usize) -> usize {
        // Both groups have the same slots unless their amsgrad flags differ; take the larger so
        // a mismatch is reported by `step` (ShapeMismatch) rather than overrunning anything.
        let [decay, no_decay] = &self.rules;
        decay.state_len(n).max(no_decay.state_len(n))
    }

    fn begin_step(&mut self) {
        let [decay, no_decay] = &self.rules;
        let [decay_schedule, no_decay_schedule] = &mut self.schedules;
        self.scalars = Some([
            decay.begin_step(decay_schedule),
            no_decay.begin_step(no_decay_schedule),
        ]);
    }

    fn step<P: Element<Compute = f32>>(
        &mut self,
        tensor: usize,
        p: &mut [P],
        g: &[P],
        state: &mut [f32],
    ) -> Result<(), Error> {
        let (t, decay) = slot(&mut self.tensors, tensor)?;
        let Some(scalars) = &self.scalars else {
            return Err(Error::Mode {
                what: "step",
                reason: "no optimizer step begun: call begin_step() once per step, before the \
                         tensors' updates",
            });
        };
        if t.evaluating {
            return Err(in_eval_mode());
        }
        group(&self.rules, decay).step_with(group(scalars, decay), &mut t.step, p, g, state)
    }

    fn eval<P: Element<Compute = f32>>(
        &mut self,
        tensor: usize,
        p: &mut [P],
        state: &mut [f32],
    ) -> Result<(), Error> {
        let (t, decay) = slot(&mut self.tensors, tensor)?;
        if !t.evaluating {
            // Leaves the parameters as they are for AdamW and Lion, and for a tensor that has not
            // been updated yet (it has no `z`).
            group(&self.rules, decay).to_eval(t.step, p, state)?;
            t.evaluating = true;
        }
        Ok(())
    }

    fn train<P: Element<Compute = f32>>(
        &mut self,
        tensor: usize,
        p: &mut [P],
        state: &mut [f32],
    ) -> Result<(), Error> {
        let (t, decay) = slot(&mut self.tensors, tensor)?;
        if t.evaluating {
            group(&self.rules, decay).to_train(t.step, p, state)?;
            t.evaluating = false;
        }
        Ok(())
    }
}

/// The buffers one phase trains in, all `static` (see `main`).
pub struct Buffers<'a, P> {
    /// The trainable head, in the phase's parameter type.
    pub head: &'a mut Head<P>,
    /// Its gradient, in the parameter type (what the rule reads).
    pub grad: &'a mut Head<P>,
    /// The batch gradient accumulated in f32 (rounded once into `grad`).
    pub acc: &'a mut Head<f32>,
    /// Optimizer state for the whole head (f32); its first `Σ state_len(tensor)` elements used.
    pub state: &'a mut [f32],
}

/// Why a phase stopped: the crate's error and the tensor it concerns.
pub struct Failure {
    /// The tensor's name (`fc2.weight`, ...).
    pub tensor: Option<&'static str>,
    /// The crate's error.
    pub error: Error,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.tensor {
            Some(tensor) => write!(f, "{tensor}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// Held-out metrics before and after a phase.
pub struct Outcome {
    /// Before the first step.
    pub before: Metrics,
    /// After the last epoch.
    pub after: Metrics,
}

/// Calls `f(tensor, p, g, state)` for each tensor of the head with its slice of the state,
/// tensor after tensor (state laid out as `state_len(tensor 0) | state_len(tensor 1) | ...`).
/// An error names the tensor.
fn for_each_tensor<P, O>(
    opt: &mut O,
    head: &mut Head<P>,
    grad: Option<&Head<P>>,
    mut state: &mut [f32],
    mut f: impl FnMut(&mut O, usize, &mut [P], &[P], &mut [f32]) -> Result<(), Error>,
) -> Result<(), Failure>
where
    P: Element<Compute = f32>,
    O: Optimizer,
{
    let grads = grad.map(Head::tensors);
    for (t, p) in head.tensors_mut().into_iter().enumerate() {
        let g = grads.and_then(|g| g.get(t).copied()).unwrap_or_default();
        // A buffer too short is not cut here: the rule gets what there is and reports the
        // mismatch (expected vs found) as an error.
        let at = opt.state_len(p.len()).min(state.len());
        let (s, rest) = core::mem::take(&mut state).split_at_mut(at);
        state = rest;
        f(opt, t, p, g, s).map_err(|error| Failure {
            tensor: TENSOR_NAMES.get(t).copied(),
            error,
        })?;
    }
    Ok(())
}

/// Evaluates the head at the optimizer's evaluation point (`eval()` … `train()` around it).
fn evaluate<P, O>(opt: &mut O, head: &mut Head<P>, state: &mut [f32]) -> Result<Metrics, Failure>
where
    P: Element<Compute = f32>,
    O: Optimizer,
{
    for_each_tensor(opt, head, None, state, |o, t, p, _, s| o.eval(t, p, s))?;
    let metrics = model::evaluate(head);
    for_each_tensor(opt, head, None, state, |o, t, p, _, s| o.train(t, p, s))?;
    Ok(metrics)
}

/// Position in the training set of the `k`-th sample of an epoch: a different order every
/// epoch (a stride coprime to `N_TRAIN`, shifted per epoch) without an index buffer in RAM.
fn order(epoch: usize, k: usize) -> usize {
    const STRIDE: usize = 97; // prime: coprime to N_TRAIN unless it divides it
    const _: () = assert!(
        !N_TRAIN.is_multiple_of(STRIDE),
        "STRIDE must be coprime to N_TRAIN"
    );
    (k * STRIDE + epoch * 31) % N_TRAIN
}

/// Fine-tunes the head from its initial weights with `opt` for `epochs` epochs, printing the
/// training loss and the held-out loss and accuracy after every epoch.
///
/// # Errors
/// The first error of the optimizer, with the tensor it concerns.
pub fn run_phase<O: Optimizer, P: Element<Compute = f32>>(
    opt: &mut O,
    bufs: Buffers<'_, P>,
    epochs: usize,
) -> Result<Outcome, Failure> {
    let Buffers {
        head,
        grad,
        acc,
        state,
    } = bufs;
    head.load_initial();
    state.fill(0.0);
    let name = opt.name();
    let before = evaluate(opt, head, state)?;
    hprintln!(
        "{name:<17} {:<4} epoch {:>2}  train loss      -  eval loss {}  eval acc {:>5}%",
        P::NAME,
        0,
        Dec(before.loss, 4),
        Dec(100.0 * before.accuracy, 1),
    );
    let mut after = before;
    for epoch in 1..=epochs {
        let mut train_loss = 0.0f32;
        let batches = N_TRAIN / BATCH;
        for batch in 0..batches {
            acc.fill(0.0);
            let mut loss = 0.0f32;
            for k in batch * BATCH..(batch + 1) * BATCH {
                if let Some((x, label)) = model::sample(Split::Train, order(epoch, k)) {
                    loss += model::loss_and_grad(head, x, label, 1.0 / BATCH as f32, acc);
                }
            }
            train_loss += loss / BATCH as f32;
            grad.round_from(acc);
            opt.begin_step();
            for_each_tensor(opt, head, Some(grad), state, |o, t, p, g, s| {
                o.step(t, p, g, s)
            })?;
        }
        after = evaluate(opt, head, state)?;
        hprintln!(
            "{name:<17} {:<4} epoch {epoch:>2}  train loss {}  eval loss {}  eval acc {:>5}%",
            P::NAME,
            Dec(train_loss / batches as f32, 4),
            Dec(after.loss, 4),
            Dec(100.0 * after.accuracy, 1),
        );
    }
    Ok(Outcome { before, after })
}
