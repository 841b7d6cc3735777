"""TLS on `--tls-listen`: grpcio and byocctl over TLS with the generated development
certificate (or --tls-cert/--tls-key), clear failures for plain-text clients and for wrong or
expired certificates, and SIGHUP re-reading the certificate without dropping connections."""
from __future__ import annotations

import hashlib
import re
import signal
import ssl
import subprocess
from pathlib import Path

import grpc
import pytest

from harness import GRPC_OPTIONS, binary, child_env, pb, predict_request, wait_until

TLS_LISTEN_RE = re.compile(r"listening on (\S+):(\d+) \(tls\)")
DEV_CERT_RE = re.compile(r"TLS development certificate (\S+) sha256 ([0-9A-F:]+)")
SERVING = 1


# ----------------------------------------------------------------------------- helpers

def tls_address(gw) -> str:
    assert gw.wait_for_log(TLS_LISTEN_RE.pattern, timeout=10), gw.log_tail()
    m = TLS_LISTEN_RE.search(gw.log())
    return f"{m.group(1)}:{m.group(2)}"


def dev_certificate(gw) -> tuple[Path, str]:
    m = DEV_CERT_RE.search(gw.log())
    assert m, gw.log_tail()
    return Path(m.group(1)), m.group(2)


def fingerprint_der(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def fingerprint_pem(path: Path) -> str:
    return fingerprint_der(ssl.PEM_cert_to_DER_cert(path.read_text()))


def served_fingerprint(address: str) -> str:
    """The SHA-256 of the certificate a fresh TLS connection to `address` gets."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    import socket
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            return fingerprint_der(tls.getpeercert(binary_form=True))


def secure_channel(procs, address: str, root: Path, local_pool: bool = False):
    creds = grpc.ssl_channel_credentials(root_certificates=root.read_bytes())
    opts = list(GRPC_OPTIONS)
    if local_pool:
        opts.append(("grpc.use_local_subchannel_pool", 1))
    ch = grpc.secure_channel(address, creds, options=opts)
    procs.channels.append(ch)
    return ch


def predict(channel, model="iris", version="1", timeout=10):
    return pb.inference_grpc.InferenceStub(channel).Predict(predict_request(model, version, payload=b"tls"),
                                                           timeout=timeout)


def health(channel, service="", timeout=10):
    return pb.health_grpc.HealthStub(channel).Check(pb.health.HealthCheckRequest(service=service),
                                                    timeout=timeout).status


def openssl_certificate(directory: Path, name: str, expired: bool = False) -> tuple[Path, Path]:
    """A self-signed EC P-256 certificate for localhost/127.0.0.1 made with the openssl CLI
    (`openssl ca` so that an already-expired validity can be set)."""
    d = directory / f"ca-{name}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(f"""
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {d}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
[ ext ]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = critical,CA:FALSE
extendedKeyUsage = serverAuth
""")
    key, csr, cert = d / "key.pem", d / "csr.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", f"/CN=localhost/O={name}"],
                   check=True, capture_output=True)
    dates = ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] if expired else ["-days", "30"]
    subprocess.run(["openssl", "ca", "-batch", "-config", str(d / "ca.cnf"), "-selfsign", "-keyfile", str(key),
                    "-in", str(csr), "-out", str(cert), "-notext", "-extensions", "ext", *dates],
                   check=True, capture_output=True)
    return cert, key


def ctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    extra = {"BYOC_SERVER": "", "BYOC_CA_FILE": "", "BYOC_INSECURE": ""}
    extra.update(env or {})
    return subprocess.run([binary("byocctl"), *args], capture_output=True, text=True, timeout=60,
                          env=child_env(extra))


def start_tls_gateway(procs, tmp_path: Path, extra=()):
    iris = procs.echo("iris", "1", id="iris-1-a")
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [iris]}}},
                       extra=["--tls-listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state"), *extra])
    return gw, tls_address(gw)


# ----------------------------------------------------------------------------- tests

def test_grpcio_over_tls_with_the_development_certificate(procs, tmp_path):
    gw, address = start_tls_gateway(procs, tmp_path)
    # The plain h2c line comes first (other tests parse it), then the TLS one.
    lines = [l for l in gw.log().splitlines() if l.startswith("listening on ")]
    assert lines[0] == f"listening on {gw.address}" and lines[1] == f"listening on {address} (tls)"
    cert, fingerprint = dev_certificate(gw)
    assert cert.is_file() and cert.parent == tmp_path / "state" / "tls"
    assert fingerprint_pem(cert) == fingerprint
    assert served_fingerprint(address) == fingerprint

    ch = secure_channel(procs, address, cert)
    resp = predict(ch)
    assert (resp.model, resp.version, resp.payload) == ("iris", "1", b"tls")
    assert health(ch) == SERVING
    assert health(ch, "iris/1") == SERVING
    # Large messages both ways (many TLS records, partial writes) and concurrent calls.
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB
    stub = pb.inference_grpc.InferenceStub(ch)
    assert stub.Predict(predict_request("iris", "1", payload=big), timeout=30).payload == big
    futures = [stub.Predict.future(predict_request("iris", "1", payload=b"%d" % i * 1000), timeout=30) for i in range(50)]
    assert [f.result().payload for f in futures] == [b"%d" % i * 1000 for i in range(50)]
    # The h2c listener is unchanged.
    assert health(procs.channel(gw.address)) == SERVING

    # The development certificate is made once and reused on the next start.
    gw.kill()
    gw2, address2 = start_tls_gateway(procs, tmp_path)
    assert dev_certificate(gw2) == (cert, fingerprint)
    assert served_fingerprint(address2) == fingerprint


def test_byocctl_over_https(procs, tmp_path):
    gw, address = start_tls_gateway(procs, tmp_path)
    cert, _ = dev_certificate(gw)
    url = f"https://{address}"

    out = ctl("status", "--server", url, "--ca-file", str(cert))
    assert out.returncode == 0, out.stderr
    assert f"gateway {url}: SERVING" in out.stdout

    out = ctl("status", "--server", url, env={"BYOC_CA_FILE": str(cert)})
    assert out.returncode == 0, out.stderr

    # Without the CA the self-signed certificate is refused, in one line.
    out = ctl("status", "--server", url)
    assert out.returncode == 1
    assert out.stderr.strip() == f"byocctl: cannot connect to {url}: certificate verify failed: self-signed certificate"

    # --insecure (or BYOC_INSECURE=1) skips verification.
    assert ctl("status", "--server", url, "--insecure").returncode == 0
    assert ctl("status", "--server", url, env={"BYOC_INSECURE": "1"}).returncode == 0

    # Verification checks the name: the certificate names localhost and 127.0.0.1 only.
    port = address.rsplit(":", 1)[1]
    assert ctl("status", "--server", f"https://localhost:{port}", "--ca-file", str(cert)).returncode == 0

    # https to the h2c port fails clearly.
    out = ctl("status", "--server", f"https://{gw.address}", "--ca-file", str(cert))
    assert out.returncode == 1
    assert out.stderr.startswith(f"byocctl: cannot connect to https://{gw.address}: "), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_plain_text_client_to_the_tls_port_fails(procs, tmp_path):
    gw, address = start_tls_gateway(procs, tmp_path)
    cert, _ = dev_certificate(gw)
    plain = procs.channel(address)
    with pytest.raises(grpc.RpcError) as err:
        health(plain, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as err:
        predict(plain, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # byocctl with http:// against the TLS port fails in one line too.
    out = ctl("status", "--server", f"http://{address}", "--timeout", "5")
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    # The gateway is unaffected: TLS and h2c clients still work.
    assert predict(secure_channel(procs, address, cert)).model == "iris"
    assert health(procs.channel(gw.address)) == SERVING
    assert gw.alive


def test_wrong_certificate_fails(procs, tmp_path):
    gw, address = start_tls_gateway(procs, tmp_path)
    other, _ = openssl_certificate(tmp_path, "other")
    with pytest.raises(grpc.RpcError) as err:
        health(secure_channel(procs, address, other), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    out = ctl("status", "--server", f"https://{address}", "--ca-file", str(other))
    assert out.returncode == 1
    assert out.stderr.strip() == (f"byocctl: cannot connect to https://{address}: "
                                  "certificate verify failed: self-signed certificate")
    assert gw.alive


def test_expired_certificate_fails(procs, tmp_path):
    cert, key = openssl_certificate(tmp_path, "expired", expired=True)
    gw, address = start_tls_gateway(procs, tmp_path, extra=["--tls-cert", str(cert), "--tls-key", str(key)])
    assert "TLS development certificate" not in gw.log()
    with pytest.raises(grpc.RpcError) as err:
        health(secure_channel(procs, address, cert), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    out = ctl("status", "--server", f"https://{address}", "--ca-file", str(cert))
    assert out.returncode == 1
    assert out.stderr.strip() == (f"byocctl: cannot connect to https://{address}: "
                                  "certificate verify failed: certificate has expired")


def test_sighup_reloads_the_certificate_without_dropping_connections(procs, tmp_path):
    first_cert, first_key = openssl_certificate(tmp_path, "first")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "cert.pem", live / "key.pem"
    cert.write_bytes(first_cert.read_bytes())
    key.write_bytes(first_key.read_bytes())
    gw, address = start_tls_gateway(procs, tmp_path, extra=["--tls-cert", str(cert), "--tls-key", str(key)])
    assert served_fingerprint(address) == fingerprint_pem(first_cert)

    # A channel that trusts only the first certificate: a reconnect after the reload would fail.
    old = secure_channel(procs, address, first_cert, local_pool=True)
    assert predict(old).model == "iris"

    second_cert, second_key = openssl_certificate(tmp_path, "second")
    for src, dst in ((second_key, key), (second_cert, cert)):
        tmp = dst.with_suffix(".tmp")
        tmp.write_bytes(src.read_bytes())
        tmp.rename(dst)
    gw.send_signal(signal.SIGHUP)
    assert gw.wait_for_log(r"reloaded TLS certificate .* sha256 " + re.escape(fingerprint_pem(second_cert)), timeout=10), \
        gw.log_tail()

    # New connections see the new certificate...
    assert served_fingerprint(address) == fingerprint_pem(second_cert)
    assert predict(secure_channel(procs, address, second_cert, local_pool=True)).model == "iris"
    with pytest.raises(grpc.RpcError):
        health(secure_channel(procs, address, first_cert, local_pool=True), timeout=5)
    # ...and the existing channel keeps working on its connection.
    for _ in range(5):
        assert predict(old).model == "iris"

    # A broken certificate file on SIGHUP keeps the current one.
    cert.write_text("garbage\n")
    gw.send_signal(signal.SIGHUP)
    assert gw.wait_for_log(r"keeping the current TLS certificate", timeout=10), gw.log_tail()
    assert served_fingerprint(address) == fingerprint_pem(second_cert)
    assert predict(old).model == "iris"
    assert gw.alive


def test_tls_flag_errors(procs, tmp_path):
    gw = subprocess.run([binary("byoc-gateway"), "--tls-cert", "x.pem", "--tls-listen", "127.0.0.1:0"],
                        capture_output=True, text=True, timeout=30, env=child_env())
    assert gw.returncode == 2 and "--tls-cert and --tls-key go together" in gw.stderr
    missing = tmp_path / "missing.pem"
    routes = tmp_path / "routes.json"
    routes.write_text('{"models": {}}')
    gw = subprocess.run([binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes),
                         "--tls-listen", "127.0.0.1:0", "--tls-cert", str(missing), "--tls-key", str(missing)],
                        capture_output=True, text=True, timeout=30, env=child_env())
    assert gw.returncode == 1
    assert f"cannot read the TLS certificate {missing}" in gw.stderr
