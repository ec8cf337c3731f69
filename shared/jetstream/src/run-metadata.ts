/**
 * Run metadata in the METADATA bucket (one key per run id, see `metadata.ts` in core), updated by
 * compare-and-set so concurrent writers (the executor recording a step, a gateway taking a
 * `POST /v1/runs/:id/metadata`) never lose each other's updates.
 */
import {
  applyMetadata,
  emptyRunMetadata,
  MAX_RUN_METADATA_BYTES,
  type MetadataUpdate,
  type RunMetadata,
} from "@jetstep/core";
import type { KV } from "@nats-io/kv";

export class MetadataTooLargeError extends Error {
  override name = "MetadataTooLargeError";
}

export async function readRunMetadata(kv: KV, runId: string): Promise<RunMetadata | null> {
  const e = await kv.get(runId);
  return e?.operation === "PUT" ? e.json<RunMetadata>() : null;
}

/** Applies `updates` to the run (no `stepId`) or one of its steps; retries when raced. */
export async function updateRunMetadata(
  kv: KV,
  runId: string,
  stepId: string | undefined,
  updates: readonly MetadataUpdate[],
): Promise<RunMetadata> {
  for (let attempt = 0; ; attempt++) {
    const e = await kv.get(runId);
    const current = e?.operation === "PUT" ? e.json<RunMetadata>() : emptyRunMetadata();
    const next = applyMetadata(current, stepId, updates);
    const text = JSON.stringify(next);
    if (Buffer.byteLength(text) > MAX_RUN_METADATA_BYTES)
      throw new MetadataTooLargeError(
        `metadata: the run's metadata would be ${Buffer.byteLength(text)} bytes; at most ${MAX_RUN_METADATA_BYTES}`,
      );
    try {
      if (e?.operation === "PUT") await kv.update(runId, text, e.revision);
      else await kv.create(runId, text);
      return next;
    } catch (err) {
      // Someone wrote it meanwhile: read again. A persistent failure is not a race.
      if (attempt >= 10) throw err;
    }
  }
}

/** METADATA: one key per run id holding its metadata (see `metadata.ts` in core). */
export class MetadataStore {
  constructor(private readonly kv: KV) {}

  /** The run's metadata (null: none written). */
  read(runId: string): Promise<RunMetadata | null> {
    return readRunMetadata(this.kv, runId);
  }

  /** Applies `updates` to the run (no `stepId`) or one of its steps; throws MetadataTooLargeError. */
  update(
    runId: string,
    stepId: string | undefined,
    updates: readonly MetadataUpdate[],
  ): Promise<RunMetadata> {
    return updateRunMetadata(this.kv, runId, stepId, updates);
  }
}
