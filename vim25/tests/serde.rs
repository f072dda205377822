//! The `serde` feature: the vSphere JSON shape of every generated type.
//!
//! - a golden snippet pins the exact shape (`_typeName` first, wire names, schema order,
//!   `anyType` values typed, polymorphic slots naming their subtype);
//! - JSON → value → JSON is the identity for the metadata-driven values of
//!   `roundtrip.rs` (generator shared in `support/`), for a property-collector result
//!   holding every kind of `anyType` value and for a captured response;
//! - unknown types and fields, `_typeName` rules, missing required fields;
//! - about 2,000 mangled documents never make a reader panic, and deep nesting is
//!   refused without exhausting a 2 MiB stack.

use crate::support;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use support::*;
use vim25::meta::DATA_TYPES;
use vim25::mo;
use vim25::types::*;
use vim25::types::{AnyValue, DateTime, Unknown};
use vim25::xml::decode_element;

const VM_CONFIG_RESPONSE: &str = include_str!("data/retrieve_vm_config.xml");

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializes")
}

// Inherited fields are set through `DerefMut`: a literal would spell out the `base_` chain.
#[allow(clippy::field_reassign_with_default)]
fn sample_spec() -> VirtualMachineConfigSpec {
    let mut nic = VirtualVmxnet3::default();
    nic.key = -100;
    nic.address_type = Some("generated".into());
    nic.wake_on_lan_enabled = Some(true);
    let mut spec = VirtualMachineConfigSpec {
        name: Some("web".into()),
        num_cpus: Some(2),
        memory_mb: Some(4096),
        ..Default::default()
    };
    spec.device_change.push(
        VirtualDeviceConfigSpec {
            operation: Some(VirtualDeviceConfigSpecOperation::Add),
            device: nic.into(),
            ..Default::default()
        }
        .into(),
    );
    spec.extra_config.push(
        OptionValue {
            key: "answer".into(),
            value: Some(AnyValue::Int(42)),
            ..Default::default()
        }
        .into(),
    );
    spec
}

#[test]
fn golden_shape() {
    let spec = sample_spec();
    let json = to_json(&spec);
    assert_eq!(
        json,
        concat!(
            r#"{"_typeName":"VirtualMachineConfigSpec","name":"web","numCPUs":2,"memoryMB":4096,"#,
            r#""deviceChange":[{"_typeName":"VirtualDeviceConfigSpec","operation":"add","#,
            r#""device":{"_typeName":"VirtualVmxnet3","key":-100,"addressType":"generated","wakeOnLanEnabled":true}}],"#,
            r#""extraConfig":[{"_typeName":"OptionValue","key":"answer","value":{"_typeName":"int","_value":42}}]}"#
        )
    );
    let back: VirtualMachineConfigSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);

    // A reference, alone and in an anyType slot (as the vSphere JSON API writes it).
    let r = ManagedObjectReference::new("VirtualMachine", "vm-42");
    assert_eq!(
        to_json(&r),
        r#"{"_typeName":"ManagedObjectReference","type":"VirtualMachine","value":"vm-42"}"#
    );
    assert_eq!(
        to_json(&AnyValue::Mor(r.clone())),
        r#"{"_typeName":"ManagedObjectReference","_value":{"type":"VirtualMachine","value":"vm-42"}}"#
    );
    // Enums, dateTime, binary, floats, required fields at their defaults.
    let mut info = VirtualMachineRuntimeInfo {
        power_state: VirtualMachinePowerState::PoweredOn,
        boot_time: Some(DateTime("2026-11-23T12:00:00Z".into())),
        ..Default::default()
    };
    info.connection_state = VirtualMachineConnectionState::Unrecognized("quantum".into());
    let json = to_json(&info);
    assert!(
        json.starts_with(r#"{"_typeName":"VirtualMachineRuntimeInfo","connectionState":"quantum","powerState":"poweredOn","#),
        "{json}"
    );
    assert!(
        json.contains(r#""bootTime":"2026-11-23T12:00:00Z""#),
        "{json}"
    );
    let back: VirtualMachineRuntimeInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(back, info);
    let values = [
        (
            AnyValue::Binary(vec![0, 1, 2, 255]),
            r#"{"_typeName":"base64Binary","_value":"AAEC/w=="}"#,
        ),
        (
            AnyValue::Float(f32::INFINITY),
            r#"{"_typeName":"float","_value":"INF"}"#,
        ),
        (
            AnyValue::Double(-0.5),
            r#"{"_typeName":"double","_value":-0.5}"#,
        ),
        (
            AnyValue::Long(i64::MIN),
            r#"{"_typeName":"long","_value":-9223372036854775808}"#,
        ),
        (AnyValue::Null, "null"),
        (
            AnyValue::Enum {
                type_name: "VirtualMachinePowerState".into(),
                value: "poweredOn".into(),
            },
            r#"{"_typeName":"VirtualMachinePowerState","_value":"poweredOn"}"#,
        ),
        (
            AnyValue::Array {
                item_type: "string".into(),
                items: vec!["a".into(), AnyValue::Int(1)],
            },
            r#"{"_typeName":"ArrayOfString","_value":["a",{"_typeName":"int","_value":1}]}"#,
        ),
        (
            AnyValue::Unknown {
                type_name: "FutureThing".into(),
            },
            r#"{"_typeName":"FutureThing"}"#,
        ),
    ];
    for (v, want) in values {
        assert_eq!(to_json(&v), want);
        assert_eq!(serde_json::from_str::<AnyValue>(want).unwrap(), v, "{want}");
    }
}

/// Managed-object structs: `obj`, the properties by wire name, `other`; no `_typeName`.
#[test]
fn managed_object_structs() {
    let vm = mo::VirtualMachine {
        obj: ManagedObjectReference::new("VirtualMachine", "vm-7"),
        name: Some("db".into()),
        datastore: Some(vec![ManagedObjectReference::new("Datastore", "ds-1")]),
        runtime: Some(VirtualMachineRuntimeInfo::default()),
        other: vec![DynamicProperty {
            name: "summary.quickStats.uptimeSeconds".into(),
            val: AnyValue::Int(30),
            ..Default::default()
        }],
        ..Default::default()
    };
    let json = to_json(&vm);
    assert!(
        json.starts_with(r#"{"obj":{"_typeName":"ManagedObjectReference","type":"VirtualMachine","value":"vm-7"},"#),
        "{json}"
    );
    assert!(json.contains(r#""name":"db""#), "{json}");
    assert!(json.contains(r#""datastore":[{"_typeName":"ManagedObjectReference","type":"Datastore","value":"ds-1"}]"#), "{json}");
    assert!(json.ends_with(r#""other":[{"_typeName":"DynamicProperty","name":"summary.quickStats.uptimeSeconds","val":{"_typeName":"int","_value":30}}]}"#), "{json}");
    let back: mo::VirtualMachine = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vm);
    // An empty array property is not an absent one.
    let vm = mo::VirtualMachine {
        datastore: Some(vec![]),
        ..Default::default()
    };
    let back: mo::VirtualMachine = serde_json::from_str(&to_json(&vm)).unwrap();
    assert_eq!(back.datastore, Some(vec![]));
}

/// Whether every map in `json` starts with `_typeName`, but for the `_value` of a
/// reference in an anyType slot and the managed-object structs' own maps.
fn type_name_comes_first(json: &str) -> Result<(), String> {
    let b = json.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'{' if !in_str => {
                let after = &json[i + 1..];
                let before = &json[..i];
                if !after.starts_with(r#""_typeName":"#)
                    && !after.starts_with('}')
                    && !before.ends_with(r#""_typeName":"ManagedObjectReference","_value":"#)
                {
                    return Err(format!(
                        "map without a leading _typeName at byte {i}: …{}",
                        &after[..after.len().min(80)]
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether `v` holds a NaN somewhere (NaN is not equal to itself).
fn has_nan(v: &AnyValue) -> bool {
    format!("{v:?}").contains("NaN")
}

#[test]
fn json_round_trip_is_identity_for_generated_values() {
    with_big_stack(|| {
        let s = Schema::new();
        let chosen = type_choice(&s);
        let mut gen = Gen::new(&s, 0x0053_E2DE);
        let mut failures = Vec::new();
        let (mut docs, mut bytes) = (0, 0);
        for ty in &chosen {
            for _ in 0..3 {
                let tree = gen.document(ty);
                let mut xml = String::new();
                render(&tree, true, &mut xml);
                let v1: AnyValue = decode_element(xml.as_bytes()).expect("generated XML decodes");
                let json = to_json(&v1);
                docs += 1;
                bytes += json.len();
                if let Err(e) = type_name_comes_first(&json) {
                    failures.push(format!("{ty}: {e}"));
                }
                match serde_json::from_str::<AnyValue>(&json) {
                    Ok(v2) if v2 == v1 => {
                        let again = to_json(&v2);
                        if again != json {
                            failures.push(format!("{ty}: JSON not stable:\n {json}\n {again}"));
                        }
                    }
                    Ok(v2) => failures.push(format!(
                        "{ty}: JSON round trip differs:\n json {json}\n got {v2:?}"
                    )),
                    Err(e) => {
                        failures.push(format!("{ty}: JSON does not read back: {e}\n json {json}"))
                    }
                }
            }
        }
        println!(
            "serde round trip: {} types, {docs} documents, {bytes} bytes of JSON",
            chosen.len()
        );
        assert!(
            failures.is_empty(),
            "{} of {docs} failed; first ones:\n{}",
            failures.len(),
            failures
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n\n")
        );
    });
}

/// The typed entry points (a struct, a polymorphic slot) agree with the `anyType` one.
#[test]
fn typed_and_erased_readers_agree() {
    with_big_stack(|| {
        let s = Schema::new();
        let mut gen = Gen::new(&s, 77);
        for _ in 0..20 {
            let tree = gen.document("VirtualMachineConfigInfo");
            let mut xml = String::new();
            render(&tree, true, &mut xml);
            let typed: VirtualMachineConfigInfo = decode_element(xml.as_bytes()).unwrap();
            let json = to_json(&typed);
            let any: AnyValue = serde_json::from_str(&json).unwrap();
            assert_eq!(any.downcast_ref::<VirtualMachineConfigInfo>(), Some(&typed));
            assert_eq!(to_json(&any), json);
            let back: VirtualMachineConfigInfo = serde_json::from_str(&json).unwrap();
            assert_eq!(back, typed);
        }
        for _ in 0..20 {
            let tree = gen.document("VirtualDisk");
            let mut xml = String::new();
            render(&tree, true, &mut xml);
            let dev: AnyVirtualDevice = decode_element(xml.as_bytes()).unwrap();
            let json = to_json(&dev);
            assert!(json.starts_with(r#"{"_typeName":"VirtualDisk","#), "{json}");
            let back: AnyVirtualDevice = serde_json::from_str(&json).unwrap();
            assert_eq!(back, dev);
        }
    });
}

/// A property-collector result with an `anyType` value of every kind.
#[allow(clippy::field_reassign_with_default)]
fn every_kind_result() -> RetrieveResult {
    let mor = |t: &str, v: &str| ManagedObjectReference::new(t, v);
    let mut disk = VirtualDisk::default();
    disk.key = 2000;
    disk.capacity_in_kb = 1 << 20;
    let mut fault = LocalizedMethodFault {
        localized_message: Some("no".into()),
        ..Default::default()
    };
    fault.fault = InvalidLogin::default().into();
    let vals = vec![
        AnyValue::Null,
        AnyValue::String("a \"quoted\" \u{65e5}\n".into()),
        AnyValue::Bool(true),
        AnyValue::Byte(-128),
        AnyValue::Short(32767),
        AnyValue::Int(i32::MIN),
        AnyValue::Long(1 << 53),
        AnyValue::Float(0.1),
        AnyValue::Float(f32::NEG_INFINITY),
        AnyValue::Double(1e300),
        AnyValue::Double(f64::INFINITY),
        AnyValue::DateTime(DateTime("2026-01-02T03:04:05.678+01:00".into())),
        AnyValue::Binary(vec![]),
        AnyValue::Binary((0..=255).collect()),
        AnyValue::Uri("https://vc.example.com/sdk?a=1&b=2".into()),
        AnyValue::Mor(mor("HostSystem", "host-9")),
        AnyValue::Enum {
            type_name: "VirtualMachinePowerState".into(),
            value: "suspended".into(),
        },
        AnyValue::Enum {
            type_name: "VirtualMachinePowerState".into(),
            value: "hibernatingNewValue".into(),
        },
        AnyValue::Object(Box::new(disk.clone())),
        AnyValue::Object(Box::new(fault)),
        AnyValue::Array {
            item_type: "string".into(),
            items: vec!["x".into(), "".into()],
        },
        AnyValue::Array {
            item_type: "int".into(),
            items: vec![AnyValue::Int(1), AnyValue::Int(-2)],
        },
        AnyValue::Array {
            item_type: "long".into(),
            items: vec![],
        },
        AnyValue::Array {
            item_type: "float".into(),
            items: vec![AnyValue::Float(f32::INFINITY), AnyValue::Float(2.5)],
        },
        AnyValue::Array {
            item_type: "base64Binary".into(),
            items: vec![AnyValue::Binary(vec![1, 2, 3])],
        },
        AnyValue::Array {
            item_type: "ManagedObjectReference".into(),
            items: vec![
                AnyValue::Mor(mor("Datastore", "ds-1")),
                AnyValue::Mor(mor("Datastore", "ds-2")),
            ],
        },
        AnyValue::Array {
            item_type: "VirtualDevice".into(),
            items: vec![
                AnyValue::Object(Box::new(disk)),
                AnyValue::Object(Box::new(VirtualDevice::default())),
            ],
        },
        AnyValue::Array {
            item_type: "VirtualMachinePowerState".into(),
            items: vec![AnyValue::Enum {
                type_name: "VirtualMachinePowerState".into(),
                value: "poweredOff".into(),
            }],
        },
        AnyValue::Array {
            item_type: "anyType".into(),
            items: vec![
                AnyValue::Int(1),
                "two".into(),
                AnyValue::Null,
                AnyValue::Array {
                    item_type: "boolean".into(),
                    items: vec![AnyValue::Bool(false)],
                },
            ],
        },
        AnyValue::Array {
            item_type: "FutureItem".into(),
            items: vec![AnyValue::Unknown {
                type_name: "FutureItem".into(),
            }],
        },
        AnyValue::Unknown {
            type_name: "FutureType".into(),
        },
    ];
    RetrieveResult {
        token: Some("t-1".into()),
        objects: vec![ObjectContent {
            obj: mor("VirtualMachine", "vm-42"),
            prop_set: vals
                .into_iter()
                .enumerate()
                .map(|(i, val)| DynamicProperty {
                    name: format!("p{i}"),
                    val,
                    ..Default::default()
                })
                .collect(),
            missing_set: vec![MissingProperty {
                path: "guest".into(),
                fault: LocalizedMethodFault {
                    fault: NoPermission::default().into(),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn retrieve_result_with_every_any_value_kind_round_trips() {
    let r = every_kind_result();
    let json = to_json(&r);
    type_name_comes_first(&json).unwrap();
    let back: RetrieveResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r, "{json}");
    assert_eq!(to_json(&back), json);
    // Also through serde_json's own tree, pretty-printed text and bytes.
    let tree: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::from_value::<RetrieveResult>(tree).unwrap(), r);
    let pretty = serde_json::to_string_pretty(&r).unwrap();
    assert_eq!(
        serde_json::from_slice::<RetrieveResult>(pretty.as_bytes()).unwrap(),
        r
    );
}

#[test]
fn captured_response_round_trips() {
    let start = VM_CONFIG_RESPONSE.find("<returnval>").unwrap();
    let end = VM_CONFIG_RESPONSE.find("</returnval>").unwrap() + "</returnval>".len();
    let xml = VM_CONFIG_RESPONSE[start..end].replace(
        "<returnval>",
        r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
    );
    let r: RetrieveResult = decode_element(xml.as_bytes()).unwrap();
    assert!(!r.objects.is_empty());
    let json = to_json(&r);
    type_name_comes_first(&json).unwrap();
    let back: RetrieveResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn unknown_types_and_fields() {
    // An unknown subtype in a polymorphic slot: `Unknown`, the name kept, base fields read.
    let json = r#"{"_typeName":"VirtualDeviceConfigSpec","operation":"add","futureField":{"a":[1,2]},
        "device":{"_typeName":"VirtualFancyNewCard","key":5,"sparkle":11,"unitNumber":3}}"#;
    let spec: VirtualDeviceConfigSpec = serde_json::from_str(json).unwrap();
    let AnyVirtualDevice::Unknown(u) = &spec.device else {
        panic!("{:?}", spec.device);
    };
    assert_eq!(u.type_name, "VirtualFancyNewCard");
    assert_eq!(u.value.key, 5);
    assert_eq!(u.value.unit_number, Some(3));
    assert_eq!(u.value.type_name_, None);
    let out = to_json(&spec);
    assert!(
        out.contains(r#""device":{"_typeName":"VirtualFancyNewCard","key":5,"unitNumber":3}"#),
        "{out}"
    );
    assert_eq!(
        serde_json::from_str::<VirtualDeviceConfigSpec>(&out).unwrap(),
        spec
    );

    // No `_typeName` in a polymorphic slot: the declared type.
    let dev: AnyVirtualDevice = serde_json::from_str(r#"{"key":9}"#).unwrap();
    assert!(
        matches!(&dev, AnyVirtualDevice::VirtualDevice(d) if d.key == 9),
        "{dev:?}"
    );
    // A known subtype's name further down, equal to the type read: accepted.
    let dev: AnyVirtualDevice = serde_json::from_str(
        r#"{"_typeName":"VirtualDisk","key":1,"capacityInKB":2,"_typeName":"VirtualDisk"}"#,
    )
    .unwrap();
    assert_eq!(dev.type_name(), "VirtualDisk");

    // In a slot whose type has no subtypes `_typeName` is optional, anywhere, and kept
    // when it names another type.
    let disk: AnyVirtualDevice = serde_json::from_str(
        r#"{"_typeName":"VirtualDisk","key":1,"capacityInKB":2,"shares":{"shares":5,"level":"custom","_typeName":"SharesInfoWithBursts"}}"#,
    )
    .unwrap();
    let shares = disk
        .as_data_object()
        .downcast_ref::<VirtualDisk>()
        .unwrap()
        .shares
        .clone()
        .unwrap();
    assert_eq!(shares.type_name_.as_deref(), Some("SharesInfoWithBursts"));
    assert_eq!(shares.shares, 5);
    assert!(to_json(&disk).contains(r#""shares":{"_typeName":"SharesInfoWithBursts","shares":5"#));
    let plain: SharesInfo = serde_json::from_str(r#"{"shares":5,"level":"low"}"#).unwrap();
    assert_eq!(plain.type_name_, None);
    let named: SharesInfo =
        serde_json::from_str(r#"{"_typeName":"SharesInfo","shares":5,"level":"low"}"#).unwrap();
    assert_eq!(named, plain);

    // Unknown anyType payloads are kept by name; unknown enum values as Unrecognized.
    let v: AnyValue = serde_json::from_str(r#"{"_typeName":"FutureThing","x":{"y":[1]}}"#).unwrap();
    assert_eq!(
        v,
        AnyValue::Unknown {
            type_name: "FutureThing".into()
        }
    );
    let st: VirtualMachinePowerState = serde_json::from_str(r#""hibernating""#).unwrap();
    assert_eq!(
        st,
        VirtualMachinePowerState::Unrecognized("hibernating".into())
    );

    // Unknown fault type in a fault slot.
    let lmf: LocalizedMethodFault = serde_json::from_str(
        r#"{"fault":{"_typeName":"QuantumFault","faultMessage":[{"_typeName":"LocalizableMessage","key":"k"}]},"localizedMessage":"m"}"#,
    )
    .unwrap();
    match &lmf.fault {
        AnyMethodFault::Unknown(u) => {
            assert_eq!(u.type_name, "QuantumFault");
            assert_eq!(u.value.fault_message[0].key, "k");
        }
        other => panic!("{other:?}"),
    }
    let _: Unknown<MethodFault> = Unknown::default();
}

#[test]
fn type_name_rules_and_missing_fields_are_errors() {
    let err = |json: &str| -> String {
        match serde_json::from_str::<AnyVirtualDevice>(json) {
            Ok(v) => panic!("{json} read as {v:?}"),
            Err(e) => e.to_string(),
        }
    };
    let e = err(r#"{"key":5,"_typeName":"VirtualDisk"}"#);
    assert!(e.contains("must be the first key"), "{e}");
    assert!(e.contains("VirtualDisk"), "{e}");
    let e = err(r#"{"_typeName":"VirtualDisk","capacityInKB":1}"#);
    assert!(e.contains("missing field `key` in `VirtualDisk`"), "{e}");
    let e = err(r#"{"_typeName":"VirtualDisk","key":"five"}"#);
    assert!(e.contains("invalid type"), "{e}");
    let e = err(r#"[1]"#);
    assert!(e.contains("VirtualDevice"), "{e}");

    let e = serde_json::from_str::<VirtualDeviceConfigSpec>(r#"{"operation":"add"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing field `device` in `VirtualDeviceConfigSpec`"),
        "{e}"
    );
    // Nested, with the position serde_json reports.
    let e = serde_json::from_str::<VirtualMachineConfigSpec>(
        r#"{"deviceChange":[{"_typeName":"VirtualDeviceConfigSpec","device":{"_typeName":"VirtualDisk"}}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("missing field `key` in `VirtualDisk`"), "{e}");
    assert!(e.contains("line 1"), "{e}");

    let e = serde_json::from_str::<AnyValue>(r#"{"_value":5,"_typeName":"int"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("_typeName"), "{e}");
    let e = serde_json::from_str::<AnyValue>(r#"{"_typeName":"int"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `_value` in `int`"), "{e}");
    let e = serde_json::from_str::<AnyValue>(r#"{"_typeName":"byte","_value":300}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("300"), "{e}");
    let e = serde_json::from_str::<ManagedObjectReference>(r#"{"type":"Folder"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing field `value` in `ManagedObjectReference`"),
        "{e}"
    );
    let e = serde_json::from_str::<AnyValue>(r#"{"_typeName":"base64Binary","_value":"!!"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("base64"), "{e}");
    // The items of an array of arrays are arrays: a string there is refused, known
    // item type or not (it used to read as an unknown value named `ArrayOf…`, which
    // wrote back without its `_value`; found by the `json` fuzz target).
    for t in ["ArrayOfArrayOfString", "ArrayOfArrayOfSdri:ngSdri:ng]"] {
        let json = format!(r#"{{"_typeName":"{t}","_value":["a","b"]}}"#);
        let e = serde_json::from_str::<AnyValue>(&json)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid value: string \"a\""), "{t}: {e}");
    }
    // `ArrayOf` alone names no array (no item type): as in XML, an unknown type whose
    // content is dropped, and which writes back as such.
    let v: AnyValue = serde_json::from_str(r#"{"_typeName":"ArrayOf","_value":"a"}"#).unwrap();
    assert_eq!(
        v,
        AnyValue::Unknown {
            type_name: "ArrayOf".into()
        }
    );
    let back: AnyValue = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(back, v);
}

/// Lenient forms a hand-written document may use.
#[test]
fn lenient_forms() {
    // A reference in an anyType slot with its fields inline; null for lists and options.
    let v: AnyValue = serde_json::from_str(
        r#"{"_typeName":"ManagedObjectReference","type":"Folder","value":"group-d1"}"#,
    )
    .unwrap();
    assert_eq!(
        v,
        AnyValue::Mor(ManagedObjectReference::new("Folder", "group-d1"))
    );
    let spec: VirtualMachineConfigSpec =
        serde_json::from_str(r#"{"deviceChange":null,"name":null,"numCPUs":4}"#).unwrap();
    assert_eq!(spec.num_cpus, Some(4));
    assert!(spec.device_change.is_empty() && spec.name.is_none());
    // Floats as numbers or lexical strings; integers for floats.
    let v: AnyValue = serde_json::from_str(r#"{"_typeName":"double","_value":"-INF"}"#).unwrap();
    assert_eq!(v, AnyValue::Double(f64::NEG_INFINITY));
    let v: AnyValue = serde_json::from_str(r#"{"_typeName":"float","_value":3}"#).unwrap();
    assert_eq!(v, AnyValue::Float(3.0));
    // Array items of an object type may leave `_typeName` out.
    let v: AnyValue =
        serde_json::from_str(r#"{"_typeName":"ArrayOfOptionValue","_value":[{"key":"a"}]}"#)
            .unwrap();
    let AnyValue::Array { items, .. } = &v else {
        panic!("{v:?}")
    };
    assert_eq!(items[0].downcast_ref::<OptionValue>().unwrap().key, "a");
    // Untyped scalars in an anyType slot.
    let v: Vec<AnyValue> =
        serde_json::from_str(r#"["s", 1, 5000000000, 1.5, true, null, [1]]"#).unwrap();
    assert_eq!(
        v,
        [
            AnyValue::String("s".into()),
            AnyValue::Int(1),
            AnyValue::Long(5_000_000_000),
            AnyValue::Double(1.5),
            AnyValue::Bool(true),
            AnyValue::Null,
            AnyValue::Array {
                item_type: "anyType".into(),
                items: vec![AnyValue::Int(1)]
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Mangled input never panics
// ---------------------------------------------------------------------------------------

fn seed_documents(s: &Schema) -> Vec<String> {
    let mut docs = vec![
        to_json(&sample_spec()),
        to_json(&every_kind_result()),
        to_json(&mo::VirtualMachine {
            obj: ManagedObjectReference::new("VirtualMachine", "vm-1"),
            name: Some("x".into()),
            ..Default::default()
        }),
    ];
    let mut gen = Gen::new(s, 0xF00D);
    for ty in [
        "VirtualMachineConfigInfo",
        "VirtualMachineConfigSpec",
        "TaskInfo",
        "LocalizedMethodFault",
        "HostConnectSpec",
        "VmFailedToPowerOnEvent",
        "ClusterConfigInfoEx",
    ] {
        let tree = gen.document(ty);
        let mut xml = String::new();
        render(&tree, true, &mut xml);
        let v: AnyValue = decode_element(xml.as_bytes()).unwrap();
        docs.push(to_json(&v));
    }
    docs
}

fn mutate_json(rng: &mut Rng, doc: &str, names: &[&'static str]) -> (&'static str, Vec<u8>) {
    let mut d = doc.as_bytes().to_vec();
    let len = d.len().max(1);
    const JUNK: &[u8] = b"{}[]\":,\\ 0123456789eE+-.tfnul_\xff\xc3";
    let kind = if rng.chance(0.03) {
        8
    } else {
        *rng.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 9])
    };
    match kind {
        0 => {
            d.truncate(rng.below(len));
            ("truncate", d)
        }
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(len);
                if let Some(b) = d.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            ("bit flips", d)
        }
        2 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(d.len() + 1);
                d.insert(i, *rng.pick(JUNK));
            }
            ("insert bytes", d)
        }
        3 => {
            let a = rng.below(len).min(d.len());
            let b = (a + rng.below(100)).min(d.len());
            d.drain(a..b);
            ("delete range", d)
        }
        4 => {
            let a = rng.below(len).min(d.len());
            let b = (a + rng.below(300)).min(d.len());
            let piece = d[a..b].to_vec();
            let at = rng.below(d.len() + 1);
            d.splice(at..at, piece);
            ("duplicate range", d)
        }
        5 => {
            // Another name in a `_typeName`: a value or an error, never a panic.
            let idx: Vec<usize> = doc
                .match_indices(r#""_typeName":""#)
                .map(|(i, m)| i + m.len())
                .collect();
            if idx.is_empty() {
                return ("unchanged", d);
            }
            let i = *rng.pick(&idx);
            let end = i + doc[i..].find('"').unwrap_or(0);
            let name = match rng.below(5) {
                0 => rng.pick(names).to_string(),
                1 => format!("ArrayOf{}", rng.pick(names)),
                2 => rng
                    .pick(&[
                        "int",
                        "string",
                        "ArrayOfAnyType",
                        "ManagedObjectReference",
                        "float",
                        "base64Binary",
                        "VirtualMachinePowerState",
                        "",
                    ])
                    .to_string(),
                3 => "ArrayOfArrayOfInt".into(),
                _ => "Future\\u0000Type".into(),
            };
            let mut s = doc.to_string();
            s.replace_range(i..end, &name);
            ("_typeName swap", s.into_bytes())
        }
        6 => {
            // A value replaced by something awkward.
            let idx: Vec<usize> = doc.match_indices(':').map(|(i, _)| i + 1).collect();
            if idx.is_empty() {
                return ("unchanged", d);
            }
            let i = *rng.pick(&idx);
            let rest = &doc[i..];
            let end = i + rest.find([',', '}', ']']).unwrap_or(rest.len());
            let v = *rng.pick(&[
                "null",
                "1e999",
                "-0",
                "18446744073709551616",
                "-9223372036854775809",
                "\"NaN\"",
                "\"INF\"",
                "[]",
                "{}",
                "[null]",
                "\"\\ud800\"",
                "true",
                "\"\"",
                "0.1",
                r#"{"_typeName":"ManagedObjectReference","_value":null}"#,
                r#"{"_typeName":"ArrayOfInt","_value":[1,"x",null]}"#,
            ]);
            let mut s = doc.to_string();
            s.replace_range(i..end, v);
            ("awkward value", s.into_bytes())
        }
        7 => {
            // Keys dropped or renamed.
            let s = doc.replacen(r#""_typeName""#, r#""_typename""#, 1 + rng.below(3));
            ("key damage", s.into_bytes())
        }
        8 => {
            // Deep nesting at a random value position.
            let idx: Vec<usize> = doc.match_indices(':').map(|(i, _)| i + 1).collect();
            let at = idx.get(rng.below(idx.len().max(1))).copied().unwrap_or(0);
            let unit = *rng.pick(&[
                "[",
                r#"{"_typeName":"ArrayOfAnyType","_value":["#,
                r#"{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"SystemError","faultCause":"#,
                r#"{"_typeName":"VirtualDisk","key":1,"backing":{"_typeName":"VirtualDiskFlatVer2BackingInfo","fileName":"f","diskMode":"m","parent":"#,
                r#"{"a":"#,
            ]);
            let mut s = doc.to_string();
            s.insert_str(at.min(s.len()), &unit.repeat(5_000));
            ("deep nesting", s.into_bytes())
        }
        _ => {
            let (_, a) = mutate_json(rng, doc, names);
            let a = String::from_utf8_lossy(&a).into_owned();
            let (_, b) = mutate_json(rng, &a, names);
            ("combined", b)
        }
    }
}

/// Every reader on `input`; `Err` carries a panic's message or a failed re-read. Whether
/// it read as an `AnyValue`.
fn read_everything(input: &[u8]) -> Result<bool, String> {
    let catch = |what: &str, f: &mut dyn FnMut()| {
        std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("{what} panicked: {msg}")
        })
    };
    let mut again = Ok(());
    let mut read = false;
    catch("AnyValue", &mut || {
        if let Ok(v) = serde_json::from_slice::<AnyValue>(input) {
            read = true;
            if has_nan(&v) {
                return;
            }
            // Whatever reads also writes, and reads back the same.
            let json = to_json(&v);
            again = match serde_json::from_str::<AnyValue>(&json) {
                Ok(w) if w == v => Ok(()),
                Ok(w) => Err(format!("re-read differently: {v:?} vs {w:?}; json {json}")),
                Err(e) => Err(format!("written JSON does not read: {e}; json {json}")),
            };
        }
    })?;
    again?;
    catch("RetrieveResult", &mut || {
        let _ = serde_json::from_slice::<RetrieveResult>(input);
    })?;
    catch("VirtualMachineConfigSpec", &mut || {
        let _ = serde_json::from_slice::<VirtualMachineConfigSpec>(input);
    })?;
    catch("AnyVirtualDevice", &mut || {
        let _ = serde_json::from_slice::<AnyVirtualDevice>(input);
    })?;
    catch("LocalizedMethodFault", &mut || {
        let _ = serde_json::from_slice::<LocalizedMethodFault>(input);
    })?;
    catch("mo::VirtualMachine", &mut || {
        let _ = serde_json::from_slice::<mo::VirtualMachine>(input);
    })?;
    catch("serde_json::Value", &mut || {
        if let Ok(tree) = serde_json::from_slice::<serde_json::Value>(input) {
            let _ = serde_json::from_value::<AnyValue>(tree.clone());
            let _ = serde_json::from_value::<RetrieveResult>(tree);
        }
    })?;
    Ok(read)
}

#[test]
fn mangled_json_never_panics() {
    with_big_stack(|| {
        let s = Schema::new();
        let seeds = seed_documents(&s);
        for d in &seeds {
            read_everything(d.as_bytes()).unwrap();
        }
        let names: Vec<&'static str> = DATA_TYPES.iter().map(|t| t.name).collect();
        let mut rng = Rng::new(0x15_0B_AD);
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        let mut failures = Vec::new();
        let (total, mut read) = (2_000, 0);
        for i in 0..total {
            let base = rng.pick(&seeds).clone();
            let (kind, input) = mutate_json(&mut rng, &base, &names);
            *kinds.entry(kind).or_default() += 1;
            match read_everything(&input) {
                Ok(r) => read += r as usize,
                Err(e) => {
                    let shown =
                        String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
                    failures.push(format!("mutation #{i} ({kind}): {e}\n    input: {shown:?}"));
                }
            }
        }
        println!(
            "JSON mutations: {total} ({kinds:?}), {read} still read as AnyValue (then written \
             and read back), {} failures",
            failures.len()
        );
        // Enough of them still read for the write-and-read-back check to mean something.
        assert!(read > 100, "only {read} mutations read");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

/// serde_json refuses nesting past 128 levels; what is read up to there fits in the
/// 2 MiB stack of a test or worker thread, in an unoptimised build too.
#[test]
fn deep_nesting_fits_in_a_small_stack() {
    let cases = [
        r#"{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"SystemError","faultCause":"#,
        r#"{"_typeName":"ArrayOfAnyType","_value":["#,
        r#"{"_typeName":"VirtualMachineConfigSpec","deviceChange":[{"_typeName":"VirtualDeviceConfigSpec","operation":"add","device":{"_typeName":"VirtualDisk","key":1,"capacityInKB":1,"backing":{"_typeName":"VirtualDiskFlatVer2BackingInfo","fileName":"f","diskMode":"m","parent":"#,
        "[",
    ];
    for unit in cases {
        let input = unit.repeat(200);
        let r = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let a = serde_json::from_str::<AnyValue>(&input)
                    .map(drop)
                    .map_err(|e| e.to_string());
                let b = serde_json::from_str::<LocalizedMethodFault>(&input)
                    .map(drop)
                    .map_err(|e| e.to_string());
                let c = serde_json::from_str::<VirtualMachineConfigSpec>(&input)
                    .map(drop)
                    .map_err(|e| e.to_string());
                (a, b, c)
            })
            .unwrap()
            .join()
            .expect("no panic");
        assert!(
            r.0.is_err() && r.1.is_err() && r.2.is_err(),
            "{unit}: {r:?}"
        );
        let all = format!("{r:?}");
        assert!(
            all.contains("recursion limit") || all.contains("EOF"),
            "{unit}: {all}"
        );
    }
}
