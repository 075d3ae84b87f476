"""Turn LLM Markdown into Telegram messages that parse_mode "HTML" always accepts.

Pipeline: parse the Markdown with markdown-it-py (CommonMark, strikethrough, tables; raw HTML
stays text), render its syntax tree in the few tags Telegram knows (lists, headings, tables and
rules become text lines), then rebuild the HTML with a small ``html.parser`` sanitizer that keeps
only Telegram's tags and attributes, repairs nesting and escapes everything else. Splitting works
on the sanitized token stream, so no part is cut inside a tag, an entity or a surrogate pair, and
open tags are closed and re-opened.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from shared.instance import per_instance

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

__all__ = [
    "TELEGRAM_MESSAGE_LIMIT",
    "escape_html",
    "html_to_plain_text",
    "markdown_to_telegram_html",
    "render_reply",
    "shorten",
    "split_html_message",
    "split_plain_text",
    "utf16_length",
]

TELEGRAM_MESSAGE_LIMIT = 4096
_MIN_HTML_LIMIT = 8  # room for the longest text token ("&amp;") once tags are dropped
_MIN_PLAIN_LIMIT = 2  # one astral character

# Tags Telegram's HTML parse mode accepts; aliases share a kind (b/strong, s/strike/del...).
_KIND = {
    "b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u",
    "s": "s", "strike": "s", "del": "s", "span": "spoiler", "tg-spoiler": "spoiler",
    "a": "a", "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "emoji",
}  # fmt: skip
_SAFE_HREF = re.compile(r"(?:https?://|tg://|mailto:)[^\s<>\"\x00-\x1f\x7f]+", re.IGNORECASE)
_LANGUAGE = re.compile(r"language-[^\s\"'<>&]{1,64}")
_SURROGATE = re.compile("[\ud800-\udfff]")

_TEXT, _OPEN, _CLOSE = 0, 1, 2
_PARAGRAPH, _LINE, _SPACE, _ANYWHERE = 0, 1, 2, 3


def escape_html(text: str, *, quote: bool = False) -> str:
    """Escape text for Telegram's HTML parse mode.

    Args:
        text: Raw text.
        quote: Also escape ``"`` (for attribute values).

    Returns:
        The text with ``&``, ``<``, ``>`` (and optionally ``"``) replaced by entities.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def shorten(text: str, limit: int) -> str:
    """Cut plain text to at most ``limit`` characters for display, marking the cut.

    Args:
        text: Raw text (escape it after shortening, so no entity is cut).
        limit: Maximum number of characters, the ellipsis included.

    Returns:
        The text itself if it is short enough, else its start followed by "…".
    """
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def utf16_length(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, as Telegram counts it.

    Args:
        text: Any string.

    Returns:
        Number of UTF-16 code units (astral characters such as most emoji count 2).
    """
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def markdown_to_telegram_html(markdown: str) -> str:
    """Convert LLM Markdown to HTML that Telegram's HTML parse mode accepts.

    Args:
        markdown: Markdown written by a model; raw HTML in it is shown literally.

    Returns:
        Sanitized Telegram HTML (may exceed the message limit; see ``render_reply``). Markdown that renders to
        nothing visible (empty code fences) is shown as its own text.
    """
    tokens = _tokens(_convert(markdown))
    if markdown.strip() and not any(token.kind == _TEXT and not token.text.isspace() for token in tokens):
        return escape_html(markdown.strip())
    return "".join(token.raw for token in tokens)


def split_html_message(html: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Split Telegram HTML into self-contained parts of at most ``limit`` UTF-16 units.

    The input is sanitized first. Splits prefer paragraph breaks, then line breaks, then
    spaces (in the second half of a part), then anywhere, never inside a tag, an entity or
    a character. Tags open at a split are closed and re-opened in the next part; a tag too
    long to repeat (e.g. a huge link) is dropped and its text kept. Whitespace at split
    points is dropped and every part has visible text, so ``""`` gives ``[]``.

    Args:
        html: Telegram HTML.
        limit: Maximum UTF-16 length of each part's raw HTML (thus also of its text).

    Returns:
        The parts, in order.

    Raises:
        ValueError: If ``limit`` is below 8.
    """
    if limit < _MIN_HTML_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_HTML_LIMIT}")
    return _split(_tokens(html), limit)


def render_reply(markdown: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Render an LLM Markdown reply as Telegram HTML messages.

    Args:
        markdown: The model's reply.
        limit: Maximum UTF-16 length per message.

    Returns:
        Parts to send in order with ``parse_mode="HTML"``; empty only when the reply is blank.
    """
    return split_html_message(markdown_to_telegram_html(markdown), limit)


def html_to_plain_text(html: str) -> str:
    """Strip tags and unescape entities (fallback when Telegram cannot parse entities).

    Args:
        html: HTML, e.g. one part from ``render_reply``.

    Returns:
        The visible text; never longer than ``html``.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)


def split_plain_text(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Split plain text into parts of at most ``limit`` UTF-16 units.

    Same preferences as ``split_html_message``; never splits a surrogate pair.

    Args:
        text: Text to send without parse_mode.
        limit: Maximum UTF-16 length per part.

    Returns:
        Non-blank parts, in order.

    Raises:
        ValueError: If ``limit`` is below 2.
    """
    if limit < _MIN_PLAIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_PLAIN_LIMIT}")
    return _split([_Token(_TEXT, char, char) for char in _fix_surrogates(text)], limit)


# ----- Markdown → raw HTML -----

_MAX_NESTING = 20  # markdown-it's default; bracket floods cost time in proportion to it
_LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")
_INLINE_TAGS = {"strong": "b", "em": "i", "s": "s"}
_HORIZONTAL_RULE = "—" * 10
_BULLET = "• "

# A rendered line: its HTML, and whether indentation may be put before it (not inside <pre> or <blockquote>).
_Line = tuple[str, bool]


def _fix_surrogates(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates, so the text encodes to UTF-16."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@per_instance
def _markdown_parser() -> MarkdownIt:
    """CommonMark with GitHub's strikethrough and tables; raw HTML and entities in the model's text stay as written.

    Built on first use: notify and admin escape text but parse no Markdown, and the import costs ~50 ms.
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False, "maxNesting": _MAX_NESTING})
    return parser.enable(["strikethrough", "table"]).disable("entity")


def _convert(markdown: str) -> str:
    """Parse the Markdown and render it in Telegram's tags; the result still needs sanitizing."""
    from markdown_it.tree import SyntaxTreeNode

    text = _fix_surrogates(markdown)
    tokens = _markdown_parser().parse(text)
    if any(token.level >= _MAX_NESTING - 1 for token in tokens):
        return escape_html(text.strip())  # the parser drops what is nested deeper than its limit
    return "\n".join(html for html, _ in _blocks(SyntaxTreeNode(tokens).children))


def _end_line(node: SyntaxTreeNode) -> int:
    """The line after a block's last content line (a container's own map may include a blank line after it)."""
    blocks = [child for child in node.children if child.type != "inline"]
    if node.type == "table" or not blocks:
        return node.map[1] if node.map else 0
    return _end_line(blocks[-1])


def _blocks(nodes: list[SyntaxTreeNode]) -> list[_Line]:
    """Render sibling blocks, separated by a blank line where the Markdown has one."""
    lines: list[_Line] = []
    end = None
    for node in nodes:
        rendered = _block(node)
        if not html_to_plain_text("".join(html for html, _ in rendered)).strip():
            continue
        if end is not None and (node.map is None or node.map[0] > end):
            lines.append(("", True))
        lines += rendered
        end = _end_line(node)
    return lines


def _block(node: SyntaxTreeNode) -> list[_Line]:
    if node.type in ("paragraph", "heading"):
        html = _inline(node.children[0].children) if node.children else ""
        return [(line, True) for line in (f"<b>{html}</b>" if node.type == "heading" else html).split("\n")]
    if node.type in ("bullet_list", "ordered_list"):
        return _blocks(node.children)
    if node.type == "list_item":
        return _list_item(node)
    if node.type == "blockquote":
        return _wrap(_blocks(node.children), "<blockquote>", "</blockquote>")
    if node.type in ("fence", "code_block"):
        language = node.info.split()[0] if node.info.strip() else ""
        start = f'<pre><code class="language-{escape_html(language, quote=True)}">' if language else "<pre>"
        end = "</code></pre>" if language else "</pre>"
        return _wrap([(escape_html(line), False) for line in node.content.removesuffix("\n").split("\n")], start, end)
    if node.type == "table":
        return _wrap([(escape_html(line), False) for line in _table(node)], "<pre>", "</pre>")
    if node.type == "hr":
        return [(_HORIZONTAL_RULE, True)]
    return [(escape_html(node.content), True)]  # html_block, which is disabled


def _wrap(lines: list[_Line], start: str, end: str) -> list[_Line]:
    """Put a tag pair around the lines; a block entity is never indented (spaces before it would show)."""
    if not lines:
        return []
    html = [html for html, _ in lines]
    html[0] = start + html[0]
    html[-1] += end
    return [(line, False) for line in html]


def _list_item(node: SyntaxTreeNode) -> list[_Line]:
    """The item's blocks, the first line after its marker and the others indented to align with it."""
    ordered = node.parent is not None and node.parent.type == "ordered_list"
    marker = f"{node.info}{node.markup} " if ordered else _BULLET  # the number as written, like the old converter
    lines = _blocks(node.children)
    if not lines or not lines[0][1]:
        lines.insert(0, ("", True))  # a code block or a quote starts below the marker
    indent = " " * len(marker)
    items = [((marker + lines[0][0]).rstrip(), True)]
    items += [(indent + html if indentable and html else html, indentable) for html, indentable in lines[1:]]
    return items


def _inline(nodes: list[SyntaxTreeNode]) -> str:
    out: list[str] = []
    for node in nodes:
        if node.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif node.type == "code_inline":
            out.append(f"<code>{escape_html(node.content)}</code>")
        elif node.type in _INLINE_TAGS:
            tag = _INLINE_TAGS[node.type]
            out.append(f"<{tag}>{_inline(node.children)}</{tag}>")
        elif node.type in ("link", "image"):
            out.append(_link(node))
        else:
            out.append(escape_html(node.content))  # text, and html_inline, which is disabled
    return "".join(out)


def _link(node: SyntaxTreeNode) -> str:
    """A link, or an image as a link to it; with another scheme (or none) only its text is kept."""
    href = str(node.attrGet("href") or node.attrGet("src") or "")
    label = _inline(node.children)
    if not html_to_plain_text(label).strip():
        label = escape_html(href)
    if not href.lower().startswith(_LINK_SCHEMES):
        return label
    return f'<a href="{escape_html(href, quote=True)}">{label}</a>'


def _table(node: SyntaxTreeNode) -> list[str]:
    """Telegram has no tables: the cells' text in aligned columns, the header ruled off, for a <pre> block."""
    sections = {section.type: section.children for section in node.children}
    header, body = sections.get("thead", []), sections.get("tbody", [])
    rows = [[_cell_text(cell) for cell in row.children] for row in header + body]
    aligns = [str(cell.attrGet("style") or "") for cell in (header + body)[0].children]
    widths = [max(_width(row[column]) for row in rows if column < len(row)) for column in range(len(aligns))]

    def line(row: list[str]) -> str:
        cells = []
        for text, width, align in zip(row, widths, aligns, strict=False):
            space = width - _width(text)
            left = space if "right" in align else space // 2 if "center" in align else 0
            cells.append(" " * left + text + " " * (space - left))
        return " | ".join(cells).rstrip()

    lines = [line(row) for row in rows]
    return [*lines[: len(header)], "-+-".join("-" * width for width in widths), *lines[len(header) :]]


def _cell_text(cell: SyntaxTreeNode) -> str:
    return _plain(cell.children[0].children) if cell.children else ""


def _plain(nodes: list[SyntaxTreeNode]) -> str:
    """Inline Markdown as the plain text of a <pre> block, which holds no links: a link's address follows its text."""
    out: list[str] = []
    for node in nodes:
        if node.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif node.type in ("link", "image"):
            href = str(node.attrGet("href") or node.attrGet("src") or "")
            label = _plain(node.children).strip()
            out.append(href if not label or label == href else f"{label} ({href})" if href else label)
        elif node.children:
            out.append(_plain(node.children))
        else:
            out.append(node.content)
    return "".join(out)


def _width(text: str) -> int:
    """Columns the text takes in a monospace font: wide characters (CJK, most emoji) two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# ----- sanitizer: raw HTML → tree of allowed elements → tokens -----


class _Element:
    __slots__ = ("children", "start", "tag")

    def __init__(self, tag: str, start: str) -> None:
        self.tag = tag
        self.start = start
        self.children: list[_Element | str] = []


def _start_tag(tag: str, attrs: list[tuple[str, str | None]], ancestors: list[str]) -> str | None:
    """Return the normalized start tag, or None to drop the tag (keeping its content)."""
    kinds = {_KIND[name] for name in ancestors}
    parent = ancestors[-1] if ancestors else ""
    if ("code" in kinds or "pre" in kinds) and not (tag == "code" and parent == "pre"):
        return None  # pre and code contain no other entities
    if _KIND[tag] in kinds or (_KIND[tag] in ("code", "pre") and "a" in kinds):
        return None
    values: dict[str, str | None] = {}
    for name, value in attrs:
        values.setdefault(name, value)
    if tag == "a":
        href = (values.get("href") or "").strip()
        return f'<a href="{escape_html(href, quote=True)}">' if _SAFE_HREF.fullmatch(href) else None
    if tag == "span":
        return '<span class="tg-spoiler">' if values.get("class") == "tg-spoiler" else None
    if tag == "code":
        language = values.get("class") or ""
        return f'<code class="{language}">' if parent == "pre" and _LANGUAGE.fullmatch(language) else "<code>"
    if tag == "blockquote":
        return "<blockquote expandable>" if "expandable" in values else "<blockquote>"
    if tag == "tg-emoji":
        emoji_id = values.get("emoji-id") or ""
        return f'<tg-emoji emoji-id="{emoji_id}">' if emoji_id.isascii() and emoji_id.isdigit() else None
    return f"<{tag}>"


class _TreeBuilder(HTMLParser):
    """Builds a tree of allowed, properly nested elements; everything else becomes text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("", "")
        # (tag name, attributes, element or None when the tag is dropped but its end tag must match)
        self._open: list[tuple[str, list[tuple[str, str | None]], _Element | None]] = []

    def set_cdata_mode(self, elem: str, *, escapable: bool = False) -> None:
        """Parse <script>/<style> content as ordinary text (it is escaped, never interpreted)."""

    def _current(self) -> _Element:
        return next((element for _, _, element in reversed(self._open) if element is not None), self.root)

    def _push(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ancestors = [element.tag for _, _, element in self._open if element is not None]
        start = _start_tag(tag, attrs, ancestors)
        element = None if start is None else _Element(tag, start)
        if element is not None:
            self._current().children.append(element)
        self._open.append((tag, attrs, element))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _KIND:
            self._push(tag, attrs)
        else:
            self.handle_startendtag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.handle_data("\n")
        elif tag not in _KIND:  # an empty allowed element is simply dropped
            self.handle_data(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                reopen = self._open[index + 1 :]  # misnested: close them here, reopen after
                del self._open[index:]
                for name, attrs, _ in reopen:
                    self._push(name, attrs)
                return
        if tag not in _KIND and tag != "br":  # stray end tags of allowed tags are dropped
            self.handle_data(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self._current().children.append(data)

    def handle_comment(self, data: str) -> None:
        self.handle_data(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.handle_data(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self.handle_data(f"<![{data}]>")

    def handle_pi(self, data: str) -> None:
        self.handle_data(f"<?{data}>")


class _TextExtractor(_TreeBuilder):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_startendtag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        return None

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


class _Token:
    __slots__ = ("kind", "pair", "raw", "text", "units")

    def __init__(self, kind: int, raw: str, text: str) -> None:
        self.kind = kind
        self.raw = raw
        self.text = text  # the character for text tokens, the tag name for tags
        self.units = utf16_length(raw)
        self.pair = -1  # index of the matching close/open token


def _has_text(element: _Element) -> bool:
    return any(bool(child) if isinstance(child, str) else _has_text(child) for child in element.children)


def _tokens(html: str) -> list[_Token]:
    builder = _TreeBuilder()
    builder.feed(_fix_surrogates(html))
    builder.close()
    tokens: list[_Token] = []

    def walk(element: _Element) -> None:
        for child in element.children:
            if isinstance(child, str):
                tokens.extend(_Token(_TEXT, escape_html(char), char) for char in child)
            elif _has_text(child):  # empty elements are dropped
                opening = len(tokens)
                tokens.append(_Token(_OPEN, child.start, child.tag))
                walk(child)
                tokens.append(_Token(_CLOSE, f"</{child.tag}>", child.tag))
                tokens[opening].pair, tokens[-1].pair = len(tokens) - 1, opening

    walk(builder.root)
    return tokens


# ----- splitting -----


def _break_kind(tokens: list[_Token], dropped: list[bool], index: int) -> int:
    token = tokens[index]
    if token.kind != _TEXT or not token.text.isspace():
        return _ANYWHERE
    if token.text != "\n":
        return _SPACE
    following = next((tokens[k] for k in range(index + 1, len(tokens)) if not dropped[k]), None)
    return _PARAGRAPH if following is not None and following.text == "\n" else _LINE


def _find_break(tokens: list[_Token], dropped: list[bool], start: int, size: int, limit: int) -> int:
    """Return the index before which the part starting at ``start`` (with ``size`` units of tags) ends."""
    last: dict[int, tuple[int, int]] = {}
    after_open = seen_text = False
    for index in range(start, len(tokens)):
        token = tokens[index]
        if dropped[index]:
            continue
        if seen_text and not after_open and token.kind != _CLOSE:
            last[_break_kind(tokens, dropped, index)] = (index, size)
        grow = 0 if token.kind == _CLOSE else token.units + (tokens[token.pair].units if token.kind == _OPEN else 0)
        if size + grow > limit:
            break
        size += grow
        seen_text = seen_text or (token.kind == _TEXT and not token.text.isspace())
        after_open = token.kind == _OPEN
    else:
        return len(tokens)
    for kind in (_PARAGRAPH, _LINE, _SPACE):
        if kind in last and last[kind][1] >= limit // 2:
            return last[kind][0]
    spaces = [last[kind][0] for kind in (_PARAGRAPH, _LINE, _SPACE) if kind in last]
    return max(spaces) if spaces else last[_ANYWHERE][0]


def _split(tokens: list[_Token], limit: int) -> list[str]:
    dropped = [False] * len(tokens)
    parts: list[str] = []
    stack: list[int] = []  # indices of open tokens enclosing the current position
    index = 0
    while True:
        # Skip whitespace at the start of a part; tags found there become part of its prefix.
        while index < len(tokens):
            token = tokens[index]
            if not dropped[index]:
                if token.kind == _OPEN:
                    stack.append(index)
                elif token.kind == _CLOSE:
                    stack.pop()
                elif not token.text.isspace():
                    break
            index += 1
        if index >= len(tokens):
            return parts
        size = sum(tokens[k].units + tokens[tokens[k].pair].units for k in stack)
        if size + tokens[index].units > limit:  # tags too long to re-open: drop the longest
            victim = max(stack, key=lambda k: tokens[k].units + tokens[tokens[k].pair].units)
            position = stack.index(victim)
            victims = stack[position : position + (2 if tokens[victim].text == "pre" else 1)]
            for k in victims:
                dropped[k] = dropped[tokens[k].pair] = True
                stack.remove(k)
            continue
        end = _find_break(tokens, dropped, index, size, limit)
        out = [tokens[k].raw for k in stack]
        for k in range(index, end):
            if not dropped[k]:
                out.append(tokens[k].raw)
                if tokens[k].kind == _OPEN:
                    stack.append(k)
                elif tokens[k].kind == _CLOSE:
                    stack.pop()
        out += [tokens[tokens[k].pair].raw for k in reversed(stack)]
        parts.append("".join(out))
        index = end
