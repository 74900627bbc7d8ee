//! NSS key-log lines for Node's `'keylog'` event (Wireshark decrypts captures with them).
//! rustls reports secrets without saying which connection they belong to, so each handshake
//! that should be logged runs inside a task-local sink that collects its lines.

use std::cell::RefCell;
use std::fmt::Write;
use std::future::Future;

tokio::task_local! {
    static SINK: RefCell<Vec<Vec<u8>>>;
}

/// rustls derives the 0-RTT secret on every resumption, but this server accepts no early data
/// (`max_early_data_size` stays 0), so nothing is ever encrypted with it; OpenSSL, and so
/// Node, log it only for early data, and a resumed handshake gives the same five lines here.
const EARLY_SECRET: &str = "CLIENT_EARLY_TRAFFIC_SECRET";

/// The rustls hook; it writes only inside `collect`.
#[derive(Debug)]
pub struct TaskKeyLog;

impl rustls::KeyLog for TaskKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == EARLY_SECRET {
            return;
        }
        let mut line =
            String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
        line.push_str(label);
        line.push(' ');
        for b in client_random {
            let _ = write!(line, "{b:02x}");
        }
        line.push(' ');
        for b in secret {
            let _ = write!(line, "{b:02x}");
        }
        line.push('\n');
        let _ = SINK.try_with(|sink| sink.borrow_mut().push(line.into_bytes()));
    }

    fn will_log(&self, label: &str) -> bool {
        label != EARLY_SECRET && SINK.try_with(|_| ()).is_ok()
    }
}

/// Runs `fut` (a handshake) and returns its output with the key-log lines it produced.
pub async fn collect<F: Future>(fut: F) -> (F::Output, Vec<Vec<u8>>) {
    SINK.scope(RefCell::new(Vec::new()), async {
        let out = fut.await;
        let lines = SINK.with(|sink| sink.take());
        (out, lines)
    })
    .await
}
