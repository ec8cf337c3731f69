/** What fits in one NATS message on the gateway's connection. */
import { NATS_HEADER_ROOM } from "@jetstep/core";
import { maxPayload, type Nats } from "@jetstep/jetstream";

/** nats-server's default max_payload, assumed until the server's INFO says otherwise. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The largest body one message may carry: the connected server's max_payload less room for headers.
 * A larger publish fails in the client (or closes the connection), so bodies are checked first.
 */
export function maxMessageBytes(nats: Nats): number {
  return maxPayload(nats, DEFAULT_MAX_PAYLOAD) - NATS_HEADER_ROOM;
}
