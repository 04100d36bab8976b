"""BLE scanning with bleak, and the conversion of bleak's objects into protocol advertisements.

``heard_from_bleak(device, adv)`` takes exactly what bleak hands a detection callback
(``BLEDevice``, ``AdvertisementData``: manufacturer data ``dict[int, bytes]``, service data keyed by
the full 128-bit UUID) and returns a :class:`~sensors.gateway.batcher.Heard`, or None for what the
protocol cannot carry (a macOS device UUID instead of a MAC, oversized data).

Scanning mode. Passive scanning never sends scan requests: it is quieter on air, saves the tags'
batteries and is all a beacon gateway needs (tags put everything into the advertisement itself). On
Linux, bleak can scan passively only through BlueZ advertisement monitors, which need ``or_patterns``;
``or_patterns_for(config)`` derives them from the configured filters (company ids, service UUIDs,
iBeacon UUIDs) or, with no filters, matches the AD flags every advertiser of interest sends. macOS
cannot scan passively. ``mode="auto"`` tries passive and falls back to active with a log line (BlueZ
before 5.56, or bluetoothd without ``--experimental``, has no advertisement monitors).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Callable
from typing import Any

from sensors.protocol import MAX_DATA_BYTES, MAX_MAP_ENTRIES, RSSI_MAX, RSSI_MIN, GatewayConfig

from .batcher import Heard

log = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdefABCDEF")

# GAP advertising data types (bleak.assigned_numbers.AdvertisementDataType), as plain ints so this
# module imports without bleak (the agent can run with scanning off).
AD_FLAGS = 0x01
AD_SERVICE_DATA_UUID16 = 0x16
AD_MANUFACTURER_DATA = 0xFF
APPLE, IBEACON_PREFIX = 0x004C, b"\x02\x15"
EDDYSTONE = 0xFEAA


def _is_mac(address: object) -> bool:
    return (
        isinstance(address, str)
        and len(address) == 17
        and address[2::3] == ":::::"
        and set(address.replace(":", "")) <= _HEX
    )


def heard_from_bleak(device: Any, adv: Any, mono: float | None = None) -> Heard | None:
    """(bleak BLEDevice, bleak AdvertisementData) -> Heard, or None if the protocol cannot carry it."""
    address = device.address
    if not _is_mac(address):
        return None
    rssi = adv.rssi
    if not isinstance(rssi, int):
        return None
    rssi = min(max(rssi, RSSI_MIN), RSSI_MAX)
    mfr = adv.manufacturer_data or {}
    svc = adv.service_data or {}
    if len(mfr) > MAX_MAP_ENTRIES or len(svc) > MAX_MAP_ENTRIES:
        return None
    manufacturer_data: dict[int, bytes] = {}
    for cid, data in mfr.items():
        if not isinstance(cid, int) or not 0 <= cid <= 0xFFFF or len(data) > MAX_DATA_BYTES:
            return None
        manufacturer_data[cid] = bytes(data)
    service_data: dict[str, bytes] = {}
    for uuid, data in svc.items():
        if not isinstance(uuid, str) or len(data) > MAX_DATA_BYTES:
            return None
        service_data[uuid.lower()] = bytes(data)
    return Heard(
        time.monotonic() if mono is None else mono, address.upper(), rssi, manufacturer_data, service_data
    )


def or_patterns_for(config: GatewayConfig) -> list[tuple[int, int, bytes]]:
    """BlueZ advertisement-monitor patterns (start, AD type, content) that let through at least what
    ``config.accepts`` may accept; the agent still applies ``accepts`` to every advertisement."""
    if config.macs or not (
        config.company_ids or config.service_uuids or config.ibeacon_uuids or config.eddystone_namespaces
    ):
        # Everything (or addresses, which patterns cannot match): every value of the AD flags byte.
        return [(0, AD_FLAGS, bytes([v])) for v in range(0x20)]
    patterns: set[tuple[int, int, bytes]] = set()
    for cid in config.company_ids:
        patterns.add((0, AD_MANUFACTURER_DATA, cid.to_bytes(2, "little")))
    for uuid in config.ibeacon_uuids:
        patterns.add(
            (0, AD_MANUFACTURER_DATA, APPLE.to_bytes(2, "little") + IBEACON_PREFIX + bytes.fromhex(uuid))
        )
    for u16 in config.service_uuids:
        patterns.add((0, AD_SERVICE_DATA_UUID16, u16.to_bytes(2, "little")))
    if config.eddystone_namespaces:
        patterns.add((0, AD_SERVICE_DATA_UUID16, EDDYSTONE.to_bytes(2, "little") + b"\x00"))  # UID frames
    return sorted(patterns)


def _bleak_major() -> int:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("bleak").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 3


def _explain(e: Exception) -> str:
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, FileNotFoundError | ConnectionRefusedError):
        text += " (no D-Bus system bus: is bluetoothd running?)"
    elif isinstance(e, PermissionError) or "AccessDenied" in text or "NotPermitted" in text:
        text += " (no permission: run as a member of the bluetooth group)"
    elif "AdvertisementMonitor" in text or "or_patterns" in text:
        text += " (passive scanning needs BlueZ >= 5.56 with bluetoothd --experimental)"
    return text


class ScannerUnavailable(RuntimeError):
    """No scanning mode could be started (no adapter, bluetoothd not running, no permission)."""


class Scanner:
    """A bleak scanner with mode fallback and pattern updates. ``state`` is what the status reports:
    "passive", "active", "off", "stopped" or "error"."""

    def __init__(
        self,
        callback: Callable[[Any, Any], None],
        *,
        mode: str = "auto",
        adapter: str | None = None,
        backend: type | None = None,
        system: str | None = None,
    ):
        self.callback = callback
        self.mode = mode
        self.adapter = adapter
        self.backend = backend  # a bleak BaseBleakScanner subclass; None: the platform's own
        self.system = system or platform.system()
        self.state = "off" if mode == "off" else "stopped"
        self.error: str | None = None
        self.last_heard = time.monotonic()
        self._scanner: Any = None
        self._patterns: list[tuple[int, int, bytes]] | None = None

    def _on_detection(self, device: Any, adv: Any) -> None:
        self.last_heard = time.monotonic()
        self.callback(device, adv)

    def _modes(self) -> list[str]:
        if self.mode == "auto":
            return ["active"] if self.system == "Darwin" else ["passive", "active"]
        return [self.mode]

    def _make(self, mode: str, config: GatewayConfig) -> Any:
        from bleak import BleakScanner

        bluez: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        if self.adapter:
            if _bleak_major() >= 3:
                bluez["adapter"] = self.adapter
            else:  # bleak < 3 took the adapter as a keyword of its own
                kwargs["adapter"] = self.adapter
        patterns = None
        if mode == "passive" and self.system == "Linux":
            patterns = or_patterns_for(config)
            bluez["or_patterns"] = patterns
        if self.backend is not None:
            kwargs["backend"] = self.backend
        scanner = BleakScanner(self._on_detection, scanning_mode=mode, bluez=bluez, **kwargs)
        return scanner, patterns

    async def start(self, config: GatewayConfig) -> str:
        """Start scanning; returns the mode in use. Raises ScannerUnavailable if no mode works."""
        if self.mode == "off":
            self.state = "off"
            return self.state
        errors = []
        for mode in self._modes():
            try:
                scanner, patterns = self._make(mode, config)
                await scanner.start()
            except Exception as e:  # bleak raises BleakError, dbus errors, OSError (no system bus)...
                errors.append(f"{mode}: {_explain(e)}")
                if mode == "passive" and self.mode == "auto":
                    log.warning(
                        "passive scanning unavailable (%s); falling back to active scanning", _explain(e)
                    )
                continue
            self._scanner, self._patterns, self.state, self.error = scanner, patterns, mode, None
            self.last_heard = time.monotonic()
            log.info("scanning started (%s%s)", mode, f", adapter {self.adapter}" if self.adapter else "")
            return mode
        self.state, self.error = "error", "; ".join(errors)
        raise ScannerUnavailable(self.error)

    async def stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            try:
                await scanner.stop()
            except Exception as e:
                log.warning("stopping the scanner failed: %s", e)
        if self.state in ("passive", "active"):
            self.state = "stopped"

    @property
    def running(self) -> bool:
        return self._scanner is not None

    async def reconfigure(self, config: GatewayConfig) -> None:
        """Passive scanning filters in the controller: restart it when the patterns change."""
        if (
            self.state == "passive"
            and self._patterns is not None
            and or_patterns_for(config) != self._patterns
        ):
            log.info("filters changed: restarting passive scanning with new patterns")
            await self.stop()
            await self.start(config)

    async def restart(self, config: GatewayConfig) -> None:
        await self.stop()
        await asyncio.sleep(0.5)
        await self.start(config)
