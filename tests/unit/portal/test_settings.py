from pathlib import Path

import pytest

from portal.settings import DECLARED, Settings, SettingsError, unknown_variables


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


def test_a_check_reads_the_secret_key_without_generating_it(tmp_path):
    instance = tmp_path / "fresh"
    unmade = Settings.load(
        environ={"OPENDATA_INSTANCE_PATH": str(instance)}, generate_secret_key=False
    )
    assert unmade.secret_key == "" and not instance.exists()
    shown = dict(unmade.describe())["secret_key"]
    assert shown == "(not yet generated: run `opendata init`)"
    generated = Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(instance)})
    again = Settings.load(
        environ={"OPENDATA_INSTANCE_PATH": str(instance)}, generate_secret_key=False
    )
    assert again.secret_key == generated.secret_key != ""


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


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPENDATA_STORAGE_URL", "s3://", "names no bucket"),
        ("OPENDATA_STORAGE_URL", "file:", "names no folder"),
        ("OPENDATA_SEARCH_URL", "opensearch+http://", "names no host"),
        ("OPENDATA_SEARCH_URL", "elasticsearch+http://host:port", "bad port"),
        ("OPENDATA_SEARCH_URL", "sqlite://", "names no file"),
        ("OPENDATA_DATABASE_URL", "sqlite:", "is not a URL such as"),
        ("OPENDATA_DATABASE_URL", "sqlite://", "names no file"),
        ("OPENDATA_QUEUE_URL", "sqlite:///:memory:", "names no file"),
        ("OPENDATA_QUEUE_URL", "redis://", "names no host"),
        ("OPENDATA_S3_ENDPOINT_URL", "minio:9000", "OPENDATA_S3_ENDPOINT_URL"),
        ("OPENDATA_SECRET_KEY", "", "must not be empty"),
        ("OPENDATA_SECRET_KEY", "   ", "must not be empty"),
        ("PORT", "99999", "not a port number"),
        ("PORT", "-1", "not a port number"),
        ("PORT", "0", "not a port number"),
        ("PORT", "http", "not a whole number"),
        ("OPENDATA_HOST", "http://0.0.0.0", "not an IP address or host name"),
        ("OPENDATA_HOST", "", "not an IP address or host name"),
        ("OPENDATA_RATE_LIMIT", "lots", "not a rate limit such as"),
        ("OPENDATA_RATE_LIMIT_STORAGE_URL", "postgres://db", "OPENDATA_RATE_LIMIT_STORAGE_URL"),
        ("OPENDATA_SEARCH_INDEX_PREFIX", "Open Data", "OPENDATA_SEARCH_INDEX_PREFIX"),
    ],
)
def test_values_of_the_right_scheme_are_checked_too(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path), name: value})
    assert str(raised.value).startswith(f"{name} (from environment variable {name}): ")


def test_port_and_host_to_listen_on(tmp_path):
    default = Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path)})
    assert (default.host, default.port) == ("127.0.0.1", 5000)
    chosen = Settings.load(
        environ={"OPENDATA_INSTANCE_PATH": str(tmp_path), "OPENDATA_HOST": "::", "PORT": "8080"}
    )
    assert (chosen.host, chosen.port) == ("::", 8080)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("harvest_timeout_seconds = true", "not a whole number"),
        ("harvest_timeout_seconds = 2.5", "not a whole number"),
        ("debug = 1", "not a yes/no value"),
        ("site_name = 5", "not text"),
        ("port = 70000", "not a port number"),
    ],
)
def test_config_file_values_of_the_wrong_type_are_refused(tmp_path, line, message):
    (tmp_path / "opendata.toml").write_text(line + "\n")
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.load(environ={"OPENDATA_INSTANCE_PATH": str(tmp_path)})
    # Named as the file spells it, not as the environment variable.
    key = line.split(" = ")[0]
    assert str(raised.value).startswith(f"{key} (from {tmp_path / 'opendata.toml'}): ")


def test_misspelt_variables_are_named_with_the_closest_setting():
    environ = {
        "OPENDATA_DATABSE_URL": "postgresql+psycopg://db/opendata",
        "OPENDATA_ZZZ": "1",
        "OPENDATA_DATABASE_URL": "sqlite:///catalog.db",
        "PATH": "/usr/bin",
    }
    assert unknown_variables(environ) == [
        "OPENDATA_DATABSE_URL is not a setting and is ignored; did you mean OPENDATA_DATABASE_URL?",
        "OPENDATA_ZZZ is not a setting and is ignored; `opendata settings` lists them.",
    ]


def test_variables_read_outside_the_settings_are_not_called_unknown():
    environ = {
        "OPENDATA_INSTANCE_PATH": "/srv/opendata",
        "OPENDATA_TEST_DATABASE_URL": "postgresql+psycopg://db/test",
        "OPENDATA_TEST_S3_BUCKET": "test",
        "OPENDATA_BENCH_OPENSEARCH_URL": "opensearch+http://search:9200",
        "OPENDATA_HARVEST_SECRET_DB": "pw",
        "OPENDATA_SERVICES_DIR": "/srv/services",
        "OPENDATA_HOST": "::",
        **{setting.variable: "x" for setting in DECLARED},
    }
    assert unknown_variables(environ) == []


def test_the_readme_table_lists_every_setting():
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n### ", 1)[0]
    missing = [s.variable for s in DECLARED if f"`{s.variable}`" not in table]
    assert missing == []
    assert "`OPENDATA_INSTANCE_PATH`" in table


def test_debug_describes_what_it_does():
    debug = next(setting for setting in DECLARED if setting.name == "debug")
    assert "reload on change" not in debug.description
