//! Creating files inside a session folder without ever writing through a link.
//!
//! A session folder may be writable by others (a shared recordings folder); a symlink planted
//! under a name the recorder is about to use must not make it overwrite the link's target.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Creates `path` as a new file: fails when anything (a file, a link, even a dangling one)
/// already has that name, and never follows a link.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o644)
        .open(path)
}

/// Creates `path` afresh, first removing whatever has that name (a link is removed, not
/// followed): for temporary files whose name is fixed.
pub fn replace_with_new(path: &Path) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    create_new(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_link_is_never_written_through() {
        let dir = std::env::temp_dir().join(format!("roomtape-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.join("track.mkv");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = create_new(&link).expect_err("a link is not a new file");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let dangling = dir.join("dangling.mkv");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(create_new(&dangling).is_err(), "not even a dangling link");
        assert!(!dir.join("nowhere").exists());
        use std::io::Write;
        replace_with_new(&link).unwrap().write_all(b"mine").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&link).unwrap(), b"mine");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
