/**
 * What services see of NATS messages, so none handles a nats.js type: a message delivered by a
 * durable consumer (`Delivery`: the matcher's EVENTS, a partition's INBOX) and a core NATS message
 * (`BusMessage`: requests and subscriptions). nats.js's messages have this shape already; they are
 * handed over as they are.
 */

/** A message's headers: by name, or every name with its values. */
export interface MessageHeaders extends Iterable<[string, string[]]> {
  /** The header's first value ("" when absent). */
  get(name: string): string;
}

/** A message delivered by a durable consumer, to be settled once handled. */
export interface Delivery {
  readonly subject: string;
  /** Its sequence in the stream. */
  readonly seq: number;
  readonly data: Uint8Array;
  readonly headers?: MessageHeaders | undefined;
  readonly info: { readonly stream: string; readonly deliveryCount: number };
  json<T = unknown>(): T;
  string(): string;
  /** Handled: never delivered again. */
  ack(): void;
  /** Not handled: delivered again (after `delayMs`, if given). */
  nak(delayMs?: number): void;
  /** Still being handled: not delivered again for another ack wait. */
  working(): void;
  /** Never to be handled: not delivered again. */
  term(reason?: string): void;
}

/** A core NATS message (a request, or a message of a subscription). */
export interface BusMessage {
  readonly subject: string;
  /** Where an answer goes (a request); absent on a plain publish. */
  readonly reply?: string | undefined;
  readonly data: Uint8Array;
  readonly headers?: MessageHeaders | undefined;
  json<T = unknown>(): T;
  string(): string;
  /** Answers a request; false when the message has no reply subject. */
  respond(data?: string): boolean;
}
