//! Keys as QEMU names them: a boot command's characters and special keys mapped to QEMU
//! `QKeyCode`s (qapi/ui.json), for a US keyboard layout.
//!
//! A character is a key plus, for `A` or `!` or `:`, the shift key. Characters with no key on a US
//! keyboard (anything outside printable ASCII) have no [`Stroke`]; the boot command parser turns
//! them into an error naming the character and where it is.

/// A key a boot command can press: one of Packer's named special keys, or the key that types a
/// character (`<aOn>` holds the `a` key; `<AOn>` holds shift and `a`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Backspace,
    Delete,
    /// `<enter>` and `<return>`.
    Enter,
    Escape,
    Tab,
    F1,
    F2,
    F3,
    F4,
    F5,
    F6,
    F7,
    F8,
    F9,
    F10,
    F11,
    F12,
    Up,
    Down,
    Left,
    Right,
    /// `<spacebar>`.
    Space,
    Insert,
    Home,
    End,
    PageUp,
    PageDown,
    LeftAlt,
    LeftCtrl,
    LeftShift,
    RightAlt,
    RightCtrl,
    RightShift,
    LeftSuper,
    RightSuper,
    /// The key (and shift, if it needs it) that types this character.
    Char(char),
}

/// Packer's special key names (`<name>`, matched case-insensitively) in the order its PEG grammar
/// tries them: where one name is a prefix of another (`f1`, `f10`; `left`, `leftAlt`), the longer
/// comes first [packer-plugin-sdk bootcommand/boot_command.pigeon, `SpecialKey`].
pub const SPECIAL_KEY_NAMES: &[(&str, Key)] = &[
    ("bs", Key::Backspace),
    ("del", Key::Delete),
    ("enter", Key::Enter),
    ("esc", Key::Escape),
    ("f10", Key::F10),
    ("f11", Key::F11),
    ("f12", Key::F12),
    ("f1", Key::F1),
    ("f2", Key::F2),
    ("f3", Key::F3),
    ("f4", Key::F4),
    ("f5", Key::F5),
    ("f6", Key::F6),
    ("f7", Key::F7),
    ("f8", Key::F8),
    ("f9", Key::F9),
    ("return", Key::Enter),
    ("tab", Key::Tab),
    ("up", Key::Up),
    ("down", Key::Down),
    ("spacebar", Key::Space),
    ("insert", Key::Insert),
    ("home", Key::Home),
    ("end", Key::End),
    ("pageUp", Key::PageUp),
    ("pageDown", Key::PageDown),
    ("leftAlt", Key::LeftAlt),
    ("leftCtrl", Key::LeftCtrl),
    ("leftShift", Key::LeftShift),
    ("rightAlt", Key::RightAlt),
    ("rightCtrl", Key::RightCtrl),
    ("rightShift", Key::RightShift),
    ("leftSuper", Key::LeftSuper),
    ("rightSuper", Key::RightSuper),
    ("left", Key::Left),
    ("right", Key::Right),
];

/// The QEMU key code name of the shift key a shifted character is typed with.
pub const SHIFT: &str = "shift";

/// How to type one key: its QEMU key code and whether shift must be held around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stroke {
    pub qcode: &'static str,
    pub shift: bool,
}

impl Key {
    /// How this key is typed, or `None` for a character with no key on a US keyboard.
    pub fn stroke(self) -> Option<Stroke> {
        let named = |qcode| {
            Some(Stroke {
                qcode,
                shift: false,
            })
        };
        match self {
            Key::Backspace => named("backspace"),
            Key::Delete => named("delete"),
            Key::Enter => named("ret"),
            Key::Escape => named("esc"),
            Key::Tab => named("tab"),
            Key::F1 => named("f1"),
            Key::F2 => named("f2"),
            Key::F3 => named("f3"),
            Key::F4 => named("f4"),
            Key::F5 => named("f5"),
            Key::F6 => named("f6"),
            Key::F7 => named("f7"),
            Key::F8 => named("f8"),
            Key::F9 => named("f9"),
            Key::F10 => named("f10"),
            Key::F11 => named("f11"),
            Key::F12 => named("f12"),
            Key::Up => named("up"),
            Key::Down => named("down"),
            Key::Left => named("left"),
            Key::Right => named("right"),
            Key::Space => named("spc"),
            Key::Insert => named("insert"),
            Key::Home => named("home"),
            Key::End => named("end"),
            Key::PageUp => named("pgup"),
            Key::PageDown => named("pgdn"),
            Key::LeftAlt => named("alt"),
            Key::LeftCtrl => named("ctrl"),
            Key::LeftShift => named("shift"),
            Key::RightAlt => named("alt_r"),
            Key::RightCtrl => named("ctrl_r"),
            Key::RightShift => named("shift_r"),
            Key::LeftSuper => named("meta_l"),
            Key::RightSuper => named("meta_r"),
            Key::Char(c) => char_stroke(c),
        }
    }
}

/// How a character is typed on a US keyboard, or `None` when no key types it (non-ASCII, control
/// characters: a newline in a boot command is `<enter>`, not a character).
pub fn char_stroke(c: char) -> Option<Stroke> {
    let plain = |qcode| {
        Some(Stroke {
            qcode,
            shift: false,
        })
    };
    let shifted = |qcode| Some(Stroke { qcode, shift: true });
    match c {
        'a'..='z' => plain(LETTERS[usize::from(c as u8 - b'a')]),
        'A'..='Z' => shifted(LETTERS[usize::from(c as u8 - b'A')]),
        '0'..='9' => plain(DIGITS[usize::from(c as u8 - b'0')]),
        ' ' => plain("spc"),
        '-' => plain("minus"),
        '_' => shifted("minus"),
        '=' => plain("equal"),
        '+' => shifted("equal"),
        '[' => plain("bracket_left"),
        '{' => shifted("bracket_left"),
        ']' => plain("bracket_right"),
        '}' => shifted("bracket_right"),
        '\\' => plain("backslash"),
        '|' => shifted("backslash"),
        ';' => plain("semicolon"),
        ':' => shifted("semicolon"),
        '\'' => plain("apostrophe"),
        '"' => shifted("apostrophe"),
        '`' => plain("grave_accent"),
        '~' => shifted("grave_accent"),
        ',' => plain("comma"),
        '<' => shifted("comma"),
        '.' => plain("dot"),
        '>' => shifted("dot"),
        '/' => plain("slash"),
        '?' => shifted("slash"),
        '!' => shifted("1"),
        '@' => shifted("2"),
        '#' => shifted("3"),
        '$' => shifted("4"),
        '%' => shifted("5"),
        '^' => shifted("6"),
        '&' => shifted("7"),
        '*' => shifted("8"),
        '(' => shifted("9"),
        ')' => shifted("0"),
        _ => None,
    }
}

const LETTERS: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "w", "x", "y", "z",
];
const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Bytes one key event puts in the guest's PS/2 keyboard queue: QEMU's scan code set 2,
/// translated to set 1 by the i8042 as BIOSes and Linux leave it, is one byte per make or break,
/// plus an `0xe0` prefix for the extended keys (arrows, the right-hand modifiers, the
/// insert/delete/home/end/page block, the super keys).
pub fn queue_bytes(qcode: &str) -> usize {
    match qcode {
        "ctrl_r" | "alt_r" | "meta_l" | "meta_r" | "insert" | "delete" | "home" | "end"
        | "pgup" | "pgdn" | "up" | "down" | "left" | "right" | "menu" | "kp_divide"
        | "kp_enter" => 2,
        _ => 1,
    }
}

/// A character as an error message names it: `'é' (U+00E9)`, `'\n' (U+000A)`.
pub fn describe_char(c: char) -> String {
    format!("{c:?} (U+{:04X})", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printable_ascii_character_has_a_key() {
        for byte in 0x20u8..0x7f {
            let c = char::from(byte);
            assert!(char_stroke(c).is_some(), "{c:?}");
        }
    }

    #[test]
    fn characters_map_to_qcodes_and_shift() {
        let cases: &[(char, &str, bool)] = &[
            ('a', "a", false),
            ('z', "z", false),
            ('A', "a", true),
            ('Q', "q", true),
            ('0', "0", false),
            ('9', "9", false),
            ('!', "1", true),
            ('@', "2", true),
            ('#', "3", true),
            ('$', "4", true),
            ('%', "5", true),
            ('^', "6", true),
            ('&', "7", true),
            ('*', "8", true),
            ('(', "9", true),
            (')', "0", true),
            (' ', "spc", false),
            ('-', "minus", false),
            ('_', "minus", true),
            ('=', "equal", false),
            ('+', "equal", true),
            ('[', "bracket_left", false),
            ('{', "bracket_left", true),
            (']', "bracket_right", false),
            ('}', "bracket_right", true),
            ('\\', "backslash", false),
            ('|', "backslash", true),
            (';', "semicolon", false),
            (':', "semicolon", true),
            ('\'', "apostrophe", false),
            ('"', "apostrophe", true),
            ('`', "grave_accent", false),
            ('~', "grave_accent", true),
            (',', "comma", false),
            ('<', "comma", true),
            ('.', "dot", false),
            ('>', "dot", true),
            ('/', "slash", false),
            ('?', "slash", true),
        ];
        for &(c, qcode, shift) in cases {
            assert_eq!(char_stroke(c), Some(Stroke { qcode, shift }), "{c:?}");
        }
    }

    #[test]
    fn characters_without_a_key() {
        for c in ['é', '界', '\n', '\t', '\r', '\u{7f}', '\0'] {
            assert_eq!(char_stroke(c), None, "{c:?}");
        }
        assert_eq!(describe_char('é'), "'é' (U+00E9)");
        assert_eq!(describe_char('\n'), "'\\n' (U+000A)");
    }

    #[test]
    fn special_keys_map_to_qcodes() {
        let cases: &[(Key, &str)] = &[
            (Key::Backspace, "backspace"),
            (Key::Delete, "delete"),
            (Key::Enter, "ret"),
            (Key::Escape, "esc"),
            (Key::Tab, "tab"),
            (Key::F1, "f1"),
            (Key::F12, "f12"),
            (Key::Space, "spc"),
            (Key::PageUp, "pgup"),
            (Key::PageDown, "pgdn"),
            (Key::LeftAlt, "alt"),
            (Key::RightAlt, "alt_r"),
            (Key::LeftCtrl, "ctrl"),
            (Key::RightCtrl, "ctrl_r"),
            (Key::LeftShift, "shift"),
            (Key::RightShift, "shift_r"),
            (Key::LeftSuper, "meta_l"),
            (Key::RightSuper, "meta_r"),
            (Key::Char('c'), "c"),
        ];
        for &(key, qcode) in cases {
            assert_eq!(key.stroke().map(|s| s.qcode), Some(qcode), "{key:?}");
        }
        assert_eq!(Key::Char('é').stroke(), None);
    }

    #[test]
    fn every_special_name_has_a_key_and_longer_prefixes_come_first() {
        for (i, (name, key)) in SPECIAL_KEY_NAMES.iter().enumerate() {
            assert!(key.stroke().is_some(), "{name}");
            for (later, _) in &SPECIAL_KEY_NAMES[i + 1..] {
                assert!(
                    !(later.len() > name.len()
                        && later
                            .to_ascii_lowercase()
                            .starts_with(&name.to_ascii_lowercase())),
                    "{later} must come before {name}"
                );
            }
        }
    }

    #[test]
    fn extended_keys_cost_two_queue_bytes() {
        assert_eq!(queue_bytes("a"), 1);
        assert_eq!(queue_bytes("shift"), 1);
        assert_eq!(queue_bytes("up"), 2);
        assert_eq!(queue_bytes("ctrl_r"), 2);
    }
}
