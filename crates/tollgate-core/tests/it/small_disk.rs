//! A real, small filesystem (tmpfs) that a test fills to the last byte and frees again,
//! so SQLite meets a genuine `database or disk is full`. Mounting needs root, as CI runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a temporary directory; unmounted on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `megabytes`; `None` (with a note on stderr) when this process
    /// may not mount, i.e. it does not run as root.
    pub fn mount(megabytes: u32) -> Option<Self> {
        // SAFETY: geteuid has no preconditions and touches no memory of ours.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a tmpfs for a real full disk needs root (CI runs as root)");
            return None;
        }
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "root could not mount a tmpfs at {}", dir.path().display());
        let filler = dir.path().join("filler");
        Some(Self { dir, filler })
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Takes every free byte, so the next write that needs space fails with ENOSPC.
    pub fn fill(&self) {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            if file.write_all(&block).is_err() {
                break;
            }
        }
        // The last partial block: byte by byte until nothing fits.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.flush();
    }

    /// Gives the space back.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("filler removed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}
