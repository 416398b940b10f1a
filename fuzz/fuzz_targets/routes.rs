//! `fuzzing::routes` under libFuzzer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::routes(data));
