//! The guestinfo channel against a stand-in `vmware-rpctool` (a shell script).
#![cfg(all(unix, feature = "guestinfo"))]

use std::os::unix::fs::PermissionsExt;

use vic_config::guestinfo::GuestInfo;
use vic_config::model::ExecutorConfig;
use vic_config::{from_extra_config, Error};

fn fake_rpctool(dir: &std::path::Path) -> std::path::PathBuf {
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let script = dir.join("rpctool");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
store={store}
set -- $1
cmd=$1; key=$2; shift 2
case "$cmd" in
  info-get) if [ -f "$store/$key" ]; then cat "$store/$key"; echo; else echo "No value found" >&2; exit 1; fi ;;
  info-set) printf '%s' "$*" > "$store/$key" ;;
esac
"#,
            store = store.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn the_guest_reads_visible_keys_and_writes_read_write_ones() {
    let dir = std::env::temp_dir().join(format!("vic-guestinfo-{}", std::process::id()));
    let guest = GuestInfo::with_command(fake_rpctool(&dir));
    std::fs::write(dir.join("store/guestinfo.vice.%2Frepo"), "x").unwrap();
    guest.set("guestinfo.vice..createtime", "42").unwrap();
    assert_eq!(
        guest.get("guestinfo.vice..createtime").unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(guest.get("guestinfo.vice..nothing").unwrap(), None);
    assert_eq!(
        guest.get("common/name").unwrap(),
        None,
        "hidden keys are invisible"
    );
    let c: ExecutorConfig = from_extra_config(&guest).unwrap();
    assert_eq!(c.create_time, Some(42));
    let e = guest.set("guestinfo.vice./repo", "y").unwrap_err();
    assert!(matches!(e, Error::Guest { .. }) && e.key() == Some("guestinfo.vice./repo"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn outside_a_vm_the_error_says_so() {
    let guest = GuestInfo::with_command("/nonexistent/vmware-rpctool");
    let e = guest.get("guestinfo.vice./repo").unwrap_err();
    assert!(e.to_string().contains("inside a VMware VM"), "{e}");
}
