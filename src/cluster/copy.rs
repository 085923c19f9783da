//! Bind-mount copies (`--mount-mode copy`): a tar of the host path, built on a thread while it
//! is streamed into the init container that unpacks it into the pod's emptyDir.
//!
//! Layout: a directory's contents sit at the archive root; a single file is one entry named
//! after the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use super::attach;
use super::client::Connection;
use super::error::ClusterError;
use super::stdin::Input;
use crate::plan::Copy;

/// Size of the chunks sent over the channel.
const CHUNK: usize = 64 * 1024;

/// Streams `copy.source` into its init container of `pod`, which must be running.
pub async fn run(conn: &Connection, pod: &str, copy: &Copy) -> Result<(), ClusterError> {
    let (input, built) = archive(copy.source.clone());
    attach::send_stdin(conn, pod, &copy.init_container, input).await?;
    match built.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ClusterError::local(
            format!(
                "archiving {} for the bind mount copy (volume {})",
                copy.source.display(),
                copy.volume
            ),
            e,
        )),
        Err(_) => Err(ClusterError::Config(format!(
            "archiving {} stopped unexpectedly",
            copy.source.display()
        ))),
    }
}

/// A channel sender that `tar` can write to from a blocking thread.
struct ChunkWriter {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the pod stopped reading")
        })
    }
}

/// Starts building the archive of `source`; the channel closes when it is complete.
fn archive(source: PathBuf) -> (Input, oneshot::Receiver<std::io::Result<()>>) {
    let (tx, rx) = mpsc::channel(8);
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::spawn(move || {
        let writer = ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let _ = done_tx.send(write_archive(&source, writer));
    });
    (rx, done_rx)
}

fn write_archive<W: Write>(source: &Path, writer: W) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(false);
    if source.is_dir() {
        builder.append_dir_all(".", source)?;
    } else {
        let name = source.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path has no file name",
            )
        })?;
        builder.append_path_with_name(source, name)?;
    }
    let mut writer = builder.into_inner()?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_archived_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "hello").unwrap();
        let mut out = Vec::new();
        write_archive(dir.path(), &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.iter().any(|n| n.ends_with("sub/a.txt")), "{names:?}");
    }

    #[tokio::test]
    async fn the_archive_arrives_over_the_channel() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "x".repeat(200_000)).unwrap();
        let (mut input, done) = archive(file);
        let mut bytes = Vec::new();
        while let Some(chunk) = input.recv().await {
            bytes.extend(chunk);
        }
        done.await.unwrap().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().display().to_string(), "f.txt");
        assert_eq!(entry.header().size().unwrap(), 200_000);
    }
}
