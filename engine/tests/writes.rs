//! Responses written from the caller's thread while the server is lightly loaded (the JS
//! thread, in rhttps), with the engine's writer finishing what the socket did not take, and
//! the keep-alive clock, which the reader starts without being woken for each response.

mod harness;

use std::time::{Duration, Instant};

use harness::{pattern, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// Reads one response with a Content-Length body from `s`, starting with the bytes `carry`
/// holds from the last read; returns its head and body and leaves what follows in `carry`.
async fn read_response(s: &mut TcpStream, carry: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = carry.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "closed inside a head: {:?}",
            String::from_utf8_lossy(carry)
        );
        carry.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&carry[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Content-Length");
    while carry.len() < head_end + length {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "closed after {} of {length} body bytes",
            carry.len() - head_end
        );
        carry.extend_from_slice(&chunk[..n]);
    }
    let rest = carry.split_off(head_end + length);
    let body = carry.split_off(head_end);
    *carry = rest;
    (head, body)
}

#[tokio::test]
async fn a_response_larger_than_the_socket_holds_arrives_whole_and_in_order() {
    let srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    // 8 MiB is far more than loopback's socket buffers (and too large to be written from the
    // responder's thread): the writer sends it as the client reads.
    let n = 8 * 1024 * 1024;
    s.write_all(
        format!("GET /big/{n} HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    // A client slow to start reading: the first write fills the socket and leaves the rest.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut carry = Vec::new();
    let (head, body) =
        tokio::time::timeout(Duration::from_secs(20), read_response(&mut s, &mut carry))
            .await
            .expect("the big response within 20 s");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == pattern(n), "the body differs from what was written");
    let (head, _) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s, &mut carry))
        .await
        .expect("the next response");
    assert!(head.contains("X-Target: /after"), "{head}");
}

#[tokio::test]
async fn small_responses_stay_whole_and_in_order_when_the_socket_fills_up() {
    let srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    // One request at a time (each its own small batch, so each response is written at once
    // from the responder's thread), and nothing read: after a couple of megabytes the socket
    // is full, writes are taken partly or not at all, and the rest queues for the writer.
    let (count, size) = (300, 16_000);
    for i in 0..count {
        s.write_all(format!("GET /big/{size}?{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut carry = Vec::new();
    for i in 0..count {
        let (head, body) =
            tokio::time::timeout(Duration::from_secs(10), read_response(&mut s, &mut carry))
                .await
                .expect("a response within 10 s");
        assert!(
            head.contains(&format!("X-Target: /big/{size}?{i}\r\n")),
            "{head}"
        );
        assert!(
            body == pattern(size),
            "response {i}'s body differs from what was written"
        );
    }
}

#[tokio::test]
async fn many_small_responses_on_one_connection_keep_their_order() {
    let srv = start(None, |_| {});
    let mut s = connect(srv.port).await;
    let mut carry = Vec::new();
    for i in 0..200 {
        s.write_all(format!("GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (head, _) =
            tokio::time::timeout(Duration::from_secs(5), read_response(&mut s, &mut carry))
                .await
                .expect("a response within 5 s");
        assert!(head.contains(&format!("X-Target: /r{i}\r\n")), "{head}");
    }
}

// Regression: nothing wakes the reader when a response is done; a response slower than the
// keep-alive timeout must not be taken for a stalled request (408) or cut off, and the idle
// clock must start when it is done.
#[tokio::test]
async fn a_response_slower_than_the_keep_alive_timeout_is_delivered_and_then_timed() {
    let srv = start(None, |s| s.limits().set_keep_alive_timeout(100));
    let mut s = connect(srv.port).await;
    let began = Instant::now();
    s.write_all(b"GET /slow/600 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(closed.is_ok(), "the idle connection was never closed");
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("X-Target: /slow/600"),
        "{text}"
    );
    assert!(!text.contains("408"), "{text}");
    // Answered at 600 ms, then keepAliveTimeout (100 ms) plus Node's one-second grace.
    assert!(
        began.elapsed() >= Duration::from_millis(1700),
        "closed {:?} after the request",
        began.elapsed()
    );
}
