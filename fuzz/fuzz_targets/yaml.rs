//! The YAML layer: any text parses or fails with an error, never a crash or a hang.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = krun::compose::yaml::parse(text);
    }
});
