//! `kube-sim`: runs the Kubernetes API simulator on 127.0.0.1 until interrupted.
//!
//! ```text
//! cargo run -p krun-e2e --bin kube-sim -- --kubeconfig /tmp/kube-sim.yaml [--port 0] [--faults faults.yaml]
//! KUBECONFIG=/tmp/kube-sim.yaml kubectl get pods
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use krun_e2e::faults::Faults;
use krun_e2e::sim::{SimOptions, start};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "kube-sim",
    version,
    about = "A Kubernetes API simulator on 127.0.0.1 (plain HTTP)"
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig for the simulator here.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The namespace the kubeconfig's context selects.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Fault injection settings (JSON or YAML); also settable at PUT /kube-sim/faults.
    #[arg(long)]
    faults: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let faults = match &args.faults {
        Some(path) => Faults::load(path)?,
        None => Default::default(),
    };
    let handle = start(SimOptions {
        port: args.port,
        kubeconfig: args.kubeconfig.clone(),
        namespace: args.namespace,
        faults,
        ..SimOptions::default()
    })
    .await
    .context("starting kube-sim")?;
    println!("kube-sim listening on {}", handle.url());
    if let Some(path) = handle.kubeconfig_path() {
        println!("kubeconfig written to {}", path.display());
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
