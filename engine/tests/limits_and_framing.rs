//! The engine over real sockets: framing, pipelining, and every limit firing at its value.

mod harness;

use std::time::{Duration, Instant};

use harness::{start, Event};
use rhttps_engine::request::RequestError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// Reads until the peer closes (or `limit` passes) and returns everything received.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(limit, s.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    s.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(closed, "connection: close must close");
    let one = text.find("X-Target: /one").expect("one");
    let two = text.find("X-Target: /two").expect("two");
    let three = text.find("X-Target: /three").expect("three");
    assert!(one < two && two < three, "{text}");
}

#[tokio::test]
async fn chunked_body_is_decoded_and_trailers_reported() {
    let mut srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.ends_with("hello world"), "{text}");
    let end = srv
        .expect(Duration::from_secs(2), |e| matches!(e, Event::End { .. }))
        .await;
    let Event::End { trailers, .. } = end else {
        unreachable!()
    };
    assert_eq!(trailers, vec![("X-Sum".to_string(), "11".to_string())]);
}

#[tokio::test]
async fn malformed_request_gets_400_with_llhttp_code() {
    let mut srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    s.write_all(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 400 Bad Request"), "{text}");
    assert!(closed);
    let ev = srv
        .expect(Duration::from_secs(2), |e| {
            matches!(e, Event::ClientError { .. })
        })
        .await;
    let Event::ClientError { error, .. } = ev else {
        unreachable!()
    };
    assert_eq!(error, RequestError::InvalidHeaderToken);
}

#[tokio::test]
async fn max_header_size_gives_431() {
    let srv = start(None, |s| s.limits().set_max_header_size(1024));
    let mut s = connect(srv.port).await;
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (text, _) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}

#[tokio::test]
async fn headers_timeout_fires_on_a_slow_head() {
    let srv = start(None, |s| {
        s.limits().set_headers_timeout(300);
        s.limits().set_request_timeout(10_000);
    });
    let mut s = connect(srv.port).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let began = Instant::now();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408 Request Timeout"), "{text}");
    assert!(closed);
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(250), "fired early: {took:?}");
}

#[tokio::test]
async fn request_timeout_fires_on_a_slow_body() {
    let srv = start(None, |s| {
        s.limits().set_headers_timeout(200);
        s.limits().set_request_timeout(400);
    });
    let mut s = connect(srv.port).await;
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        .await
        .unwrap();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn keep_alive_timeout_closes_idle_connection() {
    let srv = start(None, |s| s.limits().set_keep_alive_timeout(100));
    let mut s = connect(srv.port).await;
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let began = Instant::now();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.contains("X-Target: /a"), "{text}");
    assert!(closed, "idle connection must be closed");
    // Node's grace: keepAliveTimeout plus one second before the socket is dropped.
    assert!(
        began.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn zero_timeouts_switch_limits_off() {
    let srv = start(None, |s| {
        s.limits().set_headers_timeout(0);
        s.limits().set_request_timeout(0);
    });
    let mut s = connect(srv.port).await;
    s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(600), s.read(&mut buf)).await;
    assert!(waited.is_err(), "nothing may be sent while limits are off");
}

#[tokio::test]
async fn smuggling_shape_is_rejected() {
    let srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}

#[tokio::test]
async fn port_in_use_is_eaddrinuse() {
    let srv = start(None, |_| {});
    let other = rhttps_engine::Server::new(Box::new(harness::NotifyWaker(Default::default())));
    let err = other
        .listen(&rhttps_engine::ListenOptions {
            host: Some("127.0.0.1".parse().unwrap()),
            port: srv.port,
            backlog: 16,
            ipv6_only: false,
            reuse_port: false,
        })
        .expect_err("second bind must fail");
    assert!(
        matches!(&err, rhttps_engine::EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
        "{err}"
    );
    assert_eq!(err.syscall(), Some("listen"));
}

#[tokio::test]
async fn a_stalled_consumer_bounds_the_event_queue() {
    use std::sync::Arc;
    // No responder: nobody drains the queue, as when the JS thread is blocked.
    let server = rhttps_engine::Server::new(Box::new(harness::NotifyWaker(Arc::default())));
    let addr = server
        .listen(&rhttps_engine::ListenOptions {
            host: Some("127.0.0.1".parse().unwrap()),
            port: 0,
            backlog: 16,
            ipv6_only: false,
            reuse_port: false,
        })
        .unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = 64 * 1024 * 1024;
    s.write_all(format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {body}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let chunk = vec![b'x'; 1024 * 1024];
    let mut sent = 0;
    // The client gets stuck once the server stops reading; give up after a bounded time.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while sent < body {
            s.write_all(&chunk).await.unwrap();
            sent += chunk.len();
        }
    })
    .await;
    assert!(
        sent < body,
        "the server must stop reading when nobody consumes events"
    );
    let batch = server.take_events();
    let queued = batch.bytes.len() + batch.lent.iter().map(|piece| piece.len()).sum::<usize>();
    assert!(queued <= 9 * 1024 * 1024, "queue grew to {queued} bytes");
}

#[tokio::test]
async fn upgraded_connection_carries_raw_bytes_both_ways() {
    let srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly-",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let want = b"HTTP/1.1 101 Switching Protocols\r\n\r\nearly-not http at all\r\n\r\n";
    let mut sent_rest = false;
    while got.len() < want.len() {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("echo")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if !sent_rest && got.ends_with(b"early-") {
            // Bytes that would be a malformed request must pass through untouched now.
            s.write_all(b"not http at all\r\n\r\n").await.unwrap();
            sent_rest = true;
        }
    }
    assert_eq!(&got[..], &want[..]);
}
