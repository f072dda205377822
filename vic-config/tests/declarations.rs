//! Keys computed from the declarations, never spelt by hand: `key_of` (VIC's
//! `CalculateKeys`) against what the encoder writes, `is_vic_key` from the model's
//! top-level declarations, and model docs that leave keys to the declarations.

use std::collections::BTreeMap;
use std::time::Duration;

use vic_config::model::{
    is_vic_key, AssignedNetwork, Build, Cmd, Common, Connection, ContainerNetwork, Detail,
    Diagnostics, ExecutorCommon, ExecutorConfig, ExitLog, IpRange, MountSpec, NetworkEndpoint,
    SessionConfig, SyslogConfig, VchConfig,
};
use vic_config::types::{IpMask, IpNet, Timestamp, Url};
use vic_config::vmx::VmxFile;
use vic_config::{
    extra_config, from_extra_config, key_of, to_extra_config_with, EncodeOptions, Error,
    ExtraConfig, Layout, Secret,
};

type Map = BTreeMap<String, String>;

const LAYOUTS: [Layout; 2] = [Layout::Current, Layout::Legacy];

fn encode<T: ExtraConfig>(value: &T, layout: Layout) -> Map {
    to_extra_config_with(
        value,
        EncodeOptions {
            layout,
            ..Default::default()
        },
    )
    .unwrap()
}

fn net(ip: &str, prefix: u8) -> IpNet {
    IpNet {
        ip: Some(ip.parse().unwrap()),
        mask: IpMask::v4_prefix(prefix),
    }
}

fn common(id: &str) -> Common {
    Common {
        execution_environment: Some("env".into()),
        id: Some(id.into()),
        name: Some(format!("{id}-name")),
        notes: Some("notes".into()),
    }
}

/// A session with every field set (`started` among them).
fn session(id: &str) -> SessionConfig {
    SessionConfig {
        common: common(id),
        detail: Detail {
            create_time: Some(1),
            start_time: Some(2),
            stop_time: Some(3),
        },
        cmd: Cmd {
            path: Some("/hello".into()),
            args: vec!["/hello".to_owned(), "-v".to_owned()].into(),
            env: vec!["A=1".to_owned()].into(),
            dir: Some("/".into()),
        },
        attach: Some(true),
        open_stdin: Some(true),
        run_block: Some(false),
        run_block_config: Some(false),
        active: Some(true),
        tty: Some(false),
        exit_status: Some(0),
        started: Some("true".into()),
        restart: Some(true),
        stop_signal: Some("TERM".into()),
        diagnostics: Diagnostics {
            debug_level: Some(1),
            resurrection_count: Some(2),
            exit_logs: vec![ExitLog {
                time: Some(Timestamp::from_unix(1_500_000_000, 0)),
                exit_status: Some(1),
                message: Some("boom".into()),
            }],
            syslog: Some(SyslogConfig {
                network: Some("udp".into()),
                remote_addr: Some("10.0.0.1:514".into()),
            }),
        },
        user: Some("root".into()),
        group: Some("root".into()),
    }
}

fn container_network(name: &str) -> ContainerNetwork {
    ContainerNetwork {
        common: common(name),
        network_type: Some("bridge".into()),
        destinations: vec![net("10.1.0.0", 16)],
        gateway: net("172.16.0.1", 16),
        default: Some(true),
        nameservers: vec!["8.8.8.8".parse().unwrap()],
        pools: vec![IpRange {
            first: Some("172.16.0.2".parse().unwrap()),
            last: Some("172.16.0.9".parse().unwrap()),
        }],
        aliases: vec!["web:db".into()],
        trust_level: Some(3),
        assigned: AssignedNetwork {
            gateway: net("172.16.0.1", 16),
            nameservers: vec!["8.8.4.4".parse().unwrap()],
        },
    }
}

/// A containerVM config with every field set; its one network is `my.net`, a name
/// whose `.` the key shapes rewrite.
fn executor() -> ExecutorConfig {
    ExecutorConfig {
        common: ExecutorCommon {
            execution_environment: Some("env".into()),
            id: Some("cid".into()),
            name: Some("jolly_panini".into()),
            notes: Some("notes".into()),
        },
        create_time: Some(1_500_000_000_000_000_000),
        diagnostics: session("d").diagnostics,
        sessions: BTreeMap::from([("abc".to_owned(), session("abc"))]),
        execs: BTreeMap::from([("x1".to_owned(), session("x1"))]),
        mounts: BTreeMap::from([(
            "vol".to_owned(),
            MountSpec {
                source: Some(Url {
                    scheme: "ds".into(),
                    host: "store".into(),
                    path: "/vols/a".into(),
                    ..Default::default()
                }),
                path: Some("/data".into()),
                mode: Some("rw".into()),
                copy_mode: Some(2),
            },
        )]),
        networks: BTreeMap::from([(
            "my.net".to_owned(),
            NetworkEndpoint {
                common: common("eth0"),
                static_ip: Some(true),
                ip: Some(net("172.16.0.5", 16)),
                assigned: net("172.16.0.5", 16),
                network: container_network("my.net"),
                ports: vec!["80/tcp".into()],
            },
        )]),
        key: vec![1, 2, 3],
        layer_id: Some("layer".into()),
        image_id: Some("image".into()),
        hostname: Some("host".into()),
        annotations: BTreeMap::from([("owner".to_owned(), "me".to_owned())]),
        repo: Some("hello-world".into()),
        version: Some(Build {
            version: Some("v1.5.0".into()),
            build_number: Some("1".into()),
            git_commit: Some("abc123".into()),
            state: Some("".into()),
            build_date: Some("2019/01/01".into()),
            plugin_version: Some(10),
        }),
        asymmetric_routing: Some(false),
    }
}

/// The golden VCH with its gaps filled: the appliance config fully populated, a
/// secret token and a private key.
fn vch() -> VchConfig {
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vic-golden/vch-1.1.0-rc3.vmx"
    );
    let text = std::fs::read_to_string(golden).expect("golden data must be present");
    let mut vch: VchConfig = from_extra_config(&VmxFile::parse(&text).unwrap()).unwrap();
    vch.init = executor();
    vch.connection = Connection {
        target: Some("https://vc".into()),
        username: Some("admin".into()),
        token: Some(Secret::new("hunter2".into())),
        target_thumbprint: Some("AB:CD".into()),
        keepalive: Some(Duration::from_secs(300)),
    };
    vch.certificate.host_certificate = Some(vic_config::model::RawCertificate {
        key: Some(Secret::new(b"-----BEGIN KEY-----".to_vec())),
        cert: b"-----BEGIN CERTIFICATE-----".to_vec(),
    });
    vch.network
        .container_networks
        .insert("my.net".into(), container_network("my.net"));
    vch
}

/// `key_of(path)` in every layout gives a key that encoding `value` writes, with
/// the expected value.
#[track_caller]
fn written<T: ExtraConfig>(value: &T, path: &str, ids: &[&str], expected: &str) {
    for layout in LAYOUTS {
        let map = encode(value, layout);
        let key = key_of::<T>(path, layout).unwrap();
        let key = if ids.is_empty() {
            key.exact().expect("no wildcard").to_owned()
        } else {
            key.fill(ids).unwrap()
        };
        assert_eq!(
            map.get(&key).map(String::as_str),
            Some(expected),
            "{path} {ids:?} in {layout:?}: key `{key}` not written with {expected:?}; written: {:#?}",
            map.keys().collect::<Vec<_>>()
        );
    }
}

// ---- key_of against the encoder ----

#[test]
fn the_started_key_of_a_session_is_what_the_encoder_writes() {
    let c = executor();
    written(&c, "sessions.abc.started", &[], "true");
    written(&c, "sessions.*.started", &["abc"], "true");
    assert_eq!(
        key_of::<ExecutorConfig>("sessions.*.started", Layout::Current)
            .unwrap()
            .to_string(),
        "guestinfo.vice..sessions|*.started"
    );
    assert_eq!(
        key_of::<ExecutorConfig>("sessions.abc.started", Layout::Legacy)
            .unwrap()
            .exact(),
        Some("guestinfo..sessions|abc.started")
    );
}

#[test]
fn keys_of_every_scope_match_the_encoder_in_both_layouts() {
    let c = executor();
    // read-only, also inside a read-write parent and as a primitive slice's index
    written(&c, "sessions.abc.cmd.path", &[], "/hello");
    written(&c, "sessions.abc.cmd.args", &[], "1");
    written(&c, "common.id", &[], "cid");
    // read-write below read-only
    written(&c, "sessions.abc.detail.start_time", &[], "2");
    written(&c, "sessions.abc.exit_status", &[], "0");
    // hidden: at the top, below a read-only parent, as a map entry
    written(&c, "common.name", &[], "jolly_panini");
    written(&c, "sessions.abc.common.notes", &[], "notes");
    written(&c, "annotations.owner", &[], "me");
    written(&c, "annotations.*", &["owner"], "me");
    // non-persistent, inherited by a read-write child
    written(&c, "execs.*.started", &["x1"], "true");
    // inherited scope, slices of structs, codec structs
    written(&c, "sessions.abc.common.execution_environment", &[], "env");
    written(&c, "diagnostics.exit_logs.0.message", &[], "boom");
    written(&c, "diagnostics.exit_logs.*.exit_status", &["0"], "1");
    written(&c, "mounts.vol.source.host", &[], "store");
    // index keys of maps and slices
    written(&c, "sessions", &[], "abc");
    written(&c, "diagnostics.exit_logs", &[], "0");

    // secret, in a VCH, and the session of the appliance's own config
    let v = vch();
    for layout in LAYOUTS {
        let map = encode(&v, layout);
        for path in ["connection.token", "certificate.host_certificate.key"] {
            let key = key_of::<VchConfig>(path, layout).unwrap();
            let key = key.exact().unwrap();
            assert!(key.ends_with("@secret"), "{key}");
            assert!(map.contains_key(key), "{path} in {layout:?}: {key}");
        }
    }
    written(&v, "init.sessions.abc.started", &[], "true");
    written(&v, "init.common.name", &[], "jolly_panini");
}

#[test]
fn ids_with_dots_get_the_separator_rewriting_of_the_encoder() {
    let c = executor();
    // read-only path: the `.` of `my.net` becomes `/`; read-write: stays `.`
    written(&c, "networks.*.network.default", &["my.net"], "true");
    written(&c, "networks.*.assigned.ip", &["my.net"], "rBAABQ==");
    written(
        &c,
        "networks.*.network.assigned.gateway.ip",
        &["my.net"],
        "rBAAAQ==",
    );
    let k = key_of::<ExecutorConfig>("networks.*.network.default", Layout::Current).unwrap();
    assert_eq!(
        k.fill(&["my.net"]).unwrap(),
        "guestinfo.vice./networks|my/net/network/default"
    );
}

#[test]
fn structs_declared_by_users_get_key_look_ups_for_free() {
    #[derive(Default)]
    struct Task {
        note: String,
        state: String,
        owner: String,
        token: Option<Secret<String>>,
    }
    extra_config! { Task {
        note: "Note" [hidden],
        state: "state" [read_write],
        owner: "Owner",
        token: "token" [secret],
    }}
    #[derive(Default)]
    struct Queue {
        tasks: BTreeMap<String, Task>,
    }
    extra_config! { Queue { tasks: "tasks" [read_only] } }

    let q = Queue {
        tasks: BTreeMap::from([(
            "abc".to_owned(),
            Task {
                note: "n".into(),
                state: "running".into(),
                owner: "me".into(),
                token: Some(Secret::new("s".into())),
            },
        )]),
    };
    written(&q, "tasks.abc.note", &[], "n");
    written(&q, "tasks.*.state", &["abc"], "running");
    written(&q, "tasks.abc.owner", &[], "me");
    for layout in LAYOUTS {
        let key = key_of::<Queue>("tasks.abc.token", layout).unwrap();
        assert!(encode(&q, layout).contains_key(key.exact().unwrap()));
    }
    // Key segments name fields too.
    assert_eq!(
        key_of::<Queue>("tasks.abc.Owner", Layout::Current).unwrap(),
        key_of::<Queue>("tasks.abc.owner", Layout::Current).unwrap()
    );
}

#[test]
fn a_pattern_matches_the_keys_it_stands_for_and_captures_their_ids() {
    let k = key_of::<ExecutorConfig>("sessions.*.started", Layout::Current).unwrap();
    assert_eq!(k.exact(), None);
    assert_eq!(k.wildcards(), 1);
    assert_eq!(
        k.captures("guestinfo.vice..sessions|abc.started"),
        Some(vec!["abc"])
    );
    assert!(!k.matches("guestinfo.vice..sessions|abc.status"));
    assert!(!k.matches("guestinfo.vice./sessions|abc/started"));
    assert!(!k.matches("guestinfo.vice..sessions|a|b.started"));
    let two =
        key_of::<ExecutorConfig>("networks.*.network.pools.*.first", Layout::Current).unwrap();
    assert_eq!(
        two.to_string(),
        "guestinfo.vice./networks|*/network/pools|*/first"
    );
    assert_eq!(
        two.captures("guestinfo.vice./networks|my/net/network/pools|0/first"),
        Some(vec!["my/net", "0"]),
        "ids come back as the key has them"
    );
    let map = encode(&executor(), Layout::Current);
    let started: Vec<_> = map.keys().filter(|key| k.matches(key)).collect();
    assert_eq!(started, ["guestinfo.vice..sessions|abc.started"]);
    let exact = key_of::<ExecutorConfig>("repo", Layout::Current).unwrap();
    assert!(exact.matches("guestinfo.vice./repo"));
    assert_eq!(exact.captures("guestinfo.vice./repo"), Some(vec![]));
}

// ---- key_of errors ----

#[track_caller]
fn path_error<T: ExtraConfig>(path: &str, says: &str) {
    let e = key_of::<T>(path, Layout::Current).unwrap_err();
    match &e {
        Error::FieldPath { path: p, reason } => {
            assert_eq!(p, path);
            assert!(reason.contains(says), "{path}: {reason}");
        }
        other => panic!("{path}: expected a field path error, got {other:?}"),
    }
    assert!(e.to_string().contains(path), "{e}");
}

#[test]
fn paths_that_lead_to_no_key_are_errors_naming_the_path() {
    path_error::<ExecutorConfig>("sessions.*.begun", "has no field `begun`");
    path_error::<ExecutorConfig>("sessions.*.begun", "started");
    path_error::<ExecutorConfig>("nope", "has no field `nope`");
    path_error::<ExecutorConfig>("sessions.*.started.at", "single value");
    path_error::<ExecutorConfig>("*.started", "`*` stands where a field");
    path_error::<ExecutorConfig>("sessions.*.cmd.args.0", "joined with `|`");
    path_error::<ExecutorConfig>("key.0", "base64");
    path_error::<ExecutorConfig>("diagnostics.exit_logs.last", "not an index");
    path_error::<ExecutorConfig>("sessions..started", "empty segment");
    path_error::<ExecutorConfig>("", "empty segment");
    path_error::<SessionConfig>("runblock", "run_block and run_block_config");

    #[derive(Default)]
    struct Odd {
        gone: String,
        quiet: String,
        shallow: Option<Box<Odd>>,
    }
    extra_config! { Odd {
        gone: "gone" [skip],
        quiet: "quiet" [hidden, non_persistent],
        shallow: "shallow" [read_only, depth = 0],
    }}
    path_error::<Odd>("gone", "`skip`");
    path_error::<Odd>("quiet", "never written");
    path_error::<Odd>("shallow.gone", "recursion depth");

    let k = key_of::<ExecutorConfig>("sessions.*.started", Layout::Current).unwrap();
    assert!(matches!(k.fill(&[]), Err(Error::FieldPath { .. })));
    assert!(matches!(k.fill(&["a|b"]), Err(Error::FieldPath { .. })));
}

// ---- is_vic_key from the declarations ----

#[test]
fn every_key_of_a_populated_vch_and_container_is_a_vic_key() {
    let v = vch();
    let c = executor();
    for layout in LAYOUTS {
        for map in [encode(&v, layout), encode(&c, layout)] {
            let hidden = map.keys().filter(|k| !k.starts_with("guestinfo.")).count();
            assert!(hidden >= 5, "hidden keys are exercised");
            for key in map.keys() {
                assert!(is_vic_key(key, layout), "{key} in {layout:?}");
            }
        }
    }
    for foreign in ["numa.nodeAffinity", "answer.msg.x", "migrate.hostLog"] {
        for layout in LAYOUTS {
            assert!(!is_vic_key(foreign, layout), "{foreign}");
        }
    }
}

#[test]
fn every_declared_top_level_segment_is_a_hidden_vic_root() {
    let declared: Vec<&str> = VchConfig::fields()
        .iter()
        .chain(ExecutorConfig::fields())
        .map(|f| f.spec().key())
        .collect();
    // A field added to either declaration adds its segment; none is listed by hand.
    assert_eq!(
        declared.len(),
        VchConfig::fields().len() + ExecutorConfig::fields().len()
    );
    for seg in declared {
        for key in [
            seg.to_owned(),
            format!("{seg}/a"),
            format!("{seg}|a/b"),
            format!("{seg}~"),
        ] {
            assert!(is_vic_key(&key, Layout::Current), "{key}");
        }
        assert!(!is_vic_key(&format!("{seg}.x"), Layout::Current), "{seg}.x");
        assert!(
            !is_vic_key(&format!("{seg}x/y"), Layout::Current),
            "{seg}x/y"
        );
    }
}

// ---- the model's docs leave keys to the declarations ----

/// For each struct of a source file, its doc lines and the key segments its
/// `extra_config!` block declares.
fn docs_and_segments(src: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut docs: Vec<String> = Vec::new();
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if let Some(d) = t.strip_prefix("///") {
            docs.push(d.to_owned());
        } else if let Some(rest) = t.strip_prefix("pub struct ") {
            let name = rest.split([' ', '{', '(']).next().unwrap().to_owned();
            // the struct body's field docs
            i += 1;
            while i < lines.len() && lines[i].trim() != "}" {
                if let Some(d) = lines[i].trim().strip_prefix("///") {
                    docs.push(d.to_owned());
                }
                i += 1;
            }
            let open = format!("extra_config! {{ {name} {{");
            let segments = match src.find(&open) {
                Some(at) => src[at..]
                    .lines()
                    .skip(1)
                    .take_while(|l| !l.starts_with("}}"))
                    .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
                    .collect(),
                None => Vec::new(),
            };
            if !segments.is_empty() {
                out.push((name, std::mem::take(&mut docs), segments));
            }
            docs.clear();
        } else if !t.starts_with("#[") {
            docs.clear();
        }
        i += 1;
    }
    out
}

#[test]
fn model_docs_restate_no_key_segment_and_no_scope() {
    let sources = [
        include_str!("../src/model.rs"),
        include_str!("../src/types.rs"),
    ];
    let mut structs = 0;
    for src in sources {
        for (name, docs, segments) in docs_and_segments(src) {
            structs += 1;
            for doc in &docs {
                for seg in &segments {
                    assert!(
                        !doc.contains(&format!("`{seg}`")) && !doc.contains(&format!("`{seg}~`")),
                        "{name}: doc `{doc}` restates key segment `{seg}`: the declaration says it"
                    );
                }
                for scope in [
                    "read-only",
                    "read-write",
                    "non-persistent",
                    "hidden)",
                    "secret)",
                ] {
                    assert!(
                        !doc.contains(scope),
                        "{name}: doc `{doc}` restates a scope: the declaration says it"
                    );
                }
            }
        }
    }
    assert!(
        structs >= 25,
        "the scan found the declared structs ({structs})"
    );
}
