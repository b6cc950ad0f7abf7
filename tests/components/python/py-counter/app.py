"""`py-counter`: an actor in Python, for the actor-world tests.

Messages: `add` (body: an integer; negative totals are rejected with `NEGATIVE`), `get`,
and anything else is `UNKNOWN_MESSAGE`. A new counter starts at 0.
"""

from sluice import ActorContext, ActorMessage, Error, actor


@actor(initial=lambda: {"count": 0})
def counter(state: dict, ctx: ActorContext, message: ActorMessage) -> int:
    if message.type == "add":
        if state["count"] + message.body < 0:
            raise Error("NEGATIVE", f"{ctx.name} cannot go below zero")
        state["count"] += message.body
    elif message.type != "get":
        raise message.unknown()
    return state["count"]
