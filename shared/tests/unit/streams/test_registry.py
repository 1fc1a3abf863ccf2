"""The stream registry resolves names and guards what goes where."""

from __future__ import annotations

import pytest
from shared.contracts import DeadLetter, EngineeringMessage, POWorkerOutput
from shared.streams import REGISTRY, UnknownStream, WrongMessageType
from shared.streams.registry import PO_INPUT, StreamKind


class TestResolve:
    def test_an_exact_name_resolves_to_its_spec(self) -> None:
        assert REGISTRY.resolve("engineering:queue").message_types == (EngineeringMessage,)

    def test_a_pattern_resolves_a_concrete_name(self) -> None:
        assert REGISTRY.resolve("worker:po:w-42:output").message_types == (POWorkerOutput,)

    def test_a_pattern_does_not_match_across_separators(self) -> None:
        with pytest.raises(UnknownStream):
            REGISTRY.resolve("worker:po:a:b:output")

    def test_a_dead_letter_stream_of_a_known_stream_carries_dead_letters(self) -> None:
        assert REGISTRY.resolve("worker:po:w-1:input:dlq").message_types == (DeadLetter,)

    def test_a_dead_letter_stream_of_an_unknown_stream_is_unknown(self) -> None:
        with pytest.raises(UnknownStream):
            REGISTRY.resolve("nope:dlq")

    def test_an_unknown_stream_is_refused(self) -> None:
        with pytest.raises(UnknownStream, match="engineering:queu"):
            REGISTRY.resolve("engineering:queu")


class TestNames:
    def test_a_pattern_builds_its_concrete_name(self) -> None:
        assert PO_INPUT.name(worker_id="w-1") == "worker:po:w-1:input"

    def test_a_parameter_with_a_separator_is_refused(self) -> None:
        with pytest.raises(ValueError, match="worker_id"):
            PO_INPUT.name(worker_id="a:b")


class TestCheckMessage:
    def test_a_message_of_another_dto_is_refused(self) -> None:
        wrong = POWorkerOutput(user_id="u", text="hi")
        with pytest.raises(WrongMessageType, match="EngineeringMessage"):
            REGISTRY.check_message("engineering:queue", wrong)


def test_every_work_stream_has_a_consumer_group_and_no_length_cap() -> None:
    for spec in REGISTRY.specs:
        if spec.kind is StreamKind.WORK:
            assert spec.groups, spec.pattern
            assert spec.maxlen is None, spec.pattern


def test_worker_lifecycle_has_exactly_one_consumer_group() -> None:
    assert REGISTRY.resolve("worker:lifecycle").groups == ("worker-manager",)
