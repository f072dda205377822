//! Running a session's command from its root: resolving its path inside the root,
//! the `chroot` helper, signals and exit statuses.
//!
//! The workspace forbids `unsafe`, so there is no `pre_exec` hook to `chroot` in
//! the child between fork and exec. Instead the child is this program again, called
//! with [`CHROOT_HELPER_ARG`]: it changes its root and working directory and then
//! replaces itself with the command ([`exec_in_root`]), keeping its process ID, so
//! that signals reach the command.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use vic_config::model::Cmd;

use super::{Error, Settings};

/// The first argument that makes `tether-sim` the chroot helper:
/// `tether-sim __tether-chroot-exec ROOT DIR ARGV0 PATH [ARG…]`.
pub const CHROOT_HELPER_ARG: &str = "__tether-chroot-exec";

/// The search path when the session's environment has none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The chroot helper: `args` are `ROOT DIR ARGV0 PATH [ARG…]` (after
/// [`CHROOT_HELPER_ARG`]). Changes the root to `ROOT`, the working directory to
/// `DIR` inside it, and executes `PATH` with `argv[0]` = `ARGV0` and the rest as
/// arguments, in the environment this process got. Returns only on failure.
pub fn exec_in_root(args: &[OsString]) -> io::Error {
    let [root, dir, argv0, path, rest @ ..] = args else {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: tether-sim __tether-chroot-exec ROOT DIR ARGV0 PATH [ARG...]",
        );
    };
    if let Err(e) = std::os::unix::fs::chroot(root) {
        return io::Error::new(
            e.kind(),
            format!("chroot {}: {e}", Path::new(root).display()),
        );
    }
    if let Err(e) = std::env::set_current_dir("/") {
        return e;
    }
    let e = std::process::Command::new(path)
        .arg0(argv0)
        .args(rest)
        .current_dir(dir)
        .exec();
    io::Error::new(
        e.kind(),
        format!("exec: {:?}: {e}", Path::new(path).display().to_string()),
    )
}

/// A command ready to spawn: its path inside the root, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The program, absolute inside the root.
    pub(crate) path: PathBuf,
    /// `argv[0]`.
    pub(crate) argv0: OsString,
    /// The other arguments.
    pub(crate) args: Vec<String>,
    /// The environment.
    pub(crate) env: Vec<(String, String)>,
    /// The working directory, absolute inside the root.
    pub(crate) dir: PathBuf,
}

/// Follows `path` (absolute, inside `root`) through symbolic links as the kernel
/// would after a `chroot` to `root`; the result is absolute inside the root.
/// `None` when it does not exist (or links loop).
fn resolve_links(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut pending: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut at = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&part);
        let host = root.join(next.strip_prefix("/").ok()?);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            if target.is_absolute() {
                at = PathBuf::from("/");
            }
            pending.extend(target.components().rev().filter_map(|c| match c {
                Component::Normal(p) => Some(p.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            }));
        } else {
            at = next;
        }
    }
    Some(at)
}

/// The host path of `inside` (absolute inside `root`).
pub(crate) fn host_path(root: &Path, inside: &Path) -> PathBuf {
    root.join(inside.strip_prefix("/").unwrap_or(inside))
}

fn is_executable(root: &Path, inside: &Path) -> Option<bool> {
    let resolved = resolve_links(root, inside)?;
    let meta = std::fs::metadata(host_path(root, &resolved)).ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Resolves `cmd` inside `root` as Go's `exec.Cmd` in the guest would: a path
/// without `/` is looked up in `PATH`; a relative one is taken from the working
/// directory. The error is the text the agent reports as `started`.
pub(crate) fn resolve(root: &Path, cmd: &Cmd) -> Result<Resolved, Error> {
    let path = cmd.path.clone().unwrap_or_default();
    let fail = |why: &str| Error::Start(format!("exec: {path:?}: {why}"));
    if path.is_empty() {
        return Err(fail("no command"));
    }
    let env: Vec<(String, String)> = cmd
        .env
        .items()
        .unwrap_or_default()
        .iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let dir = PathBuf::from("/").join(cmd.dir.as_deref().unwrap_or("/"));
    let dir = resolve_links(root, &dir)
        .filter(|d| host_path(root, d).is_dir())
        .ok_or_else(|| {
            Error::Start(format!(
                "chdir {}: no such file or directory",
                cmd.dir.as_deref().unwrap_or("/")
            ))
        })?;
    let inside = if path.contains('/') {
        let p = dir.join(&path);
        match is_executable(root, &p) {
            None => return Err(fail("no such file or directory")),
            Some(false) => return Err(fail("permission denied")),
            Some(true) => p,
        }
    } else {
        let search = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or(DEFAULT_PATH);
        search
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| dir.join(d).join(&path))
            .find(|p| is_executable(root, p) == Some(true))
            .ok_or_else(|| fail("executable file not found in $PATH"))?
    };
    let mut args: Vec<String> = cmd.args.items().unwrap_or_default().to_vec();
    let argv0 = if args.is_empty() {
        OsString::from(&path)
    } else {
        OsString::from(args.remove(0))
    };
    let mut env = env;
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    Ok(Resolved {
        path: inside,
        argv0,
        args,
        env,
        dir,
    })
}

/// Spawns `cmd` from `root`: through the chroot helper when `settings.chroot`,
/// else the program inside the root directly. Standard output and error are
/// piped; standard input too when `open_stdin`, else it is closed at once.
pub(crate) fn spawn(
    settings: &Settings,
    root: &Path,
    cmd: &Resolved,
    open_stdin: bool,
) -> io::Result<tokio::process::Child> {
    let mut c = if settings.chroot {
        let helper = settings.helper.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no chroot helper program configured",
            )
        })?;
        let mut c = tokio::process::Command::new(helper);
        c.arg(CHROOT_HELPER_ARG)
            .arg(root)
            .arg(&cmd.dir)
            .arg(&cmd.argv0)
            .arg(&cmd.path)
            .args(&cmd.args);
        c
    } else {
        let mut c = tokio::process::Command::new(host_path(root, &cmd.path));
        c.arg0(&cmd.argv0)
            .args(&cmd.args)
            .current_dir(host_path(root, &cmd.dir));
        c
    };
    c.env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if open_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c.spawn()
}

/// Delivers the signal `name` (`TERM`, `SIGKILL`, `9`) to process `pid`, with
/// `kill(1)` (the workspace has no system-call crate and forbids `unsafe`).
pub(crate) async fn signal(pid: u32, name: &str) -> Result<(), Error> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    let out = tokio::process::Command::new("kill")
        .arg("-s")
        .arg(bare)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| Error::io(format!("cannot run kill for signal {name}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::unexpected(
            format!("signal {name} to process {pid}"),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The status the agent reports: the exit code, or 128 + n after signal n.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("tether-process-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("bin/tool"), PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(root.join("data/plain"), b"x").unwrap();
        // An absolute link resolves inside the root, not on the host.
        std::os::unix::fs::symlink("/bin/tool", root.join("data/link")).unwrap();
        let cmd = |path: &str, dir: Option<&str>| Cmd {
            path: Some(path.into()),
            args: vec![path.to_string(), "x".into()].into(),
            dir: dir.map(str::to_owned),
            ..Default::default()
        };
        let r = resolve(&root, &cmd("/data/link", None)).unwrap();
        assert_eq!(r.path, Path::new("/data/link"));
        assert_eq!(r.argv0, OsString::from("/data/link"));
        assert_eq!(r.args, ["x"]);
        assert!(r.env.iter().any(|(k, _)| k == "PATH"));
        let r = resolve(&root, &cmd("tool", Some("/data"))).unwrap();
        assert_eq!(r.path, Path::new("/bin/tool"));
        assert_eq!(r.dir, Path::new("/data"));
        let e = resolve(&root, &cmd("/hello", None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"exec: "/hello": no such file or directory"#
        );
        let e = resolve(&root, &cmd("/data/plain", None)).unwrap_err();
        assert_eq!(e.to_string(), r#"exec: "/data/plain": permission denied"#);
        let e = resolve(&root, &cmd("nope", None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"exec: "nope": executable file not found in $PATH"#
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
