/**
 * The next item of `messages`, or `silent()`'s error when none comes within `ms`.
 *
 * Silence is judged only after the event loop has read what arrived: when the controller's loop
 * was blocked past the bound (a burst of work, a stall of the machine), the timer is due in the
 * same turn as the socket data that would have answered it, and timers run first. So the verdict
 * waits one more turn (setImmediate runs after the loop has polled its sockets): a message that
 * was already there wins, and only a real silence fails the stream.
 */
export async function nextWithin<T>(messages: AsyncIterator<T>, ms: number, silent: () => Error): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  let check: NodeJS.Immediate | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      check = setImmediate(() => reject(silent()));
    }, ms);
  });
  try {
    return await Promise.race([messages.next(), silence]);
  } finally {
    clearTimeout(timer);
    if (check) clearImmediate(check);
  }
}
