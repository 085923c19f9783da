//! The whole loader on a compose file given as `-f -`: loads or fails with an error. Relative
//! paths point into a directory that does not exist, so nothing outside is read.
#![no_main]
use krun::compose::{LoadOptions, Selection, load};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = LoadOptions {
        files: vec!["-".into()],
        project_name: Some("fuzz".into()),
        project_directory: None,
        env_files: vec![],
        profiles: vec![],
        cwd: "/nonexistent/krun-fuzz".into(),
        env: indexmap::IndexMap::from([("TAG".to_string(), "1".to_string())]),
        stdin: Some(text.to_string()),
        selection: Selection::All,
        ..LoadOptions::default()
    };
    let _ = load(&opts);
});
