//! krun's stdin, read on its own thread (tokio's stdin cannot be cancelled and would hold the
//! runtime open until the user presses enter), and the detach-key filter for TTY sessions.

use std::io::Read;

use tokio::sync::mpsc;

/// Chunks of stdin; the channel closes at EOF.
pub type Input = mpsc::Receiver<Vec<u8>>;

/// Starts the reader thread. It ends at EOF or when the receiver is dropped (after its next
/// read returns); krun exits without joining it.
pub fn spawn() -> Input {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Ctrl-P.
const CTRL_P: u8 = 0x10;
/// Ctrl-Q.
const CTRL_Q: u8 = 0x11;

/// Finds docker's default detach sequence (ctrl-p ctrl-q) in typed input, even across reads.
#[derive(Debug, Default)]
pub struct DetachKeys {
    pending: bool,
}

impl DetachKeys {
    /// The bytes to forward, and whether the sequence was typed (the rest is dropped then).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len() + 1);
        for &b in input {
            if self.pending {
                self.pending = false;
                if b == CTRL_Q {
                    return (out, true);
                }
                out.push(CTRL_P);
            }
            if b == CTRL_P {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_found_across_reads() {
        let mut d = DetachKeys::default();
        assert_eq!(d.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(d.feed(&[b'a', CTRL_P]), (b"a".to_vec(), false));
        assert_eq!(d.feed(&[CTRL_Q, b'x']), (vec![], true));
    }

    #[test]
    fn a_lone_ctrl_p_is_forwarded() {
        let mut d = DetachKeys::default();
        assert_eq!(d.feed(&[CTRL_P, b'k']), (vec![CTRL_P, b'k'], false));
        assert_eq!(d.feed(&[CTRL_P, CTRL_P, CTRL_Q]), (vec![CTRL_P], true));
    }
}
