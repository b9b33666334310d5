//! The shape-aware rules ([`Adafactor`], [`Muon`]): SIMD lanes and scalar lanes give identical
//! bits (their reductions and matrix products run in an order independent of the lane width),
//! for shapes that hit the lane, block and matmul-panel edges and the transposed Newton–Schulz
//! path; the kernel-layer entry point checks every length and shape before writing; lr = 0
//! leaves the parameters unchanged.

use super::strategies::{TestElement, same_bits};
use crate::error::Error;
use crate::lanes::Real;
use crate::rules::{Adafactor, AdjustLr, Muon, ShapedRule};
use half::bf16;
use std::vec;
use std::vec::Vec;

/// splitmix64: values mixing normal ranges, ±0, tiny and huge magnitudes, and (optionally)
/// non-finite ones.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn value(&mut self, specials: bool) -> f64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        match self.next() % 16 {
            0 if specials => {
                [0.0, -0.0, f64::INFINITY, f64::NAN, 1e-40][(self.next() % 5) as usize]
            }
            1 => (u - 0.5) * 1e-6,
            2 => (u - 0.5) * 1e6,
            _ => (u - 0.5) * 8.0,
        }
    }
    fn vec<T: TestElement>(&mut self, n: usize, specials: bool) -> Vec<T> {
        (0..n).map(|_| T::from_f64(self.value(specials))).collect()
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
            .collect()
    }
}

const SHAPES: &[&[usize]] = &[
    &[],
    &[1],
    &[5],
    &[17],
    &[70],
    &[3, 4],
    &[1, 7],
    &[7, 1],
    &[9, 17],
    &[2, 3, 5],
    &[33, 9],
    &[8, 64],
    &[5, 300],
    &[40, 3],
];

fn simd_matches_scalar<R, P, S>(rule: &R, seed: u64, specials: bool)
where
    R: ShapedRule,
    P: TestElement,
    S: TestElement<Compute = P::Compute>,
    R::Work: Default + Clone,
{
    let mut rng = Gen(seed);
    for shape in SHAPES {
        if rule.check_shape(shape).is_err() {
            continue;
        }
        let n = super::super::rules::shaped::numel(shape);
        let p0: Vec<P> = rng.vec(n, specials);
        let mut pa = p0.clone();
        let mut pb = p0;
        let mut sa = vec![S::default(); rule.state_len(shape)];
        let mut sb = sa.clone();
        let mut work = vec![R::Work::default(); rule.workspace_len(shape)];
        for step in 1..=3 {
            let g: Vec<P> = rng.vec(n, specials);
            rule.update_with::<P, S, <P::Compute as Real>::Vector, <f32 as Real>::Vector>(
                step, shape, &mut pa, &g, &mut sa, &mut work,
            );
            rule.update_with::<P, S, P::Compute, f32>(step, shape, &mut pb, &g, &mut sb, &mut work);
            for (i, (a, b)) in pa.iter().zip(&pb).enumerate() {
                assert!(
                    same_bits(*a, *b),
                    "{} {shape:?} step {step}: param {i}: SIMD {a:?} != scalar {b:?}",
                    rule.name()
                );
            }
            for (i, (a, b)) in sa.iter().zip(&sb).enumerate() {
                assert!(
                    same_bits(*a, *b),
                    "{} {shape:?} step {step}: state {i}: SIMD {a:?} != scalar {b:?}",
                    rule.name()
                );
            }
        }
    }
}

fn rules() -> (Vec<Adafactor>, Vec<Muon>) {
    let adafactor = vec![
        Adafactor::DEFAULT,
        Adafactor {
            lr: 0.3,
            weight_decay: 0.1,
            maximize: true,
            eps: (Some(1e-4), 1e-2),
            d: 2.0,
            beta2_decay: -0.5,
            ..Adafactor::DEFAULT
        },
        Adafactor {
            beta2_decay: 0.0,
            ..Adafactor::DEFAULT
        },
    ];
    let muon = vec![
        Muon::DEFAULT,
        Muon {
            lr: 0.02,
            nesterov: false,
            ns_steps: 3,
            adjust_lr_fn: Some(AdjustLr::MatchRmsAdamW),
            ..Muon::DEFAULT
        },
        Muon {
            momentum: 0.0,
            ns_steps: 0,
            weight_decay: 0.0,
            adjust_lr_fn: Some(AdjustLr::SpectralUnclamped),
            ..Muon::DEFAULT
        },
    ];
    (adafactor, muon)
}

#[test]
fn simd_matches_scalar_bitwise_for_shaped_rules() {
    let (adafactor, muon) = rules();
    for (k, specials) in [(1, false), (2, true)] {
        for r in &adafactor {
            simd_matches_scalar::<_, f32, f32>(r, k, specials);
            simd_matches_scalar::<_, f64, f64>(r, k + 10, specials);
            simd_matches_scalar::<_, bf16, f32>(r, k + 20, specials);
            simd_matches_scalar::<_, f32, bf16>(r, k + 30, specials);
        }
        for r in &muon {
            simd_matches_scalar::<_, f32, f32>(r, k + 40, specials);
            simd_matches_scalar::<_, f64, f64>(r, k + 50, specials);
            simd_matches_scalar::<_, bf16, f32>(r, k + 60, specials);
        }
    }
}

#[test]
fn lr_zero_leaves_params_unchanged() {
    let mut rng = Gen(7);
    let adafactor = Adafactor {
        lr: 0.0,
        weight_decay: 0.5,
        ..Adafactor::DEFAULT
    };
    let muon = Muon {
        lr: 0.0,
        ..Muon::DEFAULT
    };
    for shape in [&[6usize, 5][..], &[2, 3, 4], &[9]] {
        let n = super::super::rules::shaped::numel(shape);
        let p0: Vec<f32> = rng.vec(n, false);
        let g: Vec<f32> = rng.vec(n, false);
        let mut p = p0.clone();
        let mut st = vec![0.0f32; adafactor.state_len(shape)];
        let mut w = vec![0.0f64; adafactor.workspace_len(shape)];
        let mut t = 0;
        adafactor
            .step(&mut t, shape, &mut p, &g, &mut st, &mut w)
            .unwrap();
        assert_eq!(p, p0, "Adafactor {shape:?}");
        if shape.len() == 2 {
            let mut st = vec![0.0f32; muon.state_len(shape)];
            let mut w = vec![0.0f32; muon.workspace_len(shape)];
            muon.step(&mut t, shape, &mut p, &g, &mut st, &mut w)
                .unwrap();
            assert_eq!(p, p0, "Muon {shape:?}");
        }
    }
}

#[test]
fn kernel_entry_point_checks_before_writing() {
    let muon = Muon::DEFAULT;
    let shape = [3usize, 4];
    let g = [0.5f32; 12];
    let mut p = [1.0f32; 12];
    let mut state = [0.0f32; Muon::DEFAULT.state_len(&[3, 4])];
    let mut work = [0.0f32; Muon::DEFAULT.workspace_len(&[3, 4])];
    assert_eq!(work.len(), 2 * 3 * 4 + 2 * 3 * 3);
    let mut t = 0u64;
    let short = &mut work[..10];
    let err = muon
        .step(&mut t, &shape, &mut p, &g, &mut state, short)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                what: "workspace",
                ..
            }
        ),
        "{err}"
    );
    let err = muon
        .step(&mut t, &[12], &mut p, &g, &mut state, &mut work)
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedShape { tensor: 0, .. }),
        "{err}"
    );
    let err = muon
        .step(&mut t, &[4, 4], &mut p, &g, &mut state, &mut work)
        .unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { what: "param", .. }),
        "{err}"
    );
    let err = muon
        .step(&mut t, &shape, &mut p, &g[..11], &mut state, &mut work)
        .unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { what: "grad", .. }),
        "{err}"
    );
    assert_eq!((t, p, state), (0, [1.0; 12], [0.0; 12]));
    // A longer workspace is fine (one buffer shared by tensors of several shapes).
    let mut big = [0.0f32; 100];
    muon.step(&mut t, &shape, &mut p, &g, &mut state, &mut big)
        .unwrap();
    assert_eq!(t, 1);

    let a = Adafactor::DEFAULT;
    assert_eq!(a.state_len(&[2, 3, 4]), 2 * 3 + 2 * 4);
    assert_eq!(a.state_len(&[5]), 5);
    assert_eq!(a.state_len(&[]), 1);
    assert_eq!(a.workspace_len(&[2, 3, 4]), 4);
    assert_eq!(a.workspace_len(&[5]), 0);
    let mut st = [0.0f32; 3];
    let err = a
        .step(
            &mut t,
            &[2, 3],
            &mut [0.0f32; 6],
            &[0.0f32; 6],
            &mut st,
            &mut [0.0; 3],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { what: "state", .. }),
        "{err}"
    );
    let err = a
        .step::<f32, f32>(&mut t, &[0, 3], &mut [], &[], &mut [0.0; 3], &mut [0.0; 3])
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedShape { .. }), "{err}");
}

#[test]
fn muon_orthogonalises() {
    // Newton–Schulz maps the update to roughly U·S'·Vᵀ with S' ≈ 1 (0.5..1.5 with torch's
    // coefficients): with lr·ratio = 1, no decay and momentum 0, the change of θ is −O, whose
    // Gram matrix O·Oᵀ is close to the identity.
    let muon = Muon {
        lr: 1.0,
        weight_decay: 0.0,
        momentum: 0.0,
        nesterov: false,
        ..Muon::DEFAULT
    };
    let mut rng = Gen(3);
    for (m, n) in [(4usize, 9usize), (9, 4)] {
        let g = rng.uniform(m * n);
        let mut p = vec![0.0f64; m * n];
        let mut st = vec![0.0f64; m * n];
        let mut w = vec![0.0f32; muon.workspace_len(&[m, n])];
        muon.step(&mut 0, &[m, n], &mut p, &g, &mut st, &mut w)
            .unwrap();
        let ratio = muon.adjusted_lr(m, n);
        let o: Vec<f64> = p.iter().map(|x| -x / ratio).collect();
        let (r, long) = (m.min(n), m.max(n));
        for i in 0..r {
            for j in 0..r {
                let dot: f64 = (0..long)
                    .map(|k| {
                        let (a, b) = if m <= n {
                            (o[i * n + k], o[j * n + k])
                        } else {
                            (o[k * n + i], o[k * n + j])
                        };
                        a * b
                    })
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (dot - want).abs() < 0.7,
                    "{m}x{n}: (O·Oᵀ)[{i}][{j}] = {dot}"
                );
            }
        }
    }
}
