//! `${VAR}` interpolation: any template substitutes or fails with an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(template) = std::str::from_utf8(data) {
        let lookup = |name: &str| (name.len() % 2 == 0).then(|| format!("<{name}>"));
        let _ = krun::compose::interpolate::substitute(template, &lookup, &mut Vec::new());
    }
});
