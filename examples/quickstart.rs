//! The crate-docs example, runnable: AdamW over two parameter groups, ten steps on a toy
//! quadratic `loss = Σ (p − target)²`, whose gradient is `2 (p − target)`.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use optim_kernels::{Config, Error, ParamGroup, TensorSpec, build_optimizer};

fn main() -> Result<(), Error> {
    // Python: torch.optim.AdamW(param_groups, lr=0.1, betas=(0.9, 0.999), weight_decay=0.01)
    let config = Config::new("AdamW")
        .set("lr", 0.1)
        .set("betas", (0.9, 0.999))
        .set("weight_decay", 0.01);
    let groups = [
        ParamGroup::new([TensorSpec::named("weight", [4, 3])]),
        ParamGroup::new([TensorSpec::named("bias", [4])]).set("weight_decay", 0.0),
    ];
    let mut opt = build_optimizer::<f32>(&groups, &config)?;

    let target = [vec![1.0f32; 12], vec![-0.5f32; 4]];
    let mut params = vec![vec![0.0f32; 12], vec![0.0f32; 4]];
    let mut grads = vec![Some(vec![0.0f32; 12]), Some(vec![0.0f32; 4])];

    for step in 1..=10 {
        let mut loss = 0.0;
        for ((p, g), t) in params.iter().zip(&mut grads).zip(&target) {
            let Some(g) = g else { continue };
            for ((g, &p), &t) in g.iter_mut().zip(p).zip(t) {
                loss += (p - t) * (p - t);
                *g = 2.0 * (p - t);
            }
        }
        println!("step {step:>2}  loss {loss:.4}");
        opt.step(&mut params, &grads)?; // allocates nothing
    }
    let loss: f32 = (params.iter().flatten().zip(target.iter().flatten()))
        .map(|(p, t)| (p - t) * (p - t))
        .sum();
    println!(
        "after 10 steps: loss {loss:.4}, bias {:?} (target -0.5)",
        params[1]
    );
    Ok(())
}
