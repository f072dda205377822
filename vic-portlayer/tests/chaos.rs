//! Port-layer commits on the vSphere backend under injected faults: test-support's
//! chaos proxy (`test_support::chaos`) stands between the vim25 client and the
//! simulator and adds latency, resets connections half-way through a response,
//! answers bursts of 503 and truncated or malformed envelopes, and trickles bodies.
//! Containers are created, reconfigured, listed and removed meanwhile.
//!
//! Checked: every operation ends, in success or a typed error, within its deadline;
//! once the faults stop, the port layer lists a consistent state (every container it
//! reported created and not removed is there, with the hostname last committed), and
//! the simulator holds none of the views, filters or collectors whose creation the
//! client learnt of.

use crate::common;

use std::time::Duration;

use test_support::chaos::{ChaosProxy, Fault, Faults};
use test_support::{Simulator, SimulatorConfig};
use vic_config::model::ExecutorConfig;
use vic_portlayer::{ContainerId, Error};
use vim25::types::ManagedObjectReference;

/// Every attempt of a call timing out, several calls per operation.
const DEADLINE: Duration = Duration::from_secs(120);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not end within {DEADLINE:?}"),
    }
}

/// Records an outcome; an error must be one of the kinds faults can cause.
fn record<T>(errors: &mut Vec<String>, what: &str, r: Result<T, Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let typed = matches!(
                e,
                Error::Vim25(_)
                    | Error::Timeout { .. }
                    | Error::Conflict { .. }
                    | Error::NotFound { .. }
            );
            assert!(typed, "{what}: unexpected error kind: {e:?}");
            errors.push(format!("{what}: {e}"));
            None
        }
    }
}

async fn alive(client: &vim25::Client, obj: &ManagedObjectReference) -> bool {
    vim25::property::exists(client, &client.property_collector(), obj)
        .await
        .unwrap_or_else(|e| panic!("looking up {obj}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_under_faults_end_typed_and_leave_a_consistent_state() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let proxy = ChaosProxy::start(sim.host_port(), Faults::none(), 0xc0ffee).await;
    let url = format!("http://{}/sdk", proxy.addr());
    let client = vim25::ClientBuilder::new(&url)
        .unwrap()
        .credentials(sim.username(), sim.password())
        .retries(3, Duration::from_millis(20))
        .request_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap();
    let (_backend, exec) = common::vsphere_exec(&client).await;

    // Milder than `Faults::storm()`: a commit is a dozen calls, and some should get
    // through whole so that reconfigure, list and remove meet faults too.
    proxy.set_faults(Faults {
        latency: (200, 100),
        reset_mid_body: 20,
        unavailable_burst: 15,
        burst_len: 2,
        truncated: 10,
        malformed: 10,
        slow_body: 3,
    });
    let mut errors = Vec::new();
    // What the port layer answered: the containers it created and did not remove,
    // with the hostname each last committed.
    let mut expected: Vec<(ContainerId, Option<String>)> = Vec::new();
    let mut uncertain: Vec<ContainerId> = Vec::new();
    for round in 0..12 {
        let id = ContainerId::random();
        let h = exec
            .create_handle(id.clone(), ExecutorConfig::default())
            .unwrap();
        match record(
            &mut errors,
            "create",
            bounded("create", exec.commit(h)).await,
        ) {
            Some(_) => expected.push((id.clone(), None)),
            // A lost answer may still have created it.
            None => {
                uncertain.push(id);
                continue;
            }
        }
        let name = format!("host-{round}");
        let edited = bounded("reconfigure", async {
            let mut h = exec.get(&id).await?;
            h.config_mut().hostname = Some(name.clone());
            exec.commit(h).await
        })
        .await;
        if record(&mut errors, "reconfigure", edited).is_some() {
            expected.last_mut().unwrap().1 = Some(name);
        } else {
            uncertain.push(id.clone());
            expected.pop();
            continue;
        }
        let listed = bounded("list", exec.list()).await;
        record(&mut errors, "list", listed);
        if round % 3 == 2 {
            let removed = bounded("remove", exec.remove(&id, true)).await;
            expected.pop();
            if record(&mut errors, "remove", removed).is_none() {
                uncertain.push(id);
            }
        }
    }

    proxy.set_faults(Faults::none());
    let log = proxy.log();
    let faulted = log.iter().filter(|x| x.fault != Fault::None).count();
    println!(
        "{} requests, {faulted} faulted; {} errors; {} containers expected, {} uncertain",
        log.len(),
        errors.len(),
        expected.len(),
        uncertain.len()
    );
    for e in &errors {
        println!("  {e}");
    }
    assert!(faulted > 5, "the proxy injected faults: {faulted}");

    let now = exec.list().await.unwrap();
    for (id, hostname) in &expected {
        let found = now
            .iter()
            .find(|c| &c.id == id)
            .unwrap_or_else(|| panic!("{id} was reported created and is gone"));
        assert_eq!(&found.config.hostname, hostname, "{id}");
    }
    for c in &now {
        assert!(
            expected.iter().any(|(id, _)| *id == c.id) || uncertain.contains(&c.id),
            "{} exists but no operation reported or may have made it",
            c.id
        );
    }

    let mut leaked = Vec::new();
    for made in proxy.created(true) {
        let obj = ManagedObjectReference::new(&made.kind, &made.value);
        if alive(&client, &obj).await {
            leaked.push(obj.to_string());
        }
    }
    assert!(leaked.is_empty(), "left on the server: {leaked:?}");
}
