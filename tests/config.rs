//! The builder rejects every invalid config with an error naming the key (and group), and leaves
//! nothing half-built; `set`/`step` errors leave the optimizer untouched.

use optim_kernels::{
    Config, Error, Optimizer, ParamGroup, Value, bf16, build_optimizer, optimizer_defaults,
    optimizer_keys,
};

fn groups() -> Vec<ParamGroup> {
    vec![ParamGroup::new([[2, 3]]), ParamGroup::new([[4]])]
}

fn build(config: &Config) -> Result<Optimizer<f32>, Error> {
    build_optimizer::<f32>(&groups(), config)
}

#[track_caller]
fn rejected(config: Config, key: &str) {
    match build(&config) {
        Ok(_) => panic!("{config:?} was accepted; expected an error naming `{key}`"),
        Err(e) => {
            assert_eq!(e.key(), Some(key), "{config:?}: {e}");
            assert!(
                e.to_string().contains(&format!("`{key}`")),
                "message does not name the key: {e}"
            );
        }
    }
}

#[track_caller]
fn rejected_in_group(name: &str, key: &str, value: impl Into<Value>) {
    rejected_in_group_as(name, key, value, key);
}

#[track_caller]
fn rejected_in_group_as(name: &str, key: &str, value: impl Into<Value>, named: &str) {
    let gs = vec![
        ParamGroup::new([[2, 3]]),
        ParamGroup::new([[4]]).set(key, value),
    ];
    let e =
        build_optimizer::<f32>(&gs, &Config::new(name)).expect_err("accepted a bad group override");
    let msg = e.to_string();
    assert_eq!(e.key(), Some(named), "{msg}");
    assert!(
        msg.contains(&format!("`{named}`")) && msg.contains("param_groups[1]"),
        "{msg}"
    );
}

#[test]
fn unknown_names_are_rejected() {
    for name in ["Adamm", "", "timm:adamw", "lamb"] {
        let e = build(&Config::new(name)).expect_err("accepted");
        assert!(
            matches!(&e, Error::UnknownOptimizer { name: n } if n == name),
            "{e}"
        );
        assert!(e.to_string().starts_with("unknown optimizer"));
    }
}

#[test]
fn names_match_case_insensitively() {
    for name in [
        "sgd", "SGD", "adam", "ADAMW", "AdamW", "lion", "LION", "rmsprop", "RMSprop", "adagrad",
        "ADADELTA", "adamax", "Adamax",
    ] {
        assert!(build(&Config::new(name)).is_ok(), "{name}");
    }
    assert_eq!(build(&Config::new("adamw")).unwrap().name(), "AdamW");
    assert_eq!(build(&Config::new("RMSPROP")).unwrap().name(), "RMSprop");
}

#[test]
fn unknown_keys_are_rejected() {
    rejected(Config::new("SGD").set("momentom", 0.9), "momentom");
    rejected(Config::new("Adam").set("beta1", 0.9), "beta1");
    rejected(
        Config::new("AdamW").set("decoupled_weight_decay", true),
        "decoupled_weight_decay",
    );
    rejected(Config::new("Lion").set("eps", 1e-8), "eps");
    rejected(Config::new("Lion").set("maximize", true), "maximize");
    rejected(Config::new("SGD").set("amsgrad", true), "amsgrad");
    rejected(Config::new("RMSprop").set("fused", true), "fused");
    rejected(Config::new("RMSprop").set("betas", (0.9, 0.99)), "betas");
    rejected(Config::new("Adagrad").set("capturable", true), "capturable");
    rejected(Config::new("Adagrad").set("momentum", 0.9), "momentum");
    rejected(Config::new("Adadelta").set("fused", true), "fused");
    rejected(Config::new("Adadelta").set("betas", (0.9, 0.999)), "betas");
    rejected(Config::new("Adamax").set("amsgrad", true), "amsgrad");
    rejected(Config::new("Adamax").set("fused", true), "fused");
    rejected_in_group("Adam", "momentum", 0.9);
}

#[test]
fn wrong_types_are_rejected() {
    rejected(Config::new("Adam").set("lr", "fast"), "lr");
    rejected(Config::new("Adam").set("betas", 0.9), "betas");
    rejected(
        Config::new("Adam").set("betas", vec![0.9, 0.99, 0.999]),
        "betas",
    );
    rejected(Config::new("Adam").set("betas", (0.9, "x")), "betas[1]");
    rejected(Config::new("Adam").set("amsgrad", 1), "amsgrad");
    rejected(Config::new("SGD").set("nesterov", "yes"), "nesterov");
    rejected(Config::new("AdamW").set("foreach", 0.5), "foreach");
    // Integers are numbers, as in Python.
    assert!(build(&Config::new("SGD").set("lr", 1).set("momentum", 0)).is_ok());
}

#[test]
fn invalid_values_are_rejected() {
    for name in [
        "SGD", "Adam", "AdamW", "Lion", "RMSprop", "Adagrad", "Adadelta", "Adamax",
    ] {
        rejected(Config::new(name).set("lr", -1e-3), "lr");
        rejected(Config::new(name).set("lr", f64::NAN), "lr");
        rejected(Config::new(name).set("lr", f64::INFINITY), "lr");
        rejected(Config::new(name).set("weight_decay", -0.1), "weight_decay");
        rejected(
            Config::new(name).set("weight_decay", f64::NAN),
            "weight_decay",
        );
        rejected_in_group(name, "lr", -1.0);
    }
    for name in ["Adam", "AdamW", "Adamax"] {
        rejected(Config::new(name).set("eps", -1e-8), "eps");
        rejected(Config::new(name).set("eps", f64::NAN), "eps");
        rejected(Config::new(name).set("betas", (1.0, 0.999)), "betas[0]");
        rejected(Config::new(name).set("betas", (-0.1, 0.999)), "betas[0]");
        rejected(Config::new(name).set("betas", (0.9, 1.0)), "betas[1]");
        rejected(Config::new(name).set("betas", (0.9, f64::NAN)), "betas[1]");
        rejected_in_group_as(name, "betas", (0.9, 1.5), "betas[1]");
    }
    rejected(Config::new("SGD").set("momentum", -0.9), "momentum");
    // RMSprop: torch bounds alpha only below (alpha > 1 is accepted).
    rejected(Config::new("RMSprop").set("eps", -1e-8), "eps");
    rejected(Config::new("RMSprop").set("eps", f64::INFINITY), "eps");
    rejected(Config::new("RMSprop").set("momentum", -0.9), "momentum");
    rejected(Config::new("RMSprop").set("alpha", -0.1), "alpha");
    rejected(Config::new("RMSprop").set("alpha", f64::NAN), "alpha");
    rejected(Config::new("RMSprop").set("centered", 1), "centered");
    rejected_in_group("RMSprop", "alpha", -1.0);
    assert!(build(&Config::new("RMSprop").set("alpha", 1.5)).is_ok());
    rejected(Config::new("Adagrad").set("lr_decay", -0.1), "lr_decay");
    rejected(
        Config::new("Adagrad").set("lr_decay", f64::INFINITY),
        "lr_decay",
    );
    rejected(
        Config::new("Adagrad").set("initial_accumulator_value", -0.1),
        "initial_accumulator_value",
    );
    rejected(Config::new("Adagrad").set("eps", -1e-10), "eps");
    rejected_in_group("Adagrad", "initial_accumulator_value", f64::NAN);
    // Adadelta: torch requires 0 <= rho <= 1 (rho = 1 is accepted).
    rejected(Config::new("Adadelta").set("rho", 1.1), "rho");
    rejected(Config::new("Adadelta").set("rho", -0.1), "rho");
    rejected(Config::new("Adadelta").set("rho", f64::NAN), "rho");
    rejected(Config::new("Adadelta").set("eps", -1e-6), "eps");
    rejected_in_group("Adadelta", "rho", 2.0);
    assert!(build(&Config::new("Adadelta").set("rho", 1.0)).is_ok());
    // Lion: lion-pytorch asserts lr > 0 and 0 <= beta <= 1.
    rejected(Config::new("Lion").set("lr", 0.0), "lr");
    rejected(Config::new("Lion").set("betas", (1.5, 0.99)), "betas[0]");
    rejected(Config::new("Lion").set("use_triton", true), "use_triton");
    assert!(build(&Config::new("Lion").set("betas", (1.0, 1.0))).is_ok());
    // torch accepts lr = 0 (Adam, SGD): so do we.
    assert!(build(&Config::new("Adam").set("lr", 0.0)).is_ok());
}

#[test]
fn radam_rprop_nadam_asgd_check_their_keys_as_torch_does() {
    for name in ["RAdam", "NAdam", "ASGD", "Rprop"] {
        rejected(Config::new(name).set("lr", -1e-3), "lr");
        rejected(Config::new(name).set("lr", f64::NAN), "lr");
        rejected(Config::new(name).set("lr", f64::INFINITY), "lr");
        rejected(Config::new(name).set("fused", true), "fused");
        rejected(Config::new(name).set("amsgrad", true), "amsgrad");
        rejected_in_group(name, "lr", -1.0);
        // torch accepts lr = 0 and every dispatch flag but `fused`, though not `foreach` with
        // `differentiable` (its foreach path raises at the first step).
        let flags = Config::new(name)
            .set("lr", 0.0)
            .set("maximize", true)
            .set("capturable", true);
        assert!(build(&flags.clone().set("foreach", true)).is_ok(), "{name}");
        assert!(
            build(&flags.clone().set("differentiable", true)).is_ok(),
            "{name}"
        );
        rejected(
            flags.set("foreach", true).set("differentiable", true),
            "foreach",
        );
    }
    for name in ["RAdam", "NAdam"] {
        rejected(Config::new(name).set("eps", -1e-8), "eps");
        rejected(Config::new(name).set("betas", (1.0, 0.999)), "betas[0]");
        rejected(Config::new(name).set("betas", (0.9, 1.0)), "betas[1]");
        rejected(Config::new(name).set("weight_decay", -0.1), "weight_decay");
        rejected_in_group_as(name, "betas", (0.9, -0.5), "betas[1]");
        assert!(
            build(
                &Config::new(name)
                    .set("weight_decay", 0.1)
                    .set("decoupled_weight_decay", true)
            )
            .is_ok()
        );
    }
    rejected(
        Config::new("NAdam").set("momentum_decay", -4e-3),
        "momentum_decay",
    );
    rejected(Config::new("ASGD").set("lambd", -1e-4), "lambd");
    rejected(Config::new("ASGD").set("alpha", f64::NAN), "alpha");
    rejected(
        Config::new("ASGD").set("weight_decay", -0.1),
        "weight_decay",
    );
    rejected(Config::new("ASGD").set("betas", (0.9, 0.99)), "betas");
    // torch does not check t0; every value has a meaning (mu = 1/max(1, t - t0)).
    for t0 in [-5.0, 0.0, 0.5, f64::INFINITY] {
        assert!(
            build(&Config::new("ASGD").set("t0", t0)).is_ok(),
            "t0 = {t0}"
        );
    }
    // Rprop: 0 < etas[0] < 1 < etas[1]; no weight decay at all.
    rejected(Config::new("Rprop").set("etas", (0.0, 1.2)), "etas[0]");
    rejected(Config::new("Rprop").set("etas", (1.0, 1.2)), "etas[0]");
    rejected(Config::new("Rprop").set("etas", (0.5, 1.0)), "etas[1]");
    rejected(
        Config::new("Rprop").set("etas", (0.5, f64::INFINITY)),
        "etas[1]",
    );
    rejected_in_group_as("Rprop", "etas", (0.5, 0.9), "etas[1]");
    rejected(
        Config::new("Rprop").set("step_sizes", (f64::NAN, 50.0)),
        "step_sizes[0]",
    );
    rejected(Config::new("Rprop").set("step_sizes", 1e-6), "step_sizes");
    rejected(
        Config::new("Rprop").set("weight_decay", 0.01),
        "weight_decay",
    );
    // torch accepts step_sizes[0] > step_sizes[1] (every step size is then step_sizes[1]).
    assert!(build(&Config::new("Rprop").set("step_sizes", (0.1, 0.01))).is_ok());
}

#[test]
fn radam_rprop_nadam_asgd_defaults_are_torchs() {
    let radam = build(&Config::new("radam")).unwrap();
    assert_eq!(radam.name(), "RAdam");
    assert_eq!(radam.get(0, "lr"), Some(Value::Float(1e-3)));
    assert_eq!(
        radam.get(0, "decoupled_weight_decay"),
        Some(Value::Bool(false))
    );
    let nadam = build(&Config::new("NADAM")).unwrap();
    assert_eq!(nadam.name(), "NAdam");
    assert_eq!(nadam.get(0, "lr"), Some(Value::Float(2e-3)));
    assert_eq!(nadam.get(0, "momentum_decay"), Some(Value::Float(4e-3)));
    let asgd = build(&Config::new("asgd")).unwrap();
    assert_eq!(asgd.name(), "ASGD");
    assert_eq!(asgd.get(0, "lr"), Some(Value::Float(1e-2)));
    assert_eq!(asgd.get(0, "lambd"), Some(Value::Float(1e-4)));
    assert_eq!(asgd.get(0, "alpha"), Some(Value::Float(0.75)));
    assert_eq!(asgd.get(0, "t0"), Some(Value::Float(1e6)));
    let rprop = build(&Config::new("rprop")).unwrap();
    assert_eq!(rprop.name(), "Rprop");
    assert_eq!(rprop.get(0, "etas"), Some((0.5, 1.2).into()));
    assert_eq!(rprop.get(0, "step_sizes"), Some((1e-6, 50.0).into()));
    // Exactly the constructors' keyword arguments, in their signature order.
    assert_eq!(
        optimizer_keys("RAdam").unwrap(),
        [
            "lr",
            "betas",
            "eps",
            "weight_decay",
            "decoupled_weight_decay",
            "foreach",
            "maximize",
            "capturable",
            "differentiable"
        ]
    );
    assert_eq!(
        optimizer_keys("NAdam").unwrap(),
        [
            "lr",
            "betas",
            "eps",
            "weight_decay",
            "momentum_decay",
            "decoupled_weight_decay",
            "foreach",
            "maximize",
            "capturable",
            "differentiable"
        ]
    );
    assert_eq!(
        optimizer_keys("ASGD").unwrap(),
        [
            "lr",
            "lambd",
            "alpha",
            "t0",
            "weight_decay",
            "foreach",
            "maximize",
            "differentiable",
            "capturable"
        ]
    );
    assert_eq!(
        optimizer_keys("Rprop").unwrap(),
        [
            "lr",
            "etas",
            "step_sizes",
            "capturable",
            "foreach",
            "maximize",
            "differentiable"
        ]
    );
    for name in ["RAdam", "NAdam", "ASGD", "Rprop"] {
        let d = optimizer_defaults(name).unwrap();
        assert_eq!(d.values().count(), optimizer_keys(name).unwrap().len());
    }
}

#[test]
fn schedule_free_wrapper_takes_radam_and_rprop_but_not_nadam_or_asgd() {
    let g = [ParamGroup::new([[3]])];
    for base in ["RAdam", "Rprop"] {
        let c = Config::new("ScheduleFreeWrapper").set("base", Config::new(base).to_dict());
        assert!(build_optimizer::<f32>(&g, &c).is_ok(), "{base}");
    }
    for base in ["NAdam", "ASGD"] {
        let c = Config::new("ScheduleFreeWrapper").set("base", Config::new(base).to_dict());
        let err = build_optimizer::<f32>(&g, &c).unwrap_err();
        assert_eq!(err.key(), Some("base"), "{err}");
        assert!(err.to_string().contains("per-tensor"), "{err}");
    }
}

#[test]
fn nesterov_needs_momentum_and_no_dampening() {
    rejected(Config::new("SGD").set("nesterov", true), "nesterov");
    rejected(
        Config::new("SGD")
            .set("nesterov", true)
            .set("momentum", 0.9)
            .set("dampening", 0.1),
        "nesterov",
    );
    assert!(
        build(
            &Config::new("SGD")
                .set("nesterov", true)
                .set("momentum", 0.9)
        )
        .is_ok()
    );
    rejected_in_group("SGD", "nesterov", true);
}

#[test]
fn fused_conflicts_are_rejected() {
    rejected(
        Config::new("Adam")
            .set("fused", true)
            .set("differentiable", true),
        "fused",
    );
    rejected(
        Config::new("SGD").set("fused", true).set("foreach", true),
        "fused",
    );
    rejected(
        Config::new("Adagrad")
            .set("fused", true)
            .set("differentiable", true),
        "fused",
    );
    rejected(
        Config::new("Adagrad")
            .set("fused", true)
            .set("foreach", true),
        "fused",
    );
    assert!(build(&Config::new("Adagrad").set("fused", true)).is_ok());
}

#[test]
fn bad_groups_are_rejected() {
    let e = build_optimizer::<f32>(&[], &Config::new("SGD")).expect_err("accepted no groups");
    assert!(matches!(e, Error::InvalidGroups { .. }), "{e}");
    let e = build_optimizer::<f32>(
        &[ParamGroup::new([[2]]).set("params", 1)],
        &Config::new("SGD"),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::InvalidGroups { .. }), "{e}");
    let e = build_optimizer::<f32>(&[ParamGroup::new([[usize::MAX, 4]])], &Config::new("Adam"))
        .err()
        .unwrap();
    assert!(matches!(e, Error::InvalidGroups { .. }), "{e}");
}

#[test]
fn defaults_are_the_references() {
    let sgd = build(&Config::new("SGD")).unwrap();
    assert_eq!(sgd.get(0, "lr"), Some(Value::Float(1e-3)));
    assert_eq!(sgd.get(0, "momentum"), Some(Value::Float(0.0)));
    let adam = build(&Config::new("Adam")).unwrap();
    assert_eq!(
        adam.get(0, "betas"),
        Some(Value::List(vec![0.9.into(), 0.999.into()]))
    );
    assert_eq!(adam.get(0, "eps"), Some(Value::Float(1e-8)));
    assert_eq!(adam.get(0, "weight_decay"), Some(Value::Float(0.0)));
    let adamw = build(&Config::new("AdamW")).unwrap();
    assert_eq!(adamw.get(0, "weight_decay"), Some(Value::Float(1e-2)));
    let rms = build(&Config::new("RMSprop")).unwrap();
    assert_eq!(rms.get(0, "lr"), Some(Value::Float(1e-2)));
    assert_eq!(rms.get(0, "alpha"), Some(Value::Float(0.99)));
    assert_eq!(rms.get(0, "eps"), Some(Value::Float(1e-8)));
    assert_eq!(rms.get(0, "momentum"), Some(Value::Float(0.0)));
    assert_eq!(rms.get(0, "centered"), Some(Value::Bool(false)));
    let adagrad = build(&Config::new("Adagrad")).unwrap();
    assert_eq!(adagrad.get(0, "lr"), Some(Value::Float(1e-2)));
    assert_eq!(adagrad.get(0, "eps"), Some(Value::Float(1e-10)));
    assert_eq!(adagrad.get(0, "lr_decay"), Some(Value::Float(0.0)));
    assert_eq!(
        adagrad.get(0, "initial_accumulator_value"),
        Some(Value::Float(0.0))
    );
    let adadelta = build(&Config::new("Adadelta")).unwrap();
    assert_eq!(adadelta.get(0, "lr"), Some(Value::Float(1.0)));
    assert_eq!(adadelta.get(0, "rho"), Some(Value::Float(0.9)));
    assert_eq!(adadelta.get(0, "eps"), Some(Value::Float(1e-6)));
    let adamax = build(&Config::new("Adamax")).unwrap();
    assert_eq!(adamax.get(0, "lr"), Some(Value::Float(2e-3)));
    assert_eq!(
        adamax.get(0, "betas"),
        Some(Value::List(vec![0.9.into(), 0.999.into()]))
    );
    assert_eq!(adamax.get(0, "eps"), Some(Value::Float(1e-8)));
    let lion = build(&Config::new("Lion")).unwrap();
    assert_eq!(lion.get(0, "lr"), Some(Value::Float(1e-4)));
    assert_eq!(
        lion.get(0, "betas"),
        Some(Value::List(vec![0.9.into(), 0.99.into()]))
    );
    // A group override applies to its group only.
    let gs = [
        ParamGroup::new([[3]]),
        ParamGroup::new([[3]]).set("lr", 0.5),
    ];
    let o = build_optimizer::<f64>(&gs, &Config::new("AdamW").set("lr", 0.1)).unwrap();
    assert_eq!((o.lr(0), o.lr(1)), (Some(0.1), Some(0.5)));
}

#[test]
fn set_validates_and_leaves_the_group_unchanged_on_error() {
    let mut o = build(&Config::new("Adam").set("lr", 0.1)).unwrap();
    let before = o.clone();
    assert!(o.set_lr(0, -1.0).is_err());
    assert!(o.set_lr(0, f64::NAN).is_err());
    assert!(o.set_lr(7, 0.1).is_err());
    assert!(matches!(
        o.set(1, "amsgrad", &true.into()),
        Err(Error::Immutable { .. })
    ));
    assert!(o.set(1, "betas", &(0.9, 2.0).into()).is_err());
    assert!(o.set(1, "nonsense", &1.into()).is_err());
    assert_eq!(o, before);
    o.set(1, "betas", &(0.8, 0.99).into()).unwrap();
    assert_eq!(o.get(1, "betas"), Some((0.8, 0.99).into()));
    o.set_lr(0, 0.05).unwrap();
    assert_eq!(o.lr(0), Some(0.05));
    let mut sgd = build(&Config::new("SGD")).unwrap();
    assert!(matches!(
        sgd.set(0, "momentum", &0.9.into()),
        Err(Error::Immutable { .. })
    ));
    // RMSprop's momentum buffer and centered average exist only if configured at build time.
    let mut rms = build(&Config::new("RMSprop").set("momentum", 0.9)).unwrap();
    for (key, value) in [
        ("momentum", Value::Float(0.0)),
        ("centered", Value::Bool(true)),
    ] {
        assert!(
            matches!(rms.set(0, key, &value), Err(Error::Immutable { .. })),
            "{key}"
        );
    }
    rms.set(0, "momentum", &0.5.into()).unwrap();
}

#[test]
fn step_errors_leave_params_and_state_untouched() {
    let mut o = build(&Config::new("AdamW").set("lr", 0.1)).unwrap();
    let mut params = vec![vec![1.0f32; 6], vec![2.0f32; 4]];
    o.step(&mut params, &[Some(vec![0.5f32; 6]), Some(vec![0.5f32; 4])])
        .unwrap();
    let (o0, p0) = (o.clone(), params.clone());
    // The second tensor's grad is too short: nothing may change, including the first tensor.
    let e = o
        .step(&mut params, &[Some(vec![0.5f32; 6]), Some(vec![0.5f32; 3])])
        .unwrap_err();
    assert_eq!(
        e,
        Error::ShapeMismatch {
            tensor: 1,
            what: "grad",
            expected: 4,
            found: 3
        }
    );
    assert!(e.to_string().contains("tensor 1"));
    let e = o.step(&mut params, &[Some(vec![0.5f32; 6])]).unwrap_err();
    assert!(matches!(e, Error::TensorCount { what: "grads", .. }), "{e}");
    let mut short = vec![vec![1.0f32; 6], vec![2.0f32; 5]];
    let e = o
        .step(&mut short, &[Some(vec![0.5f32; 6]), Some(vec![0.5f32; 5])])
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                tensor: 1,
                what: "param",
                ..
            }
        ),
        "{e}"
    );
    assert!(o.step_tensor(2, &mut [0.0; 4], &[0.0; 4]).is_err());
    assert!(o.step_tensor(1, &mut [0.0; 4], &[0.0; 5]).is_err());
    assert_eq!(o, o0);
    assert_eq!(params, p0);
}

#[test]
fn kernel_level_step_checks_lengths() {
    use optim_kernels::rules::{Adam, Rule};
    let mut p = [1.0f32; 3];
    let mut st = [0.0f32; 5];
    let mut step = 0;
    let e = Adam::ADAM
        .step(&mut step, &mut p, &[0.1; 3], &mut st)
        .unwrap_err();
    assert_eq!(
        e,
        Error::ShapeMismatch {
            tensor: 0,
            what: "state",
            expected: 6,
            found: 5
        }
    );
    assert_eq!((step, p), (0, [1.0; 3]));
    assert!(
        Adam::ADAM
            .step(&mut step, &mut p, &[0.1; 2], &mut [0.0f32; 6])
            .is_err()
    );
    assert_eq!(step, 0);
}

#[cfg(feature = "serde")]
#[test]
fn configs_deserialize_from_json_and_toml() {
    let json = r#"{"name": "AdamW", "lr": 0.001, "betas": [0.9, 0.95], "weight_decay": 0.1, "foreach": null}"#;
    let c: Config = serde_json::from_str(json).unwrap();
    assert_eq!(c.name(), "AdamW");
    assert_eq!(c.get("foreach"), Some(&Value::None));
    let o = build(&c).unwrap();
    assert_eq!(o.get(0, "betas"), Some((0.9, 0.95).into()));
    let toml_text = "name = \"SGD\"\nlr = 0.1\nmomentum = 0.9\nnesterov = true\n";
    let c: Config = toml::from_str(toml_text).unwrap();
    assert_eq!(
        build(&c).unwrap().get(0, "nesterov"),
        Some(Value::Bool(true))
    );
    // Unknown keys still fail in the builder, not silently.
    let c: Config = serde_json::from_str(r#"{"name": "SGD", "lrr": 0.1}"#).unwrap();
    assert_eq!(build(&c).err().unwrap().key(), Some("lrr"));
    assert!(serde_json::from_str::<Config>(r#"{"lr": 0.1}"#).is_err());
    // Round trip.
    let back: Config = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn state_is_aligned_and_its_layout_restores_into_a_fresh_optimizer() {
    let groups = [
        ParamGroup::new([vec![3, 5], vec![7]]),
        ParamGroup::new([[33]]).set("amsgrad", true),
    ];
    let config = Config::new("AdamW").set("lr", 0.1);
    let mut a = build_optimizer::<f32>(&groups, &config).unwrap();
    let mut params = vec![vec![1.0f32; 15], vec![2.0; 7], vec![3.0; 33]];
    let grads = vec![
        Some(vec![0.5f32; 15]),
        Some(vec![-0.5; 7]),
        Some(vec![0.25; 33]),
    ];
    a.step(&mut params, &grads).unwrap();
    for i in 0..3 {
        let st = a.state(i).unwrap();
        assert_eq!(
            st.as_ptr().align_offset(64),
            0,
            "tensor {i} state is not 64-byte aligned"
        );
        assert_eq!(st.len(), [30, 14, 99][i]);
    }
    // A checkpoint of the whole buffer restores into another optimizer built the same way.
    let mut b = build_optimizer::<f32>(&groups, &config).unwrap();
    assert_eq!(a.state_buffer().len(), b.state_buffer().len());
    b.state_buffer_mut().copy_from_slice(a.state_buffer());
    for i in 0..3 {
        assert_eq!(a.state(i), b.state(i));
    }
}

#[test]
fn schedule_free_modes_are_enforced_and_errors_change_nothing() {
    let groups = [
        ParamGroup::new([[3]]),
        ParamGroup::new([[2]]).set("lr", 0.01),
    ];
    let config = Config::new("AdamWScheduleFree").set("warmup_steps", 2);
    let mut opt = build_optimizer::<f32>(&groups, &config).unwrap();
    assert!(opt.has_modes() && opt.is_training());
    let mut params = vec![vec![1.0f32, 2.0, 3.0], vec![0.5, -0.5]];
    let grads = vec![Some(vec![0.1f32, -0.2, 0.3]), None];
    opt.step(&mut params, &grads).unwrap();
    // Each group's schedule advances once per step, gradients or not.
    assert_eq!(opt.schedule(0).unwrap().k, 1);
    assert_eq!(opt.schedule(1).unwrap().k, 1);
    assert_eq!(opt.tensor_step(1), Some(0));

    // Per-tensor stepping would advance the schedule per tensor: refused.
    let before = opt.clone();
    let err = opt
        .step_tensor(0, &mut params[0].clone(), &[0.0; 3])
        .unwrap_err();
    assert!(matches!(err, Error::Mode { .. }), "{err}");
    assert_eq!(opt, before);

    // eval(): x in the parameters; stepping is refused and changes nothing.
    let mut pure = params[0].clone();
    opt.eval_params_into(0, &params[0], &mut pure).unwrap();
    opt.eval(&mut params).unwrap();
    assert!(!opt.is_training());
    assert_eq!(params[0], pure, "eval_params_into == eval()");
    assert_eq!(
        params[1],
        vec![0.5, -0.5],
        "a tensor without state is untouched"
    );
    let (before, params_before) = (opt.clone(), params.clone());
    let err = opt.step(&mut params, &grads).unwrap_err();
    assert!(err.to_string().contains("train()"), "{err}");
    assert_eq!((opt.clone(), params.clone()), (before, params_before));
    // eval() twice is a no-op, as in schedulefree; train() goes back.
    opt.eval(&mut params).unwrap();
    assert_eq!(params[0], pure);
    opt.train(&mut params).unwrap();
    opt.step(&mut params, &grads).unwrap();
    // A wrong tensor count in eval() is an error and leaves the mode alone.
    assert!(opt.eval(&mut params[..1]).is_err());
    assert!(opt.is_training());
}

#[test]
fn schedule_free_wrapper_configs() {
    let groups = [
        ParamGroup::new([[4]]),
        ParamGroup::new([[2]]).set("momentum", 0.5),
    ];
    let sgd = Config::new("SGD").set("lr", 0.1).set("momentum", 0.9);
    let ok = Config::new("ScheduleFreeWrapper")
        .set("base", sgd.to_dict())
        .set("momentum", 0.8);
    let opt = build_optimizer::<f64>(&groups, &ok).unwrap();
    assert_eq!(opt.name(), "ScheduleFreeWrapper");
    // Group keys are the base optimizer's (schedulefree reads the base's param groups).
    assert_eq!(opt.lr(0), Some(0.1));
    assert_eq!(opt.get(1, "momentum"), Some(Value::Float(0.5)));
    assert!(
        optimizer_keys("ScheduleFreeWrapper")
            .unwrap()
            .contains(&"base")
    );
    assert_eq!(
        optimizer_defaults("schedulefreewrapper")
            .unwrap()
            .get("momentum"),
        Some(&Value::Float(0.9))
    );

    let key_of = |c: Config| build_optimizer::<f32>(&groups, &c).unwrap_err();
    let err = key_of(Config::new("ScheduleFreeWrapper"));
    assert_eq!(err.key(), Some("base"), "{err}");
    let err = key_of(Config::new("ScheduleFreeWrapper").set("base", "SGD"));
    assert_eq!(err.key(), Some("base"), "{err}");
    let err = key_of(
        Config::new("ScheduleFreeWrapper").set("base", Config::new("AdamWScheduleFree").to_dict()),
    );
    assert_eq!(err.key(), Some("base"), "{err}");
    let err = key_of(
        Config::new("ScheduleFreeWrapper")
            .set("base", sgd.to_dict())
            .set("warmup_steps", 3),
    );
    assert_eq!(err.key(), Some("warmup_steps"), "{err}");
    let err = key_of(
        Config::new("ScheduleFreeWrapper")
            .set("base", sgd.to_dict())
            .set("momentum", 1.0),
    );
    assert_eq!(err.key(), Some("momentum"), "{err}");
    let err = key_of(
        Config::new("ScheduleFreeWrapper").set("base", sgd.clone().set("lr", -1.0).to_dict()),
    );
    assert_eq!(err.key(), Some("lr"), "{err}");

    // The reference form moves tensors without gradients; that step is refused, unchanged.
    let reference = Config::new("ScheduleFreeWrapperReference").set("base", sgd.to_dict());
    let mut opt = build_optimizer::<f32>(&groups, &reference).unwrap();
    let mut params = vec![vec![1.0f32; 4], vec![1.0f32; 2]];
    let before = opt.clone();
    let err = opt
        .step(&mut params, &[Some(vec![0.1f32; 4]), None])
        .unwrap_err();
    assert!(matches!(err, Error::Mode { .. }), "{err}");
    assert_eq!(opt, before);
    assert_eq!(params, vec![vec![1.0f32; 4], vec![1.0f32; 2]]);
}

#[test]
fn schedule_free_names_and_keys() {
    let g = [ParamGroup::new([[2]])];
    for name in [
        "AdamWScheduleFreeClosure",
        "sgdschedulefreeclosure",
        "RAdamScheduleFreeClosure",
    ] {
        let err = build_optimizer::<f32>(&g, &Config::new(name)).unwrap_err();
        assert_eq!(err.key(), Some("name"), "{name}: {err}");
        assert!(err.to_string().contains("closure"), "{err}");
    }
    // warmup_steps is an integer count (an integral float is accepted, as Python would).
    let sf = |v: Value| Config::new("AdamWScheduleFree").set("warmup_steps", v);
    assert!(build_optimizer::<f32>(&g, &sf(Value::Float(3.0))).is_ok());
    for bad in [Value::Int(-1), Value::Float(2.5), Value::Str("3".into())] {
        let err = build_optimizer::<f32>(&g, &sf(bad)).unwrap_err();
        assert_eq!(err.key(), Some("warmup_steps"), "{err}");
    }
    // RAdamScheduleFree has no warmup_steps (the rectification is its warmup).
    let err = build_optimizer::<f32>(&g, &Config::new("RAdamScheduleFree").set("warmup_steps", 3))
        .unwrap_err();
    assert_eq!(err.key(), Some("warmup_steps"), "{err}");
    // β₁ = 0 would make eval() divide by zero.
    let err = build_optimizer::<f32>(
        &g,
        &Config::new("AdamWScheduleFree").set("betas", (0.0, 0.999)),
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("betas[0]"), "{err}");
}

/// Adagrad's `sum` starts at the constructor's `initial_accumulator_value` (rounded once to the
/// state type) in every group: PyTorch fills it in `__init__` and never reads a group's value.
#[test]
fn adagrad_state_starts_at_the_constructors_initial_accumulator_value() {
    let gs = [
        ParamGroup::new([vec![2, 3], vec![5]]),
        ParamGroup::new([[4]]).set("initial_accumulator_value", 2.0),
    ];
    let config = Config::new("Adagrad").set("initial_accumulator_value", 0.1);
    let o = build_optimizer::<f32>(&gs, &config).unwrap();
    for (i, n) in [6, 5, 4].into_iter().enumerate() {
        assert_eq!(o.state(i).unwrap(), vec![0.1f32; n], "tensor {i}");
    }
    // The group keeps its value (as PyTorch's param_groups do); it only does not reach the state.
    assert_eq!(
        o.get(1, "initial_accumulator_value"),
        Some(Value::Float(2.0))
    );
    let o = build_optimizer::<bf16>(&gs, &config).unwrap();
    assert_eq!(
        o.state(2).unwrap(),
        vec![0.1f32; 4],
        "bf16 params keep f32 state"
    );
    let zero = build_optimizer::<f64>(&gs, &Config::new("Adagrad")).unwrap();
    assert!(zero.state_buffer().iter().all(|&x| x == 0.0));
    // Wrapped: the wrapper's `z` (set from the parameters on the first step) starts at 0, the
    // base rule's slots at the base's initial state.
    let base = Config::new("Adagrad").set("initial_accumulator_value", 0.5);
    let wrapped = Config::new("ScheduleFreeWrapper").set("base", base.to_dict());
    let o = build_optimizer::<f32>(&gs, &wrapped).unwrap();
    let mut want = vec![0.0f32; 5];
    want.extend([0.5f32; 5]);
    assert_eq!(o.state(1).unwrap(), want);
}

#[test]
fn shaped_rules_names_keys_and_defaults() {
    let mats = [
        ParamGroup::new([[4, 3]]),
        ParamGroup::new([[2, 5]]).set("lr", 0.05),
    ];
    for name in ["Adafactor", "adafactor", "Muon", "MUON"] {
        assert!(
            build_optimizer::<f32>(&mats, &Config::new(name)).is_ok(),
            "{name}"
        );
    }
    let d = optimizer_defaults("adafactor").unwrap();
    assert_eq!(d.name(), "Adafactor");
    assert_eq!(
        d.get("eps"),
        Some(&Value::List(vec![Value::None, Value::Float(1e-3)]))
    );
    assert_eq!(d.get("weight_decay"), Some(&Value::Float(0.0)));
    assert_eq!(
        optimizer_keys("Adafactor").unwrap(),
        [
            "lr",
            "beta2_decay",
            "eps",
            "d",
            "weight_decay",
            "foreach",
            "maximize"
        ]
    );
    let d = optimizer_defaults("muon").unwrap();
    assert_eq!(d.get("adjust_lr_fn"), Some(&Value::None));
    assert_eq!(d.get("ns_steps"), Some(&Value::Int(5)));
    assert_eq!(
        d.get("ns_coefficients"),
        Some(&Value::List(vec![
            Value::Float(3.4445),
            Value::Float(-4.775),
            Value::Float(2.0315)
        ]))
    );
    // eps pair: None or a number first; strings stay strings for adjust_lr_fn.
    let a = Config::new("Adafactor").set("eps", Value::List(vec![Value::None, 1e-2.into()]));
    let opt = build_optimizer::<f64>(&mats, &a).unwrap();
    assert_eq!(
        opt.get(0, "eps"),
        Some(Value::List(vec![Value::None, Value::Float(1e-2)]))
    );
    rejected(Config::new("Adafactor").set("eps", 1e-3), "eps");
    rejected(Config::new("Adafactor").set("eps", ("x", 1e-3)), "eps[0]");
    rejected(Config::new("Adafactor").set("eps", (-1.0, 1e-3)), "eps[0]");
    rejected(
        Config::new("Adafactor").set("eps", (1e-30, f64::NAN)),
        "eps[1]",
    );
    rejected(
        Config::new("Adafactor").set("beta2_decay", 0.1),
        "beta2_decay",
    );
    rejected(Config::new("Adafactor").set("d", 0.99), "d");
    rejected(Config::new("Adafactor").set("betas", (0.9, 0.99)), "betas");
    let m = Config::new("Muon").set("adjust_lr_fn", "match_rms_adamw");
    let mut opt = build_optimizer::<f32>(&mats, &m).unwrap();
    assert_eq!(
        opt.get(1, "adjust_lr_fn"),
        Some(Value::Str("match_rms_adamw".into()))
    );
    opt.set(1, "adjust_lr_fn", &Value::None).unwrap();
    opt.set(0, "ns_steps", &Value::Int(3)).unwrap();
    let err = opt.set(0, "ns_steps", &Value::Int(100)).unwrap_err();
    assert_eq!(err.key(), Some("ns_steps"), "{err}");
    rejected(
        Config::new("Muon").set("adjust_lr_fn", "rms"),
        "adjust_lr_fn",
    );
    rejected(Config::new("Muon").set("adjust_lr_fn", 1), "adjust_lr_fn");
    rejected(
        Config::new("Muon").set("ns_coefficients", (1.0, 2.0)),
        "ns_coefficients",
    );
    rejected(Config::new("Muon").set("momentum", f64::NAN), "momentum");
    rejected(Config::new("Muon").set("maximize", true), "maximize");
    rejected(Config::new("Muon").set("foreach", false), "foreach");
}

#[test]
fn shaped_rules_refuse_shapes_by_tensor_and_cannot_be_wrapped() {
    // Muon: 2-D only, as torch's constructor; the error names the tensor (groups concatenated).
    let gs = [
        ParamGroup::new([[4, 3]]),
        ParamGroup::new([vec![4, 3], vec![3]]),
    ];
    let err = build_optimizer::<f32>(&gs, &Config::new("Muon")).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedShape { tensor: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("tensor 2: "), "{err}");
    // Adafactor: any rank, but not an empty tensor (torch divides by numel).
    let ok = [ParamGroup::new([vec![], vec![5], vec![2, 3, 4]])];
    assert!(build_optimizer::<f32>(&ok, &Config::new("Adafactor")).is_ok());
    let empty = [ParamGroup::new([vec![2, 0]])];
    let err = build_optimizer::<f32>(&empty, &Config::new("Adafactor")).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedShape { tensor: 0, .. }),
        "{err}"
    );
    for base in ["Adafactor", "Muon"] {
        let w = Config::new("ScheduleFreeWrapper").set("base", Config::new(base).to_dict());
        let err = build_optimizer::<f32>(&[ParamGroup::new([[2, 2]])], &w).unwrap_err();
        assert_eq!(err.key(), Some("base"), "{err}");
        assert!(err.to_string().contains("shape-aware"), "{err}");
    }
}

#[test]
fn sparse_adam_checks_its_keys_as_torch_does() {
    let name = "SparseAdam";
    // torch: `0 < lr`, `0 < eps` (strict), each beta in [0, 1); no weight decay, no dispatch flags.
    for lr in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
        rejected(Config::new(name).set("lr", lr), "lr");
    }
    for eps in [0.0, -1e-8, f64::NAN] {
        rejected(Config::new(name).set("eps", eps), "eps");
    }
    rejected(Config::new(name).set("betas", (1.0, 0.999)), "betas[0]");
    rejected(Config::new(name).set("betas", (-0.1, 0.999)), "betas[0]");
    rejected(Config::new(name).set("betas", (0.9, 1.0)), "betas[1]");
    rejected_in_group_as(name, "betas", (0.9, -0.5), "betas[1]");
    rejected_in_group(name, "lr", 0.0);
    for key in [
        "weight_decay",
        "foreach",
        "fused",
        "amsgrad",
        "capturable",
        "differentiable",
    ] {
        rejected(Config::new(name).set(key, false), key);
    }
    assert!(build(&Config::new(name).set("betas", (0.0, 0.0))).is_ok());
    let opt = build(&Config::new("sparseadam")).unwrap();
    assert_eq!(opt.name(), "SparseAdam");
    assert_eq!(opt.get(0, "lr"), Some(Value::Float(1e-3)));
    assert_eq!(opt.get(0, "eps"), Some(Value::Float(1e-8)));
    assert_eq!(opt.get(0, "betas"), Some((0.9, 0.999).into()));
    assert_eq!(opt.get(0, "maximize"), Some(Value::Bool(false)));
    // Exactly the constructor's keyword arguments, in its signature order.
    assert_eq!(
        optimizer_keys(name).unwrap(),
        ["lr", "betas", "eps", "maximize"]
    );
    let d = optimizer_defaults(name).unwrap();
    assert_eq!(d.values().count(), 4);
    // Not a schedule-free base: it updates only the entries present in a sparse gradient.
    let c = Config::new("ScheduleFreeWrapper").set("base", Config::new(name).to_dict());
    let err = build_optimizer::<f32>(&[ParamGroup::new([[3]])], &c).unwrap_err();
    assert_eq!(err.key(), Some("base"));
    assert!(err.to_string().contains("SparseAdam"), "{err}");
}

#[test]
fn step_sparse_checks_everything_first_and_only_sparse_adam_takes_it() {
    let groups = [ParamGroup::new([vec![4, 3], vec![5]])];
    let mut opt = build_optimizer::<f32>(&groups, &Config::new("SparseAdam")).unwrap();
    let mut table = vec![0.5f32; 12];
    let fresh = opt.clone();
    let bad: [(usize, &[usize], usize, &str); 5] = [
        (0, &[2, 1], 6, "rows[1] = 1"),
        (0, &[0, 4], 6, "rows[1] = 4"),
        (0, &[0, 1], 5, "sparse values"),
        (2, &[0], 3, "tensor index 2"),
        (1, &[0], 1, "param"), // tensor 1 has 5 elements, `table` 12
    ];
    for (index, rows, n, msg) in bad {
        let err = opt
            .step_sparse(index, &mut table, rows, &vec![1.0; n])
            .unwrap_err();
        assert!(err.to_string().contains(msg), "{err}");
        if index == 0 {
            assert!(err.to_string().starts_with("tensor 0"), "{err}");
        }
        assert_eq!(table, vec![0.5; 12]);
        assert!(opt == fresh, "nothing changed");
    }
    opt.step_sparse(0, &mut table, &[1, 1, 3], &[1.0; 9])
        .unwrap();
    assert_eq!(opt.tensor_step(0), Some(1));
    assert_eq!(opt.tensor_step(1), Some(0));
    assert_eq!(table[..3], [0.5; 3]);
    assert!(table[3..6].iter().chain(&table[9..]).all(|&x| x < 0.5));
    // An empty gradient counts the step.
    opt.step_sparse(0, &mut table, &[], &[]).unwrap();
    assert_eq!(opt.tensor_step(0), Some(2));
    for name in ["Adam", "SGD", "Muon"] {
        let shapes = [ParamGroup::new([[4, 3]])];
        let mut other = build_optimizer::<f32>(&shapes, &Config::new(name)).unwrap();
        let err = other
            .step_sparse(0, &mut table, &[0], &[1.0; 3])
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Mode {
                    what: "step_sparse",
                    ..
                }
            ),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("only SparseAdam"), "{err}");
    }
}
