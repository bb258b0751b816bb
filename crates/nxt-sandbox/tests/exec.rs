//! `ExecPool` through the public API, with a program every machine has (`/bin/sh`);
//! the RustPython engine's tests (`nxt-rustpython`, feature `engine`) cover the rest.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nxt_sandbox::{ExecPoolBuilder, Job, Status};

/// `path` (absolute) written relative to the current directory.
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let ups = cwd.components().count() - 1;
    let mut relative: PathBuf = std::iter::repeat_n("..", ups).collect();
    relative.push(path.strip_prefix("/").unwrap());
    relative
}

#[test]
fn a_relative_program_path_is_resolved_once_against_the_callers_directory() {
    // A program under /tmp, named by a relative path: the pool must see that it lives
    // under /tmp (a private /tmp would hide it from the job) and must not resolve the
    // path anywhere else than here.
    let dir = tempfile::Builder::new()
        .prefix("nxt-exec-test-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = dir.path().join("sh");
    std::fs::copy("/bin/sh", &program).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let relative = relative_to_cwd(&program);
    assert!(relative.is_relative());

    let mut builder = ExecPoolBuilder::new(&relative);
    builder.arg("-c").arg("cat >/dev/null; echo ok");
    let pool = builder.build().unwrap();
    for _ in 0..2 {
        let out = pool.run(&Job::new(b"print(1)\n")).unwrap();
        assert_eq!(out.status, Status::Exited(0), "{}", out.stderr.text());
        assert_eq!(out.stdout.text(), "ok\n");
    }
    assert!(!pool.isolation_report().tmp.is_active());
}
