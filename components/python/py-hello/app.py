"""`py-hello`: the document's "Simple Values" example, `from 'Hello world'`.

SSE: `data: "Hello world"`. JSON mode: the body `"Hello world"`.
"""

from sluice import Request, Stream, ingress


@ingress
def handle(request: Request) -> Stream:
    return Stream.once("Hello world")
