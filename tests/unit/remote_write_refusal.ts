/**
 * What the remote-write decoder tests expect of a refused body: a RemoteWriteError (which the
 * route answers with 400), returned so the test can assert its message and fields.
 */
import { expect } from 'vitest';
import { RemoteWriteError } from '../../src/interop/remote_write_decoder.js';

/** The RemoteWriteError `fn` throws; fails the test when it throws something else or nothing. */
export function refusal(fn: () => unknown): RemoteWriteError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RemoteWriteError);
    return err as RemoteWriteError;
  }
  throw new Error('expected a RemoteWriteError');
}
