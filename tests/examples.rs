//! The configs in `examples/configs/` build, through the same conversion `examples/train.rs` uses.
//!
//! Examples cannot be imported, so the small TOML/JSON → `Value` conversion is repeated here; keep
//! it in step with `examples/train.rs`.

use optim_kernels::{
    Config, OPTIMIZERS, ParamGroup, TensorSpec, Value, bf16, build_optimizer, optimizer_keys,
};
use std::path::{Path, PathBuf};

#[path = "../examples/common/values.rs"]
mod values;
use values::json_to_value;
#[path = "../examples/common/toml_values.rs"]
mod toml_values;
use toml_values::toml_to_value;

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/configs")
}

/// Every config file, sorted, as (file name, contents).
fn config_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(configs_dir())
        .expect("examples/configs exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("readable config");
            (name, text)
        })
        .collect();
    files.sort();
    files
}

// --- The conversion, as in examples/train.rs -------------------------------------------------

/// A section of a config file: `[optimizer]` or `[train]`, values converted.
type Table = Vec<(String, Value)>;

/// (`[optimizer]`, `[train]`) of a TOML or JSON config file.
fn parse(file_name: &str, text: &str) -> Result<(Table, Table), String> {
    parse_all(file_name, text).map(|(o, _, t)| (o, t))
}

/// (`[optimizer]`, `[aux_optimizer]`, `[train]`) of a TOML or JSON config file.
fn parse_all(file_name: &str, text: &str) -> Result<(Table, Option<Table>, Table), String> {
    let mut sections: Vec<(String, Table)> = Vec::new();
    if file_name.ends_with(".json") {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let serde_json::Value::Object(doc) = doc else {
            return Err("the top level must be an object".into());
        };
        for (section, body) in &doc {
            let serde_json::Value::Object(table) = body else {
                return Err(format!("`{section}` must be an object"));
            };
            let table = table
                .iter()
                .map(|(k, v)| Ok((k.clone(), json_to_value(k, v)?)))
                .collect::<Result<_, String>>()?;
            sections.push((section.clone(), table));
        }
    } else {
        let doc: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
        for (section, body) in &doc {
            let toml::Value::Table(table) = body else {
                return Err(format!("`{section}` must be a table"));
            };
            let table = table
                .iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_value(k, v)?)))
                .collect::<Result<_, String>>()?;
            sections.push((section.clone(), table));
        }
    }
    let (mut optimizer, mut aux, mut train) = (None, None, Table::new());
    for (section, table) in sections {
        match section.as_str() {
            "optimizer" => optimizer = Some(table),
            "aux_optimizer" => aux = Some(table),
            "train" => train = table,
            _ => return Err(format!("unknown table `{section}`")),
        }
    }
    Ok((optimizer.ok_or("no [optimizer] table")?, aux, train))
}

/// The `[optimizer]` table as a `Config`; every key but `name` passes through unfiltered.
fn optimizer_config(table: &[(String, Value)]) -> Result<Config, String> {
    let mut config = Config::default();
    let mut name = None;
    for (k, v) in table {
        match (k.as_str(), v) {
            ("name", Value::Str(s)) => name = Some(s.clone()),
            ("name", _) => return Err(format!("`name` must be a string, got {v}")),
            _ => config.insert(k.as_str(), v.clone()),
        }
    }
    config.set_name(name.ok_or("no `name`")?);
    Ok(config)
}

/// The example's parameter groups: fc1.weight at a scaled lr, fc2.weight, biases without decay
/// (only for optimizers that have `weight_decay`).
fn param_groups(config: &Config, lr_scale: f64) -> Vec<ParamGroup> {
    // Group keys of a schedule-free wrapper are its base optimizer's.
    let base = config.get("base").and_then(Config::from_dict);
    let group_config = base.as_ref().unwrap_or(config);
    let lr = group_config
        .get("lr")
        .map_or(1e-3, |v| v.as_number("lr").unwrap());
    let has_weight_decay =
        optimizer_keys(group_config.name()).is_some_and(|keys| keys.contains(&"weight_decay"));
    let mut biases = ParamGroup::new([
        TensorSpec::named("fc1.bias", [32]),
        TensorSpec::named("fc2.bias", [3]),
    ]);
    if has_weight_decay {
        biases = biases.set("weight_decay", 0.0);
    }
    vec![
        ParamGroup::new([TensorSpec::named("fc1.weight", [32, 2])]).set("lr", lr * lr_scale),
        ParamGroup::new([TensorSpec::named("fc2.weight", [3, 32])]),
        biases,
    ]
}

fn load(file_name: &str, text: &str) -> (Config, Table) {
    let (optimizer, train) = parse(file_name, text).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    let config = optimizer_config(&optimizer).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    (config, train)
}

// --- Tests -------------------------------------------------------------------------------------

#[test]
fn every_config_builds_with_param_groups() {
    let files = config_files();
    assert!(
        files.len() >= 5,
        "expected the bundled configs, found {files:?}"
    );
    for (file_name, text) in &files {
        let (_, aux, _) = parse_all(file_name, text).unwrap();
        if let Some(aux) = aux {
            // The weights' optimizer and the biases' (as examples/train.rs splits them).
            let (config, train) = load(file_name, text);
            let aux = optimizer_config(&aux).unwrap_or_else(|e| panic!("{file_name}: {e}"));
            let scale = train
                .iter()
                .find(|(k, _)| k == "first_layer_lr_scale")
                .map_or(1.0, |(_, v)| v.as_number("first_layer_lr_scale").unwrap());
            let mut groups = param_groups(&config, scale);
            let biases = groups.split_off(2);
            let opt = build_optimizer::<f32>(&groups, &config)
                .unwrap_or_else(|e| panic!("{file_name}: {e}"));
            assert_eq!((opt.num_groups(), opt.num_tensors()), (2, 2), "{file_name}");
            let aux_opt = build_optimizer::<f32>(&biases, &aux)
                .unwrap_or_else(|e| panic!("{file_name} [aux_optimizer]: {e}"));
            assert_eq!(aux_opt.num_tensors(), 2, "{file_name}");
            // Without the auxiliary optimizer, the biases are refused by name.
            if config.name() == "Muon" {
                let all = param_groups(&config, scale);
                let err = build_optimizer::<f32>(&all, &config).unwrap_err();
                assert!(err.to_string().contains("tensor 2"), "{file_name}: {err}");
            }
            continue;
        }
        let (config, train) = load(file_name, text);
        if config.name().eq_ignore_ascii_case("lbfgs") {
            // LBFGS takes exactly one group (train.rs puts every tensor in it).
            let all = ParamGroup::new([
                TensorSpec::named("fc1.weight", [32, 2]),
                TensorSpec::named("fc2.weight", [3, 32]),
                TensorSpec::named("fc1.bias", [32]),
                TensorSpec::named("fc2.bias", [3]),
            ]);
            let opt = build_optimizer::<f32>(&[all], &config)
                .unwrap_or_else(|e| panic!("{file_name}: {e}"));
            assert_eq!((opt.num_groups(), opt.num_tensors()), (1, 4), "{file_name}");
            let err = build_optimizer::<f32>(&param_groups(&config, 1.0), &config).unwrap_err();
            assert!(
                err.to_string().contains("per-parameter"),
                "{file_name}: {err}"
            );
            continue;
        }
        let scale = train
            .iter()
            .find(|(k, _)| k == "first_layer_lr_scale")
            .map_or(1.0, |(_, v)| v.as_number("first_layer_lr_scale").unwrap());
        let groups = param_groups(&config, scale);
        let opt =
            build_optimizer::<f32>(&groups, &config).unwrap_or_else(|e| panic!("{file_name}: {e}"));
        assert_eq!(opt.num_groups(), 3, "{file_name}");
        assert_eq!(opt.num_tensors(), 4, "{file_name}");
        // The group overrides took effect.
        let lr = opt.lr(1).unwrap();
        assert!(
            (opt.lr(0).unwrap() - lr * scale).abs() <= 1e-12 * lr,
            "{file_name}"
        );
        if let Some(wd) = opt.get(2, "weight_decay") {
            assert_eq!(wd.as_number("weight_decay").unwrap(), 0.0, "{file_name}");
        }
        // bf16 parameters (f32 state) and f64 accept the same config.
        build_optimizer::<bf16>(&groups, &config).unwrap_or_else(|e| panic!("{file_name}: {e}"));
        build_optimizer::<f64>(&groups, &config).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    }
}

#[test]
fn every_optimizer_has_a_toml_config_named_after_it() {
    let files = config_files();
    for (name, _) in OPTIMIZERS {
        let file_name = format!("{}.toml", name.to_ascii_lowercase());
        let (_, text) = files
            .iter()
            .find(|(f, _)| *f == file_name)
            .unwrap_or_else(|| panic!("examples/configs/{file_name} is missing for {name}"));
        let (config, _) = load(&file_name, text);
        assert!(config.name().eq_ignore_ascii_case(name), "{file_name}");
    }
}

#[test]
fn sgd_config_uses_nesterov_momentum() {
    let text = std::fs::read_to_string(configs_dir().join("sgd.toml")).unwrap();
    let (config, _) = load("sgd.toml", &text);
    assert_eq!(config.get("momentum"), Some(&Value::Float(0.9)));
    assert_eq!(config.get("nesterov"), Some(&Value::Bool(true)));
}

#[test]
fn json_and_toml_adamw_configs_agree() {
    let dir = configs_dir();
    let toml_text = std::fs::read_to_string(dir.join("adamw.toml")).unwrap();
    let json_text = std::fs::read_to_string(dir.join("adamw.json")).unwrap();
    let (toml_config, toml_train) = load("adamw.toml", &toml_text);
    let (json_config, json_train) = load("adamw.json", &json_text);
    let sorted = |c: &Config| {
        let mut v: Vec<(String, Value)> = c.values().map(|(k, v)| (k.into(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(toml_config.name(), json_config.name());
    assert_eq!(sorted(&toml_config), sorted(&json_config));
    let mut toml_train = toml_train;
    let mut json_train = json_train;
    toml_train.sort_by(|a, b| a.0.cmp(&b.0));
    json_train.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(toml_train, json_train);
}

#[test]
fn unknown_key_is_rejected_by_name() {
    let text = "[optimizer]\nname = \"AdamW\"\nlr = 1e-3\nwieght_decay = 0.05\n";
    let (config, _) = load("typo.toml", text);
    let groups = param_groups(&config, 1.0);
    let err = build_optimizer::<f32>(&groups, &config).unwrap_err();
    assert_eq!(err.key(), Some("wieght_decay"), "{err}");
    assert!(err.to_string().contains("wieght_decay"), "{err}");

    let json = r#"{"optimizer": {"name": "Lion", "lr": 1e-4, "eps": 1e-8}}"#;
    let (config, _) = load("typo.json", json);
    let err = build_optimizer::<f32>(&param_groups(&config, 1.0), &config).unwrap_err();
    assert_eq!(err.key(), Some("eps"), "{err}");
}

#[test]
fn switching_the_optimizer_keeps_unknown_keys_an_error() {
    // `--optimizer Lion` on the AdamW config: `eps` is AdamW's, not Lion's.
    let text = std::fs::read_to_string(configs_dir().join("adamw.toml")).unwrap();
    let (mut config, _) = load("adamw.toml", &text);
    config.set_name("Lion");
    let err = build_optimizer::<f32>(&param_groups(&config, 1.0), &config).unwrap_err();
    assert_eq!(err.key(), Some("eps"), "{err}");
}

#[test]
fn values_that_are_not_config_values_are_reported() {
    let err = parse("bad.toml", "[optimizer]\nname = \"SGD\"\nlr = 1979-05-27\n").unwrap_err();
    assert!(err.contains("`lr`"), "{err}");
    // A dict is a value (a wrapper's `base`), but not a number: building names the key.
    for (file, text) in [
        ("dict.toml", "[optimizer]\nname = \"SGD\"\nlr = { x = 1 }\n"),
        (
            "dict.json",
            r#"{"optimizer": {"name": "SGD", "lr": {"x": 1}}}"#,
        ),
    ] {
        let (config, _) = load(file, text);
        let err = build_optimizer::<f32>(&[ParamGroup::new([[2]])], &config).unwrap_err();
        assert_eq!(err.key(), Some("lr"), "{file}: {err}");
    }
    let (config, _) = load(
        "ok.json",
        r#"{"optimizer": {"name": "Adam", "foreach": null}}"#,
    );
    assert_eq!(config.get("foreach"), Some(&Value::None));
    build_optimizer::<f32>(&param_groups(&config, 1.0), &config).unwrap();
}
