//! The main example: a small MLP trained on a synthetic 3-class spiral with an optimizer built from
//! a config file, the way a Python training script builds one from a `DictConfig`.
//!
//! ```text
//! cargo run --release --example train -- --config examples/configs/adamw.toml
//! cargo run --release --example train -- --config examples/configs/sgd.toml --dtype bf16
//! cargo run --release --example train -- --help
//! ```
//!
//! The `[optimizer]` table goes to [`build_optimizer`] as it is: its `name` selects the rule and
//! every other key is a keyword argument in PyTorch's spelling. Keys are not filtered, so a typo is
//! the builder's error, naming the key; the example prints `error: ...` and exits with status 2.
//! The optional `[train]` table holds the example's own settings (`epochs`, `batch_size`,
//! `first_layer_lr_scale`, `seed`). An optional `[aux_optimizer]` table (same form as
//! `[optimizer]`) takes the biases: for a rule that only takes matrices, such as
//! `torch.optim.Muon` (PyTorch's docs pair it with AdamW for "biases, embeddings and other
//! non-2D parameters"), the weights go to `[optimizer]` and the biases to the auxiliary
//! optimizer; both step, follow the lr schedule and switch modes together.
//!
//! `torch.optim.LBFGS` (`examples/configs/lbfgs.toml`) is driven by a closure instead: one
//! parameter group (torch allows no other), and each epoch is one `step_closure` whose closure
//! computes the full-batch loss and gradients, re-evaluated as often as the line search needs
//! (no mini-batches, no lr schedule: L-BFGS picks its own step lengths).
//!
//! The model is a 2 → 32 → 3 tanh MLP with a softmax cross-entropy loss, forward and backward
//! written out below. Its parameters are stored as the chosen `--dtype` (f32, f64, bf16, f16); the
//! forward and backward pass run in f64 and the gradients are rounded to the parameter type, as
//! a mixed-precision framework hands bf16 gradients to its optimizer. The optimizer keeps f32 state
//! for bf16/f16 parameters. Parameter groups follow a common recipe: a lower lr on the first
//! layer, and no weight decay on biases. A cosine schedule sets each group's lr every epoch.

use optim_kernels::{
    Config, Element, Error, Optimizer, ParamGroup, TensorSpec, Value, bf16, build_optimizer, f16,
    optimizer_defaults, optimizer_keys,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[path = "common/values.rs"]
mod values;
use values::json_to_value;
#[path = "common/toml_values.rs"]
mod toml_values;
use toml_values::toml_to_value;

const DEFAULT_CONFIG: &str = "examples/configs/adamw.toml";

const USAGE: &str = "\
Train a 2-32-3 MLP on a 3-class spiral with an optimizer from a config file.

usage: train [--config PATH] [--optimizer NAME] [--epochs N] [--dtype f32|f64|bf16|f16]

  --config PATH     TOML (or .json) file with an [optimizer] table (name + PyTorch keyword
                    arguments), an optional [aux_optimizer] table for the biases (needed
                    by optimizers of 2-D weights only, such as Muon) and an optional
                    [train] table (epochs, batch_size, first_layer_lr_scale, seed). Default: examples/configs/adamw.toml;
                    with --optimizer NAME alone, examples/configs/<name>.toml if it
                    exists, else the reference defaults. Keys are not filtered: a key the
                    optimizer does not take is an error.
  --optimizer NAME  optimizer name, overriding the config's `name` (SGD, Adam, AdamW, Lion, ...)
  --epochs N        number of epochs (default: [train] epochs, else 20)
  --dtype T         parameter element type (default f32); bf16/f16 keep f32 optimizer state
  --help            print this help

Errors (bad arguments, unreadable config, a key the optimizer rejects) exit with status 2.";

// ---------------------------------------------------------------------------------------------
// Command line

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    Bf16,
    F16,
}

#[derive(Debug, Default)]
struct Args {
    config: Option<String>,
    optimizer: Option<String>,
    epochs: Option<usize>,
    dtype: Option<Dtype>,
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args::default();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(None);
        }
        // `--flag value` or `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("`{flag}` needs a value (see --help)"))
        };
        match flag.as_str() {
            "--config" => out.config = Some(value()?),
            "--optimizer" => out.optimizer = Some(value()?),
            "--epochs" => {
                let v = value()?;
                let n = v.parse().map_err(|_| {
                    format!("`--epochs`: expected a non-negative integer, got `{v}`")
                })?;
                out.epochs = Some(n);
            }
            "--dtype" => {
                out.dtype = Some(match value()?.as_str() {
                    "f32" => Dtype::F32,
                    "f64" => Dtype::F64,
                    "bf16" => Dtype::Bf16,
                    "f16" => Dtype::F16,
                    other => {
                        return Err(format!(
                            "`--dtype`: expected f32, f64, bf16 or f16, got `{other}`"
                        ));
                    }
                });
            }
            _ => return Err(format!("unknown argument `{flag}` (see --help)")),
        }
    }
    Ok(Some(out))
}

// ---------------------------------------------------------------------------------------------
// Config files: `[optimizer]` (→ optim_kernels::Config) and `[train]` (the example's settings)

/// A config file's two tables, values already converted to [`Value`].
#[derive(Debug, Default)]
struct ConfigFile {
    optimizer: Vec<(String, Value)>,
    aux_optimizer: Option<Vec<(String, Value)>>,
    train: Vec<(String, Value)>,
}

/// A relative path that does not exist from the working directory is tried from the crate root,
/// so the default config is found wherever `cargo run` is started.
fn resolve_path(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_relative() && !p.exists() {
        let from_root = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
        if from_root.exists() {
            return from_root;
        }
    }
    p.to_path_buf()
}

fn read_config_file(path: &str) -> Result<ConfigFile, String> {
    let resolved = resolve_path(path);
    let text =
        std::fs::read_to_string(&resolved).map_err(|e| format!("cannot read {path}: {e}"))?;
    let is_json = resolved.extension().is_some_and(|e| e == "json");
    if is_json {
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        config_from_json(&doc).map_err(|e| format!("{path}: {e}"))
    } else {
        let doc: toml::Table = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].lines().count().max(1)
            });
            format!("{path}:{line}: {}", e.message())
        })?;
        config_from_toml(&doc).map_err(|e| format!("{path}: {e}"))
    }
}

fn config_from_toml(doc: &toml::Table) -> Result<ConfigFile, String> {
    let mut out = ConfigFile::default();
    for (section, body) in doc {
        let slot = section_slot(&mut out, section)?;
        let toml::Value::Table(table) = body else {
            return Err(format!("`{section}` must be a table"));
        };
        for (k, v) in table {
            slot.push((k.clone(), toml_to_value(k, v)?));
        }
    }
    Ok(out)
}

fn config_from_json(doc: &serde_json::Value) -> Result<ConfigFile, String> {
    let serde_json::Value::Object(doc) = doc else {
        return Err("the top level must be an object".into());
    };
    let mut out = ConfigFile::default();
    for (section, body) in doc {
        let slot = section_slot(&mut out, section)?;
        let serde_json::Value::Object(table) = body else {
            return Err(format!("`{section}` must be an object"));
        };
        for (k, v) in table {
            slot.push((k.clone(), json_to_value(k, v)?));
        }
    }
    Ok(out)
}

fn section_slot<'a>(
    file: &'a mut ConfigFile,
    section: &str,
) -> Result<&'a mut Vec<(String, Value)>, String> {
    match section {
        "optimizer" => Ok(&mut file.optimizer),
        "aux_optimizer" => Ok(file.aux_optimizer.get_or_insert_default()),
        "train" => Ok(&mut file.train),
        _ => Err(format!(
            "unknown table `{section}` (expected `optimizer` and optionally `aux_optimizer`, \
             `train`)"
        )),
    }
}

/// The `[optimizer]` table as a [`Config`]: `name` (or the `--optimizer` override) selects the
/// rule, every other key is passed through unfiltered.
fn optimizer_config(table: &[(String, Value)], name: Option<&str>) -> Result<Config, String> {
    let mut config = Config::default();
    let mut file_name = None;
    for (k, v) in table {
        if k == "name" {
            match v {
                Value::Str(s) => file_name = Some(s.as_str()),
                _ => return Err(format!("`name` must be a string, got {v}")),
            }
        } else {
            config.insert(k.as_str(), v.clone());
        }
    }
    let name = name
        .or(file_name)
        .ok_or("the [optimizer] table has no `name` (or pass --optimizer NAME)")?;
    config.set_name(name);
    Ok(config)
}

/// The example's own settings, from the `[train]` table.
#[derive(Debug, Clone)]
struct TrainSettings {
    epochs: usize,
    batch_size: usize,
    first_layer_lr_scale: f64,
    seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            epochs: 20,
            batch_size: 32,
            first_layer_lr_scale: 1.0,
            seed: 0x5EED,
        }
    }
}

fn train_settings(table: &[(String, Value)]) -> Result<TrainSettings, String> {
    let mut s = TrainSettings::default();
    let count = |k: &str, v: &Value, min: i64| match *v {
        Value::Int(i) if i >= min => Ok(i),
        _ => Err(format!(
            "[train] `{k}`: expected an integer >= {min}, got {v}"
        )),
    };
    for (k, v) in table {
        match k.as_str() {
            "epochs" => s.epochs = count(k, v, 0)? as usize,
            "batch_size" => s.batch_size = count(k, v, 1)? as usize,
            "seed" => s.seed = count(k, v, 0)? as u64,
            "first_layer_lr_scale" => {
                s.first_layer_lr_scale = match v.as_number(k) {
                    Ok(x) if x > 0.0 && x.is_finite() => x,
                    _ => return Err(format!("[train] `{k}`: expected a number > 0, got {v}")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown key `{k}` in [train] (expected epochs, batch_size, \
                     first_layer_lr_scale, seed)"
                ));
            }
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Data: a 3-class spiral from a fixed-seed splitmix64

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for data and init.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform in 0..n (n > 0; the modulo bias is < 2⁻⁵⁰ for the sizes used here).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const CLASSES: usize = 3;
const TRAIN_PER_CLASS: usize = 200;
const TEST_PER_CLASS: usize = 100;

struct Dataset {
    x: Vec<[f64; 2]>,
    y: Vec<usize>,
}

/// Radius of the spiral: its coordinates have a standard deviation of about 2.
const RADIUS: f64 = 5.0;

/// CS231n's spiral: class k's arm starts at angle 4k and sweeps 4 radians as the radius grows
/// from 0 to `RADIUS`, with Gaussian noise on the angle.
fn spiral(per_class: usize, rng: &mut SplitMix64) -> Dataset {
    let mut data = Dataset {
        x: Vec::with_capacity(per_class * CLASSES),
        y: Vec::with_capacity(per_class * CLASSES),
    };
    for k in 0..CLASSES {
        for _ in 0..per_class {
            let r = rng.uniform();
            let t = 4.0 * (k as f64 + r) + 0.2 * rng.normal();
            data.x.push([RADIUS * r * t.sin(), RADIUS * r * t.cos()]);
            data.y.push(k);
        }
    }
    data
}

// ---------------------------------------------------------------------------------------------
// Model: 2 → 32 → 3, tanh, softmax cross-entropy

const IN: usize = 2;
const HIDDEN: usize = 32;
const OUT: usize = CLASSES;

// Tensor order: groups concatenated (group 0: fc1.weight, group 1: fc2.weight, group 2: biases).
const FC1_W: usize = 0;
const FC2_W: usize = 1;
const FC1_B: usize = 2;
const FC2_B: usize = 3;

fn tensor_specs() -> [TensorSpec; 4] {
    [
        TensorSpec::named("fc1.weight", [HIDDEN, IN]),
        TensorSpec::named("fc2.weight", [OUT, HIDDEN]),
        TensorSpec::named("fc1.bias", [HIDDEN]),
        TensorSpec::named("fc2.bias", [OUT]),
    ]
}

fn to_f64<P: Element>(x: P) -> f64 {
    x.to_f64()
}

fn from_f64<P: Element>(x: f64) -> P {
    P::from_f64(x)
}

/// The MLP's parameters and gradients in the storage type `P`, and f64 working copies.
struct Mlp<P: Element> {
    params: Vec<Vec<P>>,
    grads: Vec<Option<Vec<P>>>,
    /// f64 copy of `params`, refreshed before each forward pass.
    w: Vec<Vec<f64>>,
    /// f64 gradient accumulators, rounded into `grads` after each backward pass.
    g: Vec<Vec<f64>>,
}

/// Activations of one sample.
struct Act {
    h: [f64; HIDDEN],
    p: [f64; OUT],
}

impl<P: Element> Mlp<P> {
    /// Glorot-uniform weights, zero biases.
    fn new(rng: &mut SplitMix64) -> Self {
        let mut glorot = |fan_out: usize, fan_in: usize| -> Vec<P> {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..fan_out * fan_in)
                .map(|_| from_f64(a * (2.0 * rng.uniform() - 1.0)))
                .collect()
        };
        let params = vec![
            glorot(HIDDEN, IN),
            glorot(OUT, HIDDEN),
            vec![P::default(); HIDDEN],
            vec![P::default(); OUT],
        ];
        let grads = params.iter().map(|p| Some(p.clone())).collect();
        let zeros: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        Mlp {
            params,
            grads,
            w: zeros.clone(),
            g: zeros,
        }
    }

    fn load_weights(&mut self) {
        for (w, p) in self.w.iter_mut().zip(&self.params) {
            for (w, &p) in w.iter_mut().zip(p) {
                *w = to_f64(p);
            }
        }
    }

    /// Forward pass with the f64 weights (call `load_weights` first).
    fn forward(&self, x: &[f64; 2]) -> Act {
        let (w1, b1, w2, b2) = (
            &self.w[FC1_W],
            &self.w[FC1_B],
            &self.w[FC2_W],
            &self.w[FC2_B],
        );
        let mut h = [0.0; HIDDEN];
        for (j, h) in h.iter_mut().enumerate() {
            *h = (w1[j * IN] * x[0] + w1[j * IN + 1] * x[1] + b1[j]).tanh();
        }
        let mut z = [0.0; OUT];
        for (c, z) in z.iter_mut().enumerate() {
            let row = &w2[c * HIDDEN..(c + 1) * HIDDEN];
            *z = b2[c] + row.iter().zip(&h).map(|(w, h)| w * h).sum::<f64>();
        }
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut p = z.map(|z| (z - max).exp());
        let sum: f64 = p.iter().sum();
        p.iter_mut().for_each(|p| *p /= sum);
        Act { h, p }
    }

    /// Forward and backward over a mini-batch; leaves the mean gradients in `grads` and returns
    /// the mean loss.
    fn train_batch(&mut self, data: &Dataset, batch: &[usize]) -> f64 {
        self.load_weights();
        self.g.iter_mut().for_each(|g| g.fill(0.0));
        let mut loss = 0.0;
        for &i in batch {
            let (x, y) = (&data.x[i], data.y[i]);
            let Act { h, p } = self.forward(x);
            loss -= p[y].max(1e-300).ln();
            // dL/dz = softmax − onehot
            let mut dz = p;
            dz[y] -= 1.0;
            let mut dh = [0.0; HIDDEN];
            for (c, &dz) in dz.iter().enumerate() {
                self.g[FC2_B][c] += dz;
                let w2 = &self.w[FC2_W][c * HIDDEN..(c + 1) * HIDDEN];
                let g2 = &mut self.g[FC2_W][c * HIDDEN..(c + 1) * HIDDEN];
                for j in 0..HIDDEN {
                    g2[j] += dz * h[j];
                    dh[j] += dz * w2[j];
                }
            }
            for j in 0..HIDDEN {
                let da = dh[j] * (1.0 - h[j] * h[j]); // tanh' = 1 − tanh²
                self.g[FC1_B][j] += da;
                self.g[FC1_W][j * IN] += da * x[0];
                self.g[FC1_W][j * IN + 1] += da * x[1];
            }
        }
        let n = batch.len().max(1) as f64;
        for (grad, g) in self.grads.iter_mut().zip(&self.g) {
            if let Some(grad) = grad {
                for (out, &g) in grad.iter_mut().zip(g) {
                    *out = from_f64(g / n);
                }
            }
        }
        loss / n
    }

    /// Mean loss and accuracy over a whole dataset.
    fn evaluate(&mut self, data: &Dataset) -> (f64, f64) {
        self.load_weights();
        let (mut loss, mut correct) = (0.0, 0usize);
        for (x, &y) in data.x.iter().zip(&data.y) {
            let Act { p, .. } = self.forward(x);
            loss -= p[y].max(1e-300).ln();
            let best = (0..OUT).fold(0, |b, c| if p[c] > p[b] { c } else { b });
            correct += usize::from(best == y);
        }
        let n = data.y.len().max(1) as f64;
        (loss / n, correct as f64 / n)
    }
}

// ---------------------------------------------------------------------------------------------
// Training

struct Run {
    config: Config,
    /// The biases' optimizer, if the config has an `[aux_optimizer]` table.
    aux: Option<Config>,
    settings: TrainSettings,
    source: String,
}

/// The configured lr, or the reference default when the config does not set one (a
/// schedule-free wrapper's lr is its base optimizer's).
fn base_lr(config: &Config) -> Result<f64, Error> {
    if let Some(base) = config.get("base").and_then(Config::from_dict) {
        return base_lr(&base);
    }
    match config.get("lr") {
        Some(v) => v.as_number("lr"),
        None => optimizer_defaults(config.name())
            .and_then(|d| d.get("lr").cloned())
            .ok_or_else(|| Error::UnknownOptimizer {
                name: config.name().to_string(),
            })?
            .as_number("lr"),
    }
}

/// PyTorch-style parameter groups: a lower lr on the first layer, no decay on biases (if the
/// optimizer has a `weight_decay` key at all). With `split`, the weights' groups and the biases'
/// group are returned apart (for `[aux_optimizer]`); otherwise all three are in the first list.
fn param_groups(
    config: &Config,
    base_lr: f64,
    first_layer_lr_scale: f64,
    aux: Option<&Config>,
) -> (Vec<ParamGroup>, Vec<ParamGroup>) {
    let [fc1_w, fc2_w, fc1_b, fc2_b] = tensor_specs();
    if config.name().eq_ignore_ascii_case("lbfgs") {
        // torch's LBFGS takes exactly one parameter group.
        return (
            vec![ParamGroup::new([fc1_w, fc2_w, fc1_b, fc2_b])],
            Vec::new(),
        );
    }
    // Group keys of a schedule-free wrapper are its base optimizer's.
    let bias_config = aux.unwrap_or(config);
    let base = bias_config.get("base").and_then(Config::from_dict);
    let name = base.as_ref().unwrap_or(bias_config).name();
    let has_weight_decay = optimizer_keys(name).is_some_and(|keys| keys.contains(&"weight_decay"));
    let mut biases = ParamGroup::new([fc1_b, fc2_b]);
    if has_weight_decay {
        biases = biases.set("weight_decay", 0.0);
    }
    let mut weights = vec![
        ParamGroup::new([fc1_w]).set("lr", base_lr * first_layer_lr_scale),
        ParamGroup::new([fc2_w]),
    ];
    if aux.is_some() {
        (weights, vec![biases])
    } else {
        weights.push(biases);
        (weights, Vec::new())
    }
}

/// The optimizer of `groups`; a shape it does not take gets a hint about `[aux_optimizer]`.
fn build<P: Element>(groups: &[ParamGroup], config: &Config) -> Result<Optimizer<P>, String> {
    build_optimizer::<P>(groups, config).map_err(|e| match e {
        Error::UnsupportedShape { .. } => format!(
            "{e} (give the biases their own optimizer in an [aux_optimizer] table, as in \
             examples/configs/muon.toml)"
        ),
        e => e.to_string(),
    })
}

fn describe<P: Element>(opt: &Optimizer<P>) {
    for g in 0..opt.num_groups() {
        let names: Vec<&str> = (0..opt.num_tensors())
            .filter(|&i| opt.tensor_group(i) == Some(g))
            .filter_map(|i| opt.tensor_spec(i)?.name.as_deref())
            .collect();
        let lr = opt.lr(g).unwrap_or(f64::NAN);
        let wd = opt
            .get(g, "weight_decay")
            .map_or(String::new(), |v| format!("  weight_decay {v}"));
        println!("  group {g}: {:<22} lr {lr:.2e}{wd}", names.join(", "));
    }
}

fn train<P: Element>(run: &Run) -> Result<(), String> {
    let s = &run.settings;
    let mut rng = SplitMix64(s.seed);
    let train_set = spiral(TRAIN_PER_CLASS, &mut rng);
    let test_set = spiral(TEST_PER_CLASS, &mut rng);
    let mut model = Mlp::<P>::new(&mut rng);

    let lr = base_lr(&run.config).map_err(|e| e.to_string())?;
    let (groups, bias_groups) =
        param_groups(&run.config, lr, s.first_layer_lr_scale, run.aux.as_ref());
    let mut opt = build::<P>(&groups, &run.config)?;
    let mut aux = match &run.aux {
        Some(config) => Some(build::<P>(&bias_groups, config)?),
        None => None,
    };
    // The optimizers' tensors: the main one holds the first `split` (group order = model order).
    let split = opt.num_tensors();
    // Each group's peak lr; the schedule scales all of them alike.
    let peak: Vec<f64> = (0..opt.num_groups())
        .map(|g| opt.lr(g).unwrap_or(lr))
        .collect();
    let aux_peak: Vec<f64> = aux.as_ref().map_or(Vec::new(), |a| {
        (0..a.num_groups()).filter_map(|g| a.lr(g)).collect()
    });

    // L-BFGS steps on the full batch (one closure-driven step per epoch, below).
    let batch = match opt.as_lbfgs() {
        Some(_) => "full batch".to_string(),
        None => format!("batch {}", s.batch_size),
    };
    println!(
        "{} on a {CLASSES}-class spiral: {} train / {} test samples, \
         {batch}, {} epochs, params {} (state {})  [{}]",
        opt.name(),
        train_set.y.len(),
        test_set.y.len(),
        s.epochs,
        P::NAME,
        <P::DefaultState as Element>::NAME,
        run.source,
    );
    describe(&opt);
    if let Some(a) = &aux {
        println!("  biases: {}", a.name());
        describe(a);
    }

    let mut order: Vec<usize> = (0..train_set.y.len()).collect();
    let mut steps = 0u64;
    let width = s.epochs.to_string().len().max(2);
    // Schedule-free optimizers replace the schedule (their warmup is a config key) and keep
    // separate parameters for evaluation: eval() before evaluating, train() before stepping.
    let schedule_free = opt.has_modes();
    let lbfgs = opt.as_lbfgs().is_some();
    let full_batch: Vec<usize> = (0..train_set.y.len()).collect();
    for epoch in 0..s.epochs {
        if lbfgs {
            // One closure-driven step per epoch over the full batch: the closure loads the
            // parameters it is given into the model and writes the gradients.
            let mut params = std::mem::take(&mut model.params);
            let mut grads: Vec<Vec<P>> =
                params.iter().map(|p| vec![P::default(); p.len()]).collect();
            let loss = opt
                .step_closure(&mut params, &mut grads, |p, g| {
                    model.params = p.to_vec();
                    let loss = model.train_batch(&train_set, &full_batch);
                    for (g, mg) in g.iter_mut().zip(&model.grads) {
                        if let Some(mg) = mg {
                            g.copy_from_slice(mg);
                        }
                    }
                    loss
                })
                .map_err(|e| e.to_string())?;
            model.params = params;
            steps += 1;
            let (_, train_acc) = model.evaluate(&train_set);
            let (_, test_acc) = model.evaluate(&test_set);
            let evals = opt.as_lbfgs().map_or(0, |l| l.lbfgs_state().func_evals);
            println!(
                "epoch {:>width$}  loss {loss:.4}  train_acc {train_acc:.3}  test_acc {test_acc:.3}  \
                 closure evaluations {evals}",
                epoch + 1,
            );
            continue;
        }
        if !schedule_free {
            // Cosine schedule from each group's peak lr (never reaching 0: Lion rejects lr = 0).
            let factor =
                0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / s.epochs as f64).cos());
            for (g, &peak) in peak.iter().enumerate() {
                opt.set_lr(g, peak * factor).map_err(|e| e.to_string())?;
            }
            if let Some(a) = &mut aux {
                for (g, &peak) in aux_peak.iter().enumerate() {
                    a.set_lr(g, peak * factor).map_err(|e| e.to_string())?;
                }
            }
        }
        switch(&mut opt, aux.as_mut(), &mut model.params, split, true)?;
        // Fisher–Yates shuffle.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for batch in order.chunks(s.batch_size) {
            loss_sum += model.train_batch(&train_set, batch);
            batches += 1;
            let (params, aux_params) = model.params.split_at_mut(split);
            let (grads, aux_grads) = model.grads.split_at(split);
            opt.step(params, grads).map_err(|e| e.to_string())?;
            if let Some(a) = &mut aux {
                a.step(aux_params, aux_grads).map_err(|e| e.to_string())?;
            }
            steps += 1;
        }
        switch(&mut opt, aux.as_mut(), &mut model.params, split, false)?;
        let (_, train_acc) = model.evaluate(&train_set);
        let (_, test_acc) = model.evaluate(&test_set);
        println!(
            "epoch {:>width$}  loss {:.4}  train_acc {train_acc:.3}  test_acc {test_acc:.3}  lr {:.2e}",
            epoch + 1,
            loss_sum / batches.max(1) as f64,
            opt.lr(1).unwrap_or(f64::NAN),
        );
    }
    // Already in eval mode after the last epoch: a no-op.
    switch(&mut opt, aux.as_mut(), &mut model.params, split, false)?;
    let (train_loss, train_acc) = model.evaluate(&train_set);
    let (test_loss, test_acc) = model.evaluate(&test_set);
    println!(
        "final {} {}: train_loss {train_loss:.4}  train_acc {train_acc:.3}  test_loss {test_loss:.4}  \
         test_acc {test_acc:.3}  ({} epoch{}, {steps} steps; chance is {:.3})",
        opt.name(),
        P::NAME,
        s.epochs,
        if s.epochs == 1 { "" } else { "s" },
        1.0 / CLASSES as f64,
    );
    Ok(())
}

/// `train()` (or `eval()`) on the optimizer of the first `split` tensors and on the auxiliary one.
fn switch<P: Element>(
    opt: &mut Optimizer<P>,
    aux: Option<&mut Optimizer<P>>,
    params: &mut [Vec<P>],
    split: usize,
    train: bool,
) -> Result<(), String> {
    let (main, rest) = params.split_at_mut(split);
    let r = if train {
        opt.train(main)
    } else {
        opt.eval(main)
    };
    r.map_err(|e| e.to_string())?;
    if let Some(a) = aux {
        let r = if train { a.train(rest) } else { a.eval(rest) };
        r.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `examples/configs/<name>.toml` for `--optimizer NAME` without `--config`, if there is one.
fn bundled_config(name: &str) -> Option<String> {
    let stem = name.to_ascii_lowercase();
    if stem.is_empty() || !stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let path = format!("examples/configs/{stem}.toml");
    resolve_path(&path).exists().then_some(path)
}

fn setup(args: Args) -> Result<Run, String> {
    let (file, source) = match (&args.config, &args.optimizer) {
        (Some(path), _) => (read_config_file(path)?, path.clone()),
        (None, Some(name)) => match bundled_config(name) {
            Some(path) => (read_config_file(&path)?, path),
            None => (ConfigFile::default(), "reference defaults".to_string()),
        },
        (None, None) => (
            read_config_file(DEFAULT_CONFIG)?,
            DEFAULT_CONFIG.to_string(),
        ),
    };
    let config = optimizer_config(&file.optimizer, args.optimizer.as_deref())?;
    let aux = match &file.aux_optimizer {
        Some(table) => {
            Some(optimizer_config(table, None).map_err(|e| format!("[aux_optimizer]: {e}"))?)
        }
        None => None,
    };
    let mut settings = train_settings(&file.train)?;
    if let Some(epochs) = args.epochs {
        settings.epochs = epochs;
    }
    Ok(Run {
        config,
        aux,
        settings,
        source,
    })
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e),
    };
    let dtype = args.dtype.unwrap_or(Dtype::F32);
    let run = match setup(args) {
        Ok(run) => run,
        Err(e) => return fail(&e),
    };
    let result = match dtype {
        Dtype::F32 => train::<f32>(&run),
        Dtype::F64 => train::<f64>(&run),
        Dtype::Bf16 => train::<bf16>(&run),
        Dtype::F16 => train::<f16>(&run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
