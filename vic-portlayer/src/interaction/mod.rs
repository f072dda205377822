//! Interaction: a container's standard streams over its VM's serial port.
//!
//! A containerVM gets a network-backed serial port in client direction ([`join`]):
//! when the port is connected ([`bind`]), the guest agent's serial device opens a
//! TCP connection to the control plane (`tcp://<vch-ip>:<port>`), where an
//! [`InteractionServer`] accepts it. Over that connection the guest sends its
//! sessions' output and exit statuses, and the control plane sends input, closes
//! input, resizes terminals and delivers signals. [`join_logging`] adds a second,
//! file-backed serial port that writes the container's output into
//! `<container folder>/output.log` on its datastore, so that logs survive the
//! control plane.
//!
//! ```no_run
//! # async fn demo(exec: vic_portlayer::exec::Exec, id: vic_portlayer::ContainerId) -> vic_portlayer::Result<()> {
//! use futures::StreamExt;
//! use vic_portlayer::interaction::{self, InteractionServer};
//!
//! let server = InteractionServer::bind("10.0.0.2:2377").await?;
//! let mut h = exec.create_handle(id.clone(), Default::default())?;
//! interaction::join(&mut h, &server.serial_uri())?;
//! interaction::bind(&mut h)?;
//! exec.commit(h).await?;
//!
//! let a = server.attach(&id, id.as_str())?;
//! a.send(&b"echo hi\n"[..]).await?;
//! let mut out = a.stdout();
//! while let Some(bytes) = out.next().await {
//!     print!("{}", String::from_utf8_lossy(&bytes));
//! }
//! let status = a.exit_status().await?;
//! let kept = server.logs(&id, id.as_str())?.combined();
//! # let _ = (status, kept); Ok(()) }
//! ```
//!
//! # The byte protocol
//!
//! One TCP connection per containerVM, opened by the guest. Both directions carry
//! the same frame format; all integers are big-endian.
//!
//! | offset      | size   | field                                                    |
//! |-------------|--------|----------------------------------------------------------|
//! | 0           | 1      | type (see below; 0 is reserved and refused)              |
//! | 1           | 1      | `S`: length of the session ID (0 for frames without one) |
//! | 2           | 4      | `P`: payload length, at most 65536 ([`protocol::MAX_PAYLOAD`]) |
//! | 6           | `S`    | session ID: printable ASCII without space (0x21–0x7e)    |
//! | 6 + `S`     | `P`    | payload                                                  |
//!
//! A frame is therefore at most 6 + 255 + 65536 bytes ([`protocol::MAX_FRAME`]). A
//! receiver checks the payload length as soon as the 6-byte header has arrived and
//! closes the connection when it exceeds the maximum, without reading or
//! allocating the body. Longer output or input is split into several frames.
//!
//! | type   | name          | direction      | session | payload                                             |
//! |--------|---------------|----------------|---------|-----------------------------------------------------|
//! | `0x01` | HELLO         | guest → plane  | none    | 69 bytes: `"VICI"`, version (u8, ≥ 1, highest the guest speaks), container ID (64 ASCII lower-case hex digits) |
//! | `0x02` | STDOUT        | guest → plane  | yes     | 0–65536 bytes the session wrote to standard output  |
//! | `0x03` | STDERR        | guest → plane  | yes     | 0–65536 bytes the session wrote to standard error   |
//! | `0x04` | EXIT          | guest → plane  | yes     | 4 bytes: exit status (i32; 128 + n after signal n)  |
//! | `0x41` | WELCOME       | plane → guest  | none    | 1 byte: the version used on this connection         |
//! | `0x42` | STDIN         | plane → guest  | yes     | 0–65536 bytes for the session's standard input      |
//! | `0x43` | CLOSE_STDIN   | plane → guest  | yes     | empty: close the session's standard input           |
//! | `0x44` | RESIZE        | plane → guest  | yes     | 4 bytes: columns (u16), rows (u16)                  |
//! | `0x45` | SIGNAL        | plane → guest  | yes     | 1–32 bytes: signal name or number, ASCII letters, digits, `+`, `-`, `_` (`TERM`, `SIGKILL`, `9`, `RTMIN+3`) |
//! | `0x7f` | KEEPALIVE     | either         | none    | ignored (normally empty)                            |
//!
//! Rules:
//!
//! - **Handshake.** The guest's first frame is HELLO. The control plane answers
//!   WELCOME with the lower of the guest's version and its own (this crate: 1,
//!   [`protocol::VERSION`]); both then speak that version. A connection whose first
//!   frame is not a valid HELLO, or that sends none within the server's hello
//!   timeout (10 s by default), is closed without an answer. Other connections are
//!   not affected. WELCOME is always the control plane's first frame; the guest
//!   may send its own frames right after HELLO without waiting for it.
//! - **Sessions.** Frames are multiplexed by session ID (the container ID for the
//!   primary process, an exec ID for others). The guest sends a run's output before
//!   its EXIT frame; output for a session after its EXIT starts a new run (a
//!   restart).
//! - **Unknown types.** A frame whose type byte the receiver does not know is
//!   skipped whole (its lengths are explicit), so later versions can add frame
//!   types. A known frame type sent in the wrong direction is ignored likewise.
//! - **Errors.** Type 0, a payload length over 65536, a session ID on a frame
//!   without one (or none on a frame that needs one), a session ID or signal name
//!   with other characters, or a known frame with a payload of the wrong size is a
//!   protocol error: the receiver closes the connection.
//! - **Reconnecting.** A guest may reconnect at any time with a new HELLO; the
//!   newer connection replaces an older one for the same container. Frames written
//!   to a connection that breaks may be lost; nothing is retransmitted.
//!
//! Example: a guest saying `hi` on the standard output of session `ab` sends
//! `02 02 00 00 00 03 61 62 68 69 0a`.
//!
//! # What the control plane keeps
//!
//! Per session, the [`InteractionServer`] keeps the most recent 1 MiB
//! ([`ServerSettings::log_limit`]) of output, stdout and stderr together, in
//! arrival order, and the exit status. It is there for
//! [`logs`](InteractionServer::logs) (as separate streams, interleaved, or in
//! Docker's multiplexed format: see [`SessionLog`]) and
//! [`follow_logs`](InteractionServer::follow_logs) after the guest has gone, until
//! the container is [forgotten](InteractionServer::forget). A reader that falls
//! more than that limit behind loses the oldest output.

pub mod protocol;
mod server;

pub use server::{
    Attachment, InteractionServer, OutputChunk, OutputKind, ServerSettings, SessionLog,
};

use vim25::object::device::{self, ControllerKind, SerialBacking};
use vim25::object::DatastorePath;
use vim25::types::{
    AnyVirtualDevice, AnyVirtualDeviceBackingInfo, VirtualDeviceConnectInfo,
    VirtualDeviceURIBackingOptionDirection,
};

use crate::backend::PowerState;
use crate::exec::{FileOp, Handle};
use crate::{Error, Result};

/// The name of the log file [`join_logging`] writes in the container's folder.
pub const LOG_FILE: &str = "output.log";

/// A serial port of a VM, as this module reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPort {
    /// The device key.
    pub key: i32,
    /// Where its bytes go.
    pub target: SerialTarget,
    /// Whether it is connected now (or, for a VM not running, as configured).
    pub connected: bool,
    /// Whether it connects when the VM powers on.
    pub start_connected: bool,
}

/// Where a [`SerialPort`]'s bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialTarget {
    /// A network service.
    Uri {
        /// The service URI (`tcp://10.0.0.2:2377`).
        uri: String,
        /// `client` (the VM connects out) or `server` (the VM listens).
        direction: String,
    },
    /// A file on a datastore (`[ds] id/output.log`).
    File(String),
    /// Something else (a device, a pipe).
    Other,
}

/// The serial ports among `devices` (a VM's or a handle's device list).
pub fn serial_ports(devices: &[AnyVirtualDevice]) -> Vec<SerialPort> {
    devices
        .iter()
        .filter_map(|d| {
            let AnyVirtualDevice::VirtualSerialPort(p) = d else {
                return None;
            };
            let target = match &p.backing {
                Some(AnyVirtualDeviceBackingInfo::VirtualSerialPortURIBackingInfo(b)) => {
                    SerialTarget::Uri {
                        uri: b.service_uri.clone(),
                        direction: b.direction.clone(),
                    }
                }
                Some(AnyVirtualDeviceBackingInfo::VirtualSerialPortFileBackingInfo(b)) => {
                    SerialTarget::File(b.file_name.clone())
                }
                _ => SerialTarget::Other,
            };
            let c = p.connectable.as_ref();
            Some(SerialPort {
                key: p.key,
                target,
                connected: c.is_some_and(|c| c.connected),
                start_connected: c.is_some_and(|c| c.start_connected),
            })
        })
        .collect()
}

/// The interaction port among `devices`: the serial port backed by a URI in
/// client direction.
pub fn interaction_port(devices: &[AnyVirtualDevice]) -> Option<SerialPort> {
    let client = VirtualDeviceURIBackingOptionDirection::Client.as_str();
    serial_ports(devices)
        .into_iter()
        .find(|p| matches!(&p.target, SerialTarget::Uri { direction, .. } if direction == client))
}

/// Checks that `uri` is `tcp://<host>:<port>`.
fn check_serial_uri(uri: &str) -> Result<()> {
    let bad = || {
        Error::InvalidInput(format!(
            "serial URI {uri:?} must be tcp://<host>:<port> (the control plane's address)"
        ))
    };
    let rest = uri.strip_prefix("tcp://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    match port.parse::<u16>() {
        Ok(p) if p != 0 && host_ok => Ok(()),
        _ => Err(bad()),
    }
}

fn powered_off(handle: &Handle, what: &str) -> Result<()> {
    if handle.power_state() == PowerState::PoweredOff {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "container {}: {what} needs the VM powered off (serial ports cannot be hot-added)",
            handle.id()
        )))
    }
}

/// Adds the interaction serial port to `handle`: backed by `serial_uri`
/// (`tcp://<vch-ip>:<port>`, see [`InteractionServer::serial_uri`]) in client
/// direction, not connected until [`bind`]. Returns the device's (temporary) key.
///
/// Errors: [`Error::Exists`] when the container has an interaction port already;
/// [`Error::InvalidInput`] for a URI not of that form or a VM not powered off.
pub fn join(handle: &mut Handle, serial_uri: &str) -> Result<i32> {
    check_serial_uri(serial_uri)?;
    if let Some(p) = interaction_port(&handle.devices()) {
        let SerialTarget::Uri { uri, .. } = p.target else {
            return Err(Error::Exists {
                kind: "interaction serial port",
                id: handle.id().to_string(),
            });
        };
        return Err(Error::Exists {
            kind: "interaction serial port",
            id: format!("{} ({uri})", handle.id()),
        });
    }
    powered_off(handle, "adding the interaction serial port")?;
    let backing = SerialBacking::Uri {
        uri: serial_uri.to_string(),
        direction: VirtualDeviceURIBackingOptionDirection::Client,
        proxy: None,
    };
    let slot = handle.free_slot(&[ControllerKind::Sio]);
    let mut port = device::new_serial_port(&backing, slot);
    set_connected(&mut port, false);
    Ok(handle.add_device(port, FileOp::Keep))
}

fn set_connected(port: &mut AnyVirtualDevice, on: bool) {
    let c = port
        .connectable
        .get_or_insert_with(|| VirtualDeviceConnectInfo {
            allow_guest_control: true,
            ..Default::default()
        });
    c.connected = on;
    c.start_connected = on;
}

fn set_interaction(handle: &mut Handle, on: bool) -> Result<()> {
    let devices = handle.devices();
    let port = interaction_port(&devices).ok_or_else(|| Error::NotFound {
        kind: "interaction serial port of container",
        id: handle.id().to_string(),
    })?;
    if port.connected == on && port.start_connected == on {
        return Ok(());
    }
    let mut dev = devices
        .into_iter()
        .find(|d| d.key == port.key)
        .ok_or_else(|| Error::not_found("device", port.key.to_string()))?;
    set_connected(&mut dev, on);
    handle.edit_device(dev)
}

/// Connects the interaction serial port (now, and at every power-on), so that the
/// guest reaches the [`InteractionServer`]. Without a port ([`join`] first):
/// [`Error::NotFound`]. Already connected: nothing changes.
pub fn bind(handle: &mut Handle) -> Result<()> {
    set_interaction(handle, true)
}

/// Disconnects the interaction serial port (now, and at power-on).
pub fn unbind(handle: &mut Handle) -> Result<()> {
    set_interaction(handle, false)
}

/// The datastore path of the container's log file (`[ds] <folder>/output.log`).
pub fn log_path(handle: &Handle) -> Result<DatastorePath> {
    let folder = handle.vm_folder().ok_or_else(|| {
        Error::InvalidInput(format!(
            "container {}: its VM has no known folder for the log file",
            handle.id()
        ))
    })?;
    let mut dir = folder.path.trim_end_matches('/');
    // Handle::vm_folder answers with the .vmx path itself for a container not
    // created yet; its folder is the part before the file name.
    if dir.ends_with(".vmx") {
        dir = dir.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    }
    let path = if dir.is_empty() {
        LOG_FILE.to_string()
    } else {
        format!("{dir}/{LOG_FILE}")
    };
    Ok(DatastorePath::new(folder.datastore, path))
}

/// Adds the logging serial port to `handle`: backed by the file
/// [`log_path`] (`<container folder>/output.log`), connected at power-on.
/// Returns the device's (temporary) key.
///
/// Errors: [`Error::Exists`] when a serial port writes that file already;
/// [`Error::InvalidInput`] for a VM not powered off.
pub fn join_logging(handle: &mut Handle) -> Result<i32> {
    let path = log_path(handle)?;
    let file = path.to_string();
    let taken = serial_ports(&handle.devices())
        .into_iter()
        .any(|p| matches!(&p.target, SerialTarget::File(f) if *f == file));
    if taken {
        return Err(Error::Exists {
            kind: "logging serial port",
            id: file,
        });
    }
    powered_off(handle, "adding the logging serial port")?;
    let slot = handle.free_slot(&[ControllerKind::Sio]);
    let mut port = device::new_serial_port(&SerialBacking::File(path), slot);
    set_connected(&mut port, true);
    Ok(handle.add_device(port, FileOp::Keep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerId;
    use vim25::types::{VirtualMachineConfigSpec, VirtualMachineFileInfo};

    fn new_handle() -> Handle {
        let id = ContainerId::random();
        let spec = VirtualMachineConfigSpec {
            files: Some(VirtualMachineFileInfo {
                vm_path_name: Some(format!("[ds1] {id}/{id}.vmx")),
                ..Default::default()
            }),
            ..Default::default()
        };
        Handle::new_container(id, Default::default(), spec, Vec::new())
    }

    #[test]
    fn join_bind_unbind_on_a_new_handle() {
        let mut h = new_handle();
        assert!(bind(&mut h).unwrap_err().is_not_found());
        let key = join(&mut h, "tcp://10.0.0.2:2377").unwrap();
        assert!(key < 0);
        let p = interaction_port(&h.devices()).unwrap();
        assert_eq!(p.key, key);
        assert_eq!(
            p.target,
            SerialTarget::Uri {
                uri: "tcp://10.0.0.2:2377".into(),
                direction: "client".into()
            }
        );
        assert!(!p.connected && !p.start_connected);
        assert!(matches!(
            join(&mut h, "tcp://10.0.0.3:1"),
            Err(Error::Exists { .. })
        ));
        bind(&mut h).unwrap();
        let p = interaction_port(&h.devices()).unwrap();
        assert!(p.connected && p.start_connected);
        // Editing a pending device replaces it in place: still one change.
        assert_eq!(h.device_changes().len(), 1);
        unbind(&mut h).unwrap();
        assert!(!interaction_port(&h.devices()).unwrap().connected);
        assert!(matches!(
            join(&mut new_handle(), "not a uri"),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn logging_port_in_the_container_folder() {
        let mut h = new_handle();
        let key = join_logging(&mut h).unwrap();
        let ports = serial_ports(&h.devices());
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].key, key);
        assert_eq!(
            ports[0].target,
            SerialTarget::File(format!("[ds1] {}/output.log", h.id()))
        );
        assert!(ports[0].start_connected);
        assert!(matches!(join_logging(&mut h), Err(Error::Exists { .. })));
        // The logging port is not mistaken for the interaction port.
        assert!(interaction_port(&h.devices()).is_none());
        join(&mut h, "tcp://10.0.0.2:2377").unwrap();
        assert_eq!(serial_ports(&h.devices()).len(), 2);
    }

    #[test]
    fn serial_uris() {
        for ok in [
            "tcp://10.0.0.2:2377",
            "tcp://vch.local:1",
            "tcp://[::1]:9000",
        ] {
            assert!(check_serial_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.2:2377",
            "telnet://10.0.0.2:23",
            "tcp://10.0.0.2",
            "tcp://:2377",
            "tcp://10.0.0.2:0",
            "tcp://10.0.0.2:99999",
            "tcp://a b:1",
        ] {
            assert!(check_serial_uri(bad).is_err(), "{bad}");
        }
    }
}
