//! krun against API servers older than the newest: what it relies on must have a fallback
//! (README, "What krun needs from the API server"). Before 1.29 attach has no
//! `v5.channel.k8s.io`, so stdin can only be ended by closing the connection; for a
//! `stdinOnce` container that is EOF, and krun's output comes from the log API, so nothing
//! is lost.

mod support;

use krun_e2e::faults::FaultConfig;
use krun_e2e::sim::SimOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_stdin_ends_without_the_v5_protocol() {
    let cluster = support::Cluster::start_with(SimOptions {
        faults: FaultConfig {
            without_v5_streams: true,
            ..FaultConfig::default()
        },
        ..SimOptions::default()
    })
    .await;
    let krun = support::krun_binary().expect("the krun binary");
    let dir = tempfile::tempdir().expect("tempdir");
    let compose = dir.path().join("compose.yaml");
    std::fs::write(&compose, "services:\n  svc: {image: busybox:1.36}\n").expect("compose file");
    let compose = compose.display().to_string();
    let args = [
        "-f",
        &compose,
        "--project-name",
        "compat",
        "run",
        "--rm",
        "-T",
        "svc",
        "sh",
        "-c",
        "cat; echo done",
    ];
    let out = cluster.command(&krun, &args, "a\nb\n", 90).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "a\nb\ndone\n"),
        "{out:?}"
    );
}
