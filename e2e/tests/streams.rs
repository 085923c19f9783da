//! attach, exec, log and portforward against kube-rs (as krun calls them) and kubectl.

mod kubelet_support;

use std::time::Duration;

use futures::{AsyncBufReadExt, SinkExt, TryStreamExt};
use krun_e2e::faults::{FaultConfig, StreamDrop};
use kube::api::{AttachParams, LogParams, TerminalSize};
use kubelet_support::{Cluster, bounded, phase, shell_pod};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads `reader` until `needle` shows up (or it ends); returns everything read.
async fn read_until(reader: &mut (impl tokio::io::AsyncRead + Unpin), needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// A minimal ustar archive of regular files (what krun streams into its sync init container).
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..108].copy_from_slice(b"0000644\0");
        header[108..116].copy_from_slice(b"0000000\0");
        header[116..124].copy_from_slice(b"0000000\0");
        header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        header[136..148].copy_from_slice(b"00000000000\0");
        header[148..156].copy_from_slice(b"        ");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn stdin_pod(name: &str, script: &str, tty: bool) -> serde_json::Value {
    let mut pod = shell_pod(name, script);
    pod["spec"]["containers"][0]["stdin"] = json!(true);
    pod["spec"]["containers"][0]["stdinOnce"] = json!(true);
    pod["spec"]["containers"][0]["tty"] = json!(tty);
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_delivers_only_new_output_and_v5_close_ends_stdin() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster
            .create(stdin_pod("cat", "echo banner; cat; echo done", false))
            .await;
        cluster.wait("cat", 20, |p| phase(p) == "Running").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let params = AttachParams::default()
            .stdin(true)
            .stdout(true)
            .stderr(false);
        let mut attached = cluster.pods.attach("cat", &params).await.unwrap();
        let mut stdin = attached.stdin().unwrap();
        let mut stdout = attached.stdout().unwrap();
        let status = attached.take_status().unwrap();
        stdin.write_all(b"hello\n").await.unwrap();
        stdin.write_all(b"world\n").await.unwrap();
        // Shut the writer down (dropping a split half is not EOF): kube-rs then sends [255, 0].
        stdin.shutdown().await.unwrap();
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello\nworld\ndone\n");
        let status = status.await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Success"));
        attached.join().await.unwrap();
        cluster.wait("cat", 20, |p| phase(p) == "Succeeded").await;
        let log = cluster.logs("cat").await;
        assert_eq!(log, "banner\nhello\nworld\ndone\n");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tar_attached_to_an_init_container_seeds_the_volume() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        if !cluster.isolated_or_skip("a_tar_attached_to_an_init_container_seeds_the_volume") {
            return;
        }
        cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "synced"},
                "spec": {
                    "restartPolicy": "Never",
                    "volumes": [{"name": "src", "emptyDir": {}}],
                    "initContainers": [{"name": "sync", "image": "busybox:1.36",
                        "command": ["tar", "-x", "-f", "-", "-C", "/dst"], "stdin": true, "stdinOnce": true,
                        "volumeMounts": [{"name": "src", "mountPath": "/dst"}]}],
                    "containers": [{"name": "main", "image": "busybox:1.36", "workingDir": "/app",
                        "command": ["sh", "-c", "cat hello.txt"],
                        "volumeMounts": [{"name": "src", "mountPath": "/app"}]}],
                },
            }))
            .await;
        let pod = cluster
            .wait("synced", 20, |p| {
                kubelet_support::container(p, "sync")
                    .and_then(|c| c.state.as_ref())
                    .is_some_and(|s| s.running.is_some())
            })
            .await;
        assert_eq!(phase(&pod), "Pending");
        let err = cluster.pods.logs("synced", &LogParams::default()).await.unwrap_err();
        assert!(
            err.to_string().contains("container \"main\" in pod \"synced\" is waiting to start: PodInitializing"),
            "{err}"
        );
        let params = AttachParams::default().container("sync").stdin(true).stdout(false).stderr(false);
        let mut attached = cluster.pods.attach("synced", &params).await.unwrap();
        let mut stdin = attached.stdin().unwrap();
        stdin.write_all(&tar(&[("hello.txt", b"from the tar\n")])).await.unwrap();
        stdin.shutdown().await.unwrap();
        let status = attached.take_status().unwrap().await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Success"));
        cluster.wait("synced", 20, |p| phase(p) == "Succeeded").await;
        let out = cluster.logs("synced").await;
        assert_eq!(out, "from the tar\n");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_options_select_lines_and_bytes() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster
            .create(shell_pod("lines", "echo a; echo b; echo c"))
            .await;
        cluster.wait("lines", 20, |p| phase(p) == "Succeeded").await;
        let logs = |params: LogParams| {
            let pods = cluster.pods.clone();
            async move { pods.logs("lines", &params).await.unwrap() }
        };
        assert_eq!(
            logs(LogParams {
                tail_lines: Some(2),
                ..LogParams::default()
            })
            .await,
            "b\nc\n"
        );
        assert_eq!(
            logs(LogParams {
                limit_bytes: Some(3),
                ..LogParams::default()
            })
            .await,
            "a\nb"
        );
        let stamped = logs(LogParams {
            timestamps: true,
            ..LogParams::default()
        })
        .await;
        for line in stamped.lines() {
            let (time, text) = line.split_once(' ').unwrap();
            assert!(time.parse::<jiff::Timestamp>().is_ok(), "{line}");
            assert!(["a", "b", "c"].contains(&text), "{line}");
        }
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            logs(LogParams {
                since_seconds: Some(1),
                ..LogParams::default()
            })
            .await,
            ""
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_attach_resizes_the_pty() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster.create(stdin_pod("shell", "sh", true)).await;
        cluster.wait("shell", 20, |p| phase(p) == "Running").await;
        let mut attached = cluster
            .pods
            .attach("shell", &AttachParams::interactive_tty())
            .await
            .unwrap();
        let mut resize = attached.terminal_size().unwrap();
        let mut stdin = attached.stdin().unwrap();
        let mut stdout = attached.stdout().unwrap();
        resize
            .send(TerminalSize {
                width: 101,
                height: 31,
            })
            .await
            .unwrap();
        resize
            .send(TerminalSize {
                width: 100,
                height: 30,
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stdin.write_all(b"stty size; echo $TERM\n").await.unwrap();
        let out = read_until(&mut stdout, "xterm").await;
        assert!(out.contains("30 100\r\n"), "{out:?}");
        stdin.write_all(b"exit 4\n").await.unwrap();
        let pod = cluster.wait("shell", 20, |p| phase(p) == "Failed").await;
        let code = pod.status.unwrap().container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap()
            .exit_code;
        assert_eq!(code, 4);
        // The log holds the pty's output, with its \r\n line ends, as a kubelet logs it.
        let log = cluster.logs("shell").await;
        assert!(log.contains("30 100\r\n"), "{log:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_reports_output_and_exit_codes() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster.create(shell_pod("target", "sleep 30")).await;
        cluster.wait("target", 20, |p| phase(p) == "Running").await;

        let mut exec = cluster
            .pods
            .exec(
                "target",
                ["sh", "-c", "echo out; echo err >&2; exit 3"],
                &AttachParams::default(),
            )
            .await
            .unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        exec.stdout()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        exec.stderr()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        let status = exec.take_status().unwrap().await.unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
        assert_eq!(status.status.as_deref(), Some("Failure"));
        assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
        let cause = &status.details.unwrap().causes.unwrap()[0];
        assert_eq!(
            (cause.reason.as_deref(), cause.message.as_deref()),
            (Some("ExitCode"), Some("3"))
        );

        let mut exec = cluster
            .pods
            .exec(
                "target",
                ["cat"],
                &AttachParams::default().stdin(true).stderr(false),
            )
            .await
            .unwrap();
        let mut stdin = exec.stdin().unwrap();
        stdin.write_all(b"piped\n").await.unwrap();
        stdin.shutdown().await.unwrap();
        let mut out = String::new();
        exec.stdout()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        assert_eq!(out, "piped\n");
        let status = exec.take_status().unwrap().await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");

        if cluster.handle.sim().kubelet.isolated() {
            // exec joins the container's PID namespace: PID 1 is the container's command.
            let mut exec = cluster
                .pods
                .exec(
                    "target",
                    ["cat", "/proc/1/cmdline"],
                    &AttachParams::default(),
                )
                .await
                .unwrap();
            let mut out = String::new();
            exec.stdout()
                .unwrap()
                .read_to_string(&mut out)
                .await
                .unwrap();
            // `sh -c 'sleep 30'`, or `sleep 30` once sh has exec'd it.
            assert!(
                out.ends_with("sleep 30\0") || out == "sleep\x0030\0",
                "{out:?}"
            );
        }

        let mut exec = cluster
            .pods
            .exec("target", ["no-such-command"], &AttachParams::default())
            .await
            .unwrap();
        let status = exec.take_status().unwrap().await.unwrap();
        assert_eq!(status.reason.as_deref(), Some("InternalError"));
        let message = status.message.unwrap();
        assert!(
            message.contains("executable file not found in $PATH"),
            "{message}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_to_a_finished_container_fail_like_the_api_server() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster.create(shell_pod("gone", "true")).await;
        cluster.wait("gone", 20, |p| phase(p) == "Succeeded").await;
        let mut attached = cluster.pods.attach("gone", &AttachParams::default()).await.unwrap();
        let status = attached.take_status().unwrap().await.unwrap();
        assert_eq!(status.reason.as_deref(), Some("InternalError"));
        assert_eq!(
            status.message.as_deref(),
            Some("Internal error occurred: unable to upgrade connection: container not found (\"main\")")
        );
        let Err(err) = cluster.pods.attach("nope", &AttachParams::default()).await else {
            panic!("attach to a missing pod must fail before the upgrade");
        };
        assert!(err.to_string().contains("pods \"nope\" not found"), "{err}");
        let err = cluster
            .pods
            .logs("gone", &LogParams { container: Some("other".into()), ..LogParams::default() })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("container other is not valid for pod gone"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portforward_reaches_a_pod_port_and_reports_refusals() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        if !cluster.isolated_or_skip("portforward_reaches_a_pod_port_and_reports_refusals") {
            return; // the echo server is busybox's nc, which the host may not have
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        cluster
            .create(shell_pod("echo", &format!("nc -ll -p {port} -e cat")))
            .await;
        cluster.wait("echo", 20, |p| phase(p) == "Running").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "echo server never listened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut forwarder = cluster.pods.portforward("echo", &[port]).await.unwrap();
        let mut stream = forwarder.take_stream(port).unwrap();
        stream.write_all(b"ping\n").await.unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping\n");
        drop(stream);
        forwarder.join().await.unwrap();

        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut forwarder = cluster.pods.portforward("echo", &[closed]).await.unwrap();
        let error = forwarder.take_error(closed).unwrap().await.unwrap();
        assert!(
            error.starts_with(&format!("error forwarding port {closed} to pod ")),
            "{error}"
        );
        assert!(error.contains("connect: connection refused"), "{error}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_drop_fault_cuts_a_followed_log() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        cluster
            .create(shell_pod(
                "chatty",
                "while true; do echo tick; sleep 0.1; done",
            ))
            .await;
        cluster.wait("chatty", 20, |p| phase(p) == "Running").await;
        cluster.handle.sim().faults.set(FaultConfig {
            stream_drops: vec![StreamDrop {
                kinds: vec!["log".into()],
                after_ms: 500,
                count: Some(1),
                ..Default::default()
            }],
            ..Default::default()
        });
        let params = LogParams {
            follow: true,
            ..LogParams::default()
        };
        let mut lines = cluster
            .pods
            .log_stream("chatty", &params)
            .await
            .unwrap()
            .lines();
        let started = std::time::Instant::now();
        let mut ended_with_error = false;
        loop {
            match lines.try_next().await {
                Ok(Some(line)) => assert_eq!(line, "tick"),
                Ok(None) => break,
                Err(_) => {
                    ended_with_error = true;
                    break;
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            ended_with_error,
            "a dropped stream must not look like a clean end"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_logs_and_attach_work_over_websockets() {
    bounded(90, async {
        if std::process::Command::new("kubectl").arg("version").arg("--client").output().is_err() {
            eprintln!("skipping kubectl_exec_logs_and_attach_work_over_websockets: kubectl not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let handle = krun_e2e::sim::start(krun_e2e::sim::SimOptions {
            kubeconfig: Some(kubeconfig.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        let sim = handle.sim().clone();
        sim.store
            .create("pods", json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "k", "namespace": "default"},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36",
                    "stdin": true, "stdinOnce": true,
                    "command": ["sh", "-c", "echo started; read line; echo got $line"]}]}}))
            .unwrap();
        let kubectl = |args: &[&str], stdin: &'static str| {
            let kubeconfig = kubeconfig.clone();
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            tokio::task::spawn_blocking(move || {
                let mut child = std::process::Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args(&args)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            })
        };
        let out = kubectl(&["wait", "--for=condition=Ready", "pod/k", "--timeout=20s"], "").await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let out = kubectl(&["exec", "k", "--", "sh", "-c", "echo hi; exit 3"], "").await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));

        let out = kubectl(&["exec", "-i", "k", "--", "cat"], "through stdin\n").await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "through stdin\n");

        let out = kubectl(&["attach", "-i", "k"], "kubectl\n").await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "got kubectl\n");

        let out = kubectl(&["logs", "k"], "").await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "started\ngot kubectl\n");

        let out = kubectl(
            &["run", "once", "--image=busybox:1.36", "--restart=Never", "--rm", "-i", "--", "sh", "-c", "read x; echo got $x"],
            "hello\n",
        )
        .await
        .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("got hello\n"), "{out:?}");
        assert!(sim.store.get("pods", "default", "once").is_none(), "--rm deletes the pod");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_kill_1_signals_the_container_command() {
    bounded(60, async {
        let cluster = Cluster::start().await;
        if !nix::unistd::geteuid().is_root() {
            eprintln!(
                "skipping exec_kill_1_signals_the_container_command: PID namespaces need root"
            );
            return;
        }
        // krun's signal forwarding without a TTY: `exec kill -s TERM 1`.
        let script =
            "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
        cluster.create(shell_pod("trapper", script)).await;
        cluster.wait("trapper", 20, |p| phase(p) == "Running").await;
        let mut exec = cluster
            .pods
            .exec(
                "trapper",
                ["kill", "-s", "TERM", "1"],
                &AttachParams::default(),
            )
            .await
            .unwrap();
        let status = exec.take_status().unwrap().await.unwrap();
        assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
        cluster
            .wait("trapper", 20, |p| phase(p) == "Succeeded")
            .await;
        let log = cluster.logs("trapper").await;
        assert_eq!(log, "ready\ngot TERM\n");
    })
    .await;
}
