//! Starts the real simulator. These tests fail (never skip) when the launcher
//! has not been built: run `bash scripts/build-vcsim.sh` first.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use test_support::{Simulator, SimulatorConfig, SimulatorError};

/// A parsed HTTP response: status code and (de-chunked) body.
struct Response {
    status: u16,
    body: String,
}

/// Sends one HTTP/1.1 request over a fresh connection and reads the whole response.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to simulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set read timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send request");

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").expect("response has a header");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Response { status, body }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size_line, after) = rest.split_once("\r\n").expect("chunk size line");
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).expect("hex chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = after[size..]
            .strip_prefix("\r\n")
            .expect("CRLF after chunk");
    }
}

/// Checks a govc-style thumbprint: `n` uppercase hex bytes joined by colons.
fn assert_thumbprint(tp: &str, n: usize) {
    let parts: Vec<&str> = tp.split(':').collect();
    assert_eq!(parts.len(), n, "thumbprint {tp:?} should have {n} bytes");
    for part in parts {
        assert!(
            part.len() == 2
                && part
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
            "bad byte {part:?} in thumbprint {tp:?}"
        );
    }
}

const RETRIEVE_SERVICE_CONTENT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:vim25="urn:vim25">
  <soapenv:Body>
    <vim25:RetrieveServiceContent>
      <vim25:_this type="ServiceInstance">ServiceInstance</vim25:_this>
    </vim25:RetrieveServiceContent>
  </soapenv:Body>
</soapenv:Envelope>"#;

#[test]
fn vpx_over_plain_http_serves_the_sdk() {
    let sim = Simulator::start(&SimulatorConfig::vpx().tls(false)).expect("start vcsim");
    let addr = sim.host_port();
    assert!(addr.ip().is_loopback());
    assert_eq!(sim.url(), format!("http://127.0.0.1:{}/sdk", addr.port()));
    assert_eq!((sim.username(), sim.password()), ("user", "pass"));
    assert_eq!(
        sim.url_with_credentials(),
        format!("http://user:pass@127.0.0.1:{}/sdk", addr.port())
    );
    assert_eq!(sim.sha1_thumbprint(), None);
    assert_eq!(sim.sha256_thumbprint(), None);

    let versions = http(addr, "GET", "/sdk/vimServiceVersions.xml", &[], "");
    assert_eq!(versions.status, 200, "body: {}", versions.body);
    assert!(
        versions.body.contains("urn:vim25"),
        "body: {}",
        versions.body
    );

    let content = http(
        addr,
        "POST",
        "/sdk",
        &[
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", "\"urn:vim25/7.0\""),
        ],
        RETRIEVE_SERVICE_CONTENT,
    );
    assert_eq!(content.status, 200, "body: {}", content.body);
    assert!(
        content.body.contains("<fullName>") || content.body.contains("VMware vCenter Server"),
        "body: {}",
        content.body
    );
    assert!(
        content.body.contains("VMware vCenter Server"),
        "body: {}",
        content.body
    );
    sim.stop();
}

#[test]
fn esx_over_tls_reports_thumbprints() {
    let sim = Simulator::start(&SimulatorConfig::esx()).expect("start vcsim");
    assert!(sim.url().starts_with("https://127.0.0.1:"), "{}", sim.url());
    assert!(sim
        .url_with_credentials()
        .starts_with("https://user:pass@127.0.0.1:"));
    assert_thumbprint(sim.sha1_thumbprint().expect("SHA-1 thumbprint"), 20);
    assert_thumbprint(sim.sha256_thumbprint().expect("SHA-256 thumbprint"), 32);
    TcpStream::connect(sim.host_port()).expect("TCP connect to the TLS port");
}

#[test]
fn custom_inventory_sizes_start() {
    let config = SimulatorConfig::vpx()
        .tls(false)
        .datacenters(2)
        .clusters(1)
        .hosts_per_cluster(1)
        .standalone_hosts(0)
        .resource_pools(1)
        .vms(3)
        .portgroups(2)
        .datastores(1);
    let sim = Simulator::start(&config).expect("start vcsim");
    let versions = http(
        sim.host_port(),
        "GET",
        "/sdk/vimServiceVersions.xml",
        &[],
        "",
    );
    assert_eq!(versions.status, 200);
}

#[test]
fn dropping_the_simulator_ends_its_process() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let pid = sim.pid();
    let proc_dir = format!("/proc/{pid}");
    assert!(
        Path::new(&proc_dir).exists(),
        "launcher {pid} should be running"
    );
    drop(sim);
    assert!(
        !Path::new(&proc_dir).exists(),
        "launcher {pid} still exists after drop"
    );
}

#[test]
fn invalid_config_reports_the_launchers_stderr() {
    let err = Simulator::start(&SimulatorConfig::esx().datacenters(2))
        .expect_err("the esx model has no datacenters to size");
    match &err {
        SimulatorError::ExitedEarly { status, stderr } => {
            assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
            assert!(stderr.contains("-dc is not supported"), "{err}");
        }
        other => panic!("expected ExitedEarly, got {other}"),
    }
}

#[test]
fn missing_launcher_says_how_to_build_it() {
    let err = Simulator::start_with_launcher(
        Path::new("/nonexistent/vcsim-launcher"),
        &SimulatorConfig::vpx(),
    )
    .expect_err("no launcher there");
    assert!(matches!(err, SimulatorError::LauncherMissing { .. }));
    assert!(
        err.to_string().contains("bash scripts/build-vcsim.sh"),
        "{err}"
    );
}
