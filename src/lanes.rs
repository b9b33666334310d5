//! The lane abstraction: the only arithmetic a rule body may use.
//!
//! A rule's update is written once, as a function generic over [`Lanes`]. It runs with
//! `V = wide::f32x8` / `wide::f64x4` on full vectors and with `V = f32` / `f64` on the scalar path,
//! and both give the same bits (for every non-NaN result; a NaN is NaN on both paths, but Rust
//! does not specify which payload an operation on two NaNs keeps): every operation here is IEEE
//! 754 exact per lane (`+ − × ÷ √`,
//! comparisons and selects). There is no fused multiply-add, no approximate reciprocal and no
//! `fast_max`.

use core::fmt::Debug;
use core::ops::{Add, Div, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for wide::f32x8 {}
    impl Sealed for wide::f64x4 {}
}

/// A vector of `WIDTH` compute values (or one scalar) with IEEE-exact lane-wise arithmetic.
///
/// Sealed: implemented for `f32`, `f64`, `wide::f32x8` and `wide::f64x4`.
pub trait Lanes:
    sealed::Sealed
    + Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The scalar compute type of one lane.
    type Scalar: Real;
    /// Number of lanes.
    const WIDTH: usize;
    /// All lanes set to `x`.
    fn splat(x: Self::Scalar) -> Self;
    /// Loads the first `WIDTH` values of `src`.
    ///
    /// # Panics
    /// If `src` is shorter than `WIDTH` (never in this crate's drivers, which pass fixed blocks).
    fn load(src: &[Self::Scalar]) -> Self;
    /// Stores the lanes into the first `WIDTH` values of `dst`.
    ///
    /// # Panics
    /// If `dst` is shorter than `WIDTH`.
    fn store(self, dst: &mut [Self::Scalar]);
    /// Correctly rounded square root, never an approximate `rsqrt`.
    ///
    /// Not named `sqrt`: that name is ambiguous with `num_traits::Float::sqrt` in `no_std` (E0034).
    fn root(self) -> Self;
    /// Loads the first `WIDTH` bf16 values of `src`, widened exactly.
    fn load_bf16(src: &[half::bf16]) -> Self;
    /// Stores the lanes as bf16 (round to nearest, ties to even) into the first `WIDTH` values.
    fn store_bf16(self, dst: &mut [half::bf16]);
    /// Loads the first `WIDTH` f16 values of `src`, widened exactly.
    fn load_f16(src: &[half::f16]) -> Self;
    /// Stores the lanes as f16 (round to nearest, ties to even) into the first `WIDTH` values.
    fn store_f16(self, dst: &mut [half::f16]);
    /// `torch.maximum`: the larger value, NaN if either lane is NaN.
    fn max_nan(self, other: Self) -> Self;
    /// `torch.sign`: `1` for positive, `-1` for negative, `+0` for `±0` **and for NaN**.
    ///
    /// Not `signum`: Rust's and wide's `signum(±0)` is `±1`.
    fn sign(self) -> Self;
    /// `torch.abs`: the sign bit cleared (exact; `|−0| = +0`, NaN stays NaN).
    ///
    /// Not named `abs`: that name is ambiguous with `num_traits::Float::abs` on [`Real`] (E0034).
    fn magnitude(self) -> Self;
    /// `torch.where(self > other, then, otherwise)` lane by lane (false where either is NaN).
    fn if_gt(self, other: Self, then: Self, otherwise: Self) -> Self;
    /// `torch.where(self < other, then, otherwise)` lane by lane (false where either is NaN).
    fn if_lt(self, other: Self, then: Self, otherwise: Self) -> Self;
    /// `torch.where(self == other, then, otherwise)` lane by lane (IEEE equality: `−0 == +0`,
    /// NaN equals nothing).
    fn if_eq(self, other: Self, then: Self, otherwise: Self) -> Self;
}

/// A scalar compute type: `f32` or `f64`. Sealed.
pub trait Real:
    Lanes<Scalar = Self>
    + crate::element::Element<Compute = Self>
    + num_traits::Float
    + Default
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The SIMD vector used for full blocks (`wide::f32x8`, `wide::f64x4`), or `Self` on targets
    /// without SIMD and under the `force-scalar` feature.
    type Vector: Lanes<Scalar = Self>;
}

/// Exact widening from and correctly rounded narrowing to the half types, per compute type.
trait HalfConv: Sized + Copy {
    fn from_bf16(x: half::bf16) -> Self;
    fn to_bf16(self) -> half::bf16;
    fn f16_slice_to(src: &[half::f16], dst: &mut [Self]);
    fn f16_slice_from(src: &[Self], dst: &mut [half::f16]);
}

impl HalfConv for f32 {
    #[inline(always)]
    fn from_bf16(x: half::bf16) -> Self {
        crate::element::bf16_to_f32(x)
    }
    #[inline(always)]
    fn to_bf16(self) -> half::bf16 {
        crate::element::f32_to_bf16(self)
    }
    #[inline(always)]
    fn f16_slice_to(src: &[half::f16], dst: &mut [Self]) {
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst);
    }
    #[inline(always)]
    fn f16_slice_from(src: &[Self], dst: &mut [half::f16]) {
        half::slice::HalfFloatSliceExt::convert_from_f32_slice(dst, src);
    }
}

impl HalfConv for f64 {
    #[inline(always)]
    fn from_bf16(x: half::bf16) -> Self {
        x.to_f64()
    }
    #[inline(always)]
    fn to_bf16(self) -> half::bf16 {
        half::bf16::from_f64(self)
    }
    #[inline(always)]
    fn f16_slice_to(src: &[half::f16], dst: &mut [Self]) {
        half::slice::HalfFloatSliceExt::convert_to_f64_slice(src, dst);
    }
    #[inline(always)]
    fn f16_slice_from(src: &[Self], dst: &mut [half::f16]) {
        half::slice::HalfFloatSliceExt::convert_from_f64_slice(dst, src);
    }
}

macro_rules! scalar_lanes {
    ($t:ty, $sqrt:path) => {
        impl Lanes for $t {
            type Scalar = $t;
            const WIDTH: usize = 1;
            #[inline(always)]
            fn splat(x: $t) -> Self {
                x
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                src[0]
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                dst[0] = self;
            }
            #[inline(always)]
            fn root(self) -> Self {
                $sqrt(self)
            }
            #[inline(always)]
            fn load_bf16(src: &[half::bf16]) -> Self {
                HalfConv::from_bf16(src[0])
            }
            #[inline(always)]
            fn store_bf16(self, dst: &mut [half::bf16]) {
                dst[0] = HalfConv::to_bf16(self);
            }
            #[inline(always)]
            fn load_f16(src: &[half::f16]) -> Self {
                let mut a = [0.0];
                <$t as HalfConv>::f16_slice_to(&src[..1], &mut a);
                a[0]
            }
            #[inline(always)]
            fn store_f16(self, dst: &mut [half::f16]) {
                <$t as HalfConv>::f16_slice_from(&[self], &mut dst[..1]);
            }
            #[inline(always)]
            fn max_nan(self, other: Self) -> Self {
                if self.is_nan() || self > other {
                    self
                } else {
                    other
                }
            }
            #[inline(always)]
            fn sign(self) -> Self {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            #[inline(always)]
            fn magnitude(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn if_gt(self, other: Self, then: Self, otherwise: Self) -> Self {
                if self > other { then } else { otherwise }
            }
            #[inline(always)]
            fn if_lt(self, other: Self, then: Self, otherwise: Self) -> Self {
                if self < other { then } else { otherwise }
            }
            #[inline(always)]
            fn if_eq(self, other: Self, then: Self, otherwise: Self) -> Self {
                if self == other { then } else { otherwise }
            }
        }
    };
}
scalar_lanes!(f32, crate::math::sqrt_f32);
scalar_lanes!(f64, crate::math::sqrt_f64);

macro_rules! wide_lanes {
    ($v:ty, $t:ty, $n:literal) => {
        impl Lanes for $v {
            type Scalar = $t;
            const WIDTH: usize = $n;
            #[inline(always)]
            fn splat(x: $t) -> Self {
                <$v>::splat(x)
            }
            #[inline(always)]
            fn load(src: &[$t]) -> Self {
                let mut a = [0.0; $n];
                a.copy_from_slice(&src[..$n]);
                <$v>::new(a)
            }
            #[inline(always)]
            fn store(self, dst: &mut [$t]) {
                dst[..$n].copy_from_slice(&self.to_array());
            }
            #[inline(always)]
            fn root(self) -> Self {
                self.sqrt()
            }
            #[inline(always)]
            fn load_bf16(src: &[half::bf16]) -> Self {
                let src = &src[..$n];
                <$v>::new(core::array::from_fn(|i| {
                    <$t as HalfConv>::from_bf16(src[i])
                }))
            }
            #[inline(always)]
            fn store_bf16(self, dst: &mut [half::bf16]) {
                for (d, x) in dst[..$n].iter_mut().zip(self.to_array()) {
                    *d = HalfConv::to_bf16(x);
                }
            }
            #[inline(always)]
            fn load_f16(src: &[half::f16]) -> Self {
                let mut a = [0.0; $n];
                <$t as HalfConv>::f16_slice_to(&src[..$n], &mut a);
                <$v>::new(a)
            }
            #[inline(always)]
            fn store_f16(self, dst: &mut [half::f16]) {
                <$t as HalfConv>::f16_slice_from(&self.to_array(), &mut dst[..$n]);
            }
            #[inline(always)]
            fn max_nan(self, other: Self) -> Self {
                (self.is_nan() | self.simd_gt(other)).select(self, other)
            }
            #[inline(always)]
            fn sign(self) -> Self {
                // The two masks are disjoint (and both clear for ±0 and NaN), so AND/OR selects.
                let zero = <$v>::splat(0.0);
                (self.simd_gt(zero) & <$v>::splat(1.0)) | (self.simd_lt(zero) & <$v>::splat(-1.0))
            }
            #[inline(always)]
            fn magnitude(self) -> Self {
                <$v>::abs(self)
            }
            #[inline(always)]
            fn if_gt(self, other: Self, then: Self, otherwise: Self) -> Self {
                self.simd_gt(other).select(then, otherwise)
            }
            #[inline(always)]
            fn if_lt(self, other: Self, then: Self, otherwise: Self) -> Self {
                self.simd_lt(other).select(then, otherwise)
            }
            #[inline(always)]
            fn if_eq(self, other: Self, then: Self, otherwise: Self) -> Self {
                self.simd_eq(other).select(then, otherwise)
            }
        }
    };
}
wide_lanes!(wide::f32x8, f32, 8);
wide_lanes!(wide::f64x4, f64, 4);

/// Whether this build runs full blocks through `wide` vectors (false on targets without SIMD and
/// under the `force-scalar` feature).
pub const SIMD: bool = cfg!(all(
    not(feature = "force-scalar"),
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )
));

#[cfg(all(
    not(feature = "force-scalar"),
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )
))]
mod vectors {
    // 256-bit vectors everywhere: on SSE2/NEON `wide` runs them as two 128-bit halves, which
    // measured faster than plain 128-bit vectors (more independent work per iteration).
    pub type V32 = wide::f32x8;
    pub type V64 = wide::f64x4;
}
#[cfg(not(all(
    not(feature = "force-scalar"),
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )
)))]
mod vectors {
    pub type V32 = f32;
    pub type V64 = f64;
}

impl Real for f32 {
    type Vector = vectors::V32;
}

impl Real for f64 {
    type Vector = vectors::V64;
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIAL: [f32; 8] = [
        f32::NAN,
        -0.0,
        0.0,
        2.5,
        -3.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-45,
    ];

    #[test]
    fn sign_is_torch_sign_on_every_lane_type() {
        // torch.sign: 1, -1, and +0 for ±0 and NaN (measured with torch 2.15).
        let expected: [f32; 8] = [0.0, 0.0, 0.0, 1.0, -1.0, 1.0, -1.0, 1.0];
        let wide = wide::f32x8::new(SPECIAL).sign().to_array();
        for i in 0..8 {
            assert_eq!(
                SPECIAL[i].sign().to_bits(),
                expected[i].to_bits(),
                "scalar {}",
                SPECIAL[i]
            );
            assert_eq!(
                wide[i].to_bits(),
                expected[i].to_bits(),
                "f32x8 {}",
                SPECIAL[i]
            );
            let d = SPECIAL[i] as f64;
            assert_eq!(
                d.sign().to_bits(),
                (expected[i] as f64).to_bits(),
                "f64 {d}"
            );
        }
        let w64 = wide::f64x4::new([f64::NAN, -0.0, 7.0, -1e-300])
            .sign()
            .to_array();
        assert_eq!(
            w64.map(f64::to_bits),
            [0.0, 0.0, 1.0, -1.0f64].map(f64::to_bits)
        );
    }

    #[test]
    fn magnitude_clears_the_sign_bit_on_every_lane_type() {
        let wide = wide::f32x8::new(SPECIAL).magnitude().to_array();
        for i in 0..8 {
            let want = f32::from_bits(SPECIAL[i].to_bits() & 0x7FFF_FFFF);
            assert_eq!(
                SPECIAL[i].magnitude().to_bits(),
                want.to_bits(),
                "scalar {}",
                SPECIAL[i]
            );
            assert_eq!(wide[i].to_bits(), want.to_bits(), "f32x8 {}", SPECIAL[i]);
        }
        let x = [f64::NAN, -0.0, -7.0, -1e-300];
        let w64 = wide::f64x4::new(x).magnitude().to_array();
        for i in 0..4 {
            let want = f64::from_bits(x[i].to_bits() & !(1 << 63));
            assert_eq!(x[i].magnitude().to_bits(), want.to_bits());
            assert_eq!(w64[i].to_bits(), want.to_bits());
        }
    }

    #[test]
    fn comparisons_select_as_torch_where_on_every_lane_type() {
        // Against 0: NaN compares false everywhere, −0 == +0.
        let zero = wide::f32x8::splat(0.0);
        let (t, f) = (wide::f32x8::splat(1.0), wide::f32x8::splat(2.0));
        let x = wide::f32x8::new(SPECIAL);
        let gt = x.if_gt(zero, t, f).to_array();
        let lt = x.if_lt(zero, t, f).to_array();
        let eq = x.if_eq(zero, t, f).to_array();
        for i in 0..8 {
            let s = SPECIAL[i];
            let want = |c: bool| if c { 1.0f32 } else { 2.0 };
            assert_eq!(gt[i], want(s > 0.0), "f32x8 gt {s}");
            assert_eq!(lt[i], want(s < 0.0), "f32x8 lt {s}");
            assert_eq!(eq[i], want(s == 0.0), "f32x8 eq {s}");
            assert_eq!(s.if_gt(0.0, 1.0, 2.0), want(s > 0.0), "f32 gt {s}");
            assert_eq!(s.if_lt(0.0, 1.0, 2.0), want(s < 0.0), "f32 lt {s}");
            assert_eq!(s.if_eq(0.0, 1.0, 2.0), want(s == 0.0), "f32 eq {s}");
        }
        let y = [f64::NAN, -0.0, 0.5, -7.0];
        let w = wide::f64x4::new(y);
        let (t, f) = (wide::f64x4::splat(1.0), wide::f64x4::splat(2.0));
        let at = wide::f64x4::splat(0.5);
        let (gt, lt, eq) = (
            w.if_gt(at, t, f).to_array(),
            w.if_lt(at, t, f).to_array(),
            w.if_eq(at, t, f).to_array(),
        );
        for i in 0..4 {
            let want = |c: bool| if c { 1.0f64 } else { 2.0 };
            assert_eq!(gt[i], want(y[i] > 0.5));
            assert_eq!(lt[i], want(y[i] < 0.5));
            assert_eq!(eq[i], want(y[i] == 0.5));
            assert_eq!(y[i].if_gt(0.5, 1.0, 2.0), gt[i]);
            assert_eq!(y[i].if_lt(0.5, 1.0, 2.0), lt[i]);
            assert_eq!(y[i].if_eq(0.5, 1.0, 2.0), eq[i]);
        }
    }

    #[test]
    fn max_nan_is_torch_maximum_on_every_lane_type() {
        let other = [1.0f32, 1.0, -1.0, f32::NAN, 0.0, 0.0, 5.0, 0.0];
        let wide = wide::f32x8::new(SPECIAL)
            .max_nan(wide::f32x8::new(other))
            .to_array();
        for i in 0..8 {
            let s = SPECIAL[i].max_nan(other[i]);
            if SPECIAL[i].is_nan() || other[i].is_nan() {
                assert!(s.is_nan() && wide[i].is_nan(), "NaN must propagate at {i}");
            } else {
                assert_eq!(s, SPECIAL[i].max(other[i]));
                assert_eq!(wide[i].to_bits(), s.to_bits());
            }
        }
    }

    #[test]
    fn half_loads_and_stores_agree_between_lane_types() {
        let src: [half::bf16; 8] = SPECIAL.map(half::bf16::from_f32);
        let w = wide::f32x8::load_bf16(&src).to_array();
        let mut back = [half::bf16::ZERO; 8];
        wide::f32x8::new(SPECIAL).store_bf16(&mut back);
        let hsrc: [half::f16; 8] = SPECIAL.map(half::f16::from_f32);
        let hw = wide::f32x8::load_f16(&hsrc).to_array();
        let mut hback = [half::f16::ZERO; 8];
        wide::f32x8::new(SPECIAL).store_f16(&mut hback);
        for i in 0..8 {
            assert_eq!(w[i].to_bits(), f32::load_bf16(&src[i..]).to_bits());
            if SPECIAL[i].is_nan() {
                // NaN stores as the NaN 0xFFFF (`half` keeps the payload instead).
                assert_eq!(back[i].to_bits(), 0xFFFF);
            } else {
                assert_eq!(
                    back[i].to_bits(),
                    half::bf16::from_f32(SPECIAL[i]).to_bits()
                );
            }
            assert_eq!(hw[i].to_bits(), f32::load_f16(&hsrc[i..]).to_bits());
            assert_eq!(
                hback[i].to_bits(),
                half::f16::from_f32(SPECIAL[i]).to_bits()
            );
        }
    }
}
