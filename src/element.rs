//! Element types of parameters, gradients and optimizer state.
//!
//! | element | computes in | default state (`Element::DefaultState`) |
//! |---|---|---|
//! | `f64` | f64 | f64 |
//! | `f32` | f32 | f32 |
//! | `half::bf16` | f32 | f32 |
//! | `half::f16` | f32 | f32 |
//!
//! Half-precision values are widened to f32 in small stack blocks ([`BLOCK`] elements), the rule
//! runs in f32, and each result is rounded once (round to nearest, ties to even) when it is stored.
//! State may use any element with the same compute type: f32 parameters with `bf16` state halve the
//! state memory, at the cost of rounding the state once per step.

use crate::lanes::Real;
use core::fmt::Debug;
use half::{bf16, f16};

/// Number of elements a driver stages at once (stack blocks for half precision and for the tail).
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
    /// Exact widening to the compute type.
    fn to_compute(self) -> Self::Compute;
    /// Rounds a compute value to this type (round to nearest, ties to even).
    fn from_compute(x: Self::Compute) -> Self;
    /// A compute-typed view of `block`: the block itself when `Self` is the compute type, else
    /// `buf` after widening `block` into it.
    #[doc(hidden)]
    fn stage_mut<'a>(
        block: &'a mut [Self; BLOCK],
        buf: &'a mut [Self::Compute; BLOCK],
    ) -> &'a mut [Self::Compute; BLOCK];
    /// Read-only form of [`Element::stage_mut`].
    #[doc(hidden)]
    fn stage<'a>(
        block: &'a [Self; BLOCK],
        buf: &'a mut [Self::Compute; BLOCK],
    ) -> &'a [Self::Compute; BLOCK];
    /// Writes a staged block back: a no-op when `Self` is the compute type, else one rounding per value.
    #[doc(hidden)]
    fn unstage(block: &mut [Self; BLOCK], buf: &[Self::Compute; BLOCK]);
}

macro_rules! direct {
    ($t:ty, $name:literal) => {
        impl Element for $t {
            type Compute = $t;
            type DefaultState = $t;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn to_compute(self) -> $t {
                self
            }
            #[inline(always)]
            fn from_compute(x: $t) -> Self {
                x
            }
            #[inline(always)]
            fn stage_mut<'a>(
                block: &'a mut [$t; BLOCK],
                _buf: &'a mut [$t; BLOCK],
            ) -> &'a mut [$t; BLOCK] {
                block
            }
            #[inline(always)]
            fn stage<'a>(block: &'a [$t; BLOCK], _buf: &'a mut [$t; BLOCK]) -> &'a [$t; BLOCK] {
                block
            }
            #[inline(always)]
            fn unstage(_block: &mut [$t; BLOCK], _buf: &[$t; BLOCK]) {}
        }
    };
}
direct!(f32, "f32");
direct!(f64, "f64");

macro_rules! half_element {
    ($t:ty, $name:literal) => {
        impl Element for $t {
            type Compute = f32;
            type DefaultState = f32;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn to_compute(self) -> f32 {
                self.to_f32()
            }
            #[inline(always)]
            fn from_compute(x: f32) -> Self {
                <$t>::from_f32(x)
            }
            #[inline(always)]
            fn stage_mut<'a>(
                block: &'a mut [$t; BLOCK],
                buf: &'a mut [f32; BLOCK],
            ) -> &'a mut [f32; BLOCK] {
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(&block[..], &mut buf[..]);
                buf
            }
            #[inline(always)]
            fn stage<'a>(block: &'a [$t; BLOCK], buf: &'a mut [f32; BLOCK]) -> &'a [f32; BLOCK] {
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(&block[..], &mut buf[..]);
                buf
            }
            #[inline(always)]
            fn unstage(block: &mut [$t; BLOCK], buf: &[f32; BLOCK]) {
                half::slice::HalfFloatSliceExt::convert_from_f32_slice(&mut block[..], &buf[..]);
            }
        }
    };
}
half_element!(f16, "f16");
half_element!(bf16, "bf16");
