//! Container states, derived from what vSphere keeps.

use std::fmt;

use vic_config::model::ExecutorConfig;

use crate::backend::PowerState;

/// A container's state.
///
/// Derived from the VM's power state and the sessions' keys (`started`, start and
/// stop times, exit status), all of which live in vSphere, so a control plane that
/// restarts rebuilds it by reading the VMs. `Stopping` and `Removing` are the
/// states a commit in progress reports; vSphere never shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Powered on; the sessions have not all reported `started` yet.
    Starting,
    /// Powered on and started.
    Running,
    /// Being stopped by a commit of this process.
    Stopping,
    /// Powered off after having run (or failed to start).
    Stopped,
    /// Suspended.
    Suspended,
    /// Being removed by this process.
    Removing,
    /// Removed.
    Removed,
    /// Not derivable (no sessions, contradictory keys).
    Unknown,
}

impl ContainerState {
    /// Lower-case name (`running`), as Docker's `State.Status` words it where they
    /// overlap.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Starting => "starting",
            ContainerState::Running => "running",
            ContainerState::Stopping => "stopping",
            ContainerState::Stopped => "stopped",
            ContainerState::Suspended => "suspended",
            ContainerState::Removing => "removing",
            ContainerState::Removed => "removed",
            ContainerState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a container whose VM is `power` with executor config `config`.
pub fn derive_state(power: PowerState, config: &ExecutorConfig, is_new: bool) -> ContainerState {
    if is_new {
        return ContainerState::Created;
    }
    // A session marked inactive (`active = false`) is not launched by the guest.
    let sessions: Vec<_> = config
        .sessions
        .values()
        .filter(|s| s.active != Some(false))
        .collect();
    match power {
        PowerState::Suspended => ContainerState::Suspended,
        PowerState::PoweredOn => {
            if sessions.is_empty() {
                return ContainerState::Running;
            }
            let all_started = sessions
                .iter()
                .all(|s| s.started.as_deref() == Some("true"));
            let failed = sessions
                .iter()
                .any(|s| matches!(s.started.as_deref(), Some(t) if !t.is_empty() && t != "true"));
            let exited = sessions
                .iter()
                .all(|s| s.exit_status.is_some() && s.detail.stop_time.is_some());
            if failed || exited {
                // The guest says the process is gone; the VM is on its way down.
                ContainerState::Stopped
            } else if all_started {
                ContainerState::Running
            } else {
                ContainerState::Starting
            }
        }
        PowerState::PoweredOff => {
            let ever_ran = sessions.iter().any(|s| {
                s.started.as_deref().is_some_and(|t| !t.is_empty())
                    || s.detail.start_time.is_some_and(|t| t > 0)
                    || s.detail.stop_time.is_some_and(|t| t > 0)
                    || s.exit_status.is_some()
            });
            if ever_ran {
                ContainerState::Stopped
            } else {
                ContainerState::Created
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vic_config::model::SessionConfig;

    fn with_session(f: impl FnOnce(&mut SessionConfig)) -> ExecutorConfig {
        let mut c = ExecutorConfig::default();
        let mut s = SessionConfig::default();
        f(&mut s);
        c.sessions.insert("a".into(), s);
        c
    }

    #[test]
    fn states() {
        use ContainerState::*;
        use PowerState::*;
        let fresh = with_session(|_| {});
        assert_eq!(derive_state(PoweredOff, &fresh, true), Created);
        assert_eq!(derive_state(PoweredOff, &fresh, false), Created);
        assert_eq!(derive_state(PoweredOn, &fresh, false), Starting);
        let started = with_session(|s| s.started = Some("true".into()));
        assert_eq!(derive_state(PoweredOn, &started, false), Running);
        assert_eq!(derive_state(PoweredOff, &started, false), Stopped);
        let failed = with_session(|s| s.started = Some("exec format error".into()));
        assert_eq!(derive_state(PoweredOn, &failed, false), Stopped);
        let exited = with_session(|s| {
            s.started = Some("true".into());
            s.exit_status = Some(0);
            s.detail.stop_time = Some(5);
        });
        assert_eq!(derive_state(PoweredOn, &exited, false), Stopped);
        assert_eq!(
            derive_state(PowerState::Suspended, &exited, false),
            ContainerState::Suspended
        );
    }
}
