#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tessera::repl::fuzz::replies(data);
});
