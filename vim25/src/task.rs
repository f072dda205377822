//! Waiting for tasks: progress as it happens, the result typed or the typed fault at
//! the end, cancellation and timeouts.
//!
//! The wrappers of [`crate::object`] return a [`Task<R>`] whose `R` is what the task
//! produces: `Task<VirtualMachine>` for `CreateVM_Task`, `Task<()>` for a power-on.
//! [`Task::wait`] gives that `R`; [`Task::wait_with_progress`] also reports the
//! percentage as it changes.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client, folder: vim25::object::Folder, pool: vim25::object::ResourcePool,
//! #     spec: vim25::types::VirtualMachineConfigSpec) -> Result<(), vim25::Error> {
//! let vm = folder
//!     .create_vm(&spec, &pool, None)
//!     .await?
//!     .wait_with_progress(|pct| eprintln!("creating: {pct}%"))
//!     .await?;
//! vm.power_on().await?.wait().await?;
//! # Ok(()) }
//! ```
//!
//! A task started through [`crate::methods`] is a bare reference; [`Task::new`] types
//! it, or [`wait`] waits for it and returns its `TaskInfo`.

use crate::property::{TryStreamExt, Watch};
use crate::types::{AnyValue, ManagedObjectReference, TaskInfo, TaskInfoState};
use crate::{methods, Client, Error};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// What a finished task gives: built from its `TaskInfo` (whose `result` holds the
/// task's result). Implemented for `()` (the result is ignored), [`TaskInfo`] (all of
/// it), [`ManagedObjectReference`], [`AnyValue`] and the object wrappers.
pub trait TaskResult: Sized {
    /// Builds the result of `task` from its final, successful `info`.
    fn from_task(
        client: &Client,
        task: &ManagedObjectReference,
        info: TaskInfo,
    ) -> Result<Self, Error>;
}

impl TaskResult for () {
    fn from_task(_: &Client, _: &ManagedObjectReference, _: TaskInfo) -> Result<(), Error> {
        Ok(())
    }
}

impl TaskResult for TaskInfo {
    fn from_task(_: &Client, _: &ManagedObjectReference, info: TaskInfo) -> Result<Self, Error> {
        Ok(info)
    }
}

impl TaskResult for AnyValue {
    fn from_task(_: &Client, _: &ManagedObjectReference, info: TaskInfo) -> Result<Self, Error> {
        Ok(info.result.unwrap_or_default())
    }
}

impl TaskResult for ManagedObjectReference {
    fn from_task(_: &Client, task: &ManagedObjectReference, info: TaskInfo) -> Result<Self, Error> {
        result_reference(task, &info)
    }
}

/// The managed object reference a finished task returned as its result (the new VM of
/// `CreateVM_Task`, the clone of `CloneVM_Task`). [`Error::Decode`] when the result
/// is something else: the server did not send what the operation promises.
pub fn result_reference(
    task: &ManagedObjectReference,
    info: &TaskInfo,
) -> Result<ManagedObjectReference, Error> {
    match &info.result {
        Some(AnyValue::Mor(m)) => Ok(m.clone()),
        other => Err(Error::Decode {
            operation: format!("result of {task}"),
            source: crate::xml::DecodeError {
                message: format!(
                    "expected a managed object reference, got {}",
                    other.as_ref().map_or("nothing".into(), |v| v.kind())
                ),
                path: "TaskInfo/result".into(),
                offset: 0,
            },
        }),
    }
}

/// A running task whose result is an `R`.
pub struct Task<R = ()> {
    client: Client,
    reference: ManagedObjectReference,
    result: PhantomData<fn() -> R>,
}

impl<R> Clone for Task<R> {
    fn clone(&self) -> Self {
        Task {
            client: self.client.clone(),
            reference: self.reference.clone(),
            result: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Task<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Task").field(&self.reference).finish()
    }
}

impl<R: TaskResult> Task<R> {
    /// The task `reference` (from a method of [`crate::methods`]), typed as giving `R`.
    pub fn new(client: &Client, reference: ManagedObjectReference) -> Self {
        Task {
            client: client.clone(),
            reference,
            result: PhantomData,
        }
    }

    /// The task's reference.
    pub fn reference(&self) -> &ManagedObjectReference {
        &self.reference
    }

    /// Waits until the task finishes and returns its result, or [`Error::TaskFailed`]
    /// with the typed fault.
    pub async fn wait(self) -> Result<R, Error> {
        self.wait_with_progress(|_| {}).await
    }

    /// [`Task::wait`], calling `progress` with each new percentage (and 100 at the
    /// end of a successful task).
    pub async fn wait_with_progress(self, progress: impl FnMut(i32) + Send) -> Result<R, Error> {
        let info = wait(&self.client, &self.reference, progress).await?;
        R::from_task(&self.client, &self.reference, info)
    }

    /// [`Task::wait_with_progress`] with a deadline: [`Error::Timeout`] when the task is
    /// still running after `limit` (the task itself goes on; [`Task::cancel`] it if
    /// that is wanted).
    pub async fn wait_timeout(
        self,
        limit: Duration,
        progress: impl FnMut(i32) + Send,
    ) -> Result<R, Error> {
        let info = wait_timeout(&self.client, &self.reference, limit, progress).await?;
        R::from_task(&self.client, &self.reference, info)
    }

    /// Asks the server to cancel the task (only cancelable tasks can be).
    pub async fn cancel(&self) -> Result<(), Error> {
        cancel(&self.client, &self.reference).await
    }
}

/// How long a task wait goes without an update before it reads the task's `info`
/// itself. A server that loses track of what it reported cannot leave the wait
/// hanging on a task that has finished: govmomi's simulator (0.24), when the answer
/// to the first `WaitForUpdatesEx` of a filter is lost and the call is sent again,
/// answers the second one with nothing (it counts the task as reported already)
/// and then waits for a change that has come and gone.
const QUIET: Duration = Duration::from_secs(5);

/// The task's `info`, read directly.
async fn read_info(client: &Client, task: &ManagedObjectReference) -> Result<TaskInfo, Error> {
    let t: crate::mo::Task = crate::object::Common::new(client, task.clone())
        .properties(&["info"])
        .await?;
    t.info
        .ok_or_else(|| Error::NotFound(format!("info of {task}")))
}

/// Waits until `task` finishes, calling `progress` with each new percentage. Returns
/// the final `TaskInfo` (its `result` holds the task's result) or, when the task
/// failed, [`Error::TaskFailed`] with the typed fault. Updates come from a
/// `WaitForUpdatesEx` watch; after 5 s without one, the task's `info` is also read
/// directly, so a lost update cannot leave the wait hanging.
pub async fn wait(
    client: &Client,
    task: &ManagedObjectReference,
    mut progress: impl FnMut(i32) + Send,
) -> Result<TaskInfo, Error> {
    let mut watch = Watch::for_object(client, task, &["info"]).await?;
    let mut last = None;
    let outcome = loop {
        let info = match tokio::time::timeout(QUIET, watch.try_next()).await {
            Ok(Ok(Some(update))) => match update.get::<TaskInfo>("info") {
                Some(info) => info,
                None => continue,
            },
            Ok(Ok(None)) => {
                break Err(Error::NotFound(format!("{task} (its watch ended)")));
            }
            Ok(Err(e)) => break Err(e),
            // Quiet for too long: read the task itself (the wait in flight goes on).
            Err(_) => match read_info(client, task).await {
                Ok(info) => info,
                Err(e) => break Err(e),
            },
        };
        if let Some(p) = info.progress {
            if last != Some(p) {
                last = Some(p);
                progress(p);
            }
        }
        if matches!(info.state, TaskInfoState::Success | TaskInfoState::Error) {
            break finish(task, info, &mut progress, last);
        }
    };
    let _ = watch.destroy().await;
    outcome
}

fn finish(
    task: &ManagedObjectReference,
    info: TaskInfo,
    progress: &mut impl FnMut(i32),
    last: Option<i32>,
) -> Result<TaskInfo, Error> {
    if info.state == TaskInfoState::Success {
        if last != Some(100) {
            progress(100);
        }
        return Ok(info);
    }
    let (message, fault) = match info.error {
        Some(e) => (
            e.localized_message
                .clone()
                .unwrap_or_else(|| e.fault.type_name().to_string()),
            Some(Box::new(e.fault)),
        ),
        None => ("task failed without a fault".to_string(), None),
    };
    Err(Error::TaskFailed {
        task: task.clone(),
        message,
        fault,
    })
}

/// [`wait`] with a deadline: [`Error::Timeout`] when the task is still running after
/// `limit` (the task itself goes on; [`cancel`] it if that is wanted).
pub async fn wait_timeout(
    client: &Client,
    task: &ManagedObjectReference,
    limit: Duration,
    progress: impl FnMut(i32) + Send,
) -> Result<TaskInfo, Error> {
    match tokio::time::timeout(limit, wait(client, task, progress)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            operation: format!("waiting for {task}"),
        }),
    }
}

/// Asks the server to cancel `task` (only cancelable tasks can be).
pub async fn cancel(client: &Client, task: &ManagedObjectReference) -> Result<(), Error> {
    methods::cancel_task(client, task).await
}
