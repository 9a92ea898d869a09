"""Retention (grandfather-father-son) as a pure rule: `runbooks.policy.backup_retention`, `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runbooks.policy import BackupFact, RetentionCounts, backup_retention, is_backup_file_name, verified_dump_of

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def daily(n, *, start=NOW, hour=2, verified=True):
    """One backup a day for `n` days before `start` (id = the date)."""
    first = (start - timedelta(days=1)).replace(hour=hour, minute=0)
    return [
        BackupFact(id=f"{(first - timedelta(days=i)):%Y-%m-%d}", taken_at=first - timedelta(days=i), verified=verified)
        for i in range(n)
    ]


def test_fewer_backups_than_the_counts_are_all_kept():
    backups = daily(3)
    result = backup_retention(backups, counts=RetentionCounts(7, 4, 12), now=NOW)
    assert result.delete == ()
    assert set(result.keep) == {b.id for b in backups}
    assert result.reasons("2026-12-01") == [
        "newest verified backup (2026-12-01 02:00 UTC)",
        "daily 2026-12-01",
        "weekly 2026-W49",
        "monthly 2026-12",
    ]
    assert result.reasons("2026-11-30") == ["daily 2026-11-30", "monthly 2026-11"]  # Monday: same ISO week as 12-01
    assert result.reasons("2026-11-29") == ["daily 2026-11-29", "weekly 2026-W48"]


def test_the_newest_of_a_day_fills_the_daily_slot_and_the_rest_of_the_day_goes():
    day = datetime(2026, 12, 1, tzinfo=UTC)
    backups = [BackupFact(id=f"h{h}", taken_at=day + timedelta(hours=h), verified=True) for h in (1, 9, 17)]
    result = backup_retention(backups, counts=RetentionCounts(7, 0, 0), now=NOW)
    assert set(result.keep) == {"h17"}
    assert result.delete == ("h1", "h9")  # oldest first


def test_weeks_are_iso_weeks_and_months_are_calendar_months_across_a_year_boundary():
    # Sun 2026-12-27 (W52), Mon 2026-12-28 (W53), Fri 2027-01-01 (still 2026-W53), Mon 2027-01-04 (2027-W01).
    days = [datetime(2026, 12, 27), datetime(2026, 12, 28), datetime(2027, 1, 1), datetime(2027, 1, 4)]
    backups = [BackupFact(id=f"{d:%m%d}", taken_at=d.replace(tzinfo=UTC), verified=True) for d in days]
    now = datetime(2027, 1, 5, tzinfo=UTC)
    result = backup_retention(backups, counts=RetentionCounts(0, 2, 2), now=now)
    assert result.reasons("0104") == [
        "newest verified backup (2027-01-04 00:00 UTC)",
        "weekly 2027-W01",
        "monthly 2027-01",
    ]
    assert result.reasons("0101") == ["weekly 2026-W53"]  # the newest of ISO week 2026-W53 (2 weekly slots)
    assert result.reasons("1228") == ["monthly 2026-12"]  # the newest of December; W53's slot went to 01-01
    assert result.reasons("1227") == []  # 2026-W52 is the third week: beyond 2 weekly slots
    assert result.delete == ("1227",)
    result = backup_retention(backups, counts=RetentionCounts(0, 0, 2), now=now)
    assert result.reasons("1228") == ["monthly 2026-12"]
    assert set(result.delete) == {"1227", "0101"}


def test_a_month_boundary_keeps_the_last_backup_of_the_month():
    backups = daily(40)  # 2026-12-01 back to 2026-10-23
    result = backup_retention(backups, counts=RetentionCounts(0, 0, 3), now=NOW)
    assert {k for k in result.keep} == {"2026-12-01", "2026-11-30", "2026-10-31"}
    assert result.reasons("2026-10-31") == ["monthly 2026-10"]


def test_a_pause_in_backups_never_deletes_the_history():
    """Days *that have a backup* count, not calendar days back from now: a month without backups deletes nothing."""
    backups = daily(5, start=NOW - timedelta(days=40))
    result = backup_retention(backups, counts=RetentionCounts(7, 0, 0), now=NOW)
    assert result.delete == ()


def test_evidence_and_newest_verified_are_kept_whatever_the_counts():
    backups = daily(10)
    evidence = BackupFact(
        id="old-evidence", taken_at=NOW - timedelta(days=300), verified=True, evidence_of=("window #3 “DB upgrade”",)
    )
    unverified_newest = BackupFact(id="unverified", taken_at=NOW - timedelta(minutes=5), verified=False)
    result = backup_retention([*backups, evidence, unverified_newest], counts=RetentionCounts(0, 0, 0), now=NOW)
    assert result.reasons("old-evidence") == ["evidence of a maintenance window of window #3 “DB upgrade”"]
    assert result.reasons("2026-12-01") == ["newest verified backup (2026-12-01 02:00 UTC)"]
    assert "unverified" in result.delete  # an unverified dump fills no slot and is not the newest verified
    assert len(result.delete) == 10


def test_a_backup_dated_after_now_is_never_deleted():
    future = BackupFact(id="future", taken_at=NOW + timedelta(days=2), verified=True)
    result = backup_retention([future, *daily(3)], counts=RetentionCounts(1, 0, 0), now=NOW)
    assert "future" in result.keep and any("clock skew" in r for r in result.reasons("future"))


def test_only_backup_database_names_are_backup_files():
    assert is_backup_file_name("backup_20261201.sql") and is_backup_file_name("backup_20261201_031500.sql")
    for name in ("backup_20261201.sql.partial-3", "notes.txt", "backup_2026121.sql", "xbackup_20261201.sql"):
        assert not is_backup_file_name(name)


def test_a_result_is_a_verified_dump_only_with_its_facts():
    good = {"verified": True, "path": "/b/backup_20261201.sql", "size": 12, "sha256": "a" * 64}
    assert verified_dump_of(good) == {"path": good["path"], "size": 12, "sha256": "a" * 64}
    assert verified_dump_of({**good, "verified": False}) is None
    assert verified_dump_of({**good, "sha256": ""}) is None
    assert verified_dump_of(None) is None
