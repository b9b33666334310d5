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
///
/// Public only so that [`crate::rules::Rule`]'s hidden kernel hooks can name it; sealed in
/// practice (the lane types are sealed).
pub trait Body<C: Real, const K: usize> {
    /// One update, written once for every `V`.
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, s: &mut [V; K]) -> V;
}

/// A body with `J` extra state slots in front of a rule body's `K` (schedule-free's `z`, and `x`
/// for the reference wrapper): what a wrapper around a rule runs. Every [`Body`] is a
/// `HeadBody` with no head slots.
pub trait HeadBody<C: Real, const J: usize, const K: usize> {
    /// One update with head slots `h` and rule slots `s`.
    fn apply_head<V: Lanes<Scalar = C>>(&self, p: V, g: V, h: &mut [V; J], s: &mut [V; K]) -> V;
}

impl<C: Real, B: Body<C, K>, const K: usize> HeadBody<C, 0, K> for B {
    #[inline(always)]
    fn apply_head<V: Lanes<Scalar = C>>(&self, p: V, g: V, _: &mut [V; 0], s: &mut [V; K]) -> V {
        self.apply(p, g, s)
    }
}

/// Runs `body` over whole slices with lane type `V`: `<P::Compute as Real>::Vector` normally,
/// `V = P::Compute` for the scalar path that the SIMD path must equal bit for bit.
///
/// Lengths must be equal; callers check them (and return an error) before the first write.
#[inline(always)]
pub(crate) fn run_with<P, S, B, V, const J: usize, const K: usize>(
    body: &B,
    p: &mut [P],
    g: &[P],
    h: [&mut [S]; J],
    s: [&mut [S]; K],
) where
    P: Element,
    S: Element<Compute = P::Compute>,
    B: HeadBody<P::Compute, J, K>,
    V: Lanes<Scalar = P::Compute>,
{
    debug_assert!(g.len() == p.len() && s.iter().chain(&h).all(|x| x.len() == p.len()));
    let (p_blocks, p_tail) = p.as_chunks_mut::<BLOCK>();
    let (g_blocks, g_tail) = g.as_chunks::<BLOCK>();
    let mut h = h.map(|x| x.as_chunks_mut::<BLOCK>());
    let mut s = s.map(|x| x.as_chunks_mut::<BLOCK>());
    for (i, (pb, gb)) in p_blocks.iter_mut().zip(g_blocks).enumerate() {
        let hb = h.each_mut().map(|(blocks, _)| match blocks.get_mut(i) {
            Some(b) => b,
            None => unreachable_len(),
        });
        let sb = s.each_mut().map(|(blocks, _)| match blocks.get_mut(i) {
            Some(b) => b,
            None => unreachable_len(),
        });
        prefetch_ahead::<P>(pb.as_ptr());
        prefetch_ahead::<P>(gb.as_ptr());
        for b in hb.iter().chain(sb.iter()) {
            prefetch_ahead::<S>(b.as_ptr());
        }
        block::<P, S, B, V, J, K>(body, pb, gb, hb, sb);
    }
    let n = p_tail.len();
    if n == 0 {
        return;
    }
    // The tail: the same block code on zero-padded copies.
    let mut pt = [P::default(); BLOCK];
    let mut gt = [P::default(); BLOCK];
    let mut ht = [[S::default(); BLOCK]; J];
    let mut st = [[S::default(); BLOCK]; K];
    pt[..n].copy_from_slice(p_tail);
    gt[..n].copy_from_slice(&g_tail[..n]);
    for (dst, (_, tail)) in ht
        .iter_mut()
        .zip(h.iter())
        .chain(st.iter_mut().zip(s.iter()))
    {
        dst[..n].copy_from_slice(&tail[..n]);
    }
    block::<P, S, B, V, J, K>(body, &mut pt, &gt, ht.each_mut(), st.each_mut());
    p_tail.copy_from_slice(&pt[..n]);
    for (src, (_, tail)) in ht
        .iter()
        .zip(h.iter_mut())
        .chain(st.iter().zip(s.iter_mut()))
    {
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
fn block<P, S, B, V, const J: usize, const K: usize>(
    body: &B,
    p: &mut [P; BLOCK],
    g: &[P; BLOCK],
    mut h: [&mut [S; BLOCK]; J],
    mut s: [&mut [S; BLOCK]; K],
) where
    P: Element,
    S: Element<Compute = P::Compute>,
    B: HeadBody<P::Compute, J, K>,
    V: Lanes<Scalar = P::Compute>,
{
    let mut i = 0;
    while i + V::WIDTH <= BLOCK {
        let mut hv: [V; J] = core::array::from_fn(|k| S::load::<V>(&h[k][i..]));
        let mut sv: [V; K] = core::array::from_fn(|k| S::load::<V>(&s[k][i..]));
        let np = body.apply_head(
            P::load::<V>(&p[i..]),
            P::load::<V>(&g[i..]),
            &mut hv,
            &mut sv,
        );
        P::store(np, &mut p[i..]);
        for (dst, v) in h.iter_mut().zip(hv) {
            S::store(v, &mut dst[i..]);
        }
        for (dst, v) in s.iter_mut().zip(sv) {
            S::store(v, &mut dst[i..]);
        }
        i += V::WIDTH;
    }
}

/// Rewrites `p` from itself and `K` read-only state slots with `f` (schedule-free's mode
/// switches), blocks and tails as in [`run_with`]. Lengths must be equal.
#[inline(always)]
pub(crate) fn map_with<P, S, F, V, const K: usize>(f: &F, p: &mut [P], s: [&[S]; K])
where
    P: Element,
    S: Element<Compute = P::Compute>,
    F: Fn(V, [V; K]) -> V,
    V: Lanes<Scalar = P::Compute>,
{
    debug_assert!(s.iter().all(|x| x.len() == p.len()));
    let (p_blocks, p_tail) = p.as_chunks_mut::<BLOCK>();
    let s = s.map(|x| x.as_chunks::<BLOCK>());
    let map_block = |pb: &mut [P; BLOCK], sb: [&[S; BLOCK]; K]| {
        let mut i = 0;
        while i + V::WIDTH <= BLOCK {
            let sv: [V; K] = core::array::from_fn(|k| S::load::<V>(&sb[k][i..]));
            P::store(f(P::load::<V>(&pb[i..]), sv), &mut pb[i..]);
            i += V::WIDTH;
        }
    };
    for (i, pb) in p_blocks.iter_mut().enumerate() {
        let sb = s.map(|(blocks, _)| match blocks.get(i) {
            Some(b) => b,
            None => unreachable_len(),
        });
        map_block(pb, sb);
    }
    let n = p_tail.len();
    if n == 0 {
        return;
    }
    let mut pt = [P::default(); BLOCK];
    let mut st = [[S::default(); BLOCK]; K];
    pt[..n].copy_from_slice(p_tail);
    for (dst, (_, tail)) in st.iter_mut().zip(s.iter()) {
        dst[..n].copy_from_slice(&tail[..n]);
    }
    map_block(&mut pt, st.each_ref());
    p_tail.copy_from_slice(&pt[..n]);
}

/// How many blocks ahead of the one being updated [`prefetch_ahead`] asks for (4 blocks of 64
/// elements: 1 KiB ahead per f32 stream). Without it, a rule with more arithmetic than a plain
/// copy keeps fewer cache misses in flight than the hardware prefetcher needs at sizes beyond the
/// last-level cache (Lion f32, 16M elements, default target: 0.78 of the streaming limit without,
/// ≥ 1.0 with, side by side).
#[cfg(target_arch = "x86_64")]
const AHEAD: usize = 4;

/// Asks for the block `AHEAD` blocks on to be fetched into L1 (a hint: `prefetcht0` issues no
/// architectural load, never faults, and the pointer may be past the end of the slice — it is
/// formed with `wrapping_add` and never dereferenced).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_ahead<T>(block: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = BLOCK * core::mem::size_of::<T>();
        let base = block.cast::<i8>().wrapping_add(AHEAD * bytes);
        let mut off = 0;
        while off < bytes {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has (it is in the
            // target's baseline); it is only a hint that never dereferences its argument, so any
            // address, including one past the end of the allocation, is allowed.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = block;
}

#[cfg(test)]
mod tests {
    use crate::rules::{AdamW, Lion, Rule};
    use half::bf16;
    use std::vec;
    use std::vec::Vec;

    /// The prefetching block loop, run under Miri (`cargo +nightly miri test --lib drive::`):
    /// tensors of several blocks plus a tail, so the prefetch addresses run past the end of
    /// every slice; the SIMD path must equal the element-by-element scalar body.
    #[test]
    fn prefetch_past_the_end_is_harmless() {
        let n = 3 * super::BLOCK + 5;
        let init: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let grad: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let rule = AdamW::DEFAULT;
        let (mut p, mut s, mut t) = (init.clone(), vec![0.0f32; rule.state_len(n)], 0);
        rule.step(&mut t, &mut p, &grad, &mut s).unwrap();
        rule.step(&mut t, &mut p, &grad, &mut s).unwrap();
        let lion = Lion::DEFAULT;
        let pb: Vec<bf16> = init.iter().map(|&x| bf16::from_f32(x)).collect();
        let gb: Vec<bf16> = grad.iter().map(|&x| bf16::from_f32(x)).collect();
        let (mut q, mut sl, mut tl) = (pb.clone(), vec![0.0f32; lion.state_len(n)], 0);
        lion.step(&mut tl, &mut q, &gb, &mut sl).unwrap();
        // One element at a time (each call is all tail, no prefetch) gives the same bits; a few
        // elements at the block edges keep the run short under Miri.
        let b = super::BLOCK;
        for i in [0, 1, b - 1, b, 2 * b - 1, 2 * b, 3 * b - 1, 3 * b, n - 1] {
            let (mut p1, mut s1, mut t1) = ([init[i]], [0.0f32; 2], 0);
            rule.step(&mut t1, &mut p1, &grad[i..=i], &mut s1).unwrap();
            rule.step(&mut t1, &mut p1, &grad[i..=i], &mut s1).unwrap();
            assert_eq!(p1[0].to_bits(), p[i].to_bits(), "AdamW element {i}");
            let (mut q1, mut m1, mut u1) = ([pb[i]], [0.0f32], 0);
            lion.step(&mut u1, &mut q1, &gb[i..=i], &mut m1).unwrap();
            assert_eq!(q1[0].to_bits(), q[i].to_bits(), "Lion element {i}");
        }
    }
}
