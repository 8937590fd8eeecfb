//! Connecting through a proxy: an HTTP proxy (`CONNECT`) or a SOCKS5 proxy.
//!
//! ```text
//! cargo run --example proxy -- PROXY_URL [--tls] [--server URL]
//! ```
//!
//! `PROXY_URL` is `http://[user:password@]host:port` or
//! `socks5h://[user:password@]host:port` (`socks5://` too). The example starts
//! an echo server on 127.0.0.1, connects to it through the proxy, sends a text
//! and a binary message, checks the echoes and closes. With `--tls` the server
//! speaks `wss://` with a throwaway certificate for `localhost`, and TLS runs
//! inside the tunnel: the client checks the certificate against `localhost`,
//! the server's name, not the proxy's. `--server URL` connects to that echo
//! server instead of starting one.
//!
//! To try it with Debian's proxies:
//!
//! ```text
//! printf 'Port 8888\nListen 127.0.0.1\nAllow 127.0.0.1\n' > /tmp/tp.conf
//! tinyproxy -d -c /tmp/tp.conf &
//! cargo run --example proxy -- http://127.0.0.1:8888
//! microsocks -i 127.0.0.1 -p 1080 -u ann -P secret &
//! cargo run --example proxy -- socks5h://ann:secret@127.0.0.1:1080 --tls
//! ```
//!
//! If the proxy asks for credentials that the URL does not carry, the
//! `proxy_authentication_required` slot below says so and the connection
//! fails with `ProxyAuthenticationRequired` (a real application would ask its
//! user and fill in the authenticator).

use qwebsocket::event_loop::EventLoop;
use qwebsocket::proxy::Proxy;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[path = "shared/certs.rs"]
mod certs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut proxy_url, mut tls, mut server_url) = (None, false, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => tls = true,
            "--server" => server_url = Some(args.next().ok_or("--server needs a URL")?),
            _ if proxy_url.is_none() => proxy_url = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}").into()),
        }
    }
    let usage = "usage: proxy PROXY_URL [--tls] [--server URL]";
    let proxy: Proxy = proxy_url.ok_or(usage)?.parse()?;
    let ev = EventLoop::new()?;

    // An echo server, unless one was given.
    let mut client_tls = SslConfiguration::default();
    let mode = if tls {
        SslMode::SecureMode
    } else {
        SslMode::NonSecureMode
    };
    let server = WebSocketServer::new(&ev, "echo", mode);
    let url = match server_url {
        Some(url) => url,
        None => {
            if tls {
                let (ca, chain, key) = certs::throwaway_certificates()?;
                let mut server_tls = SslConfiguration::default();
                server_tls.set_local_certificate_pem(chain.as_bytes(), key.as_bytes())?;
                server.set_ssl_configuration(server_tls);
                client_tls.set_use_default_roots(false);
                client_tls.add_ca_certificates_pem(ca.as_bytes())?;
            }
            server
                .listen("127.0.0.1".parse()?, 0)
                .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
            server.new_connection().connect(|server| {
                while let Some(socket) = server.next_pending_connection() {
                    println!(
                        "server: a connection from {:?} (the proxy)",
                        socket.peer_socket_addr()
                    );
                    socket.text_message_received().connect(|ws, text| {
                        ws.send_text_message(text);
                    });
                    socket.binary_message_received().connect(|ws, data| {
                        ws.send_binary_message(data);
                    });
                }
            });
            let scheme = if tls { "wss" } else { "ws" };
            // By name, so that the name goes through the proxy (and TLS checks it).
            format!("{scheme}://localhost:{}/echo", server.server_port())
        }
    };

    let client = WebSocket::new(&ev);
    client.set_ssl_configuration(client_tls);
    client.set_proxy(proxy.clone());
    client.set_proxy_timeout(Some(Duration::from_secs(5)));
    client
        .proxy_authentication_required()
        .connect(|_, proxy, auth| {
            eprintln!(
                "client: {}:{} asks for credentials (realm {:?}); put them in the proxy URL",
                proxy.host_name(),
                proxy.port(),
                auth.realm()
            );
        });
    let echoes = Rc::new(Cell::new(0));
    client.connected().connect(|ws| {
        println!(
            "client: connected to {} through the proxy",
            ws.request_url().map(|u| u.to_string()).unwrap_or_default()
        );
        ws.send_text_message("hello through the proxy");
        ws.send_binary_message(&[1, 2, 3, 4]);
    });
    let e = echoes.clone();
    client.text_message_received().connect(move |_, text| {
        println!("client: text echo {text:?}");
        e.set(e.get() + 1);
    });
    let e = echoes.clone();
    client.binary_message_received().connect(move |ws, data| {
        println!("client: binary echo {data:?}");
        e.set(e.get() + 1);
        ws.close(CloseCode::Normal, "done")
            .expect("1000 may be sent");
    });
    client.error_occurred().connect(|ws, error| {
        eprintln!("client: error {error:?}: {}", ws.error_string());
    });
    client.disconnected().connect(|ws| {
        println!("client: disconnected ({})", ws.close_code());
        if let Some(ev) = ws.event_loop() {
            ev.quit();
        }
    });
    println!(
        "client: opening {url} through {:?} proxy {}:{}",
        proxy.kind(),
        proxy.host_name(),
        proxy.port()
    );
    client.open(&url)?;
    ev.add_timer(Duration::from_secs(20), |ev| {
        eprintln!("timed out");
        ev.quit();
    });
    ev.run();
    if echoes.get() == 2 && client.close_code() == CloseCode::Normal {
        println!("done");
        Ok(())
    } else {
        Err(format!("failed: {:?}: {}", client.error(), client.error_string()).into())
    }
}
