"""Signed links (core.links): tokens that are verified without the database and used at
most once, the use being part of the caller's transaction; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import func, insert, select, text

from highway_triggers.core.links import PRUNE_GRACE, LinkError, SignedLinks, link_key
from highway_triggers.db.database import Database
from highway_triggers.db.migrate import upgrade
from highway_triggers.db.tables import USED_LINKS

KEY = link_key(b"test-secret-key")
CLAIMS = {"wait_id": "w-1", "decision": "approve"}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database, [])
    yield database
    database.close()


@pytest.fixture
def links(db: Database) -> SignedLinks:
    return SignedLinks(db, KEY)


def expect(code: str, fn: Any, *args: Any) -> LinkError:
    with pytest.raises(LinkError) as info:
        result = fn(*args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    status = LinkError.STATUS[code]
    assert (info.value.code, info.value.status) == (code, status), info.value.message
    assert info.value.body()["code"] == code
    return info.value


def used_rows(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(USED_LINKS)).scalar_one())


def test_link_key_is_derived_and_stable() -> None:
    assert link_key(b"test-secret-key") == KEY and len(KEY) == 32
    assert link_key(b"other") != KEY and b"test-secret-key" not in KEY


def test_round_trip(links: SignedLinks, db: Database) -> None:
    token = links.issue("approval", CLAIMS, ttl_seconds=60)
    payload = jwt.decode(token, KEY, algorithms=["HS256"], audience="approval")
    assert payload["claims"] == CLAIMS and len(payload["jti"]) >= 22
    assert 60 <= payload["exp"] - time.time() <= 61
    assert links.verify("approval", token) == CLAIMS
    assert links.verify("approval", token) == CLAIMS  # verifying does not use it up
    assert used_rows(db) == 0
    assert asyncio.run(links.redeem("approval", token)) == CLAIMS
    with db.engine.connect() as conn:
        row = conn.execute(select(USED_LINKS)).mappings().one()
    assert row["link_id"] == payload["jti"] and row["purpose"] == "approval"
    assert row["expires_at"] == datetime.fromtimestamp(payload["exp"], UTC)
    assert abs((row["used_at"] - datetime.now(UTC)).total_seconds()) < 5
    assert links.issue("approval", CLAIMS, 60) != token  # every link has its own id


def test_forged_token_is_invalid(links: SignedLinks, db: Database) -> None:
    forged = SignedLinks(db, link_key(b"another-secret")).issue("approval", CLAIMS, 60)
    expect("INVALID_LINK", links.verify, "approval", forged)
    expect("INVALID_LINK", links.redeem, "approval", forged)


def flip(segment: str, index: int) -> str:
    replacement = "A" if segment[index] != "A" else "B"
    return segment[:index] + replacement + segment[index + 1 :]


def test_altered_token_is_invalid(links: SignedLinks) -> None:
    header, payload, signature = links.issue("approval", CLAIMS, 60).split(".")
    expect("INVALID_LINK", links.verify, "approval", f"{header}.{flip(payload, 10)}.{signature}")
    expect("INVALID_LINK", links.verify, "approval", f"{header}.{payload}.{flip(signature, 5)}")
    # a payload rewritten to other claims, keeping the signature
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["claims"]["decision"] = "reject"
    rewritten = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    expect("INVALID_LINK", links.verify, "approval", f"{header}.{rewritten}.{signature}")


def test_wrong_purpose_is_invalid(links: SignedLinks) -> None:
    token = links.issue("approval", CLAIMS, 60)
    expect("INVALID_LINK", links.verify, "slack-button", token)
    expect("INVALID_LINK", links.redeem, "slack-button", token)


def test_expired_token(links: SignedLinks, db: Database) -> None:
    token = links.issue("approval", CLAIMS, ttl_seconds=0.05)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    expect("LINK_EXPIRED", links.verify, "approval", token)
    expect("LINK_EXPIRED", links.redeem, "approval", token)
    assert used_rows(db) == 0


def test_second_use_is_refused(links: SignedLinks) -> None:
    token = links.issue("approval", CLAIMS, 60)
    assert asyncio.run(links.redeem("approval", token)) == CLAIMS
    expect("LINK_USED", links.redeem, "approval", token)
    assert links.verify("approval", token) == CLAIMS  # still genuine, only used


def test_use_is_part_of_the_callers_transaction(links: SignedLinks, db: Database) -> None:
    token = links.issue("approval", CLAIMS, 60)
    with db.engine.connect() as conn:
        transaction = conn.begin()
        assert links.redeem_in(conn, "approval", token) == CLAIMS
        transaction.rollback()
    assert used_rows(db) == 0
    with db.engine.begin() as conn:
        assert links.redeem_in(conn, "approval", token) == CLAIMS
        # a second use in the same transaction is refused and leaves it usable
        expect("LINK_USED", links.redeem_in, conn, "approval", token)
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert used_rows(db) == 1
    expect("LINK_USED", links.redeem, "approval", token)


def test_concurrent_redeems_one_succeeds(links: SignedLinks, db: Database) -> None:
    token = links.issue("approval", CLAIMS, 60)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def redeem() -> None:
        barrier.wait()
        try:
            asyncio.run(links.redeem("approval", token))
            outcome = "ok"
        except LinkError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001 -- recorded so the assertion shows it
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["LINK_USED"] * 7 + ["ok"], outcomes
    assert used_rows(db) == 1


def unsigned(header: Any, payload: Any) -> str:
    def part(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.{part(b'sig')}"


GARBAGE = [
    "",
    "a.b",
    "a.b.c",
    "...",
    "x" * 10_000,
    ".".join(["Zm9v" * 900] * 3),
    "é.ü.ß",
    "\x00\xff",
    unsigned({"alg": "none"}, {"aud": "approval", "jti": "j", "exp": 2**40, "claims": {}}),
    unsigned({"alg": "HS256"}, [1, 2]),
    unsigned(["not", "a", "header"], {}),
    unsigned({"alg": "HS256"}, b"\xff\xfe not json"),
]


@pytest.mark.parametrize("token", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_is_invalid(links: SignedLinks, token: str) -> None:
    expect("INVALID_LINK", links.verify, "approval", token)
    expect("INVALID_LINK", links.redeem, "approval", token)


def test_signed_token_without_claims_or_jti_is_invalid(links: SignedLinks) -> None:
    exp = int(time.time()) + 60
    payloads: list[dict[str, Any]] = [
        {"aud": "approval", "exp": exp, "jti": "j"},  # no claims
        {"aud": "approval", "exp": exp, "jti": "j", "claims": ["x"]},
        {"aud": "approval", "exp": exp, "claims": {}},  # no jti
        {"aud": "approval", "exp": exp, "jti": 7, "claims": {}},
        {"exp": exp, "jti": "j", "claims": {}},  # no purpose
        {"aud": "approval", "jti": "j", "claims": {}},  # no expiry
    ]
    for payload in payloads:
        token = jwt.encode(payload, KEY, algorithm="HS256")
        expect("INVALID_LINK", links.verify, "approval", token)


def test_issued_at_in_the_future_is_accepted(links: SignedLinks) -> None:
    """A replica whose clock is behind the issuer's still accepts the link."""
    now = int(time.time())
    payload = {"aud": "approval", "exp": now + 60, "iat": now + 30, "jti": "j", "claims": {}}
    assert links.verify("approval", jwt.encode(payload, KEY, algorithm="HS256")) == {}


def test_prune_forgets_only_long_expired_links(links: SignedLinks, db: Database) -> None:
    now = datetime.now(UTC)
    rows = {
        "long-expired": now - PRUNE_GRACE - timedelta(seconds=1),
        "just-expired": now - timedelta(seconds=1),
        "live": now + timedelta(hours=1),
    }
    with db.engine.begin() as conn:
        conn.execute(
            insert(USED_LINKS),
            [
                {"link_id": name, "purpose": "approval", "used_at": now, "expires_at": expires}
                for name, expires in rows.items()
            ],
        )
    with db.engine.begin() as conn:
        assert links.prune_in(conn, now) == 1
    with db.engine.connect() as conn:
        left: set[str] = set(conn.execute(select(USED_LINKS.c.link_id)).scalars())
    assert left == {"just-expired", "live"}
