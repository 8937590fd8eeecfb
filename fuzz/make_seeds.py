#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

Each seed follows the input layout its target reads (see the comments at the
top of each fuzz_targets/*.rs and fuzzkit's Input): a few meaningful cases per
target, small files. Run from anywhere: python3 fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def frame(fin, opcode, payload, mask=None, rsv=0):
    out = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        out += bytes([bit | n])
    elif n <= 0xFFFF:
        out += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask:
        out += mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def u16(n):
    return struct.pack(">H", n)


def lp(b):
    """A length-prefixed slice for Input::bytes."""
    return u16(len(b)) + b


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


M = b"\x37\xfa\x21\x3d"

# frame_header: [allowed rsv] + header bytes
for name, data in {
    "text_short": b"\x00" + frame(True, 1, b"Hello"),
    "masked_short": b"\x00" + frame(True, 1, b"Hello", M),
    "len16": b"\x00" + frame(False, 2, b"x" * 126, M)[:8],
    "len64": b"\x00\x82\x7f" + struct.pack(">Q", 65536),
    "len64_top_bit": b"\x00\x82\x7f" + struct.pack(">Q", 1 << 63),
    "nonminimal16": b"\x00\x82\x7e\x00\x05",
    "ping_long": b"\x00\x89\x7e\x00\x80",
    "rsv1_allowed": b"\x04\xc1\x00",
    "close_fragmented": b"\x00\x08\x02\x03\xe8",
    "reserved_opcode": b"\x00\x83\x00",
}.items():
    write("frame_header", name, data)


def message(text, fragments, ping_after=None):
    """message_utf8: one message as [kind][fragments-1] then per fragment
    [len16 payload][key 4][ping selector (+ len16 payload)]."""
    out = bytes([1 if text else 0, len(fragments) - 1])
    for i, p in enumerate(fragments):
        out += lp(p) + M
        if ping_after == i:
            out += b"\x00" + lp(b"hb")
        else:
            out += b"\x01"
    return out


def utf8_seed(msgs, splits=b"\x00\x02\x06\xff"):
    return bytes([len(msgs)]) + b"".join(msgs) + splits


for name, data in {
    "ascii": utf8_seed([message(True, [b"Hello, world"])]),
    "split_codepoint": utf8_seed([message(True, ["κό".encode()[:3], "κό".encode()[3:]], 0)]),
    "emoji_3_frames": utf8_seed([message(True, [b"\xf0\x9f", b"\x98", b"\x80!"])]),
    "surrogate": utf8_seed([message(True, [b"a\xed\xa0\x80b"])]),
    "overlong": utf8_seed([message(True, [b"\xc0\xaf"])]),
    "above_max": utf8_seed([message(True, [b"\xf4\x90\x80\x80"])]),
    "truncated_at_fin": utf8_seed([message(True, [b"ok", b"\xe2\x82"])]),
    "binary_then_text": utf8_seed([message(False, [b"\xff\xfe"]), message(True, ["€".encode()])]),
}.items():
    write("message_utf8", name, data)

# client_handshake: [max u16] + response
ok = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n")
for name, data in {
    "accept": ok + b"\r\n",
    "accept_subprotocol": ok + b"Sec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi",
    "unrequested_protocol": ok + b"Sec-WebSocket-Protocol: mqtt\r\n\r\n",
    "extension": ok + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    "wrong_accept": ok.replace(ACCEPT, b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=") + b"\r\n",
    "forbidden": b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\n",
    "http10": b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
}.items():
    write("client_handshake", name, u16(4096) + data)

# server_handshake: [max u16] + request
req = (b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n"
       b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
       b"Sec-WebSocket-Version: 13\r\n")
for name, data in {
    "valid": req + b"\r\n",
    "origin_protocols": req + b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, v2\r\n\r\n",
    "absolute_target": req.replace(b"/chat?x=1", b"ws://example.com/chat") + b"\r\n",
    "version_8": req.replace(b"Version: 13", b"Version: 8") + b"\r\n",
    "duplicate_key": req + b"Sec-WebSocket-Key: " + KEY + b"\r\n\r\n",
    "post": req.replace(b"GET", b"POST") + b"\r\n",
    "http10": req.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n",
    "short_key": req.replace(KEY, b"c2hvcnQ=") + b"\r\n",
    "ipv6_host": req.replace(b"example.com:8080", b"[::1]:80") + b"\r\n",
}.items():
    write("server_handshake", name, u16(4096) + data)


# proxy_reply: [choice: bit0 socks5, bit1 credentials, bits2.. target] [n splits] [splits] reply
def proxy(choice, reply, splits=b""):
    return bytes([choice, len(splits)]) + splits + reply


for name, data in {
    "http_200": proxy(0, b"HTTP/1.1 200 Connection established\r\n\r\n\x81\x00"),
    "http_407_basic": proxy(2, b"HTTP/1.1 407 Proxy Auth\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\r\n"),
    "http_407_digest": proxy(0, b"HTTP/1.1 407 Proxy Auth\r\nProxy-Authenticate: Digest realm=\"p\"\r\n\r\n"),
    "http_503_split": proxy(4, b"HTTP/1.1 503 Service Unavailable\r\n\r\n", b"\x03\x07"),
    "socks_noauth_ipv4": proxy(1, b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90", b"\x01\x03"),
    "socks_auth_domain": proxy(3, b"\x05\x02\x01\x00\x05\x00\x00\x03\x09localhost\x00\x50"),
    "socks_ipv6_refused": proxy(9, b"\x05\x00\x05\x05\x00\x04" + bytes(16) + b"\x00\x50"),
    "socks_no_methods": proxy(1, b"\x05\xff"),
}.items():
    write("proxy_reply", name, data)


# session: [role: odd = client][keepalive] then ops (see fuzz_targets/session.rs)
def peer_frame(opcode, payload, flags=0):
    # op 1: frame [b: opcode index | flags][key 4][len16 payload]
    idx = [0, 1, 2, 8, 9, 10, 3, 11].index(opcode)
    return b"\x01" + bytes([idx | flags]) + b"\x01\x02\x03\x04" + lp(payload)


def feed(n):
    return b"\x03" + bytes([n - 1])


for role in (0, 1):
    who = "client" if role else "server"
    base = bytes([role, 0])
    write("session", f"{who}_text_ping_close", base + peer_frame(1, b"hi") + peer_frame(9, b"p")
          + peer_frame(8, b"\x03\xe8bye") + feed(255) + b"\x09\xff\xff")
    write("session", f"{who}_fragmented", base + peer_frame(1, "é".encode()[:1], 0x10)
          + peer_frame(0, "é".encode()[1:]) + feed(3) + feed(200) + b"\x05\x01" + lp(b"reply") + b"\x04")
    write("session", f"{who}_close_timeout", bytes([role, 1]) + b"\x07\x00" + lp(b"going")
          + b"\x08\xff\x08\xff\x08\xff" + b"\x09\x00\x40")
    write("session", f"{who}_too_big", base + peer_frame(2, b"x" * 600) + feed(255) + feed(255)
          + feed(255))
    write("session", f"{who}_incomplete_timeout", base + peer_frame(2, b"abcdef") + feed(4)
          + b"\x08\x30" + b"\x08\x30")


# websocket_client / websocket_server: [mode][...] then ops
def ws_frame(opcode, payload, cut=3, flags=0):
    idx = [0, 1, 2, 8, 9, 10, 3, 11].index(opcode)
    return b"\x01" + bytes([idx | flags]) + lp(payload) + bytes([cut])


for name, data in {
    "echo_close": b"\x00" + ws_frame(1, b"hello") + b"\x03" + b"\x06" + lp(b"hi") + b"\x01"
                  + ws_frame(8, b"\x03\xe8") + b"\x03\x0b",
    "ping_pong": b"\x00" + ws_frame(9, b"are you there") + b"\x03" + b"\x07" + lp(b"me") + b"\x03",
    "extra_header": b"\x02" + lp(b"Sec-WebSocket-Protocol: chat") + ws_frame(2, b"\x00\x01") + b"\x03",
    "garbage_response": b"\x03" + lp(b"HTTP/1.1 200 OK\r\n\r\n") + b"\x03",
    "reset_midframe": b"\x00" + b"\x00" + lp(b"\x81\x7e\x01") + b"\x03\x09\x00\x03",
}.items():
    write("websocket_client", name, data)

for name, data in {
    "echo_close": b"\x00" + ws_frame(1, b"hello") + b"\x03" + b"\x06" + lp(b"hi") + b"\x01"
                  + ws_frame(8, b"\x03\xe8") + b"\x03\x0b",
    "ping_flood": b"\x00" + ws_frame(9, b"a") * 6 + b"\x03\x0b",
    "protocol_header": b"\x02" + lp(b"Sec-WebSocket-Protocol: chat\r\nOrigin: http://o") + b"\x03",
    "not_http": b"\x03" + lp(b"\x16\x03\x01\x00\x05hello") + b"\x03",
    "unmasked": b"\x00" + ws_frame(1, b"x", flags=0x0c) + b"\x03\x0b",
    "slow_header": b"\x00" + b"\x00" + lp(b"\x81") + b"\x05\xff\x05\xff\x03",
}.items():
    write("websocket_server", name, data)

# deflate: [part: odd = round trip] ...
# round trip: [from: odd = client] then the sender's params
# (flags, server bits, client bits, threshold, level), the receiver's params,
# a message count, then per message [text][len-prefixed bytes][frame size],
# then read sizes.
PARAMS = b"\x00\x07\x07\x00\x01"  # context takeover, 15-bit windows, threshold 0, level 1
NO_TAKEOVER = b"\x03\x00\x00\x01\x06"  # no context takeover, 8-bit windows, threshold 16, level 6
for name, data in {
    "round_trip_client_text": b"\x01\x01" + PARAMS + PARAMS + b"\x02"
    + b"\x01" + lp(b"Hello, Hello, Hello!") + b"\x00"
    + b"\x00" + lp(bytes(range(200))) + b"\x03" + b"\x05\x40\xff",
    "round_trip_server_no_takeover": b"\x01\x00" + NO_TAKEOVER + NO_TAKEOVER + b"\x03"
    + (b"\x01" + lp(b'{"event":"tick","n":1}' * 8) + b"\x10") * 3 + b"\x00\x01\x02",
    # decoder: params, a frame count, per frame [flags][len-prefixed payload], read sizes.
    # The compressed "Hello" of RFC 7692 section 7.2.3.1, whole and in two frames.
    "hello_compressed": b"\x00" + PARAMS + b"\x01" + b"\x21" + lp(bytes.fromhex("f248cdc9c90700")) + b"\xff",
    "hello_fragmented": b"\x00" + PARAMS + b"\x02" + b"\x31" + lp(bytes.fromhex("f248cd"))
    + b"\x00" + lp(bytes.fromhex("c9c90700")) + b"\x02\x03",
    "garbage_rsv1": b"\x00" + PARAMS + b"\x01" + b"\x22" + lp(b"\xff\xfe\xfd not deflate") + b"\x04",
    "bomb": b"\x00" + PARAMS + b"\x01" + b"\x22"
    + lp(bytes.fromhex("ecc13101000000c2a0f54f6d0c1fa0000000000000000000000000000000000000000000bf02")) + b"\xff",
}.items():
    write("deflate", name, data)
