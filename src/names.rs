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
    Lion,
}

/// Every optimizer name `build_optimizer` accepts, canonical spelling, with its reference.
pub const OPTIMIZERS: &[(&str, &str)] = &[
    ("SGD", "torch.optim.SGD (PyTorch 2.15)"),
    ("Adam", "torch.optim.Adam (PyTorch 2.15)"),
    ("AdamW", "torch.optim.AdamW (PyTorch 2.15)"),
    ("Lion", "lion_pytorch.Lion (lion-pytorch 0.2.5)"),
];

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
        "lion" => Kind::Lion,
        _ => return None,
    })
}
