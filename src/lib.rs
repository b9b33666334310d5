//! # optim-kernels
//!
//! Deep-learning optimizers as allocation-free, `no_std`-capable, SIMD kernels, with the config
//! keys, defaults and arithmetic of the Python references (torch.optim, lion-pytorch, ...).
//!
//! ```
//! use optim_kernels::{build_optimizer, Config, ParamGroup};
//!
//! // Python: build_optimizer(param_groups, {"name": "AdamW", "lr": 1e-3, "betas": [0.9, 0.999]})
//! let config = Config::new("AdamW").set("lr", 1e-3).set("betas", (0.9, 0.999));
//! let groups = [
//!     ParamGroup::new([[64, 32]]).set("lr", 1e-4),           // first layer: lower lr
//!     ParamGroup::new([vec![32], vec![10, 64]]).set("weight_decay", 0.0),
//! ];
//! let mut opt = build_optimizer::<f32>(&groups, &config)?;
//!
//! let mut params = vec![vec![0.1f32; 64 * 32], vec![0.0; 32], vec![0.1; 640]];
//! let grads = vec![Some(vec![0.01f32; 64 * 32]), None, Some(vec![-0.01; 640])]; // None: no grad
//! opt.step(&mut params, &grads)?;        // allocates nothing
//! assert_eq!(opt.tensor_step(1), Some(0)); // a tensor without a gradient does not advance
//! # Ok::<(), optim_kernels::Error>(())
//! ```
//!
//! ## Layers
//!
//! - [`rules`] (`no_std`, no `alloc`): one hyperparameter struct per rule ([`rules::Sgd`],
//!   [`rules::Adam`], [`rules::AdamW`], [`rules::RmsProp`], [`rules::Adagrad`],
//!   [`rules::Adadelta`], [`rules::Adamax`], [`rules::Lion`]) whose [`rules::Rule::step`] updates
//!   one tensor in place, with state in a caller-provided slice sized by a `const fn state_len`.
//!   [`rules::Lbfgs`] (`torch.optim.LBFGS`) is closure-driven: one step re-evaluates the loss and
//!   gradients through a closure over all tensors, with its history in one caller-provided buffer.
//! - The optimizer layer (`alloc`): [`build_optimizer`], [`Config`], [`ParamGroup`] and the
//!   [`Optimizer`] enum: parameter groups with per-group overrides, state allocated once.
//!
//! ## Element types
//!
//! Parameters and gradients are `f64`, `f32`, [`half::f16`] or [`half::bf16`] ([`Element`]).
//! `f64` computes in f64, the others in f32; half-precision values are widened in stack blocks
//! and rounded once on store. State defaults to `f32` for half-precision parameters and to the
//! parameter type otherwise; [`Optimizer::build`] takes any state type with the same compute type.
//!
//! ## Feature flags
//!
//! - `std` (default): std math backend; implies `alloc`.
//! - `alloc`: the optimizer layer (builder, groups, owned state).
//! - `libm`: math backend for `no_std` targets. One of `std` or `libm` is required.
//! - `serde`: `Deserialize`/`Serialize` for [`Config`], [`Value`], [`TensorSpec`].
//! - `rayon`: large tensors are updated in chunks on rayon's thread pool, with the single-thread
//!   result bit for bit (steps then allocate inside rayon's scheduler).
//! - `force-scalar`: every element type takes the scalar lane path (for testing the fallback).
//!
//! ## Numerics and determinism
//!
//! Rule bodies use only IEEE-exact lane operations (`+ − × ÷ √`, compare, select): the SIMD and
//! scalar paths give identical bits, on every target, for every length (NaN payloads aside: a NaN
//! is NaN on both paths, its payload is unspecified, as everywhere in Rust). There is no fused
//! multiply-add (PyTorch's AVX2 CPU kernels fuse some, so f32 results differ from torch's by a
//! few ulps per step; f64 agrees to ~1e-12 relative). Per-step scalars (bias corrections,
//! `1 − lr·λ`, step sizes) are computed in f64, as PyTorch computes them in Python floats, then
//! rounded once. Step counters are per tensor, `u64`, saturating (PyTorch's are f32 and stall at
//! 2²⁴). NaN and infinity propagate as values; they are not errors.
//!
//! ## Performance
//!
//! Optimizer steps are memory-bound. Build with `RUSTFLAGS="-C target-cpu=native"` (or a specific
//! CPU) so that `wide` uses AVX2/AVX-512 instead of two SSE halves.

#![no_std]
#![deny(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(not(any(feature = "std", feature = "libm")))]
compile_error!("optim-kernels needs a math backend: enable the `std` (default) or `libm` feature");

mod drive;
pub mod element;
mod error;
pub mod lanes;
mod math;
pub mod rules;

#[cfg(feature = "alloc")]
mod closure;
#[cfg(feature = "alloc")]
mod config;
#[cfg(feature = "alloc")]
mod group;
#[cfg(feature = "alloc")]
mod names;
#[cfg(feature = "alloc")]
mod optim;
#[cfg(feature = "alloc")]
mod value;

pub use element::Element;
pub use error::Error;
pub use half::{bf16, f16};
pub use rules::Rule;

#[cfg(feature = "alloc")]
pub use closure::LbfgsOptimizer;
#[cfg(feature = "alloc")]
pub use config::{Config, Hyper};
#[cfg(feature = "alloc")]
pub use group::{ParamGroup, TensorSpec};
#[cfg(feature = "alloc")]
pub use names::OPTIMIZERS;
#[cfg(feature = "alloc")]
pub use optim::{
    GroupRule, GroupedOptimizer, Optimizer, build_optimizer, optimizer_defaults, optimizer_keys,
};
#[cfg(feature = "alloc")]
pub use value::Value;

/// Whether every value in `xs` is finite (a caller may skip a step on overflow, as AMP does).
#[inline]
pub fn grads_are_finite<T: Element>(xs: &[T]) -> bool {
    use num_traits::Float;
    xs.iter().all(|x| x.to_compute().is_finite())
}

#[cfg(test)]
mod tests;
