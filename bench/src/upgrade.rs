//! The HTTP upgrade, as little of it as the load generator and the bare
//! servers (`raw_tcp_echo --mode ws`, `fastwebsockets_echo`) need. It runs
//! before the measured window; the accept key comes from qwebsocket's
//! public `protocol::handshake::accept_key`.

use qwebsocket::protocol::handshake::accept_key;

/// The key of every upgrade request the load generator sends (RFC 6455's
/// sample nonce: the handshake is not what is measured).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A client's upgrade request for `/` on `host` (`127.0.0.1:9001`).
pub fn client_request(host: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// The length of the HTTP head at the start of `buf`, blank line included,
/// once it is complete.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Checks a server's answer to [`client_request`]: status 101 and the right
/// `Sec-WebSocket-Accept`.
pub fn check_response(head: &[u8]) -> Result<(), String> {
    let first = head.split(|&b| b == b'\r').next().unwrap_or_default();
    if !first.starts_with(b"HTTP/1.1 101") {
        return Err(format!(
            "the server answered {:?}, not 101",
            String::from_utf8_lossy(first)
        ));
    }
    match header(head, "sec-websocket-accept") {
        Some(a) if a == accept_key(KEY.as_bytes()) => Ok(()),
        other => Err(format!("wrong Sec-WebSocket-Accept {other:?}")),
    }
}

/// The 101 answer to an upgrade request head, or why there is none.
pub fn server_response(head: &[u8]) -> Result<Vec<u8>, String> {
    let key = header(head, "sec-websocket-key").ok_or("no Sec-WebSocket-Key")?;
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    )
    .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_answer_and_check_agree() {
        let req = client_request("127.0.0.1:1");
        assert_eq!(head_len(&req), Some(req.len()));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n"), None);
        let resp = server_response(&req).unwrap();
        assert!(
            String::from_utf8_lossy(&resp).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "RFC 6455 sample accept key"
        );
        assert_eq!(check_response(&resp), Ok(()));
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        assert!(server_response(b"GET / HTTP/1.1\r\n\r\n").is_err());
    }
}
