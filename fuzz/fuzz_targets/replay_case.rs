//! Arbitrary bytes as a REPLAY.md case (name, keys, values, groups, shapes, grads): parsing and
//! running return Ok or Err, never panic.
#![no_main]

#[path = "../../examples/replay/case.rs"]
#[allow(dead_code)]
mod case;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = case::parse_case(text) else {
        return;
    };
    // Keep memory bounded: the fuzzer may ask for huge shapes.
    if parsed
        .params
        .iter()
        .map(|(s, _)| s.iter().product::<usize>())
        .sum::<usize>()
        > 1 << 16
    {
        return;
    }
    if let Ok(out) = case::run_case(&parsed) {
        let _ = case::outcome_json(&parsed, &out);
    }
});
