//! The one switch between `std` and `libm` for scalar math.
//!
//! Nothing else in the crate names `std::` float methods or `libm::`: a `no_std` build that forgets a
//! backend fails here, once, instead of with E0034 ambiguities all over the kernel layer.

/// Correctly rounded square root of an `f32` (IEEE 754 `squareRoot`).
#[inline(always)]
pub(crate) fn sqrt_f32(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// Correctly rounded square root of an `f64`.
#[inline(always)]
pub(crate) fn sqrt_f64(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrt(x)
    }
}

/// `base^exp` in f64 for an integer exponent, as Python's `float ** int` computes it (`pow`).
///
/// Python evaluates `beta1 ** step` with C `pow`, which is correctly rounded in glibc for these
/// arguments; `powi` (repeated multiplication) is not, so the per-step scalars use `powf`.
#[inline]
pub(crate) fn pow_f64(base: f64, exp: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        base.powf(exp)
    }
    #[cfg(not(feature = "std"))]
    {
        libm::pow(base, exp)
    }
}
