//! Streamed retrievals (`Retrieval::next_object` and friends) over a scripted transport
//! that hands bodies over in pieces of a chosen size: the same objects as whole pages
//! whatever the pieces, tokens followed, faults and broken bodies as typed errors, a
//! re-login under the `Session` layer, and the retry rules of the `Retry` layer. The
//! simulator-backed test (the HTTP transport streaming a real 2,000-VM answer) is in
//! `helpers_sim.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vim25::mo::{AnyManagedObject, HostSystem, VirtualMachine};
use vim25::property::Retrieval;
use vim25::soap::{BodyChunks, BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use vim25::transport::{Relogin, Retry, RetryPolicy, Session};
use vim25::types::{ManagedObjectReference, PropertyFilterSpec};
use vim25::{Error, Version};

/// One scripted answer: status, body, the size of the pieces it is handed over in,
/// and optionally a network failure after that many pieces.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    piece: usize,
    fail_after: Option<usize>,
    /// Every other piece is late (its call is pending once first).
    late: bool,
}

fn answer(status: u16, body: String, piece: usize) -> Answer {
    Answer {
        status,
        body: body.into_bytes(),
        piece,
        fail_after: None,
        late: false,
    }
}

#[derive(Clone, Default)]
struct Pieces {
    answers: Arc<Mutex<BTreeMap<&'static str, VecDeque<Answer>>>>,
    calls: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Pieces {
    fn on(self, op: &'static str, a: Answer) -> Self {
        self.answers
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .push_back(a);
        self
    }
    fn calls(&self) -> Vec<(String, bool)> {
        self.calls.lock().unwrap().clone()
    }
    fn take(&self, r: &Request, idempotent: bool) -> Result<Answer, Error> {
        self.calls
            .lock()
            .unwrap()
            .push((r.operation.to_string(), idempotent));
        self.answers
            .lock()
            .unwrap()
            .get_mut(r.operation)
            .and_then(VecDeque::pop_front)
            .ok_or_else(|| Error::InvalidInput(format!("nothing scripted for {}", r.operation)))
    }
}

struct Body {
    rest: VecDeque<Vec<u8>>,
    fail_after: Option<usize>,
    given: usize,
    late: bool,
    waited: bool,
}

impl BodyChunks for Body {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async move {
            if self.late && !std::mem::replace(&mut self.waited, true) {
                tokio::task::yield_now().await;
            }
            self.waited = false;
            if self.fail_after == Some(self.given) {
                return Err(Error::Network {
                    operation: "RetrievePropertiesEx".into(),
                    message: "connection reset".into(),
                });
            }
            self.given += 1;
            Ok(self.rest.pop_front())
        })
    }
}

impl Transport for Pieces {
    fn version(&self) -> Version {
        Version::LATEST
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        let a = self.take(r, idempotent);
        Box::pin(async move {
            let a = a?;
            Ok(RawResponse {
                status: a.status,
                body: a.body,
            })
        })
    }
    fn round_trip_streaming<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        let a = self.take(r, idempotent);
        Box::pin(async move {
            let a = a?;
            Ok(StreamingResponse {
                status: a.status,
                body: Box::new(Body {
                    rest: a.body.chunks(a.piece.max(1)).map(<[u8]>::to_vec).collect(),
                    fail_after: a.fail_after,
                    given: 0,
                    late: a.late,
                    waited: false,
                }),
            })
        })
    }
}

fn vm_object(i: usize) -> String {
    format!(
        r#"<objects><obj type="VirtualMachine">vm-{i}</obj><propSet><name>name</name><val xsi:type="xsd:string">vm {i}</val></propSet><propSet><name>config.hardware.numCPU</name><val xsi:type="xsd:int">{}</val></propSet><missingSet><path>summary</path><fault><fault xsi:type="NoPermission"><object type="VirtualMachine">vm-{i}</object><privilegeId>System.Read</privilegeId></fault><localizedMessage>no</localizedMessage></fault></missingSet></objects>"#,
        i % 8 + 1
    )
}

/// A `RetrievePropertiesEx`-style answer (`op`) with the VMs `ids` and a token.
fn page(op: &str, ids: std::ops::Range<usize>, token: Option<&str>) -> String {
    let mut s = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
<soapenv:Body><{op}Response xmlns="urn:vim25"><returnval>"#
    );
    if let Some(t) = token {
        s.push_str(&format!("<token>{t}</token>"));
    }
    for i in ids {
        s.push_str(&vm_object(i));
        s.push('\n');
    }
    s.push_str(&format!(
        "</returnval></{op}Response></soapenv:Body></soapenv:Envelope>"
    ));
    s
}

fn fault(name: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{name} here</faultstring><detail><{name}Fault xmlns="urn:vim25" xsi:type="{name}"/></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
    )
}

fn collector() -> ManagedObjectReference {
    ManagedObjectReference::new("PropertyCollector", "propertyCollector")
}

fn retrieval<C: Transport>(t: C) -> Retrieval<C> {
    Retrieval::new(t, collector(), vec![PropertyFilterSpec::default()])
}

/// Three pages (0..40, 40..70, 70..100) in pieces of `piece` bytes.
fn three_pages(piece: usize) -> Pieces {
    Pieces::default()
        .on(
            "RetrievePropertiesEx",
            answer(200, page("RetrievePropertiesEx", 0..40, Some("t1")), piece),
        )
        .on(
            "ContinueRetrievePropertiesEx",
            answer(
                200,
                page("ContinueRetrievePropertiesEx", 40..70, Some("t2")),
                piece,
            ),
        )
        .on(
            "ContinueRetrievePropertiesEx",
            answer(
                200,
                page("ContinueRetrievePropertiesEx", 70..100, None),
                piece,
            ),
        )
}

#[tokio::test]
async fn streamed_objects_equal_whole_pages_whatever_the_pieces() {
    let mut whole = Vec::new();
    let mut r = retrieval(three_pages(usize::MAX));
    while let Some(p) = r.next_typed::<VirtualMachine>().await.unwrap() {
        for vm in p.objects {
            let missing = p
                .missing
                .iter()
                .find(|(o, _)| *o == vm.obj)
                .map(|(_, m)| format!("{m:?}"));
            whole.push((format!("{vm:?}"), missing));
        }
    }
    assert_eq!(whole.len(), 100);
    for (piece, threads) in [1, 2, 7, 64, 1000, usize::MAX]
        .into_iter()
        .flat_map(|p| [(p, 1), (p, 3)])
    {
        let t = three_pages(piece);
        let mut r = retrieval(t.clone()).decode_threads(threads);
        let mut streamed = Vec::new();
        while let Some(vm) = r.next_object::<VirtualMachine>().await.unwrap() {
            streamed.push((
                format!("{:?}", vm.object),
                Some(format!("{:?}", vm.missing)),
            ));
        }
        assert_eq!(streamed, whole, "pieces of {piece}, {threads} threads");
        assert_eq!(r.pages(), 3);
        assert!(r.next_object::<VirtualMachine>().await.unwrap().is_none());
        // The first request may be sent again, the continuations may not.
        assert_eq!(
            t.calls(),
            [
                ("RetrievePropertiesEx".to_string(), true),
                ("ContinueRetrievePropertiesEx".to_string(), false),
                ("ContinueRetrievePropertiesEx".to_string(), false),
            ]
        );
    }
    // Raw contents and objects of any type come the same way.
    let mut r = retrieval(three_pages(5));
    let mut n = 0;
    while let Some(c) = r.next_content().await.unwrap() {
        assert_eq!(c.obj.value, format!("vm-{n}"));
        assert_eq!(c.missing_set.len(), 1);
        n += 1;
    }
    assert_eq!(n, 100);
    let mut r = retrieval(three_pages(5));
    let first = r.next_any_object().await.unwrap().unwrap();
    assert!(matches!(first.object, AnyManagedObject::VirtualMachine(_)));
}

#[tokio::test]
async fn a_fault_instead_of_a_page_is_a_typed_fault() {
    let t = Pieces::default().on(
        "RetrievePropertiesEx",
        answer(500, fault("InvalidProperty"), 3),
    );
    let mut r = retrieval(t);
    let e = r.next_object::<VirtualMachine>().await.unwrap_err();
    assert_eq!(e.fault_name(), Some("InvalidProperty"), "{e}");
    assert!(r.next_object::<VirtualMachine>().await.unwrap().is_none());
}

#[tokio::test]
async fn a_body_cut_off_or_broken_midway_ends_in_a_typed_error_after_the_objects_before() {
    // On the caller's thread and decoded ahead on several.
    for threads in [1, 3] {
        // Cut off inside the eleventh object.
        let body = page("RetrievePropertiesEx", 0..20, None);
        let at = body.find("<obj type=\"VirtualMachine\">vm-10<").unwrap() + 20;
        let t = Pieces::default().on(
            "RetrievePropertiesEx",
            answer(200, body[..at].to_string(), 100),
        );
        let mut r = retrieval(t).decode_threads(threads);
        for i in 0..10 {
            let vm = r.next_object::<VirtualMachine>().await.unwrap().unwrap();
            assert_eq!(vm.object.obj.value, format!("vm-{i}"));
        }
        let e = r.next_object::<VirtualMachine>().await.unwrap_err();
        assert!(
            matches!(&e, Error::Decode { operation, source } if operation == "RetrievePropertiesEx"
                && source.message.contains("end of input")),
            "{e:?}"
        );
        // The retrieval is over: the page is not fetched again.
        assert!(r.next_object::<VirtualMachine>().await.unwrap().is_none());

        // A connection reset after three pieces: every object whole in them comes
        // out first.
        let body = page("RetrievePropertiesEx", 0..20, None);
        let whole = body[..3 * 700].matches("</objects>").count();
        assert!(whole > 1, "{whole}");
        let mut a = answer(200, body, 700);
        a.fail_after = Some(3);
        let t = Pieces::default().on("RetrievePropertiesEx", a);
        let mut r = retrieval(t).decode_threads(threads);
        let mut got = 0;
        let e = loop {
            match r.next_object::<VirtualMachine>().await {
                Ok(Some(_)) => got += 1,
                Ok(None) => panic!("the reset was not reported"),
                Err(e) => break e,
            }
        };
        assert_eq!(got, whole, "{threads} threads");
        assert!(matches!(e, Error::Network { .. }), "{e:?}");

        // Malformed XML inside an object: a decode error naming the place in the body.
        let body = page("RetrievePropertiesEx", 0..3, None).replace(
            "<name>name</name><val xsi:type=\"xsd:string\">vm 1<",
            "<name>name</name><val xsi:type=\"xsd:string\">vm 1</wrong><",
        );
        let t = Pieces::default().on("RetrievePropertiesEx", answer(200, body.clone(), 9));
        let mut r = retrieval(t).decode_threads(threads);
        r.next_object::<VirtualMachine>().await.unwrap().unwrap();
        let e = r.next_object::<VirtualMachine>().await.unwrap_err();
        let Error::Decode { source, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(
            source
                .path
                .starts_with("Envelope/Body/RetrievePropertiesExResponse/returnval/objects"),
            "{source:?}"
        );
        let at = source.offset as usize;
        assert!(
            at > body.find("vm-1<").unwrap() && at <= body.len(),
            "{source:?}"
        );

        // Broken markup between objects, in the same piece as the objects before
        // it: they come first, then the error.
        let body = page("RetrievePropertiesEx", 0..6, None);
        let at = body
            .find("<objects><obj type=\"VirtualMachine\">vm-4<")
            .unwrap();
        let body = format!("{}</bogus>{}", &body[..at], &body[at..]);
        let t = Pieces::default().on("RetrievePropertiesEx", answer(200, body, usize::MAX));
        let mut r = retrieval(t).decode_threads(threads);
        for i in 0..4 {
            let vm = r.next_object::<VirtualMachine>().await.unwrap().unwrap();
            assert_eq!(vm.object.obj.value, format!("vm-{i}"), "{threads} threads");
        }
        let e = r.next_object::<VirtualMachine>().await.unwrap_err();
        assert!(
            matches!(&e, Error::Decode { source, .. } if source.message.contains("bogus")),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn a_page_repeating_an_earlier_object_stops_the_retrieval() {
    // On the caller's thread and decoded ahead on several.
    for threads in [1, 3] {
        let t = Pieces::default()
            .on(
                "RetrievePropertiesEx",
                answer(200, page("RetrievePropertiesEx", 0..5, Some("t")), 50),
            )
            .on(
                "ContinueRetrievePropertiesEx",
                answer(
                    200,
                    page("ContinueRetrievePropertiesEx", 5..8, Some("t")),
                    50,
                ),
            )
            .on(
                "ContinueRetrievePropertiesEx",
                answer(
                    200,
                    page("ContinueRetrievePropertiesEx", 7..9, Some("t")),
                    50,
                ),
            );
        let mut r = retrieval(t).decode_threads(threads);
        let mut ids = Vec::new();
        let e = loop {
            match r.next_object::<VirtualMachine>().await {
                Ok(Some(vm)) => ids.push(vm.object.obj.value),
                Ok(None) => panic!("the loop was not noticed"),
                Err(e) => break e,
            }
        };
        assert_eq!(ids.len(), 8);
        assert!(
            matches!(&e, Error::Protocol { message, .. } if message.contains("vm-7")),
            "{e:?}"
        );
        assert!(r.next_object::<VirtualMachine>().await.unwrap().is_none());
    }
}

#[tokio::test]
async fn wrong_types_and_mixed_calls_are_refused() {
    let mut r = retrieval(three_pages(64));
    let e = r.next_object::<HostSystem>().await.unwrap_err();
    assert!(matches!(e, Error::WrongType(_)), "{e:?}");

    let mut r = retrieval(three_pages(64));
    r.next_object::<VirtualMachine>().await.unwrap().unwrap();
    let e = r.next_page().await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    // Streaming goes on where it was.
    let vm = r.next_object::<VirtualMachine>().await.unwrap().unwrap();
    assert_eq!(vm.object.obj.value, "vm-1");
}

/// Decoded on several threads, a page of many decoding jobs gives the same objects
/// in the same order, and objects decoded ahead as one type can be asked for as
/// another. (The tests above run on one thread and on three.)
#[tokio::test]
async fn decoding_on_several_threads_changes_nothing_but_speed() {
    // Over 1 MiB in one page: several batches.
    let big = || {
        Pieces::default().on(
            "RetrievePropertiesEx",
            answer(200, page("RetrievePropertiesEx", 0..4000, None), 16 * 1024),
        )
    };
    let mut one = Vec::new();
    let mut r = retrieval(big());
    while let Some(vm) = r.next_object::<VirtualMachine>().await.unwrap() {
        one.push(format!("{:?} {:?}", vm.object, vm.missing));
    }
    assert_eq!(one.len(), 4000);
    for threads in [2, 3, 8] {
        let mut r = retrieval(big()).decode_threads(threads);
        let mut many = Vec::new();
        while let Some(vm) = r.next_object::<VirtualMachine>().await.unwrap() {
            many.push(format!("{:?} {:?}", vm.object, vm.missing));
        }
        assert!(many == one, "{threads} threads");

        // Three pages in small pieces, each object read as another type in turn.
        let mut r = retrieval(three_pages(7)).decode_threads(threads);
        for i in 0..100 {
            let id = match i % 3 {
                0 => {
                    r.next_object::<VirtualMachine>()
                        .await
                        .unwrap()
                        .unwrap()
                        .object
                        .obj
                }
                1 => r.next_content().await.unwrap().unwrap().obj,
                _ => {
                    let o = r.next_any_object().await.unwrap().unwrap().object;
                    assert!(matches!(o, AnyManagedObject::VirtualMachine(_)));
                    o.obj().clone()
                }
            };
            assert_eq!(id.value, format!("vm-{i}"));
        }
        assert!(r.next_content().await.unwrap().is_none());
        assert_eq!(r.pages(), 3);
    }
}

/// `fut` polled once: its output, or `None` (and `fut` dropped) when it is pending.
async fn poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// A call given up while it waits (for bytes, or for the decoding threads) loses
/// nothing: the next call goes on where it stopped, and every object comes once, in
/// order.
#[tokio::test]
async fn calls_given_up_midway_lose_nothing() {
    for threads in [1, 2, 3] {
        let t = three_pages(64);
        for answers in t.answers.lock().unwrap().values_mut() {
            for a in answers.iter_mut() {
                a.late = true;
            }
        }
        let mut r = retrieval(t).decode_threads(threads);
        let (mut ids, mut given_up) = (Vec::new(), 0);
        loop {
            match poll_once(r.next_object::<VirtualMachine>()).await {
                Some(next) => match next.unwrap() {
                    Some(vm) => ids.push(vm.object.obj.value),
                    None => break,
                },
                None => {
                    given_up += 1;
                    // The decoding threads work meanwhile.
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        }
        let want: Vec<String> = (0..100).map(|i| format!("vm-{i}")).collect();
        assert_eq!(ids, want, "{threads} threads");
        assert!(
            given_up > 100,
            "{threads} threads: {given_up} calls given up"
        );
        assert_eq!(r.pages(), 3);
    }
}

const SESSION: &str = "<LoginResponse xmlns=\"urn:vim25\"><returnval><key>s1</key><userName>u</userName></returnval></LoginResponse>";

fn envelope(inner: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"#
    )
}

#[tokio::test]
async fn session_logs_in_again_and_replays_a_streamed_call_refused_as_not_authenticated() {
    let t = Pieces::default()
        .on(
            "RetrievePropertiesEx",
            answer(500, fault("NotAuthenticated"), 16),
        )
        .on("Login", answer(200, envelope(SESSION), 1 << 20))
        .on(
            "RetrievePropertiesEx",
            answer(200, page("RetrievePropertiesEx", 0..10, None), 16),
        );
    let s = Arc::new(Session::new(t.clone(), Relogin::SafeCalls));
    let sm = ManagedObjectReference::new("SessionManager", "SessionManager");
    s.remember(&sm, "u", "p");
    let mut r = retrieval(s.clone());
    let mut n = 0;
    while r.next_object::<VirtualMachine>().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 10);
    let ops: Vec<String> = t.calls().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        ["RetrievePropertiesEx", "Login", "RetrievePropertiesEx"]
    );

    // Any other fault is handed on, read whole, as the fault.
    let t = Pieces::default().on(
        "RetrievePropertiesEx",
        answer(500, fault("InvalidProperty"), 16),
    );
    let s = Arc::new(Session::new(t.clone(), Relogin::SafeCalls));
    s.remember(&sm, "u", "p");
    let e = retrieval(s)
        .next_object::<VirtualMachine>()
        .await
        .unwrap_err();
    assert_eq!(e.fault_name(), Some("InvalidProperty"));
    assert_eq!(t.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_resends_a_streamed_first_page_on_503_but_never_a_continuation() {
    let t = Pieces::default()
        .on("RetrievePropertiesEx", answer(503, "busy".into(), 4))
        .on(
            "RetrievePropertiesEx",
            answer(200, page("RetrievePropertiesEx", 0..3, Some("t1")), 4),
        )
        .on(
            "ContinueRetrievePropertiesEx",
            answer(503, "busy".into(), 4),
        );
    let rt = Retry::new(t.clone(), RetryPolicy::new(3, Duration::from_millis(10)));
    let mut r = retrieval(rt);
    for _ in 0..3 {
        r.next_object::<VirtualMachine>().await.unwrap().unwrap();
    }
    let e = r.next_object::<VirtualMachine>().await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 503, .. }), "{e:?}");
    let ops: Vec<String> = t.calls().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        [
            "RetrievePropertiesEx",
            "RetrievePropertiesEx",
            "ContinueRetrievePropertiesEx"
        ]
    );
}
