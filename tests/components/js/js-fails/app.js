// `js-fails`: a JavaScript component that fails with an uncaught exception, for the tests of
// what the host makes of it. Route parameter `when`: `before` (a TypeError in the handler),
// `after` (one `tick`, then a RangeError in the next pull), `error` (a SluiceError: a 409).

import { Record, SluiceError, Stream, ingress } from 'sluice';

function* tickThenFail() {
  yield Record.event('tick').data({ i: 1 });
  yield new Array(-1);
}

export const handler = ingress((request) => {
  const when = request.param('when');
  if (when === 'before') {
    console.log('about to fail before the stream');
    null.property;
  }
  if (when === 'error') throw SluiceError.conflict('js-fails: a conflict, as asked');
  return Stream.iter(tickThenFail());
});
