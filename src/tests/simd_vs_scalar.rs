//! The SIMD lane path (`V = <P::Compute as Real>::Vector`) and the scalar path (`V = P::Compute`)
//! give identical bits, for every rule, element type and length, after each of three consecutive
//! updates: parameters and every state element, NaN payloads and signs included (in unoptimized
//! builds; see [`super::strategies::NAN_BITS_MUST_MATCH`]).
//!
//! Values mix normal ranges with ±0, subnormals, huge values, ±∞, NaN of both signs and arbitrary
//! bit patterns; state starts arbitrary too (the kernels must not care). Lengths hit the lane (4,
//! 8) and block (64) edges. Under the `force-scalar` feature both paths are scalar.

use super::strategies::{self, Case, TestElement, Values, config, same_bits};
use crate::lanes::Real;
use crate::rules::Rule;
use half::{bf16, f16};
use proptest::prelude::*;
use std::format;

fn first_difference<T: TestElement>(a: &[T], b: &[T]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| !same_bits(*x, *y))
}

fn check<R, P, S>(case: &Case<R, P, S>) -> Result<(), TestCaseError>
where
    R: Rule,
    P: TestElement,
    S: TestElement<Compute = P::Compute>,
{
    let n = case.p.len();
    let (mut p_simd, mut s_simd) = (case.p.clone(), case.state.clone());
    let (mut p_scalar, mut s_scalar) = (case.p.clone(), case.state.clone());
    let mut schedule = R::Schedule::default();
    let mut tensor_state = R::TensorState::default();
    for (k, g) in case.grads.iter().enumerate() {
        let t = case.step_of(k);
        let sc = case.rule.begin_step(&mut schedule);
        let sc = case.rule.begin_tensor(&sc, t, &mut tensor_state);
        case.rule.update_with::<P, S, <P::Compute as Real>::Vector>(
            &sc,
            t,
            &mut p_simd,
            g,
            &mut s_simd,
        );
        case.rule
            .update_with::<P, S, P::Compute>(&sc, t, &mut p_scalar, g, &mut s_scalar);
        if let Some(i) = first_difference(&p_simd, &p_scalar) {
            return Err(TestCaseError::fail(format!(
                "update {k} (step {t}), param {i} of {n}: SIMD {:?} ({:#x}) != scalar {:?} ({:#x}); \
                 p was {:?}, g {:?}",
                p_simd[i],
                p_simd[i].bits(),
                p_scalar[i],
                p_scalar[i].bits(),
                case.p[i],
                g[i],
            )));
        }
        if let Some(j) = first_difference(&s_simd, &s_scalar) {
            return Err(TestCaseError::fail(format!(
                "update {k} (step {t}), state slot {} element {} of {n}: SIMD {:?} ({:#x}) != \
                 scalar {:?} ({:#x})",
                j / n,
                j % n,
                s_simd[j],
                s_simd[j].bits(),
                s_scalar[j],
                s_scalar[j].bits(),
            )));
        }
    }
    Ok(())
}

macro_rules! simd_vs_scalar {
    ($($name:ident: $rule:expr, $p:ty, $s:ty;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(
                    case in strategies::case::<_, $p, $s>(
                        $rule, 3, Values::Any, Values::Any,
                    )
                ) {
                    check(&case)?;
                }
            )*
        }
    };
}

simd_vs_scalar! {
    simd_matches_scalar_bitwise_sgd_f64: strategies::sgd(), f64, f64;
    simd_matches_scalar_bitwise_sgd_f32: strategies::sgd(), f32, f32;
    simd_matches_scalar_bitwise_sgd_f16: strategies::sgd(), f16, f32;
    simd_matches_scalar_bitwise_sgd_bf16: strategies::sgd(), bf16, f32;
    simd_matches_scalar_bitwise_sgd_f32_bf16_state: strategies::sgd(), f32, bf16;
    simd_matches_scalar_bitwise_adam_f64: strategies::adam(true), f64, f64;
    simd_matches_scalar_bitwise_adam_f32: strategies::adam(true), f32, f32;
    simd_matches_scalar_bitwise_adam_f16: strategies::adam(true), f16, f32;
    simd_matches_scalar_bitwise_adam_bf16: strategies::adam(true), bf16, f32;
    simd_matches_scalar_bitwise_adam_f32_bf16_state: strategies::adam(true), f32, bf16;
    simd_matches_scalar_bitwise_adamw_f64: strategies::adamw(true), f64, f64;
    simd_matches_scalar_bitwise_adamw_f32: strategies::adamw(true), f32, f32;
    simd_matches_scalar_bitwise_adamw_f16: strategies::adamw(true), f16, f32;
    simd_matches_scalar_bitwise_adamw_bf16: strategies::adamw(true), bf16, f32;
    simd_matches_scalar_bitwise_adamw_f32_bf16_state: strategies::adamw(true), f32, bf16;
    simd_matches_scalar_bitwise_lion_f64: strategies::lion(), f64, f64;
    simd_matches_scalar_bitwise_lion_f32: strategies::lion(), f32, f32;
    simd_matches_scalar_bitwise_lion_f16: strategies::lion(), f16, f32;
    simd_matches_scalar_bitwise_lion_bf16: strategies::lion(), bf16, f32;
    simd_matches_scalar_bitwise_lion_f32_bf16_state: strategies::lion(), f32, bf16;
    simd_matches_scalar_bitwise_radam_f64: strategies::radam(true), f64, f64;
    simd_matches_scalar_bitwise_radam_f32: strategies::radam(true), f32, f32;
    simd_matches_scalar_bitwise_radam_f16: strategies::radam(true), f16, f32;
    simd_matches_scalar_bitwise_radam_bf16: strategies::radam(true), bf16, f32;
    simd_matches_scalar_bitwise_radam_f32_bf16_state: strategies::radam(true), f32, bf16;
    simd_matches_scalar_bitwise_nadam_f64: strategies::nadam(true), f64, f64;
    simd_matches_scalar_bitwise_nadam_f32: strategies::nadam(true), f32, f32;
    simd_matches_scalar_bitwise_nadam_f16: strategies::nadam(true), f16, f32;
    simd_matches_scalar_bitwise_nadam_bf16: strategies::nadam(true), bf16, f32;
    simd_matches_scalar_bitwise_nadam_f32_bf16_state: strategies::nadam(true), f32, bf16;
    simd_matches_scalar_bitwise_asgd_f64: strategies::asgd(), f64, f64;
    simd_matches_scalar_bitwise_asgd_f32: strategies::asgd(), f32, f32;
    simd_matches_scalar_bitwise_asgd_f16: strategies::asgd(), f16, f32;
    simd_matches_scalar_bitwise_asgd_bf16: strategies::asgd(), bf16, f32;
    simd_matches_scalar_bitwise_asgd_f32_bf16_state: strategies::asgd(), f32, bf16;
    simd_matches_scalar_bitwise_rprop_f64: strategies::rprop(), f64, f64;
    simd_matches_scalar_bitwise_rprop_f32: strategies::rprop(), f32, f32;
    simd_matches_scalar_bitwise_rprop_f16: strategies::rprop(), f16, f32;
    simd_matches_scalar_bitwise_rprop_bf16: strategies::rprop(), bf16, f32;
    simd_matches_scalar_bitwise_rprop_f32_bf16_state: strategies::rprop(), f32, bf16;
    simd_matches_scalar_bitwise_sparse_adam_f64: strategies::sparse_adam(), f64, f64;
    simd_matches_scalar_bitwise_sparse_adam_f32: strategies::sparse_adam(), f32, f32;
    simd_matches_scalar_bitwise_sparse_adam_f16: strategies::sparse_adam(), f16, f32;
    simd_matches_scalar_bitwise_sparse_adam_bf16: strategies::sparse_adam(), bf16, f32;
    simd_matches_scalar_bitwise_sparse_adam_f32_bf16_state: strategies::sparse_adam(), f32, bf16;
    simd_matches_scalar_bitwise_sgd_schedule_free_f64: strategies::sgd_schedule_free(), f64, f64;
    simd_matches_scalar_bitwise_sgd_schedule_free_bf16: strategies::sgd_schedule_free(), bf16, f32;
    simd_matches_scalar_bitwise_adamw_schedule_free_f64: strategies::adamw_schedule_free(), f64, f64;
    simd_matches_scalar_bitwise_adamw_schedule_free_f32: strategies::adamw_schedule_free(), f32, f32;
    simd_matches_scalar_bitwise_adamw_schedule_free_bf16: strategies::adamw_schedule_free(), bf16, f32;
    simd_matches_scalar_bitwise_adamw_schedule_free_f16: strategies::adamw_schedule_free(), f16, f32;
    simd_matches_scalar_bitwise_adamw_schedule_free_reference_f32:
        strategies::adamw_schedule_free_reference(), f32, f32;
    simd_matches_scalar_bitwise_radam_schedule_free_f32: strategies::radam_schedule_free(), f32, f32;
    simd_matches_scalar_bitwise_wrapper_adam_f64: strategies::wrapper_adam(), f64, f64;
    simd_matches_scalar_bitwise_wrapper_adam_bf16: strategies::wrapper_adam(), bf16, f32;
    simd_matches_scalar_bitwise_wrapper_sgd_f32: strategies::wrapper_sgd(), f32, f32;
    simd_matches_scalar_bitwise_wrapper_sgd_f32_bf16_state: strategies::wrapper_sgd(), f32, bf16;
    simd_matches_scalar_bitwise_rmsprop_f64: strategies::rmsprop(true), f64, f64;
    simd_matches_scalar_bitwise_rmsprop_f32: strategies::rmsprop(true), f32, f32;
    simd_matches_scalar_bitwise_rmsprop_f16: strategies::rmsprop(true), f16, f32;
    simd_matches_scalar_bitwise_rmsprop_bf16: strategies::rmsprop(true), bf16, f32;
    simd_matches_scalar_bitwise_rmsprop_f32_bf16_state: strategies::rmsprop(true), f32, bf16;
    simd_matches_scalar_bitwise_adagrad_f64: strategies::adagrad(), f64, f64;
    simd_matches_scalar_bitwise_adagrad_f32: strategies::adagrad(), f32, f32;
    simd_matches_scalar_bitwise_adagrad_f16: strategies::adagrad(), f16, f32;
    simd_matches_scalar_bitwise_adagrad_bf16: strategies::adagrad(), bf16, f32;
    simd_matches_scalar_bitwise_adagrad_f32_bf16_state: strategies::adagrad(), f32, bf16;
    simd_matches_scalar_bitwise_adadelta_f64: strategies::adadelta(), f64, f64;
    simd_matches_scalar_bitwise_adadelta_f32: strategies::adadelta(), f32, f32;
    simd_matches_scalar_bitwise_adadelta_f16: strategies::adadelta(), f16, f32;
    simd_matches_scalar_bitwise_adadelta_bf16: strategies::adadelta(), bf16, f32;
    simd_matches_scalar_bitwise_adadelta_f32_bf16_state: strategies::adadelta(), f32, bf16;
    simd_matches_scalar_bitwise_adamax_f64: strategies::adamax(true), f64, f64;
    simd_matches_scalar_bitwise_adamax_f32: strategies::adamax(true), f32, f32;
    simd_matches_scalar_bitwise_adamax_f16: strategies::adamax(true), f16, f32;
    simd_matches_scalar_bitwise_adamax_bf16: strategies::adamax(true), bf16, f32;
    simd_matches_scalar_bitwise_adamax_f32_bf16_state: strategies::adamax(true), f32, bf16;
}

/// NaN payloads are not part of the SIMD == scalar guarantee (the docs say so: a NaN is NaN on
/// both paths, its payload unspecified), and indeed they differ in optimized builds: when two NaN operands meet (here θ and the update in `θ + (−s·m)/d`), which
/// payload survives depends on the operand order the optimizer picks, and it picks differently
/// on the two paths. Passes in debug builds; fails under `cargo test --release`
/// (SIMD `0x7fc00000`, scalar `0xffffffff`). Either the kernels canonicalize NaN on store or the
/// claim says "NaN results are NaN on both paths; their sign and payload are unspecified"
/// (Rust's own float semantics, RFC 3514). See `strategies::NAN_BITS_MUST_MATCH`.
#[test]
#[ignore = "NaN payloads differ between the paths in optimized builds (run with --release)"]
fn nan_payload_is_the_same_on_both_paths() {
    use crate::rules::Adam;
    let p = [f32::from_bits(0x7FC0_0000); 8];
    let g = [f32::from_bits(0xFFFF_FFFF); 8];
    let (mut p_simd, mut p_scalar) = (p, p);
    let (mut s_simd, mut s_scalar) = ([0.0f32; 16], [0.0f32; 16]);
    let h = Adam::ADAM;
    h.update_with::<f32, f32, <f32 as Real>::Vector>(&(), 1, &mut p_simd, &g, &mut s_simd);
    h.update_with::<f32, f32, f32>(&(), 1, &mut p_scalar, &g, &mut s_scalar);
    assert_eq!(p_simd.map(f32::to_bits), p_scalar.map(f32::to_bits));
}

/// The mode switches (`eval()`, `train()`) take the same SIMD/scalar care as the updates.
fn check_modes<R, P, S>(case: &Case<R, P, S>) -> Result<(), TestCaseError>
where
    R: Rule,
    P: TestElement,
    S: TestElement<Compute = P::Compute>,
{
    use crate::rules::Mode;
    for mode in [Mode::Eval, Mode::Train] {
        let (mut simd, mut scalar) = (case.p.clone(), case.p.clone());
        case.rule
            .switch_mode_with::<P, S, <P::Compute as Real>::Vector>(mode, &mut simd, &case.state);
        case.rule
            .switch_mode_with::<P, S, P::Compute>(mode, &mut scalar, &case.state);
        if let Some(i) = first_difference(&simd, &scalar) {
            return Err(TestCaseError::fail(format!(
                "{mode:?}, param {i}: SIMD {:?} != scalar {:?}",
                simd[i], scalar[i]
            )));
        }
    }
    Ok(())
}

macro_rules! modes_simd_vs_scalar {
    ($($name:ident: $rule:expr, $p:ty, $s:ty;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(
                    case in strategies::case::<_, $p, $s>($rule, 1, Values::Any, Values::Any)
                ) {
                    check_modes(&case)?;
                }
            )*
        }
    };
}

modes_simd_vs_scalar! {
    mode_switch_simd_matches_scalar_sgd_schedule_free_f64: strategies::sgd_schedule_free(), f64, f64;
    mode_switch_simd_matches_scalar_adamw_schedule_free_bf16:
        strategies::adamw_schedule_free(), bf16, f32;
    mode_switch_simd_matches_scalar_adamw_schedule_free_reference_f32:
        strategies::adamw_schedule_free_reference(), f32, f32;
    mode_switch_simd_matches_scalar_wrapper_sgd_f16: strategies::wrapper_sgd(), f16, f32;
}
