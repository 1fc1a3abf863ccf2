"""Every contract survives the wire unchanged, and bad input is refused with the field named."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import shared.contracts as contracts
from polyfactory.factories.pydantic_factory import ModelFactory
from pydantic import BaseModel, ValidationError
from shared.streams import REGISTRY, InvalidEntry, decode, encode
from shared.streams.registry import DEAD_LETTERS

ALL_MODELS = sorted(
    (
        v
        for v in vars(contracts).values()
        if inspect.isclass(v)
        and issubclass(v, BaseModel)
        and v not in (contracts.Message, contracts.RestModel)
    ),
    key=lambda m: m.__name__,
)
STREAMED = sorted(
    {
        (spec.pattern, model)
        for spec in (*REGISTRY.specs, DEAD_LETTERS)
        for model in spec.message_types
    },
    key=lambda pair: (pair[0], pair[1].__name__),
)


def concrete(pattern: str) -> str:
    return (
        pattern.replace("{worker_id}", "w-1")
        .replace("{task_id}", "t-1")
        .replace("{stream}", "engineering:queue")
    )


def examples(model: type[BaseModel], n: int = 25) -> list[Any]:
    """`n` valid instances. A pattern cannot say every rule (no `..` path segment, for one), so a
    drawn value that a validator refuses is drawn again, a bounded number of times."""
    factory = ModelFactory.create_factory(model)
    found: list[Any] = []
    refusals: list[ValidationError] = []
    while len(found) < n:
        try:
            found.append(factory.build())
        except ValidationError as refused:
            refusals.append(refused)
            if len(refusals) > 20 * n:
                message = f"{model.__name__}: drawn values keep being refused"
                raise AssertionError(message) from refused
    return found


@pytest.mark.parametrize(("pattern", "model"), STREAMED, ids=lambda v: getattr(v, "__name__", v))
def test_every_streamed_dto_round_trips_through_a_stream_entry_unchanged(
    pattern: str, model: type[BaseModel]
) -> None:
    spec = REGISTRY.resolve(concrete(pattern))
    for message in examples(model):
        fields = encode(message)
        assert list(fields) == ["data"]
        assert decode(fields, spec.adapter) == message


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_contract_round_trips_through_json_unchanged(model: type[BaseModel]) -> None:
    for instance in examples(model, 10):
        assert model.model_validate_json(instance.model_dump_json()) == instance


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_a_missing_required_field_is_rejected_with_its_name(model: type[BaseModel]) -> None:
    valid = json.loads(examples(model, 1)[0].model_dump_json())
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        broken = {k: v for k, v in valid.items() if k != name}
        with pytest.raises(ValidationError) as caught:
            model.model_validate(broken)
        assert [e["loc"] for e in caught.value.errors()] == [(name,)]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_contract_field_is_described(model: type[BaseModel]) -> None:
    undescribed = [n for n, f in model.model_fields.items() if not f.description]
    assert undescribed == []


def test_a_field_of_the_wrong_type_is_named_in_the_decoding_error() -> None:
    spec = REGISTRY.resolve("worker:developer:developer-1:input")
    entry = {
        "data": json.dumps(
            {"task_id": "t", "project_id": "p", "prompt": "x", "repo_url": "r", "timeout": "soon"}
        )
    }
    with pytest.raises(InvalidEntry, match=r"^timeout: Input should be a valid integer"):
        decode(entry, spec.adapter)


def test_a_worker_command_is_told_apart_by_its_command_field() -> None:
    spec = REGISTRY.resolve("worker:commands")
    delete = contracts.DeleteWorkerCommand(worker_id="w-1")
    assert isinstance(decode(encode(delete), spec.adapter), contracts.DeleteWorkerCommand)
    with pytest.raises(InvalidEntry, match="command"):
        decode({"data": json.dumps({"command": "explode", "worker_id": "w"})}, spec.adapter)


def test_task_progress_carries_progress_events_and_final_results() -> None:
    spec = REGISTRY.resolve("task_progress:t-1")
    result = contracts.EngineeringResult(task_id="t-1", status=contracts.OutcomeStatus.SUCCESS)
    event = contracts.ProgressEvent(type=contracts.ProgressType.STARTED, task_id="t-1")
    assert decode(encode(result), spec.adapter) == result
    assert decode(encode(event), spec.adapter) == event


def test_messages_ignore_unknown_fields_so_producers_can_add_fields_first() -> None:
    spec = REGISTRY.resolve("engineering:queue")
    payload = {"task_id": "t", "project_id": "p", "user_id": "u", "added_later": 1}
    message = decode({"data": json.dumps(payload)}, spec.adapter)
    assert message.task_id == "t"


def test_rest_bodies_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        contracts.TaskCreate.model_validate({"project_id": "p", "type": "deploy", "spce": "x"})
    assert caught.value.errors()[0]["loc"] == ("spce",)


def test_a_project_name_must_be_a_dns_label() -> None:
    with pytest.raises(ValidationError) as caught:
        contracts.ProjectCreate(name="My Project", modules=["backend"])
    assert caught.value.errors()[0]["loc"] == ("name",)


def test_every_project_status_has_its_transitions_and_archived_is_final() -> None:
    assert set(contracts.PROJECT_TRANSITIONS) == set(contracts.ProjectStatus)
    assert contracts.PROJECT_TRANSITIONS[contracts.ProjectStatus.ARCHIVED] == frozenset()


def test_terminal_task_statuses_lead_nowhere() -> None:
    for status in contracts.TERMINAL_TASK_STATUSES:
        assert contracts.TASK_TRANSITIONS[status] == frozenset()
