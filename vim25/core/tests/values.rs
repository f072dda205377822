//! Reading `anyType` values and property-collector answers without a server:
//! `FromAnyValue` for primitives, enums, data objects, references and arrays;
//! `PropertyChange`/`ObjectUpdate`/`ObjectContent` accessors; managed objects built
//! from `ObjectContent` (typed, by their own type, or `Other`); the managed-object
//! type hierarchy; and the encoder refusing values newer than the negotiated version.

use vim25_core::mo::{self, AnyManagedObject, ManagedObject};
use vim25_core::soap::RequestWriter;
use vim25_core::types::{
    AnyValue, DateTime, DynamicProperty, FromAnyValue, HostRuntimeInfo, HostSystemPowerState,
    ManagedEntityStatus, ManagedObjectReference, ObjectContent, ObjectUpdate, ObjectUpdateKind,
    PropertyChange, PropertyChangeOp, TaskInfo, TaskInfoState, VirtualDevice, VirtualDisk,
    VirtualMachineGuestOsIdentifier, VirtualMachinePowerState, VirtualMachineRuntimeInfo,
};
use vim25_core::{Error, Version};

fn mor(t: &str, v: &str) -> ManagedObjectReference {
    ManagedObjectReference::new(t, v)
}

fn enum_value(type_name: &str, value: &str) -> AnyValue {
    AnyValue::Enum {
        type_name: type_name.into(),
        value: value.into(),
    }
}

fn array(item_type: &str, items: Vec<AnyValue>) -> AnyValue {
    AnyValue::Array {
        item_type: item_type.into(),
        items,
    }
}

fn prop(name: &str, val: impl Into<AnyValue>) -> DynamicProperty {
    DynamicProperty {
        name: name.into(),
        val: val.into(),
        ..Default::default()
    }
}

fn vm_runtime(state: VirtualMachinePowerState) -> VirtualMachineRuntimeInfo {
    VirtualMachineRuntimeInfo {
        power_state: state,
        host: Some(mor("HostSystem", "host-21")),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------
// FromAnyValue: primitives

#[test]
fn integers_widen_from_every_narrower_xsd_integer() {
    // Every XSD integer kind reads as every Rust integer type at least as wide.
    assert_eq!(AnyValue::Byte(-7).get::<i8>(), Some(-7));
    assert_eq!(AnyValue::Byte(-7).get::<i16>(), Some(-7));
    assert_eq!(AnyValue::Byte(-7).get::<i32>(), Some(-7));
    assert_eq!(AnyValue::Byte(-7).get::<i64>(), Some(-7));
    assert_eq!(AnyValue::Short(-300).get::<i16>(), Some(-300));
    assert_eq!(AnyValue::Short(-300).get::<i32>(), Some(-300));
    assert_eq!(AnyValue::Short(-300).get::<i64>(), Some(-300));
    assert_eq!(AnyValue::Int(i32::MIN).get::<i32>(), Some(i32::MIN));
    assert_eq!(AnyValue::Int(i32::MIN).get::<i64>(), Some(i32::MIN as i64));
    assert_eq!(AnyValue::Long(i64::MAX).get::<i64>(), Some(i64::MAX));
    // The trait form agrees with `AnyValue::get`.
    assert_eq!(i64::from_any_value(&AnyValue::Int(42)), Some(42));
}

#[test]
fn integers_narrow_only_when_the_value_fits() {
    // In range: a wider XSD kind still reads as a narrower Rust type.
    assert_eq!(AnyValue::Long(100).get::<i8>(), Some(100));
    assert_eq!(AnyValue::Int(-32768).get::<i16>(), Some(i16::MIN));
    assert_eq!(AnyValue::Long(i32::MAX as i64).get::<i32>(), Some(i32::MAX));
    // Out of range: None, never a wrapped value.
    assert_eq!(AnyValue::Short(128).get::<i8>(), None);
    assert_eq!(AnyValue::Short(-129).get::<i8>(), None);
    assert_eq!(AnyValue::Int(40_000).get::<i16>(), None);
    assert_eq!(AnyValue::Long(i32::MAX as i64 + 1).get::<i32>(), None);
    assert_eq!(AnyValue::Long(i64::MIN).get::<i32>(), None);
    assert_eq!(AnyValue::Long(1 << 40).get::<i8>(), None);
}

#[test]
fn integers_are_not_read_from_other_kinds() {
    assert_eq!(AnyValue::String("5".into()).get::<i32>(), None);
    assert_eq!(AnyValue::Double(5.0).get::<i64>(), None);
    assert_eq!(AnyValue::Bool(true).get::<i32>(), None);
    assert_eq!(AnyValue::Null.get::<i32>(), None);
}

#[test]
fn floats_widen_but_do_not_narrow() {
    assert_eq!(AnyValue::Float(1.5).get::<f32>(), Some(1.5));
    assert_eq!(AnyValue::Float(1.5).get::<f64>(), Some(1.5));
    assert_eq!(AnyValue::Double(2.25).get::<f64>(), Some(2.25));
    // A double is never silently rounded to f32.
    assert_eq!(AnyValue::Double(2.25).get::<f32>(), None);
    // Integers are not floats.
    assert_eq!(AnyValue::Int(2).get::<f64>(), None);
}

#[test]
fn strings_booleans_dates_binary_and_references() {
    assert_eq!(
        AnyValue::String("DC0_H0_VM0".into()).get::<String>(),
        Some("DC0_H0_VM0".to_string())
    );
    // An anyURI and an enum's wire value read as text too.
    assert_eq!(
        AnyValue::Uri("https://x/sdk".into()).get::<String>(),
        Some("https://x/sdk".to_string())
    );
    assert_eq!(
        enum_value("VirtualMachinePowerState", "poweredOn").get::<String>(),
        Some("poweredOn".to_string())
    );
    assert_eq!(AnyValue::Int(7).get::<String>(), None);

    assert_eq!(AnyValue::Bool(false).get::<bool>(), Some(false));
    assert_eq!(AnyValue::String("true".into()).get::<bool>(), None);
    assert_eq!(AnyValue::Int(1).get::<bool>(), None);

    let when = DateTime("2026-11-23T12:00:00.123Z".into());
    assert_eq!(
        AnyValue::DateTime(when.clone()).get::<DateTime>(),
        Some(when)
    );
    assert_eq!(
        AnyValue::String("2026-11-23T12:00:00Z".into()).get::<DateTime>(),
        None
    );

    let vm = mor("VirtualMachine", "vm-42");
    assert_eq!(
        AnyValue::Mor(vm.clone()).get::<ManagedObjectReference>(),
        Some(vm.clone())
    );
    assert_eq!(
        AnyValue::String("vm-42".into()).get::<ManagedObjectReference>(),
        None
    );
    // `AnyValue` itself reads as a clone, whatever it holds (Null included).
    assert_eq!(AnyValue::Null.get::<AnyValue>(), Some(AnyValue::Null));
    assert_eq!(
        AnyValue::Mor(vm.clone()).get::<AnyValue>(),
        Some(AnyValue::Mor(vm))
    );
}

#[test]
fn kind_names_what_the_value_holds() {
    assert_eq!(AnyValue::Null.kind(), "null");
    assert_eq!(AnyValue::String("x".into()).kind(), "string");
    assert_eq!(AnyValue::Bool(true).kind(), "boolean");
    assert_eq!(AnyValue::Byte(1).kind(), "byte");
    assert_eq!(AnyValue::Short(1).kind(), "short");
    assert_eq!(AnyValue::Int(1).kind(), "int");
    assert_eq!(AnyValue::Long(1).kind(), "long");
    assert_eq!(AnyValue::Float(1.0).kind(), "float");
    assert_eq!(AnyValue::Double(1.0).kind(), "double");
    assert_eq!(AnyValue::DateTime(DateTime::default()).kind(), "dateTime");
    assert_eq!(AnyValue::Binary(vec![1]).kind(), "base64Binary");
    assert_eq!(AnyValue::Uri("u".into()).kind(), "anyURI");
    assert_eq!(
        AnyValue::Mor(mor("Folder", "group-d1")).kind(),
        "ManagedObjectReference"
    );
    assert_eq!(
        enum_value("VirtualMachinePowerState", "poweredOn").kind(),
        "VirtualMachinePowerState"
    );
    assert_eq!(
        AnyValue::Object(Box::new(vm_runtime(VirtualMachinePowerState::PoweredOn))).kind(),
        "VirtualMachineRuntimeInfo"
    );
    // The wire name of the array type, as the schema and the JSON API spell it.
    assert_eq!(array("string", vec![]).kind(), "ArrayOfString");
    assert_eq!(
        array("ManagedObjectReference", vec![]).kind(),
        "ArrayOfManagedObjectReference"
    );
    assert_eq!(
        AnyValue::Unknown {
            type_name: "FutureThing".into()
        }
        .kind(),
        "FutureThing"
    );
}

// ---------------------------------------------------------------------------------
// FromAnyValue: enums, data objects, arrays

#[test]
fn enums_read_from_enum_values_and_from_wire_strings() {
    assert_eq!(
        enum_value("VirtualMachinePowerState", "poweredOff").get::<VirtualMachinePowerState>(),
        Some(VirtualMachinePowerState::PoweredOff)
    );
    assert_eq!(
        enum_value("VirtualMachinePowerState", "suspended").get::<VirtualMachinePowerState>(),
        Some(VirtualMachinePowerState::Suspended)
    );
    // The same wire value as untyped text (what some servers and paths send).
    assert_eq!(
        AnyValue::String("poweredOn".into()).get::<VirtualMachinePowerState>(),
        Some(VirtualMachinePowerState::PoweredOn)
    );
    // A value of this enum this client does not know (a newer server) is kept.
    assert_eq!(
        enum_value("VirtualMachinePowerState", "hibernating").get::<VirtualMachinePowerState>(),
        Some(VirtualMachinePowerState::Unrecognized("hibernating".into()))
    );
    assert_eq!(
        enum_value("ManagedEntityStatus", "green").get::<ManagedEntityStatus>(),
        Some(ManagedEntityStatus::Green)
    );
    // Non-text kinds are never enums.
    assert_eq!(AnyValue::Int(1).get::<VirtualMachinePowerState>(), None);
    assert_eq!(AnyValue::Null.get::<VirtualMachinePowerState>(), None);
    assert_eq!(
        AnyValue::Object(Box::new(vm_runtime(VirtualMachinePowerState::PoweredOn)))
            .get::<VirtualMachinePowerState>(),
        None
    );
}

/// A value of another enum type is not read as this enum, even where the wire
/// strings agree (`HostSystemPowerState` "poweredOn" vs the VM's).
#[test]
fn enum_of_another_enum_type_is_none() {
    assert_eq!(
        enum_value("ManagedEntityStatus", "green").get::<VirtualMachinePowerState>(),
        None
    );
    assert_eq!(
        enum_value("HostSystemPowerState", "poweredOn").get::<VirtualMachinePowerState>(),
        None
    );
}

#[test]
fn data_objects_downcast_to_exactly_their_type() {
    let runtime = vm_runtime(VirtualMachinePowerState::PoweredOn);
    let v = AnyValue::Object(Box::new(runtime.clone()));
    assert_eq!(v.get::<VirtualMachineRuntimeInfo>(), Some(runtime.clone()));
    assert_eq!(
        v.downcast_ref::<VirtualMachineRuntimeInfo>(),
        Some(&runtime)
    );
    // Another data object type: None, not a garbage decode.
    assert_eq!(v.get::<HostRuntimeInfo>(), None);
    assert_eq!(v.get::<TaskInfo>(), None);
    // Not an object at all.
    assert_eq!(AnyValue::Null.get::<VirtualMachineRuntimeInfo>(), None);
    assert_eq!(
        AnyValue::String("x".into()).get::<VirtualMachineRuntimeInfo>(),
        None
    );

    let host = HostRuntimeInfo {
        power_state: HostSystemPowerState::StandBy,
        ..Default::default()
    };
    let hv = AnyValue::Object(Box::new(host.clone()));
    assert_eq!(hv.get::<HostRuntimeInfo>(), Some(host));
    assert_eq!(hv.get::<VirtualMachineRuntimeInfo>(), None);

    // "Exactly": a subtype is not read as its base (documented on FromAnyValue).
    // `key` is a base (VirtualDevice) field, reached through Deref: it cannot be set
    // in the struct literal, which is what the lint asks for.
    #[allow(clippy::field_reassign_with_default)]
    let disk = {
        let mut disk = VirtualDisk::default();
        disk.key = 2000;
        disk
    };
    let dv = AnyValue::Object(Box::new(disk.clone()));
    assert_eq!(dv.get::<VirtualDisk>(), Some(disk));
    assert_eq!(dv.get::<VirtualDevice>(), None);

    let info = TaskInfo {
        state: TaskInfoState::Success,
        progress: Some(100),
        ..Default::default()
    };
    let got: TaskInfo = AnyValue::Object(Box::new(info.clone())).get().unwrap();
    assert_eq!(got, info);
}

#[test]
fn vectors_read_from_arrays_of_their_items() {
    let names = array(
        "string",
        vec![AnyValue::String("a".into()), AnyValue::String("b".into())],
    );
    assert_eq!(
        names.get::<Vec<String>>(),
        Some(vec!["a".to_string(), "b".to_string()])
    );

    let ints = array("int", vec![AnyValue::Int(1), AnyValue::Int(-2)]);
    assert_eq!(ints.get::<Vec<i32>>(), Some(vec![1, -2]));
    // Element reads widen like scalars...
    assert_eq!(ints.get::<Vec<i64>>(), Some(vec![1, -2]));
    // ...and one element that does not fit makes the whole read None.
    let longs = array("long", vec![AnyValue::Long(1), AnyValue::Long(1 << 40)]);
    assert_eq!(longs.get::<Vec<i64>>(), Some(vec![1, 1 << 40]));
    assert_eq!(longs.get::<Vec<i32>>(), None);

    let refs = array(
        "ManagedObjectReference",
        vec![
            AnyValue::Mor(mor("VirtualMachine", "vm-1")),
            AnyValue::Mor(mor("VirtualMachine", "vm-2")),
        ],
    );
    assert_eq!(
        refs.get::<Vec<ManagedObjectReference>>(),
        Some(vec![
            mor("VirtualMachine", "vm-1"),
            mor("VirtualMachine", "vm-2")
        ])
    );
    assert_eq!(refs.get::<Vec<String>>(), None);

    let states = array(
        "VirtualMachinePowerState",
        vec![
            enum_value("VirtualMachinePowerState", "poweredOn"),
            enum_value("VirtualMachinePowerState", "poweredOff"),
        ],
    );
    assert_eq!(
        states.get::<Vec<VirtualMachinePowerState>>(),
        Some(vec![
            VirtualMachinePowerState::PoweredOn,
            VirtualMachinePowerState::PoweredOff
        ])
    );

    let runtimes = array(
        "VirtualMachineRuntimeInfo",
        vec![AnyValue::Object(Box::new(vm_runtime(
            VirtualMachinePowerState::Suspended,
        )))],
    );
    let got = runtimes.get::<Vec<VirtualMachineRuntimeInfo>>().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].power_state, VirtualMachinePowerState::Suspended);

    // An empty array is an empty vector; a scalar is not a vector.
    assert_eq!(array("string", vec![]).get::<Vec<String>>(), Some(vec![]));
    assert_eq!(AnyValue::String("a".into()).get::<Vec<String>>(), None);
    assert_eq!(AnyValue::Null.get::<Vec<String>>(), None);
}

// ---------------------------------------------------------------------------------
// PropertyChange, ObjectUpdate, ObjectContent

fn change(name: &str, op: PropertyChangeOp, val: Option<AnyValue>) -> PropertyChange {
    PropertyChange {
        name: name.into(),
        op,
        val,
        ..Default::default()
    }
}

#[test]
fn property_change_value_and_get() {
    let on = enum_value("VirtualMachinePowerState", "poweredOn");
    let assign = change(
        "runtime.powerState",
        PropertyChangeOp::Assign,
        Some(on.clone()),
    );
    assert_eq!(assign.value(), Some(&on));
    assert_eq!(
        assign.get::<VirtualMachinePowerState>(),
        Some(VirtualMachinePowerState::PoweredOn)
    );
    assert_eq!(assign.get::<i32>(), None);

    // Removed: None even when the server sent a value along.
    let removed = change("runtime.powerState", PropertyChangeOp::Remove, Some(on));
    assert_eq!(removed.value(), None);
    assert_eq!(removed.get::<VirtualMachinePowerState>(), None);

    // Unset and explicit nil are None too.
    let unset = change("guest.ipAddress", PropertyChangeOp::Assign, None);
    assert_eq!(unset.value(), None);
    let nil = change(
        "guest.ipAddress",
        PropertyChangeOp::Assign,
        Some(AnyValue::Null),
    );
    assert_eq!(nil.value(), None);
    assert_eq!(nil.get::<AnyValue>(), None);
}

#[test]
fn object_update_get_reads_the_last_change_of_a_path() {
    let vm = mor("VirtualMachine", "vm-42");
    let mut update = ObjectUpdate {
        kind: ObjectUpdateKind::Modify,
        obj: vm.clone(),
        change_set: vec![
            change("name", PropertyChangeOp::Assign, Some("web-1".into())),
            change(
                "runtime.powerState",
                PropertyChangeOp::Assign,
                Some(enum_value("VirtualMachinePowerState", "poweredOn")),
            ),
            change(
                "summary.quickStats.overallCpuUsage",
                PropertyChangeOp::Assign,
                Some(AnyValue::Int(250)),
            ),
        ],
        ..Default::default()
    };
    assert_eq!(update.get::<String>("name"), Some("web-1".to_string()));
    assert_eq!(
        update.get::<VirtualMachinePowerState>("runtime.powerState"),
        Some(VirtualMachinePowerState::PoweredOn)
    );
    assert_eq!(
        update.get::<i64>("summary.quickStats.overallCpuUsage"),
        Some(250)
    );
    // A path this update does not change, and a value of another type.
    assert_eq!(update.get::<String>("config.annotation"), None);
    assert!(update.change("config.annotation").is_none());
    assert_eq!(update.get::<i32>("name"), None);

    // A later Remove of the same path wins: None.
    update
        .change_set
        .push(change("runtime.powerState", PropertyChangeOp::Remove, None));
    assert_eq!(
        update.get::<VirtualMachinePowerState>("runtime.powerState"),
        None
    );
    assert_eq!(
        update.change("runtime.powerState").map(|c| &c.op),
        Some(&PropertyChangeOp::Remove)
    );

    // A Remove that still carries the old value: None as well.
    let removed = ObjectUpdate {
        kind: ObjectUpdateKind::Modify,
        obj: vm,
        change_set: vec![change("name", PropertyChangeOp::Remove, Some("old".into()))],
        ..Default::default()
    };
    assert_eq!(removed.get::<String>("name"), None);
}

#[test]
fn object_content_get() {
    let oc = ObjectContent {
        obj: mor("VirtualMachine", "vm-42"),
        prop_set: vec![
            prop("name", "web-1"),
            prop(
                "runtime",
                AnyValue::Object(Box::new(vm_runtime(VirtualMachinePowerState::PoweredOff))),
            ),
            prop("config.hardware.numCPU", AnyValue::Int(4)),
        ],
        ..Default::default()
    };
    assert_eq!(oc.get::<String>("name"), Some("web-1".into()));
    assert_eq!(oc.get::<i64>("config.hardware.numCPU"), Some(4));
    assert_eq!(oc.get::<i8>("config.hardware.numCPU"), Some(4));
    assert_eq!(
        oc.get::<VirtualMachineRuntimeInfo>("runtime")
            .map(|r| r.power_state),
        Some(VirtualMachinePowerState::PoweredOff)
    );
    assert_eq!(oc.get::<HostRuntimeInfo>("runtime"), None);
    assert_eq!(oc.get::<String>("missing"), None);
}

// ---------------------------------------------------------------------------------
// Managed objects from ObjectContent

fn vm_content() -> ObjectContent {
    ObjectContent {
        obj: mor("VirtualMachine", "vm-42"),
        prop_set: vec![
            prop("name", "web-1"),
            prop(
                "runtime",
                AnyValue::Object(Box::new(vm_runtime(VirtualMachinePowerState::PoweredOn))),
            ),
            prop("overallStatus", enum_value("ManagedEntityStatus", "green")),
            prop(
                "datastore",
                array(
                    "ManagedObjectReference",
                    vec![AnyValue::Mor(mor("Datastore", "datastore-1"))],
                ),
            ),
            // A nested path: not a top-level property, kept in `other`.
            prop("config.hardware.numCPU", AnyValue::Int(4)),
        ],
        ..Default::default()
    }
}

fn host_content() -> ObjectContent {
    ObjectContent {
        obj: mor("HostSystem", "host-21"),
        prop_set: vec![
            prop("name", "esx-1"),
            prop(
                "runtime",
                AnyValue::Object(Box::new(HostRuntimeInfo {
                    power_state: HostSystemPowerState::PoweredOn,
                    ..Default::default()
                })),
            ),
        ],
        ..Default::default()
    }
}

#[test]
fn managed_object_from_object_content_of_its_own_type() {
    let vm = mo::VirtualMachine::from_object_content(&vm_content()).unwrap();
    assert_eq!(vm.obj, mor("VirtualMachine", "vm-42"));
    assert_eq!(vm.name.as_deref(), Some("web-1"));
    assert_eq!(
        vm.runtime.as_ref().map(|r| &r.power_state),
        Some(&VirtualMachinePowerState::PoweredOn)
    );
    assert_eq!(
        vm.runtime.as_ref().and_then(|r| r.host.clone()),
        Some(mor("HostSystem", "host-21"))
    );
    assert_eq!(vm.overall_status, Some(ManagedEntityStatus::Green));
    assert_eq!(vm.datastore, Some(vec![mor("Datastore", "datastore-1")]));
    assert_eq!(vm.other.len(), 1);
    assert_eq!(vm.other[0].name, "config.hardware.numCPU");
    assert_eq!(vm.other[0].val.get::<i32>(), Some(4));
}

#[test]
fn managed_object_from_object_content_of_another_type_is_wrong_type() {
    let err = mo::VirtualMachine::from_object_content(&host_content()).unwrap_err();
    match &err {
        Error::WrongType(w) => {
            assert_eq!(w.expected, "VirtualMachine");
            assert_eq!(w.obj, mor("HostSystem", "host-21"));
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("HostSystem") && msg.contains("VirtualMachine"),
        "{msg}"
    );
    // And the other way round.
    let err = mo::HostSystem::from_object_content(&vm_content()).unwrap_err();
    assert!(
        matches!(&err, Error::WrongType(w) if w.expected == "HostSystem" && w.obj.type_ == "VirtualMachine"),
        "{err:?}"
    );
    // A sibling entity type is not a subtype either.
    assert!(matches!(
        mo::Datastore::from_object_content(&vm_content()),
        Err(Error::WrongType(_))
    ));
}

#[test]
fn managed_entity_takes_its_subtypes() {
    let e = mo::ManagedEntity::from_object_content(&vm_content()).unwrap();
    assert_eq!(e.obj, mor("VirtualMachine", "vm-42"));
    assert_eq!(e.name.as_deref(), Some("web-1"));
    assert_eq!(e.overall_status, Some(ManagedEntityStatus::Green));
    // `runtime` is not a ManagedEntity property: it is kept, untyped, in `other`.
    let runtime = e.other.iter().find(|p| p.name == "runtime").unwrap();
    assert_eq!(
        runtime
            .val
            .get::<VirtualMachineRuntimeInfo>()
            .map(|r| r.power_state),
        Some(VirtualMachinePowerState::PoweredOn)
    );

    let h = mo::ManagedEntity::from_object_content(&host_content()).unwrap();
    assert_eq!(h.name.as_deref(), Some("esx-1"));

    // Two levels down: a cluster is a ComputeResource is a ManagedEntity.
    let cluster = ObjectContent {
        obj: mor("ClusterComputeResource", "domain-c7"),
        prop_set: vec![prop("name", "DC0_C0")],
        ..Default::default()
    };
    let cr = mo::ComputeResource::from_object_content(&cluster).unwrap();
    assert_eq!(cr.name.as_deref(), Some("DC0_C0"));
    assert!(mo::ManagedEntity::from_object_content(&cluster).is_ok());
    // But not the other way: a plain ComputeResource is no cluster.
    let standalone = ObjectContent {
        obj: mor("ComputeResource", "domain-s1"),
        ..Default::default()
    };
    assert!(matches!(
        mo::ClusterComputeResource::from_object_content(&standalone),
        Err(Error::WrongType(_))
    ));
    // A managed object that is not an entity at all.
    let pc = ObjectContent {
        obj: mor("PropertyCollector", "propertyCollector"),
        ..Default::default()
    };
    assert!(matches!(
        mo::ManagedEntity::from_object_content(&pc),
        Err(Error::WrongType(_))
    ));
}

#[test]
fn any_managed_object_from_object_content() {
    // A known type becomes its own variant, typed.
    let any = AnyManagedObject::from_object_content(&vm_content()).unwrap();
    assert_eq!(any.type_name(), "VirtualMachine");
    assert_eq!(any.obj(), &mor("VirtualMachine", "vm-42"));
    let AnyManagedObject::VirtualMachine(vm) = &any else {
        panic!("expected the VirtualMachine variant, got {any:?}");
    };
    assert_eq!(vm.name.as_deref(), Some("web-1"));
    assert_eq!(
        vm.runtime.as_ref().map(|r| &r.power_state),
        Some(&VirtualMachinePowerState::PoweredOn)
    );
    // TryFrom back to its own type works; into another type does not.
    let vm: mo::VirtualMachine = any.clone().try_into().unwrap();
    assert_eq!(vm.name.as_deref(), Some("web-1"));
    let err = mo::HostSystem::try_from(any.clone()).unwrap_err();
    assert_eq!(err.expected, "HostSystem");
    assert_eq!(err.obj, mor("VirtualMachine", "vm-42"));

    // A host: the HostSystem variant, with its own `runtime` type.
    let any = AnyManagedObject::from_object_content(&host_content()).unwrap();
    let AnyManagedObject::HostSystem(host) = &any else {
        panic!("expected the HostSystem variant, got {any:?}");
    };
    assert_eq!(
        host.runtime.as_ref().map(|r| &r.power_state),
        Some(&HostSystemPowerState::PoweredOn)
    );

    // A subtype of ManagedEntity becomes its most derived variant, not its base.
    let cluster = ObjectContent {
        obj: mor("ClusterComputeResource", "domain-c7"),
        prop_set: vec![prop("name", "DC0_C0")],
        ..Default::default()
    };
    let any = AnyManagedObject::from_object_content(&cluster).unwrap();
    assert!(
        matches!(&any, AnyManagedObject::ClusterComputeResource(c) if c.name.as_deref() == Some("DC0_C0")),
        "{any:?}"
    );
    // The From/TryFrom pair round-trips.
    let back: AnyManagedObject = mo::ClusterComputeResource::try_from(any.clone())
        .unwrap()
        .into();
    assert_eq!(back.obj(), any.obj());
    assert!(mo::ComputeResource::try_from(any).is_err());

    // A type this client does not know: Other, with its properties as AnyValues.
    let future = ObjectContent {
        obj: mor("FutureWidgetManager", "widgets-1"),
        prop_set: vec![prop("name", "w"), prop("count", AnyValue::Int(3))],
        ..Default::default()
    };
    let any = AnyManagedObject::from_object_content(&future).unwrap();
    assert_eq!(any.type_name(), "FutureWidgetManager");
    assert_eq!(any.obj(), &mor("FutureWidgetManager", "widgets-1"));
    let AnyManagedObject::Other(oc) = &any else {
        panic!("expected Other, got {any:?}");
    };
    assert_eq!(oc.obj, future.obj);
    assert_eq!(oc.get::<String>("name"), Some("w".into()));
    assert_eq!(oc.get::<i32>("count"), Some(3));
    assert!(matches!(
        mo::VirtualMachine::try_from(any),
        Err(mo::WrongType {
            expected: "VirtualMachine",
            ..
        })
    ));
}

/// `TryFrom<AnyManagedObject>` takes exactly its own variant (the struct of a subtype
/// holds other fields); the error then says the object *is* a subtype and how to read
/// it as the base instead, rather than claiming it is not one.
#[test]
fn try_from_any_managed_object_into_a_base_type_explains_the_subtype() {
    let any = AnyManagedObject::from_object_content(&vm_content()).unwrap();
    let err = mo::ManagedEntity::try_from(any).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("a subtype of ManagedEntity"), "{msg}");
    assert!(!msg.contains("not a ManagedEntity"), "{msg}");
    let e = mo::ManagedEntity::from_object_content(&vm_content()).unwrap();
    assert_eq!(e.name.as_deref(), Some("web-1"));
}

#[test]
fn from_object_content_ignores_missing_set_and_keeps_empty_objects() {
    let oc = ObjectContent {
        obj: mor("Datastore", "datastore-1"),
        ..Default::default()
    };
    let ds = mo::Datastore::from_object_content(&oc).unwrap();
    assert_eq!(ds.obj, oc.obj);
    assert_eq!(ds.name, None);
    assert!(ds.other.is_empty());
    let any = AnyManagedObject::from_object_content(&oc).unwrap();
    assert!(matches!(any, AnyManagedObject::Datastore(_)));
}

#[test]
fn is_a_follows_the_managed_object_hierarchy() {
    // Itself.
    assert!(mo::is_a("VirtualMachine", "VirtualMachine"));
    assert!(mo::is_a("ManagedEntity", "ManagedEntity"));
    // Direct and indirect ancestors.
    assert!(mo::is_a("VirtualMachine", "ManagedEntity"));
    assert!(mo::is_a("HostSystem", "ManagedEntity"));
    assert!(mo::is_a("Folder", "ManagedEntity"));
    assert!(mo::is_a("ClusterComputeResource", "ComputeResource"));
    assert!(mo::is_a("ClusterComputeResource", "ManagedEntity"));
    assert!(mo::is_a("VirtualApp", "ResourcePool"));
    assert!(mo::is_a("VirtualApp", "ManagedEntity"));
    assert!(mo::is_a("DistributedVirtualPortgroup", "Network"));
    assert!(mo::is_a("OpaqueNetwork", "Network"));
    assert!(mo::is_a(
        "VmwareDistributedVirtualSwitch",
        "DistributedVirtualSwitch"
    ));
    assert!(mo::is_a("ContainerView", "View"));
    // Not: siblings, bases as subtypes, non-entities.
    assert!(!mo::is_a("HostSystem", "VirtualMachine"));
    assert!(!mo::is_a("VirtualMachine", "HostSystem"));
    assert!(!mo::is_a("ComputeResource", "ClusterComputeResource"));
    assert!(!mo::is_a("ManagedEntity", "VirtualMachine"));
    assert!(!mo::is_a("ResourcePool", "VirtualApp"));
    assert!(!mo::is_a("PropertyCollector", "ManagedEntity"));
    assert!(!mo::is_a("Task", "ManagedEntity"));
    // Unknown names are only themselves.
    assert!(mo::is_a("FutureWidgetManager", "FutureWidgetManager"));
    assert!(!mo::is_a("FutureWidgetManager", "ManagedEntity"));
    assert!(!mo::is_a("VirtualMachine", "FutureWidgetManager"));
    // Case matters: type names are exact.
    assert!(!mo::is_a("virtualmachine", "ManagedEntity"));
}

// ---------------------------------------------------------------------------------
// Encoding refuses what the negotiated version does not know

#[test]
fn request_writer_refuses_values_newer_than_the_version() {
    let this = mor("VirtualMachine", "vm-1");
    let newer = VirtualMachineGuestOsIdentifier::Miraclelinux64Guest;
    let since = newer.since().expect("a schema value has a version");
    assert!(since > Version::V6_5);

    let mut w = RequestWriter::new("Probe", &this, Version::V6_5);
    w.param("guest", &newer);
    let err = w.finish().unwrap_err();
    let Error::NotSupported(msg) = &err else {
        panic!("expected NotSupported, got {err:?}");
    };
    assert!(msg.starts_with("Probe:"), "{msg}");
    assert!(msg.contains("miraclelinux_64Guest"), "{msg}");
    assert!(msg.contains(since.as_str()), "{msg}");
    assert!(msg.contains(Version::V6_5.as_str()), "{msg}");

    // One newer value inside a list is enough to refuse the whole request.
    let mut w = RequestWriter::new("Probe", &this, Version::V6_5);
    w.param_list(
        "guest",
        &[VirtualMachineGuestOsIdentifier::OtherGuest, newer.clone()],
    );
    assert!(matches!(w.finish(), Err(Error::NotSupported(_))));

    // The version that introduced it, and later ones, accept it.
    let mut w = RequestWriter::new("Probe", &this, since);
    w.param("guest", &newer);
    assert!(w.finish().unwrap().body.contains("miraclelinux_64Guest"));
    let mut w = RequestWriter::new("Probe", &this, Version::LATEST);
    w.param("guest", &newer);
    assert!(w.finish().is_ok());

    // Old values and values from the server (Unrecognized) always go through.
    let mut w = RequestWriter::new("Probe", &this, Version::V6_5);
    w.param("guest", &VirtualMachineGuestOsIdentifier::OtherGuest);
    w.param("state", &VirtualMachinePowerState::from_wire("hibernating"));
    let body = w.finish().unwrap().body;
    assert!(body.contains("<guest>otherGuest</guest>"), "{body}");
    assert!(body.contains("<state>hibernating</state>"), "{body}");
}
