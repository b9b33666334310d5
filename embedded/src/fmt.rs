//! Fixed-point number formatting with integer arithmetic only: `core`'s float formatting would
//! add its (large) code to the flash image for a few numbers per epoch.

use core::fmt;

/// An `f32` shown with a fixed number of decimals: `Dec(1.23456, 4)` prints `1.2346`.
pub struct Dec(pub f32, pub u32);

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Dec(x, decimals) = *self;
        if x.is_nan() {
            return f.pad("NaN");
        }
        let scale = 10u64.pow(decimals.min(9));
        let magnitude = x.abs() * scale as f32 + 0.5;
        // Values past 1.8e19 / scale print as inf: a loss that large has diverged anyway.
        if magnitude >= u64::MAX as f32 {
            return f.pad(if x < 0.0 { "-inf" } else { "inf" });
        }
        let scaled = magnitude as u64;
        let sign = if x < 0.0 && scaled != 0 { "-" } else { "" };
        let (int, frac) = (scaled / scale, scaled % scale);
        // Format into a small stack buffer first so that width and alignment apply to the whole.
        let mut buf = Buf::<32>::new();
        if decimals == 0 {
            let _ = fmt::write(&mut buf, format_args!("{sign}{int}"));
        } else {
            let width = decimals.min(9) as usize;
            let _ = fmt::write(&mut buf, format_args!("{sign}{int}.{frac:0width$}"));
        }
        f.pad(buf.as_str())
    }
}

/// A fixed-capacity string (no allocator).
struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    const fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        core::str::from_utf8(bytes).unwrap_or("?")
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
