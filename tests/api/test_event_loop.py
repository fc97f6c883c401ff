"""A real `binwatch serve` stays responsive while expensive requests are in flight: 39-megapixel
photos being decoded, decompression bombs, 50 MB bodies and model uploads. Handlers that touch
the database, the disk, OpenCV or ONNX run in the thread pool, never in the event loop (before,
one such photo held every other request for about a second; a bomb, for 18 s)."""

from __future__ import annotations

from bench.hostile import UNLIMITED, running, under_load


def test_health_answers_while_expensive_requests_are_in_flight() -> None:
    with running(**UNLIMITED) as service:
        result = under_load(service.api, service.url, service.admin, seconds=6)
    answers = result["answers"]
    # every kind of request was answered, as it should be, while /health was polled
    assert answers.get("photo 201", 0) >= 2 and answers.get("bomb 422", 0) >= 1, answers
    assert answers.get("body 413", 0) >= 1 and answers.get("model 201") == 1, answers
    assert answers.get("model 409", 0) >= 1, answers
    assert result["health_worst_ms"] < 1000, result
