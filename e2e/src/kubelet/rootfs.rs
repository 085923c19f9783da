//! Container isolation when running as root: a root filesystem per container, private mount,
//! UTS and PID namespaces (see `init`), the pod's volumes bind-mounted, the pod's hostname.
//!
//! The image's filesystem is assembled once per machine from Debian's `busybox-static`
//! (`/bin/busybox` plus one symlink per applet in `/bin`, as in the Docker Hub image); each
//! container run gets a fresh copy (hard links), as a fresh container gets a fresh writable layer.
//! Everything the child needs after `fork` is allocated beforehand ([`Sandbox`]), because only
//! async-signal-safe calls are allowed between `fork` and `exec`.
//!
//! # Caveats
//! No network namespace: containers share the host network (a container's port N is the host's
//! 127.0.0.1:N). `/sys` and the device nodes in `/dev` are the host's, bind-mounted.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, chdir, chroot, mkdir, sethostname};

/// Where Debian's `busybox-static` puts the binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Why a container's filesystem could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A path contained a NUL byte.
    #[error("path {0:?} contains a NUL byte")]
    Nul(PathBuf),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn cstring(path: &Path) -> Result<CString, RootfsError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| RootfsError::Nul(path.to_owned()))
}

/// The busybox image's `/etc/passwd`.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\nsync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n";

/// Stand-ins for applets the Docker Hub busybox image has and Debian's `busybox-static` lacks,
/// written with the applets it has (they are part of the "image", run inside containers only).
const STAND_INS: [(&str, &str); 3] = [
    (
        "printenv",
        "#!/bin/sh\n[ $# -eq 0 ] && exec env\nrc=0\nfor name in \"$@\"; do\n  awk -v n=\"$name\" 'BEGIN { if (n in ENVIRON) print ENVIRON[n]; else exit 1 }' || rc=1\ndone\nexit $rc\n",
    ),
    ("nohup", "#!/bin/sh\ntrap '' HUP\nexec \"$@\"\n"),
    (
        "nice",
        "#!/bin/sh\ncase \"$1\" in -n) shift 2 ;; -n*|-[0-9]*) shift ;; esac\nexec \"$@\"\n",
    ),
];

/// Bumped whenever the assembled image's layout changes, so cached images are rebuilt.
const IMAGE_LAYOUT: u32 = 2;

/// The home directory runc gives `uid` when `HOME` is unset: its `/etc/passwd` entry, else `/`.
pub fn home_of(uid: u32) -> String {
    PASSWD
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&uid.to_string().as_str()))
        .and_then(|f| f.get(5).map(|h| (*h).to_owned()))
        .unwrap_or_else(|| "/".to_owned())
}

/// Whether containers can be isolated here (root, and the busybox image's binary present).
pub fn isolation_available() -> bool {
    nix::unistd::geteuid().is_root() && Path::new(BUSYBOX).is_file()
}

/// The applet names compiled into a busybox binary, read from its applet table (no need to run
/// it: the table is one NUL-separated run of names starting `[`, `[[`).
fn applets(binary: &[u8]) -> Vec<String> {
    let Some(start) = binary.windows(5).position(|w| w == b"[\0[[\0") else {
        return vec!["sh".to_owned()];
    };
    binary[start..]
        .split(|&b| b == 0)
        .take_while(|name| !name.is_empty() && name.iter().all(|b| b.is_ascii_graphic()))
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

/// The busybox image's filesystem, shared by every simulator on this machine: built once per
/// busybox binary (keyed by its size and mtime) under the temp directory, atomically (built
/// aside, then renamed into place), so concurrent simulators never see half an image.
pub fn busybox_image() -> Result<PathBuf, RootfsError> {
    let meta = std::fs::metadata(BUSYBOX).map_err(io_err("stat", Path::new(BUSYBOX)))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let cache = std::env::temp_dir().join("kube-sim-images");
    let dir = cache.join(format!("busybox-{}-{mtime}-{IMAGE_LAYOUT}", meta.len()));
    if dir.is_dir() {
        return Ok(dir);
    }
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let scratch = cache.join(format!(
        ".build-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    assemble_busybox_image(&scratch)?;
    if std::fs::rename(&scratch, &dir).is_err() {
        // Another simulator won the race; its image is as good as ours.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(dir)
}

/// Builds the busybox image's filesystem under `dir`.
fn assemble_busybox_image(dir: &Path) -> Result<(), RootfsError> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(io_err("create", &bin))?;
    let binary = std::fs::read(BUSYBOX).map_err(io_err("read", Path::new(BUSYBOX)))?;
    let target = bin.join("busybox");
    std::fs::write(&target, &binary).map_err(io_err("write", &target))?;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err("chmod", &target))?;
    for applet in applets(&binary) {
        if applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = bin.join(&applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).map_err(io_err("symlink", &link))?;
        }
    }
    for (name, script) in STAND_INS {
        let path = bin.join(name);
        if !path.exists() {
            std::fs::write(&path, script).map_err(io_err("write", &path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err("chmod", &path))?;
        }
    }
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).map_err(io_err("create", &etc))?;
    for (name, text) in [
        ("passwd", PASSWD),
        (
            "group",
            "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nwheel:x:10:root\nmail:x:8:\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n",
        ),
        ("nsswitch.conf", "hosts: files dns\n"),
    ] {
        let path = etc.join(name);
        std::fs::write(&path, text).map_err(io_err("write", &path))?;
    }
    Ok(())
}

/// Copies `image` into a fresh `rootfs` (hard links for files, as cheap as an overlay's lower
/// layer) and writes the pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.
pub fn create_rootfs(
    image: &Path,
    rootfs: &Path,
    etc_files: &[(&str, String)],
) -> Result<(), RootfsError> {
    copy_tree(image, rootfs)?;
    for dir in [
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "home",
        "var/spool/mail",
        "var/www",
        "usr/sbin",
        "etc",
    ] {
        let path = rootfs.join(dir);
        std::fs::create_dir_all(&path).map_err(io_err("create", &path))?;
    }
    let tmp = rootfs.join("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
        .map_err(io_err("chmod", &tmp))?;
    for (name, text) in etc_files {
        let path = rootfs.join("etc").join(name);
        std::fs::write(&path, text).map_err(io_err("write", &path))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), RootfsError> {
    std::fs::create_dir_all(to).map_err(io_err("create", to))?;
    for entry in std::fs::read_dir(from).map_err(io_err("read", from))? {
        let entry = entry.map_err(io_err("read", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io_err("stat", &source))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source).map_err(io_err("readlink", &source))?;
            std::os::unix::fs::symlink(&link, &target).map_err(io_err("symlink", &target))?;
        } else if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target).map_err(io_err("copy", &source))?;
        }
    }
    Ok(())
}

/// What a [`Mount`] puts at its target.
#[derive(Debug)]
enum MountKind {
    /// A bind of a host file or directory.
    Bind {
        source: CString,
        file: bool,
        read_only: bool,
    },
    /// A fresh tmpfs with these options.
    Tmpfs { options: CString },
    /// A symlink to this target.
    Symlink { to: CString },
}

/// One entry of a container's filesystem set-up (bind, tmpfs or symlink), ready for the child.
#[derive(Debug)]
pub struct Mount {
    target: CString,
    /// The target's ancestors inside the rootfs, outermost first, created before mounting.
    parents: Vec<CString>,
    kind: MountKind,
}

impl Mount {
    fn at(rootfs: &Path, mount_path: &str, kind: MountKind) -> Result<Self, RootfsError> {
        let target = join_inside(rootfs, mount_path);
        let mut parents = Vec::new();
        let mut at = target.parent();
        while let Some(dir) = at {
            if dir == rootfs || !dir.starts_with(rootfs) {
                break;
            }
            parents.push(cstring(dir)?);
            at = dir.parent();
        }
        parents.reverse();
        Ok(Mount {
            target: cstring(&target)?,
            parents,
            kind,
        })
    }

    /// A bind of host `source` at `mount_path` inside `rootfs`.
    pub fn bind(
        source: &Path,
        rootfs: &Path,
        mount_path: &str,
        read_only: bool,
    ) -> Result<Self, RootfsError> {
        let kind = MountKind::Bind {
            source: cstring(source)?,
            file: !source.is_dir(),
            read_only,
        };
        Self::at(rootfs, mount_path, kind)
    }

    fn tmpfs(rootfs: &Path, mount_path: &str, options: &str) -> Result<Self, RootfsError> {
        let options = CString::new(options).map_err(|_| RootfsError::Nul(options.into()))?;
        Self::at(rootfs, mount_path, MountKind::Tmpfs { options })
    }

    fn symlink(rootfs: &Path, mount_path: &str, to: &str) -> Result<Self, RootfsError> {
        let to = CString::new(to).map_err(|_| RootfsError::Nul(to.into()))?;
        Self::at(rootfs, mount_path, MountKind::Symlink { to })
    }

    /// Sets it up (in the child, after `unshare`).
    fn apply(&self) -> nix::Result<()> {
        for dir in &self.parents {
            ignore_exists(mkdir(dir.as_c_str(), Mode::from_bits_truncate(0o755)))?;
        }
        let none = None::<&std::ffi::CStr>;
        match &self.kind {
            MountKind::Symlink { to } => {
                // SAFETY: symlink(2) with two valid C strings.
                let rc = unsafe { nix::libc::symlink(to.as_ptr(), self.target.as_ptr()) };
                ignore_exists(nix::errno::Errno::result(rc).map(drop))
            }
            MountKind::Tmpfs { options } => {
                ignore_exists(mkdir(
                    self.target.as_c_str(),
                    Mode::from_bits_truncate(0o755),
                ))?;
                mount(
                    Some(c"tmpfs"),
                    self.target.as_c_str(),
                    Some(c"tmpfs"),
                    MsFlags::MS_NOSUID,
                    Some(options.as_c_str()),
                )
            }
            MountKind::Bind {
                source,
                file,
                read_only,
            } => {
                if *file {
                    // SAFETY: open(2) with a valid C string; the fd is closed at once.
                    let fd = unsafe {
                        nix::libc::open(
                            self.target.as_ptr(),
                            nix::libc::O_CREAT | nix::libc::O_WRONLY | nix::libc::O_CLOEXEC,
                            0o644,
                        )
                    };
                    if fd >= 0 {
                        // SAFETY: fd was just opened by us.
                        unsafe { nix::libc::close(fd) };
                    }
                } else {
                    ignore_exists(mkdir(
                        self.target.as_c_str(),
                        Mode::from_bits_truncate(0o755),
                    ))?;
                }
                mount(
                    Some(source.as_c_str()),
                    self.target.as_c_str(),
                    none,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    none,
                )?;
                if *read_only {
                    mount(
                        none,
                        self.target.as_c_str(),
                        none,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                        none,
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn ignore_exists(result: nix::Result<()>) -> nix::Result<()> {
    match result {
        Err(nix::errno::Errno::EEXIST) => Ok(()),
        other => other,
    }
}

/// `path` (absolute, inside the container) under `rootfs`, with `..` unable to climb out.
pub fn join_inside(rootfs: &Path, path: &str) -> PathBuf {
    let mut out = rootfs.to_path_buf();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out != rootfs {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// How a process is placed: in a new container, inside a running one, or on the host.
#[derive(Debug)]
pub enum Sandbox {
    /// A container's first process: new mount, UTS and PID namespaces, binds, chroot.
    Create {
        /// The rootfs.
        root: CString,
        /// `<rootfs>/proc`, where the namespace's own procfs goes.
        proc_dir: CString,
        /// Mounts, parents before children.
        binds: Vec<Mount>,
        /// The pod's hostname.
        hostname: CString,
        /// The working directory and its ancestors inside the rootfs (created if missing).
        workdir: Vec<CString>,
    },
    /// A process joining a running container (exec, probes).
    Join {
        /// `/proc/PID/ns/mnt` of the container's process.
        mnt: std::fs::File,
        /// `/proc/PID/ns/uts`.
        uts: std::fs::File,
        /// `/proc/PID/ns/pid_for_children` of the container's shim: the container's PID namespace.
        pid: std::fs::File,
        /// The rootfs.
        root: CString,
        /// The working directory (inside the rootfs).
        workdir: CString,
    },
    /// No filesystem isolation: a plain process on the host, in this host directory.
    Host {
        /// The working directory.
        workdir: CString,
        /// The PID namespace, where one can be had (root).
        pid: HostPid,
    },
}

/// A host process's PID namespace: even without a rootfs, a root kubelet gives containers
/// their own, so that `kill 1` in a container (krun's signal emulation) can never reach the
/// host's init.
#[derive(Debug)]
pub enum HostPid {
    /// The host's (not root: no choice).
    Shared,
    /// A new one (a container's first process).
    New,
    /// The container's (`/proc/PID/ns/pid_for_children` of its shim), for exec.
    Join(std::fs::File),
}

impl HostPid {
    /// For a container's first process: a new namespace when running as root.
    pub fn for_container() -> Self {
        if nix::unistd::geteuid().is_root() {
            HostPid::New
        } else {
            HostPid::Shared
        }
    }

    /// For an exec into the container whose shim is `pid` (the same choice as at its start).
    pub fn for_exec(pid: u32) -> Self {
        if !nix::unistd::geteuid().is_root() {
            return HostPid::Shared;
        }
        std::fs::File::open(format!("/proc/{pid}/ns/pid_for_children"))
            .map_or(HostPid::Shared, HostPid::Join)
    }
}

impl Sandbox {
    /// Builds the [`Sandbox::Create`] plan; `workdir` is the container's working directory.
    pub fn create(
        rootfs: &Path,
        binds: Vec<Mount>,
        hostname: &str,
        workdir: &str,
    ) -> Result<Self, RootfsError> {
        let mut dirs = Vec::new();
        let mut at = Some(join_inside(Path::new("/"), workdir));
        while let Some(dir) = at {
            if dir == Path::new("/") {
                break;
            }
            dirs.push(cstring(&dir)?);
            at = dir.parent().map(Path::to_path_buf);
        }
        dirs.reverse();
        if dirs.is_empty() {
            dirs.push(cstring(Path::new("/"))?);
        }
        Ok(Sandbox::Create {
            root: cstring(rootfs)?,
            proc_dir: cstring(&rootfs.join("proc"))?,
            binds,
            hostname: CString::new(hostname.as_bytes())
                .map_err(|_| RootfsError::Nul(hostname.into()))?,
            workdir: dirs,
        })
    }

    /// Builds the [`Sandbox::Join`] plan for the container whose first process is `pid`.
    pub fn join(pid: u32, rootfs: &Path, workdir: &str) -> Result<Self, RootfsError> {
        let ns = |kind: &str| {
            let path = PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
            std::fs::File::open(&path).map_err(|source| RootfsError::Io {
                what: "open",
                path,
                source,
            })
        };
        Ok(Sandbox::Join {
            mnt: ns("mnt")?,
            uts: ns("uts")?,
            pid: ns("pid_for_children")?,
            root: cstring(rootfs)?,
            workdir: cstring(&join_inside(Path::new("/"), workdir))?,
        })
    }

    /// Enters the sandbox and sets up the process's session (a new one with the pty as
    /// controlling terminal for `tty`, else its own process group). Runs in the child between
    /// `fork` and `exec`: no allocation. For containers, this forks once more (see `init`):
    /// only the process that will `exec` returns.
    pub fn enter(&self, tty: bool) -> io::Result<()> {
        match self {
            Sandbox::Create {
                root,
                proc_dir,
                binds,
                hostname,
                workdir,
            } => {
                // The shim leads its process group, so killing the group never reaches the
                // simulator's own.
                nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                unshare(
                    CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID,
                )?;
                mount(
                    None::<&std::ffi::CStr>,
                    c"/",
                    None::<&std::ffi::CStr>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&std::ffi::CStr>,
                )?;
                for bind in binds {
                    bind.apply()?;
                }
                sethostname(std::ffi::OsStr::from_bytes(hostname.as_bytes()))?;
                super::init::fork_into_namespace()?;
                mount_proc(proc_dir)?;
                chroot(root.as_c_str())?;
                for dir in workdir {
                    ignore_exists(mkdir(dir.as_c_str(), Mode::from_bits_truncate(0o755)))?;
                }
                if let Some(last) = workdir.last() {
                    chdir(last.as_c_str())?;
                }
            }
            Sandbox::Join {
                mnt,
                uts,
                pid,
                root,
                workdir,
            } => {
                nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                setns(mnt, CloneFlags::CLONE_NEWNS)?;
                setns(uts, CloneFlags::CLONE_NEWUTS)?;
                setns(pid, CloneFlags::CLONE_NEWPID)?;
                super::init::fork_into_namespace()?;
                chroot(root.as_c_str())?;
                chdir(workdir.as_c_str())?;
            }
            Sandbox::Host { workdir, pid } => {
                chdir(workdir.as_c_str())?;
                match pid {
                    HostPid::Shared => {
                        if !tty {
                            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                        }
                    }
                    HostPid::New => {
                        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                        unshare(CloneFlags::CLONE_NEWPID)?;
                        super::init::fork_into_namespace()?;
                    }
                    HostPid::Join(ns) => {
                        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                        setns(ns, CloneFlags::CLONE_NEWPID)?;
                        super::init::fork_into_namespace()?;
                    }
                }
            }
        }
        if tty {
            nix::unistd::setsid()?;
            // SAFETY: TIOCSCTTY on fd 0 (the pty slave) takes no pointer.
            if unsafe { nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// The directory that plays `/` for executable lookup.
    pub fn lookup_root(&self) -> Option<PathBuf> {
        match self {
            Sandbox::Create { root, .. } | Sandbox::Join { root, .. } => {
                Some(PathBuf::from(std::ffi::OsStr::from_bytes(root.as_bytes())))
            }
            Sandbox::Host { .. } => None,
        }
    }
}

/// Mounts the PID namespace's own procfs (falling back to the host's, bound, where procfs
/// cannot be mounted). Runs in the namespace's first process.
fn mount_proc(target: &CString) -> nix::Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let none = None::<&std::ffi::CStr>;
    ignore_exists(mkdir(target.as_c_str(), Mode::from_bits_truncate(0o555)))?;
    mount(Some(c"proc"), target.as_c_str(), Some(c"proc"), flags, none).or_else(|_| {
        mount(
            Some(c"/proc"),
            target.as_c_str(),
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )
    })
}

/// What every container gets, as runc sets it up: its own `/proc` (mounted in its PID
/// namespace, see `Sandbox::enter`) and the host's `/sys` (read-only);
/// a private tmpfs `/dev` holding the usual device nodes (bound from the host), `/dev/pts`,
/// `/dev/shm` and the `fd`/`stdin`/`stdout`/`stderr`/`ptmx` links. Nothing is created on the
/// host's `/dev`.
pub fn system_mounts(rootfs: &Path) -> Result<Vec<Mount>, RootfsError> {
    let mut mounts = vec![
        Mount::bind(Path::new("/sys"), rootfs, "/sys", true)?,
        Mount::tmpfs(rootfs, "/dev", "mode=755,size=65536k")?,
    ];
    for device in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(device);
        mounts.push(Mount::bind(
            &host,
            rootfs,
            &format!("/dev/{device}"),
            false,
        )?);
    }
    mounts.push(Mount::bind(
        Path::new("/dev/pts"),
        rootfs,
        "/dev/pts",
        false,
    )?);
    mounts.push(Mount::tmpfs(rootfs, "/dev/shm", "mode=1777,size=65536k")?);
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        mounts.push(Mount::symlink(rootfs, &format!("/dev/{link}"), to)?);
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_table_is_read_from_the_binary() {
        let fake = b"junk\0[\0[[\0ash\0cat\0sh\0\0more".to_vec();
        assert_eq!(applets(&fake), vec!["[", "[[", "ash", "cat", "sh"]);
    }

    #[test]
    fn homes_come_from_the_image_passwd() {
        assert_eq!(home_of(0), "/root");
        assert_eq!(home_of(65534), "/home");
        assert_eq!(home_of(1234), "/");
    }

    #[test]
    fn join_inside_cannot_escape() {
        let root = Path::new("/r");
        assert_eq!(join_inside(root, "/a/../../etc"), PathBuf::from("/r/etc"));
        assert_eq!(join_inside(root, "a/./b"), PathBuf::from("/r/a/b"));
    }
}
