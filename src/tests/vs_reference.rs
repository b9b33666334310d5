//! The kernels against the naive f64 references of [`super::reference`].
//!
//! Every step starts kernel and reference from the same values — the kernel's current parameters
//! and state, widened exactly to f64 — and compares the results within the running error bound of
//! [`super::tolerance`]: the error of one step, not an accumulated drift (which is a property of
//! the algorithm, the same for any implementation). Several consecutive steps run per case, so
//! the states compared include the kernel's own outputs, and the step counter advances (SGD's
//! first step, bias corrections).
//!
//! - f64 kernels: the bound is a few f64 ulps of the magnitudes involved. The references follow
//!   PyTorch's operation order, so SGD and Lion agree exactly; Adam multiplies `√v` by a rounded
//!   `1/√(1 − β₂ᵗ)` where PyTorch divides, and lands within about one ulp of the denominator.
//! - f32 kernels (f32 state, and f32 parameters with bf16 state), f16/bf16 parameters (f32
//!   state): the f32 bound plus one rounding to the storage type.

use super::reference::{
    adadelta_step, adagrad_step, adam_step, adamax_step, adamw_step, asgd_step, lion_step,
    nadam_step, radam_step, rmsprop_step, rprop_step, sgd_step, sparse_adam_step,
};
use super::strategies::{self, Case, Reachable, TestElement, Values, config};
use super::tolerance::{self, Bound, MARGIN, U64};
use crate::rules::{
    Adadelta, Adagrad, Adam, AdamW, Adamax, Asgd, AsgdScalars, Lion, NAdam, NAdamScalars, RAdam,
    RmsProp, Rprop, Sgd, SparseAdam,
};
use half::{bf16, f16};
use proptest::prelude::*;
use std::format;
use std::string::String;
use std::vec::Vec;

/// A rule with its reference loop and its error bound, on the crate's slot-major state layout.
trait Checked: Reachable {
    /// One reference step; `state` is `slots × n`, slot-major; `scalars` are the tensor's
    /// per-tensor scalars as the reference keeps them (NAdam: `mu_product`; ASGD: `eta`, `mu`).
    fn reference(
        &self,
        step: u64,
        p: &mut [f64],
        g: &[f64],
        state: &mut [f64],
        scalars: &mut [f64; 2],
    );
    /// The bound of one element with unit roundoff `u`; `s` is the element's state, by slot,
    /// `scalars` the per-tensor scalars before the step and `after` after it.
    #[allow(clippy::too_many_arguments)] // one element's full state, spelled out
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        scalars: [f64; 2],
        after: [f64; 2],
        u: f64,
    ) -> Bound;
    /// The per-tensor scalars a case starts from (a tensor restored after an arbitrary number of
    /// steps), for the reference and as the kernel's [`Rule::TensorState`].
    fn start(&self) -> ([f64; 2], Self::TensorState) {
        ([0.0; 2], Self::TensorState::default())
    }
}

impl Checked for Sgd {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        sgd_step(self, step, p, g, state);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::sgd(self, step, p, g, s[0], u)
    }
}

fn split3(state: &mut [f64], n: usize) -> (&mut [f64], &mut [f64], &mut [f64]) {
    let (m, rest) = state.split_at_mut(n);
    let (v, vmax) = rest.split_at_mut(n);
    (m, v, vmax)
}

impl Checked for Adam {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (m, v, vmax) = split3(state, p.len());
        adam_step(self, step, p, g, m, v, vmax);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::adam(self, step, p, g, s[0], s[1], s[2], u)
    }
}

impl Checked for AdamW {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (m, v, vmax) = split3(state, p.len());
        adamw_step(self, step, p, g, m, v, vmax);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::adam(&self.to_adam(), step, p, g, s[0], s[1], s[2], u)
    }
}

impl Checked for Lion {
    fn reference(&self, _step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        lion_step(self, p, g, state);
    }
    fn bound(
        &self,
        _step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::lion(self, p, g, s[0], u)
    }
}

/// RMSprop's slots: `square_avg`, then `momentum_buffer` if `momentum > 0`, then `grad_avg` if
/// centered. Returns (square_avg, momentum_buffer, grad_avg), the absent ones empty.
fn rmsprop_slots<'a>(
    h: &RmsProp,
    state: &'a mut [f64],
    n: usize,
) -> (&'a mut [f64], &'a mut [f64], &'a mut [f64]) {
    let (v, rest) = state.split_at_mut(n);
    let (b, ga) = rest.split_at_mut(if h.momentum > 0.0 { n } else { 0 });
    (v, b, ga)
}

impl Checked for RmsProp {
    fn reference(&self, _step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (v, b, ga) = rmsprop_slots(self, state, p.len());
        rmsprop_step(self, p, g, v, b, ga);
    }
    fn bound(
        &self,
        _step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        let (b, ga) = match (self.momentum > 0.0, self.centered) {
            (true, true) => (s[1], s[2]),
            (true, false) => (s[1], 0.0),
            (false, true) => (0.0, s[1]),
            (false, false) => (0.0, 0.0),
        };
        tolerance::rmsprop(self, p, g, s[0], b, ga, u)
    }
}

impl Checked for Adagrad {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        adagrad_step(self, step, p, g, state);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::adagrad(self, step, p, g, s[0], u)
    }
}

impl Checked for Adadelta {
    fn reference(&self, _step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (v, a) = state.split_at_mut(p.len());
        adadelta_step(self, p, g, v, a);
    }
    fn bound(
        &self,
        _step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::adadelta(self, p, g, s[0], s[1], u)
    }
}

impl Checked for Adamax {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (m, u) = state.split_at_mut(p.len());
        adamax_step(self, step, p, g, m, u);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::adamax(self, step, p, g, s[0], s[1], u)
    }
}

impl Checked for NAdam {
    fn reference(
        &self,
        step: u64,
        p: &mut [f64],
        g: &[f64],
        state: &mut [f64],
        scalars: &mut [f64; 2],
    ) {
        let (m, v) = state.split_at_mut(p.len());
        nadam_step(self, step, p, g, m, v, &mut scalars[0]);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        after: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::nadam(self, step, p, g, s[0], s[1], after[0], u)
    }
    /// A product of a few momentum factors (as after some steps), not 1.
    fn start(&self) -> ([f64; 2], NAdamScalars) {
        let mu_product = 0.5 * self.betas.0;
        ([mu_product, 0.0], NAdamScalars { mu_product })
    }
}

impl Checked for Asgd {
    fn reference(
        &self,
        step: u64,
        p: &mut [f64],
        g: &[f64],
        state: &mut [f64],
        scalars: &mut [f64; 2],
    ) {
        let [eta, mu] = scalars;
        asgd_step(self, step, p, g, state, eta, mu);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        before: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        let [eta, mu] = if step == 1 { [self.lr, 1.0] } else { before };
        tolerance::asgd(self, p, g, s[0], eta, mu, u)
    }
    /// `eta` and `mu` as after some steps (`mu ≠ 1`: the averaging branch from the start).
    fn start(&self) -> ([f64; 2], AsgdScalars) {
        let (eta, mu) = (0.5 * self.lr, 0.25);
        ([eta, mu], AsgdScalars { eta, mu })
    }
}

impl Checked for RAdam {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (m, v) = state.split_at_mut(p.len());
        radam_step(self, step, p, g, m, v);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::radam(self, step, p, g, s[0], s[1], u)
    }
}

impl Checked for Rprop {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (prev, step_size) = state.split_at_mut(p.len());
        rprop_step(self, step, p, g, prev, step_size);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::rprop(self, step, p, g, s[0], s[1], u)
    }
}

impl Checked for SparseAdam {
    fn reference(&self, step: u64, p: &mut [f64], g: &[f64], state: &mut [f64], _: &mut [f64; 2]) {
        let (m, v) = state.split_at_mut(p.len());
        sparse_adam_step(self, step, p, g, m, v);
    }
    fn bound(
        &self,
        step: u64,
        p: f64,
        g: f64,
        s: [f64; 3],
        _: [f64; 2],
        _: [f64; 2],
        u: f64,
    ) -> Bound {
        tolerance::sparse_adam(self, step, p, g, s[0], s[1], u)
    }
}

fn widen<T: TestElement>(xs: &[T]) -> Vec<f64> {
    xs.iter().map(|x| x.as_f64()).collect()
}

/// The largest `|kernel − reference| / allowed` seen (for the tightness report).
#[derive(Clone, Copy, Debug, Default)]
struct Worst {
    ratio: f64,
    err: f64,
}

impl Worst {
    fn see(&mut self, err: f64, allowed: f64) {
        let ratio = if allowed > 0.0 {
            err / allowed
        } else if err > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        if ratio > self.ratio {
            self.ratio = ratio;
        }
        if err > self.err {
            self.err = err;
        }
    }
}

/// `|kernel − reference| ≤ allowed`; or, where the allowed range reaches the storage type's
/// overflow threshold, ±∞ of the reference's sign. `Err` describes the mismatch.
fn compare(
    kernel: f64,
    reference: f64,
    allowed: f64,
    overflow: f64,
    worst: &mut Worst,
) -> Result<(), String> {
    let ok = if kernel.is_infinite() && reference.abs() + allowed >= overflow {
        kernel.signum() == reference.signum()
    } else if kernel.is_nan() || reference.is_nan() {
        kernel.is_nan() && reference.is_nan()
    } else {
        let err = (kernel - reference).abs();
        worst.see(err, allowed);
        err <= allowed
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "kernel {kernel:e}, reference {reference:e}, |difference| {:e} > allowed {allowed:e}",
            (kernel - reference).abs()
        ))
    }
}

/// Runs the case's updates through `Rule::step` (the SIMD path) and compares each step with the
/// reference started from the same values.
fn check<R, P, S>(case: &Case<R, P, S>, zero_state: bool) -> Result<Worst, TestCaseError>
where
    R: Checked,
    P: TestElement,
    S: TestElement<Compute = P::Compute>,
    P::Compute: TestElement,
{
    let u = <P::Compute as TestElement>::UNIT;
    let n = case.p.len();
    let slots = case.rule.slots();
    let mut p = case.p.clone();
    let mut state = case.state.clone();
    if zero_state {
        state.iter_mut().for_each(|x| *x = S::default());
    }
    strategies::make_reachable(&case.rule, &mut state, n);
    let mut worst = Worst::default();
    let (mut scalars, mut tensor_state) = case.rule.start();
    for (j, g) in case.grads.iter().enumerate() {
        let t = case.step_of(j);
        let (p0, g0, s0) = (widen(&p), widen(g), widen(&state));
        let (mut pr, mut sr) = (p0.clone(), s0.clone());
        let before = scalars;
        case.rule.reference(t, &mut pr, &g0, &mut sr, &mut scalars);

        let mut counter = t - 1;
        let sc = case.rule.begin_step(&mut Default::default());
        prop_assert!(
            case.rule
                .step_tensor_with(&sc, &mut counter, &mut tensor_state, &mut p, g, &mut state)
                .is_ok()
        );
        prop_assert_eq!(counter, t);

        for i in 0..n {
            let s: [f64; 3] = core::array::from_fn(|k| if k < slots { s0[k * n + i] } else { 0.0 });
            let b = case
                .rule
                .bound(t, p0[i], g0[i], s, before, scalars, u)
                .plus(case.rule.bound(t, p0[i], g0[i], s, before, scalars, U64));
            let tie = b.sign_arg_err > 0.0 && b.sign_arg.abs() <= b.sign_arg_err;
            let sign_flip = if tie { 2.0 * case.rule.lr() } else { 0.0 };
            let allowed = MARGIN * (b.p + sign_flip) + tolerance::store(pr[i], P::UNIT, P::TINY, u);
            let context = |what: &str, why: String| {
                TestCaseError::fail(format!(
                    "{what}, step {t}, element {i} of {n}: {why}\n  inputs: p {:e}, g {:e}, \
                     state {s:?}\n  {:?}",
                    p0[i], g0[i], case.rule
                ))
            };
            compare(p[i].as_f64(), pr[i], allowed, P::OVERFLOW, &mut worst)
                .map_err(|why| context("param", why))?;
            for k in 0..slots {
                let r = sr[k * n + i];
                let allowed = MARGIN * b.state[k] + tolerance::store(r, S::UNIT, S::TINY, u);
                let got = state[k * n + i].as_f64();
                compare(got, r, allowed, S::OVERFLOW, &mut worst)
                    .map_err(|why| context(&format!("state slot {k}"), why))?;
            }
        }
    }
    Ok(worst)
}

macro_rules! vs_reference {
    ($($name:ident: $rule:expr, $p:ty, $s:ty;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(
                    case in strategies::case::<_, $p, $s>(
                        $rule, 3, Values::Moderate, Values::Moderate,
                    ),
                    zero_state in any::<bool>(),
                ) {
                    check(&case, zero_state)?;
                }
            )*
        }
    };
}

vs_reference! {
    sgd_f64_matches_reference: strategies::sgd(), f64, f64;
    sgd_f32_matches_reference: strategies::sgd(), f32, f32;
    sgd_f32_bf16_state_matches_reference: strategies::sgd(), f32, bf16;
    sgd_f16_matches_reference: strategies::sgd(), f16, f32;
    sgd_bf16_matches_reference: strategies::sgd(), bf16, f32;
    adam_f64_matches_reference: strategies::adam(false), f64, f64;
    adam_f32_matches_reference: strategies::adam(false), f32, f32;
    adam_f32_bf16_state_matches_reference: strategies::adam(false), f32, bf16;
    adam_f16_matches_reference: strategies::adam(false), f16, f32;
    adam_bf16_matches_reference: strategies::adam(false), bf16, f32;
    adamw_f64_matches_reference: strategies::adamw(false), f64, f64;
    adamw_f32_matches_reference: strategies::adamw(false), f32, f32;
    adamw_f16_matches_reference: strategies::adamw(false), f16, f32;
    lion_f64_matches_reference: strategies::lion(), f64, f64;
    lion_f32_matches_reference: strategies::lion(), f32, f32;
    lion_f32_bf16_state_matches_reference: strategies::lion(), f32, bf16;
    lion_bf16_matches_reference: strategies::lion(), bf16, f32;
    rmsprop_f64_matches_reference: strategies::rmsprop(false), f64, f64;
    rmsprop_f32_matches_reference: strategies::rmsprop(false), f32, f32;
    rmsprop_f32_bf16_state_matches_reference: strategies::rmsprop(false), f32, bf16;
    rmsprop_f16_matches_reference: strategies::rmsprop(false), f16, f32;
    rmsprop_bf16_matches_reference: strategies::rmsprop(false), bf16, f32;
    adagrad_f64_matches_reference: strategies::adagrad(), f64, f64;
    adagrad_f32_matches_reference: strategies::adagrad(), f32, f32;
    adagrad_f32_bf16_state_matches_reference: strategies::adagrad(), f32, bf16;
    adagrad_f16_matches_reference: strategies::adagrad(), f16, f32;
    adagrad_bf16_matches_reference: strategies::adagrad(), bf16, f32;
    adadelta_f64_matches_reference: strategies::adadelta(), f64, f64;
    adadelta_f32_matches_reference: strategies::adadelta(), f32, f32;
    adadelta_f32_bf16_state_matches_reference: strategies::adadelta(), f32, bf16;
    adadelta_f16_matches_reference: strategies::adadelta(), f16, f32;
    adadelta_bf16_matches_reference: strategies::adadelta(), bf16, f32;
    adamax_f64_matches_reference: strategies::adamax(false), f64, f64;
    adamax_f32_matches_reference: strategies::adamax(false), f32, f32;
    adamax_f32_bf16_state_matches_reference: strategies::adamax(false), f32, bf16;
    adamax_f16_matches_reference: strategies::adamax(false), f16, f32;
    adamax_bf16_matches_reference: strategies::adamax(false), bf16, f32;
    radam_f64_matches_reference: strategies::radam(false), f64, f64;
    radam_f32_matches_reference: strategies::radam(false), f32, f32;
    radam_f32_bf16_state_matches_reference: strategies::radam(false), f32, bf16;
    radam_bf16_matches_reference: strategies::radam(false), bf16, f32;
    nadam_f64_matches_reference: strategies::nadam(false), f64, f64;
    nadam_f32_matches_reference: strategies::nadam(false), f32, f32;
    nadam_f32_bf16_state_matches_reference: strategies::nadam(false), f32, bf16;
    nadam_f16_matches_reference: strategies::nadam(false), f16, f32;
    asgd_f64_matches_reference: strategies::asgd(), f64, f64;
    asgd_f32_matches_reference: strategies::asgd(), f32, f32;
    asgd_f32_bf16_state_matches_reference: strategies::asgd(), f32, bf16;
    asgd_bf16_matches_reference: strategies::asgd(), bf16, f32;
    rprop_f64_matches_reference: strategies::rprop(), f64, f64;
    rprop_f32_matches_reference: strategies::rprop(), f32, f32;
    rprop_f32_bf16_state_matches_reference: strategies::rprop(), f32, bf16;
    rprop_f16_matches_reference: strategies::rprop(), f16, f32;
    sparse_adam_f64_matches_reference: strategies::sparse_adam(), f64, f64;
    sparse_adam_f32_matches_reference: strategies::sparse_adam(), f32, f32;
    sparse_adam_f32_bf16_state_matches_reference: strategies::sparse_adam(), f32, bf16;
    sparse_adam_bf16_matches_reference: strategies::sparse_adam(), bf16, f32;
}

/// How close the errors come to the bounds: the largest `|kernel − reference| / allowed` over
/// 512 random cases per configuration (`REPORT_CASES` to change). A ratio far below 1 everywhere would mean a loose bound;
/// the f64 kernels typically show 0 (exact agreement) or a few ulps.
#[test]
#[ignore = "a report, not a check: cargo test --lib report_error_to_bound_ratios -- --ignored --nocapture"]
fn report_error_to_bound_ratios() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::println;

    fn report<R, P, S>(name: &str, rule: impl Strategy<Value = R>)
    where
        R: Checked,
        P: TestElement,
        S: TestElement<Compute = P::Compute>,
        P::Compute: TestElement,
    {
        let cases = strategies::case::<R, P, S>(rule, 3, Values::Moderate, Values::Moderate);
        let mut runner = TestRunner::deterministic();
        let (mut ratio, mut err) = (0.0f64, 0.0f64);
        let n: usize = std::env::var("REPORT_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(512);
        for k in 0..n {
            let case = cases.new_tree(&mut runner).unwrap().current();
            let worst = check(&case, k % 2 == 0).unwrap();
            ratio = ratio.max(worst.ratio);
            err = err.max(worst.err);
        }
        println!("{name:32} worst |error|/allowed {ratio:.3e}   worst |error| {err:.3e}");
    }
    report::<Sgd, f64, f64>("SGD f64", strategies::sgd());
    report::<Sgd, f32, f32>("SGD f32", strategies::sgd());
    report::<Sgd, f32, bf16>("SGD f32, bf16 state", strategies::sgd());
    report::<Sgd, bf16, f32>("SGD bf16", strategies::sgd());
    report::<Adam, f64, f64>("Adam f64", strategies::adam(false));
    report::<Adam, f32, f32>("Adam f32", strategies::adam(false));
    report::<Adam, f16, f32>("Adam f16", strategies::adam(false));
    report::<AdamW, f64, f64>("AdamW f64", strategies::adamw(false));
    report::<AdamW, f32, f32>("AdamW f32", strategies::adamw(false));
    report::<Lion, f64, f64>("Lion f64", strategies::lion());
    report::<Lion, f32, f32>("Lion f32", strategies::lion());
    report::<RmsProp, f64, f64>("RMSprop f64", strategies::rmsprop(false));
    report::<RmsProp, f32, f32>("RMSprop f32", strategies::rmsprop(false));
    report::<RmsProp, bf16, f32>("RMSprop bf16", strategies::rmsprop(false));
    report::<Adagrad, f64, f64>("Adagrad f64", strategies::adagrad());
    report::<Adagrad, f32, f32>("Adagrad f32", strategies::adagrad());
    report::<Adagrad, bf16, f32>("Adagrad bf16", strategies::adagrad());
    report::<Adadelta, f64, f64>("Adadelta f64", strategies::adadelta());
    report::<Adadelta, f32, f32>("Adadelta f32", strategies::adadelta());
    report::<Adadelta, bf16, f32>("Adadelta bf16", strategies::adadelta());
    report::<Adamax, f64, f64>("Adamax f64", strategies::adamax(false));
    report::<Adamax, f32, f32>("Adamax f32", strategies::adamax(false));
    report::<Adamax, bf16, f32>("Adamax bf16", strategies::adamax(false));
    report::<RAdam, f64, f64>("RAdam f64", strategies::radam(false));
    report::<RAdam, f32, f32>("RAdam f32", strategies::radam(false));
    report::<NAdam, f64, f64>("NAdam f64", strategies::nadam(false));
    report::<NAdam, f32, f32>("NAdam f32", strategies::nadam(false));
    report::<Asgd, f64, f64>("ASGD f64", strategies::asgd());
    report::<Asgd, f32, f32>("ASGD f32", strategies::asgd());
    report::<Rprop, f64, f64>("Rprop f64", strategies::rprop());
    report::<Rprop, f32, f32>("Rprop f32", strategies::rprop());
    report::<SparseAdam, f64, f64>("SparseAdam f64", strategies::sparse_adam());
    report::<SparseAdam, f32, f32>("SparseAdam f32", strategies::sparse_adam());
}
