//! The golden VCH (VIC 1.1.0-rc3) and the containerVM example of the spec: decode
//! with the values one can read off the lines, and encode back to the same VIC keys.

use std::collections::BTreeMap;

use vic_config::model::{is_vic_key, ExecutorConfig, VchConfig};
use vic_config::types::{Ip, IpMask, StoredList};
use vic_config::vmx::VmxFile;
use vic_config::{from_extra_config, to_extra_config, Layout};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vic-golden/vch-1.1.0-rc3.vmx"
);
const CONTAINER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/container.vmx");
const ID: &str = "4a3b0f1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

fn read(path: &str) -> VmxFile {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("golden data {path} must be present: {e}"));
    VmxFile::parse(&text).unwrap()
}

fn vic_keys(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| is_vic_key(k, Layout::Current))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn ip(s: &str) -> Ip {
    s.parse().unwrap()
}

#[test]
fn golden_vch_has_230_keys() {
    assert_eq!(read(GOLDEN).len(), 230);
}

#[test]
fn golden_vch_decodes_with_the_values_on_its_lines() {
    let vch: VchConfig = from_extra_config(&read(GOLDEN)).unwrap();
    assert_eq!(vch.name(), Some("test1"));
    let init = &vch.init;
    assert_eq!(init.common.id.as_deref(), Some("VirtualMachine:vm-365"));
    assert_eq!(init.diagnostics.debug_level, Some(3));
    assert_eq!(init.create_time, Some(0));
    assert_eq!(init.asymmetric_routing, Some(false));
    let v = init.version.as_ref().unwrap();
    assert_eq!(v.version.as_deref(), Some("v1.1.0-rc3"));
    assert_eq!(v.plugin_version, Some(6));
    assert_eq!(v.build_number.as_deref(), Some("10373"));
    assert_eq!(v.build_date.as_deref(), Some("2017/05/06@14:16:54"));

    // sessions
    let names: Vec<_> = init.sessions.keys().map(String::as_str).collect();
    assert_eq!(names, ["docker-personality", "port-layer", "vicadmin"]);
    let dp = &init.sessions["docker-personality"];
    assert_eq!(dp.cmd.path.as_deref(), Some("/sbin/docker-engine-server"));
    assert_eq!(
        dp.cmd.args,
        StoredList::Items(vec![
            "/sbin/docker-engine-server".into(),
            "-port=2376".into(),
            "-port-layer-port=2377".into()
        ])
    );
    assert_eq!(dp.cmd.env.items().unwrap().len(), 5);
    assert_eq!(dp.started.as_deref(), Some("true"));
    assert_eq!(dp.exit_status, Some(0));
    assert_eq!(dp.restart, Some(true));
    assert_eq!(dp.run_block, Some(false));
    assert_eq!(dp.common.name.as_deref(), Some("docker-personality"));
    assert_eq!(dp.common.notes.as_deref(), Some(""));
    let pl = &init.sessions["port-layer"];
    assert_eq!(pl.cmd.args, StoredList::IndexOnly { last_index: 2 });
    assert_eq!(pl.cmd.path, None);
    assert_eq!(
        pl.cmd.env.items().unwrap()[3],
        "POOL_PATH=",
        "an empty element between separators"
    );
    let va = &init.sessions["vicadmin"];
    assert_eq!(va.user.as_deref(), Some("vicadmin"));
    assert_eq!(va.cmd.dir.as_deref(), Some("/home/vicadmin"));
    assert_eq!(va.cmd.args.items().unwrap().len(), 4);

    // appliance networks by role
    let roles: Vec<_> = init.networks.keys().map(String::as_str).collect();
    assert_eq!(roles, ["bridge", "client", "management", "public"]);
    let client = &init.networks["client"];
    assert_eq!(client.assigned.ip, Some(ip("10.192.168.57")));
    assert_eq!(
        client.assigned.mask.as_ref().unwrap().prefix_len(),
        Some(19)
    );
    assert_eq!(
        client.network.assigned.nameservers,
        vec![ip("10.162.204.1"), ip("10.166.1.1")]
    );
    assert_eq!(
        client.network.assigned.gateway.ip,
        Some(ip("10.192.191.253"))
    );
    assert_eq!(client.network.network_type.as_deref(), Some(""));
    assert_eq!(client.common.id.as_deref(), Some("192"));
    assert_eq!(client.static_ip, Some(false));
    let bridge = &init.networks["bridge"];
    // The 16-byte IPv4-in-IPv6 form stays 16 bytes.
    let bip = bridge.ip.as_ref().unwrap();
    assert_eq!(bip.ip, Some(ip("::ffff:0.0.0.0")));
    assert_eq!(bip.ip.unwrap().octets().len(), 16);
    assert_eq!(bip.mask, None);
    assert_eq!(bridge.network.network_type.as_deref(), Some("bridge"));
    assert_eq!(
        bridge.network.common.id.as_deref(),
        Some("DistributedVirtualPortgroup:dvportgroup-55")
    );
    assert_eq!(init.networks["public"].network.default, Some(true));
    assert_eq!(init.networks["management"].network.default, None);

    // connect
    assert_eq!(
        vch.connection.target.as_deref(),
        Some("https://10.192.171.116")
    );
    assert_eq!(
        vch.connection.username.as_deref(),
        Some("administrator@vsphere.local")
    );
    assert_eq!(
        vch.connection.target_thumbprint.as_deref(),
        Some("9F:F0:DF:BA:7F:E2:89:F0:98:E4:A6:D1:58:24:68:74:8A:9B:25:6F")
    );
    assert_eq!(vch.connection.keepalive, Some(std::time::Duration::ZERO));
    assert!(vch.connection.token.is_none());

    // storage
    assert_eq!(vch.storage.image_stores.len(), 1);
    assert_eq!(vch.storage.image_stores[0].host, "vsanDatastore");
    assert_eq!(vch.storage.image_stores[0].scheme, "ds");
    assert_eq!(
        vch.storage.image_stores[0].path,
        "91512359-242e-5a30-ba4a-0200360a2e79"
    );
    let vols: Vec<_> = vch
        .storage
        .volume_locations
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(vols, ["default", "vol1"]);
    assert_eq!(
        vch.storage.volume_locations["vol1"].to_string(),
        "ds://vsanDatastore[vsanDatastore] volumes/vol1"
    );
    assert_eq!(vch.storage.scratch_size, Some(8_000_000));

    // network
    assert_eq!(vch.network.bridge_network.as_deref(), Some("bridge"));
    let cn: Vec<_> = vch
        .network
        .container_networks
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(cn, ["bridge", "vmnet", "vnet"]);
    let vnet = &vch.network.container_networks["vnet"];
    assert_eq!(vnet.network_type.as_deref(), Some("external"));
    assert_eq!(vnet.gateway.ip, Some(ip("::ffff:10.10.10.1")));
    assert_eq!(vnet.gateway.mask, Some(IpMask(vec![255, 255, 255, 0])));
    assert_eq!(vnet.pools.len(), 1);
    assert_eq!(vnet.pools[0].first, Some(ip("10.10.10.0")));
    assert_eq!(vnet.pools[0].last, Some(ip("10.10.10.255")));
    let range = vch.network.bridge_ip_range.as_ref().unwrap();
    assert_eq!(range.ip, Some(ip("172.16.0.0")));
    assert_eq!(range.mask.as_ref().unwrap().prefix_len(), Some(12));

    // container, registry, misc
    assert_eq!(vch.container.compute_resources.len(), 1);
    assert_eq!(vch.container.compute_resources[0].kind, "VirtualApp");
    assert_eq!(vch.container.compute_resources[0].value, "resgroup-v364");
    assert!(vch
        .container
        .bootstrap_image_path
        .as_deref()
        .unwrap()
        .ends_with("bootstrap.iso"));
    assert_eq!(vch.registry.insecure_registries, ["insecure:2345"]);
    assert_eq!(
        vch.registry.whitelist_registries,
        ["harbor.com:2345", "insecure:2345"]
    );
    assert_eq!(vch.create_bridge_network, Some(false));
    assert_eq!(
        vch.vic_machine_create_options,
        StoredList::IndexOnly { last_index: 13 }
    );
}

#[test]
fn golden_vch_encodes_back_to_identical_vic_keys() {
    let file = read(GOLDEN);
    let vch: VchConfig = from_extra_config(&file).unwrap();
    let encoded = to_extra_config(&vch).unwrap();
    let expected = vic_keys(&file.to_map());
    assert_eq!(expected.len(), 226, "four keys belong to vSphere");
    if encoded != expected {
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| encoded.get(*k) != Some(v))
            .collect();
        let extra: Vec<_> = encoded
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(v))
            .collect();
        panic!("missing or different: {missing:#?}\nextra or different: {extra:#?}");
    }
}

#[test]
fn golden_vch_round_trips_through_json() {
    let vch: VchConfig = from_extra_config(&read(GOLDEN)).unwrap();
    let json = serde_json::to_string(&vch).unwrap();
    let back: VchConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vch);
}

#[test]
fn container_example_decodes() {
    let c: ExecutorConfig = from_extra_config(&read(CONTAINER)).unwrap();
    assert_eq!(c.common.id.as_deref(), Some(ID));
    assert_eq!(c.common.name.as_deref(), Some("jolly_panini"));
    assert_eq!(c.repo.as_deref(), Some("hello-world"));
    assert_eq!(c.create_time, Some(1_500_000_000_000_000_000));
    let s = &c.sessions[ID];
    assert_eq!(s.cmd.path.as_deref(), Some("/hello"));
    assert_eq!(s.cmd.args, StoredList::Items(vec!["/hello".to_owned()]));
    assert_eq!(s.tty, Some(false));
    assert_eq!(s.started.as_deref(), Some("true"));
    assert_eq!(s.exit_status, Some(0));
    let n = &c.networks["bridge"];
    assert_eq!(
        n.network.gateway.mask.as_ref().unwrap().prefix_len(),
        Some(16)
    );
    assert_eq!(n.assigned.ip, Some(ip("172.16.0.2")));
    assert_eq!(c.version.as_ref().unwrap().plugin_version, Some(9));
}

#[test]
fn container_example_encodes_back_to_identical_keys() {
    let file = read(CONTAINER);
    let c: ExecutorConfig = from_extra_config(&file).unwrap();
    assert_eq!(to_extra_config(&c).unwrap(), file.to_map());
}
