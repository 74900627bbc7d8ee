//! Property tests of what parses client bytes (the request head, chunked bodies) and of the
//! event decoder: arbitrary input never panics or loops, and valid input gives back what made
//! it, the generator being the reference. `PROPTEST_CASES` raises the case count.

use bytes::BytesMut;
use proptest::prelude::*;
use rhttps_engine::chunked::{ChunkedDecoder, Step};
use rhttps_engine::events::{self, Encoder, Event};
use rhttps_engine::request::{parse_head, ParseLimits};

const STRICT: ParseLimits = ParseLimits {
    max_size: 16 * 1024,
    lenient: false,
};
const LENIENT: ParseLimits = ParseLimits {
    max_size: 16 * 1024,
    lenient: true,
};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    ProptestConfig::with_cases(cases)
}

/// A request head that llhttp accepts, with what it must parse to.
fn valid_request() -> impl Strategy<Value = (String, String, Vec<(String, String)>, Vec<u8>)> {
    let method = prop::sample::select(vec![
        "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE",
    ]);
    let target = "/[A-Za-z0-9._~/?=&%-]{0,64}";
    let header = ("[A-Za-z0-9-]{1,16}", "([!-~]([ -~]{0,30}[!-~])?)?");
    let headers = prop::collection::vec(header, 0..24);
    (method, target, headers).prop_map(|(method, target, headers)| {
        // Framing headers are the framing tests' business; keep these heads body-less.
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("content-length")
                    && !n.eq_ignore_ascii_case("transfer-encoding")
            })
            .collect();
        let mut raw = format!("{method} {target} HTTP/1.1\r\n");
        for (n, v) in &headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        (method.to_string(), target, headers, raw.into_bytes())
    })
}

/// A body, how it is cut into chunks, and its chunked encoding.
fn chunked_body() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..8).prop_map(|chunks| {
        let mut wire = Vec::new();
        let mut body = Vec::new();
        for c in &chunks {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
            body.extend_from_slice(c);
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        (body, wire)
    })
}

/// Feeds `wire` to a decoder in pieces cut at `cuts`; the body, or the first error.
fn decode_chunked(wire: &[u8], cuts: &[usize], limits: ParseLimits) -> Result<Option<Vec<u8>>, ()> {
    let mut dec = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.sort_unstable();
    points.push(wire.len());
    for end in points {
        if end < at {
            continue;
        }
        buf.extend_from_slice(&wire[at..end]);
        at = end;
        // Every step consumes input or asks for more: a bound on steps catches a loop.
        for _ in 0..=wire.len() + 2 {
            match dec.step(&mut buf, limits) {
                Ok(Step::Data(d)) => body.extend_from_slice(&d),
                Ok(Step::NeedMore) => break,
                Ok(Step::Done(_)) => return Ok(Some(body)),
                Err(_) => return Err(()),
            }
        }
    }
    Ok(None)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_the_head_parser(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_head(&bytes, STRICT);
        let _ = parse_head(&bytes, LENIENT);
    }

    #[test]
    fn a_mutated_valid_head_never_panics_the_parser(
        (_, _, _, raw) in valid_request(),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<usize>(),
    ) {
        let mut mutated = raw.clone();
        mutated.insert(at % (raw.len() + 1), byte);
        mutated.truncate(cut % (mutated.len() + 1));
        let _ = parse_head(&mutated, STRICT);
        let _ = parse_head(&mutated, LENIENT);
    }

    #[test]
    fn a_valid_head_parses_to_what_was_sent((method, target, headers, raw) in valid_request()) {
        for limits in [STRICT, LENIENT] {
            let head = parse_head(&raw, limits).expect("accepted").expect("complete");
            prop_assert_eq!(&raw[head.method.clone()], method.as_bytes());
            prop_assert_eq!(&raw[head.target.clone()], target.as_bytes());
            prop_assert_eq!(head.len, raw.len());
            let parsed: Vec<(String, String)> = head
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(&raw[n.clone()]).into_owned(),
                        String::from_utf8_lossy(&raw[v.clone()]).into_owned(),
                    )
                })
                .collect();
            prop_assert_eq!(&parsed, &headers);
            // Every proper prefix is incomplete, never an error.
            let cut = raw.len() / 2;
            prop_assert!(parse_head(&raw[..cut], limits).expect("prefix accepted").is_none());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_loop_the_chunked_decoder(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = decode_chunked(&bytes, &cuts, STRICT);
        let _ = decode_chunked(&bytes, &cuts, LENIENT);
    }

    #[test]
    fn a_valid_chunked_body_decodes_to_itself_however_it_is_split(
        (body, wire) in chunked_body(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        prop_assert_eq!(decode_chunked(&wire, &cuts, STRICT), Ok(Some(body.clone())));
        prop_assert_eq!(decode_chunked(&wire, &cuts, LENIENT), Ok(Some(body)));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_event_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = events::decode(&bytes);
    }

    #[test]
    fn encoded_events_decode_to_themselves(
        items in prop::collection::vec((any::<u32>(), prop::collection::vec(any::<u8>(), 0..64), 0u8..3), 0..16),
    ) {
        let mut buf = Vec::new();
        let mut want = Vec::new();
        {
            let mut e = Encoder::new(&mut buf);
            for (id, data, kind) in &items {
                match kind {
                    0 => {
                        e.body(*id, data);
                        want.push(Event::Body { id: *id, data: data.clone() });
                    }
                    1 => {
                        e.data(*id, data);
                        want.push(Event::Data { id: *id, data: data.clone() });
                    }
                    _ => {
                        e.keylog(*id, data);
                        want.push(Event::Keylog { id: *id, line: data.clone() });
                    }
                }
            }
        }
        prop_assert_eq!(events::decode(&buf).expect("decodes"), want);
    }
}
