"""`py-sku-stock-events`: the document's "Complete Example: SKU Stock Updates".

    param skuNumber: text
    let skuQuery = query skus(skuId, skuNumber) filter $'skuNumber == ''{safeSkuNumber}'''
    ...
    from { event = 'init', data = initialStock }
    from events ($'actors/sku/{sku.skuId}', 'checkpoint')
    select e => { event = 'stockUpdated', data = messageActor('sku', sku.skuId, [...]) }

The SKU number is a bound query argument (`skuNumber == ?`), so it needs no quoting. A
query error is a 500 `QUERY_ERROR`, an unknown SKU a 404 `NOT_FOUND`, both before the
stream starts. A failed stock calculation mid-stream is sent as an `error` event and the
stream goes on.
"""

from typing import Any

from sluice import Error, Record, Request, Stream, events, ingress, message_actor, query


@ingress
def handle(request: Request) -> Stream:
    sku_number = request.param("skuNumber")
    sku = query("skus").fields("skuId", "skuNumber").filter("skuNumber == ?", sku_number).first()
    if sku is None:
        raise Error.not_found("SKU not found")
    sku_id = sku["skuId"]
    updates = events(f"actors/sku/{sku_id}", "checkpoint").map(
        lambda _checkpoint: Record.event("stockUpdated").data(available_stock(sku_id))
    )
    return Stream.once(Record.event("init").data(available_stock(sku_id))).merge(updates)


def available_stock(sku_id: str) -> Any:
    """`messageActor('sku', skuId, [{ type = 'calculateAvailableStock' }])`."""
    return message_actor("sku", sku_id, ["calculateAvailableStock"])
