"""LLM markdown as WhatsApp text: WhatsApp has its own small markup (*bold*, _italic_,
~strike~, ```mono```), no headings and no tables, and a message of at most 4,096
characters (Zapa splits at 4,000, at paragraph boundaries)."""

import re

MAX_MESSAGE_CHARS = 4000

_CODE_BLOCK = re.compile(r"```[^\n`]*\n?(.*?)```", re.DOTALL)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BULLET = re.compile(r"^(\s*)[*+-]\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_HRULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$", re.MULTILINE)


def to_whatsapp(markdown: str) -> str:
    """Convert common markdown to WhatsApp formatting; code blocks are kept verbatim."""
    blocks: list[str] = []

    def keep_block(match: re.Match) -> str:
        blocks.append("```" + match.group(1).rstrip("\n") + "```")
        return f"\x00{len(blocks) - 1}\x00"

    text = _CODE_BLOCK.sub(keep_block, markdown.replace("\r\n", "\n"))
    text = _HRULE.sub("", text)
    # Bold comes out as a placeholder, so the italic pass cannot take its stars.
    text = _HEADING.sub(lambda m: f"\x01{_strip_bold(m.group(1))}\x01", text)
    text = _BOLD.sub("\x01\\2\x01", text)
    text = _ITALIC_STAR.sub(r"_\1_", text)
    text = text.replace("\x01", "*")
    text = _STRIKE.sub(r"~\1~", text)
    text = _BULLET.sub(r"\1• ", text)
    text = _LINK.sub(r"\1 (\2)", text)
    text = _INLINE_CODE.sub(r"```\1```", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return re.sub(r"\x00(\d+)\x00", lambda m: blocks[int(m.group(1))], text)


def _strip_bold(text: str) -> str:
    return _BOLD.sub(r"\2", text).strip("*")


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut at paragraph boundaries where possible,
    else at line ends, else at spaces, else hard."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    while len(text) > limit:
        cut = _cut_point(text, limit)
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    window = text[: limit + 1]
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator)
        if position > limit // 4:
            return position
    return limit
