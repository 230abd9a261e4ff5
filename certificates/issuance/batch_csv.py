"""Reading a batch CSV: a header row of field names, then one certificate a row.

Bounded (bytes and rows) so that an upload cannot hold the server. A file that is not a usable
CSV at all is refused as a whole (:class:`BatchFileError`, in Chinese and English); a row with
bad values is not: it is reported with its data row number and its line in the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from certificates.issuance.refusals import BatchFileError

__all__ = ["MAX_CSV_BYTES", "MAX_CSV_ROWS", "CsvRow", "read_batch_csv"]

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_CSV_ROWS = 10_000


@dataclass(frozen=True)
class CsvRow:
    row: int  # 1-based data row
    line: int  # the row's first line in the file; the header is line 1
    values: dict[str, str]  # empty cells left out

    def __repr__(self) -> str:
        return f"CsvRow(row={self.row}, line={self.line})"  # values are personal data


def _refuse(zh: str, en: str) -> BatchFileError:
    return BatchFileError("BAD_CSV", zh, en)


def read_batch_csv(data: bytes) -> list[CsvRow]:
    """The data rows of a batch file.

    :raises BatchFileError: too large, not UTF-8, not CSV, no header or no data row.
    """
    if len(data) > MAX_CSV_BYTES:
        raise _refuse(
            f"文件过大（上限 {MAX_CSV_BYTES // (1024 * 1024)} MiB），请拆分为多个批次。",
            f"The file is too large (at most {MAX_CSV_BYTES // (1024 * 1024)} MiB); "
            "split it into several batches.",
        )
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(
            "文件不是 UTF-8 编码的 CSV 文件，请以 UTF-8 编码另存后重试。",
            "The file is not a UTF-8 encoded CSV file; save it as UTF-8 and try again.",
        ) from None
    if "\x00" in content:
        raise _refuse("文件不是 CSV 文本文件。", "The file is not a CSV text file.")
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise _refuse(
                "文件为空或缺少表头行（第 1 行应为字段名）。",
                "The file is empty or has no header row (line 1 must hold the field names).",
            )
        names = [h.strip() for h in header]
        if len(set(n for n in names if n)) != len([n for n in names if n]):
            raise _refuse("表头中有重复的字段名。", "The header row names a field more than once.")
        rows: list[CsvRow] = []
        line = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                if len(rows) >= MAX_CSV_ROWS:
                    raise _refuse(
                        f"数据行过多（上限 {MAX_CSV_ROWS} 行），请拆分为多个批次。",
                        f"Too many data rows (at most {MAX_CSV_ROWS}); split the file into "
                        "several batches.",
                    )
                if len(cells) > len(names):
                    raise _refuse(
                        f"第 {line} 行（第 {len(rows) + 1} 条数据）的列数多于表头。",
                        f"Line {line} (data row {len(rows) + 1}) has more cells than the "
                        "header row.",
                    )
                values = {
                    name: cell for name, cell in zip(names, cells, strict=False) if name and cell
                }
                rows.append(CsvRow(len(rows) + 1, line, values))
            line = reader.line_num + 1
    except csv.Error:
        raise _refuse(
            f"文件不是有效的 CSV（约第 {reader.line_num} 行）。",
            f"The file is not valid CSV (near line {reader.line_num}).",
        ) from None
    if not rows:
        raise _refuse("文件中没有数据行。", "The file has no data rows.")
    return rows
