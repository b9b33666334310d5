//! The only code that splits slices into blocks and lanes.
//!
//! A slice of `n` elements is cut into blocks of [`BLOCK`] elements (`as_chunks`; one bounds check
//! per block, none per element). Within a block the rule body runs over lanes of `V::WIDTH`;
//! each operand is loaded and stored in its own element type, `f16`/`bf16` widened and rounded in
//! registers. The last partial block is copied into a zero-padded stack block and runs through the
//! very same code, so tails are computed exactly like everything else; the padding results are
//! discarded.

use crate::element::{BLOCK, Element};
use crate::lanes::{Lanes, Real};

/// A rule's arithmetic for one group of lanes: parameter, gradient and `K` state slots in, new
/// parameter out (state updated in place).
pub(crate) trait Body<C: Real, const K: usize> {
    /// One update, written once for every `V`.
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, s: &mut [V; K]) -> V;
}

/// Runs `body` over whole slices with lane type `V`: `<P::Compute as Real>::Vector` normally,
/// `V = P::Compute` for the scalar path that the SIMD path must equal bit for bit.
///
/// Lengths must be equal; callers check them (and return an error) before the first write.
#[inline(always)]
pub(crate) fn run_with<P, S, B, V, const K: usize>(body: &B, p: &mut [P], g: &[P], s: [&mut [S]; K])
where
    P: Element,
    S: Element<Compute = P::Compute>,
    B: Body<P::Compute, K>,
    V: Lanes<Scalar = P::Compute>,
{
    debug_assert!(g.len() == p.len() && s.iter().all(|x| x.len() == p.len()));
    let (p_blocks, p_tail) = p.as_chunks_mut::<BLOCK>();
    let (g_blocks, g_tail) = g.as_chunks::<BLOCK>();
    let mut s = s.map(|x| x.as_chunks_mut::<BLOCK>());
    for (i, (pb, gb)) in p_blocks.iter_mut().zip(g_blocks).enumerate() {
        let sb = s.each_mut().map(|(blocks, _)| match blocks.get_mut(i) {
            Some(b) => b,
            None => unreachable_len(),
        });
        block::<P, S, B, V, K>(body, pb, gb, sb);
    }
    let n = p_tail.len();
    if n == 0 {
        return;
    }
    // The tail: the same block code on zero-padded copies.
    let mut pt = [P::default(); BLOCK];
    let mut gt = [P::default(); BLOCK];
    let mut st = [[S::default(); BLOCK]; K];
    pt[..n].copy_from_slice(p_tail);
    gt[..n].copy_from_slice(&g_tail[..n]);
    for (dst, (_, tail)) in st.iter_mut().zip(s.iter()) {
        dst[..n].copy_from_slice(&tail[..n]);
    }
    block::<P, S, B, V, K>(body, &mut pt, &gt, st.each_mut());
    p_tail.copy_from_slice(&pt[..n]);
    for (src, (_, tail)) in st.iter().zip(s.iter_mut()) {
        tail.copy_from_slice(&src[..n]);
    }
}

#[cold]
#[inline(never)]
fn unreachable_len() -> ! {
    // Only reachable if a caller broke the equal-length precondition, which every public entry
    // point checks first and turns into an error.
    panic!("optim-kernels: state slice shorter than the parameter slice")
}

/// One block: the rule body over lanes of `V::WIDTH`, loading and storing each operand in its
/// own element type (widening and rounding in registers).
#[inline(always)]
fn block<P, S, B, V, const K: usize>(
    body: &B,
    p: &mut [P; BLOCK],
    g: &[P; BLOCK],
    mut s: [&mut [S; BLOCK]; K],
) where
    P: Element,
    S: Element<Compute = P::Compute>,
    B: Body<P::Compute, K>,
    V: Lanes<Scalar = P::Compute>,
{
    let mut i = 0;
    while i + V::WIDTH <= BLOCK {
        let mut sv: [V; K] = core::array::from_fn(|k| S::load::<V>(&s[k][i..]));
        let np = body.apply(P::load::<V>(&p[i..]), P::load::<V>(&g[i..]), &mut sv);
        P::store(np, &mut p[i..]);
        for (dst, v) in s.iter_mut().zip(sv) {
            S::store(v, &mut dst[i..]);
        }
        i += V::WIDTH;
    }
}
