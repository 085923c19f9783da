//! Loader benchmark: generates a project of N services (with a `.env`, interpolation, extends and
//! three override files), loads it repeatedly and prints the time per load. Not a test.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use krun::compose::{LoadOptions, load};

const OVERRIDES: usize = 3;

fn write_project(dir: &Path, services: usize) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut main = String::from(
        "name: bench\nx-common: &common\n  restart: unless-stopped\n  labels:\n    tier: backend\nservices:\n  base:\n    image: busybox:1.36\n    environment:\n      BASE: \"1\"\n",
    );
    for i in 0..services {
        let _ = write!(
            main,
            "  svc{i}:\n    <<: *common\n    extends: base\n    image: ${{REGISTRY:-docker.io}}/app{i}:${{TAG}}\n    command: sh -c 'echo {i} && sleep 1'\n    ports:\n      - \"{}:80\"\n      - \"127.0.0.1:{}-{}:9000-9001/udp\"\n    volumes:\n      - ./data{i}:/data\n      - cache{i}:/cache:ro\n    environment:\n      - INDEX={i}\n      - HOST=${{HOSTNAME:-localhost}}\n    healthcheck:\n      test: curl -f http://localhost\n      interval: 1m30s\n",
            10000 + i,
            20000 + 2 * i,
            20001 + 2 * i
        );
        if i > 0 {
            let _ = writeln!(
                main,
                "    depends_on:\n      svc{}:\n        condition: service_started",
                i - 1
            );
        }
    }
    main.push_str("volumes:\n");
    for i in 0..services {
        let _ = writeln!(main, "  cache{i}: {{}}");
    }
    std::fs::write(dir.join("compose.yaml"), main)?;
    std::fs::write(dir.join(".env"), "TAG=1.0\nREGISTRY=registry.local\n")?;
    let mut files = vec![dir.join("compose.yaml")];
    for o in 0..OVERRIDES {
        let mut text = String::from("services:\n");
        for i in 0..services {
            let _ = write!(
                text,
                "  svc{i}:\n    environment:\n      OVERRIDE{o}: \"yes\"\n      INDEX: \"{i}-{o}\"\n    labels:\n      - layer={o}\n    ports:\n      - \"{}:81\"\n",
                30000 + o * 1000 + i
            );
        }
        let path = dir.join(format!("override{o}.yaml"));
        std::fs::write(&path, text)?;
        files.push(path);
    }
    Ok(files)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("services  files  time/load");
    for services in [50, 100, 200, 400] {
        let tmp = tempfile::tempdir()?;
        let files = write_project(tmp.path(), services)?;
        let opts = LoadOptions {
            files: files.clone(),
            cwd: tmp.path().to_path_buf(),
            env: [("HOSTNAME".to_string(), "bench".to_string())]
                .into_iter()
                .collect(),
            ..LoadOptions::default()
        };
        let loaded = load(&opts)?;
        assert_eq!(loaded.service_names().len(), services + 1);
        let runs = (4000 / services).max(5);
        let start = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(load(&opts)?);
        }
        let per_load = start.elapsed() / runs as u32;
        println!("{services:>8}  {:>5}  {:>9.2?}", files.len(), per_load);
    }
    Ok(())
}
