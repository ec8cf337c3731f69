import { Jetstep, NonRetriableError } from "jetstep";

export const jetstep = new Jetstep({ id: "hello" });

/** Three durable steps: each runs once, its result is memoized for the next ones. */
export const welcome = jetstep.createFunction(
  { id: "send-welcome-email", retries: 3 },
  { event: "user/signup" },
  async ({ event, step, logger }) => {
    const user = await step.run("get-user", () => ({
      id: event.data.id,
      email: `user${event.data.id}@example.com`,
    }));
    const sent = await step.run("send-email", () => {
      logger.info({ to: user.email }, "sending welcome email");
      return { messageId: `msg-${user.id}` };
    });
    await step.run("mark-sent", () => ({ user: user.id, messageId: sent.messageId }));
    return { welcomed: user.email };
  },
);

let flakyCalls = 0;
/** Fails twice, then succeeds: watch the retries in the logs and in GET /v1/runs/:id. */
export const flaky = jetstep.createFunction(
  { id: "flaky-charge" },
  { event: "order/created" },
  async ({ event, step }) => {
    const amount = await step.run("price", () => Number(event.data.amount ?? 10));
    return step.run("charge", () => {
      flakyCalls++;
      if (flakyCalls % 3 !== 0) throw new Error(`payment provider timeout (call ${flakyCalls})`);
      if (amount < 0) throw new NonRetriableError("negative amount");
      return { charged: amount };
    });
  },
);
