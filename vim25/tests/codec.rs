//! Codec tests against hand-written vSphere SOAP documents: decoding responses through a
//! canned transport and through `decode_element`, faults and transport errors, secrets in
//! `Debug`, encoding order, `xsi:type`, version gating and request envelopes.

use std::future::Future;
use std::sync::Mutex;

use vim25::meta;
use vim25::methods;
use vim25::mo;
use vim25::mo::decode_object_content;
use vim25::soap::{BoxFuture, RawResponse, Request, Transport};
use vim25::types::*;
use vim25::types::{AnyValue, DateTime};
use vim25::xml::{decode_element, encode_element, DecodeError, Decoder};
use vim25::{Error, Version};

const VM_CONFIG_RESPONSE: &str = include_str!("data/retrieve_vm_config.xml");

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Polls a future to completion; the canned transport never returns `Pending`.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    for _ in 0..1_000_000 {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

/// Answers every request with one canned response and records what was sent.
struct Canned {
    version: Version,
    status: u16,
    body: Vec<u8>,
    sent: Mutex<Vec<(Request, bool)>>,
}

impl Canned {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Canned {
            version: Version::LATEST,
            status,
            body: body.into(),
            sent: Mutex::new(Vec::new()),
        }
    }

    fn with_version(mut self, v: Version) -> Self {
        self.version = v;
        self
    }

    fn last_request(&self) -> (Request, bool) {
        self.sent
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request was sent")
    }
}

impl Transport for Canned {
    fn version(&self) -> Version {
        self.version
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        self.sent
            .lock()
            .unwrap()
            .push((request.clone(), idempotent));
        Box::pin(async move {
            Ok(RawResponse {
                status: self.status,
                body: self.body.clone(),
            })
        })
    }
}

fn envelope(body: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" "#,
            r#"xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
            r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
            r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
            "\n<soapenv:Body>\n{}\n</soapenv:Body>\n</soapenv:Envelope>\n"
        ),
        body
    )
}

fn fault_envelope(code: &str, message: &str, detail: &str) -> String {
    envelope(&format!(
        "<soapenv:Fault>\n<faultcode>{code}</faultcode>\n<faultstring>{message}</faultstring>\n\
         <detail>{detail}</detail>\n</soapenv:Fault>"
    ))
}

fn property_collector() -> ManagedObjectReference {
    ManagedObjectReference::new("PropertyCollector", "propertyCollector")
}

fn vm_spec() -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            type_: "VirtualMachine".into(),
            all: Some(false),
            path_set: vec!["config".into(), "datastore".into(), "runtime".into()],
            ..Default::default()
        }],
        object_set: vec![ObjectSpec {
            obj: ManagedObjectReference::new("VirtualMachine", "vm-42"),
            skip: Some(false),
            select_set: vec![],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn retrieve(t: &Canned) -> Result<Option<RetrieveResult>, Error> {
    block_on(methods::retrieve_properties_ex(
        t,
        &property_collector(),
        &[vm_spec()],
        &RetrieveOptions {
            max_objects: Some(100),
            ..Default::default()
        },
    ))
}

fn prop<'a>(oc: &'a ObjectContent, name: &str) -> &'a AnyValue {
    &oc.prop_set
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no property {name}"))
        .val
}

/// The parts of a document between `<tag` … `</tag>`, for the tests that feed single
/// elements of the canned response to lower-level decoders.
fn element<'a>(doc: &'a str, tag: &str, nth: usize) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = doc.match_indices(&open).nth(nth).expect("open tag").0;
    let end = doc[start..].find(&close).expect("close tag") + start + close.len();
    &doc[start..end]
}

fn decode_err(r: Result<impl std::fmt::Debug, Error>) -> DecodeError {
    match r {
        Err(Error::Decode { source, .. }) => source,
        other => panic!("expected Error::Decode, got {other:?}"),
    }
}

fn pos(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {haystack}"))
}

// ---------------------------------------------------------------------------------------
// Decoding a RetrievePropertiesEx response
// ---------------------------------------------------------------------------------------

fn check_vm_config(cfg: &VirtualMachineConfigInfo) {
    assert_eq!(cfg.name, "web-01 & friends");
    assert_eq!(cfg.version, "vmx-21");
    assert_eq!(cfg.modified, DateTime("1970-01-01T00:00:00Z".into()));
    assert_eq!(cfg.modified.as_str(), "1970-01-01T00:00:00Z");
    assert_eq!(
        cfg.create_date.as_ref().map(DateTime::as_str),
        Some("2025-03-04T10:11:12.345678Z")
    );
    assert_eq!(cfg.alternate_guest_name, "");
    assert_eq!(
        cfg.annotation.as_deref(),
        Some("line one\nline two <b>bold</b> \"quoted\"")
    );
    assert!(!cfg.template);
    assert_eq!(cfg.npiv_temporary_disabled, Some(true));
    assert_eq!(
        cfg.files.vm_path_name.as_deref(),
        Some("[datastore1] web-01/web-01.vmx")
    );
    assert_eq!(cfg.tools.as_ref().unwrap().tools_version, Some(12352));
    assert_eq!(cfg.flags.enable_logging, Some(true));
    assert_eq!(cfg.flags.monitor_type.as_deref(), Some("release"));
    assert_eq!(
        cfg.default_power_ops.standby_action.as_deref(),
        Some("checkpoint")
    );
    assert_eq!(cfg.hardware.num_cpu, 4);
    assert_eq!(cfg.hardware.num_cores_per_socket, Some(2));
    assert_eq!(cfg.hardware.memory_mb, 8192);
    assert_eq!(
        cfg.hardware.motherboard_layout.as_deref(),
        Some("i440bxHostBridge")
    );
    assert_eq!(
        cfg.vmx_config_checksum.as_deref(),
        Some(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11][..])
    );
    assert_eq!(cfg.firmware.as_deref(), Some("efi"));
    let cpu = cfg.cpu_allocation.as_ref().unwrap();
    assert_eq!(cpu.limit, Some(-1));
    assert_eq!(
        cpu.shares.as_ref().map(|s| (s.shares, s.level.clone())),
        Some((4000, SharesLevel::Normal))
    );
    assert_eq!(
        cfg.boot_options
            .as_ref()
            .and_then(|b| b.efi_secure_boot_enabled),
        Some(true)
    );

    // Devices: polymorphic match on the concrete types.
    let devices = &cfg.hardware.device;
    assert_eq!(devices.len(), 5);
    let names: Vec<&str> = devices.iter().map(|d| d.type_name()).collect();
    assert_eq!(
        names,
        [
            "VirtualIDEController",
            "ParaVirtualSCSIController",
            "VirtualDisk",
            "VirtualVmxnet3",
            "VirtualFancyNewCard"
        ]
    );
    let mut seen = 0;
    for dev in devices {
        // Base fields through Deref on the slot, whatever the concrete type.
        assert!(dev.key > 0);
        assert!(dev.device_info.is_some());
        match dev {
            AnyVirtualDevice::VirtualIDEController(ide) => {
                assert_eq!(ide.key, 200);
                assert_eq!(ide.bus_number, 0);
                assert_eq!(ide.controller_key, None);
                seen += 1;
            }
            AnyVirtualDevice::ParaVirtualSCSIController(scsi) => {
                // ParaVirtualSCSIController -> VirtualSCSIController -> VirtualController
                assert_eq!(scsi.shared_bus, VirtualSCSISharing::NoSharing);
                assert_eq!(scsi.hot_add_remove, Some(true));
                assert_eq!(scsi.scsi_ctlr_unit_number, Some(7));
                assert_eq!(scsi.device, vec![2000]);
                assert_eq!(scsi.bus_number, 0);
                assert_eq!(scsi.unit_number, Some(3));
                match scsi.slot_info.as_ref().unwrap() {
                    AnyVirtualDeviceBusSlotInfo::VirtualDevicePciBusSlotInfo(p) => {
                        assert_eq!(p.pci_slot_number, 160)
                    }
                    other => panic!("slot {}", other.type_name()),
                }
                seen += 1;
            }
            AnyVirtualDevice::VirtualDisk(disk) => {
                assert_eq!(disk.key, 2000);
                assert_eq!(disk.controller_key, Some(1000));
                assert_eq!(disk.unit_number, Some(0));
                assert_eq!(disk.capacity_in_kb, 16_777_216);
                assert_eq!(disk.capacity_in_bytes, Some(17_179_869_184));
                assert_eq!(disk.vdisk_version, Some(2));
                assert_eq!(disk.guest_read_only, Some(false));
                assert_eq!(
                    disk.device_info.as_ref().map(|d| d.label.as_str()),
                    Some("Hard disk 1")
                );
                let sio = disk.storage_io_allocation.as_ref().unwrap();
                assert_eq!(sio.limit, Some(-1));
                assert_eq!(sio.shares.as_ref().unwrap().level, SharesLevel::Normal);
                match disk.backing.as_ref().expect("disk backing") {
                    AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b) => {
                        // Two levels of Deref: VirtualDeviceFileBackingInfo fields.
                        assert_eq!(b.file_name, "[datastore1] web-01/web-01.vmdk");
                        assert_eq!(
                            b.datastore,
                            Some(ManagedObjectReference::new("Datastore", "datastore-11"))
                        );
                        assert_eq!(b.backing_object_id.as_deref(), Some(""));
                        assert_eq!(b.disk_mode, "persistent");
                        assert_eq!(b.thin_provisioned, Some(true));
                        assert_eq!(b.split, Some(false));
                        assert_eq!(b.sharing.as_deref(), Some("sharingNone"));
                        assert_eq!(
                            b.change_id.as_deref(),
                            Some("52 1d 5e 7f 2a 3b 4c 5d-6e 7f 80 91 a2 b3 c4 d5/12")
                        );
                        let parent = b.parent.as_ref().expect("parent disk");
                        assert_eq!(parent.file_name, "[datastore1] base/base.vmdk");
                        assert_eq!(parent.thin_provisioned, Some(false));
                        assert!(parent.parent.is_none());
                    }
                    other => panic!("disk backing {}", other.type_name()),
                }
                seen += 1;
            }
            AnyVirtualDevice::VirtualVmxnet3(nic) => {
                // VirtualVmxnet3 -> VirtualVmxnet -> VirtualEthernetCard -> VirtualDevice
                assert_eq!(nic.key, 4000);
                assert_eq!(nic.mac_address.as_deref(), Some("00:50:56:a0:12:34"));
                assert_eq!(nic.address_type.as_deref(), Some("assigned"));
                assert_eq!(nic.wake_on_lan_enabled, Some(true));
                assert_eq!(nic.uptv2_enabled, Some(false));
                assert_eq!(nic.upt_compatibility_enabled, Some(true));
                let c = nic.connectable.as_ref().unwrap();
                assert!(c.start_connected && c.connected && c.allow_guest_control);
                assert_eq!(c.status.as_deref(), Some("ok"));
                let ra = nic.resource_allocation.as_ref().unwrap();
                assert_eq!((ra.reservation, ra.limit), (Some(0), Some(-1)));
                assert_eq!(ra.share.shares, 50);
                match nic.backing.as_ref().unwrap() {
                    AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(b) => {
                        assert_eq!(b.device_name, "VM Network");
                        assert_eq!(b.use_auto_detect, Some(false));
                        assert_eq!(
                            b.network,
                            Some(ManagedObjectReference::new("Network", "network-13"))
                        );
                    }
                    other => panic!("nic backing {}", other.type_name()),
                }
                seen += 1;
            }
            AnyVirtualDevice::Unknown(u) => {
                // A device type this client does not know: decoded as VirtualDevice, the
                // wire type kept, its own fields skipped.
                assert_eq!(u.type_name, "VirtualFancyNewCard");
                assert_eq!(dev.type_name(), "VirtualFancyNewCard");
                assert_eq!(u.value.key, 13000);
                assert_eq!(dev.controller_key, Some(100));
                assert_eq!(dev.unit_number, Some(9));
                match dev.device_info.as_ref().unwrap() {
                    AnyDescription::Description(d) => assert_eq!(d.label, "Fancy card 1"),
                    other => panic!("deviceInfo {}", other.type_name()),
                }
                seen += 1;
            }
            other => panic!("unexpected device {}", other.type_name()),
        }
    }
    assert_eq!(seen, 5);
    // Untyped deviceInfo decodes as the declared base.
    assert!(matches!(
        devices[0].device_info,
        Some(AnyDescription::Description(_))
    ));

    // extraConfig: anyType values with their xsd types.
    let extra: Vec<(&str, &AnyValue)> = cfg
        .extra_config
        .iter()
        .map(|o| (o.key.as_str(), o.value.as_ref().unwrap()))
        .collect();
    assert_eq!(
        extra,
        vec![
            ("nvram", &AnyValue::String("web-01.nvram".into())),
            ("svga.present", &AnyValue::String("TRUE".into())),
            ("guestinfo.answer", &AnyValue::Int(42)),
            ("guestinfo.flag", &AnyValue::Bool(true)),
            (
                "guestinfo.escaped",
                &AnyValue::String("a < b && c > d \u{263A}".into())
            ),
        ]
    );
    assert!(cfg
        .extra_config
        .iter()
        .all(|o| matches!(o, AnyOptionValue::OptionValue(_))));
}

fn check_missing(missing: &MissingProperty) {
    assert_eq!(missing.path, "guest.ipStack");
    assert_eq!(
        missing.fault.localized_message.as_deref(),
        Some("Permission to perform this operation was denied.")
    );
    let AnyMethodFault::NoPermission(np) = &missing.fault.fault else {
        panic!("missing fault is {}", missing.fault.fault.type_name());
    };
    assert_eq!(np.privilege_id.as_deref(), Some("System.Read"));
    assert_eq!(
        np.object,
        Some(ManagedObjectReference::new("VirtualMachine", "vm-42"))
    );
    // MethodFault fields through NoPermission -> SecurityError -> RuntimeFault -> MethodFault.
    let cause = np.fault_cause.as_ref().expect("faultCause");
    assert!(matches!(cause.fault, AnyMethodFault::InvalidState(_)));
    assert_eq!(
        cause.localized_message.as_deref(),
        Some("The operation is not allowed in the current state.")
    );
    assert_eq!(np.fault_message.len(), 1);
    let msg = &np.fault_message[0];
    assert_eq!(msg.key, "com.vmware.vim.vpxd.missing");
    assert_eq!(msg.message.as_deref(), Some("Three things are missing"));
    assert_eq!(msg.arg.len(), 2);
    assert_eq!(msg.arg[0].value, AnyValue::Int(3));
    assert_eq!(
        msg.arg[1].value,
        AnyValue::Mor(ManagedObjectReference::new("VirtualMachine", "vm-42"))
    );
}

#[test]
fn retrieve_properties_ex_decodes_vm_properties() {
    let t = Canned::new(200, VM_CONFIG_RESPONSE);
    let result = retrieve(&t).unwrap().expect("a returnval");
    assert_eq!(result.token.as_deref(), Some("2"));
    assert_eq!(result.objects.len(), 2);

    let oc = &result.objects[0];
    assert_eq!(
        oc.obj,
        ManagedObjectReference::new("VirtualMachine", "vm-42")
    );
    let names: Vec<&str> = oc.prop_set.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "config",
            "datastore",
            "disabledMethod",
            "runtime",
            "summary.runtime.powerState",
            "summary.quickStats.uptimeSeconds",
            "config.hardware.memoryMB",
            "summary.futureStats"
        ]
    );

    // xsi:type="VirtualMachineConfigInfo" in an anyType slot: a typed data object.
    let config = prop(oc, "config");
    let AnyValue::Object(obj) = config else {
        panic!("config is {config:?}");
    };
    assert_eq!(obj.type_name(), "VirtualMachineConfigInfo");
    let cfg = config
        .downcast_ref::<VirtualMachineConfigInfo>()
        .expect("VirtualMachineConfigInfo");
    check_vm_config(cfg);

    assert_eq!(
        prop(oc, "datastore"),
        &AnyValue::Array {
            item_type: "ManagedObjectReference".into(),
            items: vec![
                AnyValue::Mor(ManagedObjectReference::new("Datastore", "datastore-11")),
                AnyValue::Mor(ManagedObjectReference::new("Datastore", "datastore-12")),
            ],
        }
    );
    assert_eq!(
        prop(oc, "disabledMethod"),
        &AnyValue::Array {
            item_type: "string".into(),
            items: vec!["Destroy_Task".into(), "UnregisterVM".into()],
        }
    );

    let runtime = prop(oc, "runtime")
        .downcast_ref::<VirtualMachineRuntimeInfo>()
        .expect("VirtualMachineRuntimeInfo");
    assert_eq!(
        runtime.connection_state,
        VirtualMachineConnectionState::Connected
    );
    // A value this client does not know stays readable.
    assert_eq!(
        runtime.power_state,
        VirtualMachinePowerState::Unrecognized("hibernating".into())
    );
    assert_eq!(runtime.power_state.as_str(), "hibernating");
    assert_eq!(runtime.power_state.since(), None);
    assert_eq!(
        runtime.host,
        Some(ManagedObjectReference::new("HostSystem", "host-7"))
    );
    assert_eq!(
        runtime.boot_time.as_ref().map(|t| t.as_str()),
        Some("2026-11-20T08:00:01.5Z")
    );
    assert_eq!(runtime.max_cpu_usage, Some(9576));
    assert_eq!(
        runtime.record_replay_state,
        Some(VirtualMachineRecordReplayState::Inactive)
    );
    assert_eq!(runtime.device.len(), 1);
    assert_eq!(runtime.device[0].key, 4000);
    assert_eq!(
        runtime.device[0].runtime_state.type_name(),
        "VirtualMachineDeviceRuntimeInfoVirtualEthernetCardRuntimeState"
    );

    assert_eq!(
        prop(oc, "summary.runtime.powerState"),
        &AnyValue::Enum {
            type_name: "VirtualMachinePowerState".into(),
            value: "poweredOn".into()
        }
    );
    assert_eq!(
        prop(oc, "summary.quickStats.uptimeSeconds"),
        &AnyValue::Int(273_601)
    );
    assert_eq!(prop(oc, "config.hardware.memoryMB"), &AnyValue::Long(8192));
    // A data type this client does not know at all.
    assert_eq!(
        prop(oc, "summary.futureStats"),
        &AnyValue::Unknown {
            type_name: "VirtualMachineFutureStats".into()
        }
    );

    assert_eq!(oc.missing_set.len(), 1);
    check_missing(&oc.missing_set[0]);

    let second = &result.objects[1];
    assert_eq!(second.obj.value, "vm-43");
    assert_eq!(prop(second, "name").as_str(), Some("db-01"));

    // The request: a RetrievePropertiesEx envelope, sent as idempotent.
    let (req, idempotent) = t.last_request();
    assert!(idempotent, "RetrievePropertiesEx only reads");
    assert_eq!(req.operation, "RetrievePropertiesEx");
    let b = &req.body;
    assert!(b.contains(
        r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet>"#
    ), "{b}");
    assert!(b.contains(
        "<propSet><type>VirtualMachine</type><all>false</all><pathSet>config</pathSet><pathSet>datastore</pathSet><pathSet>runtime</pathSet></propSet>"
    ), "{b}");
    assert!(
        b.contains(
            r#"<objectSet><obj type="VirtualMachine">vm-42</obj><skip>false</skip></objectSet>"#
        ),
        "{b}"
    );
    assert!(pos(b, "<propSet>") < pos(b, "<objectSet>"));
    assert!(b.contains("<options><maxObjects>100</maxObjects></options></RetrievePropertiesEx>"));
}

#[test]
fn object_content_decodes_into_managed_object() {
    let objects = element(VM_CONFIG_RESPONSE, "objects", 0);
    let mut d = Decoder::new(objects.as_bytes());
    let start = d.next_child().unwrap().expect("objects element");
    let (vm, missing) = decode_object_content::<mo::VirtualMachine>(&mut d, &start)
        .unwrap()
        .unwrap();
    assert_eq!(
        vm.obj,
        ManagedObjectReference::new("VirtualMachine", "vm-42")
    );
    check_vm_config(vm.config.as_ref().expect("config"));
    assert_eq!(
        vm.datastore,
        Some(vec![
            ManagedObjectReference::new("Datastore", "datastore-11"),
            ManagedObjectReference::new("Datastore", "datastore-12"),
        ])
    );
    assert_eq!(
        vm.disabled_method,
        Some(vec!["Destroy_Task".to_string(), "UnregisterVM".to_string()])
    );
    let rt = vm.runtime.as_ref().expect("runtime");
    assert_eq!(rt.power_state.as_str(), "hibernating");
    // Nested paths land in `other`.
    let other: Vec<&str> = vm.other.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        other,
        [
            "summary.runtime.powerState",
            "summary.quickStats.uptimeSeconds",
            "config.hardware.memoryMB",
            "summary.futureStats"
        ]
    );
    assert_eq!(missing.len(), 1);
    check_missing(&missing[0]);
    assert!(vm.name.is_none());
}

#[test]
fn decode_element_standalone_values() {
    // A whole returnval.
    let rv = element(VM_CONFIG_RESPONSE, "returnval", 0);
    let result: RetrieveResult = decode_element(rv.as_bytes()).unwrap();
    assert_eq!(result.objects.len(), 2);
    let via_transport = retrieve(&Canned::new(200, VM_CONFIG_RESPONSE))
        .unwrap()
        .unwrap();
    assert_eq!(result, via_transport);

    // A single device, with a namespace prefix on xsi:type and the vim25 prefix on values.
    let dev: AnyVirtualDevice = decode_element(
        br#"<device xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vim25="urn:vim25"
                xsi:type="vim25:VirtualVmxnet3"><key>4001</key><macAddress>00:50:56:aa:bb:cc</macAddress>
                <uptv2Enabled>true</uptv2Enabled></device>"#,
    )
    .unwrap();
    match &dev {
        AnyVirtualDevice::VirtualVmxnet3(n) => {
            assert_eq!(n.key, 4001);
            assert_eq!(n.mac_address.as_deref(), Some("00:50:56:aa:bb:cc"));
            assert_eq!(n.uptv2_enabled, Some(true));
        }
        other => panic!("{}", other.type_name()),
    }

    // Without xsi:type: the declared type.
    let base: AnyVirtualDevice = decode_element(b"<device><key>1</key></device>").unwrap();
    assert!(matches!(base, AnyVirtualDevice::VirtualDevice(_)));

    // Empty elements, whitespace around numbers, CDATA, comments and character references.
    let hw: VirtualHardware = decode_element(
        b"<hardware>\n  <numCPU> 2 </numCPU><!-- two -->\n  <memoryMB>\t1024\n</memoryMB>\n  \
          <motherboardLayout><![CDATA[a<b&c]]></motherboardLayout><device/></hardware>",
    )
    .unwrap();
    assert_eq!(hw.num_cpu, 2);
    assert_eq!(hw.memory_mb, 1024);
    assert_eq!(hw.motherboard_layout.as_deref(), Some("a<b&c"));
    assert_eq!(hw.device.len(), 1);
    assert!(matches!(hw.device[0], AnyVirtualDevice::VirtualDevice(_)));

    let opt: OptionValue = decode_element(
        br#"<extraConfig xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><key>k&#233;y&#x1F600;</key><value xsi:type="xsd:base64Binary">AAEC/w==</value></extraConfig>"#,
    )
    .unwrap();
    assert_eq!(opt.key, "k\u{e9}y\u{1F600}");
    assert_eq!(opt.value, Some(AnyValue::Binary(vec![0, 1, 2, 255])));

    // Standalone anyType values.
    let v: AnyValue =
        decode_element(br#"<val xmlns:xsi="x" xsi:type="xsd:dateTime">2026-01-02T03:04:05Z</val>"#)
            .unwrap();
    assert_eq!(
        v,
        AnyValue::DateTime(DateTime("2026-01-02T03:04:05Z".into()))
    );
    let v: AnyValue =
        decode_element(br#"<val xsi:type="ArrayOfInt"><int>1</int><int>-2</int></val>"#).unwrap();
    assert_eq!(
        v,
        AnyValue::Array {
            item_type: "int".into(),
            items: vec![AnyValue::Int(1), AnyValue::Int(-2)]
        }
    );
    let v: AnyValue = decode_element(b"<val>untyped text</val>").unwrap();
    assert_eq!(v, AnyValue::String("untyped text".into()));
    let v: AnyValue = decode_element(br#"<val xsi:nil="true"/>"#).unwrap();
    assert_eq!(v, AnyValue::Null);

    // Trailing garbage after the element is an error; trailing whitespace and comments are not.
    assert!(decode_element::<String>(b"<a>x</a>\n<!-- end -->\n").is_ok());
    let e = decode_element::<String>(b"<a>x</a><b/>").unwrap_err();
    assert!(e.message.contains("after the document element"), "{e}");
    assert!(decode_element::<String>(b"").is_err());
}

#[test]
fn unknown_subtype_is_kept_and_reencoded() {
    let xml = br#"<device xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VirtualFancyNewCard">
        <key>13000</key>
        <sparkleLevel>11</sparkleLevel>
        <deviceInfo><label>Fancy</label><summary>new</summary></deviceInfo>
        <sparkleConfig><color>blue</color><nested><deeper>1</deeper></nested></sparkleConfig>
        <unitNumber>9</unitNumber>
    </device>"#;
    let dev: AnyVirtualDevice = decode_element(xml).unwrap();
    let AnyVirtualDevice::Unknown(u) = &dev else {
        panic!("expected Unknown, got {}", dev.type_name());
    };
    assert_eq!(u.type_name, "VirtualFancyNewCard");
    // Kept once, in `Unknown`, not again in the base value.
    assert_eq!(u.value.type_name_, None);
    assert_eq!(u.value.key, 13000);
    assert_eq!(dev.key, 13000);
    assert_eq!(dev.unit_number, Some(9));
    assert_eq!(dev.device_info.as_ref().unwrap().label, "Fancy");
    assert_eq!(dev.as_data_object().type_name(), "VirtualDevice");

    let out = encode_element("device", &dev, Version::LATEST);
    assert!(out.starts_with("<device xmlns=\"urn:vim25\""), "{out}");
    assert!(out.contains(r#"xsi:type="VirtualFancyNewCard""#), "{out}");
    assert!(out.contains("<key>13000</key>"), "{out}");
    assert!(out.contains("<unitNumber>9</unitNumber>"), "{out}");
    assert!(
        !out.contains("sparkle"),
        "unknown fields are not kept: {out}"
    );
    let again: AnyVirtualDevice = decode_element(out.as_bytes()).unwrap();
    assert_eq!(again, dev);

    // In a list slot of a containing object too.
    let hw = VirtualHardware {
        num_cpu: 1,
        memory_mb: 4,
        device: vec![dev.clone(), VirtualVmxnet3::default().into()],
        ..Default::default()
    };
    let out = encode_element("hardware", &hw, Version::LATEST);
    assert!(
        out.contains(r#"<device xsi:type="VirtualFancyNewCard"><key>13000</key>"#),
        "{out}"
    );
    assert!(
        out.contains(r#"<device xsi:type="VirtualVmxnet3"><key>0</key>"#),
        "{out}"
    );
    let back: VirtualHardware = decode_element(out.as_bytes()).unwrap();
    assert_eq!(back, hw);

    // An unknown fault type in a LocalizedMethodFault.
    let lmf: LocalizedMethodFault = decode_element(
        br#"<error xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><fault xsi:type="QuantumEntanglementFault"><faultMessage><key>k</key></faultMessage><qubits>3</qubits></fault><localizedMessage>spooky</localizedMessage></error>"#,
    )
    .unwrap();
    match &lmf.fault {
        AnyMethodFault::Unknown(u) => {
            assert_eq!(u.type_name, "QuantumEntanglementFault");
            assert_eq!(u.value.fault_message[0].key, "k");
        }
        other => panic!("{}", other.type_name()),
    }
    let out = encode_element("error", &lmf, Version::LATEST);
    assert!(
        out.contains(r#"<fault xsi:type="QuantumEntanglementFault">"#),
        "{out}"
    );
    assert_eq!(
        decode_element::<LocalizedMethodFault>(out.as_bytes()).unwrap(),
        lmf
    );
}

/// A slot whose declared type has no subtypes in the schema holds the struct itself; a
/// newer server may still send a subtype there. It decodes as the declared type with the
/// wire name kept in `type_name_`, and encoding sends that name back.
#[test]
fn unknown_subtype_in_a_leaf_slot_keeps_its_name() {
    // `VirtualDisk.shares` is declared `SharesInfo`, which has no subtypes.
    let xml = br#"<device xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VirtualDisk">
        <key>2000</key>
        <capacityInKB>1024</capacityInKB>
        <shares xsi:type="SharesInfoWithBursts"><shares>500</shares><level>custom</level><burst>9</burst></shares>
    </device>"#;
    let dev: AnyVirtualDevice = decode_element(xml).unwrap();
    let AnyVirtualDevice::VirtualDisk(disk) = &dev else {
        panic!("expected VirtualDisk, got {}", dev.type_name());
    };
    let shares = disk.shares.as_ref().unwrap();
    assert_eq!(shares.type_name_.as_deref(), Some("SharesInfoWithBursts"));
    assert_eq!(shares.shares, 500);
    assert_eq!(shares.level, SharesLevel::Custom);
    // The disk's own xsi:type names a known type: nothing kept there.
    assert_eq!(disk.type_name_, None);
    assert_eq!(dev.type_name(), "VirtualDisk");

    let out = encode_element("device", &dev, Version::LATEST);
    assert!(
        out.contains(r#"<shares xsi:type="SharesInfoWithBursts"><shares>500</shares><level>custom</level></shares>"#),
        "{out}"
    );
    assert!(
        !out.contains("burst>"),
        "unknown fields are not kept: {out}"
    );
    assert_eq!(
        decode_element::<AnyVirtualDevice>(out.as_bytes()).unwrap(),
        dev
    );

    // The same slot with its own type named, or with none: nothing kept, none written.
    for shares in [
        r#"<shares xsi:type="SharesInfo"><shares>1</shares><level>low</level></shares>"#,
        r#"<shares xsi:type="vim25:SharesInfo"><shares>1</shares><level>low</level></shares>"#,
        r#"<shares><shares>1</shares><level>low</level></shares>"#,
    ] {
        let xml = format!(
            r#"<device xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VirtualDisk"><key>1</key><capacityInKB>1</capacityInKB>{shares}</device>"#
        );
        let dev: AnyVirtualDevice = decode_element(xml.as_bytes()).unwrap();
        let AnyVirtualDevice::VirtualDisk(disk) = &dev else {
            panic!("{xml}");
        };
        assert_eq!(disk.shares.as_ref().unwrap().type_name_, None, "{xml}");
        let out = encode_element("device", &dev, Version::LATEST);
        assert!(out.contains("<shares><shares>1</shares>"), "{out}");
    }

    // A leaf slot whose declared type is itself a subtype: the name lives in the root
    // type's field (`ArrayUpdateSpec`), reached through `base_`/Deref.
    let spec: VirtualMachineConfigSpec = decode_element(
        br#"<spec xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><cpuFeatureMask xsi:type="VirtualMachineCpuIdInfoSpecV2"><operation>add</operation><info><level>1</level><eax>----</eax></info><extra>1</extra></cpuFeatureMask><cpuFeatureMask><operation>remove</operation></cpuFeatureMask></spec>"#,
    )
    .unwrap();
    let mask = &spec.cpu_feature_mask;
    assert_eq!(
        mask[0].type_name_.as_deref(),
        Some("VirtualMachineCpuIdInfoSpecV2")
    );
    assert_eq!(
        vim25::xml::ComplexType::unknown_type_name(&mask[0]),
        Some("VirtualMachineCpuIdInfoSpecV2")
    );
    assert_eq!(mask[0].info.as_ref().unwrap().eax.as_deref(), Some("----"));
    assert_eq!(mask[1].type_name_, None);
    let out = encode_element("spec", &spec, Version::LATEST);
    assert!(
        out.contains(
            r#"<cpuFeatureMask xsi:type="VirtualMachineCpuIdInfoSpecV2"><operation>add</operation>"#
        ),
        "{out}"
    );
    assert!(
        out.contains("<cpuFeatureMask><operation>remove</operation>"),
        "{out}"
    );
    assert_eq!(
        decode_element::<VirtualMachineConfigSpec>(out.as_bytes()).unwrap(),
        spec
    );

    // Set by the caller: escaped like any kept name.
    let mut info = SharesInfo::default();
    vim25::xml::ComplexType::set_unknown_type_name(&mut info, Some("A\"B".into()));
    let out = encode_element("shares", &info, Version::LATEST);
    assert!(out.contains(r#"xsi:type="A&quot;B""#), "{out}");
    well_formed(&out).unwrap();

    // A property collector value decoded straight into a managed-object struct.
    let objects = r#"<objects xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><obj type="VirtualMachine">vm-1</obj><propSet><name>summary</name><val xsi:type="VirtualMachineSummaryEx"><config><name>a</name><template>false</template></config><overallStatus>green</overallStatus></val></propSet></objects>"#;
    let mut d = Decoder::new(objects.as_bytes());
    let start = d.next_child().unwrap().expect("objects element");
    let (vm, _) = decode_object_content::<mo::VirtualMachine>(&mut d, &start)
        .unwrap()
        .unwrap();
    let summary = vm.summary.unwrap();
    assert_eq!(
        summary.type_name_.as_deref(),
        Some("VirtualMachineSummaryEx")
    );
    assert_eq!(summary.config.name, "a");
}

/// Whether `xml` is well-formed (quick-xml with end-name checks).
fn well_formed(xml: &str) -> Result<(), String> {
    let mut r = quick_xml::Reader::from_str(xml);
    r.config_mut().check_end_names = true;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Start(s) | quick_xml::events::Event::Empty(s)) => {
                for a in s.attributes() {
                    a.map_err(|e| e.to_string())?;
                }
            }
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[test]
fn odd_type_names_are_escaped_when_encoded() {
    // The xsi:type of a value whose type is unknown is kept and sent back. A server can
    // put any attribute text there (here: a double quote inside single quotes): the
    // decoder refuses what is not a type name, with a positioned error.
    let err = decode_element::<AnyVirtualDevice>(
        br#"<device xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type='Fancy" injected="1'><key>7</key></device>"#,
    )
    .unwrap_err();
    assert!(err.message.contains("xsi:type"), "{err}");

    // Built by the caller.
    let u = AnyMethodFault::Unknown(Box::new(vim25::types::Unknown {
        type_name: "A<B&C".into(),
        value: MethodFault::default(),
    }));
    let xml = encode_element("fault", &u, Version::LATEST);
    well_formed(&xml)
        .map_err(|e| format!("{e}: {xml}"))
        .unwrap();
    let v = AnyValue::Unknown {
        type_name: "Odd\"Type".into(),
    };
    let xml = encode_element("val", &v, Version::LATEST);
    well_formed(&xml)
        .map_err(|e| format!("{e}: {xml}"))
        .unwrap();
}

#[test]
fn unknown_elements_are_skipped() {
    let xml = br#"<info xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <newFieldBefore><a><b><c>deep</c></b></a><a/></newFieldBefore>
        <numCPU>8</numCPU>
        <empty/>
        <withAttrs x="1" y='2'>text &amp; more</withAttrs>
        <memoryMB>2048</memoryMB>
        <device xsi:type="VirtualDisk"><key>5</key><futureDiskThing>x</futureDiskThing><capacityInKB>1</capacityInKB></device>
        <numCPU2>9</numCPU2>
        <cdata><![CDATA[<numCPU>99</numCPU>]]></cdata>
    </info>"#;
    let hw: VirtualHardware = decode_element(xml).unwrap();
    assert_eq!(hw.num_cpu, 8);
    assert_eq!(hw.memory_mb, 2048);
    assert_eq!(hw.device.len(), 1);
    match &hw.device[0] {
        AnyVirtualDevice::VirtualDisk(d) => {
            assert_eq!(d.key, 5);
            assert_eq!(d.capacity_in_kb, 1);
        }
        other => panic!("{}", other.type_name()),
    }
}

#[test]
fn unknown_enum_values_are_unrecognized() {
    let v: VirtualMachinePowerState =
        decode_element(b"<powerState>hibernating</powerState>").unwrap();
    assert_eq!(
        v,
        VirtualMachinePowerState::Unrecognized("hibernating".into())
    );
    assert_eq!(v.as_str(), "hibernating");
    assert_eq!(v.to_string(), "hibernating");
    assert_eq!(
        encode_element("powerState", &v, Version::LATEST),
        r#"<powerState xmlns="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">hibernating</powerState>"#
    );
    // Known values, whitespace trimmed.
    let v: VirtualMachinePowerState = decode_element(b"<p>\n  poweredOff \n</p>").unwrap();
    assert_eq!(v, VirtualMachinePowerState::PoweredOff);
    assert_eq!(
        VirtualMachinePowerState::from_wire("suspended"),
        VirtualMachinePowerState::Suspended
    );
    assert_eq!("poweredOn".parse(), Ok(VirtualMachinePowerState::PoweredOn));
    // Every declared value of every enum round-trips through from_wire/as_str (checked
    // for one enum per name through meta: the values are listed in schema order).
    let e = meta::ENUMS
        .iter()
        .find(|e| e.name == "VirtualMachinePowerState")
        .unwrap();
    let wire: Vec<&str> = e.values.iter().map(|(v, _)| *v).collect();
    assert_eq!(wire, VirtualMachinePowerState::VALUES);
    for w in wire {
        assert_eq!(VirtualMachinePowerState::from_wire(w).as_str(), w);
        assert!(VirtualMachinePowerState::from_wire(w).since().is_some());
    }
}

// ---------------------------------------------------------------------------------------
// Faults and transport errors
// ---------------------------------------------------------------------------------------

#[test]
fn soap_fault_with_typed_detail() {
    let body = fault_envelope(
        "ServerFaultCode",
        "Cannot complete login due to an incorrect user name or password.",
        r#"<InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault>"#,
    );
    let t = Canned::new(500, body);
    let sm = ManagedObjectReference::new("SessionManager", "SessionManager");
    let password = "Tr0ub4dor&3-not-for-logs";
    let err = block_on(methods::login(
        &t,
        &sm,
        "administrator@vsphere.local",
        password,
        None,
    ))
    .unwrap_err();
    match &err {
        Error::Fault { operation, fault } => {
            assert_eq!(operation, "Login");
            assert_eq!(fault.code, "ServerFaultCode");
            assert_eq!(
                fault.message,
                "Cannot complete login due to an incorrect user name or password."
            );
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert!(matches!(err.fault(), Some(AnyMethodFault::InvalidLogin(_))));
    assert_eq!(err.fault_name(), Some("InvalidLogin"));
    let shown = err.to_string();
    assert!(
        shown.contains("Login") && shown.contains("InvalidLogin"),
        "{shown}"
    );
    // Neither the error nor the request's Debug carry the password.
    assert!(!format!("{err:?}").contains(password));
    assert!(!shown.contains(password));
    let (req, idempotent) = t.last_request();
    assert!(!idempotent);
    assert!(!format!("{req:?}").contains("Tr0ub4dor"));
    assert!(req
        .body
        .contains("<password>Tr0ub4dor&amp;3-not-for-logs</password>"));
}

#[test]
fn soap_fault_detail_without_xsi_type_is_typed_by_element_name() {
    let body = fault_envelope(
        "ServerFaultCode",
        "The object 'vim.VirtualMachine:vm-9' has already been deleted or has not been completely created",
        r#"<ManagedObjectNotFoundFault xmlns="urn:vim25"><obj type="VirtualMachine">vm-9</obj></ManagedObjectNotFoundFault>"#,
    );
    let t = Canned::new(500, body);
    let vm = ManagedObjectReference::new("VirtualMachine", "vm-9");
    let err = block_on(methods::power_on_vm_task(&t, &vm, None)).unwrap_err();
    match err.fault() {
        Some(AnyMethodFault::ManagedObjectNotFound(f)) => {
            assert_eq!(f.obj, ManagedObjectReference::new("VirtualMachine", "vm-9"));
        }
        other => panic!("expected ManagedObjectNotFound, got {other:?}"),
    }
    assert!(err.to_string().contains("PowerOnVM_Task"));
}

#[test]
fn soap_fault_nested_causes_and_messages() {
    let detail = r#"<SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError">
        <faultCause>
          <fault xsi:type="FileNotFound"><file>[ds1] vm/vm.vmx</file></fault>
          <localizedMessage>File [ds1] vm/vm.vmx was not found</localizedMessage>
        </faultCause>
        <faultMessage><key>msg.fileio.notfound</key><arg><key>1</key><value xsi:type="xsd:string">vm.vmx</value></arg></faultMessage>
        <reason>Unable to open the VM configuration</reason>
        <futureDetail>ignored</futureDetail>
      </SystemErrorFault>
      <SecondFault xsi:type="InvalidState"/>"#;
    let t = Canned::new(
        500,
        fault_envelope("ServerFaultCode", "A general system error occurred", detail),
    );
    let vm = ManagedObjectReference::new("VirtualMachine", "vm-1");
    let err = block_on(methods::power_on_vm_task(&t, &vm, None)).unwrap_err();
    let Some(AnyMethodFault::SystemError(se)) = err.fault() else {
        panic!("{err:?}");
    };
    assert_eq!(se.reason, "Unable to open the VM configuration");
    let cause = se.fault_cause.as_ref().unwrap();
    match &cause.fault {
        AnyMethodFault::FileNotFound(f) => assert_eq!(f.file, "[ds1] vm/vm.vmx"),
        other => panic!("{}", other.type_name()),
    }
    assert_eq!(
        se.fault_message[0].arg[0].value,
        AnyValue::String("vm.vmx".into())
    );

    // A task that failed: TaskInfo.error carries the same shape.
    let info: TaskInfo = decode_element(
        br#"<info xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><key>task-101</key><task type="Task">task-101</task>
        <descriptionId>VirtualMachine.powerOn</descriptionId><entity type="VirtualMachine">vm-1</entity>
        <state>error</state><cancelled>false</cancelled><cancelable>false</cancelable>
        <error><fault xsi:type="InsufficientResourcesFault"><faultCause><fault xsi:type="NotEnoughLicenses"/></faultCause></fault>
        <localizedMessage>Insufficient resources.</localizedMessage></error>
        <queueTime>2026-11-23T12:00:00Z</queueTime><startTime>2026-11-23T12:00:01Z</startTime></info>"#,
    )
    .unwrap();
    assert_eq!(info.state, TaskInfoState::Error);
    let e = info.error.as_ref().unwrap();
    assert_eq!(e.fault.type_name(), "InsufficientResourcesFault");
    assert_eq!(
        e.fault.fault_cause.as_ref().map(|c| c.fault.type_name()),
        Some("NotEnoughLicenses")
    );
}

#[test]
fn soap_fault_without_detail() {
    let body = envelope(
        "<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Something broke</faultstring><detail/></soapenv:Fault>",
    );
    let t = Canned::new(500, body);
    let err = block_on(methods::current_time(
        &t,
        &ManagedObjectReference::new("ServiceInstance", "ServiceInstance"),
    ))
    .unwrap_err();
    match &err {
        Error::Fault { fault, .. } => {
            assert_eq!(fault.message, "Something broke");
            assert!(fault.detail.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.fault().is_none());
    assert!(err.to_string().contains("ServerFaultCode"));
}

#[test]
fn http_error_with_non_xml_body() {
    let t = Canned::new(
        500,
        "Internal Server Error: upstream connect error or disconnect/reset",
    );
    let err = retrieve(&t).unwrap_err();
    match &err {
        Error::Http {
            operation,
            status,
            message,
        } => {
            assert_eq!(operation, "RetrievePropertiesEx");
            assert_eq!(*status, 500);
            assert!(message.starts_with("Internal Server Error"), "{message}");
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
    assert!(err.fault().is_none());

    // HTML error page from a proxy.
    let t = Canned::new(
        503,
        "<html><body><h1>503 Service Unavailable</h1></body></html>",
    );
    assert!(matches!(retrieve(&t), Err(Error::Http { status: 503, .. })));
    // A well-formed envelope without a fault but a bad status.
    let t = Canned::new(
        502,
        envelope(r#"<RetrievePropertiesExResponse xmlns="urn:vim25"/>"#),
    );
    assert!(matches!(retrieve(&t), Err(Error::Http { status: 502, .. })));
    // A long body is cut.
    let t = Canned::new(500, "x".repeat(100_000));
    match retrieve(&t) {
        Err(Error::Http { message, .. }) => assert!(message.len() <= 1000),
        other => panic!("{other:?}"),
    }
    // Non-UTF-8 bytes in the body.
    let t = Canned::new(500, vec![0xff, 0xfe, b'<', 0x80, 0x81]);
    assert!(matches!(retrieve(&t), Err(Error::Http { status: 500, .. })));
}

#[test]
fn status_200_without_envelope_is_a_decode_error() {
    let t = Canned::new(200, "<html><body>login page</body></html>");
    let e = decode_err(retrieve(&t));
    assert!(e.message.contains("Envelope"), "{e}");
    let t = Canned::new(200, "");
    decode_err(retrieve(&t));
    // An empty Body: optional returnval is None, required returnval an error.
    let t = Canned::new(
        200,
        envelope(r#"<RetrievePropertiesExResponse xmlns="urn:vim25"/>"#),
    );
    assert_eq!(retrieve(&t).unwrap(), None);
    let t = Canned::new(
        200,
        envelope(r#"<CurrentTimeResponse xmlns="urn:vim25"></CurrentTimeResponse>"#),
    );
    let e = decode_err(block_on(methods::current_time(
        &t,
        &ManagedObjectReference::new("ServiceInstance", "ServiceInstance"),
    )));
    assert!(e.message.contains("returnval"), "{e}");
}

#[test]
fn truncated_xml_is_a_decode_error_with_path_and_offset() {
    let full = VM_CONFIG_RESPONSE;
    let cut = pos(full, "<macAddress>") + 5;
    let t = Canned::new(200, &full.as_bytes()[..cut]);
    let e = decode_err(retrieve(&t));
    assert!(!e.path.is_empty(), "{e:?}");
    assert!(e.offset > 0, "{e:?}");
    assert!(
        e.path.starts_with("Envelope/Body/RetrievePropertiesExResponse/returnval/objects/propSet/val/hardware/device"),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(
        shown.contains(&e.path) && shown.contains(&e.offset.to_string()),
        "{shown}"
    );

    // Truncated between elements.
    let cut = pos(full, "<extraConfig>");
    let e = decode_err(retrieve(&Canned::new(200, &full.as_bytes()[..cut])));
    assert!(e.path.ends_with("propSet/val"), "{e:?}");
    assert!(e.offset > 0 && e.offset as usize <= cut, "{e:?}");

    // Mismatched end tag.
    let bad = full.replacen("</numCPU>", "</numCPUs>", 1);
    let e = decode_err(retrieve(&Canned::new(200, bad)));
    assert!(e.path.contains("hardware"), "{e:?}");
    assert!(e.offset as usize >= pos(full, "<numCPU>"), "{e:?}");

    // A value that does not parse.
    let bad = full.replacen("<numCPU>4</numCPU>", "<numCPU>four</numCPU>", 1);
    let e = decode_err(retrieve(&Canned::new(200, bad)));
    assert!(
        e.message.contains("int") && e.message.contains("four"),
        "{e:?}"
    );
    assert!(e.path.contains("val/hardware"), "{e:?}");
    assert!(e.offset as usize > pos(full, "<numCPU>"), "{e:?}");

    let bad = full.replacen("3q2+7wABAgMEBQYHCAkKCw==", "not base64!", 1);
    let e = decode_err(retrieve(&Canned::new(200, bad)));
    assert!(e.message.contains("base64"), "{e:?}");

    // Unknown entity.
    let bad = full.replacen("web-01 &amp; friends", "web-01 &nbsp; friends", 1);
    let e = decode_err(retrieve(&Canned::new(200, bad)));
    assert!(!e.path.is_empty(), "{e:?}");

    // decode_element reports the same way.
    let e = decode_element::<VirtualHardware>(
        b"<hardware><numCPU>1</numCPU><device xsi:type=\"VirtualDisk\"><key>",
    )
    .unwrap_err();
    assert_eq!(e.path, "hardware/device/key");
    assert!(e.offset > 0);
}

#[test]
fn a_bad_value_names_the_element_in_the_path() {
    // The error for a leaf whose text does not parse should point at that leaf: the
    // element path is documented as "the open elements", and a user debugging a server
    // response needs to know which field was bad.
    let e = decode_element::<VirtualHardware>(b"<hardware><numCPU>four</numCPU></hardware>")
        .unwrap_err();
    assert!(e.message.contains("four"), "{e:?}");
    assert_eq!(e.path, "hardware/numCPU", "{e:?}");
}

// Deep nesting. A stack overflow aborts the whole test process, so every deep document
// is decoded in a child process (this test binary re-run with `DEEP_CASE` set), on a
// thread with a 2 MiB stack: the default of Rust test threads and of tokio workers.

const DEEP_CASE_ENV: &str = "VIM25_CODEC_DEEP_CASE";
const WORKER_STACK: usize = 2 << 20;

fn deep_case_input(case: &str) -> Vec<u8> {
    let depth = 10_000;
    let mut xml = String::new();
    let repeat = |xml: &mut String, open: &str, n: usize| {
        for _ in 0..n {
            xml.push_str(open);
        }
    };
    match case {
        "unknown-elements" => {
            xml.push_str(r#"<val xsi:type="VirtualMachineConfigInfo"><name>n</name>"#);
            repeat(&mut xml, "<x>", depth);
            repeat(&mut xml, "</x>", depth);
            xml.push_str("</val>");
        }
        "disk-parents" => {
            xml.push_str("<backing>");
            repeat(&mut xml, "<parent>", depth);
        }
        "array-of-anytype" => {
            xml.push_str(r#"<v xsi:type="ArrayOfAnyType">"#);
            repeat(&mut xml, r#"<anyType xsi:type="ArrayOfAnyType">"#, depth);
        }
        "fault-causes" => {
            xml.push_str("<error>");
            repeat(
                &mut xml,
                r#"<fault xsi:type="SystemError"><faultCause>"#,
                depth,
            );
        }
        "fault-causes-anytype" => {
            xml.push_str(r#"<v xsi:type="LocalizedMethodFault">"#);
            repeat(
                &mut xml,
                r#"<fault xsi:type="InvalidState"><faultCause>"#,
                depth,
            );
        }
        "fault-causes-8-complete" => {
            // A legitimate document: eight nested causes, properly closed.
            xml.push_str("<error>");
            repeat(
                &mut xml,
                r#"<fault xsi:type="SystemError"><reason>r</reason><faultCause>"#,
                8,
            );
            xml.push_str(r#"<fault xsi:type="NotAuthenticated"/>"#);
            repeat(&mut xml, "</faultCause></fault>", 8);
            xml.push_str("</error>");
        }
        "response-fault-detail" => {
            let mut body = envelope(
                r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><SystemErrorFault xsi:type="SystemError">"#,
            );
            body.truncate(body.find("\n</soapenv:Body>").unwrap());
            xml.push_str(&body);
            repeat(
                &mut xml,
                r#"<faultCause><fault xsi:type="SystemError">"#,
                depth,
            );
        }
        "response-array" => {
            let mut body = envelope(
                r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><propSet><name>x</name><val xsi:type="ArrayOfAnyType">"#,
            );
            body.truncate(body.find("\n</soapenv:Body>").unwrap());
            xml.push_str(&body);
            repeat(&mut xml, r#"<anyType xsi:type="ArrayOfAnyType">"#, depth);
        }
        "query-events" | "query-events-failed-power-on" => {
            let reason = if case.ends_with("power-on") {
                r#"<reason><fault xsi:type="InvalidPowerState"><faultCause><fault xsi:type="InvalidState"/></faultCause><requestedState>poweredOn</requestedState><existingState>poweredOn</existingState></fault><localizedMessage>The attempted operation cannot be performed in the current state (Powered on).</localizedMessage></reason>"#
            } else {
                ""
            };
            let ty = if reason.is_empty() {
                "VmPoweredOnEvent"
            } else {
                "VmFailedToPowerOnEvent"
            };
            xml.push_str(&envelope(&format!(
                r#"<QueryEventsResponse xmlns="urn:vim25"><returnval xsi:type="{ty}"><key>1234</key><chainId>1234</chainId>
                <createdTime>2026-11-23T12:00:00.5Z</createdTime><userName>VSPHERE.LOCAL\Administrator</userName>
                <datacenter><name>dc1</name><datacenter type="Datacenter">datacenter-3</datacenter></datacenter>
                <vm><name>web-01</name><vm type="VirtualMachine">vm-42</vm></vm>
                <fullFormattedMessage>Cannot power on web-01</fullFormattedMessage><template>false</template>{reason}</returnval></QueryEventsResponse>"#
            )));
        }
        other => panic!("unknown case {other}"),
    }
    xml.into_bytes()
}

/// What decoding the case's document gives, as text (run in the child process).
fn deep_case_result(case: &str) -> String {
    let input = deep_case_input(case);
    match case {
        "disk-parents" => format!(
            "{:?}",
            decode_element::<VirtualDiskFlatVer2BackingInfo>(&input).map(|_| ())
        ),
        "fault-causes" | "fault-causes-8-complete" => format!(
            "{:?}",
            decode_element::<LocalizedMethodFault>(&input).map(|f| f.fault.type_name().to_string())
        ),
        "response-fault-detail" => format!(
            "{:?}",
            block_on(methods::power_on_vm_task(
                &Canned::new(500, input),
                &ManagedObjectReference::new("VirtualMachine", "vm-1"),
                None
            ))
            .map(|_| ())
        ),
        "response-array" => format!("{:?}", retrieve(&Canned::new(200, input)).map(|_| ())),
        "query-events" | "query-events-failed-power-on" => format!(
            "{:?}",
            block_on(methods::query_events(
                &Canned::new(200, input),
                &ManagedObjectReference::new("EventManager", "EventManager"),
                &EventFilterSpec::default(),
                None
            ))
            .map(|events| events
                .iter()
                .map(|e| e.type_name().to_string())
                .collect::<Vec<_>>())
        ),
        _ => format!(
            "{:?}",
            decode_element::<AnyValue>(&input).map(|v| format!("{v:?}").len())
        ),
    }
}

/// Runs `case` in a child process; `Err` when the child died (stack overflow).
fn run_deep_case(case: &str) -> Result<String, String> {
    // The test's name in the binary: this module's path without the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let child = format!("{module}::deep_nesting_child");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child.as_str(), "--nocapture", "--test-threads=1"])
        .env(DEEP_CASE_ENV, case)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // libtest may print "test deep_nesting_child ... " on the same line.
    let marker = "DEEP-RESULT: ";
    let result = stdout
        .lines()
        .find_map(|l| l.find(marker).map(|i| &l[i + marker.len()..]));
    match result {
        Some(r) if out.status.success() => Ok(r.to_string()),
        _ => Err(format!(
            "child for {case:?} failed ({}): {}",
            out.status,
            stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        )),
    }
}

/// The child half of the deep-nesting tests: does nothing unless run by `run_deep_case`.
#[test]
fn deep_nesting_child() {
    let Ok(case) = std::env::var(DEEP_CASE_ENV) else {
        return;
    };
    let r = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || deep_case_result(&case))
        .unwrap()
        .join()
        .unwrap();
    println!("DEEP-RESULT: {r}");
}

#[test]
fn deep_nesting_of_unknown_elements_is_skipped() {
    // Unknown elements are skipped without recursion: deep but harmless.
    let r = run_deep_case("unknown-elements").unwrap();
    assert!(r.starts_with("Ok("), "{r}");
}

#[test]
fn deep_nesting_of_known_fields_is_refused() {
    for case in ["disk-parents", "array-of-anytype", "response-array"] {
        let r = run_deep_case(case).unwrap();
        assert!(r.contains("nested too deeply"), "{case}: {r}");
    }
}

#[test]
fn decoding_events_fits_in_a_worker_stack() {
    // `AnyEvent::decode` alone takes about 1.4 MiB of stack in unoptimised builds (a slot
    // per variant); an event carrying a fault adds `AnyMethodFault::decode` (~380 KiB).
    let mut failures = Vec::new();
    for case in ["query-events", "query-events-failed-power-on"] {
        match run_deep_case(case) {
            Ok(r) => assert!(r.starts_with("Ok([\"Vm"), "{case}: {r}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "stack overflow: {failures:#?}");
}

#[test]
fn deep_fault_cause_chains_do_not_overflow_the_stack() {
    // Each level of `faultCause` goes through `AnyMethodFault::decode`, whose frame holds
    // a slot for every one of its ~700 variants in unoptimised builds: a few levels use
    // up a 2 MiB stack long before the 256-element depth limit applies.
    let mut failures = Vec::new();
    for case in [
        "fault-causes-8-complete",
        "fault-causes",
        "fault-causes-anytype",
        "response-fault-detail",
    ] {
        match run_deep_case(case) {
            Ok(r) if case.ends_with("complete") => assert!(r.contains("SystemError"), "{r}"),
            Ok(r) => assert!(
                r.contains("nested too deeply") || r.contains("Http"),
                "{case}: {r}"
            ),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "stack overflow: {failures:#?}");
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

#[test]
fn secrets_are_not_in_debug_output() {
    let spec = HostConnectSpec {
        host_name: Some("esx-01.example.com".into()),
        user_name: Some("root".into()),
        password: Some("hunter2-very-secret".into()),
        vim_account_password: Some("other-secret-pw".into()),
        force: true,
        ..Default::default()
    };
    let dbg = format!("{spec:?}");
    assert!(dbg.contains("esx-01.example.com"), "{dbg}");
    assert!(dbg.contains(r#"password: Some("***")"#), "{dbg}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(!dbg.contains("other-secret-pw"), "{dbg}");
    let pretty = format!("{spec:#?}");
    assert!(!pretty.contains("hunter2"), "{pretty}");

    // Still encoded (it has to reach the server) and decoded.
    let xml = encode_element("cnxSpec", &spec, Version::LATEST);
    assert!(
        xml.contains("<password>hunter2-very-secret</password>"),
        "{xml}"
    );
    let back: HostConnectSpec = decode_element(xml.as_bytes()).unwrap();
    assert_eq!(back.password.as_deref(), Some("hunter2-very-secret"));
    assert!(!format!("{back:?}").contains("hunter2"));

    // Nested in other values and type-erased.
    let erased: AnyValue = decode_element(
        br#"<v xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="HostConnectSpec"><password>s3cr3t-erased</password><force>false</force></v>"#,
    )
    .unwrap();
    assert!(!format!("{erased:?}").contains("s3cr3t-erased"));
    let account: AnyHostAccountSpec = decode_element(
        br#"<spec xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="HostPosixAccountSpec"><id>svc</id><password>posix-pw-123</password><posixId>1000</posixId></spec>"#,
    )
    .unwrap();
    assert_eq!(account.password.as_deref(), Some("posix-pw-123"));
    assert!(!format!("{account:?}").contains("posix-pw-123"));
    let unknown: AnyHostAccountSpec = decode_element(
        br#"<spec xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="HostFutureAccountSpec"><id>svc</id><password>future-pw-123</password></spec>"#,
    )
    .unwrap();
    assert!(!format!("{unknown:?}").contains("future-pw-123"));
    let auth = NamePasswordAuthentication {
        username: "guest-user".into(),
        password: "guest-pw-456".into(),
        ..Default::default()
    };
    assert!(!format!("{auth:?}").contains("guest-pw-456"));
}

/// Secrets pyVmomi does not flag, caught by the generator's own rule (`*Passwd`,
/// tokens, the session key, the file-transfer URL): `Debug` shows whether each is set,
/// never its content.
#[test]
fn unflagged_secrets_show_presence_only_in_debug() {
    let spec = HostConfigSpec {
        datastore_principal: Some("svc-nfs".into()),
        datastore_principal_passwd: Some("nfs-pw-789".into()),
        ..Default::default()
    };
    let dbg = format!("{spec:?}");
    assert!(dbg.contains("svc-nfs"), "{dbg}");
    assert!(
        dbg.contains(r#"datastore_principal_passwd: Some("***")"#),
        "{dbg}"
    );
    assert!(!dbg.contains("nfs-pw-789"), "{dbg}");

    let session = UserSession {
        key: "52b1-session-key".into(),
        user_name: "root".into(),
        ..Default::default()
    };
    let dbg = format!("{session:?}");
    assert!(dbg.contains(r#"key: "***""#), "{dbg}");
    assert!(!dbg.contains("52b1-session-key"), "{dbg}");

    let chap = HostInternetScsiHbaAuthenticationProperties {
        chap_secret: Some("chap-s3cret".into()),
        mutual_chap_secret: None,
        ..Default::default()
    };
    let dbg = format!("{chap:?}");
    assert!(dbg.contains(r#"chap_secret: Some("***")"#), "{dbg}");
    assert!(dbg.contains("mutual_chap_secret: None"), "{dbg}");
    assert!(!dbg.contains("chap-s3cret"), "{dbg}");

    let sspi = SSPIAuthentication {
        sspi_token: "sspi-tok-1".into(),
        ..Default::default()
    };
    assert!(!format!("{sspi:?}").contains("sspi-tok-1"));
    let transfer = FileTransferInformation {
        url: "https://esx/guestFile?id=1&token=one-time-ticket".into(),
        size: 3,
        ..Default::default()
    };
    let dbg = format!("{transfer:?}");
    assert!(dbg.contains("size: 3"), "{dbg}");
    assert!(!dbg.contains("one-time-ticket"), "{dbg}");
}

/// The metadata flags the secret parameters pyVmomi marks (which no name rule would
/// find) and no longer calls every parameter named `key` a secret.
#[test]
fn secret_parameters_follow_the_schema() {
    let param = |method: &str, name: &str| {
        let m = meta::METHODS.iter().find(|m| m.name == method).unwrap();
        m.params.iter().find(|p| p.name == name).unwrap().secret
    };
    assert!(param("UploadClientCert", "privateKey"));
    assert!(param("ProvisionServerPrivateKey", "key"));
    assert!(param("CloneSession", "cloneTicket"));
    assert!(param("Login", "password"));
    assert!(!param("QueryConfigOption", "key"));
    assert!(!param("SetField", "key"));
    let returns_secret = |method: &str| {
        meta::METHODS
            .iter()
            .find(|m| m.name == method)
            .unwrap()
            .returns_secret
    };
    assert!(returns_secret("AcquireCloneTicket"));
    assert!(returns_secret("InitiateFileTransferToGuest"));
    assert!(!returns_secret("CurrentTime"));
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

fn sample_disk() -> VirtualDisk {
    let mut backing = VirtualDiskFlatVer2BackingInfo {
        disk_mode: "persistent".into(),
        thin_provisioned: Some(true),
        ..Default::default()
    };
    backing.file_name = "[ds1] vm/vm.vmdk".into();
    backing.datastore = Some(ManagedObjectReference::new("Datastore", "datastore-11"));
    let mut disk = VirtualDisk {
        capacity_in_kb: 1024,
        capacity_in_bytes: Some(1_048_576),
        shares: Some(SharesInfo {
            shares: 1000,
            level: SharesLevel::Normal,
            ..Default::default()
        }),
        iofilter: vec!["f1".into(), "f2".into()],
        guest_read_only: Some(true),
        ..Default::default()
    };
    disk.key = -101;
    disk.backing = Some(backing.into());
    disk.connectable = Some(VirtualDeviceConnectInfo {
        start_connected: true,
        ..Default::default()
    });
    disk.controller_key = Some(1000);
    disk.unit_number = Some(1);
    disk.numa_node = Some(0);
    disk
}

#[test]
fn encoding_follows_schema_order_with_xsi_type() {
    let dev: AnyVirtualDevice = sample_disk().into();
    let xml = encode_element("device", &dev, Version::LATEST);
    assert!(xml.starts_with(
        r#"<device xmlns="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VirtualDisk"><key>-101</key>"#
    ), "{xml}");
    // VirtualDevice's fields first, in schema order, then VirtualDisk's.
    let order = [
        "<key>",
        "<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\">",
        "<fileName>",
        "<datastore type=\"Datastore\">datastore-11</datastore>",
        "<diskMode>",
        "<thinProvisioned>",
        "</backing>",
        "<connectable>",
        "<controllerKey>",
        "<unitNumber>",
        "<numaNode>",
        "<capacityInKB>",
        "<capacityInBytes>",
        "<shares>",
        "<iofilter>f1</iofilter><iofilter>f2</iofilter>",
        "<guestReadOnly>",
    ];
    let mut last = 0;
    for o in order {
        let p = pos(&xml, o);
        assert!(p > last, "{o} out of order in {xml}");
        last = p;
    }
    // Required fields are written even at their defaults; unset optional ones are not.
    assert!(xml.contains("<connectable><startConnected>true</startConnected><allowGuestControl>false</allowGuestControl><connected>false</connected></connectable>"), "{xml}");
    assert!(!xml.contains("<deviceInfo"));
    assert!(!xml.contains("<split>"));
    // Non-polymorphic slots have no xsi:type.
    assert!(!xml.contains("<connectable xsi:type"));
    assert!(!xml.contains("<shares xsi:type"));
    assert_eq!(
        decode_element::<AnyVirtualDevice>(xml.as_bytes()).unwrap(),
        dev
    );

    // anyType slots carry the xsd type.
    let opts = vec![
        AnyOptionValue::from(OptionValue {
            key: "a".into(),
            value: Some("x < y".into()),
            ..Default::default()
        }),
        OptionValue {
            key: "b".into(),
            value: Some(AnyValue::Int(7)),
            ..Default::default()
        }
        .into(),
        OptionValue {
            key: "c".into(),
            value: Some(AnyValue::Mor(ManagedObjectReference::new(
                "Folder", "group-v3",
            ))),
            ..Default::default()
        }
        .into(),
    ];
    let spec = VirtualMachineConfigSpec {
        extra_config: opts,
        ..Default::default()
    };
    let xml = encode_element("spec", &spec, Version::LATEST);
    assert!(xml.contains(r#"<extraConfig xsi:type="OptionValue"><key>a</key><value xsi:type="xsd:string">x &lt; y</value></extraConfig>"#), "{xml}");
    assert!(
        xml.contains(r#"<value xsi:type="xsd:int">7</value>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<value type="Folder" xsi:type="ManagedObjectReference">group-v3</value>"#),
        "{xml}"
    );
    assert_eq!(
        decode_element::<VirtualMachineConfigSpec>(xml.as_bytes()).unwrap(),
        spec
    );
}

#[test]
fn encoding_escapes_text_and_attributes() {
    let mor = ManagedObjectReference::new("Weird\"<&>Type", "id-<1>&\"2\"\r\n");
    let xml = encode_element("obj", &mor, Version::LATEST);
    let back: ManagedObjectReference = decode_element(xml.as_bytes()).unwrap();
    assert_eq!(back, mor);
    let s = String::from("tab\tquote\"apos'amp&lt<gt>cr\r\nnl \u{1F600} ]]>");
    let xml = encode_element("s", &s, Version::LATEST);
    assert_eq!(decode_element::<String>(xml.as_bytes()).unwrap(), s);
}

fn field_since(ty: &str, field: &str) -> Version {
    meta::DATA_TYPES
        .iter()
        .find(|t| t.name == ty)
        .and_then(|t| t.fields.iter().find(|f| f.name == field))
        .map(|f| f.since)
        .unwrap_or_else(|| panic!("no field {ty}.{field}"))
}

#[test]
fn version_gating_leaves_out_newer_fields() {
    // The metadata says when each field appeared.
    let sev_snp = field_since("VirtualMachineConfigSpec", "sevSnpEnabled");
    let numa = field_since("VirtualDevice", "numaNode");
    let name = field_since("VirtualMachineConfigSpec", "name");
    assert_eq!(sev_snp, Version::V9_0_0_0);
    assert_eq!(numa, Version::V8_0_0_1);
    assert_eq!(name, Version::V2_5);
    let old = Version::V6_5;
    assert!(old < numa && old < sev_snp);

    // Base-type fields are set through Deref, which struct-update syntax cannot reach.
    #[allow(clippy::field_reassign_with_default)]
    let nic = {
        let mut nic = VirtualVmxnet3::default();
        nic.key = -100;
        nic.numa_node = Some(1);
        nic.uptv2_enabled = Some(true);
        nic
    };
    let spec = VirtualMachineConfigSpec {
        name: Some("gated".into()),
        sev_snp_enabled: Some(true),
        tdx_enabled: Some(false),
        device_change: vec![VirtualDeviceConfigSpec {
            operation: Some(VirtualDeviceConfigSpecOperation::Add),
            device: nic.into(),
            ..Default::default()
        }
        .into()],
        ..Default::default()
    };

    let latest = encode_element("spec", &spec, Version::LATEST);
    assert!(
        latest.contains("<sevSnpEnabled>true</sevSnpEnabled>"),
        "{latest}"
    );
    assert!(
        latest.contains("<tdxEnabled>false</tdxEnabled>"),
        "{latest}"
    );
    assert!(latest.contains("<numaNode>1</numaNode>"), "{latest}");
    assert!(
        latest.contains("<uptv2Enabled>true</uptv2Enabled>"),
        "{latest}"
    );
    assert_eq!(
        decode_element::<VirtualMachineConfigSpec>(latest.as_bytes()).unwrap(),
        spec
    );

    let old_xml = encode_element("spec", &spec, old);
    assert!(old_xml.contains("<name>gated</name>"), "{old_xml}");
    assert!(old_xml.contains("<operation>add</operation>"), "{old_xml}");
    assert!(
        old_xml.contains(r#"<device xsi:type="VirtualVmxnet3"><key>-100</key>"#),
        "{old_xml}"
    );
    assert!(!old_xml.contains("sevSnpEnabled"), "{old_xml}");
    assert!(!old_xml.contains("tdxEnabled"), "{old_xml}");
    assert!(!old_xml.contains("numaNode"), "{old_xml}");
    assert!(!old_xml.contains("uptv2Enabled"), "{old_xml}");

    // Just before and at the version that introduced the field.
    let before = encode_element("spec", &spec, Version::V8_0_3_1);
    assert!(
        !before.contains("sevSnpEnabled") && before.contains("numaNode"),
        "{before}"
    );
    let at = encode_element("spec", &spec, Version::V9_0_0_0);
    assert!(at.contains("sevSnpEnabled"), "{at}");

    // The same gating through a method call on a transport that negotiated 6.5.
    let t = Canned::new(
        200,
        envelope(r#"<ReconfigVM_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-7</returnval></ReconfigVM_TaskResponse>"#),
    )
    .with_version(old);
    let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
    let task = block_on(methods::reconfig_vm_task(&t, &vm, &spec)).unwrap();
    assert_eq!(task, ManagedObjectReference::new("Task", "task-7"));
    let (req, _) = t.last_request();
    assert_eq!(req.version, old);
    assert!(
        req.body.contains("<spec><name>gated</name>"),
        "{}",
        req.body
    );
    assert!(!req.body.contains("sevSnpEnabled") && !req.body.contains("numaNode"));
}

// ---------------------------------------------------------------------------------------
// Request envelopes
// ---------------------------------------------------------------------------------------

/// Checks that `body` is well-formed XML with the SOAP envelope structure and returns the
/// local names of the elements directly inside the operation element.
fn envelope_children(body: &str, operation: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(body);
    r.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut children = Vec::new();
    let mut saw_decl = false;
    loop {
        match r.read_event().expect("well-formed request") {
            Event::Decl(_) => saw_decl = true,
            Event::Start(s) => {
                let name = String::from_utf8(s.name().as_ref().to_vec()).unwrap();
                if stack.len() == 3 {
                    children.push(name.clone());
                }
                stack.push(name);
            }
            Event::Empty(s) => {
                if stack.len() == 3 {
                    children.push(String::from_utf8(s.name().as_ref().to_vec()).unwrap());
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {
                if stack.len() == 1 && stack[0] == "soapenv:Envelope" {
                    // nothing but Body is expected
                }
            }
        }
        if stack.len() == 3 {
            assert_eq!(
                stack,
                ["soapenv:Envelope", "soapenv:Body", operation],
                "envelope shape"
            );
        }
    }
    assert!(saw_decl);
    assert!(stack.is_empty());
    children
}

#[test]
fn request_envelope_power_on() {
    let t = Canned::new(
        200,
        envelope(
            r#"<PowerOnVM_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-101</returnval></PowerOnVM_TaskResponse>"#,
        ),
    );
    let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
    let task = block_on(methods::power_on_vm_task(&t, &vm, None)).unwrap();
    assert_eq!(task, ManagedObjectReference::new("Task", "task-101"));
    let (req, idempotent) = t.last_request();
    assert!(!idempotent);
    assert_eq!(req.operation, "PowerOnVM_Task");
    assert_eq!(req.version, Version::LATEST);
    assert_eq!(
        req.body,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
            r#"<soapenv:Body><PowerOnVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-42</_this></PowerOnVM_Task></soapenv:Body></soapenv:Envelope>"#
        )
    );
    assert_eq!(envelope_children(&req.body, "PowerOnVM_Task"), ["_this"]);

    let host = ManagedObjectReference::new("HostSystem", "host-7");
    block_on(methods::power_on_vm_task(&t, &vm, Some(&host))).unwrap();
    let (req, _) = t.last_request();
    assert!(req.body.contains(
        r#"<_this type="VirtualMachine">vm-42</_this><host type="HostSystem">host-7</host></PowerOnVM_Task>"#
    ), "{}", req.body);
    assert_eq!(
        envelope_children(&req.body, "PowerOnVM_Task"),
        ["_this", "host"]
    );
}

#[test]
fn request_envelope_login_hides_password() {
    let t = Canned::new(
        200,
        envelope(
            r#"<LoginResponse xmlns="urn:vim25"><returnval><key>52a1c3e0-aaaa-bbbb-cccc-0123456789ab</key>
            <userName>VSPHERE.LOCAL\Administrator</userName><fullName>Administrator vsphere.local</fullName>
            <loginTime>2026-11-23T12:00:00.123Z</loginTime><lastActiveTime>2026-11-23T12:00:00.123Z</lastActiveTime>
            <locale>en</locale><messageLocale>en</messageLocale><extensionSession>false</extensionSession>
            <ipAddress>10.0.0.5</ipAddress><userAgent>vsphere-rs</userAgent><callCount>0</callCount></returnval></LoginResponse>"#,
        ),
    );
    let sm = ManagedObjectReference::new("SessionManager", "SessionManager");
    let password = "P@ss<w0rd>&\"secret\"";
    let session = block_on(methods::login(
        &t,
        &sm,
        "administrator@vsphere.local",
        password,
        Some("en"),
    ))
    .unwrap();
    assert_eq!(session.user_name, "VSPHERE.LOCAL\\Administrator");
    assert_eq!(session.login_time.as_str(), "2026-11-23T12:00:00.123Z");
    assert_eq!(session.call_count, Some(0));
    assert_eq!(session.extension_session, Some(false));

    let (req, idempotent) = t.last_request();
    assert!(!idempotent);
    assert_eq!(req.operation, "Login");
    assert_eq!(
        envelope_children(&req.body, "Login"),
        ["_this", "userName", "password", "locale"]
    );
    assert!(req.body.contains(
        r#"<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>administrator@vsphere.local</userName><password>P@ss&lt;w0rd&gt;&amp;&quot;secret&quot;</password><locale>en</locale></Login>"#
    ), "{}", req.body);
    let dbg = format!("{req:?}");
    assert!(dbg.contains("Login"), "{dbg}");
    assert!(
        !dbg.contains("P@ss") && !dbg.contains("w0rd") && !dbg.contains("secret"),
        "{dbg}"
    );
    assert!(!format!("{req:#?}").contains("w0rd"));
}
