// `js-counter`: an actor in JavaScript. Messages: `add` (body: an integer; a negative total
// is rejected with `NEGATIVE`), `get`; anything else is `UNKNOWN_MESSAGE`. Starts at 0.

import { SluiceError, actor } from 'sluice';

export const actorHandler = actor({
  initial: () => ({ count: 0 }),
  handle(state, ctx, message) {
    if (message.type === 'add') {
      if (state.count + message.body < 0) {
        throw new SluiceError('NEGATIVE', `${ctx.name} cannot go below zero`);
      }
      state.count += message.body;
    } else if (message.type !== 'get') {
      throw message.unknown();
    }
    return state.count;
  },
});
