"""Looking for secrets where they must not be: every process's command line, sampled while a test
runs (canary tests: infra-service's deploys, worker-manager's workers)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

from shared.testing.waiting import eventually

__all__ = ["CommandLineScanner"]


class CommandLineScanner:
    """Reads every process's command line, over and over, looking for strings (`needles`).

    `found` holds the command lines that held a needle. Every distinct command line read is kept,
    so a secret learnt only while the scan ran can be looked for afterwards (`holding`); `samples`
    counts the command lines read, `scans` the passes over /proc.

    `prove_it_sees()` starts a process with a fresh marker in its command line and holds it
    until the scanner has seen it: called before and after what is watched, it proves the
    scanner was reading command lines the whole time.
    """

    def __init__(self, *needles: str) -> None:
        self.needles = [needle.encode() for needle in needles if needle]
        self.found: list[str] = []
        self.scans = 0
        self.samples = 0
        self._markers: set[bytes] = set()
        self._seen: set[bytes] = set()
        self._command_lines: set[bytes] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def __enter__(self) -> CommandLineScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def holding(self, *secrets: str) -> list[str]:
        """The command lines read so far that hold any of `secrets`."""
        wanted = [secret.encode() for secret in secrets if secret]
        with self._lock:
            lines = list(self._command_lines)
        return [_readable(argv) for argv in lines if any(secret in argv for secret in wanted)]

    async def prove_it_sees(self, within: float = 30) -> None:
        marker = f"scanner-control-{uuid.uuid4().hex}".encode()
        with self._lock:
            self._markers.add(marker)
        # `read` holds the process until its stdin closes: it lives as long as we need.
        control = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            "read _",
            "sh",
            marker.decode(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def seen() -> bool:
            with self._lock:
                return marker in self._seen

        try:
            await eventually(seen, within)
        finally:
            assert control.stdin is not None
            control.stdin.close()
            try:
                await asyncio.wait_for(control.wait(), 10)
            except TimeoutError:
                control.kill()
                await control.wait()

    def _scan(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                markers = list(self._markers)
            read = []
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    argv = cmdline.read_bytes()
                except OSError:
                    continue
                read.append(argv)
                if any(needle in argv for needle in self.needles):
                    self.found.append(_readable(argv))
            with self._lock:
                self._command_lines.update(read)
                self._seen.update(m for m in markers if any(m in argv for argv in read))
                self.samples += len(read)
                self.scans += 1
            # Pacing, not synchronisation: a scan a few ms apart, leaving the CPUs to the test.
            self._stop.wait(0.005)


def _readable(argv: bytes) -> str:
    return argv.replace(b"\0", b" ").decode(errors="replace")
