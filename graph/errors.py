"""Errors raised by the engine. Every message is one line that names the thing at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .node import Node


class OptographError(Exception):
    """Base of every error optograph raises on purpose."""


class RunAbortedError(OptographError):
    """An error that ends the run instead of becoming feedback: a traced operation that raises
    it (a replayed call missing from its cassette, say) re-raises it unchanged rather than
    recording an exception node, since no optimizer could fix it by changing a parameter."""


class GraphError(OptographError, ValueError):
    """Bad input to the engine: an unsupported value, a non-callable bundle, a bad load file."""


class HiddenInputError(GraphError):
    """A bundled function read a node it did not receive as an input (hidden_inputs="error")."""


class ExecutionError(OptographError):
    """A traced operation failed. `exception_node` is a node of the graph like any other:
    its data names the exception, its info holds the annotated source, and feedback on it
    reaches the parameters the failing call depended on."""

    def __init__(self, exception_node: Node) -> None:
        self.exception_node = exception_node
        super().__init__(str(exception_node.data))
