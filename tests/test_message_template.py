"""Message templates: placeholders, Telegram HTML checks, escaping, the 4096 UTF-16 limit."""

from __future__ import annotations

import html

import pytest

from hsl.errors import ValidationError
from hsl.messaging.template import (
    MAX_LENGTH,
    Placeholder,
    Template,
    parse,
    placeholders_help,
    plain_preview,
    render,
    telegram_length,
    too_long,
)

EMOJI = "\N{GRINNING FACE}"  # outside the BMP: 1 code point, 2 UTF-16 code units


def refusal(text: str) -> str:
    with pytest.raises(ValidationError) as caught:
        parse(text)
    return str(caught.value)


# Placeholders and braces


def test_parts_split_text_and_placeholders() -> None:
    template = parse("Hi {first_name|friend}, you are @{username}!")
    assert template == Template(
        source="Hi {first_name|friend}, you are @{username}!",
        parts=(
            "Hi ",
            Placeholder("first_name", "friend"),
            ", you are @",
            Placeholder("username"),
            "!",
        ),
    )


@pytest.mark.parametrize(
    ("first_name", "expected"),
    [
        (None, "Hi friend!"),
        ("", "Hi friend!"),
        ("  ", "Hi friend!"),
        ("Анна", "Hi Анна!"),
        ("  Анна ", "Hi Анна!"),
    ],
)
def test_fallback_when_value_missing_or_blank(first_name: str | None, expected: str) -> None:
    assert render(parse("Hi {first_name|friend}!"), first_name, None) == expected


def test_no_fallback_gives_empty_and_empty_fallback_too() -> None:
    assert render(parse("Hi {first_name}!"), None, None) == "Hi !"
    assert render(parse("Hi {first_name|}!"), "  ", None) == "Hi !"
    assert render(parse("Hi {username}!"), "Анна", "anna_k") == "Hi anna_k!"


def test_fallback_is_plain_text_and_escaped() -> None:
    assert (
        render(parse("Hi {first_name|Tom & <Jerry>}"), None, None) == "Hi Tom &amp; &lt;Jerry&gt;"
    )


def test_double_braces_are_literal() -> None:
    template = parse("{{x}} and {{{first_name}}}")
    assert template.parts == ("{x} and {", Placeholder("first_name"), "}")
    assert render(template, "Анна", None) == "{x} and {Анна}"
    assert plain_preview(render(template, None, None)) == "{x} and {}"


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            "Hi {last_name}",
            "The text uses the unknown placeholder {last_name} at character 4; "
            "use {first_name} or {username}.",
        ),
        ("Hi {first_name", "The { at character 4 is never closed; write {{ for a literal {."),
        ("a { b {first_name}", "The { at character 3 is never closed; write {{ for a literal {."),
        ("Hi } there", "The } at character 4 has no matching {; write }} for a literal }."),
        (
            "Hi {}",
            "The { at character 4 does not start a placeholder; use {first_name} or {username}, "
            "or write {{ for a literal {.",
        ),
        (
            "Hi {first_name|a|b}",
            "The fallback of {first_name} at character 4 contains {, } or |; "
            "a fallback is plain text, like {first_name|friend}.",
        ),
        (
            "Hi {first_name|a{b}",
            "The fallback of {first_name} at character 4 contains {, } or |; "
            "a fallback is plain text, like {first_name|friend}.",
        ),
        (
            "Hello\nand {Name}",
            "The text uses the unknown placeholder {Name} on line 2 at character 5; "
            "use {first_name} or {username}.",
        ),
    ],
)
def test_brace_refusals(text: str, sentence: str) -> None:
    assert refusal(text) == sentence


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ('<a href="https://x.org/{first_name}">x</a>', "at character 24"),
        ("<a href={username}>x</a>", "at character 9"),
        ("<b {first_name}>x</b>", "at character 4"),
    ],
)
def test_placeholder_inside_a_tag_is_refused(text: str, at: str) -> None:
    name = "username" if "username" in text else "first_name"
    tag = "a" if text.startswith("<a") else "b"
    assert refusal(text) == (
        f"The placeholder {{{name}}} {at} is inside the tag <{tag}>; "
        "placeholders work only in the text, not inside tags or link addresses."
    )


def test_literal_braces_inside_a_link_are_fine() -> None:
    template = parse('<a href="https://x.org/{{id}}">x</a>')
    assert render(template, None, None) == '<a href="https://x.org/{id}">x</a>'


# Empty and blank texts


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_refused(text: str) -> None:
    assert refusal(text) == "The message is empty; write some text."


def test_markup_only_is_refused() -> None:
    assert refusal("<b> </b>") == "The message shows no text, only markup; write some text."


def test_placeholder_only_without_fallback_is_refused() -> None:
    assert refusal("<b>{first_name}</b> {username}") == (
        "The message would be empty for a recipient without {first_name} or {username}; "
        "add some text or a fallback like {first_name|friend}."
    )
    assert render(parse("{first_name|friend}"), None, None) == "friend"


# Escaping of substituted values


@pytest.mark.parametrize(
    ("name", "rendered", "shown"),
    [
        ("<b>x</b>", "Hi &lt;b&gt;x&lt;/b&gt;!", "Hi <b>x</b>!"),
        ("&amp;", "Hi &amp;amp;!", "Hi &amp;!"),
        ("Tom & Jerry", "Hi Tom &amp; Jerry!", "Hi Tom & Jerry!"),
        ("a>b", "Hi a&gt;b!", "Hi a>b!"),
        ('"q"', 'Hi "q"!', 'Hi "q"!'),
        ("*bold*", "Hi *bold*!", "Hi *bold*!"),
        ("[x](http://e)", "Hi [x](http://e)!", "Hi [x](http://e)!"),
        ('=HYPERLINK("http://e")', 'Hi =HYPERLINK("http://e")!', 'Hi =HYPERLINK("http://e")!'),
        ("{username}", "Hi {username}!", "Hi {username}!"),
    ],
)
def test_values_are_inert_text(name: str, rendered: str, shown: str) -> None:
    message = render(parse("Hi {first_name}!"), name, "ignored")
    assert message == rendered
    assert plain_preview(message) == shown


def test_values_inside_formatting_stay_text() -> None:
    message = render(parse("<b>{first_name|friend}</b>"), "</b><script>", None)
    assert message == "<b>&lt;/b&gt;&lt;script&gt;</b>"
    assert plain_preview(message) == "</b><script>"


# Markup


@pytest.mark.parametrize(
    "text",
    [
        "<b><i>x</i></b>",
        "<strong>a</strong><em>b</em><u>c</u><ins>d</ins><s>e</s><strike>f</strike><del>g</del>",
        '<a href="https://x.org">x</a>',
        "<a href='http://x.org/path?a=1&amp;b=2'>x</a>",
        '<a href="tg://user?id=42"><b>Анна</b></a>',
        "<code>x</code> and <pre>y</pre>",
        '<pre><code class="language-python">print(1)</code></pre>',
        "<tg-spoiler>x</tg-spoiler>",
        '<span class="tg-spoiler">x</span>',
        "<blockquote>x</blockquote>",
        "<blockquote expandable>x <b>y</b></blockquote>",
        "<b><code>x</code></b>",
        "<B>x</B>",
        "&lt;&gt;&amp;&quot;&#169;&#xA9;",
    ],
)
def test_allowed_markup_is_kept_as_written(text: str) -> None:
    assert parse(text).parts == (text,)
    assert render(parse(text), "Анна", "anna") == text


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            "<b><i>x</b></i>",
            "The closing tag </b> at character 8 does not match <i> opened at character 4; "
            "close tags in the reverse order they were opened.",
        ),
        ("<b>x", "The tag <b> at character 1 is never closed; add </b>."),
        ("x</b>", "The closing tag </b> at character 2 has no matching opening tag."),
        (
            '<a href="javascript:alert(1)">x</a>',
            "The link <a> at character 1 goes to javascript:alert(1), which is not a full "
            "http://, https:// or tg:// address.",
        ),
        (
            '<a onclick="f()" href="https://x.org">x</a>',
            "The tag <a> at character 1 has the attribute onclick, which Telegram does not allow; "
            "<a> takes only href.",
        ),
        (
            "<b class='x'>x</b>",
            "The tag <b> at character 1 has the attribute class, which Telegram does not allow; "
            "it takes none.",
        ),
        (
            "<script>x</script>",
            "The tag <script> at character 1 is not allowed by Telegram; the allowed tags are b, "
            "strong, i, em, u, ins, s, strike, del, a, code, pre, tg-spoiler, "
            'span class="tg-spoiler" and blockquote.',
        ),
        (
            "<a>x</a>",
            'The link <a> at character 1 needs an address, like <a href="https://example.org">.',
        ),
        (
            '<span class="x">y</span>',
            'The <span> at character 1 must be <span class="tg-spoiler">; '
            "Telegram allows no other span.",
        ),
        (
            "<code><b>x</b></code>",
            "The tag <b> at character 7 cannot be inside <code>; Telegram allows no other tags in "
            'code blocks (except one <pre><code class="language-…">).',
        ),
        (
            '<a href="https://x.org"><code>x</code></a>',
            "The tag <code> at character 25 cannot be inside a link <a>; only text formatting "
            "such as <b> or <i> can.",
        ),
        (
            "<blockquote><blockquote>x</blockquote></blockquote>",
            "The <blockquote> at character 13 cannot be inside another <blockquote>.",
        ),
        (
            '<code class="language-python">x</code>',
            "The class of the <code> at character 1 is only allowed on a <code> that is the whole "
            "content of a <pre>.",
        ),
        (
            '<pre><code class="language-py">x</code>!</pre>',
            "The <pre> block at character 1 holds a <code> block, so nothing else may come before "
            "</pre> (at character 40).",
        ),
        (
            "<b/>x",
            "The tag <b> at character 1 is malformed or not closed with >; write it like <b> or "
            '<a href="https://example.org">.',
        ),
        (
            "<blockquote expandable='yes'>x</blockquote>",
            "The attribute expandable of the <blockquote> at character 1 takes no value; "
            "write <blockquote expandable>.",
        ),
        ("2 < 3", "The < at character 3 does not start a tag; write &lt; for a literal <."),
        ("2 > 1", "The > at character 3 is not part of a tag; write &gt; for a literal >."),
    ],
)
def test_markup_refusals(text: str, sentence: str) -> None:
    assert refusal(text) == sentence


@pytest.mark.parametrize(
    "href", ["javascript:alert(1)", "ftp://x.org", "http://", "https://x .org", "//x.org", ""]
)
def test_only_full_web_and_tg_links(href: str) -> None:
    assert "which is not a full http://, https:// or tg:// address." in refusal(
        f'<a href="{href}">x</a>'
    )


@pytest.mark.parametrize("tag", ["br", "img", "div", "p", "tg-emoji", "iframe"])
def test_other_tags_are_refused(tag: str) -> None:
    assert refusal(f"<{tag}>x").startswith(f"The tag <{tag}> at character 1 is not allowed")


# Entities


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            "a&nbsp;b",
            "The text uses the entity &nbsp; at character 2, which Telegram does not know; "
            "use &lt;, &gt;, &amp;, &quot; or a numeric one like &#169;.",
        ),
        (
            "&apos;",
            "The text uses the entity &apos; at character 1, which Telegram does not know; "
            "use &lt;, &gt;, &amp;, &quot; or a numeric one like &#169;.",
        ),
        (
            "x &#xD800;",
            "The text uses the entity &#xD800; at character 3, which Telegram does not know; "
            "use &lt;, &gt;, &amp;, &quot; or a numeric one like &#169;.",
        ),
        ("Q&A", "The & at character 2 does not start an entity; write &amp; for a literal &."),
        (
            '<a href="https://x.org/?a=1&b=2">x</a>',
            "The & at character 28 does not start an entity; write &amp; for a literal &.",
        ),
    ],
)
def test_entity_refusals(text: str, sentence: str) -> None:
    assert refusal(text) == sentence


def test_plain_preview_strips_tags_and_decodes_entities() -> None:
    rendered = render(
        parse('<b>Hi</b> <a href="https://x.org/?a=1&amp;b=2">{first_name}</a> &lt;3 &#169;'),
        "Анна & Co",
        None,
    )
    assert (
        rendered == '<b>Hi</b> <a href="https://x.org/?a=1&amp;b=2">Анна &amp; Co</a> &lt;3 &#169;'
    )
    assert plain_preview(rendered) == "Hi Анна & Co <3 ©"


# Length as Telegram measures it


def test_limit_is_4096_utf16_units_of_parsed_text() -> None:
    assert MAX_LENGTH == 4096
    assert telegram_length(EMOJI) == 2
    assert not too_long("a" * 4094 + EMOJI)
    assert too_long("a" * 4095 + EMOJI)
    assert not too_long("<b>" + "a" * 4096 + "</b>")
    assert not too_long("&amp;" * 4096)
    assert too_long("&amp;" * 4097)


def test_too_long_is_judged_after_substitution() -> None:
    template = parse("{first_name|x}" + "a" * 4094)
    assert telegram_length(render(template, None, None)) == 4095
    assert not too_long(render(template, EMOJI, None))
    assert too_long(render(template, EMOJI + "b", None))
    # "<>" is sent as "&lt;&gt;" (8 characters) but Telegram counts the 2 it shows.
    assert render(template, "<>", None) == "&lt;&gt;" + "a" * 4094
    assert not too_long(render(template, "<>", None))


def test_text_too_long_before_any_name_is_refused() -> None:
    assert parse("a" * 4094 + EMOJI).parts == ("a" * 4094 + EMOJI,)
    assert refusal("<b>" + "a" * 4095 + EMOJI + "</b>") == (
        "The message is 4097 characters long as Telegram counts them, before any name is "
        "filled in; the limit is 4096."
    )


def test_placeholders_help_names_the_syntax() -> None:
    assert placeholders_help() == (
        "Write {first_name} or {username} to insert each recipient's own value, add a "
        "fallback for people without one like {first_name|friend} (otherwise nothing is "
        "shown), and write {{ and }} for literal braces."
    )


@pytest.mark.parametrize(("value", "shown"), [
    ("evil.example/login", "evil.\u2060example/\u2060login"),
    ("https://evil.example", "https://\u2060evil.\u2060example"),
    ("victim@evil.example", "victim@\u2060evil.\u2060example"),
    ("@channel #sale /start", "@\u2060channel #\u2060sale /\u2060start"),
    ("<b>Anna</b> & co", "&lt;b&gt;Anna&lt;/\u2060b&gt; &amp; co"),
    ("Юлия Иванова", "Юлия Иванова"),
])
def test_text_from_the_data_is_never_a_link_mention_or_command_in_telegram(value, shown):
    from hsl.messaging.template import inert

    assert inert(value) == shown
    assert inert(value).replace("\u2060", "") == html.escape(value, quote=False)  # reads same
