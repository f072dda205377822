//! The in-memory backend (being written).

use crate::backend::Backend;

/// VMs, files and events kept in memory, with vSphere's behaviour.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    _private: (),
}

impl MemoryBackend {
    /// A backend whose VCH folder is `[datastore] vch_dir`.
    pub fn new(datastore: impl Into<String>, vch_dir: impl Into<String>) -> Self {
        let _ = (datastore.into(), vch_dir.into());
        unimplemented!("memory backend")
    }

    /// Adds port groups VMs can attach to.
    pub fn with_port_groups(self, names: &[&str]) -> Self {
        let _ = names;
        unimplemented!("memory backend")
    }
}

#[allow(dead_code)]
fn _is_backend(b: MemoryBackend) -> Box<dyn Backend> {
    unimplemented!("{b:?}")
}
