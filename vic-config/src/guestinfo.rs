//! The in-guest guestinfo channel: read and write keys from inside the VM through
//! `vmware-rpctool` (open-vm-tools), the VMware backdoor.
//!
//! The guest sees only keys under `guestinfo.`, and can write only keys without `/`
//! (read-write scope). Guest messages are limited to 64 KiB.
//!
//! ```no_run
//! use vic_config::guestinfo::GuestInfo;
//! use vic_config::model::ExecutorConfig;
//! use vic_config::{key_of, Layout};
//! let guest = GuestInfo::new();
//! let me: ExecutorConfig = vic_config::from_extra_config(&guest)?;
//! let started = key_of::<ExecutorConfig>("sessions.*.started", Layout::Current)?;
//! guest.set(&started.fill(&["abc"])?, "true")?;
//! # Ok::<(), vic_config::Error>(())
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Command;

use crate::{Error, Source};

/// Largest message the backdoor carries.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The guestinfo channel, through the `vmware-rpctool` command.
#[derive(Debug, Clone)]
pub struct GuestInfo {
    command: OsString,
}

impl Default for GuestInfo {
    fn default() -> Self {
        Self::new()
    }
}

impl GuestInfo {
    /// Uses `vmware-rpctool` from `PATH`.
    pub fn new() -> Self {
        Self::with_command("vmware-rpctool")
    }

    /// Uses another rpctool binary (a path, or a stand-in for tests).
    pub fn with_command(command: impl Into<OsString>) -> Self {
        GuestInfo {
            command: command.into(),
        }
    }

    fn run(&self, key: &str, message: String) -> Result<(bool, String), Error> {
        if message.len() > MAX_MESSAGE {
            return Err(Error::Guest {
                key: key.to_owned(),
                reason: format!(
                    "message of {} bytes exceeds the 64 KiB backdoor limit",
                    message.len()
                ),
            });
        }
        let out = Command::new(&self.command).arg(&message).output().map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "`{}` not found: this only works inside a VMware VM with open-vm-tools installed",
                    self.command.to_string_lossy()
                )
            } else {
                format!("cannot run `{}`: {e}", self.command.to_string_lossy())
            };
            Error::Guest {
                key: key.to_owned(),
                reason,
            }
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() && !stderr.is_empty() && is_outside_vm(&stderr) {
            return Err(Error::Guest {
                key: key.to_owned(),
                reason: "not running inside a VMware virtual machine".to_owned(),
            });
        }
        Ok((
            out.status.success(),
            if out.status.success() { stdout } else { stderr },
        ))
    }

    /// Reads `key` (which must start with `guestinfo.`); `None` when it is not set.
    pub fn get(&self, key: &str) -> Result<Option<String>, Error> {
        if !key.starts_with("guestinfo.") {
            // Hidden keys are invisible to the guest.
            return Ok(None);
        }
        let (ok, text) = self.run(key, format!("info-get {key}"))?;
        if !ok {
            return Ok(None);
        }
        Ok(Some(text.strip_suffix('\n').unwrap_or(&text).to_owned()))
    }

    /// Writes `key`; only read-write keys (no `/`) are writable from the guest.
    pub fn set(&self, key: &str, value: &str) -> Result<(), Error> {
        if !key.starts_with("guestinfo.") || key.contains('/') {
            return Err(Error::Guest {
                key: key.to_owned(),
                reason: "the guest can only write read-write keys (`guestinfo.` without `/`)"
                    .to_owned(),
            });
        }
        let (ok, text) = self.run(key, format!("info-set {key} {value}"))?;
        if ok {
            Ok(())
        } else {
            Err(Error::Guest {
                key: key.to_owned(),
                reason: format!("info-set refused: {}", text.trim()),
            })
        }
    }

    /// Writes every guest-writable key of `map`; returns the keys it left out.
    pub fn set_writable(&self, map: &BTreeMap<String, String>) -> Result<Vec<String>, Error> {
        let mut skipped = Vec::new();
        for (k, v) in map {
            if k.starts_with("guestinfo.") && !k.contains('/') {
                self.set(k, v)?;
            } else {
                skipped.push(k.clone());
            }
        }
        Ok(skipped)
    }
}

fn is_outside_vm(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("not running in a vm") || s.contains("not in a vm") || s.contains("virtual machine")
}

impl Source for GuestInfo {
    fn get(&self, key: &str) -> Result<Option<String>, Error> {
        GuestInfo::get(self, key)
    }
}
