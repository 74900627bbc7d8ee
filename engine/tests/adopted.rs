//! Streams the application hands over (Node's `server.emit('connection', stream)`): served
//! through a pipe exactly as accepted sockets are.

mod harness;

use std::time::Duration;

use bytes::Bytes;
use harness::{start, Event};

/// The events until `done` says the last one ends the wait (bounded by five seconds).
async fn events_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = rx.recv().await {
            let last = done(&ev);
            seen.push(ev);
            if last {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; events so far: {seen:?}"));
    seen
}

#[tokio::test]
async fn an_adopted_stream_is_served_over_its_pipe_and_its_end_closes_the_pipe() {
    let mut srv = start(None, |_| {});
    let remote = "192.0.2.7:4321".parse().ok();
    let pipe = srv.server.adopt(remote, None).expect("adopt");
    let request = b"GET /piped HTTP/1.1\r\nHost: a\r\n\r\n";
    assert!(srv.server.pipe_write(pipe, Bytes::from_static(request)));
    let mut out = Vec::new();
    let seen = events_until(&mut srv.events, |ev| {
        if let Event::PipeData { data, .. } = ev {
            out.extend_from_slice(data);
        }
        out.windows(4).any(|w| w == b"\r\n\r\n")
    })
    .await;
    let adopted = seen
        .iter()
        .position(|e| matches!(e, Event::Adopted { pipe: p, .. } if *p == pipe))
        .expect("ADOPTED");
    match &seen[adopted + 1] {
        Event::Open { remote: r, .. } => assert_eq!(*r, remote),
        other => panic!("OPEN right after ADOPTED, got {other:?}"),
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("X-Target: /piped\r\n"), "{text}");

    // The stream's end reaches the connection as its client's FIN; once it closes, so does
    // the pipe.
    srv.server.pipe_end(pipe);
    events_until(
        &mut srv.events,
        |ev| matches!(ev, Event::PipeEnd { pipe: p } if *p == pipe),
    )
    .await;
}

#[tokio::test]
async fn a_destroyed_pipe_closes_its_connection() {
    let mut srv = start(None, |_| {});
    let pipe = srv.server.adopt(None, None).expect("adopt");
    srv.server.pipe_write(
        pipe,
        Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    );
    let seen = events_until(&mut srv.events, |ev| matches!(ev, Event::PipeData { .. })).await;
    let id = seen
        .iter()
        .find_map(|e| match e {
            Event::Adopted { id, .. } => Some(*id),
            _ => None,
        })
        .expect("ADOPTED");
    srv.server.pipe_destroy(pipe);
    events_until(
        &mut srv.events,
        |ev| matches!(ev, Event::Close { id: c, .. } if *c == id),
    )
    .await;
}
