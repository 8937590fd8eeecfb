//! The client the Autobahn TestSuite's fuzzing server tests.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001
//! cargo run --release --example autobahn_client -- ws://127.0.0.1:9001 [--ca CA.pem]
//! ```
//!
//! It asks for the number of cases, runs each one as agent `qwebsocket`
//! (echoing every message), then asks the server to write its report.
//!
//! The URL may be `wss://`: kosoku speaks only `ws://`, so `cargo xtask test`
//! puts a TLS terminator in front of it (stunnel in server mode: see
//! tests/autobahn/README.md). `--ca CA.pem` trusts the CA certificates in that
//! file besides the default roots (`SslConfiguration::add_ca_certificates_pem`).
//! Certificate problems are never ignored: they are printed and the run fails.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::{CompressionOptions, HandshakeOptions, WebSocket};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const AGENT: &str = "qwebsocket";
const USAGE: &str = "usage: autobahn_client [URL] [--ca CA.pem]...";

thread_local! {
    /// The TLS configuration of every connection (for `wss://` URLs).
    static TLS: RefCell<SslConfiguration> = RefCell::new(SslConfiguration::default());
}

/// Opens `url` and calls `done` once the connection is over. Text and binary
/// messages are echoed unless `on_text` takes the text.
fn visit(
    ev: &EventLoop,
    url: &str,
    echo: bool,
    on_text: Option<Rc<dyn Fn(&str)>>,
    done: impl FnOnce(&WebSocket) + 'static,
) {
    let ws = WebSocket::new(ev);
    ws.set_ssl_configuration(TLS.with_borrow(Clone::clone));
    ws.ssl_errors().connect(|ws, errors| {
        let url = ws.request_url().map(|u| u.to_string()).unwrap_or_default();
        eprintln!("{url}: certificate problems: {errors:?}");
        std::process::exit(3);
    });
    ws.set_max_allowed_incoming_frame_size(64 << 20);
    ws.set_max_allowed_incoming_message_size(64 << 20);
    if echo {
        ws.text_message_received().connect(|ws, text| {
            ws.send_text_message(text);
        });
        ws.binary_message_received().connect(|ws, data| {
            ws.send_binary_message(data);
        });
    }
    if let Some(f) = on_text {
        ws.text_message_received().connect(move |_, text| f(text));
    }
    let done = RefCell::new(Some(done));
    ws.disconnected().connect(move |ws| {
        if let Some(done) = done.borrow_mut().take() {
            done(ws);
        }
    });
    // permessage-deflate for cases 12.* and 13.*. The offer names
    // client_no_context_takeover because Autobahn's 13.2 and 13.5-13.7 only
    // accept an offer that has it (and client_max_window_bits, always sent).
    // Every message is echoed compressed: see autobahn_server.rs for why.
    let compression = CompressionOptions {
        threshold: 0,
        client_no_context_takeover: true,
        ..CompressionOptions::enabled()
    };
    let options = HandshakeOptions::new().with_compression(compression);
    if let Err(e) = ws.open_with_options(url, &options) {
        eprintln!("cannot open {url}: {e}: {}", ws.error_string());
        std::process::exit(2);
    }
}

fn run_case(ev: &EventLoop, base: Rc<String>, case: u32, total: u32) {
    if case > total {
        let url = format!("{base}/updateReports?agent={AGENT}");
        visit(ev, &url, false, None, |ws| {
            println!("reports updated");
            if let Some(ev) = ws.event_loop() {
                ev.quit();
            }
        });
        return;
    }
    let url = format!("{base}/runCase?case={case}&agent={AGENT}");
    let b = base.clone();
    visit(ev, &url, true, None, move |ws| {
        if case % 50 == 0 || case == total {
            println!("case {case}/{total} done");
        }
        if let Some(ev) = ws.event_loop() {
            let ev2 = ev.clone();
            ev.post(move |_| run_case(&ev2, b, case + 1, total));
        }
    });
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut base = None;
    let mut config = SslConfiguration::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => {
                let path = args.next().ok_or(USAGE)?;
                let pem = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
                config.add_ca_certificates_pem(&pem)?;
            }
            _ if base.is_none() && !arg.starts_with("--") => base = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}").into()),
        }
    }
    TLS.with_borrow_mut(|tls| *tls = config);
    let base = base
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned())
        .trim_end_matches('/')
        .to_owned();
    let base = Rc::new(base);
    let ev = EventLoop::new()?;
    let count = Rc::new(Cell::new(None::<u32>));
    let c = count.clone();
    let on_text: Rc<dyn Fn(&str)> = Rc::new(move |text: &str| c.set(text.trim().parse().ok()));
    let b = base.clone();
    let url = format!("{base}/getCaseCount");
    visit(&ev, &url, false, Some(on_text), move |ws| {
        match count.get() {
            Some(total) => {
                println!("{total} cases");
                if let Some(ev) = ws.event_loop() {
                    run_case(&ev, b, 1, total);
                }
            }
            None => {
                eprintln!("no case count from {}: {}", b, ws.error_string());
                std::process::exit(1);
            }
        }
    });
    ev.run();
    Ok(())
}
