//! On-device fine-tuning with `optim-kernels` on a Cortex-M, in QEMU.
//!
//! The head (last two layers) of a small MLP is fine-tuned on a synthetic data set; the frozen
//! first layer, the head's initial weights and the data were generated on the host at build time
//! (`build.rs`, fixed seed) and live in flash. Parameters, gradients and optimizer state are
//! `static` buffers whose lengths come from the crate's `const fn state_len`; nothing is
//! allocated (no allocator is linked).
//!
//! Each optimizer phase starts from the same initial head and is one call of
//! [`phase::run_phase`]: AdamW, Lion and Schedule-Free AdamW, each with f32 and with bf16
//! parameters (f32 state). Every phase must cut the held-out loss by [`LOSS_FACTOR`]; the firmware
//! exits QEMU with failure otherwise (semihosting `SYS_EXIT`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

#[cfg(not(any(feature = "adamw", feature = "lion", feature = "schedule-free")))]
compile_error!("enable at least one optimizer feature: `adamw`, `lion` or `schedule-free`");

mod fmt;
mod model;
mod phase;
mod ram;

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use optim_kernels::bf16;
use optim_kernels::rules::{Adam, AdamW, AdamWScheduleFree, Lion, Sgd};

use crate::fmt::Dec;
use crate::model::{Head, N_PARAMS};
use crate::phase::{Buffers, Optimizer, Outcome, PerTensor, run_phase};

/// Epochs per phase.
const EPOCHS: usize = 10;

/// Every phase must divide the held-out loss (mean cross-entropy) by at least this much between
/// the initial head and the last epoch, or the firmware exits with failure.
const LOSS_FACTOR: f32 = 4.0;

/// AdamW for the weights (decoupled weight decay) ...
#[cfg(feature = "adamw")]
const ADAMW: AdamW = AdamW {
    lr: 1e-2,
    weight_decay: 1e-2,
    ..AdamW::DEFAULT
};
/// ... and for the biases (no decay).
#[cfg(feature = "adamw")]
const ADAMW_NO_DECAY: AdamW = AdamW {
    weight_decay: 0.0,
    ..ADAMW
};

/// Lion for the weights: a 3.3× smaller lr and a 10× larger decay than AdamW (its paper
/// recommends 3–10× for both) ...
#[cfg(feature = "lion")]
const LION: Lion = Lion {
    lr: 3e-3,
    init_lr: 3e-3,
    weight_decay: 0.1,
    ..Lion::DEFAULT
};
/// ... and for the biases.
#[cfg(feature = "lion")]
const LION_NO_DECAY: Lion = Lion {
    weight_decay: 0.0,
    ..LION
};

/// Schedule-Free AdamW for the weights: AdamW's lr and weight decay (the decay taken at `y`, as
/// schedulefree does), warmed up linearly over the first epoch (16 steps) ...
#[cfg(feature = "schedule-free")]
const SF_ADAMW: AdamWScheduleFree = AdamWScheduleFree {
    lr: 1e-2,
    weight_decay: 1e-2,
    warmup_steps: 16,
    ..AdamWScheduleFree::DEFAULT
};
/// ... and for the biases (no decay; a schedule of their own).
#[cfg(feature = "schedule-free")]
const SF_ADAMW_NO_DECAY: AdamWScheduleFree = AdamWScheduleFree {
    weight_decay: 0.0,
    ..SF_ADAMW
};

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Optimizer state for the whole head: the largest any linked rule needs (phases run one after
/// another and share it), from the crate's compile-time `state_len`.
const STATE_LEN: usize = {
    let n = 0;
    #[cfg(feature = "adamw")]
    let n = max(n, head_state_len!(ADAMW));
    #[cfg(feature = "lion")]
    let n = max(n, head_state_len!(LION));
    #[cfg(feature = "schedule-free")]
    let n = max(n, head_state_len!(SF_ADAMW));
    n
};

/// Every byte of RAM the training uses besides the stack, sized at compile time.
struct Statics {
    head_f32: Head<f32>,
    grad_f32: Head<f32>,
    head_bf16: Head<bf16>,
    grad_bf16: Head<bf16>,
    acc: Head<f32>,
    state: [f32; STATE_LEN],
}

impl Statics {
    const fn new() -> Self {
        Statics {
            head_f32: Head::filled(0.0),
            grad_f32: Head::filled(0.0),
            head_bf16: Head::filled(bf16::ZERO),
            grad_bf16: Head::filled(bf16::ZERO),
            acc: Head::filled(0.0),
            state: [0.0; STATE_LEN],
        }
    }

    fn f32(&mut self) -> Buffers<'_, f32> {
        Buffers {
            head: &mut self.head_f32,
            grad: &mut self.grad_f32,
            acc: &mut self.acc,
            state: &mut self.state,
        }
    }

    fn bf16(&mut self) -> Buffers<'_, bf16> {
        Buffers {
            head: &mut self.head_bf16,
            grad: &mut self.grad_bf16,
            acc: &mut self.acc,
            state: &mut self.state,
        }
    }
}

#[entry]
fn main() -> ! {
    // cortex-m-rt turns this into a `&'static mut` (main runs once): the buffers are in `.bss`.
    static mut STATICS: Statics = Statics::new();

    print_memory_table();
    let mut ok = train(STATICS);
    let ram = ram::usage();
    hprintln!(
        "RAM: {} B of {} B used: statics {} B (training buffers {} B), stack peak {} B",
        ram.statics + ram.stack_peak,
        ram.total,
        ram.statics,
        core::mem::size_of::<Statics>(),
        ram.stack_peak,
    );
    if ram.statics + ram.stack_peak >= ram.total {
        // No paint left: the stack reached the statics and may have overwritten them.
        hprintln!("error: the stack used all the RAM left by the statics");
        ok = false;
    }
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Runs every phase; true if each one cut the held-out loss by [`LOSS_FACTOR`].
fn train(s: &mut Statics) -> bool {
    hprintln!(
        "fine-tuning the {N_PARAMS}-parameter head ({EPOCHS} epochs per phase, seed {:#x}); \
         every phase must cut the eval loss by {}x",
        model::SEED,
        Dec(LOSS_FACTOR, 1),
    );
    let mut ok = true;
    #[cfg(feature = "adamw")]
    {
        ok &= phase(PerTensor::new(ADAMW, ADAMW_NO_DECAY), s.f32());
        ok &= phase(PerTensor::new(ADAMW, ADAMW_NO_DECAY), s.bf16());
    }
    #[cfg(feature = "lion")]
    {
        ok &= phase(PerTensor::new(LION, LION_NO_DECAY), s.f32());
        ok &= phase(PerTensor::new(LION, LION_NO_DECAY), s.bf16());
    }
    // Evaluated at x (`eval()` before every evaluation, `train()` after it), trained at y.
    #[cfg(feature = "schedule-free")]
    {
        ok &= phase(PerTensor::new(SF_ADAMW, SF_ADAMW_NO_DECAY), s.f32());
        ok &= phase(PerTensor::new(SF_ADAMW, SF_ADAMW_NO_DECAY), s.bf16());
    }
    if ok {
        hprintln!(
            "PASS: every phase cut the eval loss by at least {}x",
            Dec(LOSS_FACTOR, 1)
        );
    } else {
        hprintln!("FAIL: at least one phase failed (see above)");
    }
    ok
}

/// One phase: runs it, prints its result and checks the loss factor.
fn phase<O: Optimizer, P: optim_kernels::Element<Compute = f32>>(
    opt: Result<O, optim_kernels::Error>,
    bufs: Buffers<'_, P>,
) -> bool {
    let mut opt = match opt {
        Ok(opt) => opt,
        Err(e) => {
            hprintln!(
                "error: building the optimizer of the {} phase: {e}",
                P::NAME
            );
            return false;
        }
    };
    let name = opt.name();
    match run_phase(&mut opt, bufs, EPOCHS) {
        Ok(Outcome { before, after }) => {
            let factor = before.loss / after.loss;
            let ok = factor >= LOSS_FACTOR;
            hprintln!(
                "{name:<17} {:<4} eval loss {} -> {} ({}x, need >= {}x), accuracy {}% -> {}%: {}",
                P::NAME,
                Dec(before.loss, 4),
                Dec(after.loss, 4),
                Dec(factor, 1),
                Dec(LOSS_FACTOR, 1),
                Dec(100.0 * before.accuracy, 1),
                Dec(100.0 * after.accuracy, 1),
                if ok { "ok" } else { "FAILED" },
            );
            ok
        }
        Err(e) => {
            hprintln!("error: {name} {} phase: {e}", P::NAME);
            false
        }
    }
}

/// Prints what each rule needs per trainable parameter, from the crate's `const fn state_len`.
fn print_memory_table() {
    const SGD_MOMENTUM: Sgd = Sgd {
        momentum: 0.9,
        ..Sgd::DEFAULT
    };
    const AMSGRAD: AdamW = AdamW {
        amsgrad: true,
        ..AdamW::DEFAULT
    };
    let rows: [(&str, usize); 7] = [
        ("SGD", Sgd::DEFAULT.state_len(1)),
        ("SGD momentum", SGD_MOMENTUM.state_len(1)),
        ("Adam", Adam::ADAM.state_len(1)),
        ("AdamW", AdamW::DEFAULT.state_len(1)),
        ("AdamW amsgrad", AMSGRAD.state_len(1)),
        ("Lion", Lion::DEFAULT.state_len(1)),
        ("AdamWScheduleFree", AdamWScheduleFree::DEFAULT.state_len(1)),
    ];
    let f32_b = core::mem::size_of::<f32>();
    let bf16_b = core::mem::size_of::<bf16>();
    hprintln!("bytes per trainable parameter (param + grad + state):");
    hprintln!("  rule              slots  f32/f32  bf16/f32  bf16/bf16   (param/state dtype)");
    for (name, slots) in rows {
        hprintln!(
            "  {name:<17} {slots:>5}  {:>7}  {:>8}  {:>9}",
            2 * f32_b + slots * f32_b,
            2 * bf16_b + slots * f32_b,
            2 * bf16_b + slots * bf16_b,
        );
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {info}");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
