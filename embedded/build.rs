//! Host side of the firmware build:
//!
//! 1. Puts the target's linker memory map in the linker search path as `memory.x` (cortex-m-rt's
//!    `link.x` includes it): `memory/cortex-m4f.x` (1 MiB flash / 256 KiB RAM) or, for
//!    `thumbv6m-none-eabi`, `memory/cortex-m0.x` (micro:bit v1, 256 KiB flash / 16 KiB RAM).
//!    (There is deliberately no `memory.x` in the crate root: the linker looks in its working
//!    directory first, so one there would win for every target.)
//! 2. Generates the model and the data set into `$OUT_DIR/model_data.rs`: the frozen first layer
//!    of a small MLP, the initial weights of the head that the firmware fine-tunes, and a
//!    synthetic classification data set (Gaussian-like clusters), all from a fixed seed with an
//!    integer PRNG and exactly rounded arithmetic only (`+ − × ÷ √`), so every host generates the
//!    same bits. The firmware places them in flash (`static`).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// Input features.
const D_IN: usize = 16;
/// Width of the frozen hidden layer (the "pretrained" feature extractor).
const H1: usize = 32;
/// Width of the trainable hidden layer.
const H2: usize = 12;
/// Classes.
const CLASSES: usize = 4;
/// Training samples.
const N_TRAIN: usize = 256;
/// Held-out evaluation samples.
const N_EVAL: usize = 128;
/// Noise scale around the class centres (unit-variance noise times this).
const NOISE: f64 = 0.6;
/// The one seed everything is drawn from.
const SEED: u64 = 0x0EDE_71CE_5EED_2025;

/// SplitMix64 (Steele et al. 2014): tiny, fast, good enough for test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1), from the top 53 bits (exact in f64).
    fn uniform(&mut self) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        2.0 * unit - 1.0
    }

    /// Zero mean, unit variance, bell-shaped: the sum of three uniforms (Irwin–Hall); no
    /// transcendental functions, so the bits do not depend on the host's libm.
    fn bell(&mut self) -> f64 {
        self.uniform() + self.uniform() + self.uniform()
    }
}

/// `pub static NAME: [f32; len] = [...]` with exact bit patterns.
fn emit_f32(out: &mut String, name: &str, doc: &str, values: &[f64]) {
    let _ = writeln!(out, "/// {doc}");
    let _ = writeln!(out, "pub static {name}: [f32; {}] = [", values.len());
    for chunk in values.chunks(8) {
        out.push_str("   ");
        for v in chunk {
            let _ = write!(out, " f32::from_bits(0x{:08x}),", (*v as f32).to_bits());
        }
        out.push('\n');
    }
    out.push_str("];\n\n");
}

fn emit_u8(out: &mut String, name: &str, doc: &str, values: &[u8]) {
    let _ = writeln!(out, "/// {doc}");
    let _ = writeln!(out, "pub static {name}: [u8; {}] = [", values.len());
    for chunk in values.chunks(32) {
        out.push_str("   ");
        for v in chunk {
            let _ = write!(out, " {v},");
        }
        out.push('\n');
    }
    out.push_str("];\n\n");
}

/// PyTorch's default `nn.Linear` initialisation: weights and biases uniform in ±1/√fan_in.
fn linear(rng: &mut SplitMix64, fan_in: usize, fan_out: usize) -> (Vec<f64>, Vec<f64>) {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let w = (0..fan_in * fan_out)
        .map(|_| bound * rng.uniform())
        .collect();
    let b = (0..fan_out).map(|_| bound * rng.uniform()).collect();
    (w, b)
}

/// Samples `n` points: class `i % CLASSES` (balanced), centre plus noise.
fn samples(rng: &mut SplitMix64, centres: &[Vec<f64>], n: usize) -> (Vec<f64>, Vec<u8>) {
    let mut x = Vec::with_capacity(n * D_IN);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % CLASSES;
        x.extend(centres[class].iter().map(|c| c + NOISE * rng.bell()));
        y.push(class as u8);
    }
    // Interleave deterministically (Fisher–Yates) so that batches mix classes.
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        y.swap(i, j);
        for k in 0..D_IN {
            x.swap(i * D_IN + k, j * D_IN + k);
        }
    }
    (x, y)
}

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").unwrap_or_default();

    // 1. Memory map for the target.
    let memory = if target.starts_with("thumbv6m") {
        "memory/cortex-m0.x"
    } else {
        "memory/cortex-m4f.x"
    };
    let map = fs::read(memory).unwrap_or_else(|e| panic!("reading {memory}: {e}"));
    fs::write(out_dir.join("memory.x"), map).expect("writing memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out_dir.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");

    // 2. Model and data.
    let mut rng = SplitMix64(SEED);
    let (w1, b1) = linear(&mut rng, D_IN, H1);
    let (w2, b2) = linear(&mut rng, H1, H2);
    let (w3, b3) = linear(&mut rng, H2, CLASSES);
    let centres: Vec<Vec<f64>> = (0..CLASSES)
        .map(|_| (0..D_IN).map(|_| rng.uniform()).collect())
        .collect();
    let (x_train, y_train) = samples(&mut rng, &centres, N_TRAIN);
    let (x_eval, y_eval) = samples(&mut rng, &centres, N_EVAL);

    let mut s = String::new();
    let _ = writeln!(
        s,
        "// @generated by build.rs from seed {SEED:#018x}; do not edit.\n"
    );
    for (name, value, doc) in [
        ("D_IN", D_IN, "Input features."),
        ("H1", H1, "Width of the frozen hidden layer."),
        ("H2", H2, "Width of the trainable hidden layer."),
        ("CLASSES", CLASSES, "Classes."),
        ("N_TRAIN", N_TRAIN, "Training samples."),
        ("N_EVAL", N_EVAL, "Held-out evaluation samples."),
    ] {
        let _ = writeln!(s, "/// {doc}\npub const {name}: usize = {value};");
    }
    let _ = writeln!(
        s,
        "/// The seed the data was generated from.\npub const SEED: u64 = {SEED:#018x};\n"
    );
    emit_f32(
        &mut s,
        "W1",
        "Frozen layer 1 weights, `[H1, D_IN]` row-major.",
        &w1,
    );
    emit_f32(&mut s, "B1", "Frozen layer 1 bias, `[H1]`.", &b1);
    emit_f32(
        &mut s,
        "W2_INIT",
        "Initial trainable layer 2 weights, `[H2, H1]`.",
        &w2,
    );
    emit_f32(
        &mut s,
        "B2_INIT",
        "Initial trainable layer 2 bias, `[H2]`.",
        &b2,
    );
    emit_f32(
        &mut s,
        "W3_INIT",
        "Initial trainable layer 3 weights, `[CLASSES, H2]`.",
        &w3,
    );
    emit_f32(
        &mut s,
        "B3_INIT",
        "Initial trainable layer 3 bias, `[CLASSES]`.",
        &b3,
    );
    emit_f32(
        &mut s,
        "X_TRAIN",
        "Training inputs, `[N_TRAIN, D_IN]`.",
        &x_train,
    );
    emit_u8(&mut s, "Y_TRAIN", "Training labels, `[N_TRAIN]`.", &y_train);
    emit_f32(
        &mut s,
        "X_EVAL",
        "Evaluation inputs, `[N_EVAL, D_IN]`.",
        &x_eval,
    );
    emit_u8(&mut s, "Y_EVAL", "Evaluation labels, `[N_EVAL]`.", &y_eval);
    fs::write(out_dir.join("model_data.rs"), s).expect("writing model_data.rs to OUT_DIR");
}
