//! `vch inspect` and `vch ls`: what a VCH's config says, as text or JSON.

use serde_json::json;
use vic_config::types::{IpNet, Url};

use super::create::{DOCKER_PORT, VICADMIN_PORT};
use super::FoundVch;

fn addr(net: &IpNet) -> Option<String> {
    let ip = net.ip.as_ref()?.to_ip_addr();
    if ip.is_unspecified() {
        return None;
    }
    Some(match net.mask.as_ref().and_then(|m| m.prefix_len()) {
        Some(p) => format!("{ip}/{p}"),
        None => ip.to_string(),
    })
}

fn client_ip(vch: &FoundVch) -> Option<String> {
    let net = &vch.config.init.networks.get("client")?.assigned;
    Some(net.ip.as_ref()?.to_ip_addr().to_string()).filter(|ip| ip != "0.0.0.0")
}

/// A `ds://` location as a datastore path: VIC writes the path either with its
/// `[datastore]` prefix or without (the host is the datastore).
fn ds_location(url: &Url) -> String {
    if url.scheme != "ds" {
        return url.to_string();
    }
    if url.path.starts_with('[') {
        url.path.clone()
    } else {
        format!("[{}] {}", url.host, url.path.trim_start_matches('/'))
    }
}

/// The lines `vch inspect` prints.
pub fn render(vch: &FoundVch) -> Vec<String> {
    let c = &vch.config;
    let mut out = vec![
        format!("VCH ID: {}", vch.id()),
        format!("Name: {}", vch.name),
        format!("Path: {}", vch.path),
        format!("Version: {}", vch.version()),
        format!(
            "Power state: {}",
            vch.power_state
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "unknown".into())
        ),
    ];
    for (role, ep) in &c.init.networks {
        if role == "bridge" {
            continue;
        }
        let network = ep.network.common.id.clone().unwrap_or_default();
        let address = addr(&ep.assigned).unwrap_or_else(|| "(not reported)".into());
        out.push(format!("Address ({role}): {address} on {network}"));
    }
    match client_ip(vch) {
        Some(ip) => {
            out.push(format!(
                "Docker endpoint: {ip}:{DOCKER_PORT} (docker -H {ip}:{DOCKER_PORT} --tls info)"
            ));
            out.push(format!("VCH Admin Portal: https://{ip}:{VICADMIN_PORT}"));
        }
        None => out.push("Docker endpoint: (the appliance has not reported its address)".into()),
    }
    out.push(format!(
        "Bridge network: {}",
        c.network.bridge_network.clone().unwrap_or_default()
    ));
    if let Some(range) = c.network.bridge_ip_range.as_ref().and_then(addr) {
        let width = c
            .network
            .bridge_network_width
            .as_ref()
            .and_then(|m| m.prefix_len())
            .map(|p| format!(", /{p} per network"))
            .unwrap_or_default();
        out.push(format!("Bridge range: {range}{width}"));
    }
    for s in &c.storage.image_stores {
        out.push(format!("Image store: {}", ds_location(s)));
    }
    for (label, url) in &c.storage.volume_locations {
        out.push(format!("Volume store {label}: {}", ds_location(url)));
    }
    if let Some(iso) = &c.container.bootstrap_image_path {
        out.push(format!("Bootstrap image: {iso}"));
    }
    for pool in &c.container.compute_resources {
        out.push(format!("Compute resource: {}:{}", pool.kind, pool.value));
    }
    let cert = c
        .certificate
        .host_certificate
        .as_ref()
        .map(|h| {
            if h.key.is_some() {
                "present, with its key"
            } else {
                "present (key sealed)"
            }
        })
        .unwrap_or("none");
    out.push(format!("Docker TLS certificate: {cert}"));
    out
}

/// `vch inspect --json`: the decoded config (secret fields never included) and
/// where the VCH is.
pub fn json(vch: &FoundVch) -> serde_json::Value {
    let mut config = serde_json::to_value(&vch.config).unwrap_or_default();
    // The PEM certificate as text rather than an array of byte values.
    if let Some(cert) = vch.config.certificate.host_certificate.as_ref() {
        if let Some(slot) = config.pointer_mut("/certificate/host_certificate/cert") {
            *slot = json!(String::from_utf8_lossy(&cert.cert));
        }
    }
    json!({
        "id": vch.id(),
        "name": vch.name,
        "path": vch.path,
        "version": vch.version(),
        "power_state": vch.power_state.as_ref().map(|p| p.as_str()),
        "client_ip": client_ip(vch),
        "docker_host": client_ip(vch).map(|ip| format!("{ip}:{DOCKER_PORT}")),
        "config": config,
    })
}

/// The `vch ls` table: ID, path, name, version.
pub fn table(all: &[FoundVch]) -> Vec<String> {
    let rows: Vec<[String; 4]> = all
        .iter()
        .map(|v| {
            [
                v.id().to_string(),
                v.path.clone(),
                v.name.clone(),
                v.version(),
            ]
        })
        .collect();
    let head = ["ID", "PATH", "NAME", "VERSION"].map(str::to_string);
    let mut width = head.each_ref().map(String::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    std::iter::once(&head)
        .chain(rows.iter())
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}
