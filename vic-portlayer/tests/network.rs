//! Network scopes and container endpoints on both backends: the same bodies run on
//! the memory backend and on the vSphere backend against govmomi's simulator.

use crate::common;

use std::net::IpAddr;

use common::{bounded, Fixture, BRIDGE, EXTERNAL};
use vic_config::types::Ip;
use vic_portlayer::backend::VmDetail;
use vic_portlayer::exec::Handle;
use vic_portlayer::kv::KvStore;
use vic_portlayer::network::{
    EndpointOptions, Network, NetworkConfig, ScopeKind, ScopeSpec, TrustLevel, DEFAULT_BRIDGE,
};
use vic_portlayer::{ContainerId, Error};
use vim25::object::device;
use vim25::types::{AnyVirtualDevice, AnyVirtualDeviceBackingInfo};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn network(fx: &Fixture) -> Network {
    let kv = KvStore::open(fx.backend.clone(), "network").await.unwrap();
    Network::new(fx.backend.clone(), kv, NetworkConfig::new(BRIDGE))
        .await
        .unwrap()
}

/// The port groups of the NICs among `devices`, sorted.
fn nic_port_groups(devices: &[AnyVirtualDevice]) -> Vec<String> {
    let mut v: Vec<String> = devices
        .iter()
        .filter(|d| device::as_ethernet_card(d).is_some())
        .map(|d| match &d.backing {
            Some(AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(b)) => {
                b.base_.device_name.clone()
            }
            other => format!("{other:?}"),
        })
        .collect();
    v.sort();
    v
}

fn new_handle(fx: &Fixture) -> Handle {
    fx.exec()
        .create_handle(ContainerId::random(), Default::default())
        .unwrap()
}

fn opts(ip: Option<&str>, aliases: &[&str]) -> EndpointOptions {
    EndpointOptions {
        ip: ip.map(|s| s.parse().unwrap()),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        ports: Vec::new(),
    }
}

async fn scopes(fx: Fixture) {
    let net = network(&fx).await;
    let bridge = net.scope(DEFAULT_BRIDGE).await.unwrap();
    assert_eq!(bridge.kind, ScopeKind::Bridge);
    assert_eq!(bridge.subnet.unwrap().to_string(), "172.16.0.0/16");
    assert_eq!(bridge.gateway, Some(ip("172.16.0.1")));
    assert_eq!(bridge.dns, vec![ip("172.16.0.1")]);
    assert_eq!(bridge.port_group, BRIDGE);

    // Bridge scopes take the next free /16 unless given one.
    let b2 = net.create_scope(ScopeSpec::bridge("b2")).await.unwrap();
    assert_eq!(b2.subnet.unwrap().to_string(), "172.17.0.0/16");
    let mut spec = ScopeSpec::bridge("b3");
    spec.subnet = Some("172.20.0.0/16".parse().unwrap());
    let b3 = net.create_scope(spec).await.unwrap();
    assert_eq!(b3.gateway, Some(ip("172.20.0.1")));
    let b4 = net.create_scope(ScopeSpec::bridge("b4")).await.unwrap();
    assert_eq!(b4.subnet.unwrap().to_string(), "172.18.0.0/16");

    // External: static and DHCP, on a port group the VCH can attach to.
    let mut spec = ScopeSpec::external("ext", EXTERNAL);
    spec.subnet = Some("10.10.0.0/24".parse().unwrap());
    spec.gateway = Some(ip("10.10.0.1"));
    spec.ip_ranges = vec!["10.10.0.100-10.10.0.199".parse().unwrap()];
    spec.dns = vec![ip("10.10.0.2")];
    spec.trust_level = Some(TrustLevel::Open);
    let ext = net.create_scope(spec).await.unwrap();
    assert_eq!(ext.kind, ScopeKind::External);
    assert_eq!(ext.port_group, EXTERNAL);
    let dhcp = net
        .create_scope(ScopeSpec::external("dhcp", EXTERNAL))
        .await
        .unwrap();
    assert!(dhcp.is_dhcp());

    // Bad requests: typed errors, nothing created.
    let before = net.scopes().await;
    let err = net.create_scope(ScopeSpec::bridge("b2")).await.unwrap_err();
    assert!(matches!(err, Error::Exists { kind: "scope", .. }), "{err}");
    let err = net
        .create_scope(ScopeSpec::external("nowhere", "no-such-port-group"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let mut spec = ScopeSpec::bridge("overlap");
    spec.subnet = Some("172.20.128.0/17".parse().unwrap());
    assert!(matches!(
        net.create_scope(spec).await,
        Err(Error::InUse { .. })
    ));
    let mut spec = ScopeSpec::external("overlap", EXTERNAL);
    spec.subnet = Some("10.10.0.0/16".parse().unwrap());
    assert!(matches!(
        net.create_scope(spec).await,
        Err(Error::InUse { .. })
    ));
    let mut spec = ScopeSpec::external("badgw", EXTERNAL);
    spec.subnet = Some("10.11.0.0/24".parse().unwrap());
    spec.gateway = Some(ip("10.12.0.1"));
    assert!(matches!(
        net.create_scope(spec).await,
        Err(Error::InvalidInput(_))
    ));
    let mut spec = ScopeSpec::external("dhcpgw", EXTERNAL);
    spec.gateway = Some(ip("10.12.0.1"));
    assert!(matches!(
        net.create_scope(spec).await,
        Err(Error::InvalidInput(_))
    ));
    let mut spec = ScopeSpec::bridge("otherpg");
    spec.port_group = Some(EXTERNAL.into());
    assert!(matches!(
        net.create_scope(spec).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        net.create_scope(ScopeSpec::bridge("bad/name")).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        net.create_scope(ScopeSpec::external("nopg", "")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(net.scopes().await, before);

    let names: Vec<String> = net.scopes().await.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b2", "b3", "b4", "bridge", "dhcp", "ext"]);

    // A restarted control plane sees the same scopes, IDs and all.
    let again = network(&fx).await;
    assert_eq!(again.scopes().await, net.scopes().await);

    // Delete: the default bridge stays; unknown is not found; the subnet comes free.
    assert!(matches!(
        net.delete_scope(DEFAULT_BRIDGE).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(net.delete_scope("nope").await.unwrap_err().is_not_found());
    net.delete_scope("b2").await.unwrap();
    net.delete_scope("ext").await.unwrap();
    assert!(net.scope("b2").await.unwrap_err().is_not_found());
    let b5 = net.create_scope(ScopeSpec::bridge("b5")).await.unwrap();
    assert_eq!(b5.subnet.unwrap().to_string(), "172.17.0.0/16");
    let again = network(&fx).await;
    let names: Vec<String> = again.scopes().await.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b3", "b4", "b5", "bridge", "dhcp"]);
}
both_backends!(network_scopes, super::scopes);

async fn containers(fx: Fixture) {
    let net = network(&fx).await;
    net.create_scope(ScopeSpec::bridge("b2")).await.unwrap();
    let mut spec = ScopeSpec::external("ext", EXTERNAL);
    spec.subnet = Some("10.10.0.0/24".parse().unwrap());
    spec.gateway = Some(ip("10.10.0.1"));
    net.create_scope(spec).await.unwrap();
    net.create_scope(ScopeSpec::external("dhcp", EXTERNAL))
        .await
        .unwrap();

    // Add: endpoints in the config, one NIC per distinct port group.
    let mut h = new_handle(&fx);
    let id = h.id().clone();
    let mut o = opts(None, &["web"]);
    o.ports = vec!["80/tcp".into()];
    net.add_container(&mut h, DEFAULT_BRIDGE, o).await.unwrap();
    {
        let ep = &h.config().networks[DEFAULT_BRIDGE];
        assert_eq!(ep.static_ip, Some(false));
        assert_eq!(ep.ip, None);
        assert_eq!(ep.network.aliases, vec!["web"]);
        assert_eq!(ep.ports, vec!["80/tcp"]);
        assert_eq!(ep.network.network_type.as_deref(), Some("bridge"));
        assert_eq!(ep.network.default, Some(true));
    }
    assert_eq!(nic_port_groups(&h.devices()), [BRIDGE]);
    net.add_container(&mut h, "ext", opts(Some("10.10.0.5"), &[]))
        .await
        .unwrap();
    net.add_container(&mut h, "b2", opts(None, &["web"]))
        .await
        .unwrap();
    assert_eq!(nic_port_groups(&h.devices()), [EXTERNAL, BRIDGE]);
    assert_eq!(h.config().networks["ext"].network.default, Some(false));
    // Twice in one scope.
    let err = net
        .add_container(&mut h, "b2", EndpointOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Exists {
                kind: "endpoint",
                ..
            }
        ),
        "{err}"
    );

    // Bind: addresses, gateway and DNS filled in; lookups answer.
    net.bind(&mut h).await.unwrap();
    let cfg = h.config().clone();
    let bridge_ep = &cfg.networks[DEFAULT_BRIDGE];
    assert_eq!(
        bridge_ep.assigned.ip,
        Some(Ip::V4("172.16.0.2".parse().unwrap()))
    );
    assert_eq!(
        bridge_ep.ip.as_ref().and_then(|n| n.ip),
        bridge_ep.assigned.ip
    );
    assert_eq!(
        bridge_ep.network.gateway.ip,
        Some(Ip::V4("172.16.0.1".parse().unwrap()))
    );
    assert_eq!(
        bridge_ep.network.gateway.mask.as_ref().map(|m| m.0.clone()),
        Some(vec![255, 255, 0, 0])
    );
    assert_eq!(
        bridge_ep.network.nameservers,
        vec![Ip::V4("172.16.0.1".parse().unwrap())]
    );
    assert_eq!(
        cfg.networks["ext"].assigned.ip,
        Some(Ip::V4("10.10.0.5".parse().unwrap()))
    );
    assert_eq!(
        cfg.networks["b2"].assigned.ip,
        Some(Ip::V4("172.17.0.2".parse().unwrap()))
    );
    assert_eq!(
        net.lookup_alias(DEFAULT_BRIDGE, "web").await,
        Some(id.clone())
    );
    assert_eq!(net.lookup_alias("b2", "web").await, Some(id.clone()));
    assert_eq!(net.lookup_alias("ext", "web").await, None);
    assert_eq!(
        net.lookup_address(ip("172.16.0.2")).await,
        Some((DEFAULT_BRIDGE.to_string(), id.clone()))
    );
    assert_eq!(
        net.lookup_address(ip("10.10.0.5")).await,
        Some(("ext".to_string(), id.clone()))
    );
    let eps = net.endpoints(DEFAULT_BRIDGE).await.unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].container, id);
    assert_eq!(eps[0].ports, vec!["80/tcp"]);
    // Binding again changes nothing.
    net.bind(&mut h).await.unwrap();
    assert_eq!(h.config(), &cfg);

    // Commit: the VM has the two NICs and the endpoint keys.
    let exec = fx.exec();
    let info = bounded("commit", exec.commit(h)).await.unwrap();
    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    assert_eq!(nic_port_groups(&vm.devices), [EXTERNAL, BRIDGE]);
    assert_eq!(
        vm.extra_config
            .get("guestinfo.vice./networks")
            .map(String::as_str),
        Some("b2|bridge|ext")
    );
    // 172.16.0.2, as the guest reads it.
    assert_eq!(
        vm.extra_config
            .get("guestinfo.vice..networks|bridge.assigned.IP")
            .map(String::as_str),
        Some("rBAAAg==")
    );
    assert_eq!(
        vm.extra_config
            .get("guestinfo.vice./networks|bridge/network/gateway/Mask")
            .map(String::as_str),
        Some("//8AAA==")
    );
    let decoded = vic_portlayer::exec::decode_config(&vm).unwrap();
    assert_eq!(decoded.networks, cfg.networks);

    // Bad input for a second container: typed errors, the handle unchanged.
    let mut h2 = new_handle(&fx);
    let snapshot = (h2.config().clone(), h2.device_changes().len());
    let err = net
        .add_container(&mut h2, DEFAULT_BRIDGE, opts(None, &["web"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Exists { kind: "alias", .. }), "{err}");
    let err = net
        .add_container(&mut h2, DEFAULT_BRIDGE, opts(Some("10.99.0.1"), &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let err = net
        .add_container(&mut h2, DEFAULT_BRIDGE, opts(Some("172.16.0.2"), &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InUse {
                kind: "address",
                ..
            }
        ),
        "{err}"
    );
    let err = net
        .add_container(&mut h2, DEFAULT_BRIDGE, opts(Some("172.16.0.1"), &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "the gateway: {err}");
    let err = net
        .add_container(&mut h2, "dhcp", opts(Some("10.0.0.9"), &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let err = net
        .add_container(&mut h2, "nope", EndpointOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = net
        .add_container(&mut h2, DEFAULT_BRIDGE, opts(None, &["a", "a"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!((h2.config().clone(), h2.device_changes().len()), snapshot);

    // A requested address is kept; the next container gets the next free one.
    net.add_container(&mut h2, DEFAULT_BRIDGE, opts(Some("172.16.0.9"), &["db"]))
        .await
        .unwrap();
    net.add_container(&mut h2, "dhcp", EndpointOptions::default())
        .await
        .unwrap();
    net.bind(&mut h2).await.unwrap();
    assert_eq!(
        h2.config().networks[DEFAULT_BRIDGE].assigned.ip,
        Some(Ip::V4("172.16.0.9".parse().unwrap()))
    );
    assert_eq!(h2.config().networks["dhcp"].assigned.ip, None);
    let mut h3 = new_handle(&fx);
    net.add_container(&mut h3, DEFAULT_BRIDGE, EndpointOptions::default())
        .await
        .unwrap();
    net.bind(&mut h3).await.unwrap();
    assert_eq!(
        h3.config().networks[DEFAULT_BRIDGE].assigned.ip,
        Some(Ip::V4("172.16.0.3".parse().unwrap()))
    );

    // A bind that fails part way reserves nothing: h4 asks for a free address in
    // one scope and a taken one in another.
    let mut h4 = new_handle(&fx);
    net.add_container(&mut h4, "b2", opts(Some("172.17.0.50"), &[]))
        .await
        .unwrap();
    net.add_container(&mut h4, "ext", opts(Some("10.10.0.6"), &[]))
        .await
        .unwrap();
    let mut h5 = new_handle(&fx);
    net.add_container(&mut h5, "ext", opts(Some("10.10.0.6"), &[]))
        .await
        .unwrap();
    net.bind(&mut h5).await.unwrap();
    let before = h4.config().clone();
    let err = net.bind(&mut h4).await.unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err}");
    assert_eq!(h4.config(), &before);
    assert_eq!(net.lookup_address(ip("172.17.0.50")).await, None);

    // A scope with bound containers cannot be deleted.
    let err = net.delete_scope("b2").await.unwrap_err();
    assert!(matches!(err, Error::InUse { kind: "scope", .. }), "{err}");

    // Unbind releases; the user's address stays requested, the automatic one goes.
    let mut h = exec.get(&id).await.unwrap();
    net.unbind(&mut h).await.unwrap();
    assert_eq!(net.lookup_alias(DEFAULT_BRIDGE, "web").await, None);
    assert_eq!(net.lookup_address(ip("172.16.0.2")).await, None);
    assert!(net.endpoints("b2").await.unwrap().is_empty());
    let cfg = h.config();
    assert_eq!(cfg.networks[DEFAULT_BRIDGE].assigned.ip, None);
    assert_eq!(cfg.networks[DEFAULT_BRIDGE].ip, None);
    assert_eq!(
        cfg.networks["ext"].ip.as_ref().and_then(|n| n.ip),
        Some(Ip::V4("10.10.0.5".parse().unwrap()))
    );
    net.delete_scope("b2").await.unwrap();

    // Remove: the endpoint goes; the NIC only when no other endpoint needs it.
    net.remove_container(&mut h, "b2").await.unwrap();
    assert!(!h.config().networks.contains_key("b2"));
    assert_eq!(nic_port_groups(&h.devices()), [EXTERNAL, BRIDGE]);
    net.remove_container(&mut h, "ext").await.unwrap();
    assert_eq!(nic_port_groups(&h.devices()), [BRIDGE]);
    assert!(net
        .remove_container(&mut h, "ext")
        .await
        .unwrap_err()
        .is_not_found());
    let info = bounded("commit removal", exec.commit(h)).await.unwrap();
    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    assert_eq!(nic_port_groups(&vm.devices), [BRIDGE]);
    let decoded = vic_portlayer::exec::decode_config(&vm).unwrap();
    assert_eq!(
        decoded.networks.keys().collect::<Vec<_>>(),
        [DEFAULT_BRIDGE]
    );
    assert_eq!(decoded.networks[DEFAULT_BRIDGE].network.default, Some(true));

    // A handle on the existing VM already has the bridge NIC: joining another
    // bridge scope adds none.
    net.create_scope(ScopeSpec::bridge("b6")).await.unwrap();
    let mut h = exec.get(&id).await.unwrap();
    net.add_container(&mut h, "b6", EndpointOptions::default())
        .await
        .unwrap();
    assert!(h.device_changes().is_empty(), "{:?}", h.device_changes());
}
both_backends!(network_containers, super::containers);

async fn restore(fx: Fixture) {
    let net = network(&fx).await;
    let exec = fx.exec();
    let mut h = new_handle(&fx);
    let id = h.id().clone();
    net.add_container(&mut h, DEFAULT_BRIDGE, opts(None, &["web"]))
        .await
        .unwrap();
    net.bind(&mut h).await.unwrap();
    bounded("commit", exec.commit(h)).await.unwrap();

    // A restarted control plane knows the scopes but not the bindings...
    let restarted = network(&fx).await;
    assert_eq!(restarted.lookup_alias(DEFAULT_BRIDGE, "web").await, None);
    // ...until it restores them from the containers' configs.
    let info = exec.inspect(&id).await.unwrap();
    let problems = restarted
        .restore(&[(id.clone(), info.config.clone())])
        .await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        restarted.lookup_alias(DEFAULT_BRIDGE, "web").await,
        Some(id.clone())
    );
    assert_eq!(
        restarted.lookup_address(ip("172.16.0.2")).await,
        Some((DEFAULT_BRIDGE.to_string(), id.clone()))
    );
    // Restoring twice is harmless.
    assert!(restarted
        .restore(&[(id.clone(), info.config.clone())])
        .await
        .is_empty());

    // The restored address is not handed out again.
    let mut h2 = new_handle(&fx);
    restarted
        .add_container(&mut h2, DEFAULT_BRIDGE, EndpointOptions::default())
        .await
        .unwrap();
    restarted.bind(&mut h2).await.unwrap();
    assert_eq!(
        h2.config().networks[DEFAULT_BRIDGE].assigned.ip,
        Some(Ip::V4("172.16.0.3".parse().unwrap()))
    );

    // A config claiming a taken address, or an unknown scope, is reported; the
    // rest is restored.
    let other = ContainerId::random();
    let mut clash = info.config.clone();
    clash
        .networks
        .get_mut(DEFAULT_BRIDGE)
        .unwrap()
        .network
        .aliases = vec!["other".into()];
    let mut ghost = clash.clone();
    let ep = ghost.networks.remove(DEFAULT_BRIDGE).unwrap();
    ghost.networks.insert("gone".into(), ep);
    let third = ContainerId::random();
    let mut fine = info.config.clone();
    let ep = fine.networks.get_mut(DEFAULT_BRIDGE).unwrap();
    ep.network.aliases = vec!["third".into()];
    ep.ip = None;
    ep.assigned.ip = Some(Ip::V4("172.16.0.77".parse().unwrap()));
    let problems = restarted
        .restore(&[
            (other.clone(), clash),
            (other.clone(), ghost),
            (third.clone(), fine),
        ])
        .await;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.container == other));
    assert!(problems
        .iter()
        .any(|p| p.error.is_not_found() && p.scope == "gone"));
    assert_eq!(restarted.lookup_alias(DEFAULT_BRIDGE, "other").await, None);
    assert_eq!(
        restarted.lookup_alias(DEFAULT_BRIDGE, "third").await,
        Some(third.clone())
    );
    assert_eq!(
        restarted.lookup_address(ip("172.16.0.77")).await,
        Some((DEFAULT_BRIDGE.to_string(), third))
    );
    let mut ids: Vec<ContainerId> = restarted
        .endpoints(DEFAULT_BRIDGE)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.container)
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3);
}
both_backends!(network_restore, super::restore);
