"""CSV files cut into ScoreStream requests of about CHUNK_BYTES each, in bounded memory.

Order lines are aggregated per customer by the server within one request, so a customer whose
rows landed in two requests would be scored twice on half their history: `CustomerChunks` keeps
every customer's rows in one request however the input is split across files (as the segment
CLI does). One pass spreads the rows over temporary bucket files by a stable hash of the
customer id; each bucket, small enough to hold, is then grouped by customer. Iterating twice
gives the same requests in the same order, so a caller can send some of them again.
"""
import csv
import os
import shutil
import tempfile
import zlib

CHUNK_BYTES = 1 << 20  # well under the server's 16 MiB request limit
BUCKET_BYTES = 8 << 20
MAX_BUCKETS = 256
DIGITS = frozenset("0123456789")


class InputError(Exception):
    """A file that cannot be cut as asked (unreadable, no header, headers that differ...)."""


def normalized_id(text):
    """A customer id as the server reads it: spaces trimmed, a float-printed "17850.0" as "17850"."""
    text = text.strip(" ")
    head, dot, tail = text.rpartition(".")
    if dot and head and set(head) <= DIGITS and set(tail) <= {"0"}:
        return head
    return text


def _rows(path):
    """The CSV records of a file as lists of strings; bytes that are not UTF-8 pass through unchanged."""
    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as file:
            yield from csv.reader(file)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


def _line(cells):
    text = ",".join('"' + c.replace('"', '""') + '"' if any(x in c for x in ',"\r\n') else c for c in cells)
    return (text + "\n").encode("utf-8", "surrogateescape")


def _files_with_header(files):
    """(header, rows of each file) with every file's header checked against the first's."""
    header = None
    for path in files:
        rows = _rows(path)
        first = next(rows, None)
        if first is None:
            raise InputError(f"{path} is empty")
        names = [name.strip() for name in first]
        if header is None:
            header = names
        elif names != header:
            raise InputError(f"{os.path.basename(path)}: header differs from the first file's")
        yield header, rows


def header_of(path):
    for header, _ in _files_with_header([path]):
        return header


def column_index(header, column, role):
    for index, name in enumerate(header):
        if name == column:
            return index
    for index, name in enumerate(header):
        if name.lower() == column.lower():
            return index
    raise InputError(f"no column {column!r} for the {role} role (columns: {', '.join(header[:20])})")


class RowChunks:
    """One row per customer (customer tables, feature rows): cut anywhere between rows."""

    def __init__(self, files):
        self.files = files
        self.skipped_without_id = 0

    def __iter__(self):
        message, head = b"", b""
        for header, rows in _files_with_header(self.files):
            head = _line(header)
            message = message or head
            for cells in rows:
                if not cells:
                    continue
                line = _line(cells)
                if len(message) + len(line) > CHUNK_BYTES and len(message) > len(head):
                    yield message
                    message = head
                message += line
        if len(message) > len(head):
            yield message


class CustomerChunks:
    """Order lines, each customer's rows in one request. Rows without a customer id are counted
    (`skipped_without_id`) and left out, as the server would drop them."""

    def __init__(self, files, customer_column):
        total = sum(os.path.getsize(path) for path in files if os.path.exists(path))
        self.folder = tempfile.mkdtemp(prefix="segment-score-")
        self.buckets = [os.path.join(self.folder, f"bucket-{i}.csv")
                        for i in range(min(MAX_BUCKETS, total // BUCKET_BYTES + 1))]
        self.rows = self.skipped_without_id = 0
        try:
            self._spread(files, customer_column)
        except BaseException:
            self.close()
            raise

    def _spread(self, files, customer_column):
        outputs = [open(path, "wb") for path in self.buckets]
        try:
            for header, rows in _files_with_header(files):
                self.header = header
                self.customer = column_index(header, customer_column, "customer")
                for cells in rows:
                    if not cells:
                        continue
                    self.rows += 1
                    customer = normalized_id(cells[self.customer]) if self.customer < len(cells) else ""
                    if not customer:
                        self.skipped_without_id += 1
                        continue
                    outputs[zlib.crc32(customer.encode("utf-8", "surrogateescape")) % len(outputs)].write(_line(cells))
        finally:
            for output in outputs:
                output.close()

    def __iter__(self):
        head = _line(self.header)
        for bucket in self.buckets:
            groups = {}  # insertion-ordered: customers in order of first appearance
            for cells in _rows(bucket):
                groups.setdefault(normalized_id(cells[self.customer]), []).append(_line(cells))
            message = head
            for lines in groups.values():
                text = b"".join(lines)
                if len(message) + len(text) > CHUNK_BYTES and len(message) > len(head):
                    yield message
                    message = head
                message += text
            if len(message) > len(head):
                yield message

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
