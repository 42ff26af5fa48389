//! Fuzz target `names`: its body is `pmacct_daemon::fuzzing::names` (documented there), which
//! tests/fuzz_corpus.rs also replays on stable.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pmacct_daemon::fuzzing::names(data));
