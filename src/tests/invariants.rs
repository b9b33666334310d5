//! Properties that need no reference implementation.

use super::strategies::{self, Case, Reachable, TestElement, Values, config};
use crate::element::Element;
use crate::error::Error;
use crate::lanes::Real;
use crate::rules::{
    Adadelta, Adagrad, Adam, AdamW, Adamax, Asgd, Lion, NAdam, RAdam, RmsProp, Rprop, Rule, Sgd,
    SparseAdam,
};
use half::{bf16, f16};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

/// Makes Adam's second-moment slots (1 and 2) non-negative, as any reachable state is.
fn second_moments_nonnegative<S: TestElement>(state: &mut [S], n: usize) {
    for x in state.iter_mut().skip(n) {
        *x = S::of_f64(x.as_f64().abs());
    }
}

/// Runs all updates of `case` through `Rule::step` from `state`, calling `after` with the
/// parameters before and after each update and the state after it.
fn run<R: Rule, P: Element, S: Element<Compute = P::Compute>>(
    case: &Case<R, P, S>,
    mut state: Vec<S>,
    mut after: impl FnMut(&[P], &[P], &[S]) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut p = case.p.clone();
    let mut counter = case.step - 1;
    let mut ts = R::TensorState::default();
    let mut schedule = R::Schedule::default();
    for g in &case.grads {
        let before = p.clone();
        let sc = case.rule.begin_step(&mut schedule);
        prop_assert!(
            case.rule
                .step_tensor_with(&sc, &mut counter, &mut ts, &mut p, g, &mut state)
                .is_ok()
        );
        after(&before, &p, &state)?;
    }
    Ok(())
}

/// `a == b` as numbers (so `-0 == +0`: `θ + (−0)·d` may turn −0 into +0), NaN equal to NaN.
fn same_number<P: TestElement>(a: &[P], b: &[P]) -> Result<(), TestCaseError> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (x.as_f64(), y.as_f64());
        prop_assert!(
            x == y || (x.is_nan() && y.is_nan()),
            "element {i}: {x:e} became {y:e}"
        );
    }
    Ok(())
}

fn same_bits<T: TestElement>(what: &str, a: &[T], b: &[T]) -> Result<(), TestCaseError> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        prop_assert!(
            strategies::same_bits(*x, *y),
            "{} element {}: {:?} ({:#x}) != {:?} ({:#x})",
            what,
            i,
            x,
            x.bits(),
            y,
            y.bits()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// lr = 0 ⇒ θ unchanged. Any weight decay: the decoupled factor is 1 − 0·λ = 1 exactly and the L2
// term only enters the update, which is multiplied by −0.

fn lr_zero_case<R: Rule, P: TestElement>(
    rule: impl Strategy<Value = R>,
) -> impl Strategy<Value = Case<R, P, P::DefaultState>>
where
    P::DefaultState: TestElement,
{
    strategies::case(rule, 3, Values::Finite, Values::Finite)
}

fn lr_zero<R: Reachable, P: TestElement>(
    mut case: Case<R, P, P::DefaultState>,
) -> Result<(), TestCaseError>
where
    P::DefaultState: TestElement,
{
    case.rule.set_lr(0.0);
    prop_assert_eq!(case.rule.validate(), Ok(()));
    let mut state = case.state.clone();
    strategies::make_reachable(&case.rule, &mut state, case.p.len()); // e.g. a NaN-free √v
    run(&case, state, |before, after, _| same_number(before, after))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lr_zero_leaves_params_unchanged_sgd(c in lr_zero_case::<_, f32>(strategies::sgd())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_sgd_f16(c in lr_zero_case::<_, f16>(strategies::sgd())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adam(c in lr_zero_case::<_, f32>(strategies::adam(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adam_f64(c in lr_zero_case::<_, f64>(strategies::adam(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adamw(c in lr_zero_case::<_, bf16>(strategies::adamw(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_lion(c in lr_zero_case::<_, f32>(strategies::lion())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_lion_f64(c in lr_zero_case::<_, f64>(strategies::lion())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adagrad(c in lr_zero_case::<_, f32>(strategies::adagrad())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adagrad_f16(c in lr_zero_case::<_, f16>(strategies::adagrad())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adadelta(c in lr_zero_case::<_, f32>(strategies::adadelta())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adadelta_f64(c in lr_zero_case::<_, f64>(strategies::adadelta())) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adamax(c in lr_zero_case::<_, f32>(strategies::adamax(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_adamax_bf16(c in lr_zero_case::<_, bf16>(strategies::adamax(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_rmsprop(c in lr_zero_case::<_, f32>(strategies::rmsprop(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_rmsprop_f64(c in lr_zero_case::<_, f64>(strategies::rmsprop(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_nadam_f64(c in lr_zero_case::<_, f64>(strategies::nadam(false))) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_nadam_bf16(c in lr_zero_case::<_, bf16>(strategies::nadam(false))) {
        lr_zero(c)?;
    }
    // ASGD: η = lr / (…)^α = 0 from the first step on (a tensor restored at a later step keeps
    // the η it was saved with, so the cases start at step 1 here).
    #[test]
    fn lr_zero_leaves_params_unchanged_asgd(
        c in lr_zero_case::<_, f32>(strategies::asgd()).prop_map(|mut c| { c.step = 1; c })
    ) {
        lr_zero(c)?;
    }
    #[test]
    fn lr_zero_leaves_params_unchanged_radam(c in lr_zero_case::<_, f32>(strategies::radam(false))) {
        lr_zero(c)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Zero gradient, zero state, no weight decay ⇒ θ unchanged (m = 0, so the update is ±0/(0 + ε)).
// Any θ, including ±∞ and NaN (which stays NaN).

fn zero_grad<R: Rule, P: TestElement>(
    case: Case<R, P, P::DefaultState>,
) -> Result<(), TestCaseError>
where
    P::DefaultState: TestElement,
{
    zero_grad_keeps(case, |_| true)
}

/// As [`zero_grad`]; the state slots `stays_zero(k)` must stay zero (Adamax's `exp_inf` becomes ε).
fn zero_grad_keeps<R: Rule, P: TestElement>(
    mut case: Case<R, P, P::DefaultState>,
    stays_zero: impl Fn(usize) -> bool,
) -> Result<(), TestCaseError>
where
    P::DefaultState: TestElement,
{
    for g in &mut case.grads {
        for (i, x) in g.iter_mut().enumerate() {
            *x = P::of_f64(if i % 2 == 0 { 0.0 } else { -0.0 });
        }
    }
    let n = case.p.len();
    let state = vec![P::DefaultState::default(); case.state.len()];
    run(&case, state, |before, after, state| {
        same_number(before, after)?;
        prop_assert!(
            state
                .iter()
                .enumerate()
                .all(|(j, x)| !stays_zero(j / n) || x.as_f64() == 0.0),
            "state left zero"
        );
        Ok(())
    })
}

fn no_decay<R: Rule>(mut r: R, set: impl Fn(&mut R)) -> R {
    set(&mut r);
    r
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_adam(
        c in strategies::case::<_, f32, f32>(
            strategies::adam(false).prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_adamw(
        c in strategies::case::<_, f16, f32>(
            strategies::adamw(false).prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_lion(
        c in strategies::case::<_, f64, f64>(
            strategies::lion().prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_rmsprop(
        c in strategies::case::<_, bf16, f32>(
            strategies::rmsprop(true).prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_adagrad(
        c in strategies::case::<_, f64, f64>(
            strategies::adagrad().prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_adadelta(
        c in strategies::case::<_, f32, f32>(
            strategies::adadelta().prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_adamax(
        c in strategies::case::<_, f32, f32>(
            strategies::adamax(false).prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad_keeps(c, |k| k == 0)?; // exp_inf becomes ε
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_sgd(
        c in strategies::case::<_, f32, f32>(
            strategies::sgd().prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_nadam(
        c in strategies::case::<_, bf16, f32>(
            strategies::nadam(false).prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
    #[test]
    fn zero_grad_zero_state_leaves_params_unchanged_radam(
        c in strategies::case::<_, f32, f32>(
            strategies::radam(false).prop_map(|r| no_decay(r, |r| r.weight_decay = 0.0)),
            3, Values::Any, Values::Any,
        )
    ) {
        zero_grad(c)?;
    }
}

// ---------------------------------------------------------------------------------------------
// v ≥ 0 (and v̂ ≥ 0): after a step whose inputs (θ, g, m, v, v̂) are finite, with v, v̂ ≥ 0,
// v and v̂ have a clear sign bit and are not NaN (+∞ by overflow is allowed). Runs until an input
// is no longer finite: after an overflow NaN is IEEE's answer (β₂·∞ with β₂ = 0, ∞/∞ in the
// update), and PyTorch's.

fn v_nonnegative<R: Rule, P: TestElement, S: TestElement<Compute = P::Compute>>(
    case: Case<R, P, S>,
    zero_state: bool,
) -> Result<(), TestCaseError> {
    let n = case.p.len();
    let mut state = case.state.clone();
    if zero_state {
        state.iter_mut().for_each(|x| *x = S::default());
    }
    second_moments_nonnegative(&mut state, n);
    let mut p = case.p.clone();
    let mut counter = case.step - 1;
    let mut ts = R::TensorState::default();
    for g in &case.grads {
        let finite = |xs: &[f64]| xs.iter().all(|x| x.is_finite());
        let all: Vec<f64> = p.iter().chain(g).map(|x| x.as_f64()).collect();
        let st: Vec<f64> = state.iter().map(|x| x.as_f64()).collect();
        if !(finite(&all) && finite(&st)) {
            break;
        }
        let sc = case.rule.begin_step(&mut R::Schedule::default());
        prop_assert!(
            case.rule
                .step_tensor_with(&sc, &mut counter, &mut ts, &mut p, g, &mut state)
                .is_ok()
        );
        for (j, x) in state.iter().enumerate().skip(n) {
            let x = x.as_f64();
            prop_assert!(
                !x.is_nan() && x.is_sign_positive(),
                "step {counter}: slot {} element {}: {:e}",
                j / n,
                j % n,
                x
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn second_moment_stays_nonnegative_adam_f32(
        c in strategies::case::<_, f32, f32>(strategies::adam(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_adam_f64(
        c in strategies::case::<_, f64, f64>(strategies::adam(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_adamw_bf16(
        c in strategies::case::<_, bf16, f32>(strategies::adamw(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_adam_f32_bf16_state(
        c in strategies::case::<_, f32, bf16>(strategies::adam(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_nadam_f64(
        c in strategies::case::<_, f64, f64>(strategies::nadam(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_nadam_f32_bf16_state(
        c in strategies::case::<_, f32, bf16>(strategies::nadam(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_radam_f32(
        c in strategies::case::<_, f32, f32>(strategies::radam(false), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Lion moves each element by at most lr from its decayed value, whatever the gradient and the
// momentum (±∞ and NaN included: sign(NaN) = 0):
//   θ' = fl(θ·d − lr·s), s ∈ {−1, 0, 1}, d = 1 − lr·λ'  ⇒  |θ' − θ·d| ≤ lr + u·|θ'| (+ one more
//   rounding to the parameter type for f16/bf16).

fn lion_step_bounded<P: TestElement>(
    case: Case<Lion, P, P::DefaultState>,
) -> Result<(), TestCaseError>
where
    P::DefaultState: TestElement,
    P::Compute: TestElement,
{
    let h = &case.rule;
    let wd = if h.decoupled_weight_decay {
        h.weight_decay / h.init_lr
    } else {
        h.weight_decay
    };
    let d = <P::Compute as TestElement>::of_f64(1.0 - h.lr * wd);
    let lr = <P::Compute as TestElement>::of_f64(h.lr).as_f64();
    let u = <P::Compute as TestElement>::UNIT;
    let (unit, tiny) = (
        P::UNIT.max(u),
        P::TINY.max(<P::Compute as TestElement>::TINY),
    );
    run(&case, case.state.clone(), |before, after, _| {
        for (i, (x, y)) in before.iter().zip(after).enumerate() {
            let decayed = (x.to_compute() * d).as_f64();
            let y = y.as_f64();
            let moved = (y - decayed).abs();
            let allowed = lr + (u + unit) * y.abs() + tiny + super::tolerance::U64 * decayed.abs();
            prop_assert!(
                moved <= allowed,
                "element {i}: {:e} -> {y:e}, decayed {decayed:e}, moved {moved:e} > {allowed:e}",
                x.as_f64()
            );
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lion_moves_each_element_by_at_most_lr_f32(
        c in strategies::case::<_, f32, f32>(strategies::lion(), 3, Values::Finite, Values::Any)
            .prop_map(|mut c| { poison_grads(&mut c); c })
    ) {
        lion_step_bounded(c)?;
    }
    #[test]
    fn lion_moves_each_element_by_at_most_lr_f64(
        c in strategies::case::<_, f64, f64>(strategies::lion(), 3, Values::Finite, Values::Any)
    ) {
        lion_step_bounded(c)?;
    }
    #[test]
    fn lion_moves_each_element_by_at_most_lr_bf16(
        c in strategies::case::<_, bf16, f32>(strategies::lion(), 3, Values::Finite, Values::Any)
            .prop_map(|mut c| { poison_grads(&mut c); c })
    ) {
        lion_step_bounded(c)?;
    }
}

/// Puts ±∞ and NaN into some gradients (the parameters stay finite).
fn poison_grads<R, P: TestElement, S>(case: &mut Case<R, P, S>) {
    for (k, g) in case.grads.iter_mut().enumerate() {
        for (i, x) in g.iter_mut().enumerate() {
            match (i + k) % 11 {
                3 => *x = P::of_f64(f64::NAN),
                5 => *x = P::of_f64(f64::INFINITY),
                7 => *x = P::of_f64(f64::NEG_INFINITY),
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fused == composed, bitwise: AdamW's step is `θ ← θ·fl(1 − lr·λ)` in the compute type followed
// by Adam's step without decay; and `AdamW` is `Adam { decoupled_weight_decay: true }`.
// (Composition is not bitwise for f16/bf16 parameters: storing the decayed θ would round it.)

fn without_decay(h: &AdamW) -> Adam {
    Adam {
        lr: h.lr,
        betas: h.betas,
        eps: h.eps,
        weight_decay: 0.0,
        amsgrad: h.amsgrad,
        maximize: h.maximize,
        decoupled_weight_decay: false,
        ..Adam::ADAM
    }
}

fn as_decoupled_adam(h: &AdamW) -> Adam {
    Adam {
        weight_decay: h.weight_decay,
        decoupled_weight_decay: true,
        ..without_decay(h)
    }
}

fn fused_composed<P>(case: Case<AdamW, P, P>) -> Result<(), TestCaseError>
where
    P: TestElement<Compute = P> + Real,
{
    let h = &case.rule;
    let factor = P::of_f64(1.0 - h.lr * h.weight_decay);
    let adam = without_decay(h);
    let (mut p_fused, mut s_fused) = (case.p.clone(), case.state.clone());
    let (mut p_comp, mut s_comp) = (case.p.clone(), case.state.clone());
    let (mut t_fused, mut t_comp) = (case.step - 1, case.step - 1);
    for g in &case.grads {
        prop_assert!(h.step(&mut t_fused, &mut p_fused, g, &mut s_fused).is_ok());
        for x in &mut p_comp {
            *x = *x * factor; // param.mul_(1 - lr * weight_decay)
        }
        prop_assert!(adam.step(&mut t_comp, &mut p_comp, g, &mut s_comp).is_ok());
        same_bits("param", &p_fused, &p_comp)?;
        same_bits("state", &s_fused, &s_comp)?;
    }
    Ok(())
}

fn adamw_is_adam_decoupled<P: TestElement, S: TestElement<Compute = P::Compute>>(
    case: Case<AdamW, P, S>,
) -> Result<(), TestCaseError> {
    let adam = as_decoupled_adam(&case.rule);
    prop_assert_eq!(case.rule.slots(), adam.slots());
    let (mut p_w, mut s_w) = (case.p.clone(), case.state.clone());
    let (mut p_a, mut s_a) = (case.p.clone(), case.state.clone());
    let (mut t_w, mut t_a) = (case.step - 1, case.step - 1);
    for g in &case.grads {
        prop_assert!(case.rule.step(&mut t_w, &mut p_w, g, &mut s_w).is_ok());
        prop_assert!(adam.step(&mut t_a, &mut p_a, g, &mut s_a).is_ok());
        same_bits("param", &p_w, &p_a)?;
        same_bits("state", &s_w, &s_a)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn adamw_fused_equals_decay_then_adam_f32(
        c in strategies::case::<_, f32, f32>(strategies::adamw(true), 3, Values::Any, Values::Any)
    ) {
        fused_composed(c)?;
    }
    #[test]
    fn adamw_fused_equals_decay_then_adam_f64(
        c in strategies::case::<_, f64, f64>(strategies::adamw(true), 3, Values::Any, Values::Any)
    ) {
        fused_composed(c)?;
    }
    #[test]
    fn adamw_equals_adam_decoupled_f32(
        c in strategies::case::<_, f32, f32>(strategies::adamw(true), 3, Values::Any, Values::Any)
    ) {
        adamw_is_adam_decoupled(c)?;
    }
    #[test]
    fn adamw_equals_adam_decoupled_f16(
        c in strategies::case::<_, f16, f32>(strategies::adamw(true), 3, Values::Any, Values::Any)
    ) {
        adamw_is_adam_decoupled(c)?;
    }
    #[test]
    fn adamw_equals_adam_decoupled_f32_bf16_state(
        c in strategies::case::<_, f32, bf16>(strategies::adamw(true), 3, Values::Any, Values::Any)
    ) {
        adamw_is_adam_decoupled(c)?;
    }
}

#[test]
fn adamw_defaults_are_adam_adamw_defaults() {
    assert_eq!(as_decoupled_adam(&AdamW::DEFAULT), Adam::ADAMW);
    assert_eq!(AdamW::DEFAULT.slots(), Adam::ADAMW.slots());
}

// ---------------------------------------------------------------------------------------------
// State a configuration must not read: SGD's momentum buffer on the first step is written from
// the gradient (PyTorch creates it then). Filled with NaN, the results are finite and equal,
// bitwise, to those from a zeroed buffer — on that step and after.

fn momentum_buffer_not_read<P: TestElement>(
    case: Case<Sgd, P, P::DefaultState>,
) -> Result<(), TestCaseError>
where
    P::DefaultState: TestElement,
{
    let mut case = case;
    if case.rule.momentum == 0.0 {
        case.rule.momentum = 0.9; // dampening is anything, nesterov is off
        case.state = vec![P::DefaultState::default(); case.p.len()];
    }
    case.step = 1;
    let poisoned = vec![P::DefaultState::of_f64(f64::NAN); case.state.len()];
    let zeroed = vec![P::DefaultState::default(); case.state.len()];
    let (mut p_nan, mut s_nan) = (case.p.clone(), poisoned);
    let (mut p_zero, mut s_zero) = (case.p.clone(), zeroed);
    let (mut t_nan, mut t_zero) = (0u64, 0u64);
    for g in &case.grads {
        prop_assert!(
            case.rule
                .step(&mut t_nan, &mut p_nan, g, &mut s_nan)
                .is_ok()
        );
        prop_assert!(
            case.rule
                .step(&mut t_zero, &mut p_zero, g, &mut s_zero)
                .is_ok()
        );
        prop_assert!(
            p_nan.iter().all(|x| x.as_f64().is_finite()),
            "params finite"
        );
        prop_assert!(
            s_nan.iter().all(|x| x.as_f64().is_finite()),
            "buffer finite"
        );
        same_bits("param", &p_nan, &p_zero)?;
        same_bits("momentum_buffer", &s_nan, &s_zero)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sgd_momentum_buffer_is_not_read_on_first_step_f32(
        c in strategies::case::<_, f32, f32>(strategies::sgd(), 3, Values::Finite, Values::Any)
    ) {
        momentum_buffer_not_read(c)?;
    }
    #[test]
    fn sgd_momentum_buffer_is_not_read_on_first_step_f64(
        c in strategies::case::<_, f64, f64>(strategies::sgd(), 3, Values::Finite, Values::Any)
    ) {
        momentum_buffer_not_read(c)?;
    }
    #[test]
    fn sgd_momentum_buffer_is_not_read_on_first_step_f16(
        c in strategies::case::<_, f16, f32>(strategies::sgd(), 3, Values::Moderate, Values::Any)
    ) {
        momentum_buffer_not_read(c)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Elementwise: an element's result does not depend on where the slice is cut (block and lane
// boundaries, tails): the whole slice equals its two halves stepped separately, bitwise.

fn split_state<S: Copy>(state: &[S], n: usize, at: usize) -> (Vec<S>, Vec<S>) {
    let slots = state.len().checked_div(n).unwrap_or(0);
    let mut left = Vec::with_capacity(slots * at);
    let mut right = Vec::with_capacity(slots * (n - at));
    for k in 0..slots {
        left.extend_from_slice(&state[k * n..k * n + at]);
        right.extend_from_slice(&state[k * n + at..(k + 1) * n]);
    }
    (left, right)
}

fn independent_of_slicing<R: Rule, P: TestElement, S: TestElement<Compute = P::Compute>>(
    case: Case<R, P, S>,
    cut: prop::sample::Index,
) -> Result<(), TestCaseError> {
    let n = case.p.len();
    let at = cut.index(n + 1);
    let (mut p, mut s) = (case.p.clone(), case.state.clone());
    let (mut pl, mut pr) = (case.p[..at].to_vec(), case.p[at..].to_vec());
    let (mut sl, mut sr) = split_state(&case.state, n, at);
    let (mut t, mut tl, mut tr) = (case.step - 1, case.step - 1, case.step - 1);
    let (mut ts, mut tsl, mut tsr) = <[R::TensorState; 3]>::default().into();
    let mut schedule = R::Schedule::default();
    for g in &case.grads {
        let sc = case.rule.begin_step(&mut schedule);
        prop_assert!(
            case.rule
                .step_tensor_with(&sc, &mut t, &mut ts, &mut p, g, &mut s)
                .is_ok()
        );
        prop_assert!(
            case.rule
                .step_tensor_with(&sc, &mut tl, &mut tsl, &mut pl, &g[..at], &mut sl)
                .is_ok()
        );
        prop_assert!(
            case.rule
                .step_tensor_with(&sc, &mut tr, &mut tsr, &mut pr, &g[at..], &mut sr)
                .is_ok()
        );
        let joined: Vec<P> = pl.iter().chain(&pr).copied().collect();
        same_bits("param", &p, &joined)?;
        let (el, er) = split_state(&s, n, at);
        same_bits("state (left)", &el, &sl)?;
        same_bits("state (right)", &er, &sr)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn elementwise_independent_of_slicing_adam_f32(
        c in strategies::case::<_, f32, f32>(strategies::adam(true), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_sgd_f16(
        c in strategies::case::<_, f16, f32>(strategies::sgd(), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_adagrad_bf16(
        c in strategies::case::<_, bf16, f32>(strategies::adagrad(), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_adadelta_f16(
        c in strategies::case::<_, f16, f32>(strategies::adadelta(), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_adamax_f64(
        c in strategies::case::<_, f64, f64>(strategies::adamax(true), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_rmsprop_f32(
        c in strategies::case::<_, f32, f32>(strategies::rmsprop(true), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_lion_f64(
        c in strategies::case::<_, f64, f64>(strategies::lion(), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_nadam_f32(
        c in strategies::case::<_, f32, f32>(strategies::nadam(true), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_asgd_bf16(
        c in strategies::case::<_, bf16, f32>(strategies::asgd(), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
    #[test]
    fn elementwise_independent_of_slicing_rprop_f64(
        c in strategies::case::<_, f64, f64>(strategies::rprop(), 2, Values::Any, Values::Any),
        cut in any::<prop::sample::Index>(),
    ) {
        independent_of_slicing(c, cut)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Fused == composed for RAdam and NAdam, bitwise: decoupled decay is `θ ← θ·fl(1 − lr·λ)` in the
// compute type followed by the rule's step without decay (f32 and f64 parameters, where storing
// the decayed θ rounds nothing).

fn decoupled_is_decay_then_step<R, P>(
    case: Case<R, P, P>,
    without_decay: R,
    factor: f64,
) -> Result<(), TestCaseError>
where
    R: Rule<Schedule = ()>,
    P: TestElement<Compute = P> + Real,
{
    let factor = P::of_f64(factor);
    let (mut p_fused, mut s_fused) = (case.p.clone(), case.state.clone());
    let (mut p_comp, mut s_comp) = (case.p.clone(), case.state.clone());
    let (mut t_fused, mut t_comp) = (case.step - 1, case.step - 1);
    let (mut ts_fused, mut ts_comp) = (R::TensorState::default(), R::TensorState::default());
    for g in &case.grads {
        let sc = case.rule.begin_step(&mut ());
        prop_assert!(
            case.rule
                .step_tensor_with(
                    &sc,
                    &mut t_fused,
                    &mut ts_fused,
                    &mut p_fused,
                    g,
                    &mut s_fused
                )
                .is_ok()
        );
        for x in &mut p_comp {
            *x = *x * factor; // param.mul_(1 - lr * weight_decay)
        }
        let sc = without_decay.begin_step(&mut ());
        prop_assert!(
            without_decay
                .step_tensor_with(&sc, &mut t_comp, &mut ts_comp, &mut p_comp, g, &mut s_comp)
                .is_ok()
        );
        same_bits("param", &p_fused, &p_comp)?;
        same_bits("state", &s_fused, &s_comp)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nadam_decoupled_equals_decay_then_nadam_f64(
        c in strategies::case::<_, f64, f64>(
            strategies::nadam(true).prop_map(|r| NAdam { decoupled_weight_decay: true, ..r }),
            3, Values::Any, Values::Any,
        )
    ) {
        let plain = NAdam { weight_decay: 0.0, ..c.rule.clone() };
        let factor = 1.0 - c.rule.lr * c.rule.weight_decay;
        decoupled_is_decay_then_step(c, plain, factor)?;
    }
    #[test]
    fn radam_decoupled_equals_decay_then_radam_f32(
        c in strategies::case::<_, f32, f32>(
            strategies::radam(true).prop_map(|r| RAdam { decoupled_weight_decay: true, ..r }),
            3, Values::Any, Values::Any,
        )
    ) {
        let plain = RAdam { weight_decay: 0.0, ..c.rule.clone() };
        let factor = 1.0 - c.rule.lr * c.rule.weight_decay;
        decoupled_is_decay_then_step(c, plain, factor)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Per-tensor scalars: NAdam's mu_product is the product of the momentum schedule over the
// tensor's own updates; ASGD's eta and mu follow torch's schedule with a one-update lag. Checked
// through the optimizer layer, where tensors get gradients at different steps.

#[test]
fn nadam_mu_product_is_the_product_over_the_tensors_own_updates() {
    use crate::optim::Optimizer;
    use crate::{Config, ParamGroup};
    let h = NAdam {
        lr: 0.01,
        momentum_decay: 0.1,
        ..NAdam::DEFAULT
    };
    let config = Config::new("NAdam")
        .set("lr", 0.01)
        .set("momentum_decay", 0.1);
    let mut opt = Optimizer::<f64>::build(&[ParamGroup::new([[3], [3]])], &config).unwrap();
    let mut params = vec![vec![1.0; 3], vec![1.0; 3]];
    // Tensor 1 skips its first two steps: its mu_product restarts from its own first update.
    let mut last = [(0u64, 1.0f64); 2];
    for k in 0..5 {
        let grads = [Some(vec![0.1; 3]), (k >= 2).then(|| vec![-0.2; 3])];
        opt.step(&mut params, &grads).unwrap();
        for (i, g) in grads.iter().enumerate() {
            if g.is_some() {
                let t = last[i].0 + 1;
                let mu = h.betas.0 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * h.momentum_decay));
                last[i] = (t, last[i].1 * mu);
            }
        }
    }
    let Optimizer::NAdam(o) = &opt else {
        unreachable!()
    };
    for (i, (t, product)) in last.iter().enumerate() {
        assert_eq!(opt.tensor_step(i), Some(*t));
        assert_eq!(
            o.tensor_state(i).map(|s| s.mu_product.to_bits()),
            Some(product.to_bits())
        );
    }
}

#[test]
fn asgd_eta_and_mu_lag_one_update_behind_lr_and_step() {
    use crate::optim::Optimizer;
    use crate::{Config, ParamGroup};
    let (lambd, alpha, t0) = (0.1, 0.5, 1.5);
    let config = Config::new("ASGD")
        .set("lr", 0.1)
        .set("lambd", lambd)
        .set("alpha", alpha)
        .set("t0", t0);
    let mut opt = Optimizer::<f64>::build(&[ParamGroup::new([[2]])], &config).unwrap();
    let mut params = vec![vec![1.0, -1.0]];
    let g = [Some(vec![0.5, 0.25])];
    let lrs = [0.1, 0.05, 0.05, 0.02, 0.02];
    let (mut p, mut ax) = ([1.0f64, -1.0], [0.0f64; 2]);
    let (mut eta, mut mu) = (0.1f64, 1.0f64); // torch's initial state: eta = lr, mu = 1
    for (k, &lr) in lrs.iter().enumerate() {
        opt.set_lr(0, lr).unwrap();
        opt.step(&mut params, &g).unwrap();
        let t = (k + 1) as f64;
        for (i, gi) in [0.5, 0.25].into_iter().enumerate() {
            p[i] *= 1.0 - lambd * eta;
            p[i] += -eta * gi;
            ax[i] = if mu != 1.0 {
                ax[i] + (p[i] - ax[i]) * mu
            } else {
                p[i]
            };
        }
        eta = lr / (1.0 + lambd * lr * t).powf(alpha);
        mu = 1.0 / f64::max(1.0, t - t0);
        assert_eq!(params[0], p, "step {t}");
        assert_eq!(opt.state(0).unwrap(), ax, "ax after step {t}");
        let Optimizer::Asgd(o) = &opt else {
            unreachable!()
        };
        let s = o.tensor_state(0).unwrap();
        assert_eq!((s.eta, s.mu), (eta, mu), "step {t}");
    }
    assert!(mu < 1.0, "the averaging branch was reached");
}

// ---------------------------------------------------------------------------------------------
// ASGD: while μ = 1 (t ≤ t0 + 1), ax is a copy of the parameters, bit for bit.

fn asgd_ax_copies<P: TestElement<DefaultState = P>>(
    case: Case<Asgd, P, P>,
) -> Result<(), TestCaseError> {
    run(&case, case.state.clone(), |_, after, ax| {
        same_bits("ax", after, ax)
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn asgd_ax_is_the_params_before_t0_f32(
        c in strategies::case::<_, f32, f32>(
            strategies::asgd().prop_map(|r| Asgd { t0: 1e30, ..r }),
            3, Values::Any, Values::Any,
        )
    ) {
        asgd_ax_copies(c)?;
    }
    #[test]
    fn asgd_ax_is_the_params_before_t0_f64(
        c in strategies::case::<_, f64, f64>(
            strategies::asgd().prop_map(|r| Asgd { t0: 1e30, ..r }),
            3, Values::Any, Values::Any,
        )
    ) {
        asgd_ax_copies(c)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Rprop, whatever the gradients and state (±∞ and NaN included): every element moves by at most
// its new step size (plus the rounding of the sum); a step size stays at most step_sizes[1], and
// at least step_sizes[0] when that is the smaller bound; prev holds ±g or 0; and the first update
// reads no state (NaN-filled state gives the bits of zeroed state).

fn rprop_bounded<P: TestElement<DefaultState = P>>(
    case: Case<Rprop, P, P>,
) -> Result<(), TestCaseError> {
    let h = &case.rule;
    let n = case.p.len();
    let u = P::UNIT; // f32 and f64 parameters compute in their own type
    let lo = P::of_f64(h.step_sizes.0).as_f64();
    let hi = P::of_f64(h.step_sizes.1).as_f64();
    let grads = case.grads.clone();
    let mut k = 0;
    run(&case, case.state.clone(), |before, after, state| {
        let g = &grads[k];
        k += 1;
        for i in 0..n {
            let (x, y) = (before[i].as_f64(), after[i].as_f64());
            let (prev, size) = (state[i].as_f64(), state[n + i].as_f64());
            prop_assert!(size <= hi || size.is_nan(), "step size {size:e} > {hi:e}");
            prop_assert!(
                lo > hi || size >= lo || size.is_nan(),
                "step size {size:e} < {lo:e}"
            );
            let gi = g[i].as_f64();
            let gi = if h.maximize { -gi } else { gi };
            prop_assert!(
                prev == 0.0 || prev.to_bits() == gi.to_bits() || (prev.is_nan() && gi.is_nan()),
                "prev {prev:e}, grad {gi:e}"
            );
            if x.is_finite() && size.is_finite() {
                prop_assert!(
                    (y - x).abs() <= size + u * y.abs(),
                    "element {i}: {x:e} -> {y:e}, step size {size:e}"
                );
            }
        }
        Ok(())
    })
}

fn rprop_first_update_reads_no_state<P: TestElement<DefaultState = P>>(
    mut case: Case<Rprop, P, P>,
) -> Result<(), TestCaseError> {
    case.step = 1;
    let poisoned = vec![P::of_f64(f64::NAN); case.state.len()];
    let zeroed = vec![P::default(); case.state.len()];
    let (mut p_nan, mut s_nan) = (case.p.clone(), poisoned);
    let (mut p_zero, mut s_zero) = (case.p.clone(), zeroed);
    let (mut t_nan, mut t_zero) = (0u64, 0u64);
    for g in &case.grads {
        prop_assert!(
            case.rule
                .step(&mut t_nan, &mut p_nan, g, &mut s_nan)
                .is_ok()
        );
        prop_assert!(
            case.rule
                .step(&mut t_zero, &mut p_zero, g, &mut s_zero)
                .is_ok()
        );
        prop_assert!(
            p_nan.iter().all(|x| x.as_f64().is_finite()),
            "params finite"
        );
        same_bits("param", &p_nan, &p_zero)?;
        same_bits("state", &s_nan, &s_zero)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rprop_moves_each_element_by_at_most_its_step_size_f32(
        c in strategies::case::<_, f32, f32>(strategies::rprop(), 3, Values::Finite, Values::Any)
            .prop_map(|mut c| { poison_grads(&mut c); c })
    ) {
        rprop_bounded(c)?;
    }
    #[test]
    fn rprop_moves_each_element_by_at_most_its_step_size_f64(
        c in strategies::case::<_, f64, f64>(strategies::rprop(), 3, Values::Any, Values::Any)
    ) {
        rprop_bounded(c)?;
    }
    #[test]
    fn rprop_first_update_reads_no_state_f32(
        c in strategies::case::<_, f32, f32>(strategies::rprop(), 3, Values::Finite, Values::Any)
    ) {
        rprop_first_update_reads_no_state(c)?;
    }
    #[test]
    fn rprop_first_update_reads_no_state_f64(
        c in strategies::case::<_, f64, f64>(strategies::rprop(), 3, Values::Finite, Values::Any)
    ) {
        rprop_first_update_reads_no_state(c)?;
    }
}

// ---------------------------------------------------------------------------------------------
// SparseAdam: an absent entry (gradient ±0) keeps θ, m and v bit for bit, whatever they hold
// (∞ included; a NaN stays NaN, its payload canonicalised where it is stored as f16/bf16); the row-sparse form equals the dense form bit for bit where no given
// entry is zero; repeated rows equal their sum given once.

fn sparse_adam_absent_entries_untouched<P, S>(
    mut case: Case<SparseAdam, P, S>,
) -> Result<(), TestCaseError>
where
    P: TestElement,
    S: TestElement<Compute = P::Compute>,
{
    let n = case.p.len();
    for (k, g) in case.grads.iter_mut().enumerate() {
        for (i, x) in g.iter_mut().enumerate() {
            match (i + k) % 3 {
                0 => *x = P::of_f64(0.0),
                1 if i % 2 == 0 => *x = P::of_f64(-0.0),
                _ => {}
            }
        }
    }
    let (mut p, mut state, mut step) = (case.p.clone(), case.state.clone(), case.step - 1);
    for g in &case.grads {
        let (p0, s0) = (p.clone(), state.clone());
        prop_assert!(case.rule.step(&mut step, &mut p, g, &mut state).is_ok());
        fn kept<T: TestElement>(a: T, b: T) -> bool {
            strategies::same_bits(a, b) || (a.as_f64().is_nan() && b.as_f64().is_nan())
        }
        for i in (0..n).filter(|&i| g[i].as_f64() == 0.0) {
            prop_assert!(kept(p[i], p0[i]), "param {i} moved");
            for slot in 0..2 {
                let j = slot * n + i;
                prop_assert!(kept(state[j], s0[j]), "state {j} changed");
            }
        }
    }
    Ok(())
}

/// The case's tensor seen as `rows × row_len` (trailing elements dropped); at update `k` the
/// rows with `(r + k) % 2 == 0` have a gradient, their zero entries made 1 (present either way).
fn sparse_adam_rows_equal_dense<P: TestElement>(
    case: Case<SparseAdam, P, P>,
    row_len: usize,
) -> Result<(), TestCaseError> {
    let nrows = case.p.len() / row_len;
    let n = nrows * row_len;
    let shape = [nrows, row_len];
    let mut p_dense = case.p[..n].to_vec();
    let mut p_rows = p_dense.clone();
    let mut p_dup = p_dense.clone();
    let mut s_dense = vec![P::default(); 2 * n];
    let (mut s_rows, mut s_dup) = (s_dense.clone(), s_dense.clone());
    let (mut t_dense, mut t_rows, mut t_dup) = (0u64, 0u64, 0u64);
    for (k, g) in case.grads.iter().enumerate() {
        let rows: Vec<usize> = (0..nrows).filter(|r| (r + k) % 2 == 0).collect();
        let fix = |x: P| if x.as_f64() == 0.0 { P::of_f64(1.0) } else { x };
        let mut dense = vec![P::default(); n];
        let mut values = Vec::new();
        for &r in &rows {
            for i in r * row_len..(r + 1) * row_len {
                dense[i] = fix(g[i]);
                values.push(fix(g[i]));
            }
        }
        prop_assert!(
            case.rule
                .step(&mut t_dense, &mut p_dense, &dense, &mut s_dense)
                .is_ok()
        );
        prop_assert!(
            case.rule
                .step_rows(
                    &mut t_rows,
                    &shape,
                    &mut p_rows,
                    &rows,
                    &values,
                    &mut s_rows
                )
                .is_ok()
        );
        same_bits("param", &p_dense, &p_rows)?;
        same_bits("state", &s_dense, &s_rows)?;
        // Every row given twice (a, then b) equals the row given once with a + b.
        let other = &case.grads[(k + 1) % case.grads.len()];
        let (mut dup_rows, mut dup_values, mut summed) = (Vec::new(), Vec::new(), Vec::new());
        for (j, &r) in rows.iter().enumerate() {
            let a = &values[j * row_len..(j + 1) * row_len];
            let b = &other[r * row_len..(r + 1) * row_len];
            dup_rows.extend([r, r]);
            dup_values.extend_from_slice(a);
            dup_values.extend_from_slice(b);
            summed.extend(
                a.iter()
                    .zip(b)
                    .map(|(x, y)| P::from_compute(x.to_compute() + y.to_compute())),
            );
        }
        let mut p_once = p_dup.clone();
        let mut s_once = s_dup.clone();
        let mut t_once = t_dup;
        prop_assert!(
            case.rule
                .step_rows(
                    &mut t_once,
                    &shape,
                    &mut p_once,
                    &rows,
                    &summed,
                    &mut s_once
                )
                .is_ok()
        );
        prop_assert!(
            case.rule
                .step_rows(
                    &mut t_dup,
                    &shape,
                    &mut p_dup,
                    &dup_rows,
                    &dup_values,
                    &mut s_dup
                )
                .is_ok()
        );
        same_bits("param (repeated rows)", &p_once, &p_dup)?;
        same_bits("state (repeated rows)", &s_once, &s_dup)?;
    }
    prop_assert_eq!(
        (t_dense, t_rows),
        (case.grads.len() as u64, case.grads.len() as u64)
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sparse_adam_absent_entries_keep_param_and_state_f32(
        c in strategies::case::<_, f32, f32>(strategies::sparse_adam(), 3, Values::Any, Values::Any)
    ) {
        sparse_adam_absent_entries_untouched(c)?;
    }
    #[test]
    fn sparse_adam_absent_entries_keep_param_and_state_bf16(
        c in strategies::case::<_, bf16, f32>(strategies::sparse_adam(), 3, Values::Any, Values::Any)
    ) {
        sparse_adam_absent_entries_untouched(c)?;
    }
    #[test]
    fn sparse_adam_absent_entries_keep_param_and_state_f64(
        c in strategies::case::<_, f64, f64>(strategies::sparse_adam(), 3, Values::Any, Values::Any)
    ) {
        sparse_adam_absent_entries_untouched(c)?;
    }
    #[test]
    fn second_moment_stays_nonnegative_sparse_adam_f32(
        c in strategies::case::<_, f32, f32>(strategies::sparse_adam(), 3, Values::Finite, Values::Finite),
        zero_state in any::<bool>(),
    ) {
        v_nonnegative(c, zero_state)?;
    }
    #[test]
    fn sparse_adam_rows_equal_dense_f32(
        c in strategies::case::<_, f32, f32>(strategies::sparse_adam(), 3, Values::Finite, Values::Any),
        row_len in 1usize..12,
    ) {
        sparse_adam_rows_equal_dense(c, row_len)?;
    }
    #[test]
    fn sparse_adam_rows_equal_dense_f64(
        c in strategies::case::<_, f64, f64>(strategies::sparse_adam(), 3, Values::Finite, Values::Any),
        row_len in 1usize..12,
    ) {
        sparse_adam_rows_equal_dense(c, row_len)?;
    }
}

// ---------------------------------------------------------------------------------------------
// State sizes and length checks.

#[test]
fn state_len_is_slots_times_n() {
    let with_momentum = Sgd {
        momentum: 0.9,
        ..Sgd::DEFAULT
    };
    let amsgrad = Adam {
        amsgrad: true,
        ..Adam::ADAM
    };
    let adamw_amsgrad = AdamW {
        amsgrad: true,
        ..AdamW::DEFAULT
    };
    for n in [0usize, 1, 7, 64, 65, 1000] {
        assert_eq!(
            Rule::state_len(&Adam::ADAM, n),
            2 * n,
            "Adam without amsgrad: 2n"
        );
        assert_eq!(Adam::ADAM.state_len(n), 2 * n);
        assert_eq!(Rule::state_len(&amsgrad, n), 3 * n);
        assert_eq!(Rule::state_len(&AdamW::DEFAULT, n), 2 * n);
        assert_eq!(Rule::state_len(&adamw_amsgrad, n), 3 * n);
        assert_eq!(
            Rule::state_len(&Sgd::DEFAULT, n),
            0,
            "SGD without momentum: no state"
        );
        assert_eq!(Rule::state_len(&with_momentum, n), n);
        assert_eq!(Rule::state_len(&Lion::DEFAULT, n), n);
        let rms = |momentum, centered| RmsProp {
            momentum,
            centered,
            ..RmsProp::DEFAULT
        };
        assert_eq!(Rule::state_len(&rms(0.0, false), n), n, "square_avg");
        assert_eq!(Rule::state_len(&rms(0.9, false), n), 2 * n);
        assert_eq!(Rule::state_len(&rms(0.0, true), n), 2 * n);
        assert_eq!(Rule::state_len(&rms(0.9, true), n), 3 * n);
        assert_eq!(rms(0.9, true).state_len(n), 3 * n);
        assert_eq!(Rule::state_len(&Adagrad::DEFAULT, n), n, "sum");
        assert_eq!(Adagrad::DEFAULT.state_len(n), n);
        assert_eq!(Rule::state_len(&Adadelta::DEFAULT, n), 2 * n);
        assert_eq!(Adadelta::DEFAULT.state_len(n), 2 * n);
        assert_eq!(Rule::state_len(&Adamax::DEFAULT, n), 2 * n);
        assert_eq!(Adamax::DEFAULT.state_len(n), 2 * n);
        assert_eq!(Rule::state_len(&NAdam::DEFAULT, n), 2 * n);
        assert_eq!(NAdam::DEFAULT.state_len(n), 2 * n);
        assert_eq!(Rule::state_len(&Asgd::DEFAULT, n), n);
        assert_eq!(Asgd::DEFAULT.state_len(n), n);
        assert_eq!(Rule::state_len(&RAdam::DEFAULT, n), 2 * n);
        assert_eq!(RAdam::DEFAULT.state_len(n), 2 * n);
        assert_eq!(Rule::state_len(&Rprop::DEFAULT, n), 2 * n);
        assert_eq!(Rprop::DEFAULT.state_len(n), 2 * n);
        assert_eq!(Rule::state_len(&SparseAdam::DEFAULT, n), 2 * n);
        assert_eq!(SparseAdam::DEFAULT.state_len(n), 2 * n);
    }
}

// ---------------------------------------------------------------------------------------------
// Initial state: zero for every rule but Adagrad, whose `sum` starts at
// `initial_accumulator_value` (rounded once to the state type).

#[test]
fn init_state_fills_each_slot_with_its_initial_value() {
    let adagrad = Adagrad {
        initial_accumulator_value: 0.1,
        ..Adagrad::DEFAULT
    };
    let mut s = [f32::NAN; 5];
    adagrad.init_state(&mut s);
    assert_eq!(s, [0.1f32; 5]);
    let mut s = [bf16::ONE; 4];
    Adagrad::DEFAULT.init_state(&mut s);
    assert_eq!(s, [bf16::ZERO; 4]);
    let rms = RmsProp {
        momentum: 0.9,
        centered: true,
        ..RmsProp::DEFAULT
    };
    let mut s = [1.0f64; 9];
    rms.init_state(&mut s);
    assert_eq!(s, [0.0; 9]);
    for slot in 0..3 {
        assert_eq!(rms.initial_state(slot), 0.0);
        assert_eq!(Adam::ADAM.initial_state(slot), 0.0);
    }
    // A length that is not a multiple of the slots keeps its remainder; no slots, no change.
    let mut s = [7.0f32; 7];
    Adam::ADAM.init_state(&mut s);
    assert_eq!(s, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]);
    let mut s = [7.0f32; 3];
    Sgd::DEFAULT.init_state(&mut s);
    assert_eq!(s, [7.0; 3]);
    Adam::ADAM.init_state::<f32>(&mut []);
}

/// Adagrad's first step from its initial state: `sum = a + g²`, the update `lr·g/(√sum + ε)`
/// (f64, the formula's operations in the kernel's order, so the same bits).
#[test]
fn adagrad_first_step_starts_from_the_initial_accumulator_value() {
    let h = Adagrad {
        lr: 0.1,
        initial_accumulator_value: 3.0,
        ..Adagrad::DEFAULT
    };
    let mut state = [0.0f64; 2];
    h.init_state(&mut state);
    let (mut p, g) = ([1.0f64, -2.0], [1.0f64, 0.5]);
    let mut t = 0;
    h.step(&mut t, &mut p, &g, &mut state).unwrap();
    assert_eq!(state, [4.0, 3.25]);
    assert_eq!(
        p,
        [
            1.0 - 0.1 * 1.0 / (2.0 + 1e-10),
            -2.0 - 0.1 * 0.5 / (3.25f64.sqrt() + 1e-10)
        ]
    );
}

#[test]
fn wrong_lengths_are_errors_and_write_nothing() {
    let p0 = [1.0f32, 2.0, 3.0];
    let g = [0.5f32; 3];
    let mut p = p0;
    let mut t = 7u64;
    let mut state = [0.0f32; 9]; // 3n: amsgrad's size, not Adam's 2n
    assert_eq!(
        Adam::ADAM.step(&mut t, &mut p, &g, &mut state),
        Err(Error::ShapeMismatch {
            tensor: 0,
            what: "state",
            expected: 6,
            found: 9
        })
    );
    assert_eq!((p, t), (p0, 7));
    assert!(state.iter().all(|&x| x == 0.0));
    let mut state = [0.0f32; 6];
    assert_eq!(
        Adam::ADAM.step(&mut t, &mut p, &g[..2], &mut state),
        Err(Error::ShapeMismatch {
            tensor: 0,
            what: "grad",
            expected: 3,
            found: 2
        })
    );
    assert_eq!((p, t), (p0, 7));
    assert_eq!(Adam::ADAM.step(&mut t, &mut p, &g, &mut state), Ok(()));
    assert_eq!(t, 8);
    assert!(p.iter().zip(&p0).all(|(a, b)| a < b));
}

// ---------------------------------------------------------------------------------------------
// Regressions.

/// Regression: storing an f32 NaN whose bits are `0xFFFF_8000 ..= 0xFFFF_FFFF` as bf16 panicked in
/// debug builds ("attempt to add with overflow" in `element::f32_to_bf16`, which added the
/// rounding bias to the raw bits). Signalling NaNs from `0xFFBF_8000` get there once arithmetic
/// quiets them. Found by `simd_matches_scalar_bitwise_*` with bf16 storage.
#[test]
fn bf16_store_of_negative_nan_with_high_payload_does_not_panic() {
    let nan = f32::from_bits(0xFFFF_FFFF);
    assert!(nan.is_nan());

    // f32 parameters, bf16 state: the NaN gradient reaches exp_avg, stored as bf16.
    let mut p = [1.0f32; 8];
    let mut state = [bf16::ZERO; 16];
    let mut t = 0;
    assert_eq!(
        Adam::ADAM.step(&mut t, &mut p, &[nan; 8], &mut state),
        Ok(())
    );
    assert!(state[0].is_nan());

    // bf16 parameters, f32 state: a NaN momentum buffer reaches θ, stored as bf16.
    let sgd = Sgd {
        momentum: 0.9,
        ..Sgd::DEFAULT
    };
    let mut p = [bf16::ONE; 3];
    let mut buf = [nan; 3];
    let mut t = 1; // step 2 reads the buffer
    assert_eq!(sgd.step(&mut t, &mut p, &[bf16::ONE; 3], &mut buf), Ok(()));
    assert!(p.iter().all(|x| x.is_nan()));

    // A signalling NaN gradient, quieted to 0xFFFF_A987 by the arithmetic.
    let snan = f32::from_bits(0xFFBF_A987);
    let mut p = [1.0f32; 3];
    let mut state = [bf16::ZERO; 6];
    let mut t = 0;
    assert_eq!(
        Adam::ADAM.step(&mut t, &mut p, &[snan; 3], &mut state),
        Ok(())
    );
    assert!(state.iter().all(|x| x.is_nan()));
}
