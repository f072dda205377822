//! End to end with the real `docker` client: `vch create` on the ESXi simulator,
//! `tether-sim` as the guest agent, `vic-appliance` serving the Docker API over
//! TLS, and the project's hello-world image. Every docker step is also checked in
//! vSphere (the containerVM, its devices, its extraConfig decoded with vic-config).
//!
//! Needs the `docker` command line (scripts/test.sh installs Debian's docker.io
//! when it is missing; no daemon is involved) and gcc for the hello image.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_support::{Simulator, SimulatorConfig};
use vic_config::model::ExecutorConfig;
use vim25::mo;
use vim25::object::{device, VirtualMachine};
use vim25::types::{AnyVirtualDeviceBackingInfo, ManagedObjectReference, VirtualMachinePowerState};
use vim25::view::ContainerView;
use vim25::{Client, ClientBuilder};

const VCH: &str = env!("CARGO_BIN_EXE_vch");
const TETHER: &str = env!("CARGO_BIN_EXE_tether-sim");
const APPLIANCE: &str = env!("CARGO_BIN_EXE_vic-appliance");

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let p = std::env::temp_dir().join(format!("appliance-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn conn_args(sim: &Simulator) -> Vec<String> {
    vec![
        "--target".into(),
        sim.url().into(),
        "--user".into(),
        sim.username().into(),
        "--thumbprint".into(),
        sim.sha256_thumbprint().unwrap().into(),
    ]
}

fn tether(sim: &Simulator) -> Proc {
    Proc(
        Command::new(TETHER)
            .args(conn_args(sim))
            .env("VIM_PASSWORD", sim.password())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn create_vch(sim: &Simulator, dir: &Path, name: &str) {
    let out = Command::new(VCH)
        .arg("create")
        .args(conn_args(sim))
        .args(["--name", name, "--image-datastore", "LocalDS_0"])
        .args([
            "--bridge-network",
            "VCH Bridge",
            "--external-network",
            "VM Network",
        ])
        .args(["--timeout", "60"])
        .env("VIM_PASSWORD", sim.password())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vch create {name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running vic-appliance and its address.
struct Appliance {
    _proc: Proc,
    addr: String,
}

fn appliance(sim: &Simulator, name: &str, extra: &[&str]) -> Appliance {
    let mut child = Command::new(APPLIANCE)
        .args(conn_args(sim))
        .args(["--name", name, "--listen", "127.0.0.1:0"])
        .args(["--interaction-listen", "127.0.0.1:0"])
        .args(extra)
        .env("VIM_PASSWORD", sim.password())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while stdout.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    let addr = line
        .split("serves the Docker API on ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("vic-appliance said: {line:?}"))
        .to_string();
    Appliance {
        _proc: Proc(child),
        addr,
    }
}

/// `docker -H ADDR --tls ARGS…` with `DOCKER_CERT_PATH` at the certificate
/// directory `vch create` wrote for `vch`.
fn docker_for(dir: &Path, vch: &str, addr: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .args(["-H", addr, "--tls"])
        .args(args)
        .env("DOCKER_CONFIG", dir.join("docker-config"))
        .env("DOCKER_CERT_PATH", dir.join(vch))
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .expect("the docker client runs (scripts/test.sh installs it)")
}

/// `docker … ARGS` for VCH001 with `input` on its standard input.
fn docker_with_input(dir: &Path, addr: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("docker")
        .args(["-H", addr, "--tls"])
        .args(args)
        .env("DOCKER_CONFIG", dir.join("docker-config"))
        .env("DOCKER_CERT_PATH", dir.join("VCH001"))
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the docker client runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// [`docker_for`] VCH001.
fn docker(dir: &Path, addr: &str, args: &[&str]) -> Output {
    docker_for(dir, "VCH001", addr, args)
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn connect(sim: &Simulator) -> Client {
    ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .thumbprint(sim.sha256_thumbprint().unwrap())
        .connect()
        .await
        .unwrap()
}

/// The containerVM named `id` with its decoded executor config and devices.
async fn container_vm(
    client: &Client,
    id: &str,
) -> Option<(ManagedObjectReference, ExecutorConfig, mo::VirtualMachine)> {
    let view = ContainerView::create(client, &["VirtualMachine"], true)
        .await
        .unwrap();
    let mut r = vim25::property::Retrieval::new(
        client.clone(),
        client.property_collector(),
        vec![view.filter_spec("VirtualMachine", &["name"])],
    );
    let mut found = None;
    while let Some(page) = r.next_page().await.unwrap() {
        for oc in page {
            if oc.get::<String>("name").as_deref() == Some(id) {
                found = Some(oc.obj.clone());
            }
        }
    }
    view.destroy().await.unwrap();
    let vm = found?;
    let m: mo::VirtualMachine = VirtualMachine::new(client, vm.clone())
        .properties(&["config", "runtime"])
        .await
        .unwrap();
    let mut map = std::collections::BTreeMap::new();
    vic_portlayer::backend::apply_extra_config(&mut map, &m.config.as_ref().unwrap().extra_config)
        .unwrap();
    let config: ExecutorConfig =
        vic_config::from_extra_config(&vic_portlayer::backend::unescaped(&map)).unwrap();
    Some((vm, config, m))
}

fn power(m: &mo::VirtualMachine) -> VirtualMachinePowerState {
    m.runtime.as_ref().unwrap().power_state.clone()
}

/// A raw HTTP/1.1 request to a `--no-tls` appliance; returns status and body.
fn raw_http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn id_of(out: &str) -> String {
    out.trim().lines().last().unwrap_or("").trim().to_string()
}

async fn wait_power(client: &Client, id: &str, want: VirtualMachinePowerState) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, m) = container_vm(client, id).await.expect("the containerVM");
        if power(&m) == want {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never became {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_client_against_vic_appliance() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx());
    let client = connect(&sim).await;
    let scratch = Scratch::new();
    let dir = scratch.0.as_path();
    let _tether = tether(&sim);
    create_vch(&sim, dir, "VCH001");
    let first = appliance(&sim, "VCH001", &[]);
    let a = first.addr.clone();

    // The project's hello-world image, loaded with `docker load`.
    let tar = dir.join("hello-world.tar");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Command::new("bash")
        .arg(root.join("scripts/hello-image.sh"))
        .arg(&tar)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let out = ok(docker(dir, &a, &["load", "-i", tar.to_str().unwrap()]));
    assert!(out.contains("Loaded image: hello-world:latest"), "{out}");
    let images = ok(docker(dir, &a, &["images"]));
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("hello-world") && l.contains("latest")),
        "{images}"
    );
    let version = ok(docker(dir, &a, &["version"]));
    assert!(version.contains("1.41"), "{version}");
    let info = ok(docker(dir, &a, &["info"]));
    assert!(info.contains("VCH001"), "{info}");

    // run: output through the serial connection, exit status 0.
    let out = ok(docker(dir, &a, &["run", "--name", "first", "hello-world"]));
    assert!(
        out.contains("Hello from a vSphere Integrated Containers VCH"),
        "{out}"
    );
    let ps = ok(docker(dir, &a, &["ps", "-a", "--no-trunc"]));
    let row = ps
        .lines()
        .find(|l| l.contains("first"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("Exited (0)"), "{row}");
    assert!(row.contains("hello-world"), "{row}");
    let id = row.split_whitespace().next().unwrap().to_string();
    assert_eq!(id.len(), 64, "{row}");
    // In vSphere: the containerVM, its disk a child of the image's, its serial port
    // pointing at the appliance, its config decoded.
    let (_, config, m) = container_vm(&client, &id).await.expect("the containerVM");
    assert_eq!(power(&m), VirtualMachinePowerState::PoweredOff);
    assert_eq!(config.common.name.as_deref(), Some("first"));
    let session = &config.sessions[&id];
    assert_eq!(session.cmd.path.as_deref(), Some("/hello"));
    assert_eq!(session.exit_status, Some(0));
    assert_eq!(session.started.as_deref(), Some("true"));
    let devices = &m.config.as_ref().unwrap().hardware.device;
    let disk_parent = devices.iter().find_map(|d| match d.backing.as_ref()? {
        AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b) => {
            b.parent.as_ref().map(|p| p.base_.file_name.clone())
        }
        _ => None,
    });
    assert!(
        disk_parent
            .as_deref()
            .is_some_and(|p| p.contains("/VIC/default/images/")),
        "{disk_parent:?}"
    );
    let serial = vic_portlayer::interaction::interaction_port(devices).expect("a serial port");
    assert!(
        format!("{:?}", serial.target).contains("tcp://127.0.0.1:"),
        "{serial:?}"
    );
    assert!(devices
        .iter()
        .any(|d| device::as_ethernet_card(d).is_some()));

    // A non-zero exit status comes back as docker's.
    let out = docker(
        dir,
        &a,
        &[
            "run",
            "--name",
            "three",
            "hello-world",
            "/hello",
            "exit",
            "3",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspect = ok(docker(
        dir,
        &a,
        &[
            "inspect",
            "three",
            "--format",
            "{{.State.ExitCode}} {{.State.Status}}",
        ],
    ));
    assert_eq!(inspect.trim(), "3 exited");

    // run -i: standard input reaches the process, its end closes the input.
    let out = ok(docker_with_input(
        dir,
        &a,
        &["run", "-i", "--rm", "hello-world", "/hello", "cat"],
        b"ping over the serial line\n",
    ));
    assert_eq!(out, "ping over the serial line\n");

    // run -d, then logs (also followed) and wait.
    let out = ok(docker(dir, &a, &["run", "-d", "hello-world"]));
    let detached = id_of(&out);
    assert_eq!(detached.len(), 64, "{out}");
    let code = ok(docker(dir, &a, &["wait", &detached]));
    assert_eq!(code.trim(), "0");
    let logs = ok(docker(dir, &a, &["logs", &detached]));
    assert!(logs.contains("Hello from a vSphere"), "{logs}");
    let followed = ok(docker(dir, &a, &["logs", "-f", &detached]));
    assert_eq!(
        followed, logs,
        "follow ends at once for an exited container"
    );
    let name = ok(docker(
        dir,
        &a,
        &["inspect", &detached, "--format", "{{.Name}}"],
    ));
    let name = name.trim().trim_start_matches('/');
    let (adjective, surname) = name.split_once('_').unwrap_or_else(|| panic!("{name}"));
    assert!(!adjective.is_empty() && !surname.is_empty(), "{name}");

    // A long runner: stop it, and rm -f another.
    let long = id_of(&ok(docker(
        dir,
        &a,
        &["run", "-d", "hello-world", "/hello", "sleep", "60"],
    )));
    wait_power(&client, &long, VirtualMachinePowerState::PoweredOn).await;
    let ps = ok(docker(dir, &a, &["ps"]));
    assert!(ps.contains(&long[..12]) && ps.contains("Up"), "{ps}");
    ok(docker(dir, &a, &["stop", &long]));
    wait_power(&client, &long, VirtualMachinePowerState::PoweredOff).await;
    let busy = id_of(&ok(docker(
        dir,
        &a,
        &["run", "-d", "hello-world", "/hello", "sleep", "60"],
    )));
    wait_power(&client, &busy, VirtualMachinePowerState::PoweredOn).await;
    let e = failed(&docker(dir, &a, &["rm", &busy]));
    assert!(e.contains("cannot remove a running container"), "{e}");
    ok(docker(dir, &a, &["rm", "-f", &busy]));
    assert!(
        container_vm(&client, &busy).await.is_none(),
        "rm -f removed the VM"
    );
    ok(docker(dir, &a, &["rm", "three"]));
    let ps = ok(docker(dir, &a, &["ps", "-a"]));
    assert!(!ps.contains("three"), "{ps}");

    // Errors in Docker's shape.
    let e = failed(&docker(dir, &a, &["inspect", "no-such-container"]));
    assert!(
        e.contains("No such object") || e.contains("No such container"),
        "{e}"
    );
    let out = docker(dir, &a, &["run", "no-such-image"]);
    let e = failed(&out);
    assert!(
        e.contains("does not implement") || e.contains("No such image"),
        "{e}"
    );
    let nets = ok(docker(dir, &a, &["network", "ls"]));
    assert!(nets.contains("bridge"), "{nets}");

    // Raw requests: bad JSON, unknown image, unknown endpoint (plain HTTP appliance).
    let plain = appliance(&sim, "VCH001", &["--no-tls"]);
    let (status, body) = raw_http(&plain.addr, "POST", "/v1.41/containers/create", "{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (status, body) = raw_http(
        &plain.addr,
        "POST",
        "/containers/create",
        r#"{"Image":"nope"}"#,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such image"), "{body}");
    let (status, body) = raw_http(&plain.addr, "GET", "/swarm", "");
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("GET /swarm"), "{body}");
    drop(plain);

    // A control-plane restart: the same containers in the same states.
    let before = ok(docker(
        dir,
        &a,
        &["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"],
    ));
    drop(first);
    let second = appliance(&sim, "VCH001", &[]);
    let after = ok(docker(
        dir,
        &second.addr,
        &["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"],
    ));
    let states = |s: &str| {
        let mut v: Vec<String> = s
            .lines()
            .map(|l| {
                l.split(" ago")
                    .next()
                    .unwrap_or(l)
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        states(&before),
        states(&after),
        "before:\n{before}\nafter:\n{after}"
    );
    let images = ok(docker(dir, &second.addr, &["images"]));
    assert!(images.contains("hello-world"), "{images}");

    // A second VCH side by side sees none of the first one's containers.
    create_vch(&sim, dir, "VCH002");
    let other = appliance(&sim, "VCH002", &[]);
    let ps = ok(docker_for(dir, "VCH002", &other.addr, &["ps", "-a", "-q"]));
    assert!(ps.trim().is_empty(), "{ps}");
    let out = ok(docker_for(
        dir,
        "VCH002",
        &other.addr,
        &["load", "-i", tar.to_str().unwrap()],
    ));
    assert!(out.contains("Loaded image"), "{out}");
    let out = ok(docker_for(
        dir,
        "VCH002",
        &other.addr,
        &["run", "--rm", "hello-world"],
    ));
    assert!(out.contains("Hello from"), "{out}");
    let ps = ok(docker(dir, &second.addr, &["ps", "-a", "-q"]));
    assert_eq!(
        ps.lines().count(),
        3,
        "VCH001 still has its own three: {ps}"
    );
}
