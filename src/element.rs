//! Element types of parameters, gradients and optimizer state.
//!
//! | element | computes in | default state (`Element::DefaultState`) |
//! |---|---|---|
//! | `f64` | f64 | f64 |
//! | `f32` | f32 | f32 |
//! | `half::bf16` | f32 | f32 |
//! | `half::f16` | f32 | f32 |
//!
//! Half-precision values are widened to f32 in registers as they are loaded, the rule runs in
//! f32, and each result is rounded once (round to nearest, ties to even) when it is stored.
//! State may use any element with the same compute type: f32 parameters with `bf16` state halve the
//! state memory, at the cost of rounding the state once per step.

use crate::lanes::{Lanes, Real};
use core::fmt::Debug;
use half::{bf16, f16};

/// Number of elements the driver takes per block (and pads the last partial block to).
pub const BLOCK: usize = 64;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A storage type for parameters, gradients or state: `f64`, `f32`, `half::f16`, `half::bf16`.
///
/// Sealed: the drivers rely on the exact conversion semantics documented on each method.
pub trait Element:
    sealed::Sealed + Copy + Default + Debug + PartialEq + Send + Sync + 'static
{
    /// The type the update is computed in: `f64` for `f64`, `f32` for everything else.
    type Compute: Real;
    /// The state type an optimizer uses for parameters of this type unless told otherwise.
    type DefaultState: Element<Compute = Self::Compute>;
    /// Name used by configs and the replay format (`"f32"`, `"bf16"`, ...).
    const NAME: &'static str;
    /// Machine epsilon of this storage type (`torch.finfo(dtype).eps`): the gap between 1 and the
    /// next representable value.
    const EPSILON: f64;
    /// Exact widening to the compute type.
    fn to_compute(self) -> Self::Compute;
    /// Rounds a compute value to this type (round to nearest, ties to even).
    fn from_compute(x: Self::Compute) -> Self;
    /// Rounds an f64 to this type (for `bf16` and `f16` through f32, as PyTorch converts Python
    /// floats). Per-step scalars are rounded this way once, as PyTorch passes Python floats to
    /// f32 kernels.
    fn from_f64(x: f64) -> Self;
    /// Widens to f64 exactly.
    fn to_f64(self) -> f64;
    /// Loads the first `V::WIDTH` values of `src`, widened exactly to the compute type (in
    /// registers: no staging buffer).
    #[doc(hidden)]
    fn load<V: Lanes<Scalar = Self::Compute>>(src: &[Self]) -> V;
    /// Stores `v` into the first `V::WIDTH` values of `dst`, each rounded once to `Self` (round
    /// to nearest, ties to even; NaN stays NaN).
    #[doc(hidden)]
    fn store<V: Lanes<Scalar = Self::Compute>>(v: V, dst: &mut [Self]);
}

macro_rules! direct {
    ($t:ty, $name:literal) => {
        impl Element for $t {
            type Compute = $t;
            type DefaultState = $t;
            const NAME: &'static str = $name;
            const EPSILON: f64 = <$t>::EPSILON as f64;
            #[inline(always)]
            fn to_compute(self) -> $t {
                self
            }
            #[inline(always)]
            fn from_compute(x: $t) -> Self {
                x
            }
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn load<V: Lanes<Scalar = $t>>(src: &[$t]) -> V {
                V::load(src)
            }
            #[inline(always)]
            fn store<V: Lanes<Scalar = $t>>(v: V, dst: &mut [$t]) {
                v.store(dst)
            }
        }
    };
}
direct!(f32, "f32");
direct!(f64, "f64");

macro_rules! half_element {
    ($t:ty, $name:literal, $load:ident, $store:ident) => {
        impl Element for $t {
            type Compute = f32;
            type DefaultState = f32;
            const NAME: &'static str = $name;
            const EPSILON: f64 = <$t>::EPSILON.to_f64_const();
            #[inline(always)]
            fn to_compute(self) -> f32 {
                <f32 as Lanes>::$load(&[self])
            }
            #[inline(always)]
            fn from_compute(x: f32) -> Self {
                let mut d = [<$t>::ZERO];
                x.$store(&mut d);
                d[0]
            }
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                Self::from_compute(x as f32)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self.to_compute() as f64
            }
            #[inline(always)]
            fn load<V: Lanes<Scalar = f32>>(src: &[$t]) -> V {
                V::$load(src)
            }
            #[inline(always)]
            fn store<V: Lanes<Scalar = f32>>(v: V, dst: &mut [$t]) {
                v.$store(dst)
            }
        }
    };
}
half_element!(bf16, "bf16", load_bf16, store_bf16);
half_element!(f16, "f16", load_f16, store_f16);

/// bf16 → f32 is exact: the bf16 bits are the top half of the f32's.
#[inline(always)]
pub(crate) fn bf16_to_f32(x: bf16) -> f32 {
    f32::from_bits((x.to_bits() as u32) << 16)
}

/// f32 → bf16, round to nearest, ties to even, as `half::bf16::from_f32` for every non-NaN
/// value. NaN becomes the NaN `0xFFFF` (what PyTorch's vectorised CPU conversion produces; `half`
/// instead keeps the payload): with an all-ones mask instead of a select, the conversion is a
/// handful of integer ops that vectorise even on SSE2 (`cmpunordps`, `psrad`, `packssdw`).
#[inline(always)]
pub(crate) fn f32_to_bf16(x: f32) -> bf16 {
    let b = x.to_bits() as i32;
    let rounded = b.wrapping_add(0x7FFF + ((b >> 16) & 1));
    let nan_mask = -(x.is_nan() as i32); // all ones for NaN
    bf16::from_bits(((rounded | nan_mask) >> 16) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_matches_half_on_every_high_half_and_edge_low_half() {
        // Every non-NaN value rounds as `half` does; NaN stays NaN.
        let lows = [
            0u32, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x1234, 0xC000, 0x4000,
        ];
        for hi in 0..=0xFFFFu32 {
            for lo in lows {
                let x = f32::from_bits(hi << 16 | lo);
                let b = bf16::from_bits(hi as u16);
                if b.is_nan() {
                    // `half` quiets signalling NaNs when widening; we keep the bits (both NaN).
                    assert!(bf16_to_f32(b).is_nan());
                } else {
                    assert_eq!(bf16_to_f32(b).to_bits(), b.to_f32().to_bits());
                }
                if x.is_nan() {
                    assert!(f32_to_bf16(x).is_nan());
                    continue;
                }
                assert_eq!(
                    f32_to_bf16(x).to_bits(),
                    bf16::from_f32(x).to_bits(),
                    "{:#010x}",
                    hi << 16 | lo
                );
            }
        }
    }
}
