//! What the JSON code of the managed-object structs (generated `serde_mo`) is built
//! from, beside the shared code of `vim25_types::json`.

pub(crate) use vim25_types::json::object_serde;

/// The `JsonObject` methods of a managed-object struct: no `_typeName` is written, and
/// one that is read is ignored (the reference in `obj` tells the type).
macro_rules! managed_object_names {
    () => {
        fn json_type_name(&self) -> Option<&str> {
            None
        }
        fn json_schema_name(&self) -> &'static str {
            <Self as $crate::mo::ManagedObject>::TYPE_NAME
        }
        fn json_keep_type_name(&mut self, _: &str) {}
    };
}

pub(crate) use managed_object_names;
