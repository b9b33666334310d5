//! proptest strategies shared by the tests: element values, lengths, step counts and the
//! hyperparameters of every rule.

use crate::element::Element;
use crate::rules::{
    Adadelta, Adagrad, Adam, AdamW, AdamWScheduleFree, AdamWScheduleFreeReference, Adamax, Asgd,
    Lion, NAdam, RAdam, RAdamScheduleFree, RmsProp, Rprop, Rule, ScheduleFreeWrapper, Sgd,
    SgdScheduleFree, SparseAdam,
};
use half::{bf16, f16};
use proptest::prelude::*;
use std::vec::Vec;

/// The proptest configuration of every property here: proptest's defaults (256 cases, or
/// `PROPTEST_CASES`), without failure-persistence files (a failing case is printed instead; add
/// it as a plain unit test if it should stay).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Whether NaN results must agree in sign and payload too, not only in being NaN.
///
/// Rust, like IEEE 754, leaves the sign and payload of a NaN result unspecified when several
/// operands are NaN. Unoptimized builds (what `cargo test` and CI run) evaluate the operands in
/// source order on both lane paths, and x86 and AArch64 propagate the first NaN operand, so the
/// paths agree to the bit, and the tests check that. Optimized builds may commute `a + b`
/// differently on the two paths: `cargo test --release` finds, for Adam with θ = NaN
/// (`0x7fc00000`) and g = NaN (`0xffffffff`), `0x7fc00000` on the SIMD path and `0xffffffff` on
/// the scalar path. There only NaN-ness is compared.
pub const NAN_BITS_MUST_MATCH: bool = cfg!(debug_assertions);

/// Bitwise equality, NaN included (NaN-ness only in optimized builds: [`NAN_BITS_MUST_MATCH`]).
pub fn same_bits<T: TestElement>(a: T, b: T) -> bool {
    a.bits() == b.bits() || (!NAN_BITS_MUST_MATCH && a.as_f64().is_nan() && b.as_f64().is_nan())
}

/// Which values a test draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// Anything: 62.5 % uniform in [-4, 4), 19 % log-uniform over the type's range (1e-30 ..=
    /// 1e30 for f32 and bf16, 1e-300 ..= 1e300 for f64, 1e-7 ..= 6e4 for f16), 12.5 % special
    /// values (±0, ±1, ± the smallest normal, ± a middle and the smallest subnormal, ± a huge
    /// value, ±MAX, ±∞, NaN, −NaN), 6 % arbitrary bit patterns (NaN payloads, signalling NaNs).
    Any,
    /// As `Any`, with non-finite values and magnitudes above 1e15 replaced by values in [-4, 4):
    /// `g·g`, sums and `μ·b + (1 − τ)·g` stay finite in f32. (With larger values `(1 − β₂)·g·g`
    /// may overflow to +∞, and a later `β₂·v` with β₂ = 0 is `0·∞ = NaN`: IEEE arithmetic, and
    /// PyTorch's too.)
    Finite,
    /// ±0 (1 in 16) or a magnitude in [1e-4, 1e3], log-uniform, random sign. No product of two or
    /// three of these with the hyperparameters of this module underflows f32.
    Moderate,
}

/// An element type the tests generate values of.
///
/// Values are decoded from `u64` "genes" (see [`TestElement::decode`]): proptest generates and
/// shrinks plain integers (shrinking toward 0 shrinks toward the first special value, +0), which
/// in debug builds is an order of magnitude faster than a union of float strategies per element.
pub trait TestElement: Element {
    /// Unit roundoff of one rounding to this type in its normal range: 2⁻ᵖ for a `p`-bit
    /// significand (2⁻⁵³, 2⁻²⁴, 2⁻¹¹, 2⁻⁸).
    const UNIT: f64;
    /// Largest absolute error of one rounding to this type in its subnormal range (half the
    /// smallest subnormal).
    const TINY: f64;
    /// Values of at least this magnitude round to ±∞ in this type (the largest finite value plus
    /// half an ulp).
    const OVERFLOW: f64;
    /// Special values, exactly representable: +0 first (what a gene of 0 decodes to).
    const SPECIALS: &'static [f64];
    /// Decimal exponents of the log-uniform "whole range" draw.
    const EXPONENTS: (f64, f64);
    /// The bit pattern, widened: the SIMD-vs-scalar tests compare these, NaN included.
    fn bits(self) -> u64;
    /// The value with the low bits of `b` as its bit pattern.
    fn from_bits_u64(b: u64) -> Self;
    /// Exact widening to f64.
    fn as_f64(self) -> f64;
    /// Rounds an f64 to this type (used to make test inputs only; double rounding is harmless).
    fn of_f64(x: f64) -> Self;

    /// The value a gene stands for, for each kind of [`Values`].
    fn decode(kind: Values, gene: u64) -> Self {
        let (c, r) = (gene & 0xF, gene >> 4);
        match kind {
            Values::Any => Self::any_of(c, r),
            Values::Finite => {
                let x = Self::any_of(c, r);
                if x.as_f64().abs() <= 1e15 {
                    x
                } else {
                    Self::of_f64(-4.0 + 8.0 * unit(r))
                }
            }
            Values::Moderate => {
                if c == 0 {
                    Self::of_f64(if r & 1 == 0 { 0.0 } else { -0.0 })
                } else {
                    Self::of_f64(signed_log_uniform(r, (-4.0, 3.0)))
                }
            }
        }
    }

    /// [`Values::Any`], from the gene's class `c` (0..16) and payload `r`.
    fn any_of(c: u64, r: u64) -> Self {
        match c {
            0 | 1 => {
                let k = (r % (Self::SPECIALS.len() as u64 + 1)) as usize;
                match Self::SPECIALS.get(k) {
                    Some(&x) => Self::of_f64(x),
                    None => Self::from_bits_u64(u64::MAX), // −NaN, every payload bit set
                }
            }
            2 => Self::from_bits_u64(r),
            3..=5 => Self::of_f64(signed_log_uniform(r, Self::EXPONENTS)),
            _ => Self::of_f64(-4.0 + 8.0 * unit(r)),
        }
    }
}

/// A number in [0, 1) from the low 53 bits of `r`.
fn unit(r: u64) -> f64 {
    (r & ((1 << 53) - 1)) as f64 / (1u64 << 53) as f64
}

/// `±10^e`, `e` uniform in `exps`; the sign from bit 0 of `r`.
fn signed_log_uniform(r: u64, (lo, hi): (f64, f64)) -> f64 {
    let x = 10f64.powf(lo + (hi - lo) * unit(r >> 1));
    if r & 1 == 0 { x } else { -x }
}

/// `n` values of `kind`.
pub fn values<T: TestElement>(kind: Values, n: usize) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(any::<u64>(), n)
        .prop_map(move |genes| genes.into_iter().map(|x| T::decode(kind, x)).collect())
}

macro_rules! test_element {
    ($t:ty, $bits:ty, unit = $unit:expr, tiny = $tiny:expr, overflow = $overflow:expr,
     to_f64 = $to:expr, from_f64 = $from:expr, exponents = $exps:expr, specials = $specials:expr) => {
        impl TestElement for $t {
            const UNIT: f64 = $unit;
            const TINY: f64 = $tiny;
            const OVERFLOW: f64 = $overflow;
            const SPECIALS: &'static [f64] = &$specials;
            const EXPONENTS: (f64, f64) = $exps;
            fn bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            fn from_bits_u64(b: u64) -> Self {
                <$t>::from_bits(b as $bits)
            }
            fn as_f64(self) -> f64 {
                let f: fn($t) -> f64 = $to;
                f(self)
            }
            fn of_f64(x: f64) -> Self {
                let f: fn(f64) -> $t = $from;
                f(x)
            }
        }
    };
}

test_element!(
    f64,
    u64,
    unit = f64::EPSILON / 2.0,
    tiny = 5e-324,            // the smallest subnormal (2⁻¹⁰⁷⁵ is not representable)
    overflow = f64::INFINITY, // not reached by these tests
    to_f64 = |x| x,
    from_f64 = |x| x,
    exponents = (-300.0, 300.0),
    specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        1e-310,
        -1e-310,
        5e-324,
        -5e-324,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]
);

test_element!(
    f32,
    u32,
    unit = f32::EPSILON as f64 / 2.0,
    tiny = 7.006_492_321_624_085e-46, // 2⁻¹⁵⁰
    overflow = f32::MAX as f64 + f64::from_bits((1023 + 103) << 52), // + 2¹⁰³
    to_f64 = |x| x as f64,
    from_f64 = |x| x as f32,
    exponents = (-30.0, 30.0),
    specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        1.175_494_350_822_287_5e-38,
        -1.175_494_350_822_287_5e-38,
        1.0e-40,
        -1.0e-40,
        1.401_298_464_324_817e-45,
        -1.401_298_464_324_817e-45,
        1e30,
        -1e30,
        f32::MAX as f64,
        f32::MIN as f64,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]
);

test_element!(
    f16,
    u16,
    unit = 1.0 / 2048.0,               // 2⁻¹¹
    tiny = 2.980_232_238_769_531_2e-8, // 2⁻²⁵
    overflow = 65520.0,                // 65504 + 16
    to_f64 = |x| x.to_f64(),
    from_f64 = f16::from_f64,
    exponents = (-7.0, 4.8),
    specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        6.103_515_625e-5,
        -6.103_515_625e-5,
        3.0e-6,
        -3.0e-6,
        5.960_464_477_539_063e-8,
        -5.960_464_477_539_063e-8,
        6.0e4,
        -6.0e4,
        65504.0,
        -65504.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]
);

test_element!(
    bf16,
    u16,
    unit = 1.0 / 256.0,               // 2⁻⁸
    tiny = 4.591_774_807_899_561e-41, // 2⁻¹³⁴
    overflow = bf16::MAX.to_f64_const() + f64::from_bits((1023 + 119) << 52), // + 2¹¹⁹
    to_f64 = |x| x.to_f64(),
    from_f64 = bf16::from_f64,
    exponents = (-30.0, 30.0),
    specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        1.175_494_350_822_287_5e-38,
        -1.175_494_350_822_287_5e-38,
        1.0e-40,
        -1.0e-40,
        9.183_549_615_799_121e-41,
        -9.183_549_615_799_121e-41,
        1e30,
        -1e30,
        3.389_531_389_251_535_5e38,
        -3.389_531_389_251_535_5e38,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]
);

/// Tensor lengths in `0..300`: half of the draws are the lane and block edges (0, 1, 7, 8, 9,
/// 63, 64, 65, 127, 128, 129, 255, 256, 257; blocks are 64 elements, lanes 4 or 8), the other half
/// uniform.
pub fn len() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => prop::sample::select(&[0usize, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 255, 256, 257][..]),
        1 => 0usize..300,
    ]
}

/// The step number of the first update of a case: 1 (SGD's buffer initialisation, bias
/// corrections far from 1) to 5, or large (bias corrections rounding to 1).
pub fn first_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1u64..=5,
        1 => Just(1_000_000u64),
        1 => Just(1u64 << 40),
    ]
}

fn lr() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1e-3), Just(0.1), Just(1.0), 1e-4f64..1.0]
}

fn weight_decay() -> impl Strategy<Value = f64> {
    prop_oneof![2 => Just(0.0), 1 => Just(1e-2), 1 => 1e-4f64..0.1]
}

/// `torch.optim.SGD` settings: plain (with a dampening that must be ignored), momentum, momentum
/// with dampening, Nesterov; each with or without L2 decay and `maximize`.
pub fn sgd() -> impl Strategy<Value = Sgd> {
    (
        lr(),
        weight_decay(),
        any::<bool>(),
        0..4u8,
        prop_oneof![Just(0.9), 0.01f64..0.99],
        prop_oneof![Just(0.5), 0.01f64..1.0],
    )
        .prop_map(|(lr, weight_decay, maximize, mode, mu, tau)| {
            let (momentum, dampening, nesterov) = match mode {
                0 => (0.0, tau, false), // no momentum: no state, dampening unused
                1 => (mu, 0.0, false),
                2 => (mu, tau, false),
                _ => (mu, 0.0, true),
            };
            valid(Sgd {
                lr,
                momentum,
                dampening,
                weight_decay,
                nesterov,
                maximize,
                ..Sgd::DEFAULT
            })
        })
}

/// (β₁, β₂) for Adam. PyTorch's lerp takes its first branch for a weight `1 − β₁ < 0.5` (β₁ = 0.9)
/// and its second for `1 − β₁ ≥ 0.5` (β₁ = 0.5, 0.3, 0); the uniform draw covers both; β₂ = 0
/// makes `v = g²`.
fn adam_betas() -> impl Strategy<Value = (f64, f64)> {
    (
        prop_oneof![Just(0.9), Just(0.0), Just(0.5), Just(0.3), 0.0f64..0.99],
        prop_oneof![Just(0.999), Just(0.0), Just(0.9), 0.5f64..0.9999],
    )
}

fn eps(allow_zero: bool) -> BoxedStrategy<f64> {
    if allow_zero {
        prop_oneof![2 => Just(1e-8), 2 => 1e-8f64..1e-3, 1 => Just(0.0)].boxed()
    } else {
        prop_oneof![Just(1e-8), 1e-8f64..1e-3].boxed()
    }
}

/// `torch.optim.Adam` settings: every combination of `amsgrad`, `maximize`,
/// `decoupled_weight_decay` and weight decay 0 or not. `eps = 0` only if `allow_zero_eps`.
pub fn adam(allow_zero_eps: bool) -> impl Strategy<Value = Adam> {
    (
        lr(),
        adam_betas(),
        eps(allow_zero_eps),
        weight_decay(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay)| {
                valid(Adam {
                    lr,
                    betas,
                    eps,
                    weight_decay,
                    amsgrad,
                    maximize,
                    decoupled_weight_decay,
                    ..Adam::ADAM
                })
            },
        )
}

/// `torch.optim.AdamW` settings (see [`adam`]).
pub fn adamw(allow_zero_eps: bool) -> impl Strategy<Value = AdamW> {
    (
        lr(),
        adam_betas(),
        eps(allow_zero_eps),
        weight_decay(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lr, betas, eps, weight_decay, amsgrad, maximize)| {
            valid(AdamW {
                lr,
                betas,
                eps,
                weight_decay,
                amsgrad,
                maximize,
                ..AdamW::DEFAULT
            })
        })
}

/// `torch.optim.RAdam` settings: L2 or decoupled decay (or none), `maximize`, Adam's β's (β₂ = 0:
/// never rectified; the first steps 1..=5 plus three updates cross the rectification threshold
/// at step 6; the large first steps are always rectified when ρ∞ > 5).
pub fn radam(allow_zero_eps: bool) -> impl Strategy<Value = RAdam> {
    (
        lr(),
        adam_betas(),
        eps(allow_zero_eps),
        weight_decay(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(lr, betas, eps, weight_decay, decoupled_weight_decay, maximize)| {
                valid(RAdam {
                    lr,
                    betas,
                    eps,
                    weight_decay,
                    decoupled_weight_decay,
                    maximize,
                    ..RAdam::DEFAULT
                })
            },
        )
}

/// `torch.optim.NAdam` settings: L2 or decoupled decay (or none), `maximize`, Adam's β's, and
/// momentum decays 0 (constant μ), torch's default and large ones.
pub fn nadam(allow_zero_eps: bool) -> impl Strategy<Value = NAdam> {
    (
        (lr(), adam_betas(), eps(allow_zero_eps), weight_decay()),
        prop_oneof![Just(4e-3), Just(0.0), Just(0.1), 0.0f64..0.5],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |((lr, betas, eps, weight_decay), momentum_decay, decoupled_weight_decay, maximize)| {
                valid(NAdam {
                    lr,
                    betas,
                    eps,
                    weight_decay,
                    momentum_decay,
                    decoupled_weight_decay,
                    maximize,
                    ..NAdam::DEFAULT
                })
            },
        )
}

/// `torch.optim.ASGD` settings: λ 0 (no decay factor) or not, α 0 (constant η) to 2, `t0` large
/// (ax copies θ), 0 or fractional (ax averages from the first steps), L2 decay, `maximize`.
pub fn asgd() -> impl Strategy<Value = Asgd> {
    (
        lr(),
        prop_oneof![Just(1e-4), Just(0.0), Just(1e-2), 0.0f64..0.1],
        prop_oneof![Just(0.75), Just(0.0), Just(1.0), 0.0f64..2.0],
        prop_oneof![Just(1e6), Just(0.0), Just(2.5), 0.0f64..10.0],
        weight_decay(),
        any::<bool>(),
    )
        .prop_map(|(lr, lambd, alpha, t0, weight_decay, maximize)| {
            valid(Asgd {
                lr,
                lambd,
                alpha,
                t0,
                weight_decay,
                maximize,
                ..Asgd::DEFAULT
            })
        })
}

/// `torch.optim.Rprop` settings: η's around torch's defaults, step-size bounds that clamp often
/// (including `step_sizes[0] > step_sizes[1]`), `maximize`.
pub fn rprop() -> impl Strategy<Value = Rprop> {
    (
        lr(),
        (
            prop_oneof![Just(0.5), 0.01f64..0.99],
            prop_oneof![Just(1.2), 1.01f64..3.0],
        ),
        (
            prop_oneof![Just(1e-6), Just(0.0), Just(1e-3), 0.0f64..0.1],
            prop_oneof![Just(50.0), Just(1.0), 1e-3f64..100.0],
        ),
        any::<bool>(),
    )
        .prop_map(|(lr, etas, step_sizes, maximize)| {
            valid(Rprop {
                lr,
                etas,
                step_sizes,
                maximize,
                ..Rprop::DEFAULT
            })
        })
}

/// `torch.optim.SparseAdam` settings: Adam's β's (β = 0 included), ε > 0, `maximize`.
pub fn sparse_adam() -> impl Strategy<Value = SparseAdam> {
    (lr(), adam_betas(), eps(false), any::<bool>()).prop_map(|(lr, betas, eps, maximize)| {
        valid(SparseAdam {
            lr,
            betas,
            eps,
            maximize,
        })
    })
}

/// lion-pytorch settings: β's including 0 and 1, weight decay 0 or not, `decoupled_weight_decay`
/// with a constructor lr between 1 and 10 times the current lr (a scheduler lowers lr).
pub fn lion() -> impl Strategy<Value = Lion> {
    (
        lr(),
        (
            prop_oneof![Just(0.9), Just(0.95), Just(0.0), Just(1.0), 0.0f64..=1.0],
            prop_oneof![Just(0.99), Just(0.98), Just(0.0), Just(1.0), 0.0f64..=1.0],
        ),
        prop_oneof![2 => Just(0.0), 1 => Just(0.1), 1 => 1e-3f64..1.0],
        any::<bool>(),
        prop_oneof![Just(1.0), 1.0f64..10.0],
    )
        .prop_map(|(lr, betas, weight_decay, decoupled_weight_decay, k)| {
            valid(Lion {
                lr,
                betas,
                weight_decay,
                decoupled_weight_decay,
                init_lr: lr * k,
                ..Lion::DEFAULT
            })
        })
}

/// Schedule-free settings shared by the classes: weight decay 0 or not, warmup, r and
/// weight_lr_power (which change the averaging weight `c`, and so the lerp branch taken).
fn schedule_free_common() -> impl Strategy<Value = (f64, f64, u64, f64, f64)> {
    (
        lr(),
        weight_decay(),
        prop_oneof![Just(0u64), 1u64..20],
        prop_oneof![Just(0.0), Just(0.5), 0.0f64..2.0],
        prop_oneof![Just(2.0), Just(0.0), 0.0f64..3.0],
    )
}

/// β (momentum / β₁) of the schedule-free classes: in (0, 1), on both sides of the lerp formula
/// switches at 0.5 and 2/3.
fn schedule_free_beta() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.9), Just(0.5), Just(0.6), 0.01f64..0.99]
}

/// `SGDScheduleFree` settings.
pub fn sgd_schedule_free() -> impl Strategy<Value = SgdScheduleFree> {
    (schedule_free_common(), schedule_free_beta()).prop_map(
        |((lr, weight_decay, warmup_steps, r, weight_lr_power), momentum)| {
            valid(SgdScheduleFree {
                lr,
                momentum,
                weight_decay,
                warmup_steps,
                r,
                weight_lr_power,
                ..SgdScheduleFree::DEFAULT
            })
        },
    )
}

/// `AdamWScheduleFree` settings.
pub fn adamw_schedule_free() -> impl Strategy<Value = AdamWScheduleFree> {
    (
        schedule_free_common(),
        schedule_free_beta(),
        adam_betas(),
        eps(true),
    )
        .prop_map(
            |((lr, weight_decay, warmup_steps, r, weight_lr_power), b1, (_, b2), eps)| {
                valid(AdamWScheduleFree {
                    lr,
                    betas: (b1, b2),
                    eps,
                    weight_decay,
                    warmup_steps,
                    r,
                    weight_lr_power,
                    ..AdamWScheduleFree::DEFAULT
                })
            },
        )
}

/// `AdamWScheduleFreeReference` settings (decay at y or z).
pub fn adamw_schedule_free_reference() -> impl Strategy<Value = AdamWScheduleFreeReference> {
    (adamw_schedule_free(), any::<bool>()).prop_map(|(a, decay_at_z)| {
        valid(AdamWScheduleFreeReference {
            lr: a.lr,
            betas: a.betas,
            eps: a.eps,
            weight_decay: a.weight_decay,
            warmup_steps: a.warmup_steps,
            r: a.r,
            weight_lr_power: a.weight_lr_power,
            decay_at_z,
            foreach: None,
        })
    })
}

/// `RAdamScheduleFree` settings: β₂ small enough that the rectified phase starts within a few
/// steps, with and without the silent SGD phase.
pub fn radam_schedule_free() -> impl Strategy<Value = RAdamScheduleFree> {
    (
        schedule_free_common(),
        schedule_free_beta(),
        prop_oneof![Just(0.999), Just(0.9), 0.5f64..0.99],
        any::<bool>(),
    )
        .prop_map(
            |((lr, weight_decay, _, r, weight_lr_power), b1, b2, silent_sgd_phase)| {
                valid(RAdamScheduleFree {
                    lr,
                    betas: (b1, b2),
                    weight_decay,
                    r,
                    weight_lr_power,
                    silent_sgd_phase,
                    ..RAdamScheduleFree::DEFAULT
                })
            },
        )
}

/// `ScheduleFreeWrapper` (or the reference form) around Adam/AdamW settings.
pub fn wrapper_adam() -> impl Strategy<Value = ScheduleFreeWrapper<Adam>> {
    (
        adam(true),
        schedule_free_beta(),
        weight_decay(),
        any::<bool>(),
    )
        .prop_map(|(base, momentum, weight_decay_at_y, reference)| {
            valid(ScheduleFreeWrapper {
                momentum,
                weight_decay_at_y,
                reference,
                ..ScheduleFreeWrapper::new(base)
            })
        })
}

/// `ScheduleFreeWrapper` (or the reference form) around SGD settings.
pub fn wrapper_sgd() -> impl Strategy<Value = ScheduleFreeWrapper<Sgd>> {
    (sgd(), schedule_free_beta(), weight_decay(), any::<bool>()).prop_map(
        |(base, momentum, weight_decay_at_y, reference)| {
            valid(ScheduleFreeWrapper {
                momentum,
                weight_decay_at_y,
                reference,
                ..ScheduleFreeWrapper::new(base)
            })
        },
    )
}

/// `torch.optim.RMSprop` settings: every combination of momentum (0 or not), `centered`,
/// `maximize` and weight decay 0 or not. α covers both lerp formulas of the centered average
/// (1 − α < 0.5 and ≥ 0.5) and α = 0 (v = g², ḡ = g: the centered variance is exactly 0).
/// With `any_alpha`, α also exceeds 1 (PyTorch accepts any α ≥ 0; then 1 − α < 0 and the
/// variance may go negative, giving NaN, which the SIMD-vs-scalar test must agree on); without
/// it α ∈ {0} ∪ [0.1, 1), where no cancellation in `v − ḡ²` exceeds the f32 error bound.
pub fn rmsprop(any_alpha: bool) -> impl Strategy<Value = RmsProp> {
    let alpha = if any_alpha {
        prop_oneof![Just(0.99), Just(0.0), Just(0.5), 0.0f64..1.0, 1.0f64..3.0].boxed()
    } else {
        prop_oneof![Just(0.99), Just(0.9), Just(0.0), Just(0.5), 0.1f64..1.0].boxed()
    };
    (
        lr(),
        alpha,
        eps(false),
        weight_decay(),
        prop_oneof![Just(0.0), Just(0.9), 0.01f64..0.99],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(lr, alpha, eps, weight_decay, momentum, centered, maximize)| {
                valid(RmsProp {
                    lr,
                    alpha,
                    eps,
                    weight_decay,
                    momentum,
                    centered,
                    maximize,
                    ..RmsProp::DEFAULT
                })
            },
        )
}

/// `torch.optim.Adagrad` settings: lr decay 0 or not, weight decay 0 or not, `maximize`, an
/// initial accumulator value 0 or not, ε from PyTorch's 1e-10 to 1e-3.
pub fn adagrad() -> impl Strategy<Value = Adagrad> {
    (
        lr(),
        prop_oneof![2 => Just(0.0), 1 => Just(0.1), 1 => 0.0f64..1.0],
        weight_decay(),
        prop_oneof![2 => Just(0.0), 1 => Just(0.1), 1 => 0.0f64..10.0],
        prop_oneof![Just(1e-10), Just(1e-8), 1e-10f64..1e-3],
        any::<bool>(),
    )
        .prop_map(
            |(lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize)| {
                valid(Adagrad {
                    lr,
                    lr_decay,
                    weight_decay,
                    initial_accumulator_value,
                    eps,
                    maximize,
                    ..Adagrad::DEFAULT
                })
            },
        )
}

/// `torch.optim.Adadelta` settings: ρ including 0 (v = g², a = δ²) and 1 (both frozen), weight
/// decay 0 or not, `maximize`, ε from 1e-8 to 1e-3 (PyTorch's default 1e-6).
pub fn adadelta() -> impl Strategy<Value = Adadelta> {
    (
        lr(),
        prop_oneof![Just(0.9), Just(0.0), Just(1.0), Just(0.5), 0.0f64..=1.0],
        prop_oneof![Just(1e-6), Just(1e-8), 1e-8f64..1e-3],
        weight_decay(),
        any::<bool>(),
    )
        .prop_map(|(lr, rho, eps, weight_decay, maximize)| {
            valid(Adadelta {
                lr,
                rho,
                eps,
                weight_decay,
                maximize,
                ..Adadelta::DEFAULT
            })
        })
}

/// `torch.optim.Adamax` settings: Adam's (β₁, β₂) (both lerp formulas, β₂ = 0), weight decay 0
/// or not, `maximize`. `eps = 0` only if `allow_zero_eps` (then `u` may be 0 and `m/u` NaN).
pub fn adamax(allow_zero_eps: bool) -> impl Strategy<Value = Adamax> {
    (
        lr(),
        adam_betas(),
        eps(allow_zero_eps),
        weight_decay(),
        any::<bool>(),
    )
        .prop_map(|(lr, betas, eps, weight_decay, maximize)| {
            valid(Adamax {
                lr,
                betas,
                eps,
                weight_decay,
                maximize,
                ..Adamax::DEFAULT
            })
        })
}

/// Which states a rule can reach, for tests that start from generated (arbitrary) state.
pub trait Reachable: Rule {
    /// Maps one element's generated state (by slot; unused slots are 0) to a state the rule can
    /// reach: e.g. Adam's second moments are non-negative.
    fn reachable(&self, _s: &mut [f64; 3]) {}
}

impl Reachable for Sgd {}
impl Reachable for Lion {}

impl Reachable for Adam {
    fn reachable(&self, s: &mut [f64; 3]) {
        (s[1], s[2]) = (s[1].abs(), s[2].abs());
    }
}

impl Reachable for AdamW {
    fn reachable(&self, s: &mut [f64; 3]) {
        self.to_adam().reachable(s);
    }
}

impl Reachable for RmsProp {
    /// `v ≥ 0`; centered, also `v ≥ ḡ²` (then `v' − ḡ'² ≥ α(v − ḡ²) ≥ 0` by convexity, for
    /// α ∈ [0, 1]), here with a margin of `ḡ²` so that rounding the state to bf16 keeps it.
    fn reachable(&self, s: &mut [f64; 3]) {
        s[0] = s[0].abs();
        if self.centered {
            let ga = s[if self.momentum > 0.0 { 2 } else { 1 }];
            s[0] += 2.0 * ga * ga;
        }
    }
}

impl Reachable for Adagrad {
    /// `sum ≥ 0`.
    fn reachable(&self, s: &mut [f64; 3]) {
        s[0] = s[0].abs();
    }
}

impl Reachable for Adadelta {
    /// `square_avg ≥ 0`, `acc_delta ≥ 0`.
    fn reachable(&self, s: &mut [f64; 3]) {
        (s[0], s[1]) = (s[0].abs(), s[1].abs());
    }
}

impl Reachable for Adamax {
    /// `exp_inf ≥ 0`.
    fn reachable(&self, s: &mut [f64; 3]) {
        s[1] = s[1].abs();
    }
}

impl Reachable for NAdam {
    /// `exp_avg_sq ≥ 0`.
    fn reachable(&self, s: &mut [f64; 3]) {
        s[1] = s[1].abs();
    }
}

/// Any `ax` is reachable.
impl Reachable for Asgd {}

impl Reachable for RAdam {
    /// `exp_avg_sq ≥ 0`.
    fn reachable(&self, s: &mut [f64; 3]) {
        s[1] = s[1].abs();
    }
}

/// Any `prev` and `step_size` (a negative or zero step size included: the clamp maps it).
impl Reachable for Rprop {}

impl Reachable for SparseAdam {
    /// `exp_avg_sq ≥ 0`.
    fn reachable(&self, s: &mut [f64; 3]) {
        s[1] = s[1].abs();
    }
}

/// Makes every element of a generated state (`rule.slots() × n`, slot-major) reachable.
pub fn make_reachable<R: Reachable, S: TestElement>(rule: &R, state: &mut [S], n: usize) {
    let slots = rule.slots();
    for i in 0..n {
        let mut s: [f64; 3] = core::array::from_fn(|k| {
            if k < slots {
                state[k * n + i].as_f64()
            } else {
                0.0
            }
        });
        rule.reachable(&mut s);
        for (k, x) in s.iter().enumerate().take(slots) {
            state[k * n + i] = S::of_f64(*x);
        }
    }
}

/// Every generated configuration is one the builder would accept.
fn valid<R: Rule>(rule: R) -> R {
    assert_eq!(rule.validate(), Ok(()), "generated an invalid {rule:?}");
    rule
}

/// One test case: a rule, the step number of its first update, parameters, one gradient per
/// update and the state (`rule.slots() × n` elements).
#[derive(Clone, Debug)]
pub struct Case<R, P, S> {
    pub rule: R,
    pub step: u64,
    pub p: Vec<P>,
    pub grads: Vec<Vec<P>>,
    pub state: Vec<S>,
}

impl<R: Rule, P, S> Case<R, P, S> {
    /// The step number of update `k` (0-based) of this case.
    pub fn step_of(&self, k: usize) -> u64 {
        self.step.saturating_add(k as u64)
    }
}

/// Cases of `updates` consecutive updates with `rule`; parameters and gradients of kind
/// `values`, state of kind `state_values`.
pub fn case<R, P, S>(
    rule: impl Strategy<Value = R>,
    updates: usize,
    values: Values,
    state_values: Values,
) -> impl Strategy<Value = Case<R, P, S>>
where
    R: Rule,
    P: TestElement,
    S: TestElement,
{
    (rule, len(), first_step())
        .prop_flat_map(move |(rule, n, step)| {
            let k = rule.slots();
            (
                Just(rule),
                Just(step),
                self::values::<P>(values, n),
                prop::collection::vec(self::values::<P>(values, n), updates),
                self::values::<S>(state_values, k * n),
            )
        })
        .prop_map(|(rule, step, p, grads, state)| Case {
            rule,
            step,
            p,
            grads,
            state,
        })
}
