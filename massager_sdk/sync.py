"""A synchronous facade for simple scripts: the same client, on a background loop.

    import massager_sdk.sync

    with massager_sdk.sync.connect() as device:   # the embedded simulator
        device.set_intensity(3)
        device.flush()
        print(device.status())

Each call runs the asynchronous :class:`~massager_sdk.client.Device` method on an
event loop in a background thread and waits for it, so the behaviour (safety
policy, coalescing, keepalive, reconnection, stop on exit) is exactly the
asynchronous client's. Leaving the ``with`` block, an exception and Ctrl-C
(``KeyboardInterrupt``) stop the device before the link closes. With
``install_signal_handlers=True`` (main thread only), SIGTERM raises
``SystemExit(143)`` in the main thread, which stops the device the same way.
Callbacks given to :meth:`SyncDevice.on_status` and :meth:`SyncDevice.on_event`
run on the background thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType, TracebackType
from typing import Any, TypeVar

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.client import Device, ZoneSpec
from massager_sdk.client import connect as async_connect
from massager_sdk.model import DeviceEvent, DeviceStatus, Pattern, Waveform
from massager_sdk.safety import SafetyPolicy
from massager_sdk.session import SessionStats, Telemetry
from massager_sdk.session.options import ConnectOptions
from massager_sdk.session.plan import OutputState
from massager_sdk.transports.speed import reply_timeout, speed_of

T = TypeVar("T")


class _LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._thread = threading.Thread(target=self._main, name="massager-sync", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait; an interruption here cancels it there."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        if self.loop.is_running():
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


class SyncDevice:
    """A connected massager with blocking methods. Get one from :func:`connect`."""

    def __init__(self, device: Device, runner: _LoopThread) -> None:
        self._device = device
        self._runner = runner
        self._closed = False
        self._saved_sigterm: Any = None

    # what a caller reads

    @property
    def device(self) -> Device:
        """The asynchronous device underneath (use only on its loop)."""
        return self._device

    @property
    def info(self) -> DeviceCapabilities:
        """What the device is and can do."""
        return self._device.info

    @property
    def safety(self) -> SafetyPolicy:
        """The safety policy (call its methods through the device's loop clock)."""
        return self._device.safety

    @property
    def connected(self) -> bool:
        """Whether the link is up now."""
        return self._device.connected

    @property
    def in_control(self) -> bool:
        """Whether this host drives the device (``False``: a ``control=False`` monitor)."""
        return self._device.in_control

    @property
    def last_status(self) -> DeviceStatus | None:
        """The latest status the device reported (no I/O)."""
        return self._device.last_status

    @property
    def acknowledged(self) -> OutputState:
        """What the device confirmed (see :attr:`Device.acknowledged`)."""
        return self._device.acknowledged

    @property
    def options(self) -> ConnectOptions:
        """The options of the session (``install_signal_handlers`` is this thread's)."""
        return self._device.options

    @property
    def stats(self) -> SessionStats:
        """Counters of the session."""
        return self._device.stats

    # commands: each is the asynchronous method, waited for

    def set_intensity(
        self,
        level: int,
        zone: ZoneSpec = None,
        *,
        waveform: Waveform = Waveform.CONSTANT,
        period: float = 0.0,
    ) -> None:
        """See :meth:`Device.set_intensity`."""
        self._call(self._device.set_intensity(level, zone, waveform=waveform, period=period))

    def play_pattern(
        self, pattern: Pattern, zone: ZoneSpec = None, *, intensity: int, phase: float = 0.0
    ) -> None:
        """See :meth:`Device.play_pattern`."""
        self._call(self._device.play_pattern(pattern, zone, intensity=intensity, phase=phase))

    def set_heat(self, target_c: float | None) -> None:
        """See :meth:`Device.set_heat`."""
        self._call(self._device.set_heat(target_c))

    def stop(self) -> None:
        """See :meth:`Device.stop`."""
        self._call(self._device.stop())

    def emergency_stop(self, reason: str = "emergency stop requested") -> None:
        """See :meth:`Device.emergency_stop`."""
        self._call(self._device.emergency_stop(reason))

    def resume(self) -> None:
        """See :meth:`Device.resume`."""

        async def resume() -> None:
            self._device.resume()

        self._call(resume())

    def set_auto_off(self, seconds: int) -> None:
        """See :meth:`Device.set_auto_off`."""
        self._call(self._device.set_auto_off(seconds))

    def status(self) -> DeviceStatus:
        """See :meth:`Device.status`."""
        return self._call(self._device.status())

    def flush(self, timeout: float | None = None) -> None:
        """See :meth:`Device.flush`; ``TimeoutError`` after ``timeout`` seconds."""
        self._call(self._device.flush(), timeout)

    def sleep(self, seconds: float) -> None:
        """Wait on the device's clock (a simulated device's clock may run faster)."""
        self._call(asyncio.sleep(seconds))

    def telemetry(
        self, buffer: int | None = None, timeout: float | None = None
    ) -> Iterator[Telemetry]:
        """Statuses and events as they arrive; ends when the device closes.

        ``timeout`` ends the iteration after that long without an item.
        """

        async def open_stream() -> Any:
            return self._device.telemetry(buffer)

        stream = self._call(open_stream())
        try:
            while True:
                try:
                    yield self._call(stream.__anext__(), timeout)
                except (StopAsyncIteration, TimeoutError):
                    return
        finally:
            if not self._closed:
                self._call(stream.aclose())

    def on_status(self, callback: Callable[[DeviceStatus], object]) -> Callable[[], None]:
        """Call ``callback(status)`` (on the background thread) for each status."""
        return self._device.on_status(callback)

    def on_event(self, callback: Callable[[DeviceEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` (on the background thread) for each event."""
        return self._device.on_event(callback)

    # leaving

    def close(self) -> None:
        """Stop the device, close the link and the background loop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.call(self._device.close())
        finally:
            self._runner.stop()
            if self._saved_sigterm is not None:
                signal.signal(signal.SIGTERM, self._saved_sigterm)

    def __enter__(self) -> SyncDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("the device is closed")
        return self._runner.call(coro, timeout)

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        self._saved_sigterm = signal.signal(signal.SIGTERM, on_sigterm)


def connect(
    url: str | None = None,
    *,
    options: ConnectOptions | None = None,
    speed: float | None = None,
    **keywords: Any,
) -> SyncDevice:
    """Connect now and return a :class:`SyncDevice` (use it in a ``with`` block).

    Takes the options of :func:`massager_sdk.connect` (``options=`` and keyword
    arguments alike). ``install_signal_handlers`` here makes SIGTERM raise
    ``SystemExit`` in the main thread (the event loop runs in another thread,
    where signals cannot be handled). ``speed`` runs the background loop's
    clock that many times faster than real time, for the in-process simulator
    (``sim://``). A device served by ``massager simulate --speed X`` says its
    speed in its URL (``tcp://HOST:PORT?speed=X``, ``serial:///dev/pts/N?speed=X``):
    the background loop then runs at that speed by itself, as the device's
    watchdog needs, and replies get a timeout of real-time length (as the CLI
    does); a ``speed`` that contradicts the URL's raises ``ValueError``.
    """
    served = speed_of(url)
    if speed is not None and served is not None and speed != served:
        raise ValueError(
            f"speed={speed:g} contradicts the device URL, whose simulator runs at {served:g}x: "
            "leave speed out (the URL's speed is used)"
        )
    if speed is None:
        speed = served
    settled, transport_options = ConnectOptions.split(options, keywords)
    on_loop = settled.replace(install_signal_handlers=False)
    timeout = reply_timeout(served)
    chosen = "timeout" in keywords or settled.timeout != ConnectOptions().timeout
    if timeout is not None and not chosen:
        on_loop = on_loop.replace(timeout=timeout)
    if speed is None or speed == 1:
        loop = asyncio.new_event_loop()
    else:
        from massager_simulator.clock import loop_factory

        loop = loop_factory(speed)()
    runner = _LoopThread(loop)

    async def open_device() -> Device:
        return await async_connect(url, options=on_loop, **transport_options).open()

    try:
        device = runner.call(open_device())
    except BaseException:
        runner.stop()
        raise
    sync_device = SyncDevice(device, runner)
    if settled.install_signal_handlers:
        sync_device._install_sigterm()
    return sync_device


__all__ = ["SyncDevice", "connect"]
