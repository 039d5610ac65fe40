"""global_names: the names unique across spaces (link slugs, verified hostnames, Telegram bots).

The directory row is written in the same transaction as the space's row, so it is claimed and
released exactly when the space's row says so; its primary key decides between spaces.
"""
import pytest

from app.link import store as link_store
from app.telegram import store as telegram_store


def names(db) -> set[tuple]:
    return {(r["kind"], r["name"], r["space_id"]) for r in db.execute("SELECT kind, name, space_id FROM global_names")}


def add_domain(db, space_id: int, hostname: str, clock) -> None:
    link_store.create_domain(db, space_id, hostname, clock())


def test_a_failed_check_releases_a_hostname_so_another_space_can_verify_it(db, space, other_space, clock):
    add_domain(db, space["id"], "go.shared.example", clock)
    add_domain(db, other_space["id"], "go.shared.example", clock)
    link_store.update_domain_check(db, space["id"], "go.shared.example", passed=True, note="ok", now=clock())
    assert names(db) == {("hostname", "go.shared.example", space["id"])}
    with pytest.raises(link_store.HostnameTaken):
        link_store.update_domain_check(db, other_space["id"], "go.shared.example", passed=True, note="ok",
                                       now=clock())
    assert link_store.find_domain(db, other_space["id"], "go.shared.example")["verified_at"] is None

    link_store.update_domain_check(db, space["id"], "go.shared.example", passed=False, note="gone", now=clock())
    assert names(db) == set()
    row = link_store.update_domain_check(db, other_space["id"], "go.shared.example", passed=True, note="ok",
                                         now=clock())
    assert row["verified_at"] is not None
    assert link_store.find_verified_domain_space(db, "go.shared.example") == other_space["id"]


def test_checking_a_verified_hostname_again_keeps_it(db, space, clock):
    add_domain(db, space["id"], "go.alice.example", clock)
    for _ in range(2):
        link_store.update_domain_check(db, space["id"], "go.alice.example", passed=True, note="ok", now=clock())
    assert names(db) == {("hostname", "go.alice.example", space["id"])}


def test_removing_a_verified_domain_releases_its_hostname(db, space, other_space, clock):
    add_domain(db, space["id"], "go.alice.example", clock)
    link_store.update_domain_check(db, space["id"], "go.alice.example", passed=True, note="ok", now=clock())
    assert link_store.delete_domain(db, space["id"], "go.alice.example")
    assert names(db) == set()
    assert not link_store.hostname_verified_elsewhere(db, other_space["id"], "go.alice.example")


def test_removing_an_unverified_claim_leaves_the_owners_hostname(db, space, other_space, clock):
    add_domain(db, space["id"], "go.alice.example", clock)
    link_store.update_domain_check(db, space["id"], "go.alice.example", passed=True, note="ok", now=clock())
    add_domain(db, other_space["id"], "go.alice.example", clock)
    assert link_store.delete_domain(db, other_space["id"], "go.alice.example")
    assert names(db) == {("hostname", "go.alice.example", space["id"])}


def bot(db, space_id: int, bot_id: int, clock) -> dict:
    return telegram_store.save_bot(db, space_id, bot_id=bot_id, username=f"bot{bot_id}", token_sealed=b"s",
                                   token_hint="…abcd", hook_id=f"hook{space_id}-{bot_id}", secret_token_hash=b"h",
                                   webhook_url="https://t.example/hook", now=clock())


def test_a_bot_belongs_to_one_space_and_replacing_it_releases_the_old_one(db, space, other_space, clock):
    bot(db, space["id"], 111, clock)
    with pytest.raises(telegram_store.BotTaken):
        bot(db, other_space["id"], 111, clock)
    assert names(db) == {("telegram_bot", "111", space["id"])}

    bot(db, space["id"], 222, clock)
    assert names(db) == {("telegram_bot", "222", space["id"])}
    assert bot(db, other_space["id"], 111, clock)["bot_id"] == 111
    assert names(db) == {("telegram_bot", "222", space["id"]), ("telegram_bot", "111", other_space["id"])}


def test_a_disconnected_bot_can_be_connected_to_another_space(db, space, other_space, clock):
    bot(db, space["id"], 111, clock)
    assert telegram_store.delete_bot(db, space["id"])["bot_id"] == 111
    assert names(db) == set()
    assert bot(db, other_space["id"], 111, clock)["bot_id"] == 111


def test_deleting_a_space_releases_its_names(db, space, other_space, clock):
    add_domain(db, space["id"], "go.alice.example", clock)
    link_store.update_domain_check(db, space["id"], "go.alice.example", passed=True, note="ok", now=clock())
    bot(db, space["id"], 111, clock)
    db.execute("DELETE FROM spaces WHERE id = %(id)s", {"id": space["id"]})
    assert names(db) == set()
