"""`opendata search synonyms`: list, add and remove, as the synonyms API does."""

import pytest
from click.testing import CliRunner
from sqlalchemy import delete

from catalog.models import SynonymSet
from portal.cli import main


@pytest.fixture
def environment(tmp_path, database_engine):
    """The CLI pointed at a temporary instance and the test database, no synonyms yet."""
    with database_engine.begin() as connection:
        connection.execute(delete(SynonymSet))
    return {
        "OPENDATA_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPENDATA_DATABASE_URL": database_engine.url.render_as_string(hide_password=False),
    }


def synonyms(environment, *args):
    return CliRunner().invoke(main, ["search", "synonyms", *args], env=environment)


def listed_ids(output: str) -> dict[str, int]:
    return {line.split(maxsplit=1)[1]: int(line.split()[0]) for line in output.splitlines()}


def test_add_list_and_remove(environment):
    assert synonyms(environment, "医保", "医疗保险").exit_code == 0
    added = synonyms(environment, "社保", "社会保险")
    assert added.exit_code == 0, added.output
    ids = listed_ids(added.output)
    assert set(ids) == {"医保 / 医疗保险", "社保 / 社会保险"}

    removed = synonyms(environment, "--remove", str(ids["医保 / 医疗保险"]))
    assert removed.exit_code == 0, removed.output
    assert set(listed_ids(removed.output)) == {"社保 / 社会保险"}
    assert set(listed_ids(synonyms(environment).output)) == {"社保 / 社会保险"}


def test_removing_an_unknown_set_fails_and_changes_nothing(environment):
    synonyms(environment, "医保", "医疗保险")
    result = synonyms(environment, "--remove", "999999")
    assert result.exit_code != 0
    assert "No synonym set 999999" in result.output
    assert set(listed_ids(synonyms(environment).output)) == {"医保 / 医疗保险"}


def test_adding_and_removing_at_once_is_refused(environment):
    result = synonyms(environment, "医保", "医疗保险", "--remove", "1")
    assert result.exit_code != 0
    assert "not both" in result.output
    assert synonyms(environment).output == ""
