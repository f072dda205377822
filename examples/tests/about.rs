//! End to end: the `about` example against a simulator it starts, pinned by thumbprint.

use std::process::Command;
use test_support::{Simulator, SimulatorConfig};

#[test]
fn about_prints_live_figures() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().vms(3).tls(true));
    let out = Command::new(env!("CARGO_BIN_EXE_about"))
        .args([
            "--url",
            sim.url(),
            "--thumbprint",
            sim.sha256_thumbprint().unwrap(),
        ])
        .env("VIM_USERNAME", sim.username())
        .env("VIM_PASSWORD", sim.password())
        .env_remove("GOVC_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("VMware vCenter Server"), "{stdout}");
    assert!(stdout.contains("API version: 6.5"), "{stdout}");
    let count = |label: &str| -> usize {
        stdout
            .lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label} line in {stdout}"))
    };
    // The default vpx model: 1 datacenter, 1 cluster of 3 hosts plus 1 standalone host,
    // and `-vm 3` VMs on each resource pool and standalone host.
    assert_eq!(count("hosts"), 4);
    assert_eq!(count("VMs"), 6);
    assert!(count("datastores") >= 1);
}

#[test]
fn about_refuses_an_untrusted_certificate() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(true));
    let out = Command::new(env!("CARGO_BIN_EXE_about"))
        .args(["--url", &sim.url_with_credentials()])
        .env_remove("GOVC_URL")
        .env_remove("GOVC_INSECURE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(sim.sha256_thumbprint().unwrap()),
        "{stderr}"
    );
    // The credentials given in the URL never reach the message.
    assert!(
        !stderr.contains(&format!(":{}@", sim.password())),
        "{stderr}"
    );
}

#[test]
fn debug_writes_every_exchange_with_secrets_masked() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let dir = std::env::temp_dir().join(format!("vim25-debug-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_about"))
        .args(["--url", sim.url(), "--debug"])
        .arg(&dir)
        .env("VIM_USERNAME", sim.username())
        .env("VIM_PASSWORD", sim.password())
        .env_remove("GOVC_URL")
        .env_remove("GOVC_DEBUG_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.contains(&"0001-RetrieveServiceContent.req.xml".to_string()),
        "{names:?}"
    );
    let login = names
        .iter()
        .find(|n| n.ends_with("-Login.req.xml"))
        .unwrap_or_else(|| panic!("no Login exchange in {names:?}"));
    let request = std::fs::read_to_string(dir.join(login)).unwrap();
    assert!(request.contains("<password>***</password>"), "{request}");
    let answer = std::fs::read_to_string(dir.join(login.replace(".req.", ".res."))).unwrap();
    // vcsim uses the session key as the session cookie: both stay out of the files.
    assert!(answer.contains("<key>***</key>"), "{answer}");
    let secret = format!(">{}<", sim.password());
    for n in &names {
        let text = std::fs::read_to_string(dir.join(n)).unwrap();
        assert!(!text.contains(&secret), "{n} holds the password");
    }
    assert!(names.len() >= 6, "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
