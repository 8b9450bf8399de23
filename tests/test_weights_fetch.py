"""weights fetch: a size cap, no https -> http redirect, installed files re-verified."""

import gzip
import hashlib
import http.server
import shutil
import ssl
import subprocess
import threading

import pytest

from embedclf import weights
from embedclf.weights import fetch_openl3

GZ = "openl3_audio_mel128_env-v0_4_0.h5.gz"
H5 = "openl3_audio_mel128_env.h5"
PAYLOAD = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 40  # stands in for the weights


class Site:
    """A local server answering each path from ``routes``: (status, headers, body)."""

    def __init__(self, tls=None):
        self.routes = {}
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, body = routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, path, body, length=True):
        self.routes[path] = (200, {"Content-Length": str(len(body))} if length else {}, body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


def gz(data):
    return gzip.compress(data, mtime=0)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def fetch(site, dest, **kwargs):
    kwargs.setdefault("sha256", sha(gz(PAYLOAD)))
    return fetch_openl3(
        "mel128", "env", dest=str(dest), base_url=site.url + "/w/", progress=False, **kwargs
    )


def test_download_larger_than_the_cap_is_refused_naming_it(site, tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "OPENL3_MAX_BYTES", 1000)
    big = gz(hashlib.shake_128(b"seed").digest(3000))  # random bytes do not compress
    assert len(big) > 1000
    site.put(f"/w/{GZ}", big)  # announced in Content-Length: refused before reading
    with pytest.raises(ValueError, match=r"OPENL3_MAX_BYTES \(1000 .*announces \d+ bytes"):
        fetch(site, tmp_path / "a", sha256=sha(big))
    site.put(f"/w/{GZ}", big, length=False)  # no length given: stopped while streaming
    with pytest.raises(ValueError, match=r"larger than OPENL3_MAX_BYTES \(1000 bytes"):
        fetch(site, tmp_path / "b", sha256=sha(big))
    bomb = gz(b"\0" * 5000)  # small download, too large unpacked
    site.put(f"/w/{GZ}", bomb)
    with pytest.raises(ValueError, match="unpacked is larger than OPENL3_MAX_BYTES"):
        fetch(site, tmp_path / "c", sha256=sha(bomb))
    for d in ("a", "b", "c"):
        assert list((tmp_path / d).iterdir()) == []  # nothing installed, no temporary left


def test_a_damaged_installed_file_is_fetched_again(site, tmp_path, capsys):
    site.put(f"/w/{GZ}", gz(PAYLOAD))
    path = fetch(site, tmp_path)
    assert open(path, "rb").read() == PAYLOAD
    del site.routes[f"/w/{GZ}"]
    assert fetch(site, tmp_path) == path  # intact: kept, nothing downloaded
    with open(path, "r+b") as fh:  # one flipped byte, same size
        fh.seek(100)
        fh.write(b"\xff")
    with pytest.raises(OSError, match="download of .* failed"):  # tries again
        fetch(site, tmp_path)
    assert "is damaged" in capsys.readouterr().err
    site.put(f"/w/{GZ}", gz(PAYLOAD))
    assert open(fetch(site, tmp_path), "rb").read() == PAYLOAD
    assert "is damaged" in capsys.readouterr().err


def test_an_installed_file_without_a_record_is_verified_by_fetching(site, tmp_path, capsys):
    site.put(f"/w/{GZ}", gz(PAYLOAD))
    (tmp_path / H5).write_bytes(b"placed by hand")
    # with no digest to check against, a file placed by hand is used as it is
    assert fetch(site, tmp_path, sha256=None) == str(tmp_path / H5)
    assert (tmp_path / H5).read_bytes() == b"placed by hand"
    path = fetch(site, tmp_path)  # a known digest: it is replaced by the verified file
    assert open(path, "rb").read() == PAYLOAD
    assert "no record of its SHA-256" in capsys.readouterr().err
    other = gz(PAYLOAD + b"x")
    site.put(f"/w/{GZ}", other)  # asked for another file than the one installed
    assert open(fetch(site, tmp_path, sha256=sha(other)), "rb").read() == PAYLOAD + b"x"
    assert "another file" in capsys.readouterr().err


def test_a_damaged_file_without_a_known_digest_says_so(site, tmp_path):
    site.put(f"/w/{GZ}", gz(PAYLOAD))
    path = fetch(site, tmp_path, sha256=None, allow_unverified=True)
    open(path, "ab").write(b"junk")
    with pytest.raises(ValueError, match="is damaged.*no SHA-256 is recorded"):
        fetch(site, tmp_path, sha256=None)


@pytest.fixture
def tls_site(tmp_path_factory, monkeypatch):
    """An https server with a self-signed certificate the client is told to trust."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context trusts it
    s = Site(tls=ctx)
    yield s
    s.close()


def test_no_redirect_from_https_to_http(site, tls_site, tmp_path):
    site.put(f"/w/{GZ}", gz(PAYLOAD))
    tls_site.put(f"/w/{GZ}", gz(PAYLOAD))
    tls_site.routes["/down/" + GZ] = (
        302,
        {"Location": f"{site.url}/w/{GZ}", "Content-Length": "0"},
        b"",
    )
    tls_site.routes["/same/" + GZ] = (302, {"Location": f"/w/{GZ}", "Content-Length": "0"}, b"")
    with pytest.raises(OSError, match="refused a redirect from https to http://127"):
        fetch_openl3(
            "mel128",
            "env",
            dest=str(tmp_path / "a"),
            base_url=tls_site.url + "/down",
            sha256=sha(gz(PAYLOAD)),
            progress=False,
        )
    assert not (tmp_path / "a" / H5).exists()
    path = fetch_openl3(
        "mel128",
        "env",
        dest=str(tmp_path / "b"),  # https -> https: followed
        base_url=tls_site.url + "/same",
        sha256=sha(gz(PAYLOAD)),
        progress=False,
    )
    assert open(path, "rb").read() == PAYLOAD
