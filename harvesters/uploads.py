"""The harvesters' tabular ingestion, as the catalog's upload services call it
(catalog.interfaces.TableLoader): steward uploads are read exactly as harvested files are.

The catalog imports no harvester, so the web layer is handed ``load_table`` at start
(``init_app``) and passes it to the services, as ``check_spec`` is handed to the API.
"""

from typing import BinaryIO

from catalog.interfaces import NotATable, RecordField, RecordStore, TableLoad, TableProblem
from harvesters.tabular import IngestReport, TabularError, ingest

EXTENSION_KEY = "opendata.load_table"


def load_table(
    source: BinaryIO,
    fields: list[RecordField] | None,
    record_store: RecordStore,
    resource_id: str,
    *,
    file_name: str,
    media_type: str,
) -> TableLoad:
    """harvesters.tabular.ingest, its refusal as NotATable and its report as TableLoad."""
    try:
        report = ingest(
            source,
            fields,
            record_store,
            resource_id,
            file_name=file_name,
            media_type=media_type,
        )
    except TabularError as error:
        raise NotATable(error.message) from None
    return table_load(report)


def table_load(report: IngestReport) -> TableLoad:
    return TableLoad(
        format=report.format.value,
        fields=list(report.fields),
        rows_loaded=report.rows_loaded,
        rows_failed=report.rows_failed,
        problems=[TableProblem(*failure) for failure in report.failures],
        encoding=report.encoding,
        delimiter=report.delimiter,
        header_line=report.header_line,
        sheet=report.sheet,
        lines_skipped=report.lines_skipped,
        notes=list(report.notes),
    )


def init_app(app) -> None:
    """Hand the loader to the API and the pages (``app.extensions``)."""
    app.extensions[EXTENSION_KEY] = load_table
