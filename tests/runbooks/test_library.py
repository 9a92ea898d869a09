"""The task library: declared parameters, allow-lists, quoting, and the commands a run will send."""

from __future__ import annotations

import shlex

import pytest

from runbooks import library
from runbooks.library import ParameterRefused


def test_an_injection_attempt_is_refused_with_the_parameter_and_the_rule():
    with pytest.raises(ParameterRefused) as exc:
        library.validate_params("backup_database", {"database": "ersen; rm -rf /"})
    message = str(exc.value)
    assert "“database”" in message and "'ersen; rm -rf /'" in message and "refused" in message
    assert "PostgreSQL name" in message


@pytest.mark.parametrize(
    ("task", "param", "value"),
    [
        ("backup_database", "backup_dir", "/var/backups/../../etc"),
        ("backup_database", "backup_dir", "relative/path"),
        ("backup_database", "container", "db$(id)"),
        ("restart_service", "service", "traefik && reboot"),
        ("restart_service", "site_url", "https://ersen.xyz/`id`"),
        ("unlock_encrypted_volume", "key_file", "/root/key file"),
        ("unlock_encrypted_volume", "mapper_name", "x\ny"),
        ("smoke_test", "checks", "https://ersen.xyz/login 200\nhttps://ersen.xyz/$(id) 200"),
        ("restart_service", "min_days", "999"),
    ],
)
def test_values_outside_the_allow_list_are_refused(task, param, value):
    with pytest.raises(ParameterRefused) as exc:
        library.validate_params(task, {param: value})
    assert param in str(exc.value)


def test_defaults_are_the_seed_values(settings):
    settings.OPS_BACKUP_DIR = "/srv/backups"
    backup = library.validate_params("backup_database")
    assert backup["container"] == "ersen-db-1" and backup["db_user"] == "ersen" and backup["database"] == "ersen"
    assert backup["backup_dir"] == "/srv/backups"
    unlock = library.validate_params("unlock_encrypted_volume")
    assert unlock["image"] == "/var/lib/ersen_encrypted.img" and unlock["mountpoint"] == "/mnt/encrypted_postgres"
    restart = library.validate_params("restart_service")
    assert restart["service"] == "traefik" and restart["site_url"] == "https://ersen.xyz"


def test_later_layers_win_and_unknown_keys_are_refused():
    params = library.validate_params("restart_service", {"service": "web"}, {"service": "traefik"})
    assert params["service"] == "traefik"
    with pytest.raises(ParameterRefused, match="has no parameter 'servce'"):
        library.check_unknown_params("restart_service", {"servce": "x"})


def test_every_value_is_shell_quoted_in_the_commands(settings):
    settings.OPS_BACKUP_DIR = "/srv/back-ups"
    params = library.validate_params("backup_database")
    for command in library.plan_commands("backup_database", params):
        assert ";" not in command.split("#")[0].replace("set -C;", "")
    dump = library._dump_command(params, "/srv/back-ups/backup_x.sql", "/srv/back-ups/backup_x.sql.partial-1")
    assert "docker exec ersen-db-1 pg_dump -U ersen ersen > /srv/back-ups/backup_x.sql.partial-1" in dump
    # A value that needs quoting (allowed characters only) comes out quoted, never bare.
    assert shlex.quote("a b") == "'a b'"
    unlock = library.validate_params("unlock_encrypted_volume")
    preview = library.plan_commands("unlock_encrypted_volume", unlock)
    assert (
        "sudo cryptsetup luksOpen --key-file=/root/.ersen_luks_key /var/lib/ersen_encrypted.img ersen_encrypted"
        in preview
    )
    assert "sudo mount /dev/mapper/ersen_encrypted /mnt/encrypted_postgres" in preview
    assert (
        preview[-1]
        == "cd /srv/containers/ersen && docker compose -f docker-compose.prod.yml -f docker-compose.encrypted.yml up -d"
    )


def test_restart_preview_names_the_tls_check_from_the_portal():
    params = library.validate_params("restart_service")
    preview = library.plan_commands("restart_service", params)
    assert preview[0] == "cd /srv/containers/ersen && docker compose -f docker-compose.prod.yml restart traefik"
    assert "TLS check of https://ersen.xyz" in preview[1] and "14 days" in preview[1]


def test_smoke_checks_are_parsed_one_per_line():
    params = library.validate_params("smoke_test", {"checks": "https://ersen.xyz/login 200\n\nhttps://ersen.xyz/x 302"})
    assert library.parse_http_checks(params["checks"]) == [
        ("https://ersen.xyz/login", 200),
        ("https://ersen.xyz/x", 302),
    ]


def test_unknown_task_names_the_library():
    with pytest.raises(ParameterRefused, match="Unknown task “rm_rf”.*backup_database"):
        library.get_task("rm_rf")
