//! Standard output when its reader may go away first (`tollgate denial list | head -1`):
//! a closed pipe ends the command quietly, as it does for other Unix tools, instead of
//! `println!`'s panic.

use std::io::{self, Write};

/// Stdout's reader is gone; `main` ends the process quietly with success.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct OutputClosed;

/// Writes `text` to stdout and flushes it.
pub fn print(text: &str) -> anyhow::Result<()> {
    write_to(&mut io::stdout().lock(), text)
}

/// Writes `text` and a newline to stdout; for a server's banner, which keeps serving when
/// nobody reads it any more.
pub fn line(text: &str) {
    let _ = write_to(&mut io::stdout().lock(), &format!("{text}\n"));
}

fn write_to(w: &mut impl Write, text: &str) -> anyhow::Result<()> {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(OutputClosed.into()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that has gone: every write fails as a closed pipe does.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_told_apart_from_other_failures() {
        let closed = write_to(&mut ClosedPipe, "SLUG\n").unwrap_err();
        assert!(closed.is::<OutputClosed>(), "a broken pipe ends the command quietly: {closed}");
        let full = write_to(&mut Full, "SLUG\n").unwrap_err();
        assert!(!full.is::<OutputClosed>(), "a full disk is an error to report: {full}");
        let mut buf = Vec::new();
        write_to(&mut buf, "SLUG\n").unwrap();
        assert_eq!(buf, b"SLUG\n");
    }
}
