"""Replies are read tolerantly; TERMINATE counts only as the answer."""

from __future__ import annotations

import pytest

from optograph.agent.reply_parser import ReplyFormatError, parse_reply

JSON = '{"reasoning": "x is too small", "answer": "", "suggestion": {"x": 7}}'


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (JSON, "json"),
        (f"```json\n{JSON}\n```", "fenced"),
        (f"Sure! Here is my reply:\n{JSON}\nHope it helps.", "embedded"),
        ("{'reasoning': 'x is too small', 'answer': None, 'suggestion': {'x': 7},}", "json"),
        ('{"reasoning": "x is too small", "suggestion": {"x": 7,},}', "json"),
        ("<reasoning>x is too small</reasoning><answer></answer>"
         '<suggestion>{"x": 7}</suggestion>', "tags"),
        ('<reasoning>x is too small</reasoning><suggestion><variable name="x">7</variable>'
         "</suggestion>", "tags"),
        ("<suggestion>\n<x>7</x>\n</suggestion>", "tags"),
    ],
)
def test_each_reply_format_gives_the_suggestion(text: str, fmt: str) -> None:
    reply = parse_reply(text)
    assert reply.format == fmt
    assert {k: str(v) for k, v in reply.suggestion.items()} == {"x": "7"}
    assert not reply.terminate


def test_type_prefixes_in_names_are_removed() -> None:
    assert parse_reply('{"suggestion": {"(int) x": 3, "`y`": 4}}').suggestion == {"x": 3, "y": 4}


def test_terminate_only_as_the_answer() -> None:
    assert parse_reply("TERMINATE").terminate
    assert parse_reply(" terminate. ").terminate
    assert parse_reply('{"reasoning": "done", "answer": "TERMINATE", "suggestion": {}}').terminate
    assert parse_reply("<answer>TERMINATE</answer>").terminate
    said = parse_reply(
        '{"reasoning": "I should not TERMINATE yet", "answer": "", "suggestion": {"x": 1}}'
    )
    assert not said.terminate and said.suggestion == {"x": 1}
    assert not parse_reply('{"answer": "do not terminate now", "suggestion": {"x": 1}}').terminate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the reply is empty"),
        ("I think x should be 7.", "contains no JSON object and no <suggestion> tag"),
        ('{"reasoning": "hm", "value": 3}', "has no 'suggestion' key"),
        ('{"suggestion": [1, 2]}', "'suggestion' must be an object"),
        ('{"suggestion": "x=3"}', "'suggestion' must be an object"),
        ("<suggestion>x is 3</suggestion>", "holds neither a JSON object nor"),
    ],
)
def test_unusable_replies_say_why(text: str, message: str) -> None:
    with pytest.raises(ReplyFormatError, match=message):
        parse_reply(text)


def test_the_reply_object_is_chosen_among_several_json_objects() -> None:
    text = 'Values were {"x": 1} before. Now: {"reasoning": "r", "suggestion": {"x": 2}}'
    assert parse_reply(text).suggestion == {"x": 2}
