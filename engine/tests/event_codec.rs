//! The event format is pinned by golden bytes: one event of every kind, encoded here and
//! compared with `fixtures/events.golden`, decoded back to the values it was made from. The JS
//! decoder's test (`__test__/event-codec.test.js`) reads the same file, so a change on either
//! side that the other does not follow fails a test. Regenerate the file after an intended
//! format change with `RHTTPS_UPDATE_GOLDEN=1 cargo test -p rhttps-engine --test event_codec`.

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;

use rhttps_engine::client_auth::VerifyError;
use rhttps_engine::conn::CloseReason;
use rhttps_engine::events::{self, Encoder, Event, Negotiated};
use rhttps_engine::handshake::HandshakeFailure;
use rhttps_engine::request::{parse_head, ParseLimits, RequestError};

const LIMITS: ParseLimits = ParseLimits {
    max_size: 16 * 1024,
    lenient: false,
};

fn addr(s: &str) -> Option<SocketAddr> {
    Some(s.parse().expect("address"))
}

/// One golden event: its name, its bytes, the pieces it lent beside them, and what decoding
/// must give back.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    lent: Vec<Bytes>,
    event: Event,
}

/// The piece the BODY_LENT case lends; `__test__/event-codec.test.js` makes the same one.
fn lent_piece() -> Bytes {
    Bytes::from(vec![b'l'; events::LENT_MIN])
}

/// Each golden event, encoded by an encoder that lends.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut case = |name, encode: &dyn Fn(&mut Encoder<'_>), event| {
        let mut bytes = Vec::new();
        let mut lent = Vec::new();
        encode(&mut Encoder::lending(&mut bytes, &mut lent));
        out.push(Case {
            name,
            bytes,
            lent,
            event,
        });
    };

    let tls = Negotiated {
        version: 0x0304,
        cipher: 0x1301,
        alpn: b"http/1.1".to_vec(),
        servername: "localhost".into(),
        group: 0x11ec,
        client_auth: Some(Err(VerifyError::Revoked)),
        resumed: true,
        peer_chain: vec![vec![0x30, 0x01]],
    };
    let remote = addr("127.0.0.1:40000");
    let local = addr("[::1]:443");
    case(
        "OPEN tls",
        &|e| e.open(7, remote, local, &tls),
        Event::Open {
            id: 7,
            remote,
            local,
            tls: tls.clone(),
        },
    );
    case(
        "OPEN plain unix",
        &|e| e.open(8, None, None, &Negotiated::default()),
        Event::Open {
            id: 8,
            remote: None,
            local: None,
            tls: Negotiated::default(),
        },
    );

    let get = b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-A: \xe9\r\n\r\n";
    let head = parse_head(get, LIMITS).unwrap().unwrap();
    case(
        "REQUEST",
        &|e| e.request(7, &head, get, events::FLAG_KEEP_ALIVE),
        Event::Request {
            id: 7,
            flags: events::FLAG_KEEP_ALIVE,
            major: 1,
            minor: 1,
            method: "GET".into(),
            target: "/a?b".into(),
            headers: vec![("Host".into(), "x".into()), ("X-A".into(), "\u{e9}".into())],
            upgrade_head: None,
        },
    );
    let upgrade = b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: ws\r\n\r\nearly";
    let head = parse_head(upgrade, LIMITS).unwrap().unwrap();
    let flags = events::FLAG_UPGRADE | events::FLAG_HAS_BODY;
    case(
        "REQUEST upgrade",
        &|e| e.request(9, &head, upgrade, flags),
        Event::Request {
            id: 9,
            flags,
            major: 1,
            minor: 0,
            method: "GET".into(),
            target: "/ws".into(),
            headers: vec![
                ("Connection".into(), "upgrade".into()),
                ("Upgrade".into(), "ws".into()),
            ],
            upgrade_head: Some(b"early".to_vec()),
        },
    );
    // A head httparse reads only once rewritten: the event carries what the client sent.
    let folded = b"GET / HTTP/1.2\r\nX: a\r\n b\0\r\n\r\n";
    let lenient = ParseLimits {
        lenient: true,
        ..LIMITS
    };
    let head = parse_head(folded, lenient).unwrap().unwrap();
    case(
        "REQUEST rewritten",
        &|e| e.request(10, &head, folded, events::FLAG_KEEP_ALIVE),
        Event::Request {
            id: 10,
            flags: events::FLAG_KEEP_ALIVE,
            major: 1,
            minor: 2,
            method: "GET".into(),
            target: "/".into(),
            headers: vec![("X".into(), "a b\0".into())],
            upgrade_head: None,
        },
    );
    case(
        "BODY",
        &|e| e.body(7, b"hello"),
        Event::Body {
            id: 7,
            data: b"hello".to_vec(),
        },
    );
    case(
        "END",
        &|e| e.end(7, &[("X-Sum", "11")]),
        Event::End {
            id: 7,
            trailers: vec![("X-Sum".into(), "11".into())],
        },
    );
    case("PEER_END", &|e| e.peer_end(7), Event::PeerEnd { id: 7 });
    case(
        "CLOSE",
        &|e| e.close(7, CloseReason::Reset, "connection reset by peer"),
        Event::Close {
            id: 7,
            reason: CloseReason::Reset,
            detail: "connection reset by peer".into(),
        },
    );
    case(
        "CLOSE clean",
        &|e| e.close(8, CloseReason::Clean, ""),
        Event::Close {
            id: 8,
            reason: CloseReason::Clean,
            detail: String::new(),
        },
    );
    case("DRAIN", &|e| e.drain(7), Event::Drain { id: 7 });
    case(
        "STREAM",
        &|e| e.stream(12, 7),
        Event::Stream { id: 12, parent: 7 },
    );
    case(
        "CLIENT_ERROR",
        &|e| e.client_error(7, RequestError::InvalidHeaderToken, 3, b"Bad Header: x"),
        Event::ClientError {
            id: 7,
            error: RequestError::InvalidHeaderToken,
            parsed: 3,
            raw: b"Bad Header: x".to_vec(),
        },
    );
    let peer = addr("127.0.0.2:5");
    case(
        "TLS_ERROR",
        &|e| e.tls_error(HandshakeFailure::NotTls, "received corrupt message", peer),
        Event::TlsError {
            failure: HandshakeFailure::NotTls,
            detail: "received corrupt message".into(),
            remote: peer,
        },
    );
    case(
        "TLS_ERROR timeout",
        &|e| e.tls_error(HandshakeFailure::Timeout, "timed out", peer),
        Event::TlsError {
            failure: HandshakeFailure::Timeout,
            detail: "timed out".into(),
            remote: peer,
        },
    );
    case(
        "ACCEPT_ERROR",
        &|e| e.accept_error(24, "Too many open files"),
        Event::AcceptError {
            errno: 24,
            detail: "Too many open files".into(),
        },
    );
    case(
        "ACCEPT_PAUSED",
        &|e| e.accept_paused(24, "Too many open files"),
        Event::AcceptPaused {
            errno: 24,
            detail: "Too many open files".into(),
        },
    );
    case(
        "BODY_LENT",
        &|e| e.body_piece(7, lent_piece()),
        Event::Body {
            id: 7,
            data: lent_piece().to_vec(),
        },
    );
    case(
        "DATA",
        &|e| e.data(9, &[0, 1, 2, 255]),
        Event::Data {
            id: 9,
            data: vec![0, 1, 2, 255],
        },
    );
    case(
        "KEYLOG",
        &|e| e.keylog(7, b"CLIENT_RANDOM aa bb"),
        Event::Keylog {
            id: 7,
            line: b"CLIENT_RANDOM aa bb".to_vec(),
        },
    );
    case(
        "PIPE_DATA",
        &|e| e.pipe_data(4, b"HTTP/1.1 200 OK\r\n"),
        Event::PipeData {
            pipe: 4,
            data: b"HTTP/1.1 200 OK\r\n".to_vec(),
        },
    );
    case("PIPE_END", &|e| e.pipe_end(4), Event::PipeEnd { pipe: 4 });
    case(
        "PIPE_DRAIN",
        &|e| e.pipe_drain(4),
        Event::PipeDrain { pipe: 4 },
    );
    case(
        "ADOPTED",
        &|e| e.adopted(7, 4),
        Event::Adopted { id: 7, pipe: 4 },
    );
    let hello_from = addr("127.0.0.1:1234");
    case(
        "HELLO",
        &|e| e.hello(3, "a.test", true, &["h2", "http/1.1"], hello_from),
        Event::Hello {
            hello: 3,
            servername: "a.test".into(),
            offers_alpn: true,
            alpn: vec!["h2".into(), "http/1.1".into()],
            remote: hello_from,
        },
    );
    out
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events.golden")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_event_kind_encodes_to_the_golden_bytes() {
    let text: String = cases()
        .iter()
        .map(|c| format!("{}: {}\n", c.name, hex(&c.bytes)))
        .collect();
    if std::env::var_os("RHTTPS_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden_path(), &text).expect("write golden file");
    }
    let golden = std::fs::read_to_string(golden_path()).expect("golden file");
    assert_eq!(
        text, golden,
        "the event format changed (see this file's header)"
    );
}

#[test]
fn every_event_kind_decodes_to_what_was_encoded() {
    let all = cases();
    let kinds: std::collections::BTreeSet<u8> = all.iter().map(|c| c.bytes[0]).collect();
    assert_eq!(kinds.len(), 20, "a case for every event kind");
    let mut batch = Vec::new();
    let mut lent = Vec::new();
    for c in &all {
        assert_eq!(
            &events::decode_batch(&c.bytes, &c.lent).unwrap(),
            std::slice::from_ref(&c.event),
            "{}",
            c.name
        );
        batch.extend_from_slice(&c.bytes);
        lent.extend(c.lent.iter().cloned());
    }
    let every: Vec<Event> = all.into_iter().map(|c| c.event).collect();
    assert_eq!(
        events::decode_batch(&batch, &lent).unwrap(),
        every,
        "one batch of them all"
    );
}

#[test]
fn only_a_large_body_piece_is_lent_and_only_by_an_encoder_that_lends() {
    let small = Bytes::from(vec![b's'; events::LENT_MIN - 1]);
    let mut bytes = Vec::new();
    let mut lent = Vec::new();
    Encoder::lending(&mut bytes, &mut lent).body_piece(3, small.clone());
    assert!(lent.is_empty(), "a smaller piece is copied inline");
    assert_eq!(bytes[0], events::BODY);
    let mut inline = Vec::new();
    Encoder::new(&mut inline).body_piece(3, lent_piece());
    assert_eq!(inline[0], events::BODY, "an encoder without a list copies");
    assert_eq!(
        events::decode(&inline).unwrap(),
        vec![Event::Body {
            id: 3,
            data: lent_piece().to_vec()
        }]
    );
}

#[test]
fn a_truncated_or_unknown_event_is_a_decode_error_not_a_panic() {
    for c in cases() {
        for cut in 1..c.bytes.len() {
            assert!(
                events::decode_batch(&c.bytes[..cut], &c.lent).is_err(),
                "{} cut at {cut}",
                c.name
            );
        }
    }
    assert!(events::decode(&[99, 0, 0, 0, 0]).is_err());
    let lent = cases()
        .into_iter()
        .find(|c| c.name == "BODY_LENT")
        .expect("the BODY_LENT case");
    assert!(
        events::decode(&lent.bytes).is_err(),
        "BODY_LENT without its piece"
    );
    let mut extra = lent.lent.clone();
    extra.push(lent_piece());
    assert!(
        events::decode_batch(&lent.bytes, &extra).is_err(),
        "a piece no event stands for"
    );
    assert!(
        events::decode_batch(&lent.bytes, &[Bytes::from_static(b"short")]).is_err(),
        "a piece of another length"
    );
    let mut bad_reason = Vec::new();
    Encoder::new(&mut bad_reason).close(1, CloseReason::Clean, "");
    bad_reason[5] = 200;
    assert!(events::decode(&bad_reason).is_err());
}
