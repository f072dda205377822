//! The record types of the schema metadata in [`crate::meta`].

use crate::Version;

/// A field of a data object, or a parameter of a method.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    /// Wire name (`numCPUs`).
    pub name: &'static str,
    /// Rust name (`num_cpus`).
    pub rust_name: &'static str,
    /// Schema type (`xsd:int`, `VirtualDevice`, `ManagedObjectReference`).
    pub type_name: &'static str,
    /// May be absent.
    pub optional: bool,
    /// Repeated.
    pub list: bool,
    /// Holds a secret (masked in `Debug` and in wire logs).
    pub secret: bool,
    /// The API version that introduced it.
    pub since: Version,
}

/// A data object or fault type.
#[derive(Debug, Clone, Copy)]
pub struct DataTypeInfo {
    /// Schema name.
    pub name: &'static str,
    /// Base type (`None` for direct `DynamicData` descendants and `MethodFault`).
    pub parent: Option<&'static str>,
    /// The API version that introduced it.
    pub since: Version,
    /// Whether it is `MethodFault` or descends from it.
    pub fault: bool,
    /// Its own fields, in schema order.
    pub fields: &'static [FieldInfo],
}

/// A string enum.
#[derive(Debug, Clone, Copy)]
pub struct EnumInfo {
    /// Schema name.
    pub name: &'static str,
    /// The API version that introduced it.
    pub since: Version,
    /// Its values with the version that introduced each.
    pub values: &'static [(&'static str, Version)],
}

/// An operation.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    /// Wire name (`PowerOnVM_Task`).
    pub name: &'static str,
    /// Rust function in [`crate::methods`].
    pub rust_name: &'static str,
    /// The managed object type that has it.
    pub managed_object: &'static str,
    /// The API version that introduced it.
    pub since: Version,
    /// Safe to send again (it only reads).
    pub idempotent: bool,
    /// The type of `returnval`, if any.
    pub returns: Option<&'static str>,
    /// The whole `returnval` is a credential (`AcquireCloneTicket`'s ticket, the URL
    /// of `InitiateFileTransferToGuest`, which carries a one-time ticket): masked in
    /// wire logs.
    pub returns_secret: bool,
    /// For a `_Task` method, the type of the task's result.
    pub task_result: Option<&'static str>,
    /// Parameters after `_this`.
    pub params: &'static [FieldInfo],
    /// Declared faults.
    pub faults: &'static [&'static str],
}

/// A property of a managed object.
#[derive(Debug, Clone, Copy)]
pub struct PropertyInfo {
    /// Wire name.
    pub name: &'static str,
    /// Schema type.
    pub type_name: &'static str,
    /// An array.
    pub list: bool,
    /// The managed type that declares it.
    pub declared_in: &'static str,
    /// The API version that introduced it.
    pub since: Version,
}

/// A managed object type.
#[derive(Debug, Clone, Copy)]
pub struct ManagedObjectInfo {
    /// Type name (`VirtualMachine`).
    pub name: &'static str,
    /// Base managed type (`ManagedEntity`).
    pub parent: Option<&'static str>,
    /// The API version that introduced it.
    pub since: Version,
    /// All properties, inherited first.
    pub properties: &'static [PropertyInfo],
    /// Its own methods (wire names).
    pub methods: &'static [&'static str],
}
