//! Feature `rayon`: a step that splits large tensors across threads gives exactly the
//! single-thread kernel's bits, for parameters and state.
#![cfg(feature = "rayon")]

use optim_kernels::rules::{
    AdamW, AdamWScheduleFree, Asgd, BaseRule, Lion, NAdam, Rprop, Rule, ScheduleFreeWrapper, Sgd,
    SparseAdam,
};
use optim_kernels::{Config, Optimizer, ParamGroup, bf16};

fn check<R: Rule, P: optim_kernels::Element<Compute = f32, DefaultState = f32>>(
    config: Config,
    rule: R,
) {
    let n = (1 << 18) + 77; // several parallel chunks and a tail
    let mut opt = Optimizer::<P>::build(&[ParamGroup::new([[n]])], &config).unwrap();
    let init: Vec<P> = (0..n)
        .map(|i| P::from_f64(((i % 101) as f64 - 50.0) * 0.013))
        .collect();
    let grad: Vec<P> = (0..n)
        .map(|i| P::from_f64(((i * 7 % 89) as f64 - 44.0) * 1e-3))
        .collect();
    let mut params = vec![init.clone()];
    let mut serial_p = init;
    let mut serial_state = vec![0.0f32; rule.state_len(n)];
    let mut step = 0;
    let mut schedule = R::Schedule::default();
    let mut ts = R::TensorState::default();
    for _ in 0..3 {
        opt.step(&mut params, &[Some(&grad[..])]).unwrap();
        let sc = rule.begin_step(&mut schedule);
        rule.step_tensor_with(
            &sc,
            &mut step,
            &mut ts,
            &mut serial_p,
            &grad,
            &mut serial_state,
        )
        .unwrap();
    }
    let bits = |v: &[P]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&params[0]),
        bits(&serial_p),
        "{}: parameters differ",
        config.name()
    );
    let st: Vec<u32> = opt.state(0).unwrap().iter().map(|x| x.to_bits()).collect();
    let serial: Vec<u32> = serial_state.iter().map(|x| x.to_bits()).collect();
    assert_eq!(st, serial, "{}: state differs", config.name());
}

#[test]
fn parallel_step_equals_the_single_thread_kernel_bitwise() {
    let adamw = AdamW {
        lr: 1e-2,
        amsgrad: true,
        ..AdamW::DEFAULT
    };
    check::<_, f32>(
        Config::new("AdamW").set("lr", 1e-2).set("amsgrad", true),
        adamw.clone(),
    );
    check::<_, bf16>(
        Config::new("AdamW").set("lr", 1e-2).set("amsgrad", true),
        adamw,
    );
    let sgd = Sgd {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..Sgd::DEFAULT
    };
    check::<_, f32>(
        Config::new("SGD")
            .set("lr", 0.1)
            .set("momentum", 0.9)
            .set("nesterov", true),
        sgd,
    );
    let lion = Lion {
        lr: 1e-3,
        weight_decay: 0.1,
        init_lr: 1e-3,
        ..Lion::DEFAULT
    };
    check::<_, f32>(
        Config::new("Lion").set("lr", 1e-3).set("weight_decay", 0.1),
        lion,
    );
    // Per-tensor scalars (NAdam's mu_product, ASGD's eta and mu) advance once per update, not
    // once per chunk.
    let nadam = NAdam {
        lr: 1e-2,
        momentum_decay: 0.1,
        ..NAdam::DEFAULT
    };
    check::<_, f32>(
        Config::new("NAdam")
            .set("lr", 1e-2)
            .set("momentum_decay", 0.1),
        nadam,
    );
    let asgd = Asgd {
        lr: 0.1,
        t0: 1.0,
        ..Asgd::DEFAULT
    };
    check::<_, bf16>(Config::new("ASGD").set("lr", 0.1).set("t0", 1.0), asgd);
    check::<_, f32>(Config::new("Rprop"), Rprop::DEFAULT);
    check::<_, f32>(
        Config::new("SparseAdam").set("maximize", true),
        SparseAdam {
            maximize: true,
            ..SparseAdam::DEFAULT
        },
    );
    let sf = AdamWScheduleFree {
        lr: 1e-2,
        warmup_steps: 2,
        weight_decay: 0.1,
        ..AdamWScheduleFree::DEFAULT
    };
    check::<_, bf16>(
        Config::new("AdamWScheduleFree")
            .set("lr", 1e-2)
            .set("warmup_steps", 2)
            .set("weight_decay", 0.1),
        sf,
    );
    let wrapper = ScheduleFreeWrapper::new(BaseRule::Sgd(Sgd {
        lr: 0.1,
        momentum: 0.9,
        ..Sgd::DEFAULT
    }));
    check::<_, f32>(
        Config::new("ScheduleFreeWrapper").set(
            "base",
            Config::new("SGD")
                .set("lr", 0.1)
                .set("momentum", 0.9)
                .to_dict(),
        ),
        wrapper,
    );
}
