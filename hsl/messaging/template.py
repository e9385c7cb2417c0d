"""Message templates for Telegram campaigns: placeholders, allowed HTML, rendering, length.

A text is Telegram HTML (``parse_mode=HTML``) with two placeholders, ``{first_name}`` and
``{username}``, each with an optional fallback (``{first_name|friend}``); ``{{`` and
``}}`` are literal braces. `parse` refuses, with one sentence, anything Telegram would
reject or show wrongly; `render` fills in one recipient's values as escaped text.

Length: Telegram limits a message to 4096 characters of the text *after* it has parsed
the entities (tags removed, ``&amp;`` and the like decoded), counted in UTF-16 code
units, so an emoji outside the Basic Multilingual Plane counts 2. `telegram_length`
measures exactly that; leading and trailing spaces are counted too, so it never
under-counts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hsl.errors import ValidationError

MAX_LENGTH = 4096
PLACEHOLDERS = ("first_name", "username")

# Tags Telegram accepts with parse_mode=HTML, and the attributes each may carry.
STYLE_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "span"}
)
ALLOWED_TAGS = STYLE_TAGS | {"a", "code", "pre", "blockquote"}
_ATTRIBUTES = {
    "a": ("href",),
    "span": ("class",),
    "code": ("class",),
    "blockquote": ("expandable",),
}
_TAG_LIST = (
    "b, strong, i, em, u, ins, s, strike, del, a, code, pre, tg-spoiler, "
    'span class="tg-spoiler" and blockquote'
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
_TAG = re.compile(r"""<(?:[^<>"']|"[^"]*"|'[^']*')*>""")
_PLAIN_RUN = re.compile(r"[^<>&{}]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNQUOTED_VALUE = re.compile(r"""[^\s"'<>=`]+""")
_SPACE = re.compile(r"\s*")
_LANGUAGE = re.compile(r"language-[A-Za-z0-9_+#.-]+")


@dataclass(frozen=True)
class Placeholder:
    """One ``{name}`` or ``{name|fallback}`` in a template; fallback is plain text, "" if none."""

    name: str
    fallback: str = ""


@dataclass(frozen=True)
class Template:
    """A checked message: the text as written and its parts (Telegram HTML or a placeholder)."""

    source: str
    parts: tuple[str | Placeholder, ...]


@dataclass
class _Open:
    """A tag opened and not yet closed while parsing."""

    name: str
    at: int
    has_content: bool = False
    code_closed: bool = False  # <pre> only: its one <code> block has ended


@dataclass
class _Parser:
    """One pass over the text: validates it and splits it into template parts."""

    text: str
    i: int = 0
    parts: list[str | Placeholder] = field(default_factory=list)
    chunk: list[str] = field(default_factory=list)
    visible: list[str | Placeholder] = field(default_factory=list)
    open: list[_Open] = field(default_factory=list)

    def run(self) -> Template:
        text = self.text
        while self.i < len(text):
            char = text[self.i]
            if char == "<":
                self._tag()
            elif char in "{}":
                self._brace()
            elif char == "&":
                decoded, end = self._entity(self.i)
                self._text(text[self.i : end], decoded)
                self.i = end
            elif char == ">":
                raise ValidationError(
                    f"The > {self._where(self.i)} is not part of a tag; write &gt; for a literal >."
                )
            else:
                run = _PLAIN_RUN.match(text, self.i)
                self._text(run.group(), run.group())
                self.i = run.end()
        if self.open:
            tag = self.open[-1]
            raise ValidationError(
                f"The tag <{tag.name}> {self._where(tag.at)} is never closed; add </{tag.name}>."
            )
        self._flush()
        self._check_visible_text()
        return Template(source=text, parts=tuple(self.parts))

    def _where(self, index: int) -> str:
        if "\n" not in self.text:
            return f"at character {index + 1}"
        line_start = self.text.rfind("\n", 0, index) + 1
        line = self.text.count("\n", 0, index) + 1
        return f"on line {line} at character {index - line_start + 1}"

    def _flush(self) -> None:
        if self.chunk:
            self.parts.append("".join(self.chunk))
            self.chunk = []

    def _content(self) -> None:
        """Note that the innermost open tag now holds something (text, a tag or a placeholder)."""
        if not self.open:
            return
        top = self.open[-1]
        if top.code_closed:
            raise ValidationError(
                f"The <pre> block {self._where(top.at)} holds a <code> block, so nothing else "
                f"may come before </pre> ({self._where(self.i)})."
            )
        top.has_content = True

    def _text(self, source: str, shown: str) -> None:
        self._content()
        self.chunk.append(source)
        self.visible.append(shown)

    # Braces and placeholders

    def _brace(self) -> None:
        char = self.text[self.i]
        if self.text.startswith(char * 2, self.i):
            self._text(char, char)
            self.i += 2
            return
        if char == "}":
            raise self._stray_brace(self.i)
        placeholder, end = self._placeholder(self.i)
        self._content()
        self._flush()
        self.parts.append(placeholder)
        self.visible.append(placeholder)
        self.i = end

    def _stray_brace(self, at: int) -> ValidationError:
        return ValidationError(
            f"The }} {self._where(at)} has no matching {{; write }}}} for a literal }}."
        )

    def _placeholder(self, start: int) -> tuple[Placeholder, int]:
        """The placeholder that starts at the ``{`` at *start*, and the index after it."""
        close = self.text.find("}", start + 1)
        body = self.text[start + 1 : close]
        name, _, fallback = body.partition("|")
        if close == -1 or "{" in name:
            raise ValidationError(
                f"The {{ {self._where(start)} is never closed; write {{{{ for a literal {{."
            )
        if not _IDENTIFIER.fullmatch(name):
            raise ValidationError(
                f"The {{ {self._where(start)} does not start a placeholder; use {{first_name}} "
                "or {username}, or write {{ for a literal {."
            )
        if name not in PLACEHOLDERS:
            raise ValidationError(
                f"The text uses the unknown placeholder {{{name}}} {self._where(start)}; "
                "use {first_name} or {username}."
            )
        if "{" in fallback or "|" in fallback:
            raise ValidationError(
                f"The fallback of {{{name}}} {self._where(start)} contains {{, }} or |; "
                "a fallback is plain text, like {first_name|friend}."
            )
        return Placeholder(name, fallback), close + 1

    def _brace_in_tag(self, at: int, tag: str) -> str:
        """The brace a ``{{`` or ``}}`` inside a tag stands for; anything else is refused."""
        char = self.text[at]
        if self.text.startswith(char * 2, at):
            return char
        if char == "}":
            raise self._stray_brace(at)
        placeholder, _ = self._placeholder(at)
        raise ValidationError(
            f"The placeholder {{{placeholder.name}}} {self._where(at)} is inside the tag <{tag}>; "
            "placeholders work only in the text, not inside tags or link addresses."
        )

    # Entities

    def _entity(self, at: int) -> tuple[str, int]:
        """The character the entity at *at* stands for, and the index after it."""
        match = _ENTITY.match(self.text, at)
        if match is None:
            raise ValidationError(
                f"The & {self._where(at)} does not start an entity; write &amp; for a literal &."
            )
        decoded = _decode_entity(match.group(1))
        if decoded is None:
            raise ValidationError(
                f"The text uses the entity {match.group()} {self._where(at)}, which Telegram does "
                "not know; use &lt;, &gt;, &amp;, &quot; or a numeric one like &#169;."
            )
        return decoded, match.end()

    # Tags

    def _tag(self) -> None:
        text, start = self.text, self.i
        closing = text.startswith("</", start)
        name_match = _NAME.match(text, start + 1 + closing)
        if name_match is None:
            if closing:
                raise ValidationError(
                    f"The closing tag {self._where(start)} has no tag name; "
                    "write &lt; for a literal <."
                )
            raise ValidationError(
                f"The < {self._where(start)} does not start a tag; write &lt; for a literal <."
            )
        name = name_match.group().lower()
        if name not in ALLOWED_TAGS:
            slash = "/" if closing else ""
            raise ValidationError(
                f"The tag <{slash}{name}> {self._where(start)} is not allowed by Telegram; "
                f"the allowed tags are {_TAG_LIST}."
            )
        if closing:
            end = _SPACE.match(text, name_match.end()).end()
            if not text.startswith(">", end):
                raise self._malformed(f"</{name}>", start)
            self._close(name, start)
        else:
            attributes, end = self._attributes(name, start, name_match.end())
            self._open_tag(name, attributes, start)
        self.chunk.append(text[start : end + 1].replace("{{", "{").replace("}}", "}"))
        self.i = end + 1

    def _malformed(self, tag: str, at: int) -> ValidationError:
        return ValidationError(
            f"The tag {tag} {self._where(at)} is malformed or not closed with >; "
            'write it like <b> or <a href="https://example.org">.'
        )

    def _attributes(self, tag: str, start: int, at: int) -> tuple[dict[str, str | None], int]:
        """The attributes of the opening tag, and the index of its closing ``>``."""
        text = self.text
        attributes: dict[str, str | None] = {}
        while True:
            space = _SPACE.match(text, at)
            at = space.end()
            if text.startswith(">", at):
                return attributes, at
            if at < len(text) and text[at] in "{}":
                self._brace_in_tag(at, tag)
            name_match = _NAME.match(text, at)
            if name_match is None or space.end() == space.start():
                raise self._malformed(f"<{tag}>", start)
            name = name_match.group().lower()
            at = name_match.end()
            value: str | None = None
            after_name = _SPACE.match(text, at).end()
            if text.startswith("=", after_name):
                value, at = self._attribute_value(
                    tag, start, _SPACE.match(text, after_name + 1).end()
                )
            if name in attributes:
                raise ValidationError(
                    f"The tag <{tag}> {self._where(start)} has the attribute {name} twice."
                )
            attributes[name] = value

    def _attribute_value(self, tag: str, start: int, at: int) -> tuple[str, int]:
        """The decoded attribute value that starts at *at*, and the index after it."""
        text = self.text
        quote = text[at : at + 1]
        if quote in ('"', "'"):
            end = text.find(quote, at + 1)
            if end == -1:
                raise self._malformed(f"<{tag}>", start)
            first, after = at + 1, end + 1
        else:
            unquoted = _UNQUOTED_VALUE.match(text, at)
            if unquoted is None:
                raise self._malformed(f"<{tag}>", start)
            first, end = at, unquoted.end()
            after = end
        decoded: list[str] = []
        k = first
        while k < end:
            char = text[k]
            if char in "{}":
                decoded.append(self._brace_in_tag(k, tag))
                k += 2
            elif char == "&":
                entity, k = self._entity(k)
                decoded.append(entity)
            else:
                decoded.append(char)
                k += 1
        return "".join(decoded), after

    def _open_tag(self, name: str, attributes: dict[str, str | None], at: int) -> None:
        where = self._where(at)
        parent = self.open[-1] if self.open else None
        code_in_pre = (
            name == "code"
            and parent is not None
            and parent.name == "pre"
            and not parent.has_content
        )
        for outer in self.open:
            if outer.name in ("code", "pre") and not (code_in_pre and outer is parent):
                raise ValidationError(
                    f"The tag <{name}> {where} cannot be inside <{outer.name}>; Telegram allows "
                    'no other tags in code blocks (except one <pre><code class="language-…">).'
                )
            if outer.name == "a" and name not in STYLE_TAGS:
                raise ValidationError(
                    f"The tag <{name}> {where} cannot be inside a link <a>; only text "
                    "formatting such as <b> or <i> can."
                )
            if outer.name == "blockquote" and name == "blockquote":
                raise ValidationError(
                    f"The <blockquote> {where} cannot be inside another <blockquote>."
                )
        self._check_attributes(name, attributes, where, code_in_pre)
        self._content()
        self.open.append(_Open(name, at))

    def _check_attributes(
        self, name: str, attributes: dict[str, str | None], where: str, code_in_pre: bool
    ) -> None:
        allowed = _ATTRIBUTES.get(name, ())
        for attribute in attributes:
            if attribute not in allowed:
                takes = f"<{name}> takes only {allowed[0]}" if allowed else "it takes none"
                raise ValidationError(
                    f"The tag <{name}> {where} has the attribute {attribute}, which Telegram "
                    f"does not allow; {takes}."
                )
        if name == "a":
            _check_link(attributes.get("href"), where)
        elif name == "span" and attributes.get("class") != "tg-spoiler":
            raise ValidationError(
                f'The <span> {where} must be <span class="tg-spoiler">; '
                "Telegram allows no other span."
            )
        elif name == "code" and "class" in attributes:
            if not code_in_pre:
                raise ValidationError(
                    f"The class of the <code> {where} is only allowed on a <code> that is the "
                    "whole content of a <pre>."
                )
            if not _LANGUAGE.fullmatch(attributes["class"] or ""):
                raise ValidationError(
                    f"The class of the <code> {where} must name a language, "
                    'like class="language-python".'
                )
        elif name == "blockquote" and attributes.get("expandable", None) is not None:
            raise ValidationError(
                f"The attribute expandable of the <blockquote> {where} takes no value; "
                "write <blockquote expandable>."
            )

    def _close(self, name: str, at: int) -> None:
        if not self.open:
            raise ValidationError(
                f"The closing tag </{name}> {self._where(at)} has no matching opening tag."
            )
        top = self.open[-1]
        if top.name != name:
            raise ValidationError(
                f"The closing tag </{name}> {self._where(at)} does not match <{top.name}> opened "
                f"{self._where(top.at)}; close tags in the reverse order they were opened."
            )
        self.open.pop()
        if name == "code" and self.open and self.open[-1].name == "pre":
            self.open[-1].code_closed = True

    def _check_visible_text(self) -> None:
        """Refuse a text that shows nothing, or that is too long before any name goes in."""
        worst = "".join(p.fallback if isinstance(p, Placeholder) else p for p in self.visible)
        if not worst.strip():
            used = [p.name for p in self.visible if isinstance(p, Placeholder)]
            if not used:
                raise ValidationError("The message shows no text, only markup; write some text.")
            names = " or ".join(f"{{{n}}}" for n in dict.fromkeys(used))
            raise ValidationError(
                f"The message would be empty for a recipient without {names}; add some text "
                f"or a fallback like {{{used[0]}|friend}}."
            )
        literal = _utf16_length("".join(p for p in self.visible if isinstance(p, str)))
        if literal > MAX_LENGTH:
            raise ValidationError(
                f"The message is {literal} characters long as Telegram counts them, before any "
                f"name is filled in; the limit is {MAX_LENGTH}."
            )


def _check_link(url: str | None, where: str) -> None:
    """Refuse a link address that is missing or not http://, https:// or tg://."""
    if url is None:
        raise ValidationError(
            f'The link <a> {where} needs an address, like <a href="https://example.org">.'
        )
    lowered = url.lower()
    if lowered.startswith("tg://"):
        valid = len(url) > len("tg://")
    elif lowered.startswith(("http://", "https://")):
        try:
            valid = bool(urlsplit(url).netloc)
        except ValueError:
            valid = False
    else:
        valid = False
    if not valid or any(char.isspace() or not char.isprintable() for char in url):
        shown = url or "an empty address"
        raise ValidationError(
            f"The link <a> {where} goes to {shown}, which is not a full http://, https:// "
            "or tg:// address."
        )


def _decode_entity(body: str) -> str | None:
    """The character an entity body (``amp``, ``#169``, ``#xA9``) stands for; None if unknown."""
    if not body.startswith("#"):
        return _NAMED_ENTITIES.get(body)
    digits = body[1:]
    hexadecimal = digits[0] in "xX"
    digits = digits[1:] if hexadecimal else digits
    if len(digits) > 8:
        return None
    code = int(digits, 16 if hexadecimal else 10)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse(text: str) -> Template:
    """The checked template; raises ValidationError with one sentence saying what and where."""
    if not text.strip():
        raise ValidationError("The message is empty; write some text.")
    return _Parser(text).run()


def render(template: Template, first_name: str | None, username: str | None) -> str:
    """The Telegram HTML for one recipient: values (trimmed) or fallbacks, HTML-escaped."""
    values = {"first_name": first_name, "username": username}
    rendered: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            rendered.append(part)
        else:
            value = (values[part.name] or "").strip()
            rendered.append(html.escape(value or part.fallback, quote=False))
    return "".join(rendered)


# Where a Telegram client would make text from the data a link by itself: a scheme's `:`,
# a domain's or an e-mail's `.` and `@`, a @mention, a #hashtag, a /command. An invisible
# word joiner after each breaks it (the text reads the same).
_TELEGRAM_AUTOLINK = re.compile(r"([.:@#/])(?=\w)")


def inert(value: str) -> str:
    """Text from the data as inert Telegram HTML: HTML-escaped, and never a link, mention,
    hashtag or command however a client would read it (a digest lists other people's
    names; a name such as "evil.example/login" must not become a link)."""
    return _TELEGRAM_AUTOLINK.sub(lambda m: m[1] + "\u2060", html.escape(value, quote=False))


def plain_preview(rendered: str) -> str:
    """The rendered message as a person reads it: tags removed, entities decoded."""
    without_tags = _TAG.sub("", rendered)
    return _ENTITY.sub(lambda m: _decode_entity(m.group(1)) or m.group(), without_tags)


def _utf16_length(plain: str) -> int:
    """Length of already-parsed text in UTF-16 code units, the unit Telegram counts."""
    return len(plain.encode("utf-16-le")) // 2


def telegram_length(rendered: str) -> int:
    """Length of a rendered message as Telegram counts it: parsed text, UTF-16 code units."""
    return _utf16_length(plain_preview(rendered))


def too_long(rendered: str) -> bool:
    """True when the rendered message is over Telegram's MAX_LENGTH (see telegram_length)."""
    return telegram_length(rendered) > MAX_LENGTH


def placeholders_help() -> str:
    """One sentence for the compose page on placeholders, fallbacks and literal braces."""
    return (
        "Write {first_name} or {username} to insert each recipient's own value, add a "
        "fallback for people without one like {first_name|friend} (otherwise nothing is "
        "shown), and write {{ and }} for literal braces."
    )
