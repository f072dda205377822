//! Commit: apply a handle to vSphere.
//!
//! The order is the spec's: create the VM if new; power off first when stopping
//! (guest shutdown, then hard power-off, each bounded); reconfigure with the
//! snapshot's `changeVersion` and only the changed keys and devices; power on when
//! starting and wait, through a property-collector watch, until every session's
//! `started` says `true` (or an error text), aborting if the VM powers off.

use vic_config::delta::{delta, Change};
use vic_config::model::ExecutorConfig;
use vic_config::option_value::{changes_to_option_values, to_option_values};
use vim25::types::VirtualMachineConfigSpec;

use super::{
    conflict_context, decode_config, ContainerInfo, ContainerState, Exec, Handle, TargetState,
};
use crate::backend::{PowerState, VmDetail, VmRecord};
use crate::events::EventKind;
use crate::{ContainerId, Error, Result};

/// Whether `key` may be written while the VM is powered on: hidden keys (no
/// `guestinfo.` root, invisible to the guest) and non-persistent ones.
pub fn writable_while_running(key: &str) -> bool {
    !key.starts_with("guestinfo.") || key.ends_with("@non-persistent")
}

impl Exec {
    /// Applies `handle`, in the spec's order: create the VM if new; power off first
    /// when stopping (guest shutdown, then hard power-off, each bounded);
    /// reconfigure with the snapshot's `changeVersion` and only the changed keys and
    /// devices; power on when starting and wait, through a property-collector watch,
    /// until every session's `started` says `true` (or an error text), aborting if
    /// the VM powers off first. On success returns the container as it is
    /// afterwards.
    ///
    /// Errors: [`Error::Conflict`] when the VM changed since the handle was taken
    /// (nothing of the reconfigure was applied; take a fresh handle);
    /// [`Error::InvalidInput`] for persistent changes to a container that stays
    /// running (nothing is applied); [`Error::StartFailed`], [`Error::PoweredOff`] or
    /// [`Error::Timeout`] when starting did not reach `started`.
    pub async fn commit(&self, handle: Handle) -> Result<ContainerInfo> {
        let id = handle.id.clone();
        let r = match handle.vm.clone() {
            None => self.commit_new(handle).await,
            Some(vm) => self.commit_existing(handle, vm).await,
        };
        self.set_transient(&id, None);
        if let Err(e) = &r {
            if !e.is_conflict() {
                self.events.publish(
                    &id,
                    EventKind::Failed {
                        message: e.to_string(),
                    },
                );
            }
        }
        r
    }

    async fn commit_new(&self, mut handle: Handle) -> Result<ContainerInfo> {
        let id = handle.id.clone();
        let mut spec = handle.create.take().unwrap_or_default();
        let target = handle.target;
        if target == Some(TargetState::Running) {
            reset_runtime(&mut handle.config);
        }
        spec.extra_config = to_option_values(&vic_config::to_extra_config(&handle.config)?);
        spec.device_change = std::mem::take(&mut handle.device_changes);
        let vm = self.backend.create_vm(&spec).await?;
        self.events.publish(&id, EventKind::Created);
        if target == Some(TargetState::Running) {
            self.start(&id, &vm).await?;
        }
        let record = self.backend.vm(&vm, VmDetail::Summary).await?;
        self.set_transient(&id, None);
        self.info(id, record)
    }

    async fn commit_existing(&self, mut handle: Handle, vm: VmRecord) -> Result<ContainerInfo> {
        let id = handle.id.clone();
        let mut power = vm.power_state;
        let stopping =
            handle.target == Some(TargetState::Stopped) && power != PowerState::PoweredOff;
        let starting =
            handle.target == Some(TargetState::Running) && power != PowerState::PoweredOn;
        // A suspended guest resumes where it was and reports nothing again: what it
        // reported before stands.
        if starting && power != PowerState::Suspended {
            reset_runtime(&mut handle.config);
        }
        let changes = delta::<ExecutorConfig>(&vm.extra_config, &handle.config)?;
        let stays_on = power == PowerState::PoweredOn && !stopping;
        if stays_on {
            let refused: Vec<&str> = changes
                .iter()
                .map(Change::key)
                .filter(|k| !writable_while_running(k))
                .collect();
            if !refused.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "container {id} is running: {} can only change while it is stopped \
                     (stop it in this commit or in an earlier one)",
                    refused.join(", ")
                )));
            }
        }
        let has_changes = !changes.is_empty() || !handle.device_changes.is_empty();
        let mut change_version = vm.change_version.clone();
        if stopping {
            if has_changes && vm.change_version.is_some() {
                // Do not stop a container for edits that will be refused anyway.
                let now = self.backend.vm(&vm.reference, VmDetail::Summary).await?;
                if now.change_version != vm.change_version {
                    return Err(Error::Conflict {
                        what: format!("container {id}"),
                        during: "stop".into(),
                        message: format!(
                            "changeVersion is {:?}, the handle has {:?}",
                            now.change_version, vm.change_version
                        ),
                    });
                }
            }
            self.stop(&id, &vm).await?;
            self.events.publish(&id, EventKind::Stopped);
            power = PowerState::PoweredOff;
            // The stop itself moved the VM's changeVersion (and the guest may have
            // written its exit status on the way down): the reconfigure goes with
            // the version the stop left, checked unchanged by others just above.
            if has_changes {
                change_version = self
                    .backend
                    .vm(&vm.reference, VmDetail::Summary)
                    .await?
                    .change_version;
            }
        }
        if has_changes {
            let spec = VirtualMachineConfigSpec {
                change_version,
                extra_config: changes_to_option_values(&changes),
                device_change: std::mem::take(&mut handle.device_changes),
                ..Default::default()
            };
            self.backend
                .reconfigure_vm(&vm.reference, &spec)
                .await
                .map_err(|e| conflict_context(e, &id, "reconfigure"))?;
        }
        if starting && power != PowerState::PoweredOn {
            self.start(&id, &vm.reference).await?;
        }
        let record = self.backend.vm(&vm.reference, VmDetail::Summary).await?;
        self.set_transient(&id, None);
        self.info(id, record)
    }

    /// Guest shutdown bounded by `stop_grace`, then a hard power-off bounded by
    /// `power_off_limit`.
    async fn stop(&self, id: &ContainerId, vm: &VmRecord) -> Result<()> {
        self.set_transient(id, Some(ContainerState::Stopping));
        let off = |r: &VmRecord| r.power_state == PowerState::PoweredOff;
        let graceful = match self.backend.shutdown_guest(&vm.reference).await {
            Ok(()) => self
                .backend
                .wait_vm(&vm.reference, self.settings.stop_grace, &off)
                .await
                .is_ok(),
            Err(e) => {
                tracing::debug!(container = %id, error = %e, "guest shutdown refused; powering off");
                false
            }
        };
        if !graceful {
            match self.backend.power_off(&vm.reference).await {
                Ok(()) => {}
                Err(e) => {
                    // Off by now (the guest finished after all) is what we wanted.
                    let now = self.backend.vm(&vm.reference, VmDetail::Summary).await?;
                    if now.power_state != PowerState::PoweredOff {
                        return Err(conflict_context(e, id, "power off"));
                    }
                }
            }
            self.backend
                .wait_vm(&vm.reference, self.settings.power_off_limit, &off)
                .await?;
        }
        Ok(())
    }

    /// Powers on and waits for every session's `started`.
    async fn start(
        &self,
        id: &ContainerId,
        vm: &vim25::types::ManagedObjectReference,
    ) -> Result<()> {
        self.set_transient(id, Some(ContainerState::Starting));
        self.backend
            .power_on(vm)
            .await
            .map_err(|e| conflict_context(e, id, "power on"))?;
        // The sessions' answer wins over the power state: a program that started
        // and already exited (the VM off again) started all the same.
        let settled = |r: &VmRecord| {
            let reported = decode_config(r).is_ok_and(|c| start_outcome(&c).is_some());
            reported || r.power_state != PowerState::PoweredOn
        };
        let record = self
            .backend
            .wait_vm(vm, self.settings.start_limit, &settled)
            .await
            .map_err(|e| match e {
                Error::Timeout { limit, .. } => Error::Timeout {
                    what: format!("the sessions of container {id} to start"),
                    limit,
                },
                other => other,
            })?;
        let config = decode_config(&record)?;
        match start_outcome(&config) {
            Some(Ok(())) => {
                self.events.publish(id, EventKind::Started);
                Ok(())
            }
            Some(Err((session, message))) => Err(Error::StartFailed {
                id: id.to_string(),
                session,
                message,
            }),
            None => Err(Error::PoweredOff { id: id.to_string() }),
        }
    }
}

/// `Some(Ok)` when every active session (`active` not `false`) reports
/// `started = true` (a container without active sessions counts as started), `Some(Err((session, text)))` when one reports an
/// error text, `None` while some have not reported.
fn start_outcome(config: &ExecutorConfig) -> Option<std::result::Result<(), (String, String)>> {
    let mut pending = false;
    for (sid, s) in config
        .sessions
        .iter()
        .filter(|(_, s)| s.active != Some(false))
    {
        match s.started.as_deref() {
            Some("true") => {}
            None | Some("") => pending = true,
            Some(text) => return Some(Err((sid.clone(), text.to_string()))),
        }
    }
    if pending {
        None
    } else {
        Some(Ok(()))
    }
}

/// Clears what the guest reports about a run (`started`, exit status), so that a
/// wait after power-on sees this run's values, not the last one's.
fn reset_runtime(config: &mut ExecutorConfig) {
    for s in config.sessions.values_mut() {
        s.started = None;
        s.exit_status = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits run on multi-threaded runtimes and in spawned tasks: their future
    /// must be `Send`.
    #[allow(dead_code)]
    fn commit_is_send(exec: &Exec, h: Handle) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&exec.commit(h));
    }

    #[test]
    fn running_keys() {
        assert!(writable_while_running("common/name"));
        assert!(writable_while_running(
            "guestinfo.vice./execs|x/cmd/Path@non-persistent"
        ));
        assert!(!writable_while_running("guestinfo.vice./hostname"));
        assert!(!writable_while_running(
            "guestinfo.vice..sessions|x.started"
        ));
    }
}
