//! The configuration language: lexer, resolution and typed build, as from a file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut warnings = Vec::new();
    let _ = pmacct_core::config::load("fuzz.conf", &text, Vec::new(), &mut warnings);
});
