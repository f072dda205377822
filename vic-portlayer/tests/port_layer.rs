//! The composed port layer on both backends: the seed's containerVM created,
//! started, stopped and removed, with its disk, NIC, serial port and CD-ROM checked
//! on the VM as the backend reads it (the property collector, on the simulator).

use crate::common;

use std::collections::BTreeMap;
use std::io::Cursor;

use common::{bounded, spawn_guest, Fixture, GuestPlay, BRIDGE};
use vic_portlayer::backend::{PowerState, VmDetail};
use vic_portlayer::exec::ContainerState;
use vic_portlayer::network::NetworkConfig;
use vic_portlayer::{ContainerSpec, PortLayer, PortLayerConfig};
use vim25::types::{AnyVirtualDevice, AnyVirtualDeviceBackingInfo};

async fn port_layer(fx: &Fixture) -> PortLayer {
    let config = PortLayerConfig {
        exec: fx.settings.clone(),
        network: NetworkConfig::new(BRIDGE),
    };
    PortLayer::new(fx.backend.clone(), config).await.unwrap()
}

async fn seed_container(fx: Fixture) {
    let pl = port_layer(&fx).await;
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::Start);
    pl.storage().create_image_store("default").await.unwrap();
    let layer = b"hello layer".to_vec();
    let len = layer.len() as u64;
    let image = pl
        .storage()
        .write_image(
            "default",
            "scratch",
            &"a".repeat(64),
            BTreeMap::new(),
            Cursor::new(layer),
            len,
        )
        .await
        .unwrap();

    let spec = ContainerSpec {
        name: Some("jolly_panini".into()),
        image: Some(image.clone()),
        repo: Some("hello-world".into()),
        path: "/hello".into(),
        args: vec!["/hello".into()],
        serial_uri: Some("tcp://127.0.0.1:2377".into()),
        logging: true,
        ..Default::default()
    };
    let h = pl.create_container(spec).await.unwrap();
    let id = h.id().clone();
    let info = bounded("create", pl.exec().commit(h)).await.unwrap();
    assert_eq!(info.state, ContainerState::Created);

    let vm = fx
        .backend
        .vm_by_name(id.as_str(), VmDetail::Full)
        .await
        .unwrap()
        .expect("the containerVM");
    // The disk: a child of the image's disk, in the containerVM's folder.
    let disk = vm
        .devices
        .iter()
        .find_map(|d| match d {
            AnyVirtualDevice::VirtualDisk(disk) => Some(disk),
            _ => None,
        })
        .expect("a disk");
    let Some(AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b)) = &disk.backing else {
        panic!("disk backing: {:?}", disk.backing);
    };
    assert!(b.file_name.contains(id.as_str()), "{}", b.file_name);
    let parent = b.parent.as_ref().expect("the disk has a parent");
    assert_eq!(parent.file_name, image.disk.to_string());
    // One NIC, on the bridge port group.
    let nics: Vec<_> = vm
        .devices
        .iter()
        .filter_map(vim25::object::device::as_ethernet_card)
        .collect();
    assert_eq!(nics.len(), 1);
    assert!(
        matches!(&nics[0].backing, Some(AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(n)) if n.base_.device_name == BRIDGE),
        "{:?}",
        nics[0].backing
    );
    // The serial ports: the network one in client direction, the log file.
    let serial = vic_portlayer::interaction::serial_ports(&vm.devices);
    assert_eq!(serial.len(), 2, "{serial:?}");
    assert!(serial.iter().any(|p| matches!(&p.target,
        vic_portlayer::interaction::SerialTarget::Uri { uri, direction } if uri == "tcp://127.0.0.1:2377" && direction == "client")));
    // The bootstrap CD-ROM.
    assert!(vm.devices.iter().any(|d| matches!(&d.backing,
        Some(AnyVirtualDeviceBackingInfo::VirtualCdromIsoBackingInfo(b)) if b.file_name.ends_with("bootstrap.iso"))));
    // The executor config: session, endpoint.
    let config = vic_portlayer::exec::decode_config(&vm).unwrap();
    assert_eq!(
        config.sessions[id.as_str()].cmd.path.as_deref(),
        Some("/hello")
    );
    assert!(config.networks.contains_key("bridge"));
    assert_eq!(config.layer_id.as_deref(), Some(image.id.as_str()));

    // Start: an address from the bridge scope, interaction port connected.
    let info = bounded("start", pl.start_container(&id)).await.unwrap();
    assert_eq!(info.state, ContainerState::Running);
    let ip = info.config.networks["bridge"].assigned.ip;
    assert!(ip.is_some(), "{:?}", info.config.networks["bridge"]);
    assert!(pl
        .network()
        .lookup_address(ip.unwrap().to_ip_addr())
        .await
        .is_some());
    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    let port = vic_portlayer::interaction::interaction_port(&vm.devices).unwrap();
    assert!(port.start_connected);

    // The image is in use now.
    let err = pl
        .storage()
        .delete_image("default", &image.id)
        .await
        .unwrap_err();
    assert!(matches!(err, vic_portlayer::Error::InUse { .. }), "{err}");

    // A restarted control plane sees the same container and state.
    let restarted = port_layer(&fx).await;
    let listed = restarted.exec().list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, ContainerState::Running);

    let info = bounded("stop", pl.stop_container(&id)).await.unwrap();
    assert_eq!(info.power_state, PowerState::PoweredOff);
    assert_eq!(info.state, ContainerState::Stopped);
    bounded("remove", pl.remove_container(&id, false))
        .await
        .unwrap();
    assert!(!pl.exists(&id).await.unwrap());
    pl.storage()
        .delete_image("default", &image.id)
        .await
        .unwrap();
}
both_backends!(seed_container_lifecycle, super::seed_container);
