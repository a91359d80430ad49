"""The safe HTTP fetcher against a real local HTTP server."""

import gzip
import socket
import threading
import zlib

import httpx
import pytest

from harvesters import fetch
from harvesters.fetch import HttpFetcher, HttpStatusError, address_block_reason
from harvesters.interfaces import FetchError
from tests.unit.harvesters.http_server import LocalHttpServer, Reply


@pytest.fixture
def server():
    with LocalHttpServer() as running:
        yield running


def fetcher(**options) -> HttpFetcher:
    options.setdefault("allow_private", True)
    options.setdefault("timeout", 5.0)
    return HttpFetcher(**options)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to classify, not to bind
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
        ("64:ff9b::a00:1", "IPv4-mapped private"),
        ("2002:c0a8:101::1", "IPv4-mapped private"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("101.6.6.6", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_classifier(address, reason):
    assert address_block_reason(address) == reason


def test_loopback_is_refused_by_default(server):
    server.add("/data.json", lambda request: Reply(body=b"{}"))
    with pytest.raises(FetchError, match=r"refused to fetch http://127\.0\.0\.1:\d+/data\.json"):
        fetcher(allow_private=False).get(server.url("/data.json"))
    assert server.requests == []


def test_localhost_name_is_refused_by_default(server):
    with pytest.raises(FetchError, match="loopback"):
        fetcher(allow_private=False).get(f"http://localhost:{server.port}/")
    assert server.requests == []


def test_loopback_is_allowed_with_allow_private(server):
    server.add("/data.json", lambda request: Reply(body=b'{"ok": true}'))
    document = fetcher(allow_private=True).get(server.url("/data.json"), accept="text/turtle")
    assert document.content == b'{"ok": true}'
    assert document.status == 200
    assert server.requests[0].headers["accept"] == "text/turtle"
    assert server.requests[0].headers["user-agent"].startswith("opendata-portal-harvester")


def test_only_http_and_https():
    with pytest.raises(FetchError, match="only http and https"):
        fetcher().get("file:///etc/passwd")
    with pytest.raises(FetchError, match="only http and https"):
        fetcher().get("ftp://example.org/data.csv")


def test_connects_to_the_vetted_address_without_a_second_lookup(server, monkeypatch):
    """The name is resolved once, by the fetcher, and the socket goes to that address: a
    name that no DNS knows works, and the server sees the name in the Host header."""
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def fake_dns(host, port, *args, **kwargs):
        lookups.append(host)
        if host == "portal.example":
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(fetch.socket, "getaddrinfo", fake_dns)
    server.add("/catalog", lambda request: Reply(body=request.headers["host"].encode()))
    document = fetcher(allow_private=True).get(f"http://portal.example:{server.port}/catalog")
    assert document.content == f"portal.example:{server.port}".encode()
    assert lookups.count("portal.example") == 1
    assert document.url == f"http://portal.example:{server.port}/catalog"

    with pytest.raises(FetchError, match=r"'portal\.example' resolves to 127\.0\.0\.1"):
        fetcher(allow_private=False).get(f"http://portal.example:{server.port}/catalog")


def test_redirects_are_followed_and_each_hop_checked(server):
    server.add("/old", lambda request: Reply(302, headers={"Location": "/new"}))
    server.add("/new", lambda request: Reply(body=b"moved"))
    document = fetcher().get(server.url("/old"))
    assert document.content == b"moved"
    assert document.url == server.url("/new")


def test_redirect_to_a_private_address_is_refused(server, monkeypatch):
    """A public-looking first hop that redirects into the private network is refused at
    the hop, before anything is sent there."""
    real_getaddrinfo = socket.getaddrinfo

    def fake_dns(host, port, *args, **kwargs):
        if host == "public.example":  # a public address, answered by our own server
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    connected = []

    class Loopback(fetch.httpcore.SyncBackend):
        def connect_tcp(self, host, port, *args, **kwargs):
            connected.append(host)
            return super().connect_tcp("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(fetch.socket, "getaddrinfo", fake_dns)
    monkeypatch.setattr(fetch.httpcore, "SyncBackend", Loopback)
    server.add(
        "/catalog", lambda request: Reply(302, headers={"Location": "http://10.0.0.5/admin"})
    )
    with pytest.raises(FetchError, match=r"http://10\.0\.0\.5/admin: .*private address"):
        fetcher(allow_private=False).get(f"http://public.example:{server.port}/catalog")
    assert connected == ["93.184.216.34"]
    assert [request.path for request in server.requests] == ["/catalog"]


def test_redirect_to_another_scheme_is_refused(server):
    server.add("/x", lambda request: Reply(301, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(FetchError, match="only http and https"):
        fetcher().get(server.url("/x"))


def test_redirect_loop_stops(server):
    server.add("/a", lambda request: Reply(302, headers={"Location": "/b"}))
    server.add("/b", lambda request: Reply(302, headers={"Location": "/a"}))
    with pytest.raises(FetchError, match="redirects more than 5 times"):
        fetcher().get(server.url("/a"))
    assert len(server.requests) == 6


def test_error_status_names_url_and_status(server):
    with pytest.raises(FetchError, match=r"/missing answered HTTP 404") as missing:
        fetcher().get(server.url("/missing"))
    assert isinstance(missing.value, HttpStatusError)
    assert (missing.value.status, missing.value.detail) == (404, "not found")
    server.add("/broken", lambda request: Reply(503, b"down"))
    with (
        pytest.raises(FetchError, match="answered HTTP 503"),
        fetcher().stream(server.url("/broken")),
    ):
        pass


def test_oversize_body_with_content_length_is_refused_up_front(server):
    server.add("/big", lambda request: Reply(body=b"x" * 5000))
    with pytest.raises(FetchError, match="is 5000 bytes, over the limit of 1000 bytes"):
        fetcher(max_document_bytes=1000).get(server.url("/big"))
    with (
        pytest.raises(FetchError, match="over the limit of 1000 bytes"),
        fetcher(max_file_bytes=1000).stream(server.url("/big")),
    ):
        pass


def test_oversize_body_without_content_length_is_refused_while_streaming(server):
    server.add("/big", lambda request: Reply(body=(b"y" * 1000 for _ in range(100))))
    with pytest.raises(FetchError, match="larger than the limit of 20000 bytes"):
        fetcher(max_document_bytes=20000).get(server.url("/big"))
    received = 0
    with (
        pytest.raises(FetchError, match="larger than the limit of 20000 bytes"),
        fetcher(max_file_bytes=20000).stream(server.url("/big")) as stream,
    ):
        for chunk in stream.chunks:
            received += len(chunk)
    assert received <= 20000


def test_gzip_body_is_decoded(server):
    body = "名称,数量\n朝阳区,3\n".encode() * 100
    server.add(
        "/data.csv",
        lambda request: Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}),
    )
    with fetcher().stream(server.url("/data.csv")) as stream:
        assert b"".join(stream.chunks) == body
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_deflate_body_is_decoded_zlib_or_raw(server):
    body = b"deflated " * 500
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    server.add(
        "/zlib",
        lambda request: Reply(body=zlib.compress(body), headers={"Content-Encoding": "deflate"}),
    )
    server.add(
        "/raw",
        lambda request: Reply(
            body=raw.compress(body) + raw.flush(), headers={"Content-Encoding": "deflate"}
        ),
    )
    assert fetcher().get(server.url("/zlib")).content == body
    assert fetcher().get(server.url("/raw")).content == body


def test_gzip_bomb_is_refused_by_the_size_limit(server):
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))  # 20 MiB of zeros in about 20 kB
    server.add("/bomb.json", lambda request: Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="larger than the limit of 1048576 bytes"):
        fetcher(max_document_bytes=1024 * 1024).get(server.url("/bomb.json"))


def test_gzip_bomb_is_refused_by_the_ratio_guard_under_a_large_limit(server):
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    server.add("/bomb.csv", lambda request: Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    with (
        pytest.raises(FetchError, match="decompression bomb"),
        fetcher(max_file_bytes=10 * 1024**3).stream(server.url("/bomb.csv")) as stream,
    ):
        for _chunk in stream.chunks:
            pass


def test_corrupt_or_unknown_encoding_is_refused(server):
    server.add(
        "/corrupt", lambda request: Reply(body=b"not gzip", headers={"Content-Encoding": "gzip"})
    )
    server.add("/br", lambda request: Reply(body=b"??", headers={"Content-Encoding": "br"}))
    with pytest.raises(FetchError, match="corrupt gzip body"):
        fetcher().get(server.url("/corrupt"))
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetcher().get(server.url("/br"))


def test_timeout(server):
    release = threading.Event()

    def stall(request):
        release.wait(10)
        return Reply(body=b"late")

    server.add("/slow", stall)
    try:
        with pytest.raises(FetchError, match=r"/slow timed out"):
            fetcher(timeout=0.3).get(server.url("/slow"))
    finally:
        release.set()


def test_conditional_request_yields_none_on_304(server):
    def conditional(request):
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304)
        return Reply(body=b"a,b\n1,2\n", headers={"ETag": '"v1"', "Last-Modified": "x"})

    server.add("/data.csv", conditional)
    with fetcher().stream(server.url("/data.csv")) as first:
        assert b"".join(first.chunks) == b"a,b\n1,2\n"
        assert first.headers["etag"] == '"v1"'
    with fetcher().stream(server.url("/data.csv"), etag='"v1"', last_modified="x") as again:
        assert again is None
    assert server.requests[1].headers["if-none-match"] == '"v1"'
    assert server.requests[1].headers["if-modified-since"] == "x"


def test_from_settings():
    class Settings:
        harvest_allow_private_addresses = True
        harvest_timeout_seconds = 7
        harvest_max_document_bytes = 123
        harvest_max_file_bytes = 456

    built = HttpFetcher.from_settings(Settings())
    assert (built.allow_private, built.max_document_bytes, built.max_file_bytes) == (
        True,
        123,
        456,
    )


def test_transport_failures_keep_the_httpx_error_as_context(server):
    """Callers tell a source that is down from one that is refused by the httpx error the
    FetchError replaced (harvesters.tasks.is_unreachable)."""
    release = threading.Event()
    server.add("/slow", lambda request: Reply(body=b"late") if release.wait(10) else Reply())
    try:
        with pytest.raises(FetchError) as timed_out:
            fetcher(timeout=0.3).get(server.url("/slow"))
    finally:
        release.set()
    assert isinstance(timed_out.value.__context__, httpx.ReadTimeout)

    with socket.socket() as unused:  # a port nobody listens on any more
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(FetchError, match="cannot fetch") as refused:
        fetcher().get(f"http://127.0.0.1:{port}/")
    assert isinstance(refused.value.__context__, httpx.ConnectError)

    with pytest.raises(FetchError) as blocked:
        fetcher(allow_private=False).get(server.url("/slow"))
    assert not isinstance(blocked.value.__context__, httpx.NetworkError)
