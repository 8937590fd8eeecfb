"""Throwaway certificates for the TLS tests, made with the `openssl` command
at test time and never committed.

`make(directory)` writes, all with P-256 keys and valid for a week:

* `ca.pem` / `ca.key`: a private certificate authority;
* `server.pem` / `server.key`: a server certificate for `localhost`,
  127.0.0.1 and ::1, signed by that CA (leaf only: the CA is the root);
* `self-signed.pem` / `self-signed.key`: a self-signed certificate for the
  same names, which nobody trusts.

It is also a command, used by `cargo xtask` for the Autobahn runs over wss://:

    python3 tests/interop/tlscerts.py target/autobahn-tls

`QWS_OPENSSL` names the openssl binary (default: `openssl` on PATH).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1"
DAYS = "7"

CA_EXTENSIONS = """\
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

LEAF_EXTENSIONS = f"""\
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = {NAMES}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

SELF_SIGNED_EXTENSIONS = f"""\
[self_signed]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {NAMES}
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True)
class Certs:
    directory: Path
    ca: Path
    ca_key: Path
    server: Path
    server_key: Path
    self_signed: Path
    self_signed_key: Path


def openssl() -> str:
    """The openssl binary, or an error that says how to get it."""
    name = os.environ.get("QWS_OPENSSL", "openssl")
    found = shutil.which(name)
    if not found:
        raise RuntimeError(
            f"`{name}` was not found: install Debian's openssl package "
            "(`cargo xtask test` does so when it is missing) or set QWS_OPENSSL"
        )
    return found


def run(*args: str | Path) -> None:
    command = [openssl(), *map(str, args)]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def new_key(path: Path) -> None:
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def serial() -> str:
    return "0x" + secrets.token_hex(16)


def make(directory: Path) -> Certs:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certs(
        directory=directory,
        ca=directory / "ca.pem",
        ca_key=directory / "ca.key",
        server=directory / "server.pem",
        server_key=directory / "server.key",
        self_signed=directory / "self-signed.pem",
        self_signed_key=directory / "self-signed.key",
    )
    extensions = directory / "extensions.cnf"
    extensions.write_text(f"{CA_EXTENSIONS}\n{LEAF_EXTENSIONS}\n{SELF_SIGNED_EXTENSIONS}")

    # The CA: a self-signed root.
    new_key(certs.ca_key)
    ca_csr = directory / "ca.csr"
    run("req", "-new", "-key", certs.ca_key, "-subj", "/O=qwebsocket tests/CN=qwebsocket test CA", "-out", ca_csr)
    run(
        "x509", "-req", "-in", ca_csr, "-key", certs.ca_key, "-days", DAYS, "-set_serial", serial(),
        "-extfile", extensions, "-extensions", "ca", "-out", certs.ca,
    )  # fmt: skip

    # The server's certificate, signed by the CA.
    new_key(certs.server_key)
    server_csr = directory / "server.csr"
    run("req", "-new", "-key", certs.server_key, "-subj", "/O=qwebsocket tests/CN=localhost", "-out", server_csr)
    run(
        "x509", "-req", "-in", server_csr, "-CA", certs.ca, "-CAkey", certs.ca_key, "-days", DAYS,
        "-set_serial", serial(), "-extfile", extensions, "-extensions", "leaf", "-out", certs.server,
    )  # fmt: skip

    # A self-signed certificate for the same names.
    new_key(certs.self_signed_key)
    self_csr = directory / "self-signed.csr"
    run("req", "-new", "-key", certs.self_signed_key, "-subj", "/O=qwebsocket tests/CN=localhost", "-out", self_csr)
    run(
        "x509", "-req", "-in", self_csr, "-key", certs.self_signed_key, "-days", DAYS, "-set_serial", serial(),
        "-extfile", extensions, "-extensions", "self_signed", "-out", certs.self_signed,
    )  # fmt: skip

    for leftover in (ca_csr, server_csr, self_csr):
        leftover.unlink()
    return certs


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} DIRECTORY", file=sys.stderr)
        return 2
    try:
        certs = make(Path(argv[1]))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print(f"tlscerts: {e}", file=sys.stderr)
        return 1
    print(f"certificates in {certs.directory}: ca.pem, server.pem, self-signed.pem (and their .key files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
