// `js-order-payment-events`: the document's "Multiple Streams" example. `init` first, then
// order and payment checkpoints in the order the bus delivered them. An `orderId` or
// `paymentId` that is not a UUID is a 400 `INVALID_PARAMETER` naming it.

import { Record, Stream, events, ingress } from 'sluice';

export const handler = ingress((request) => {
  const orderId = request.param('orderId', 'uuid');
  const paymentId = request.param('paymentId', 'uuid');
  return Stream.once(Record.event('init').data({ orderId, paymentId })).merge(
    events(`actors/order/${orderId}`, 'checkpoint').map((e) => Record.event('orderUpdated').data(e)),
    events(`actors/payment/${paymentId}`, 'checkpoint').map((e) => Record.event('paymentUpdated').data(e)),
  );
});
