"""Keys for a Wayland virtual keyboard: keysyms for pyautogui's key names and for any character,
and the XKB keymap that gives each keysym a keycode.

    keymap = Keymap()
    codes = keymap.codes(["ctrl", "c"])      # evdev key codes; keymap.changed says re-upload
    text = keymap.text()                     # the XKB_V1 keymap to upload

A virtual keyboard brings its own keymap, so no layout limits what it types: every keysym the
agent needs gets a keycode of its own (as wtype does), é, 東 and 😀 included, with no clipboard.
The modifiers sit at fixed keycodes, mapped to the real modifiers a client reads (Shift,
Control, Mod1 = Alt, Mod4 = Super), so a hotkey is its modifiers held while a key is pressed.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.errors import ActionError

__all__ = ["MODIFIERS", "Keymap", "keysym_of", "typable_as_keysym"]

# name → (keysym, real modifier mask) of the modifiers, at keycodes 9.. in this order
MODIFIERS: dict[str, tuple[int, int]] = {
    "Shift_L": (0xFFE1, 1),
    "Control_L": (0xFFE3, 4),
    "Alt_L": (0xFFE9, 8),
    "Super_L": (0xFFEB, 64),
    "Shift_R": (0xFFE2, 1),
    "Control_R": (0xFFE4, 4),
    "Alt_R": (0xFFEA, 8),
    "Super_R": (0xFFEC, 64),
}
MODIFIER_NAMES = {1: "Shift", 4: "Control", 8: "Mod1", 64: "Mod4"}
FIRST_KEYCODE = 9 + len(MODIFIERS)  # XKB keycodes are evdev codes + 8; 8 is the minimum
MAX_KEYCODE = 255  # what clients' XKB state accepts

# pyautogui's key names (lower case) → X keysyms
NAMED_KEYS: dict[str, int] = {
    **{name: MODIFIERS["Shift_L"][0] for name in ("shift", "shiftleft")},
    "shiftright": MODIFIERS["Shift_R"][0],
    **{name: MODIFIERS["Control_L"][0] for name in ("ctrl", "ctrlleft", "control")},
    "ctrlright": MODIFIERS["Control_R"][0],
    **{name: MODIFIERS["Alt_L"][0] for name in ("alt", "altleft", "option", "optionleft")},
    **{name: MODIFIERS["Alt_R"][0] for name in ("altright", "optionright")},
    **{name: MODIFIERS["Super_L"][0] for name in ("win", "winleft", "super", "command", "cmd")},
    "winright": MODIFIERS["Super_R"][0],
    **{name: 0xFF0D for name in ("enter", "return", "\n", "\r")},
    **{name: 0xFF09 for name in ("tab", "\t")},
    "space": 0x20,
    "backspace": 0xFF08,
    **{name: 0xFFFF for name in ("delete", "del")},
    **{name: 0xFF1B for name in ("esc", "escape")},
    "insert": 0xFF63,
    "home": 0xFF50,
    "end": 0xFF57,
    **{name: 0xFF55 for name in ("pageup", "pgup", "prior")},
    **{name: 0xFF56 for name in ("pagedown", "pgdn", "next")},
    "left": 0xFF51,
    "up": 0xFF52,
    "right": 0xFF53,
    "down": 0xFF54,
    "capslock": 0xFFE5,
    "numlock": 0xFF7F,
    "scrolllock": 0xFF14,
    **{name: 0xFF61 for name in ("printscreen", "prtsc", "prtscr", "print", "prntscrn")},
    "pause": 0xFF13,
    **{name: 0xFF67 for name in ("apps", "menu")},
    **{f"f{n}": 0xFFBE + n - 1 for n in range(1, 25)},
    "volumemute": 0x1008FF12,
    "volumedown": 0x1008FF11,
    "volumeup": 0x1008FF13,
    "playpause": 0x1008FF14,
    "nexttrack": 0x1008FF17,
    "prevtrack": 0x1008FF16,
    "stop": 0x1008FF15,
    "browserback": 0x1008FF26,
    "browserforward": 0x1008FF27,
    "browserrefresh": 0x1008FF29,
}


def keysym_of(key: str) -> int:
    """The keysym of a pyautogui key name or of one character (any Unicode character)."""
    if len(key) == 1 and key not in NAMED_KEYS:
        return _character_keysym(key)
    try:
        return NAMED_KEYS[key.lower()]
    except KeyError:
        raise ActionError(f"no key named {key!r}") from None


def typable_as_keysym(key: str) -> bool:
    """Whether a desktop that types keysyms through its own layout (GNOME's Mutter, the
    portal) types `key`: printable ASCII and named keys, the US layout's keysyms. Mutter finds
    no keycode for é, 東 or 😀 and drops them silently, so those are pasted instead."""
    if len(key) == 1 and not (key.isascii() and (key.isprintable() or key in "\n\t")):
        return False
    try:
        keysym_of(key)
    except ActionError:  # not a key at all
        return False
    return True


def _character_keysym(character: str) -> int:
    """Latin-1 characters are their own keysyms; the rest of Unicode is 0x01000000 + code."""
    code = ord(character)
    if code == 0x0A or code == 0x0D:
        return 0xFF0D
    if code == 0x09:
        return 0xFF09
    if code < 0x20 or 0x7F <= code < 0xA0:
        raise ActionError(f"the control character {character!r} is not a key")
    return code if code <= 0xFF else 0x01000000 + code


class Keymap:
    """Keycodes for the keysyms asked so far; `changed` tells that the keymap must be sent."""

    def __init__(self) -> None:
        self._codes: dict[int, int] = {}
        self._reset()

    def _reset(self) -> None:
        self._codes = {keysym: 9 + i for i, (keysym, _) in enumerate(MODIFIERS.values())}
        self.changed = True

    def codes(self, keys: Iterable[str]) -> list[int]:
        """The evdev key codes (XKB keycode − 8) of pyautogui key names or characters,
        adding keycodes for new keysyms; when the keymap is full it starts afresh."""
        keysyms = [keysym_of(key) for key in keys]
        new = [k for k in dict.fromkeys(keysyms) if k not in self._codes]
        if new and FIRST_KEYCODE + self._extra() + len(new) > MAX_KEYCODE + 1:
            self._reset()  # a fresh map holds these at least
            new = [k for k in dict.fromkeys(keysyms) if k not in self._codes]
            if FIRST_KEYCODE + len(new) > MAX_KEYCODE + 1:
                raise ActionError("too many different keys in one action")
        for keysym in new:
            self._codes[keysym] = FIRST_KEYCODE + self._extra()
            self.changed = True
        return [self._codes[k] - 8 for k in keysyms]

    def modifier_mask(self, key: str) -> int:
        """The real modifier a key sets (0 for an ordinary key)."""
        keysym = keysym_of(key)
        return next((mask for sym, mask in MODIFIERS.values() if sym == keysym), 0)

    def text(self) -> str:
        """The keymap in the XKB text format, as a virtual keyboard uploads it."""
        self.changed = False
        top = max(self._codes.values())
        keycodes = "".join(f"    <K{code}> = {code};\n" for code in sorted(self._codes.values()))
        symbols = "".join(
            f"    key <K{code}> {{ [ 0x{keysym:08x} ] }};\n" for keysym, code in self._codes.items()
        )
        modifiers = "".join(
            f"    modifier_map {MODIFIER_NAMES[mask]} {{ <K{self._codes[keysym]}> }};\n"
            for keysym, mask in MODIFIERS.values()
        )
        return (
            "xkb_keymap {\n"
            f'  xkb_keycodes "agent" {{\n    minimum = 8;\n    maximum = {max(top, 9)};\n'
            f"{keycodes}  }};\n"
            '  xkb_types "agent" { include "complete" };\n'
            '  xkb_compat "agent" { include "complete" };\n'
            f'  xkb_symbols "agent" {{\n{symbols}{modifiers}  }};\n'
            "};\n"
        )

    def _extra(self) -> int:
        return len(self._codes) - len(MODIFIERS)
