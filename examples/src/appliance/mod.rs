//! `vic-appliance`: what runs inside a VCH's appliance VM — the Docker Engine API
//! on the port layer, so that the real `docker` command line is the client.
//!
//! [`start`] reads the VCH's config from its appliance VM's extraConfig (with the
//! docker endpoint's certificate and sealed key), starts a vic-portlayer on the
//! vSphere backend placed in the VCH's resource pool and folders, opens the image
//! catalogue on the VCH's image store, accepts the containerVMs' serial connections
//! (an [`InteractionServer`]) and serves the Docker API over TLS with the VCH's
//! certificate (`docker -H IP:2376 --tls`), or over plain HTTP when asked.
//!
//! Everything a container is lives in vSphere (its VM and extraConfig) and every
//! image in the image store and its kv catalogue: a restarted appliance lists the
//! same containers in the same states. What it keeps only in memory is the output
//! its containers sent over their serial connections (`docker logs`).
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), examples::vch::VchError> {
//! use examples::appliance::{start, Options};
//!
//! let running = start(client, Options::new("VCH001")).await?;
//! println!("docker -H {} --tls info", running.docker_addr());
//! running.serve_until_stopped().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod images;
pub mod names;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use vic_portlayer::exec::ExecSettings;
use vic_portlayer::interaction::InteractionServer;
use vic_portlayer::network::NetworkConfig;
use vic_portlayer::vsphere::VsphereBackend;
use vic_portlayer::{PortLayer, PortLayerConfig};
use vim25::mo;
use vim25::object::{Common, DatastorePath, ResourcePool, VirtualMachine};
use vim25::types::ManagedObjectReference;
use vim25::Client;

use crate::vch::{self, Doing, FoundVch, VchError};

/// The image store the appliance keeps images in (the one `vch create` makes).
pub const IMAGE_STORE: &str = crate::vch::create::IMAGE_STORE;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The VCH's name.
    pub name: String,
    /// Where the Docker API listens.
    pub listen: SocketAddr,
    /// Where containerVMs' serial connections arrive.
    pub interaction_listen: SocketAddr,
    /// Serve TLS with the VCH's certificate (`docker --tls`); plain HTTP when false.
    pub tls: bool,
}

impl Options {
    /// The defaults for VCH `name`: the API on 127.0.0.1:2376 over TLS, serial
    /// connections on 127.0.0.1:2377.
    pub fn new(name: &str) -> Options {
        Options {
            name: name.to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], crate::vch::create::DOCKER_PORT)),
            interaction_listen: SocketAddr::from((
                [127, 0, 0, 1],
                crate::vch::create::PORT_LAYER_PORT,
            )),
            tls: true,
        }
    }
}

/// A running appliance.
pub struct Running {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<api::Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Where the Docker API listens (`IP:PORT`, for `docker -H`).
    pub fn docker_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The serial URI containerVMs connect to.
    pub fn serial_uri(&self) -> &str {
        &self.shared.serial_uri
    }

    /// Serves until SIGINT or SIGTERM, then stops accepting and closes the
    /// containers' serial connections.
    pub async fn serve_until_stopped(self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).ok();
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        self.stop();
    }

    /// Stops serving.
    pub fn stop(self) {
        self.accept.abort();
        self.shared.interaction.shutdown();
    }
}

/// Starts the appliance of VCH `opts.name` on `client`.
pub async fn start(client: Client, opts: Options) -> Result<Running, VchError> {
    let vch = vch::find(&client, &opts.name).await?;
    let (port_layer, facts) = port_layer(&client, &vch).await?;
    let storage = port_layer.storage().clone();
    if storage.image_store(IMAGE_STORE).await.is_err() {
        storage
            .create_image_store(IMAGE_STORE)
            .await
            .doing("creating the image store")?;
    }
    let images = images::Images::open(storage, IMAGE_STORE)
        .await
        .map_err(|e| VchError::Invalid(format!("opening the image catalogue: {e}")))?;
    let interaction = InteractionServer::bind(opts.interaction_listen)
        .await
        .doing(format!(
            "listening for serial connections on {}",
            opts.interaction_listen
        ))?;
    let serial_uri = if opts.interaction_listen.ip().is_unspecified() {
        let ip = vch
            .config
            .init
            .networks
            .get("client")
            .and_then(|e| e.assigned.ip.as_ref())
            .map(|i| i.to_ip_addr())
            .unwrap_or_else(|| std::net::IpAddr::from([127, 0, 0, 1]));
        interaction.serial_uri_for(ip)
    } else {
        interaction.serial_uri()
    };
    let tls = if opts.tls {
        Some(tls_acceptor(&vch)?)
    } else {
        None
    };
    let listener = TcpListener::bind(opts.listen)
        .await
        .doing(format!("listening on {}", opts.listen))?;
    let addr = listener
        .local_addr()
        .doing("reading the listening address")?;
    let shared = Arc::new(api::Shared {
        port_layer,
        interaction,
        images,
        vch: vch.name.clone(),
        serial_uri,
        info: facts,
        lifecycle: api::LifecycleLocks::default(),
    });
    let router = api::router(shared.clone());
    let accept = tokio::spawn(accept_loop(listener, tls, router));
    tracing::info!(vch = %vch.name, %addr, tls = opts.tls, serial = %shared.serial_uri, "serving the Docker API");
    Ok(Running {
        addr,
        tls: opts.tls,
        shared,
        accept,
    })
}

/// The port layer on the VCH's placement, and `docker info`'s facts.
async fn port_layer(
    client: &Client,
    vch: &FoundVch,
) -> Result<(PortLayer, api::VchFacts), VchError> {
    let c = &vch.config;
    let pool_ref = c
        .container
        .compute_resources
        .first()
        .map(|r| ManagedObjectReference {
            type_: r.kind.clone(),
            value: r.value.clone(),
        })
        .or_else(|| vch.pool.clone())
        .ok_or_else(|| VchError::Invalid(format!("VCH {} names no resource pool", vch.name)))?;
    let pool: mo::ResourcePool = ResourcePool::new(client, pool_ref.clone())
        .properties(&["owner", "config"])
        .await
        .doing("reading the VCH's resource pool")?;
    let owner = pool.owner.clone();
    // A standalone host's VMs are placed on it; a cluster's by vSphere.
    let host = match owner.as_ref() {
        Some(o) if o.type_ == "ComputeResource" => VirtualMachine::new(client, vch.vm.clone())
            .host()
            .await
            .doing("finding the appliance's host")?
            .map(|h| h.reference().clone()),
        _ => None,
    };
    let placement = vch::placement(client, vch, pool_ref, host).await?;
    let dir = DatastorePath::new(&placement.datastore, placement.vch_dir.clone());
    let backend = Arc::new(VsphereBackend::new(client.clone(), placement));
    let bootstrap = c
        .container
        .bootstrap_image_path
        .as_deref()
        .and_then(DatastorePath::parse)
        .unwrap_or_else(|| {
            DatastorePath::new(&dir.datastore, format!("{}/bootstrap.iso", dir.path))
        });
    let exec = ExecSettings::new(dir.datastore.clone(), bootstrap);
    let bridge =
        c.network.bridge_network.clone().ok_or_else(|| {
            VchError::Invalid(format!("VCH {} names no bridge network", vch.name))
        })?;
    let mut network = NetworkConfig::new(bridge);
    if let Some(w) = c
        .network
        .bridge_network_width
        .as_ref()
        .and_then(|m| m.prefix_len())
    {
        network.bridge_width = w as u8;
    }
    let port_layer = PortLayer::new(backend, PortLayerConfig { exec, network })
        .await
        .doing("starting the port layer")?;

    let mut facts = api::VchFacts {
        product: client.service_content().about.full_name.clone(),
        image_store: format!("[{}] {}/VIC/{IMAGE_STORE}", dir.datastore, dir.path),
        volume_stores: c
            .storage
            .volume_locations
            .iter()
            .map(|(l, u)| format!("{l}: {}", u.path))
            .collect(),
        ..Default::default()
    };
    if let Some(cfg) = pool.config.as_ref() {
        facts.cpu_limit_mhz = cfg.cpu_allocation.limit.filter(|l| *l >= 0);
        facts.mem_limit_mb = cfg.memory_allocation.limit.filter(|l| *l >= 0);
    }
    if let Some(owner) = owner {
        if let Ok(cr) = Common::new(client, owner)
            .properties::<mo::ComputeResource>(&["summary"])
            .await
        {
            if let Some(s) = cr.summary {
                facts.ncpu = i64::from(s.num_cpu_cores);
                facts.mem_total = s.total_memory;
            }
        }
    }
    Ok((port_layer, facts))
}

/// The TLS acceptor with the VCH's certificate and key.
fn tls_acceptor(vch: &FoundVch) -> Result<tokio_rustls::TlsAcceptor, VchError> {
    let host = vch
        .config
        .certificate
        .host_certificate
        .as_ref()
        .ok_or_else(|| VchError::Invalid(format!("VCH {} has no docker certificate", vch.name)))?;
    let key = host.key.as_ref().ok_or_else(|| {
        VchError::Invalid(format!(
            "the docker key of VCH {} cannot be read (its secret key is not available)",
            vch.name
        ))
    })?;
    crate::vch::cert::acceptor(&host.cert, key.expose())
        .map_err(|m| VchError::Invalid(format!("VCH {}'s docker {m}", vch.name)))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => serve_connection(stream, router).await,
                    Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                },
                None => serve_connection(tcp, router).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, router: axum::Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let inner = TowerToHyperService::new(router);
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let inner = inner.clone();
            async move {
                match api::strip_version(req.uri()) {
                    Ok(Some(uri)) => *req.uri_mut() = uri,
                    Ok(None) => {}
                    Err(message) => {
                        let mut r = axum::response::IntoResponse::into_response((
                            axum::http::StatusCode::BAD_REQUEST,
                            axum::Json(serde_json::json!({ "message": message })),
                        ));
                        api::add_server_headers(r.headers_mut());
                        return Ok::<_, std::convert::Infallible>(r);
                    }
                }
                let mut r = match inner.call(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                api::add_server_headers(r.headers_mut());
                Ok(r)
            }
        });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
