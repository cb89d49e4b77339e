//! WsClient over real loopback sockets: plain and TLS round trips, pings, closes, errors.

mod util;

use std::time::{Duration, Instant};

use mm_io::{WsClient, WsError, WsOptions};
use util::{read_until_err, recv_n, silent_listener, spawn_http_404, spawn_server, TestCa};

fn opts() -> WsOptions {
    WsOptions {
        connect_timeout: Duration::from_secs(5),
        ..WsOptions::default()
    }
}

fn big_frame(len: usize) -> String {
    (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// Several frames including one of 100 KiB, echoed back in order.
fn round_trip(c: &mut WsClient) {
    let frames = vec![
        "hello".to_owned(),
        String::new(),
        r#"{"jsonrpc":"2.0","id":1,"method":"public/test"}"#.to_owned(),
        big_frame(100 * 1024),
        "after the big one".to_owned(),
    ];
    for f in &frames {
        c.send_text(f).unwrap();
    }
    let got = recv_n(c, frames.len()).unwrap();
    assert_eq!(got.len(), frames.len());
    for (g, f) in got.iter().zip(&frames) {
        assert_eq!(g.as_slice(), f.as_bytes());
    }
}

/// Reads frames into `got` until it holds `n`, waiting on the socket between reads.
///
/// # Panics
/// At `deadline`.
fn read_until(c: &mut WsClient, got: &mut Vec<Vec<u8>>, n: usize, deadline: Instant) {
    while got.len() < n {
        assert!(Instant::now() < deadline);
        if c.read_frames(|f| got.push(f.to_vec())).unwrap() == 0 {
            c.wait(Some(Duration::from_millis(50))).unwrap();
        }
    }
}

#[test]
fn plain_round_trip_and_client_close() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/ws/api/v2"), &opts()).unwrap();
    assert!(!c.is_tls());
    assert_eq!(c.peer_addr(), addr);
    // Nothing there yet: a non-blocking read returns 0.
    assert_eq!(c.read_frames(|_| panic!("no frame expected")).unwrap(), 0);
    round_trip(&mut c);
    c.close();
    assert!(c.is_closed());
    assert!(matches!(c.send_text("x"), Err(WsError::Closed)));
    assert!(matches!(c.read_frames(|_| {}), Err(WsError::Closed)));
    let log = server.join().unwrap();
    assert!(log.handshake_ok);
    assert_eq!(log.frames, 5);
    assert!(log.got_close, "server saw our close frame");
}

#[test]
fn many_large_frames_with_backpressure() {
    // 64 × 100 KiB in flight both ways: sends outrun the socket buffers, so the client
    // must keep flushing and reading without blocking.
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    let n = 64;
    let payloads: Vec<String> = (0..n)
        .map(|i| format!("{i:04}{}", big_frame(100 * 1024)))
        .collect();
    for p in &payloads {
        c.send_text(p).unwrap();
    }
    let got = recv_n(&mut c, n).unwrap();
    for (g, p) in got.iter().zip(&payloads) {
        assert_eq!(g.as_slice(), p.as_bytes());
    }
    assert!(c.flush().unwrap());
    assert!(!c.has_pending_writes());
    c.close();
    server.join().unwrap();
}

#[test]
fn burst_read_and_read_frames_max() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    c.send_text("burst:1000:300").unwrap();
    // Wait until at least part of the burst is there, then take it 10 at a time.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 1000 {
        assert!(Instant::now() < deadline);
        let k = c.read_frames_max(10, |f| got.push(f.to_vec())).unwrap();
        assert!(k <= 10);
        if k < 10 {
            c.wait(Some(Duration::from_millis(50))).unwrap();
        }
    }
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f.len(), 300);
        assert_eq!(&f[..8], format!("{i:08}").as_bytes());
    }
    c.close();
    server.join().unwrap();
}

/// `read_frames_while` stops right after the frame its callback refuses (frame 7 here),
/// leaves the rest buffered, and the next call goes on from frame 8; `read_frames_max(0)`
/// reads nothing.
#[test]
fn read_frames_while_stops_after_the_refused_frame() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    c.send_text("burst:50:64").unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 8 {
        assert!(Instant::now() < deadline);
        assert_eq!(c.read_frames_max(0, |_| panic!("max 0")).unwrap(), 0);
        let k = c
            .read_frames_while(|f| {
                got.push(f.to_vec());
                got.len() < 8
            })
            .unwrap();
        if k == 0 {
            c.wait(Some(Duration::from_millis(50))).unwrap();
        }
    }
    assert_eq!(got.len(), 8, "stopped after the refused frame");
    assert_eq!(&got[7][..8], b"00000007");
    read_until(&mut c, &mut got, 50, deadline);
    for (i, f) in got.iter().enumerate() {
        assert_eq!(&f[..8], format!("{i:08}").as_bytes());
    }
    c.close();
    server.join().unwrap();
}

/// Frames queued with `queue_text` stay in the client until `flush`, then all leave (in
/// order, in one write): the echo server sees none of them before.
#[test]
fn queued_frames_leave_with_the_flush() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    for i in 0..3 {
        c.queue_text(&format!("queued-{i}")).unwrap();
    }
    assert!(c.has_pending_writes());
    // Not written: nothing can come back, however long we wait.
    c.wait(Some(Duration::from_millis(100))).unwrap();
    assert_eq!(
        c.read_frames(|f| panic!("echo before the flush: {f:?}"))
            .unwrap(),
        0
    );
    assert!(c.flush().unwrap());
    assert!(!c.has_pending_writes());
    let mut got: Vec<Vec<u8>> = Vec::new();
    read_until(
        &mut c,
        &mut got,
        3,
        Instant::now() + Duration::from_secs(10),
    );
    let want: Vec<Vec<u8>> = (0..3).map(|i| format!("queued-{i}").into_bytes()).collect();
    assert_eq!(got, want);
    c.close();
    server.join().unwrap();
}

/// `wait_any` returns when the second of two connections becomes readable, with the first
/// silent, and returns after its timeout when both are.
#[test]
fn wait_any_wakes_on_either_connection() {
    let (addr_a, server_a) = spawn_server(None);
    let (addr_b, server_b) = spawn_server(None);
    let mut a = WsClient::connect(&format!("ws://{addr_a}/"), &opts()).unwrap();
    let mut b = WsClient::connect(&format!("ws://{addr_b}/"), &opts()).unwrap();
    assert_eq!(a.read_frames(|_| {}).unwrap(), 0);
    assert_eq!(b.read_frames(|_| {}).unwrap(), 0);
    // Nothing to read: it returns (after the timeout) with nothing readable.
    mm_io::wait_any(&[&a, &b], Duration::from_millis(10)).unwrap();
    assert_eq!(a.read_frames(|_| {}).unwrap(), 0);
    assert_eq!(b.read_frames(|_| {}).unwrap(), 0);
    // The echo of a frame sent on `b` wakes it (well before the 10 s timeout).
    b.send_text("wake").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(Instant::now() < deadline);
        mm_io::wait_any(&[&a, &b], Duration::from_secs(10)).unwrap();
        assert_eq!(a.read_frames(|_| panic!("a is silent")).unwrap(), 0);
        b.read_frames(|f| got.push(f.to_vec())).unwrap();
    }
    assert_eq!(got, vec![b"wake".to_vec()]);
    a.close();
    b.close();
    server_a.join().unwrap();
    server_b.join().unwrap();
}

#[test]
fn answers_pings() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    c.send_text("ping-me").unwrap();
    // The server sends a ping and only replies once it got our pong.
    let got = recv_n(&mut c, 1).unwrap();
    assert_eq!(got[0], b"pong-ok");
    c.close();
    server.join().unwrap();
}

#[test]
fn server_close_is_reported_as_closed() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    c.send_text("close-me").unwrap();
    let e = read_until_err(&mut c);
    assert!(matches!(e, WsError::Closed), "{e}");
    assert!(c.is_closed());
    assert!(matches!(c.read_frames(|_| {}), Err(WsError::Closed)));
    assert!(matches!(c.wait(Some(Duration::ZERO)), Err(WsError::Closed)));
    server.join().unwrap();
}

#[test]
fn eof_is_reported_as_closed() {
    let (addr, listener) = silent_listener();
    let t = std::thread::spawn(move || {
        // Complete the upgrade by hand, then drop the socket without a close frame.
        let (tcp, _) = listener.accept().unwrap();
        let ws = tungstenite::accept(tcp).unwrap();
        drop(ws);
    });
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    t.join().unwrap();
    let e = read_until_err(&mut c);
    assert!(matches!(e, WsError::Closed | WsError::Io(_)), "{e}");
    assert!(e.is_disconnect());
}

#[test]
fn wait_times_out_and_wakes_on_data() {
    let (addr, server) = spawn_server(None);
    let mut c = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap();
    assert_eq!(c.read_frames(|_| {}).unwrap(), 0);
    let t = Instant::now();
    c.wait(Some(Duration::from_millis(30))).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    c.send_text("wake").unwrap();
    let got = recv_n(&mut c, 1).unwrap();
    assert_eq!(got[0], b"wake");
    c.close();
    server.join().unwrap();
}

#[test]
fn connect_errors() {
    // Bad URLs.
    for bad in ["http://127.0.0.1/", "ws://", "nonsense"] {
        let e = WsClient::connect(bad, &opts()).unwrap_err();
        assert!(matches!(e, WsError::InvalidUrl(_)), "{bad}: {e}");
    }
    // Refused: a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = WsClient::connect(&format!("ws://127.0.0.1:{port}/"), &opts()).unwrap_err();
    assert!(matches!(e, WsError::Connect(_)), "{e}");
    // Timeout: TCP connects but the upgrade is never answered.
    let (addr, _listener) = silent_listener();
    let short = WsOptions {
        connect_timeout: Duration::from_millis(300),
        ..opts()
    };
    let t = Instant::now();
    let e = WsClient::connect(&format!("ws://{addr}/"), &short).unwrap_err();
    assert!(matches!(e, WsError::Timeout), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(250));
    assert!(t.elapsed() < Duration::from_secs(5));
    // Upgrade refused with an HTTP error.
    let (addr, h) = spawn_http_404();
    let e = WsClient::connect(&format!("ws://{addr}/"), &opts()).unwrap_err();
    assert!(matches!(e, WsError::Handshake(_)), "{e}");
    assert!(e.to_string().contains("404"), "{e}");
    h.join().unwrap();
}

#[test]
fn tls_with_test_ca_round_trip() {
    let ca = TestCa::new("mm-fast test CA");
    let (addr, server) = spawn_server(Some(ca.server_config(&["localhost", "127.0.0.1"])));
    let o = WsOptions {
        extra_root_pem: Some(ca.pem()),
        ..opts()
    };
    // By name: `localhost` may resolve to ::1 first, which refuses; the client moves on.
    let mut c =
        WsClient::connect(&format!("wss://localhost:{}/ws/api/v2", addr.port()), &o).unwrap();
    assert!(c.is_tls());
    round_trip(&mut c);
    c.send_text("ping-me").unwrap();
    assert_eq!(recv_n(&mut c, 1).unwrap()[0], b"pong-ok");
    c.close();
    let log = server.join().unwrap();
    assert!(log.handshake_ok);
    assert!(log.got_close);

    // By IP address (IP SAN).
    let (addr, server) = spawn_server(Some(ca.server_config(&["localhost", "127.0.0.1"])));
    let mut c = WsClient::connect(&format!("wss://{addr}/"), &o).unwrap();
    c.send_text("close-me").unwrap();
    assert!(matches!(read_until_err(&mut c), WsError::Closed));
    server.join().unwrap();
}

#[test]
fn tls_unknown_ca_is_rejected() {
    let ca = TestCa::new("mm-fast test CA");
    let (addr, server) = spawn_server(Some(ca.server_config(&["localhost", "127.0.0.1"])));
    // webpki roots only.
    let e = WsClient::connect(&format!("wss://{addr}/"), &opts()).unwrap_err();
    assert!(e.is_certificate_error(), "{e:?}");
    assert!(
        matches!(
            e,
            WsError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("certificate"), "{e}");
    assert!(!server.join().unwrap().handshake_ok);

    // A different CA than the one that signed the server's certificate.
    let other = TestCa::new("some other CA");
    let (addr, server) = spawn_server(Some(ca.server_config(&["127.0.0.1"])));
    let o = WsOptions {
        extra_root_pem: Some(other.pem()),
        ..opts()
    };
    let e = WsClient::connect(&format!("wss://{addr}/"), &o).unwrap_err();
    assert!(e.is_certificate_error(), "{e:?}");
    assert!(!server.join().unwrap().handshake_ok);
}

#[test]
fn tls_wrong_host_is_rejected() {
    let ca = TestCa::new("mm-fast test CA");
    let (addr, server) = spawn_server(Some(ca.server_config(&["example.com"])));
    let o = WsOptions {
        extra_root_pem: Some(ca.pem()),
        ..opts()
    };
    let e = WsClient::connect(&format!("wss://{addr}/"), &o).unwrap_err();
    assert!(e.is_certificate_error(), "{e:?}");
    let name_error = matches!(
        &e,
        WsError::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. }
        ))
    );
    assert!(name_error, "{e:?}");
    assert!(!server.join().unwrap().handshake_ok);
}

#[test]
fn invalid_extra_root_pem() {
    let o = WsOptions {
        extra_root_pem: Some(b"garbage".to_vec()),
        ..opts()
    };
    let e = WsClient::connect("wss://127.0.0.1:1/", &o).unwrap_err();
    assert!(matches!(e, WsError::InvalidRootPem(_)), "{e}");
}
