"""The shell's environment allowlist and the bounded tail of a command's output."""

from __future__ import annotations

from pathlib import Path

from worker_wrapper.adapters.process_group import OutputTail
from worker_wrapper.adapters.shell import command_environment


def test_a_test_command_gets_the_allowlist_and_the_workers_home_only() -> None:
    wrapper = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TMPDIR": "/scratch",
        "REDIS_URL": "redis://:pw@redis:6379/0",
        "API_KEY": "cgo_secret",
        "GIT_TOKEN": "ghp_secret",
        "WORKER_ID": "dev-1",
    }
    assert command_environment(wrapper, home=Path("/ws/home")) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/scratch",
        "HOME": "/ws/home",
    }
    assert command_environment({}, home=Path("/h"))["PATH"]  # a shell needs one


def test_an_output_tail_keeps_the_last_bytes_whatever_is_added() -> None:
    tail = OutputTail(10)
    tail.add(b"0123456")
    assert tail.text() == "0123456"
    tail.add(b"789abc")
    assert (tail.text(), len(tail)) == ("3456789abc", 10)
    tail.add(b"x" * 1000 + b"the end!")
    assert (tail.text(), len(tail)) == ("xxthe end!", 10)


def test_an_output_tail_cut_inside_a_character_still_reads() -> None:
    tail = OutputTail(4)
    tail.add("aé€".encode())  # the cut falls inside é
    assert tail.text() == "\ufffd€"
