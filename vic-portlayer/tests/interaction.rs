//! Interaction: the serial protocol played from the guest's side over TCP against
//! the server, and the serial ports that join/bind/unbind/join_logging put on
//! containerVMs (on both backends).
use crate::common;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vic_portlayer::backend::VmDetail;
use vic_portlayer::interaction::protocol::{
    self, encode_raw, kind, write_frame, Frame, FrameReader,
};
use vic_portlayer::interaction::{
    self, InteractionServer, OutputChunk, OutputKind, ServerSettings,
};
use vic_portlayer::{ContainerId, Error};
use vim25::types::{AnyVirtualDevice, AnyVirtualDeviceBackingInfo};

use common::{bounded, Fixture};

/// The guest's side of one connection.
struct Guest {
    reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Guest {
    /// Connects, says hello for `container`, and expects the welcome.
    async fn connect(server: &InteractionServer, container: &ContainerId) -> Guest {
        let sock = TcpStream::connect(server.local_addr()).await.unwrap();
        let (rd, mut writer) = sock.into_split();
        write_frame(
            &mut writer,
            &Frame::Hello {
                version: 1,
                container: container.clone(),
            },
        )
        .await
        .unwrap();
        let mut reader = FrameReader::new(rd);
        let welcome = bounded("the welcome", reader.next_frame()).await.unwrap();
        assert_eq!(welcome, Some(Frame::Welcome { version: 1 }));
        Guest { reader, writer }
    }

    async fn send(&mut self, frame: Frame) {
        write_frame(&mut self.writer, &frame).await.unwrap();
    }

    async fn recv(&mut self) -> Frame {
        bounded("a frame for the guest", self.reader.next_frame())
            .await
            .unwrap()
            .expect("a frame, not the end of the connection")
    }
}

fn stdout(session: &str, data: &'static [u8]) -> Frame {
    Frame::Stdout {
        session: session.into(),
        data: Bytes::from_static(data),
    }
}

/// Reads `stream` until it ends, concatenated.
async fn drain(mut stream: futures::stream::BoxStream<'static, Bytes>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = bounded("stream output", stream.next()).await {
        out.extend_from_slice(&b);
    }
    out
}

async fn until_disconnected(server: &InteractionServer, id: &ContainerId) {
    bounded("the server to see the guest go", async {
        while server.is_connected(id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_session_over_tcp() {
    let settings = ServerSettings {
        hello_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let server = InteractionServer::bind_with("127.0.0.1:0", settings)
        .await
        .unwrap();
    assert_eq!(
        server.serial_uri(),
        format!("tcp://127.0.0.1:{}", server.local_addr().port())
    );
    let id = ContainerId::random();
    let sid = id.to_string();

    // Bad peers first: one sends garbage, one says nothing. Both are dropped
    // without an answer; the good guest below is not disturbed.
    let mut garbage = TcpStream::connect(server.local_addr()).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();

    // Attached before the guest connects: output, input and exit all reach it.
    let a = server.attach(&id, &sid).unwrap();
    let out = tokio::spawn(drain(a.stdout()));
    let err = tokio::spawn(drain(a.stderr()));
    let second = server.attach(&id, &sid).unwrap();
    let both = second.output();
    let sent = {
        let a = server.attach(&id, &sid).unwrap();
        tokio::spawn(async move {
            a.send(&b"hello\n"[..]).await?;
            a.resize(120, 40).await?;
            a.signal("WINCH").await?;
            a.close_stdin().await
        })
    };

    let mut guest = Guest::connect(&server, &id).await;
    assert!(server.is_connected(&id));
    // A frame type from a later version is skipped, not fatal.
    let mut future_frame = Vec::new();
    encode_raw(0x30, b"anything", b"later", &mut future_frame).unwrap();
    guest.writer.write_all(&future_frame).await.unwrap();

    // The guest echoes stdin as stdout and reports something on stderr.
    match guest.recv().await {
        Frame::Stdin { session, data } => {
            assert_eq!(session, sid);
            guest
                .send(Frame::Stdout {
                    session,
                    data: data.clone(),
                })
                .await;
            assert_eq!(&data[..], b"hello\n");
        }
        other => panic!("expected stdin, got {other:?}"),
    }
    guest
        .send(Frame::Stderr {
            session: sid.clone(),
            data: Bytes::from_static(b"warning: echo\n"),
        })
        .await;
    assert_eq!(
        guest.recv().await,
        Frame::Resize {
            session: sid.clone(),
            cols: 120,
            rows: 40
        }
    );
    assert_eq!(
        guest.recv().await,
        Frame::Signal {
            session: sid.clone(),
            signal: "WINCH".into()
        }
    );
    assert_eq!(
        guest.recv().await,
        Frame::CloseStdin {
            session: sid.clone()
        }
    );
    sent.await.unwrap().unwrap();
    guest
        .send(Frame::Exit {
            session: sid.clone(),
            status: 3,
        })
        .await;
    drop(guest);

    assert_eq!(
        bounded("the exit status", a.exit_status()).await.unwrap(),
        3
    );
    assert_eq!(out.await.unwrap(), b"hello\n");
    assert_eq!(err.await.unwrap(), b"warning: echo\n");
    let chunks: Vec<OutputChunk> = bounded("both streams", both.collect()).await;
    assert_eq!(
        chunks.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [OutputKind::Stdout, OutputKind::Stderr]
    );

    // The output outlives the connection.
    until_disconnected(&server, &id).await;
    let log = server.logs(&id, &sid).unwrap();
    assert_eq!(log.stdout(), b"hello\n");
    assert_eq!(log.stderr(), b"warning: echo\n");
    assert_eq!(log.combined(), b"hello\nwarning: echo\n");
    assert_eq!(log.exit_status, Some(3));
    assert_eq!(log.dropped, 0);
    let followed: Vec<OutputChunk> = bounded(
        "follow_logs",
        server.follow_logs(&id, &sid).unwrap().collect(),
    )
    .await;
    assert_eq!(followed, log.chunks);

    // The bad peers were cut off: the server closed both without a byte.
    for (what, sock) in [("garbage", &mut garbage), ("silent", &mut silent)] {
        let mut buf = [0u8; 16];
        let n = bounded(what, sock.read(&mut buf)).await.unwrap_or(0);
        assert_eq!(n, 0, "{what} peer got an answer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_guest_and_followers() {
    let server = InteractionServer::bind("127.0.0.1:0").await.unwrap();
    let id = ContainerId::random();
    let sid = "exec-1";

    let mut guest = Guest::connect(&server, &id).await;
    guest.send(stdout(sid, b"one\n")).await;
    // A follower sees what is kept, then what comes.
    let mut follow = server.follow_logs(&id, sid).unwrap();
    let first = bounded("kept output", follow.next()).await.unwrap();
    assert_eq!(&first.data[..], b"one\n");
    drop(guest);
    until_disconnected(&server, &id).await;

    // Input sent while the guest is away waits for its next connection.
    let a = server.attach(&id, sid).unwrap();
    let pending = tokio::spawn(async move { a.send(&b"later"[..]).await.map(|()| a) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!pending.is_finished(), "send must wait for a guest");
    let mut guest = Guest::connect(&server, &id).await;
    assert_eq!(
        guest.recv().await,
        Frame::Stdin {
            session: sid.into(),
            data: Bytes::from_static(b"later")
        }
    );
    let a = pending.await.unwrap().unwrap();

    // A second connection for the same container replaces the first.
    let mut newer = Guest::connect(&server, &id).await;
    let end = bounded("the old connection to close", guest.reader.next_frame()).await;
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    newer.send(stdout(sid, b"two\n")).await;
    newer
        .send(Frame::Exit {
            session: sid.into(),
            status: 0,
        })
        .await;
    assert_eq!(bounded("exit", a.exit_status()).await.unwrap(), 0);
    let rest: Vec<OutputChunk> = bounded("the follower's end", follow.collect()).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(&rest[0].data[..], b"two\n");
    assert_eq!(server.logs(&id, sid).unwrap().stdout(), b"one\ntwo\n");

    // A protocol error closes only that connection (of another container).
    let other = ContainerId::random();
    let mut bad = TcpStream::connect(server.local_addr()).await.unwrap();
    let hello = protocol::encode_to_vec(&Frame::Hello {
        version: 9,
        container: other.clone(),
    })
    .unwrap();
    bad.write_all(&hello).await.unwrap();
    let (rd, mut wr) = bad.into_split();
    let mut r = FrameReader::new(rd);
    // A later version in the hello is answered with the version both speak.
    assert_eq!(
        bounded("welcome", r.next_frame()).await.unwrap(),
        Some(Frame::Welcome { version: 1 })
    );
    // An oversize stdout frame: refused from its header, the connection ends.
    wr.write_all(&[kind::STDOUT, 1, 0xff, 0xff, 0xff, 0xff, b's'])
        .await
        .unwrap();
    assert!(matches!(
        bounded("close", r.next_frame()).await,
        Ok(None) | Err(_)
    ));
    assert!(server.logs(&other, "s").unwrap_err().is_not_found());
    // The good connection still works.
    assert!(server.is_connected(&id));
    let b = server.attach(&id, sid).unwrap();
    b.send(&b"still there"[..]).await.unwrap();
    assert_eq!(
        newer.recv().await,
        Frame::Stdin {
            session: sid.into(),
            data: Bytes::from_static(b"still there")
        }
    );

    // Forgetting the container ends pending waits.
    let waiting = server.attach(&id, "another").unwrap();
    server.forget(&id);
    assert!(matches!(
        bounded("stopped", waiting.exit_status()).await,
        Err(Error::Stopped(_))
    ));
}

/// The interaction and logging ports on a VM, read back raw.
struct Ports {
    uri: Option<(String, String, bool, bool)>,
    files: Vec<String>,
}

fn ports(devices: &[AnyVirtualDevice]) -> Ports {
    let mut p = Ports {
        uri: None,
        files: Vec::new(),
    };
    for d in devices {
        let AnyVirtualDevice::VirtualSerialPort(s) = d else {
            continue;
        };
        let c = s.connectable.clone().unwrap_or_default();
        match &s.backing {
            Some(AnyVirtualDeviceBackingInfo::VirtualSerialPortURIBackingInfo(b)) => {
                assert!(p.uri.is_none(), "two URI-backed serial ports");
                p.uri = Some((
                    b.service_uri.clone(),
                    b.direction.clone(),
                    c.connected,
                    c.start_connected,
                ));
            }
            Some(AnyVirtualDeviceBackingInfo::VirtualSerialPortFileBackingInfo(b)) => {
                p.files.push(b.file_name.clone())
            }
            other => panic!("unexpected serial backing {other:?}"),
        }
    }
    p
}

async fn serial_ports_on_the_vm(fx: Fixture) {
    let exec = fx.exec();
    let id = ContainerId::random();
    let uri = "tcp://127.0.0.1:2377";
    let mut h = exec.create_handle(id.clone(), Default::default()).unwrap();
    interaction::join(&mut h, uri).unwrap();
    assert!(matches!(
        interaction::join(&mut h, "tcp://127.0.0.1:2378"),
        Err(Error::Exists { .. })
    ));
    interaction::join_logging(&mut h).unwrap();
    assert!(matches!(
        interaction::join_logging(&mut h),
        Err(Error::Exists { .. })
    ));
    let info = bounded("create", exec.commit(h)).await.unwrap();

    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    let p = ports(&vm.devices);
    assert_eq!(
        p.uri,
        Some((uri.to_string(), "client".to_string(), false, false)),
        "{}",
        fx.kind
    );
    let ds = &fx.settings.datastore;
    assert_eq!(p.files, [format!("[{ds}] {id}/output.log")], "{}", fx.kind);

    // bind connects it; a second bind changes nothing.
    let mut h = exec.get(&id).await.unwrap();
    assert!(matches!(
        interaction::join(&mut h, uri),
        Err(Error::Exists { .. })
    ));
    interaction::bind(&mut h).unwrap();
    assert_eq!(h.device_changes().len(), 1);
    bounded("bind", exec.commit(h)).await.unwrap();
    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    let p = ports(&vm.devices);
    assert_eq!(
        p.uri,
        Some((uri.to_string(), "client".to_string(), true, true)),
        "{}",
        fx.kind
    );
    assert_eq!(p.files.len(), 1, "{}", fx.kind);
    let mut h = exec.get(&id).await.unwrap();
    interaction::bind(&mut h).unwrap();
    assert!(h.device_changes().is_empty());

    // unbind disconnects it.
    interaction::unbind(&mut h).unwrap();
    bounded("unbind", exec.commit(h)).await.unwrap();
    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    let p = ports(&vm.devices);
    assert_eq!(
        p.uri,
        Some((uri.to_string(), "client".to_string(), false, false)),
        "{}",
        fx.kind
    );
    // The module's own reading agrees with the raw one.
    let port = interaction::interaction_port(&vm.devices).unwrap();
    assert!(!port.connected);
}

async fn bind_needs_a_port(fx: Fixture) {
    let exec = fx.exec();
    let id = ContainerId::random();
    let h = exec.create_handle(id.clone(), Default::default()).unwrap();
    bounded("create", exec.commit(h)).await.unwrap();
    let mut h = exec.get(&id).await.unwrap();
    assert!(interaction::bind(&mut h).unwrap_err().is_not_found());
    assert!(interaction::unbind(&mut h).unwrap_err().is_not_found());
    // Joining an existing, powered-off container works too.
    interaction::join(&mut h, "tcp://127.0.0.1:2377").unwrap();
    interaction::bind(&mut h).unwrap();
    let info = bounded("join", exec.commit(h)).await.unwrap();
    let vm = fx.backend.vm(&info.vm, VmDetail::Full).await.unwrap();
    let p = ports(&vm.devices);
    assert_eq!(
        p.uri,
        Some((
            "tcp://127.0.0.1:2377".to_string(),
            "client".to_string(),
            true,
            true
        )),
        "{}",
        fx.kind
    );
}

both_backends!(serial_ports, super::serial_ports_on_the_vm);
both_backends!(bind_without_join, super::bind_needs_a_port);
