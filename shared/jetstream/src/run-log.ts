/**
 * A run's log: the subject `run.<k>.<runId>` in stream `RUNS_<k>` (`runs-layout.ts`; `run.<runId>`
 * in RUNS in a store made before run logs were sharded). One message holds one or more numbered entries
 * appended together. Appends carry the expected last subject sequence (single writer safety net)
 * and a deterministic msg id (`<runId>-<firstN>`), so a retried append never lands twice: it comes
 * back as a duplicate or, since nats-server 2.12 checks the expected sequence first, as a conflict;
 * either way the writer reloads the run from its log.
 * Reads use direct gets (`next_by_subj`), never a consumer.
 */
import { ReplayError, type RunLogEntry } from "@jetstep/core";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Publisher, PublishResult } from "./publisher.ts";
import { type RunLocation, type RunsLayout, readRunsLayout, runLocation } from "./runs-layout.ts";
import { scanSubjects } from "./subject-scan.ts";

export interface LogMessage {
  seq: number;
  entries: unknown[];
}

export class RunLog {
  /**
   * The store's layout, read once, on first use. It also
   * says whether to read from the stream leader: a replicated stream serves direct gets from its
   * followers too (eventually consistent in every version), and a follower that lags (for minutes
   * on nats-server 2.9 after a node died) would show a run without its latest entries: an executor
   * rebuilding from it keeps losing appends, and the API shows stale runs. So with replicas, reads
   * go to the leader (`MSG.GET`, which takes `next_by_subj` as well); on a single server direct
   * gets are as fresh and cheaper.
   */
  private layout: RunsLayout | undefined;
  private layoutRead: Promise<RunsLayout> | undefined;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly publisher: Publisher,
  ) {}

  private async locate(runId: string): Promise<{ at: RunLocation; layout: RunsLayout }> {
    if (!this.layout) {
      this.layoutRead ??= readRunsLayout(this.jsm).finally(() => {
        this.layoutRead = undefined; // on failure, ask again next time
      });
      this.layout = await this.layoutRead;
    }
    return { at: runLocation(this.layout, runId), layout: this.layout };
  }

  /** Messages of the run after stream sequence `afterSeq`, in order. */
  async read(runId: string, afterSeq = 0): Promise<LogMessage[]> {
    const out: LogMessage[] = [];
    const { at, layout } = await this.locate(runId);
    for await (const m of scanSubjects(this.jsm, at.stream, at.subject, {
      fromSeq: afterSeq + 1,
      direct: !layout.replicated,
    })) {
      let entries: unknown;
      try {
        entries = m.json();
      } catch {
        throw new ReplayError(out.length + 1, `message ${m.seq} of run ${runId} is not JSON`);
      }
      if (!Array.isArray(entries))
        throw new ReplayError(out.length + 1, `message ${m.seq} of run ${runId} is not a list of entries`);
      out.push({ seq: m.seq, entries });
    }
    return out;
  }

  /** Stream sequence of the run's last message; 0 for an empty log. */
  async lastSeq(runId: string): Promise<number> {
    const { at, layout } = await this.locate(runId);
    const query = { last_by_subj: at.subject };
    const m = await (layout.replicated
      ? this.jsm.streams.getMessage(at.stream, query)
      : this.jsm.direct.getMessage(at.stream, query));
    return m?.seq ?? 0;
  }

  /** Appends entries (already numbered) after the message with stream sequence `expectedLastSeq`. */
  append(
    runId: string,
    entries: RunLogEntry[],
    expectedLastSeq: number,
    headers?: Record<string, string>,
  ): Promise<PublishResult> {
    const first = entries[0];
    if (!first) throw new Error("append needs at least one entry");
    return this.appendJson(runId, first.n, JSON.stringify(entries), expectedLastSeq, headers);
  }

  /**
   * Appends a message with no entries after `expectedLastSeq`: a fence. An executor that took a
   * run over writes one before its first call, so an append of the run's previous owner that
   * lands late (sent before its lease lapsed) conflicts instead of recording a step the new owner
   * is about to call again; and if that append landed first, the fence conflicts and the new
   * owner reads it. Replay skips it.
   */
  claim(runId: string, expectedLastSeq: number): Promise<PublishResult> {
    return this.appendJson(runId, `claim-${expectedLastSeq}`, "[]", expectedLastSeq);
  }

  /**
   * Like `append`, with the entries already serialized: `body` is the JSON list of entries
   * numbered from `firstN` (the msg id is `<runId>-<firstN>`).
   */
  async appendJson(
    runId: string,
    firstN: number | string,
    body: string,
    expectedLastSeq: number,
    headers?: Record<string, string>,
  ): Promise<PublishResult> {
    const { at } = await this.locate(runId);
    return this.publisher.publish(at.subject, body, {
      msgId: `${runId}-${firstN}`,
      expectedLastSubjectSeq: expectedLastSeq,
      ...(headers ? { headers } : {}),
    });
  }
}
