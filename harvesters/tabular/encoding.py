"""Which text encoding a file is in, decided on a bounded sample of its bytes.

Chinese government tables are UTF-8 (with or without a BOM), GBK or GB18030; Excel also
writes UTF-16 ("Unicode text"), and Western files (other portals' exports) are cp1252.
Those are the encodings the reader takes; a file in none of them is refused with the
first byte that is not UTF-8 (or not GB18030, for a file that reads as Chinese), rather
than read as some code page that happens to take every byte. The order of the checks:

1. A byte-order mark settles it (UTF-8, UTF-16, UTF-32).
2. UTF-16 without a mark shows as NUL bytes in every other position.
3. If the first ``SAMPLE_BYTES`` are all ASCII, the bytes after them are scanned (streamed,
   not kept) for the first non-ASCII byte, and the decision is made on a window from there:
   a GBK file whose first megabyte is numbers must not be read as UTF-8.
4. UTF-8 if the window decodes strictly: other encodings rarely form valid UTF-8 by chance.
5. GB18030 (the superset of GBK and GB2312, so every GBK file decodes) if the window
   decodes strictly *and* reads as Chinese: nearly all of its non-ASCII characters are
   common hanzi or CJK punctuation (in GB2312), or charset-normalizer takes it for
   Chinese. Accented Latin text in cp1252 often decodes as GBK too, but into rare
   characters (é followed by a letter is a GBK-only code), so this test tells them apart
   where a bare "try GBK" does not.
6. cp1252 if charset-normalizer takes the window for a single-byte Latin encoding (cp1250,
   cp1257, latin-1... differ only in letters a Western file seldom has and are often wrong
   between themselves on short samples; cp1252 is what Excel and Windows write for
   Western languages), and it is neither mostly valid UTF-8 nor Chinese: a UTF-8 or GBK
   file with a damaged byte must be refused, not read as mojibake.
7. Otherwise the file is refused with a TabularError naming the offending byte; bytes
   with control characters (in no text encoding) are refused before any guess, as is a
   window that the encoding chosen decodes into control characters.
"""

import codecs
import re
from typing import BinaryIO

import charset_normalizer

from harvesters.tabular.model import TabularError

SAMPLE_BYTES = 1 << 20
WINDOW_BYTES = 64 << 10  # what charset-normalizer and the checks look at
SCAN_CHUNK = 1 << 20
MAX_CONTROL_SHARE = 0.01

_NON_ASCII = re.compile(rb"[\x80-\xff]")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # C0 controls: in no text encoding
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Unicode Cc but tab, CR, LF
_CHINESE = frozenset({"gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn"})
_LATIN = frozenset(
    "cp1250 cp1252 cp1254 cp1257 cp775 cp850 cp858 cp437 cp1006 latin_1 iso8859_2 "
    "iso8859_3 iso8859_4 iso8859_9 iso8859_10 iso8859_13 iso8859_14 iso8859_15 iso8859_16 "
    "mac_roman mac_latin2 mac_iceland mac_turkish johab".split()
)


def detect_encoding(stream: BinaryIO) -> str:
    """The encoding of the text from the stream's position on (a Python codec name). Reads a
    bounded sample (and, for an all-ASCII start, scans on without keeping the bytes), then
    puts the stream back where it was. Raises TabularError if the bytes are not text."""
    start = stream.tell()
    try:
        sample = stream.read(SAMPLE_BYTES)
        if sample.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            return "utf-32"
        if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        utf16 = _utf16_without_bom(sample[:4096])
        if utf16:
            return _checked(sample[:WINDOW_BYTES], utf16)
        if sample.isascii():
            _check_text(sample[:WINDOW_BYTES].decode("ascii"), "ASCII")
            found = _first_non_ascii_window(stream, start)
            return "utf-8" if found is None else _guess(*found)
        return _guess(sample, 0)
    finally:
        stream.seek(start)


def _utf16_without_bom(head: bytes) -> str | None:
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _first_non_ascii_window(stream: BinaryIO, start: int) -> tuple[bytes, int] | None:
    """From the first non-ASCII byte after the sample on, a window of bytes and its offset
    from ``start``. It starts on a character boundary in any ASCII-compatible encoding,
    since all before it is ASCII."""
    while True:
        position = stream.tell()
        chunk = stream.read(SCAN_CHUNK)
        if not chunk:
            return None
        found = _NON_ASCII.search(chunk)
        if found:
            window = chunk[found.start() : found.start() + WINDOW_BYTES]
            if len(window) < WINDOW_BYTES:
                window += stream.read(WINDOW_BYTES - len(window))
            return window, position - start + found.start()


def _guess(sample: bytes, offset: int) -> str:
    """The encoding of a sample that is not all ASCII, found ``offset`` bytes into the file."""
    window = sample[:WINDOW_BYTES]
    utf8_error = _decode_error(window, "utf-8")
    if utf8_error is None:
        return _checked(window, "utf-8")
    if len(_BINARY.findall(window)) > MAX_CONTROL_SHARE * len(window):
        raise TabularError("The file's bytes are not text (control characters): is it a table?")
    gb18030_error = _decode_error(window, "gb18030")
    chinese = _reads_as_chinese(window)
    if gb18030_error is None and chinese:
        return _checked(window, "gb18030")
    match = charset_normalizer.from_bytes(window).best()
    guess = match.encoding if match is not None else ""
    if gb18030_error is None and guess in _CHINESE:
        return _checked(window, "gb18030")  # rare characters, beyond GBK's common ones
    mostly_utf8 = _mostly_utf8(window)
    western = guess in _LATIN and _decode_error(window, "cp1252") is None
    if western and not chinese and not mostly_utf8:
        return _checked(window, "cp1252")
    # Name the byte in the encoding the file is closest to: GBK when it reads as Chinese.
    if chinese and not mostly_utf8 and gb18030_error is not None:
        error, encoding = gb18030_error, "GB18030"
    else:
        error, encoding = utf8_error, "UTF-8"
    raise TabularError(
        f"The file is not UTF-8, GBK or GB18030 text: invalid byte 0x{window[error.start]:02x} "
        f"at offset {offset + error.start} (as {encoding}). Save it as UTF-8 and try again."
    )


def _decode_error(window: bytes, encoding: str) -> UnicodeDecodeError | None:
    # Not final: the window may end inside a character.
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(window, final=False)
    except UnicodeDecodeError as error:
        return error
    return None


def _mostly_utf8(window: bytes) -> bool:
    """Whether most non-ASCII bytes form UTF-8 characters: UTF-8 with a damaged byte. In
    cp1252 text such pairs are rare (Ã followed by ©)."""
    in_sequences = sum(len(match) for match in _UTF8_SEQUENCE.findall(window))
    return in_sequences * 2 > len(_NON_ASCII.findall(window))


def _reads_as_chinese(window: bytes) -> bool:
    text = codecs.getincrementaldecoder("gb18030")(errors="ignore").decode(window)
    wide = "".join(char for char in text if ord(char) > 127)
    if not wide:
        return False
    common = len(wide.encode("gb2312", errors="ignore")) // 2  # two bytes each in GB2312
    return common / len(wide) >= 0.9


def _checked(window: bytes, encoding: str) -> str:
    try:
        text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(window, final=False)
    except UnicodeDecodeError as error:
        raise TabularError(f"The file is not valid {encoding} text: {error.reason}.") from None
    _check_text(text, encoding)
    return encoding


def _check_text(text: str, encoding: str) -> None:
    if not text:
        return
    if len(_CONTROL.findall(text)) / len(text) > MAX_CONTROL_SHARE:
        raise TabularError(
            f"The file does not read as text ({encoding} gives control characters): "
            "is it a table at all?"
        )


class Recoded:
    """A binary stream in some encoding, read as UTF-8 bytes (what ijson wants), decoding and
    encoding as it goes. Raises TabularError on bytes the encoding does not take."""

    def __init__(self, stream: BinaryIO, encoding: str):
        self.stream = stream
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.buffer = b""
        self.done = False

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.buffer) < size):
            chunk = self.stream.read(64 << 10)
            try:
                text = self.decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                raise TabularError(
                    f"The file is not valid {self.encoding} text: {error.reason}."
                ) from None
            self.buffer += text.encode("utf-8")
            self.done = not chunk
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data
