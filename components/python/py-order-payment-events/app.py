"""`py-order-payment-events`: the document's "Multiple Streams" example.

    param orderId: uuid
    param paymentId: uuid
    from { event = 'init', data = { orderId, paymentId } }
    from events ($'actors/order/{orderId}', 'checkpoint') select e => { event = 'orderUpdated', data = e }
    from events ($'actors/payment/{paymentId}', 'checkpoint') select e => { event = 'paymentUpdated', data = e }

`init` first, then order and payment checkpoints in the order the bus delivered them. An
`orderId` or `paymentId` that is not a UUID is a 400 `INVALID_PARAMETER` naming it.
"""

import uuid

from sluice import Record, Request, Stream, events, ingress


@ingress
def handle(request: Request) -> Stream:
    order_id = request.param("orderId", uuid.UUID)
    payment_id = request.param("paymentId", uuid.UUID)
    init = Record.event("init").data({"orderId": order_id, "paymentId": payment_id})
    return Stream.once(init).merge(
        events(f"actors/order/{order_id}", "checkpoint").map(
            lambda e: Record.event("orderUpdated").data(e)
        ),
        events(f"actors/payment/{payment_id}", "checkpoint").map(
            lambda e: Record.event("paymentUpdated").data(e)
        ),
    )
