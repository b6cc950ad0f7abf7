"""`py-fails`: a Python component that fails with an uncaught exception, for the tests of
what the host makes of it (a 500 or a `COMPONENT_FAILED` event, the traceback in the log).

Route parameter `when`:
- `before`: prints a line, then raises `RuntimeError` in the handler, before the stream.
- `after`: yields one `tick`, then raises `ZeroDivisionError` in the next pull.
- `error`: raises the SDK's `Error` (a 409), which is an answer, not a failure.
"""

from sluice import Error, Record, Request, Stream, ingress


@ingress
def handle(request: Request) -> Stream:
    when = request.param("when")
    if when == "before":
        print("about to fail before the stream")
        raise RuntimeError("py-fails: failing before the stream as asked")
    if when == "error":
        raise Error.conflict("py-fails: a conflict, as asked")
    return Stream.iter(tick_then_fail())


def tick_then_fail():
    yield Record.event("tick").data({"i": 1})
    yield 1 / 0
