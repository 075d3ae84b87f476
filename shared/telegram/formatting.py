"""Turn LLM Markdown into Telegram messages that parse_mode "HTML" always accepts.

Pipeline: protect the parts chatgpt-md-converter mishandles (code, link URLs, raw ``<``,
backslash escapes, stray brackets and backticks) behind private-use placeholders, convert
with ``telegram_format``, restore the placeholders, then rebuild the HTML with a small
``html.parser`` sanitizer that keeps only Telegram's tags and attributes, repairs nesting
and escapes everything else. Splitting works on the sanitized token stream, so no part is
cut inside a tag, an entity or a surrogate pair, and open tags are closed and re-opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

from chatgpt_md_converter import telegram_format

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

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<code>.*?)(?:^[ \t]*(?P=fence)`*[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_INLINE_CODE = re.compile(r"(?<![`\\])(?P<ticks>`+)(?!`)(?P<code>[^\n]+?)(?<!`)(?P=ticks)(?!`)")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_LINK = re.compile(
    r"(?P<text>!?\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\])"
    r"\(\s*(?:<(?P<angle>[^<>\n]*)>|(?P<url>(?:[^\s()]|\([^\s()]*\))+))(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"
)
_PROTECTED_CHARS = "<`【】"  # raw HTML, stray backticks, and the citation brackets the library deletes
_PRIVATE_USE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))

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
        Sanitized Telegram HTML (may exceed the message limit; see ``render_reply``).
    """
    return "".join(token.raw for token in _tokens(_convert(markdown)))


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
        Parts to send in order with ``parse_mode="HTML"``; empty if nothing is visible.
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


def _fix_surrogates(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates, so the text encodes to UTF-16."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class _Placeholders:
    """Single private-use characters (absent from the text) standing for protected snippets."""

    def __init__(self, text: str) -> None:
        self._taken = set(text)
        self._free: Iterator[str] = (chr(c) for low, high in _PRIVATE_USE for c in range(low, high + 1))
        self._html: dict[int, str] = {}
        self._plain: dict[int, str] = {}
        self._chars: dict[str, str] = {}

    def add(self, plain: str, html: str) -> str:
        key = next(c for c in self._free if c not in self._taken)
        self._html[ord(key)] = html
        self._plain[ord(key)] = plain
        return key

    def char(self, char: str) -> str:
        if char not in self._chars:
            self._chars[char] = self.add(char, escape_html(char))
        return self._chars[char]

    def to_html(self, text: str) -> str:
        return text.translate(self._html)

    def to_plain(self, text: str) -> str:
        return text.translate(self._plain)


def _convert(markdown: str) -> str:
    """Run chatgpt-md-converter with the fragile parts protected; the result still needs sanitizing."""
    text = _fix_surrogates(markdown).replace("\r\n", "\n").replace("\r", "\n")
    holders = _Placeholders(text)
    blocks: list[str] = []

    def fence(match: re.Match[str]) -> str:
        code = re.sub(rf"(?m)^[ \t]{{0,{len(match['indent'])}}}", "", match["code"]).removesuffix("\n")
        words = match["info"].split()
        html = f"<pre>{escape_html(code)}</pre>"
        if words:
            html = f'<pre><code class="language-{escape_html(words[0], quote=True)}">{escape_html(code)}</code></pre>'
        blocks.append(holders.add(code, html))
        return blocks[-1]

    def inline(match: re.Match[str]) -> str:
        code = match["code"]
        if len(code) > 2 and code[0] == code[-1] == " " and code.strip():
            code = code[1:-1]
        return holders.add(code, f"<code>{escape_html(code)}</code>")

    def link(match: re.Match[str]) -> str:
        label = match["text"]
        start = label.index("[") + 1
        inner = label[start:-1].replace("[", holders.char("[")).replace("]", holders.char("]"))
        url = holders.to_plain(match["url"] or match["angle"] or "").strip()
        return f"{label[:start]}{inner}]({holders.add(url, escape_html(url, quote=True))})"

    def brackets(segment: str) -> str:
        return segment.replace("[", holders.char("[")).replace("]", holders.char("]"))

    text = _FENCE.sub(fence, text)
    text = _INLINE_CODE.sub(inline, text)
    text = _BACKSLASH_ESCAPE.sub(lambda match: holders.char(match[1]), text)
    # Keep only brackets of real links: the library's link regex backtracks exponentially on nested brackets.
    pieces: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        pieces += [brackets(text[position : match.start()]), link(match)]
        position = match.end()
    text = "".join(pieces) + brackets(text[position:])
    for char in _PROTECTED_CHARS:
        text = text.replace(char, holders.char(char))
    # Convert paragraph by paragraph, so emphasis never spans blank lines or code blocks.
    separators = r"\n[ \t]*\n(?:[ \t]*\n)*" + (f"|[{re.escape(''.join(blocks))}]" if blocks else "")
    pieces = re.split(f"({separators})", text)
    for index in range(0, len(pieces), 2):
        piece = pieces[index]
        if piece.strip():
            lead, trail = piece[: len(piece) - len(piece.lstrip())], piece[len(piece.rstrip()) :]
            pieces[index] = lead + str(telegram_format(piece.strip())) + trail
    return holders.to_html(re.sub(r"\n{3,}", "\n\n", "".join(pieces)).strip())


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
