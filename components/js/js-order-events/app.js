// `js-order-events`: the document's "Real-Time Events with events()" example.
//
//   param orderId: text
//   from events ($'actors/order/{orderId}', 'checkpoint')
//   select e => { event = 'updated', data = e }

import { Record, events, ingress } from 'sluice';

export const handler = ingress((request) => {
  const orderId = request.param('orderId');
  return events(`actors/order/${orderId}`, 'checkpoint').map((e) => Record.event('updated').data(e));
});
