"""Tests for shared.telegram.formatting: LLM Markdown → Telegram HTML messages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.telegram.formatting import (
    escape_html,
    html_to_plain_text,
    markdown_to_telegram_html,
    render_reply,
    shorten,
    split_html_message,
    split_plain_text,
    utf16_length,
)
from tests.fakes.telegram_api import visible_text

# ----- a strict validator for Telegram's HTML parse mode -----

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(),
    "s": set(), "strike": set(), "del": set(), "tg-spoiler": set(), "span": {"class"},
    "a": {"href"}, "code": {"class"}, "pre": set(), "blockquote": {"expandable"}, "tg-emoji": {"emoji-id"},
}  # fmt: skip
ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
SAFE_HREF = re.compile(r"(?:https?://|tg://|mailto:)\S+", re.IGNORECASE)


class TelegramHTMLValidator(HTMLParser):
    """Collects every way a string could be rejected (or misread) by Telegram's HTML parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_ATTRIBUTES:
            self.errors.append(f"tag <{tag}> not allowed")
            return
        names = [name for name, _ in attrs]
        if set(names) - ALLOWED_ATTRIBUTES[tag] or len(names) != len(set(names)):
            self.errors.append(f"bad attributes on <{tag}>: {attrs}")
        values = dict(attrs)
        if tag == "span" and values.get("class") != "tg-spoiler":
            self.errors.append("span without class tg-spoiler")
        if tag == "a" and not SAFE_HREF.fullmatch(values.get("href") or ""):
            self.errors.append(f"unsafe href {values.get('href')!r}")
        in_pre = bool(self.stack) and self.stack[-1] == "pre"
        if tag == "code" and "class" in values and not (in_pre and (values["class"] or "").startswith("language-")):
            self.errors.append("code class outside pre")
        if tag == "tg-emoji" and not (values.get("emoji-id") or "").isdigit():
            self.errors.append("tg-emoji without emoji-id")
        if "code" in self.stack or ("pre" in self.stack and not (tag == "code" and self.stack[-1] == "pre")):
            self.errors.append(f"<{tag}> inside code/pre")
        if tag in self.stack:
            self.errors.append(f"<{tag}> nested in itself")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if any(char in data for char in "<>&"):
            self.errors.append(f"unescaped character in {data!r}")

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.errors.append(f"unknown entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.errors.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.errors.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.errors.append("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.errors.append("unknown declaration")


def telegram_html_errors(html: str) -> list[str]:
    validator = TelegramHTMLValidator()
    validator.feed(html)
    validator.close()
    errors = validator.errors + ([f"unclosed {validator.stack}"] if validator.stack else [])
    if html.count("&") != len(ENTITY.findall(html)):
        errors.append("'&' that does not start a valid entity")
    return errors


def assert_valid_parts(parts: list[str], limit: int) -> None:
    for part in parts:
        assert part.strip(), parts
        assert html_to_plain_text(part).strip(), parts
        assert utf16_length(part) <= limit, (utf16_length(part), part)
        assert utf16_length(html_to_plain_text(part)) <= limit
        part.encode("utf-16-le")  # no lone surrogates
        assert telegram_html_errors(part) == [], (part, telegram_html_errors(part))
        shown, refusal = visible_text(part, "HTML")  # Telegram's own parser (TDLib)
        assert refusal is None, (part, refusal)
        assert shown == html_to_plain_text(part)  # the plain-text fallback shows what Telegram would


def non_whitespace(text: str) -> str:
    return "".join(char for char in text if not char.isspace())


def visible(parts: list[str]) -> str:
    return non_whitespace(html_to_plain_text("".join(parts)))


# ----- examples -----


def test_validator_rejects_bad_html() -> None:
    bad_html = ["<b>x", "</i>", "<b><i>x</b></i>", "<script>x</script>", "a < b", "a & b", "&nbsp;", "<b/>"]
    bad_html += ['<a href="javascript:alert(1)">x</a>', '<span class="x">y</span>', "<code><b>x</b></code>"]
    for bad in bad_html:
        assert telegram_html_errors(bad), bad
    assert telegram_html_errors('<pre><code class="language-py">x &lt; 1</code></pre><b>a &amp; b</b>') == []


def test_escape_html() -> None:
    assert escape_html('a < b && c > "d"') == 'a &lt; b &amp;&amp; c &gt; "d"'
    assert escape_html('"x"', quote=True) == "&quot;x&quot;"


def test_typical_llm_markdown() -> None:
    markdown = (
        "## Deal summary\n"
        "**Client:** ACME & Sons\n"
        "*Stage:* negotiation, _owner_ __Anna__ ~~lost~~ ||secret||\n\n"
        "- Amount: `1 200 €`\n"
        "  - nested item\n"
        "* [Open in CRM](https://crm.example.com/deals/42?tab=notes&sort=desc)\n\n"
        "> Customer said:\n> call back later\n\n"
        "1. first\n2. second"
    )
    html = markdown_to_telegram_html(markdown)
    assert telegram_html_errors(html) == []
    assert "<b>Deal summary</b>" in html
    assert "<b>Client:</b> ACME &amp; Sons" in html
    assert "<i>Stage:</i>" in html
    assert "<i>owner</i> <b>Anna</b> <s>lost</s> ||secret||" in html  # CommonMark: __ is bold, || is no syntax
    assert "• Amount: <code>1 200 €</code>" in html
    assert "  • nested item" in html
    assert '• <a href="https://crm.example.com/deals/42?tab=notes&amp;sort=desc">Open in CRM</a>' in html
    assert "<blockquote>Customer said:\ncall back later</blockquote>" in html
    assert "1. first\n2. second" in html
    assert render_reply(markdown) == [html]


def test_code_blocks_and_inline_code() -> None:
    markdown = 'Use the _id field:\n```python\nif a < b and c_d:\n    print("x & y")\n```\nthen `x_y < 1` and _done_'
    html = markdown_to_telegram_html(markdown)
    assert telegram_html_errors(html) == []
    assert '<pre><code class="language-python">if a &lt; b and c_d:\n    print("x &amp; y")</code></pre>' in html
    assert "<code>x_y &lt; 1</code>" in html
    assert "<i>done</i>" in html
    assert "PLACEHOLDER" not in html
    assert "_id field" in html  # emphasis never swallows a code block
    assert markdown_to_telegram_html("```\nunclosed\ncode") == "<pre>unclosed\ncode</pre>"
    assert markdown_to_telegram_html("say ```x``` now") == "say <code>x</code> now"


def test_links() -> None:
    assert markdown_to_telegram_html("[w](https://en.wikipedia.org/wiki/Foo_(bar))") == (
        '<a href="https://en.wikipedia.org/wiki/Foo_(bar)">w</a>'
    )
    assert markdown_to_telegram_html("[a](http://x/__init__.py)") == '<a href="http://x/__init__.py">a</a>'
    assert (
        markdown_to_telegram_html("[**bold** link](tg://user?id=1)") == '<a href="tg://user?id=1"><b>bold</b> link</a>'
    )
    assert markdown_to_telegram_html("[mail](mailto:a@b.c)") == '<a href="mailto:a@b.c">mail</a>'
    for markdown in ["[x](javascript:alert(1))", "[x](data:text/html,hi)", "[x](ftp://h/f)", "[x](www.x.com)"]:
        html = markdown_to_telegram_html(markdown)
        assert "<a" not in html, html
        assert "x" in html_to_plain_text(html)
        assert telegram_html_errors(html) == []
    assert markdown_to_telegram_html(r"\[not a link\](x) and \*stars\*") == "[not a link](x) and *stars*"


def test_lists_keep_their_numbers_nesting_and_blank_lines() -> None:
    markdown = "Steps:\n1. one\n   - sub *a*\n   - sub b\n\n   more about one\n3) three\n\n- loose\n\n- list\n\nEnd"
    assert markdown_to_telegram_html(markdown) == (
        "Steps:\n1. one\n   • sub <i>a</i>\n   • sub b\n\n   more about one\n3) three\n\n• loose\n\n• list\n\nEnd"
    )
    # code blocks and quotes are Telegram blocks of their own: below the marker, never indented
    assert markdown_to_telegram_html("1. Run:\n   ```bash\n   make test\n   ```\n2. > quoted") == (
        '1. Run:\n<pre><code class="language-bash">make test</code></pre>\n2.\n<blockquote>quoted</blockquote>'
    )


def test_headings_rules_quotes_and_images() -> None:
    assert markdown_to_telegram_html("# Title\ntext\n\nSub\n---\n***\nend") == (
        "<b>Title</b>\ntext\n\n<b>Sub</b>\n——————————\nend"
    )
    assert markdown_to_telegram_html("> a\n>\n> - b\n\n> > nested") == (
        "<blockquote>a\n\n• b</blockquote>\n\n<blockquote>nested</blockquote>"  # Telegram nests no quotes
    )
    assert markdown_to_telegram_html(
        "![logo](https://x.io/l.png) ![](https://x.io/b.png) ![x](data:image/png;base64,AA)"
    ) == ('<a href="https://x.io/l.png">logo</a> <a href="https://x.io/b.png">https://x.io/b.png</a> x')
    assert markdown_to_telegram_html("<https://x.io/a> <a@b.c> [](http://y.z)") == (
        '<a href="https://x.io/a">https://x.io/a</a> <a href="mailto:a@b.c">a@b.c</a> <a href="http://y.z">http://y.z</a>'
    )
    assert markdown_to_telegram_html("    indented code\n    a < b\n\n```\n```\n\nafter") == (
        "<pre>indented code\na &lt; b</pre>\n\nafter"  # an empty code block leaves no gap
    )


def test_tables_become_aligned_columns_in_a_pre_block() -> None:
    markdown = (
        "| Deal | Amount | Stage |\n|:--|--:|:-:|\n"
        "| **ACME** & [Co](http://x) | 1 200 € | won |\n| 株式会社 | 5 |\n\nafter"
    )
    html = markdown_to_telegram_html(markdown)
    assert html.startswith("<pre>Deal")
    assert html.endswith("</pre>\n\nafter")
    assert html_to_plain_text(html).split("\n") == [
        "Deal                 |  Amount | Stage",
        "---------------------+---------+------",
        "ACME & Co (http://x) | 1 200 € |  won",  # a <pre> holds no link: its address follows its text
        "株式会社             |       5 |",  # wide characters take two columns; a missing cell is empty
        "",
        "after",
    ]


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("<b>unclosed", "&lt;b&gt;unclosed"),
        ("</i>", "&lt;/i&gt;"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("<b", "&lt;b"),
        ("<blockquote>x", "&lt;blockquote&gt;x"),
        ('x </span> y <span class="tg-spoiler">', 'x &lt;/span&gt; y &lt;span class="tg-spoiler"&gt;'),
        ("&amp; &#169; &bogus;", "&amp;amp; &amp;#169; &amp;bogus;"),
        ("<!-- c --> <?pi?>", "&lt;!-- c --&gt; &lt;?pi?&gt;"),
        ("【4:0†source】", "【4:0†source】"),
    ],
)
def test_raw_html_is_escaped(markdown: str, expected: str) -> None:
    html = markdown_to_telegram_html(markdown)
    assert html == expected
    assert telegram_html_errors(html) == []
    assert html_to_plain_text(html) == markdown


@pytest.mark.parametrize(
    "markdown",
    ["**a _b** c_", "*a **b* c**", "__a ~~b__ c~~", "# **Head** _x_", "||a **b|| c**", "**[a](http://x**y)",
     "[a **b](http://x) c**", "***", "[`code`](http://x)", "> a\n**>b\n> c", "```\n```", "`", "a\ud83db"],
)  # fmt: skip
def test_misnested_and_odd_markdown_stays_valid(markdown: str) -> None:
    parts = render_reply(markdown)
    assert_valid_parts(parts, 4096)


def test_nested_brackets_do_not_backtrack() -> None:
    data = "[" + ", ".join(f"[{i}, {i}]" for i in range(200)) + "]"
    assert markdown_to_telegram_html(data) == data


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        # chatgpt-md-converter's link regex took ~1 s at 22 nested labels here, doubling every two more
        ("[" + "[a]" * 40 + "]x", "[" + "[a]" * 40 + "]x"),
        ("[" * 10_000, "[" * 10_000),
        ("![" * 5_000, "![" * 5_000),
        ("x" + "*" * 10_000, "x" + "*" * 10_000),
        ("x" + "`" * 10_000, "x" + "`" * 10_000),
        ("x" + "_" * 10_000, "x" + "_" * 10_000),
        ("**a " * 10_000, ("**a " * 10_000).strip()),  # openers that never close: the old lazy regexes were quadratic
        ("*" * 10_000, "——————————"),  # a thematic break
        ("> " * 10_000 + "deep", "&gt; " * 10_000 + "deep"),  # nested past the parser's limit: shown as written
    ],
)
def test_pathological_markdown_converts_in_linear_time(markdown: str, expected: str) -> None:
    assert markdown_to_telegram_html(markdown) == expected
    assert visible(render_reply(markdown)) == non_whitespace(html_to_plain_text(expected))


def test_shorten_cuts_long_text_with_an_ellipsis() -> None:
    assert shorten("Jane Doe", 8) == "Jane Doe"
    assert shorten("Jane Doe & Co", 8) == "Jane Do…"
    assert shorten("Jane Doe", 6) == "Jane…"  # no space before the ellipsis
    assert shorten("🚗" * 5, 3) == "🚗🚗…"
    assert len(shorten("x" * 500, 80)) == 80


def test_utf16_length() -> None:
    assert utf16_length("") == 0
    assert utf16_length("abc") == 3
    assert utf16_length("é€") == 2
    assert utf16_length("😀") == 2
    assert utf16_length("𝕏") == 2
    assert utf16_length("👍🏽") == 4
    assert utf16_length("\ud83d") == 1


def test_astral_characters_never_split() -> None:
    assert split_plain_text("😀" * 5, 5) == ["😀😀", "😀😀", "😀"]
    parts = render_reply("**" + "😀" * 30 + "**", 20)
    assert_valid_parts(parts, 20)
    assert "".join(html_to_plain_text(part) for part in parts) == "😀" * 30
    assert all(part.startswith("<b>") and part.endswith("</b>") for part in parts)


def test_long_message_is_split_into_valid_parts() -> None:
    markdown = "\n\n".join(f"**Paragraph {i}.** " + "lorem ipsum dolor sit amet " * 7 for i in range(50))
    assert 10_000 < len(markdown) < 11_000
    parts = render_reply(markdown)
    assert len(parts) == 3
    assert_valid_parts(parts, 4096)
    assert all(utf16_length(part) > 2048 for part in parts[:-1])
    assert all(part.startswith("<b>Paragraph") for part in parts)  # split at paragraph breaks
    assert visible(parts) == non_whitespace(html_to_plain_text(markdown_to_telegram_html(markdown)))

    words = "word " * 2000
    parts = render_reply(words)
    assert_valid_parts(parts, 4096)
    assert all(part.strip() == part and set(part.split(" ")) == {"word"} for part in parts)

    no_spaces = "x" * 10_000
    parts = render_reply(no_spaces)
    assert [len(part) for part in parts] == [4096, 4096, 1808]


def test_split_prefers_paragraph_then_line_then_space() -> None:
    assert split_plain_text("aaaa bbbb\ncccc\n\ndddd eeee", 20) == ["aaaa bbbb\ncccc", "dddd eeee"]
    assert split_plain_text("aaaa bbbb cc\ndddd eeee", 20) == ["aaaa bbbb cc", "dddd eeee"]
    # a break in the first half would waste the part: a later, weaker break wins
    assert split_plain_text("aaaa\n\nbbbb cccc dddd eeee", 20) == ["aaaa\n\nbbbb cccc dddd", "eeee"]
    assert split_plain_text("aaaa bbbb cccc dddd eeee", 12) == ["aaaa bbbb", "cccc dddd", "eeee"]
    assert split_plain_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_plain_text("  \n\n ") == []
    assert split_plain_text("") == []


def test_long_code_block_is_split_and_reopened() -> None:
    lines = [f"print({i} < {i + 1})" for i in range(600)]
    parts = render_reply("Here:\n```python\n" + "\n".join(lines) + "\n```\nDone.")
    assert len(parts) >= 3
    assert_valid_parts(parts, 4096)
    code_parts = [part for part in parts if "print(" in part]
    for part in code_parts:
        assert part.count('<pre><code class="language-python">') == 1
        assert part.count("</code></pre>") == 1
    code = [line for part in code_parts for line in html_to_plain_text(part).splitlines() if "print(" in line]
    assert code == lines  # split at line breaks only


def test_split_html_reopens_tags_with_attributes() -> None:
    html = '<blockquote expandable><a href="https://x.io/?a=1&amp;b=2"><b>' + "word " * 40 + "</b></a></blockquote>"
    parts = split_html_message(html, 120)
    assert len(parts) > 2
    assert_valid_parts(parts, 120)
    for part in parts:
        assert part.startswith('<blockquote expandable><a href="https://x.io/?a=1&amp;b=2"><b>word')
        assert part.endswith("</b></a></blockquote>")


def test_split_html_drops_tags_too_long_to_repeat() -> None:
    html = f'<a href="https://example.com/{"y" * 100}">link text here</a> and more text'
    parts = split_html_message(html, 40)
    assert parts == ["link text here and more text"]
    with pytest.raises(ValueError, match="at least"):
        split_html_message("x", 7)
    with pytest.raises(ValueError, match="at least"):
        split_plain_text("x", 1)


def test_split_html_sanitizes_its_input() -> None:
    parts = split_html_message("<b>bold <i>both</b> italic</i> <script>x</script> &nbsp; a < b")
    assert parts == ["<b>bold <i>both</i></b><i> italic</i> &lt;script&gt;x&lt;/script&gt; \xa0 a &lt; b"]
    assert split_html_message("<b> </b>\n<i></i>") == []


def test_plain_text_fallback() -> None:
    assert html_to_plain_text("<b>a &amp; b</b> &lt;i&gt; &#128512;") == "a & b <i> 😀"
    parts = render_reply("**Total:** 5 < 6 & " + "x" * 100, 50)
    plain_parts = [html_to_plain_text(part) for part in parts]
    assert all(0 < utf16_length(part) <= 50 for part in plain_parts)
    assert plain_parts == ["Total: 5 < 6 &", "x" * 50, "x" * 50]  # the space at the split is dropped
    assert split_plain_text("Total: 5 < 6 & " + "x" * 100, 50) == plain_parts
    assert split_plain_text("Total: 5 < 6 & " + "x" * 100, 40) == ["Total: 5 < 6 &", "x" * 40, "x" * 40, "x" * 20]


def test_empty_reply() -> None:
    assert render_reply("") == []
    assert render_reply(" \n\n ") == []
    assert render_reply("<b></b>") == ["&lt;b&gt;&lt;/b&gt;"]


def test_a_link_in_a_table_keeps_its_address_beside_its_text() -> None:
    """A <pre> block holds no links: the address was lost with the tag."""
    markdown = "| name | site |\n|---|---|\n| ACME | [web](https://acme.example) |\n| B | <https://b.example> |"
    [part] = render_reply(markdown)
    assert "ACME | web (https://acme.example)" in part
    assert "B    | https://b.example" in part


@pytest.mark.parametrize("markdown", ["```", "```\n```", "~~~python\n~~~"])
def test_markdown_that_renders_to_nothing_is_sent_as_its_text(markdown: str) -> None:
    """An answer of empty code fences rendered to no part at all: the user got no reply."""
    assert render_reply(markdown) == [escape_html(markdown)]


# ----- properties -----

FRAGMENTS = [
    "**", "*", "_", "__", "***", "`", "```", "```python\n", "\n```\n", "~~", "||", "<", ">", "&", "&amp;", "&#1;",
    "[a](http://x)", "[b](javascript:alert(1))", "[c](https://y.z/a_(b)_c)", "[", "]", "(", ")", "](", "!", "\\",
    "\n", "\n\n", "# ", "- ", "> ", "**>", "<b>", "</b>", "<i>", "<a href='http://x'>", "</a>",
    '<span class="tg-spoiler">', "</span>", "<blockquote>", "</blockquote>", "<pre>", "<script>", "<b", "&lt;",
    "😀", "𝕏", "👍🏽", "\ue000", " ", "word", "【x】", "\t",
]  # fmt: skip
markdown_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=60).map("".join)
any_text = st.text(max_size=400)
# Text with no Markdown syntax in it (no markers of emphasis, code, links, headings, quotes, lists, tables, setext
# underlines or autolinks), and no NUL, which CommonMark replaces with U+FFFD.
plain_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="*_~|`[]\\#>-+=<\x00"),
    max_size=400,
)
limits = st.sampled_from([50, 200, 4096])

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäжщ0123456789😀", min_size=1, max_size=8)
INLINE = [
    "{}",
    "**{}**",
    "*{}*",
    "_{}_",
    "__{}__",
    "~~{}~~",
    "`{}`",
    "[{}](https://x.io/a_(b)?c=1&d=2)",
    "![{}](http://x.io/i.png)",
]
BLOCKS = [
    "{0}\n{1}", "# {0}", "### {0}", "- {0}\n- {1}\n  - {2}", "1. {0}\n2. {1}", "> {0}\n> {1}", "```py\n{0}\n{1}\n```",
    "| {0} | {1} |\n|---|:-:|\n| {2} | {3} |", "---", "1. {0}\n\n   ```\n   {1}\n   ```",
]  # fmt: skip


@st.composite
def markdown_documents(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A document of the blocks and inline markup models write, and the words a reader must see, in order."""
    words: list[str] = []

    def line() -> str:
        pieces = []
        for word in draw(st.lists(WORDS, min_size=1, max_size=5)):
            words.append(word)
            pieces.append(draw(st.sampled_from(INLINE)).format(word))
        return " ".join(pieces)

    blocks = []
    for template in draw(st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=6)):
        blocks.append(template.format(*[line() for _ in range(template.count("{"))]))
        blocks.append(draw(st.sampled_from(["\n", "\n\n"])))
    return "".join(blocks), words


PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(text=st.one_of(any_text, markdown_text), limit=limits)
def test_render_reply_always_valid(text: str, limit: int) -> None:
    parts = render_reply(text, limit)
    assert_valid_parts(parts, limit)
    whole = markdown_to_telegram_html(text)
    assert telegram_html_errors(whole) == []
    assert visible(parts) == non_whitespace(html_to_plain_text(whole))  # splitting loses only whitespace


@PROPERTY_SETTINGS
@given(document=markdown_documents(), limit=limits)
def test_rendered_markdown_shows_every_word_in_order(document: tuple[str, list[str]], limit: int) -> None:
    markdown, words = document
    parts = render_reply(markdown, limit)
    assert_valid_parts(parts, limit)
    shown = "".join(visible_text(part, "HTML")[0] for part in parts)
    position = 0
    for word in words:
        found = shown.find(word, position)
        assert found >= 0, (word, markdown, shown[position:])
        position = found + len(word)


@PROPERTY_SETTINGS
@given(text=plain_text, limit=limits)
def test_plain_input_keeps_every_character(text: str, limit: int) -> None:
    parts = render_reply(text, limit)
    assert_valid_parts(parts, limit)
    assert visible(parts) == non_whitespace(text)


@PROPERTY_SETTINGS
@given(html=st.one_of(markdown_text, any_text), limit=limits)
def test_split_html_message_accepts_any_string(html: str, limit: int) -> None:
    parts = split_html_message(html, limit)
    assert_valid_parts(parts, limit)
    assert split_html_message("".join(parts), 10**6) == (["".join(parts)] if parts else [])


@PROPERTY_SETTINGS
@given(text=st.one_of(any_text, plain_text), limit=st.sampled_from([2, 3, 50, 200, 4096]))
def test_split_plain_text(text: str, limit: int) -> None:
    parts = split_plain_text(text, limit)
    assert all(part.strip() and utf16_length(part) <= limit for part in parts)
    for part in parts:
        part.encode("utf-16-le")
    assert non_whitespace("".join(parts)) == non_whitespace(text)
