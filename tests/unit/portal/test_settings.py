import pytest

from portal.settings import Settings, SettingsError


def test_defaults_live_in_the_instance_folder(tmp_path):
    settings = Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path)})
    assert settings.instance_path == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert settings.storage_url == (tmp_path / "objects").as_uri()
    assert settings.search_url.startswith("sqlite:///")
    assert settings.queue_url.startswith("sqlite:///")


def test_secret_key_is_generated_once_and_private(tmp_path):
    first = Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path)})
    second = Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path)})
    assert len(first.secret_key) >= 40
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_beats_config_file_beats_default(tmp_path):
    (tmp_path / "opendata.toml").write_text(
        'site_name = "来自文件"\nmax_upload_bytes = 1000\n', encoding="utf-8"
    )
    settings = Settings.load(
        environ={"OPENDATA_INSTANCE_PATH": str(tmp_path), "OPENDATA_MAX_UPLOAD_BYTES": "2000"}
    )
    assert settings.site_name == "来自文件"
    assert settings.max_upload_bytes == 2000


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPENDATA_DATABASE_URL", "mysql://x/y", "OPENDATA_DATABASE_URL"),
        ("OPENDATA_STORAGE_URL", "ftp://bucket", "use one of: file, s3"),
        ("OPENDATA_SEARCH_URL", "solr://host", "OPENDATA_SEARCH_URL"),
        ("OPENDATA_QUEUE_URL", "amqp://host", "OPENDATA_QUEUE_URL"),
        ("OPENDATA_MAX_UPLOAD_BYTES", "-5", "not a positive number"),
        ("OPENDATA_MAX_UPLOAD_BYTES", "lots", "OPENDATA_MAX_UPLOAD_BYTES"),
        ("OPENDATA_DEBUG", "maybe", "not a yes/no value"),
    ],
)
def test_bad_values_are_named_in_the_error(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path), name: value})


def test_unknown_keys_in_the_config_file_are_refused(tmp_path):
    (tmp_path / "opendata.toml").write_text('databse_url = "sqlite://"\n')
    with pytest.raises(SettingsError, match="databse_url"):
        Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path)})


def test_describe_hides_secrets(tmp_path):
    settings = Settings.load(
        environ={
            "OPENDATA_INSTANCE_PATH": str(tmp_path),
            "OPENDATA_DATABASE_URL": "postgresql+psycopg://u:hunter2@db/opendata",
        }
    )
    shown = dict(settings.describe())
    assert "hunter2" not in str(shown)
    assert shown["secret_key"] == "(set)"
