//! End to end: `vmx-decode` and `vmx-encode` on the golden VCH and the containerVM
//! example, including the decode | encode pipe and bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vic-golden/vch-1.1.0-rc3.vmx"
);
const CONTAINER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vic-config/tests/data/container.vmx"
);

fn decode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmx-decode"))
        .args(args)
        .output()
        .unwrap()
}

fn encode_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmx-encode"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The VIC-owned lines of a .vmx text: `guestinfo.vice.…` and hidden VIC keys.
fn vic_lines(text: &str) -> Vec<String> {
    const NOT_OURS: &[&str] = &["answer.", "migrate.", "numa.", "vmotion."];
    text.lines()
        .filter(|l| !l.trim().is_empty() && !NOT_OURS.iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn golden_pipe_reproduces_every_vic_line() {
    let golden = std::fs::read_to_string(GOLDEN).expect("golden data must be present");
    let json = ok(&decode(&["--kind", "vch", GOLDEN]));
    let lines = ok(&encode_stdin(&["--kind", "vch", "-"], json.as_bytes()));
    let expected = vic_lines(&golden);
    assert_eq!(expected.len(), 226);
    assert_eq!(vic_lines(&lines), expected);
}

#[test]
fn golden_decodes_to_json_with_its_values() {
    let json = ok(&decode(&["--kind", "auto", "--layout", "auto", GOLDEN]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["init"]["common"]["name"], "test1");
    assert_eq!(v["storage"]["image_stores"][0]["host"], "vsanDatastore");
    assert_eq!(
        v["init"]["networks"]["client"]["assigned"]["ip"],
        "10.192.168.57"
    );
    let sessions: Vec<_> = v["init"]["sessions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(sessions, ["docker-personality", "port-layer", "vicadmin"]);
}

#[test]
fn container_pipe_round_trips_in_both_layouts() {
    let original = std::fs::read_to_string(CONTAINER).unwrap();
    let json = ok(&decode(&["--kind", "container", CONTAINER]));
    let current = ok(&encode_stdin(
        &["--kind", "container", "-"],
        json.as_bytes(),
    ));
    let mut want: Vec<_> = original.lines().collect();
    want.sort();
    assert_eq!(current.lines().collect::<Vec<_>>(), want);

    let legacy = ok(&encode_stdin(&["--layout", "legacy", "-"], json.as_bytes()));
    assert!(
        legacy.contains("guestinfo./repo = \"hello-world\""),
        "{legacy}"
    );
    assert!(
        legacy.contains("common/name = \"jolly_panini\""),
        "{legacy}"
    );
    let dir = std::env::temp_dir().join(format!("vmx-legacy-{}", std::process::id()));
    std::fs::write(&dir, &legacy).unwrap();
    let again = ok(&decode(&[dir.to_str().unwrap()]));
    std::fs::remove_file(&dir).ok();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    );
}

#[test]
fn bad_input_exits_1_naming_the_key() {
    let path = std::env::temp_dir().join(format!("vmx-bad-{}.vmx", std::process::id()));
    std::fs::write(
        &path,
        "guestinfo.vice./common/id = \"x\"\nguestinfo.vice..createtime = \"soon\"\n",
    )
    .unwrap();
    let out = decode(&["--kind", "container", path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("guestinfo.vice..createtime"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_json_exits_1() {
    let out = encode_stdin(&["--kind", "vch", "-"], b"{\"init\": 5}");
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
}

/// A VCH file with a sealed token (and the master key in `guestinfo.ovfEnv`).
fn vch_with_token(tag: &str) -> (std::path::PathBuf, String) {
    use vic_config::model::VchConfig;
    let mut v = VchConfig::default();
    v.init.common.name = Some("sealed-vch".into());
    v.connection.token = Some(vic_config::Secret::new("hunter2".into()));
    let map = vic_config::to_extra_config(&v).unwrap();
    let text = vic_config::vmx::write_lines(&map).unwrap();
    let path = std::env::temp_dir().join(format!("vmx-sealed-{tag}-{}.vmx", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

fn token_of(lines: &str) -> Option<String> {
    let file = vic_config::vmx::VmxFile::parse(lines).unwrap();
    let v: vic_config::model::VchConfig = vic_config::from_extra_config(&file).unwrap();
    v.connection.token.map(|t| t.expose().clone())
}

#[test]
fn secrets_stay_sealed_through_decode_and_encode() {
    let (path, original) = vch_with_token("keep");
    let file = path.to_str().unwrap();
    let json = ok(&decode(&[file]));
    assert!(!json.contains("hunter2"), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sealed = v["@sealed"]["guestinfo.vice./connect/token@secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(original.contains(&sealed));

    // Same layout: the sealed value is written as it was, with the key it needs.
    let lines = ok(&encode_stdin(
        &["--secret-key-from", file, "-"],
        json.as_bytes(),
    ));
    assert!(lines.contains(&sealed), "{lines}");
    assert_eq!(token_of(&lines).as_deref(), Some("hunter2"));
    // Another layout: re-sealed for its new key.
    let legacy = ok(&encode_stdin(
        &["--layout", "legacy", "--secret-key-from", file, "-"],
        json.as_bytes(),
    ));
    assert!(
        legacy.contains("guestinfo./connect/token@secret = \"v2:"),
        "{legacy}"
    );
    assert_eq!(token_of(&legacy).as_deref(), Some("hunter2"));
    std::fs::remove_file(&path).ok();
}

#[test]
fn encode_refuses_to_drop_sealed_values_silently() {
    let (path, _) = vch_with_token("refuse");
    let json = ok(&decode(&[path.to_str().unwrap()]));
    std::fs::remove_file(&path).ok();
    let out = encode_stdin(&["-"], json.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("guestinfo.vice./connect/token@secret"),
        "{err}"
    );
    assert!(err.contains("--secret-key-from"), "{err}");
    assert!(out.stdout.is_empty());

    // Dropping them is a choice the user makes, and it is said.
    let out = encode_stdin(&["--drop-secrets", "-"], json.as_bytes());
    let lines = ok(&out);
    assert!(!lines.contains("@secret"), "{lines}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("guestinfo.vice./connect/token@secret"),
        "{err}"
    );
}

#[test]
fn encode_refuses_sealed_values_swapped_in_the_json() {
    let (path, _) = vch_with_token("swap");
    let file = path.to_str().unwrap();
    let json = ok(&decode(&[file]));
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sealed = v["@sealed"]["guestinfo.vice./connect/token@secret"].take();
    v["@sealed"] = serde_json::json!({ "guestinfo.vice./cert/Key@secret": sealed });
    let out = encode_stdin(&["--secret-key-from", file, "-"], v.to_string().as_bytes());
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("guestinfo.vice./cert/Key@secret"), "{err}");
}
