"""The near cache as a data structure: bounds, expiry, and the generation that keeps stale fills out."""

from __future__ import annotations

import pytest

from users_api.nearcache import ENTRY_OVERHEAD_BYTES, NearCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def active_cache(clock: Clock, *, max_entries: int = 100, max_bytes: int = 1_000_000) -> NearCache:
    near = NearCache(max_entries=max_entries, max_bytes=max_bytes, clock=clock)
    near.activate()
    return near


def test_a_stored_body_is_returned_until_it_expires() -> None:
    clock = Clock()
    near = active_cache(clock)
    assert near.put("k", b"body", expires_at=clock.now + 30, generation=near.generation)
    assert near.get("k") == b"body"
    clock.now += 29.9
    assert near.get("k") == b"body"
    clock.now += 0.1
    assert near.get("k") is None
    assert len(near) == 0 and near.size_bytes == 0  # an expired entry is removed when found expired


def test_an_already_expired_body_is_not_stored() -> None:
    clock = Clock()
    near = active_cache(clock)
    assert not near.put("k", b"body", expires_at=clock.now, generation=near.generation)


def test_an_inactive_cache_stores_nothing() -> None:
    clock = Clock()
    near = NearCache(max_entries=10, max_bytes=10_000, clock=clock)
    assert not near.put("k", b"body", expires_at=clock.now + 30, generation=near.generation)
    assert near.get("k") is None


def test_a_fill_that_began_before_an_invalidation_is_not_stored() -> None:
    clock = Clock()
    near = active_cache(clock)
    began = near.generation  # a reader asks Redis...
    near.clear()  # ...an invalidation arrives meanwhile...
    assert not near.put("k", b"old", expires_at=clock.now + 30, generation=began)  # ...its answer is dropped
    assert near.get("k") is None
    assert near.put("k", b"new", expires_at=clock.now + 30, generation=near.generation)


@pytest.mark.parametrize("lose", [NearCache.deactivate, NearCache.activate])
def test_losing_or_regaining_the_invalidation_connection_empties_and_fences(lose: object) -> None:
    clock = Clock()
    near = active_cache(clock)
    began = near.generation
    near.put("k", b"body", expires_at=clock.now + 30, generation=began)
    lose(near)  # type: ignore[operator]
    assert near.get("k") is None and len(near) == 0 and near.size_bytes == 0
    near.activate()
    assert not near.put("k", b"body", expires_at=clock.now + 30, generation=began)


def test_entries_are_bounded_first_in_first_out() -> None:
    clock = Clock()
    near = active_cache(clock, max_entries=3)
    for index in range(10):
        assert near.put(f"k{index}", b"x", expires_at=clock.now + 30, generation=near.generation)
        assert len(near) <= 3
    assert [near.get(f"k{index}") for index in range(10)] == [None] * 7 + [b"x"] * 3


def test_bytes_are_bounded_counting_key_and_overhead() -> None:
    clock = Clock()
    entry_size = 100 + 2 + ENTRY_OVERHEAD_BYTES
    near = active_cache(clock, max_bytes=entry_size * 4 + 10)
    for index in range(50):
        near.put(f"{index:02d}", b"b" * 100, expires_at=clock.now + 30, generation=near.generation)
        assert near.size_bytes <= near.max_bytes
    assert len(near) == 4
    assert near.size_bytes == entry_size * 4


def test_a_body_larger_than_the_whole_budget_is_not_kept() -> None:
    clock = Clock()
    near = active_cache(clock, max_bytes=1000)
    near.put("small", b"s", expires_at=clock.now + 30, generation=near.generation)
    assert not near.put("big", b"b" * 1000, expires_at=clock.now + 30, generation=near.generation)
    assert near.get("small") == b"s"  # nothing was evicted for it either


def test_replacing_a_key_keeps_the_byte_count_exact() -> None:
    clock = Clock()
    near = active_cache(clock)
    near.put("k", b"a" * 10, expires_at=clock.now + 30, generation=near.generation)
    near.put("k", b"a" * 50, expires_at=clock.now + 30, generation=near.generation)
    assert len(near) == 1
    assert near.size_bytes == 50 + 1 + ENTRY_OVERHEAD_BYTES
    assert near.get("k") == b"a" * 50


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        NearCache(max_entries=0, max_bytes=10)
