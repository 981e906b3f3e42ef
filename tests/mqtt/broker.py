"""A real MQTT broker process on 127.0.0.1 for the tests.

mosquitto (Debian's package) when its binary is installed, amqtt's broker (a
development dependency) otherwise; ``MASSAGER_TEST_BROKER=amqtt`` forces amqtt.
Each broker runs on a free port with a generated configuration and keeps no
retained messages across a restart (no persistence), so a test of a restart
also shows that the bridge publishes everything again by itself.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str | None:
    """The mosquitto binary, if installed."""
    for path in MOSQUITTO_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("mosquitto")


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """A test CA and a server certificate for 127.0.0.1 it signed (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(workdir: Path) -> TlsFiles:
    """A CA and a server certificate for IP 127.0.0.1, made with the openssl command."""
    ca, ca_key = workdir / "ca.pem", workdir / "ca.key"
    cert, key, csr = workdir / "server.pem", workdir / "server.key", workdir / "server.csr"
    ext = workdir / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\nkeyUsage=digitalSignature\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (
        [
            *("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2"),
            *("-subj", "/CN=massager test CA"),
            *("-addext", "basicConstraints=critical,CA:TRUE"),
            *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        ],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [
            *("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"),
            *("-out", cert, "-days", "2", "-extfile", ext),
        ],
    ):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True)
    return TlsFiles(ca, cert, key)


def _mosquitto_passwd() -> str:
    found = shutil.which("mosquitto_passwd")
    if found is None:
        raise RuntimeError("mosquitto_passwd is not installed (it comes with mosquitto)")
    return found


class BrokerProcess:
    """One broker process; :meth:`restart` keeps its port. ``tls``: a TLS listener only."""

    def __init__(
        self,
        workdir: Path,
        kind: str | None = None,
        *,
        tls: TlsFiles | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        forced = os.environ.get("MASSAGER_TEST_BROKER")
        mosquitto = find_mosquitto()
        self.kind = kind or forced or ("mosquitto" if mosquitto else "amqtt")
        if self.kind not in ("mosquitto", "amqtt"):
            raise ValueError(f"MASSAGER_TEST_BROKER={self.kind!r}: use mosquitto or amqtt")
        if self.kind == "mosquitto" and mosquitto is None:
            raise RuntimeError("mosquitto is not installed (make broker installs it)")
        self.host = "127.0.0.1"
        self.tls = tls
        #: ``(user, password)``: the only client the broker lets in (mosquitto only).
        self.credentials = credentials
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / f"{self.kind}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        if self.kind == "mosquitto":
            conf = workdir / "mosquitto.conf"
            tls_lines = f"cafile {tls.ca}\ncertfile {tls.cert}\nkeyfile {tls.key}\n" if tls else ""
            auth_lines = "allow_anonymous true\n"
            if credentials is not None:
                passwords = workdir / "passwords"
                subprocess.run(
                    [_mosquitto_passwd(), "-b", "-c", str(passwords), *credentials],
                    check=True,
                    capture_output=True,
                )
                auth_lines = f"allow_anonymous false\npassword_file {passwords}\n"
            conf.write_text(
                f"listener {self.port} {self.host}\n"
                f"{tls_lines}"
                f"{auth_lines}"
                "persistence false\n"
                # Started as root, mosquitto would switch to its own user, which cannot
                # read the test's files; as anyone else this line changes nothing.
                f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                # Nagle's algorithm would hold a message behind a delayed ACK (40 ms).
                "set_tcp_nodelay true\n"
                "log_dest stderr\n"
            )
            self._cmd = [str(mosquitto), "-c", str(conf)]
        else:
            if credentials is not None:
                raise RuntimeError("a broker requiring a password is set up with mosquitto only")
            conf = workdir / "amqtt.yaml"
            conf.write_text(
                "listeners:\n"
                "  default:\n"
                "    type: tcp\n"
                f"    bind: {self.host}:{self.port}\n"
                + (
                    f"    ssl: true\n    cafile: {tls.ca}\n"
                    f"    certfile: {tls.cert}\n    keyfile: {tls.key}\n"
                    if tls
                    else ""
                )
                + "plugins:\n"
                "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                "    allow_anonymous: true\n"
            )
            amqtt = Path(sys.executable).with_name("amqtt")
            self._cmd = [str(amqtt), "-c", str(conf)]

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT`` (``mqtts://`` with TLS; ``USER:PASSWORD@`` when
        the broker requires them)."""
        user = ""
        if self.credentials is not None:
            name, password = (urllib.parse.quote(part, safe="") for part in self.credentials)
            user = f"{name}:{password}@"
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(self._cmd, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self._proc.returncode}: "
                    f"{self.log.read_text(errors='replace')[-2000:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            time.sleep(0.1)  # it listens before it loads certificates: still alive?
            if self._proc.poll() is None:
                return
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on {self.host}:{self.port} in {timeout} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL), dropping every client."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()
