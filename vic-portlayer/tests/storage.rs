//! Storage on both backends: image stores, images with a parent chain, half-written
//! images, volumes, joining both to containers, and refusals.
use crate::common;

use std::collections::BTreeMap;
use std::io::Cursor;

use common::{bounded, Fixture};
use vic_config::model::ExecutorConfig;
use vic_portlayer::backend::VmDetail;
use vic_portlayer::storage::{
    disk_chain, join_image, join_volume, leave_volume, Image, Storage, SCRATCH,
};
use vic_portlayer::{ContainerId, Error};
use vim25::object::DatastorePath;
use vim25::object::{EventFilter, EventManager};
use vim25::types::{AnyEvent, AnyVirtualDevice, VirtualDeviceConfigSpecOperation};

fn at(dir: &DatastorePath, rest: &str) -> DatastorePath {
    DatastorePath::new(dir.datastore.clone(), format!("{}/{rest}", dir.path))
}

fn md(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A 64-hex layer ID made of `c`.
fn layer(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

async fn write(s: &Storage, store: &str, parent: &str, id: &str, body: &str) -> Image {
    let bytes = body.as_bytes().to_vec();
    let len = bytes.len() as u64;
    s.write_image(
        store,
        parent,
        id,
        md(&[("layer", id)]),
        Cursor::new(bytes),
        len,
    )
    .await
    .unwrap_or_else(|e| panic!("write image {id}: {e}"))
}

fn ids(images: &[Image]) -> Vec<String> {
    images.iter().map(|i| i.id.clone()).collect()
}

/// The disk devices of the VM named `name`.
async fn vm_disks(fx: &Fixture, name: &str) -> Vec<AnyVirtualDevice> {
    let vm = fx
        .backend
        .vm_by_name(name, VmDetail::Full)
        .await
        .expect("read the VM")
        .expect("the VM exists");
    vm.devices
        .into_iter()
        .filter(|d| matches!(d, AnyVirtualDevice::VirtualDisk(_)))
        .collect()
}

async fn stores(fx: Fixture) {
    bounded("stores", async {
        let s = Storage::new(fx.backend.clone());
        let vch = fx.backend.vch_folder();
        assert!(s.image_stores().await.unwrap().is_empty());

        let store = s.create_image_store("default").await.unwrap();
        assert_eq!(store.root, at(&vch, "VIC/default"));
        assert!(matches!(
            s.create_image_store("default").await,
            Err(Error::Exists { .. })
        ));
        let images = s.images("default").await.unwrap();
        assert_eq!(ids(&images), vec![SCRATCH.to_string()]);
        assert_eq!(images[0].parent, None);
        assert!(images[0].ancestor_disks.is_empty());
        assert!(fx.backend.exists(&images[0].disk).await.unwrap());

        let other_root = DatastorePath::new(vch.datastore.clone(), "elsewhere/store");
        let other = s
            .create_image_store_at("other", other_root.clone())
            .await
            .unwrap();
        assert_eq!(other.root, other_root);
        assert!(fx
            .backend
            .exists(&at(&other_root, "images/scratch/manifest.json"))
            .await
            .unwrap());
        let names: Vec<String> = s
            .image_stores()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, vec!["default".to_string(), "other".to_string()]);

        // A restarted port layer finds the default store on the datastore; the
        // other one once told where it is.
        let again = Storage::new(fx.backend.clone());
        assert_eq!(again.image_store("default").await.unwrap(), store);
        assert!(again.image_store("other").await.unwrap_err().is_not_found());
        assert_eq!(
            again
                .open_image_store_at("other", other_root.clone())
                .await
                .unwrap(),
            other
        );
        assert_eq!(
            ids(&again.images("other").await.unwrap()),
            vec![SCRATCH.to_string()]
        );
        assert!(again
            .open_image_store_at("third", at(&vch, "nothing-here"))
            .await
            .unwrap_err()
            .is_not_found());

        s.delete_image_store("default").await.unwrap();
        assert!(s.image_store("default").await.unwrap_err().is_not_found());
        assert!(!fx.backend.exists(&store.root).await.unwrap());
        s.delete_image_store("other").await.unwrap();
        assert!(!fx.backend.exists(&at(&other_root, "images")).await.unwrap());
        assert!(s.image_stores().await.unwrap().is_empty());
        assert!(s
            .delete_image_store("other")
            .await
            .unwrap_err()
            .is_not_found());
    })
    .await
}
both_backends!(image_stores, super::stores);

async fn chain(fx: Fixture) {
    bounded("chain", async {
        let s = Storage::new(fx.backend.clone());
        s.create_image_store("st").await.unwrap();
        let scratch = s.image("st", SCRATCH).await.unwrap();
        let (a_id, b_id) = (layer('a'), layer('b'));
        let a = write(&s, "st", SCRATCH, &a_id, "layer a").await;
        let b = write(&s, "st", &a_id, &b_id, "layer b, larger").await;

        assert_eq!(a.parent.as_deref(), Some(SCRATCH));
        assert_eq!(b.parent.as_deref(), Some(a_id.as_str()));
        assert_eq!(b.ancestors, vec![a_id.clone(), SCRATCH.to_string()]);
        assert_eq!(b.parent_disk(), Some(&a.disk));
        assert_eq!(b.ancestor_disks, vec![a.disk.clone(), scratch.disk.clone()]);
        assert_eq!(b.size, "layer b, larger".len() as u64);
        assert_eq!(b.metadata, md(&[("layer", &b_id)]));
        let store = s.image_store("st").await.unwrap();
        assert_eq!(b.disk, store.disk_path(&b_id));
        assert_eq!(
            b.disk.path,
            format!(
                "{}/VIC/st/images/{b_id}/{b_id}.vmdk",
                fx.backend.vch_folder().path
            )
        );

        // Read back through a fresh service: everything comes from the datastore.
        let fresh = Storage::new(fx.backend.clone());
        assert_eq!(fresh.image("st", &b_id).await.unwrap(), b);
        let listed = fresh.images("st").await.unwrap();
        assert_eq!(
            ids(&listed),
            vec![a_id.clone(), b_id.clone(), SCRATCH.to_string()]
        );
        assert_eq!(listed[1], b);
        assert_eq!(
            fresh.read_content("st", &b_id).await.unwrap(),
            b"layer b, larger"
        );
        assert_eq!(fresh.read_content("st", &a_id).await.unwrap(), b"layer a");

        // The manifest says the same.
        let raw = fx
            .backend
            .download(&store.manifest_path(&b_id))
            .await
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(manifest["id"], b_id.as_str());
        assert_eq!(manifest["parent"], a_id.as_str());
        assert_eq!(manifest["size"], 15);
        assert_eq!(manifest["metadata"]["layer"], b_id.as_str());

        // The disk is a child of the parent's.
        assert!(fx.backend.exists(&b.disk).await.unwrap());
        if fx.kind == "memory" {
            let descriptor =
                String::from_utf8(fx.backend.download(&b.disk).await.unwrap()).unwrap();
            assert!(
                descriptor.contains(&format!("parentFileNameHint=\"{}\"", a.disk)),
                "{descriptor}"
            );
            let descriptor =
                String::from_utf8(fx.backend.download(&scratch.disk).await.unwrap()).unwrap();
            assert!(!descriptor.contains("parentFileNameHint"), "{descriptor}");
        } else {
            // The simulator keeps no descriptor: the child disk was made by
            // attaching it to the appliance VM with the parent in its backing (the
            // reconfigure's event holds the spec), then detaching it.
            let client = fx.client.as_ref().expect("the simulator's client");
            let filter = EventFilter::new()
                .event_types(&["VmReconfiguredEvent"])
                .max_count(1000);
            let mut history = EventManager::new(client)
                .unwrap()
                .create_collector(&filter)
                .await
                .unwrap();
            history.rewind().await.unwrap();
            let mut events = Vec::new();
            loop {
                let page = history.read_next(100).await.unwrap();
                if page.is_empty() {
                    break;
                }
                events.extend(page);
            }
            history.destroy().await.unwrap();
            let attached: Vec<Vec<DatastorePath>> = events
                .iter()
                .filter_map(|e| match e {
                    AnyEvent::VmReconfiguredEvent(r) => Some(r),
                    _ => None,
                })
                .filter(|r| r.vm.as_ref().is_some_and(|v| v.name == "VCH001"))
                .flat_map(|r| r.config_spec.device_change.iter())
                .filter(|c| c.operation == Some(VirtualDeviceConfigSpecOperation::Add))
                .map(|c| disk_chain(&c.device))
                .collect();
            assert!(
                attached.contains(&vec![b.disk.clone(), a.disk.clone()]),
                "{attached:?}"
            );
            assert!(attached.contains(&vec![a.disk.clone(), scratch.disk.clone()]));
            for disk in vm_disks(&fx, "VCH001").await {
                let chain = disk_chain(&disk);
                assert!(
                    !chain.iter().any(|f| f.path.contains("/VIC/st/")),
                    "the appliance kept {chain:?}"
                );
            }
        }

        // Writing an existing image, an unknown parent, a short stream: refused,
        // nothing left behind.
        let e = s
            .write_image(
                "st",
                SCRATCH,
                &b_id,
                BTreeMap::new(),
                Cursor::new(vec![1u8]),
                1,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Exists { .. }), "{e}");
        let c_id = layer('c');
        let e = s
            .write_image(
                "st",
                &layer('d'),
                &c_id,
                BTreeMap::new(),
                Cursor::new(vec![1u8]),
                1,
            )
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(!fx.backend.exists(&store.image_dir(&c_id)).await.unwrap());
        let e = s
            .write_image(
                "st",
                &a_id,
                &c_id,
                BTreeMap::new(),
                Cursor::new(b"short".to_vec()),
                100,
            )
            .await
            .unwrap_err();
        assert!(!e.is_not_found(), "{e}");
        assert!(!fx.backend.exists(&store.image_dir(&c_id)).await.unwrap());
        assert_eq!(ids(&s.images("st").await.unwrap()).len(), 3);

        // An empty layer is fine.
        let c = s
            .write_image(
                "st",
                &b_id,
                &c_id,
                BTreeMap::new(),
                Cursor::new(Vec::new()),
                0,
            )
            .await
            .unwrap();
        assert_eq!(c.ancestors.len(), 3);
        assert!(s.read_content("st", &c_id).await.unwrap().is_empty());
    })
    .await
}
both_backends!(images_with_parents, super::chain);

async fn half_written(fx: Fixture) {
    bounded("half-written", async {
        let s = Storage::new(fx.backend.clone());
        let store = s.create_image_store("st").await.unwrap();
        let scratch = s.image("st", SCRATCH).await.unwrap();
        let a = write(&s, "st", SCRATCH, &layer('a'), "a").await;

        // Directory and disk, no manifest: what a crash during a write leaves.
        for id in [layer('x'), layer('y')] {
            let dir = store.image_dir(&id);
            fx.backend.make_dir(&dir).await.unwrap();
            fx.backend
                .create_disk(&store.disk_path(&id), 1024, Some(&scratch.disk))
                .await
                .unwrap();
        }
        let listed = s.images("st").await.unwrap();
        assert_eq!(ids(&listed), vec![a.id.clone(), SCRATCH.to_string()]);
        assert!(!fx
            .backend
            .exists(&store.image_dir(&layer('x')))
            .await
            .unwrap());
        assert!(!fx
            .backend
            .exists(&store.image_dir(&layer('y')))
            .await
            .unwrap());

        // Reading one directly removes it too.
        let z = layer('e');
        fx.backend.make_dir(&store.image_dir(&z)).await.unwrap();
        assert!(s.image("st", &z).await.unwrap_err().is_not_found());
        assert!(!fx.backend.exists(&store.image_dir(&z)).await.unwrap());

        // A leftover does not block writing the image again.
        fx.backend
            .make_dir(&store.image_dir(&layer('x')))
            .await
            .unwrap();
        let x = write(&s, "st", &a.id, &layer('x'), "x").await;
        assert_eq!(s.image("st", &x.id).await.unwrap(), x);
    })
    .await
}
both_backends!(half_written_images, super::half_written);

async fn in_use(fx: Fixture) {
    bounded("in use", async {
        let s = Storage::new(fx.backend.clone());
        let exec = fx.exec();
        s.create_image_store("st").await.unwrap();
        let scratch = s.image("st", SCRATCH).await.unwrap();
        let a = write(&s, "st", SCRATCH, &layer('a'), "a").await;
        let b = write(&s, "st", &a.id, &layer('b'), "b").await;

        // Children.
        let e = s.delete_image("st", &a.id).await.unwrap_err();
        assert!(
            matches!(&e, Error::InUse { by, .. } if by.contains(&b.id)),
            "{e}"
        );
        let e = s.delete_image("st", SCRATCH).await.unwrap_err();
        assert!(matches!(e, Error::InUse { .. }), "{e}");

        // A container whose disk is a child of b.
        let id = ContainerId::random();
        let mut h = exec
            .create_handle(id.clone(), ExecutorConfig::default())
            .unwrap();
        assert!(matches!(
            join_image(&mut h, &b, b.capacity_kb - 1),
            Err(Error::InvalidInput(_))
        ));
        join_image(&mut h, &b, b.capacity_kb).unwrap();
        assert!(matches!(
            join_image(&mut h, &b, b.capacity_kb),
            Err(Error::Exists { .. })
        ));
        assert_eq!(h.config().layer_id.as_deref(), Some(b.id.as_str()));
        let info = exec.commit(h).await.unwrap();
        assert_eq!(info.config.layer_id.as_deref(), Some(b.id.as_str()));
        assert_eq!(info.config.image_id.as_deref(), Some(b.id.as_str()));

        let disks = vm_disks(&fx, id.as_str()).await;
        assert_eq!(disks.len(), 1);
        let chain = disk_chain(&disks[0]);
        let own = chain.first().expect("the disk's file");
        assert_eq!(own.datastore, b.disk.datastore);
        assert_eq!(own.path, format!("{id}/{id}.vmdk"));
        assert_eq!(
            chain[1..],
            [b.disk.clone(), a.disk.clone(), scratch.disk.clone()]
        );
        assert!(fx.backend.exists(own).await.unwrap());

        let e = s.delete_image("st", &b.id).await.unwrap_err();
        assert!(
            matches!(&e, Error::InUse { by, .. } if by.contains(id.as_str())),
            "{e}"
        );
        let e = s.delete_image_store("st").await.unwrap_err();
        assert!(matches!(e, Error::InUse { .. }), "{e}");
        assert_eq!(s.images("st").await.unwrap().len(), 3);
        assert!(fx.backend.exists(&b.disk).await.unwrap());

        // Once the container is gone, layers go from the top down.
        exec.remove(&id, false).await.unwrap();
        s.delete_image("st", &b.id).await.unwrap();
        assert!(!fx.backend.exists(&b.disk).await.unwrap());
        assert!(s.image("st", &b.id).await.unwrap_err().is_not_found());
        s.delete_image("st", &a.id).await.unwrap();
        s.delete_image("st", SCRATCH).await.unwrap();
        assert!(s.images("st").await.unwrap().is_empty());
        s.delete_image_store("st").await.unwrap();
    })
    .await
}
both_backends!(images_in_use, super::in_use);

async fn volumes(fx: Fixture) {
    bounded("volumes", async {
        let s = Storage::new(fx.backend.clone());
        let exec = fx.exec();
        let vch = fx.backend.vch_folder();
        let root = at(&vch, "volstore");
        let store = s.create_volume_store("vols", root.clone()).await.unwrap();
        assert_eq!(s.volume_stores(), vec![store.clone()]);
        assert!(fx.backend.exists(&at(&root, "volumes")).await.unwrap());
        assert_eq!(
            s.create_volume_store("vols", root.clone()).await.unwrap(),
            store
        );
        assert!(matches!(
            s.create_volume_store("vols", at(&vch, "other")).await,
            Err(Error::Exists { .. })
        ));
        assert!(matches!(
            s.create_volume_store("second", root.clone()).await,
            Err(Error::InvalidInput(_))
        ));

        let v = s
            .create_volume("vols", "data", 2048, md(&[("owner", "test")]))
            .await
            .unwrap();
        assert_eq!(v.disk, at(&root, "volumes/data/data.vmdk"));
        assert_eq!(v.capacity_kb, 2048);
        assert!(fx.backend.exists(&v.disk).await.unwrap());
        assert!(fx
            .backend
            .exists(&at(&root, "volumes/data/volume.json"))
            .await
            .unwrap());
        assert_eq!(s.volume("vols", "data").await.unwrap(), v);
        assert!(matches!(
            s.create_volume("vols", "data", 2048, BTreeMap::new()).await,
            Err(Error::Exists { .. })
        ));

        // A restarted port layer sees the volume given the same root.
        let again = Storage::new(fx.backend.clone());
        assert!(again.volumes("vols").await.unwrap_err().is_not_found());
        again
            .create_volume_store("vols", root.clone())
            .await
            .unwrap();
        assert_eq!(again.volumes("vols").await.unwrap(), vec![v.clone()]);

        // Half-written: removed on listing.
        let leftover = at(&root, "volumes/partial");
        fx.backend.make_dir(&leftover).await.unwrap();
        assert_eq!(s.volumes("vols").await.unwrap(), vec![v.clone()]);
        assert!(!fx.backend.exists(&leftover).await.unwrap());

        // Joined to a container.
        let id = ContainerId::random();
        let mut h = exec
            .create_handle(id.clone(), ExecutorConfig::default())
            .unwrap();
        assert!(matches!(
            join_volume(&mut h, &v, "relative", false),
            Err(Error::InvalidInput(_))
        ));
        join_volume(&mut h, &v, "/data", false).unwrap();
        assert!(matches!(
            join_volume(&mut h, &v, "/elsewhere", true),
            Err(Error::Exists { .. })
        ));
        let info = exec.commit(h).await.unwrap();
        let mount = info.config.mounts.get("data").expect("the mount");
        assert_eq!(mount.path.as_deref(), Some("/data"));
        assert_eq!(mount.mode.as_deref(), Some("rw"));
        assert_eq!(
            mount.source.as_ref().map(|u| u.to_string()),
            Some(format!("ds://{}", v.disk))
        );
        let disks = vm_disks(&fx, id.as_str()).await;
        assert_eq!(disks.len(), 1);
        assert_eq!(disk_chain(&disks[0]), vec![v.disk.clone()]);

        let e = s.delete_volume("vols", "data").await.unwrap_err();
        assert!(
            matches!(&e, Error::InUse { by, .. } if by.contains(id.as_str())),
            "{e}"
        );
        let e = s.delete_volume_store("vols", false).await.unwrap_err();
        assert!(matches!(e, Error::InUse { .. }), "{e}");
        let e = s.delete_volume_store("vols", true).await.unwrap_err();
        assert!(matches!(e, Error::InUse { .. }), "{e}");
        assert!(fx.backend.exists(&v.disk).await.unwrap());

        // vSphere's Destroy deletes every attached disk: detach the volume first.
        let mut h = exec.get(&id).await.unwrap();
        leave_volume(&mut h, &v).unwrap();
        assert!(leave_volume(&mut h, &v).unwrap_err().is_not_found());
        let info = exec.commit(h).await.unwrap();
        assert!(info.config.mounts.is_empty());
        assert!(vm_disks(&fx, id.as_str()).await.is_empty());
        exec.remove(&id, false).await.unwrap();
        assert!(
            fx.backend.exists(&v.disk).await.unwrap(),
            "a volume outlives its container"
        );
        // Removing a container with the volume still joined keeps the volume too:
        // the removal detaches it before the destroy.
        let other = ContainerId::random();
        let mut h = exec
            .create_handle(other.clone(), ExecutorConfig::default())
            .unwrap();
        join_volume(&mut h, &v, "/data", false).unwrap();
        exec.commit(h).await.unwrap();
        assert_eq!(vm_disks(&fx, other.as_str()).await.len(), 1);
        exec.remove(&other, false).await.unwrap();
        assert!(
            fx.backend.exists(&v.disk).await.unwrap(),
            "removing a container detaches its volumes first"
        );
        s.delete_volume("vols", "data").await.unwrap();
        assert!(s.volumes("vols").await.unwrap().is_empty());
        assert!(!fx.backend.exists(&at(&root, "volumes/data")).await.unwrap());
        assert!(s.volume("vols", "data").await.unwrap_err().is_not_found());

        s.create_volume("vols", "scratchpad", 1024, BTreeMap::new())
            .await
            .unwrap();
        s.delete_volume_store("vols", true).await.unwrap();
        assert!(s.volume_stores().is_empty());
        assert!(!fx.backend.exists(&at(&root, "volumes")).await.unwrap());
    })
    .await
}
both_backends!(volume_stores, super::volumes);

async fn bad_input(fx: Fixture) {
    bounded("bad input", async {
        let s = Storage::new(fx.backend.clone());
        let vch = fx.backend.vch_folder();
        let before = fx.backend.list_dir(&vch).await.unwrap();

        for name in ["", "../up", "a/b", ".hidden"] {
            let e = s.create_image_store(name).await.unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{name:?}: {e}");
            let e = s
                .create_volume_store(name, at(&vch, "v"))
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{name:?}: {e}");
        }
        assert!(s.images("nope").await.unwrap_err().is_not_found());
        assert!(s.image("nope", SCRATCH).await.unwrap_err().is_not_found());
        assert!(s
            .delete_image_store("nope")
            .await
            .unwrap_err()
            .is_not_found());
        let e = s
            .write_image(
                "nope",
                SCRATCH,
                &layer('a'),
                BTreeMap::new(),
                Cursor::new(Vec::new()),
                0,
            )
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(s.volumes("nope").await.unwrap_err().is_not_found());
        assert!(s
            .create_volume("nope", "v", 1024, BTreeMap::new())
            .await
            .unwrap_err()
            .is_not_found());
        assert!(s
            .delete_volume("nope", "v")
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(fx.backend.list_dir(&vch).await.unwrap(), before);

        s.create_image_store("st").await.unwrap();
        s.create_volume_store("vols", at(&vch, "vols"))
            .await
            .unwrap();
        let before_images = s.images("st").await.unwrap();
        for id in ["", "../x", "a/b", ".x"] {
            let e = s
                .write_image(
                    "st",
                    SCRATCH,
                    id,
                    BTreeMap::new(),
                    Cursor::new(Vec::new()),
                    0,
                )
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{id:?}: {e}");
            let e = s
                .write_image(
                    "st",
                    id,
                    &layer('a'),
                    BTreeMap::new(),
                    Cursor::new(Vec::new()),
                    0,
                )
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{id:?}: {e}");
            assert!(matches!(
                s.image("st", id).await,
                Err(Error::InvalidInput(_))
            ));
            assert!(matches!(
                s.delete_image("st", id).await,
                Err(Error::InvalidInput(_))
            ));
            assert!(matches!(
                s.create_volume("vols", id, 1024, BTreeMap::new()).await,
                Err(Error::InvalidInput(_))
            ));
            assert!(matches!(
                s.delete_volume("vols", id).await,
                Err(Error::InvalidInput(_))
            ));
        }
        assert!(matches!(
            s.write_image(
                "st",
                SCRATCH,
                SCRATCH,
                BTreeMap::new(),
                Cursor::new(Vec::new()),
                0
            )
            .await,
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            s.create_volume("vols", "v", 0, BTreeMap::new()).await,
            Err(Error::InvalidInput(_))
        ));
        assert!(s.image("st", &layer('f')).await.unwrap_err().is_not_found());
        assert!(s
            .delete_image("st", &layer('f'))
            .await
            .unwrap_err()
            .is_not_found());
        assert!(s
            .read_content("st", &layer('f'))
            .await
            .unwrap_err()
            .is_not_found());
        assert!(s
            .delete_volume("vols", "v")
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(s.images("st").await.unwrap(), before_images);
        assert!(s.volumes("vols").await.unwrap().is_empty());
    })
    .await
}
both_backends!(bad_input_changes_nothing, super::bad_input);
