//! Crate-internal tests of the kernel layer (`cargo test --lib`).
//!
//! - [`simd_vs_scalar`]: the SIMD and scalar lane paths give identical bits for every rule,
//!   element type and length, NaN and infinity included.
//! - [`vs_reference`]: the kernels against naive f64 loops ([`reference`]) written from the rule
//!   docs and PyTorch's / lion-pytorch's source, within the error bounds of [`tolerance`].
//! - [`invariants`]: properties that need no reference (lr = 0, zero gradient, v ≥ 0, Lion's step
//!   size, fused == composed, state a configuration must not read, state sizes).
//!
//! [`strategies`] holds the proptest strategies they share. The exhaustive f16/bf16 tests are an
//! integration test (`tests/half_exhaustive.rs`): they use only the public API.

mod invariants;
mod reference;
mod shaped;
mod simd_vs_scalar;
mod strategies;
mod tolerance;
mod vs_reference;
