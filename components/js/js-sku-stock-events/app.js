// `js-sku-stock-events`: the document's "Complete Example: SKU Stock Updates". The SKU
// number is a bound query argument (`skuNumber == ?`), so it needs no quoting. An unknown
// SKU is a 404 `NOT_FOUND` before the stream starts.

import { Record, SluiceError, Stream, events, ingress, messageActor, query } from 'sluice';

/** `messageActor('sku', skuId, [{ type = 'calculateAvailableStock' }])`. */
const availableStock = (skuId) => messageActor('sku', skuId, ['calculateAvailableStock']);

export const handler = ingress((request) => {
  const skuNumber = request.param('skuNumber');
  const sku = query('skus').fields('skuId', 'skuNumber').filter('skuNumber == ?', skuNumber).first();
  if (!sku) throw SluiceError.notFound('SKU not found');
  const updates = events(`actors/sku/${sku.skuId}`, 'checkpoint').map(() =>
    Record.event('stockUpdated').data(availableStock(sku.skuId)),
  );
  return Stream.once(Record.event('init').data(availableStock(sku.skuId))).merge(updates);
});
