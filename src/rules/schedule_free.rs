//! The Schedule-Free family (Defazio et al. 2024): `SGDScheduleFree`, `AdamWScheduleFree`,
//! `RAdamScheduleFree`, `AdamWScheduleFreePaper`, the `…Reference` forms and
//! [`ScheduleFreeWrapper`] around any plain rule, matching schedulefree 1.4.1.
//!
//! Three sequences per parameter: `z` (the base iterate), `x` (its weighted average, what is
//! evaluated) and `y = (1 − β₁)·z + β₁·x` (where gradients are taken). Training parameters hold
//! `y`; the state holds `z` (and `x` in the reference forms). Per group and step
//! (`adamw_schedulefree.py:124-148`, `k` = completed steps of the group):
//!
//! ```text
//! sched  = (k+1)/warmup_steps if k < warmup_steps else 1          (not RAdam, not the wrappers)
//! lr     = group_lr · sched            (Paper: · √(1 − β₂^(k+1)); RAdam: · rect(k+1))
//! lr_max = max(lr, lr_max)
//! weight = (k+1)^r · lr_max^weight_lr_power;   weight_sum += weight
//! c      = weight / weight_sum   (0 while weight_sum = 0)
//! ```
//!
//! Per element, `AdamWScheduleFree` (`:185-210`; `SGDScheduleFree` has no `v` and `ĝ = g`):
//!
//! ```text
//! z ← y                                    on the tensor's first update (state['z'] = clone(p))
//! v ← β₂·v + ((1 − β₂)·g)·g
//! ĝ ← g / (√v · (1/√(1 − β₂^(k+1))) + ε)   (RAdam: only once ρ_t > 4; Paper: √v + ε)
//! ĝ ← ĝ + λ·y                              if λ ≠ 0 (decay at y)
//! y ← lerp(y, z, c)                        (PyTorch's two-branch lerp)
//! y ← y + (lr·(β₁·(1 − c) − 1))·ĝ
//! z ← z − lr·ĝ
//! ```
//!
//! `eval()` sets `p ← lerp(y, z, 1 − 1/β₁)` (= x) and `train()` `p ← lerp(x, z, 1 − β₁)`, only
//! for tensors that have state (have been updated at least once). As in [`crate::rules::Adam`],
//! `√(v/bc₂)` is computed as `√v · (1/√bc₂)` (one vector division fewer; within an ulp).
//!
//! The reference forms keep `x` explicitly: `z ← z − lr·λ·(y or z)`, `z ← z + (−lr)·g/d`,
//! `x ← x·(1 − c) + c·z`, `y ← x·β₁ + (1 − β₁)·z` (`adamw_schedulefree_reference.py:162-196`);
//! `eval()` copies `x`, `train()` recomputes `y` with the same expression (so it equals the `y`
//! the reference stores, bit for bit). The closure forms (`…Closure`) keep `x` in the parameters
//! and evaluate the gradient inside `step`; they are not provided.
//!
//! Parameter dtype: `z` (and `x`) are stored in the state type (`f32` for `bf16`/`f16`
//! parameters), where schedulefree stores them in the parameter dtype.

use crate::drive::{Body, HeadBody};
use crate::element::Element;
use crate::error::{Error, check, non_negative, unit_interval};
use crate::lanes::{Lanes, Real};
use crate::math::{pow_f64, sqrt_f64};
use crate::rules::{Lerp, Mode, Rule, Visit, const_bools, name_slots_lr};

/// A parameter group's schedule-free state: the param_group keys `k`, `lr_max` and `weight_sum`
/// of schedulefree, carried from step to step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Completed steps of the group (advances every step, with or without gradients).
    pub k: u64,
    /// Largest scheduled learning rate so far (starts at −1, as schedulefree's classes).
    pub lr_max: f64,
    /// Sum of the averaging weights so far.
    pub weight_sum: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            k: 0,
            lr_max: -1.0,
            weight_sum: 0.0,
        }
    }
}

/// The per-step scalars of one group ([`Rule::begin_step`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepScalars {
    /// The step being taken, `k + 1`.
    pub step: u64,
    /// The scheduled learning rate of this step (schedulefree's `scheduled_lr`).
    pub lr: f64,
    /// The averaging weight `c = weight / weight_sum` of this step.
    pub ckp1: f64,
    /// `1 − β₂^(k+1)` (1 for the SGD forms).
    bias_correction2: f64,
    /// Whether gradients are normalised this step (RAdam: `ρ_t > 4`; always for Adam forms).
    adaptive: bool,
}

impl Schedule {
    /// Advances the schedule by one step at scheduled learning rate `lr`; returns `ckp1`.
    #[inline]
    fn advance(&mut self, lr: f64, r: f64, weight_lr_power: f64) -> f64 {
        let t = (self.k + 1) as f64;
        self.lr_max = if self.lr_max > lr { self.lr_max } else { lr }; // Python's max(lr, lr_max)
        let weight = pow_f64(t, r) * pow_f64(self.lr_max, weight_lr_power);
        self.weight_sum += weight;
        self.k = self.k.saturating_add(1);
        if self.weight_sum == 0.0 {
            0.0 // schedulefree: `except ZeroDivisionError: ckp1 = 0`
        } else {
            weight / self.weight_sum
        }
    }
}

/// Which schedule-free algorithm a core runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Sgd,
    SgdReference,
    Adam,
    AdamPaper,
    AdamReference { decay_at_z: bool },
    RAdam { silent_sgd_phase: bool },
}

/// The hyperparameters every class shares, in one place.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Core {
    lr: f64,
    /// β₁ (Adam forms) or `momentum` (SGD forms): the interpolation weight.
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    warmup_steps: u64,
    r: f64,
    weight_lr_power: f64,
    form: Form,
}

impl Core {
    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        let sgd = matches!(self.form, Form::Sgd | Form::SgdReference);
        let (key, expected) = if sgd {
            ("momentum", "0 < momentum < 1")
        } else {
            ("betas[0]", "0 < betas[0] < 1 (eval() divides by betas[0])")
        };
        check(
            key,
            self.beta1,
            self.beta1 > 0.0 && self.beta1 < 1.0,
            expected,
        )?;
        if !sgd {
            let b2 = self.beta2;
            unit_interval!("betas[1]", b2)?;
            non_negative!("eps", self.eps)?;
        }
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        check("r", self.r, self.r.is_finite(), "a finite number")?;
        let p = self.weight_lr_power;
        check("weight_lr_power", p, p.is_finite(), "a finite number")
    }

    fn begin_step(&self, s: &mut Schedule) -> StepScalars {
        let step = s.k.saturating_add(1);
        let t = step as f64;
        let (lr, bias_correction2, adaptive) = match self.form {
            Form::RAdam { silent_sgd_phase } => {
                // radam_schedulefree.py:137-152
                let beta2_t = pow_f64(self.beta2, t);
                let bc2 = 1.0 - beta2_t;
                let rho_inf = 2.0 / (1.0 - self.beta2) - 1.0;
                let rho_t = rho_inf - 2.0 * t * beta2_t / bc2;
                let rect = if rho_t > 4.0 {
                    sqrt_f64(
                        (rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                            / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t),
                    )
                } else if silent_sgd_phase {
                    0.0
                } else {
                    1.0
                };
                (self.lr * rect, bc2, rho_t > 4.0)
            }
            form => {
                let sched = if s.k < self.warmup_steps {
                    t / self.warmup_steps as f64
                } else {
                    1.0
                };
                let sgd = matches!(form, Form::Sgd | Form::SgdReference);
                let bc2 = if sgd {
                    1.0
                } else {
                    1.0 - pow_f64(self.beta2, t)
                };
                let lr = self.lr * sched;
                let lr = if form == Form::AdamPaper {
                    lr * sqrt_f64(bc2)
                } else {
                    lr
                };
                (lr, bc2, !sgd)
            }
        };
        let ckp1 = s.advance(lr, self.r, self.weight_lr_power);
        StepScalars {
            step,
            lr,
            ckp1,
            bias_correction2,
            adaptive,
        }
    }

    // Inlined into each class's `visit_body`, where `self.form` is a constant: only that class's
    // kernels are compiled (on a microcontroller, AdamWScheduleFree alone is ~46 KB smaller).
    #[inline(always)]
    fn visit_body<C: Real, F: Visit<C>>(&self, sc: &StepScalars, step: u64, f: F) {
        let c = Coeffs::<C>::new(self, sc);
        let first = step <= 1;
        let wd = self.weight_decay != 0.0;
        match self.form {
            Form::Sgd => const_bools!((FIRST = first, WD = wd, SMALL = c.y.small) => {
                f.visit::<_, 1>(&SgdKernel::<C, FIRST, WD, SMALL>(c))
            }),
            Form::SgdReference => const_bools!((FIRST = first, WD = wd) => {
                f.visit::<_, 2>(&SgdReferenceKernel::<C, FIRST, WD>(c))
            }),
            Form::Adam | Form::AdamPaper | Form::RAdam { .. } => {
                // Only RAdam has a non-adaptive phase (a constant `true` for the other forms).
                let adaptive = !matches!(self.form, Form::RAdam { .. }) || sc.adaptive;
                const_bools!((FIRST = first, WD = wd, ADAPTIVE = adaptive, SMALL = c.y.small) => {
                    f.visit::<_, 2>(&AdamKernel::<C, FIRST, WD, ADAPTIVE, SMALL>(c))
                })
            }
            Form::AdamReference { decay_at_z } => {
                const_bools!((FIRST = first, WD = wd, AT_Z = decay_at_z) => {
                    f.visit::<_, 3>(&AdamReferenceKernel::<C, FIRST, WD, AT_Z>(c))
                })
            }
        }
    }

    fn switch_mode_with<P, S, V>(&self, mode: Mode, p: &mut [P], state: &[S])
    where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        let n = p.len();
        let z = &state[..n];
        match self.form {
            Form::SgdReference | Form::AdamReference { .. } => {
                let x = &state[n..2 * n];
                match mode {
                    Mode::Eval => crate::drive::map_with::<P, S, _, V, 2>(
                        &|_: V, [x, _]: [V; 2]| x,
                        p,
                        [x, z],
                    ),
                    Mode::Train => {
                        let (b1, b1c) = (P::Compute::from_f64(self.beta1), one_minus(self.beta1));
                        crate::drive::map_with::<P, S, _, V, 2>(
                            &move |_: V, [x, z]: [V; 2]| x * V::splat(b1) + V::splat(b1c) * z,
                            p,
                            [x, z],
                        );
                    }
                }
            }
            _ => mode_lerp::<P, S, V>(mode, self.beta1, p, z),
        }
    }
}

/// `1 − a` computed in f64 and rounded once (a Python float passed to a kernel).
#[inline]
fn one_minus<C: Real>(a: f64) -> C {
    C::from_f64(1.0 - a)
}

/// `eval()`: `p ← lerp(p, z, 1 − 1/β)`; `train()`: `p ← lerp(p, z, 1 − β)`
/// (adamw_schedulefree.py:77-101, wrap_schedulefree.py:75-95).
#[inline]
fn mode_lerp<P, S, V>(mode: Mode, beta: f64, p: &mut [P], z: &[S])
where
    P: Element,
    S: Element<Compute = P::Compute>,
    V: Lanes<Scalar = P::Compute>,
{
    let w = match mode {
        Mode::Eval => 1.0 - 1.0 / beta,
        Mode::Train => 1.0 - beta,
    };
    let l = Lerp::<P::Compute>::new(w);
    const_bools!((SMALL = l.small) => crate::drive::map_with::<P, S, _, V, 1>(
        &move |p: V, [z]: [V; 1]| l.apply::<V, SMALL>(p, z),
        p,
        [z],
    ));
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    beta1: C,
    one_minus_beta1: C,
    beta2: C,
    one_minus_beta2: C,
    inv_bc2_sqrt: C,
    eps: C,
    weight_decay: C,
    /// `lr·λ` (reference forms: the decay applied to `z`).
    lr_wd: C,
    lr: C,
    neg_lr: C,
    /// `lerp(y, z, c)`.
    y: Lerp<C>,
    /// `lr·(β₁·(1 − c) − 1)`: the coefficient of ĝ in the y update.
    y_lr: C,
    /// `1 − c` and `c` for the reference forms' `x·(1 − c) + c·z`.
    one_minus_ckp1: C,
    ckp1: C,
}

impl<C: Real> Coeffs<C> {
    fn new(h: &Core, sc: &StepScalars) -> Self {
        let (lr, ckp1) = (sc.lr, sc.ckp1);
        let inv_bc2_sqrt = match h.form {
            Form::AdamPaper => 1.0,
            _ => 1.0 / sqrt_f64(sc.bias_correction2),
        };
        Coeffs {
            beta1: C::from_f64(h.beta1),
            one_minus_beta1: one_minus(h.beta1),
            beta2: C::from_f64(h.beta2),
            one_minus_beta2: one_minus(h.beta2),
            inv_bc2_sqrt: C::from_f64(inv_bc2_sqrt),
            eps: C::from_f64(h.eps),
            weight_decay: C::from_f64(h.weight_decay),
            lr_wd: C::from_f64(lr * h.weight_decay),
            lr: C::from_f64(lr),
            neg_lr: C::from_f64(-lr),
            y: Lerp::new(ckp1),
            y_lr: C::from_f64(lr * (h.beta1 * (1.0 - ckp1) - 1.0)),
            one_minus_ckp1: one_minus(ckp1),
            ckp1: C::from_f64(ckp1),
        }
    }

    /// `y.lerp_(z, c); y.add_(ĝ, alpha=lr·(β₁(1−c)−1)); z.sub_(ĝ, alpha=lr)`; returns (y, z).
    #[inline(always)]
    fn y_z<V: Lanes<Scalar = C>, const SMALL: bool>(&self, y: V, z: V, gn: V) -> (V, V) {
        let y = self.y.apply::<V, SMALL>(y, z);
        let y = y + V::splat(self.y_lr) * gn;
        (y, z - V::splat(self.lr) * gn)
    }
}

/// `SGDScheduleFree` (sgd_schedulefree.py:171-186). Slot: `z`.
struct SgdKernel<C, const FIRST: bool, const WD: bool, const SMALL: bool>(Coeffs<C>);

impl<C: Real, const FIRST: bool, const WD: bool, const SMALL: bool> Body<C, 1>
    for SgdKernel<C, FIRST, WD, SMALL>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, y: V, g: V, [z]: &mut [V; 1]) -> V {
        let c = &self.0;
        let z0 = if FIRST { y } else { *z };
        let g = if WD {
            g + V::splat(c.weight_decay) * y //    grad.add_(y, alpha=weight_decay)
        } else {
            g
        };
        let (y, nz) = c.y_z::<V, SMALL>(y, z0, g);
        *z = nz;
        y
    }
}

/// `AdamWScheduleFree`, `AdamWScheduleFreePaper`, `RAdamScheduleFree`. Slots: `z`, `exp_avg_sq`.
struct AdamKernel<C, const FIRST: bool, const WD: bool, const ADAPTIVE: bool, const SMALL: bool>(
    Coeffs<C>,
);

impl<C: Real, const FIRST: bool, const WD: bool, const ADAPTIVE: bool, const SMALL: bool> Body<C, 2>
    for AdamKernel<C, FIRST, WD, ADAPTIVE, SMALL>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, y: V, g: V, [z, v]: &mut [V; 2]) -> V {
        let c = &self.0;
        let z0 = if FIRST { y } else { *z };
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
        *v = *v * V::splat(c.beta2) + V::splat(c.one_minus_beta2) * g * g;
        let mut gn = if ADAPTIVE {
            // grad.div_(exp_avg_sq.div(bias_correction2).sqrt_().add_(eps))
            g / (v.root() * V::splat(c.inv_bc2_sqrt) + V::splat(c.eps))
        } else {
            g // RAdam's SGD phase
        };
        if WD {
            gn = gn + V::splat(c.weight_decay) * y; // grad_normalized.add_(y, alpha=decay)
        }
        let (y, nz) = c.y_z::<V, SMALL>(y, z0, gn);
        *z = nz;
        y
    }
}

/// `SGDScheduleFreeReference` (sgd_schedulefree_reference.py:150-175). Slots: `z`, `x`.
struct SgdReferenceKernel<C, const FIRST: bool, const WD: bool>(Coeffs<C>);

impl<C: Real, const FIRST: bool, const WD: bool> Body<C, 2> for SgdReferenceKernel<C, FIRST, WD> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, y: V, g: V, [z, x]: &mut [V; 2]) -> V {
        let c = &self.0;
        let k = V::splat;
        let (z0, x0) = if FIRST { (y, y) } else { (*z, *x) };
        let g = if WD { g + k(c.weight_decay) * y } else { g };
        let nz = z0 - k(c.lr) * g; //                                   z.sub_(grad, alpha=lr)
        let nx = x0 * k(c.one_minus_ckp1) + k(c.ckp1) * nz; //         x.mul_(1-ckp1).add_(z, alpha=ckp1)
        (*z, *x) = (nz, nx);
        nx * k(c.beta1) + k(c.one_minus_beta1) * nz //                 x.mul(momentum).add_(z, alpha=1-momentum)
    }
}

/// `AdamWScheduleFreeReference` (adamw_schedulefree_reference.py:162-196). Slots: `z`, `x`,
/// `exp_avg_sq`.
struct AdamReferenceKernel<C, const FIRST: bool, const WD: bool, const AT_Z: bool>(Coeffs<C>);

impl<C: Real, const FIRST: bool, const WD: bool, const AT_Z: bool> Body<C, 3>
    for AdamReferenceKernel<C, FIRST, WD, AT_Z>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, y: V, g: V, [z, x, v]: &mut [V; 3]) -> V {
        let c = &self.0;
        let k = V::splat;
        let (mut nz, x0) = if FIRST { (y, y) } else { (*z, *x) };
        if WD {
            nz = nz - k(c.lr_wd) * if AT_Z { nz } else { y }; //        z.sub_(z or y, alpha=lr*decay)
        }
        *v = *v * k(c.beta2) + k(c.one_minus_beta2) * g * g;
        let denom = v.root() * k(c.inv_bc2_sqrt) + k(c.eps);
        nz = nz + k(c.neg_lr) * g / denom; //                           z.addcdiv_(grad, denom, value=-lr)
        let nx = x0 * k(c.one_minus_ckp1) + k(c.ckp1) * nz;
        (*z, *x) = (nz, nx);
        nx * k(c.beta1) + k(c.one_minus_beta1) * nz
    }
}

macro_rules! sf_class {
    (
        $(#[$doc:meta])*
        $ty:ident, $name:literal, slots $slots:literal,
        fields { $($(#[$fdoc:meta])* $field:ident : $fty:ty = $default:expr),* $(,)? },
        core($s:ident) $core:block,
        keys [$($key:ident),* $(,)?]
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $ty {
            $($(#[$fdoc])* pub $field: $fty,)*
        }

        impl $ty {
            /// The reference constructor's defaults.
            pub const DEFAULT: $ty = $ty { $($field: $default),* };

            /// State slots per element.
            #[inline]
            pub const fn slots(&self) -> usize {
                $slots
            }

            /// State elements for a tensor of `n` elements (usable in `const` array lengths).
            #[inline]
            pub const fn state_len(&self, n: usize) -> usize {
                $slots * n
            }

            #[inline]
            fn core(&self) -> Core {
                let $s = self;
                $core
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::DEFAULT
            }
        }

        impl Rule for $ty {
            type Schedule = Schedule;
            type Scalars = StepScalars;
            type TensorState = ();

            name_slots_lr!($name, |_| $slots);
            fn validate(&self) -> Result<(), Error> {
                self.core().validate()
            }
            #[inline]
            fn begin_step(&self, schedule: &mut Schedule) -> StepScalars {
                self.core().begin_step(schedule)
            }
            #[inline]
            fn has_modes(&self) -> bool {
                true
            }
            #[inline]
            fn visit_body<C: Real, F: Visit<C>>(&self, sc: &StepScalars, step: u64, f: F) {
                self.core().visit_body(sc, step, f)
            }
            #[inline]
            fn switch_mode_with<P, S, V>(&self, mode: Mode, p: &mut [P], state: &[S])
            where
                P: Element,
                S: Element<Compute = P::Compute>,
                V: Lanes<Scalar = P::Compute>,
            {
                self.core().switch_mode_with::<P, S, V>(mode, p, state)
            }
        }

        #[cfg(feature = "alloc")]
        crate::config::hyper_keys!($ty, [$($key),*]);
    };
}

sf_class!(
    /// `schedulefree.SGDScheduleFree`: schedule-free SGD with momentum as the interpolation
    /// weight. State slot: `z`.
    SgdScheduleFree, "SGDScheduleFree", slots 1,
    fields {
        /// Learning rate (default 1.0).
        lr: f64 = 1.0,
        /// Interpolation weight β between `x` and `z` (default 0.9; 0 < momentum < 1).
        momentum: f64 = 0.9,
        /// Weight decay λ, evaluated at `y` (default 0).
        weight_decay: f64 = 0.0,
        /// Linear warmup steps (default 0).
        warmup_steps: u64 = 0,
        /// Polynomial weighting power of the average (default 0).
        r: f64 = 0.0,
        /// Power of `lr_max` in the averaging weights (default 2).
        weight_lr_power: f64 = 2.0,
        /// PyTorch dispatch flag; accepted, no effect (both paths compute the same).
        foreach: Option<bool> = None,
    },
    core(h) {
        Core {
            lr: h.lr,
            beta1: h.momentum,
            beta2: 0.0,
            eps: 0.0,
            weight_decay: h.weight_decay,
            warmup_steps: h.warmup_steps,
            r: h.r,
            weight_lr_power: h.weight_lr_power,
            form: Form::Sgd,
        }
    },
    keys [lr, momentum, weight_decay, warmup_steps, r, weight_lr_power, foreach]
);

sf_class!(
    /// `schedulefree.SGDScheduleFreeReference`: [`SgdScheduleFree`] with `x` kept explicitly
    /// (different rounding, one more state slot). State slots: `z`, `x`.
    SgdScheduleFreeReference, "SGDScheduleFreeReference", slots 2,
    fields {
        /// Learning rate (default 1.0).
        lr: f64 = 1.0,
        /// Interpolation weight β between `x` and `z` (default 0.9; 0 < momentum < 1).
        momentum: f64 = 0.9,
        /// Weight decay λ, evaluated at `y` (default 0).
        weight_decay: f64 = 0.0,
        /// Linear warmup steps (default 0).
        warmup_steps: u64 = 0,
        /// Polynomial weighting power of the average (default 0).
        r: f64 = 0.0,
        /// Power of `lr_max` in the averaging weights (default 2).
        weight_lr_power: f64 = 2.0,
        /// Accepted and ignored, as by the reference.
        foreach: Option<bool> = None,
    },
    core(h) {
        Core {
            lr: h.lr,
            beta1: h.momentum,
            beta2: 0.0,
            eps: 0.0,
            weight_decay: h.weight_decay,
            warmup_steps: h.warmup_steps,
            r: h.r,
            weight_lr_power: h.weight_lr_power,
            form: Form::SgdReference,
        }
    },
    keys [lr, momentum, weight_decay, warmup_steps, r, weight_lr_power, foreach]
);

macro_rules! adam_sf_class {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $form:expr) => {
        sf_class!(
            $(#[$doc])*
            $ty, $name, slots 2,
            fields {
                /// Learning rate (default 0.0025).
                lr: f64 = 0.0025,
                /// (β₁, β₂): β₁ interpolates between `x` and `z`, β₂ averages `g²`
                /// (default (0.9, 0.999)).
                betas: (f64, f64) = (0.9, 0.999),
                /// Term added to the denominator (default 1e-8).
                eps: f64 = 1e-8,
                /// Weight decay λ, evaluated at `y` (default 0).
                weight_decay: f64 = 0.0,
                /// Linear warmup steps (default 0).
                warmup_steps: u64 = 0,
                /// Polynomial weighting power of the average (default 0).
                r: f64 = 0.0,
                /// Power of `lr_max` in the averaging weights (default 2).
                weight_lr_power: f64 = 2.0,
                /// PyTorch dispatch flag; accepted, no effect (both paths compute the same).
                foreach: Option<bool> = None,
            },
            core(h) {
                Core {
                    lr: h.lr,
                    beta1: h.betas.0,
                    beta2: h.betas.1,
                    eps: h.eps,
                    weight_decay: h.weight_decay,
                    warmup_steps: h.warmup_steps,
                    r: h.r,
                    weight_lr_power: h.weight_lr_power,
                    form: $form,
                }
            },
            keys [lr, betas, eps, weight_decay, warmup_steps, r, weight_lr_power, foreach]
        );
    };
}

adam_sf_class!(
    /// `schedulefree.AdamWScheduleFree`: schedule-free AdamW (no first moment; β₁ is the
    /// interpolation weight). State slots: `z`, `exp_avg_sq`.
    AdamWScheduleFree,
    "AdamWScheduleFree",
    Form::Adam
);

adam_sf_class!(
    /// `schedulefree.AdamWScheduleFreePaper`: [`AdamWScheduleFree`] with the bias correction in
    /// the step size (`lr·√(1 − β₂^t)`, also in `lr_max` and the weights) and `√v + ε`.
    /// State slots: `z`, `exp_avg_sq`.
    AdamWScheduleFreePaper,
    "AdamWScheduleFreePaper",
    Form::AdamPaper
);

sf_class!(
    /// `schedulefree.AdamWScheduleFreeReference`: [`AdamWScheduleFree`] with `x` kept
    /// explicitly and the weight decay applied to `z` (at `y`, or at `z` with `decay_at_z`).
    /// State slots: `z`, `x`, `exp_avg_sq`.
    AdamWScheduleFreeReference, "AdamWScheduleFreeReference", slots 3,
    fields {
        /// Learning rate (default 0.0025).
        lr: f64 = 0.0025,
        /// (β₁, β₂) (default (0.9, 0.999)).
        betas: (f64, f64) = (0.9, 0.999),
        /// Term added to the denominator (default 1e-8).
        eps: f64 = 1e-8,
        /// Weight decay λ (default 0).
        weight_decay: f64 = 0.0,
        /// Linear warmup steps (default 0).
        warmup_steps: u64 = 0,
        /// Polynomial weighting power of the average (default 0).
        r: f64 = 0.0,
        /// Power of `lr_max` in the averaging weights (default 2).
        weight_lr_power: f64 = 2.0,
        /// Evaluate the weight decay at `z` instead of `y` (default false).
        decay_at_z: bool = false,
        /// Accepted and ignored, as by the reference.
        foreach: Option<bool> = None,
    },
    core(h) {
        Core {
            lr: h.lr,
            beta1: h.betas.0,
            beta2: h.betas.1,
            eps: h.eps,
            weight_decay: h.weight_decay,
            warmup_steps: h.warmup_steps,
            r: h.r,
            weight_lr_power: h.weight_lr_power,
            form: Form::AdamReference { decay_at_z: h.decay_at_z },
        }
    },
    keys [lr, betas, eps, weight_decay, warmup_steps, r, weight_lr_power, decay_at_z, foreach]
);

sf_class!(
    /// `schedulefree.RAdamScheduleFree`: schedule-free RAdam. The rectification replaces the
    /// warmup: while `ρ_t ≤ 4` the step is plain SGD, or (with `silent_sgd_phase`, the default)
    /// no step at all, only `exp_avg_sq` accumulating. State slots: `z`, `exp_avg_sq`.
    RAdamScheduleFree, "RAdamScheduleFree", slots 2,
    fields {
        /// Learning rate (default 0.0025).
        lr: f64 = 0.0025,
        /// (β₁, β₂) (default (0.9, 0.999)).
        betas: (f64, f64) = (0.9, 0.999),
        /// Term added to the denominator (default 1e-8).
        eps: f64 = 1e-8,
        /// Weight decay λ, evaluated at `y` (default 0).
        weight_decay: f64 = 0.0,
        /// Polynomial weighting power of the average (default 0).
        r: f64 = 0.0,
        /// Power of `lr_max` in the averaging weights (default 2).
        weight_lr_power: f64 = 2.0,
        /// PyTorch dispatch flag; accepted, no effect (both paths compute the same).
        foreach: Option<bool> = None,
        /// Take no step while the rectification is undefined (default true).
        silent_sgd_phase: bool = true,
    },
    core(h) {
        Core {
            lr: h.lr,
            beta1: h.betas.0,
            beta2: h.betas.1,
            eps: h.eps,
            weight_decay: h.weight_decay,
            warmup_steps: 0,
            r: h.r,
            weight_lr_power: h.weight_lr_power,
            form: Form::RAdam { silent_sgd_phase: h.silent_sgd_phase },
        }
    },
    keys [lr, betas, eps, weight_decay, r, weight_lr_power, foreach, silent_sgd_phase]
);

/// `schedulefree.ScheduleFreeWrapper` / `ScheduleFreeWrapperReference` around a plain rule `B`:
/// `B` steps `z` (with the gradient taken at `y`), the wrapper keeps the average.
///
/// Per element (wrap_schedulefree.py:113-185; `c` from the group's lr, no warmup):
///
/// ```text
/// z ← z − lr·λ_y·y;  y ← y − (lr·λ_y·(1 − β))·y        if weight_decay_at_y ≠ 0
/// x ← lerp(y, z, 1 − 1/β)
/// z ← B(z, g)                                         (the base rule's update, its own state)
/// x ← lerp(x, z, c);  y ← lerp(x, z, 1 − β)
/// ```
///
/// The reference form keeps `x` instead of recomputing it from `y`
/// (wrap_schedulefree_reference.py:106-163): `z ← z − lr·λ_y·y`, `z ← B(z, g)`,
/// `x ← lerp(x, z, c)`, `y ← lerp(x, z, 1 − β)`. The reference also moves tensors that have no
/// gradient (their `x` still averages towards `z`); that is not reproduced: the optimizer layer
/// refuses a step of the reference form in which a tensor has no gradient
/// ([`Rule::needs_every_grad`]).
///
/// State slots: `z` (and `x` for the reference), then the base rule's slots. Group overrides and
/// [`Rule::lr`] act on the base rule (schedulefree reads the base's param groups); `momentum`,
/// `weight_decay_at_y`, `r` and `weight_lr_power` are the wrapper's, fixed at construction.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleFreeWrapper<B> {
    /// The rule that steps `z`.
    pub base: B,
    /// Interpolation weight β between `x` and `z` (default 0.9).
    pub momentum: f64,
    /// Weight decay λ_y applied to `z` at `y` (default 0).
    pub weight_decay_at_y: f64,
    /// Polynomial weighting power of the average (default 0).
    pub r: f64,
    /// Power of `lr_max` in the averaging weights (default 2).
    pub weight_lr_power: f64,
    /// The reference form (`ScheduleFreeWrapperReference`): `x` kept explicitly.
    pub reference: bool,
}

/// Per-step scalars of a wrapper group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WrapperScalars {
    /// The group's learning rate this step.
    pub lr: f64,
    /// The averaging weight `c` of this step.
    pub ckp1: f64,
}

impl<B: Rule<Schedule = (), Scalars = (), TensorState = ()>> ScheduleFreeWrapper<B> {
    /// `ScheduleFreeWrapper(base)` with schedulefree's defaults.
    pub const fn new(base: B) -> Self {
        ScheduleFreeWrapper {
            base,
            momentum: 0.9,
            weight_decay_at_y: 0.0,
            r: 0.0,
            weight_lr_power: 2.0,
            reference: false,
        }
    }

    /// Slots in front of the base rule's.
    const fn head(&self) -> usize {
        if self.reference { 2 } else { 1 }
    }
}

impl<B: Rule<Schedule = (), Scalars = (), TensorState = ()>> Rule for ScheduleFreeWrapper<B> {
    type Schedule = Schedule;
    type Scalars = WrapperScalars;
    type TensorState = ();

    #[inline]
    fn name(&self) -> &'static str {
        if self.reference {
            "ScheduleFreeWrapperReference"
        } else {
            "ScheduleFreeWrapper"
        }
    }
    #[inline]
    fn slots(&self) -> usize {
        self.head() + self.base.slots()
    }
    #[inline]
    fn lr(&self) -> f64 {
        self.base.lr()
    }
    #[inline]
    fn set_lr(&mut self, lr: f64) {
        self.base.set_lr(lr);
    }
    fn validate(&self) -> Result<(), Error> {
        self.base.validate()?;
        let m = self.momentum;
        check("momentum", m, m > 0.0 && m < 1.0, "0 < momentum < 1")?;
        let wd = self.weight_decay_at_y;
        non_negative!("weight_decay_at_y", wd)?;
        check("r", self.r, self.r.is_finite(), "a finite number")?;
        let p = self.weight_lr_power;
        check("weight_lr_power", p, p.is_finite(), "a finite number")
    }
    /// `z` (and `x`) are set from the parameters on a tensor's first update; the base rule's
    /// slots start at the base rule's initial state.
    #[inline]
    fn initial_state(&self, slot: usize) -> f64 {
        slot.checked_sub(self.head())
            .map_or(0.0, |k| self.base.initial_state(k))
    }
    #[inline]
    fn begin_step(&self, s: &mut Schedule) -> WrapperScalars {
        let lr = self.base.lr();
        let ckp1 = s.advance(lr, self.r, self.weight_lr_power);
        WrapperScalars { lr, ckp1 }
    }
    #[inline]
    fn has_modes(&self) -> bool {
        true
    }
    #[inline]
    fn needs_every_grad(&self) -> bool {
        self.reference
    }
    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, sc: &WrapperScalars, step: u64, f: F) {
        let c = WrapCoeffs::<C>::new(self, sc);
        self.base.visit_body(
            &(),
            step,
            WrapVisit {
                outer: f,
                c,
                first: step <= 1,
                reference: self.reference,
            },
        );
    }
    #[inline]
    fn switch_mode_with<P, S, V>(&self, mode: Mode, p: &mut [P], state: &[S])
    where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        let n = p.len();
        let z = &state[..n];
        if !self.reference {
            return mode_lerp::<P, S, V>(mode, self.momentum, p, z);
        }
        let x = &state[n..2 * n];
        match mode {
            Mode::Eval => {
                crate::drive::map_with::<P, S, _, V, 1>(&|_: V, [x]: [V; 1]| x, p, [x]);
            }
            Mode::Train => {
                let l = Lerp::<P::Compute>::new(1.0 - self.momentum);
                const_bools!((SMALL = l.small) => crate::drive::map_with::<P, S, _, V, 2>(
                    &move |_: V, [x, z]: [V; 2]| l.apply::<V, SMALL>(x, z),
                    p,
                    [x, z],
                ));
            }
        }
    }
}

/// A wrapper's per-step scalars in the compute type.
#[derive(Clone, Copy, Debug)]
struct WrapCoeffs<C> {
    /// `lr·λ_y` and `lr·λ_y·(1 − β)`.
    z_decay: C,
    y_decay: C,
    decays: bool,
    to_x: Lerp<C>,
    average: Lerp<C>,
    to_y: Lerp<C>,
}

impl<C: Real> WrapCoeffs<C> {
    fn new<B>(w: &ScheduleFreeWrapper<B>, sc: &WrapperScalars) -> Self {
        let m = w.momentum;
        WrapCoeffs {
            z_decay: C::from_f64(sc.lr * w.weight_decay_at_y),
            y_decay: C::from_f64(sc.lr * w.weight_decay_at_y * (1.0 - m)),
            decays: w.weight_decay_at_y != 0.0,
            to_x: Lerp::new(1.0 - 1.0 / m),
            average: Lerp::new(sc.ckp1),
            to_y: Lerp::new(1.0 - m),
        }
    }
}

/// Wraps the base rule's body as it is handed over.
struct WrapVisit<F, C> {
    outer: F,
    c: WrapCoeffs<C>,
    first: bool,
    reference: bool,
}

impl<C: Real, F: Visit<C>> Visit<C> for WrapVisit<F, C> {
    #[inline]
    fn visit<B: Body<C, K>, const K: usize>(self, body: &B) {
        // The wrapper multiplies every base body it wraps, so only the decay is a const generic;
        // the first-update flag (a loop-invariant branch) stays run-time.
        let (c, outer, first) = (self.c, self.outer, self.first);
        if self.reference {
            const_bools!((WD = c.decays) => outer.visit_head::<_, 2, K>(
                &WrappedReference::<_, _, WD> { body, c, first }
            ));
        } else {
            const_bools!((WD = c.decays) => {
                outer.visit_head::<_, 1, K>(&Wrapped::<_, _, WD> { body, c, first })
            });
        }
    }

    fn visit_head<B: HeadBody<C, J, K>, const J: usize, const K: usize>(self, _: &B) {
        // `ScheduleFreeWrapper<B>` requires `B: Rule<Schedule = (), Scalars = (), TensorState = ()>`:
        // plain rules, which hand over plain bodies (`visit`), never wrapped ones.
        unreachable!("a schedule-free wrapper cannot wrap a wrapper")
    }
}

/// `lerp` with the formula chosen per call, without a branch: the wrappers' lerp weights change
/// with the configuration and the step, and the wrapper is composed with every base body, so the
/// formula stays a run-time choice rather than multiplying the kernels. Both of PyTorch's formulas
/// are `base + k·(b − a)`: `a + w·(b − a)`, or `b − (b − a)·(1 − w)` = `b + (−(1 − w))·(b − a)`
/// (negation is exact and `x − y` is `x + (−y)`, so the bits are the same); `base` is a lane
/// select on a loop-invariant mask. With a (perfectly predicted) branch per lerp instead, the
/// SGD wrapper took ~15 % longer per element at 64 Ki elements (the same at 1 Mi), AVX2.
#[inline(always)]
fn lerp<V: Lanes>(l: &Lerp<V::Scalar>, a: V, b: V) -> V
where
    V::Scalar: Real,
{
    let (zero, one) = (V::Scalar::from_f64(0.0), V::Scalar::from_f64(1.0));
    let (pick_a, k) = if l.small {
        (one, l.w)
    } else {
        (-one, -l.one_minus_w)
    };
    V::splat(pick_a).if_gt(V::splat(zero), a, b) + V::splat(k) * (b - a)
}

struct Wrapped<'a, B, C, const WD: bool> {
    body: &'a B,
    c: WrapCoeffs<C>,
    first: bool,
}

impl<C: Real, B: Body<C, K>, const K: usize, const WD: bool> HeadBody<C, 1, K>
    for Wrapped<'_, B, C, WD>
{
    #[inline(always)]
    fn apply_head<V: Lanes<Scalar = C>>(&self, y: V, g: V, [z]: &mut [V; 1], s: &mut [V; K]) -> V {
        let c = &self.c;
        let mut y = y;
        let mut z0 = if self.first { y } else { *z };
        if WD {
            z0 = z0 - V::splat(c.z_decay) * y; //                   z.sub_(p, alpha=lr*wd)
            y = y - V::splat(c.y_decay) * y; //                     p.sub_(p, alpha=lr*wd*(1-m))
        }
        let x = lerp(&c.to_x, y, z0); //                          p.lerp_(z, 1-1/m)
        let nz = self.body.apply(z0, g, s); //                    base.step() on z
        let x = lerp(&c.average, x, nz); //                       p.lerp_(z, ckp1)
        *z = nz;
        lerp(&c.to_y, x, nz) //                                   p.lerp_(z, 1-m)
    }
}

struct WrappedReference<'a, B, C, const WD: bool> {
    body: &'a B,
    c: WrapCoeffs<C>,
    first: bool,
}

impl<C: Real, B: Body<C, K>, const K: usize, const WD: bool> HeadBody<C, 2, K>
    for WrappedReference<'_, B, C, WD>
{
    #[inline(always)]
    fn apply_head<V: Lanes<Scalar = C>>(
        &self,
        y: V,
        g: V,
        [z, x]: &mut [V; 2],
        s: &mut [V; K],
    ) -> V {
        let c = &self.c;
        let (mut z0, x0) = if self.first { (y, y) } else { (*z, *x) };
        if WD {
            z0 = z0 - V::splat(c.z_decay) * y; //                   z.sub_(y, alpha=lr*wd)
        }
        let nz = self.body.apply(z0, g, s);
        let nx = lerp(&c.average, x0, nz); //                      x.lerp_(z, ckp1)
        (*z, *x) = (nz, nx);
        lerp(&c.to_y, nx, nz) //                                  y.copy_(x).lerp_(z, 1-m)
    }
}
