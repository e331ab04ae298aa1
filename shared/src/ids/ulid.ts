import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastTime = -1;
/** The time part of the last id (10 characters), kept while the millisecond lasts. */
let timePart = "";
/** The 16 random base32 digits of the last id; incremented in place within one millisecond. */
const randomDigits = new Uint8Array(16);

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32]! + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** Adds one to the random digits (base 32, last digit least significant). */
function incrementRandom(): void {
  for (let i = randomDigits.length - 1; i >= 0; i--) {
    if (randomDigits[i]! < 31) {
      randomDigits[i]! += 1;
      return;
    }
    randomDigits[i] = 0;
  }
}

/**
 * A ULID: 26 Crockford base32 characters, 48-bit millisecond time then 80 random bits, monotonic
 * within one process (ids made in the same millisecond sort in creation order).
 */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime) {
    incrementRandom();
  } else {
    lastTime = now;
    timePart = encodeTime(now);
    const bytes = randomBytes(16);
    for (let i = 0; i < 16; i++) randomDigits[i] = bytes[i]! % 32;
  }
  let out = timePart;
  for (let i = 0; i < 16; i++) out += ALPHABET[randomDigits[i]!]!;
  return out;
}

/** A prefixed sortable id, e.g. `run_01J…`. */
export function newId(prefix: string): string {
  return `${prefix}_${ulid()}`;
}
