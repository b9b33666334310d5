//! The conformance CLI of REPLAY.md: reads one JSON case, runs it through `build_optimizer`, and
//! prints the parameters after every step as one JSON object.
//!
//! ```text
//! cargo run --release --example replay -- CASE.json      # or `-` for standard input
//! ```
//!
//! A case the crate rejects (unknown optimizer or key, invalid value, mismatched lengths, ...)
//! exits with status 2 and one `error: ...` line on stderr naming the key or tensor.

mod case;

use std::io::Read;
use std::process::ExitCode;

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        return fail("usage: replay CASE.json (or - for standard input)");
    };
    let mut text = String::new();
    let read = if path == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    if let Err(e) = read {
        return fail(&format!("cannot read {path}: {e}"));
    }
    let case = match case::parse_case(&text) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    match case::run_case(&case) {
        Ok(out) => {
            println!("{}", case::outcome_json(&case, &out));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
