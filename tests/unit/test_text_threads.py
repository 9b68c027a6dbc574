"""Stemming from several threads at once, as concurrent turns in one server do."""

from __future__ import annotations

import threading

from chatbot.core.text import stem_words

WORDS = ["refunds", "shipping", "cancelled", "warranties", "exchanging", "deliveries"] * 50


def test_concurrent_stemming_gives_each_thread_its_own_words() -> None:
    expected = stem_words(WORDS)
    errors: list[BaseException] = []
    wrong: list[list[str]] = []
    start = threading.Barrier(8)

    def stem_many() -> None:
        start.wait()
        try:
            for _ in range(40):
                got = stem_words(WORDS)
                if got != expected:
                    wrong.append(got)
        except BaseException as exc:  # an IndexError from a stemmer shared across threads
            errors.append(exc)

    threads = [threading.Thread(target=stem_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not wrong
