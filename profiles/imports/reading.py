"""Reading CSV files as they come: UTF-8 with or without BOM, CRLF, Latin-1, any delimiter."""

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (",", ";", "\t", "|")
CHUNK = 1 << 20


class FileUnreadable(ValueError):
    """The file is not a CSV we can read (empty, binary, no header)."""


@dataclass(frozen=True)
class FileInfo:
    encoding: str
    delimiter: str
    headers: list[str]
    rows_estimate: int


def inspect_file(path: str | Path) -> FileInfo:
    """Encoding, delimiter, headers and a row estimate, from one pass over the bytes."""
    encoding, newlines = _scan(Path(path))
    with open(path, encoding=encoding, newline="") as handle:
        first_line = handle.readline()
    if not first_line.strip():
        raise FileUnreadable("the file is empty or its first line (the header) is blank")
    delimiter = sniff_delimiter(first_line)
    headers = [h.strip() for h in next(csv.reader([first_line], delimiter=delimiter))]
    if not any(headers):
        raise FileUnreadable("the first line has no column names")
    return FileInfo(encoding, delimiter, headers, max(newlines - 1, 0))


def _scan(path: Path) -> tuple[str, int]:
    """UTF-8 (BOM or not) when every byte decodes, else Windows-1252/Latin-1; and a line count.

    The whole file is checked before any row is written, so a stray Latin-1 byte near the
    end cannot make an import fail half-way.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, newlines, has_bom, last = True, 0, False, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            if not newlines and not has_bom:
                has_bom = chunk.startswith(codecs.BOM_UTF8)
            if b"\x00" in chunk:
                raise FileUnreadable("the file looks binary (NUL bytes), not CSV text")
            newlines += chunk.count(b"\n")
            last = chunk
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if last and not last.endswith(b"\n"):
        newlines += 1
    if utf8:
        return ("utf-8-sig" if has_bom else "utf-8"), newlines
    return _single_byte_encoding(path), newlines


def _single_byte_encoding(path: Path) -> str:
    # Excel on Windows writes Windows-1252 ("smart quotes", €); five bytes are undefined
    # there, and a file holding one of them is read as ISO-8859-1 (every byte decodes).
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter the header line uses most: column names rarely contain one."""
    counts = {d: _count_outside_quotes(header_line, d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def iter_records(path: str | Path, info: FileInfo, *, skip: int = 0) -> Iterator[tuple[int, list]]:
    """(line, cells) for each data record; line counts the header as 1, like a spreadsheet.

    `skip` data records are passed over (resuming a job). Blank records are not yielded.
    """
    with open(path, encoding=info.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=info.delimiter)
        next(reader, None)
        for index, cells in enumerate(reader, start=1):
            if index <= skip or not (cells and (cells[0].strip() or "".join(cells).strip())):
                continue
            yield index + 1, cells


def read_text(data: bytes) -> tuple[str, str]:
    """(text, delimiter) for small uploads read whole (the admin's preview import)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if "\x00" in text:
        raise FileUnreadable("the file looks binary (NUL bytes), not CSV text")
    first_line = text.split("\n", 1)[0]
    return text, sniff_delimiter(first_line)
