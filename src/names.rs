//! The name table: which rule a config `name` selects (REPLAY.md "Names").
//!
//! Names match case-insensitively, in this order: PyTorch's `torch.optim` class names; `Lion`
//! (lion-pytorch) and the schedulefree class names; timm's registry names. A `timm:` prefix
//! selects timm's meaning of a name PyTorch also uses.

/// The rules this build knows, by canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sgd,
    Adam,
    AdamW,
    RAdam,
    Rprop,
    NAdam,
    Asgd,
    SparseAdam,
    Lion,
    RmsProp,
    Adagrad,
    Adadelta,
    Adamax,
    Adafactor,
    Muon,
    SgdScheduleFree,
    SgdScheduleFreeReference,
    AdamWScheduleFree,
    AdamWScheduleFreePaper,
    AdamWScheduleFreeReference,
    RAdamScheduleFree,
    ScheduleFreeWrapper,
    ScheduleFreeWrapperReference,
    Lbfgs,
    /// A known name that this crate does not provide, with the reason.
    Unsupported(&'static str),
}

/// Every optimizer name `build_optimizer` accepts, canonical spelling, with its reference.
pub const OPTIMIZERS: &[(&str, &str)] = &[
    ("SGD", "torch.optim.SGD (PyTorch 2.15)"),
    ("Adam", "torch.optim.Adam (PyTorch 2.15)"),
    ("AdamW", "torch.optim.AdamW (PyTorch 2.15)"),
    ("RMSprop", "torch.optim.RMSprop (PyTorch 2.15)"),
    ("Adagrad", "torch.optim.Adagrad (PyTorch 2.15)"),
    ("Adadelta", "torch.optim.Adadelta (PyTorch 2.15)"),
    ("Adamax", "torch.optim.Adamax (PyTorch 2.15)"),
    ("Adafactor", "torch.optim.Adafactor (PyTorch 2.15)"),
    ("Muon", "torch.optim.Muon (PyTorch 2.15)"),
    ("RAdam", "torch.optim.RAdam (PyTorch 2.15)"),
    ("Rprop", "torch.optim.Rprop (PyTorch 2.15)"),
    ("NAdam", "torch.optim.NAdam (PyTorch 2.15)"),
    ("ASGD", "torch.optim.ASGD (PyTorch 2.15)"),
    ("SparseAdam", "torch.optim.SparseAdam (PyTorch 2.15)"),
    ("LBFGS", "torch.optim.LBFGS (PyTorch 2.15)"),
    ("Lion", "lion_pytorch.Lion (lion-pytorch 0.2.5)"),
    (
        "SGDScheduleFree",
        "schedulefree.SGDScheduleFree (schedulefree 1.4.1)",
    ),
    (
        "SGDScheduleFreeReference",
        "schedulefree.SGDScheduleFreeReference (schedulefree 1.4.1)",
    ),
    (
        "AdamWScheduleFree",
        "schedulefree.AdamWScheduleFree (schedulefree 1.4.1)",
    ),
    (
        "AdamWScheduleFreePaper",
        "schedulefree.AdamWScheduleFreePaper (schedulefree 1.4.1)",
    ),
    (
        "AdamWScheduleFreeReference",
        "schedulefree.AdamWScheduleFreeReference (schedulefree 1.4.1)",
    ),
    (
        "RAdamScheduleFree",
        "schedulefree.RAdamScheduleFree (schedulefree 1.4.1)",
    ),
    (
        "ScheduleFreeWrapper",
        "schedulefree.ScheduleFreeWrapper (schedulefree 1.4.1)",
    ),
    (
        "ScheduleFreeWrapperReference",
        "schedulefree.ScheduleFreeWrapperReference (schedulefree 1.4.1)",
    ),
];

const CLOSURE: &str = "the schedule-free closure forms evaluate the gradient inside step(closure) and keep x \
     in the parameters; use the same algorithm without the closure (AdamWScheduleFree, \
     SGDScheduleFree, RAdamScheduleFree) with train()/eval()";

pub(crate) fn resolve(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    // `timm:` names are timm's meaning; none of timm's registry is implemented yet.
    if lower.starts_with("timm:") {
        return None;
    }
    Some(match lower.as_str() {
        "sgd" => Kind::Sgd,
        "adam" => Kind::Adam,
        "adamw" => Kind::AdamW,
        "rmsprop" => Kind::RmsProp,
        "adagrad" => Kind::Adagrad,
        "adadelta" => Kind::Adadelta,
        "adamax" => Kind::Adamax,
        "adafactor" => Kind::Adafactor,
        "muon" => Kind::Muon,
        "radam" => Kind::RAdam,
        "rprop" => Kind::Rprop,
        "nadam" => Kind::NAdam,
        "asgd" => Kind::Asgd,
        "sparseadam" => Kind::SparseAdam,
        "lbfgs" => Kind::Lbfgs,
        "lion" => Kind::Lion,
        "sgdschedulefree" => Kind::SgdScheduleFree,
        "sgdschedulefreereference" => Kind::SgdScheduleFreeReference,
        "adamwschedulefree" => Kind::AdamWScheduleFree,
        "adamwschedulefreepaper" => Kind::AdamWScheduleFreePaper,
        "adamwschedulefreereference" => Kind::AdamWScheduleFreeReference,
        "radamschedulefree" => Kind::RAdamScheduleFree,
        "schedulefreewrapper" => Kind::ScheduleFreeWrapper,
        "schedulefreewrapperreference" => Kind::ScheduleFreeWrapperReference,
        "adamwschedulefreeclosure" | "sgdschedulefreeclosure" | "radamschedulefreeclosure" => {
            Kind::Unsupported(CLOSURE)
        }
        _ => return None,
    })
}
