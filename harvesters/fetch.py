"""The HTTP fetcher every harvest request goes through, hardened against hostile sources.

A harvest URL is typed by a steward or found inside a remote catalog, so it may point
anywhere: at the portal's own database, at a cloud metadata service, at a router inside
the government network. ``HttpFetcher`` therefore

- speaks only http and https, and follows redirects itself (at most five), checking
  every hop like the first request;
- resolves each host itself and refuses loopback, private, carrier-grade NAT, link-local,
  multicast, reserved and unspecified addresses (IPv4-mapped IPv6 included) unless
  ``allow_private`` is set;
- makes that check hold at connect time: the check lives in an httpcore network backend,
  which connects to exactly the address it vetted. A check done before the request and a
  second DNS lookup by the HTTP library would leave a DNS-rebinding gap (the name answers
  a public address to the check and 127.0.0.1 to the connect); here there is no second
  lookup. httpcore still sees the URL's host name, so the Host header, TLS SNI and the
  certificate check stay those of the name, and its connection pool stays keyed by name;
- bounds every connect and read by a timeout, and bounds bodies while they stream: the
  announced Content-Length first, then the bytes counted after decompression, so a small
  gzip bomb cannot expand past the limit; it decompresses itself in bounded steps (zlib's
  ``max_length``), and refuses bodies that expand by an implausible ratio early;
- turns 4xx/5xx answers, timeouts and refusals into ``FetchError`` naming the URL.
"""

import ipaddress
import socket
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from harvesters.interfaces import FetchedDocument, FetchedStream, FetchError, FileTooLarge

USER_AGENT = "opendata-portal-harvester/1.0"
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
# Real data compresses well, but a body that expands more than this many times over is a
# decompression bomb, not a catalog; the ratio is judged only past RATIO_FLOOR_BYTES so a
# small, very repetitive document still passes.
MAX_COMPRESSION_RATIO = 200
RATIO_FLOOR_BYTES = 1024 * 1024
ERROR_DETAIL_BYTES = 4096

_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_block_reason(address: str) -> str | None:
    """Why a harvest may not connect to ``address`` ("loopback", "private", ...), or None
    when it is a public unicast address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge the host.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = address_block_reason(str(embedded))
            return f"IPv4-mapped {reason}" if reason else None
        if ip.teredo:
            return "Teredo tunnel"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip in _CARRIER_GRADE_NAT, "carrier-grade NAT"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "non-public"),
    )
    return next((reason for blocked, reason in checks if blocked), None)


class HttpStatusError(FetchError):
    """A 4xx/5xx answer: its status, and the start of its body for sources whose APIs
    explain errors there (CKAN's ``{"success": false, "error": {...}}``)."""

    def __init__(self, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class _RefusedAddress(httpcore.ConnectError):
    """Raised inside the network backend; the fetcher reports it with the URL."""


class _VettingBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, resolving the host itself and connecting only to the
    addresses it has vetted (see the module docstring for why this is the place)."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {error}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self._allow_private:
            for address in addresses:
                reason = address_block_reason(address)
                if reason:
                    raise _RefusedAddress(
                        f"host {host!r} resolves to {address}, a {reason} address; harvests "
                        "may not reach it (setting harvest_allow_private_addresses)"
                    )
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self._sockets.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"host {host!r} has no address")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


# httpcore's exceptions and the httpx ones they stand for, most specific first, as httpx's
# own transport maps them (callers tell "source down" from "refused" by these types).
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except _RefusedAddress:
        raise
    except (
        httpcore.TimeoutException,
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.UnsupportedProtocol,
    ) as error:
        mapped = next(
            (target for source, target in _HTTPX_ERRORS if isinstance(error, source)),
            httpx.TransportError,
        )
        raise mapped(str(error), request=request) from error


class _CoreStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes], request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors(self._request):
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close:
            close()


class _VettingTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that uses the vetting network backend;
    httpx's own HTTPTransport offers no way to choose the network backend."""

    def __init__(self, allow_private: bool) -> None:
        self._pool = httpcore.ConnectionPool(
            network_backend=_VettingBackend(allow_private),
            max_connections=10,
            max_keepalive_connections=5,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors(request):
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_CoreStream(response.stream, request),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _Decoder:
    """Undo one Content-Encoding in bounded steps, so no single network chunk can expand
    into more than CHUNK_BYTES of memory at a time."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._zlib = self._new()
        self._started = False

    def _new(self, raw_deflate: bool = False):
        if self._encoding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self._started and self._encoding == "deflate":
            self._started = True
            try:  # HTTP deflate should be zlib-wrapped; some servers send raw deflate.
                zlib.decompressobj().decompress(data[:2])
            except zlib.error:
                self._zlib = self._new(raw_deflate=True)
        while data:
            output = self._zlib.decompress(data, CHUNK_BYTES)
            if output:
                yield output
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                data = self._zlib.unused_data
                if data and self._encoding != "deflate":
                    self._zlib = self._new()  # the next member of a multi-member gzip
                else:
                    data = b""

    def flush(self) -> bytes:
        return self._zlib.flush()


class HttpFetcher:
    """The portal's ``Fetcher``: safe HTTP(S) GETs for harvest sources (see module docstring)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 30.0,
        max_document_bytes: int = 50 * 1024**2,
        max_file_bytes: int = 2 * 1024**3,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.allow_private = allow_private
        self.max_document_bytes = max_document_bytes
        self.max_file_bytes = max_file_bytes
        self._client = httpx.Client(
            transport=_VettingTransport(allow_private),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,  # an environment proxy would connect where we never vetted
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    @classmethod
    def from_settings(cls, settings) -> "HttpFetcher":
        return cls(
            allow_private=settings.harvest_allow_private_addresses,
            timeout=float(settings.harvest_timeout_seconds),
            max_document_bytes=settings.harvest_max_document_bytes,
            max_file_bytes=settings.harvest_max_file_bytes,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpFetcher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def get(self, url: str, *, accept: str = "*/*") -> FetchedDocument:
        """GET a metadata document whole, at most ``max_document_bytes`` after decoding."""
        with self._open(url, {"Accept": accept}, self.max_document_bytes) as opened:
            final_url, response, chunks = opened
            content = b"".join(chunks)
        return FetchedDocument(
            url=final_url,
            status=response.status_code,
            headers=_lower_headers(response),
            content=content,
        )

    @contextmanager
    def stream(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Iterator[FetchedStream | None]:
        """GET a resource file in chunks, at most ``max_file_bytes`` after decoding; with
        ``etag`` / ``last_modified`` a conditional GET that yields None on 304."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with self._open(url, headers, self.max_file_bytes) as (final_url, response, chunks):
            if response.status_code == 304:
                yield None
                return
            yield FetchedStream(
                url=final_url,
                status=response.status_code,
                headers=_lower_headers(response),
                chunks=chunks,
            )

    @contextmanager
    def _open(
        self, url: str, headers: dict[str, str], limit: int
    ) -> Iterator[tuple[str, httpx.Response, Iterator[bytes]]]:
        """Send the GET, follow redirects hop by hop, check status and Content-Length, and
        give the decoded, counted body chunks; the response is closed on exit."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send(current, headers)
            if response.status_code not in REDIRECT_STATUSES:
                break
            response.close()
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"{current} answered {response.status_code} without a Location")
            current = str(httpx.URL(current).join(location))
        else:
            raise FetchError(f"{url} redirects more than {MAX_REDIRECTS} times")
        try:
            if response.status_code >= 400:
                raise HttpStatusError(
                    f"{current} answered HTTP {response.status_code} {response.reason_phrase}",
                    status=response.status_code,
                    detail=self._error_detail(current, response),
                )
            _check_length(current, response, limit)
            yield current, response, self._body(current, response, limit)
        finally:
            response.close()

    def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise FetchError(f"{url!r} is not a valid URL: {error}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchError(f"{url} is not an http(s) URL; harvests fetch only http and https")
        request = self._client.build_request("GET", parsed, headers=headers)
        try:
            return self._client.send(request, stream=True)
        except _RefusedAddress as error:
            raise FetchError(f"refused to fetch {url}: {error}") from None
        except httpx.TimeoutException:
            raise FetchError(f"{url} timed out") from None
        except httpx.HTTPError as error:
            raise FetchError(f"cannot fetch {url}: {error}") from None

    def _error_detail(self, url: str, response: httpx.Response) -> str:
        """The start of an error answer's body (an API's JSON error explains the status)."""
        collected = b""
        try:
            for piece in self._body(url, response, ERROR_DETAIL_BYTES * 4):
                collected += piece
                if len(collected) >= ERROR_DETAIL_BYTES:
                    break
        except FetchError:
            pass  # the status alone still says what went wrong
        return collected[:ERROR_DETAIL_BYTES].decode("utf-8", "replace")

    def _body(self, url: str, response: httpx.Response, limit: int) -> Iterator[bytes]:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            decoder = _Decoder("deflate" if encoding == "deflate" else "gzip")
        elif encoding in ("", "identity"):
            decoder = None
        else:
            raise FetchError(f"{url} is sent with unsupported Content-Encoding {encoding!r}")
        decoded = 0
        raw = 0
        try:
            for data in response.iter_raw(CHUNK_BYTES):
                raw += len(data)
                pieces = decoder.feed(data) if decoder else (data,)
                for piece in pieces:
                    decoded += len(piece)
                    _check_size(url, decoded, raw, limit, decoder is not None)
                    yield piece
            tail = decoder.flush() if decoder else b""
            if tail:
                decoded += len(tail)
                _check_size(url, decoded, raw, limit, True)
                yield tail
        except zlib.error as error:
            raise FetchError(f"{url} has a corrupt {encoding} body: {error}") from None
        except httpx.TimeoutException:
            raise FetchError(f"{url} timed out while reading") from None
        except httpx.HTTPError as error:
            raise FetchError(f"reading {url} failed: {error}") from None


def _check_length(url: str, response: httpx.Response, limit: int) -> None:
    stated = response.headers.get("content-length", "")
    if stated.isdigit() and int(stated) > limit:
        raise FileTooLarge(f"{url} is {int(stated)} bytes, over the limit of {limit} bytes")


def _check_size(url: str, decoded: int, raw: int, limit: int, compressed: bool) -> None:
    if decoded > limit:
        raise FileTooLarge(f"{url} is larger than the limit of {limit} bytes")
    if compressed and decoded > RATIO_FLOOR_BYTES and decoded > raw * MAX_COMPRESSION_RATIO:
        raise FetchError(
            f"{url} expands more than {MAX_COMPRESSION_RATIO} times when decompressed; "
            "refused as a decompression bomb"
        )


def _lower_headers(response: httpx.Response) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
