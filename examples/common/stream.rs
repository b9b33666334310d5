//! The streaming limit: a loop that reads and writes exactly the arrays a rule's step reads and
//! writes (same element types, in place) with trivial integer arithmetic. Shared by
//! `examples/throughput.rs` and `benches/rules.rs`.

use optim_kernels::{Element, bf16, f16};

/// Raw-bit access for the streaming baseline: XOR a bit of the gradient into each written value.
pub trait Bits: Element {
    /// `self` with the low bit of `g` XORed into its lowest bit.
    fn mix(self, g: u32) -> Self;
    /// The low 32 bits of the representation.
    fn low(self) -> u32;
}

macro_rules! bits {
    ($t:ty, $u:ty) => {
        impl Bits for $t {
            #[inline(always)]
            fn mix(self, g: u32) -> Self {
                <$t>::from_bits(self.to_bits() ^ (g & 1) as $u)
            }
            #[inline(always)]
            fn low(self) -> u32 {
                self.to_bits() as u32
            }
        }
    };
}
bits!(f32, u32);
bits!(f64, u64);
bits!(bf16, u16);
bits!(f16, u16);

/// Reads p, g and every state slot (`state.len() / p.len()` of them, at most 3), writes p and every
/// slot.
#[inline(never)]
pub fn baseline<P: Bits, S: Bits>(p: &mut [P], g: &[P], state: &mut [S]) {
    let n = p.len();
    let mut slots = state.chunks_exact_mut(n.max(1));
    match (slots.next(), slots.next(), slots.next()) {
        (None, _, _) => p.iter_mut().zip(g).for_each(|(p, g)| *p = p.mix(g.low())),
        (Some(a), None, _) => p.iter_mut().zip(g).zip(a).for_each(|((p, g), a)| {
            let x = g.low();
            *p = p.mix(x);
            *a = a.mix(x);
        }),
        (Some(a), Some(b), None) => {
            p.iter_mut()
                .zip(g)
                .zip(a)
                .zip(b)
                .for_each(|(((p, g), a), b)| {
                    let x = g.low();
                    *p = p.mix(x);
                    *a = a.mix(x);
                    *b = b.mix(x);
                })
        }
        (Some(a), Some(b), Some(c)) => {
            p.iter_mut()
                .zip(g)
                .zip(a)
                .zip(b)
                .zip(c)
                .for_each(|((((p, g), a), b), c)| {
                    let x = g.low();
                    *p = p.mix(x);
                    *a = a.mix(x);
                    *b = b.mix(x);
                    *c = c.mix(x);
                })
        }
    }
}
