"""placeholder: filled in below"""
from typing import Any


def register(subparsers: Any) -> None:
    pass
