"""Which text encoding a file is in, decided on a bounded sample of its bytes.

The order of the checks, and why:

1. A byte-order mark settles it (UTF-8, UTF-16, UTF-32).
2. UTF-16 without a mark shows as NUL bytes in every other position.
3. If the first ``SAMPLE_BYTES`` are all ASCII, the bytes after them are scanned (streamed,
   not kept) for the first non-ASCII byte, and the decision is made on a window from there:
   a GBK file whose first megabyte is numbers must not be read as UTF-8.
4. UTF-8 if the window decodes strictly: other encodings rarely form valid UTF-8 by chance.
5. GB18030 (the superset of GBK and GB2312, so every GBK file decodes) if the window
   decodes strictly *and* reads as Chinese: nearly all of its non-ASCII characters are
   common hanzi or CJK punctuation (in GB2312). Accented Latin text in cp1252 often
   decodes as GBK too, but into rare characters (é followed by a letter is a GBK-only
   code), so this test tells them apart where a bare "try GBK" does not.
6. Otherwise charset-normalizer's best guess. Its single-byte Latin guesses (cp1250,
   cp1257, latin-1...) differ only in letters a Western file seldom has and are often
   wrong between themselves on short samples, so they are read as cp1252, the encoding
   Excel and Windows write for Western languages (latin-1 where cp1252 leaves a byte
   undefined).
7. Whatever was chosen must decode the window strictly and give text, not control
   characters; otherwise the file is refused with a TabularError.
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
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Unicode Cc but tab, CR, LF
_CHINESE = ("gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn")
_LATIN = frozenset(
    "cp1250 cp1252 cp1254 cp1257 cp775 cp850 cp858 cp437 cp1006 latin_1 iso8859_2 "
    "iso8859_3 iso8859_4 iso8859_9 iso8859_10 iso8859_13 iso8859_14 iso8859_15 iso8859_16 "
    "mac_roman mac_latin2 mac_iceland mac_turkish johab".split()
)
_SUPERSETS = {"big5": "cp950", "shift_jis": "cp932", "euc_kr": "cp949", "ascii": "utf-8"}


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
            window = _first_non_ascii_window(stream)
            return "utf-8" if window is None else _guess(window)
        return _guess(sample)
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


def _first_non_ascii_window(stream: BinaryIO) -> bytes | None:
    """From the first non-ASCII byte after the sample on, a window of bytes. It starts on a
    character boundary in any ASCII-compatible encoding, since all before it is ASCII."""
    while chunk := stream.read(SCAN_CHUNK):
        found = _NON_ASCII.search(chunk)
        if found:
            window = chunk[found.start() : found.start() + WINDOW_BYTES]
            if len(window) < WINDOW_BYTES:
                window += stream.read(WINDOW_BYTES - len(window))
            return window
    return None


def _guess(sample: bytes) -> str:
    window = sample[:WINDOW_BYTES]
    if _decodes(window, "utf-8"):
        return _checked(window, "utf-8")
    if _decodes(window, "gb18030") and _reads_as_chinese(window):
        return _checked(window, "gb18030")
    match = charset_normalizer.from_bytes(window).best()
    if match is None:
        raise TabularError(
            "The file's bytes are not text in any encoding we know: is it a table at all?"
        )
    encoding = match.encoding
    if encoding in _CHINESE:
        encoding = "gb18030"
    elif encoding in _LATIN:
        encoding = "cp1252" if _decodes(window, "cp1252") else "latin-1"
    encoding = _SUPERSETS.get(encoding, encoding)
    return _checked(window, encoding)


def _decodes(window: bytes, encoding: str) -> bool:
    # Not final: the window may end inside a character.
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(window, final=False)
    except UnicodeDecodeError:
        return False
    return True


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
