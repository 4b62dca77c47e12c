"""The lines of a data file, streamed in chunks: Bybit's zip archives, gzip files (one member or
several, as our recorder appends them) and plain text.

Memory is bounded by :data:`CHUNK_BYTES` of decompressed text, never by the file. Damage is a
:class:`~bybit_mm.errors.DataError` naming the file and the line; the one tolerated damage is a
gzip file cut short inside its last member (a recorder killed with ``kill -9``) when the caller
allows it: then every complete line is returned and :attr:`LineSource.truncated_tail` is set.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bybit_mm.errors import DataError

#: Decompressed bytes handed to a parser at a time (bounds memory; large enough to amortise calls).
CHUNK_BYTES = 1 << 22


@dataclass
class LineChunk:
    """Complete lines of a file: ``lines[0]`` is line number ``first_line`` (1-based)."""

    first_line: int
    lines: list[bytes]
    #: How much of the source file has been consumed, 0..1 (for progress bars).
    progress: float


class LineSource:
    """Iterate the :class:`LineChunk` s of ``path`` (zip, gzip or plain, by content)."""

    def __init__(self, path: Path, *, allow_truncated_tail: bool = False, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = Path(path)
        self.allow_truncated_tail = allow_truncated_tail
        self.chunk_bytes = chunk_bytes
        #: Set when a gzip file ended inside its last member (only with ``allow_truncated_tail``).
        self.truncated_tail = False
        #: Lines handed out so far.
        self.lines_read = 0

    def __iter__(self) -> Iterator[LineChunk]:
        try:
            with open(self.path, "rb") as fp:
                magic = fp.read(4)
                fp.seek(0)
                if magic[:2] == b"\x1f\x8b":
                    yield from self._split(self._gzip_blocks(fp))
                elif magic == b"PK\x03\x04":
                    yield from self._split(self._zip_blocks(fp))
                else:
                    yield from self._split(self._plain_blocks(fp))
        except FileNotFoundError as e:
            raise DataError(f"{self.path}: no such file") from e
        except IsADirectoryError as e:
            raise DataError(f"{self.path}: is a directory, not a data file") from e
        except PermissionError as e:
            raise DataError(f"{self.path}: cannot read it (permission denied)") from e

    def error(self, line: int, what: str) -> DataError:
        """A DataError for ``line`` of this file."""
        return DataError(f"{self.path}: line {line}: {what}")

    # --- blocks of decompressed bytes, each with the fraction of the source consumed -------------

    def _plain_blocks(self, fp: BinaryIO) -> Iterator[tuple[bytes, float]]:
        size = max(self.path.stat().st_size, 1)
        while block := fp.read(self.chunk_bytes):
            yield block, fp.tell() / size

    def _gzip_blocks(self, fp: BinaryIO) -> Iterator[tuple[bytes, float]]:
        size = max(self.path.stat().st_size, 1)
        inflater = zlib.decompressobj(31)
        fed = False  # the current member has received bytes
        while raw := fp.read(self.chunk_bytes // 4):
            data = raw
            while data:
                if not fed and data.strip(b"\x00") == b"":
                    data = b""  # zero padding after the last member, as gzip(1) allows
                    break
                fed = True
                try:
                    out = inflater.decompress(data, self.chunk_bytes)
                    data = inflater.unconsumed_tail
                except zlib.error as e:
                    raise DataError(f"{self.path}: corrupt gzip data after line {self.lines_read} ({e})") from e
                if out:
                    yield out, fp.tell() / size
                if inflater.eof:  # a member ends; another may follow
                    data = inflater.unused_data + data
                    inflater = zlib.decompressobj(31)
                    fed = False
        tail = inflater.flush() if fed else b""
        if tail:
            yield tail, 1.0
        if fed and not inflater.eof:
            if not self.allow_truncated_tail:
                raise DataError(f"{self.path}: truncated gzip file: it ends inside line {self.lines_read + 1}",
                                hint="download it again")
            self.truncated_tail = True

    def _zip_blocks(self, fp: BinaryIO) -> Iterator[tuple[bytes, float]]:
        try:
            archive = zipfile.ZipFile(fp)
        except zipfile.BadZipFile:
            n = _complete_lines_of_cut_zip(fp)
            raise DataError(f"{self.path}: truncated zip archive: it ends inside line {n + 1}",
                            hint="download it again") from None
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise DataError(f"{self.path}: expected one data file in the zip archive, found {len(members)}")
            member = members[0]
            total = max(member.file_size, 1)
            done = 0
            try:
                with archive.open(member) as f:
                    while block := f.read(self.chunk_bytes):
                        done += len(block)
                        yield block, min(done / total, 1.0)
            except (zipfile.BadZipFile, zlib.error, EOFError) as e:
                raise DataError(f"{self.path}: corrupt zip archive after line {self.lines_read} ({e})",
                                hint="download it again") from e

    # --- lines --------------------------------------------------------------------------------------

    def _split(self, blocks: Iterator[tuple[bytes, float]]) -> Iterator[LineChunk]:
        rest = b""
        pending: list[bytes] = []
        pending_bytes = 0
        progress = 0.0
        for block, progress in blocks:
            parts = (rest + block).split(b"\n")
            rest = parts.pop()
            pending.extend(parts)
            pending_bytes += len(block)
            if pending_bytes >= self.chunk_bytes:
                yield self._chunk(pending, progress)
                pending, pending_bytes = [], 0
        if rest and not self.truncated_tail:
            pending.append(rest)  # the last line has no newline
        if pending:
            yield self._chunk(pending, progress)

    def _chunk(self, lines: list[bytes], progress: float) -> LineChunk:
        chunk = LineChunk(self.lines_read + 1, lines, progress)
        self.lines_read += len(lines)
        return chunk


def _complete_lines_of_cut_zip(fp: BinaryIO) -> int:
    """How many complete lines the first member of a cut-off zip archive holds (its local header
    is read by hand: the central directory at the end of the archive is missing)."""
    fp.seek(0)
    header = fp.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return 0
    method, name_len, extra_len = struct.unpack("<8xH16xHH", header)
    fp.seek(30 + name_len + extra_len)
    if method == 0:
        inflate = None
    elif method == 8:
        inflate = zlib.decompressobj(-15)
    else:
        return 0
    lines = 0
    try:
        while raw := fp.read(1 << 20):
            out = inflate.decompress(raw) if inflate is not None else raw
            lines += out.count(b"\n")
            if inflate is not None and inflate.eof:
                break
    except zlib.error:
        pass
    return lines
