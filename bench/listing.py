"""How fast the file browser answers on a large drive (issue #15): search over 100,000
files (target p95 < 200 ms) and the first page of a 10,000-file folder (p95 < 150 ms).

Seeds a **throwaway** PostgreSQL database (created if it does not exist on the server of
``--database-url``, loopback only) for one clinician, Alice: her own space (folders of
files and one folder of ``--big-folder`` files), her team's space, and a colleague's
space with a folder tree shared with Alice and files shared with the team, ``--files``
files in all. Names mix accented medical words and surnames ("Échographie Dupont
2025-03-14.pdf"). Rows go in with ``bulk_create``; the search form of each name comes
from ``files.names.name_search_key`` exactly as ``save()`` computes it.

It then times, as Alice, the two pages' own code: the search page
(``files.views.browser.search_view``: ``selectors.search_for_actor`` and the template)
for a few queries, and the 10,000-file folder page (``folder_view``: its first page by
name, and page 50 sorted by size, largest first), ``--runs`` times each after a
warm-up, and prints p50/p95 against the targets.

    .venv/bin/python bench/listing.py \\
        --database-url postgres://securedrive:…@127.0.0.1:55432/bench_listing

Prints a table, then as its last line one JSON object of the figures. Exit status 0
whether or not a target is met; 2 on a refused argument.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench_support import database_url_check  # noqa: E402

SEARCH_TARGET_MS = 200.0
LISTING_TARGET_MS = 150.0
SEED = 20260615
WORDS = (
    "Échographie",
    "Scanner thoracique",
    "IRM cérébrale",
    "Compte-rendu opératoire",
    "Bilan sanguin",
    "Radiographie",
    "Ordonnance",
    "Courrier de sortie",
    "Électrocardiogramme",
    "Consultation",
)
SURNAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
    "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier",
)  # fmt: skip
QUERIES = ("echo", "scanner thor", "lefevre", "2025-03", "consultation girard", "zzqx")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="p50/p95 of search and of a large listing.")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a throwaway PostgreSQL database on loopback (created if missing); "
        "default: $DATABASE_URL",
    )
    parser.add_argument("--files", type=int, default=100_000, help="files in all (100,000)")
    parser.add_argument(
        "--big-folder", type=int, default=10_000, help="files in the one large folder (10,000)"
    )
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case (30)")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    if args.files < 4 * args.big_folder or args.big_folder < 100:
        parser.error("--files must be at least 4 x --big-folder, and --big-folder >= 100")
    if not args.database_url:
        parser.error("no database: give --database-url postgres://... (or set DATABASE_URL)")
    args.config = database_url_check(parser, args.database_url)
    return args


def _database_create_if_missing(config: dict[str, Any]) -> bool:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres",
        user=config["USER"],
        password=config["PASSWORD"],
        host=config["HOST"],
        port=config["PORT"] or 5432,
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
        return not exists


def _django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")
    os.environ.setdefault("SECUREDRIVE_SECRET_KEY", secrets.token_urlsafe(64))
    os.environ["SECUREDRIVE_AUDIT_LOG_FILE"] = ""
    os.environ["SECUREDRIVE_AUDIT_SYSLOG_ADDRESS"] = ""
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    # Pages render static URLs; the bench needs no collected manifest for that.
    storage = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": storage}}
    call_command("migrate", verbosity=0)


# --- Seeding -------------------------------------------------------------------------


def _seed(files_total: int, big_folder: int) -> dict[str, Any]:
    from django.db import transaction

    from accounts.models import Team, TeamMembership, User
    from files import services
    from files.models import File, FileVersion, Folder
    from files.names import name_key, name_search_key
    from sharing.models import Share, ShareRole

    existing = User.objects.filter(email="alice.bench@chu-example.fr").first()
    if existing is not None:
        big = Folder.objects.get(space__owner=existing, name="Grand dossier")
        return {"alice": existing, "big_folder": big, "seeded": False}
    rng = random.Random(SEED)  # noqa: S311  (repeatable names, not secrets)
    alice = User.objects.create_user("alice.bench@chu-example.fr", secrets.token_urlsafe(16))
    colleague = User.objects.create_user("bruno.bench@chu-example.fr", secrets.token_urlsafe(16))
    team = Team.objects.create(name="Cardiologie", slug="cardiologie-bench")
    TeamMembership.objects.create(team=team, user=alice)
    TeamMembership.objects.create(team=team, user=colleague)
    alice_root = services.space_root(services.space_personal_get_or_create(user=alice))
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    other_root = services.space_root(services.space_personal_get_or_create(user=colleague))

    def folders_under(parent: Folder, count: int, label: str) -> list[Folder]:
        made = [
            Folder(
                space_id=parent.space_id,
                parent=parent,
                name=f"{label} {number:03d}",
                name_key=name_key(f"{label} {number:03d}"),
                name_search=name_search_key(f"{label} {number:03d}"),
            )
            for number in range(count)
        ]
        return Folder.objects.bulk_create(made)

    def file_name(number: int) -> str:
        day = f"20{rng.randint(20, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return f"{rng.choice(WORDS)} {rng.choice(SURNAMES)} {day} n{number}.pdf"

    def files_in(folders: list[Folder], count: int) -> list[File]:
        made = []
        for number in range(count):
            folder = folders[number % len(folders)]
            name = file_name(number)
            made.append(
                File(
                    space_id=folder.space_id,
                    folder=folder,
                    name=name,
                    name_key=name_key(name),
                    name_search=name_search_key(name),
                )
            )
        return File.objects.bulk_create(made, batch_size=5000)

    with transaction.atomic():
        big = folders_under(alice_root, 1, "Grand dossier")[0]
        big.name, big.name_key, big.name_search = "Grand dossier", "grand dossier", "grand dossier"
        big.save(update_fields=["name", "name_key", "name_search"])
        big_files = files_in([big], big_folder)
        # Every file of the big folder has a current version, as the listing shows it.
        versions = FileVersion.objects.bulk_create(
            [
                FileVersion(
                    file=file,
                    number=1,
                    size=rng.randint(10_000, 30_000_000),
                    ciphertext_size=1,
                    sha256="0" * 64,
                    content_type="application/pdf",
                    uploaded_by=alice,
                    scan_status="available",
                    blob_key=f"bench/{file.pk}",
                    wrapped_data_key=b"x",
                    kek_id="bench",
                    segment_size=1 << 20,
                )
                for file in big_files
            ],
            batch_size=5000,
        )
        for file, version in zip(big_files, versions, strict=True):
            file.current_version = version
        File.objects.bulk_update(big_files, ["current_version"], batch_size=5000)
        rest = files_total - big_folder
        own = folders_under(alice_root, 40, "Patients")
        files_in(own, rest * 4 // 10)
        team_folders = folders_under(team_root, 30, "Service")
        files_in(team_folders, rest * 3 // 10)
        lent = folders_under(other_root, 1, "Dossiers partagés")[0]
        lent_below = folders_under(lent, 20, "Partagé")
        for folder in lent_below[:5]:
            lent_below += folders_under(folder, 4, "Sous")
        shared_files = files_in(lent_below, rest * 2 // 10)
        private = folders_under(other_root, 10, "Privé")
        files_in(private, rest - rest * 4 // 10 - rest * 3 // 10 - rest * 2 // 10)
        Share.objects.create(folder=lent, user=alice, role=ShareRole.VIEWER, created_by=colleague)
        Share.objects.bulk_create(
            Share(file=file, team=team, role=ShareRole.VIEWER, created_by=colleague)
            for file in shared_files[:: max(1, len(shared_files) // 200)]
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"alice": alice, "big_folder": big, "seeded": True}


# --- Timing --------------------------------------------------------------------------


def _timed(call: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    result = call()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def _queries(call: Callable[[], Any]) -> int:
    """SQL queries of one more call (the page's own: no session, no middleware)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def _percentile(values: list[float], percentile: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percentile - 1]


def _request(path: str, user: Any, query: dict[str, str] | None = None) -> Any:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get(path, query or {})
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


def _table(rows: list[list[str]]) -> str:
    headers = ["case", "results", "p50 ms", "p95 ms", "target ms", "met"]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    created = _database_create_if_missing(args.config)
    _django_setup(args.database_url)
    from files import selectors
    from files.models import File
    from files.views import browser

    start = time.perf_counter()
    seeded = _seed(args.files, args.big_folder)
    seed_s = time.perf_counter() - start
    alice, big = seeded["alice"], seeded["big_folder"]
    figures: dict[str, Any] = {
        "database_created": created,
        "seeded": seeded["seeded"],
        "seed_seconds": round(seed_s, 1),
        "files": File.objects.count(),
        "runs": args.runs,
        "search": {},
    }
    rows = []
    for query in QUERIES:

        def search(query: str = query) -> Any:
            response = browser.search_view(_request("/files/search/", alice, {"q": query}))
            assert response.status_code == 200
            return response

        times, _response = _timed(search, args.runs)
        hits = len(selectors.search_for_actor(actor=alice, query=query).hits)
        p50, p95 = _percentile(times, 50), _percentile(times, 95)
        figures["search"][query] = {"hits": hits, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        met = "yes" if p95 < SEARCH_TARGET_MS else "NO"
        rows.append([f"search “{query}”", str(hits), f"{p50:.1f}", f"{p95:.1f}", "200", met])

    def listing() -> Any:
        response = browser.folder_view(_request(f"/files/folders/{big.pk}/", alice), big.pk)
        assert response.status_code == 200
        return response

    times, response = _timed(listing, args.runs)
    p50, p95 = _percentile(times, 50), _percentile(times, 95)

    def by_size() -> Any:
        request = _request(f"/files/folders/{big.pk}/", alice, {"sort": "-size", "page": "50"})
        response = browser.folder_view(request, big.pk)
        assert response.status_code == 200
        return response

    size_times, _sized = _timed(by_size, args.runs)
    queries = {"first_page": _queries(listing), "page50_by_size": _queries(by_size)}
    size_p50, size_p95 = _percentile(size_times, 50), _percentile(size_times, 95)
    rows.append(
        [
            f"folder of {args.big_folder} files, first page (by name)",
            str(response.content.count(b"<tr data-file=")),
            f"{p50:.1f}",
            f"{p95:.1f}",
            "150",
            "yes" if p95 < LISTING_TARGET_MS else "NO",
        ]
    )
    rows.append(
        [
            f"folder of {args.big_folder} files, page 50 by size",
            str(_sized.content.count(b"<tr data-file=")),
            f"{size_p50:.1f}",
            f"{size_p95:.1f}",
            "150",
            "yes" if size_p95 < LISTING_TARGET_MS else "NO",
        ]
    )
    figures["listing_page50_by_size"] = {
        "p50_ms": round(size_p50, 1),
        "p95_ms": round(size_p95, 1),
        "queries": queries["page50_by_size"],
    }
    figures["listing"] = {
        "files": args.big_folder,
        "rows_rendered": response.content.count(b"<tr data-file="),
        "html_bytes": len(response.content),
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "queries": queries["first_page"],
    }
    worst = max(entry["p95_ms"] for entry in figures["search"].values())
    figures["search_p95_worst_ms"] = worst
    figures["search_target_met"] = worst < SEARCH_TARGET_MS
    figures["listing_target_met"] = max(p95, size_p95) < LISTING_TARGET_MS
    print(f"{figures['files']} files, seeded in {seed_s:.1f} s; {args.runs} runs per case")
    print(
        f"folder page: {queries['first_page']} SQL queries (first page), "
        f"{queries['page50_by_size']} (page 50 by size)"
    )
    print(_table(rows))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
