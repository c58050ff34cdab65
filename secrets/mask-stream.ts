/**
 * Masks secret values in a byte stream (tool output kept as an artifact, a
 * saved result) before it reaches the object store: chunks are masked as they
 * pass, holding back only the bytes that could belong to a value split across
 * the next chunk boundary (SecretMasker.streamCut).
 */
import { Readable, Transform, pipeline } from 'node:stream';
import type { SecretMasker } from './mask.js';

/** `cutEnd`: the stream itself was cut at a cap, so its last bytes may be the start of a value. */
export function maskingStream(masker: SecretMasker, options: { cutEnd?: boolean } = {}): Transform {
  let held = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      const bytes = Buffer.concat([held, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk]);
      const cut = masker.streamCut(bytes);
      held = bytes.subarray(cut);
      done(null, cut > 0 ? masker.maskBytes(bytes.subarray(0, cut)) : undefined);
    },
    flush(done) {
      done(null, masker.maskBytes(held, { end: options.cutEnd === true }));
    },
  });
}

/** `body` masked (as is when the masker has nothing to mask). */
export function maskedBody(masker: SecretMasker, body: NodeJS.ReadableStream, options: { cutEnd?: boolean } = {}): NodeJS.ReadableStream {
  if (masker.empty) return body;
  const source = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
  // pipeline, not pipe: a failed read reaches the store's reader as an error instead of a stream that never ends.
  return pipeline(source, maskingStream(masker, options), () => undefined);
}
