//! `.env` parsing: any text parses or fails with an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let lookup = |name: &str| (name == "HOME").then(|| "/home/fuzz".to_string());
        let _ = krun::compose::dotenv::parse(text, &lookup);
    }
});
