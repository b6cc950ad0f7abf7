"""`py-order-events`: the document's "Real-Time Events with events()" example.

    param orderId: text
    from events ($'actors/order/{orderId}', 'checkpoint')
    select e => { event = 'updated', data = e }

Every checkpoint of the order actor is sent as an `updated` event whose data is the bus
event `{"topic","eventType","id","timestamp","data"}`.
"""

from sluice import Event, Events, Record, Request, events, ingress


@ingress
def handle(request: Request) -> Events:
    order_id = request.param("orderId")
    return events(f"actors/order/{order_id}", "checkpoint").map(updated)


def updated(event: Event) -> Record:
    return Record.event("updated").data(event)
