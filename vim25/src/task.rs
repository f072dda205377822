//! Waiting for tasks: progress as it happens, the result or the typed fault at the end,
//! cancellation and timeouts.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client, vm: vim25::types::ManagedObjectReference) -> Result<(), vim25::Error> {
//! let task = vim25::methods::power_on_vm_task(&client, &vm, None).await?;
//! let info = vim25::task::wait(&client, &task, |pct| eprintln!("{pct}%")).await?;
//! println!("done: {:?}", info.result);
//! # Ok(()) }
//! ```

use crate::property::{spec_for_objects, Watch};
use crate::types::{TaskInfo, TaskInfoState};
use crate::xml::ManagedObjectReference;
use crate::{methods, Client, Error};
use std::time::Duration;

/// Waits until `task` finishes, calling `progress` with each new percentage. Returns
/// the final `TaskInfo` (its `result` holds the task's result) or, when the task
/// failed, [`Error::TaskFailed`] with the typed fault.
pub async fn wait(
    client: &Client,
    task: &ManagedObjectReference,
    mut progress: impl FnMut(i32) + Send,
) -> Result<TaskInfo, Error> {
    let spec = spec_for_objects("Task", &["info"], std::slice::from_ref(task));
    let mut watch = Watch::create(client.clone(), &client.property_collector(), &spec).await?;
    let mut last = None;
    let outcome = loop {
        let set = match watch.next().await {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => break Err(e),
        };
        let infos = set
            .filter_set
            .into_iter()
            .flat_map(|f| f.object_set)
            .flat_map(|o| o.change_set)
            .filter(|c| c.name == "info")
            .filter_map(|c| c.val.and_then(|v| v.downcast_ref::<TaskInfo>().cloned()));
        let mut finished = None;
        for info in infos {
            if let Some(p) = info.progress {
                if last != Some(p) {
                    last = Some(p);
                    progress(p);
                }
            }
            if matches!(info.state, TaskInfoState::Success | TaskInfoState::Error) {
                finished = Some(info);
            }
        }
        if let Some(info) = finished {
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
