// `js-hello`: the document's "Simple Values" example, `from 'Hello world'`.
// SSE: `data: "Hello world"`. JSON mode: the body `"Hello world"`.

import { Stream, ingress } from 'sluice';

export const handler = ingress(() => Stream.once('Hello world'));
