"""``opendata uploads clean``: staged uploads nobody confirmed are deleted, others kept."""

import io
import os
import time

from click.testing import CliRunner

import portal.cli  # noqa: F401  (the command modules are loaded through it)
from catalog.storage.local import LocalObjectStore
from portal.cli_uploads import uploads


def test_clean_deletes_only_expired_staged_uploads(tmp_path):
    objects = tmp_path / "objects"
    store = LocalObjectStore(objects)
    for key in ("uploads/edu/s/old/a.csv", "uploads/edu/s/new/b.csv", "edu/s/r/v1/a.csv"):
        store.put(key, io.BytesIO(b"a,b\n"), "text/csv")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(objects / "uploads/edu/s/old/a.csv", (two_days_ago, two_days_ago))
    environment = {
        "OPENDATA_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPENDATA_STORAGE_URL": objects.as_uri(),
    }

    result = CliRunner().invoke(uploads, ["clean"], env=environment)
    assert result.exit_code == 0, result.output
    assert "Removed 1 staged upload" in result.output
    left = sorted(str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file())
    assert left == ["edu/s/r/v1/a.csv", "uploads/edu/s/new/b.csv"]
    assert not (objects / "uploads/edu/s/old").exists()
