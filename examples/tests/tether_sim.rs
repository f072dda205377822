//! `tether-sim` against govmomi's simulator: the port layer creates and starts
//! containerVMs from a two-layer image, and the stand-in agent runs their command
//! from the unpacked root, with output, input and exit status over the serial
//! protocol and `started`/`status`/times in extraConfig; a missing command fails
//! the start with Go's error text; a VCH appliance is reported up.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use test_support::{Simulator, SimulatorConfig};
use vic_config::model::{NetworkEndpoint, SessionConfig, VchConfig};
use vic_config::types::{Ip, IpMask, ObjectRef};
use vic_portlayer::backend::{Backend, PowerState, VmDetail};
use vic_portlayer::exec::{decode_config, ExecSettings};
use vic_portlayer::interaction::InteractionServer;
use vic_portlayer::network::NetworkConfig;
use vic_portlayer::storage::Image;
use vic_portlayer::vsphere::{Placement, VsphereBackend};
use vic_portlayer::{ContainerId, ContainerSpec, PortLayer, PortLayerConfig};
use vim25::object::device::add_spec;
use vim25::object::{DatastorePath, Folder, HostSystem, ResourcePool, VirtualMachine};
use vim25::types::{
    AnyVirtualDevice, ManagedObjectReference, ParaVirtualSCSIController, VirtualMachineConfigSpec,
    VirtualMachineFileInfo, VirtualSCSIController, VirtualSCSISharing,
};

/// The most any single wait may take.
const LIMIT: Duration = Duration::from_secs(60);

/// `fut` within [`LIMIT`]; panics naming `what` after it.
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}: {what}"))
}

/// Polls `check` every 100 ms until it gives `Some`, for at most [`LIMIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    bounded(what, async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// The running `tether-sim`, killed when dropped; its log in a file.
struct Agent {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Agent {
    fn start(sim: &Simulator, vch: &str) -> Agent {
        let log = std::env::temp_dir().join(format!("tether-sim-test-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tether-sim"))
            .args([
                "--target",
                &sim.url_with_credentials(),
                "--insecure",
                "--vch",
                vch,
                "--poll-ms",
                "200",
            ])
            .env("RUST_LOG", "info")
            .env_remove("VIC_MACHINE_TARGET")
            .env_remove("VIC_MACHINE_THUMBPRINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("run tether-sim");
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-s", "TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tether-sim did not exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A layer tar of `files` (path, mode, content).
fn layer(files: &[(String, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(body.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, path, &body[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// The host's `/bin/sh` with the libraries `ldd` names: enough of a base image to
/// run a shell script inside a chroot.
fn shell_files() -> Vec<(String, u32, Vec<u8>)> {
    let mut files = vec![(
        "bin/sh".to_string(),
        0o755,
        std::fs::read(std::fs::canonicalize("/bin/sh").unwrap()).unwrap(),
    )];
    let ldd = Command::new("ldd").arg("/bin/sh").output();
    let text = ldd
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for word in text.split_whitespace().filter(|w| w.starts_with('/')) {
        if let Ok(real) = std::fs::canonicalize(word) {
            let body = std::fs::read(&real).unwrap();
            files.push((word.trim_start_matches('/').to_string(), 0o755, body));
        }
    }
    files
}

/// `/hello`: greets with its first argument, writes a line to stderr, echoes one
/// line of input, tells whether the whited-out `/etc/gone` is there, prints
/// `/etc/kept`, and exits with its second argument. Shell built-ins only.
const HELLO: &str = r#"#!/bin/sh
echo "hello from $0 $1"
echo "a line on stderr" >&2
read line
echo "got: $line"
[ -e /etc/gone ] && echo "gone is still there"
read kept < /etc/kept
echo "kept: $kept"
exit "$2"
"#;

/// The simulator's VCH: the appliance VM `VCH001` with a VCH config naming the
/// pool its containers run in (and a SCSI controller for the port layer's child
/// disks), powered on.
async fn appliance(client: &vim25::Client, placement: &Placement) -> ManagedObjectReference {
    let mut vch = VchConfig::default();
    vch.init.common.name = Some("VCH001".into());
    for name in ["docker-personality", "port-layer", "vicadmin"] {
        let mut s = SessionConfig::default();
        s.cmd.path = Some(format!("/sbin/{name}"));
        s.common.id = Some(name.into());
        vch.init.sessions.insert(name.into(), s);
    }
    for role in ["client", "public", "management", "bridge"] {
        let mut e = NetworkEndpoint::default();
        e.network.common.name = Some(role.into());
        vch.init.networks.insert(role.into(), e);
    }
    vch.container.compute_resources = vec![ObjectRef {
        kind: placement.pool.type_.clone(),
        value: placement.pool.value.clone(),
    }];
    let mut scsi: AnyVirtualDevice = ParaVirtualSCSIController {
        base_: VirtualSCSIController {
            shared_bus: VirtualSCSISharing::NoSharing,
            ..Default::default()
        },
    }
    .into();
    scsi.key = -100;
    let spec = VirtualMachineConfigSpec {
        name: Some("VCH001".into()),
        guest_id: Some("other3xLinux64Guest".into()),
        num_cpus: Some(1),
        memory_mb: Some(64),
        files: Some(VirtualMachineFileInfo {
            vm_path_name: Some(format!(
                "[{}] VCH001-appliance/VCH001.vmx",
                placement.datastore
            )),
            ..Default::default()
        }),
        device_change: vec![add_spec(scsi, false)],
        extra_config: vic_config::option_value::encode(&vch).unwrap(),
        ..Default::default()
    };
    let folder = Folder::new(client, placement.folder.clone());
    let pool = ResourcePool::new(client, placement.pool.clone());
    let on = placement.host.clone().map(|h| HostSystem::new(client, h));
    let vm = folder
        .create_vm_and_wait(&spec, &pool, on.as_ref())
        .await
        .expect("the appliance VM");
    vm.power_on_and_wait().await.unwrap();
    vm.reference().clone()
}

/// The stopped container's session as the VM's extraConfig has it, once the VM is
/// powered off and the session reports an exit status.
async fn stopped_session(backend: &Arc<dyn Backend>, id: &ContainerId) -> SessionConfig {
    eventually("the containerVM powered off with its status", || async {
        let vm = backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await
            .ok()??;
        let config = decode_config(&vm).ok()?;
        let s = config.sessions.get(id.as_str())?.clone();
        (vm.power_state == PowerState::PoweredOff && s.exit_status.is_some()).then_some(s)
    })
    .await
}

/// What the container cases share.
struct Scene<'a> {
    pl: PortLayer,
    server: InteractionServer,
    image: Image,
    backend: Arc<dyn Backend>,
    agent: &'a Agent,
}

impl Scene<'_> {
    /// Creates (commits) a container of the image running `path` with `args`.
    async fn create(&self, path: &str, args: &[&str], open_stdin: bool) -> ContainerId {
        let spec = ContainerSpec {
            image: Some(self.image.clone()),
            path: path.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            open_stdin,
            attach: true,
            serial_uri: Some(self.server.serial_uri()),
            ..Default::default()
        };
        let h = self.pl.create_container(spec).await.unwrap();
        let id = h.id().clone();
        bounded("create", self.pl.exec().commit(h)).await.unwrap();
        id
    }
}

async fn output_input_and_status_0(scene: &Scene<'_>) {
    // 1: output, input, exit 0.
    let id = scene
        .create("/hello", &["/hello", "world", "0"], true)
        .await;
    let a = scene.server.attach(&id, id.as_str()).unwrap();
    let stdout = tokio::spawn(a.stdout().collect::<Vec<_>>());
    let stderr = tokio::spawn(a.stderr().collect::<Vec<_>>());
    let info = bounded("start", scene.pl.start_container(&id))
        .await
        .unwrap();
    bounded("stdin", a.send(&b"ping\n"[..])).await.unwrap();
    let status = bounded("exit", a.exit_status()).await.unwrap();
    assert_eq!(status, 0, "{}", scene.agent.log());
    let text = |chunks: Vec<bytes::Bytes>| String::from_utf8(chunks.concat()).unwrap();
    let out = text(bounded("stdout", stdout).await.unwrap());
    let err = text(bounded("stderr", stderr).await.unwrap());
    assert_eq!(
        out,
        "hello from /hello world\ngot: ping\nkept: yes\n",
        "{}",
        scene.agent.log()
    );
    assert_eq!(err, "a line on stderr\n");
    let kept = scene.server.logs(&id, id.as_str()).unwrap();
    assert_eq!(kept.stdout(), out.as_bytes());
    let s = stopped_session(&scene.backend, &id).await;
    assert_eq!(s.started.as_deref(), Some("true"));
    assert_eq!(s.exit_status, Some(0));
    let (start, stop) = (s.detail.start_time.unwrap(), s.detail.stop_time.unwrap());
    assert!(start > 0 && stop >= start, "{start} {stop}");
    let vm = scene.backend.vm(&info.vm, VmDetail::Summary).await.unwrap();
    assert_eq!(vm.power_state, PowerState::PoweredOff);
    let listed = scene.pl.exec().inspect(&id).await.unwrap();
    assert_eq!(listed.state, vic_portlayer::exec::ContainerState::Stopped);
}

async fn status_3_without_stdin(scene: &Scene<'_>) {
    // 2: stdin closed at once, a non-zero status.
    let id = scene
        .create("/hello", &["/hello", "again", "3"], false)
        .await;
    let a = scene.server.attach(&id, id.as_str()).unwrap();
    bounded("start", scene.pl.start_container(&id))
        .await
        .unwrap();
    assert_eq!(bounded("exit", a.exit_status()).await.unwrap(), 3);
    let s = stopped_session(&scene.backend, &id).await;
    assert_eq!(s.exit_status, Some(3));
    let out = String::from_utf8(scene.server.logs(&id, id.as_str()).unwrap().stdout()).unwrap();
    assert_eq!(out, "hello from /hello again\ngot: \nkept: yes\n");
}

async fn missing_command(scene: &Scene<'_>) {
    // 3: a command that is not there: the start fails with Go's text.
    let id = scene.create("/missing", &["/missing"], false).await;
    let err = bounded("start", scene.pl.start_container(&id))
        .await
        .unwrap_err();
    let want = r#"exec: "/missing": no such file or directory"#;
    assert!(
        matches!(&err, vic_portlayer::Error::StartFailed { message, .. } if message == want),
        "{err}"
    );
    let vm = eventually("the failed containerVM powered off", || async {
        let vm = scene
            .backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await
            .ok()??;
        (vm.power_state == PowerState::PoweredOff).then_some(vm)
    })
    .await;
    let config = decode_config(&vm).unwrap();
    assert_eq!(config.sessions[id.as_str()].started.as_deref(), Some(want));
}

async fn signal(scene: &Scene<'_>) {
    // 4: a signal from the control plane ends the process: 128 + 15.
    let id = scene
        .create("/hello", &["/hello", "waiting", "0"], true)
        .await;
    let a = scene.server.attach(&id, id.as_str()).unwrap();
    let mut out = a.stdout();
    bounded("start", scene.pl.start_container(&id))
        .await
        .unwrap();
    let first = bounded("first output", out.next()).await.unwrap();
    assert_eq!(&first[..], b"hello from /hello waiting\n");
    bounded("signal", a.signal("TERM")).await.unwrap();
    assert_eq!(bounded("exit", a.exit_status()).await.unwrap(), 143);
    assert_eq!(
        stopped_session(&scene.backend, &id).await.exit_status,
        Some(143)
    );
}

async fn killed_at_stop(scene: &Scene<'_>) {
    // 5: a container stopped by the port layer while its process runs: killed.
    let id = scene
        .create("/hello", &["/hello", "stopped", "0"], true)
        .await;
    let a = scene.server.attach(&id, id.as_str()).unwrap();
    let mut out = a.stdout();
    bounded("start", scene.pl.start_container(&id))
        .await
        .unwrap();
    bounded("first output", out.next()).await.unwrap();
    bounded("stop", scene.pl.stop_container(&id)).await.unwrap();
    assert_eq!(bounded("exit", a.exit_status()).await.unwrap(), 128 + 9);
    eventually("the kill logged", || async {
        scene
            .agent
            .log()
            .contains("process killed: its VM was powered off or removed")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_and_the_appliance_is_reported() {
    // On the heap: the scenario's future is too large for a test thread's stack
    // in debug builds.
    Box::pin(scenario()).await
}

async fn scenario() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let client = vim25::ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap();
    let host: HostSystem = vim25::find::Finder::new(&client)
        .default_object()
        .await
        .expect("the simulator's host");
    host.network_system()
        .await
        .unwrap()
        .add_port_group("bridge", "vSwitch0", 0)
        .await
        .unwrap();
    let placement = Placement::discover(&client, "VCH001", None).await.unwrap();
    let vch_vm = appliance(&client, &placement).await;
    let placement = placement.with_appliance(vch_vm.clone());
    let datastore = placement.datastore.clone();
    let backend: Arc<dyn Backend> = Arc::new(VsphereBackend::new(client.clone(), placement));

    let agent = Agent::start(&sim, "VCH001");

    // The appliance: addresses and sessions reported.
    let appliance_vm = VirtualMachine::new(&client, vch_vm.clone());
    let reported = eventually("the appliance's report", || async {
        let map = appliance_vm.extra_config().await.ok()?;
        let c: VchConfig = vic_config::from_extra_config(&map).ok()?;
        let all_started = c
            .init
            .sessions
            .values()
            .all(|s| s.started.as_deref() == Some("true"));
        (c.init.networks["client"].assigned.ip.is_some() && all_started).then_some(c)
    })
    .await;
    let loopback: Ip = "127.0.0.1".parse().unwrap();
    for role in ["client", "public", "management"] {
        let a = &reported.init.networks[role].assigned;
        assert_eq!(a.ip, Some(loopback), "{role}");
        assert_eq!(a.mask, IpMask::v4_prefix(8), "{role}");
    }
    assert_eq!(reported.init.networks["bridge"].assigned.ip, None);
    for (name, s) in &reported.init.sessions {
        assert_eq!(s.exit_status, Some(0), "{name}");
        assert!(s.detail.start_time.is_some_and(|t| t > 0), "{name}");
        // What was there stays.
        assert_eq!(
            s.cmd.path.as_deref(),
            Some(format!("/sbin/{name}").as_str())
        );
    }
    let line = format!(
        "appliance VCH001 ({}): reported client IP 127.0.0.1 and sessions started",
        vch_vm.value
    );
    eventually("the appliance's log line", || async {
        agent.log().contains(&line).then_some(())
    })
    .await;

    // The port layer, with an image of two layers: a shell, then /hello and a
    // whiteout.
    let dir = backend.vch_folder();
    backend.make_dir(&dir).await.unwrap();
    let iso = DatastorePath::new(dir.datastore.clone(), format!("{}/bootstrap.iso", dir.path));
    let body = b"not really an ISO".to_vec();
    let len = body.len() as u64;
    backend
        .upload(&iso, Box::new(Cursor::new(body)), len)
        .await
        .unwrap();
    let mut exec = ExecSettings::new(&datastore, iso);
    exec.start_limit = Duration::from_secs(30);
    exec.stop_grace = Duration::from_secs(2);
    exec.power_off_limit = Duration::from_secs(20);
    let pl = PortLayer::new(
        backend.clone(),
        PortLayerConfig {
            exec,
            network: NetworkConfig::new("bridge"),
        },
    )
    .await
    .unwrap();
    let server = InteractionServer::bind("127.0.0.1:0").await.unwrap();
    pl.storage().create_image_store("default").await.unwrap();
    let mut base = shell_files();
    base.push(("etc/gone".into(), 0o644, b"x\n".to_vec()));
    base.push(("etc/kept".into(), 0o644, b"yes\n".to_vec()));
    let base = layer(&base);
    let base_id = "b".repeat(64);
    let len = base.len() as u64;
    pl.storage()
        .write_image(
            "default",
            "scratch",
            &base_id,
            BTreeMap::new(),
            Cursor::new(base),
            len,
        )
        .await
        .unwrap();
    let top = layer(&[
        ("hello".into(), 0o755, HELLO.as_bytes().to_vec()),
        ("etc/.wh.gone".into(), 0o644, Vec::new()),
    ]);
    let len = top.len() as u64;
    let image = pl
        .storage()
        .write_image(
            "default",
            &base_id,
            &"c".repeat(64),
            BTreeMap::new(),
            Cursor::new(top),
            len,
        )
        .await
        .unwrap();

    let scene = Scene {
        pl,
        server,
        image,
        backend,
        agent: &agent,
    };
    Box::pin(output_input_and_status_0(&scene)).await;
    Box::pin(status_3_without_stdin(&scene)).await;
    Box::pin(missing_command(&scene)).await;
    Box::pin(signal(&scene)).await;
    Box::pin(killed_at_stop(&scene)).await;
    let log = agent.log.clone();
    let status = agent.stop();
    assert!(status.success(), "tether-sim exited with {status}");
    // Kept for a look when asked (TETHER_SIM_KEEP_LOG=1); failures print it.
    if std::env::var_os("TETHER_SIM_KEEP_LOG").is_none() {
        let _ = std::fs::remove_file(&log);
    }
}
