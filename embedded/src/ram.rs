//! Where the RAM went: static buffers (from the linker's symbols) and the stack's high-water
//! mark. cortex-m-rt's `paint-stack` feature fills the whole stack region with
//! [`cortex_m_rt::STACK_PAINT_VALUE`] at reset; the lowest word that no longer holds it is the
//! deepest the stack has reached.

/// RAM use in bytes.
pub struct Usage {
    /// The RAM region of `memory.x`.
    pub total: usize,
    /// `.data`, `.bss` and `.uninit`: every `static`.
    pub statics: usize,
    /// The deepest the stack has been so far.
    pub stack_peak: usize,
}

// Symbols of cortex-m-rt's `link.x`: only their addresses are used.
#[allow(unsafe_code)]
unsafe extern "C" {
    static _ram_start: u32;
    static _ram_end: u32;
    /// End of the statics; the stack may grow down to here.
    static _stack_end: u32;
    /// Initial stack pointer (top of RAM).
    static _stack_start: u32;
}

/// Measures RAM use now.
#[allow(unsafe_code)]
pub fn usage() -> Usage {
    let ram_start = (&raw const _ram_start) as usize;
    let ram_end = (&raw const _ram_end) as usize;
    let stack_end = (&raw const _stack_end) as usize;
    let stack_start = (&raw const _stack_start) as usize;
    let mut deepest = stack_end;
    while deepest < stack_start {
        // SAFETY: `[_stack_end, _stack_start)` is RAM that link.x reserves for the stack, and
        // both ends are 4-byte aligned (link.x asserts it). Reading a word of it has no side
        // effects; words below the stack pointer belong to no one (no interrupts are enabled).
        let word = unsafe { core::ptr::read_volatile(deepest as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        deepest += 4;
    }
    Usage {
        total: ram_end - ram_start,
        statics: stack_end - ram_start,
        stack_peak: stack_start - deepest,
    }
}
