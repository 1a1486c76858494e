"""The Wayland pieces that need no compositor: keysyms, the keymap, the wire codec, detection.

The same pieces drive a real sway in tests/test_wayland_wlroots.py; these pin their rules.
"""

from __future__ import annotations

import re
import socket
import struct

import pytest

from agent import preflight
from agent.capture import CaptureConfig
from agent.desktop import DesktopError, detect_desktop, open_desktop
from agent.errors import ActionError
from agent.wayland.cursor_corners import corner_at
from agent.wayland.keymap import FIRST_KEYCODE, MAX_KEYCODE, MODIFIERS, Keymap, keysym_of
from agent.wayland.portal import SCREEN_CAST, PortalRefused, TokenStore, outputs_of
from agent.wayland.protocols import INTERFACES
from agent.wayland.wire import Connection, WaylandError, _decode, _encode, socket_path
from agent.wayland.wlroots import Output


@pytest.mark.parametrize(
    ("key", "keysym"),
    [
        ("a", 0x61),
        ("A", 0x41),
        ("é", 0xE9),  # Latin-1: its own keysym
        ("東", 0x01000000 + 0x6771),  # the rest of Unicode: 0x01000000 + code point
        ("😀", 0x01000000 + 0x1F600),
        ("\n", 0xFF0D),  # Return
        ("\t", 0xFF09),
        ("enter", 0xFF0D),
        ("Ctrl", 0xFFE3),  # pyautogui's names, any case
        ("pagedown", 0xFF56),
        ("f12", 0xFFC9),
        ("win", 0xFFEB),
    ],
)
def test_keysyms_of_names_and_characters(key, keysym):
    assert keysym_of(key) == keysym


@pytest.mark.parametrize("key", ["\x07", "\x7f", "nosuchkey"])
def test_what_is_no_key_is_an_action_error(key):
    with pytest.raises(ActionError):
        keysym_of(key)


def test_the_keymap_gives_each_keysym_one_code_and_maps_the_modifiers():
    keymap = Keymap()
    codes = keymap.codes(["ctrl", "c", "東", "c"])
    assert codes[1] == codes[3] and len(set(codes)) == 3
    assert codes[0] == 9 + 1 - 8  # Control_L's fixed keycode (10), as an evdev code
    text = keymap.text()
    assert not keymap.changed  # sent: unchanged until a new keysym needs a code
    assert keymap.codes(["c"]) == [codes[1]] and not keymap.changed
    keymap.codes(["😀"])
    assert keymap.changed
    assert f"key <K{codes[2] + 8}> {{ [ 0x01006771 ] }};" in text
    assert "modifier_map Control { <K10> };" in text and "modifier_map Mod4 { <K12> };" in text
    declared = {int(n) for n in re.findall(r"<K\d+> = (\d+);", text)}
    used = {int(n) for n in re.findall(r"key <K(\d+)>", text)}
    assert used == declared and max(declared) <= MAX_KEYCODE
    assert keymap.modifier_mask("shift") == 1 and keymap.modifier_mask("c") == 0


def test_a_full_keymap_starts_afresh_with_what_is_asked():
    keymap = Keymap()
    room = MAX_KEYCODE + 1 - FIRST_KEYCODE
    keymap.codes([chr(0x4E00 + i) for i in range(room)])  # every free keycode taken
    text = keymap.text()
    assert text.count("key <K") == room + len(MODIFIERS)
    codes = keymap.codes(["x", "y"])  # no room: a fresh map holds the new keys
    assert keymap.changed and codes == [FIRST_KEYCODE - 8, FIRST_KEYCODE + 1 - 8]
    with pytest.raises(ActionError, match="too many different keys"):
        keymap.codes([chr(0x5E00 + i) for i in range(room + 1)])


@pytest.mark.parametrize(
    ("kind", "value", "encoded"),
    [
        ("u", 7, struct.pack("=I", 7)),
        ("i", -2, struct.pack("=i", -2)),
        ("f", 1.5, struct.pack("=i", 384)),  # wl_fixed: 24.8
        ("s", "wl_seat", struct.pack("=I", 8) + b"wl_seat\0"),
        ("s", "abc", struct.pack("=I", 4) + b"abc\0"),
        ("s", "abcd", struct.pack("=I", 5) + b"abcd\0\0\0\0"),  # padded to 32 bits
    ],
)
def test_arguments_are_encoded_as_the_wire_format_says(kind, value, encoded):
    assert _encode(kind, value) == encoded
    assert _decode(kind, encoded, 0) == (value, len(encoded))


def test_every_new_object_names_a_known_interface():
    for interface, directions in INTERFACES.items():
        for message in directions["requests"]:
            for kind, created in message.arguments:
                if kind == "n" and created is not None:
                    assert created in INTERFACES, (interface, message.name, created)


def test_the_socket_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert socket_path("wayland-1") == str(tmp_path / "wayland-1")
    assert socket_path("/run/elsewhere/w-0") == "/run/elsewhere/w-0"
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert socket_path() == str(tmp_path / "wayland-0")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with pytest.raises(WaylandError, match="XDG_RUNTIME_DIR is not set"):
        socket_path("wayland-1")


def test_a_protocol_error_from_the_compositor_is_raised_with_its_text():
    ours, theirs = socket.socketpair()
    connection = Connection(ours)
    text = b"invalid object 7\0"
    body = struct.pack("=III", 1, 3, len(text)) + text + b"\0" * (-len(text) % 4)
    theirs.sendall(struct.pack("=II", 1, ((len(body) + 8) << 16) | 0) + body)
    with pytest.raises(WaylandError, match=r"wl_display@1 \(error 3\): invalid object 7"):
        connection.roundtrip(timeout=2)
    theirs.close()
    connection.close()


def test_detection_reads_the_session(tmp_path):
    assert detect_desktop({}) == "x11"
    assert detect_desktop({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}) == "x11"
    unreachable = {"WAYLAND_DISPLAY": str(tmp_path / "gone"), "XDG_RUNTIME_DIR": str(tmp_path)}
    assert detect_desktop(unreachable | {"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}) == "gnome"
    assert detect_desktop(unreachable | {"XDG_CURRENT_DESKTOP": "KDE"}) == "portal"


def test_an_unknown_route_is_refused_with_the_known_ones():
    with pytest.raises(DesktopError, match="unknown desktop 'mir'; known: x11, wlroots, gnome"):
        open_desktop("mir", CaptureConfig())


def test_portal_tokens_are_kept_per_kind_private_and_forgotten_on_demand(tmp_path):
    store = TokenStore(tmp_path / "state" / "portal-tokens.json")
    assert store.get("screen-cast") is None  # nothing stored yet
    store.put("screen-cast", "a")
    store.put("remote-desktop", "b")
    store.put("screen-cast", "c")  # each start returns the next token
    assert (store.get("screen-cast"), store.get("remote-desktop")) == ("c", "b")
    assert store.path.stat().st_mode & 0o777 == 0o600
    store.put("screen-cast", None)
    assert store.get("screen-cast") is None and store.get("remote-desktop") == "b"
    store.path.write_text("{not json")  # a damaged file is no token, not a crash
    assert store.get("remote-desktop") is None
    store.put("remote-desktop", "d")
    assert store.get("remote-desktop") == "d"


def test_portal_streams_are_monitors_in_the_layout_and_none_is_a_refusal():
    streams = [
        (44, {"position": ("(ii)", (1920, 0)), "size": ("(ii)", (1280, 1024))}),
        (37, {"size": ("(ii)", (1920, 1080))}),  # one monitor: the portal may omit position
    ]
    outputs, nodes = outputs_of({"streams": ("a(ua{sv})", streams)})
    assert [(o.x, o.y, o.width, o.height) for o in outputs] == [
        (1920, 0, 1280, 1024),
        (0, 0, 1920, 1080),
    ]
    assert nodes == {"portal-44": 44, "portal-37": 37}
    with pytest.raises(PortalRefused, match="shared no monitor"):
        outputs_of({"streams": ("a(ua{sv})", [])})
    with pytest.raises(WaylandError, match="without its size"):
        outputs_of({"streams": ("a(ua{sv})", [(5, {})])})


@pytest.mark.parametrize(
    ("offered", "drive", "expected"),
    [
        (None, True, "no desktop portal answers"),
        ({}, False, "offers no screen cast"),
        ({SCREEN_CAST: 4}, True, "offers no remote desktop"),
    ],
)
def test_portal_preflight_names_what_the_portal_lacks(monkeypatch, offered, drive, expected):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    monkeypatch.setattr(preflight, "portal_on_bus", lambda address: offered)
    assert expected in (preflight.portal_problem(drive=drive) or "")


def test_portal_preflight_needs_the_session_bus(monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in (preflight.portal_problem(drive=False) or "")


def test_the_corner_pixels_of_every_output_are_failsafe_points():
    outputs = [Output("A", 0, 0, 1920, 1080, 1.0), Output("B", 1920, 0, 1280, 1024, 1.0)]
    assert corner_at(outputs, (0.5, 0.5)) == "top left"
    assert corner_at(outputs, (1919.9, 1079.2)) == "bottom right"
    assert corner_at(outputs, (1920.0, 1023.5)) == "bottom left"  # the second output's
    assert corner_at(outputs, (3199.0, 0.0)) == "top right"
    assert corner_at(outputs, (1.0, 0.0)) is None  # one pixel off: not a corner
    assert corner_at(outputs, (960, 540)) is None
